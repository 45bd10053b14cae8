//! Integration tests of the `lookout` binary and service, one module per area.

mod cli;
mod demo;
mod replay;
mod service;
mod util;
