//! `GET /api/v1/events/stream`: the organisation's events as they are recorded, as
//! server-sent events (`text/event-stream`), for dashboards.
//!
//! - Each event is one SSE message: `id` is the event's id (the list's cursor), `event` its
//!   kind, `data` the same JSON object `GET /events` lists. Filters as the list: `vessel`,
//!   `fleet`, `area`, `kind`.
//! - **Resumable.** A client that reconnects with `Last-Event-ID` (browsers do this by
//!   themselves) gets everything after that id, then the live tail; `?after=ID` does the same
//!   explicitly. Without either, the stream starts at the newest event (only what comes next).
//! - **Settled.** The stream moves past an event only once it has been recorded for
//!   [`SETTLE`]: with several recorders (cluster mode), ids are taken in one order and
//!   committed in another, and a stream that raced ahead of a slow commit would skip it. A
//!   commit slower than that can still be missed by a live stream; `GET /events` has it.
//! - **Bounded.** At most [`MAX_STREAMS`] streams per instance (one store query each per
//!   [`POLL`]); past that a `503` with `Retry-After`. A comment line every 15 s keeps proxies
//!   from closing an idle stream. Streams end when the instance shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use lookout_store::Store;
use lookout_store::model::{EventFilter, EventRecord};
use sentinel::CancellationToken;
use serde::Deserialize;

use super::ApiState;
use super::auth::Caller;
use super::page::ApiQuery;
use super::problem::Problem;

/// Most concurrent streams per instance.
pub const MAX_STREAMS: usize = 64;
/// How often a stream asks the store for new events.
pub const POLL: Duration = Duration::from_secs(1);
/// How long an event has been recorded before a stream moves past it.
pub const SETTLE: jiff::SignedDuration = jiff::SignedDuration::from_secs(3);
/// Most events read per query.
const BATCH: u32 = 500;

/// `?vessel&fleet&area&kind&after`.
#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    vessel: Option<u32>,
    fleet: Option<String>,
    area: Option<String>,
    kind: Option<String>,
    after: Option<i64>,
}

/// `GET /events/stream`.
pub(super) async fn stream(
    State(s): State<ApiState>,
    c: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Response, Problem> {
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| Problem::field("Last-Event-ID", "not an event id"))?,
        ),
    };
    let Ok(permit) = std::sync::Arc::clone(&s.streams).try_acquire_owned() else {
        return Err(Problem::retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} event streams are open on this instance; retry later"),
            30,
        ));
    };
    let after = match last_event_id.or(q.after) {
        Some(after) => after.max(0),
        None => s.store.last_event_id().await?,
    };
    let tail = Tail {
        store: s.store.clone(),
        org: c.org,
        filter: EventFilter {
            mmsi: q.vessel,
            fleet: q.fleet,
            area: q.area,
            kind: q.kind,
            ..EventFilter::default()
        },
        after,
        pending: VecDeque::new(),
        shutdown: s.shutdown.clone(),
        read_now: true,
    };
    let events = futures::stream::unfold((tail, permit), |(mut tail, permit)| async move {
        let record = tail.next().await?;
        let event = Event::default()
            .id(record.id.to_string())
            .event(record.kind.clone())
            .json_data(&record)
            // An EventRecord always serialises; an empty message is the fallback.
            .unwrap_or_default();
        Some((Ok::<_, Infallible>(event), (tail, permit)))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// One stream's position.
struct Tail {
    store: Store,
    org: String,
    filter: EventFilter,
    after: i64,
    pending: VecDeque<EventRecord>,
    shutdown: CancellationToken,
    /// Read the store without pausing first (the start, or after a full batch).
    read_now: bool,
}

impl Tail {
    /// The next event, waiting for one; `None` when the instance shuts down.
    async fn next(&mut self) -> Option<EventRecord> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                self.after = record.id;
                return Some(record);
            }
            if !self.read_now {
                tokio::select! {
                    () = self.shutdown.cancelled() => return None,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            self.read_now = false;
            self.filter.recorded_before = jiff::Timestamp::now().checked_sub(SETTLE).ok();
            match self
                .store
                .events(&self.org, &self.filter, self.after, BATCH)
                .await
            {
                Ok(found) => {
                    let full = found.len() == BATCH as usize;
                    self.pending.extend(found);
                    // A full batch: more is waiting; read it without pausing.
                    self.read_now = full;
                }
                Err(error) => {
                    tracing::warn!(error = %sentinel::error_chain(&error), org = %self.org,
                        "event stream cannot read the store; retrying");
                }
            }
        }
    }
}
