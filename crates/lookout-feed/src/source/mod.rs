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
//!
//! Each config struct derives `Deserialize` with its defaults (one set, in the private `defaults` module); a
//! `[[sources]]` table is a `kind`, the [`SourceOptions`] and that kind's struct
//! ([`SourceKind::deserialize_kind`]).

mod file;
mod tcp_client;
mod tcp_server;
mod udp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_core::Observation;
use lookout_core::config::{duration, positive, socket_addr};
use serde::{Deserialize, Deserializer};
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

    /// A source from its configured options and kind; `default_name` when none is given.
    pub fn from_options(
        options: SourceOptions,
        kind: SourceKind,
        default_name: impl FnOnce() -> String,
    ) -> SourceConfig {
        SourceConfig {
            name: options.name.unwrap_or_else(default_name),
            max_line: options.max_line,
            kind,
            clock: options.clock,
        }
    }
}

/// The options every kind of source has, as written in a `[[sources]]` table:
///
/// ```toml
/// [[sources]]
/// kind = "tcp_client"        # selects the kind, see SourceKind::deserialize_kind
/// name = "aishub"            # SourceOptions (default source-N)
/// max_line = 1024            # SourceOptions
/// addr = "feed.example:4001" # TcpClientConfig
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SourceOptions {
    /// Name in metrics, logs and `/connections`.
    #[serde(default)]
    pub name: Option<String>,
    /// Longest line accepted, in bytes (default [`DEFAULT_MAX_LINE`]).
    #[serde(default = "defaults::max_line", deserialize_with = "positive")]
    pub max_line: usize,
    /// `live` (default: receiver time bounded by ingest time) or `data` (recorded or
    /// accelerated traffic: only the data's own time counts).
    #[serde(default)]
    pub clock: lookout_core::ClockMode,
}

impl SourceOptions {
    /// The keys of [`SourceOptions`] (the rest of a source table belongs to its kind). A test
    /// keeps this list equal to the struct's fields.
    pub const FIELDS: &'static [&'static str] = &["name", "max_line", "clock"];
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

impl SourceKind {
    /// The `kind` names, as written in configuration.
    pub const NAMES: [&'static str; 4] = ["tcp_client", "tcp_server", "udp", "file"];

    /// Deserializes the options of the kind named `kind` (one of [`SourceKind::NAMES`]) from
    /// `options`, a table holding only that kind's keys (unknown keys are errors).
    ///
    /// The kind is chosen first and its struct deserialized straight from the table, rather
    /// than through a `#[serde(tag = "kind")]` enum, so the deserializer still sees the
    /// original table and can say which key of which line is wrong.
    ///
    /// # Errors
    /// An unknown kind (naming the kinds there are), or the kind's own field errors.
    pub fn deserialize_kind<'de, D: Deserializer<'de>>(
        kind: &str,
        options: D,
    ) -> Result<SourceKind, D::Error> {
        Ok(match kind {
            "tcp_client" => SourceKind::TcpClient(TcpClientConfig::deserialize(options)?),
            "tcp_server" => SourceKind::TcpServer(TcpServerConfig::deserialize(options)?),
            "udp" => SourceKind::Udp(UdpConfig::deserialize(options)?),
            "file" => SourceKind::File(FileConfig::deserialize(options)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown source kind {other:?}: expected tcp_client, tcp_server, udp or file"
                )));
            }
        })
    }
}

/// The defaults of every source option, in one place (`Default` impls and serde both use them).
mod defaults {
    use std::net::SocketAddr;
    use std::time::Duration;

    pub(super) fn max_line() -> usize {
        super::DEFAULT_MAX_LINE
    }
    pub(super) fn dial_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn stall_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn backoff_initial() -> Duration {
        Duration::from_secs(1)
    }
    pub(super) fn backoff_max() -> Duration {
        Duration::from_secs(60)
    }
    pub(super) fn max_connections() -> usize {
        64
    }
    pub(super) fn max_per_peer() -> usize {
        4
    }
    pub(super) fn idle_timeout() -> Duration {
        Duration::from_secs(120)
    }
    pub(super) fn max_peers() -> usize {
        256
    }
    pub(super) fn peer_idle() -> Duration {
        Duration::from_secs(600)
    }
    pub(super) fn tcp_server_bind() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 4002))
    }
    pub(super) fn udp_bind() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 4003))
    }
}

/// A TCP feed we dial (`kind = "tcp_client"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpClientConfig {
    /// `host:port` of the feed.
    pub addr: String,
    /// Limit on one dial (DNS and TCP handshake); default 10 s.
    #[serde(default = "defaults::dial_timeout", with = "duration")]
    pub dial_timeout: Duration,
    /// A connection that delivers no bytes for this long is dropped and redialled; default 60 s.
    #[serde(default = "defaults::stall_timeout", with = "duration")]
    pub stall_timeout: Duration,
    /// First reconnect delay (doubles per failure, with jitter); default 1 s.
    #[serde(default = "defaults::backoff_initial", with = "duration")]
    pub backoff_initial: Duration,
    /// Longest reconnect delay; default 60 s.
    #[serde(default = "defaults::backoff_max", with = "duration")]
    pub backoff_max: Duration,
}

impl Default for TcpClientConfig {
    fn default() -> TcpClientConfig {
        TcpClientConfig {
            addr: "127.0.0.1:4001".to_owned(),
            dial_timeout: defaults::dial_timeout(),
            stall_timeout: defaults::stall_timeout(),
            backoff_initial: defaults::backoff_initial(),
            backoff_max: defaults::backoff_max(),
        }
    }
}

/// A TCP listener receivers push to (`kind = "tcp_server"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpServerConfig {
    /// Address to listen on (`listen` in configuration).
    #[serde(rename = "listen", deserialize_with = "socket_addr")]
    pub bind: SocketAddr,
    /// Most connections at once; more are accepted and closed at once (counted); default 64.
    #[serde(default = "defaults::max_connections", deserialize_with = "positive")]
    pub max_connections: usize,
    /// Most connections from one IP address; default 4.
    #[serde(default = "defaults::max_per_peer", deserialize_with = "positive")]
    pub max_per_peer: usize,
    /// A connection that completes no line for this long is closed; default 120 s.
    #[serde(default = "defaults::idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
}

impl Default for TcpServerConfig {
    fn default() -> TcpServerConfig {
        TcpServerConfig {
            bind: defaults::tcp_server_bind(),
            max_connections: defaults::max_connections(),
            max_per_peer: defaults::max_per_peer(),
            idle_timeout: defaults::idle_timeout(),
        }
    }
}

/// A UDP socket receivers send datagrams to (one or more lines per datagram; `kind = "udp"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpConfig {
    /// Address to listen on (`listen` in configuration).
    #[serde(rename = "listen", deserialize_with = "socket_addr")]
    pub bind: SocketAddr,
    /// Most senders tracked at once (each has its own decoder); the least recently heard is
    /// forgotten first; default 256.
    #[serde(default = "defaults::max_peers", deserialize_with = "positive")]
    pub max_peers: usize,
    /// A sender silent for this long is forgotten; default 600 s.
    #[serde(default = "defaults::peer_idle", with = "duration")]
    pub peer_idle: Duration,
}

impl Default for UdpConfig {
    fn default() -> UdpConfig {
        UdpConfig {
            bind: defaults::udp_bind(),
            max_peers: defaults::max_peers(),
            peer_idle: defaults::peer_idle(),
        }
    }
}

/// How fast to replay a file. In configuration, `speed = 10.0` is [`Speed::Factor`] and no
/// `speed` is [`Speed::Max`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Speed {
    /// As fast as the tracker takes it.
    #[default]
    Max,
    /// This many times real time, by the receiver timestamps (`c:` or `$PGHP`); lines without
    /// one are not delayed.
    Factor(f64),
}

impl<'de> Deserialize<'de> for Speed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Speed, D::Error> {
        let factor = f64::deserialize(d)?;
        if factor > 0.0 && factor.is_finite() {
            Ok(Speed::Factor(factor))
        } else {
            Err(serde::de::Error::custom(format!(
                "speed {factor} must be greater than zero (omit it for as fast as possible)"
            )))
        }
    }
}

/// A recorded file to replay (`kind = "file"`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file (a relative path is resolved by whoever loads the configuration).
    pub path: PathBuf,
    /// Replay speed.
    #[serde(default)]
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
        sentinel::sync::lock(&self.stats).merge(stats);
    }

    /// The source's counters so far.
    pub(crate) fn totals(&self) -> FeedStats {
        sentinel::sync::lock(&self.stats).clone()
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

/// The span every log line of one connection carries: the source, the registry id shown at
/// `/connections` (`connection_id`) and the peer (or file path).
pub(crate) fn connection_span(source: &str, connection_id: u64, peer: &str) -> tracing::Span {
    tracing::info_span!(target: "lookout_feed", "connection", source = %source, connection_id, peer = %peer)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_table_is_options_plus_its_kind_with_the_default_values() {
        let options: SourceOptions = serde_json::from_str(r#"{"name":"feed"}"#).unwrap();
        let kind = SourceKind::deserialize_kind(
            "tcp_client",
            serde_json::json!({"addr": "h:1", "stall_timeout": "2m"}),
        )
        .unwrap();
        let source = SourceConfig::from_options(options, kind, || "source-1".into());
        assert_eq!(source.name, "feed");
        assert_eq!(source.max_line, DEFAULT_MAX_LINE);
        assert_eq!(
            source.kind,
            SourceKind::TcpClient(TcpClientConfig {
                addr: "h:1".into(),
                stall_timeout: Duration::from_secs(120),
                ..TcpClientConfig::default()
            })
        );
        let server = SourceKind::deserialize_kind(
            "tcp_server",
            serde_json::json!({"listen": "0.0.0.0:4002"}),
        )
        .unwrap();
        assert_eq!(server, SourceKind::TcpServer(TcpServerConfig::default()));
        let udp =
            SourceKind::deserialize_kind("udp", serde_json::json!({"listen": "0.0.0.0:4003"}))
                .unwrap();
        assert_eq!(udp, SourceKind::Udp(UdpConfig::default()));
    }

    #[test]
    fn bad_values_unknown_keys_and_kinds_are_errors() {
        let err = |kind: &str, v: serde_json::Value| {
            SourceKind::deserialize_kind(kind, v)
                .unwrap_err()
                .to_string()
        };
        assert!(err("tcp_client", serde_json::json!({})).contains("missing field `addr`"));
        assert!(
            err(
                "tcp_client",
                serde_json::json!({"addr": "h:1", "dial_timeout": "0s"})
            )
            .contains("must be greater than zero")
        );
        assert!(
            err(
                "udp",
                serde_json::json!({"listen": "0.0.0.0:1", "max_peers": 0})
            )
            .contains("must be at least 1")
        );
        assert!(err("file", serde_json::json!({"path": "x", "speed": 0.0})).contains("speed 0"));
        assert!(
            err("file", serde_json::json!({"path": "x", "addr": "h"})).contains("unknown field")
        );
        assert!(err("serial", serde_json::json!({})).contains("unknown source kind \"serial\""));
    }

    #[test]
    fn the_field_list_of_source_options_matches_the_struct() {
        // Every listed key is accepted, and a table of just those keys is complete.
        let all: serde_json::Map<String, serde_json::Value> = SourceOptions::FIELDS
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    match *k {
                        "name" => serde_json::json!("n"),
                        "clock" => serde_json::json!("data"),
                        _ => serde_json::json!(16),
                    },
                )
            })
            .collect();
        let options: SourceOptions = serde_json::from_value(all.into()).unwrap();
        assert_eq!(
            options,
            SourceOptions {
                name: Some("n".into()),
                max_line: 16,
                clock: lookout_core::ClockMode::Data,
            },
            "a field of SourceOptions is missing from FIELDS"
        );
    }
}
