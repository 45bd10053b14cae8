//! Per-vessel state ([`Vessel`], [`Member`]) and the per-report checks that use only it:
//! duplicate history, staleness, and the plausibility of a position (range, speed, and the
//! agreement a first fix or a jump needs before it is used).

use lookout_core::{Position, Report, VesselStatic};

use super::{TrackerConfig, TrackerStats};
use crate::sphere::haversine_nm;

/// How many recent reports a duplicate is compared with.
pub const DUP_HISTORY: usize = 4;

/// A vessel's membership of one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) area: u32,
    /// Bit i: confirmed inside for the area's dwell i (`entered` emitted, `exited` not yet).
    pub(super) inside: u8,
    /// The last usable position's geometric answer.
    pub(super) raw: bool,
    /// Bit i: gap threshold i of the area has started and not yet ended.
    pub(super) gaps_fired: u8,
    /// When `raw` last changed (ms): the start of the current run inside or outside.
    pub(super) pending_since: i64,
}

impl Member {
    pub(super) fn idle(&self) -> bool {
        self.inside == 0 && !self.raw && self.gaps_fired == 0
    }

    /// Gap timers run for a vessel confirmed inside and for one pending entry.
    pub(super) fn timed(&self) -> bool {
        self.raw || self.inside != 0
    }
}

/// Per-vessel state. See the crate README for its size.
#[derive(Debug, Clone)]
pub(super) struct Vessel {
    /// Time of the last accepted position report (usable or not): older ones are stale.
    pub(super) last_seen: i64,
    /// Time of the last accepted static report.
    pub(super) static_at: i64,
    /// Time of the last usable position: the start of a silence.
    pub(super) pos_at: i64,
    pub(super) lat: f64,
    pub(super) lon: f64,
    /// A fix waiting for a second report to agree with it (`i64::MIN`: none).
    pub(super) cand_at: i64,
    pub(super) cand_lat: f64,
    pub(super) cand_lon: f64,
    /// Fingerprints and times of the last accepted reports (fingerprint 0: empty slot).
    pub(super) recent: [(u64, i64); DUP_HISTORY],
    /// The instant the open gaps count from (`i64::MIN`: no gap open).
    pub(super) gap_base: i64,
    /// Time of this vessel's heap entry, `i64::MAX` when it has none.
    pub(super) scheduled: i64,
    pub(super) statics: Option<Box<VesselStatic>>,
    pub(super) members: Vec<Member>,
    pub(super) has_pos: bool,
    pub(super) dirty: bool,
}

impl Vessel {
    pub(super) fn new() -> Vessel {
        Vessel {
            last_seen: i64::MIN,
            static_at: i64::MIN,
            pos_at: i64::MIN,
            lat: 0.0,
            lon: 0.0,
            cand_at: i64::MIN,
            cand_lat: 0.0,
            cand_lon: 0.0,
            recent: [(0, 0); DUP_HISTORY],
            gap_base: i64::MIN,
            scheduled: i64::MAX,
            statics: None,
            members: Vec::new(),
            has_pos: false,
            dirty: false,
        }
    }

    /// When the vessel was last heard at all (for least-recently-heard eviction).
    pub(super) fn heard(&self) -> i64 {
        self.last_seen.max(self.static_at)
    }

    /// Whether `fingerprint` at `at` repeats one of the recent reports within `window_ms`.
    pub(super) fn is_duplicate(&self, fingerprint: u64, at: i64, window_ms: i64) -> bool {
        self.recent
            .iter()
            .any(|(fp, seen)| *fp == fingerprint && (at - seen).abs() <= window_ms)
    }

    pub(super) fn remember(&mut self, fingerprint: u64, at: i64) {
        self.recent.rotate_right(1);
        self.recent[0] = (fingerprint, at);
    }
}

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31)
}

/// A non-zero hash of what a report says (not when).
pub(super) fn fingerprint(report: &Report) -> u64 {
    let h = match report {
        Report::Position(p) => {
            let mut h = 1;
            h = mix(h, p.lat.map_or(u64::MAX, f64::to_bits));
            h = mix(h, p.lon.map_or(u64::MAX, f64::to_bits));
            h = mix(h, p.sog.map_or(u64::MAX, |v| u64::from(v.to_bits())));
            h = mix(h, p.cog.map_or(u64::MAX, |v| u64::from(v.to_bits())));
            mix(h, p.heading.map_or(u64::MAX, u64::from))
        }
        Report::Static(s) => {
            let mut h = 2;
            for text in [&s.name, &s.callsign, &s.destination] {
                h = mix(h, 0xFF);
                for b in text.as_deref().unwrap_or("").bytes() {
                    h = mix(h, u64::from(b));
                }
            }
            h = mix(h, s.imo.map_or(u64::MAX, u64::from));
            h = mix(h, s.ship_type.map_or(u64::MAX, u64::from));
            let dims = s.dimensions.unwrap_or([u16::MAX; 4]);
            dims.iter().fold(h, |h, d| mix(h, u64::from(*d)))
        }
    };
    h.max(1)
}

/// Whether going from `(lat0, lon0)` at `t0` to `(lat, lon)` at `at` is within `max_knots`.
fn plausible(
    max_knots: f64,
    (lat0, lon0, t0): (f64, f64, i64),
    lat: f64,
    lon: f64,
    at: i64,
) -> bool {
    let hours = ((at - t0).max(1000)) as f64 / 3_600_000.0;
    let limit_nm = max_knots * hours;
    let dlon = (lon - lon0).abs();
    let dlon = dlon.min(360.0 - dlon);
    // Cheap upper bound first (meridian plus parallel path is never shorter).
    ((lat - lat0).abs() + dlon) * 60.1 <= limit_nm || haversine_nm(lat0, lon0, lat, lon) <= limit_nm
}

/// The position to use, or `None` (counted by reason) when it must not change membership.
///
/// A first fix, and a fix that implies more than `max_speed_knots` from the last usable one,
/// becomes a candidate: it is used only once a later report agrees with it (is plausible from
/// it), so one corrupted position neither enters an area nor locks the vessel out.
pub(super) fn usable_position(
    config: &TrackerConfig,
    stats: &mut TrackerStats,
    vessel: &mut Vessel,
    p: &Position,
    at: i64,
) -> Option<(f64, f64)> {
    let (Some(lat), Some(lon)) = (p.lat, p.lon) else {
        stats.unusable_missing += 1;
        return None;
    };
    if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
        stats.unusable_out_of_range += 1;
        return None;
    }
    if lat == 0.0 && lon == 0.0 {
        stats.unusable_null_island += 1;
        return None;
    }
    let max = config.max_speed_knots;
    let candidate =
        (vessel.cand_at != i64::MIN).then_some((vessel.cand_lat, vessel.cand_lon, vessel.cand_at));
    let follows = if vessel.has_pos {
        plausible(max, (vessel.lat, vessel.lon, vessel.pos_at), lat, lon, at)
    } else {
        !config.confirm_first_fix
    };
    let accepted = if follows {
        true
    } else if candidate.is_some_and(|c| plausible(max, c, lat, lon, at)) {
        if vessel.has_pos {
            stats.jump_resets += 1;
        }
        true
    } else {
        if vessel.has_pos {
            stats.unusable_too_fast += 1;
        } else {
            stats.unconfirmed += 1;
        }
        vessel.cand_at = at;
        vessel.cand_lat = lat;
        vessel.cand_lon = lon;
        false
    };
    if !accepted {
        return None;
    }
    vessel.cand_at = i64::MIN;
    vessel.has_pos = true;
    vessel.lat = lat;
    vessel.lon = lon;
    vessel.pos_at = at;
    Some((lat, lon))
}
