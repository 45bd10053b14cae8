//! Fault injection for the end-to-end alert tests (feature `fault-injection`, off by default;
//! never build it into a release).
//!
//! Faults that need no code are injected from outside: a broken template through the
//! `templates` override directory, a failing SMTP server or webhook through loopback receivers,
//! a stopped feed by stopping its sender. The faults here need code, and are ops endpoints:
//!
//! - `POST /debug/fault/stuck?seconds=N`: a loop (`fault/stuck`) beats its heartbeat once, then
//!   hangs for `N` seconds (default 90) without beating, so its heartbeat goes stale; afterwards
//!   it deregisters and the staleness clears.
//! - `POST /debug/fault/alloc?bytes=N`: holds `N` more bytes, touched so they are resident
//!   (memory pressure); `bytes=0` frees everything held.
//! - `POST /debug/fault/panic`: spawns a task that panics 10 s later (counted as
//!   `sentinel_task_finished_total{outcome="panic"}`).
//!
//! `LOOKOUT_FAULT_MEMORY_LIMIT_BYTES` replaces the memory limit this process reports
//! (`lookout_memory_limit_bytes`), so a test can approach "near OOM" with a small allocation.

use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

/// Most bytes the alloc fault holds at once.
pub const MAX_HELD_BYTES: u64 = 8 << 30;

static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The fault endpoints, generic over the router state so they merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/debug/fault/stuck", post(stuck))
        .route("/debug/fault/alloc", post(alloc))
        .route("/debug/fault/panic", post(panic))
}

/// The memory limit set by `LOOKOUT_FAULT_MEMORY_LIMIT_BYTES`, if any.
pub fn memory_limit_override() -> Option<u64> {
    std::env::var("LOOKOUT_FAULT_MEMORY_LIMIT_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// Bytes the alloc fault holds now.
pub fn held_bytes() -> u64 {
    lock().iter().map(|v| v.len() as u64).sum()
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Deserialize)]
struct StuckQuery {
    seconds: Option<u64>,
}

async fn stuck(Query(q): Query<StuckQuery>) -> Response {
    let seconds = q.seconds.unwrap_or(90).min(3600);
    let _task = sentinel::spawn("fault/stuck", async move {
        let heartbeat = sentinel::Heartbeat::register("fault/stuck", Duration::from_secs(2));
        heartbeat.beat();
        tracing::warn!(seconds, "fault injected: loop stuck without beating");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        drop(heartbeat);
        tracing::info!("fault cleared: stuck loop ended");
        Ok::<(), std::convert::Infallible>(())
    });
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "stuck_seconds": seconds })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct AllocQuery {
    bytes: u64,
}

async fn alloc(Query(q): Query<AllocQuery>) -> Response {
    let mut held = lock();
    if q.bytes == 0 {
        held.clear();
        held.shrink_to_fit();
        tracing::info!("fault cleared: allocations freed");
    } else {
        let total: u64 = held.iter().map(|v| v.len() as u64).sum();
        if total.saturating_add(q.bytes) > MAX_HELD_BYTES {
            return (
                StatusCode::BAD_REQUEST,
                format!("would hold more than {MAX_HELD_BYTES} bytes"),
            )
                .into_response();
        }
        let Ok(n) = usize::try_from(q.bytes) else {
            return (StatusCode::BAD_REQUEST, "too many bytes").into_response();
        };
        // Non-zero bytes: every page is written, so it is resident.
        held.push(vec![0xa5; n]);
        tracing::warn!(bytes = q.bytes, "fault injected: memory held");
    }
    let total: u64 = held.iter().map(|v| v.len() as u64).sum();
    Json(serde_json::json!({ "held_bytes": total })).into_response()
}

async fn panic() -> Response {
    // Like a real task, it exists (and is scraped at zero) before it panics: a counter that
    // first appears at 1 has no increase Prometheus could see.
    crate::metrics_catalogue::touch_task("fault/panic");
    let _task = sentinel::spawn("fault/panic", async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        #[allow(clippy::panic)]
        {
            panic!("fault injected: task panic");
        }
        #[allow(unreachable_code)]
        Ok::<(), std::convert::Infallible>(())
    });
    StatusCode::ACCEPTED.into_response()
}
