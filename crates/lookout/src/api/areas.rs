//! `/api/v1/areas` and `/api/v1/fleets` (editors write). An area's `definition` is what the
//! configuration accepts, self-contained: `{ "kind": "circle", "lat", "lon", "radius_nm" }` or
//! `{ "kind": "geojson", "geometry": <GeoJSON Polygon/MultiPolygon/Feature/FeatureCollection>,
//! "within_nm"?: N }`, validated by the tracker's own loader (problems by feature index,
//! polygon and ring) with a vertex cap. Area ids are the client's (rules name them; they are
//! per organisation); fleet ids are the server's.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lookout_store::model::{Area, Fleet, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::page::{ApiQuery, Page, PageQuery};
use super::problem::{Body, Problem};
use super::{ApiState, new_id};

/// An area as written by a client (`id` only in `POST`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AreaIn {
    #[serde(default)]
    id: Option<String>,
    name: String,
    definition: Value,
}

/// The stored definition of a valid `definition` (a GeoJSON feature collection is reduced
/// to its geometry, as the file import stores it).
fn checked_definition(id: &str, def: &Value) -> Result<Value, Problem> {
    let area = crate::config::check_area(id, id, def).map_err(Problem::invalid)?;
    Ok(crate::config::area_definition(&area))
}

fn area_out(a: &Area) -> Value {
    json!({ "id": a.id, "name": a.name, "definition": a.definition })
}

/// `GET /areas`.
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    let cursor = q.store_cursor()?;
    let areas = s.store.areas(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        areas,
        &cursor,
        |a| a.id.clone(),
        |a| area_out(&a),
    )))
}

/// `GET /areas/{id}`.
pub(super) async fn get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let area = s.store.area(&c.org, &id).await?;
    area.map(|a| Json(area_out(&a)))
        .ok_or_else(|| Problem::not_found("area"))
}

async fn put(
    s: &ApiState,
    c: &Caller,
    id: &str,
    body: AreaIn,
    action: &str,
) -> Result<Value, Problem> {
    if id.trim().is_empty() || id.len() > 200 {
        return Err(Problem::field("id", "must be 1 to 200 characters"));
    }
    let area = Area {
        org_id: c.org.clone(),
        id: id.to_owned(),
        name: body.name,
        definition: checked_definition(id, &body.definition)?,
    };
    let audit = c.audit(action, &format!("area/{id}"), area_out(&area));
    s.store.put_area(&area, &audit).await?;
    Ok(area_out(&area))
}

/// `POST /areas`: a new area with the client's `id` (409 if the organisation has one).
pub(super) async fn create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<AreaIn>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Editor, "creating an area")?;
    let Some(id) = body.id.clone() else {
        return Err(Problem::field("id", "missing"));
    };
    if s.store.area(&c.org, &id).await?.is_some() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!("area {id:?} exists: PUT /api/v1/areas/{id} replaces it"),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(put(&s, &c, &id, body, "area.create").await?),
    ))
}

/// `PUT /areas/{id}`.
pub(super) async fn replace(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Body(body): Body<AreaIn>,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Editor, "changing an area")?;
    if s.store.area(&c.org, &id).await?.is_none() {
        return Err(Problem::not_found("area"));
    }
    if body.id.as_ref().is_some_and(|b| *b != id) {
        return Err(Problem::field("id", "differs from the path"));
    }
    Ok(Json(put(&s, &c, &id, body, "area.update").await?))
}

/// `DELETE /areas/{id}`.
pub(super) async fn delete(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Editor, "deleting an area")?;
    let audit = c.audit("area.delete", &format!("area/{id}"), Value::Null);
    if s.store.delete_area(&c.org, &id, &audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("area"))
    }
}

/// A fleet as written by a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FleetIn {
    name: String,
    #[serde(default)]
    mmsi: Vec<u32>,
    #[serde(default)]
    tags: Vec<String>,
}

fn fleet(c: &Caller, id: &str, body: FleetIn) -> Result<Fleet, Problem> {
    let bad: Vec<(String, String)> = body
        .mmsi
        .iter()
        .filter(|m| !(1..=999_999_999).contains(*m))
        .map(|m| ("mmsi".to_owned(), format!("{m} is not a nine-digit MMSI")))
        .collect();
    if !bad.is_empty() {
        return Err(Problem::invalid(bad));
    }
    let (mut mmsi, mut tags) = (body.mmsi, body.tags);
    mmsi.sort_unstable();
    mmsi.dedup();
    tags.sort();
    tags.dedup();
    Ok(Fleet {
        id: id.to_owned(),
        org_id: c.org.clone(),
        name: body.name,
        mmsi,
        tags,
    })
}

fn fleet_out(f: &Fleet) -> Value {
    json!({ "id": f.id, "name": f.name, "mmsi": f.mmsi, "tags": f.tags })
}

/// `GET /fleets`.
pub(super) async fn fleets(
    State(s): State<ApiState>,
    c: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    let cursor = q.store_cursor()?;
    let fleets = s.store.fleets(&c.org, &cursor).await?;
    Ok(Json(Page::of_fetched(
        fleets,
        &cursor,
        |f| f.id.clone(),
        |f| fleet_out(&f),
    )))
}

/// `GET /fleets/{id}`.
pub(super) async fn fleet_get(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let found = s.store.fleet(&c.org, &id).await?;
    found
        .map(|f| Json(fleet_out(&f)))
        .ok_or_else(|| Problem::not_found("fleet"))
}

/// `POST /fleets`.
pub(super) async fn fleet_create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<FleetIn>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Editor, "creating a fleet")?;
    let f = fleet(&c, &new_id("fleet"), body)?;
    let audit = c.audit("fleet.create", &format!("fleet/{}", f.id), fleet_out(&f));
    s.store.put_fleet(&f, &audit).await?;
    Ok((StatusCode::CREATED, Json(fleet_out(&f))))
}

/// `PUT /fleets/{id}`.
pub(super) async fn fleet_replace(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Body(body): Body<FleetIn>,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Editor, "changing a fleet")?;
    if s.store.fleet(&c.org, &id).await?.is_none() {
        return Err(Problem::not_found("fleet"));
    }
    let f = fleet(&c, &id, body)?;
    let audit = c.audit("fleet.update", &format!("fleet/{id}"), fleet_out(&f));
    s.store.put_fleet(&f, &audit).await?;
    Ok(Json(fleet_out(&f)))
}

/// `DELETE /fleets/{id}`.
pub(super) async fn fleet_delete(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Editor, "deleting a fleet")?;
    let audit = c.audit("fleet.delete", &format!("fleet/{id}"), Value::Null);
    if s.store.delete_fleet(&c.org, &id, &audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("fleet"))
    }
}
