//! Integration tests of the `lookout` binary and service, one module per area.

// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod api;
mod browser;
mod chaos;
mod cli;
mod cluster;
mod config;
mod dashboard;
mod demo;
mod leaks;
mod limits;
mod live_model;
mod logs;
mod metrics_catalogue;
mod model_files;
mod obs_util;
mod pipeline;
#[cfg(feature = "fault-injection")]
mod prometheus_e2e;
mod replay;
mod service;
mod status_page;
mod tokens;
mod util;
