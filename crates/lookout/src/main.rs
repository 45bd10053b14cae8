//! The `lookout` command: parses the command line, installs logging, runs one subcommand and
//! maps its result to an exit code (0 ok, 1 failure, 64 bad usage or configuration).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = lookout::cli::Cli::parse();
    lookout::logging::init(&cli.log);
    match lookout::cli::run(cli) {
        Ok(code) => code,
        Err(err) if lookout::error::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // The one place a command's error is reported.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {err:#}");
            }
            lookout::error::exit_code_for(&err)
        }
    }
}
