//! Observed spawn: [`spawn`], [`TaskHandle`] and [`TaskError`].
//!
//! A task started here is polled under panic capture ([`isolate`](crate::isolate)), registered in the
//! [registry](crate::registry) while it runs, and measured (`sentinel_task_*` metrics). When it ends with an error,
//! a panic or a timeout, **the task itself** logs it once (task name, error chain, panic location) and counts it,
//! before anyone awaits the handle. So a detached task that fails is never lost, and whoever awaits the handle gets
//! the typed [`TaskError`] and should not log it again.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tracing::Instrument as _;

use crate::isolate::{Panicked, isolate};
use crate::metric_names;
use crate::panics::panic_text;
use crate::registry::Entry;
use crate::task_metrics::{TaskKeys, outcome_index};
use crate::task_name::TaskName;

/// A boxed error: what a failing task's error is converted into.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// How an observed task ended, when it did not return `Ok`.
///
/// Every variant names the task. Use [`TaskError::task`] for the name and the `is_*` predicates to branch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; the panic was caught and logged.
    #[error("task {task} panicked at {}: {message}", location.as_deref().unwrap_or("<unknown location>"))]
    Panicked {
        /// The task's name.
        task: TaskName,
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic, when known.
        location: Option<String>,
        /// The backtrace, when `RUST_BACKTRACE` enabled one.
        backtrace: Option<Arc<str>>,
    },
    /// The task returned `Err`; the error chain is in `source`.
    #[error("task {task} failed")]
    Failed {
        /// The task's name.
        task: TaskName,
        /// The error the task returned.
        #[source]
        source: BoxError,
    },
    /// The task was aborted (its handle's [`abort`](TaskHandle::abort), a group or supervisor stopping it, or the
    /// runtime shutting down) before it finished.
    #[error("task {task} was cancelled")]
    Cancelled {
        /// The task's name.
        task: TaskName,
    },
    /// The task did not finish within its time limit ([`spawn_with_timeout`]).
    #[error("task {task} timed out after {after:?}")]
    TimedOut {
        /// The task's name.
        task: TaskName,
        /// The limit it exceeded.
        after: Duration,
    },
}

impl TaskError {
    /// The name of the task that failed.
    pub fn task(&self) -> &TaskName {
        match self {
            TaskError::Panicked { task, .. }
            | TaskError::Failed { task, .. }
            | TaskError::Cancelled { task }
            | TaskError::TimedOut { task, .. } => task,
        }
    }

    /// `true` for [`TaskError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked { .. })
    }

    /// `true` for [`TaskError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled { .. })
    }

    /// `true` for [`TaskError::TimedOut`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, TaskError::TimedOut { .. })
    }

    /// The `outcome` label this error is counted under.
    pub fn outcome(&self) -> &'static str {
        match self {
            TaskError::Panicked { .. } => "panic",
            TaskError::Failed { .. } => "error",
            TaskError::Cancelled { .. } => "cancelled",
            TaskError::TimedOut { .. } => "timeout",
        }
    }

    pub(crate) fn from_panicked(task: TaskName, panicked: Panicked) -> Self {
        let (message, location, backtrace) = panicked.into_parts();
        TaskError::Panicked {
            task,
            message,
            location,
            backtrace,
        }
    }
}

/// Formats an error and its `source()` chain on one line: `outer: cause: root cause`.
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(out, ": {cause}");
        source = cause.source();
    }
    out
}

/// Spawns an observed task on the current tokio runtime.
///
/// The future returns `Result<T, E>`; its `Err`, a panic, or an abort become a [`TaskError`] naming the task.
/// Failures are logged once (with the task name and the whole error chain) and counted by the task itself, so
/// dropping the handle (detaching) loses nothing. Metrics: `sentinel_task_started_total{task}`,
/// `sentinel_task_finished_total{task,outcome}`, `sentinel_tasks_running{task}`,
/// `sentinel_task_duration_seconds{task}`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let handle = sentinel::spawn("answer", async { Ok::<_, std::io::Error>(42) });
/// assert_eq!(handle.await.unwrap(), 42);
///
/// let failing = sentinel::spawn("profile-loader", async {
///     let profile: Option<&str> = None;
///     Ok::<_, std::io::Error>(profile.unwrap().len()) // a deleted user's missing profile
/// });
/// let err = failing.await.unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.task(), "profile-loader");
/// # }
/// ```
///
/// # Panics
///
/// Like `tokio::spawn`, panics when called outside a tokio runtime.
pub fn spawn<T, E, F>(name: impl Into<TaskName>, fut: F) -> TaskHandle<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    spawn_inner(name.into(), None, None, fut)
}

/// Like [`spawn`], but the task is cancelled and ends with [`TaskError::TimedOut`] (outcome `timeout`) when it has
/// not finished after `limit`.
pub fn spawn_with_timeout<T, E, F>(
    name: impl Into<TaskName>,
    limit: Duration,
    fut: F,
) -> TaskHandle<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    spawn_inner(name.into(), None, Some(limit), fut)
}

/// Spawns an observed task. `supervised` is the registry entry of a supervised child (which outlives this run of it);
/// plain tasks get their own entry for as long as they run.
pub(crate) fn spawn_inner<T, E, F>(
    name: TaskName,
    supervised: Option<Arc<Entry>>,
    limit: Option<Duration>,
    fut: F,
) -> TaskHandle<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    match limit {
        None => spawn_observed(name.clone(), observed(name, supervised, fut)),
        Some(limit) => {
            let task = name.clone();
            let run = async move {
                match tokio::time::timeout(limit, isolate(fut)).await {
                    Ok(caught) => conclude(&task, caught),
                    Err(_) => Err(TaskError::TimedOut { task, after: limit }),
                }
            };
            spawn_observed(name.clone(), observed_with(name, supervised, run))
        }
    }
}

fn spawn_observed<T: Send + 'static>(
    name: TaskName,
    task: impl Future<Output = Result<T, TaskError>> + Send + 'static,
) -> TaskHandle<T> {
    // The one place in the workspace that may call tokio::spawn: everything else goes through here.
    #[allow(clippy::disallowed_methods)]
    let join = tokio::spawn(task);
    TaskHandle { name, join }
}

/// The future an observed task runs: `fut` under panic capture, counted from now, logging its failure once, inside
/// a `task` span. (The timeout variant is built separately so that tasks without one do not carry a timer.)
pub(crate) fn observed<T, E, F>(
    name: TaskName,
    supervised: Option<Arc<Entry>>,
    fut: F,
) -> impl Future<Output = Result<T, TaskError>> + Send + 'static
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    let task = name.clone();
    observed_with(name, supervised, async move {
        conclude(&task, isolate(fut).await)
    })
}

fn observed_with<T, R>(
    name: TaskName,
    supervised: Option<Arc<Entry>>,
    run: R,
) -> impl Future<Output = Result<T, TaskError>> + Send + 'static
where
    R: Future<Output = Result<T, TaskError>> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::info_span!("task", task = %name);
    let guard = RunGuard::start(name, supervised);
    async move {
        let result = run.await;
        guard.finish(result.as_ref().err());
        result
    }
    .instrument(span)
}

fn conclude<T, E: Into<BoxError>>(
    task: &TaskName,
    caught: Result<Result<T, E>, Panicked>,
) -> Result<T, TaskError> {
    match caught {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(TaskError::Failed {
            task: task.clone(),
            source: error.into(),
        }),
        Err(panicked) => Err(TaskError::from_panicked(task.clone(), panicked)),
    }
}

/// Counts, registers and logs one run of a task; if dropped before [`RunGuard::finish`] the task was cancelled.
struct RunGuard {
    name: TaskName,
    keys: Arc<TaskKeys>,
    /// TSC-based where available: a task is timed with two reads, and the OS clock costs ~50 ns
    /// per read on some VMs (half of what sentinel adds to a spawn).
    started: quanta::Instant,
    finished: bool,
    supervised: Option<Arc<Entry>>,
}

impl RunGuard {
    fn start(name: TaskName, supervised: Option<Arc<Entry>>) -> Self {
        let keys = TaskKeys::get(&name);
        keys.record_start();
        let started = quanta::Instant::now();
        // A supervised child has its own registry row (kept across restarts); a plain task is counted by name.
        if supervised.is_none() {
            keys.stats.enter(started);
        }
        RunGuard {
            name,
            keys,
            started,
            finished: false,
            supervised,
        }
    }

    fn finish(mut self, error: Option<&TaskError>) {
        self.finished = true;
        match error {
            None => self.record("ok"),
            Some(error) => {
                log_failure(error);
                if let Some(entry) = &self.supervised {
                    entry.set_last_error(error_chain(error));
                }
                self.record(error.outcome());
            }
        }
    }

    fn record(&self, outcome: &'static str) {
        if self.supervised.is_none() {
            self.keys.stats.exit();
        }
        self.keys
            .record_finish(outcome_index(outcome), self.started.elapsed().as_secs_f64());
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!(task = %self.name, "task cancelled before it finished");
            self.record("cancelled");
        }
    }
}

/// Logs a task failure once, with the fields an operator needs.
fn log_failure(error: &TaskError) {
    match error {
        TaskError::Panicked {
            task,
            message,
            location,
            backtrace,
        } => tracing::error!(
            task = %task,
            panic.message = %message,
            panic.location = location.as_deref().unwrap_or("<unknown>"),
            backtrace = backtrace.as_deref(),
            "task panicked"
        ),
        TaskError::Failed { task, source } => {
            tracing::error!(task = %task, error = %error_chain(source.as_ref()), "task failed");
        }
        TaskError::TimedOut { task, after } => {
            metrics::counter!(metric_names::TIMEOUTS, "op" => task.label()).increment(1);
            tracing::error!(task = %task, timeout = ?after, "task timed out");
        }
        TaskError::Cancelled { task } => tracing::debug!(task = %task, "task cancelled"),
    }
}

/// Handle to an observed task: a future resolving to the task's result.
///
/// Dropping the handle detaches the task; it keeps running and its failure is still logged and counted.
///
/// # Cancel safety
///
/// Awaiting the handle is cancel safe: dropping the `.await` neither stops the task nor loses its outcome (which the
/// task logged already). Use [`TaskHandle::abort`] to stop the task.
#[derive(Debug)]
#[must_use = "dropping a TaskHandle detaches the task; its failure is still logged, but nobody waits for it"]
pub struct TaskHandle<T> {
    name: TaskName,
    join: tokio::task::JoinHandle<Result<T, TaskError>>,
}

impl<T> TaskHandle<T> {
    /// The task's name.
    pub fn name(&self) -> &TaskName {
        &self.name
    }

    /// Asks the runtime to stop the task at its next `.await`; the handle then resolves to
    /// [`TaskError::Cancelled`] (unless the task finished first).
    pub fn abort(&self) {
        self.join.abort();
    }

    /// A handle that can abort the task without owning this handle.
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.join.abort_handle()
    }

    /// `true` once the task has ended (awaiting the handle will not wait).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let joined = ready!(Pin::new(&mut self.join).poll(cx));
        Poll::Ready(match joined {
            Ok(result) => result,
            Err(join_error) if join_error.is_cancelled() => Err(TaskError::Cancelled {
                task: self.name.clone(),
            }),
            Err(join_error) => {
                // Only reachable when sentinel's own bookkeeping panicked: the task's future is polled under
                // catch_unwind. Report it like any other panic.
                let message = match join_error.try_into_panic() {
                    Ok(payload) => panic_text(payload.as_ref()),
                    Err(other) => other.to_string(),
                };
                let error = TaskError::Panicked {
                    task: self.name.clone(),
                    message,
                    location: None,
                    backtrace: None,
                };
                log_failure(&error);
                Err(error)
            }
        })
    }
}
