//! The status page (issue 12): server-rendered HTML on the ops/API listener, no external
//! assets, behind an API token.
//!
//! - Sign-in is a form taking a token ([`crate::tokens::authenticate`]); the session is an
//!   `HttpOnly; SameSite=Strict` cookie holding it. Every page re-checks the token, so a
//!   revoked token signs the session out at its next request.
//! - An **operator** token sees instance-wide facts (tasks, feeds, outbox totals); an
//!   organisation's token sees its own organisation's events, notifications and map, and
//!   nothing of others' (every query is scoped by its organisation).
//! - Actions (requeue a dead notification) need the editor role and carry a CSRF token derived
//!   from the session token ([`csrf_token`]), besides the cookie's `SameSite=Strict`.
//! - Silences: listed with their status; editors create one (matchers, a duration, a comment)
//!   and expire one now, with the CSRF token.
//! - The map ([`map`]) draws the organisation's areas and each vessel at the position of its
//!   latest event in them (inside or outside as that event says).

pub mod html;
pub mod map;
mod pages;
mod silences;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lookout_store::model::Role;
use sha2::{Digest as _, Sha256};

use crate::ops::OpsState;

/// The session cookie's name.
pub const COOKIE: &str = "lookout_session";

/// The status page router (`/`, `/login`, `/logout`, `/map`, `/events`, `/notifications`,
/// `/silences`).
pub fn router(ops: OpsState) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/map", get(pages::map))
        .route("/events", get(pages::events))
        .route("/notifications", get(pages::notifications))
        .route("/notifications/{id}", get(pages::notification))
        .route("/notifications/{id}/requeue", post(pages::requeue))
        .route("/silences", get(silences::list).post(silences::create))
        .route("/silences/{id}/expire", post(silences::expire))
        .with_state(ops)
}

/// Who is signed in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token's id (the audit log's actor is `page:<id>`).
    pub token_id: String,
    /// The organisation; `None` for an operator.
    pub org: Option<String>,
    /// The role.
    pub role: Role,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

impl Session {
    /// A short description for the header.
    fn who(&self) -> String {
        match &self.org {
            Some(org) => format!("{org} · {}", self.role.as_str()),
            None => "operator".to_owned(),
        }
    }
}

/// The CSRF token of a session: derived from its API token, so a page of another origin
/// cannot know it.
pub fn csrf_token(token: &str) -> String {
    let digest = Sha256::digest(format!("lookout-status-csrf:{token}").as_bytes());
    hex::encode(&digest[..16])
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Not signed in: to the sign-in form.
#[derive(Debug)]
pub enum NoSession {
    /// Redirect to `/login`.
    SignIn,
    /// The store failed.
    Store(String),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::SignIn => Redirect::to("/login").into_response(),
            NoSession::Store(error) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(html::page(
                    "Unavailable",
                    "",
                    "",
                    &format!(
                        "<p class=\"bad\">The store does not answer: {}</p>",
                        html::escape(&error)
                    ),
                )),
            )
                .into_response(),
        }
    }
}

impl FromRequestParts<OpsState> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &OpsState) -> Result<Self, NoSession> {
        let token = session_token(&parts.headers).ok_or(NoSession::SignIn)?;
        let found = crate::tokens::authenticate(state.store(), &token)
            .await
            .map_err(|e| NoSession::Store(sentinel::error_chain(&e).to_string()))?
            .ok_or(NoSession::SignIn)?;
        Ok(Session {
            token_id: found.id,
            org: found.org_id,
            role: found.role,
            csrf: csrf_token(&token),
        })
    }
}

async fn login_form() -> Html<String> {
    Html(html::login(None))
}

/// The sign-in form's fields.
#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(state): State<OpsState>, axum::Form(form): axum::Form<LoginForm>) -> Response {
    let token = form.token.trim();
    match crate::tokens::authenticate(state.store(), token).await {
        Ok(Some(_)) => {
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            Html(html::login(Some("That token is unknown or revoked."))),
        )
            .into_response(),
        Err(error) => NoSession::Store(sentinel::error_chain(&error).to_string()).into_response(),
    }
}

async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("lookout_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lookout_session=lk_abc; b=2"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("lk_abc"));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("lk_a"), csrf_token("lk_b"));
        assert_eq!(csrf_token("lk_a"), csrf_token("lk_a"));
    }
}
