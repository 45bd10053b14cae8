//! Bearer authentication: `Authorization: Bearer lk_…` → the token's organisation and role
//! ([`Caller`]). A missing, malformed, unknown or revoked token is 401; an operator token
//! (no organisation) is 403 on the organisation's resources.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use lookout_store::model::{Audit, Role};

use super::ApiState;
use super::problem::Problem;

/// The organisation and role a request acts with.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's id (the audit log's actor is `token:<id>`).
    pub token_id: String,
    /// The organisation.
    pub org: String,
    /// The role.
    pub role: Role,
}

impl Caller {
    /// 403 unless the role is at least `role`.
    pub fn require(&self, role: Role, to: &str) -> Result<(), Problem> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "{to} needs the {} role; this token is {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// An audit record of this caller.
    pub fn audit(&self, action: &str, object: &str, detail: serde_json::Value) -> Audit {
        Audit {
            detail,
            ..Audit::new(&format!("token:{}", self.token_id), action, object)
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(Problem::unauthorized)?;
        let token = crate::tokens::authenticate(&state.store, presented)
            .await?
            .ok_or_else(Problem::unauthorized)?;
        if let Err(wait) = state.limiter.check(&token.id) {
            metrics::counter!("lookout_api_rate_limited_total").increment(1);
            return Err(Problem::retry_after(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "this token's request rate is over its limit; retry later",
                wait.as_secs_f64().ceil() as u64,
            ));
        }
        let Some(org) = token.org_id else {
            return Err(Problem::forbidden(
                "an operator token has no organisation: use an organisation's token",
            ));
        };
        Ok(Caller {
            token_id: token.id,
            org,
            role: token.role,
        })
    }
}
