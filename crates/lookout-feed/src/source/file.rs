//! The file source: replays a recording, as fast as possible or paced by its receiver
//! timestamps at a speed factor.

use tracing::Instrument as _;

use super::{ConnEnd, Ctx, FileConfig, Speed, read_lines};
use crate::error::FeedError;
use crate::ingest::{Ingest, Pacer};
use crate::registry::{Direction, SourceState};

pub(super) async fn run(ctx: &Ctx, config: &FileConfig) -> Result<(), FeedError> {
    let file_error = |source| FeedError::File {
        source_name: ctx.name.to_string(),
        path: config.path.clone(),
        source,
    };
    let mut pacer = None;
    if let Speed::Factor(f) = config.speed {
        if !(f.is_finite() && f > 0.0) {
            return Err(FeedError::Config {
                source_name: ctx.name.to_string(),
                problem: format!("replay speed must be a positive number, got {f}"),
            });
        }
        pacer = Some(Pacer::new(f));
    }
    let file = tokio::fs::File::open(&config.path)
        .await
        .map_err(file_error)?;
    ctx.state(SourceState::Up, None);
    let peer = config.path.display().to_string();
    let conn = ctx
        .registry
        .register(&ctx.name, peer.clone(), Direction::File);
    let span = super::connection_span(&ctx.name, conn.id(), &peer);
    let mut reader = Ingest::new(ctx.name.clone(), conn, ctx.out.clone())
        .with_clock(lookout_core::ClockMode::Data);
    if let Some(pacer) = pacer {
        reader = reader.with_pacer(pacer);
    }
    let end = read_lines(
        tokio::io::BufReader::with_capacity(64 * 1024, file),
        &mut reader,
        ctx.max_line,
        None,
        &ctx.token,
    )
    .instrument(span)
    .await;
    ctx.merge(&reader.stats);
    match end {
        ConnEnd::Error(e) => Err(file_error(e)),
        ConnEnd::Eof | ConnEnd::Idle | ConnEnd::Cancelled | ConnEnd::Closed => Ok(()),
    }
}
