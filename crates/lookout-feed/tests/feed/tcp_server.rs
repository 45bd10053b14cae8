use std::time::Duration;

use lookout_feed::source::{SourceConfig, SourceKind, TcpServerConfig, run_tcp_server};
use lookout_feed::{ConnectionRegistry, Direction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{eventually, position_line, recv_n};

struct Server {
    addr: std::net::SocketAddr,
    registry: ConnectionRegistry,
    rx: mpsc::Receiver<lookout_core::Observation>,
    token: CancellationToken,
    task: sentinel::TaskHandle<lookout_feed::FeedStats>,
}

async fn start(config: TcpServerConfig, max_line: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = ConnectionRegistry::new();
    let (tx, rx) = mpsc::channel(64);
    let token = CancellationToken::new();
    let mut source = SourceConfig::new("receivers", SourceKind::TcpServer(config));
    source.max_line = max_line;
    let (r, t) = (registry.clone(), token.clone());
    let task = sentinel::spawn("feed-test", async move {
        run_tcp_server(listener, &source, r, tx, t).await
    });
    Server {
        addr,
        registry,
        rx,
        token,
        task,
    }
}

/// True when the server closed `stream` (EOF or reset) within 10 s.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    let mut server = start(
        TcpServerConfig {
            max_connections: 1,
            ..TcpServerConfig::default()
        },
        1024,
    )
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(position_line(211_000_010, None).as_bytes())
        .await
        .unwrap();
    recv_n(&mut server.rx, 1).await;
    let snapshot = server.registry.connections();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].direction, Direction::Inbound);

    let mut second = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_by_server(&mut second).await,
        "second connection must be refused"
    );

    // The first still works, and once it leaves there is room again.
    first
        .write_all(position_line(211_000_011, None).as_bytes())
        .await
        .unwrap();
    recv_n(&mut server.rx, 1).await;
    drop(first);
    let registry = server.registry.clone();
    eventually("the first connection to leave", || registry.is_empty()).await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third
        .write_all(position_line(211_000_012, None).as_bytes())
        .await
        .unwrap();
    assert_eq!(recv_n(&mut server.rx, 1).await[0].mmsi, 211_000_012);

    server.token.cancel();
    let stats = server.task.await.unwrap();
    assert_eq!(stats.observations, 3);
}

#[tokio::test]
async fn the_per_peer_limit_applies_per_address() {
    let mut server = start(
        TcpServerConfig {
            max_connections: 10,
            max_per_peer: 1,
            ..TcpServerConfig::default()
        },
        1024,
    )
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(position_line(211_000_013, None).as_bytes())
        .await
        .unwrap();
    recv_n(&mut server.rx, 1).await;
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_by_server(&mut second).await,
        "same peer over its limit"
    );
    server.token.cancel();
    server.task.await.unwrap();
}

#[tokio::test]
async fn an_over_long_line_is_discarded_and_the_connection_continues() {
    let mut server = start(TcpServerConfig::default(), 200).await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let mut input = vec![b'!'; 100_000];
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(position_line(211_000_020, None).as_bytes());
    conn.write_all(&input).await.unwrap();
    assert_eq!(recv_n(&mut server.rx, 1).await[0].mmsi, 211_000_020);
    let c = &server.registry.connections()[0];
    assert_eq!((c.errors, c.sentences), (1, 1), "{c:?}");
    assert!(c.bytes >= 100_000);
    server.token.cancel();
    let stats = server.task.await.unwrap();
    assert_eq!(stats.lines_too_long, 1);
    assert_eq!(stats.observations, 1);
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_bad_sentences_are_counted() {
    let mut server = start(
        TcpServerConfig {
            idle_timeout: Duration::from_millis(200),
            ..TcpServerConfig::default()
        },
        1024,
    )
    .await;
    let mut conn = TcpStream::connect(server.addr).await.unwrap();
    let mut bad = position_line(211_000_030, None);
    bad.replace_range(bad.len() - 4..bad.len() - 2, "00"); // wrong checksum
    conn.write_all(bad.as_bytes()).await.unwrap();
    conn.write_all(b"$GPGGA,not,ais*00\r\n").await.unwrap();
    conn.write_all(position_line(211_000_031, None).as_bytes())
        .await
        .unwrap();
    assert_eq!(recv_n(&mut server.rx, 1).await[0].mmsi, 211_000_031);
    assert!(
        closed_by_server(&mut conn).await,
        "idle connection must be closed"
    );
    server.token.cancel();
    let stats = server.task.await.unwrap();
    assert_eq!(stats.lines, 3);
    assert_eq!(stats.errors.get("checksum"), Some(&1), "{stats:?}");
    assert_eq!(stats.lines_ignored, 1);
}

/// Captured log output (a `tracing_subscriber` writer).
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sentinel::sync::lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of a connection is in its `connection` span, whose `connection_id` is the id
/// `/connections` shows.
#[tokio::test]
async fn connection_log_lines_carry_the_connection_id() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // A current-thread runtime: the server's tasks log on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut server = start(TcpServerConfig::default(), 1024).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(position_line(211_000_020, None).as_bytes())
        .await
        .unwrap();
    recv_n(&mut server.rx, 1).await;
    let id = server.registry.connections()[0].id;
    drop(stream);
    let registry = server.registry.clone();
    eventually("the connection to leave", || registry.is_empty()).await;
    server.token.cancel();
    server.task.await.unwrap();

    let text = String::from_utf8(sentinel::sync::lock(&logs.0).clone()).unwrap();
    for message in ["receiver connected", "receiver disconnected"] {
        let line = text
            .lines()
            .find(|l| l.contains(message))
            .unwrap_or_else(|| panic!("no {message:?} in {text}"));
        assert!(line.contains(&format!("connection_id={id}")), "{line}");
    }
}
