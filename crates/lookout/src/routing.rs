//! The live routing model (issue 12): the rule index and the silences the recorder applies,
//! built from the model in the store and swapped whole when it changes, without a restart.
//!
//! - **Whole swaps.** [`LiveRouting`] holds one [`Routing`] (rules, silences and the model
//!   version they came from); a reload builds the next one aside and swaps it in, so an event
//!   is routed by one version, never half of two. The router's model (recipients, channels) is
//!   swapped in the same step.
//! - **Change detection.** Every write to the model is audited in its own transaction, so the
//!   audit's count and highest id ([`Store::model_version`]) change exactly when the model
//!   does. The reloader polls it (each second by default; one indexed aggregate) on every
//!   instance and backend alike: no connection to keep listening on, and a change committed
//!   while an instance was away is seen when it is back.
//! - **Contained problems.** A stored object that fails the checks (a webhook endpoint removed
//!   from the main file, a secret missing from the environment) is left out and logged by name,
//!   and the others run; a reload that fails (the database is away) keeps the previous model
//!   and is retried at the next poll. Both are counted (`lookout_model_reloads_total`,
//!   `lookout_model_problems`).
//! - **Silences by event time.** A notification is silenced when a silence of its
//!   organisation is in force at its event's time and matches it, so a replay silences the
//!   same notifications. It is recorded as `silenced` with the silence's id, never sent.
//! - **The tracker follows.** Areas, gap thresholds and dwells feed the tracker's state. In one
//!   process, a change is handed to the tracker stage, which switches every shard between two
//!   of its inputs (`TrackerInput::Reconfigure`: vessels kept, a removed area falls silent
//!   without `exited`, a vessel inside an added area enters it at its next report). Cluster
//!   partitions apply only what their log carries, so there the change goes to the ingest
//!   leader as a [`crate::cluster::spec::TrackerSpec`], which it records and names in every
//!   partition; each switches at that record. Areas that cannot be indexed are reported
//!   (`lookout_model_tracker_stale` and an error) and the tracker keeps its own.
//!   Rules, users, vessels, fleets and silences take effect at once everywhere.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lookout_core::swap::Swap;
use lookout_core::{Event, NewNotification};
use lookout_notify::model::Model;
use lookout_notify::router::Router;
use lookout_notify::rules::RuleIndex;
use lookout_store::Store;
use lookout_store::model::{ModelVersion, Silence, Subject};
use lookout_track::runner::ShardConfig;
use lookout_track::tracker::Reconfigure;
use sentinel::{ChildSpec, Heartbeat};

use crate::config::{Config, EnvSource, StoredModel};

/// How often the reloader polls the model version.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// The longest one reload may take (a store that hangs must not stall the loop).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// How far back silences are kept: an event that arrives late is still silenced by a silence
/// in force at its time if that silence ended less than this long ago.
const SILENCE_LOOKBACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// One version of what routing applies.
#[derive(Debug)]
pub struct Routing {
    /// The rules.
    pub rules: RuleIndex,
    silences: HashMap<String, Vec<Silence>>,
    /// The model version it was built from.
    pub version: ModelVersion,
}

impl Routing {
    /// Routing by `model`'s rules, muted by `silences`.
    pub fn new(model: Arc<Model>, silences: Vec<Silence>, version: ModelVersion) -> Routing {
        let mut by_org: HashMap<String, Vec<Silence>> = HashMap::new();
        for s in silences {
            by_org.entry(s.org_id.clone()).or_default().push(s);
        }
        Routing {
            rules: RuleIndex::new(model),
            silences: by_org,
            version,
        }
    }

    /// The notifications `event` makes, each marked with the silence that mutes it, if any.
    pub fn route(&self, event: &Event) -> Vec<NewNotification> {
        let mut out = self.rules.match_event(event).notifications;
        for n in &mut out {
            n.silence_id = self.silence_of(n).map(str::to_owned);
            if n.silence_id.is_some() {
                metrics::counter!("lookout_notifications_silenced_total").increment(1);
            }
        }
        out
    }

    /// The first silence of `n`'s organisation in force at its event's time that matches it.
    fn silence_of(&self, n: &NewNotification) -> Option<&str> {
        let silences = self.silences.get(&n.org_id)?;
        let model = self.rules.model();
        let mmsi = n.event.mmsi;
        let fleets: Vec<String> = model
            .fleets
            .values()
            .filter(|f| f.org_id == n.org_id && f.mmsi.contains(&mmsi))
            .map(|f| f.id.clone())
            .collect();
        let tags: Vec<String> = model
            .registry(&n.org_id)
            .get(&mmsi)
            .map(|v| v.tags.iter().cloned().collect())
            .unwrap_or_default();
        let subject = Subject {
            mmsi,
            fleets: &fleets,
            tags: &tags,
            area: &n.event.area_id,
            rule: &n.rule_id,
            kind: n.event.kind.as_str(),
        };
        silences
            .iter()
            .find(|s| s.silences(n.event.at, &subject))
            .map(|s| s.id.as_str())
    }
}

/// The routing in force, shared by the recorder(s) and swapped by the reloader. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveRouting(Swap<Routing>);

impl LiveRouting {
    /// Starts with `routing`.
    pub fn new(routing: Routing) -> LiveRouting {
        LiveRouting(Swap::new(Arc::new(routing)))
    }

    /// The routing in force now (hold it for one batch, not longer).
    pub fn current(&self) -> Arc<Routing> {
        self.0.load()
    }

    fn replace(&self, routing: Routing) {
        self.0.store(Arc::new(routing));
    }
}

/// What the reloader needs: where the model lives and how to resolve it.
#[derive(Clone)]
pub struct ModelSource {
    /// The store holding the model.
    pub store: Store,
    /// The main file (webhooks, SMTP, base directory).
    pub config: Arc<Config>,
    /// Where secrets are read.
    pub env: Arc<dyn EnvSource + Send + Sync>,
    /// The tracker's inputs in force ([`tracker_inputs`]).
    pub tracker_inputs: Arc<std::sync::Mutex<String>>,
    /// Where the in-process tracker takes new areas and policies; `None` in cluster mode.
    pub tracker_updates: Option<tokio::sync::watch::Sender<Reconfigure>>,
    /// Cluster mode: where the tracking configuration goes for the ingest leader to record and
    /// publish into every partition of the log.
    pub tracker_specs: Option<tokio::sync::watch::Sender<Arc<crate::cluster::spec::TrackerSpec>>>,
    /// The shard layout (the `[tracker]` table applies to it and to the policies).
    pub shards: ShardConfig,
    /// How often the model version is polled.
    pub poll_every: Duration,
}

impl std::fmt::Debug for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSource")
            .field("config", &self.config.path)
            .field("poll_every", &self.poll_every)
            .finish_non_exhaustive()
    }
}

/// A resolved model read from the store, with its silences and version.
#[derive(Debug)]
pub struct Loaded {
    /// The resolved model and areas (and what was left out).
    pub stored: StoredModel,
    /// Silences in force or to come (and recently ended).
    pub silences: Vec<Silence>,
    /// The version read before the model (a change racing the read is seen next poll).
    pub version: ModelVersion,
}

/// Reads and resolves the store's model.
///
/// # Errors
/// A database error.
pub async fn load(
    store: &Store,
    config: &Config,
    env: &(dyn EnvSource + Sync),
) -> Result<Loaded, lookout_store::StoreError> {
    let version = store.model_version().await?;
    let snapshot = store.model_snapshot().await?;
    let since = jiff::Timestamp::now()
        .checked_sub(SILENCE_LOOKBACK)
        .unwrap_or(jiff::Timestamp::MIN);
    let silences = store.silences_ending_after(since).await?;
    let stored = crate::config::from_store(config, &snapshot, env);
    for problem in &stored.problems {
        tracing::error!(%problem, "stored model object left out");
    }
    metrics::gauge!("lookout_model_problems").set(stored.problems.len() as f64);
    Ok(Loaded {
        stored,
        silences,
        version,
    })
}

/// What of a model the tracker runs: areas (by id, definition) and each area's needs, as text
/// (compared, never parsed).
pub fn tracker_inputs(stored: &StoredModel, rules: &RuleIndex) -> String {
    let areas: BTreeMap<&str, String> = stored
        .areas
        .iter()
        .map(|a| (a.id.as_str(), crate::config::area_definition(a).to_string()))
        .collect();
    format!("{areas:?}\n{:?}", rules.area_needs())
}

/// Hands changed areas and policies to the in-process tracker, or (cluster mode, or areas that
/// cannot be indexed) reports that they are not taken.
fn update_tracker(source: &ModelSource, stored: &StoredModel, rules: &RuleIndex) {
    let inputs = tracker_inputs(stored, rules);
    let mut in_force = match source.tracker_inputs.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if *in_force == inputs {
        return;
    }
    let applied = match (&source.tracker_updates, &source.tracker_specs) {
        (None, None) => false,
        (None, Some(specs)) => {
            let spec = crate::cluster::spec::TrackerSpec::of(stored, rules);
            match spec.build(&source.config, &mut source.shards.clone()) {
                Ok(_) => {
                    tracing::info!(
                        spec = %spec.id(),
                        areas = stored.areas.len(),
                        "the tracking configuration changed: each partition switches at the record the ingest leader publishes"
                    );
                    specs.send_replace(Arc::new(spec));
                    true
                }
                Err(error) => {
                    tracing::error!(%error, "changed areas cannot be indexed; the partitions keep their areas");
                    false
                }
            }
        }
        (Some(updates), _) => match crate::setup::tracker_setup(
            &source.config,
            stored.areas.clone(),
            rules,
            &mut source.shards.clone(),
        ) {
            Ok(setup) => {
                updates.send_replace(Reconfigure(Arc::new(setup)));
                tracing::info!(
                    areas = stored.areas.len(),
                    "tracker takes the changed areas and policies"
                );
                true
            }
            Err(error) => {
                tracing::error!(%error, "changed areas cannot be indexed; the tracker keeps its areas");
                false
            }
        },
    };
    if applied {
        *in_force = inputs;
        metrics::gauge!("lookout_model_tracker_stale").set(0.0);
    } else {
        metrics::gauge!("lookout_model_tracker_stale").set(1.0);
        tracing::warn!(
            "stored areas, gap thresholds or dwells differ from what the tracker runs and cannot be taken; they are retried at the next model change"
        );
    }
}

/// The reloader: polls the model version and swaps in a new [`Routing`] (and the router's
/// model) when it changed.
pub fn reload_child(source: ModelSource, live: LiveRouting, router: Router) -> ChildSpec {
    ChildSpec::with_token("model-reload", move |token| {
        let source = source.clone();
        let live = live.clone();
        let router = router.clone();
        async move {
            let heartbeat = Heartbeat::register(
                "model-reload",
                RELOAD_TIMEOUT + (source.poll_every * 10).max(Duration::from_secs(30)),
            );
            let mut every = tokio::time::interval(source.poll_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = every.tick() => {
                        heartbeat.beat();
                        let reload = reload_if_changed(&source, &live, &router);
                        if tokio::time::timeout(RELOAD_TIMEOUT, reload).await.is_err() {
                            metrics::counter!("lookout_model_reloads_total", "outcome" => "failed")
                                .increment(1);
                            tracing::warn!(timeout_s = RELOAD_TIMEOUT.as_secs(),
                                "model reload did not finish in time; keeping the model in force");
                        }
                    }
                }
            }
            Ok::<(), std::convert::Infallible>(())
        }
    })
}

/// One poll: nothing when the version is the one in force; otherwise a reload, logged and
/// counted either way.
pub async fn reload_if_changed(source: &ModelSource, live: &LiveRouting, router: &Router) {
    let current = live.current().version;
    match source.store.model_version().await {
        Ok(version) if version == current => return,
        Ok(_) => {}
        Err(error) => {
            metrics::counter!("lookout_model_reloads_total", "outcome" => "failed").increment(1);
            tracing::warn!(error = %sentinel::error_chain(&error), "cannot read the model version; keeping the model in force");
            return;
        }
    }
    let loaded = match load(&source.store, &source.config, source.env.as_ref()).await {
        Ok(loaded) => loaded,
        Err(error) => {
            metrics::counter!("lookout_model_reloads_total", "outcome" => "failed").increment(1);
            tracing::error!(error = %sentinel::error_chain(&error), "cannot reload the model; keeping the model in force");
            return;
        }
    };
    let model = Arc::new(loaded.stored.model.clone());
    let routing = Routing::new(Arc::clone(&model), loaded.silences, loaded.version);
    update_tracker(source, &loaded.stored, &routing.rules);
    let rules = model.rules.len();
    router.replace_model(model);
    live.replace(routing);
    metrics::counter!("lookout_model_reloads_total", "outcome" => "applied").increment(1);
    tracing::info!(
        version = loaded.version.max,
        rules,
        problems = loaded.stored.problems.len(),
        "model reloaded"
    );
}
