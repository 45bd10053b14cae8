//! The errors a command ends with and the exit codes they map to.

use std::process::ExitCode;

/// A problem with the command line or configuration: exit code 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for an error returned by a command: 64 for usage/configuration errors, 1
/// otherwise.
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
