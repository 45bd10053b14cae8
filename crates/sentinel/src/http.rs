//! Ops endpoints on axum (feature `http`): `/healthz`, `/tasks`, `/metrics`.
//!
//! ```no_run
//! # async fn run(shutdown: sentinel::Shutdown) -> Result<(), Box<dyn std::error::Error>> {
//! let ops = sentinel::http::router(sentinel::http::install_prometheus()?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9898").await?;
//! sentinel::http::serve(listener, ops, shutdown.token()).await?;
//! # Ok(()) }
//! ```
//!
//! - `GET /healthz`: `200` with the [`Health`](crate::Health) report as JSON when every heartbeat is fresh, `503`
//!   naming the stale loops (`"stale": ["dispatcher"]`) otherwise. For a liveness probe.
//! - `GET /tasks`: the registry [`Snapshot`](crate::Snapshot) as JSON.
//! - `GET /metrics`: Prometheus text format from `metrics-exporter-prometheus`; heartbeat ages are refreshed first.
//!
//! Merge the router into the service's own (`app.merge(ops)`) or serve it on a separate port.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// The Prometheus recorder could not be installed (another global recorder is already installed).
#[derive(Debug, thiserror::Error)]
#[error("cannot install the prometheus metrics recorder")]
pub struct InstallError(#[source] metrics_exporter_prometheus::BuildError);

/// Installs a Prometheus recorder as the process-wide `metrics` recorder and returns the handle `/metrics` renders.
/// Call it once, early in `main`.
pub fn install_prometheus() -> Result<PrometheusHandle, InstallError> {
    PrometheusBuilder::new()
        .install_recorder()
        .map_err(InstallError)
}

/// The ops router: `/healthz`, `/tasks` and `/metrics` (rendered from `prometheus`).
pub fn router(prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/tasks", get(tasks))
        .route("/metrics", get(metrics_text))
        .with_state(prometheus)
}

/// Serves `router` on `listener` until `token` is cancelled, then lets in-flight requests finish.
///
/// # Cancel safety
///
/// Dropping the future closes the listener and every open connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    token: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(token.cancelled_owned())
        .await
}

/// `GET /healthz`: 200 when every heartbeat is fresh, 503 naming the stale loops.
pub async fn healthz() -> Response {
    let health = crate::health();
    let stale: Vec<&str> = health.stale_names();
    let status = if health.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "healthy": health.is_healthy(),
        "stale": stale,
        "loops": health.loops,
    });
    (status, Json(body)).into_response()
}

/// `GET /tasks`: the registry snapshot.
pub async fn tasks() -> Json<crate::Snapshot> {
    Json(crate::snapshot())
}

async fn metrics_text(State(prometheus): State<PrometheusHandle>) -> Response {
    // Refresh the heartbeat age gauges, and drain histogram buffers (the exporter has no background upkeep here).
    let _ = crate::health();
    prometheus.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    #[test]
    fn ops_router_serves_health_tasks_and_metrics_over_tcp() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let token = CancellationToken::new();
                let server = crate::spawn(
                    "ops-http-test",
                    serve(listener, router(handle), token.clone()),
                );

                let heartbeat =
                    crate::Heartbeat::register("http-test/loop", Duration::from_millis(500));
                let task = crate::spawn("http-test/task", async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<_, std::io::Error>(())
                });
                let (status, body) = get(addr, "/healthz").await;
                assert_eq!(status, 200, "{body}");
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["healthy"], true);

                let (status, body) = get(addr, "/tasks").await;
                assert_eq!(status, 200);
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                let listed = json["tasks"].as_array().unwrap();
                assert!(
                    listed
                        .iter()
                        .any(|t| t["name"] == "http-test/task" && t["state"] == "running"),
                    "{body}"
                );

                let (status, body) = get(addr, "/metrics").await;
                assert_eq!(status, 200);
                assert!(
                    body.contains("sentinel_task_started_total{task=\"http-test/task\"} 1"),
                    "{body}"
                );
                assert!(
                    body.contains("sentinel_heartbeat_age_seconds{task=\"http-test/loop\"}"),
                    "{body}"
                );

                tokio::time::sleep(Duration::from_millis(700)).await;
                let (status, body) = get(addr, "/healthz").await;
                assert_eq!(status, 503, "{body}");
                let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["stale"], serde_json::json!(["http-test/loop"]));

                drop(heartbeat);
                task.abort();
                token.cancel();
                server.await.unwrap();
            });
        });
    }
}
