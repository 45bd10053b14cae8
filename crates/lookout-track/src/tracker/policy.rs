//! Tracker configuration: per-area policies (`min_dwell`s, gap thresholds), the time model
//! (skew, allowed lateness, resume grace) and the limits that bound state and decide which
//! reports are used.

use std::collections::HashMap;
use std::time::Duration;

use crate::areas::AreaIndex;

/// The most gap thresholds one area can have.
pub const MAX_GAP_THRESHOLDS: usize = 8;

/// The most distinct `min_dwell`s one area can have.
pub const MAX_DWELLS: usize = 8;

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
    /// Every distinct `min_dwell` of the rules on an area, by area id: when an area has an
    /// entry here, each listed dwell confirms `entered`/`exited` on its own (an event per dwell,
    /// carrying it as `threshold_seconds` when non-zero) instead of the policy's single
    /// `min_dwell`. At most [`MAX_DWELLS`] per area.
    pub area_dwells: HashMap<String, Vec<Duration>>,
    /// A report stamped more than this ahead of the shard's watermark does not move it: it is
    /// rejected and counted as `clock_skew` (default 5 min).
    pub max_skew: Duration,
    /// A gap fires when the watermark passes its deadline plus this much, so reports delayed
    /// in transit still end a silence before it is reported (default 30 s).
    pub allowed_lateness: Duration,
    /// A feed that was down for longer than this resumes the gap clocks when it comes back
    /// (`resumed_at`), so an outage does not turn into a gap for every vessel (default 60 s).
    pub resume_grace: Duration,
    /// Most vessels this tracker keeps; beyond it the least recently heard are evicted
    /// (default 1,048,576).
    pub max_vessels: usize,
    /// A vessel inside an area without a usable position for this long leaves it (an `exited`
    /// at that instant) and is evicted (default 7 days).
    pub max_silent_inside: Duration,
    /// Vessels seen for the first time that one tracker accepts per minute of its clock;
    /// the rest are dropped and counted as `rate_limited` (default 20,000).
    pub max_first_sightings_per_minute: u32,
    /// A position implying more than this speed since the last usable one is unusable.
    pub max_speed_knots: f64,
    /// A report identical to the vessel's last accepted one within this window is a duplicate
    /// (the same sentence heard by several receivers).
    pub duplicate_window: Duration,
    /// A first fix is used only once a second report agrees with it (default `true`). Off,
    /// the first fix is used at once (only for tests written against single reports).
    pub confirm_first_fix: bool,
    /// Vessels in no area silent this long are forgotten ([`super::Tracker::evict_silent`])
    /// each time the watermark enters a new 10 minutes (default 24 h; `None` keeps them until
    /// `max_vessels`). Driven by the clock, so a replay forgets at the same inputs.
    pub forget_after: Option<Duration>,
}

impl Default for TrackerConfig {
    fn default() -> TrackerConfig {
        TrackerConfig {
            default_policy: AreaPolicy::default(),
            policies: HashMap::new(),
            max_speed_knots: 100.0,
            duplicate_window: Duration::from_secs(10),
            confirm_first_fix: true,
            area_dwells: HashMap::new(),
            max_skew: Duration::from_secs(300),
            allowed_lateness: Duration::from_secs(30),
            resume_grace: Duration::from_secs(60),
            max_vessels: 1 << 20,
            max_silent_inside: Duration::from_secs(7 * 24 * 3600),
            max_first_sightings_per_minute: 20_000,
            forget_after: Some(Duration::from_secs(24 * 3600)),
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
    /// An area has too many distinct dwells.
    #[error("area {area:?} has {n} distinct min_dwell values, at most {MAX_DWELLS} are supported")]
    TooManyDwells {
        /// The area.
        area: String,
        /// How many were given.
        n: usize,
    },
}

/// A policy in milliseconds, dwells and thresholds sorted ascending and deduplicated.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// At least one entry (zero when no dwell is set); bit i of a member's `inside` is dwell i.
    pub(crate) dwells_ms: Vec<i64>,
    pub(crate) gaps_ms: Vec<i64>,
}

impl Resolved {
    /// The `inside` bits of a member confirmed inside for every dwell.
    pub(crate) fn all_inside(&self) -> u8 {
        u8::try_from((1u16 << self.dwells_ms.len()) - 1).unwrap_or(u8::MAX)
    }
}

pub(crate) fn resolve(
    config: &TrackerConfig,
    areas: &AreaIndex,
) -> Result<Vec<Resolved>, ConfigError> {
    for id in config.policies.keys().chain(config.area_dwells.keys()) {
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
            let mut dwells_ms: Vec<i64> = match config.area_dwells.get(&area.id) {
                Some(dwells) if !dwells.is_empty() => dwells.iter().map(|d| ms(*d)).collect(),
                _ => vec![ms(policy.min_dwell)],
            };
            dwells_ms.sort_unstable();
            dwells_ms.dedup();
            if dwells_ms.len() > MAX_DWELLS {
                return Err(ConfigError::TooManyDwells {
                    area: area.id.clone(),
                    n: dwells_ms.len(),
                });
            }
            Ok(Resolved { dwells_ms, gaps_ms })
        })
        .collect()
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
