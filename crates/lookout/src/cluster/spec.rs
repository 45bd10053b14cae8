//! The tracking configuration of a cluster as data: the areas (as stored: a circle or a
//! GeoJSON geometry with `within_nm`) and, per area, the gap thresholds and dwells the rules
//! need. Stored under a hash of its content (`tracker_specs`) and named by a
//! `LogRecord::Reconfigure` in every partition of the observation log, so that a model change
//! takes effect at a recorded position of each partition and a replay from a checkpoint
//! switches at the same record (issue 10). Built into a tracker's areas and policies with the
//! very functions the one-process tracker uses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_notify::rules::{AreaNeeds, RuleIndex};
use lookout_track::areas::AreaIndex;
use lookout_track::runner::ShardConfig;
use lookout_track::tracker::TrackerConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{Config, StoredModel};

/// What the trackers run, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerSpec {
    /// The areas, by id.
    pub areas: Vec<SpecArea>,
    /// The needs of the rules, by area id.
    pub needs: BTreeMap<String, SpecNeeds>,
}

/// One area as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecArea {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// A circle or a GeoJSON geometry with `within_nm`, as the store keeps it.
    pub definition: Value,
}

/// The rules' needs on one area, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecNeeds {
    /// Every distinct gap threshold.
    pub gap_thresholds_ms: Vec<u64>,
    /// The smallest dwell.
    pub min_dwell_ms: u64,
    /// Every distinct dwell.
    pub min_dwells_ms: Vec<u64>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TrackerSpec {
    /// The configuration a model asks for: its usable areas and its enabled rules' needs.
    pub fn of(stored: &StoredModel, rules: &RuleIndex) -> TrackerSpec {
        let mut areas: Vec<SpecArea> = stored
            .area_definitions
            .iter()
            .map(|a| SpecArea {
                id: a.id.clone(),
                name: a.name.clone(),
                definition: a.definition.clone(),
            })
            .collect();
        areas.sort_by(|a, b| a.id.cmp(&b.id));
        let needs = rules
            .area_needs()
            .into_iter()
            .map(|(area, n)| {
                let needs = SpecNeeds {
                    gap_thresholds_ms: n.gap_thresholds.iter().copied().map(ms).collect(),
                    min_dwell_ms: ms(n.min_dwell),
                    min_dwells_ms: n.min_dwells.iter().copied().map(ms).collect(),
                };
                (area, needs)
            })
            .collect();
        TrackerSpec { areas, needs }
    }

    /// The id: the hex SHA-256 of the JSON (areas sorted by id, needs by area), so equal
    /// configurations have one id wherever they are computed.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))[..32].to_owned()
    }

    /// The areas and tracker configuration (`config`'s `[tracker]` applied, as for one
    /// process). An area that no longer passes the checks is left out and named.
    ///
    /// # Errors
    /// Two areas share an id.
    pub fn build(
        &self,
        config: &Config,
        shards: &mut ShardConfig,
    ) -> Result<(Arc<AreaIndex>, TrackerConfig, Vec<String>), String> {
        let mut problems = Vec::new();
        let mut areas = Vec::new();
        for a in &self.areas {
            match crate::config::check_area(&a.id, &a.name, &a.definition) {
                Ok(area) => areas.push(area),
                Err(found) => {
                    problems.extend(found.into_iter().map(|(field, message)| {
                        format!("area {:?}: field {field}: {message}", a.id)
                    }))
                }
            }
        }
        let index = Arc::new(AreaIndex::new(areas).map_err(|e| e.to_string())?);
        let needs: BTreeMap<String, AreaNeeds> = self
            .needs
            .iter()
            .map(|(area, n)| {
                let needs = AreaNeeds {
                    gap_thresholds: n
                        .gap_thresholds_ms
                        .iter()
                        .map(|&m| Duration::from_millis(m))
                        .collect(),
                    min_dwell: Duration::from_millis(n.min_dwell_ms),
                    min_dwells: n
                        .min_dwells_ms
                        .iter()
                        .map(|&m| Duration::from_millis(m))
                        .collect(),
                };
                (area.clone(), needs)
            })
            .collect();
        let mut tracker = crate::setup::tracker_config_for(needs, &index);
        config.tracker.apply(&mut tracker, shards);
        Ok((index, tracker, problems))
    }
}
