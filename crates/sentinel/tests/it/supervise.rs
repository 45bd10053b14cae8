//! Supervision: restarts after panics, strategies, policies, intensity and nesting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sentinel::{Backoff, ChildSpec, Restart, Strategy, Supervisor, SupervisorError, TaskError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::observe;

/// The alert sender's failure: work that panics on some ticks. The loop must be restarted and go on.
#[test]
fn supervised_loop_survives_panicking_ticks() {
    let observed = observe(true, |_| async {
        let ticks = Arc::new(AtomicU32::new(0));
        let processed = Arc::new(AtomicU32::new(0));
        let done = Arc::new(Notify::new());
        let child = {
            let (ticks, processed, done) = (ticks.clone(), processed.clone(), done.clone());
            ChildSpec::with_token("ticker", move |token: CancellationToken| {
                let (ticks, processed, done) = (ticks.clone(), processed.clone(), done.clone());
                async move {
                    let mut interval = tokio::time::interval(Duration::from_millis(10));
                    loop {
                        tokio::select! {
                            () = token.cancelled() => return Ok::<_, std::io::Error>(()),
                            _ = interval.tick() => {}
                        }
                        let tick = ticks.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(tick % 3 != 0, "tick {tick} is poisoned");
                        if processed.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
                            done.notify_one();
                        }
                    }
                }
            })
        };
        let token = CancellationToken::new();
        let supervisor = Supervisor::new("alerts")
            .intensity(10, Duration::from_secs(60))
            .child(child);
        let stop = async {
            done.notified().await;
            token.cancel();
        };
        let (result, ()) = tokio::join!(supervisor.run(token.clone()), stop);
        result.unwrap();
        // Ticks 3, 6, 9 and 12 panicked; the 10 others were processed, most of them after a restart.
        assert_eq!(processed.load(Ordering::SeqCst), 10);
        assert_eq!(ticks.load(Ordering::SeqCst), 14);
    });
    let metrics = observed.metrics();
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "ticker"), ("outcome", "panic")]
        ),
        4
    );
    assert_eq!(
        metrics.counter("sentinel_task_restarts_total", &[("task", "ticker")]),
        4
    );
    assert_eq!(
        metrics.counter("sentinel_task_started_total", &[("task", "ticker")]),
        5
    );
    let logs = observed.logs();
    assert!(logs.contains("task panicked"), "{logs}");
    assert!(
        logs.contains("task=ticker") && logs.contains("tick 3 is poisoned"),
        "{logs}"
    );
}

fn counting_child(name: &'static str, starts: &Arc<AtomicU32>, fail_first: bool) -> ChildSpec {
    let starts = Arc::clone(starts);
    ChildSpec::with_token(name, move |token: CancellationToken| {
        let run = starts.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if fail_first && run == 1 {
                return Err(std::io::Error::other(format!(
                    "{name} failed on its first run"
                )));
            }
            token.cancelled().await;
            Ok(())
        }
    })
}

/// Starts a supervisor, lets it settle (paused time), stops it, and returns the start counts of children a, b, c.
fn run_strategy(strategy: Strategy) -> [u32; 3] {
    let counts = [
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    ];
    let c = counts.clone();
    observe(true, move |_| async move {
        let supervisor = Supervisor::new("strategy")
            .strategy(strategy)
            .child(counting_child("a", &c[0], false))
            .child(counting_child("b", &c[1], true))
            .child(counting_child("c", &c[2], false));
        let token = CancellationToken::new();
        let stop = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            token.cancel();
        };
        let (result, ()) = tokio::join!(supervisor.run(token.clone()), stop);
        result.unwrap();
    });
    counts.map(|c| c.load(Ordering::SeqCst))
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    assert_eq!(run_strategy(Strategy::OneForOne), [1, 2, 1]);
}

#[test]
fn one_for_all_restarts_every_child() {
    assert_eq!(run_strategy(Strategy::OneForAll), [2, 2, 2]);
}

#[test]
fn rest_for_one_restarts_the_failed_child_and_later_ones() {
    assert_eq!(run_strategy(Strategy::RestForOne), [1, 2, 2]);
}

#[test]
fn transient_and_temporary_children_follow_their_policy() {
    let transient_runs = Arc::new(AtomicU32::new(0));
    let temporary_runs = Arc::new(AtomicU32::new(0));
    let (t1, t2) = (transient_runs.clone(), temporary_runs.clone());
    let observed = observe(true, move |_| async move {
        let supervisor = Supervisor::new("policies")
            .child(
                ChildSpec::new("transient-job", move || {
                    let run = t1.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if run == 1 {
                            Err(std::io::Error::other("first run failed"))
                        } else {
                            Ok(())
                        }
                    }
                })
                .restart(Restart::Transient),
            )
            .child(
                ChildSpec::new("temporary-job", move || {
                    t2.fetch_add(1, Ordering::SeqCst);
                    async { Err::<(), _>(std::io::Error::other("one-shot failed")) }
                })
                .restart(Restart::Temporary),
            );
        // No child is left to run: the supervisor returns by itself.
        supervisor.run(CancellationToken::new()).await.unwrap();
    });
    assert_eq!(
        transient_runs.load(Ordering::SeqCst),
        2,
        "transient: restarted after the failure, not after Ok"
    );
    assert_eq!(
        temporary_runs.load(Ordering::SeqCst),
        1,
        "temporary: never restarted"
    );
    assert!(
        observed.logs().contains("one-shot failed"),
        "the temporary child's failure is still logged"
    );
}

#[test]
fn nested_supervisor_escalates_to_its_parent_with_the_innermost_child() {
    let inner_runs = Arc::new(AtomicU32::new(0));
    let runs = inner_runs.clone();
    let observed = observe(true, move |_| async move {
        let inner = Supervisor::new("inner")
            .intensity(1, Duration::from_secs(60))
            .backoff(Backoff::none())
            .child(ChildSpec::new("flaky-db", move || {
                runs.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(std::io::Error::other("connection refused")) }
            }));
        let outer = Supervisor::new("outer")
            .intensity(1, Duration::from_secs(60))
            .child(inner.into_child());
        let error = outer.run(CancellationToken::new()).await.unwrap_err();
        let SupervisorError::IntensityExceeded {
            supervisor,
            child,
            last_error,
            ..
        } = &error
        else {
            panic!("unexpected error {error:?}")
        };
        assert_eq!(supervisor.as_str(), "outer");
        assert_eq!(child.as_str(), "inner");
        assert!(matches!(last_error, Some(TaskError::Failed { .. })));
        assert_eq!(error.child().as_str(), "flaky-db");
        let chain = sentinel::error_chain(&error);
        assert!(chain.contains("connection refused"), "{chain}");
    });
    // The inner supervisor ran twice (started, restarted once by outer); each time its child ran twice.
    assert_eq!(inner_runs.load(Ordering::SeqCst), 4);
    assert_eq!(
        observed
            .metrics()
            .counter("sentinel_task_restarts_total", &[("task", "inner")]),
        1
    );
}

#[test]
fn supervised_children_appear_in_the_registry_with_restarts_and_last_error() {
    observe(true, |_| async {
        let failures = Arc::new(AtomicU32::new(0));
        let f = failures.clone();
        let supervisor = Supervisor::new("registry-sup").child(ChildSpec::with_token(
            "registry-child",
            move |token: CancellationToken| {
                let failed_before = f.fetch_add(1, Ordering::SeqCst);
                async move {
                    if failed_before < 2 {
                        return Err(std::io::Error::other(format!("failure {failed_before}")));
                    }
                    token.cancelled().await;
                    Ok(())
                }
            },
        ));
        let token = CancellationToken::new();
        let check = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let snapshot = sentinel::snapshot();
            let child = snapshot
                .tasks
                .iter()
                .find(|t| t.name == "registry-child")
                .unwrap();
            assert_eq!(child.kind, sentinel::TaskKind::Supervised);
            assert_eq!(child.state, sentinel::TaskState::Running);
            assert_eq!(child.restarts, 2);
            assert_eq!(
                child.last_error.as_deref(),
                Some("task registry-child failed: failure 1")
            );
            let json = serde_json::to_value(&snapshot).unwrap();
            assert!(
                json["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["name"] == "registry-sup")
            );
            token.cancel();
        };
        let (result, ()) = tokio::join!(supervisor.run(token.clone()), check);
        result.unwrap();
        assert!(
            !sentinel::snapshot()
                .tasks
                .iter()
                .any(|t| t.name == "registry-child")
        );
    });
}
