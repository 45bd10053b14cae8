//! The service, wired top to bottom along the data path:
//!
//! ```text
//! sources ─▶ observations ─▶ tracker shards ─▶ outputs ─▶ recorder ─▶ store ─▶ dispatcher ─▶ channels
//!                                                          (rules)                digest scheduler
//! ```
//!
//! Every stage is a child of one top-level [`sentinel::Supervisor`] (one-for-one, restarts with
//! backoff, intensity 10 in 60 s; beyond that the process exits non-zero naming the stage).
//! Stages talk through bounded channels whose receivers outlive a restart of their stage.
//!
//! Shutdown order (the supervisor cancels every stage at once; the stages order themselves):
//! sources stop reading; the tracker drains what they delivered, flushes its shards and emits
//! the final checkpoint; the recorder waits for that flush, commits the last batch and stops;
//! the dispatcher finishes in-flight sends under shutdown locks; the HTTP server stops last.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lookout_core::{Event, NewNotification, Observation, VesselCheckpoint};
use lookout_feed::ConnectionRegistry;
use lookout_feed::source::{SourceConfig, run_source};
use lookout_notify::router::Router;
use lookout_store::{DigestScheduler, Dispatcher, DispatcherConfig, Store};
use lookout_track::areas::AreaIndex;
use lookout_track::runner::{Changes, ShardConfig, Shards, TrackerOutput};
use lookout_track::tracker::{Reconfigure, TrackerConfig, TrackerInput};
use sentinel::{CancellationToken, ChildSpec, Heartbeat, Restart, Shutdown, Supervisor};
use tokio::sync::{Mutex, mpsc};

use crate::cluster::{ClusterOptions, Role, Roles, wiring};
use crate::ops::{self, OpsState};
use crate::routing::{LiveRouting, ModelSource};

/// Capacity of the observation channel between sources and tracker.
const OBSERVATION_QUEUE: usize = 8192;
/// Capacity of the channel between tracker shards and the recorder.
const OUTPUT_QUEUE: usize = 4096;
/// The recorder beats its heartbeat (and commits anything left waiting) at least this often;
/// otherwise it commits as soon as the previous commit finished (group commit).
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// Most events plus checkpoint rows one group commit takes.
const COMMIT_BATCH: usize = 5000;

/// Everything the service needs, resolved and ready.
pub struct ServiceParts {
    /// The opened, migrated store.
    pub store: Store,
    /// AIS inputs.
    pub sources: Vec<SourceConfig>,
    /// The area index.
    pub areas: Arc<AreaIndex>,
    /// Tracker policies.
    pub tracker: TrackerConfig,
    /// The in-process tracker's areas and policies in force: starts as `areas` and `tracker`
    /// and follows model changes ([`crate::routing`]); cluster partitions keep their start-up
    /// ones.
    pub tracker_setup: tokio::sync::watch::Receiver<Reconfigure>,
    /// Cluster mode: the tracking configuration the model asks for, which the ingest leader
    /// records and publishes into every partition ([`crate::cluster::spec`]); `None` in one
    /// process.
    pub tracker_spec: Option<tokio::sync::watch::Receiver<Arc<crate::cluster::spec::TrackerSpec>>>,
    /// Shard layout.
    pub shards: ShardConfig,
    /// The rules and silences in force, swapped live on a model change ([`crate::routing`]).
    pub routing: LiveRouting,
    /// Where the model is reloaded from; `None`: the model never changes while running.
    pub model_source: Option<ModelSource>,
    /// Renders and sends.
    pub router: Router,
    /// Dispatcher settings.
    pub dispatcher: DispatcherConfig,
    /// How often the digest scheduler looks for closed periods.
    pub digest_interval: Duration,
    /// Ops endpoints address (port 0: any free port).
    pub http_listen: SocketAddr,
    /// The API's per-token rate limit.
    pub api_rate_limit: crate::api::limit::RateLimit,
    /// The roles this instance runs (default all).
    pub roles: Roles,
    /// `[cluster]`: ingest publishes to the observation log and tracking runs on leased
    /// partitions ([`crate::cluster`]); `None` runs both in this process.
    pub cluster: Option<ClusterOptions>,
}

impl std::fmt::Debug for ServiceParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceParts")
            .field("sources", &self.sources.len())
            .field("areas", &self.areas.len())
            .field("http_listen", &self.http_listen)
            .field("roles", &self.roles.to_string())
            .field("cluster", &self.cluster.is_some())
            .finish_non_exhaustive()
    }
}

/// A started service.
#[derive(Debug)]
pub struct Started {
    /// Where the ops endpoints listen.
    pub http_addr: SocketAddr,
    /// The live connections.
    pub registry: ConnectionRegistry,
    /// Resolves when the top-level supervisor has stopped every stage.
    pub supervisor: sentinel::TaskHandle<()>,
}

/// Starts every stage under `shutdown`. Returns once the ops endpoint is bound.
///
/// # Errors
/// The ops address cannot be bound.
pub async fn start(parts: ServiceParts, shutdown: &Shutdown) -> anyhow::Result<Started> {
    // Install the metrics recorder before any stage registers a metric: a handle taken from
    // the no-op recorder stays a no-op for good.
    let _ = ops::prometheus();
    let registry = ConnectionRegistry::new();
    let listener = std::net::TcpListener::bind(parts.http_listen).with_context(|| {
        format!(
            "cannot listen on {} for the ops endpoints",
            parts.http_listen
        )
    })?;
    listener
        .set_nonblocking(true)
        .context("cannot make the ops listener non-blocking")?;
    let http_addr = listener
        .local_addr()
        .context("cannot read the ops listener's address")?;
    let listener = Arc::new(listener);

    let (obs_tx, obs_rx) = mpsc::channel::<Observation>(OBSERVATION_QUEUE);
    let (out_tx, out_rx) = mpsc::channel::<TrackerOutput>(OUTPUT_QUEUE);
    let obs_rx = Arc::new(Mutex::new(obs_rx));
    let out_rx = Arc::new(Mutex::new(out_rx));
    // Cancelled by the tracker stage once its shards flushed on shutdown.
    let flushed = CancellationToken::new();

    let roles = parts.roles.clone();
    if parts.cluster.is_none()
        && let Some(problem) = roles.need_cluster()
    {
        return Err(crate::error::UsageError(problem).into());
    }
    let cluster = match &parts.cluster {
        Some(options) => Some(wiring::cluster_connect(options, &parts.store).await?),
        None => None,
    };
    let mut ops_state = OpsState::new(parts.store.clone(), registry.clone())
        .with_queue("observations", ops::channel_probe(&obs_tx))
        .with_queue("tracker_output", ops::channel_probe(&out_tx))
        .with_webhooks(parts.router.model().webhooks.keys().cloned().collect())
        .with_destinations(parts.router.destinations().clone())
        .with_router(parts.router.clone())
        .with_rate_limit(parts.api_rate_limit);
    if let Some(cluster) = &cluster {
        ops_state = ops_state.with_check("log", cluster.connection_check());
        if roles.has(Role::Track) {
            ops_state = ops_state.with_check("partitions", cluster.partitions_check());
        }
    }

    // Children stop in reverse order of this list, but each stage orders its own shutdown
    // (see the module docs), so the list reads along the data path.
    let mut supervisor = Supervisor::new("lookout")
        .intensity(10, Duration::from_secs(60))
        .child(http_child(Arc::clone(&listener), ops_state).stop_timeout(Duration::from_secs(5)))
        .child(metrics_upkeep_child());
    if let Some(source) = &parts.model_source {
        supervisor = supervisor.child(crate::routing::reload_child(
            source.clone(),
            parts.routing.clone(),
            parts.router.clone(),
        ));
    }
    if roles.has(Role::Dispatch) {
        supervisor = supervisor.child(
            dispatcher_child(&parts, shutdown.clone()).stop_timeout(Duration::from_secs(30)),
        );
    }
    if roles.has(Role::Digest) {
        supervisor = supervisor.child(digest_child(&parts).stop_timeout(Duration::from_secs(10)));
    }
    match &cluster {
        Some(cluster) => {
            if roles.has(Role::Track) {
                supervisor = supervisor.child(
                    wiring::partitions_child(&parts, cluster).stop_timeout(Duration::from_secs(20)),
                );
            }
            if roles.has(Role::Ingest) {
                supervisor = supervisor.child(
                    wiring::ingest_child(&parts, cluster, obs_rx)?
                        .stop_timeout(Duration::from_secs(15)),
                );
            }
        }
        None if roles.has(Role::Track) => {
            supervisor = supervisor
                .child(
                    recorder_child(&parts, out_rx, flushed.clone())
                        .stop_timeout(Duration::from_secs(20)),
                )
                .child(
                    tracker_child(&parts, obs_rx, out_tx, flushed)
                        .stop_timeout(Duration::from_secs(20)),
                );
        }
        None => {}
    }
    let sources: &[SourceConfig] = if roles.has(Role::Ingest) {
        &parts.sources
    } else {
        &[]
    };
    for source in sources {
        let mut source = source.clone();
        if !parts.shards.wall_clock {
            // No wall clock (the accelerated demo): every source is timed by its data.
            source.clock = lookout_core::ClockMode::Data;
        }
        supervisor = supervisor.child(source_child(source, registry.clone(), obs_tx.clone()));
    }
    drop(obs_tx);
    let supervisor = supervisor.spawn(shutdown);
    Ok(Started {
        http_addr,
        registry,
        supervisor,
    })
}

fn http_child(listener: Arc<std::net::TcpListener>, state: OpsState) -> ChildSpec {
    ChildSpec::with_token("http", move |token| {
        let listener = listener.try_clone();
        let app = ops::app(state.clone().with_shutdown(token.clone()));
        async move {
            let listener = tokio::net::TcpListener::from_std(listener?)?;
            sentinel::http::serve(listener, app, token).await
        }
    })
}

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus recorder keeps every histogram sample until an upkeep folds it into its
/// buckets; `/metrics` does one per scrape, and this child one every
/// [`METRICS_UPKEEP_EVERY`], so an unscraped service's samples stay bounded (a thousand feed
/// connections once left ~600 KB of connection-duration samples behind per thousand).
fn metrics_upkeep_child() -> ChildSpec {
    ChildSpec::with_token("metrics-upkeep", |token| async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = every.tick() => {
                    if let Some(handle) = ops::prometheus() {
                        handle.run_upkeep();
                    }
                }
            }
        }
        Ok::<(), std::convert::Infallible>(())
    })
}

fn source_child(
    config: SourceConfig,
    registry: ConnectionRegistry,
    out: mpsc::Sender<Observation>,
) -> ChildSpec {
    let name = format!("source/{}", config.name);
    // A file source that reached its end is done; a failed source restarts with backoff
    // (network sources redial by themselves and only fail on errors such as a bind failure).
    ChildSpec::with_token(name, move |token| {
        let fut = run_source(config.clone(), registry.clone(), out.clone(), token);
        async move {
            let stats = fut.await?;
            tracing::info!(?stats, "source finished");
            Ok::<(), lookout_feed::FeedError>(())
        }
    })
    .restart(Restart::Transient)
}

fn tracker_child(
    parts: &ServiceParts,
    obs_rx: Arc<Mutex<mpsc::Receiver<Observation>>>,
    out_tx: mpsc::Sender<TrackerOutput>,
    flushed: CancellationToken,
) -> ChildSpec {
    let store = parts.store.clone();
    let setup = parts.tracker_setup.clone();
    let shards = parts.shards.clone();
    let live = is_live(parts);
    ChildSpec::with_token("tracker", move |token| {
        track(
            store.clone(),
            setup.clone(),
            shards.clone(),
            live,
            Arc::clone(&obs_rx),
            out_tx.clone(),
            token,
            flushed.clone(),
        )
    })
}

/// The wall clock drives the tracker only when a source is live: a network source on the
/// ingest clock (a file source replays the data's own clock, a `clock = "data"` source such as
/// an accelerated simulator is timed by its data, and so is the demo).
pub(crate) fn is_live(parts: &ServiceParts) -> bool {
    parts.shards.wall_clock
        && parts.sources.iter().any(|s| {
            !matches!(s.kind, lookout_feed::source::SourceKind::File(_))
                && s.clock == lookout_core::ClockMode::Live
        })
}

/// No observation for this long (wall clock) means the feed is down: ticks stop moving the
/// tracker clock until it is back.
const FEED_SILENCE: Duration = crate::cluster::ingest::FEED_SILENCE;

/// The tracker stage: waits until the recorder committed everything a previous generation
/// emitted, restores the checkpoint, routes observations to the shards, and on shutdown (or
/// failure) drains what it took and stops every shard before returning, so two generations
/// never run at once.
///
/// In a live service it sends `Resume` at start, a `Tick` with the wall clock every second,
/// and `FeedDown`/`FeedUp` when observations stop for [`FEED_SILENCE`] and come back: the
/// tracker's clock is derived from those inputs only (a log can carry them).
/// When the model's areas or policies change it sends `Reconfigure` to every shard.
#[allow(clippy::too_many_arguments)]
async fn track(
    store: Store,
    mut setup: tokio::sync::watch::Receiver<Reconfigure>,
    shard_config: ShardConfig,
    live: bool,
    obs_rx: Arc<Mutex<mpsc::Receiver<Observation>>>,
    out_tx: mpsc::Sender<TrackerOutput>,
    token: CancellationToken,
    flushed: CancellationToken,
) -> anyhow::Result<()> {
    // The previous generation (if any) stopped before returning; wait until the recorder
    // committed its last output, so the checkpoint read next is not older than it.
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    out_tx
        .send(TrackerOutput::Barrier(ack_tx))
        .await
        .context("the recorder has gone")?;
    tokio::select! {
        () = token.cancelled() => {
            flushed.cancel();
            return Ok(());
        }
        ack = ack_rx => ack.context("the recorder dropped the barrier")?,
    }
    let restore = store
        .load_checkpoint()
        .await
        .context("cannot load the tracker checkpoint")?;
    tracing::info!(rows = restore.len(), "tracker restored its checkpoint");
    // The areas and policies in force now (a restart after a model change takes the new ones).
    let current = setup.borrow_and_update().clone();
    let (areas, tracker) = &*current.0;
    let shards = Shards::start(Arc::clone(areas), tracker, &shard_config, restore, out_tx)
        .context("cannot start the tracker shards")?;
    let routed = route(&shards, live, &obs_rx, &mut setup, &token).await;
    let stats = shards.finish().await;
    routed?;
    let stats = stats.context("a tracker shard failed while flushing")?;
    let accepted: u64 = stats.iter().map(|s| s.accepted).sum();
    tracing::info!(
        shards = stats.len(),
        accepted,
        "tracker flushed its final checkpoint"
    );
    flushed.cancel();
    Ok(())
}

/// Routes observations (and in a live service the clock inputs) until shutdown, then takes
/// what the sources already delivered.
async fn route(
    shards: &Shards,
    live: bool,
    obs_rx: &Mutex<mpsc::Receiver<Observation>>,
    setup: &mut tokio::sync::watch::Receiver<Reconfigure>,
    token: &CancellationToken,
) -> anyhow::Result<()> {
    let mut rx = obs_rx.lock().await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_obs = tokio::time::Instant::now();
    let mut feed_down = false;
    if live {
        shards
            .broadcast(TrackerInput::Resume {
                at: jiff::Timestamp::now(),
            })
            .await
            .context("tracker shards stopped")?;
    }
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => break,
            obs = rx.recv() => match obs {
                Some(obs) => {
                    if live && feed_down {
                        feed_down = false;
                        shards
                            .broadcast(TrackerInput::FeedUp { at: jiff::Timestamp::now() })
                            .await
                            .context("tracker shards stopped")?;
                    }
                    last_obs = tokio::time::Instant::now();
                    shards.send(obs).await.context("tracker shards stopped")?;
                }
                None => break,
            },
            // The model changed: every shard switches between two of its inputs.
            Ok(()) = setup.changed() => {
                let next = setup.borrow_and_update().clone();
                shards
                    .broadcast(TrackerInput::Reconfigure(next))
                    .await
                    .context("tracker shards stopped")?;
            }
            _ = tick.tick(), if live => {
                let input = if !feed_down && last_obs.elapsed() >= FEED_SILENCE {
                    feed_down = true;
                    let silent = jiff::SignedDuration::try_from(last_obs.elapsed()).unwrap_or_default();
                    TrackerInput::FeedDown {
                        at: jiff::Timestamp::now().checked_sub(silent).unwrap_or_else(|_| jiff::Timestamp::now()),
                    }
                } else {
                    TrackerInput::Tick { ingest_time: jiff::Timestamp::now() }
                };
                shards.broadcast(input).await.context("tracker shards stopped")?;
            }
        }
    }
    // Shutting down: take what the sources already delivered, then flush.
    rx.close();
    while let Some(obs) = rx.recv().await {
        shards.send(obs).await.context("tracker shards stopped")?;
    }
    Ok(())
}

fn recorder_child(
    parts: &ServiceParts,
    out_rx: Arc<Mutex<mpsc::Receiver<TrackerOutput>>>,
    flushed: CancellationToken,
) -> ChildSpec {
    let store = parts.store.clone();
    let routing = parts.routing.clone();
    // Outlives a restart of the recorder: what was received and not yet committed is kept.
    let batch = Arc::new(Mutex::new(Batch::default()));
    ChildSpec::with_token("recorder", move |token| {
        record(
            store.clone(),
            routing.clone(),
            Arc::clone(&out_rx),
            Arc::clone(&batch),
            token,
            flushed.clone(),
        )
    })
}

/// Events, their notifications and the checkpoint rows waiting for one transaction.
#[derive(Debug, Default)]
struct Batch {
    events: Vec<Event>,
    notifications: Vec<NewNotification>,
    checkpoint: BTreeMap<u32, VesselCheckpoint>,
}

impl Batch {
    /// Adds one shard unit whole: its events, their notifications and its rows.
    fn push(&mut self, changes: Changes, routing: &LiveRouting) {
        let routing = routing.current();
        let mut notifications = Vec::new();
        for event in &changes.events {
            notifications.extend(routing.route(event));
        }
        self.notifications.append(&mut notifications);
        self.events.extend(changes.events);
        for row in changes.checkpoint {
            self.checkpoint.insert(row.mmsi, row);
        }
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.checkpoint.is_empty()
    }
}

/// The recorder stage: matches events to rules and writes events, notifications and the
/// checkpoint rows that came with them in one transaction (whole shard units only, so a row
/// is never committed without the events that changed it, nor the reverse). A failed commit
/// is retried with backoff, keeping the batch (the bounded channels push back on the tracker
/// and the sources meanwhile). A barrier is answered once everything before it is committed.
async fn record(
    store: Store,
    rules: LiveRouting,
    out_rx: Arc<Mutex<mpsc::Receiver<TrackerOutput>>>,
    batch: Arc<Mutex<Batch>>,
    token: CancellationToken,
    flushed: CancellationToken,
) -> anyhow::Result<()> {
    let heartbeat = Heartbeat::register("recorder", Duration::from_secs(60));
    let mut rx = out_rx.lock().await;
    let mut batch = batch.lock().await;
    let mut tick = tokio::time::interval(COMMIT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => break,
            output = rx.recv() => match output {
                Some(TrackerOutput::Changes(changes)) => {
                    // Group commit: take whatever else is already queued (bounded), then commit
                    // at once; what arrives meanwhile waits in the channel for the next round.
                    batch.push(changes, &rules);
                    let mut barrier = None;
                    while batch.events.len() + batch.checkpoint.len() < COMMIT_BATCH {
                        match rx.try_recv() {
                            Ok(TrackerOutput::Changes(more)) => batch.push(more, &rules),
                            Ok(TrackerOutput::Barrier(ack)) => {
                                barrier = Some(ack);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    commit(&store, &mut batch, &token, &heartbeat).await;
                    if let Some(ack) = barrier {
                        let _ = ack.send(());
                    }
                }
                Some(TrackerOutput::Barrier(ack)) => {
                    if !batch.is_empty() {
                        commit(&store, &mut batch, &token, &heartbeat).await;
                    }
                    // The tracker stage may have gone meanwhile; nobody to tell then.
                    let _ = ack.send(());
                }
                None => break,
            },
            _ = tick.tick() => {
                heartbeat.beat();
                if !batch.is_empty() {
                    commit(&store, &mut batch, &token, &heartbeat).await;
                }
            }
        }
    }
    // Shutting down: wait for the tracker's final flush, then take everything it emitted.
    if tokio::time::timeout(Duration::from_secs(15), flushed.cancelled())
        .await
        .is_err()
    {
        tracing::warn!("tracker did not flush within 15 s; recording what it emitted so far");
    }
    while let Ok(output) = rx.try_recv() {
        match output {
            TrackerOutput::Changes(changes) => batch.push(changes, &rules),
            TrackerOutput::Barrier(ack) => {
                let _ = ack.send(());
            }
        }
    }
    if !batch.is_empty() {
        commit(&store, &mut batch, &CancellationToken::new(), &heartbeat).await;
    }
    Ok(())
}

/// Commits `batch`, retrying with backoff until it succeeds. After `token` is cancelled it
/// tries a few more times, then gives up with an error log naming what was not recorded.
async fn commit(
    store: &Store,
    batch: &mut Batch,
    token: &CancellationToken,
    heartbeat: &Heartbeat,
) {
    // Taken, not cloned: the rows live here until they are committed (or given up at shutdown).
    let checkpoint: Vec<VesselCheckpoint> = std::mem::take(&mut batch.checkpoint)
        .into_values()
        .collect();
    let mut delay = Duration::from_millis(200);
    let mut attempts_after_cancel = 0;
    loop {
        match store
            .commit(&batch.events, &batch.notifications, &checkpoint)
            .await
        {
            Ok(n_new) => {
                metrics::counter!("lookout_events_total").increment(batch.events.len() as u64);
                tracing::debug!(
                    events = batch.events.len(),
                    notifications = n_new,
                    checkpoint = checkpoint.len(),
                    "recorded"
                );
                *batch = Batch::default();
                return;
            }
            Err(err) => {
                metrics::counter!("lookout_record_failures_total").increment(1);
                tracing::error!(
                    error = %sentinel::error_chain(&err),
                    events = batch.events.len(),
                    notifications = batch.notifications.len(),
                    retry_in = ?delay,
                    "cannot record events; retrying"
                );
                if token.is_cancelled() {
                    attempts_after_cancel += 1;
                    if attempts_after_cancel >= 3 {
                        tracing::error!(
                            events = batch.events.len(),
                            notifications = batch.notifications.len(),
                            "giving up at shutdown: these events were not recorded; the tracker \
                             checkpoint was not advanced either, so they are re-derived from \
                             the next positions after restart"
                        );
                        *batch = Batch::default();
                        return;
                    }
                }
                tokio::time::sleep(delay).await;
                heartbeat.beat();
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn dispatcher_child(parts: &ServiceParts, shutdown: Shutdown) -> ChildSpec {
    let store = parts.store.clone();
    let router = Arc::new(crate::delivery_metrics::Measured::new(parts.router.clone()));
    let config = parts.dispatcher.clone();
    ChildSpec::with_token("dispatcher", move |token| {
        Dispatcher::new(store.clone(), Arc::clone(&router), config.clone())
            .with_shutdown(shutdown.clone())
            .run(token)
    })
}

fn digest_child(parts: &ServiceParts) -> ChildSpec {
    let store = parts.store.clone();
    let router = parts.router.clone();
    let interval = parts.digest_interval;
    ChildSpec::with_token("digest-scheduler", move |token| {
        let router = router.clone();
        let schedules = Arc::new(move || crate::setup::digest_schedules(&router.model()));
        let scheduler = DigestScheduler::live(store.clone(), schedules, interval);
        async move {
            scheduler.run(token).await;
            Ok::<(), std::convert::Infallible>(())
        }
    })
}
