//! `lookout run --config FILE`: the service from a configuration file.

use std::path::PathBuf;
use std::process::ExitCode;

use lookout_track::runner::ShardConfig;

use crate::cluster::Roles;
use crate::runtime::{SHUTDOWN_DEADLINE, runtime, serve_until_shutdown, shutdown_on_signals};
use crate::{service, setup};

/// `lookout run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Path of `lookout.toml`.
    #[arg(long, short, default_value = "lookout.toml")]
    pub config: PathBuf,
    /// The roles of this instance, comma-separated: ingest, track, dispatch, digest (default
    /// all). Ingest and track run apart only with a `[cluster]` table.
    #[arg(long, default_value = "ingest,track,dispatch,digest")]
    pub roles: Roles,
}

/// Runs the service until SIGINT/SIGTERM.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = setup::load_config(&args.config, &crate::config::ProcessEnv)?;
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signals(SHUTDOWN_DEADLINE)?;
        let env = std::sync::Arc::new(crate::config::ProcessEnv);
        let mut parts =
            setup::parts(&config, ShardConfig::default(), env, setup::Seed::IfEmpty).await?;
        parts.roles = args.roles.clone();
        let started = service::start(parts, &shutdown).await?;
        tracing::info!(ops = %started.http_addr, config = %args.config.display(),
            roles = %args.roles, cluster = config.cluster.is_some(), "lookout running");
        #[cfg(feature = "systemd")]
        let _watchdog = notify_systemd(&shutdown);
        Ok(serve_until_shutdown(started, &shutdown).await)
    })
}

/// Under systemd: `READY=1` now, `WATCHDOG=1` while every heartbeat is fresh (so a stuck loop
/// gets the unit restarted), `STOPPING=1` when shutdown starts. Nothing outside systemd.
#[cfg(feature = "systemd")]
fn notify_systemd(shutdown: &sentinel::Shutdown) -> Option<sentinel::TaskHandle<()>> {
    if let Err(error) = sentinel::systemd::notify_ready() {
        tracing::warn!(error = %sentinel::error_chain(&error), "cannot tell systemd we are ready");
    }
    let stopping = shutdown.clone();
    let _stopping = sentinel::spawn("systemd-stopping", async move {
        stopping.triggered().await;
        let _ = sentinel::systemd::notify_stopping();
        Ok::<(), std::convert::Infallible>(())
    });
    sentinel::systemd::spawn_watchdog(shutdown.token())
}
