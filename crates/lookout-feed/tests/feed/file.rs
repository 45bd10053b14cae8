use std::path::PathBuf;
use std::time::Duration;

use lookout_core::Report;
use lookout_feed::ConnectionRegistry;
use lookout_feed::source::{FileConfig, SourceConfig, SourceKind, Speed, run_source};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::position_line;

/// Replays `path` and returns the observations, the stats and the (virtual) time it took.
async fn replay(
    path: PathBuf,
    speed: Speed,
) -> (
    Vec<lookout_core::Observation>,
    lookout_feed::FeedStats,
    Duration,
) {
    let (tx, mut rx) = mpsc::channel(8);
    let source = SourceConfig::new("file", SourceKind::File(FileConfig { path, speed }));
    let started = tokio::time::Instant::now();
    let task = sentinel::spawn(
        "feed-test",
        run_source(
            source,
            ConnectionRegistry::new(),
            tx,
            CancellationToken::new(),
        ),
    );
    let mut out = Vec::new();
    while let Some(obs) = rx.recv().await {
        out.push(obs);
    }
    let stats = task.await.unwrap();
    (out, stats, started.elapsed())
}

fn write_lines(lines: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.nmea");
    std::fs::write(&path, lines.concat()).unwrap();
    (dir, path)
}

// Paused time: the runtime's clock only moves when every task waits on a timer, so these
// durations are exact virtual times, not wall-clock measurements.
#[tokio::test(start_paused = true)]
async fn speed_factor_paces_by_receiver_timestamps() {
    let t0 = 1_767_225_600;
    let lines: Vec<String> = (0..5)
        .map(|i| position_line(211_000_100 + i, Some(t0 + 10 * i64::from(i))))
        .collect();
    let (_dir, path) = write_lines(&lines);

    // 40 s of recording at 10x: 4 s.
    let (obs, stats, took) = replay(path.clone(), Speed::Factor(10.0)).await;
    assert_eq!(obs.len(), 5);
    assert_eq!(stats.observations, 5);
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_millis(4500),
        "{took:?}"
    );
    assert_eq!(obs[4].at.as_second(), t0 + 40);

    // As fast as possible: no timer at all.
    let (obs, _, took) = replay(path, Speed::Max).await;
    assert_eq!(obs.len(), 5);
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[tokio::test]
async fn a_missing_file_is_an_error_naming_it() {
    let (tx, _rx) = mpsc::channel(1);
    let source = SourceConfig::new(
        "file",
        SourceKind::File(FileConfig {
            path: "/nonexistent/feed.nmea".into(),
            speed: Speed::Max,
        }),
    );
    let err = run_source(
        source,
        ConnectionRegistry::new(),
        tx,
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/feed.nmea"), "{err}");
}

fn shared_data() -> Option<PathBuf> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/ais/dma/stream_example.txt"
    ));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("LOOKOUT_REQUIRE_DATA").as_deref() != Ok("1"),
        "LOOKOUT_REQUIRE_DATA=1 but {} is missing",
        path.display()
    );
    println!(
        "skipping: {} not found (set LOOKOUT_REQUIRE_DATA=1 to fail instead)",
        path.display()
    );
    None
}

#[tokio::test]
async fn the_dma_recording_replays_with_pghp_times_and_no_base_stations() {
    let Some(path) = shared_data() else { return };
    let path_copy = path.clone();
    let (obs, stats, _) = replay(path, Speed::Max).await;
    // About 4,500 AIS sentences, most after a $PGHP line; every line is accounted for.
    let n_lines = std::fs::read_to_string(&path_copy).unwrap().lines().count() as u64;
    assert_eq!(stats.lines, n_lines);
    assert_eq!(
        stats.sentences_ok + stats.lines_ignored + stats.error_count(),
        n_lines,
        "{stats:?}"
    );
    assert!(stats.sentences_ok >= 4400, "{stats:?}");
    assert!(stats.base_stations > 0, "{stats:?}");
    assert_eq!(stats.observations, obs.len() as u64);
    assert!(obs.len() > 3000, "{} observations", obs.len());
    // Event time comes from $PGHP: 2010-06-11, not the ingest clock.
    assert!(
        obs.iter()
            .all(|o| o.at.to_string().starts_with("2010-06-11"))
    );
    assert!(obs.iter().any(|o| matches!(o.report, Report::Static(_))));
    assert!(stats.error_count() < 50, "{stats:?}");
}
