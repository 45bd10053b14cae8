//! Integration tests for sentinel: one binary, one module per area. Each replays a failure from the background
//! material (issue 2, §3) with real tasks, real timers and, for shutdown and escalation, a real subprocess.

// Test helpers outside #[test] functions are still test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod batch;
#[cfg(feature = "http")]
mod example;
mod fanout;
mod heartbeat;
mod observed;
mod retry;
mod shutdown;
mod subprocess;
mod supervise;
mod support;
