//! The track role in a cluster: one [`Tracker`] per leased partition, driven by
//! `lookout_cluster::runner`, its clock advanced only by the partition's log.
//!
//! - `restore`: the partition's checkpoint rows (`partition_checkpoints`), which include every
//!   record up to the lease's `last_applied_seq`, under the tracking configuration the
//!   partition committed with them (`partition_tracker_specs`; the instance's own at first).
//! - `prepare`: loads the tracking configuration a `Reconfigure` record names
//!   (`tracker_specs`), so `apply` needs no I/O.
//! - `apply`: each record becomes a [`TrackerInput`] in log order (the tracker forgets silent
//!   vessels by its own clock, so a replay forgets at the same records); a `Reconfigure`
//!   switches areas and policies at that record, so a replay switches at the same one.
//! - `commit`: the events, the notifications the rules make of them, the changed checkpoint
//!   rows and the configuration in force, inside the runner's transaction fenced by the
//!   lease's epoch. A stale owner's commit fails, and a new owner replays from the committed
//!   sequence to the same events with the same dedupe keys, so the outbox keeps the first
//!   notification (and its id).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::cluster::spec::TrackerSpec;
use crate::config::Config;
use crate::routing::LiveRouting;
use lookout_cluster::log::{Entry, LogRecord};
use lookout_cluster::runner::Partitioned;
use lookout_core::{Event, NewNotification, Observation, VesselCheckpoint};
use lookout_store::{Store, StoreError};
use lookout_track::areas::AreaIndex;
use lookout_track::runner::ShardConfig;
use lookout_track::tracker::{Reconfigure, Tracker, TrackerConfig, TrackerInput};

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

/// How a stored tracking configuration becomes a partition's areas and policies: the main
/// file's `[tracker]` table, and the per-partition share of `max_vessels`.
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    /// The configuration (its `[tracker]` table).
    pub config: Arc<Config>,
    /// The shard settings `[tracker]` applies to.
    pub shards: ShardConfig,
    /// Most vessels one partition keeps.
    pub max_vessels: usize,
}

/// Configurations kept built, by id (a partition switches rarely; a few cover a replay).
const SPEC_CACHE: usize = 8;

/// What a partition's tracker needs.
#[derive(Debug)]
pub struct TrackerApp {
    store: Store,
    areas: Arc<AreaIndex>,
    routing: LiveRouting,
    config: TrackerConfig,
    builder: Option<SpecBuilder>,
    specs: Mutex<BTreeMap<String, Reconfigure>>,
    /// What `prepare` built for the batch `apply` sees next, by partition: other partitions
    /// load theirs meanwhile and may evict it from `specs`.
    prepared: Mutex<HashMap<u32, BTreeMap<String, Reconfigure>>>,
}

impl TrackerApp {
    /// A tracker app over `areas`, routing by `routing`; each partition keeps
    /// `config.max_vessels`. Without [`TrackerApp::with_specs`], `Reconfigure` records are
    /// ignored.
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
            builder: None,
            specs: Mutex::new(BTreeMap::new()),
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// Follows the tracking configurations the log names, built by `builder`.
    pub fn with_specs(mut self, builder: SpecBuilder) -> TrackerApp {
        self.builder = Some(builder);
        self
    }

    fn cached(&self, id: &str) -> Option<Reconfigure> {
        let specs = self
            .specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        specs.get(id).cloned()
    }

    /// The built configuration `id`, from the cache or the store. `Ok(None)` when it cannot be
    /// used (unknown id, undecodable, unbuildable: logged and counted); `Err` when the store
    /// failed (the worker retries).
    async fn load_spec(&self, partition: u32, id: &str) -> Result<Option<Reconfigure>, TrackError> {
        if let Some(built) = self.cached(id) {
            return Ok(Some(built));
        }
        let Some(builder) = &self.builder else {
            return Ok(None);
        };
        let unusable = |why: String| {
            metrics::counter!("lookout_tracker_spec_unusable_total").increment(1);
            tracing::error!(partition, spec = id, problem = %why,
                "the log names a tracking configuration that cannot be used; the partition keeps its own");
            Ok(None)
        };
        let Some(json) = self.store.tracker_spec(id).await? else {
            return unusable("not in the store".into());
        };
        let spec: TrackerSpec = match serde_json::from_str(&json) {
            Ok(spec) => spec,
            Err(error) => return unusable(format!("does not decode: {error}")),
        };
        let (areas, mut config, problems) =
            match spec.build(&builder.config, &mut builder.shards.clone()) {
                Ok(built) => built,
                Err(error) => return unusable(error),
            };
        for problem in problems {
            tracing::error!(partition, spec = id, %problem, "an area of the tracking configuration is left out");
        }
        config.max_vessels = builder.max_vessels;
        let built = Reconfigure(Arc::new((areas, config)));
        let mut specs = self
            .specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if specs.len() >= SPEC_CACHE
            && let Some(evicted) = specs.keys().next().cloned()
        {
            // Any one: a partition that still needs it loads it again from the store.
            specs.remove(&evicted);
        }
        specs.insert(id.to_owned(), built.clone());
        Ok(Some(built))
    }
}

/// One partition in memory: its tracker and what was applied but not yet committed.
#[derive(Debug)]
pub struct PartitionState {
    tracker: Tracker,
    events: Vec<Event>,
    rows: Vec<VesselCheckpoint>,
    /// The tracking configuration in force (`None`: the instance's own, never switched).
    spec: Option<String>,
    /// `spec` changed since the last commit.
    spec_changed: bool,
}

/// The tracker input of one log record; `None` for a `Reconfigure` (see [`TrackerApp`]).
pub fn input_of(record: &LogRecord<Observation>) -> Option<TrackerInput> {
    Some(match record {
        LogRecord::Observation { observation } => TrackerInput::Observation(observation.clone()),
        LogRecord::Tick { ingest_time } => TrackerInput::Tick {
            ingest_time: *ingest_time,
        },
        LogRecord::FeedDown { at, .. } => TrackerInput::FeedDown { at: *at },
        LogRecord::FeedUp { at, .. } => TrackerInput::FeedUp { at: *at },
        LogRecord::Resume { at } => TrackerInput::Resume { at: *at },
        LogRecord::Reconfigure { .. } => return None,
    })
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
        let spec = match &self.builder {
            Some(_) => self.store.partition_tracker_spec(partition).await?,
            None => None,
        };
        let built = match &spec {
            Some(id) => self.load_spec(partition, id).await?,
            None => None,
        };
        let mut tracker = match &built {
            Some(Reconfigure(setup)) => Tracker::new(Arc::clone(&setup.0), setup.1.clone())?,
            None => Tracker::new(Arc::clone(&self.areas), self.config.clone())?,
        };
        let report = tracker.restore(rows);
        tracing::info!(
            partition,
            after_seq = last_applied_seq,
            vessels = report.restored,
            skipped = report.skipped.len(),
            spec = spec.as_deref().unwrap_or("the instance's"),
            "partition restored its checkpoint"
        );
        Ok(PartitionState {
            tracker,
            events: Vec::new(),
            rows: Vec::new(),
            spec: built.and(spec),
            spec_changed: false,
        })
    }

    async fn prepare(
        &self,
        partition: u32,
        records: &[Entry<Observation>],
    ) -> Result<(), TrackError> {
        let mut built = BTreeMap::new();
        for entry in records {
            if let Ok(LogRecord::Reconfigure { spec }) = &entry.record
                && let Some(setup) = self.load_spec(partition, spec).await?
            {
                built.insert(spec.clone(), setup);
            }
        }
        let mut prepared = self
            .prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prepared.insert(partition, built);
        Ok(())
    }

    fn apply(&self, partition: u32, state: &mut PartitionState, records: &[Entry<Observation>]) {
        let prepared = self
            .prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&partition)
            .unwrap_or_default();
        for entry in records {
            match &entry.record {
                Ok(LogRecord::Reconfigure { spec }) => {
                    if state.spec.as_deref() == Some(spec.as_str()) {
                        continue;
                    }
                    // Prepared (or unusable, then logged there): switch at this record.
                    if let Some(built) = prepared.get(spec).cloned() {
                        state
                            .tracker
                            .apply(&TrackerInput::Reconfigure(built), &mut state.events);
                        state.spec = Some(spec.clone());
                        state.spec_changed = true;
                        tracing::info!(partition, seq = entry.seq, spec = %spec, "partition switched its tracking configuration");
                    }
                }
                Ok(record) => {
                    if let Some(input) = input_of(record) {
                        state.tracker.apply(&input, &mut state.events);
                    }
                }
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
        if state.spec_changed
            && let Some(spec) = &state.spec
        {
            self.store
                .set_partition_tracker_spec(tx, partition, spec)
                .await?;
        }
        state.spec_changed = false;
        metrics::counter!("lookout_events_total").increment(state.events.len() as u64);
        state.events.clear();
        state.rows.clear();
        Ok(())
    }
}
