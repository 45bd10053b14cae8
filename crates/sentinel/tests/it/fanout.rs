//! Fan-out: one child panics; the caller gets an error naming it, siblings are cancelled, nothing else is touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sentinel::{TaskError, TaskGroup};

use crate::support::observe;

/// Counts a sibling as cancelled when its future is dropped before it finished.
struct CountOnDrop(Arc<AtomicU32>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn one_panicking_child_fails_the_group_and_cancels_its_siblings() {
    let observed = observe(true, |_| async {
        let dropped = Arc::new(AtomicU32::new(0));
        let bystander = sentinel::spawn("bystander", async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>("still fine")
        });

        let mut group = TaskGroup::new("fanout");
        for idx in 0..6u32 {
            let dropped = dropped.clone();
            group.spawn(format!("fanout/{idx}"), async move {
                let _guard = CountOnDrop(dropped);
                if idx == 2 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    panic!("user {idx} has no profile");
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, std::io::Error>(idx)
            });
        }
        let token = group.token();
        let error = group.join().await.unwrap_err();
        let TaskError::Panicked {
            task,
            message,
            location,
            ..
        } = &error
        else {
            panic!("unexpected {error:?}")
        };
        assert_eq!(task.as_str(), "fanout/2");
        assert_eq!(message, "user 2 has no profile");
        assert!(
            location.as_deref().is_some_and(|l| l.contains("fanout.rs")),
            "{location:?}"
        );
        assert!(token.is_cancelled());
        // The five siblings were all stopped before join returned (and the panicking child was unwound).
        assert_eq!(dropped.load(Ordering::SeqCst), 6);
        assert_eq!(bystander.await.unwrap(), "still fine");
    });
    let metrics = observed.metrics();
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "fanout/2"), ("outcome", "panic")]
        ),
        1
    );
    for sibling in ["fanout/0", "fanout/1", "fanout/3", "fanout/4", "fanout/5"] {
        assert_eq!(
            metrics.counter(
                "sentinel_task_finished_total",
                &[("task", sibling), ("outcome", "cancelled")]
            ),
            1
        );
    }
    assert_eq!(
        metrics.counter(
            "sentinel_task_finished_total",
            &[("task", "bystander"), ("outcome", "ok")]
        ),
        1
    );
}

#[test]
fn join_returns_values_in_spawn_order_and_join_all_collects_every_result() {
    observe(false, |_| async {
        let mut group = TaskGroup::new("ordered");
        for idx in 0..50u64 {
            group.spawn("ordered/child", async move {
                tokio::time::sleep(Duration::from_micros(50 - idx)).await;
                Ok::<_, std::io::Error>(idx)
            });
        }
        assert_eq!(group.join().await.unwrap(), (0..50).collect::<Vec<_>>());

        let mut group = TaskGroup::new("collect");
        group.spawn("collect/ok", async { Ok::<_, std::io::Error>(1) });
        group.spawn("collect/err", async { Err(std::io::Error::other("bad")) });
        group.spawn("collect/panic", async {
            if true {
                panic!("worse")
            }
            Ok::<_, std::io::Error>(3)
        });
        let results = group.join_all().await;
        assert_eq!(results.len(), 3);
        assert_eq!(*results[0].as_ref().unwrap(), 1);
        assert_eq!(results[1].as_ref().unwrap_err().outcome(), "error");
        assert!(results[2].as_ref().unwrap_err().is_panic());
    });
}

#[test]
fn group_limit_bounds_concurrency() {
    observe(true, |_| async {
        let running = Arc::new(AtomicU32::new(0));
        let peak = Arc::new(AtomicU32::new(0));
        let mut group = TaskGroup::new("limited").limit(4);
        for _ in 0..20 {
            let (running, peak) = (running.clone(), peak.clone());
            group.spawn("limited/child", async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(())
            });
        }
        group.join().await.unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    });
}
