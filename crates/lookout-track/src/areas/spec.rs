//! Area definitions as they appear in configuration: GeoJSON files (optionally buffered by N
//! nautical miles) and circles. [`load_specs`] resolves them into [`Area`]s, reporting every
//! problem of every definition at once.

use std::path::Path;

use serde::Deserialize;

use super::geojson::empty_id;
use super::{Area, AreaErrors, AreaProblem, ProblemKind, load_geojson_file};

/// One area definition in configuration.
///
/// ```toml
/// [[areas]]
/// kind = "geojson"
/// path = "areas/hauraki.geojson"
///
/// [[areas]]
/// kind = "geojson"            # "New Zealand 400nm": within 400 nm of the coastline
/// path = "nz.geojson"
/// within_nm = 400
/// id = "nz400"
/// name = "New Zealand 400nm"
///
/// [[areas]]
/// kind = "circle"
/// id = "akl"
/// name = "Auckland approaches"
/// lat = -36.8
/// lon = 174.9
/// radius_nm = 12
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum AreaSpec {
    /// Every feature of a GeoJSON file is an area.
    Geojson {
        /// Path of the file (relative paths are resolved against the config's directory).
        path: String,
        /// When set, each area becomes "within this many nautical miles of" its polygons.
        #[serde(default)]
        within_nm: Option<f64>,
        /// Overrides the id (only for a file with one feature; otherwise a suffix `:INDEX`).
        #[serde(default)]
        id: Option<String>,
        /// Overrides the name.
        #[serde(default)]
        name: Option<String>,
    },
    /// A circle around a point.
    Circle {
        /// Area id.
        id: String,
        /// Area name (default: the id).
        #[serde(default)]
        name: Option<String>,
        /// Centre latitude (degrees).
        lat: f64,
        /// Centre longitude (degrees).
        lon: f64,
        /// Radius in nautical miles.
        radius_nm: f64,
    },
}

/// Resolves `specs` into areas; relative paths are taken from `base_dir`.
///
/// # Errors
/// Every problem of every definition (file, feature, ring and what is wrong). Duplicate ids
/// across definitions are reported by [`super::AreaIndex::new`].
pub fn load_specs(specs: &[AreaSpec], base_dir: &Path) -> Result<Vec<Area>, AreaErrors> {
    let mut areas = Vec::new();
    let mut problems = Vec::new();
    for spec in specs {
        match spec {
            AreaSpec::Geojson {
                path,
                within_nm,
                id,
                name,
            } => match load_geojson_file(&base_dir.join(path)) {
                Ok(_) if id.as_deref().is_some_and(is_blank) => {
                    problems.push(config_problem(path.clone(), empty_id()));
                }
                Ok(loaded) => {
                    let many = loaded.len() > 1;
                    for (idx, mut area) in loaded.into_iter().enumerate() {
                        if let Some(id) = id {
                            area.id = if many {
                                format!("{id}:{idx}")
                            } else {
                                id.clone()
                            };
                        }
                        if let Some(name) = name {
                            area.name.clone_from(name);
                        }
                        if let Some(nm) = within_nm {
                            area = area.buffered(*nm);
                        }
                        problems.extend(area.validate());
                        areas.push(area);
                    }
                }
                Err(e) => problems.extend(e.0),
            },
            AreaSpec::Circle { id, .. } if is_blank(id) => {
                problems.push(config_problem("config".into(), empty_id()))
            }
            AreaSpec::Circle {
                id,
                name,
                lat,
                lon,
                radius_nm,
            } => {
                let name = name.as_deref().unwrap_or(id);
                let area = Area::circle(id, name, *lat, *lon, *radius_nm);
                problems.extend(area.validate());
                areas.push(area);
            }
        }
    }
    if problems.is_empty() {
        Ok(areas)
    } else {
        Err(AreaErrors(problems))
    }
}

fn is_blank(id: &str) -> bool {
    id.trim().is_empty()
}

fn config_problem(source: String, kind: ProblemKind) -> AreaProblem {
    AreaProblem {
        source,
        feature: None,
        id: None,
        polygon: None,
        ring: None,
        kind,
    }
}
