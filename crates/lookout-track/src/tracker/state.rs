//! A vessel's state as the JSON string of a [`VesselCheckpoint`]: what a restart needs to
//! neither repeat an `entered` nor miss an `exited`.
//!
//! Areas are saved by id and gap thresholds by their length in seconds, so a checkpoint
//! survives areas being added, reordered or removed, and thresholds being added.

use jiff::Timestamp;
use lookout_core::{Mmsi, VesselCheckpoint, VesselStatic};
use serde::{Deserialize, Serialize};

use super::policy::Resolved;
use super::{Member, Vessel, ts};
use crate::areas::AreaIndex;

/// Schema version written into every row.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    v: u32,
    last_seen: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position: Option<SavedPosition>,
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    statics: Option<VesselStatic>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    areas: Vec<SavedMember>,
    /// Fingerprint of the last accepted report (duplicate detection across the restart).
    #[serde(default)]
    fp: u64,
    /// Consecutive too-fast positions so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    jumps: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedPosition {
    lat: f64,
    lon: f64,
    at: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedMember {
    id: String,
    /// Confirmed inside (`entered` emitted, no `exited` yet).
    inside: bool,
    /// The last usable position was inside.
    raw: bool,
    /// Start of an unconfirmed change (set when `raw != inside`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_since: Option<Timestamp>,
    /// Gap thresholds (seconds) whose `gap_started` was emitted and whose `gap_ended` was not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    gaps_started: Vec<u64>,
}

/// A checkpoint row that could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("vessel checkpoint for mmsi {mmsi} is unreadable")]
pub struct RestoreError {
    /// The vessel.
    pub mmsi: Mmsi,
    /// Why.
    #[source]
    pub source: serde_json::Error,
}

/// What [`super::Tracker::restore`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Vessels restored.
    pub restored: usize,
    /// Memberships dropped because their area no longer exists (no `exited` is emitted for them).
    pub dropped_areas: usize,
    /// Rows skipped because they could not be read.
    pub skipped: Vec<RestoreError>,
}

pub(super) fn save(
    areas: &AreaIndex,
    policies: &[Resolved],
    mmsi: Mmsi,
    v: &Vessel,
) -> VesselCheckpoint {
    let saved = Saved {
        v: VERSION,
        last_seen: ts(v.last_seen),
        position: v.has_pos.then(|| SavedPosition {
            lat: v.lat,
            lon: v.lon,
            at: ts(v.pos_at),
        }),
        statics: v.statics.as_deref().cloned(),
        areas: v
            .members
            .iter()
            .filter_map(|m| {
                let area = areas.area(m.area)?;
                let gaps = &policies[m.area as usize].gaps_ms;
                Some(SavedMember {
                    id: area.id.clone(),
                    inside: m.inside,
                    raw: m.raw,
                    pending_since: (m.raw != m.inside).then(|| ts(m.pending_since)),
                    gaps_started: gaps
                        .iter()
                        .enumerate()
                        .filter(|(bit, _)| m.gaps_fired & (1 << bit) != 0)
                        .map(|(_, th)| u64::try_from(th / 1000).unwrap_or(0))
                        .collect(),
                })
            })
            .collect(),
        fp: v.fingerprint,
        jumps: v.jumps,
    };
    // Serialising plain data with string keys cannot fail.
    let data = serde_json::to_string(&saved).unwrap_or_default();
    VesselCheckpoint { mmsi, data }
}

pub(super) fn load(
    areas: &AreaIndex,
    policies: &[Resolved],
    row: &VesselCheckpoint,
) -> Result<(Vessel, usize), RestoreError> {
    let saved: Saved = serde_json::from_str(&row.data).map_err(|source| RestoreError {
        mmsi: row.mmsi,
        source,
    })?;
    let mut vessel = Vessel::new();
    vessel.last_seen = saved.last_seen.as_millisecond();
    if let Some(p) = saved.position {
        vessel.has_pos = true;
        vessel.lat = p.lat;
        vessel.lon = p.lon;
        vessel.pos_at = p.at.as_millisecond();
    }
    vessel.statics = saved.statics.map(Box::new);
    vessel.fingerprint = saved.fp;
    vessel.jumps = saved.jumps;
    let mut dropped = 0;
    for m in saved.areas {
        let Some(area) = areas.find(&m.id) else {
            dropped += 1;
            continue;
        };
        let gaps = &policies[area as usize].gaps_ms;
        let gaps_fired = m.gaps_started.iter().fold(0u8, |bits, secs| {
            let ms = i64::try_from(*secs).unwrap_or(i64::MAX / 1000) * 1000;
            match gaps.iter().position(|th| *th == ms) {
                Some(bit) => bits | (1 << bit),
                None => bits,
            }
        });
        let member = Member {
            area,
            inside: m.inside,
            raw: m.raw,
            gaps_fired,
            pending_since: m
                .pending_since
                .map_or(vessel.last_seen, |t| t.as_millisecond()),
        };
        if !member.idle() {
            vessel.members.push(member);
        }
    }
    vessel.members.sort_by_key(|m| m.area);
    Ok((vessel, dropped))
}
