//! Integration tests of the `ais` crate: gpsd conformance, corruption robustness, encoder
//! round trips and streaming behaviour.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    unreachable_pub
)]

mod alloc;
mod common;
#[cfg(feature = "json")]
mod conformance;
mod corruption;
#[cfg(feature = "json")]
mod roundtrip;
mod stream;
