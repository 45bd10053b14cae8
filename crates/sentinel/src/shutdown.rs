//! The shutdown coordinator: [`Shutdown`], [`ShutdownLock`], cleanups, deadlines and exit codes.
//!
//! The model (exit-manager's, improved):
//!
//! 1. **Trigger.** SIGINT/SIGTERM (after [`Shutdown::listen_for_signals`]), [`Shutdown::trigger`], or a failure
//!    ([`Shutdown::trigger_failure`], used by a top-level supervisor that gave up). The first reason wins and is
//!    logged; a failure raises the exit code whenever it arrives.
//! 2. **Stop.** The [`CancellationToken`] from [`Shutdown::token`] is cancelled: every loop selecting on it stops
//!    taking new work.
//! 3. **Drain.** [`Shutdown::wait`] waits until every [`ShutdownLock`] is released: critical sections (a send in
//!    progress, a transaction) finish. Taking a lock after the trigger fails with [`ShutdownStarted`].
//! 4. **Clean up.** Cleanups registered with [`Shutdown::add_cleanup`] run one after another, last registered first
//!    (LIFO: what was set up last is torn down first), each under panic capture.
//! 5. **Exit** with the code from [`ShutdownReport::exit_code`].
//!
//! Deadlines ([`DeadlineMode`]): *graceful* waits for locks as long as they are held and puts the deadline on the
//! cleanups only; *forceful* puts one deadline on drain and cleanups together. When a deadline passes, the names of
//! the locks still held or the cleanups not finished are logged and the exit code is
//! [`exit_code::DEADLINE_EXCEEDED`]. A second SIGINT/SIGTERM while shutting down exits at once with
//! [`exit_code::FORCED`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::isolate::isolate;
use crate::sync::lock;
use crate::task::{BoxError, TaskHandle, error_chain};
use crate::task_name::TaskName;

/// Process exit codes used by [`Shutdown`]. `0` is a clean exit; anything else tells the service manager to look.
pub mod exit_code {
    /// Everything drained and cleaned up in time, and shutdown was not caused by a failure.
    pub const CLEAN: i32 = 0;
    /// Shutdown was caused by a failure (a supervisor escalated, the main future failed) or a cleanup panicked.
    pub const FAILURE: i32 = 1;
    /// A deadline passed with locks still held or cleanups unfinished (they are named in the log).
    pub const DEADLINE_EXCEEDED: i32 = 2;
    /// A second SIGINT/SIGTERM arrived during shutdown: the process exited at once (128 + SIGINT, like a shell).
    pub const FORCED: i32 = 130;
}

/// Where the shutdown deadline applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadlineMode {
    /// Wait for every lock however long it takes; then give cleanups this long in total.
    Graceful(Duration),
    /// Give draining locks and running cleanups this long together.
    Forceful(Duration),
}

impl Default for DeadlineMode {
    /// `Forceful(30s)`: a service manager will `SIGKILL` eventually anyway; better to name the stragglers first.
    fn default() -> Self {
        DeadlineMode::Forceful(Duration::from_secs(30))
    }
}

/// Returned by [`Shutdown::lock`] once shutdown has begun: the caller must not start the critical section.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot take shutdown lock {name}: shutdown already started ({reason})")]
#[non_exhaustive]
pub struct ShutdownStarted {
    /// The lock that was asked for.
    pub name: TaskName,
    /// Why shutdown started.
    pub reason: String,
}

/// Errors from setting up shutdown handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// A signal handler could not be installed.
    #[error("cannot listen for {signal}")]
    Signal {
        /// The signal, e.g. `SIGTERM`.
        signal: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

type CleanupFn = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

struct Cleanup {
    name: TaskName,
    run: CleanupFn,
}

struct State {
    reason: Option<String>,
    exit_code: i32,
    locks: HashMap<u64, TaskName>,
    next_lock_id: u64,
    cleanups: Vec<Cleanup>,
}

struct Inner {
    token: CancellationToken,
    mode: DeadlineMode,
    state: Mutex<State>,
    locks_released: Notify,
}

/// Coordinates a graceful shutdown. Cheap to clone; clones share state.
///
/// ```
/// use std::time::Duration;
/// use sentinel::{DeadlineMode, Shutdown};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let shutdown = Shutdown::new(DeadlineMode::Forceful(Duration::from_secs(5)));
/// shutdown.add_cleanup("flush-metrics", || async { /* ... */ });
///
/// let lock = shutdown.lock("send-batch").unwrap(); // a critical section in progress
/// shutdown.trigger("deploy");
/// assert!(shutdown.lock("too-late").is_err());
/// drop(lock); // the batch finished
///
/// let report = shutdown.wait().await;
/// assert_eq!(report.code, sentinel::exit_code::CLEAN);
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("Shutdown")
            .field("mode", &self.inner.mode)
            .field("reason", &state.reason)
            .field("locks", &state.locks.values().collect::<Vec<_>>())
            .field("cleanups", &state.cleanups.len())
            .finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new(DeadlineMode::default())
    }
}

impl Shutdown {
    /// A coordinator with the given deadline mode. It does not listen for signals until
    /// [`listen_for_signals`](Shutdown::listen_for_signals) is called.
    pub fn new(mode: DeadlineMode) -> Self {
        crate::panics::warn_if_panic_abort();
        Shutdown {
            inner: Arc::new(Inner {
                token: CancellationToken::new(),
                mode,
                state: Mutex::new(State {
                    reason: None,
                    exit_code: exit_code::CLEAN,
                    locks: HashMap::new(),
                    next_lock_id: 0,
                    cleanups: Vec::new(),
                }),
                locks_released: Notify::new(),
            }),
        }
    }

    /// The deadline mode.
    pub fn mode(&self) -> DeadlineMode {
        self.inner.mode
    }

    /// The token cancelled when shutdown starts. Loops select on `token.cancelled()` to stop taking new work; pass
    /// `token.child_token()` to parts that may also be cancelled on their own.
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// `true` once shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Resolves when shutdown is triggered.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn triggered(&self) {
        self.inner.token.cancelled().await;
    }

    /// Why shutdown was triggered, once it was.
    pub fn reason(&self) -> Option<String> {
        lock(&self.inner.state).reason.clone()
    }

    /// Starts a clean shutdown (exit code 0 unless something fails later). Only the first reason is kept.
    pub fn trigger(&self, reason: impl Into<String>) {
        self.trigger_with_code(reason.into(), exit_code::CLEAN);
    }

    /// Starts a shutdown caused by a failure: the exit code will be [`exit_code::FAILURE`] (or worse), even when a
    /// clean shutdown was already under way.
    pub fn trigger_failure(&self, reason: impl Into<String>) {
        self.trigger_with_code(reason.into(), exit_code::FAILURE);
    }

    fn trigger_with_code(&self, reason: String, code: i32) {
        {
            let mut state = lock(&self.inner.state);
            state.exit_code = state.exit_code.max(code);
            if state.reason.is_some() {
                tracing::info!(reason = %reason, "shutdown already in progress");
                return;
            }
            tracing::info!(reason = %reason, exit_code = code, "shutdown triggered");
            state.reason = Some(reason);
        }
        self.inner.token.cancel();
    }

    /// Takes a shutdown lock: [`wait`](Shutdown::wait) will not proceed to cleanups until it is dropped.
    ///
    /// Hold it around a critical section that must not be cut in half (a send and its acknowledgement). Fails once
    /// shutdown has started, so no new critical section begins after the trigger.
    pub fn lock(&self, name: impl Into<TaskName>) -> Result<ShutdownLock, ShutdownStarted> {
        let name = name.into();
        let mut state = lock(&self.inner.state);
        if let Some(reason) = &state.reason {
            return Err(ShutdownStarted {
                name,
                reason: reason.clone(),
            });
        }
        let id = state.next_lock_id;
        state.next_lock_id += 1;
        state.locks.insert(id, name);
        Ok(ShutdownLock {
            inner: Arc::clone(&self.inner),
            id,
        })
    }

    /// Names of the locks held now.
    pub fn held_locks(&self) -> Vec<TaskName> {
        let mut held: Vec<TaskName> = lock(&self.inner.state).locks.values().cloned().collect();
        held.sort();
        held
    }

    /// Registers an async cleanup to run during shutdown, after all locks are released. Cleanups run one at a time
    /// in reverse registration order (LIFO). A cleanup that panics is logged and makes the exit code non-zero; the
    /// others still run.
    pub fn add_cleanup<F, Fut>(&self, name: impl Into<TaskName>, cleanup: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run: CleanupFn = Box::new(move || Box::pin(cleanup()));
        lock(&self.inner.state).cleanups.push(Cleanup {
            name: name.into(),
            run,
        });
    }

    /// Spawns an observed task that holds a shutdown lock named after it until it ends, so shutdown waits for it
    /// and names it if it does not finish in time. Fails once shutdown has started.
    pub fn spawn<T, E, F>(
        &self,
        name: impl Into<TaskName>,
        fut: F,
    ) -> Result<TaskHandle<T>, ShutdownStarted>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let name = name.into();
        let held = self.lock(name.clone())?;
        Ok(crate::spawn(name, async move {
            let _held = held;
            fut.await
        }))
    }

    /// Triggers shutdown on SIGINT or SIGTERM (Ctrl-C only on non-Unix); a second signal exits the process at once
    /// with [`exit_code::FORCED`]. Must be called inside a tokio runtime.
    pub fn listen_for_signals(&self) -> Result<(), ShutdownError> {
        let mut signals = Signals::new()?;
        let shutdown = self.clone();
        let _detached = crate::spawn("sentinel/signals", async move {
            let first = signals.recv().await;
            shutdown.trigger(format!("received {first}"));
            let second = signals.recv().await;
            tracing::error!(signal = second, held_locks = ?shutdown.held_locks(), "second signal: exiting immediately");
            exit_forced()
        });
        Ok(())
    }

    /// Runs `main` until it ends or shutdown is triggered, then shuts down ([`wait`](Shutdown::wait)).
    ///
    /// When `main` ends first, shutdown is triggered: cleanly if it returned `Ok`, as a failure (logged with its
    /// error chain) if it returned `Err`. When shutdown is triggered first, `main` is dropped.
    pub async fn run_until_shutdown<E, F>(&self, main: F) -> ShutdownReport
    where
        F: Future<Output = Result<(), E>>,
        E: Into<BoxError>,
    {
        tokio::select! {
            result = isolate(main) => match result {
                Ok(Ok(())) => self.trigger("main task finished"),
                Ok(Err(error)) => {
                    let error: BoxError = error.into();
                    let chain = error_chain(error.as_ref());
                    tracing::error!(error = %chain, "main task failed");
                    self.trigger_failure(format!("main task failed: {chain}"));
                }
                Err(panicked) => {
                    tracing::error!(panic.message = panicked.message(), panic.location = panicked.location(), "main task panicked");
                    self.trigger_failure(format!("main task {panicked}"));
                }
            },
            () = self.triggered() => {}
        }
        self.wait().await
    }

    /// Waits for shutdown to be triggered, then drains locks and runs cleanups under the deadline mode, and reports
    /// how it went. Call it once, at the end of `main`, and exit with [`ShutdownReport::exit_code`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: cleanups are taken out of the coordinator when they start, so dropping this future part way
    /// loses the ones that had not run yet.
    pub async fn wait(&self) -> ShutdownReport {
        self.triggered().await;
        let started = Instant::now();
        let reason = self.reason().unwrap_or_default();
        tracing::info!(reason = %reason, mode = ?self.inner.mode, "shutdown started: draining locks");
        let mut code = exit_code::CLEAN;
        let mut unfinished = Vec::new();
        let overall = match self.inner.mode {
            DeadlineMode::Forceful(limit) => Some(started + limit),
            DeadlineMode::Graceful(_) => None,
        };

        let drained = self.drain_locks(overall).await;
        let cleanups = std::mem::take(&mut lock(&self.inner.state).cleanups);
        if !drained {
            let held = self.held_locks();
            tracing::error!(
                locks = ?held.iter().map(TaskName::as_str).collect::<Vec<_>>(),
                skipped_cleanups = ?cleanups.iter().rev().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                "shutdown deadline exceeded while waiting for locks"
            );
            code = exit_code::DEADLINE_EXCEEDED;
            unfinished.extend(held.iter().map(|n| format!("lock {n}")));
            unfinished.extend(cleanups.iter().rev().map(|c| format!("cleanup {}", c.name)));
        } else {
            let deadline = match self.inner.mode {
                DeadlineMode::Graceful(limit) => Instant::now() + limit,
                DeadlineMode::Forceful(_) => overall.unwrap_or_else(Instant::now),
            };
            let mut pending = cleanups.into_iter().rev();
            while let Some(cleanup) = pending.next() {
                tracing::info!(cleanup = %cleanup.name, "running cleanup");
                let run = isolate((cleanup.run)());
                match tokio::time::timeout_at(deadline, run).await {
                    Ok(Ok(())) => {}
                    Ok(Err(panicked)) => {
                        tracing::error!(cleanup = %cleanup.name, panic.message = panicked.message(),
                            panic.location = panicked.location(), "cleanup panicked");
                        code = code.max(exit_code::FAILURE);
                    }
                    Err(_) => {
                        unfinished.push(format!("cleanup {}", cleanup.name));
                        unfinished.extend(pending.by_ref().map(|c| format!("cleanup {}", c.name)));
                        tracing::error!(unfinished = ?unfinished, "shutdown deadline exceeded while running cleanups");
                        code = exit_code::DEADLINE_EXCEEDED;
                    }
                }
            }
        }
        code = code.max(lock(&self.inner.state).exit_code);
        let elapsed = started.elapsed();
        if code == exit_code::CLEAN {
            tracing::info!(reason = %reason, elapsed = ?elapsed, "shutdown complete");
        } else {
            tracing::error!(reason = %reason, exit_code = code, elapsed = ?elapsed, unfinished = ?unfinished,
                "shutdown finished with errors");
        }
        ShutdownReport {
            reason,
            code,
            unfinished,
            elapsed,
        }
    }

    /// Waits until no lock is held; `false` if `deadline` passed first.
    async fn drain_locks(&self, deadline: Option<Instant>) -> bool {
        loop {
            let released = self.inner.locks_released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if lock(&self.inner.state).locks.is_empty() {
                return true;
            }
            match deadline {
                None => released.await,
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, released).await.is_err() {
                        return lock(&self.inner.state).locks.is_empty();
                    }
                }
            }
        }
    }
}

/// Exits the process at once: the operator asked twice.
fn exit_forced() -> Result<(), std::convert::Infallible> {
    std::process::exit(exit_code::FORCED)
}

/// How a shutdown went, from [`Shutdown::wait`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Why shutdown started.
    pub reason: String,
    /// The process exit code (see [`exit_code`]).
    pub code: i32,
    /// Locks still held and cleanups not finished when the deadline passed (`"lock NAME"`, `"cleanup NAME"`).
    pub unfinished: Vec<String>,
    /// How long draining and cleaning up took.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// The exit code as a [`std::process::ExitCode`], to return from `main`.
    pub fn exit_code(&self) -> std::process::ExitCode {
        std::process::ExitCode::from(u8::try_from(self.code).unwrap_or(u8::MAX))
    }
}

/// An RAII shutdown lock from [`Shutdown::lock`]: shutdown waits until it is dropped.
#[must_use = "the lock is released as soon as it is dropped"]
pub struct ShutdownLock {
    inner: Arc<Inner>,
    id: u64,
}

impl std::fmt::Debug for ShutdownLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownLock")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for ShutdownLock {
    fn drop(&mut self) {
        let empty = {
            let mut state = lock(&self.inner.state);
            state.locks.remove(&self.id);
            state.locks.is_empty()
        };
        if empty {
            self.inner.locks_released.notify_waiters();
        }
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Result<Self, ShutdownError> {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt =
            signal(SignalKind::interrupt()).map_err(|source| ShutdownError::Signal {
                signal: "SIGINT",
                source,
            })?;
        let terminate =
            signal(SignalKind::terminate()).map_err(|source| ShutdownError::Signal {
                signal: "SIGTERM",
                source,
            })?;
        Ok(Signals {
            interrupt,
            terminate,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Result<Self, ShutdownError> {
        Ok(Signals)
    }

    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
