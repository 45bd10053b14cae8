//! The HTTP API `/api/v1` (issue 12), mounted on the ops listener beside the ops endpoints.
//!
//! - Every route but `GET /api/v1/openapi.json` needs `Authorization: Bearer lk_…`
//!   ([`auth`]): the token's organisation scopes every read and write, so another
//!   organisation's object is a 404, never a 403; no or a bad token is 401; a role too low is
//!   403 (viewer reads; editor writes rules, vessels, fleets, areas, silences and acts on
//!   notifications;
//!   admin writes users and tokens and reads the audit log).
//! - Errors are RFC 9457 problems ([`problem`]); lists are cursor pages ([`page`]); bodies are
//!   capped at [`MAX_BODY`]; every write is audited with its change, in one transaction.
//! - [`ROUTES`] is the one table of routes: the router is built from the handlers below, the
//!   OpenAPI document (`openapi.json`, hand-maintained, OpenAPI 3.1) is checked against it by a
//!   test, and the tenant-isolation test walks it.
//! - Each token is rate limited ([`limit`]): past its burst and rate, a 429 with `Retry-After`.
//!
//! Not here yet (issue 12): the destination policy for tenant-set URLs.

pub mod areas;
pub mod auth;
pub mod events;
pub mod limit;
pub mod notifications;
pub mod page;
pub mod problem;
pub mod rules;
pub mod silences;
pub mod stream;
pub mod test_send;
pub mod tokens;
pub mod users;
pub mod vessels;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use lookout_notify::model::{Fleet, Model, Organisation, User, UserChannel};
use lookout_store::Store;
use lookout_store::model::Cursor;

use problem::Problem;

/// The largest request body, in bytes.
pub const MAX_BODY: usize = 256 * 1024;

/// Every route: `(method, path)` as in the OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/rules"),
    ("post", "/api/v1/rules"),
    ("get", "/api/v1/rules/{id}"),
    ("put", "/api/v1/rules/{id}"),
    ("delete", "/api/v1/rules/{id}"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("put", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("post", "/api/v1/users/{id}/test-notification"),
    ("get", "/api/v1/vessels"),
    ("post", "/api/v1/vessels"),
    ("get", "/api/v1/vessels/{id}"),
    ("put", "/api/v1/vessels/{id}"),
    ("delete", "/api/v1/vessels/{id}"),
    ("get", "/api/v1/fleets"),
    ("post", "/api/v1/fleets"),
    ("get", "/api/v1/fleets/{id}"),
    ("put", "/api/v1/fleets/{id}"),
    ("delete", "/api/v1/fleets/{id}"),
    ("get", "/api/v1/areas"),
    ("post", "/api/v1/areas"),
    ("get", "/api/v1/areas/{id}"),
    ("put", "/api/v1/areas/{id}"),
    ("delete", "/api/v1/areas/{id}"),
    ("get", "/api/v1/silences"),
    ("post", "/api/v1/silences"),
    ("get", "/api/v1/silences/{id}"),
    ("delete", "/api/v1/silences/{id}"),
    ("get", "/api/v1/notifications"),
    ("get", "/api/v1/notifications/{id}"),
    ("post", "/api/v1/notifications/{id}/requeue"),
    ("post", "/api/v1/notifications/{id}/cancel"),
    ("get", "/api/v1/digests"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/events/stream"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/audit"),
];

/// The OpenAPI 3.1 document served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The store holding the model.
    pub store: Store,
    /// Names of the webhook endpoints the operator configured (`[webhooks.*]`): the only
    /// webhook destinations a user set through the API may name.
    pub webhooks: Arc<BTreeSet<String>>,
    /// Where webhook and Slack URLs set through the API may lead (`[destinations]`).
    pub destinations: Arc<lookout_notify::channels::DestinationPolicy>,
    /// Permits for live event streams ([`stream::MAX_STREAMS`] per instance).
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Cancelled on shutdown: event streams end.
    pub shutdown: sentinel::CancellationToken,
    /// Renders and sends (test notifications); `None` where this instance sends nothing.
    pub router: Option<lookout_notify::router::Router>,
    /// When each user was last sent a test notification.
    pub test_cooldowns: test_send::Cooldowns,
    /// The per-token rate limit.
    pub limiter: Arc<limit::RateLimiter>,
}

/// The `/api/v1` router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/rules", get(rules::list).post(rules::create))
        .route(
            "/api/v1/rules/{id}",
            get(rules::get).put(rules::replace).delete(rules::delete),
        )
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            get(users::get).put(users::replace).delete(users::delete),
        )
        .route(
            "/api/v1/users/{id}/test-notification",
            post(test_send::test_notification),
        )
        .route("/api/v1/vessels", get(vessels::list).post(vessels::create))
        .route(
            "/api/v1/vessels/{id}",
            get(vessels::get)
                .put(vessels::replace)
                .delete(vessels::delete),
        )
        .route(
            "/api/v1/fleets",
            get(areas::fleets).post(areas::fleet_create),
        )
        .route(
            "/api/v1/fleets/{id}",
            get(areas::fleet_get)
                .put(areas::fleet_replace)
                .delete(areas::fleet_delete),
        )
        .route("/api/v1/areas", get(areas::list).post(areas::create))
        .route(
            "/api/v1/areas/{id}",
            get(areas::get).put(areas::replace).delete(areas::delete),
        )
        .route(
            "/api/v1/silences",
            get(silences::list).post(silences::create),
        )
        .route(
            "/api/v1/silences/{id}",
            get(silences::get).delete(silences::expire),
        )
        .route("/api/v1/notifications", get(notifications::list))
        .route("/api/v1/notifications/{id}", get(notifications::get))
        .route(
            "/api/v1/notifications/{id}/requeue",
            post(notifications::requeue),
        )
        .route(
            "/api/v1/notifications/{id}/cancel",
            post(notifications::cancel),
        )
        .route("/api/v1/digests", get(notifications::digests))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/events/stream", get(stream::stream))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/audit", get(users::audit))
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async { Problem::not_found("resource") }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// A new server-chosen id: `<kind>_<uuidv7>` (time-ordered, unguessable enough not to be
/// enumerated, unique across organisations).
pub(crate) fn new_id(kind: &str) -> String {
    format!("{kind}_{}", uuid::Uuid::now_v7().simple())
}

/// The organisation's users (with their channel kinds), fleets and areas as the rule checks
/// need them.
pub(crate) async fn org_model(store: &Store, org: &str) -> Result<Model, Problem> {
    const ALL: u32 = 100_000;
    let mut model = Model::default();
    model.orgs.insert(
        org.to_owned(),
        Organisation {
            id: org.to_owned(),
            name: org.to_owned(),
        },
    );
    for u in store.users(org, &Cursor::first(ALL)).await? {
        let mut user = User::new(&u.id, org, &u.email, &u.timezone);
        user.enabled = u.enabled;
        user.deleted = u.deleted;
        for ch in u.channels.as_array().into_iter().flatten() {
            let kind = ch.get("kind").and_then(serde_json::Value::as_str);
            if let Some(kind) = kind.and_then(lookout_core::ChannelKind::parse) {
                user.channels.push(UserChannel::new(kind, String::new()));
            }
        }
        model.users.insert(u.id.clone(), user);
    }
    for f in store.fleets(org, &Cursor::first(ALL)).await? {
        model.fleets.insert(
            f.id.clone(),
            Fleet {
                id: f.id,
                org_id: f.org_id,
                name: f.name,
                mmsi: f.mmsi.into_iter().collect(),
                tags: f.tags.into_iter().collect(),
            },
        );
    }
    for a in store.areas(org, &Cursor::first(ALL)).await? {
        model.areas.insert(a.id);
    }
    Ok(model)
}
