use ais::encode::{EncodeOptions, encode};
use ais::{AisString, Dimensions, Eta, Message, Mmsi, StaticVoyage};
use lookout_core::Report;
use lookout_feed::source::{SourceConfig, SourceKind, UdpConfig, run_udp};
use lookout_feed::{ConnectionRegistry, Direction};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{position_line, recv_n};

#[tokio::test]
async fn datagrams_from_each_sender_are_decoded_with_their_own_decoder() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let registry = ConnectionRegistry::new();
    let (tx, mut rx) = mpsc::channel(16);
    let token = CancellationToken::new();
    let source = SourceConfig::new("udp", SourceKind::Udp(UdpConfig::default()));
    let (r, t) = (registry.clone(), token.clone());
    let task = sentinel::spawn("feed-test", async move {
        run_udp(socket, &source, r, tx, t).await
    });

    // Two lines in one datagram.
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let two = format!(
        "{}{}",
        position_line(211_000_040, None),
        position_line(211_000_041, None)
    );
    a.send_to(two.as_bytes(), addr).await.unwrap();
    let got = recv_n(&mut rx, 2).await;
    assert_eq!((got[0].mmsi, got[1].mmsi), (211_000_040, 211_000_041));

    // A type 5 split over two datagrams from sender A, with sender B's report in between:
    // B's line must not disturb A's reassembly.
    let voyage = StaticVoyage {
        repeat: 0,
        mmsi: Mmsi(211_000_042),
        ais_version: 0,
        imo: 9_123_456,
        callsign: AisString::new("ZMAB").unwrap(),
        shipname: AisString::new("ENDEAVOUR").unwrap(),
        shiptype: 70,
        dimensions: Dimensions {
            to_bow: 100,
            to_stern: 20,
            to_port: 10,
            to_starboard: 10,
        },
        epfd: 1,
        eta: Eta::default(),
        draught: 7.5,
        destination: AisString::new("AUCKLAND").unwrap(),
        dte: false,
    };
    let parts = encode(&Message::StaticVoyage(voyage), &EncodeOptions::default()).unwrap();
    assert_eq!(parts.len(), 2);
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.send_to(format!("{}\r\n", parts[0]).as_bytes(), addr)
        .await
        .unwrap();
    b.send_to(position_line(211_000_043, None).as_bytes(), addr)
        .await
        .unwrap();
    assert_eq!(recv_n(&mut rx, 1).await[0].mmsi, 211_000_043);
    a.send_to(format!("{}\r\n", parts[1]).as_bytes(), addr)
        .await
        .unwrap();
    let got = recv_n(&mut rx, 1).await;
    let Report::Static(statics) = &got[0].report else {
        panic!("expected static data, got {got:?}")
    };
    assert_eq!(statics.name.as_deref(), Some("ENDEAVOUR"));
    assert_eq!(statics.imo, Some(9_123_456));
    assert_eq!(statics.dimensions, Some([100, 20, 10, 10]));

    let conns = registry.connections();
    assert_eq!(conns.len(), 2, "one entry per sender");
    assert!(conns.iter().all(|c| c.direction == Direction::Datagram));
    token.cancel();
    let stats = task.await.unwrap();
    assert_eq!(stats.observations, 4);
    assert_eq!(stats.messages.get(&5), Some(&1));
}

#[tokio::test]
async fn a_silent_sender_is_forgotten() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let registry = ConnectionRegistry::new();
    let (tx, mut rx) = mpsc::channel(16);
    let token = CancellationToken::new();
    let source = SourceConfig::new(
        "udp",
        SourceKind::Udp(UdpConfig {
            peer_idle: std::time::Duration::from_millis(200),
            ..UdpConfig::default()
        }),
    );
    let (r, t) = (registry.clone(), token.clone());
    let task = sentinel::spawn("feed-test", async move {
        run_udp(socket, &source, r, tx, t).await
    });
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sender
        .send_to(position_line(211_000_050, None).as_bytes(), addr)
        .await
        .unwrap();
    recv_n(&mut rx, 1).await;
    assert_eq!(registry.len(), 1);
    let r = registry.clone();
    crate::eventually("the silent sender to be forgotten", || r.is_empty()).await;
    token.cancel();
    assert_eq!(task.await.unwrap().observations, 1, "its counters are kept");
}
