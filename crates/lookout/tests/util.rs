//! Shared helpers: paths to test data, the built binary, skip rules.

use std::path::PathBuf;

/// The `lookout` binary built for these tests.
pub(crate) fn lookout() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
}

/// `testdata/` of this repository.
pub(crate) fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(rel)
}

/// A file of `../shared/data`, or `None` (after saying why) when it is absent and
/// `LOOKOUT_REQUIRE_DATA` is not set.
pub(crate) fn shared_data(rel: &str) -> Option<PathBuf> {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("LOOKOUT_REQUIRE_DATA").is_none(),
        "LOOKOUT_REQUIRE_DATA is set but {} is missing",
        path.display()
    );
    eprintln!(
        "skipped: {} is absent (set LOOKOUT_REQUIRE_DATA=1 to fail instead)",
        path.display()
    );
    None
}
