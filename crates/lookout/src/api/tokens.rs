//! `/api/v1/tokens` (admins): the organisation's API tokens. `POST` creates an admin, editor
//! or viewer token of the caller's organisation and answers its secret once; `DELETE` revokes.
//! Operator tokens are made only with `lookout token create --operator`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lookout_store::model::{ApiToken, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::auth::Caller;
use super::page::Page;
use super::problem::{Body, Problem};

/// A token as asked for by a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenIn {
    role: String,
    #[serde(default)]
    name: String,
}

/// `GET /tokens`: every token of the organisation (one page).
pub(super) async fn list(
    State(s): State<ApiState>,
    c: Caller,
) -> Result<Json<Page<ApiToken>>, Problem> {
    c.require(Role::Admin, "listing tokens")?;
    Ok(Json(Page {
        items: s.store.org_tokens(&c.org).await?,
        next: None,
    }))
}

/// `POST /tokens`.
pub(super) async fn create(
    State(s): State<ApiState>,
    c: Caller,
    Body(body): Body<TokenIn>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Admin, "creating a token")?;
    let role = match Role::parse(&body.role) {
        Some(r @ (Role::Admin | Role::Editor | Role::Viewer)) => r,
        _ => {
            return Err(Problem::field(
                "role",
                format!("{:?}: expected admin, editor or viewer", body.role),
            ));
        }
    };
    let actor = format!("token:{}", c.token_id);
    let (token, secret) = crate::tokens::create(&s.store, Some(&c.org), role, &body.name, &actor)
        .await
        .map_err(|e| match e {
            // The store's errors map as everywhere else (a NUL in the name is the client's).
            crate::tokens::TokenError::Store(e) => Problem::from(e),
            e => Problem::internal(&e),
        })?;
    let mut out = serde_json::to_value(&token).unwrap_or_default();
    out["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

/// `DELETE /tokens/{id}`: revokes.
pub(super) async fn revoke(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Admin, "revoking a token")?;
    let audit = c.audit("token.revoke", &format!("token/{id}"), Value::Null);
    if s.store.revoke_org_token(&c.org, &id, &audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("token"))
    }
}
