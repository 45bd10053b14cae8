//! A vessel's state as the `data` string of a [`VesselCheckpoint`]: what a restart needs to
//! neither repeat an `entered` nor miss an `exited`; and the shard's clock row (JSON).
//!
//! Vessel rows are written in the compact version 3 form of the `row` module. Rows of
//! earlier versions, JSON objects, still load: version 2 (`Saved`, written until version 3
//! came) and version 1 (one dwell, thresholds in seconds). A row of an unknown version is
//! reported as such ([`RowError::UnknownVersion`]), never guessed at.
//!
//! Areas are saved by id, dwells and gap thresholds by their length, so a checkpoint survives
//! areas being added, reordered or removed, and thresholds being added.
//!
//! **Reserved keys.** MMSIs below 1,000 are never vessels (the tracker only tracks
//! 10,000,000..990,000,000): the row under key `k < 1000` is the clock of shard `k`
//! (watermark, `resumed_at`, input offset, observations held before the first watermark).
//! Empty `data` means "delete this row" (an evicted vessel).

use jiff::Timestamp;
use lookout_core::{Mmsi, Observation, VesselCheckpoint, VesselStatic};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::detect::{next_due, schedule};
use super::policy::Resolved;
use super::row;
#[cfg(test)]
use super::ts;
use super::vessel::{DUP_HISTORY, Member, Vessel};
use super::{ConfigError, Tracker, TrackerConfig};
use crate::areas::AreaIndex;

/// The JSON version written until version 3 (tests write such rows to read them back).
#[cfg(test)]
const VERSION: u32 = 2;

/// Keys below this are shard clock rows, never vessels.
const META_KEYS: Mmsi = 1000;

/// Whether a checkpoint key is a shard's clock row rather than a vessel.
pub fn is_meta_key(mmsi: Mmsi) -> bool {
    mmsi < META_KEYS
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    v: u32,
    /// Last accepted position report (version 1: any report).
    last_seen: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    static_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    position: Option<SavedPosition>,
    /// A fix waiting for a second report to agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    candidate: Option<SavedPosition>,
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    statics: Option<VesselStatic>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    areas: Vec<SavedMember>,
    /// Fingerprint of the last accepted report (version 1).
    #[serde(default)]
    fp: u64,
    /// Fingerprints and times (ms) of the recent accepted reports (duplicate detection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    recent: Vec<(u64, i64)>,
    /// The instant open gaps count from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gap_base: Option<Timestamp>,
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
    /// Confirmed inside for every dwell.
    inside: bool,
    /// When confirmed inside for some dwells only: those dwells (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inside_dwells_ms: Option<Vec<i64>>,
    /// The last usable position was inside.
    raw: bool,
    /// Start of the current run inside or outside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_since: Option<Timestamp>,
    /// Version 1: gap thresholds (seconds) whose `gap_started` was emitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    gaps_started: Vec<u64>,
    /// Gap thresholds (ms) whose `gap_started` was emitted and whose `gap_ended` was not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    gaps_started_ms: Vec<i64>,
}

/// A shard's clock row: everything of the clock a restored shard needs to go on exactly as the
/// one that wrote it (reports held, whether the feed is down, the first-sighting count).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) watermark: i64,
    pub(super) resumed_at: i64,
    pub(super) seq: u64,
    /// Observations held before the first watermark.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) startup: Vec<Observation>,
    /// Reports held for being too far ahead of the watermark.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) ahead: Vec<Observation>,
    /// When the feed went down (ms), absent while it is up.
    #[serde(default = "no_time", skip_serializing_if = "is_no_time")]
    pub(super) feed_down_at: i64,
    /// The minute (of the watermark) first sightings are counted in, and their count.
    #[serde(default = "no_time", skip_serializing_if = "is_no_time")]
    pub(super) sightings_window: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(super) sightings: u32,
}

fn no_time() -> i64 {
    i64::MIN
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_no_time(ms: &i64) -> bool {
    *ms == i64::MIN
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A checkpoint row that could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("vessel checkpoint for mmsi {mmsi} is unreadable")]
pub struct RestoreError {
    /// The vessel (or the shard, for a clock row).
    pub mmsi: Mmsi,
    /// Why.
    #[source]
    pub source: RowError,
}

/// Why a checkpoint row could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// A JSON row (version 1 or 2, or a clock row) that does not parse.
    #[error("invalid JSON row")]
    Json(#[from] serde_json::Error),
    /// A version 3 row that does not parse.
    #[error("malformed version 3 row at byte {at}: expected {expected}")]
    Malformed {
        /// Byte offset in the row.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A row of a version this build does not know: written by a newer Lookout.
    #[error(
        "row version {version} is unknown to this build, which reads versions 1 to 3: \
         written by a newer lookout (run the newer version, or restore from an older checkpoint)"
    )]
    UnknownVersion {
        /// The row's version.
        version: u64,
    },
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

#[cfg(test)]
fn opt_ts(ms: i64) -> Option<Timestamp> {
    (ms != i64::MIN).then(|| ts(ms))
}

pub(super) fn save(
    areas: &AreaIndex,
    policies: &[Resolved],
    mmsi: Mmsi,
    v: &Vessel,
) -> VesselCheckpoint {
    VesselCheckpoint {
        mmsi,
        data: row::write(areas, policies, v),
    }
}

/// The version 2 row of `v`, as versions before 3 wrote it (tests: old rows must restore).
#[cfg(test)]
pub(super) fn v2_row(areas: &AreaIndex, policies: &[Resolved], v: &Vessel) -> String {
    let saved = Saved {
        v: VERSION,
        last_seen: ts(v.last_seen),
        static_at: opt_ts(v.static_at),
        position: v.has_pos.then(|| SavedPosition {
            lat: v.lat,
            lon: v.lon,
            at: ts(v.pos_at),
        }),
        candidate: (v.cand_at != i64::MIN).then(|| SavedPosition {
            lat: v.cand_lat,
            lon: v.cand_lon,
            at: ts(v.cand_at),
        }),
        statics: v.statics.as_deref().cloned(),
        areas: v
            .members
            .iter()
            .filter_map(|m| {
                let area = areas.area(m.area)?;
                let policy = &policies[m.area as usize];
                let all = m.inside == policy.all_inside();
                Some(SavedMember {
                    id: area.id.clone(),
                    inside: all,
                    inside_dwells_ms: (!all && m.inside != 0)
                        .then(|| bits(&policy.dwells_ms, m.inside)),
                    raw: m.raw,
                    pending_since: Some(ts(m.pending_since)),
                    gaps_started: Vec::new(),
                    gaps_started_ms: bits(&policy.gaps_ms, m.gaps_fired),
                })
            })
            .collect(),
        fp: 0,
        recent: v
            .recent
            .iter()
            .filter(|(fp, _)| *fp != 0)
            .copied()
            .collect(),
        gap_base: opt_ts(v.gap_base),
    };
    serde_json::to_string(&saved).unwrap_or_default()
}

#[cfg(test)]
fn bits(values: &[i64], mask: u8) -> Vec<i64> {
    values
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, v)| *v)
        .collect()
}

fn mask(values: &[i64], wanted: impl IntoIterator<Item = i64>) -> u8 {
    wanted
        .into_iter()
        .fold(0u8, |bits, w| match values.iter().position(|v| *v == w) {
            Some(bit) => bits | (1 << bit),
            None => bits,
        })
}

pub(super) fn load(
    areas: &AreaIndex,
    policies: &[Resolved],
    row: &VesselCheckpoint,
) -> Result<(Vessel, usize), RestoreError> {
    load_data(areas, policies, &row.data).map_err(|source| RestoreError {
        mmsi: row.mmsi,
        source,
    })
}

/// Reads a row of any version: JSON (`{`: versions 1 and 2) or `VERSION|…` (3).
pub(super) fn load_data(
    areas: &AreaIndex,
    policies: &[Resolved],
    data: &str,
) -> Result<(Vessel, usize), RowError> {
    if data.starts_with('{') {
        return load_json(areas, policies, data);
    }
    let digits = data.bytes().take_while(u8::is_ascii_digit).count();
    let version: u64 = data[..digits].parse().map_err(|_| RowError::Malformed {
        at: 0,
        expected: "'{' or a version number",
    })?;
    if data.as_bytes().get(digits) != Some(&b'|') {
        return Err(RowError::Malformed {
            at: digits,
            expected: "'|' after the version",
        });
    }
    if version != row::VERSION {
        return Err(RowError::UnknownVersion { version });
    }
    row::read(areas, policies, data, digits + 1)
}

fn load_json(
    areas: &AreaIndex,
    policies: &[Resolved],
    data: &str,
) -> Result<(Vessel, usize), RowError> {
    let saved: Saved = serde_json::from_str(data)?;
    let mut vessel = Vessel::new();
    vessel.last_seen = saved.last_seen.as_millisecond();
    vessel.static_at = saved.static_at.map_or(i64::MIN, |t| t.as_millisecond());
    if let Some(p) = saved.position {
        vessel.has_pos = true;
        vessel.lat = p.lat;
        vessel.lon = p.lon;
        vessel.pos_at = p.at.as_millisecond();
    }
    if let Some(c) = saved.candidate {
        vessel.cand_lat = c.lat;
        vessel.cand_lon = c.lon;
        vessel.cand_at = c.at.as_millisecond();
    }
    vessel.statics = saved.statics.map(Box::new);
    if saved.recent.is_empty() && saved.fp != 0 {
        vessel.remember(saved.fp, vessel.last_seen);
    }
    for (fp, at) in saved.recent.into_iter().take(DUP_HISTORY).rev() {
        vessel.remember(fp, at);
    }
    vessel.gap_base = saved.gap_base.map_or(i64::MIN, |t| t.as_millisecond());
    let mut dropped = 0;
    for m in saved.areas {
        let Some(area) = areas.find(&m.id) else {
            dropped += 1;
            continue;
        };
        let policy = &policies[area as usize];
        let inside = match (&m.inside_dwells_ms, m.inside) {
            (_, true) => policy.all_inside(),
            (Some(dwells), false) => mask(&policy.dwells_ms, dwells.iter().copied()),
            (None, false) => 0,
        };
        let gaps_fired = mask(
            &policy.gaps_ms,
            m.gaps_started_ms.iter().copied().chain(
                m.gaps_started
                    .iter()
                    .map(|secs| i64::try_from(*secs).unwrap_or(i64::MAX / 1000) * 1000),
            ),
        );
        let member = Member {
            area,
            inside,
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
    if vessel.gap_base == i64::MIN && vessel.members.iter().any(|m| m.gaps_fired != 0) {
        vessel.gap_base = vessel.pos_at; // version 1 rows
    }
    Ok((vessel, dropped))
}

pub(super) fn save_meta(key: Mmsi, meta: &MetaRef<'_>) -> VesselCheckpoint {
    VesselCheckpoint {
        mmsi: key,
        data: serde_json::to_string(meta).unwrap_or_default(),
    }
}

/// [`Meta`] borrowed from the tracker, for writing.
#[derive(Serialize)]
pub(super) struct MetaRef<'a> {
    pub(super) watermark: i64,
    pub(super) resumed_at: i64,
    pub(super) seq: u64,
    #[serde(skip_serializing_if = "<[Observation]>::is_empty")]
    pub(super) startup: &'a [Observation],
    #[serde(skip_serializing_if = "<[Observation]>::is_empty")]
    pub(super) ahead: &'a [Observation],
    #[serde(skip_serializing_if = "is_no_time")]
    pub(super) feed_down_at: i64,
    #[serde(skip_serializing_if = "is_no_time")]
    pub(super) sightings_window: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) sightings: u32,
}

pub(super) fn load_meta(row: &VesselCheckpoint) -> Result<Meta, RestoreError> {
    serde_json::from_str(&row.data).map_err(|source| RestoreError {
        mmsi: row.mmsi,
        source: RowError::Json(source),
    })
}

/// Taking and restoring checkpoint rows.
impl Tracker {
    /// Checkpoint rows for every vessel changed since the last call (see [`crate::checkpoint`]):
    /// a row per changed vessel, a row with empty `data` per evicted one (delete it), and the
    /// shard's clock row when it changed. Commit them with the events emitted before the call.
    pub fn take_dirty(&mut self) -> Vec<VesselCheckpoint> {
        let mut rows = Vec::with_capacity(self.dirty.len() + self.evicted.len() + 1);
        for mmsi in self.dirty.drain(..) {
            if let Some(v) = self.vessels.get_mut(&mmsi) {
                v.dirty = false;
                rows.push(save(&self.areas, &self.policies, mmsi, v));
            }
        }
        for mmsi in self.evicted.drain(..) {
            if !self.vessels.contains_key(&mmsi) {
                rows.push(VesselCheckpoint {
                    mmsi,
                    data: String::new(),
                });
            }
        }
        if self.meta_dirty {
            self.meta_dirty = false;
            rows.push(self.meta_row());
        }
        rows
    }

    fn meta_row(&self) -> VesselCheckpoint {
        save_meta(
            self.meta_key,
            &MetaRef {
                watermark: self.watermark,
                resumed_at: self.resumed_at,
                seq: self.seq,
                startup: &self.startup,
                ahead: &self.ahead,
                feed_down_at: self.feed_down_at,
                sightings_window: self.sightings_window,
                sightings: self.sightings,
            },
        )
    }

    /// Checkpoint rows for every vessel and the clock row.
    pub fn checkpoint_all(&self) -> Vec<VesselCheckpoint> {
        let mut rows: Vec<VesselCheckpoint> = self
            .vessels
            .iter()
            .map(|(mmsi, v)| save(&self.areas, &self.policies, *mmsi, v))
            .collect();
        rows.push(self.meta_row());
        rows.sort_by_key(|r| r.mmsi);
        rows
    }

    /// Switches to `areas` and `config` while running, keeping every vessel and the clock:
    /// the state is written out as checkpoint rows and read back under the new areas and
    /// policies, exactly as a restart with them would (rows name areas by id and dwells and
    /// thresholds by length). So a membership of a removed area is dropped without an
    /// `exited` (the area emits nothing more), a vessel already inside a new area enters it
    /// at its next report (after the area's dwell), and gap timers follow the new thresholds.
    /// This shard's share of `max_vessels` is kept. Every vessel's row is rewritten at the
    /// next [`Tracker::take_dirty`].
    ///
    /// # Errors
    /// `config` does not fit `areas`; the tracker is unchanged.
    pub fn reconfigure(
        &mut self,
        areas: Arc<AreaIndex>,
        mut config: TrackerConfig,
    ) -> Result<RestoreReport, ConfigError> {
        config.max_vessels = self.config.max_vessels;
        let mut next = Tracker::new(areas, config)?;
        next.meta_key = self.meta_key;
        next.stats = self.stats;
        next.skew_logged = self.skew_logged;
        let report = next.restore(self.checkpoint_all());
        next.evicted = std::mem::take(&mut self.evicted);
        next.dirty = next.vessels.keys().copied().collect();
        for vessel in next.vessels.values_mut() {
            vessel.dirty = true;
        }
        next.meta_dirty = true;
        *self = next;
        Ok(report)
    }

    /// Restores vessels and the clock from checkpoint rows (replacing any state of the same
    /// MMSI) and schedules their timers. Rows that cannot be read are skipped and listed in
    /// the report; memberships of areas that no longer exist are dropped; empty rows (deleted
    /// vessels) are ignored. Clock rows of every shard are merged (latest watermark and resume),
    /// the input offset is this shard's own.
    pub fn restore(&mut self, rows: impl IntoIterator<Item = VesselCheckpoint>) -> RestoreReport {
        let mut report = RestoreReport::default();
        // Clock rows first: the vessels' timers count from the restored `resumed_at`.
        let (meta, vessels): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .filter(|row| !row.data.is_empty())
            .partition(|row| is_meta_key(row.mmsi));
        for row in meta {
            match load_meta(&row) {
                Ok(meta) => {
                    self.watermark = self.watermark.max(meta.watermark);
                    self.resumed_at = self.resumed_at.max(meta.resumed_at);
                    if row.mmsi == self.meta_key {
                        self.seq = meta.seq;
                        self.startup = meta.startup;
                        self.ahead = meta.ahead;
                        self.feed_down_at = meta.feed_down_at;
                        self.sightings_window = meta.sightings_window;
                        self.sightings = meta.sightings;
                    }
                }
                Err(e) => {
                    tracing::warn!(key = row.mmsi, error = %e, "skipping unreadable tracker clock row");
                    report.skipped.push(e);
                }
            }
        }
        for row in vessels {
            match load(&self.areas, &self.policies, &row) {
                Ok((vessel, dropped)) => {
                    report.restored += 1;
                    report.dropped_areas += dropped;
                    let vessel = self.vessels.entry(row.mmsi).insert_entry(vessel).into_mut();
                    vessel.scheduled = i64::MAX;
                    let next = next_due(
                        &self.policies,
                        vessel,
                        self.resumed_at,
                        self.lateness_ms,
                        self.max_silent_ms,
                    );
                    schedule(&mut self.timers, row.mmsi, vessel, next);
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
