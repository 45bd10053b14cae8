//! The TCP client source: dials a feed, reads it, and redials forever with exponential backoff
//! and jitter when the dial fails, the feed closes, errors or stalls.

use std::time::Duration;

use tokio::net::TcpStream;

use super::{ConnEnd, Ctx, TcpClientConfig, read_lines};
use crate::backoff::Backoff;
use crate::error::FeedError;
use crate::ingest::Ingest;
use crate::registry::{Direction, SourceState, peer_name};

/// A connection that lasted this long resets the backoff even if it delivered nothing useful.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

pub(super) async fn run(ctx: &Ctx, config: &TcpClientConfig) -> Result<(), FeedError> {
    if config.addr.is_empty() {
        return Err(FeedError::Config {
            source_name: ctx.name.to_string(),
            problem: "tcp client address is empty".to_owned(),
        });
    }
    let reconnects =
        metrics::counter!("lookout_feed_reconnects_total", "source" => ctx.name.to_string());
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    let mut first = true;
    loop {
        if !first {
            reconnects.increment(1);
            ctx.registry.count_reconnect(&ctx.name);
        }
        first = false;
        ctx.state(SourceState::Starting, None);
        let dial = tokio::time::timeout(
            config.dial_timeout,
            TcpStream::connect(config.addr.as_str()),
        );
        let dialled = tokio::select! {
            biased;
            () = ctx.token.cancelled() => return Ok(()),
            r = dial => r,
        };
        let problem = match dialled {
            Ok(Ok(stream)) => {
                let peer = stream
                    .peer_addr()
                    .map(peer_name)
                    .unwrap_or_else(|_| config.addr.clone());
                tracing::info!(target: "lookout_feed", source = %ctx.name, %peer, "feed connected");
                ctx.state(SourceState::Up, None);
                let _ = stream.set_nodelay(true);
                let conn = ctx
                    .registry
                    .register(&ctx.name, peer.clone(), Direction::Outbound);
                let opened = tokio::time::Instant::now();
                let mut ingest =
                    Ingest::new(ctx.name.clone(), conn, ctx.out.clone()).with_clock(ctx.clock);
                let end = read_lines(
                    stream,
                    &mut ingest,
                    ctx.max_line,
                    Some(config.stall_timeout),
                    &ctx.token,
                )
                .await;
                ctx.merge(&ingest.stats);
                if ingest.stats.lines > 0 || opened.elapsed() >= HEALTHY_AFTER {
                    backoff.reset();
                }
                match end {
                    ConnEnd::Cancelled | ConnEnd::Closed => return Ok(()),
                    ConnEnd::Eof => format!("feed {peer} closed the connection"),
                    ConnEnd::Idle => format!(
                        "feed {peer} stalled: no complete line for {:?}, redialling",
                        config.stall_timeout
                    ),
                    ConnEnd::Error(e) => format!("reading feed {peer} failed: {e}"),
                }
            }
            Ok(Err(e)) => format!("cannot connect to {}: {e}", config.addr),
            Err(_) => format!(
                "connecting to {} timed out after {:?}",
                config.addr, config.dial_timeout
            ),
        };
        let delay = backoff.next_delay();
        tracing::warn!(target: "lookout_feed", source = %ctx.name, problem = %problem, retry_in_ms = delay.as_millis() as u64, "feed connection lost");
        ctx.state(SourceState::Backoff, Some(problem));
        tokio::select! {
            biased;
            () = ctx.token.cancelled() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}
