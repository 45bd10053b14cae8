//! The TCP client source: dials a feed, reads it, and redials forever with exponential backoff
//! and jitter when the dial fails, the feed closes, errors or stalls.

use std::time::Duration;

use sentinel::Backoff;
use tokio::net::TcpStream;
use tracing::Instrument as _;

use super::{ConnEnd, Ctx, TcpClientConfig, read_lines};
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
    let backoff = reconnect_backoff(config);
    // Failed dials and lost connections since the last healthy connection: the backoff's attempt.
    let mut attempt: u32 = 0;
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
                let conn = ctx
                    .registry
                    .register(&ctx.name, peer.clone(), Direction::Outbound);
                let span = super::connection_span(&ctx.name, conn.id(), &peer);
                span.in_scope(|| tracing::info!(target: "lookout_feed", "feed connected"));
                ctx.state(SourceState::Up, None);
                let _ = stream.set_nodelay(true);
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
                .instrument(span)
                .await;
                ctx.merge(&ingest.stats);
                if ingest.stats.lines > 0 || opened.elapsed() >= HEALTHY_AFTER {
                    attempt = 0;
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
        let delay = backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        tracing::warn!(target: "lookout_feed", source = %ctx.name, problem = %problem, retry_in_ms = delay.as_millis() as u64, "feed connection lost");
        ctx.state(SourceState::Backoff, Some(problem));
        tokio::select! {
            biased;
            () = ctx.token.cancelled() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The reconnect delays: sentinel's exponential backoff with full jitter, from
/// `backoff_initial` (at least 1 ms) to `backoff_max`.
fn reconnect_backoff(config: &TcpClientConfig) -> Backoff {
    Backoff::exponential(
        config.backoff_initial.max(Duration::from_millis(1)),
        config.backoff_max,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old feed backoff promised full jitter but drew from `[c/2, c]` ("equal jitter"); the
    /// delays now come from sentinel and use the whole `[0, c]`.
    #[test]
    fn reconnect_delays_use_full_jitter_up_to_the_cap() {
        let config = TcpClientConfig {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ..TcpClientConfig::default()
        };
        let backoff = reconnect_backoff(&config);
        for attempt in 0..8u32 {
            let nominal = Duration::from_millis(100 << attempt).min(Duration::from_secs(2));
            let delays: Vec<Duration> = (0..200).map(|_| backoff.delay(attempt)).collect();
            assert!(delays.iter().all(|d| *d <= nominal), "attempt {attempt}");
            assert!(delays.iter().any(|d| *d < nominal / 2), "attempt {attempt}");
        }
    }
}
