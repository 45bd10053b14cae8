//! Shared helpers: locating the shared AIS data and skipping when it is absent.

use std::path::PathBuf;

/// `../shared/data/ais` relative to the workspace root.
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/ais"
    ))
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// The AIS data files, or `None` (after printing why) when the data folder is absent and
/// `LOOKOUT_REQUIRE_DATA` / `extra_require` is not set to 1.
pub fn ais_files(extra_require: &str) -> Option<Vec<PathBuf>> {
    let dir = data_dir();
    if !dir.is_dir() {
        if required("LOOKOUT_REQUIRE_DATA") || required(extra_require) {
            panic!(
                "AIS test data missing at {} (required by env)",
                dir.display()
            );
        }
        eprintln!("SKIP: AIS test data not found at {}", dir.display());
        return None;
    }
    let mut files = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let is_ais = [".txt", ".log", ".aivdm", ".nmea", ".ais"]
                .iter()
                .any(|e| name.ends_with(e))
                && !name.starts_with("LICENSE")
                && !name.starts_with("NOTICE");
            if is_ais {
                files.push(f);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no AIS files under {}", dir.display());
    Some(files)
}

/// The DMA stream file (the benchmark input).
pub fn dma_stream() -> Option<Vec<u8>> {
    let path = data_dir().join("dma/stream_example.txt");
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            if required("LOOKOUT_REQUIRE_DATA") {
                panic!("cannot read {}: {e}", path.display());
            }
            eprintln!("SKIP: {} not readable: {e}", path.display());
            None
        }
    }
}
