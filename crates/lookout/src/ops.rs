//! Ops endpoints: `/healthz`, `/tasks` and `/metrics` from `sentinel`, plus `/readyz` (store
//! reachable, ingest not down), `/info` (version, git sha, build and start time, uptime) and `/connections`
//! (every live feed connection).

use std::sync::OnceLock;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use lookout_feed::{ConnectionRegistry, SourceState};
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

/// What `/readyz` answers.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// True when the store answered and ingest is not down.
    pub ready: bool,
    /// `ok`, or why the store is not usable.
    pub store: String,
    /// `ok`, or why ingest is down.
    pub ingest: String,
}

/// Ingest is down when sources are configured, none of them is up, and one is backing off
/// after a failure (a file source that reached its end is not down).
fn ingest_state(registry: &ConnectionRegistry) -> Result<(), String> {
    let sources = registry.snapshot().sources;
    let any_up = sources.iter().any(|s| s.state == SourceState::Up);
    let failing: Vec<&str> = sources
        .iter()
        .filter(|s| s.state == SourceState::Backoff)
        .map(|s| s.source.as_str())
        .collect();
    if any_up || failing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "no source is up; reconnecting: {}",
            failing.join(", ")
        ))
    }
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let timeout = std::time::Duration::from_secs(2);
    let store = match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => {
            tracing::warn!(error = %sentinel::error_chain(&err), "readiness: store unreachable");
            Err("store unreachable".to_owned())
        }
        Err(_) => Err("store did not answer within 2 s".to_owned()),
    };
    let ingest = ingest_state(&state.registry);
    let ready = store.is_ok() && ingest.is_ok();
    let body = Readiness {
        ready,
        store: store.err().unwrap_or_else(|| "ok".to_owned()),
        ingest: ingest.err().unwrap_or_else(|| "ok".to_owned()),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    async fn get(app: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn readyz_fails_naming_the_reason_when_every_source_is_down() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let registry = ConnectionRegistry::new();
        let app = || app(OpsState::new(store.clone(), registry.clone()));

        let (status, body) = get(app(), "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");

        registry.set_source_state(
            "hub",
            SourceState::Backoff,
            Some("connection refused".into()),
        );
        let (status, body) = get(app(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["store"], "ok");
        assert!(body["ingest"].as_str().unwrap().contains("hub"), "{body}");

        registry.set_source_state("backup", SourceState::Up, None);
        let (status, _) = get(app(), "/readyz").await;
        assert_eq!(status, StatusCode::OK, "one source up is enough");

        store.close().await;
        let (status, body) = get(app(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_ne!(body["store"], "ok");
    }

    #[tokio::test]
    async fn info_reports_version_and_uptime() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let (status, body) = get(
            app(OpsState::new(store, ConnectionRegistry::new())),
            "/info",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert!(body["uptime_seconds"].as_i64().unwrap() >= 0);
    }
}
