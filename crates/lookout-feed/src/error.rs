//! The feed's error type.

use std::path::PathBuf;

/// Why a source could not run. Transient network failures are not errors: the TCP client
/// retries them forever and the servers drop only the failing connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// A listening socket could not be bound.
    #[error("source {source_name}: cannot bind {addr}")]
    Bind {
        /// Source name.
        source_name: String,
        /// The address asked for.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be opened or read.
    #[error("source {source_name}: cannot read {}", path.display())]
    File {
        /// Source name.
        source_name: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed persistently.
    #[error("source {source_name}: accept failed")]
    Accept {
        /// Source name.
        source_name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is unusable.
    #[error("source {source_name}: {problem}")]
    Config {
        /// Source name.
        source_name: String,
        /// What is wrong, with the value.
        problem: String,
    },
}
