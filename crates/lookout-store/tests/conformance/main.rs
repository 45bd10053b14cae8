//! One conformance suite for the store, run against SQLite (a temp file) and PostgreSQL (a
//! fresh database per test). Every case is an `async fn(TestDb)`; `conformance!` makes a
//! `sqlite` and a `postgres` test of it.

// Test helpers outside #[test] functions: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

mod commit;
mod crash;
mod digests;

mod dispatch;
mod fairness;
mod holes;
mod isolation;
mod leases;
mod metrics;
mod model;
