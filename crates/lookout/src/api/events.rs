//! `/api/v1/events`: what happened in the organisation's areas (the tracker's events carry no
//! organisation: an organisation sees the events of the areas it defines), filtered by
//! `vessel` (MMSI), `fleet`, `area`, `kind` and `from`/`to` (RFC 3339), paged by event id.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use lookout_store::model::{EventFilter, EventRecord};
use serde::Deserialize;

use super::ApiState;
use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::Problem;

/// `?vessel&fleet&area&kind&from&to&limit&cursor`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    vessel: Option<u32>,
    fleet: Option<String>,
    area: Option<String>,
    kind: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /events`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<EventRecord>>, Problem> {
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let after = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| Problem::field("cursor", "not a cursor of this list"))?,
    };
    let filter = EventFilter {
        mmsi: q.vessel,
        fleet: q.fleet,
        area: q.area,
        kind: q.kind,
        from: q.from,
        to: q.to,
        recorded_before: None,
    };
    let found = s.store.events(&c.org, &filter, after, limit + 1).await?;
    Ok(Json(Page::of(found, limit, |e| e.id.to_string())))
}
