//! Measures the simulator's generation rate and the file source's replay rate.
//!
//! `cargo run --release -p lookout-feed --example feed_throughput [VESSELS] [HOURS]`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use lookout_feed::ConnectionRegistry;
use lookout_feed::simulate::{SimConfig, run_to_file};
use lookout_feed::source::{FileConfig, SourceConfig, SourceKind, Speed, run_source};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let vessels = args.next().and_then(|s| s.parse().ok()).unwrap_or(500);
    let hours = args.next().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.nmea");
    let config = SimConfig {
        vessels,
        hours,
        ..SimConfig::default()
    };
    let started = Instant::now();
    let summary = run_to_file(&config, &path).unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "simulate: {vessels} vessels x {hours} h = {} records, {} sentences, {} MB in {secs:.2} s ({:.0} sentences/s)",
        summary.records,
        summary.sentences,
        summary.bytes / 1_000_000,
        summary.sentences as f64 / secs
    );

    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let drain = sentinel::spawn("drain", async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        Ok::<u64, std::convert::Infallible>(n)
    });
    let source = SourceConfig::new(
        "file",
        SourceKind::File(FileConfig {
            path: path.clone(),
            speed: Speed::Max,
        }),
    );
    let started = Instant::now();
    let stats = run_source(
        source,
        ConnectionRegistry::new(),
        tx,
        sentinel::CancellationToken::new(),
    )
    .await
    .unwrap();
    let n = drain.await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "replay (file source, decode + adapt + bounded channel): {} lines, {n} observations in {secs:.2} s ({:.0} lines/s)",
        stats.lines,
        stats.lines as f64 / secs
    );
}
