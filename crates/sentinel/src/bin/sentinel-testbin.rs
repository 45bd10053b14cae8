//! Helper binary for sentinel's subprocess tests (signals, exit codes). Not part of the public API.
fn main() {}
