use std::collections::BTreeSet;
use std::time::Duration;

use lookout_feed::ConnectionRegistry;
use lookout_feed::simulate::{ServeConfig, SimConfig, serve_tcp};
use lookout_feed::source::{SourceConfig, SourceKind, TcpClientConfig, run_source};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::recv_n;

#[tokio::test]
async fn a_tcp_client_source_receives_the_whole_served_simulation() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = SimConfig {
        vessels: 8,
        hours: 0.25,
        ..SimConfig::default()
    };
    let serve = ServeConfig {
        rate: f64::INFINITY,
        live_start: false,
        ..ServeConfig::default()
    };
    let token = CancellationToken::new();
    let server = {
        let (sim, token) = (sim.clone(), token.clone());
        sentinel::spawn("sim-test", async move {
            serve_tcp(listener, &sim, &serve, token).await
        })
    };

    let (tx, mut rx) = mpsc::channel(256);
    let registry = ConnectionRegistry::new();
    let mut client = SourceConfig::new(
        "sim",
        SourceKind::TcpClient(TcpClientConfig {
            addr: addr.to_string(),
            backoff_initial: Duration::from_millis(50),
            ..TcpClientConfig::default()
        }),
    );
    // Accelerated traffic: only its own clock counts.
    client.clock = lookout_core::ClockMode::Data;
    let feed = sentinel::spawn("feed-test", run_source(client, registry, tx, token.clone()));

    let summary = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap();
    assert!(summary.records > 300, "{summary:?}");
    // Lossless: every record (type 24 A and B are separate records) is one observation.
    let observations = recv_n(&mut rx, summary.records as usize).await;
    let vessels: BTreeSet<u32> = observations.iter().map(|o| o.mmsi).collect();
    assert_eq!(vessels.len(), 8);
    let start = sim.start.as_second();
    assert!(
        observations
            .iter()
            .all(|o| (start..=start + 900).contains(&o.at.as_second()))
    );
    token.cancel();
    let stats = feed.await.unwrap();
    assert_eq!(stats.observations, summary.records);
    assert_eq!(stats.error_count(), 0);
}

#[tokio::test]
async fn serving_at_a_rate_takes_at_least_the_simulated_time_divided_by_the_rate() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // 180 simulated seconds at 1800x: the last record (after 170 s) is due after 94 ms; sleeps
    // never end early, so this lower bound is deterministic (and there is no upper bound).
    let sim = SimConfig {
        vessels: 3,
        hours: 0.05,
        ..SimConfig::default()
    };
    let serve = ServeConfig {
        rate: 1800.0,
        ..ServeConfig::default()
    };
    let token = CancellationToken::new();
    let server = sentinel::spawn("sim-test", {
        let token = token.clone();
        async move { serve_tcp(listener, &sim, &serve, token).await }
    });
    let started = tokio::time::Instant::now();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut received = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut received)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "{:?}",
        started.elapsed()
    );
    let summary = server.await.unwrap();
    assert_eq!(
        received.len() as u64,
        summary.bytes,
        "the client got every byte, then EOF"
    );
}

#[tokio::test]
async fn live_start_stamps_the_simulation_with_todays_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = SimConfig {
        vessels: 3,
        hours: 0.01,
        ..SimConfig::default()
    };
    let serve = ServeConfig {
        rate: f64::INFINITY,
        ..ServeConfig::default()
    };
    let token = CancellationToken::new();
    let server = sentinel::spawn("sim-test", {
        let token = token.clone();
        async move { serve_tcp(listener, &sim, &serve, token).await }
    });
    let before = jiff::Timestamp::now().as_second();
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut received = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut received)
        .await
        .unwrap();
    server.await.unwrap();
    let text = String::from_utf8(received).unwrap();
    let first = text.lines().next().unwrap();
    let c = first.split("c:").nth(1).unwrap();
    let secs: i64 = c[..c.find('*').unwrap()].parse().unwrap();
    assert!((before - 1..=before + 5).contains(&secs), "{first}");
}
