//! Lookout, the vessel alert service, as a library: the `lookout` binary is a thin shell over
//! [`cli::run`], and integration tests drive the same functions.
//!
//! Start reading at [`cli`] (one function per subcommand); the service itself is wired in
//! [`service`], top to bottom along the data path.

pub mod cli;
pub mod decode;
pub mod demo_receiver;
pub mod logging;
pub mod ops;
pub mod replay;
pub mod run;
pub mod service;
pub mod setup;
