//! Integration tests of the feed sources and the simulator, over real sockets on 127.0.0.1.

// Helpers outside #[test] functions unwrap too, and the data-skip message goes to stdout.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod file;
mod framing;
mod simulate;
mod tcp_client;
mod tcp_server;
mod udp;

use std::time::Duration;

use ais::encode::{EncodeOptions, TagBlockOptions, encode};
use ais::{Message, Mmsi, PositionReport};
use lookout_core::Observation;
use tokio::sync::mpsc;

/// A type 1 sentence for `mmsi`, with a tag-block time when `unix` is given, ending in `\r\n`.
pub(crate) fn position_line(mmsi: u32, unix: Option<i64>) -> String {
    let report = PositionReport::class_a(Mmsi(mmsi), -36.5, 175.0);
    let mut options = EncodeOptions::default();
    if let Some(t) = unix {
        options = options.tag_block(TagBlockOptions::new().time(t));
    }
    let mut lines = encode(&Message::Position(report), &options).unwrap();
    format!("{}\r\n", lines.remove(0))
}

/// Receives `n` observations, failing the test after 10 s.
pub(crate) async fn recv_n(rx: &mut mpsc::Receiver<Observation>, n: usize) -> Vec<Observation> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        match next {
            Ok(Some(obs)) => out.push(obs),
            Ok(None) => panic!("channel closed after {} of {n} observations", out.len()),
            Err(_) => panic!("timed out after {} of {n} observations", out.len()),
        }
    }
    out
}

/// Polls `check` every 10 ms until it holds, failing the test after 10 s.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
