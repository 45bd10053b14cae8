//! [`Shards`]: N [`Tracker`]s on tokio tasks, vessels partitioned by MMSI, behind bounded
//! channels.
//!
//! Each shard is a task spawned with [`sentinel::spawn`] (panics are caught, logged and
//! counted) that beats a [`sentinel::Heartbeat`] named `tracker` on every tick. Input is
//! routed by MMSI, so all reports of one vessel go to one shard in order; [`Shards::send`]
//! waits when the shard's channel is full (backpressure reaches the feed). Output is one
//! bounded channel of [`TrackerOutput`]: events, and after them on each checkpoint tick the
//! checkpoint rows of the vessels those events changed, so a consumer that persists what it
//! receives in order never saves a checkpoint ahead of its events.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{Event, Mmsi, Observation, VesselCheckpoint};
use sentinel::{Heartbeat, TaskError, TaskHandle};
use tokio::sync::mpsc;

use crate::areas::AreaIndex;
use crate::tracker::{ConfigError, Tracker, TrackerConfig, TrackerStats};

/// What the shards emit, in order per shard.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackerOutput {
    /// A detected event.
    Event(Event),
    /// State of the vessels changed since the previous checkpoint of this shard; every event
    /// they caused was emitted before.
    Checkpoint(Vec<VesselCheckpoint>),
}

/// How the shards run.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardConfig {
    /// Number of shards (default: number of cores).
    pub shards: usize,
    /// Capacity of each shard's input channel.
    pub capacity: usize,
    /// How often each shard beats its heartbeat, publishes metrics and (when `wall_clock`)
    /// advances its clock to now.
    pub tick: Duration,
    /// Advance gap timers with the wall clock on every tick (a live feed). Off for replays,
    /// where time is only the observations' own time.
    pub wall_clock: bool,
    /// Emit [`TrackerOutput::Checkpoint`] this often (`None`: only when the input closes).
    pub checkpoint_every: Option<Duration>,
    /// Every 10 minutes, forget vessels silent this long (by the tracker's clock) that are in
    /// no area ([`Tracker::evict_silent`]). `None` keeps every vessel.
    pub evict_after: Option<Duration>,
}

impl Default for ShardConfig {
    fn default() -> ShardConfig {
        ShardConfig {
            shards: std::thread::available_parallelism().map_or(1, usize::from),
            capacity: 4096,
            tick: Duration::from_secs(1),
            wall_clock: true,
            checkpoint_every: Some(Duration::from_secs(10)),
            evict_after: Some(Duration::from_secs(24 * 3600)),
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

/// Running tracker shards.
#[derive(Debug)]
pub struct Shards {
    inputs: Vec<mpsc::Sender<Observation>>,
    handles: Vec<TaskHandle<TrackerStats>>,
}

impl Shards {
    /// Starts `config.shards` trackers over `areas`, restoring `restore` (routed by MMSI)
    /// first, emitting into `output`.
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
        let mut trackers = (0..n)
            .map(|_| Tracker::new(Arc::clone(&areas), tracker.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut routed: Vec<Vec<VesselCheckpoint>> = vec![Vec::new(); n];
        for row in restore {
            routed[shard_of(row.mmsi, n)].push(row);
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
                format!("tracker-{idx}"),
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
        self.inputs[idx].send(obs).await.map_err(|_| ShardsClosed)
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Always false: there is at least one shard.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Closes the input and waits for every shard to drain, emit its last checkpoint and stop;
    /// returns each shard's counters.
    ///
    /// # Errors
    /// The first shard that failed (panicked, or lost its output consumer).
    pub async fn finish(self) -> Result<Vec<TrackerStats>, TaskError> {
        drop(self.inputs);
        let mut stats = Vec::with_capacity(self.handles.len());
        let mut first_error = None;
        for handle in self.handles {
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

const EVICT_EVERY: Duration = Duration::from_secs(600);

async fn run_shard(
    idx: usize,
    mut tracker: Tracker,
    mut input: mpsc::Receiver<Observation>,
    output: mpsc::Sender<TrackerOutput>,
    config: ShardConfig,
) -> Result<TrackerStats, OutputClosed> {
    let heartbeat = Heartbeat::register("tracker", config.tick * 5 + Duration::from_secs(5));
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut last_eviction = tokio::time::Instant::now();
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
                for obs in batch.drain(..) {
                    tracker.observe_into(&obs, &mut events);
                }
                emit(&output, &mut events).await?;
            }
            _ = tick.tick() => {
                heartbeat.beat();
                if config.wall_clock {
                    events.extend(tracker.advance(Timestamp::now()));
                    emit(&output, &mut events).await?;
                }
                if config
                    .checkpoint_every
                    .is_some_and(|every| last_checkpoint.elapsed() >= every)
                {
                    last_checkpoint = tokio::time::Instant::now();
                    checkpoint(&output, &mut tracker).await?;
                }
                if let (Some(after), Some(clock)) = (config.evict_after, tracker.clock())
                    && last_eviction.elapsed() >= EVICT_EVERY
                {
                    last_eviction = tokio::time::Instant::now();
                    let after = jiff::SignedDuration::try_from(after).unwrap_or(jiff::SignedDuration::MAX);
                    if let Ok(before) = clock.checked_sub(after) {
                        tracker.evict_silent(before);
                    }
                }
                publish(&shard, &mut published, tracker.stats());
            }
        }
    }
    checkpoint(&output, &mut tracker).await?;
    publish(&shard, &mut published, tracker.stats());
    tracing::debug!(
        shard = idx,
        n_vessels = tracker.n_vessels(),
        "tracker shard stopped"
    );
    Ok(tracker.stats())
}

async fn emit(
    output: &mpsc::Sender<TrackerOutput>,
    events: &mut Vec<Event>,
) -> Result<(), OutputClosed> {
    for event in events.drain(..) {
        output
            .send(TrackerOutput::Event(event))
            .await
            .map_err(|_| OutputClosed)?;
    }
    Ok(())
}

async fn checkpoint(
    output: &mpsc::Sender<TrackerOutput>,
    tracker: &mut Tracker,
) -> Result<(), OutputClosed> {
    let rows = tracker.take_dirty();
    if rows.is_empty() {
        return Ok(());
    }
    output
        .send(TrackerOutput::Checkpoint(rows))
        .await
        .map_err(|_| OutputClosed)
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
    *published = now;
}
