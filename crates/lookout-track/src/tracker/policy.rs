//! Tracker configuration: per-area policies (`min_dwell`, gap thresholds) and the plausibility
//! limits that decide which reports are used.

use std::collections::HashMap;
use std::time::Duration;

use crate::areas::AreaIndex;

/// The most gap thresholds one area can have.
pub const MAX_GAP_THRESHOLDS: usize = 8;

/// How the tracker treats one area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaPolicy {
    /// A vessel must stay inside (outside) this long, over consecutive usable reports, before
    /// `entered` (`exited`) is emitted. Zero emits on the first report.
    pub min_dwell: Duration,
    /// Silence thresholds: a vessel inside the area that sends nothing for one of these emits a
    /// `gap_started` carrying it as `threshold_seconds`. At most [`MAX_GAP_THRESHOLDS`].
    pub gap_thresholds: Vec<Duration>,
}

/// Tracker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Policy of every area without its own entry in `policies`.
    pub default_policy: AreaPolicy,
    /// Policies by area id.
    pub policies: HashMap<String, AreaPolicy>,
    /// A position implying more than this speed since the last usable one is unusable.
    pub max_speed_knots: f64,
    /// A report identical to the vessel's last accepted one within this window is a duplicate
    /// (the same sentence heard by several receivers).
    pub duplicate_window: Duration,
    /// After this many consecutive too-fast positions the next one is accepted as a fresh fix,
    /// so one bad position cannot freeze a vessel forever.
    pub max_consecutive_jumps: u8,
}

impl Default for TrackerConfig {
    fn default() -> TrackerConfig {
        TrackerConfig {
            default_policy: AreaPolicy::default(),
            policies: HashMap::new(),
            max_speed_knots: 100.0,
            duplicate_window: Duration::from_secs(10),
            max_consecutive_jumps: 3,
        }
    }
}

/// A tracker configuration that does not fit the areas.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A policy names an area that is not loaded.
    #[error("policy for unknown area {0:?}: check the area id")]
    UnknownArea(String),
    /// A policy has too many gap thresholds.
    #[error("area {area:?} has {n} gap thresholds, at most {MAX_GAP_THRESHOLDS} are supported")]
    TooManyThresholds {
        /// The area.
        area: String,
        /// How many were given.
        n: usize,
    },
    /// A gap threshold of zero.
    #[error("area {0:?} has a zero gap threshold")]
    ZeroThreshold(String),
}

/// A policy in milliseconds, thresholds sorted ascending and deduplicated.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    pub(crate) min_dwell_ms: i64,
    pub(crate) gaps_ms: Vec<i64>,
}

pub(crate) fn resolve(
    config: &TrackerConfig,
    areas: &AreaIndex,
) -> Result<Vec<Resolved>, ConfigError> {
    for id in config.policies.keys() {
        if areas.find(id).is_none() {
            return Err(ConfigError::UnknownArea(id.clone()));
        }
    }
    areas
        .areas()
        .iter()
        .map(|area| {
            let policy = config
                .policies
                .get(&area.id)
                .unwrap_or(&config.default_policy);
            let mut gaps_ms: Vec<i64> = policy.gap_thresholds.iter().map(|d| ms(*d)).collect();
            gaps_ms.sort_unstable();
            gaps_ms.dedup();
            if gaps_ms.len() > MAX_GAP_THRESHOLDS {
                return Err(ConfigError::TooManyThresholds {
                    area: area.id.clone(),
                    n: gaps_ms.len(),
                });
            }
            if gaps_ms.first() == Some(&0) {
                return Err(ConfigError::ZeroThreshold(area.id.clone()));
            }
            Ok(Resolved {
                min_dwell_ms: ms(policy.min_dwell),
                gaps_ms,
            })
        })
        .collect()
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
