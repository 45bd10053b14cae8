//! `lookout import`: the configuration files into the model tables of the configured store —
//! validated exactly as `lookout check` does (every problem with file and line, nothing
//! stored), then upserted in one transaction. Importing the same files again changes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use lookout_store::Store;
use lookout_store::model::{ModelCounts, Upserted};

use crate::config::{Config, EnvSource};
use crate::runtime::runtime;
use crate::setup;

/// `lookout import`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Path of `lookout.toml` (with its users and rules files); `[store] url` is written to.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Validates `path` and upserts its model into `store`.
///
/// # Errors
/// A configuration problem ([`crate::error::UsageError`], every problem listed); an id taken by
/// another organisation in the store; a database error.
pub async fn import(
    path: &Path,
    env: &dyn EnvSource,
    store: &Store,
) -> anyhow::Result<ModelCounts> {
    let config = super::check::validate(path, env)?;
    import_config(&config, store).await
}

/// Upserts the model of an already validated `config` into `store`.
///
/// # Errors
/// As [`import`], less the validation.
pub async fn import_config(config: &Config, store: &Store) -> anyhow::Result<ModelCounts> {
    let snapshot =
        crate::config::snapshot(config).map_err(|e| crate::error::UsageError(e.to_string()))?;
    store
        .import_model(&snapshot, "import")
        .await
        .with_context(|| format!("importing {}", config.path.display()))
}

/// One line per kind: `rule: 2 created, 1 updated, 0 unchanged`.
pub fn summary(counts: &ModelCounts) -> String {
    let kinds = ["organisation", "user", "vessel", "fleet", "area", "rule"];
    kinds
        .iter()
        .map(|kind| {
            let n = |w| counts.counts.get(&(*kind, w)).copied().unwrap_or(0);
            format!(
                "{kind}: {} created, {} updated, {} unchanged",
                n(Upserted::Created),
                n(Upserted::Updated),
                n(Upserted::Unchanged)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `lookout import`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let env = crate::config::ProcessEnv;
    let config = super::check::validate(&args.config, &env)?;
    runtime()?.block_on(async {
        let store = setup::open_store(&config.store.url).await?;
        let counts = import_config(&config, &store).await;
        store.close().await;
        let counts = counts?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", summary(&counts))?;
        Ok(ExitCode::SUCCESS)
    })
}
