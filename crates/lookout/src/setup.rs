//! From a loaded configuration to ready service parts: areas built and indexed, tracker
//! policies derived from the rules, store opened and migrated, renderer and channels built.
//!
//! The second stage of configuration (the first, parsing and validating files, is
//! `lookout_notify::config`): everything here may still fail on things only visible when
//! resources are opened (area geometry, the database), and reports them with context.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Context;
use lookout_core::ChannelKind;
use lookout_feed::source::{
    FileConfig, SourceConfig, SourceKind, Speed, TcpClientConfig, TcpServerConfig, UdpConfig,
};
use lookout_notify::config::{AreaSpec, Config, SourceKindSpec};
use lookout_notify::model::{DeliveryMode, DigestSchedule as RuleSchedule, Model};
use lookout_notify::router::Router;
use lookout_notify::rules::RuleIndex;
use lookout_store::{Cadence, DigestSchedule, DispatcherConfig, Store};
use lookout_track::areas::{self, AreaIndex};
use lookout_track::runner::ShardConfig;
use lookout_track::tracker::{AreaPolicy, TrackerConfig};

use crate::error::UsageError;
use crate::service::ServiceParts;

/// Loads and validates `lookout.toml` and the files it names; every problem is a usage error.
pub fn load_config(
    path: &std::path::Path,
    env: &dyn lookout_notify::config::EnvSource,
) -> anyhow::Result<Config> {
    lookout_notify::config::load(path, env).map_err(|e| UsageError(e.to_string()).into())
}

/// Loads a GeoJSON area file (or a directory of them) into an index, reporting every problem
/// at once (loading validates each area; indexing adds duplicate ids).
pub fn load_areas(path: &std::path::Path) -> Result<AreaIndex, UsageError> {
    let areas = areas::load_path(path).map_err(|e| UsageError(e.to_string()))?;
    AreaIndex::new(areas).map_err(|e| UsageError(e.to_string()))
}

/// Builds the area index from the configured definitions, reporting every problem at once.
pub fn build_areas(config: &Config) -> Result<AreaIndex, UsageError> {
    let mut specs = Vec::with_capacity(config.areas.len());
    for spec in &config.areas {
        let Some(spec) = track_spec(spec) else {
            return Err(UsageError(format!(
                "{}: area definition {spec:?} is of a kind the tracker cannot build",
                config.path.display()
            )));
        };
        specs.push(spec);
    }
    let built =
        areas::load_specs(&specs, &config.base_dir).map_err(|e| UsageError(e.to_string()))?;
    AreaIndex::new(built).map_err(|e| UsageError(e.to_string()))
}

/// The tracker's form of a configured area; `None` for a kind it does not know.
fn track_spec(spec: &AreaSpec) -> Option<areas::AreaSpec> {
    Some(match spec {
        AreaSpec::GeoJson {
            path,
            within_nm,
            id,
            name,
            ..
        } => areas::AreaSpec::Geojson {
            path: path.clone(),
            within_nm: *within_nm,
            id: id.clone(),
            name: name.clone(),
        },
        AreaSpec::Circle {
            id,
            name,
            lat,
            lon,
            radius_nm,
        } => areas::AreaSpec::Circle {
            id: id.clone(),
            name: name.clone(),
            lat: *lat,
            lon: *lon,
            radius_nm: *radius_nm,
        },
        // `AreaSpec` is non-exhaustive: a new kind must be added here.
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// Tracker policies: per area, the gap thresholds and the smallest `min_dwell` of its rules.
///
/// The tracker keeps one `min_dwell` per area, so when rules on one area disagree, every
/// rule on it fires after the smallest (documented in the README).
pub fn tracker_config(rules: &RuleIndex, areas: &AreaIndex) -> TrackerConfig {
    let mut policies = HashMap::new();
    for (area_id, needs) in rules.area_needs() {
        if areas.find(&area_id).is_none() {
            continue;
        }
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
        ..TrackerConfig::default()
    }
}

/// The feed sources for the configured inputs (the same options, field by field).
pub fn sources(config: &Config) -> Result<Vec<SourceConfig>, UsageError> {
    config
        .sources
        .iter()
        .map(|spec| {
            let kind = match &spec.kind {
                SourceKindSpec::TcpClient {
                    addr,
                    dial_timeout,
                    stall_timeout,
                    backoff_initial,
                    backoff_max,
                } => SourceKind::TcpClient(TcpClientConfig {
                    addr: addr.clone(),
                    dial_timeout: *dial_timeout,
                    stall_timeout: *stall_timeout,
                    backoff_initial: *backoff_initial,
                    backoff_max: *backoff_max,
                }),
                SourceKindSpec::TcpServer {
                    bind,
                    max_connections,
                    max_per_peer,
                    idle_timeout,
                } => SourceKind::TcpServer(TcpServerConfig {
                    bind: *bind,
                    max_connections: *max_connections,
                    max_per_peer: *max_per_peer,
                    idle_timeout: *idle_timeout,
                }),
                SourceKindSpec::Udp {
                    bind,
                    max_peers,
                    peer_idle,
                } => SourceKind::Udp(UdpConfig {
                    bind: *bind,
                    max_peers: *max_peers,
                    peer_idle: *peer_idle,
                }),
                SourceKindSpec::File { path, speed } => SourceKind::File(FileConfig {
                    path: config.base_dir.join(path),
                    speed: speed.map_or(Speed::Max, Speed::Factor),
                }),
                // `SourceKindSpec` is non-exhaustive: a new kind must be added here.
                #[allow(unreachable_patterns)]
                other => {
                    return Err(UsageError(format!(
                        "source {:?}: {other:?} is of a kind the feed cannot run",
                        spec.name
                    )));
                }
            };
            let mut source = SourceConfig::new(spec.name.clone(), kind);
            source.max_line = spec.max_line;
            Ok(source)
        })
        .collect()
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
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url)
        .await
        .with_context(|| format!("cannot open the store at {}", redact(url)))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the store at {}", redact(url)))?;
    Ok(store)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Resolves a loaded configuration into service parts (opens and migrates the store).
pub async fn parts(config: &Config, shard_config: ShardConfig) -> anyhow::Result<ServiceParts> {
    let areas = Arc::new(build_areas(config)?);
    let model = Arc::new(config.model.clone());
    let rules = Arc::new(RuleIndex::new(Arc::clone(&model)));
    let tracker = tracker_config(&rules, &areas);
    let digests = digest_schedules(&model);

    let (router, template_problems) =
        Router::from_config(config).map_err(|e| UsageError(format!("channels: {e}")))?;
    // A broken template fails only the notifications that use it (dead, with the error), so
    // the service starts; `lookout check` fails on these.
    for problem in &template_problems {
        tracing::error!(template = %problem.path, problem = %problem.message, "template problem");
    }

    let mut dispatcher = DispatcherConfig::default();
    let d = &config.dispatcher;
    dispatcher.batch_size = usize::try_from(d.batch_size).unwrap_or(64).max(1);
    dispatcher.lease = d.lease;
    dispatcher.poll_interval = d.poll_interval;
    dispatcher.max_attempts = d.max_attempts;
    dispatcher.backoff_base = d.backoff_base;
    dispatcher.backoff_max = d.backoff_max;
    dispatcher.ttl = config.outbox.ttl;
    if let Some(max) = d.concurrency.values().max() {
        dispatcher.per_channel_concurrency = usize::try_from(*max).unwrap_or(8).max(1);
    }

    let store = open_store(&config.store_url).await?;
    Ok(ServiceParts {
        store,
        sources: sources(config)?,
        areas,
        tracker,
        shards: shard_config,
        rules,
        router,
        dispatcher,
        digests,
        digest_interval: config.digest.poll_interval,
        http_listen: config.http_listen,
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
    }
}
