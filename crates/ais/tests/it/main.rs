//! Integration tests of the `ais` crate: gpsd conformance, corruption robustness, encoder
//! round trips and streaming behaviour.

mod common;
mod conformance;
mod corruption;
mod roundtrip;
mod stream;
