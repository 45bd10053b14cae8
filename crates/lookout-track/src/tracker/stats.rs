//! [`TrackerStats`]: what a tracker counted, by outcome and reason.

/// What the tracker counted since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerStats {
    /// Observations offered to [`Tracker::observe`].
    pub observations: u64,
    /// Reports accepted (neither stale, duplicate, skewed nor from a non-vessel).
    pub accepted: u64,
    /// Reports older than the vessel's last accepted one.
    pub stale: u64,
    /// Duplicates of one of the vessel's recent accepted reports.
    pub duplicates: u64,
    /// Reports from base stations, aids to navigation or MMSI 0.
    pub not_a_vessel: u64,
    /// Reports stamped more than `max_skew` ahead of the watermark.
    pub clock_skew: u64,
    /// First sightings dropped by the per-minute limit.
    pub rate_limited: u64,
    /// Positions without latitude or longitude.
    pub unusable_missing: u64,
    /// Positions at (0, 0).
    pub unusable_null_island: u64,
    /// Positions outside ±90/±180.
    pub unusable_out_of_range: u64,
    /// Positions implying more than `max_speed_knots` since the last usable one.
    pub unusable_too_fast: u64,
    /// First fixes waiting for a second report to agree.
    pub unconfirmed: u64,
    /// Fixes after a jump accepted because a second report agreed with them.
    pub jump_resets: u64,
    /// Vessels evicted (least recently heard beyond `max_vessels`, silent, or silent inside).
    pub evicted: u64,
    /// `entered` events.
    pub entered: u64,
    /// `exited` events.
    pub exited: u64,
    /// `gap_started` events.
    pub gap_started: u64,
    /// `gap_ended` events.
    pub gap_ended: u64,
}
