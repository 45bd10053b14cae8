//! Several instances with no single point of failure (issue 10): what `[cluster]` and
//! `--roles` configure, and the two stages that put `lookout_cluster` to work.
//!
//! ```text
//! ingest:  sources ─▶ observations ─▶ [ingest::publish] ─▶ JetStream  lookout.obs.<partition>
//! track:   JetStream ─▶ lookout_cluster::runner (leases) ─▶ [track::TrackerApp] ─▶ PostgreSQL
//!                                         events + notifications + checkpoint + sequence, one fenced tx
//! dispatch, digest: unchanged (PostgreSQL SKIP LOCKED and leases)
//! ```
//!
//! Without `[cluster]` the service runs every role in one process on its in-process tracker
//! shards (SQLite or PostgreSQL), as before.

pub mod ingest;
pub mod spec;
pub mod track;
pub mod wiring;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// `[cluster]`: where the observation log lives and how partitions are leased.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterOptions {
    /// NATS server URL(s), comma-separated (required).
    pub nats_url: String,
    /// JetStream stream name (default `LOOKOUT_OBS`).
    pub stream: String,
    /// Subject prefix: partition `p` is `<prefix>.<p>` (default `lookout.obs`).
    pub subject_prefix: String,
    /// Partition count, fixed when the stream is created (default 64, at most 1000).
    pub partitions: u32,
    /// Partition lease (default `6s`); renewed every third of it.
    #[serde(with = "lookout_core::config::duration")]
    pub lease: Duration,
    /// `Nats-Msg-Id` de-duplication window (default `2m`).
    #[serde(with = "lookout_core::config::duration")]
    pub duplicate_window: Duration,
    /// How long the stream keeps records (default `7d`).
    #[serde(with = "lookout_core::config::duration")]
    pub max_age: Duration,
    /// JetStream replicas of the stream (default 1; 3 on a three-node NATS cluster).
    pub replicas: usize,
    /// Outstanding publish acks at most per ingest instance (default 256).
    pub max_in_flight: usize,
    /// How much of the feed (wall clock) an ingest standby keeps to publish again when it takes
    /// over the ingest (default `60s`; shorter than `duplicate_window`, longer than `lease`).
    #[serde(with = "lookout_core::config::duration")]
    pub standby: Duration,
    /// A name for this instance in leases and logs (default: the host name); a random suffix
    /// is always added, so a restarted process never inherits its previous life's epochs.
    pub instance: Option<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        let log = lookout_cluster::log::LogConfig::default();
        ClusterOptions {
            nats_url: String::new(),
            stream: log.stream,
            subject_prefix: log.subject_prefix,
            partitions: log.partitions,
            lease: Duration::from_secs(6),
            duplicate_window: log.duplicate_window,
            max_age: log.max_age,
            replicas: log.replicas,
            max_in_flight: lookout_cluster::log::PublisherConfig::default().max_in_flight,
            standby: Duration::from_secs(60),
            instance: None,
        }
    }
}

/// Most partitions: the tracker reserves checkpoint keys below 1000 for its clock rows.
pub const MAX_PARTITIONS: u32 = 1000;

impl ClusterOptions {
    /// What is wrong with these options, each as `(field, problem)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.nats_url.trim().is_empty() {
            problems.push((
                "nats_url",
                "missing: e.g. nats_url = \"nats://127.0.0.1:4222\"".to_owned(),
            ));
        }
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            problems.push((
                "partitions",
                format!("must be between 1 and {MAX_PARTITIONS}"),
            ));
        }
        if self.stream.is_empty() || self.stream.contains(['.', ' ', '*', '>']) {
            problems.push((
                "stream",
                "must be a JetStream name: no dots, spaces, `*` or `>`".to_owned(),
            ));
        }
        if self.subject_prefix.is_empty() || self.subject_prefix.contains([' ', '*', '>']) {
            problems.push((
                "subject_prefix",
                "must be a NATS subject without wildcards".to_owned(),
            ));
        }
        if self.lease < Duration::from_secs(1) {
            problems.push(("lease", "must be at least 1s".to_owned()));
        }
        if self.replicas == 0 || self.replicas > 5 {
            problems.push(("replicas", "must be between 1 and 5".to_owned()));
        }
        if self.standby <= self.lease || self.standby >= self.duplicate_window {
            problems.push((
                "standby",
                format!(
                    "must be longer than lease ({:?}) and shorter than duplicate_window ({:?}): a \
                     new ingest leader publishes this much of the feed again, which the stream \
                     must still recognise as duplicates",
                    self.lease, self.duplicate_window
                ),
            ));
        }
        if self.max_in_flight == 0 {
            problems.push(("max_in_flight", "must be at least 1".to_owned()));
        }
        problems
    }

    /// The log's shape.
    pub fn log_config(&self) -> lookout_cluster::log::LogConfig {
        lookout_cluster::log::LogConfig {
            stream: self.stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            partitions: self.partitions,
            duplicate_window: self.duplicate_window,
            max_age: self.max_age,
            replicas: self.replicas,
            ..lookout_cluster::log::LogConfig::default()
        }
    }

    /// This process's owner id in the leases: `<instance or host>-<random>`.
    pub fn owner_id(&self) -> String {
        let name = self
            .instance
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "lookout".to_owned());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        format!("{name}-{}", &suffix[..8])
    }
}

/// One role of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read the feeds (in a cluster: publish to the log).
    Ingest,
    /// Track vessels and record events and notifications (in a cluster: leased partitions).
    Track,
    /// Deliver notifications.
    Dispatch,
    /// Build digests.
    Digest,
}

impl Role {
    /// Every role, in data-path order.
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Track, Role::Dispatch, Role::Digest];

    /// The role's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Track => "track",
            Role::Dispatch => "dispatch",
            Role::Digest => "digest",
        }
    }
}

/// The roles an instance runs (`--roles ingest,track,dispatch,digest`; default all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(BTreeSet<Role>);

impl Default for Roles {
    fn default() -> Self {
        Roles(Role::ALL.into_iter().collect())
    }
}

impl Roles {
    /// Whether `role` is one of them.
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// All four roles.
    pub fn is_all(&self) -> bool {
        self.0.len() == Role::ALL.len()
    }

    /// Why these roles cannot run without `[cluster]`: ingest and track share an in-process
    /// channel there, so one without the other would drop or starve the feed.
    pub fn need_cluster(&self) -> Option<String> {
        (self.has(Role::Ingest) != self.has(Role::Track)).then(|| {
            "roles ingest and track run apart only with a [cluster] table (the observation log \
             on NATS JetStream); without it an instance runs both or neither"
                .to_owned()
        })
    }
}

impl std::fmt::Display for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Roles {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = BTreeSet::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let role = Role::ALL
                .into_iter()
                .find(|r| r.as_str() == name)
                .ok_or_else(|| {
                    format!("unknown role {name:?}: expected ingest, track, dispatch or digest")
                })?;
            roles.insert(role);
        }
        if roles.is_empty() {
            return Err("name at least one role: ingest, track, dispatch, digest".to_owned());
        }
        Ok(Roles(roles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_refuse_unknown_names() {
        assert_eq!(
            "ingest, track,dispatch,digest".parse::<Roles>(),
            Ok(Roles::default())
        );
        let track: Roles = "track,dispatch".parse().unwrap();
        assert!(track.has(Role::Track) && !track.has(Role::Ingest));
        assert!(track.need_cluster().is_some());
        assert!(
            "dispatch"
                .parse::<Roles>()
                .unwrap()
                .need_cluster()
                .is_none()
        );
        assert_eq!(track.to_string(), "track,dispatch");
        assert!(
            "ingest,tracking"
                .parse::<Roles>()
                .unwrap_err()
                .contains("tracking")
        );
        assert!("".parse::<Roles>().is_err());
    }

    #[test]
    fn options_default_and_name_what_is_wrong() {
        let options: ClusterOptions = toml::from_str("nats_url = \"nats://x:4222\"").unwrap();
        assert_eq!(options.partitions, 64);
        assert_eq!(options.lease, Duration::from_secs(6));
        assert!(options.problems().is_empty());
        let bad: ClusterOptions =
            toml::from_str("partitions = 5000\nstream = \"a.b\"\nlease = \"500ms\"").unwrap();
        let fields: Vec<&str> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["nats_url", "partitions", "stream", "lease"]);
        assert!(toml::from_str::<ClusterOptions>("partition = 3").is_err());
        let a = options.owner_id();
        assert_ne!(a, options.owner_id(), "a random suffix per process");
    }
}
