//! The top-level command-line parser: global options and the subcommand, dispatched to
//! [`crate::commands`], where each subcommand owns its arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
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
    Demo(commands::demo::Args),
    /// Run the service from a configuration file.
    Run(commands::run::Args),
    /// Decode AIS NMEA into one JSON object per message, with gpsd's field names.
    Decode(commands::decode::Args),
    /// Decode and track recorded AIS, writing events as JSON lines to stdout.
    Replay(commands::replay::Args),
    /// Generate realistic simulated AIS traffic.
    Simulate(commands::simulate::Args),
    /// Validate configuration and area files, reporting every problem at once.
    Check(commands::check::Args),
    /// Validate the configuration files and upsert their organisations, users, vessels,
    /// fleets, areas and rules into the store (idempotent).
    Import(commands::import::Args),
    /// Write the store's organisations, users, vessels, fleets, areas and rules back as
    /// configuration files.
    Export(commands::export::Args),
    /// Create, list and revoke API tokens.
    Token(commands::token::Args),
    /// Apply database migrations and exit.
    Migrate(commands::migrate::Args),
    /// Run several instances in cluster mode under faults (kills, PostgreSQL and NATS
    /// restarts, a failing receiver) and report lost, spurious and duplicate notifications.
    Chaos(commands::chaos::Args),
}

/// Runs one subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(args) => commands::decode::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Check(args) => commands::check::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Token(args) => commands::token::run(&args),
        Command::Migrate(args) => commands::migrate::run(&args),
        Command::Chaos(args) => commands::chaos::run(&args),
    }
}
