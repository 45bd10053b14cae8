//! `lookout migrate`: applies the SQLite or PostgreSQL migrations and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::UsageError;
use crate::runtime::runtime;
use crate::setup;

/// `lookout migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Database URL (`sqlite://path?mode=rwc` or `postgres://...`); read from the config when absent.
    #[arg(long, env = "LOOKOUT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Path of `lookout.toml`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// Opens the store, applies its migrations and closes it.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let url = match (&args.database_url, &args.config) {
        (Some(url), _) => url.clone(),
        (None, Some(path)) => {
            setup::load_config(path, &crate::config::ProcessEnv)?
                .store
                .url
        }
        (None, None) => {
            return Err(UsageError("give --database-url URL or --config FILE".into()).into());
        }
    };
    runtime()?.block_on(async {
        let store = setup::open_store(&url).await?;
        store.close().await;
        tracing::info!(url = %setup::redact(&url), "migrations applied");
        Ok(ExitCode::SUCCESS)
    })
}
