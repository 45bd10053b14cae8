//! [`Shards`]: N [`Tracker`]s on tokio tasks, vessels partitioned by MMSI, behind bounded
//! channels.
//!
//! Each shard is a task spawned with [`sentinel::spawn`] (panics are caught, logged and
//! counted) that beats a [`sentinel::Heartbeat`] named `tracker/{index}` on every tick.
//! Observations are routed by MMSI, so all reports of one vessel go to one shard in order;
//! clock inputs ([`TrackerInput::Tick`], `Resume`, `FeedDown`, `FeedUp`) go to every shard
//! ([`Shards::broadcast`]). Sending waits when the shard's channel is full (backpressure reaches
//! the feed). Output is one bounded channel of [`TrackerOutput`]s: after every batch of inputs,
//! one unit holding the events of that batch *and* the checkpoint rows of every vessel (and the
//! shard clock) they changed, so a consumer that commits whole units commits each row in the
//! same transaction as the events that changed it.

use std::sync::Arc;
use std::time::Duration;

use lookout_core::{Event, Mmsi, Observation, VesselCheckpoint};
use sentinel::{Heartbeat, TaskError, TaskHandle};
use tokio::sync::mpsc;

use crate::areas::AreaIndex;
use crate::tracker::{
    ConfigError, Tracker, TrackerConfig, TrackerInput, TrackerStats, is_meta_key,
};

/// What flows from the shards to the consumer.
#[derive(Debug)]
pub enum TrackerOutput {
    /// A shard's changes after a batch of inputs.
    Changes(Changes),
    /// Sent by the stage that owns the shards (never by a shard): commit everything received
    /// before it, then answer. A new shard generation restores only after the answer, so it
    /// never restores a checkpoint older than its predecessor's last output.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// What a shard emits after a batch of inputs: commit `events` and `checkpoint` together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Events detected, in order.
    pub events: Vec<Event>,
    /// Rows of the vessels those inputs changed (empty `data`: delete the row) and the
    /// shard's clock row.
    pub checkpoint: Vec<VesselCheckpoint>,
}

/// How the shards run.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardConfig {
    /// Number of shards (default: number of cores).
    pub shards: usize,
    /// Capacity of each shard's input channel.
    pub capacity: usize,
    /// How often each shard beats its heartbeat and publishes metrics.
    pub tick: Duration,
    /// A live service: the tracker stage sends `Resume` at start and wall-clock `Tick`s and
    /// feed up/down facts (only when a source has the `live` clock mode). Off for replays and
    /// the accelerated demo, where time is only the observations' own.
    pub wall_clock: bool,
    /// Unused, kept for compatibility: checkpoint rows now travel with their events.
    pub checkpoint_every: Option<Duration>,
    /// Most vessels over all shards (each shard keeps its share, least recently heard
    /// evicted beyond it). Default 1,000,000.
    pub max_vessels: usize,
}

impl Default for ShardConfig {
    fn default() -> ShardConfig {
        ShardConfig {
            shards: std::thread::available_parallelism().map_or(1, usize::from),
            capacity: 4096,
            tick: Duration::from_secs(1),
            wall_clock: true,
            checkpoint_every: None,
            max_vessels: 1_000_000,
        }
    }
}

/// The input side closed: every shard has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tracker shards have stopped")]
pub struct ShardsClosed;

/// Why the output channel refused: the consumer has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tracker output channel closed by its consumer")]
pub struct OutputClosed;

/// Running tracker shards. Dropping it without [`Shards::finish`] aborts every shard (their
/// unsent changes are lost together with their events, never one without the other).
#[derive(Debug)]
pub struct Shards {
    inputs: Vec<mpsc::Sender<TrackerInput>>,
    handles: Vec<TaskHandle<TrackerStats>>,
}

impl Drop for Shards {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

impl Shards {
    /// Starts `config.shards` trackers over `areas`, restoring `restore` (vessel rows routed
    /// by MMSI, clock rows to every shard) first, emitting into `output`.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// The tracker configuration does not fit the areas.
    pub fn start(
        areas: Arc<AreaIndex>,
        tracker: &TrackerConfig,
        config: &ShardConfig,
        restore: Vec<VesselCheckpoint>,
        output: mpsc::Sender<TrackerOutput>,
    ) -> Result<Shards, ConfigError> {
        let n = config.shards.max(1);
        let mut tracker = tracker.clone();
        tracker.max_vessels = config.max_vessels.div_ceil(n).max(1);
        let mut trackers = (0..n)
            .map(|idx| {
                let mut t = Tracker::new(Arc::clone(&areas), tracker.clone())?;
                t.set_meta_key(Mmsi::try_from(idx).unwrap_or(0));
                Ok(t)
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut routed: Vec<Vec<VesselCheckpoint>> = vec![Vec::new(); n];
        for row in restore {
            if is_meta_key(row.mmsi) {
                for rows in &mut routed {
                    rows.push(row.clone());
                }
            } else {
                routed[shard_of(row.mmsi, n)].push(row);
            }
        }
        for (t, rows) in trackers.iter_mut().zip(routed) {
            let report = t.restore(rows);
            if !report.skipped.is_empty() || report.dropped_areas > 0 {
                tracing::warn!(
                    restored = report.restored,
                    skipped = report.skipped.len(),
                    dropped_areas = report.dropped_areas,
                    "tracker restore was partial"
                );
            }
        }
        let mut inputs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for (idx, t) in trackers.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(config.capacity.max(1));
            inputs.push(tx);
            handles.push(sentinel::spawn(
                format!("tracker/{idx}"),
                run_shard(idx, t, rx, output.clone(), config.clone()),
            ));
        }
        Ok(Shards { inputs, handles })
    }

    /// Routes one observation to its vessel's shard, waiting while that shard is full.
    ///
    /// # Errors
    /// The shard has stopped (its task failed, or the output consumer went away).
    ///
    /// # Cancel safety
    /// Cancel safe: when cancelled, the observation was not sent.
    pub async fn send(&self, obs: Observation) -> Result<(), ShardsClosed> {
        let idx = shard_of(obs.mmsi, self.inputs.len());
        self.inputs[idx]
            .send(TrackerInput::Observation(obs))
            .await
            .map_err(|_| ShardsClosed)
    }

    /// Sends a clock input to every shard (an observation goes to its vessel's shard only).
    ///
    /// # Errors
    /// A shard has stopped.
    ///
    /// # Cancel safety
    /// Not cancel safe: when cancelled, some shards may have received it.
    pub async fn broadcast(&self, input: TrackerInput) -> Result<(), ShardsClosed> {
        if let TrackerInput::Observation(obs) = input {
            return self.send(obs).await;
        }
        for tx in &self.inputs {
            tx.send(input.clone()).await.map_err(|_| ShardsClosed)?;
        }
        Ok(())
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Always false: there is at least one shard.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Closes the input and waits for every shard to drain, emit its last output and stop;
    /// returns each shard's counters. Once this returns no shard emits anything more.
    ///
    /// # Errors
    /// The first shard that failed (panicked, or lost its output consumer).
    pub async fn finish(mut self) -> Result<Vec<TrackerStats>, TaskError> {
        self.inputs.clear();
        let handles = std::mem::take(&mut self.handles);
        let mut stats = Vec::with_capacity(handles.len());
        let mut first_error = None;
        for handle in handles {
            match handle.await {
                Ok(s) => stats.push(s),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }
}

/// The shard of a vessel: a mixed MMSI modulo the shard count (MMSIs share prefixes).
pub fn shard_of(mmsi: Mmsi, n_shards: usize) -> usize {
    let mixed = u64::from(mmsi).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (mixed % n_shards.max(1) as u64) as usize
}

async fn run_shard(
    idx: usize,
    mut tracker: Tracker,
    mut input: mpsc::Receiver<TrackerInput>,
    output: mpsc::Sender<TrackerOutput>,
    config: ShardConfig,
) -> Result<TrackerStats, OutputClosed> {
    let heartbeat = Heartbeat::register(
        format!("tracker/{idx}"),
        config.tick * 5 + Duration::from_secs(5),
    );
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(256);
    let mut events = Vec::new();
    let mut published = TrackerStats::default();
    let shard = idx.to_string();
    tracing::debug!(shard = idx, "tracker shard started");
    loop {
        tokio::select! {
            n = input.recv_many(&mut batch, 256) => {
                if n == 0 {
                    break;
                }
                for item in batch.drain(..) {
                    tracker.apply(&item, &mut events);
                }
                emit(&output, &mut tracker, &mut events).await?;
            }
            _ = tick.tick() => {
                heartbeat.beat();
                publish(&shard, &mut published, tracker.stats());
            }
        }
    }
    emit(&output, &mut tracker, &mut events).await?;
    publish(&shard, &mut published, tracker.stats());
    tracing::debug!(
        shard = idx,
        n_vessels = tracker.n_vessels(),
        "tracker shard stopped"
    );
    Ok(tracker.stats())
}

/// Sends the events of the last batch with the checkpoint rows they changed, as one unit.
async fn emit(
    output: &mpsc::Sender<TrackerOutput>,
    tracker: &mut Tracker,
    events: &mut Vec<Event>,
) -> Result<(), OutputClosed> {
    let checkpoint = tracker.take_dirty();
    if events.is_empty() && checkpoint.is_empty() {
        return Ok(());
    }
    let unit = TrackerOutput::Changes(Changes {
        events: std::mem::take(events),
        checkpoint,
    });
    output.send(unit).await.map_err(|_| OutputClosed)
}

/// Adds what the tracker counted since the last call to the `metrics` counters.
///
/// Counting in a plain struct on the hot path and publishing deltas once per tick keeps the
/// per-report cost free of metric-registry lookups.
fn publish(shard: &str, published: &mut TrackerStats, now: TrackerStats) {
    let reports = [
        ("accepted", now.accepted, published.accepted),
        ("stale", now.stale, published.stale),
        ("duplicate", now.duplicates, published.duplicates),
        ("not_a_vessel", now.not_a_vessel, published.not_a_vessel),
        ("clock_skew", now.clock_skew, published.clock_skew),
        ("rate_limited", now.rate_limited, published.rate_limited),
    ];
    for (result, n, before) in reports {
        metrics::counter!("lookout_track_reports_total", "shard" => shard.to_owned(), "result" => result)
            .increment(n - before);
    }
    let unusable = [
        ("missing", now.unusable_missing, published.unusable_missing),
        (
            "null_island",
            now.unusable_null_island,
            published.unusable_null_island,
        ),
        (
            "out_of_range",
            now.unusable_out_of_range,
            published.unusable_out_of_range,
        ),
        (
            "too_fast",
            now.unusable_too_fast,
            published.unusable_too_fast,
        ),
        ("unconfirmed", now.unconfirmed, published.unconfirmed),
    ];
    for (reason, n, before) in unusable {
        metrics::counter!("lookout_track_unusable_positions_total", "shard" => shard.to_owned(), "reason" => reason)
            .increment(n - before);
    }
    let kinds = [
        ("entered", now.entered, published.entered),
        ("exited", now.exited, published.exited),
        ("gap_started", now.gap_started, published.gap_started),
        ("gap_ended", now.gap_ended, published.gap_ended),
    ];
    for (kind, n, before) in kinds {
        metrics::counter!("lookout_track_events_total", "shard" => shard.to_owned(), "kind" => kind)
            .increment(n - before);
    }
    metrics::counter!("lookout_track_evicted_total", "shard" => shard.to_owned())
        .increment(now.evicted - published.evicted);
    *published = now;
}
