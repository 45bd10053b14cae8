//! The store's tables of `lookout.toml`, as `Deserialize` structs with the one set of defaults:
//! `[store]` ([`StoreConfig`]), `[outbox]` ([`OutboxConfig`]), `[dispatcher]`
//! ([`DispatcherOptions`], defaults from [`DispatcherConfig::default`]) and `[digest]`
//! ([`DigestConfig`]).
//!
//! ```
//! # use lookout_store::{DispatcherOptions, OutboxConfig};
//! let options: DispatcherOptions =
//!     serde_json::from_str(r#"{"lease": "2m", "concurrency": {"slack": 2}}"#).unwrap();
//! let config = options.into_config(&OutboxConfig::default());
//! assert_eq!(config.lease.as_secs(), 120);
//! assert_eq!(config.channel_concurrency[&lookout_core::ChannelKind::Slack], 2);
//! assert_eq!(config.batch_size, 256); // the dispatcher's own default
//! ```
//!
//! Adding an option is one field here (with its serde attributes) and, for the dispatcher, one
//! line in [`DispatcherOptions::into_config`].

use std::collections::BTreeMap;
use std::time::Duration;

use lookout_core::ChannelKind;
use lookout_core::config::{duration, positive};
use serde::{Deserialize, Deserializer};

use crate::dispatcher::DispatcherConfig;

/// `[store]`: which database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:PATH` (e.g. `sqlite://lookout.db?mode=rwc`) or `postgres://USER@HOST/DB`;
    /// default `sqlite://lookout.db`.
    #[serde(deserialize_with = "store_url")]
    pub url: String,
    /// The environment variable holding the URL instead (a PostgreSQL URL carries a
    /// password); whoever loads the configuration reads it into `url`.
    pub url_env: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://lookout.db".to_owned(),
            url_env: None,
        }
    }
}

/// True for the URL schemes [`crate::Store::connect`] knows.
pub fn is_store_url(url: &str) -> bool {
    url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Accepts the URL schemes [`crate::Store::connect`] knows.
fn store_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    if is_store_url(&url) {
        Ok(url)
    } else {
        Err(serde::de::Error::custom(format!(
            "unsupported store url {url:?}: expected sqlite:... or postgres://..."
        )))
    }
}

/// `[outbox]`: how long a notification may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Undelivered notifications older than this become `expired` (default 48 h).
    #[serde(with = "duration")]
    pub ttl: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            ttl: DispatcherConfig::default().ttl,
        }
    }
}

/// `[dispatcher]`: the options of [`DispatcherConfig`] an operator sets. Every default is the
/// dispatcher's own ([`DispatcherConfig::default`]: claims of 256, 1,024 in flight, 8 attempts,
/// per channel webhook 1,024 / slack 256 / email 32 / maildir 64, 128 per destination).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatcherOptions {
    /// Notifications (and, separately, digests) claimed per round.
    #[serde(deserialize_with = "positive")]
    pub batch_size: usize,
    /// Lease length.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// Longest wait between rounds when no wake-up arrives.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// Attempts after which a transient failure becomes `dead`.
    #[serde(deserialize_with = "positive")]
    pub max_attempts: u32,
    /// Backoff before the second attempt.
    #[serde(with = "duration")]
    pub backoff_base: Duration,
    /// Longest backoff.
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// Concurrent sends per channel, e.g. `{ email = 8, slack = 4 }`; a channel not named
    /// keeps its default.
    #[serde(deserialize_with = "concurrency")]
    pub concurrency: BTreeMap<ChannelKind, usize>,
    /// Most claimed items held at once, in flight or waiting for their destination.
    #[serde(deserialize_with = "positive")]
    pub max_in_flight: usize,
    /// Concurrent sends per destination (one URL, mailbox or Maildir).
    #[serde(deserialize_with = "positive")]
    pub per_destination_concurrency: usize,
    /// A destination with sends in flight and none finished for this long is slow.
    #[serde(with = "duration")]
    pub slow_destination_after: Duration,
    /// How long a claim given back for a slow destination waits before it is claimable again.
    #[serde(with = "duration")]
    pub defer_delay: Duration,
    /// Consecutive transient failures that open a destination's circuit breaker.
    #[serde(deserialize_with = "positive")]
    pub breaker_failures: u32,
    /// How long an open breaker holds its destination back before one probe.
    #[serde(with = "duration")]
    pub breaker_cooldown: Duration,
    /// Most outcomes flushed in one fenced statement.
    #[serde(deserialize_with = "positive")]
    pub flush_max: usize,
    /// Longest an outcome waits before the flush.
    #[serde(with = "duration")]
    pub flush_interval: Duration,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        let d = DispatcherConfig::default();
        DispatcherOptions {
            batch_size: d.batch_size,
            lease: d.lease,
            poll_interval: d.poll_interval,
            max_attempts: d.max_attempts,
            backoff_base: d.backoff_base,
            backoff_max: d.backoff_max,
            concurrency: d.channel_concurrency,
            max_in_flight: d.max_in_flight,
            per_destination_concurrency: d.per_destination_concurrency,
            slow_destination_after: d.slow_destination_after,
            defer_delay: d.defer_delay,
            breaker_failures: d.breaker_failures,
            breaker_cooldown: d.breaker_cooldown,
            flush_max: d.flush_max,
            flush_interval: d.flush_interval,
        }
    }
}

impl DispatcherOptions {
    /// The dispatcher's configuration: these options and the outbox TTL over
    /// [`DispatcherConfig::default`].
    pub fn into_config(self, outbox: &OutboxConfig) -> DispatcherConfig {
        let defaults = DispatcherConfig::default();
        // A channel named overrides its default; the others keep theirs.
        let mut channel_concurrency = defaults.channel_concurrency.clone();
        channel_concurrency.extend(self.concurrency);
        DispatcherConfig {
            batch_size: self.batch_size,
            lease: self.lease,
            poll_interval: self.poll_interval,
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            channel_concurrency,
            max_in_flight: self.max_in_flight,
            per_destination_concurrency: self.per_destination_concurrency,
            slow_destination_after: self.slow_destination_after,
            defer_delay: self.defer_delay,
            breaker_failures: self.breaker_failures,
            breaker_cooldown: self.breaker_cooldown,
            flush_max: self.flush_max,
            flush_interval: self.flush_interval,
            ttl: outbox.ttl,
            ..defaults
        }
    }
}

/// A map of channel to a limit of at least 1.
fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<ChannelKind, usize>, D::Error> {
    #[derive(Deserialize)]
    struct Limit(#[serde(deserialize_with = "positive")] usize);
    let limits = BTreeMap::<ChannelKind, Limit>::deserialize(d)?;
    Ok(limits.into_iter().map(|(k, Limit(n))| (k, n)).collect())
}

/// `[digest]`: the digest scheduler (the default schedule of digest rules is a rules setting,
/// read by whoever loads the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigestConfig {
    /// How often the scheduler looks for due digests (default 30 s).
    #[serde(with = "duration")]
    pub poll_interval: Duration,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            poll_interval: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_dispatchers_own() {
        let options: DispatcherOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(options, DispatcherOptions::default());
        let config = options.into_config(&OutboxConfig::default());
        let d = DispatcherConfig::default();
        assert_eq!((config.batch_size, config.max_attempts), (d.batch_size, 8));
        assert_eq!(config.ttl, d.ttl);
        assert_eq!(config.channel_concurrency, d.channel_concurrency);
        let store: StoreConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(store.url, "sqlite://lookout.db");
    }

    #[test]
    fn bad_values_are_errors_naming_the_value() {
        let err = |json: &str| {
            serde_json::from_str::<DispatcherOptions>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"batch_size": 0}"#).contains("must be at least 1"));
        assert!(err(r#"{"concurrency": {"slack": 0}}"#).contains("must be at least 1"));
        assert!(err(r#"{"concurrency": {"pigeon": 1}}"#).contains("unknown variant `pigeon`"));
        assert!(err(r#"{"lease": "0s"}"#).contains("must be greater than zero"));
        assert!(err(r#"{"workers": 4}"#).contains("unknown field `workers`"));
        let url = serde_json::from_str::<StoreConfig>(r#"{"url": "mysql://x"}"#).unwrap_err();
        assert!(
            url.to_string()
                .contains("unsupported store url \"mysql://x\"")
        );
    }
}
