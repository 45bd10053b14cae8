//! `lookout run --config FILE`: the service from a configuration file.

use std::path::PathBuf;
use std::process::ExitCode;

use lookout_track::runner::ShardConfig;

use crate::runtime::{SHUTDOWN_DEADLINE, runtime, serve_until_shutdown, shutdown_on_signals};
use crate::{service, setup};

/// `lookout run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Path of `lookout.toml`.
    #[arg(long, short, default_value = "lookout.toml")]
    pub config: PathBuf,
}

/// Runs the service until SIGINT/SIGTERM.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = setup::load_config(&args.config, &crate::config::ProcessEnv)?;
    runtime()?.block_on(async {
        let shutdown = shutdown_on_signals(SHUTDOWN_DEADLINE)?;
        let parts = setup::parts(&config, ShardConfig::default()).await?;
        let started = service::start(parts, &shutdown).await?;
        tracing::info!(ops = %started.http_addr, config = %args.config.display(), "lookout running");
        Ok(serve_until_shutdown(started, &shutdown).await)
    })
}
