//! The [`Tracker`]: one shard of vessel state that turns [`Observation`]s into [`Event`]s.
//!
//! It is synchronous and deterministic: the same observations and `advance` calls always give
//! the same events, so replays, tests and restarts agree. Time is the observations' own time
//! (`Observation::at`); the tracker's clock is the latest time it has seen, from observations
//! or from [`Tracker::advance`] (driven by a wall-clock tick in a live service).
//!
//! # Rules
//! - A report older than the vessel's last accepted report is *stale*: counted, ignored.
//! - A report identical to the last accepted one within `duplicate_window` is a *duplicate*
//!   (several receivers heard the same sentence): counted, ignored.
//! - Every other report counts as the vessel being heard (it sets `last_seen`, ends gaps).
//! - A position that is missing, (0, 0), out of range, or implies more than `max_speed_knots`
//!   since the last usable position is *unusable*: counted by reason, never changes membership.
//! - MMSIs of base stations (`00MIDxxxx`) and aids to navigation (`99MIDxxxx`) never become vessels.
//! - `entered`/`exited` carry the time and position of the report that confirmed them (with a
//!   `min_dwell`, the first report at least that long after the first one inside/outside in an
//!   unbroken run of usable reports).
//! - `gap_started` is timer driven: when the clock passes `last_seen + threshold` for a vessel
//!   confirmed inside an area with that threshold; `at` is that instant, the position is the
//!   last known one. The next report emits `gap_ended` with the whole gap and the new position
//!   (the last known one when the report carries none).
//!
//! Timers live in a binary heap with at most one entry per vessel and lazy invalidation: a new
//! report only moves the vessel's deadline later, which the heap learns when the stale entry
//! pops, so the per-report cost is O(1) and `advance` touches only vessels that are due.

mod policy;
mod state;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use jiff::Timestamp;
use lookout_core::{
    Event, EventKind, Mmsi, Observation, Position, Report, VesselCheckpoint, VesselStatic,
};

use crate::areas::AreaIndex;
use crate::sphere::haversine_nm;
pub use policy::{AreaPolicy, ConfigError, MAX_GAP_THRESHOLDS, TrackerConfig};
pub use state::{RestoreError, RestoreReport};

/// What the tracker counted since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerStats {
    /// Observations offered to [`Tracker::observe`].
    pub observations: u64,
    /// Reports accepted (neither stale, duplicate nor from a non-vessel).
    pub accepted: u64,
    /// Reports older than the vessel's last accepted one.
    pub stale: u64,
    /// Duplicates of the vessel's last accepted report.
    pub duplicates: u64,
    /// Reports from base stations, aids to navigation or MMSI 0.
    pub not_a_vessel: u64,
    /// Positions without latitude or longitude.
    pub unusable_missing: u64,
    /// Positions at (0, 0).
    pub unusable_null_island: u64,
    /// Positions outside ±90/±180.
    pub unusable_out_of_range: u64,
    /// Positions implying more than `max_speed_knots` since the last usable one.
    pub unusable_too_fast: u64,
    /// Too-fast positions accepted as a fresh fix after `max_consecutive_jumps` in a row.
    pub jump_resets: u64,
    /// `entered` events.
    pub entered: u64,
    /// `exited` events.
    pub exited: u64,
    /// `gap_started` events.
    pub gap_started: u64,
    /// `gap_ended` events.
    pub gap_ended: u64,
}

/// A vessel's membership of one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    area: u32,
    /// Confirmed inside: `entered` was emitted and `exited` not yet.
    inside: bool,
    /// The last usable position's geometric answer.
    raw: bool,
    /// Bit i: gap threshold i of the area has started and not yet ended.
    gaps_fired: u8,
    /// When `raw` first differed from `inside` in the current run (ms).
    pending_since: i64,
}

impl Member {
    fn idle(&self) -> bool {
        !self.inside && !self.raw && self.gaps_fired == 0
    }
}

/// Per-vessel state. See the crate README for its size.
#[derive(Debug, Clone)]
struct Vessel {
    last_seen: i64,
    pos_at: i64,
    lat: f64,
    lon: f64,
    fingerprint: u64,
    /// Deadline of this vessel's heap entry, `i64::MAX` when it has none.
    scheduled: i64,
    statics: Option<Box<VesselStatic>>,
    members: Vec<Member>,
    has_pos: bool,
    jumps: u8,
    dirty: bool,
}

impl Vessel {
    fn new() -> Vessel {
        Vessel {
            last_seen: i64::MIN,
            pos_at: i64::MIN,
            lat: 0.0,
            lon: 0.0,
            fingerprint: 0,
            scheduled: i64::MAX,
            statics: None,
            members: Vec::new(),
            has_pos: false,
            jumps: 0,
            dirty: false,
        }
    }
}

/// A fast hasher for MMSIs (multiplicative; MMSIs are not attacker-chosen keys of a web API).
#[derive(Debug, Default, Clone, Copy)]
struct MmsiHasher(u64);

impl Hasher for MmsiHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (u64::from(n) ^ self.0)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

type VesselMap = HashMap<Mmsi, Vessel, BuildHasherDefault<MmsiHasher>>;

/// Bytes one vessel costs in the tracker's map without any area membership: the entry
/// (MMSI and state) plus the hash table's control byte. Each area the vessel is in (or is
/// pending for) adds [`MEMBERSHIP_BYTES`]; known static data adds its boxed size and strings.
pub const VESSEL_BYTES: usize = size_of::<(Mmsi, Vessel)>() + 1;

/// Bytes each area membership adds to a vessel.
pub const MEMBERSHIP_BYTES: usize = size_of::<Member>();

/// One shard of vessel tracking. See the [module docs](self) for the rules.
#[derive(Debug)]
pub struct Tracker {
    areas: Arc<AreaIndex>,
    policies: Vec<policy::Resolved>,
    config: TrackerConfig,
    vessels: VesselMap,
    timers: BinaryHeap<Reverse<(i64, Mmsi)>>,
    clock: i64,
    stats: TrackerStats,
    dirty: Vec<Mmsi>,
    scratch: Vec<u32>,
    merged: Vec<Member>,
}

impl Tracker {
    /// A tracker over `areas` with `config`.
    ///
    /// # Errors
    /// A policy for an unknown area, too many or zero gap thresholds.
    pub fn new(areas: Arc<AreaIndex>, config: TrackerConfig) -> Result<Tracker, ConfigError> {
        let policies = policy::resolve(&config, &areas)?;
        Ok(Tracker {
            areas,
            policies,
            config,
            vessels: VesselMap::default(),
            timers: BinaryHeap::new(),
            clock: i64::MIN,
            stats: TrackerStats::default(),
            dirty: Vec::new(),
            scratch: Vec::new(),
            merged: Vec::new(),
        })
    }

    /// The areas this tracker uses.
    pub fn areas(&self) -> &Arc<AreaIndex> {
        &self.areas
    }

    /// What the tracker counted so far.
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Number of vessels known.
    pub fn n_vessels(&self) -> usize {
        self.vessels.len()
    }

    /// The latest time the tracker has seen (from observations or `advance`).
    pub fn clock(&self) -> Option<Timestamp> {
        (self.clock != i64::MIN).then(|| ts(self.clock))
    }

    /// The ids of the areas `mmsi` is confirmed inside, ascending by area index.
    pub fn inside(&self, mmsi: Mmsi) -> Vec<&str> {
        self.vessels
            .get(&mmsi)
            .map(|v| {
                v.members
                    .iter()
                    .filter(|m| m.inside)
                    .filter_map(|m| self.areas.area(m.area).map(|a| a.id.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The merged static data of `mmsi`, when any was received.
    pub fn static_data(&self, mmsi: Mmsi) -> Option<&VesselStatic> {
        self.vessels.get(&mmsi).and_then(|v| v.statics.as_deref())
    }

    /// Last usable position `(lat, lon, at)` of `mmsi`.
    pub fn last_position(&self, mmsi: Mmsi) -> Option<(f64, f64, Timestamp)> {
        self.vessels
            .get(&mmsi)
            .filter(|v| v.has_pos)
            .map(|v| (v.lat, v.lon, ts(v.pos_at)))
    }

    /// Processes one observation: first fires the gap timers due by `obs.at`, then applies
    /// the report. Returns the events in order.
    pub fn observe(&mut self, obs: &Observation) -> Vec<Event> {
        let mut events = Vec::new();
        self.observe_into(obs, &mut events);
        events
    }

    /// [`Tracker::observe`] appending to `events` (no allocation when nothing happens).
    pub fn observe_into(&mut self, obs: &Observation, events: &mut Vec<Event>) {
        self.stats.observations += 1;
        let at = obs.at.as_millisecond();
        self.advance_ms(at, events);
        if !is_vessel(obs.mmsi) {
            self.stats.not_a_vessel += 1;
            return;
        }
        let fingerprint = fingerprint(&obs.report);
        let dup_ms = policy::ms(self.config.duplicate_window);
        let vessel = self.vessels.entry(obs.mmsi).or_insert_with(Vessel::new);
        if vessel.last_seen != i64::MIN {
            if vessel.fingerprint == fingerprint && (at - vessel.last_seen).abs() <= dup_ms {
                self.stats.duplicates += 1;
                return;
            }
            if at < vessel.last_seen {
                self.stats.stale += 1;
                return;
            }
        }
        self.stats.accepted += 1;
        let previous_seen = vessel.last_seen;
        vessel.last_seen = at;
        vessel.fingerprint = fingerprint;
        if !vessel.dirty {
            vessel.dirty = true;
            self.dirty.push(obs.mmsi);
        }
        let usable = match &obs.report {
            Report::Static(s) => {
                match &mut vessel.statics {
                    Some(known) => known.merge(s),
                    None => vessel.statics = Some(Box::new(s.clone())),
                }
                None
            }
            Report::Position(p) => usable_position(&self.config, &mut self.stats, vessel, p, at),
        };
        if vessel.members.iter().any(|m| m.gaps_fired != 0) {
            let (lat, lon) = usable.unwrap_or((vessel.lat, vessel.lon));
            end_gaps(
                &self.areas,
                &self.policies,
                &mut self.stats,
                obs.mmsi,
                vessel,
                previous_seen,
                at,
                (lat, lon),
                events,
            );
        }
        if let Some((lat, lon)) = usable {
            self.areas.areas_at(lat, lon, &mut self.scratch);
            update_membership(
                &self.areas,
                &self.policies,
                &mut self.stats,
                obs.mmsi,
                vessel,
                &self.scratch,
                &mut self.merged,
                at,
                events,
            );
        }
        schedule(&self.policies, &mut self.timers, obs.mmsi, vessel);
    }

    /// Moves the clock to `now` (never backwards) and fires every gap timer due by then.
    pub fn advance(&mut self, now: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        self.advance_ms(now.as_millisecond(), &mut events);
        events
    }

    fn advance_ms(&mut self, now: i64, events: &mut Vec<Event>) {
        self.clock = self.clock.max(now);
        let now = self.clock;
        let first = events.len();
        while let Some(&Reverse((deadline, mmsi))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(vessel) = self.vessels.get_mut(&mmsi) else {
                continue;
            };
            if vessel.scheduled != deadline {
                continue; // superseded by an earlier entry
            }
            vessel.scheduled = i64::MAX;
            let mut fired = false;
            for m in vessel.members.iter_mut().filter(|m| m.inside) {
                let gaps = &self.policies[m.area as usize].gaps_ms;
                for (bit, threshold) in gaps.iter().enumerate() {
                    let due = vessel.last_seen.saturating_add(*threshold);
                    if m.gaps_fired & (1 << bit) == 0 && due <= now {
                        m.gaps_fired |= 1 << bit;
                        fired = true;
                        self.stats.gap_started += 1;
                        events.push(make_event(
                            &self.areas,
                            EventKind::GapStarted,
                            mmsi,
                            vessel.statics.as_deref(),
                            m.area,
                            due,
                            (vessel.lat, vessel.lon),
                            Some((vessel.last_seen, threshold / 1000, *threshold)),
                        ));
                    }
                }
            }
            if fired && !vessel.dirty {
                vessel.dirty = true;
                self.dirty.push(mmsi);
            }
            schedule(&self.policies, &mut self.timers, mmsi, vessel);
        }
        events[first..].sort_by_key(|e| (e.at, e.mmsi));
    }

    /// Forgets vessels last heard before `before` that are in no area, have no pending change
    /// and no open gap: nothing can come of them but memory. A forgotten vessel that reports
    /// again starts afresh (its first position inside an area emits `entered`, which is right:
    /// it was outside); its static data is learnt again from its next static report. Scans
    /// every vessel, so call it rarely (the runner does every 10 minutes). Returns how many
    /// were forgotten. Their checkpoint rows stay in the store until overwritten.
    pub fn evict_silent(&mut self, before: Timestamp) -> usize {
        let before = before.as_millisecond();
        let n = self.vessels.len();
        self.vessels
            .retain(|_, v| v.last_seen >= before || !v.members.is_empty());
        let evicted = n - self.vessels.len();
        if evicted > 0 {
            let vessels = &self.vessels;
            self.dirty.retain(|mmsi| vessels.contains_key(mmsi));
            tracing::debug!(
                evicted,
                n_vessels = self.vessels.len(),
                "evicted silent vessels"
            );
        }
        evicted
    }

    /// Checkpoint rows for every vessel changed since the last call (see [`crate::checkpoint`]).
    pub fn take_dirty(&mut self) -> Vec<VesselCheckpoint> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut rows = Vec::with_capacity(dirty.len());
        for mmsi in dirty {
            if let Some(v) = self.vessels.get_mut(&mmsi) {
                v.dirty = false;
                rows.push(state::save(&self.areas, &self.policies, mmsi, v));
            }
        }
        rows
    }

    /// Checkpoint rows for every vessel.
    pub fn checkpoint_all(&self) -> Vec<VesselCheckpoint> {
        let mut rows: Vec<VesselCheckpoint> = self
            .vessels
            .iter()
            .map(|(mmsi, v)| state::save(&self.areas, &self.policies, *mmsi, v))
            .collect();
        rows.sort_by_key(|r| r.mmsi);
        rows
    }

    /// Restores vessels from checkpoint rows (replacing any state of the same MMSI) and
    /// schedules their gap timers from `last_seen`. Rows that cannot be read are skipped and
    /// listed in the report; memberships of areas that no longer exist are dropped.
    pub fn restore(&mut self, rows: impl IntoIterator<Item = VesselCheckpoint>) -> RestoreReport {
        let mut report = RestoreReport::default();
        for row in rows {
            match state::load(&self.areas, &self.policies, &row) {
                Ok((vessel, dropped)) => {
                    report.restored += 1;
                    report.dropped_areas += dropped;
                    let vessel = self.vessels.entry(row.mmsi).insert_entry(vessel).into_mut();
                    vessel.scheduled = i64::MAX;
                    schedule(&self.policies, &mut self.timers, row.mmsi, vessel);
                }
                Err(e) => {
                    tracing::warn!(mmsi = row.mmsi, error = %e, "skipping unreadable vessel checkpoint");
                    report.skipped.push(e);
                }
            }
        }
        report
    }
}

fn is_vessel(mmsi: Mmsi) -> bool {
    (10_000_000..990_000_000).contains(&mmsi)
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31)
}

fn fingerprint(report: &Report) -> u64 {
    match report {
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
    }
}

/// The position to use, or `None` (counted by reason) when it must not change membership.
fn usable_position(
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
    if vessel.has_pos {
        let hours = ((at - vessel.pos_at).max(1000)) as f64 / 3_600_000.0;
        let limit_nm = config.max_speed_knots * hours;
        let dlon = (lon - vessel.lon).abs();
        let dlon = dlon.min(360.0 - dlon);
        // Cheap upper bound first (meridian plus parallel path is never shorter).
        if ((lat - vessel.lat).abs() + dlon) * 60.1 > limit_nm
            && haversine_nm(vessel.lat, vessel.lon, lat, lon) > limit_nm
        {
            if vessel.jumps < config.max_consecutive_jumps {
                vessel.jumps += 1;
                stats.unusable_too_fast += 1;
                return None;
            }
            stats.jump_resets += 1;
        }
    }
    vessel.jumps = 0;
    vessel.has_pos = true;
    vessel.lat = lat;
    vessel.lon = lon;
    vessel.pos_at = at;
    Some((lat, lon))
}

#[allow(clippy::too_many_arguments)]
fn make_event(
    areas: &AreaIndex,
    kind: EventKind,
    mmsi: Mmsi,
    statics: Option<&VesselStatic>,
    area: u32,
    at: i64,
    (lat, lon): (f64, f64),
    gap: Option<(i64, i64, i64)>,
) -> Event {
    let (area_id, area_name) = areas
        .area(area)
        .map(|a| (a.id.clone(), a.name.clone()))
        .unwrap_or_default();
    Event {
        kind,
        mmsi,
        vessel_name: statics.and_then(|s| s.name.clone()),
        area_id,
        area_name,
        at: ts(at),
        lat,
        lon,
        last_seen: gap.map(|(seen, _, _)| ts(seen)),
        gap_seconds: gap.map(|(_, secs, _)| u64::try_from(secs).unwrap_or(0)),
        threshold_seconds: gap.map(|(_, _, th)| u64::try_from(th / 1000).unwrap_or(0)),
    }
}

#[allow(clippy::too_many_arguments)]
fn end_gaps(
    areas: &AreaIndex,
    policies: &[policy::Resolved],
    stats: &mut TrackerStats,
    mmsi: Mmsi,
    vessel: &mut Vessel,
    previous_seen: i64,
    at: i64,
    position: (f64, f64),
    events: &mut Vec<Event>,
) {
    let statics = vessel.statics.as_deref();
    for m in &mut vessel.members {
        let gaps = &policies[m.area as usize].gaps_ms;
        for (bit, threshold) in gaps.iter().enumerate() {
            if m.gaps_fired & (1 << bit) != 0 {
                stats.gap_ended += 1;
                events.push(make_event(
                    areas,
                    EventKind::GapEnded,
                    mmsi,
                    statics,
                    m.area,
                    at,
                    position,
                    Some((previous_seen, (at - previous_seen) / 1000, *threshold)),
                ));
            }
        }
        m.gaps_fired = 0;
    }
    vessel.members.retain(|m| !m.idle());
}

/// Merges the areas containing the new position (`now_in`, ascending) into the vessel's
/// memberships, emitting `entered`/`exited` when a change is confirmed.
#[allow(clippy::too_many_arguments)]
fn update_membership(
    areas: &AreaIndex,
    policies: &[policy::Resolved],
    stats: &mut TrackerStats,
    mmsi: Mmsi,
    vessel: &mut Vessel,
    now_in: &[u32],
    merged: &mut Vec<Member>,
    at: i64,
    events: &mut Vec<Event>,
) {
    // Fast path: nothing pending and the same areas as before.
    if vessel.members.len() == now_in.len()
        && vessel
            .members
            .iter()
            .zip(now_in)
            .all(|(m, a)| m.area == *a && m.inside && m.raw)
    {
        return;
    }
    merged.clear();
    let (mut i, mut j) = (0, 0);
    let members = &vessel.members;
    while i < members.len() || j < now_in.len() {
        let (mut m, raw_now) = match (members.get(i), now_in.get(j)) {
            (Some(m), Some(a)) if m.area == *a => {
                i += 1;
                j += 1;
                (*m, true)
            }
            (Some(m), Some(a)) if m.area < *a => {
                i += 1;
                (*m, false)
            }
            (Some(m), None) => {
                i += 1;
                (*m, false)
            }
            (_, Some(a)) => {
                j += 1;
                let fresh = Member {
                    area: *a,
                    inside: false,
                    raw: false,
                    gaps_fired: 0,
                    pending_since: at,
                };
                (fresh, true)
            }
            (None, None) => break,
        };
        if raw_now == m.inside {
            m.raw = raw_now;
        } else {
            if m.raw != raw_now {
                m.raw = raw_now;
                m.pending_since = at;
            }
            if at - m.pending_since >= policies[m.area as usize].min_dwell_ms {
                m.inside = raw_now;
                let kind = if raw_now {
                    stats.entered += 1;
                    EventKind::Entered
                } else {
                    stats.exited += 1;
                    EventKind::Exited
                };
                events.push(make_event(
                    areas,
                    kind,
                    mmsi,
                    vessel.statics.as_deref(),
                    m.area,
                    at,
                    (vessel.lat, vessel.lon),
                    None,
                ));
            }
        }
        if !m.idle() {
            merged.push(m);
        }
    }
    std::mem::swap(&mut vessel.members, merged);
}

/// Makes sure the timer heap holds an entry no later than the vessel's next gap deadline.
fn schedule(
    policies: &[policy::Resolved],
    timers: &mut BinaryHeap<Reverse<(i64, Mmsi)>>,
    mmsi: Mmsi,
    vessel: &mut Vessel,
) {
    let mut next = i64::MAX;
    for m in vessel.members.iter().filter(|m| m.inside) {
        for (bit, threshold) in policies[m.area as usize].gaps_ms.iter().enumerate() {
            if m.gaps_fired & (1 << bit) == 0 {
                next = next.min(vessel.last_seen.saturating_add(*threshold));
                break; // thresholds ascend: the first unfired one is this area's next
            }
        }
    }
    if next < vessel.scheduled {
        vessel.scheduled = next;
        timers.push(Reverse((next, mmsi)));
    }
}
