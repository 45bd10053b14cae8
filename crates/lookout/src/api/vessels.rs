//! `/api/v1/vessels`: the organisation's vessels by MMSI (editors write).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lookout_store::model::{Role, Upserted, Vessel};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::{Body, Problem};

/// A vessel as written by a client (`mmsi` only in `POST`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VesselIn {
    #[serde(default)]
    mmsi: Option<u32>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

fn out(v: &Vessel) -> Value {
    json!({ "id": v.mmsi.to_string(), "mmsi": v.mmsi, "name": v.name, "tags": v.tags })
}

fn mmsi(text: &str) -> Result<u32, Problem> {
    text.parse::<u32>()
        .ok()
        .filter(|m| (1..=999_999_999).contains(m))
        .ok_or_else(|| Problem::not_found("vessel"))
}

async fn put(
    s: &ApiState,
    c: &Caller,
    mmsi: u32,
    body: VesselIn,
) -> Result<(Upserted, Value), Problem> {
    if !(1..=999_999_999).contains(&mmsi) {
        return Err(Problem::field(
            "mmsi",
            format!("{mmsi} is not a nine-digit MMSI"),
        ));
    }
    let mut tags = body.tags;
    tags.sort();
    tags.dedup();
    let v = Vessel {
        org_id: c.org.clone(),
        mmsi,
        name: body.name,
        tags,
    };
    let audit = c.audit("vessel.put", &format!("vessel/{mmsi}"), out(&v));
    let what = s.store.put_vessel(&v, &audit).await?;
    Ok((what, out(&v)))
}

/// `GET /vessels`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    let cursor = q.store_cursor()?;
    let vessels = s.store.vessels(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        vessels,
        &cursor,
        |v| v.mmsi.to_string(),
        |v| out(&v),
    )))
}

/// `GET /vessels/{mmsi}`.
pub(super) async fn get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let vessel = s.store.vessel(&c.org, mmsi(&id)?).await?;
    vessel
        .map(|v| Json(out(&v)))
        .ok_or_else(|| Problem::not_found("vessel"))
}

/// `POST /vessels`: creates or replaces the vessel named by `mmsi` in the body.
pub(super) async fn create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<VesselIn>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Editor, "writing a vessel")?;
    let Some(m) = body.mmsi else {
        return Err(Problem::field("mmsi", "missing"));
    };
    let (what, v) = put(&s, &c, m, body).await?;
    let status = if what == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(v)))
}

/// `PUT /vessels/{mmsi}`: creates or replaces.
pub(super) async fn replace(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Body(body): Body<VesselIn>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Editor, "writing a vessel")?;
    let m = id
        .parse::<u32>()
        .map_err(|_| Problem::field("mmsi", format!("{id:?} is not a nine-digit MMSI")))?;
    if body.mmsi.is_some_and(|b| b != m) {
        return Err(Problem::field("mmsi", "differs from the path"));
    }
    let (what, v) = put(&s, &c, m, body).await?;
    let status = if what == Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(v)))
}

/// `DELETE /vessels/{mmsi}`.
pub(super) async fn delete(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Editor, "deleting a vessel")?;
    let m = mmsi(&id)?;
    let audit = c.audit("vessel.delete", &format!("vessel/{m}"), Value::Null);
    if s.store.delete_vessel(&c.org, m, &audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("vessel"))
    }
}
