//! Integration tests of the `lookout` binary and service, one module per area.

// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod cli;
mod config;
mod demo;
mod limits;
mod pipeline;
mod replay;
mod service;
mod util;
