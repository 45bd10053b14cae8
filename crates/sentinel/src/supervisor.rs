//! Supervision trees: [`Supervisor`], [`ChildSpec`], restart policies, strategies, backoff and intensity.
//!
//! The model is Erlang/OTP's, plus restart backoff (OTP restarts at once):
//!
//! - A child is a **factory** (`Fn() -> Future`), so it can be started again after it ends.
//! - Its [`Restart`] policy says whether it is restarted when it ends: always (*permanent*), only after a failure
//!   (*transient*), or never (*temporary*). Panics, `Err`s, timeouts and unexpected cancellations are failures.
//! - The [`Strategy`] says which children restart with it: only itself (*one for one*), all (*one for all*), or
//!   itself and those started after it (*rest for one*). Siblings are stopped in reverse start order, then all are
//!   started again in order.
//! - Restarts wait an exponential [`Backoff`] with full jitter, so a crash loop does not spin.
//! - **Intensity**: more than `max_restarts` restarts within `within` means restarting does not help: the supervisor
//!   stops its children and fails with [`SupervisorError::IntensityExceeded`], naming the child and its last error.
//!   Its parent then treats that as a failing child; at the top, [`Supervisor::spawn`] shuts the process down with a
//!   non-zero exit code.
//!
//! ```
//! use std::time::Duration;
//! use sentinel::{ChildSpec, Restart, Shutdown, Strategy, Supervisor};
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let shutdown = Shutdown::default();
//! let supervisor = Supervisor::new("pipeline")
//!     .strategy(Strategy::OneForOne)
//!     .intensity(5, Duration::from_secs(60))
//!     .child(ChildSpec::with_token("dispatcher", |token: sentinel::CancellationToken| async move {
//!         token.cancelled().await; // real work selects on the token
//!         Ok::<_, std::io::Error>(())
//!     }))
//!     .child(ChildSpec::new("warm-cache", || async { Ok::<_, std::io::Error>(()) }).restart(Restart::Transient));
//! let handle = supervisor.spawn(&shutdown);
//! shutdown.trigger("example over");
//! handle.await.unwrap();
//! # }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::metric_names;
use crate::registry::{SharedRegistration, TaskKind, TaskState};
use crate::shutdown::Shutdown;
use crate::task::{BoxError, TaskError, TaskHandle, error_chain, spawn_inner};
use crate::task_name::TaskName;

type ChildFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
type Factory = Arc<dyn Fn(CancellationToken) -> ChildFuture + Send + Sync>;

/// When a child that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Restart {
    /// Always: the child should run for as long as its supervisor (loops, servers).
    #[default]
    Permanent,
    /// Only when it failed (panic, `Err`, timeout); a clean `Ok(())` is final (jobs that may finish).
    Transient,
    /// Never (one-shot work whose failure is logged and counted, nothing more).
    Temporary,
}

/// Which children restart when one of them has to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the child that ended. Use when children are independent.
    #[default]
    OneForOne,
    /// Every child. Use when children depend on each other and must start from a consistent state.
    OneForAll,
    /// The child that ended and every child declared after it (they depend on it, it does not depend on them).
    RestForOne,
}

/// A child of a [`Supervisor`]: a name, a factory that starts it, and its restart policy.
#[derive(Clone)]
pub struct ChildSpec {
    name: TaskName,
    restart: Restart,
    stop_timeout: Duration,
    factory: Factory,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("stop_timeout", &self.stop_timeout)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent child started by calling `factory()`. To stop it, its supervisor aborts it (drops its future at
    /// its next `.await`); use [`ChildSpec::with_token`] for a child that wants to stop cleanly.
    pub fn new<F, Fut, E>(name: impl Into<TaskName>, factory: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        Self::with_token(name, move |_token| factory())
    }

    /// A permanent child started by calling `factory(token)`. The token is cancelled when the child must stop (its
    /// supervisor is stopping it or shutting down); the child then has `stop_timeout` (default 5 s) to return
    /// before it is aborted.
    pub fn with_token<F, Fut, E>(name: impl Into<TaskName>, factory: F) -> Self
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let factory: Factory = Arc::new(move |token| {
            let fut = factory(token);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        ChildSpec {
            name: name.into(),
            restart: Restart::Permanent,
            stop_timeout: Duration::from_secs(5),
            factory,
        }
    }

    /// Sets the restart policy (default [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How long the child may take to return after its token is cancelled before it is aborted (default 5 s).
    pub fn stop_timeout(mut self, stop_timeout: Duration) -> Self {
        self.stop_timeout = stop_timeout;
        self
    }

    /// The child's name.
    pub fn name(&self) -> &TaskName {
        &self.name
    }
}

/// A supervisor gave up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A child needed more restarts than the intensity allows.
    #[error(
        "supervisor {supervisor} gave up: child {child} needed more than {max_restarts} restarts within {within:?}"
    )]
    IntensityExceeded {
        /// The supervisor's name.
        supervisor: TaskName,
        /// The child whose restart exceeded the intensity.
        child: TaskName,
        /// The configured maximum.
        max_restarts: u32,
        /// The configured window.
        within: Duration,
        /// How the child last ended (`None` when a permanent child returned `Ok`).
        #[source]
        last_error: Option<TaskError>,
    },
}

impl SupervisorError {
    /// The child that caused the escalation. For nested supervisors this is the innermost child.
    pub fn child(&self) -> &TaskName {
        match self {
            SupervisorError::IntensityExceeded {
                child, last_error, ..
            } => {
                // If the child is itself a supervisor that gave up, name the child deep down that started it.
                match last_error {
                    Some(TaskError::Failed { source, .. }) => {
                        match source.downcast_ref::<SupervisorError>() {
                            Some(inner) => inner.child(),
                            None => child,
                        }
                    }
                    _ => child,
                }
            }
        }
    }
}

/// A supervisor: starts its children, restarts them by policy and strategy, and gives up (escalates) when they
/// restart too often. Build it, then [`run`](Supervisor::run) it, [`spawn`](Supervisor::spawn) it at the top of
/// the process, or nest it as a child with [`into_child`](Supervisor::into_child).
#[derive(Debug, Clone)]
pub struct Supervisor {
    name: TaskName,
    strategy: Strategy,
    max_restarts: u32,
    within: Duration,
    backoff: Backoff,
    children: Vec<ChildSpec>,
}

impl Supervisor {
    /// A supervisor with no children, [`Strategy::OneForOne`], intensity 5 restarts in 60 s and the default
    /// [`Backoff`].
    pub fn new(name: impl Into<TaskName>) -> Self {
        Supervisor {
            name: name.into(),
            strategy: Strategy::OneForOne,
            max_restarts: 5,
            within: Duration::from_secs(60),
            backoff: Backoff::default(),
            children: Vec::new(),
        }
    }

    /// Sets the restart strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Allows at most `max_restarts` restarts within `within`; one more escalates.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.within = within;
        self
    }

    /// Sets the restart backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Adds a child; children start in the order they are added and stop in reverse.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// The supervisor's name.
    pub fn name(&self) -> &TaskName {
        &self.name
    }

    /// Turns this supervisor into a (permanent) child of another supervisor. When it gives up, its parent sees a
    /// failed child and applies its own policy and intensity.
    pub fn into_child(self) -> ChildSpec {
        let name = self.name.clone();
        ChildSpec::with_token(name, move |token| self.clone().run(token))
    }

    /// Runs the top-level supervisor of the process as an observed task under `shutdown`: it stops when shutdown
    /// starts; if it gives up, it logs the child and its last error and triggers a failure shutdown (non-zero exit
    /// code). The handle resolves when the supervisor has stopped.
    ///
    /// The supervisor holds a shutdown lock named after it until its children have stopped, so
    /// [`Shutdown::wait`] drains them (each within its `stop_timeout`) before running cleanups.
    pub fn spawn(self, shutdown: &Shutdown) -> TaskHandle<()> {
        let shutdown = shutdown.clone();
        let name = self.name.clone();
        let held = shutdown.lock(name.clone()).ok();
        crate::spawn(name, async move {
            let _held = held;
            match self.run(shutdown.token()).await {
                Ok(()) => Ok(()),
                Err(error) => {
                    let chain = error_chain(&error);
                    tracing::error!(child = %error.child(), error = %chain, "top-level supervisor gave up: shutting down");
                    shutdown.trigger_failure(chain);
                    Ok::<(), std::convert::Infallible>(())
                }
            }
        })
    }

    /// Runs the children until `token` is cancelled (then stops them and returns `Ok`), until no child is left to
    /// run (`Ok`), or until the restart intensity is exceeded (`Err`, after stopping every child).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts the running children (their handles are dropped after being aborted) without
    /// waiting for them; cancel the token instead to stop them in order.
    pub async fn run(self, token: CancellationToken) -> Result<(), SupervisorError> {
        let _registration = SharedRegistration::new(self.name.clone(), TaskKind::Supervisor);
        let mut slots: Vec<Slot> = self
            .children
            .iter()
            .map(|spec| Slot {
                spec: spec.clone(),
                registration: SharedRegistration::new(spec.name.clone(), TaskKind::Supervised),
                running: None,
                restart_at: None,
                started_at: Instant::now(),
                attempt: 0,
                done: false,
            })
            .collect();
        let mut restarts: VecDeque<Instant> = VecDeque::new();
        tracing::info!(supervisor = %self.name, children = slots.len(), strategy = ?self.strategy, "supervisor starting");
        for slot in &mut slots {
            slot.start(&token, false);
        }
        let outcome = loop {
            if slots.iter().all(|s| s.done) {
                tracing::info!(supervisor = %self.name, "no children left to run: supervisor stopping");
                break Ok(());
            }
            let next_restart = slots.iter().filter_map(|s| s.restart_at).min();
            let event = tokio::select! {
                biased;
                () = token.cancelled() => Event::Stop,
                (idx, result) = wait_any(&mut slots) => Event::Exited(idx, result),
                () = sleep_until(next_restart) => Event::RestartDue,
            };
            match event {
                Event::Stop => break Ok(()),
                Event::RestartDue => {
                    let now = Instant::now();
                    for slot in &mut slots {
                        if slot.restart_at.is_some_and(|at| at <= now) {
                            slot.restart_at = None;
                            slot.start(&token, true);
                        }
                    }
                }
                Event::Exited(idx, result) => {
                    if let Err(error) = self.on_exit(&mut slots, &mut restarts, idx, result).await {
                        break Err(error);
                    }
                }
            }
        };
        stop_children(&mut slots, 0).await;
        outcome
    }

    async fn on_exit(
        &self,
        slots: &mut [Slot],
        restarts: &mut VecDeque<Instant>,
        idx: usize,
        result: Result<(), TaskError>,
    ) -> Result<(), SupervisorError> {
        let slot = &mut slots[idx];
        let failed = result.is_err();
        let restart = match slot.spec.restart {
            Restart::Permanent => true,
            Restart::Transient => failed,
            Restart::Temporary => false,
        };
        let child = slot.spec.name.clone();
        let error_text = result.as_ref().err().map(|e| error_chain(e));
        if !restart {
            tracing::info!(supervisor = %self.name, child = %child, error = error_text.as_deref(), policy = ?slot.spec.restart,
                "child ended and will not be restarted");
            slot.done = true;
            slot.registration.entry().set_state(TaskState::Stopped);
            return Ok(());
        }
        if slot.started_at.elapsed() >= self.backoff.reset_after {
            slot.attempt = 0;
        }

        let now = Instant::now();
        restarts.push_back(now);
        while restarts
            .front()
            .is_some_and(|at| now.duration_since(*at) > self.within)
        {
            restarts.pop_front();
        }
        if restarts.len() > self.max_restarts as usize {
            tracing::error!(supervisor = %self.name, child = %child, error = error_text.as_deref(),
                max_restarts = self.max_restarts, within = ?self.within, "restart intensity exceeded: supervisor gives up");
            return Err(SupervisorError::IntensityExceeded {
                supervisor: self.name.clone(),
                child,
                max_restarts: self.max_restarts,
                within: self.within,
                last_error: result.err(),
            });
        }

        let delay = self.backoff.delay(slot.attempt);
        slot.attempt = slot.attempt.saturating_add(1);
        let affected: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => (0..slots.len()).collect(),
            Strategy::RestForOne => (idx..slots.len()).collect(),
        };
        tracing::warn!(supervisor = %self.name, child = %child, error = error_text.as_deref(), restart_in = ?delay,
            strategy = ?self.strategy, "child ended: restarting");
        // Stop the affected siblings, last started first.
        for &sibling in affected.iter().rev() {
            if sibling != idx {
                slots[sibling].stop().await;
            }
        }
        let restart_at = Instant::now() + delay;
        for &i in &affected {
            let slot = &mut slots[i];
            if slot.done {
                continue;
            }
            if i != idx && slot.spec.restart == Restart::Temporary {
                // OTP semantics: a temporary child stopped because of a sibling is not restarted.
                slot.done = true;
                slot.registration.entry().set_state(TaskState::Stopped);
                continue;
            }
            slot.restart_at = Some(restart_at);
            slot.registration.entry().set_state(TaskState::Backoff);
        }
        Ok(())
    }
}

enum Event {
    Stop,
    Exited(usize, Result<(), TaskError>),
    RestartDue,
}

struct Slot {
    spec: ChildSpec,
    registration: SharedRegistration,
    running: Option<Running>,
    restart_at: Option<Instant>,
    started_at: Instant,
    /// Consecutive restarts since the child last counted as healthy ([`Backoff::delay`]'s attempt).
    attempt: u32,
    done: bool,
}

struct Running {
    handle: TaskHandle<()>,
    token: CancellationToken,
}

impl Slot {
    fn start(&mut self, parent: &CancellationToken, is_restart: bool) {
        let entry = self.registration.entry();
        if is_restart {
            entry.record_restart();
            metrics::counter!(metric_names::TASK_RESTARTS, "task" => self.spec.name.label())
                .increment(1);
        }
        entry.set_state(TaskState::Running);
        let token = parent.child_token();
        let factory = Arc::clone(&self.spec.factory);
        let child_token = token.clone();
        // The factory is called inside the task, so a factory that panics is caught like a child that panics.
        let handle = spawn_inner(
            self.spec.name.clone(),
            Some(Arc::clone(entry)),
            None,
            async move { factory(child_token).await },
        );
        self.started_at = Instant::now();
        self.running = Some(Running { handle, token });
    }

    /// Stops the child if it runs: cancel its token, wait up to its stop timeout, then abort it.
    async fn stop(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        self.registration.entry().set_state(TaskState::Stopping);
        running.token.cancel();
        if tokio::time::timeout(self.spec.stop_timeout, &mut running.handle)
            .await
            .is_err()
        {
            tracing::warn!(child = %self.spec.name, stop_timeout = ?self.spec.stop_timeout,
                "child did not stop in time: aborting it");
            running.handle.abort();
            let _ = (&mut running.handle).await;
        }
        self.registration.entry().set_state(TaskState::Stopped);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Reached with the child still running only when the supervisor's own future is dropped.
        self.handle.abort();
    }
}

async fn stop_children(slots: &mut [Slot], from: usize) {
    for slot in slots[from..].iter_mut().rev() {
        slot.restart_at = None;
        slot.stop().await;
    }
}

/// Resolves when any running child ends; pending forever when none runs.
async fn wait_any(slots: &mut [Slot]) -> (usize, Result<(), TaskError>) {
    std::future::poll_fn(|cx| {
        for (idx, slot) in slots.iter_mut().enumerate() {
            if let Some(running) = &mut slot.running
                && let Poll::Ready(result) = Pin::new(&mut running.handle).poll(cx)
            {
                slot.running = None;
                return Poll::Ready((idx, result));
            }
        }
        Poll::Pending
    })
    .await
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
