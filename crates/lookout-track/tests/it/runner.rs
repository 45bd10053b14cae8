//! Sharded runner.
