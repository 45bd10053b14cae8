//! `/api/v1/notifications`: the organisation's delivery history (one notification with every
//! attempt), with filters (`state`,
//! `user`, `rule`, `channel`, `digest`: the items of one digest, `from`/`to`: queued in that
//! time range, RFC 3339), one notification with its times and last error, and the two
//! actions editors may take: `POST …/requeue` (a `dead` one back to `pending`, same id) and
//! `POST …/cancel` (a `pending` or `retry_scheduled` one becomes `dead`, "cancelled").

use axum::Json;
use axum::extract::{Path, State};
use lookout_store::model::{Action, DigestRecord, NotificationFilter, NotificationRecord, Role};
use serde::Deserialize;

use super::ApiState;
use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::Problem;

/// `?state&user&rule&channel&limit&cursor`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    user: Option<String>,
    rule: Option<String>,
    channel: Option<String>,
    digest: Option<String>,
    from: Option<jiff::Timestamp>,
    to: Option<jiff::Timestamp>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// 422 unless `state` (when given) is a state word of the outbox.
fn known_state(state: Option<&str>) -> Result<(), Problem> {
    match state {
        Some(state) if lookout_store::State::parse(state).is_none() => Err(Problem::field(
            "state",
            format!(
                "unknown state {state:?}: expected one of {}",
                lookout_store::State::ALL
                    .map(lookout_store::State::as_str)
                    .join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// `GET /notifications`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<NotificationRecord>>, Problem> {
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    known_state(q.state.as_deref())?;
    let filter = NotificationFilter {
        state: q.state,
        user: q.user,
        rule: q.rule,
        channel: q.channel,
        digest: q.digest,
        from: q.from,
        to: q.to,
    };
    let after = q.cursor.unwrap_or_default();
    let found = s
        .store
        .notifications(&c.org, &filter, &after, limit + 1)
        .await?;
    Ok(Json(Page::of(found, limit, |n| n.id.clone())))
}

/// `GET /notifications/{id}`: the notification with `attempts`, every attempt that reached an
/// outcome (when, which, why it failed), oldest first.
pub(super) async fn get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let Some(found) = s.store.notification(&c.org, &id).await? else {
        return Err(Problem::not_found("notification"));
    };
    let attempts = s.store.notification_attempts(&c.org, &id).await?;
    let mut body = serde_json::to_value(found).map_err(|e| Problem::internal(&e))?;
    body["attempts"] = serde_json::to_value(attempts).map_err(|e| Problem::internal(&e))?;
    Ok(Json(body))
}

async fn act(
    s: &ApiState,
    c: &Caller,
    id: &str,
    requeue: bool,
) -> Result<Json<NotificationRecord>, Problem> {
    let what = if requeue { "requeue" } else { "cancel" };
    c.require(Role::Editor, &format!("{what} a notification"))?;
    let audit = c.audit(
        &format!("notification.{what}"),
        &format!("notification/{id}"),
        serde_json::Value::Null,
    );
    let done = if requeue {
        s.store.requeue_notification(&c.org, id, &audit).await?
    } else {
        s.store.cancel_notification(&c.org, id, &audit).await?
    };
    match done {
        Action::NotFound => Err(Problem::not_found("notification")),
        Action::WrongState => Err(Problem::new(
            axum::http::StatusCode::CONFLICT,
            if requeue {
                "only a dead notification can be requeued"
            } else {
                "only a pending or retry_scheduled realtime notification can be cancelled"
            },
        )),
        Action::Done => {
            let found = s.store.notification(&c.org, id).await?;
            found
                .map(Json)
                .ok_or_else(|| Problem::not_found("notification"))
        }
    }
}

/// `POST /notifications/{id}/requeue`.
pub(super) async fn requeue(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationRecord>, Problem> {
    act(&s, &c, &id, true).await
}

/// `POST /notifications/{id}/cancel`.
pub(super) async fn cancel(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationRecord>, Problem> {
    act(&s, &c, &id, false).await
}

/// `?user&state&limit&cursor`.
#[derive(Debug, Deserialize)]
pub(super) struct DigestQuery {
    user: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /digests`: the organisation's digests (its users'), by id; a digest's items are
/// `GET /notifications?digest=ID`.
pub(super) async fn digests(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<DigestQuery>,
) -> Result<Json<Page<DigestRecord>>, Problem> {
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    known_state(q.state.as_deref())?;
    let found = s
        .store
        .digests(
            &c.org,
            q.user.as_deref().unwrap_or(""),
            q.state.as_deref().unwrap_or(""),
            q.cursor.as_deref().unwrap_or(""),
            limit + 1,
        )
        .await?;
    Ok(Json(Page::of(found, limit, |d| d.id.clone())))
}
