//! Resilience toolkit for tokio services: observed tasks, supervision, retries, shutdown, heartbeats.
//!
//! (Crate documentation is being written; see the README.)

mod group;
#[cfg(feature = "http")]
pub mod http;
mod heartbeat;
mod isolate;
mod limit;
mod name;
mod names;
pub mod registry;
mod retry;
mod shutdown;
mod supervisor;
#[cfg(all(feature = "systemd", unix))]
pub mod systemd;
mod task;
mod task_metrics;
mod timeout;

pub use group::TaskGroup;
pub use heartbeat::{Health, Heartbeat, LoopHealth, health};
pub use isolate::{Isolate, Panicked, isolate};
pub use limit::{Limit, Permit};
pub use name::TaskName;
pub use registry::{Snapshot, TaskInfo, TaskKind, TaskState, snapshot};
pub use retry::{Classify, Retry, RetryAll, RetryError, RetryPolicy, retry};
pub use shutdown::{DeadlineMode, Shutdown, ShutdownError, ShutdownLock, ShutdownReport, ShutdownStarted, exit_code};
pub use supervisor::{Backoff, ChildSpec, Restart, Strategy, Supervisor, SupervisorError};
pub use task::{BoxError, TaskError, TaskHandle, error_chain, spawn, spawn_with_timeout};
pub use timeout::{TimedOut, timeout};
pub use tokio_util::sync::CancellationToken;

/// `true` when this build aborts on panic, so no panic can be caught and recovery cannot work.
pub const PANIC_ABORTS: bool = cfg!(panic = "abort");

/// Logs a loud warning, once per process, when built with `panic = "abort"`. Sentinel calls it on first use; call it
/// at start-up to be sure the warning appears early.
pub fn warn_if_panic_abort() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if PANIC_ABORTS {
        WARNED.call_once(|| {
            tracing::error!(
                "built with panic = \"abort\": a panic in any task kills the whole process; sentinel cannot \
                 isolate, restart or report it. Build with panic = \"unwind\" (the default)"
            );
        });
    }
}
