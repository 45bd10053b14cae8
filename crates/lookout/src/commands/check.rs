//! `lookout check`: validates configuration and area files, printing every problem.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::UsageError;
use crate::setup;

/// `lookout check`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Path of `lookout.toml` (with its users and rules files).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// GeoJSON area files (or directories of them) to validate.
    #[arg(long)]
    pub areas: Vec<PathBuf>,
}

/// Loads `path` and checks everything `lookout check` checks (the files, the areas as one
/// index, the templates): the one validation `check` and `import` share.
///
/// # Errors
/// Every problem found, one per line, each with file and line.
pub fn validate(
    path: &std::path::Path,
    env: &dyn crate::config::EnvSource,
) -> Result<crate::config::Config, UsageError> {
    let config = crate::config::load(path, env).map_err(|e| UsageError(e.to_string()))?;
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = setup::build_areas(&config) {
        problems.push(e.0);
    }
    for problem in config.notify.renderer().1 {
        problems.push(format!("{}: {}", problem.path, problem.message));
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(UsageError(problems.join("\n")))
    }
}

/// Prints `ok` and exits 0, or fails with every problem found (exit 64).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.config.is_none() && args.areas.is_empty() {
        return Err(
            UsageError("nothing to check: give --config FILE and/or --areas FILE".into()).into(),
        );
    }
    let mut problems: Vec<String> = Vec::new();
    if let Some(path) = &args.config
        && let Err(e) = validate(path, &crate::config::ProcessEnv)
    {
        problems.push(e.0);
    }
    for path in &args.areas {
        if let Err(e) = setup::load_areas(path) {
            problems.push(e.0);
        }
    }
    if problems.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ok");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(UsageError(problems.join("\n")).into())
    }
}
