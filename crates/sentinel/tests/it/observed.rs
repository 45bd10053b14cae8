//! Observed spawn: detached failures are logged once and counted, never lost.

use std::time::Duration;

use sentinel::TaskError;

use crate::support::{observe, settle};

#[derive(Debug, thiserror::Error)]
#[error("cannot render template {name}")]
struct RenderError {
    name: &'static str,
    #[source]
    source: std::io::Error,
}

#[test]
fn detached_failures_are_logged_with_their_chain_and_counted() {
    let observed = observe(false, |_| async {
        // Nobody keeps these handles: the failures must still be visible.
        drop(sentinel::spawn("render", async {
            Err::<(), _>(RenderError {
                name: "digest.html",
                source: std::io::Error::other("unknown filter"),
            })
        }));
        drop(sentinel::spawn("loader", async {
            let profiles: Vec<&str> = Vec::new();
            Ok::<_, std::io::Error>(profiles[3].len())
        }));
        settle().await;
    });
    let logs = observed.logs();
    assert_eq!(logs.matches("task failed").count(), 1, "{logs}");
    assert!(
        logs.contains("cannot render template digest.html: unknown filter"),
        "{logs}"
    );
    assert_eq!(logs.matches("task panicked").count(), 1, "{logs}");
    assert!(logs.contains("task=loader"), "{logs}");
    let metrics = observed.metrics();
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "render"), ("outcome", "error")]
        ),
        1
    );
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "loader"), ("outcome", "panic")]
        ),
        1
    );
    assert_eq!(
        metrics.counter("sentinel_task_started_total", &[("task", "render")]),
        1
    );
    assert_eq!(
        metrics.gauge("sentinel_tasks_running", &[("task", "render")]),
        0.0
    );
    assert_eq!(
        metrics.histogram_count("sentinel_task_duration_seconds", &[("task", "render")]),
        1
    );
}

#[test]
fn awaited_handle_gets_typed_errors_and_abort_counts_as_cancelled() {
    let observed = observe(true, |_| async {
        let failed = sentinel::spawn("typed", async {
            Err::<(), _>(std::io::Error::other("disk full"))
        });
        let error = failed.await.unwrap_err();
        assert_eq!(error.task().as_str(), "typed");
        assert_eq!(
            sentinel::error_chain(&error),
            "task typed failed: disk full"
        );

        let slow = sentinel::spawn("aborted", async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::io::Error>(())
        });
        settle().await;
        assert!(
            sentinel::snapshot()
                .tasks
                .iter()
                .any(|t| t.name == "aborted")
        );
        slow.abort();
        assert!(matches!(slow.await, Err(TaskError::Cancelled { .. })));
        assert!(
            !sentinel::snapshot()
                .tasks
                .iter()
                .any(|t| t.name == "aborted")
        );

        let late = sentinel::spawn_with_timeout("late", Duration::from_millis(50), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>(())
        });
        let error = late.await.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    });
    let metrics = observed.metrics();
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "aborted"), ("outcome", "cancelled")]
        ),
        1
    );
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "late"), ("outcome", "timeout")]
        ),
        1
    );
    assert_eq!(
        metrics.counter("sentinel_timeouts_total", &[("op", "late")]),
        1
    );
}

#[test]
fn limit_and_timeout_publish_their_metrics() {
    observe(true, |obs| async move {
        let limit = sentinel::Limit::new("smtp", 2);
        let first = limit.acquire().await;
        let _second = limit.acquire().await;
        let waiter = {
            let limit = limit.clone();
            sentinel::spawn("limit-waiter", async move {
                let _permit = limit.acquire().await;
                Ok::<_, std::io::Error>(())
            })
        };
        settle().await;
        let metrics = obs.metrics();
        assert_eq!(metrics.gauge("sentinel_in_flight", &[("op", "smtp")]), 2.0);
        assert_eq!(metrics.gauge("sentinel_pending", &[("op", "smtp")]), 1.0);
        drop(first);
        waiter.await.unwrap();
        assert!(limit.try_acquire().is_some());

        let error = sentinel::timeout(
            "webhook",
            Duration::from_millis(10),
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(error.unwrap_err().op.as_str(), "webhook");
        assert_eq!(
            obs.metrics()
                .counter("sentinel_timeouts_total", &[("op", "webhook")]),
            1
        );
    });
}
