//! The TCP server source: receivers connect and push lines. Bounded everywhere: total
//! connections, connections per IP address, line length, and time to complete a line.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use lookout_core::Observation;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::{ConnEnd, Ctx, SourceConfig, SourceKind, TcpServerConfig, read_lines};
use crate::error::FeedError;
use crate::ingest::{FeedStats, Ingest};
use crate::registry::{ConnectionRegistry, Direction, SourceState, peer_name};

/// Runs a TCP server source on an already bound listener (bind to port 0 in tests and read the
/// port from the listener); `source` must be a [`SourceKind::TcpServer`], whose `bind` is
/// ignored. Returns when `token` is cancelled, after every connection has ended.
///
/// # Cancel safety
/// Cancel the `token` rather than dropping the future, so connections end cleanly.
pub async fn run_tcp_server(
    listener: TcpListener,
    source: &SourceConfig,
    registry: ConnectionRegistry,
    out: mpsc::Sender<Observation>,
    token: CancellationToken,
) -> Result<FeedStats, FeedError> {
    let SourceKind::TcpServer(config) = &source.kind else {
        return Err(FeedError::Config {
            source_name: source.name.clone(),
            problem: "run_tcp_server needs a tcp server source".to_owned(),
        });
    };
    let ctx = Ctx::new(&source.name, source.max_line, registry, out, token);
    let result = serve(&ctx, listener, config).await;
    ctx.state(SourceState::Stopped, None);
    result.map(|()| ctx.totals())
}

/// Connections per IP address, decremented when a [`PeerSlot`] drops.
#[derive(Debug, Default)]
struct PerPeer(Mutex<HashMap<IpAddr, usize>>);

#[derive(Debug)]
struct PeerSlot {
    peers: Arc<PerPeer>,
    ip: IpAddr,
}

impl PerPeer {
    fn try_take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut map = sentinel::sync::lock(&self.0);
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = sentinel::sync::lock(&self.peers.0);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

pub(super) async fn serve(
    ctx: &Ctx,
    listener: TcpListener,
    config: &TcpServerConfig,
) -> Result<(), FeedError> {
    let local = listener.local_addr().map(peer_name).unwrap_or_default();
    tracing::info!(target: "lookout_feed", source = %ctx.name, addr = %local, "listening for AIS receivers");
    ctx.state(SourceState::Up, None);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let peers = Arc::new(PerPeer::default());
    let tracker = TaskTracker::new();
    let rejected = |reason: &'static str| metrics::counter!("lookout_feed_rejected_total", "source" => ctx.name.to_string(), "reason" => reason);
    let (rejected_total, rejected_peer) = (rejected("max_connections"), rejected("max_per_peer"));
    let mut accept_errors = 0u32;
    loop {
        let accepted = tokio::select! {
            biased;
            () = ctx.token.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, addr) = match accepted {
            Ok(a) => {
                accept_errors = 0;
                a
            }
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning; give up when it persists.
                accept_errors += 1;
                tracing::warn!(target: "lookout_feed", source = %ctx.name, error = %e, "accept failed");
                if accept_errors > 100 {
                    tracker.close();
                    tracker.wait().await;
                    return Err(FeedError::Accept {
                        source_name: ctx.name.to_string(),
                        source: e,
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            rejected_total.increment(1);
            tracing::warn!(target: "lookout_feed", source = %ctx.name, peer = %addr, limit = config.max_connections, "connection refused: connection limit reached");
            drop(stream);
            continue;
        };
        let Some(slot) = peers.try_take(addr.ip(), config.max_per_peer.max(1)) else {
            rejected_peer.increment(1);
            tracing::warn!(target: "lookout_feed", source = %ctx.name, peer = %addr, limit = config.max_per_peer, "connection refused: per-peer limit reached");
            drop(stream);
            continue;
        };
        let conn_ctx = ctx.clone();
        let idle = config.idle_timeout;
        let task = tracker.track_future(async move {
            let _slots = (permit, slot);
            handle(&conn_ctx, stream, idle).await;
            Ok::<(), std::convert::Infallible>(())
        });
        drop(sentinel::spawn(format!("feed-{}-conn", ctx.name), task));
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn handle(ctx: &Ctx, stream: TcpStream, idle: std::time::Duration) {
    let peer = stream
        .peer_addr()
        .map(peer_name)
        .unwrap_or_else(|_| "unknown".to_owned());
    let conn = ctx
        .registry
        .register(&ctx.name, peer.clone(), Direction::Inbound);
    let span = super::connection_span(&ctx.name, conn.id(), &peer);
    handle_registered(ctx, stream, idle, conn, &peer)
        .instrument(span)
        .await;
}

async fn handle_registered(
    ctx: &Ctx,
    stream: TcpStream,
    idle: std::time::Duration,
    conn: crate::registry::ConnectionHandle,
    peer: &str,
) {
    tracing::info!(target: "lookout_feed", source = %ctx.name, %peer, "receiver connected");
    let mut ingest = Ingest::new(ctx.name.clone(), conn, ctx.out.clone()).with_clock(ctx.clock);
    let end = read_lines(stream, &mut ingest, ctx.max_line, Some(idle), &ctx.token).await;
    ctx.merge(&ingest.stats);
    match end {
        ConnEnd::Eof => {
            tracing::info!(target: "lookout_feed", source = %ctx.name, %peer, "receiver disconnected")
        }
        ConnEnd::Idle => {
            tracing::warn!(target: "lookout_feed", source = %ctx.name, %peer, idle_ms = idle.as_millis() as u64, "receiver idle, closing")
        }
        ConnEnd::Error(e) => {
            tracing::warn!(target: "lookout_feed", source = %ctx.name, %peer, error = %e, "receiver connection failed")
        }
        ConnEnd::Cancelled | ConnEnd::Closed => {}
    }
}
