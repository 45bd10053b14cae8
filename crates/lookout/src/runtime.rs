//! What every long-running command shares: the async runtime, the shutdown coordinator bound to
//! SIGINT/SIGTERM, and waiting for the pipeline to drain.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sentinel::{DeadlineMode, Shutdown};

use crate::service::Started;

/// How long shutdown may take in all (drain, flush, in-flight sends, cleanups).
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// The multi-threaded tokio runtime the service commands run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lookout")
        .build()
        .context("cannot start the async runtime")
}

/// The shutdown coordinator of a command: SIGINT/SIGTERM start it, `deadline` bounds it all.
pub fn shutdown_on_signals(deadline: Duration) -> anyhow::Result<Shutdown> {
    let shutdown = Shutdown::new(DeadlineMode::Forceful(deadline));
    shutdown
        .listen_for_signals()
        .context("cannot listen for signals")?;
    Ok(shutdown)
}

/// Waits for shutdown (the top-level supervisor holds a shutdown lock until every stage has
/// stopped, so this returns after the pipeline drained) and returns the exit code.
pub async fn serve_until_shutdown(started: Started, shutdown: &Shutdown) -> ExitCode {
    let report = shutdown.wait().await;
    // The supervisor has stopped by now; its own failures were logged by sentinel.
    drop(started.supervisor);
    report.exit_code()
}
