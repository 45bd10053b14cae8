//! Cursor pagination: `?limit=N&cursor=C` in, `{ "items": [...], "next": C | null }` out.
//! `limit` defaults to 50 and is capped at [`MAX_LIMIT`] (above it is a 422 naming `limit`);
//! the cursor is the last id of the previous page, opaque to clients.

use serde::{Deserialize, Serialize};

use super::problem::Problem;

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
