//! Event detection on one vessel: membership changes per dwell, gap timers (deadline,
//! lateness, resume), the end of gaps, and the timer schedule.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use lookout_core::{Event, EventKind, Mmsi, VesselStatic};

use super::policy::Resolved;
use super::vessel::{Member, Vessel};
use super::{TrackerStats, ts};
use crate::areas::AreaIndex;

/// The order of events at one instant: gaps end, then exits, then entries.
pub(super) fn rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::GapStarted => 0,
        EventKind::GapEnded => 1,
        EventKind::Exited => 2,
        EventKind::Entered => 3,
    }
}

/// What gap events carry: `(last_seen, gap_ms, threshold_ms)`.
pub(super) type GapInfo = (i64, i64, i64);

#[allow(clippy::too_many_arguments)]
pub(super) fn make_event(
    areas: &AreaIndex,
    kind: EventKind,
    mmsi: Mmsi,
    statics: Option<&VesselStatic>,
    area: u32,
    at: i64,
    (lat, lon): (f64, f64),
    gap: Option<GapInfo>,
    dwell_ms: i64,
) -> Event {
    let (area_id, area_name) = areas
        .area(area)
        .map(|a| (a.id.clone(), a.name.clone()))
        .unwrap_or_default();
    let threshold_seconds = match gap {
        Some((_, _, th)) => Some(u64::try_from(th / 1000).unwrap_or(0)),
        None => (dwell_ms > 0).then(|| u64::try_from(dwell_ms / 1000).unwrap_or(0)),
    };
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
        gap_seconds: gap.map(|(_, gap_ms, _)| u64::try_from(gap_ms / 1000).unwrap_or(0)),
        threshold_seconds,
    }
}

/// The instant the vessel's silence counts from: its last usable position, or the last
/// resume when that is later (an outage of ours is not the vessel's silence).
pub(super) fn gap_base(vessel: &Vessel, resumed_at: i64) -> i64 {
    if vessel.gap_base != i64::MIN {
        vessel.gap_base
    } else {
        vessel.pos_at.max(resumed_at)
    }
}

/// Fires every gap of `vessel` whose deadline plus `lateness_ms` is at or before `now`;
/// `gap_started.at` is the deadline itself. Returns whether any fired.
#[allow(clippy::too_many_arguments)]
pub(super) fn fire_gaps(
    areas: &AreaIndex,
    policies: &[Resolved],
    stats: &mut TrackerStats,
    mmsi: Mmsi,
    vessel: &mut Vessel,
    resumed_at: i64,
    now: i64,
    lateness_ms: i64,
    events: &mut Vec<Event>,
) -> bool {
    if !vessel.has_pos {
        return false;
    }
    let base = gap_base(vessel, resumed_at);
    let mut fired = false;
    for m in vessel.members.iter_mut().filter(|m| m.timed()) {
        let gaps = &policies[m.area as usize].gaps_ms;
        for (bit, threshold) in gaps.iter().enumerate() {
            let deadline = base.saturating_add(*threshold);
            if m.gaps_fired & (1 << bit) == 0 && deadline.saturating_add(lateness_ms) <= now {
                m.gaps_fired |= 1 << bit;
                fired = true;
                stats.gap_started += 1;
                events.push(make_event(
                    areas,
                    EventKind::GapStarted,
                    mmsi,
                    vessel.statics.as_deref(),
                    m.area,
                    deadline,
                    (vessel.lat, vessel.lon),
                    Some((vessel.pos_at, deadline - vessel.pos_at, *threshold)),
                    0,
                ));
            }
        }
    }
    if fired {
        vessel.gap_base = base;
    }
    fired
}

/// Ends every open gap with a usable position at `at` (`position`): `gap_ended.at` is
/// `max(at, deadline)` so it never precedes its `gap_started`, and `gap_seconds` counts from
/// the last position before it.
#[allow(clippy::too_many_arguments)]
pub(super) fn end_gaps(
    areas: &AreaIndex,
    policies: &[Resolved],
    stats: &mut TrackerStats,
    mmsi: Mmsi,
    vessel: &mut Vessel,
    previous_pos_at: i64,
    at: i64,
    position: (f64, f64),
    events: &mut Vec<Event>,
) {
    let base = vessel.gap_base;
    let statics = vessel.statics.as_deref();
    for m in &mut vessel.members {
        let gaps = &policies[m.area as usize].gaps_ms;
        for (bit, threshold) in gaps.iter().enumerate() {
            if m.gaps_fired & (1 << bit) != 0 {
                stats.gap_ended += 1;
                let end = at.max(base.saturating_add(*threshold));
                events.push(make_event(
                    areas,
                    EventKind::GapEnded,
                    mmsi,
                    statics,
                    m.area,
                    end,
                    position,
                    Some((previous_pos_at, end - previous_pos_at, *threshold)),
                    0,
                ));
            }
        }
        m.gaps_fired = 0;
    }
    vessel.gap_base = i64::MIN;
    vessel.members.retain(|m| !m.idle());
}

/// Emits `exited` for every dwell the vessel is confirmed inside, at `at` (a vessel evicted
/// while inside leaves with a final event, so its next report is a fresh `entered`).
pub(super) fn exit_all(
    areas: &AreaIndex,
    policies: &[Resolved],
    stats: &mut TrackerStats,
    mmsi: Mmsi,
    vessel: &Vessel,
    at: i64,
    events: &mut Vec<Event>,
) {
    for m in &vessel.members {
        for (bit, dwell) in policies[m.area as usize].dwells_ms.iter().enumerate() {
            if m.inside & (1 << bit) != 0 {
                stats.exited += 1;
                events.push(make_event(
                    areas,
                    EventKind::Exited,
                    mmsi,
                    vessel.statics.as_deref(),
                    m.area,
                    at,
                    (vessel.lat, vessel.lon),
                    None,
                    *dwell,
                ));
            }
        }
    }
}

/// Merges the areas containing the new position (`now_in`, ascending) into the vessel's
/// memberships, emitting `entered`/`exited` when a change is confirmed for a dwell.
#[allow(clippy::too_many_arguments)]
pub(super) fn update_membership(
    areas: &AreaIndex,
    policies: &[Resolved],
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
        && vessel.members.iter().zip(now_in).all(|(m, a)| {
            m.area == *a && m.raw && m.inside == policies[m.area as usize].all_inside()
        })
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
                    inside: 0,
                    raw: false,
                    gaps_fired: 0,
                    pending_since: at,
                };
                (fresh, true)
            }
            (None, None) => break,
        };
        if m.raw != raw_now {
            m.raw = raw_now;
            m.pending_since = at;
        }
        let policy = &policies[m.area as usize];
        for (bit, dwell) in policy.dwells_ms.iter().enumerate() {
            let inside = m.inside & (1 << bit) != 0;
            if inside != raw_now && at - m.pending_since >= *dwell {
                m.inside ^= 1 << bit;
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
                    *dwell,
                ));
            }
        }
        if !m.idle() {
            merged.push(m);
        }
    }
    std::mem::swap(&mut vessel.members, merged);
}

/// When the vessel's next timer is due: its next unfired gap plus the lateness, or its
/// silent-inside eviction. `i64::MAX` when nothing is timed.
pub(super) fn next_due(
    policies: &[Resolved],
    vessel: &Vessel,
    resumed_at: i64,
    lateness_ms: i64,
    max_silent_ms: i64,
) -> i64 {
    if !vessel.has_pos {
        return i64::MAX;
    }
    let base = gap_base(vessel, resumed_at);
    let mut next = i64::MAX;
    let mut timed = false;
    for m in vessel.members.iter().filter(|m| m.timed()) {
        timed = true;
        for (bit, threshold) in policies[m.area as usize].gaps_ms.iter().enumerate() {
            if m.gaps_fired & (1 << bit) == 0 {
                next = next.min(base.saturating_add(*threshold).saturating_add(lateness_ms));
                break; // thresholds ascend: the first unfired one is this area's next
            }
        }
    }
    if timed {
        next = next.min(base.saturating_add(max_silent_ms));
    }
    next
}

/// Makes sure the timer heap holds an entry no later than the vessel's next timer.
pub(super) fn schedule(
    timers: &mut BinaryHeap<Reverse<(i64, Mmsi)>>,
    mmsi: Mmsi,
    vessel: &mut Vessel,
    next: i64,
) {
    if next < vessel.scheduled {
        vessel.scheduled = next;
        timers.push(Reverse((next, mmsi)));
    }
}
