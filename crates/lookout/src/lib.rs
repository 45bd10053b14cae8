//! Lookout, the vessel alert service, as a library: the `lookout` binary is a thin shell over
//! [`cli::run`], and integration tests drive the same functions.
//!
//! Start reading at [`commands`] (one module per subcommand, each owning its arguments); the
//! service itself is wired in [`service`], top to bottom along the data path. Dependencies
//! point one way: `cli` → `commands` → `setup`/`service`/`runtime` → `ops`, with `config` (the
//! files, read into each stage crate's typed config), `error` and `args` as leaves.

pub mod api;
pub mod args;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod delivery_metrics;
pub mod demo_receiver;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod logging;
pub mod metrics_catalogue;
pub mod ops;
pub mod process;
#[cfg(feature = "profiling")]
pub mod profiling;
pub mod routing;
pub mod runtime;
pub mod service;
pub mod setup;
pub mod status;
pub mod tokens;
