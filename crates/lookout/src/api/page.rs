//! Cursor pagination: `?limit=N&cursor=C` in, `{ "items": [...], "next": C | null }` out.
//! `limit` defaults to 50 and is capped at [`MAX_LIMIT`] (above it is a 422 naming `limit`);
//! the cursor is the last id of the previous page, opaque to clients.

use axum::extract::{FromRequestParts, Query};
use axum::http::Uri;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// A query string extractor whose failures are 422 problems naming the parameter (axum's own
/// answers a plain-text 400), and where an empty value (`?state=`) counts as absent, as a form
/// with an empty field means "any".
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        if let Some((name, _)) =
            url::form_urlencoded::parse(query.as_bytes()).find(|(_, value)| value.contains('\0'))
        {
            return Err(Problem::field(
                &name,
                "must not contain a NUL character".to_owned(),
            ));
        }
        let kept = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(query.as_bytes())
                    .filter(|(_, value)| !value.is_empty()),
            )
            .finish();
        let uri: Uri = format!("/?{kept}")
            .parse()
            .map_err(|_| Problem::field("query", "not a query string".to_owned()))?;
        match Query::<T>::try_from_uri(&uri) {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let field = detail
                    .split_once(": ")
                    .map_or("query", |(field, _)| field)
                    .to_owned();
                Err(Problem::field(&field, detail.to_owned()))
            }
        }
    }
}

/// The largest page.
pub const MAX_LIMIT: u32 = 500;
/// The page when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;

/// `?limit&cursor`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Where the page starts.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// What to ask the store for: from the cursor, one item more than the page (so
    /// [`Page::of_fetched`] can tell whether there is more).
    pub fn store_cursor(&self) -> Result<lookout_store::model::Cursor, Problem> {
        Ok(lookout_store::model::Cursor {
            after: self.cursor.clone(),
            limit: self.limit()? + 1,
        })
    }

    /// The size checked against the cap.
    pub fn limit(&self) -> Result<u32, Problem> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(Problem::field(
                "limit",
                format!("{n} is out of range: 1 to {MAX_LIMIT}"),
            )),
        }
    }
}

/// One page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The objects.
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The page of what the store answered for `cursor` ([`PageQuery::store_cursor`]), keyed
    /// by `key` (the next cursor) and each item answered as `out` makes it.
    pub fn of_fetched<U>(
        fetched: Vec<U>,
        cursor: &lookout_store::model::Cursor,
        key: impl Fn(&U) -> String,
        out: impl FnMut(U) -> T,
    ) -> Page<T> {
        let page = Page::of(fetched, cursor.limit.saturating_sub(1), key);
        Page {
            items: page.items.into_iter().map(out).collect(),
            next: page.next,
        }
    }

    /// A page from `limit + 1` fetched items: the extra one only says there is more.
    pub fn of(mut fetched: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let more = fetched.len() > limit as usize;
        fetched.truncate(limit as usize);
        let next = if more { fetched.last().map(&key) } else { None };
        Page {
            items: fetched,
            next,
        }
    }
}
