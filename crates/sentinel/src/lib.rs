//! Resilience toolkit for tokio services: observed tasks, supervision, retries, shutdown, heartbeats. Nothing dies
//! silently.
//!
//! A panic in a `tokio::spawn`ed task is caught by the runtime, and if nobody awaits the `JoinHandle` the task simply
//! vanishes: the loop that sends everyone's alerts stops and the process still looks healthy. `sentinel` makes the
//! safe path the easy one: every task is spawned through [`spawn`], which catches, logs, counts and reports its
//! failure even when nobody is listening; loops are restarted by a [`Supervisor`], watched by a [`Heartbeat`], and
//! stopped in order by [`Shutdown`].
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use sentinel::{ChildSpec, DeadlineMode, Heartbeat, Shutdown, Supervisor};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(10)));
//!     // In a real service: shutdown.listen_for_signals()? and serve sentinel::http::router(..).
//!
//!     // A loop that must never stop: supervised (restarted with backoff if it fails) and heartbeated.
//!     let sender = ChildSpec::with_token("alert-sender", |token: sentinel::CancellationToken| async move {
//!         let heartbeat = Heartbeat::register("alert-sender", Duration::from_secs(30));
//!         let mut tick = tokio::time::interval(Duration::from_millis(10));
//!         loop {
//!             tokio::select! {
//!                 () = token.cancelled() => return Ok::<_, std::io::Error>(()),
//!                 _ = tick.tick() => heartbeat.beat(),
//!             }
//!             // Each item in isolation: one poisoned item is reported, the batch goes on.
//!             for item in 0..3u32 {
//!                 if let Err(panicked) = sentinel::isolate(async move { item * 2 }).await {
//!                     tracing::error!(item, error = %panicked, "item dead-lettered");
//!                 }
//!             }
//!         }
//!     });
//!     let _root = Supervisor::new("service").child(sender).spawn(&shutdown);
//!
//!     // Detached work is still observed: a failure is logged with the task name and counted.
//!     let _detached = sentinel::spawn("warm-cache", async { Ok::<_, std::io::Error>(()) });
//!
//!     shutdown.add_cleanup("flush", || async { /* flush buffers */ });
//!     shutdown.trigger("quick start is over"); // normally: SIGTERM
//!     let report = shutdown.wait().await; // drains locks, runs cleanups LIFO, names stragglers
//!     assert!(sentinel::health().is_healthy());
//!     report.exit_code() // 0 clean, non-zero on deadline or escalation
//! }
//! ```
//!
//! # What is in the box
//!
//! | Need | Use | Metrics |
//! |---|---|---|
//! | Start a task that cannot fail silently | [`spawn`], [`TaskHandle`], [`TaskError`] | `sentinel_task_started_total{task}`, `sentinel_task_finished_total{task,outcome}`, `sentinel_tasks_running{task}`, `sentinel_task_duration_seconds{task}` |
//! | Keep loops running | [`Supervisor`], [`ChildSpec`], [`Restart`], [`Strategy`], [`Backoff`] | `sentinel_task_restarts_total{task}` |
//! | Fan out and join | [`TaskGroup`] | (per child, as for [`spawn`]) |
//! | One bad item must not stop a batch | [`isolate`], [`Panicked`] | (the caller records it) |
//! | Retry a flaky call | [`retry`], [`RetryPolicy`], [`RetryError`] | `sentinel_retries_total{op}` |
//! | Bound a call in time | [`timeout`], [`TimedOut`], [`spawn_with_timeout`] | `sentinel_timeouts_total{op}` |
//! | Bound concurrency, see pressure | [`Limit`] | `sentinel_in_flight{op}`, `sentinel_pending{op}` |
//! | Stop in order | [`Shutdown`], [`ShutdownLock`], [`exit_code`] | |
//! | Detect stuck loops | [`Heartbeat`], [`health`] | `sentinel_heartbeat_age_seconds{task}` |
//! | Introspection | [`snapshot`] (`/tasks`), `http::router` (feature `http`) | |
//! | Back off without a loop (attempts counted elsewhere, e.g. in a database) | [`Backoff::delay`], [`jitter`] (the one jitter RNG) | |
//! | Read a panic payload; lock a mutex a panic cannot corrupt | [`panic_text`], [`sync::lock`] | |
//!
//! Failures are logged once, where they happen, through `tracing` (fields `task`, `error`, `panic.message`,
//! `panic.location`), and metrics go through the `metrics` facade: the application picks the subscriber and the
//! exporter. Task names are metric labels: keep them few and stable (`"dispatcher"`, not one per item).
//!
//! # Coming from Go
//!
//! | Go | sentinel |
//! |---|---|
//! | `defer func() { if r := recover(); r != nil { log(...) } }()` in every goroutine | nothing to remember: [`spawn`] captures the panic, logs it with the task name and location, counts it, and returns [`TaskError::Panicked`] to whoever awaits |
//! | `recover()` around one item of a batch | [`isolate`]`(item_future).await` returns `Err(Panicked)` for that item only |
//! | `errgroup.WithContext` + `g.Go` + `g.Wait` | [`TaskGroup`]: [`TaskGroup::spawn`], [`TaskGroup::join`] (first error, siblings cancelled via [`TaskGroup::token`] and aborted), `SetLimit` is [`TaskGroup::limit`]; a child's panic arrives as an error naming the child instead of crashing the process |
//! | go-sentinel's observer (panic/error metrics per goroutine, retries) | [`spawn`]'s `sentinel_task_*` metrics; [`retry`] with a classifier and `sentinel_retries_total` |
//! | exit-manager's `Lock()` / `Unlock()` | [`Shutdown::lock`] returns an RAII [`ShutdownLock`]; it fails with [`ShutdownStarted`] once shutdown began |
//! | exit-manager's cleanups | [`Shutdown::add_cleanup`]: async, run LIFO after every lock is released, under a deadline ([`DeadlineMode`]) |
//! | `signal.NotifyContext(ctx, SIGINT, SIGTERM)` | [`Shutdown::listen_for_signals`] + [`Shutdown::token`] (a `CancellationToken`, the `ctx.Done()` of tokio); a second signal exits at once |
//! | `ctx, cancel := context.WithTimeout(...)` | [`timeout`] (named and counted) or `token.child_token()` for cancellation trees |
//! | a supervisor library / `for { go work(); <-done }` restart loops | [`Supervisor`] with OTP's restart policies and strategies, exponential backoff with jitter and a restart intensity that escalates instead of spinning |
//!
//! Two differences matter. Rust futures can be cancelled by dropping them, so there is no `ctx` to thread through
//! every call: cancellation reaches a task at its next `.await` (select on the token to stop cleanly). And a panic
//! can only be caught when the binary is built with `panic = "unwind"` (the default); see below.
//!
//! # Features
//!
//! | Feature | Default | What it adds | Cost |
//! |---|---|---|---|
//! | `http` | no | `http::router`: `/healthz`, `/tasks`, `/metrics` on axum, with `metrics-exporter-prometheus` | axum, hyper, the Prometheus exporter, serde_json |
//! | `systemd` | no | `systemd` module: `READY=1`, and `WATCHDOG=1` only while [`health`] is healthy | none (a Unix datagram socket from std) |
//!
//! # `panic = "abort"`
//!
//! Everything above relies on unwinding. In a build with `panic = "abort"` the first panic kills the process, so
//! sentinel logs a loud error once at first use ([`warn_if_panic_abort`]; [`PANIC_ABORTS`] tells you at compile
//! time). Keep `panic = "unwind"` in every profile.

mod backoff;
mod group;
mod heartbeat;
#[cfg(feature = "http")]
pub mod http;
mod isolate;
pub mod jitter;
mod limit;
mod metric_names;
mod panics;
pub mod registry;
mod retry;
mod shutdown;
mod supervisor;
pub mod sync;
#[cfg(all(feature = "systemd", unix))]
pub mod systemd;
mod task;
mod task_metrics;
mod task_name;
mod timeout;

pub use backoff::Backoff;
pub use group::TaskGroup;
pub use heartbeat::{Health, Heartbeat, LoopHealth, health};
pub use isolate::{Isolate, Panicked, isolate};
pub use limit::{Limit, Permit};
pub use panics::{PANIC_ABORTS, panic_text, warn_if_panic_abort};
pub use registry::{Snapshot, TaskInfo, TaskKind, TaskState, snapshot};
pub use retry::{Classify, Retry, RetryAll, RetryError, RetryPolicy, retry};
pub use shutdown::{
    DeadlineMode, Shutdown, ShutdownError, ShutdownLock, ShutdownReport, ShutdownStarted, exit_code,
};
pub use supervisor::{ChildSpec, Restart, Strategy, Supervisor, SupervisorError};
pub use task::{BoxError, TaskError, TaskHandle, error_chain, spawn, spawn_with_timeout};
pub use task_name::TaskName;
pub use timeout::{TimedOut, timeout};
pub use tokio_util::sync::CancellationToken;
