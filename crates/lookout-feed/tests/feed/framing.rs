//! One framing rule: the same bytes (mixed `\n`, `\r\n` and lone `\r` terminators, an over-long
//! line, no final newline) give the same sentences through `lookout replay`'s framing
//! (`ais::read::Lines`), `ais::Decoder::feed`, a `file` source and a TCP source.

use std::time::Duration;

use lookout_feed::source::{
    FileConfig, SourceConfig, SourceKind, Speed, TcpServerConfig, run_source, run_tcp_server,
};
use lookout_feed::{ConnectionRegistry, FeedStats};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{eventually, position_line, recv_n};

/// What a path made of the input: the MMSIs of the position reports, in order, and how many
/// over-long lines it discarded.
#[derive(Debug, PartialEq)]
struct Seen {
    mmsis: Vec<u32>,
    too_long: u64,
}

/// Six sentences with every kind of terminator, an over-long line in the middle and no newline
/// at the end.
fn input() -> Vec<u8> {
    let line = |mmsi: u32| position_line(mmsi, None).trim_end().to_owned();
    let mut text = String::new();
    text += &format!("{}\n", line(211_000_001));
    text += &format!("{}\r\n", line(211_000_002));
    text += &format!("{}\r", line(211_000_003));
    text += &format!("{}\r\n", line(211_000_004));
    text += &"x".repeat(3000);
    text += "\n\r\n";
    text += &format!("{}\r\r", line(211_000_005));
    text += &line(211_000_006);
    text.into_bytes()
}

fn expected() -> Seen {
    Seen {
        mmsis: (1..=6).map(|i| 211_000_000 + i).collect(),
        too_long: 1,
    }
}

fn seen_in_items(items: impl IntoIterator<Item = ais::Item>) -> Seen {
    let mut seen = Seen {
        mmsis: Vec::new(),
        too_long: 0,
    };
    for (_, result) in items {
        match result {
            Ok(ais::Message::Position(p)) => seen.mmsis.push(p.mmsi.0),
            Err(ais::DecodeError::LineTooLong { .. }) => seen.too_long += 1,
            other => panic!("unexpected item {other:?}"),
        }
    }
    seen
}

fn seen_in_observations(obs: &[lookout_core::Observation], stats: &FeedStats) -> Seen {
    Seen {
        mmsis: obs.iter().map(|o| o.mmsi).collect(),
        too_long: stats.lines_too_long,
    }
}

#[test]
fn replay_framing_reads_the_same_sentences() {
    let input = input();
    let items = ais::read::Lines::new(&input[..], ais::Decoder::new()).map(|r| r.unwrap());
    assert_eq!(seen_in_items(items), expected());
}

#[test]
fn decoder_feed_reads_the_same_sentences_in_any_chunking() {
    let input = input();
    for size in [1, 7, 64, input.len()] {
        let mut decoder = ais::Decoder::new();
        let mut items = Vec::new();
        for chunk in input.chunks(size) {
            items.extend(decoder.feed(chunk));
        }
        items.extend(decoder.finish());
        assert_eq!(seen_in_items(items), expected(), "chunks of {size}");
    }
}

#[tokio::test]
async fn a_file_source_reads_the_same_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.nmea");
    std::fs::write(&path, input()).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let source = SourceConfig::new(
        "file",
        SourceKind::File(FileConfig {
            path,
            speed: Speed::Max,
        }),
    );
    let task = sentinel::spawn(
        "feed-test",
        run_source(
            source,
            ConnectionRegistry::new(),
            tx,
            CancellationToken::new(),
        ),
    );
    let mut obs = Vec::new();
    while let Some(o) = rx.recv().await {
        obs.push(o);
    }
    let stats = task.await.unwrap();
    assert_eq!(seen_in_observations(&obs, &stats), expected());
}

#[tokio::test]
async fn a_tcp_source_reads_the_same_sentences() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = ConnectionRegistry::new();
    let (tx, mut rx) = mpsc::channel(64);
    let token = CancellationToken::new();
    let source = SourceConfig::new(
        "receivers",
        SourceKind::TcpServer(TcpServerConfig::default()),
    );
    let (r, t) = (registry.clone(), token.clone());
    let task = sentinel::spawn("feed-test", async move {
        run_tcp_server(listener, &source, r, tx, t).await
    });

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // Small writes, so terminators (`\r` | `\n`) and the long line straddle reads.
    for chunk in input().chunks(7) {
        stream.write_all(chunk).await.unwrap();
        stream.flush().await.unwrap();
    }
    stream.shutdown().await.unwrap();
    drop(stream);

    let obs = recv_n(&mut rx, expected().mmsis.len()).await;
    eventually("the connection to end", || registry.is_empty()).await;
    token.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen_in_observations(&obs, &stats), expected());
}
