//! Profiling support (feature `profiling`): jemalloc is the global allocator, and
//! `GET /debug/heap` serves its statistics as JSON — bytes allocated by the application,
//! active in pages, resident, mapped and retained, and the number of arenas — so a leak shows
//! as `allocated` that does not return to its baseline, whatever the allocator keeps cached.
//!
//! A CPU profile endpoint (`/debug/pprof/profile`) is not part of this build yet.

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's statistics, refreshed when read.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HeapStats {
    /// Bytes allocated by the application.
    pub allocated: usize,
    /// Bytes in active pages (allocated plus fragmentation within them).
    pub active: usize,
    /// Bytes of physically resident data pages jemalloc maps.
    pub resident: usize,
    /// Bytes in chunks mapped by jemalloc.
    pub mapped: usize,
    /// Bytes retained (unmapped from use but kept as virtual memory).
    pub retained: usize,
    /// Arenas (one per CPU by default; threads are spread over them).
    pub arenas: u32,
}

/// Reads the statistics (advancing jemalloc's epoch first, so they are current).
///
/// # Errors
/// jemalloc refused a `mallctl` read.
pub fn heap_stats() -> Result<HeapStats, tikv_jemalloc_ctl::Error> {
    use tikv_jemalloc_ctl::{arenas, epoch, stats};
    epoch::advance()?;
    Ok(HeapStats {
        allocated: stats::allocated::read()?,
        active: stats::active::read()?,
        resident: stats::resident::read()?,
        mapped: stats::mapped::read()?,
        retained: stats::retained::read()?,
        arenas: arenas::narenas::read()?,
    })
}

/// The profiling endpoints, generic over the router state so they merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/debug/heap", get(heap))
}

async fn heap() -> Response {
    match heap_stats() {
        Ok(stats) => Json(stats).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "reading jemalloc statistics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_follows_an_allocation() {
        let before = heap_stats().unwrap();
        let block = vec![1u8; 64 << 20];
        let during = heap_stats().unwrap();
        assert!(
            during.allocated >= before.allocated + (60 << 20),
            "{before:?} {during:?}"
        );
        drop(block);
        let after = heap_stats().unwrap();
        assert!(after.allocated < during.allocated, "{during:?} {after:?}");
        assert!(after.arenas >= 1);
    }
}
