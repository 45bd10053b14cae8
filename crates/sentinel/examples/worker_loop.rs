//! The alert sender loop, done right.
//!
//! A supervised ticker loop fetches "pending notifications" and sends each one as its own observed task, so an item
//! that panics (every `--panic-every`th one: a deleted user's missing profile) is logged with its task name, counted
//! in `sentinel_task_finished_total{task="send-notification",outcome="panic"}`, and the rest of the batch and the
//! loop go on. The loop beats a heartbeat each tick, holds a shutdown lock while a batch is in flight, and the ops
//! endpoints are served on `--listen`.
//!
//! ```text
//! cargo run -p sentinel --example worker_loop --features http -- --listen 127.0.0.1:9898 --panic-every 7
//! curl -s 127.0.0.1:9898/healthz; curl -s 127.0.0.1:9898/tasks; curl -s 127.0.0.1:9898/metrics | grep sentinel_
//! kill -TERM <pid>   # drains the batch in flight, runs cleanups, exits 0
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sentinel::{ChildSpec, DeadlineMode, Heartbeat, Shutdown, Supervisor, TaskGroup};
use tokio_util::sync::CancellationToken;

const USAGE: &str =
    "usage: worker_loop [--listen ADDR] [--panic-every N] [--tick-ms MS] [--batch N]";

/// Command-line options (hand-parsed: four flags do not need a parser dependency).
struct Options {
    listen: SocketAddr,
    panic_every: u64,
    tick: Duration,
    batch: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
        panic_every: 0,
        tick: Duration::from_millis(200),
        batch: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad =
            |e: &dyn std::fmt::Display| format!("invalid value {value:?} for {flag}: {e}\n{USAGE}");
        match flag.as_str() {
            "--listen" => options.listen = value.parse().map_err(|e| bad(&e))?,
            "--panic-every" => options.panic_every = value.parse().map_err(|e| bad(&e))?,
            "--tick-ms" => {
                options.tick = Duration::from_millis(value.parse().map_err(|e| bad(&e))?)
            }
            "--batch" => options.batch = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            tracing::error!("{message}");
            return ExitCode::from(64);
        }
    };
    sentinel::warn_if_panic_abort();
    let prometheus = match sentinel::http::install_prometheus() {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!(error = %sentinel::error_chain(&error), "cannot start");
            return ExitCode::from(70);
        }
    };
    let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(10)));
    if let Err(error) = shutdown.listen_for_signals() {
        tracing::error!(error = %sentinel::error_chain(&error), "cannot start");
        return ExitCode::from(70);
    }

    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(listen = %options.listen, error = %error, "cannot listen");
            return ExitCode::from(70);
        }
    };
    tracing::info!(listen = %options.listen, panic_every = options.panic_every, "serving /healthz, /tasks, /metrics");
    let _ops = sentinel::spawn(
        "ops-http",
        sentinel::http::serve(
            listener,
            sentinel::http::router(prometheus),
            shutdown.token(),
        ),
    );

    let next_id = Arc::new(AtomicU64::new(1));
    let sender = {
        let shutdown = shutdown.clone();
        ChildSpec::with_token("alert-sender", move |token| {
            alert_sender(
                token,
                shutdown.clone(),
                Arc::clone(&next_id),
                options.panic_every,
                options.tick,
                options.batch,
            )
        })
    };
    let _root = Supervisor::new("worker")
        .intensity(5, Duration::from_secs(60))
        .child(sender)
        .spawn(&shutdown);
    shutdown.add_cleanup("flush-outbox", || async {
        tracing::info!("outbox flushed")
    });

    shutdown.wait().await.exit_code()
}

/// The loop: every tick, fetch a batch and send each notification in isolation.
async fn alert_sender(
    token: CancellationToken,
    shutdown: Shutdown,
    next_id: Arc<AtomicU64>,
    panic_every: u64,
    tick: Duration,
    batch: u64,
) -> Result<(), sentinel::TaskError> {
    let heartbeat = Heartbeat::register("alert-sender", (tick * 5).max(Duration::from_secs(2)));
    let mut ticker = tokio::time::interval(tick);
    loop {
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        heartbeat.beat();
        // No new batch once shutdown has begun; a batch already running finishes under this lock.
        let Ok(_in_flight) = shutdown.lock("alert-sender/batch") else {
            return Ok(());
        };
        let pending: Vec<u64> = (0..batch)
            .map(|_| next_id.fetch_add(1, Ordering::Relaxed))
            .collect();
        let mut group = TaskGroup::new("alert-sender/batch").limit(4);
        for id in pending {
            group.spawn("send-notification", send_notification(id, panic_every));
        }
        let results = group.join_all().await;
        let n_failed = results.iter().filter(|r| r.is_err()).count();
        metrics::counter!("worker_processed_total").increment((results.len() - n_failed) as u64);
        metrics::counter!("worker_dead_lettered_total").increment(n_failed as u64);
    }
}

/// Sends one notification; panics on every `panic_every`th, like the production bug.
async fn send_notification(id: u64, panic_every: u64) -> Result<(), std::io::Error> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let profile = (panic_every == 0 || !id.is_multiple_of(panic_every)).then_some("profile");
    let profile =
        profile.unwrap_or_else(|| panic!("notification {id}: recipient profile was deleted"));
    tracing::debug!(notification_id = id, profile, "sent");
    Ok(())
}
