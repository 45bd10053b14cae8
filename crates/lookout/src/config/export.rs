//! The store's model back into configuration files, for `lookout export`: a directory with
//! `lookout.toml` (the original main file with its `users`, `rules` and `[[areas]]` replaced and
//! its relative paths made absolute), `users.toml`, `rules.toml` and `areas/*.geojson`, which
//! `lookout import` reads back into the same model.
//!
//! The files hold one catalogue of vessels and areas for every organisation: an MMSI or area
//! id that two organisations define differently cannot be written, and is an error naming both.
//! Comments of the original main file are not kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lookout_store::model::ModelSnapshot;
use serde_json::{Value, json};

use super::Config;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Two organisations define the same vessel or area differently.
    #[error(
        "{what} {id:?} differs between organisations {a:?} and {b:?}: the files hold one catalogue of vessels and areas for all organisations"
    )]
    Diverged {
        /// `vessel` or `area`.
        what: &'static str,
        /// The MMSI or area id.
        id: String,
        /// One organisation.
        a: String,
        /// The other.
        b: String,
    },
    /// A stored object does not fit the file format (corrupt JSON).
    #[error("{what} {id:?} cannot be written: {detail}")]
    Unwritable {
        /// Kind of object.
        what: &'static str,
        /// Its id.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// Writing a file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `model` as configuration files into `dir` (created if missing); returns the path of
/// the new main file.
///
/// # Errors
/// See [`ExportError`].
pub fn export(config: &Config, model: &ModelSnapshot, dir: &Path) -> Result<PathBuf, ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(dir.join("areas")).map_err(io(&dir.join("areas")))?;
    let users = users_doc(model);
    let rules = json!({
        "vessels": vessels(model)?,
        "fleets": fleets_doc(model),
        "rules": rules_doc(model)?,
    });
    let areas = areas(model, dir)?;
    let main = main_file(config, areas)?;
    write_toml(&dir.join("users.toml"), &users)?;
    write_toml(&dir.join("rules.toml"), &rules)?;
    let main_path = dir.join("lookout.toml");
    write_toml(&main_path, &main)?;
    Ok(main_path)
}

/// The users file's content (organisations and users) of `model`.
pub(crate) fn users_doc(model: &ModelSnapshot) -> Value {
    json!({
        "organisations": model.orgs.iter().map(|o| json!({ "id": o.id, "name": o.name })).collect::<Vec<_>>(),
        "users": model.users.iter().map(|u| json!({
            "id": u.id, "org": u.org_id, "name": u.name, "email": u.email, "timezone": u.timezone,
            "locale": u.locale, "enabled": u.enabled, "deleted": u.deleted, "channels": u.channels,
        })).collect::<Vec<_>>(),
    })
}

/// The rules file's `fleets` of `model`.
pub(crate) fn fleets_doc(model: &ModelSnapshot) -> Vec<Value> {
    model
        .fleets
        .iter()
        .map(|f| json!({ "id": f.id, "org": f.org_id, "name": f.name, "mmsi": f.mmsi, "tags": f.tags }))
        .collect()
}

/// The rules file's `rules` of `model`, each as written (with `id`, `owner` and `enabled`).
///
/// # Errors
/// A stored definition that is not a JSON object.
pub(crate) fn rules_doc(model: &ModelSnapshot) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    for r in &model.rules {
        let Value::Object(mut m) = r.definition.clone() else {
            return Err(unwritable("rule", &r.id, "definition is not an object"));
        };
        m.insert("id".into(), json!(r.id));
        m.insert("owner".into(), json!(r.owner));
        m.insert("enabled".into(), json!(r.enabled));
        out.push(Value::Object(m));
    }
    Ok(out)
}

fn unwritable(what: &'static str, id: &str, detail: impl ToString) -> ExportError {
    ExportError::Unwritable {
        what,
        id: id.to_owned(),
        detail: detail.to_string(),
    }
}

/// One catalogue of vessels: each MMSI once, identical in every organisation that has it.
fn vessels(model: &ModelSnapshot) -> Result<Vec<Value>, ExportError> {
    let mut seen: BTreeMap<u32, (&str, Value)> = BTreeMap::new();
    for v in &model.vessels {
        let mut entry = json!({ "mmsi": v.mmsi, "tags": v.tags });
        if let Some(name) = &v.name {
            entry["name"] = json!(name);
        }
        match seen.get(&v.mmsi) {
            Some((org, first)) if *first != entry => {
                return Err(ExportError::Diverged {
                    what: "vessel",
                    id: v.mmsi.to_string(),
                    a: (*org).to_owned(),
                    b: v.org_id.clone(),
                });
            }
            Some(_) => {}
            None => {
                seen.insert(v.mmsi, (&v.org_id, entry));
            }
        }
    }
    Ok(seen.into_values().map(|(_, v)| v).collect())
}

/// The `[[areas]]` entries: circles inline, polygons as one GeoJSON file each under `areas/`.
fn areas(model: &ModelSnapshot, dir: &Path) -> Result<Vec<Value>, ExportError> {
    let mut seen: BTreeMap<&str, (&str, &Value, &str)> = BTreeMap::new();
    for a in &model.areas {
        match seen.get(a.id.as_str()) {
            Some((org, def, name)) if **def != a.definition || *name != a.name => {
                return Err(ExportError::Diverged {
                    what: "area",
                    id: a.id.clone(),
                    a: (*org).to_owned(),
                    b: a.org_id.clone(),
                });
            }
            Some(_) => {}
            None => {
                seen.insert(&a.id, (&a.org_id, &a.definition, &a.name));
            }
        }
    }
    let mut out = Vec::new();
    for (n, (id, (_, def, name))) in seen.into_iter().enumerate() {
        match def.get("kind").and_then(Value::as_str) {
            Some("circle") => {
                let mut entry = (*def).clone();
                entry["id"] = json!(id);
                entry["name"] = json!(name);
                out.push(entry);
            }
            Some("geojson") => {
                let geometry = def
                    .get("geometry")
                    .ok_or_else(|| unwritable("area", id, "no geometry"))?;
                let safe: String = id
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let rel = format!("areas/{n:03}-{safe}.geojson");
                let feature = json!({
                    "type": "Feature", "id": id, "properties": { "name": name }, "geometry": geometry,
                });
                let path = dir.join(&rel);
                let text = serde_json::to_string_pretty(&feature)
                    .map_err(|e| unwritable("area", id, e))?;
                std::fs::write(&path, text).map_err(|source| ExportError::Io { path, source })?;
                let mut entry = json!({ "kind": "geojson", "path": rel, "id": id, "name": name });
                if let Some(nm) = def.get("within_nm") {
                    entry["within_nm"] = nm.clone();
                }
                out.push(entry);
            }
            _ => return Err(unwritable("area", id, "unknown kind")),
        }
    }
    Ok(out)
}

/// The original main file with the model's keys replaced and relative paths made absolute.
fn main_file(config: &Config, areas: Vec<Value>) -> Result<Value, ExportError> {
    let text = std::fs::read_to_string(&config.path).map_err(|source| ExportError::Io {
        path: config.path.clone(),
        source,
    })?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| unwritable("main file", "", e.message().to_owned()))?;
    let mut main = serde_json::to_value(&table).map_err(|e| unwritable("main file", "", e))?;
    let absolute = |rel: &str| {
        let p = config.base_dir.join(rel);
        std::path::absolute(&p).unwrap_or(p).display().to_string()
    };
    main["users"] = json!("users.toml");
    main["rules"] = json!("rules.toml");
    main["areas"] = Value::Array(areas);
    if let Some(t) = main.get("templates").and_then(Value::as_str) {
        main["templates"] = json!(absolute(t));
    }
    if let Some(Value::Array(sources)) = main.get_mut("sources") {
        for s in sources {
            if s.get("kind").and_then(Value::as_str) == Some("file")
                && let Some(p) = s.get("path").and_then(Value::as_str)
            {
                s["path"] = json!(absolute(p));
            }
        }
    }
    Ok(main)
}

fn write_toml(path: &Path, value: &Value) -> Result<(), ExportError> {
    let text = toml::to_string_pretty(&strip_nulls(value.clone()))
        .map_err(|e| unwritable("file", &path.display().to_string(), e))?;
    std::fs::write(path, text).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// TOML has no null: absent optional fields are left out.
pub(crate) fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}
