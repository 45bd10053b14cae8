//! One conformance suite for the store, run against SQLite (a temp file) and PostgreSQL (a
//! fresh database per test). Every case is an `async fn(TestDb)`; `conformance!` makes a
//! `sqlite` and a `postgres` test of it.

mod support;

mod commit;
mod digests;

mod dispatch;
mod leases;
