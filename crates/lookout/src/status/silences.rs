//! The silences page: the organisation's silences (active, scheduled, expired), a form to create
//! one and a button to expire one now (editors and admins, with the session's CSRF token).
//! Silences are stored and listed here as through the API; routing does not apply them yet.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use lookout_store::model::{Audit, Cursor, Matchers, Role, Silence};

use super::Session;
use super::html::{escape, page, table};
use crate::ops::OpsState;

const KINDS: [&str; 4] = ["entered", "exited", "gap_started", "gap_ended"];

fn refused(s: &Session, status: StatusCode, why: &str) -> Response {
    let body = format!(
        "<p class=\"bad\">{}</p><p><a href=\"/silences\">Back</a></p>",
        escape(why)
    );
    (status, Html(page("Silences", "/silences", &s.who(), &body))).into_response()
}

fn store_failed(e: &lookout_store::StoreError) -> Response {
    super::NoSession::Store(sentinel::error_chain(e).to_string()).into_response()
}

/// The organisation whose silences the session may change, or the page saying why not (the
/// form is not its own, the role is too low, or the token has no organisation).
fn writable_org<'s>(s: &'s Session, csrf: &str) -> Result<&'s str, Box<Response>> {
    if csrf != s.csrf {
        return Err(Box::new(refused(
            s,
            StatusCode::FORBIDDEN,
            "The form is stale or from another site (CSRF token mismatch).",
        )));
    }
    if s.role < Role::Editor || s.role == Role::Operator {
        return Err(Box::new(refused(
            s,
            StatusCode::FORBIDDEN,
            "Silences need the editor role.",
        )));
    }
    s.org.as_deref().ok_or_else(|| {
        Box::new(refused(
            s,
            StatusCode::FORBIDDEN,
            "Silences need an organisation's token.",
        ))
    })
}

fn words(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `GET /silences`.
pub(super) async fn list(State(state): State<OpsState>, s: Session) -> Response {
    let Some(org) = &s.org else {
        return refused(
            &s,
            StatusCode::OK,
            "An operator token sees the instance, not an organisation's silences.",
        );
    };
    let (silences, now) = match (
        state.store().silences(org, &Cursor::first(500)).await,
        state.store().db_now().await,
    ) {
        (Ok(list), Ok(now)) => (list, now),
        (Err(e), _) | (_, Err(e)) => return store_failed(&e),
    };
    let writer = s.role >= Role::Editor && s.role != Role::Operator;
    let rows: Vec<Vec<String>> = silences
        .iter()
        .map(|x| {
            let status = if x.ends_at <= now {
                "expired"
            } else if x.starts_at > now {
                "scheduled"
            } else {
                "active"
            };
            let m = &x.matchers;
            let matchers = format!(
                "vessels {:?} fleets {:?} tags {:?} areas {:?} rules {:?} kinds {:?}",
                m.vessels, m.fleets, m.tags, m.areas, m.rules, m.kinds
            );
            let action = if writer && status != "expired" {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/silences/{}/expire\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button class=\"expire\">Expire now</button></form>",
                    escape(&x.id),
                    escape(&s.csrf)
                )
            } else {
                String::new()
            };
            vec![
                format!("<span class=\"silence\" data-id=\"{0}\" id=\"{0}\">{0}</span>", escape(&x.id)),
                format!("<span class=\"status\">{status}</span>"),
                escape(&matchers),
                escape(&x.starts_at.to_string()),
                escape(&x.ends_at.to_string()),
                escape(&x.author),
                escape(&x.comment),
                action,
            ]
        })
        .collect();
    let mut body = table(
        &[
            "id", "status", "matchers", "from", "until", "author", "comment", "",
        ],
        &rows,
    );
    if writer {
        let _ = write!(
            body,
            "<h2>New silence</h2><form method=\"post\" action=\"/silences\" id=\"new-silence\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <p>Vessels (MMSIs) <input name=\"vessels\" size=\"30\"> Areas <input name=\"areas\" size=\"20\"> \
             Rules <input name=\"rules\" size=\"20\"> Kinds <input name=\"kinds\" size=\"20\" \
             placeholder=\"entered, gap_started\"></p><p>For <input name=\"hours\" value=\"2\" size=\"4\"> hours \
             · Comment <input name=\"comment\" size=\"40\"> <button>Silence</button></p>\
             <p class=\"muted\">Empty fields match everything; several values are separated by commas.</p></form>",
            escape(&s.csrf)
        );
    }
    Html(page("Silences", "/silences", &s.who(), &body)).into_response()
}

/// The new-silence form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct NewSilence {
    csrf: String,
    #[serde(default)]
    vessels: String,
    #[serde(default)]
    areas: String,
    #[serde(default)]
    rules: String,
    #[serde(default)]
    kinds: String,
    hours: String,
    #[serde(default)]
    comment: String,
}

/// `POST /silences`.
pub(super) async fn create(
    State(state): State<OpsState>,
    s: Session,
    axum::Form(form): axum::Form<NewSilence>,
) -> Response {
    let org = match writable_org(&s, &form.csrf) {
        Ok(org) => org,
        Err(response) => return *response,
    };
    let mut problems = Vec::new();
    let mut vessels = Vec::new();
    for w in words(&form.vessels) {
        match w.parse::<u32>() {
            Ok(mmsi) => vessels.push(mmsi),
            Err(_) => problems.push(format!("vessels: {w:?} is not an MMSI")),
        }
    }
    let kinds = words(&form.kinds);
    for k in &kinds {
        if !KINDS.contains(&k.as_str()) {
            problems.push(format!(
                "kinds: unknown event kind {k:?} (entered, exited, gap_started, gap_ended)"
            ));
        }
    }
    let hours = form
        .hours
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|h| *h > 0.0 && *h <= 24.0 * 365.0);
    if hours.is_none() {
        problems.push(format!(
            "hours: {:?} is not a number of hours between 0 and a year",
            form.hours
        ));
    }
    if !problems.is_empty() {
        return refused(&s, StatusCode::UNPROCESSABLE_ENTITY, &problems.join("; "));
    }
    let now = match state.store().db_now().await {
        Ok(now) => now,
        Err(e) => return store_failed(&e),
    };
    let length = jiff::SignedDuration::from_secs_f64(hours.unwrap_or(1.0) * 3600.0);
    let silence = Silence {
        id: crate::api::new_id("silence"),
        org_id: org.to_owned(),
        matchers: Matchers {
            vessels,
            areas: words(&form.areas),
            rules: words(&form.rules),
            kinds,
            ..Matchers::default()
        },
        starts_at: now,
        ends_at: now.checked_add(length).unwrap_or(now),
        author: format!("page:{}", s.token_id),
        comment: form.comment.trim().to_owned(),
    };
    let mut audit = Audit::new(
        &format!("page:{}", s.token_id),
        "silence.create",
        &format!("silence/{}", silence.id),
    );
    audit.detail = serde_json::to_value(&silence).unwrap_or_default();
    match state.store().put_silence(&silence, &audit).await {
        Ok(_) => Redirect::to("/silences").into_response(),
        Err(e) => store_failed(&e),
    }
}

/// The expire form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ExpireForm {
    csrf: String,
}

/// `POST /silences/{id}/expire`: ends it now.
pub(super) async fn expire(
    State(state): State<OpsState>,
    s: Session,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ExpireForm>,
) -> Response {
    let org = match writable_org(&s, &form.csrf) {
        Ok(org) => org,
        Err(response) => return *response,
    };
    let (found, now) = match (
        state.store().silence(org, &id).await,
        state.store().db_now().await,
    ) {
        (Ok(found), Ok(now)) => (found, now),
        (Err(e), _) | (_, Err(e)) => return store_failed(&e),
    };
    let Some(mut silence) = found else {
        return refused(&s, StatusCode::NOT_FOUND, "No such silence.");
    };
    if silence.ends_at > now {
        silence.ends_at = now.max(silence.starts_at);
        let audit = Audit::new(
            &format!("page:{}", s.token_id),
            "silence.expire",
            &format!("silence/{id}"),
        );
        if let Err(e) = state.store().put_silence(&silence, &audit).await {
            return store_failed(&e);
        }
    }
    Redirect::to("/silences").into_response()
}
