//! The [`Tracker`]: one shard of vessel state that turns [`TrackerInput`]s into [`Event`]s.
//!
//! It is synchronous and deterministic: the same inputs always give the same events, so
//! replays, tests and restarts agree. Its only notion of time is the inputs'.
//!
//! # The clock: a watermark
//! The shard's clock (`watermark`) is the event time of accepted reports, moved forward only:
//! - A report stamped more than `max_skew` ahead of the watermark does not move it: it is
//!   held (at most [`AHEAD_HOLD`]), counted as `clock_skew` and logged (at most once a
//!   minute). Only when a second report agrees with it within `max_skew` (a recording's quiet
//!   hours) does the watermark jump, and the held ones are applied (and un-counted); one
//!   poisoned sentence never moves the clock.
//! - The first watermark is never one report's word: until a [`TrackerInput::Tick`] or
//!   [`TrackerInput::Resume`] gives an ingest time, observations are held until two of them
//!   agree within `max_skew` (or [`STARTUP_HOLD`] are held, then the median is taken); the held
//!   ones are then applied in order, each checked against that watermark.
//! - In a live service, ingest sends [`TrackerInput::Tick`]s with its wall clock; they move the
//!   watermark only while the feed is up. [`TrackerInput::Resume`] (service start) and a
//!   [`TrackerInput::FeedUp`] after more than `resume_grace` down set `resumed_at`. Replays and
//!   file sources send only observations.
//!
//! # Rules
//! - A report older than the vessel's last accepted report of its kind is *stale*: counted,
//!   ignored. One identical to any of the vessel's last [`DUP_HISTORY`] accepted reports within
//!   `duplicate_window` is a *duplicate* (several receivers heard the same sentence).
//! - A position that is missing, (0, 0), out of range, or implies more than `max_speed_knots`
//!   since the last usable position is *unusable*: counted by reason, never changes membership.
//!   A first fix, and a fix after a jump, is used only once a second report agrees with it
//!   (counted as `unconfirmed` / `too_fast` until then).
//! - MMSIs of base stations (`00MIDxxxx`) and aids to navigation (`99MIDxxxx`) never become vessels.
//! - `entered`/`exited` carry the time and position of the report that confirmed them; each
//!   distinct `min_dwell` of an area confirms on its own (the first report at least that long
//!   after the first one inside/outside in an unbroken run of usable reports).
//! - A **gap** is no usable position for a threshold (static data does not end or prevent one).
//!   Its deadline is `max(last position, resumed_at) + threshold`; it fires when the watermark
//!   passes the deadline plus `allowed_lateness`, with `gap_started.at` = the deadline. Gap
//!   timers run for a vessel inside an area and for one pending entry. The next usable
//!   position ends it: `gap_ended.at = max(report time, deadline)`, `gap_seconds = at −
//!   last position`, so a `gap_ended` never precedes its `gap_started`.
//! - Events of one report come out gap ends, then exits, then entries.
//! - State is bounded: beyond `max_vessels` the least recently heard are evicted; a vessel
//!   without a usable position for `max_silent_inside` leaves its areas (`exited`) and is
//!   evicted; first sightings are rate limited. Evicted vessels give a checkpoint row with
//!   empty `data` (delete).
//!
//! Timers live in a binary heap with at most one live entry per vessel and lazy invalidation:
//! a new report only moves the vessel's deadline later, which the heap learns when the stale
//! entry pops, so the per-report cost is O(1) and `advance` touches only vessels that are due.

mod detect;
mod policy;
mod row;
mod state;
mod stats;
mod vessel;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use jiff::Timestamp;
use lookout_core::{Event, Mmsi, Observation, Report};

use crate::areas::AreaIndex;
use detect::{end_gaps, exit_all, fire_gaps, next_due, rank, schedule, update_membership};
pub use policy::{AreaPolicy, ConfigError, MAX_DWELLS, MAX_GAP_THRESHOLDS, TrackerConfig};
pub use state::{RestoreError, RestoreReport, RowError, is_meta_key};
pub use stats::TrackerStats;
pub use vessel::DUP_HISTORY;
use vessel::{Vessel, fingerprint, usable_position};

/// Observations held before the first watermark when no two agree.
pub const STARTUP_HOLD: usize = 32;

/// Reports far ahead of the watermark held while waiting for a second one to agree.
pub const AHEAD_HOLD: usize = 4;

/// One input of a tracker shard: everything its clock is derived from, in the order a log
/// (or a channel) delivers it.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackerInput {
    /// A decoded report.
    Observation(Observation),
    /// Ingest's wall clock in a live service: moves the watermark while the feed is up.
    Tick {
        /// Ingest time.
        ingest_time: Timestamp,
    },
    /// Every source of the feed is down since `at` (ingest time): ticks stop moving the clock.
    FeedDown {
        /// Ingest time the feed went down.
        at: Timestamp,
    },
    /// The feed is back at `at`: when it was down longer than `resume_grace`, gap clocks
    /// resume from `at`.
    FeedUp {
        /// Ingest time the feed came back.
        at: Timestamp,
    },
    /// The service (re)started at `at`: gap clocks resume from `at`.
    Resume {
        /// Ingest time of the start.
        at: Timestamp,
    },
    /// New areas and policies from here on ([`Tracker::reconfigure`]).
    Reconfigure(Reconfigure),
}

/// Areas and policies to switch to (the model changed while running). Two are equal when
/// they are the same allocation.
#[derive(Debug, Clone)]
pub struct Reconfigure(pub Arc<(Arc<AreaIndex>, TrackerConfig)>);

impl PartialEq for Reconfigure {
    fn eq(&self, other: &Reconfigure) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
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
/// (MMSI and state) plus the hash table's control byte, at a full table. A hash table runs
/// between 7/16 and 7/8 full, so budget up to twice this; each area the vessel is in (or is
/// pending for) adds [`MEMBERSHIP_BYTES`] (in a `Vec`, capacity rounded up), a live timer
/// [`TIMER_BYTES`] (the heap holds stale entries too, at most one per report), known static
/// data its boxed size and strings.
pub const VESSEL_BYTES: usize = size_of::<(Mmsi, Vessel)>() + 1;

/// Bytes each area membership adds to a vessel.
pub const MEMBERSHIP_BYTES: usize = size_of::<vessel::Member>();

/// Bytes of one timer heap entry.
pub const TIMER_BYTES: usize = size_of::<Reverse<(i64, Mmsi)>>();

/// One shard of vessel tracking. See the [module docs](self) for the rules.
#[derive(Debug)]
pub struct Tracker {
    areas: Arc<AreaIndex>,
    policies: Vec<policy::Resolved>,
    config: TrackerConfig,
    vessels: VesselMap,
    timers: BinaryHeap<Reverse<(i64, Mmsi)>>,
    watermark: i64,
    resumed_at: i64,
    feed_down_at: i64,
    startup: Vec<Observation>,
    ahead: Vec<Observation>,
    /// Observations applied since the beginning (restored from the checkpoint).
    seq: u64,
    meta_key: Mmsi,
    meta_dirty: bool,
    sightings_window: i64,
    sightings: u32,
    skew_logged: i64,
    stats: TrackerStats,
    dirty: Vec<Mmsi>,
    evicted: Vec<Mmsi>,
    scratch: Vec<u32>,
    merged: Vec<vessel::Member>,
    skew_ms: i64,
    lateness_ms: i64,
    max_silent_ms: i64,
    dup_ms: i64,
    forget_after_ms: Option<i64>,
}

/// Silent vessels are forgotten when the watermark enters a new period of this length.
const FORGET_EVERY_MS: i64 = 600_000;

impl Tracker {
    /// A tracker over `areas` with `config`.
    ///
    /// # Errors
    /// A policy for an unknown area, too many or zero gap thresholds, too many dwells.
    pub fn new(areas: Arc<AreaIndex>, config: TrackerConfig) -> Result<Tracker, ConfigError> {
        let policies = policy::resolve(&config, &areas)?;
        Ok(Tracker {
            areas,
            policies,
            skew_ms: policy::ms(config.max_skew),
            lateness_ms: policy::ms(config.allowed_lateness),
            max_silent_ms: policy::ms(config.max_silent_inside),
            dup_ms: policy::ms(config.duplicate_window),
            forget_after_ms: config.forget_after.map(policy::ms),
            config,
            vessels: VesselMap::default(),
            timers: BinaryHeap::new(),
            watermark: i64::MIN,
            resumed_at: i64::MIN,
            feed_down_at: i64::MIN,
            startup: Vec::new(),
            ahead: Vec::new(),
            seq: 0,
            meta_key: 0,
            meta_dirty: false,
            sightings_window: i64::MIN,
            sightings: 0,
            skew_logged: i64::MIN,
            stats: TrackerStats::default(),
            dirty: Vec::new(),
            evicted: Vec::new(),
            scratch: Vec::new(),
            merged: Vec::new(),
        })
    }

    /// Sets the reserved checkpoint key of this shard's clock row (its shard index; see
    /// [`is_meta_key`]). Default 0.
    pub fn set_meta_key(&mut self, key: Mmsi) {
        self.meta_key = key;
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

    /// Observations applied so far, counting those before the restored checkpoint: the
    /// offset in the input from which a restarted tracker continues.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The watermark, once established.
    pub fn clock(&self) -> Option<Timestamp> {
        (self.watermark != i64::MIN).then(|| ts(self.watermark))
    }

    /// The last resume (service start or feed back after an outage), if any.
    pub fn resumed_at(&self) -> Option<Timestamp> {
        (self.resumed_at != i64::MIN).then(|| ts(self.resumed_at))
    }

    /// The ids of the areas `mmsi` is confirmed inside (for the area's smallest dwell),
    /// ascending by area index.
    pub fn inside(&self, mmsi: Mmsi) -> Vec<&str> {
        self.vessels
            .get(&mmsi)
            .map(|v| {
                v.members
                    .iter()
                    .filter(|m| m.inside & 1 != 0)
                    .filter_map(|m| self.areas.area(m.area).map(|a| a.id.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The merged static data of `mmsi`, when any was received.
    pub fn static_data(&self, mmsi: Mmsi) -> Option<&lookout_core::VesselStatic> {
        self.vessels.get(&mmsi).and_then(|v| v.statics.as_deref())
    }

    /// When `mmsi`'s last accepted position report (usable or not) was sent: reports of it
    /// older than this are stale.
    pub fn last_seen(&self, mmsi: Mmsi) -> Option<Timestamp> {
        self.vessels
            .get(&mmsi)
            .filter(|v| v.last_seen != i64::MIN)
            .map(|v| ts(v.last_seen))
    }

    /// Last usable position `(lat, lon, at)` of `mmsi`.
    pub fn last_position(&self, mmsi: Mmsi) -> Option<(f64, f64, Timestamp)> {
        self.vessels
            .get(&mmsi)
            .filter(|v| v.has_pos)
            .map(|v| (v.lat, v.lon, ts(v.pos_at)))
    }

    /// Applies one input, appending its events.
    pub fn apply(&mut self, input: &TrackerInput, events: &mut Vec<Event>) {
        match input {
            TrackerInput::Observation(obs) => self.observe_into(obs, events),
            TrackerInput::Tick { ingest_time } => self.tick_into(*ingest_time, events),
            TrackerInput::FeedDown { at } => {
                if self.feed_down_at == i64::MIN {
                    self.feed_down_at = at.as_millisecond();
                    self.meta_dirty = true;
                }
            }
            TrackerInput::FeedUp { at } => {
                let at_ms = at.as_millisecond();
                let down = self.feed_down_at;
                self.feed_down_at = i64::MIN;
                self.meta_dirty = true;
                if down != i64::MIN && at_ms - down > policy::ms(self.config.resume_grace) {
                    self.resume_into(*at, events);
                } else {
                    self.tick_into(*at, events);
                }
            }
            TrackerInput::Resume { at } => self.resume_into(*at, events),
            TrackerInput::Reconfigure(next) => {
                let (areas, config) = &*next.0;
                match self.reconfigure(Arc::clone(areas), config.clone()) {
                    Ok(report) => tracing::info!(
                        areas = self.areas.len(),
                        vessels = report.restored,
                        dropped_memberships = report.dropped_areas,
                        "tracker reconfigured"
                    ),
                    Err(error) => tracing::error!(%error,
                        "tracker cannot take the new areas and policies; keeping the old ones"),
                }
            }
        }
    }

    /// Processes one observation: first fires the gap timers due by the watermark it sets,
    /// then applies the report. Returns the events in order.
    pub fn observe(&mut self, obs: &Observation) -> Vec<Event> {
        let mut events = Vec::new();
        self.observe_into(obs, &mut events);
        events
    }

    /// [`Tracker::observe`] appending to `events` (no allocation when nothing happens).
    pub fn observe_into(&mut self, obs: &Observation, events: &mut Vec<Event>) {
        self.stats.observations += 1;
        self.seq += 1;
        self.meta_dirty = true;
        if !is_vessel(obs.mmsi) {
            self.stats.not_a_vessel += 1;
            return;
        }
        if self.watermark == i64::MIN {
            self.hold(obs.clone(), events);
            return;
        }
        self.accept(obs, events);
    }

    /// Holds `obs` until the first watermark is agreed, then applies everything held.
    fn hold(&mut self, obs: Observation, events: &mut Vec<Event>) {
        let at = obs.at.as_millisecond();
        let agreed = self
            .startup
            .iter()
            .find(|o| (o.at.as_millisecond() - at).abs() <= self.skew_ms)
            .map(|o| o.at.as_millisecond().max(at));
        self.startup.push(obs);
        let start = match agreed {
            Some(start) => start,
            None if self.startup.len() >= STARTUP_HOLD => {
                let mut times: Vec<i64> =
                    self.startup.iter().map(|o| o.at.as_millisecond()).collect();
                times.sort_unstable();
                times[times.len() / 2]
            }
            None => return,
        };
        self.start_clock(start, events);
    }

    fn start_clock(&mut self, start: i64, events: &mut Vec<Event>) {
        self.watermark = start;
        self.meta_dirty = true;
        for held in std::mem::take(&mut self.startup) {
            self.accept(&held, events);
        }
    }

    fn accept(&mut self, obs: &Observation, events: &mut Vec<Event>) {
        let at = obs.at.as_millisecond();
        if at > self.watermark.saturating_add(self.skew_ms) {
            // Far ahead: held until a second report agrees (a recording's quiet hours are
            // real; one poisoned sentence is not).
            if let Some(agreed) = self
                .ahead
                .iter()
                .find(|o| (o.at.as_millisecond() - at).abs() <= self.skew_ms)
                .map(|o| o.at.as_millisecond().min(at))
            {
                let mut held = std::mem::take(&mut self.ahead);
                held.retain(|o| (o.at.as_millisecond() - agreed).abs() <= self.skew_ms);
                self.stats.clock_skew = self.stats.clock_skew.saturating_sub(held.len() as u64);
                self.advance_ms(agreed, events);
                for o in held {
                    self.accept(&o, events);
                }
                self.accept(obs, events);
                return;
            }
            if self.ahead.len() >= AHEAD_HOLD {
                self.ahead.remove(0);
            }
            self.ahead.push(obs.clone());
            self.stats.clock_skew += 1;
            if self.skew_logged == i64::MIN || self.watermark - self.skew_logged >= 60_000 {
                self.skew_logged = self.watermark;
                tracing::warn!(
                    mmsi = obs.mmsi,
                    ahead_seconds = (at - self.watermark) / 1000,
                    watermark = %ts(self.watermark),
                    "report stamped too far ahead of the tracker clock; rejected (clock_skew)"
                );
            }
            return;
        }
        self.advance_ms(at, events);
        let own = events.len();
        let fingerprint = fingerprint(&obs.report);
        if !self.vessels.contains_key(&obs.mmsi) {
            if !self.admit_new(events) {
                return;
            }
            self.vessels.insert(obs.mmsi, Vessel::new());
        }
        let Some(vessel) = self.vessels.get_mut(&obs.mmsi) else {
            return;
        };
        if vessel.is_duplicate(fingerprint, at, self.dup_ms) {
            self.stats.duplicates += 1;
            return;
        }
        let is_position = matches!(obs.report, Report::Position(_));
        let last = if is_position {
            vessel.last_seen
        } else {
            vessel.static_at
        };
        if at < last {
            self.stats.stale += 1;
            return;
        }
        self.stats.accepted += 1;
        vessel.remember(fingerprint, at);
        if !vessel.dirty {
            vessel.dirty = true;
            self.dirty.push(obs.mmsi);
        }
        let usable = match &obs.report {
            Report::Static(s) => {
                vessel.static_at = at;
                match &mut vessel.statics {
                    Some(known) => known.merge(s),
                    None => vessel.statics = Some(Box::new(s.clone())),
                }
                None
            }
            Report::Position(p) => {
                vessel.last_seen = at;
                let previous_pos_at = vessel.pos_at;
                // The report itself proves the silence up to `at`.
                if vessel.has_pos {
                    fire_gaps(
                        &self.areas,
                        &self.policies,
                        &mut self.stats,
                        obs.mmsi,
                        vessel,
                        self.resumed_at,
                        at,
                        0,
                        events,
                    );
                }
                usable_position(&self.config, &mut self.stats, vessel, p, at)
                    .map(|position| (position, previous_pos_at))
            }
        };
        if let Some(((lat, lon), previous_pos_at)) = usable {
            if vessel.members.iter().any(|m| m.gaps_fired != 0) {
                end_gaps(
                    &self.areas,
                    &self.policies,
                    &mut self.stats,
                    obs.mmsi,
                    vessel,
                    previous_pos_at,
                    at,
                    (lat, lon),
                    events,
                );
            }
            vessel.gap_base = i64::MIN;
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
            let next = next_due(
                &self.policies,
                vessel,
                self.resumed_at,
                self.lateness_ms,
                self.max_silent_ms,
            );
            schedule(&mut self.timers, obs.mmsi, vessel, next);
        }
        if events.len() - own > 1 {
            events[own..].sort_by_key(|e| rank(e.kind));
        }
    }

    /// Whether a vessel seen for the first time may be created now: the per-minute limit of
    /// first sightings, and room (evicting the least recently heard when full).
    fn admit_new(&mut self, events: &mut Vec<Event>) -> bool {
        let minute = self.watermark.div_euclid(60_000);
        if minute != self.sightings_window {
            self.sightings_window = minute;
            self.sightings = 0;
        }
        if self.sightings >= self.config.max_first_sightings_per_minute {
            self.stats.rate_limited += 1;
            return false;
        }
        self.sightings += 1;
        if self.vessels.len() >= self.config.max_vessels.max(1) {
            self.evict_least_recent(events);
        }
        true
    }

    /// Evicts the least recently heard sixteenth of `max_vessels` (at least one).
    fn evict_least_recent(&mut self, events: &mut Vec<Event>) {
        let n = (self.config.max_vessels / 16).max(1);
        let mut heard: Vec<(i64, Mmsi)> =
            self.vessels.iter().map(|(m, v)| (v.heard(), *m)).collect();
        if heard.len() > n {
            heard.select_nth_unstable(n - 1);
            heard.truncate(n);
        }
        heard.sort_unstable();
        let at = self.watermark;
        for (_, mmsi) in heard {
            self.evict(mmsi, at, events);
        }
    }

    /// Removes `mmsi`, emitting `exited` at `at` for every area it is confirmed inside.
    fn evict(&mut self, mmsi: Mmsi, at: i64, events: &mut Vec<Event>) {
        if let Some(vessel) = self.vessels.remove(&mmsi) {
            exit_all(
                &self.areas,
                &self.policies,
                &mut self.stats,
                mmsi,
                &vessel,
                at,
                events,
            );
            self.stats.evicted += 1;
            self.evicted.push(mmsi);
        }
    }

    /// A wall-clock tick of a live service: moves the watermark to `ingest_time` while the feed
    /// is up and fires what is due.
    pub fn tick(&mut self, ingest_time: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        self.tick_into(ingest_time, &mut events);
        events
    }

    fn tick_into(&mut self, ingest_time: Timestamp, events: &mut Vec<Event>) {
        if self.feed_down_at != i64::MIN {
            return;
        }
        let now = ingest_time.as_millisecond();
        if self.watermark == i64::MIN {
            self.start_clock(now, events);
        }
        self.advance_ms(now, events);
    }

    fn resume_into(&mut self, at: Timestamp, events: &mut Vec<Event>) {
        let at = at.as_millisecond();
        self.resumed_at = self.resumed_at.max(at);
        self.meta_dirty = true;
        if self.watermark == i64::MIN {
            self.start_clock(at, events);
        }
        self.advance_ms(at, events);
    }

    /// Moves the watermark to `now` (never backwards) and fires every timer due by then:
    /// the data clock of a replay or test. A live service sends [`TrackerInput::Tick`]s.
    pub fn advance(&mut self, now: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        if self.watermark == i64::MIN {
            self.start_clock(now.as_millisecond(), &mut events);
        }
        self.advance_ms(now.as_millisecond(), &mut events);
        events
    }

    fn advance_ms(&mut self, now: i64, events: &mut Vec<Event>) {
        if now > self.watermark {
            let before = self.watermark;
            self.watermark = now;
            self.meta_dirty = true;
            if let Some(after) = self.forget_after_ms
                && before != i64::MIN
                && before.div_euclid(FORGET_EVERY_MS) != now.div_euclid(FORGET_EVERY_MS)
            {
                self.forget_silent(now.saturating_sub(after));
            }
        }
        let now = self.watermark;
        let first = events.len();
        while let Some(&Reverse((due, mmsi))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            let Some(vessel) = self.vessels.get_mut(&mmsi) else {
                continue;
            };
            if vessel.scheduled != due {
                continue; // superseded by an earlier entry
            }
            vessel.scheduled = i64::MAX;
            let silent_until =
                detect::gap_base(vessel, self.resumed_at).saturating_add(self.max_silent_ms);
            let fired = fire_gaps(
                &self.areas,
                &self.policies,
                &mut self.stats,
                mmsi,
                vessel,
                self.resumed_at,
                now,
                self.lateness_ms,
                events,
            );
            if silent_until <= now {
                self.evict(mmsi, silent_until, events);
                continue;
            }
            if fired && !vessel.dirty {
                vessel.dirty = true;
                self.dirty.push(mmsi);
            }
            let next = next_due(
                &self.policies,
                vessel,
                self.resumed_at,
                self.lateness_ms,
                self.max_silent_ms,
            );
            schedule(&mut self.timers, mmsi, vessel, next);
        }
        if events.len() - first > 1 {
            events[first..].sort_by_key(|e| (e.at, rank(e.kind), e.mmsi));
        }
    }

    /// Forgets vessels last heard before `before` that are in no area, have no pending change
    /// and no open gap: nothing can come of them but memory. A forgotten vessel that reports
    /// again starts afresh. Scans every vessel, so call it rarely (with
    /// [`TrackerConfig::forget_after`] the tracker does it itself each 10 minutes of its clock). Their checkpoint rows are deleted with the next [`Tracker::take_dirty`].
    /// Returns how many were forgotten.
    pub fn evict_silent(&mut self, before: Timestamp) -> usize {
        self.forget_silent(before.as_millisecond())
    }

    fn forget_silent(&mut self, before: i64) -> usize {
        let n = self.vessels.len();
        let evicted = &mut self.evicted;
        self.vessels.retain(|mmsi, v| {
            let keep = v.heard() >= before || !v.members.is_empty();
            if !keep {
                evicted.push(*mmsi);
            }
            keep
        });
        let n_evicted = n - self.vessels.len();
        self.stats.evicted += n_evicted as u64;
        if n_evicted > 0 {
            tracing::debug!(
                evicted = n_evicted,
                n_vessels = self.vessels.len(),
                "evicted silent vessels"
            );
        }
        n_evicted
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
