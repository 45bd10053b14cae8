//! The `lookout` command: parses the command line and runs one subcommand.

use clap::Parser;

/// Lookout: vessel alerts from AIS — entered, exited and AIS-gap events, delivered durably.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about, long_about = None)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
