//! Command-line interface: one argument struct and one entry function per subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::logging::LogArgs;

/// Lookout: vessel alerts from AIS — entered, exited and AIS-gap events, delivered durably.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole service with zero configuration: SQLite, the built-in traffic simulator,
    /// demo users in three timezones, delivery to a local Maildir and webhook receiver.
    Demo(DemoArgs),
    /// Run the service from a configuration file.
    Run(RunArgs),
    /// Decode AIS NMEA into one JSON object per message, with gpsd's field names.
    Decode(DecodeArgs),
    /// Decode and track recorded AIS, writing events as JSON lines to stdout.
    Replay(ReplayArgs),
    /// Generate realistic simulated AIS traffic.
    Simulate(SimulateArgs),
    /// Validate configuration and area files, reporting every problem at once.
    Check(CheckArgs),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
}

/// `lookout demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Directory for the SQLite database and the Maildir.
    #[arg(long, default_value = "lookout-demo")]
    pub data_dir: PathBuf,
    /// Address of the ops endpoints (/healthz, /metrics, ...).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 120.0)]
    pub speed: f64,
    /// Stop after this long (e.g. `90s`); runs until Ctrl-C when absent.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `lookout run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Path of `lookout.toml`.
    #[arg(long, short, default_value = "lookout.toml")]
    pub config: PathBuf,
}

/// `lookout decode`.
#[derive(Debug, Clone, clap::Args)]
pub struct DecodeArgs {
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub input: PathBuf,
    /// Print decode errors as `{"class":"ERROR",...}` lines on stdout instead of stderr.
    #[arg(long)]
    pub errors: bool,
}

/// `lookout replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Recorded AIS files, replayed in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// GeoJSON file of areas.
    #[arg(long)]
    pub areas: PathBuf,
    /// Emit `gap_started` after this much silence inside an area (e.g. `30m`, `6h`).
    #[arg(long, value_parser = parse_duration)]
    pub gap: Option<Duration>,
    /// A vessel must stay inside (outside) this long before `entered` (`exited`) is emitted.
    #[arg(long, value_parser = parse_duration)]
    pub min_dwell: Option<Duration>,
    /// Replay speed: `max` (as fast as possible) or a factor such as `10x`.
    #[arg(long, default_value = "max")]
    pub speed: String,
}

/// `lookout simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Scenario name.
    #[arg(long, default_value = "nz")]
    pub scenario: String,
    /// Number of vessels.
    #[arg(long, default_value_t = 50)]
    pub vessels: u32,
    /// Simulated hours.
    #[arg(long, default_value_t = 6.0)]
    pub hours: f64,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write sentences to this file.
    #[arg(long, conflicts_with = "tcp")]
    pub out: Option<PathBuf>,
    /// Serve sentences to TCP clients on this address.
    #[arg(long, requires = "rate")]
    pub tcp: Option<SocketAddr>,
    /// Simulated seconds per wall-clock second when serving over TCP.
    #[arg(long)]
    pub rate: Option<f64>,
}

/// `lookout check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Path of `lookout.toml` (with its users and rules files).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// GeoJSON area files (or directories of them) to validate.
    #[arg(long)]
    pub areas: Vec<PathBuf>,
}

/// `lookout migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// Database URL (`sqlite://path?mode=rwc` or `postgres://...`); read from the config when absent.
    #[arg(long, env = "LOOKOUT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Path of `lookout.toml`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// A problem with the command line or configuration: exit code 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for an error returned by [`run`]: 64 for usage/configuration errors, 1 otherwise.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|e| e.is::<UsageError>()) {
        ExitCode::from(64)
    } else {
        ExitCode::from(1)
    }
}

/// True when the error is a closed stdout (`lookout decode | head`): not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs one subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(args) => crate::decode::run(&args),
        Command::Replay(args) => crate::replay::run(&args),
        Command::Demo(args) => crate::run::demo(&args),
        Command::Run(args) => crate::run::run(&args),
        Command::Simulate(args) => crate::run::simulate(&args),
        Command::Check(args) => crate::run::check(&args),
        Command::Migrate(args) => crate::run::migrate(&args),
    }
}

/// Parses `90s`, `15m`, `6h`, `2d`, `1h30m` or a plain number of seconds: the configuration
/// files' syntax, so flags and files agree.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => lookout_notify::config::parse_duration(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5h3").is_err());
        assert!(parse_duration("").is_err());
    }
}
