//! From a loaded configuration to ready service parts: areas indexed, tracker policies
//! derived from the rules, store opened and migrated, renderer and channels built.
//!
//! The second stage of configuration (the first, reading and checking the files into each
//! stage's typed config, is [`crate::config`]): everything here may still fail on things only
//! visible when resources are opened (the database, the channels), and reports them with
//! context. Nothing here copies options: each stage gets the struct it deserialized.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lookout_core::ChannelKind;
use lookout_notify::model::{DeliveryMode, DigestSchedule as RuleSchedule, Model};
use lookout_notify::router::Router;
use lookout_notify::rules::RuleIndex;
use lookout_store::{Cadence, DigestSchedule, Store, StoreError};
use lookout_track::areas::{self, AreaIndex};
use lookout_track::runner::ShardConfig;
use lookout_track::tracker::{AreaPolicy, Reconfigure, TrackerConfig};
use sentinel::RetryPolicy;

use crate::config::{Config, EnvSource};
use crate::error::UsageError;
use crate::routing::{LiveRouting, ModelSource, Routing};
use crate::service::ServiceParts;

/// Loads and validates `lookout.toml` and the files it names; every problem is a usage error.
pub fn load_config(path: &std::path::Path, env: &dyn EnvSource) -> anyhow::Result<Config> {
    crate::config::load(path, env).map_err(|e| UsageError(e.to_string()).into())
}

/// Loads a GeoJSON area file (or a directory of them) into an index, reporting every problem
/// at once (loading validates each area; indexing adds duplicate ids).
pub fn load_areas(path: &std::path::Path) -> Result<AreaIndex, UsageError> {
    let areas = areas::load_path(path).map_err(|e| UsageError(e.to_string()))?;
    AreaIndex::new(areas).map_err(|e| UsageError(e.to_string()))
}

/// Indexes the configured areas (already loaded and validated by [`crate::config::load`]).
pub fn build_areas(config: &Config) -> Result<AreaIndex, UsageError> {
    AreaIndex::new(config.areas.clone()).map_err(|e| UsageError(e.to_string()))
}

/// Tracker policies: per area, the gap thresholds and every distinct `min_dwell` of its rules.
///
/// Dwell is per rule: the tracker runs one dwell per distinct value and tags each
/// entered/exited with it (`threshold_seconds`), so the rule index hands each rule only the
/// event of its own dwell.
pub fn tracker_config(rules: &RuleIndex, areas: &AreaIndex) -> TrackerConfig {
    tracker_config_for(rules.area_needs(), areas)
}

/// [`tracker_config`] from the rules' needs by area (a cluster's stored tracking
/// configuration keeps the needs, not the rules).
pub fn tracker_config_for(
    area_needs: std::collections::BTreeMap<String, lookout_notify::rules::AreaNeeds>,
    areas: &AreaIndex,
) -> TrackerConfig {
    let mut policies = HashMap::new();
    let mut area_dwells = HashMap::new();
    for (area_id, needs) in area_needs {
        if areas.find(&area_id).is_none() {
            continue;
        }
        // Dwell is per rule: the tracker runs one dwell timer per distinct dwell of the area.
        area_dwells.insert(area_id.clone(), needs.min_dwells.iter().copied().collect());
        policies.insert(
            area_id,
            AreaPolicy {
                min_dwell: needs.min_dwell,
                gap_thresholds: needs.gap_thresholds.into_iter().collect(),
            },
        );
    }
    TrackerConfig {
        policies,
        area_dwells,
        ..TrackerConfig::default()
    }
}

/// What the tracker runs for a model: `areas` indexed, the policies its `rules` need, and the
/// `[tracker]` table applied (which also sets the fields of `shards` it owns).
///
/// # Errors
/// Two areas share an id.
pub fn tracker_setup(
    config: &Config,
    areas: Vec<lookout_track::areas::Area>,
    rules: &RuleIndex,
    shards: &mut ShardConfig,
) -> Result<(Arc<AreaIndex>, TrackerConfig), UsageError> {
    let areas = Arc::new(AreaIndex::new(areas).map_err(|e| UsageError(e.to_string()))?);
    let mut tracker = tracker_config(rules, &areas);
    config.tracker.apply(&mut tracker, shards);
    Ok((areas, tracker))
}

/// Digest schedules: one per (user, channel) of every enabled digest rule.
pub fn digest_schedules(model: &Model) -> Vec<DigestSchedule> {
    let mut schedules: BTreeMap<(String, ChannelKind), DigestSchedule> = BTreeMap::new();
    for rule in model.rules.iter().filter(|r| r.enabled) {
        let DeliveryMode::Digest(schedule) = rule.delivery else {
            continue;
        };
        let (at, cadence) = match schedule {
            RuleSchedule::Daily { at } => (at, Cadence::Daily),
            RuleSchedule::Weekly { weekday, at } => (at, Cadence::Weekly(weekday)),
            RuleSchedule::Every { minutes } => {
                (jiff::civil::Time::midnight(), Cadence::Every(minutes))
            }
        };
        let Some(user) = model.users.get(&rule.owner) else {
            continue;
        };
        if user.deleted || !user.enabled {
            continue;
        }
        for channel in &user.channels {
            if !rule.channels.is_empty() && !rule.channels.contains(&channel.kind) {
                continue;
            }
            schedules
                .entry((user.id.clone(), channel.kind))
                .or_insert_with(|| DigestSchedule {
                    user_id: user.id.clone(),
                    channel: channel.kind,
                    destination: channel.destination.clone(),
                    timezone: user.timezone_name.clone(),
                    at,
                    cadence,
                });
        }
    }
    schedules.into_values().collect()
}

/// Opens the store named by the configuration and applies migrations.
///
/// Connecting is retried with `sentinel::retry` (backoff with jitter, at most 5 attempts in
/// 30 s) when the error is transient: the server is unreachable, refuses, or the pool timed
/// out, as when the database starts together with us. A bad URL, a refused login or a missing
/// database fail at once, and so does a failed migration (retrying would fail the same way).
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    let policy = RetryPolicy::exponential(Duration::from_millis(500))
        .max_delay(Duration::from_secs(5))
        .max_attempts(5)
        .max_elapsed(Duration::from_secs(30));
    let store = sentinel::retry("store_connect", policy)
        .when(is_transient)
        .run(|| Store::connect(url))
        .await
        .map_err(sentinel::RetryError::into_inner)
        .with_context(|| format!("cannot open the store at {}", redact(url)))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the store at {}", redact(url)))?;
    Ok(store)
}

/// A connection failure that may heal by waiting (I/O, TLS handshake, pool timeout).
fn is_transient(error: &StoreError) -> bool {
    let source = std::error::Error::source(error).and_then(|s| s.downcast_ref::<sqlx::Error>());
    matches!(
        source,
        Some(sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut)
    )
}

/// A URL safe to print: the userinfo password and every secret-looking query parameter
/// (`password`, `sslpassword`, anything with `pass`, `pwd`, `secret`, `token` or `key` in its
/// name) become `***`; `postgres://user:secret@host/db?sslpassword=x` →
/// `postgres://user:***@host/db?sslpassword=***`. A URL that does not parse is not shown.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return match url.split_once("://") {
            Some((scheme, _)) if !scheme.contains(['@', ':', '/']) => {
                format!("{scheme}://<unparsable url>")
            }
            _ => "<unparsable url>".to_owned(),
        };
    };
    if parsed.password().is_some() {
        // Only "cannot-be-a-base" URLs refuse a password, and they have none to hide.
        let _ = parsed.set_password(Some("***"));
    }
    let is_secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["pass", "pwd", "secret", "token", "key"]
            .iter()
            .any(|word| key.contains(word))
    };
    if parsed.query_pairs().any(|(k, _)| is_secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Whether the configuration files are imported into the store at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// Only into a store that holds no organisation yet (`lookout run`: after the first start
    /// the store is the model, changed through the API or `lookout import`).
    IfEmpty,
    /// Every start (`lookout demo`, whose files are written anew each time): the files win.
    Always,
}

/// Resolves a loaded configuration into service parts: opens and migrates the store, seeds
/// the model from the files (see [`Seed`]), then builds routing, areas and tracker policies
/// from the model **in the store**, which the service reloads live on change
/// ([`crate::routing`]). `env` resolves secrets of stored channels, now and at each reload.
pub async fn parts(
    config: &Config,
    mut shard_config: ShardConfig,
    env: Arc<dyn EnvSource + Send + Sync>,
    seed: Seed,
) -> anyhow::Result<ServiceParts> {
    let store = open_store(&config.store.url).await?;
    let empty = store
        .orgs()
        .await
        .context("reading the organisations")?
        .is_empty();
    if seed == Seed::Always || empty {
        let counts = crate::commands::import::import_config(config, &store).await;
        match counts {
            Ok(counts) => tracing::info!(
                config = %config.path.display(),
                changed = counts.changed(),
                "model imported from the configuration files"
            ),
            // Two instances starting on one empty store race to import the same files; the
            // one that lost finds the other's import (and says so if not).
            Err(error) if seed == Seed::IfEmpty && !store.orgs().await?.is_empty() => {
                tracing::info!(error = %format!("{error:#}"), "another instance imported the model first");
            }
            Err(error) => return Err(error),
        }
    }
    let loaded = crate::routing::load(&store, config, env.as_ref())
        .await
        .context("reading the model from the store")?;
    let model = Arc::new(loaded.stored.model.clone());
    let routing = Routing::new(Arc::clone(&model), loaded.silences, loaded.version);
    let (areas, tracker) = tracker_setup(
        config,
        loaded.stored.areas.clone(),
        &routing.rules,
        &mut shard_config,
    )?;
    let tracker_inputs = crate::routing::tracker_inputs(&loaded.stored, &routing.rules);
    // Cluster mode: what the partitions should run, for the ingest leader to publish.
    let (tracker_specs, tracker_spec) = match &config.cluster {
        Some(_) => {
            let spec = crate::cluster::spec::TrackerSpec::of(&loaded.stored, &routing.rules);
            let (tx, rx) = tokio::sync::watch::channel(Arc::new(spec));
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let (tracker_updates, tracker_setup) =
        tokio::sync::watch::channel(Reconfigure(Arc::new((Arc::clone(&areas), tracker.clone()))));

    let (router, template_problems) =
        Router::from_config(&config.notify).map_err(|e| UsageError(format!("channels: {e}")))?;
    router.replace_model(model);
    // A broken template fails only the notifications that use it (dead, with the error), so
    // the service starts; `lookout check` fails on these.
    for problem in &template_problems {
        tracing::error!(template = %problem.path, problem = %problem.message, "template problem");
    }

    Ok(ServiceParts {
        model_source: Some(ModelSource {
            store: store.clone(),
            config: Arc::new(config.clone()),
            env,
            tracker_inputs: Arc::new(std::sync::Mutex::new(tracker_inputs)),
            // Cluster partitions apply inputs from the log only: there, a change of areas
            // goes into the log (issue 10: at a recorded position of each partition).
            tracker_updates: config.cluster.is_none().then_some(tracker_updates),
            tracker_specs,
            shards: shard_config.clone(),
            poll_every: crate::routing::POLL_EVERY,
        }),
        store,
        sources: config.sources.clone(),
        areas,
        tracker,
        tracker_setup,
        tracker_spec,
        shards: shard_config,
        routing: LiveRouting::new(routing),
        router,
        dispatcher: config.dispatcher.clone().into_config(&config.outbox),
        digest_interval: config.digest.poll_interval,
        http_listen: config.http_listen,
        api_rate_limit: config.api_rate_limit,
        roles: crate::cluster::Roles::default(),
        cluster: config.cluster.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://lookout:hunter2@db:5432/lookout"),
            "postgres://lookout:***@db:5432/lookout"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(redact("sqlite://lookout.db"), "sqlite://lookout.db");
        assert_eq!(
            redact("sqlite://lookout-demo/lookout.db?mode=rwc"),
            "sqlite://lookout-demo/lookout.db?mode=rwc"
        );
    }

    #[test]
    fn redact_hides_secret_query_parameters() {
        assert_eq!(
            redact("postgres://u@db/x?password=hunter2&sslmode=require"),
            "postgres://u@db/x?password=***&sslmode=require"
        );
        assert_eq!(
            redact(
                "postgres://u:pw@db/x?sslpassword=k&application_name=lookout&auth_token=t&client_secret=s"
            ),
            "postgres://u:***@db/x?sslpassword=***&application_name=lookout&auth_token=***&client_secret=***"
        );
        assert!(!redact("postgres://u:hunter2@db/x?password=hunter2").contains("hunter2"));
        assert_eq!(redact("not a url with hunter2"), "<unparsable url>");
        assert_eq!(
            redact("postgres://u:hunter2@[bad/x"),
            "postgres://<unparsable url>"
        );
    }

    #[test]
    fn transient_store_errors_are_connection_failures_only() {
        let io = StoreError::Database {
            op: "connecting to postgres",
            source: sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        assert!(is_transient(&io));
        let timeout = StoreError::Database {
            op: "connecting to postgres",
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(is_transient(&timeout));
        let bad_url = StoreError::UnsupportedUrl {
            url: "mysql://x".into(),
        };
        assert!(!is_transient(&bad_url));
        let protocol = StoreError::Database {
            op: "connecting to postgres",
            source: sqlx::Error::Protocol("password authentication failed".into()),
        };
        assert!(!is_transient(&protocol));
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_opened_fails_without_retrying_for_long() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/missing-dir/x.db", dir.path().display());
        let err = open_store(&url).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot open the store"),
            "{err:#}"
        );
    }

    #[test]
    fn per_channel_concurrency_reaches_the_dispatcher_as_a_map() {
        let options: lookout_store::DispatcherOptions =
            toml::from_str("concurrency = { slack = 2, email = 5 }").unwrap();
        let config = options.into_config(&lookout_store::OutboxConfig::default());
        assert_eq!(config.channel_concurrency[&ChannelKind::Slack], 2);
        assert_eq!(config.channel_concurrency[&ChannelKind::Email], 5);
        assert_eq!(
            config.channel_concurrency[&ChannelKind::Webhook],
            lookout_store::DispatcherConfig::default().channel_concurrency[&ChannelKind::Webhook],
            "a channel not named keeps its default"
        );
    }
}
