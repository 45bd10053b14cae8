//! The store's model into what the service runs (issue 12): the counterpart of [`super::load`]
//! for a model that lives in the store rather than in files.
//!
//! The stored objects are written back into the users and rules files' form and checked by the
//! very code that checks those files (channels resolved against the main file's webhooks and
//! SMTP, secrets read from the environment, rules against users, fleets and areas), so a rule
//! means the same from a file, an import or the API. Unlike a file, the store holds every
//! organisation's objects and is changed by many hands: one bad object must not stop the
//! others, so a problem skips the object it names and is reported, and the rest runs.
//!
//! The tracker has one catalogue of areas, while the store keeps them per organisation (an
//! import gives each organisation its own copy): identical copies are one area; an area id
//! that two organisations define differently is tracked by the first organisation's definition
//! (by id) and reported. Vessels stay per organisation (`Model::org_vessels`): a rule's tag
//! selector, a silence's tag matcher and a notification's registry name read only the
//! organisation's own vessels, so no organisation can steer another's alerts by naming or
//! tagging a vessel.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lookout_notify::model::{Model, Vessel};
use lookout_store::model::ModelSnapshot;
use lookout_track::areas::Area;
use serde_json::{Value, json};

use super::export::{fleets_doc, rules_doc, strip_nulls, users_doc};
use super::problems::{File, Problems};
use super::raw::{RawRulesFile, RawUsersFile};
use super::{Config, EnvSource};

/// What the service runs from a stored model, and what in it could not be used.
#[derive(Debug, Clone, Default)]
pub struct StoredModel {
    /// Organisations, users, vessels, fleets and rules, resolved for routing.
    pub model: Model,
    /// Every organisation's areas, one per id, validated.
    pub areas: Vec<Area>,
    /// The stored rows of `areas` (their definitions as stored), in the same order.
    pub area_definitions: Vec<lookout_store::model::Area>,
    /// Each problem found, one line each (`rule "x": field areas: unknown area "y"`); the
    /// object it names was left out.
    pub problems: Vec<String>,
}

/// Resolves `snapshot` with `config`'s main file (webhooks, SMTP) and `env` (secrets).
pub fn from_store(config: &Config, snapshot: &ModelSnapshot, env: &dyn EnvSource) -> StoredModel {
    let mut out = StoredModel::default();
    let (areas, area_definitions) = areas(snapshot, &mut out.problems);
    out.area_definitions = area_definitions;
    let mut model = Model {
        areas: areas.iter().map(|a| a.id.clone()).collect(),
        webhooks: config.notify.model.webhooks.clone(),
        ..Model::default()
    };
    out.areas = areas;

    let mut p = Problems::default();
    if let Some((file, raw)) = parse::<RawUsersFile>("stored users", &users_doc(snapshot), &mut p) {
        let cx = super::users::UsersCx {
            env,
            base_dir: &config.base_dir,
            smtp_configured: config.notify.smtp.is_some(),
        };
        super::users::users(&mut p, &file, raw, &cx, &mut model);
    }
    match rules_doc(snapshot) {
        Ok(rules) => {
            let doc = json!({
                "vessels": vessels(snapshot),
                "fleets": fleets_doc(snapshot),
                "rules": rules,
            });
            if let Some((file, raw)) = parse::<RawRulesFile>("stored rules", &doc, &mut p) {
                super::rules::rules(&mut p, &file, raw, None, &mut model);
            }
        }
        Err(e) => out.problems.push(e.to_string()),
    }
    // The checks report a bad rule and still add it; what runs must be only what passed.
    let bad: Vec<String> =
        p.0.iter()
            .filter_map(|problem| problem.entry.strip_prefix("rule "))
            .filter_map(|quoted| serde_json::from_str::<String>(quoted).ok())
            .collect();
    model.rules.retain(|r| !bad.contains(&r.id));
    // Each organisation routes by its own names and tags, never another's (the merged
    // catalogue above only serves the files' checks).
    for org in &snapshot.orgs {
        model.org_vessels.entry(org.id.clone()).or_default();
    }
    for v in &snapshot.vessels {
        model
            .org_vessels
            .entry(v.org_id.clone())
            .or_default()
            .insert(
                v.mmsi,
                Vessel {
                    mmsi: v.mmsi,
                    name: v.name.clone(),
                    tags: v.tags.iter().cloned().collect(),
                },
            );
    }
    out.problems.extend(p.0.into_iter().map(|problem| {
        let mut line = problem.entry;
        if !problem.field.is_empty() {
            line.push_str(&format!(": field {}", problem.field));
        }
        format!("{line}: {}", problem.message)
    }));
    out.model = model;
    out
}

/// `doc` as a TOML file named `display`, deserialized; a failure is one problem.
fn parse<T: serde::de::DeserializeOwned>(
    display: &str,
    doc: &Value,
    p: &mut Problems,
) -> Option<(File, T)> {
    let file = File {
        display: PathBuf::from(display),
        text: String::new(),
    };
    let text = match toml::to_string(&strip_nulls(doc.clone())) {
        Ok(text) => text,
        Err(e) => {
            p.file(&file.display, format!("cannot be written as a file: {e}"));
            return None;
        }
    };
    match toml::from_str::<T>(&text) {
        Ok(parsed) => Some((File { text, ..file }, parsed)),
        Err(e) => {
            p.file(&file.display, e.message().trim().to_owned());
            None
        }
    }
}

/// One catalogue entry per MMSI: the first name given, the union of the tags.
fn vessels(snapshot: &ModelSnapshot) -> Vec<Value> {
    let mut merged: BTreeMap<u32, (Option<&str>, Vec<&str>)> = BTreeMap::new();
    for v in &snapshot.vessels {
        let entry = merged.entry(v.mmsi).or_default();
        if entry.0.is_none() {
            entry.0 = v.name.as_deref();
        }
        entry.1.extend(v.tags.iter().map(String::as_str));
    }
    merged
        .into_iter()
        .map(|(mmsi, (name, mut tags))| {
            tags.sort_unstable();
            tags.dedup();
            let mut entry = json!({ "mmsi": mmsi, "tags": tags });
            if let Some(name) = name {
                entry["name"] = json!(name);
            }
            entry
        })
        .collect()
}

/// One area per id: each distinct definition checked once; a second definition of an id is a
/// problem and is not tracked.
fn areas(
    snapshot: &ModelSnapshot,
    problems: &mut Vec<String>,
) -> (Vec<Area>, Vec<lookout_store::model::Area>) {
    let mut first: BTreeMap<&str, (&str, &Value)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut rows = Vec::new();
    let mut stored: Vec<&lookout_store::model::Area> = snapshot.areas.iter().collect();
    stored.sort_by(|a, b| (&a.id, &a.org_id).cmp(&(&b.id, &b.org_id)));
    for a in stored {
        match first.get(a.id.as_str()) {
            Some((_, def)) if **def == a.definition => continue,
            Some((org, _)) => {
                problems.push(format!(
                    "area {:?} of organisation {:?}: differs from organisation {org:?}'s area of that id; only {org:?}'s is tracked",
                    a.id, a.org_id
                ));
                continue;
            }
            None => {}
        }
        match super::check_area(&a.id, &a.name, &a.definition) {
            Ok(area) => {
                first.insert(&a.id, (&a.org_id, &a.definition));
                out.push(area);
                rows.push(a.clone());
            }
            Err(found) => {
                for (field, message) in found {
                    problems.push(format!(
                        "area {:?} of organisation {:?}: field {field}: {message}",
                        a.id, a.org_id
                    ));
                }
            }
        }
    }
    (out, rows)
}
