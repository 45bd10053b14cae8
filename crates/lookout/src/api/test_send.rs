//! `POST /api/v1/users/{id}/test-notification` (editors): renders a sample "entered" event in
//! the user's time zone and sends it now on each of the user's channels, through the same
//! router, templates and channels as real notifications, and reports each channel's result.
//!
//! - The user is the one **routing** knows (the model reloaded from the store, at most a
//!   second behind the API): a user just created answers `409` until it is loaded, and a user
//!   left out of routing by a problem says so — the test shows what a real notification would
//!   do.
//! - Nothing is queued or retried: a test is one attempt per channel, bounded by
//!   [`SEND_TIMEOUT`]. Results name the channel kind and the outcome, never the destination (a
//!   webhook URL can be a secret).
//! - At most one test per user per [`COOLDOWN`] (`429` with `Retry-After`), so a token cannot
//!   turn the endpoint into a mail cannon.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use lookout_core::{Deliver, Delivery, Event, EventKind, NewNotification, Notification, SendError};
use lookout_store::model::Role;
use serde_json::json;

use super::ApiState;
use super::auth::Caller;
use super::limit::{RateLimit, RateLimiter};
use super::problem::Problem;

/// The longest one channel's test send may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The shortest time between two tests of one user.
pub const COOLDOWN: Duration = Duration::from_secs(60);
/// When each user was last tested (per instance): a rate limit of one test per [`COOLDOWN`]
/// per user, on the API's own token buckets.
#[derive(Debug, Clone)]
pub struct Cooldowns(Arc<RateLimiter>);

impl Default for Cooldowns {
    fn default() -> Cooldowns {
        Cooldowns(Arc::new(RateLimiter::new(RateLimit {
            per_second: 1.0 / COOLDOWN.as_secs_f64(),
            burst: 1,
        })))
    }
}

impl Cooldowns {
    /// `Err(wait)` when `user` was tested less than [`COOLDOWN`] ago; otherwise records now.
    fn take(&self, user: &str) -> Result<(), Duration> {
        self.0.check(user)
    }
}

/// `POST /users/{id}/test-notification`.
pub(super) async fn test_notification(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    c.require(Role::Editor, "sending a test notification")?;
    if s.store.user(&c.org, &id).await?.is_none() {
        return Err(Problem::not_found("user"));
    }
    let Some(router) = &s.router else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance does not send notifications",
        ));
    };
    let model = router.model();
    let Some(user) = model.users.get(&id).filter(|u| u.org_id == c.org) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the user is not in the routing model yet (it is reloaded each second), or was left out by a problem (see the log and lookout_model_problems)",
        ));
    };
    if user.deleted || !user.enabled {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the user is disabled or deleted: nothing would be sent",
        ));
    }
    if let Err(wait) = s.test_cooldowns.take(&id) {
        return Err(Problem::retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "user {id:?} was tested less than {} s ago",
                COOLDOWN.as_secs()
            ),
            wait.as_secs_f64().ceil() as u64,
        ));
    }
    let now = Timestamp::now();
    let mut results = Vec::new();
    for channel in &user.channels {
        let notification = sample(&c.org, &id, channel.kind, &channel.destination, now);
        let outcome = tokio::time::timeout(SEND_TIMEOUT, router.deliver(&notification)).await;
        let result = match outcome {
            Ok(Ok(())) => json!({ "channel": channel.kind.as_str(), "ok": true }),
            Ok(Err(e)) => json!({
                "channel": channel.kind.as_str(), "ok": false,
                "permanent": matches!(e, SendError::Permanent(_)), "error": e.to_string(),
            }),
            Err(_) => json!({
                "channel": channel.kind.as_str(), "ok": false, "permanent": false,
                "error": format!("no answer within {} s", SEND_TIMEOUT.as_secs()),
            }),
        };
        results.push(result);
    }
    tracing::info!(user = %id, org = %c.org, token = %c.token_id, channels = results.len(),
        "test notification sent");
    Ok(Json(json!({ "user": id, "results": results })).into_response())
}

/// A sample notification: vessel TEST VESSEL entering area "test" now.
fn sample(
    org: &str,
    user: &str,
    kind: lookout_core::ChannelKind,
    destination: &str,
    now: Timestamp,
) -> Notification {
    let event = Event {
        kind: EventKind::Entered,
        mmsi: 999_999_999,
        vessel_name: Some("TEST VESSEL".into()),
        area_id: "test".into(),
        area_name: "Test area".into(),
        at: now,
        lat: 0.0,
        lon: 0.0,
        last_seen: None,
        gap_seconds: None,
        threshold_seconds: None,
    };
    Notification {
        id: format!("test-{}", uuid::Uuid::now_v7()),
        attempt: 1,
        created_at: now,
        new: NewNotification {
            dedupe_key: format!("test:{user}:{kind}:{}", now.as_millisecond()),
            org_id: org.to_owned(),
            user_id: user.to_owned(),
            rule_id: "test".into(),
            channel: kind,
            destination: destination.to_owned(),
            delivery: Delivery::Realtime,
            event,
            silence_id: None,
        },
    }
}
