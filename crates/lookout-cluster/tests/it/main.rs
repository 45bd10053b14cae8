//! Integration tests of `lookout-cluster` against real servers: the machine's PostgreSQL (a fresh database per
//! test) and own `nats-server -js` instances started by the rig on free ports.

// Test helpers outside #[test] functions: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod leader;
mod log;
mod partitions;
mod rig;
mod runner;
mod support;
