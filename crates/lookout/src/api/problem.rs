//! Errors as RFC 9457 `application/problem+json`: a status, a title, a detail safe to show,
//! and for validation failures every field at fault (`errors: [{ field, message }]`). Database
//! detail is logged, never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub detail: String,
    /// `(field, message)` of each invalid field.
    pub errors: Vec<(String, String)>,
    /// Seconds to wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// `status` with `Retry-After: seconds`.
    pub fn retry_after(status: StatusCode, detail: impl Into<String>, seconds: u64) -> Problem {
        Problem {
            retry_after: Some(seconds.max(1)),
            ..Problem::new(status, detail)
        }
    }

    /// 401: no or an unknown token.
    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required (Authorization: Bearer lk_...)",
        )
    }

    /// 403: the token's role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such object in the caller's organisation (whether or not another has one).
    pub fn not_found(what: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, format!("no such {what}"))
    }

    /// 422 naming every field at fault.
    pub fn invalid(errors: Vec<(String, String)>) -> Problem {
        Problem {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: errors
                .iter()
                .map(|(f, m)| {
                    if f.is_empty() {
                        m.clone()
                    } else {
                        format!("{f}: {m}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            errors,
            retry_after: None,
        }
    }

    /// 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Problem {
        Problem::invalid(vec![(field.to_owned(), message.into())])
    }

    /// 500, the cause logged.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Problem {
        tracing::error!(error = %sentinel::error_chain(err), "api request failed");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error (logged)")
    }
}

impl From<lookout_store::StoreError> for Problem {
    fn from(err: lookout_store::StoreError) -> Problem {
        // PostgreSQL refuses a NUL character in text (SQLSTATE 22021) wherever it came from
        // (path, query or body): the client's mistake, not ours.
        if sentinel::error_chain(&err).to_string().contains("0x00") {
            return Problem::field(
                "",
                "text must not contain a NUL character (\\u0000)".to_owned(),
            );
        }
        Problem::internal(&err)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = self
                .errors
                .iter()
                .map(|(field, message)| json!({ "field": field, "message": message }))
                .collect();
        }
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after
            && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A JSON body, its rejection as a 422 problem (or 400 for syntax) instead of axum's text.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::UNPROCESSABLE_ENTITY,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                let mut p = Problem::new(status, rejection.body_text());
                if status == StatusCode::UNPROCESSABLE_ENTITY {
                    p.errors.push((String::new(), rejection.body_text()));
                }
                Err(p)
            }
        }
    }
}
