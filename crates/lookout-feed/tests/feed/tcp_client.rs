use std::time::Duration;

use lookout_feed::ConnectionRegistry;
use lookout_feed::source::{SourceConfig, SourceKind, TcpClientConfig, run_source};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{position_line, recv_n};

fn client(addr: std::net::SocketAddr, stall: Duration) -> SourceConfig {
    // The recorded tag-block times are from 2026: a data clock keeps them as they are.
    let mut config = SourceConfig::new(
        "upstream",
        SourceKind::TcpClient(TcpClientConfig {
            addr: addr.to_string(),
            dial_timeout: Duration::from_secs(2),
            stall_timeout: stall,
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
        }),
    );
    config.clock = lookout_core::ClockMode::Data;
    config
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = ConnectionRegistry::new();
    let (tx, mut rx) = mpsc::channel(16);
    let token = CancellationToken::new();
    let source = sentinel::spawn(
        "feed-test",
        run_source(
            client(addr, Duration::from_secs(30)),
            registry.clone(),
            tx,
            token.clone(),
        ),
    );

    // First connection: one report, then the server hangs up.
    let (mut first, _) = listener.accept().await.unwrap();
    first
        .write_all(position_line(211_000_001, Some(1_767_225_600)).as_bytes())
        .await
        .unwrap();
    let got = recv_n(&mut rx, 1).await;
    assert_eq!(got[0].mmsi, 211_000_001);
    assert_eq!(
        got[0].at.as_second(),
        1_767_225_600,
        "event time from the tag block"
    );
    drop(first);

    // The client redials; the second connection delivers too.
    let (mut second, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    second
        .write_all(position_line(211_000_002, None).as_bytes())
        .await
        .unwrap();
    let got = recv_n(&mut rx, 1).await;
    assert_eq!(got[0].mmsi, 211_000_002);

    let snapshot = registry.snapshot();
    assert_eq!(snapshot.sources[0].reconnects, 1);
    assert_eq!(snapshot.connections.len(), 1);
    assert_eq!(snapshot.connections[0].sentences, 1);

    token.cancel();
    let stats = source.await.unwrap();
    assert_eq!(stats.observations, 2);
    assert!(
        registry.is_empty(),
        "connections leave the registry when they end"
    );
}

#[tokio::test]
async fn a_stalled_feed_is_dropped_and_redialled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = ConnectionRegistry::new();
    let (tx, mut rx) = mpsc::channel(16);
    let token = CancellationToken::new();
    let source = sentinel::spawn(
        "feed-test",
        run_source(
            client(addr, Duration::from_millis(300)),
            registry.clone(),
            tx,
            token.clone(),
        ),
    );

    // The feed sends one line and then nothing, keeping the socket open.
    let (mut stalled, _) = listener.accept().await.unwrap();
    stalled
        .write_all(position_line(211_000_003, None).as_bytes())
        .await
        .unwrap();
    recv_n(&mut rx, 1).await;
    // The client gives up on it and dials again while we still hold the first socket.
    let (mut fresh, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    fresh
        .write_all(position_line(211_000_004, None).as_bytes())
        .await
        .unwrap();
    assert_eq!(recv_n(&mut rx, 1).await[0].mmsi, 211_000_004);
    let source_state = &registry.snapshot().sources[0];
    assert!(
        source_state
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("stalled"),
        "{source_state:?}"
    );
    drop(stalled);

    token.cancel();
    source.await.unwrap();
}

#[tokio::test]
async fn a_refused_dial_is_retried_until_the_feed_appears() {
    // Reserve a port, then close it so the first dials are refused.
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let registry = ConnectionRegistry::new();
    let (tx, mut rx) = mpsc::channel(16);
    let token = CancellationToken::new();
    let source = sentinel::spawn(
        "feed-test",
        run_source(
            client(addr, Duration::from_secs(30)),
            registry.clone(),
            tx,
            token.clone(),
        ),
    );
    crate::eventually("a failed dial", || {
        registry
            .snapshot()
            .sources
            .first()
            .is_some_and(|s| s.reconnects >= 2)
    })
    .await;
    let listener = TcpListener::bind(addr).await.unwrap();
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    conn.write_all(position_line(211_000_005, None).as_bytes())
        .await
        .unwrap();
    assert_eq!(recv_n(&mut rx, 1).await[0].mmsi, 211_000_005);
    token.cancel();
    source.await.unwrap();
}
