//! Feed sources: where AIS lines come from. Each source runs until its token is cancelled (a
//! file until its end), pushes [`Observation`]s into a bounded channel (waiting when it is
//! full, so a slow tracker slows the feed instead of growing a queue), and registers every
//! connection in the [`ConnectionRegistry`].
//!
//! | source | timeouts | limits |
//! |---|---|---|
//! | [`TcpClientConfig`] | dial, stall (no bytes for N s → drop and redial) | backoff 1 s → 60 s with jitter |
//! | [`TcpServerConfig`] | idle (a line must complete within it) | connections, per peer, line length |
//! | [`UdpConfig`] | peer idle (forget a sender's decoder) | peers, line length |
//! | [`FileConfig`] | — | line length; paced by receiver timestamps at `speed` |

mod file;
mod tcp_client;
mod tcp_server;
mod udp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_core::Observation;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use tcp_server::run_tcp_server;
pub use udp::run_udp;

use crate::error::FeedError;
use crate::ingest::{Closed, FeedStats, Ingest};
use crate::lines::{Frame, LineReader};
use crate::registry::{ConnectionRegistry, SourceState};

/// Default maximum line length in bytes (an NMEA sentence is at most 82, a tag block adds ~100).
pub const DEFAULT_MAX_LINE: usize = 1024;

/// One configured source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Name used in metrics labels, logs and `/connections`.
    pub name: String,
    /// Longest line accepted, in bytes; longer lines are discarded and counted, and the
    /// connection continues.
    pub max_line: usize,
    /// What kind of source.
    pub kind: SourceKind,
    /// Which clock times its observations (default `live`: receiver time bounded by ingest
    /// time). Use `data` for a network source serving recorded or accelerated traffic (the
    /// simulator of `lookout demo` / `lookout simulate`). File sources always use `data`.
    pub clock: lookout_core::ClockMode,
}

impl SourceConfig {
    /// A source with the default line limit.
    pub fn new(name: impl Into<String>, kind: SourceKind) -> SourceConfig {
        SourceConfig {
            name: name.into(),
            max_line: DEFAULT_MAX_LINE,
            kind,
            clock: lookout_core::ClockMode::Live,
        }
    }
}

/// The kinds of source.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SourceKind {
    /// We dial a feed.
    TcpClient(TcpClientConfig),
    /// Receivers connect to us.
    TcpServer(TcpServerConfig),
    /// Receivers send datagrams.
    Udp(UdpConfig),
    /// A recorded file.
    File(FileConfig),
}

/// A TCP feed we dial.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpClientConfig {
    /// `host:port` of the feed.
    pub addr: String,
    /// Limit on one dial (DNS and TCP handshake).
    pub dial_timeout: Duration,
    /// A connection that delivers no bytes for this long is dropped and redialled.
    pub stall_timeout: Duration,
    /// First reconnect delay (doubles per failure, with jitter).
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl Default for TcpClientConfig {
    fn default() -> TcpClientConfig {
        TcpClientConfig {
            addr: "127.0.0.1:4001".to_owned(),
            dial_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// A TCP listener receivers push to.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Most connections at once; more are accepted and closed at once (counted).
    pub max_connections: usize,
    /// Most connections from one IP address.
    pub max_per_peer: usize,
    /// A connection that completes no line for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for TcpServerConfig {
    fn default() -> TcpServerConfig {
        TcpServerConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 4002)),
            max_connections: 64,
            max_per_peer: 4,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// A UDP socket receivers send datagrams to (one or more lines per datagram).
#[derive(Debug, Clone, PartialEq)]
pub struct UdpConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Most senders tracked at once (each has its own decoder); the least recently heard is
    /// forgotten first.
    pub max_peers: usize,
    /// A sender silent for this long is forgotten.
    pub peer_idle: Duration,
}

impl Default for UdpConfig {
    fn default() -> UdpConfig {
        UdpConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 4003)),
            max_peers: 256,
            peer_idle: Duration::from_secs(600),
        }
    }
}

/// How fast to replay a file.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Speed {
    /// As fast as the tracker takes it.
    #[default]
    Max,
    /// This many times real time, by the receiver timestamps (`c:` or `$PGHP`); lines without
    /// one are not delayed.
    Factor(f64),
}

/// A recorded file to replay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileConfig {
    /// The file.
    pub path: PathBuf,
    /// Replay speed.
    pub speed: Speed,
}

/// Shared by every connection of one source.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) name: Arc<str>,
    pub(crate) max_line: usize,
    pub(crate) registry: ConnectionRegistry,
    pub(crate) out: mpsc::Sender<Observation>,
    pub(crate) token: CancellationToken,
    pub(crate) stats: Arc<Mutex<FeedStats>>,
    /// The source's clock mode, handed to every connection's `Ingest`.
    pub(crate) clock: lookout_core::ClockMode,
}

impl Ctx {
    pub(crate) fn new(
        name: &str,
        max_line: usize,
        registry: ConnectionRegistry,
        out: mpsc::Sender<Observation>,
        token: CancellationToken,
    ) -> Ctx {
        Ctx {
            name: Arc::from(name),
            max_line: max_line.max(16),
            registry,
            out,
            token,
            stats: Arc::new(Mutex::new(FeedStats::default())),
            clock: lookout_core::ClockMode::Live,
        }
    }

    /// Adds a finished connection's counters to the source's.
    pub(crate) fn merge(&self, stats: &FeedStats) {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(stats);
    }

    pub(crate) fn totals(&self) -> FeedStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn state(&self, state: SourceState, error: Option<String>) {
        self.registry.set_source_state(&self.name, state, error);
    }
}

/// Runs one source until `token` is cancelled, the receiver of `out` is dropped, or (for a
/// file) its end. Returns the source's counters.
///
/// Errors are only what cannot heal by waiting: a socket that cannot be bound, a file that
/// cannot be read. A feed that refuses or drops connections is redialled forever.
///
/// # Cancel safety
/// Cancel the `token` instead of dropping the future, so connections end cleanly and the
/// counters are returned.
pub async fn run_source(
    config: SourceConfig,
    registry: ConnectionRegistry,
    out: mpsc::Sender<Observation>,
    token: CancellationToken,
) -> Result<FeedStats, FeedError> {
    let mut ctx = Ctx::new(&config.name, config.max_line, registry, out, token);
    ctx.clock = config.clock;
    ctx.state(SourceState::Starting, None);
    let result = match &config.kind {
        SourceKind::TcpClient(c) => tcp_client::run(&ctx, c).await,
        SourceKind::TcpServer(c) => {
            let listener = tokio::net::TcpListener::bind(c.bind)
                .await
                .map_err(|source| FeedError::Bind {
                    source_name: config.name.clone(),
                    addr: c.bind.to_string(),
                    source,
                })?;
            tcp_server::serve(&ctx, listener, c).await
        }
        SourceKind::Udp(c) => {
            let socket = tokio::net::UdpSocket::bind(c.bind)
                .await
                .map_err(|source| FeedError::Bind {
                    source_name: config.name.clone(),
                    addr: c.bind.to_string(),
                    source,
                })?;
            udp::serve(&ctx, socket, c).await
        }
        SourceKind::File(c) => file::run(&ctx, c).await,
    };
    ctx.state(
        SourceState::Stopped,
        result.as_ref().err().map(|e| e.to_string()),
    );
    result.map(|()| ctx.totals())
}

/// How a connection's read loop ended.
#[derive(Debug)]
pub(crate) enum ConnEnd {
    /// The peer closed the stream.
    Eof,
    /// No line completed within the idle/stall timeout.
    Idle,
    /// Reading failed.
    Error(std::io::Error),
    /// The token was cancelled.
    Cancelled,
    /// The observation channel is closed.
    Closed,
}

/// Reads lines from `reader` into `ingest` until the stream ends, a line takes longer than
/// `idle`, or the token is cancelled.
pub(crate) async fn read_lines<R: AsyncRead + Unpin>(
    reader: R,
    ingest: &mut Ingest,
    max_line: usize,
    idle: Option<Duration>,
    token: &CancellationToken,
) -> ConnEnd {
    let mut lines = LineReader::new(reader, max_line);
    loop {
        // Bytes are counted one line late: the previous frame borrowed the reader.
        ingest.bytes(lines.take_read());
        let frame = tokio::select! {
            biased;
            () = token.cancelled() => return ConnEnd::Cancelled,
            frame = maybe_timeout(idle, lines.next_frame()) => frame,
        };
        let line = match frame {
            Some(Ok(Some(Frame::Line(line)))) => line,
            Some(Ok(Some(Frame::TooLong { len }))) => {
                ingest.too_long(len);
                continue;
            }
            None => return finish(&mut lines, ingest, ConnEnd::Idle),
            Some(Err(e)) => return finish(&mut lines, ingest, ConnEnd::Error(e)),
            Some(Ok(None)) => return finish(&mut lines, ingest, ConnEnd::Eof),
        };
        let sent: Result<(), Closed> = tokio::select! {
            biased;
            () = token.cancelled() => return ConnEnd::Cancelled,
            r = ingest.line(line) => r,
        };
        if sent.is_err() {
            return ConnEnd::Closed;
        }
    }
}

fn finish<R>(lines: &mut LineReader<R>, ingest: &mut Ingest, end: ConnEnd) -> ConnEnd {
    ingest.bytes(lines.take_read());
    end
}

/// `fut` with an optional time limit; `None` when the limit passed.
async fn maybe_timeout<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, fut).await.ok(),
        None => Some(fut.await),
    }
}
