//! `lookout export`: the model tables of the configured store back into configuration files
//! (`lookout.toml`, `users.toml`, `rules.toml`, `areas/*.geojson`) in a directory, which
//! `lookout import` reads back into the same model.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::runtime::runtime;
use crate::setup;

/// `lookout export`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Path of `lookout.toml`: the store to read, and the main file the export is based on.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Directory to write the files into (created if missing; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
}

/// Exports the store of `config` into `out`; returns the new main file's path.
///
/// # Errors
/// A database error; a model the files cannot hold ([`crate::config::ExportError`]); an I/O error.
pub async fn export(
    config: &crate::config::Config,
    store: &lookout_store::Store,
    out: &std::path::Path,
) -> anyhow::Result<PathBuf> {
    let model = store.model_snapshot().await.context("reading the model")?;
    Ok(crate::config::export(config, &model, out)?)
}

/// Runs `lookout export`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = setup::load_config(&args.config, &crate::config::ProcessEnv)?;
    runtime()?.block_on(async {
        let store = setup::open_store(&config.store.url).await?;
        let written = export(&config, &store, &args.out).await;
        store.close().await;
        let main = written?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", main.display())?;
        Ok(ExitCode::SUCCESS)
    })
}
