//! Profiling support (feature `profiling`), the `/debug/pprof`-style endpoints of a running
//! process:
//!
//! - `GET /debug/heap`: jemalloc (the global allocator in this build) statistics as JSON —
//!   bytes allocated by the application, active in pages, resident, mapped and retained, and
//!   the number of arenas — so a leak shows as `allocated` that does not return to its
//!   baseline, whatever the allocator keeps cached. `?format=text` gives jemalloc's own full
//!   report (`malloc_stats_print`), per arena and per size class.
//! - `GET /debug/pprof/profile?seconds=N` (default 10, at most 60): a CPU profile sampled at
//!   99 Hz for N seconds, in pprof's protobuf format (`go tool pprof`, `pprof -http`). One at a
//!   time: a second request while one runs answers 409.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

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
    Router::new()
        .route("/debug/heap", get(heap))
        .route("/debug/pprof/profile", get(cpu_profile))
}

/// Query of `/debug/heap`.
#[derive(Debug, Deserialize)]
struct HeapQuery {
    /// `text` for jemalloc's full report.
    format: Option<String>,
}

async fn heap(Query(query): Query<HeapQuery>) -> Response {
    if query.format.as_deref() == Some("text") {
        let mut report = Vec::new();
        return match tikv_jemalloc_ctl::stats_print::stats_print(
            &mut report,
            tikv_jemalloc_ctl::stats_print::Options::default(),
        ) {
            Ok(()) => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                report,
            )
                .into_response(),
            Err(err) => {
                tracing::warn!(error = %err, "printing jemalloc statistics failed");
                (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
            }
        };
    }
    match heap_stats() {
        Ok(stats) => Json(stats).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "reading jemalloc statistics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
    }
}

/// Query of `/debug/pprof/profile`.
#[derive(Debug, Deserialize)]
struct ProfileQuery {
    /// How long to sample (default 10 s, at most 60 s).
    seconds: Option<u64>,
}

/// Longest CPU profile one request may ask for.
const MAX_PROFILE: Duration = Duration::from_secs(60);

/// Set while a CPU profile is being taken (the profiler is process-wide).
static PROFILING: AtomicBool = AtomicBool::new(false);

/// Takes a CPU profile of `duration` and returns it encoded in pprof's protobuf format.
///
/// # Errors
/// The profiler could not start (another profile is running, or the signal timer failed) or
/// its report could not be built.
pub async fn cpu_profile_for(duration: Duration) -> Result<Vec<u8>, ProfileError> {
    if PROFILING.swap(true, Ordering::AcqRel) {
        return Err(ProfileError::Busy);
    }
    let result = async {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(99)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(ProfileError::Profiler)?;
        tokio::time::sleep(duration.min(MAX_PROFILE)).await;
        let report = guard.report().build().map_err(ProfileError::Profiler)?;
        let profile = report.pprof().map_err(ProfileError::Profiler)?;
        Ok(pprof::protos::Message::encode_to_vec(&profile))
    }
    .await;
    PROFILING.store(false, Ordering::Release);
    result
}

/// Why a CPU profile could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Another profile is being taken.
    #[error("a cpu profile is already being taken; try again when it is done")]
    Busy,
    /// The profiler failed.
    #[error("cpu profiler failed")]
    Profiler(#[source] pprof::Error),
}

async fn cpu_profile(Query(query): Query<ProfileQuery>) -> Response {
    let seconds = query.seconds.unwrap_or(10).clamp(1, MAX_PROFILE.as_secs());
    match cpu_profile_for(Duration::from_secs(seconds)).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"profile.pb\"",
                ),
            ],
            body,
        )
            .into_response(),
        Err(ProfileError::Busy) => {
            (StatusCode::CONFLICT, ProfileError::Busy.to_string()).into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, cause = ?std::error::Error::source(&err), "cpu profile failed");
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cpu_profile_is_pprof_protobuf_and_one_runs_at_a_time() {
        // Keep a core busy so the profile has samples.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let spin = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                x
            })
        };
        let first = cpu_profile_for(Duration::from_secs(1));
        let second = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cpu_profile_for(Duration::from_secs(1)).await
        };
        let (first, second) = tokio::join!(first, second);
        stop.store(true, Ordering::Relaxed);
        spin.join().unwrap();
        assert!(matches!(second, Err(ProfileError::Busy)), "{second:?}");
        let body = first.unwrap();
        let profile: pprof::protos::Profile =
            pprof::protos::Message::decode(body.as_slice()).unwrap();
        assert!(!profile.sample_type.is_empty());
        assert!(!profile.sample.is_empty(), "a busy core gives samples");
    }

    #[tokio::test]
    async fn the_text_heap_report_is_jemallocs_own_per_arena() {
        let response = heap(Query(HeapQuery {
            format: Some("text".into()),
        }))
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("jemalloc statistics"), "{text}");
        assert!(text.contains("arenas[0]"), "no per-arena section: {text}");
    }
}
