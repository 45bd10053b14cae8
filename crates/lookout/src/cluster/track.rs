//! The track role in a cluster: one [`Tracker`] per leased partition, driven by
//! `lookout_cluster::runner`, its clock advanced only by the partition's log.
//!
//! - `restore`: the partition's checkpoint rows (`partition_checkpoints`), which include every
//!   record up to the lease's `last_applied_seq`.
//! - `apply`: each record becomes a [`TrackerInput`] in log order (the tracker forgets silent
//!   vessels by its own clock, so a replay forgets at the same records).
//! - `commit`: the events, the notifications the rules make of them and the changed checkpoint
//!   rows, inside the runner's transaction fenced by the lease's epoch. A stale owner's commit
//!   fails, and a new owner replays from the committed sequence to the same events with the
//!   same dedupe keys, so the outbox keeps the first notification (and its id).

use std::sync::Arc;

use crate::routing::LiveRouting;
use lookout_cluster::log::{Entry, LogRecord};
use lookout_cluster::runner::Partitioned;
use lookout_core::{Event, NewNotification, Observation, VesselCheckpoint};
use lookout_store::{Store, StoreError};
use lookout_track::areas::AreaIndex;
use lookout_track::tracker::{Tracker, TrackerConfig, TrackerInput};

/// Errors of the partitioned tracker.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tracker configuration is inconsistent with the areas.
    #[error("tracker configuration: {0}")]
    Config(#[from] lookout_track::tracker::ConfigError),
}

/// What a partition's tracker needs.
#[derive(Debug)]
pub struct TrackerApp {
    store: Store,
    areas: Arc<AreaIndex>,
    routing: LiveRouting,
    config: TrackerConfig,
}

impl TrackerApp {
    /// A tracker app over `areas`, routing by `routing`; each partition keeps
    /// `config.max_vessels`.
    pub fn new(
        store: Store,
        areas: Arc<AreaIndex>,
        routing: LiveRouting,
        config: TrackerConfig,
    ) -> TrackerApp {
        TrackerApp {
            store,
            areas,
            routing,
            config,
        }
    }
}

/// One partition in memory: its tracker and what was applied but not yet committed.
#[derive(Debug)]
pub struct PartitionState {
    tracker: Tracker,
    events: Vec<Event>,
    rows: Vec<VesselCheckpoint>,
}

/// The tracker input of one log record.
pub fn input_of(record: &LogRecord<Observation>) -> TrackerInput {
    match record {
        LogRecord::Observation { observation } => TrackerInput::Observation(observation.clone()),
        LogRecord::Tick { ingest_time } => TrackerInput::Tick {
            ingest_time: *ingest_time,
        },
        LogRecord::FeedDown { at, .. } => TrackerInput::FeedDown { at: *at },
        LogRecord::FeedUp { at, .. } => TrackerInput::FeedUp { at: *at },
        LogRecord::Resume { at } => TrackerInput::Resume { at: *at },
    }
}

impl Partitioned for TrackerApp {
    type Observation = Observation;
    type State = PartitionState;
    type Error = TrackError;

    async fn restore(
        &self,
        partition: u32,
        last_applied_seq: u64,
    ) -> Result<PartitionState, TrackError> {
        let rows = self.store.load_partition_checkpoint(partition).await?;
        let mut tracker = Tracker::new(Arc::clone(&self.areas), self.config.clone())?;
        let report = tracker.restore(rows);
        tracing::info!(
            partition,
            after_seq = last_applied_seq,
            vessels = report.restored,
            skipped = report.skipped.len(),
            "partition restored its checkpoint"
        );
        Ok(PartitionState {
            tracker,
            events: Vec::new(),
            rows: Vec::new(),
        })
    }

    fn apply(&self, partition: u32, state: &mut PartitionState, records: &[Entry<Observation>]) {
        for entry in records {
            match &entry.record {
                Ok(record) => state.tracker.apply(&input_of(record), &mut state.events),
                // Skipped, never retried: it would not decode the next time either.
                Err(error) => {
                    metrics::counter!("lookout_obslog_undecodable_total").increment(1);
                    tracing::error!(partition, seq = entry.seq, error = %sentinel::error_chain(error),
                        "skipping a log record that does not decode");
                }
            }
        }
        state.rows.append(&mut state.tracker.take_dirty());
    }

    async fn commit(
        &self,
        tx: &mut sqlx::PgConnection,
        partition: u32,
        state: &mut PartitionState,
    ) -> Result<(), TrackError> {
        let routing = self.routing.current();
        let mut notifications: Vec<NewNotification> = Vec::new();
        for event in &state.events {
            notifications.extend(routing.route(event));
        }
        self.store
            .commit_partition(tx, partition, &state.events, &notifications, &state.rows)
            .await?;
        metrics::counter!("lookout_events_total").increment(state.events.len() as u64);
        state.events.clear();
        state.rows.clear();
        Ok(())
    }
}
