//! Ops endpoints (and, merged beside them, the `/api/v1` router of [`crate::api`]): `/healthz` and `/tasks` from `sentinel`, `/metrics` (the catalogue, refreshed
//! on every scrape), plus `/readyz` (store reachable, ingest not down), `/info` (version, git
//! sha, build and start time, uptime) and `/connections` (every live feed connection).
//!
//! Every request gets a request id (`x-request-id`, generated when absent, returned on the
//! response) and one log line when it starts and one when it ends, inside a span carrying the
//! id. With the `fault-injection` feature, `/debug/fault/*` ([`crate::fault`]) is mounted too,
//! with `profiling` `/debug/heap` ([`crate::profiling`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use lookout_feed::{ConnectionRegistry, SourceState};
use lookout_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};

use crate::metrics_catalogue::{self, CATALOGUE, Kind};
use crate::process;

/// Reads one bounded in-process queue: `(items waiting, capacity)`, or `None` once it is gone.
pub type QueueProbe = Arc<dyn Fn() -> Option<(usize, usize)> + Send + Sync>;

/// A probe of a bounded tokio channel through a weak sender, so the probe never keeps the
/// channel open (its receiver still sees the end when the real senders are gone).
pub fn channel_probe<T: Send + 'static>(tx: &tokio::sync::mpsc::Sender<T>) -> QueueProbe {
    let weak = tx.downgrade();
    Arc::new(move || {
        weak.upgrade()
            .map(|tx| (tx.max_capacity() - tx.capacity(), tx.max_capacity()))
    })
}

/// One more readiness condition (e.g. the NATS connection, partitions owned): `Err` says why
/// the instance is not ready.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Shared state of the ops endpoints.
#[derive(Clone)]
pub struct OpsState {
    store: Store,
    registry: ConnectionRegistry,
    started_at: Timestamp,
    queues: Vec<(&'static str, QueueProbe)>,
    checks: Vec<(&'static str, ReadyCheck)>,
    webhooks: Arc<BTreeSet<String>>,
    destinations: Arc<lookout_notify::channels::DestinationPolicy>,
    streams: Arc<tokio::sync::Semaphore>,
    shutdown: sentinel::CancellationToken,
    router: Option<lookout_notify::router::Router>,
    test_cooldowns: crate::api::test_send::Cooldowns,
    limiter: Arc<crate::api::limit::RateLimiter>,
}

impl std::fmt::Debug for OpsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsState")
            .field("started_at", &self.started_at)
            .field(
                "queues",
                &self.queues.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl OpsState {
    /// State for a service started now.
    pub fn new(store: Store, registry: ConnectionRegistry) -> OpsState {
        OpsState {
            store,
            registry,
            started_at: Timestamp::now(),
            queues: Vec::new(),
            checks: Vec::new(),
            webhooks: Arc::default(),
            destinations: Arc::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(crate::api::stream::MAX_STREAMS)),
            shutdown: sentinel::CancellationToken::new(),
            router: None,
            test_cooldowns: crate::api::test_send::Cooldowns::default(),
            limiter: Arc::new(crate::api::limit::RateLimiter::new(
                crate::api::limit::RateLimit::default(),
            )),
        }
    }

    /// Limits each API token to `limit`.
    pub fn with_rate_limit(mut self, limit: crate::api::limit::RateLimit) -> OpsState {
        self.limiter = Arc::new(crate::api::limit::RateLimiter::new(limit));
        self
    }

    /// Sends test notifications through `router` (`POST /api/v1/users/{id}/test-notification`).
    pub fn with_router(mut self, router: lookout_notify::router::Router) -> OpsState {
        self.router = Some(router);
        self
    }

    /// Ends long-lived responses (event streams) when `token` is cancelled, so a graceful
    /// shutdown does not wait for clients to hang up.
    pub fn with_shutdown(mut self, token: sentinel::CancellationToken) -> OpsState {
        self.shutdown = token;
        self
    }

    /// The store (for the status page).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The feed connections (for the status page).
    pub(crate) fn registry(&self) -> &ConnectionRegistry {
        &self.registry
    }

    /// Adds a readiness condition, reported by `/readyz` under `checks.<name>` (and evaluated at
    /// every scrape, so a check may set its own gauge).
    pub fn with_check(mut self, name: &'static str, check: ReadyCheck) -> OpsState {
        self.checks.push((name, check));
        self
    }

    /// The webhook endpoints (`[webhooks.*]`) users set through `/api/v1` may name.
    pub fn with_webhooks(mut self, names: BTreeSet<String>) -> OpsState {
        self.webhooks = Arc::new(names);
        self
    }

    /// The policy URLs set through `/api/v1` are checked against (`[destinations]`).
    pub fn with_destinations(
        mut self,
        policy: lookout_notify::channels::DestinationPolicy,
    ) -> OpsState {
        self.destinations = Arc::new(policy);
        self
    }

    /// Adds a queue whose depth `/metrics` reports as `lookout_queue_depth{queue}`.
    pub fn with_queue(mut self, name: &'static str, probe: QueueProbe) -> OpsState {
        self.queues.push((name, probe));
        self
    }
}

/// The process-wide Prometheus recorder, installed on first use, with explicit buckets for
/// every catalogued histogram and every catalogued metric registered at zero
/// ([`metrics_catalogue::register`]).
///
/// Returns `None` when another recorder was installed first (then `/metrics` is empty).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match install_prometheus() {
            Ok(handle) => {
                metrics_catalogue::register();
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("lookout_process_start_time_seconds")
                    .set(Timestamp::now().as_millisecond() as f64 / 1000.0);
                Some(handle)
            }
            Err(err) => {
                tracing::warn!(error = %sentinel::error_chain(&err), "metrics recorder not installed; /metrics is empty");
                None
            }
        })
        .clone()
}

fn install_prometheus() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let mut builder = PrometheusBuilder::new();
    for m in CATALOGUE.iter().filter(|m| m.kind == Kind::Histogram) {
        builder = builder.set_buckets_for_metric(
            Matcher::Full(m.name.to_owned()),
            metrics_catalogue::buckets_for(m.name),
        )?;
    }
    builder.install_recorder()
}

/// The ops router.
pub fn app(state: OpsState) -> Router {
    let mut lookout = Router::new()
        .route("/readyz", get(readyz))
        .route("/info", get(info))
        .route("/connections", get(connections))
        .route("/healthz", get(sentinel::http::healthz))
        .route("/tasks", get(sentinel::http::tasks));
    if prometheus().is_some() {
        lookout = lookout.route("/metrics", get(metrics_text));
    }
    #[cfg(feature = "fault-injection")]
    {
        lookout = lookout.merge(crate::fault::router());
    }
    #[cfg(feature = "profiling")]
    {
        lookout = lookout.merge(crate::profiling::router());
    }
    let api = crate::api::router(crate::api::ApiState {
        store: state.store.clone(),
        webhooks: Arc::clone(&state.webhooks),
        destinations: Arc::clone(&state.destinations),
        streams: Arc::clone(&state.streams),
        shutdown: state.shutdown.clone(),
        router: state.router.clone(),
        test_cooldowns: state.test_cooldowns.clone(),
        limiter: Arc::clone(&state.limiter),
    });
    let status = crate::status::router(state.clone());
    with_request_ids(lookout.with_state(state).merge(api).merge(status))
}

/// Adds request ids (`x-request-id`, generated when absent, echoed on the response) and one
/// start and one end log line per request, in a span carrying the id.
pub fn with_request_ids(router: Router) -> Router {
    let header = HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", request_id = %id, method = %request.method(), path = %request.uri().path())
        })
        .on_request(DefaultOnRequest::new().level(tracing::Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG));
    // Layers run outside-in: set the id, then trace with it, then copy it to the response.
    router
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}

/// `GET /metrics`: refreshes the gauges read on demand, then renders.
async fn metrics_text(State(state): State<OpsState>) -> Response {
    refresh_gauges(&state).await;
    let Some(handle) = prometheus() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Sets the gauges that are read at scrape time (heartbeats, sources, process, readiness) and
/// touches the run-time labelled series at zero (every task name, every source).
#[allow(clippy::cast_precision_loss)]
pub async fn refresh_gauges(state: &OpsState) {
    for (_, check) in &state.checks {
        let _ = check();
    }
    // Refreshes `sentinel_heartbeat_age_seconds` as well.
    let health = sentinel::health();
    for l in &health.loops {
        metrics::gauge!("lookout_heartbeat_tolerance_seconds", "task" => l.name.as_str().to_owned())
            .set(l.tolerance_seconds);
    }
    let names: BTreeSet<String> = sentinel::snapshot()
        .tasks
        .iter()
        .map(|t| t.name.as_str().to_owned())
        .collect();
    for name in &names {
        metrics_catalogue::touch_task(name);
    }
    let snapshot = state.registry.snapshot();
    for s in &snapshot.sources {
        metrics_catalogue::touch_source(&s.source);
        let up = if s.state == SourceState::Up { 1.0 } else { 0.0 };
        metrics::gauge!("lookout_source_up", "source" => s.source.clone()).set(up);
        let n = snapshot
            .connections
            .iter()
            .filter(|c| c.source == s.source)
            .count();
        metrics::gauge!("lookout_feed_connections", "source" => s.source.clone()).set(n as f64);
    }
    let memory = process::resident_memory();
    if let Some(rss) = memory.and_then(|m| m.total) {
        metrics::gauge!("lookout_process_resident_bytes").set(rss as f64);
    }
    if let Some(anon) = memory.and_then(|m| m.anonymous) {
        metrics::gauge!("lookout_process_anonymous_bytes").set(anon as f64);
    }
    if let Some(limit) = memory_limit() {
        metrics::gauge!("lookout_memory_limit_bytes").set(limit as f64);
    }
    if let Some(fds) = process::open_fds() {
        metrics::gauge!("lookout_process_open_fds").set(fds as f64);
    }
    for (name, probe) in &state.queues {
        if let Some((depth, capacity)) = probe() {
            metrics::gauge!("lookout_queue_depth", "queue" => *name).set(depth as f64);
            metrics::gauge!("lookout_queue_capacity", "queue" => *name).set(capacity as f64);
        }
    }
    let pool = state.store.pool_stats();
    metrics::gauge!("lookout_store_pool_connections", "state" => "in_use")
        .set(f64::from(pool.in_use));
    metrics::gauge!("lookout_store_pool_connections", "state" => "idle")
        .set(f64::from(pool.open - pool.in_use));
    metrics::gauge!("lookout_store_pool_max_connections").set(f64::from(pool.max));
    let ready = readiness(state).await.ready;
    metrics::gauge!("lookout_ready").set(if ready { 1.0 } else { 0.0 });
}

fn memory_limit() -> Option<u64> {
    #[cfg(feature = "fault-injection")]
    if let Some(limit) = crate::fault::memory_limit_override() {
        return Some(limit);
    }
    process::memory_limit_bytes()
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
    /// The added conditions ([`OpsState::with_check`]): `ok` or why not.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<&'static str, String>,
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

/// Evaluates readiness: the store answers within 2 s and ingest is not down.
pub async fn readiness(state: &OpsState) -> Readiness {
    let timeout = Duration::from_secs(2);
    let store = match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => {
            tracing::warn!(error = %sentinel::error_chain(&err), "readiness: store unreachable");
            Err("store unreachable".to_owned())
        }
        Err(_) => Err("store did not answer within 2 s".to_owned()),
    };
    let ingest = ingest_state(&state.registry);
    let mut checks = BTreeMap::new();
    let mut checks_ok = true;
    for (name, check) in &state.checks {
        let outcome = check();
        checks_ok &= outcome.is_ok();
        checks.insert(*name, outcome.err().unwrap_or_else(|| "ok".to_owned()));
    }
    Readiness {
        ready: store.is_ok() && ingest.is_ok() && checks_ok,
        checks,
        store: store.err().unwrap_or_else(|| "ok".to_owned()),
        ingest: ingest.err().unwrap_or_else(|| "ok".to_owned()),
    }
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let body = readiness(&state).await;
    let status = if body.ready {
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
    async fn every_response_carries_a_request_id_given_or_generated() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let app = || app(OpsState::new(store.clone(), ConnectionRegistry::new()));
        let given = app()
            .oneshot(
                Request::get("/info")
                    .header("x-request-id", "req-42")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(given.headers()["x-request-id"], "req-42");
        let generated = app()
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = generated.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
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
