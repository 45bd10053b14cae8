//! Checked configuration files into the store's model ([`ModelSnapshot`]), for `lookout
//! import`: what the files wrote, in the JSON form the model stores (user channels and rules as
//! written, areas self-contained), never a secret.
//!
//! The files have one catalogue of vessels and areas for every organisation, while the model
//! keeps them per organisation: each organisation of the users file gets its own copy.

use std::path::Path;

use lookout_notify::model::DeliveryMode;
use lookout_store::model::{self, ModelSnapshot};
use lookout_track::areas::{Area, Polygon, Shape};
use serde_json::{Map, Value, json};

use super::Config;
use super::problems::{ConfigError, File, Problems};
use super::raw::{RawChannel, RawRule, RawRulesFile, RawUsersFile};

/// The model held by `config`'s files (which [`super::load`] has checked).
///
/// # Errors
/// The users or rules file can no longer be read or parsed (changed since it was checked).
pub fn snapshot(config: &Config) -> Result<ModelSnapshot, ConfigError> {
    let users: RawUsersFile = reparse(&config.users_file)?;
    let rules: RawRulesFile = reparse(&config.rules_file)?;
    let mut out = ModelSnapshot::default();
    for o in &users.organisations {
        let o = o.get_ref();
        out.orgs.push(model::Organisation {
            id: o.id.get_ref().clone(),
            name: o.name.clone().unwrap_or_else(|| o.id.get_ref().clone()),
        });
    }
    for u in &users.users {
        let u = u.get_ref();
        let channels = u
            .channels
            .iter()
            .map(|c| channel_json(c.get_ref(), &config.base_dir))
            .collect();
        out.users.push(model::User {
            id: u.id.get_ref().clone(),
            org_id: u.org.get_ref().clone(),
            name: u.name.clone().unwrap_or_else(|| u.id.get_ref().clone()),
            email: u.email.get_ref().clone(),
            timezone: u.timezone.get_ref().clone(),
            locale: u.locale.clone().unwrap_or_else(|| "en".to_owned()),
            channels: Value::Array(channels),
            enabled: u.enabled.unwrap_or(true),
            deleted: u.deleted.unwrap_or(false),
        });
    }
    for org in &out.orgs {
        for v in &rules.vessels {
            let v = v.get_ref();
            let mut tags = v.tags.clone();
            tags.sort();
            tags.dedup();
            out.vessels.push(model::Vessel {
                org_id: org.id.clone(),
                mmsi: *v.mmsi.get_ref(),
                name: v.name.clone(),
                tags,
            });
        }
        for a in &config.areas {
            out.areas.push(model::Area {
                org_id: org.id.clone(),
                id: a.id.clone(),
                name: a.name.clone(),
                definition: area_definition(a),
            });
        }
    }
    for f in &rules.fleets {
        let f = f.get_ref();
        let mut mmsi: Vec<u32> = f.mmsi.iter().map(|m| *m.get_ref()).collect();
        mmsi.sort_unstable();
        mmsi.dedup();
        let mut tags = f.tags.clone();
        tags.sort();
        tags.dedup();
        out.fleets.push(model::Fleet {
            id: f.id.get_ref().clone(),
            org_id: f.org.get_ref().clone(),
            name: f.name.clone().unwrap_or_else(|| f.id.get_ref().clone()),
            mmsi,
            tags,
        });
    }
    let resolved = &config.notify.model;
    for r in &rules.rules {
        let r = r.get_ref();
        let id = r.id.get_ref();
        let org_id = resolved
            .users
            .get(r.owner.get_ref())
            .map(|u| u.org_id.clone())
            .unwrap_or_default();
        // A digest rule stores its schedule even when it came from [digest] default_schedule:
        // a rule in the store does not depend on the main file.
        let schedule = resolved.rule(id).and_then(|rule| match rule.delivery {
            DeliveryMode::Digest(s) => Some(s.to_string()),
            DeliveryMode::Realtime => None,
        });
        out.rules.push(model::Rule {
            id: id.clone(),
            org_id,
            owner: r.owner.get_ref().clone(),
            enabled: r.enabled.unwrap_or(true),
            definition: rule_definition(r, schedule),
        });
    }
    Ok(out)
}

fn reparse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let mut p = Problems::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            p.file(path, format!("cannot read file: {err}"));
            return Err(ConfigError(p.0));
        }
    };
    toml::from_str(&text).map_err(|err| {
        let file = File {
            display: path.to_path_buf(),
            text: text.clone(),
        };
        p.at(
            &file,
            err.span().unwrap_or(0..0),
            "",
            "",
            err.message().trim().to_owned(),
        );
        ConfigError(p.0)
    })
}

/// A channel as the users file writes it; a Maildir path made absolute (it was relative to the
/// config's directory, which the store does not know).
fn channel_json(c: &RawChannel, base_dir: &Path) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(c.kind.get_ref()));
    let fields = [
        ("to", &c.to),
        ("endpoint", &c.endpoint),
        ("url", &c.url),
        ("url_env", &c.url_env),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            m.insert(key.into(), json!(v.get_ref()));
        }
    }
    if let Some(path) = &c.path {
        let abs = base_dir.join(path.get_ref());
        let abs = std::path::absolute(&abs).unwrap_or(abs);
        m.insert("path".into(), json!(abs.display().to_string()));
    }
    Value::Object(m)
}

/// A rule as the rules file writes it, without `id` and `enabled` (columns of their own).
fn rule_definition(r: &RawRule, schedule: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("owner".into(), json!(r.owner.get_ref()));
    if let Some(v) = &r.vessels {
        m.insert("vessels".into(), json!(v.get_ref()));
    }
    if let Some(list) = &r.mmsi {
        let mmsi: Vec<u32> = list.get_ref().iter().map(|m| *m.get_ref()).collect();
        m.insert("mmsi".into(), json!(mmsi));
    }
    if let Some(f) = &r.fleet {
        m.insert("fleet".into(), json!(f.get_ref()));
    }
    if let Some(t) = &r.tag {
        m.insert("tag".into(), json!(t.get_ref()));
    }
    let strings = |list: &[toml::Spanned<String>]| -> Vec<String> {
        list.iter().map(|s| s.get_ref().clone()).collect()
    };
    m.insert("areas".into(), json!(strings(r.areas.get_ref())));
    m.insert("events".into(), json!(strings(r.events.get_ref())));
    for (key, value) in [
        ("gap_threshold", &r.gap_threshold),
        ("min_dwell", &r.min_dwell),
        ("delivery", &r.delivery),
    ] {
        if let Some(v) = value {
            m.insert(key.into(), json!(v.get_ref()));
        }
    }
    if let Some(s) = schedule {
        m.insert("schedule".into(), json!(s));
    }
    if let Some(c) = &r.channels {
        m.insert("channels".into(), json!(strings(c.get_ref())));
    }
    Value::Object(m)
}

/// An area's definition as the model stores it, self-contained: a circle, or a GeoJSON
/// geometry (optionally "within N nautical miles").
pub fn area_definition(a: &Area) -> Value {
    match &a.shape {
        Shape::Circle {
            lat,
            lon,
            radius_nm,
        } => json!({ "kind": "circle", "lat": lat, "lon": lon, "radius_nm": radius_nm }),
        Shape::Polygons(polygons) => json!({ "kind": "geojson", "geometry": geometry(polygons) }),
        Shape::Within { polygons, nm } => {
            json!({ "kind": "geojson", "geometry": geometry(polygons), "within_nm": nm })
        }
    }
}

fn geometry(polygons: &[Polygon]) -> Value {
    let coordinates: Vec<&Vec<Vec<[f64; 2]>>> = polygons.iter().map(|p| &p.rings).collect();
    json!({ "type": "MultiPolygon", "coordinates": coordinates })
}
