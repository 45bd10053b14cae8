//! `/api/v1/silences`: mute an organisation's notifications by vessel, fleet, tag, area, rule
//! and event kind between two instants (editors write). `DELETE` expires a silence (its end
//! becomes now) and keeps it for the record. Applying silences in routing is not wired yet.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use lookout_store::model::{Matchers, Role, Silence};
use serde::Deserialize;

use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::{Body, Problem};
use super::{ApiState, new_id};

/// A silence as written by a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SilenceIn {
    matchers: Matchers,
    #[serde(default)]
    starts_at: Option<Timestamp>,
    ends_at: Timestamp,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    comment: String,
}

const KINDS: [&str; 4] = ["entered", "exited", "gap_started", "gap_ended"];

/// `GET /silences`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Silence>>, Problem> {
    let cursor = q.store_cursor()?;
    let silences = s.store.silences(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        silences,
        &cursor,
        |x| x.id.clone(),
        |x| x,
    )))
}

/// `GET /silences/{id}`.
pub(super) async fn get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Silence>, Problem> {
    let silence = s.store.silence(&c.org, &id).await?;
    silence
        .map(Json)
        .ok_or_else(|| Problem::not_found("silence"))
}

/// `POST /silences`.
pub(super) async fn create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<SilenceIn>,
) -> Result<(StatusCode, Json<Silence>), Problem> {
    c.require(Role::Editor, "creating a silence")?;
    let now = s.store.db_now().await?;
    let starts_at = body.starts_at.unwrap_or(now);
    let mut errors = Vec::new();
    if body.ends_at <= starts_at {
        errors.push(("ends_at".to_owned(), "must be after starts_at".to_owned()));
    }
    for kind in &body.matchers.kinds {
        if !KINDS.contains(&kind.as_str()) {
            errors.push(("matchers.kinds".to_owned(), format!("unknown event kind {kind:?}: expected entered, exited, gap_started or gap_ended")));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let silence = Silence {
        id: new_id("silence"),
        org_id: c.org.clone(),
        matchers: body.matchers,
        starts_at,
        ends_at: body.ends_at,
        author: body
            .author
            .unwrap_or_else(|| format!("token:{}", c.token_id)),
        comment: body.comment,
    };
    let detail = serde_json::to_value(&silence).unwrap_or_default();
    let audit = c.audit("silence.create", &format!("silence/{}", silence.id), detail);
    s.store.put_silence(&silence, &audit).await?;
    Ok((StatusCode::CREATED, Json(silence)))
}

/// `DELETE /silences/{id}`: expires it now.
pub(super) async fn expire(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Silence>, Problem> {
    c.require(Role::Editor, "expiring a silence")?;
    let Some(mut silence) = s.store.silence(&c.org, &id).await? else {
        return Err(Problem::not_found("silence"));
    };
    let now = s.store.db_now().await?;
    if silence.ends_at > now {
        silence.ends_at = now.max(silence.starts_at);
        let audit = c.audit(
            "silence.expire",
            &format!("silence/{id}"),
            serde_json::Value::Null,
        );
        s.store.put_silence(&silence, &audit).await?;
    }
    Ok(Json(silence))
}
