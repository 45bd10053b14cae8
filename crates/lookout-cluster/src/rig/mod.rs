//! Test rig for the chaos suite and the tests: an own PostgreSQL cluster ([`PgRig`]) and an own
//! `nats-server -js` ([`NatsRig`]), each on a free loopback port with its data in a temporary directory,
//! restartable, and stopped when dropped. They never touch the machine's own servers (5432, 4222).
//!
//! Every external command runs under a timeout; server output goes to log files in the rig's directory, never to
//! an unbounded pipe.

mod nats;
mod postgres;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use nats::{NatsRig, find_nats_server};
pub use postgres::{PgRig, find_postgres_bin};

/// Errors of the rig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RigError {
    /// A required program was not found.
    #[error("{program} not found on PATH nor in {searched}; install it (Debian package {package})")]
    NotFound {
        /// The program.
        program: &'static str,
        /// Where else it was looked for.
        searched: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// An I/O operation (temporary directory, spawn, port) failed.
    #[error("rig: {what} failed")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("rig: {what} exited with {status}: {output}")]
    Command {
        /// The command.
        what: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The tail of its output.
        output: String,
    },
    /// A command or a server did not finish or become ready in time.
    #[error("rig: {what} did not finish within {after:?}")]
    TimedOut {
        /// What was awaited.
        what: String,
        /// The bound.
        after: Duration,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RigError {
    let what = what.into();
    move |source| RigError::Io { what, source }
}

/// A free TCP port on 127.0.0.1 (bound, read and released: another process could take it meanwhile, which the
/// servers' start-up then reports).
pub fn free_port() -> Result<u16, RigError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io_error("bind a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("read the free port"))?
        .port();
    Ok(port)
}

/// The first of `name` on PATH, then in `extra` directories.
fn find_program(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Runs a command to completion under `limit`, returning its combined output.
async fn run(
    what: &str,
    command: &mut tokio::process::Command,
    limit: Duration,
) -> Result<String, RigError> {
    command
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    let output = match tokio::time::timeout(limit, command.output()).await {
        Ok(output) => output.map_err(io_error(what))?,
        Err(_) => {
            return Err(RigError::TimedOut {
                what: what.to_owned(),
                after: limit,
            });
        }
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text)
    } else {
        Err(RigError::Command {
            what: what.to_owned(),
            status: output.status,
            output: tail(&text, 2000),
        })
    }
}

fn tail(text: &str, max: usize) -> String {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].trim().to_owned()
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|text| tail(&text, 2000))
        .unwrap_or_default()
}
