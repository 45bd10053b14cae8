//! The UDP source: each datagram carries one or more lines. Every sender gets its own decoder
//! (multipart reassembly is per sender) and its own registry entry, both forgotten when the
//! sender falls silent or when too many senders are tracked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ais::framing::{Frame, Framer};
use lookout_core::Observation;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{Ctx, SourceConfig, SourceKind, UdpConfig};
use crate::error::FeedError;
use crate::ingest::{FeedStats, Ingest};
use crate::registry::{ConnectionRegistry, Direction, SourceState, peer_name};

/// Runs a UDP source on an already bound socket; `source` must be a [`SourceKind::Udp`], whose
/// `bind` is ignored. Returns when `token` is cancelled.
///
/// # Cancel safety
/// Cancel the `token` rather than dropping the future.
pub async fn run_udp(
    socket: UdpSocket,
    source: &SourceConfig,
    registry: ConnectionRegistry,
    out: mpsc::Sender<Observation>,
    token: CancellationToken,
) -> Result<FeedStats, FeedError> {
    let SourceKind::Udp(config) = &source.kind else {
        return Err(FeedError::Config {
            source_name: source.name.clone(),
            problem: "run_udp needs a udp source".to_owned(),
        });
    };
    let ctx = Ctx::new(&source.name, source.max_line, registry, out, token);
    let result = serve(&ctx, socket, config).await;
    ctx.state(SourceState::Stopped, None);
    result.map(|()| ctx.totals())
}

struct Peer {
    ingest: Ingest,
    last: Instant,
    /// The sender's [`super::connection_span`].
    span: tracing::Span,
}

pub(super) async fn serve(
    ctx: &Ctx,
    socket: UdpSocket,
    config: &UdpConfig,
) -> Result<(), FeedError> {
    let local = socket.local_addr().map(peer_name).unwrap_or_default();
    tracing::info!(target: "lookout_feed", source = %ctx.name, addr = %local, "listening for AIS datagrams");
    ctx.state(SourceState::Up, None);
    let mut buf = vec![0u8; 65_536];
    // Reset at the end of every datagram (`finish`), so shared by all senders.
    let mut framer = Framer::new(ctx.max_line);
    let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
    let max_peers = config.max_peers.max(1);
    let mut sweep = tokio::time::interval((config.peer_idle / 4).max(Duration::from_millis(50)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            biased;
            () = ctx.token.cancelled() => break,
            _ = sweep.tick() => {
                let now = Instant::now();
                peers.retain(|_, p| {
                    let keep = now.duration_since(p.last) < config.peer_idle;
                    if !keep {
                        ctx.merge(&p.ingest.stats);
                    }
                    keep
                });
                continue;
            }
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, addr) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors surface here on some platforms; a UDP socket stays usable.
                tracing::debug!(target: "lookout_feed", source = %ctx.name, error = %e, "udp receive failed");
                continue;
            }
        };
        let now = Instant::now();
        if !peers.contains_key(&addr) && peers.len() >= max_peers {
            let oldest = peers.iter().min_by_key(|(_, p)| p.last).map(|(a, _)| *a);
            if let Some(p) = oldest.and_then(|a| peers.remove(&a)) {
                ctx.merge(&p.ingest.stats);
            }
        }
        let peer = peers.entry(addr).or_insert_with(|| {
            let name = peer_name(addr);
            let conn = ctx
                .registry
                .register(&ctx.name, name.clone(), Direction::Datagram);
            let span = super::connection_span(&ctx.name, conn.id(), &name);
            Peer {
                ingest: Ingest::new(ctx.name.clone(), conn, ctx.out.clone()).with_clock(ctx.clock),
                last: now,
                span,
            }
        });
        peer.last = now;
        peer.ingest.bytes(n);
        let datagram = buf.get(..n).unwrap_or_default();
        let span = peer.span.clone();
        match deliver(&mut peer.ingest, &mut framer, datagram, &ctx.token)
            .instrument(span)
            .await
        {
            Delivered::All => {}
            Delivered::Cancelled => break,
            Delivered::Closed => {
                merge_all(ctx, peers);
                return Ok(());
            }
        }
    }
    merge_all(ctx, peers);
    Ok(())
}

fn merge_all(ctx: &Ctx, peers: HashMap<SocketAddr, Peer>) {
    for p in peers.into_values() {
        ctx.merge(&p.ingest.stats);
    }
}

/// How delivering one datagram ended.
enum Delivered {
    /// Every line went to the ingest.
    All,
    /// The token was cancelled.
    Cancelled,
    /// The observation channel is closed.
    Closed,
}

/// Frames one datagram (its last line needs no terminator) and hands its lines to `ingest`;
/// empty lines are skipped, over-long ones counted.
async fn deliver(
    ingest: &mut Ingest,
    framer: &mut Framer,
    datagram: &[u8],
    token: &CancellationToken,
) -> Delivered {
    let mut rest = datagram;
    loop {
        let (used, frame) = framer.next_frame(rest);
        rest = rest.get(used..).unwrap_or_default();
        let frame = match frame {
            Some(frame) => frame,
            None => match framer.finish() {
                Some(frame) => frame,
                None => return Delivered::All,
            },
        };
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong { len } => {
                ingest.too_long(len);
                continue;
            }
        };
        if line.is_empty() {
            continue;
        }
        let sent = tokio::select! {
            biased;
            () = token.cancelled() => return Delivered::Cancelled,
            r = ingest.line(line) => r,
        };
        if sent.is_err() {
            return Delivered::Closed;
        }
    }
}
