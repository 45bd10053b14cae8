//! Helper binary for sentinel's subprocess tests (signals, exit codes): `sentinel-testbin <scenario>`.
//!
//! Not part of the public API. Writes protocol markers (`ready`, `cleanup NAME`, ...) to stdout, one per line, and
//! log lines to stderr through a tiny built-in subscriber (a binary target cannot use dev-dependencies).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use sentinel::{Backoff, ChildSpec, DeadlineMode, Shutdown, Supervisor};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing::subscriber::set_global_default(StderrLogger::default());
    let scenario = std::env::args().nth(1).unwrap_or_default();
    match scenario.as_str() {
        "escalate" => escalate().await,
        "lock-then-cleanups" => lock_then_cleanups().await,
        "stuck-lock" => stuck_lock().await,
        "second-signal" => second_signal().await,
        other => {
            let _ = writeln!(
                std::io::stderr(),
                "unknown scenario {other:?}: expected escalate, lock-then-cleanups, stuck-lock or second-signal"
            );
            ExitCode::from(64)
        }
    }
}

/// A child that always fails: the top-level supervisor gives up and the process exits non-zero, naming it.
async fn escalate() -> ExitCode {
    let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(5)));
    let supervisor = Supervisor::new("root")
        .intensity(2, Duration::from_secs(30))
        .backoff(Backoff::none())
        .child(ChildSpec::new("mailer", || async {
            Err::<(), _>(std::io::Error::other("smtp relay refused connection"))
        }));
    let _root = supervisor.spawn(&shutdown);
    shutdown.wait().await.exit_code()
}

fn install_signals(shutdown: &Shutdown) -> Option<ExitCode> {
    match shutdown.listen_for_signals() {
        Ok(()) => None,
        Err(error) => {
            tracing::error!(error = %error, "cannot install signal handlers");
            Some(ExitCode::from(70))
        }
    }
}

/// SIGTERM → the in-flight batch finishes (lock released), then cleanups run LIFO, exit 0.
async fn lock_then_cleanups() -> ExitCode {
    let shutdown = Shutdown::new(DeadlineMode::Graceful(Duration::from_secs(5)));
    if let Some(code) = install_signals(&shutdown) {
        return code;
    }
    for name in ["first", "second", "third"] {
        shutdown.add_cleanup(name, move || async move { say(&format!("cleanup {name}")) });
    }
    let Ok(batch) = shutdown.lock("send-batch") else {
        return ExitCode::from(70);
    };
    let token = shutdown.token();
    let _worker = sentinel::spawn("worker", async move {
        token.cancelled().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        say("batch finished");
        drop(batch);
        Ok::<_, std::convert::Infallible>(())
    });
    say("ready");
    shutdown.wait().await.exit_code()
}

/// A lock that is never released under a forceful deadline: exit 2, naming the lock.
async fn stuck_lock() -> ExitCode {
    let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_millis(300)));
    if let Some(code) = install_signals(&shutdown) {
        return code;
    }
    shutdown.add_cleanup("never-runs", || async { say("cleanup never-runs") });
    let Ok(stuck) = shutdown.lock("stuck-sender") else {
        return ExitCode::from(70);
    };
    say("ready");
    let report = shutdown.wait().await;
    drop(stuck);
    report.exit_code()
}

/// A lock held for a minute under a graceful mode: only a second signal ends the process (exit 130).
async fn second_signal() -> ExitCode {
    let shutdown = Shutdown::new(DeadlineMode::Graceful(Duration::from_secs(60)));
    if let Some(code) = install_signals(&shutdown) {
        return code;
    }
    let Ok(slow) = shutdown.lock("slow-export") else {
        return ExitCode::from(70);
    };
    let _holder = sentinel::spawn("slow-export", async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(slow);
        Ok::<_, std::convert::Infallible>(())
    });
    let watcher = shutdown.clone();
    let _announce = sentinel::spawn("announce", async move {
        watcher.triggered().await;
        say("stopping");
        Ok::<_, std::convert::Infallible>(())
    });
    say("ready");
    let report = shutdown.wait().await;
    say("shutdown finished");
    report.exit_code()
}

/// Prints every event as `LEVEL target: message field=value ...` on stderr.
#[derive(Default)]
struct StderrLogger {
    next_span: std::sync::atomic::AtomicU64,
}

impl tracing::Subscriber for StderrLogger {
    fn enabled(&self, _metadata: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(
            self.next_span
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        )
    }

    fn record(&self, _span: &tracing::span::Id, _values: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0.push_str(&format!(" {value:?}"));
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        let meta = event.metadata();
        let mut line = Line(format!("{} {}:", meta.level(), meta.target()));
        event.record(&mut line);
        let _ = writeln!(std::io::stderr(), "{}", line.0);
    }

    fn enter(&self, _span: &tracing::span::Id) {}

    fn exit(&self, _span: &tracing::span::Id) {}
}
