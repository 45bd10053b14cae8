//! Ops endpoints: `/healthz`, `/tasks` and `/metrics` from `sentinel`, plus `/readyz` (store
//! reachable), `/info` (version, git sha, build and start time, uptime) and `/connections`
//! (every live feed connection).

use std::sync::OnceLock;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use lookout_feed::ConnectionRegistry;
use lookout_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// Shared state of the ops endpoints.
#[derive(Debug, Clone)]
pub struct OpsState {
    store: Store,
    registry: ConnectionRegistry,
    started_at: Timestamp,
}

impl OpsState {
    /// State for a service started now.
    pub fn new(store: Store, registry: ConnectionRegistry) -> OpsState {
        OpsState {
            store,
            registry,
            started_at: Timestamp::now(),
        }
    }
}

/// The process-wide Prometheus recorder, installed on first use.
///
/// Returns `None` when another recorder was installed first (then `/metrics` is empty).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match sentinel::http::install_prometheus() {
            Ok(handle) => Some(handle),
            Err(err) => {
                tracing::warn!(error = %sentinel::error_chain(&err), "metrics recorder not installed; /metrics is empty");
                None
            }
        })
        .clone()
}

/// The ops router.
pub fn app(state: OpsState) -> Router {
    let lookout = Router::new()
        .route("/readyz", get(readyz))
        .route("/info", get(info))
        .route("/connections", get(connections))
        .with_state(state);
    match prometheus() {
        Some(handle) => lookout.merge(sentinel::http::router(handle)),
        None => lookout
            .route("/healthz", get(sentinel::http::healthz))
            .route("/tasks", get(sentinel::http::tasks)),
    }
}

/// Version and build facts served by `/info`.
#[derive(Debug, Serialize)]
pub struct Info {
    /// Crate version.
    pub version: &'static str,
    /// Git commit the binary was built from.
    pub git_sha: &'static str,
    /// Build time (RFC 3339).
    pub built_at: String,
    /// When this process started the service (RFC 3339).
    pub started_at: String,
    /// Seconds since `started_at`.
    pub uptime_seconds: i64,
}

/// Build facts of this binary.
pub fn info_now(started_at: Timestamp) -> Info {
    let built_at = env!("LOOKOUT_BUILT_AT")
        .parse::<i64>()
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .map_or_else(|| "unknown".to_owned(), |t| t.to_string());
    let now = Timestamp::now();
    Info {
        version: env!("CARGO_PKG_VERSION"),
        git_sha: env!("LOOKOUT_GIT_SHA"),
        built_at,
        started_at: started_at.to_string(),
        uptime_seconds: now.as_second().saturating_sub(started_at.as_second()),
    }
}

async fn info(State(state): State<OpsState>) -> Json<Info> {
    Json(info_now(state.started_at))
}

async fn connections(State(state): State<OpsState>) -> Response {
    Json(state.registry.snapshot()).into_response()
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let timeout = std::time::Duration::from_secs(2);
    match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %sentinel::error_chain(&err), "readiness: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store did not answer within 2 s\n",
        )
            .into_response(),
    }
}
