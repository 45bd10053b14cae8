//! The `[tracker]` table of `lookout.toml`: the time model and the bounds on per-vessel state,
//! as a `Deserialize` struct with the one set of defaults (those of [`TrackerConfig`] and
//! [`ShardConfig`]).
//!
//! ```
//! # use lookout_track::config::TrackerOptions;
//! let options: TrackerOptions =
//!     serde_json::from_str(r#"{"max_skew": "2m", "allowed_lateness": "10s"}"#).unwrap();
//! assert_eq!(options.max_skew.as_secs(), 120);
//! assert_eq!(options.max_vessels, 1_000_000); // the shard layout's own default
//! ```

use std::time::Duration;

use lookout_core::config::{duration, positive};
use serde::Deserialize;

use crate::runner::ShardConfig;
use crate::tracker::TrackerConfig;

/// `[tracker]`: how the tracker keeps time and how much state it may hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerOptions {
    /// A report stamped more than this ahead of a shard's watermark does not move it (default
    /// 5 min).
    #[serde(with = "duration")]
    pub max_skew: Duration,
    /// Gaps fire this long after their deadline, so late reports still end a silence first
    /// (default 30 s).
    #[serde(with = "duration")]
    pub allowed_lateness: Duration,
    /// A feed down for longer than this resumes the gap clocks when it returns (default 60 s).
    #[serde(with = "duration")]
    pub resume_grace: Duration,
    /// A vessel silent inside an area this long leaves it and is evicted (default 7 days).
    #[serde(with = "duration")]
    pub max_silent_inside: Duration,
    /// First sightings accepted per minute of a shard's clock (default 20,000).
    #[serde(deserialize_with = "positive")]
    pub max_first_sightings_per_minute: u32,
    /// Most vessels kept in all, split across the shards (default 1,000,000).
    #[serde(deserialize_with = "positive")]
    pub max_vessels: usize,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        let tracker = TrackerConfig::default();
        TrackerOptions {
            max_skew: tracker.max_skew,
            allowed_lateness: tracker.allowed_lateness,
            resume_grace: tracker.resume_grace,
            max_silent_inside: tracker.max_silent_inside,
            max_first_sightings_per_minute: tracker.max_first_sightings_per_minute,
            max_vessels: ShardConfig::default().max_vessels,
        }
    }
}

impl TrackerOptions {
    /// Applies the options to a tracker configuration and a shard layout.
    pub fn apply(&self, tracker: &mut TrackerConfig, shards: &mut ShardConfig) {
        tracker.max_skew = self.max_skew;
        tracker.allowed_lateness = self.allowed_lateness;
        tracker.resume_grace = self.resume_grace;
        tracker.max_silent_inside = self.max_silent_inside;
        tracker.max_first_sightings_per_minute = self.max_first_sightings_per_minute;
        shards.max_vessels = self.max_vessels;
    }
}
