//! Shutdown in-process: locks, LIFO cleanups, deadline modes, failure exit codes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel::{DeadlineMode, Shutdown, exit_code};

use crate::support::observe;

#[test]
fn graceful_mode_waits_for_locks_past_the_deadline_then_runs_cleanups_lifo() {
    observe(true, |_| async {
        let shutdown = Shutdown::new(DeadlineMode::Graceful(Duration::from_secs(1)));
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["db-pool", "http-server", "outbox"] {
            let order = order.clone();
            shutdown.add_cleanup(
                name,
                move || async move { order.lock().unwrap().push(name) },
            );
        }
        let lock = shutdown.lock("send-batch").unwrap();
        let holder = sentinel::spawn("holder", async move {
            // Longer than the graceful deadline: graceful mode puts no deadline on locks.
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(lock);
            Ok::<_, std::io::Error>(())
        });
        shutdown.trigger("test");
        let err = shutdown.lock("late").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot take shutdown lock late: shutdown already started (test)"
        );
        let report = shutdown.wait().await;
        assert_eq!(report.code, exit_code::CLEAN, "{report:?}");
        assert!(report.elapsed >= Duration::from_secs(5));
        assert_eq!(*order.lock().unwrap(), ["outbox", "http-server", "db-pool"]);
        holder.await.unwrap();
    });
}

#[test]
fn forceful_deadline_names_unfinished_cleanups_and_panicking_cleanup_fails_the_exit() {
    observe(true, |_| async {
        let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(2)));
        shutdown.add_cleanup("never-reached", || async {});
        shutdown.add_cleanup("hangs", std::future::pending::<()>);
        shutdown.add_cleanup("panics", || async { panic!("flush failed") });
        shutdown.trigger("test");
        let report = shutdown.wait().await;
        assert_eq!(report.code, exit_code::DEADLINE_EXCEEDED);
        assert_eq!(
            report.unfinished,
            ["cleanup hangs", "cleanup never-reached"]
        );

        let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(2)));
        shutdown.add_cleanup("panics", || async { panic!("flush failed") });
        shutdown.trigger("test");
        assert_eq!(shutdown.wait().await.code, exit_code::FAILURE);
    });
}

#[test]
fn failures_raise_the_exit_code_and_run_until_shutdown_reports_the_main_error() {
    observe(true, |_| async {
        let shutdown = Shutdown::default();
        shutdown.trigger("deploy");
        shutdown.trigger_failure("supervisor gave up");
        let report = shutdown.wait().await;
        assert_eq!(report.reason, "deploy");
        assert_eq!(report.code, exit_code::FAILURE);

        let shutdown = Shutdown::default();
        let report = shutdown
            .run_until_shutdown(async { Err::<(), _>(std::io::Error::other("config missing")) })
            .await;
        assert_eq!(report.code, exit_code::FAILURE);
        assert!(
            report.reason.contains("config missing"),
            "{}",
            report.reason
        );

        let shutdown = Shutdown::default();
        let token = shutdown.token();
        let trigger = shutdown.clone();
        let main = async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            trigger.trigger("signal");
            token.cancelled().await;
            Ok::<(), std::io::Error>(())
        };
        let report = shutdown.run_until_shutdown(main).await;
        assert_eq!(
            (report.reason.as_str(), report.code),
            ("signal", exit_code::CLEAN)
        );
    });
}

#[test]
fn shutdown_spawn_tracks_the_task_as_a_lock() {
    observe(true, |_| async {
        let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(1)));
        let token = shutdown.token();
        let _worker = shutdown
            .spawn("drainer", async move {
                token.cancelled().await;
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
        assert_eq!(shutdown.held_locks(), ["drainer"]);
        shutdown.trigger("test");
        let report = shutdown.wait().await;
        assert_eq!(report.code, exit_code::DEADLINE_EXCEEDED);
        assert_eq!(report.unfinished, ["lock drainer"]);
        assert!(
            shutdown
                .spawn("late", async { Ok::<_, std::io::Error>(()) })
                .is_err()
        );
    });
}

#[test]
fn shutdown_waits_for_a_top_level_supervisor_to_stop_its_children() {
    observe(true, |_| async {
        let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(30)));
        let stopped = Arc::new(Mutex::new(false));
        let flag = stopped.clone();
        let child = sentinel::ChildSpec::with_token(
            "flusher",
            move |token: sentinel::CancellationToken| {
                let flag = flag.clone();
                async move {
                    token.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(2)).await; // flushing its buffer
                    *flag.lock().unwrap() = true;
                    Ok::<_, std::io::Error>(())
                }
            },
        );
        let root = sentinel::Supervisor::new("root")
            .child(child)
            .spawn(&shutdown);
        shutdown.trigger("test");
        let report = shutdown.wait().await;
        assert_eq!(report.code, exit_code::CLEAN);
        assert!(
            *stopped.lock().unwrap(),
            "wait() returned before the child finished stopping"
        );
        root.await.unwrap();
    });
}
