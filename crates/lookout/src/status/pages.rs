//! The pages: overview, map, events, notifications (with a notification's detail and requeue).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use lookout_store::model::{Action, Audit, Cursor, EventFilter, NotificationFilter, Role};

use super::html::{bar_chart, escape, page, table};
use super::map::{MapArea, MapVessel, circle_ring, render};
use super::{NoSession, Session};
use crate::ops::OpsState;

/// Most events the events page shows (the newest).
const EVENTS_SHOWN: u32 = 200;
/// Most vessels the map draws (those seen most recently in the organisation's areas).
const MAP_VESSELS_MAX: u32 = 10_000;
/// Most notifications a page lists.
const NOTIFICATIONS_MAX: u32 = 200;

fn store_error(error: &lookout_store::StoreError) -> Response {
    NoSession::Store(sentinel::error_chain(error).to_string()).into_response()
}

fn operator_note(current: &str, title: &str, s: &Session) -> Response {
    Html(page(
        title,
        current,
        &s.who(),
        "<p class=\"muted\">An operator token sees the instance, not an organisation's data: \
         sign in with an organisation's token for this page.</p>",
    ))
    .into_response()
}

fn ok_or_bad(text: &str) -> String {
    if text == "ok" {
        "<span class=\"ok\">ok</span>".to_owned()
    } else {
        format!("<span class=\"bad\">{}</span>", escape(text))
    }
}

/// `GET /`: health, readiness, tasks, feeds and the outbox for an operator; the
/// organisation's events per minute and notification states otherwise.
pub(super) async fn overview(State(state): State<OpsState>, s: Session) -> Response {
    let mut body = String::new();
    match &s.org {
        None => {
            let readiness = crate::ops::readiness(&state).await;
            let snapshot = sentinel::snapshot();
            let _ = write!(
                body,
                "<h2>Health</h2><p id=\"health\">live: {} · ready: {} (store {}, ingest {})</p>",
                ok_or_bad(if snapshot.healthy {
                    "ok"
                } else {
                    "a heartbeat is stale"
                }),
                ok_or_bad(if readiness.ready { "ok" } else { "not ready" }),
                ok_or_bad(&readiness.store),
                ok_or_bad(&readiness.ingest),
            );
            for (name, check) in &readiness.checks {
                let _ = write!(body, "<p>{}: {}</p>", escape(name), ok_or_bad(check));
            }
            let tasks: Vec<Vec<String>> = snapshot
                .tasks
                .iter()
                .map(|t| {
                    vec![
                        escape(t.name.as_ref()),
                        escape(&format!("{:?}", t.state)),
                        t.restarts.to_string(),
                        escape(t.last_error.as_deref().unwrap_or("")),
                    ]
                })
                .collect();
            body.push_str("<h2>Supervised tasks</h2>");
            body.push_str(&table(&["task", "state", "restarts", "last error"], &tasks));
            let feeds: Vec<Vec<String>> = state
                .registry()
                .snapshot()
                .sources
                .iter()
                .map(|f| {
                    vec![
                        escape(&f.source),
                        escape(&format!("{:?}", f.state)),
                        f.reconnects.to_string(),
                        escape(f.last_error.as_deref().unwrap_or("")),
                    ]
                })
                .collect();
            body.push_str("<h2>Feeds</h2>");
            body.push_str(&table(
                &["source", "state", "reconnects", "last error"],
                &feeds,
            ));
            let store = state.store();
            let (stats, states) = match (store.outbox_stats().await, store.count_by_state().await) {
                (Ok(stats), Ok(states)) => (stats, states),
                (Err(e), _) | (_, Err(e)) => return store_error(&e),
            };
            let oldest = stats.oldest_created_at.map_or_else(
                || "—".to_owned(),
                |t| {
                    let age = jiff::Timestamp::now().duration_since(t);
                    format!("{:.0} s", age.as_secs_f64().max(0.0))
                },
            );
            let mut rows = vec![vec![
                "not yet delivered".to_owned(),
                stats.n_pending.to_string(),
            ]];
            rows.push(vec!["oldest not yet delivered, age".to_owned(), oldest]);
            for (st, n) in &states {
                rows.push(vec![escape(st.as_str()), n.to_string()]);
            }
            body.push_str("<h2>Outbox</h2>");
            body.push_str(&table(&["", "count"], &rows));
        }
        Some(org) => {
            let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
            let filter = EventFilter {
                from: Some(since),
                ..EventFilter::default()
            };
            let events = match state.store().newest_events(org, &filter, 5000).await {
                Ok(events) => events,
                Err(e) => return store_error(&e),
            };
            let mut minutes = vec![0_u64; 60];
            for e in &events {
                let ago = jiff::Timestamp::now().duration_since(e.at).as_secs() / 60;
                if let Ok(i) = usize::try_from(59 - ago.clamp(0, 59)) {
                    minutes[i] += 1;
                }
            }
            let _ = write!(
                body,
                "<h2>Events per minute, last hour ({} events)</h2>{}",
                events.len(),
                bar_chart(&minutes, "events per minute")
            );
            let mut states: BTreeMap<String, u64> = BTreeMap::new();
            let list = state
                .store()
                .notifications(org, &NotificationFilter::default(), "", 5000)
                .await;
            match list {
                Ok(list) => {
                    for n in list {
                        *states.entry(n.state).or_default() += 1;
                    }
                }
                Err(e) => return store_error(&e),
            }
            let rows: Vec<Vec<String>> = states
                .iter()
                .map(|(st, n)| {
                    vec![
                        format!("<a href=\"/notifications?state={0}\">{0}</a>", escape(st)),
                        n.to_string(),
                    ]
                })
                .collect();
            body.push_str("<h2>Notifications by state</h2>");
            body.push_str(&table(&["state", "count"], &rows));
        }
    }
    Html(page("Overview", "/", &s.who(), &body)).into_response()
}

/// The rings of a stored area definition (`circle` or `geojson` Polygon/MultiPolygon).
fn polygons_of(definition: &serde_json::Value) -> Vec<Vec<Vec<[f64; 2]>>> {
    let ring = |v: &serde_json::Value| -> Vec<[f64; 2]> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]))
            .collect()
    };
    let polygon = |v: &serde_json::Value| -> Vec<Vec<[f64; 2]>> {
        v.as_array().into_iter().flatten().map(ring).collect()
    };
    match definition.get("kind").and_then(|k| k.as_str()) {
        Some("circle") => {
            let f = |k: &str| definition.get(k).and_then(serde_json::Value::as_f64);
            match (f("lat"), f("lon"), f("radius_nm")) {
                (Some(lat), Some(lon), Some(r)) => vec![vec![circle_ring(lat, lon, r)]],
                _ => Vec::new(),
            }
        }
        _ => {
            let geometry = definition.get("geometry").unwrap_or(definition);
            let coordinates = geometry.get("coordinates");
            match (geometry.get("type").and_then(|t| t.as_str()), coordinates) {
                (Some("Polygon"), Some(c)) => vec![polygon(c)],
                (Some("MultiPolygon"), Some(c)) => {
                    c.as_array().into_iter().flatten().map(polygon).collect()
                }
                _ => Vec::new(),
            }
        }
    }
}

/// `GET /map`: the organisation's areas and its vessels' latest event positions.
pub(super) async fn map(State(state): State<OpsState>, s: Session) -> Response {
    let Some(org) = &s.org else {
        return operator_note("/map", "Map", &s);
    };
    let areas = match state.store().areas(org, &Cursor::first(500)).await {
        Ok(areas) => areas,
        Err(e) => return store_error(&e),
    };
    let events = match state
        .store()
        .latest_event_per_vessel(org, MAP_VESSELS_MAX)
        .await
    {
        Ok(events) => events,
        Err(e) => return store_error(&e),
    };
    let drawn: Vec<MapArea> = areas
        .iter()
        .map(|a| MapArea {
            id: a.id.clone(),
            name: a.name.clone(),
            polygons: polygons_of(&a.definition),
        })
        .collect();
    // The latest event of each vessel: its position; inside unless it was an exit.
    let mut vessels: BTreeMap<i64, MapVessel> = BTreeMap::new();
    for e in &events {
        let f = |k: &str| e.event.get(k).and_then(serde_json::Value::as_f64);
        let (Some(lat), Some(lon)) = (f("lat"), f("lon")) else {
            continue;
        };
        vessels.insert(
            e.mmsi,
            MapVessel {
                mmsi: u32::try_from(e.mmsi).unwrap_or(0),
                name: e
                    .event
                    .get("vessel_name")
                    .and_then(|n| n.as_str())
                    .map(str::to_owned),
                lat,
                lon,
                inside: e.kind != "exited",
            },
        );
    }
    let vessels: Vec<MapVessel> = vessels.into_values().collect();
    let inside = vessels.iter().filter(|v| v.inside).count();
    let body = format!(
        "<p>{} areas, {} vessels ({} inside, {} outside), each at its latest event in these areas. \
         Hover for names.</p>{}",
        drawn.len(),
        vessels.len(),
        inside,
        vessels.len() - inside,
        render(&drawn, &vessels)
    );
    Html(page("Map", "/map", &s.who(), &body)).into_response()
}

/// Filters of the events page.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct EventQuery {
    kind: Option<String>,
    area: Option<String>,
    mmsi: Option<u32>,
}

fn nonempty(v: Option<&String>) -> Option<String> {
    v.filter(|s| !s.is_empty()).cloned()
}

/// `GET /events`: the organisation's latest events, filtered.
pub(super) async fn events(
    State(state): State<OpsState>,
    s: Session,
    Query(q): Query<EventQuery>,
) -> Response {
    let Some(org) = &s.org else {
        return operator_note("/events", "Events", &s);
    };
    let filter = EventFilter {
        kind: nonempty(q.kind.as_ref()),
        area: nonempty(q.area.as_ref()),
        mmsi: q.mmsi,
        ..EventFilter::default()
    };
    let newest = match state
        .store()
        .newest_events(org, &filter, EVENTS_SHOWN)
        .await
    {
        Ok(newest) => newest,
        Err(e) => return store_error(&e),
    };
    let rows: Vec<Vec<String>> = newest
        .iter()
        .map(|e| {
            vec![
                escape(&e.at.to_string()),
                escape(&e.kind),
                e.mmsi.to_string(),
                escape(
                    e.event
                        .get("vessel_name")
                        .and_then(|n| n.as_str())
                        .unwrap_or(""),
                ),
                escape(&e.area_id),
            ]
        })
        .collect();
    let body = format!(
        "<form method=\"get\">kind <select name=\"kind\"><option value=\"\">any</option>\
         <option>entered</option><option>exited</option><option>gap_started</option>\
         <option>gap_ended</option></select> area <input name=\"area\" value=\"{}\"> MMSI \
         <input name=\"mmsi\" value=\"{}\"> <button>Filter</button></form>{}",
        escape(q.area.as_deref().unwrap_or("")),
        q.mmsi.map(|m| m.to_string()).unwrap_or_default(),
        table(&["at", "kind", "MMSI", "vessel", "area"], &rows)
    );
    Html(page("Events", "/events", &s.who(), &body)).into_response()
}

/// Filters of the notifications page.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct NotificationQuery {
    state: Option<String>,
    user: Option<String>,
    rule: Option<String>,
    channel: Option<String>,
}

/// `GET /notifications`: the organisation's notifications, filtered.
pub(super) async fn notifications(
    State(state): State<OpsState>,
    s: Session,
    Query(q): Query<NotificationQuery>,
) -> Response {
    let Some(org) = &s.org else {
        return operator_note("/notifications", "Notifications", &s);
    };
    let filter = NotificationFilter {
        state: nonempty(q.state.as_ref()),
        user: nonempty(q.user.as_ref()),
        rule: nonempty(q.rule.as_ref()),
        channel: nonempty(q.channel.as_ref()),
        ..NotificationFilter::default()
    };
    let list = match state
        .store()
        .notifications(org, &filter, "", NOTIFICATIONS_MAX)
        .await
    {
        Ok(list) => list,
        Err(e) => return store_error(&e),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                format!(
                    "<a class=\"notification\" href=\"/notifications/{0}\">{0}</a>",
                    escape(&n.id)
                ),
                match &n.silence_id {
                    Some(silence) => format!(
                        "<span class=\"state\">{}</span> by <a href=\"/silences#{1}\">{1}</a>",
                        escape(&n.state),
                        escape(silence)
                    ),
                    None => format!("<span class=\"state\">{}</span>", escape(&n.state)),
                },
                escape(&n.user_id),
                escape(&n.rule_id),
                escape(&n.channel),
                n.attempt.to_string(),
                escape(&n.created_at.to_string()),
            ]
        })
        .collect();
    let field = |name: &str, v: &Option<String>| {
        format!(
            "{name} <input name=\"{name}\" value=\"{}\" size=\"12\">",
            escape(v.as_deref().unwrap_or(""))
        )
    };
    let body = format!(
        "<form method=\"get\">{} {} {} {} <button>Filter</button></form>\
         <p class=\"muted\">The first {NOTIFICATIONS_MAX} matching, oldest first.</p>{}",
        field("state", &q.state),
        field("user", &q.user),
        field("rule", &q.rule),
        field("channel", &q.channel),
        table(
            &[
                "id", "state", "user", "rule", "channel", "attempts", "queued"
            ],
            &rows
        )
    );
    Html(page("Notifications", "/notifications", &s.who(), &body)).into_response()
}

/// `GET /notifications/{id}`: one notification, its attempts, times and last error; a requeue
/// button for a dead one when the role allows.
pub(super) async fn notification(
    State(state): State<OpsState>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let Some(org) = &s.org else {
        return operator_note("/notifications", "Notification", &s);
    };
    let n = match state.store().notification(org, &id).await {
        Ok(Some(n)) => n,
        // Another organisation's notification is as absent as one that never existed.
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Html(page(
                    "Not found",
                    "/notifications",
                    &s.who(),
                    "<p>No such notification.</p>",
                )),
            )
                .into_response();
        }
        Err(e) => return store_error(&e),
    };
    let opt = |t: Option<jiff::Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let rows = vec![
        vec![
            "state".to_owned(),
            format!("<span id=\"state\">{}</span>", escape(&n.state)),
        ],
        vec!["attempts".to_owned(), n.attempt.to_string()],
        vec!["user".to_owned(), escape(&n.user_id)],
        vec!["rule".to_owned(), escape(&n.rule_id)],
        vec!["channel".to_owned(), escape(&n.channel)],
        vec!["delivery".to_owned(), escape(&n.delivery)],
        vec!["queued".to_owned(), escape(&n.created_at.to_string())],
        vec!["last change".to_owned(), escape(&n.updated_at.to_string())],
        vec![
            "next attempt not before".to_owned(),
            escape(&n.available_at.to_string()),
        ],
        vec!["finished".to_owned(), escape(&opt(n.finished_at))],
        vec![
            "last error".to_owned(),
            escape(n.last_error.as_deref().unwrap_or("")),
        ],
        vec![
            "silenced by".to_owned(),
            match &n.silence_id {
                Some(id) => format!(
                    "<a id=\"silence\" href=\"/silences#{0}\">{0}</a>",
                    escape(id)
                ),
                None => String::new(),
            },
        ],
        vec![
            "event".to_owned(),
            format!("<code>{}</code>", escape(&n.event.to_string())),
        ],
    ];
    let mut body = table(&["", ""], &rows);
    let attempts = match state.store().notification_attempts(org, &id).await {
        Ok(attempts) => attempts,
        Err(e) => return store_error(&e),
    };
    let attempt_rows: Vec<Vec<String>> = attempts
        .iter()
        .map(|a| {
            vec![
                a.attempt.to_string(),
                escape(&a.at.to_string()),
                format!("<span class=\"outcome\">{}</span>", escape(&a.outcome)),
                escape(a.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let _ = write!(
        body,
        "<h2>Attempts</h2>{}",
        table(&["attempt", "recorded", "outcome", "error"], &attempt_rows)
    );
    if n.state == "dead" && s.role >= Role::Editor && s.role != Role::Operator {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/notifications/{}/requeue\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button id=\"requeue\">Requeue</button></form>",
            escape(&n.id),
            escape(&s.csrf)
        );
    }
    Html(page("Notification", "/notifications", &s.who(), &body)).into_response()
}

/// The requeue form's fields.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ActionForm {
    csrf: String,
}

/// `POST /notifications/{id}/requeue`: editor or admin, with the session's CSRF token.
pub(super) async fn requeue(
    State(state): State<OpsState>,
    s: Session,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ActionForm>,
) -> Response {
    let Some(org) = &s.org else {
        return operator_note("/notifications", "Notification", &s);
    };
    if form.csrf != s.csrf {
        return (StatusCode::FORBIDDEN, Html(page("Refused", "/notifications", &s.who(), "<p class=\"bad\">The form is stale or from another site (CSRF token mismatch).</p>"))).into_response();
    }
    if s.role < Role::Editor {
        return (
            StatusCode::FORBIDDEN,
            Html(page(
                "Refused",
                "/notifications",
                &s.who(),
                "<p class=\"bad\">Requeueing needs the editor role.</p>",
            )),
        )
            .into_response();
    }
    let audit = Audit::new(
        &format!("page:{}", s.token_id),
        "notification.requeue",
        &format!("notification/{id}"),
    );
    match state.store().requeue_notification(org, &id, &audit).await {
        Ok(Action::Done | Action::WrongState) => {
            Redirect::to(&format!("/notifications/{id}")).into_response()
        }
        Ok(Action::NotFound) => (
            StatusCode::NOT_FOUND,
            Html(page(
                "Not found",
                "/notifications",
                &s.who(),
                "<p>No such notification.</p>",
            )),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_definitions_become_rings() {
        let circle =
            serde_json::json!({"kind": "circle", "lat": -36.8, "lon": 174.8, "radius_nm": 5.0});
        assert_eq!(polygons_of(&circle).len(), 1);
        let geo = serde_json::json!({"kind": "geojson", "geometry": {"type": "MultiPolygon",
            "coordinates": [[[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]], [[[2.0, 2.0], [3.0, 2.0], [3.0, 3.0], [2.0, 2.0]]]]}});
        let polygons = polygons_of(&geo);
        assert_eq!(polygons.len(), 2);
        assert_eq!(polygons[1][0][1], [3.0, 2.0]);
        assert!(polygons_of(&serde_json::json!({"kind": "nonsense"})).is_empty());
    }
}
