//! One module per subcommand, each owning its arguments (`Args`) and its entry function
//! (`run`). [`crate::cli`] only dispatches to them.

pub mod chaos;
pub mod check;
pub mod decode;
pub mod demo;
pub mod export;
pub mod import;
pub mod migrate;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod token;
