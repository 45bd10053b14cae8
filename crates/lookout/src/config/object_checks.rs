//! The file checks applied to one object given as JSON (the API): a rule is written out as a
//! one-rule rules file and checked by the very code that checks `rules.toml` against the
//! organisation's users, fleets and areas, so a file and an API call get the same problems for
//! the same mistake. Problems come back as `(field, message)`.

use lookout_notify::model::Model;
use lookout_track::areas::{self, Area};
use serde_json::{Value, json};

use super::export::strip_nulls;
use super::problems::{File, Problems};
use super::raw::RawRulesFile;

/// A field and what is wrong with it.
pub type FieldProblem = (String, String);

/// Checks rule `id` (its definition as the rules file writes it, without `id`) against `model`
/// (the organisation's users, fleets and areas).
///
/// # Errors
/// Every problem found.
pub fn check_rule(id: &str, definition: &Value, model: &Model) -> Result<(), Vec<FieldProblem>> {
    let Value::Object(fields) = definition else {
        return Err(vec![(String::new(), "expected a JSON object".into())]);
    };
    let mut rule = fields.clone();
    rule.insert("id".into(), json!(id));
    let doc = json!({ "rules": [Value::Object(rule)] });
    let text = toml::to_string(&strip_nulls(doc))
        .map_err(|e| vec![(String::new(), format!("not a rule: {e}"))])?;
    let raw: RawRulesFile = toml::from_str(&text).map_err(|e| {
        let message = e.message().trim().to_owned();
        let field = message
            .strip_prefix("unknown field `")
            .or_else(|| message.strip_prefix("missing field `"))
            .and_then(|rest| rest.split('`').next())
            .unwrap_or("")
            .to_owned();
        vec![(field, message)]
    })?;
    let mut p = Problems::default();
    let file = File {
        display: "api".into(),
        text,
    };
    let mut scratch = model.clone();
    super::rules::rules(&mut p, &file, raw, None, &mut scratch);
    if p.is_empty() {
        Ok(())
    } else {
        Err(p.0.into_iter().map(|p| (p.field, p.message)).collect())
    }
}

/// The most vertices one area may have.
pub const MAX_VERTICES: usize = 100_000;

/// Area `id` named `name` from its stored `definition` (`{ "kind": "circle", "lat", "lon",
/// "radius_nm" }` or `{ "kind": "geojson", "geometry", "within_nm"? }`), loaded and validated
/// by the tracker's own loader, with a vertex cap.
///
/// # Errors
/// Every problem found, by field (`definition.geometry`, ...).
pub fn check_area(id: &str, name: &str, def: &Value) -> Result<Area, Vec<FieldProblem>> {
    let one = |field: &str, message: String| vec![(field.to_owned(), message)];
    let area = match def.get("kind").and_then(Value::as_str) {
        Some("circle") => {
            let num = |k: &str| def.get(k).and_then(Value::as_f64);
            let (Some(lat), Some(lon), Some(r)) = (num("lat"), num("lon"), num("radius_nm")) else {
                return Err(one(
                    "definition",
                    "a circle needs numbers lat, lon and radius_nm".into(),
                ));
            };
            Area::circle(id, name, lat, lon, r)
        }
        Some("geojson") => {
            let Some(geometry) = def.get("geometry") else {
                return Err(one("definition.geometry", "missing".into()));
            };
            let loaded = areas::parse_geojson("definition.geometry", id, &geometry.to_string())
                .map_err(|e| {
                    e.problems()
                        .iter()
                        .map(|p| ("definition.geometry".to_owned(), p.to_string()))
                        .collect::<Vec<_>>()
                })?;
            let [mut area] = <[Area; 1]>::try_from(loaded).map_err(|v| {
                one(
                    "definition.geometry",
                    format!("{} features: give one area per request", v.len()),
                )
            })?;
            area.name = name.to_owned();
            match def.get("within_nm") {
                None | Some(Value::Null) => area,
                Some(nm) => match nm.as_f64() {
                    Some(nm) => area.buffered(nm),
                    None => return Err(one("definition.within_nm", "expected a number".into())),
                },
            }
        }
        _ => {
            return Err(one(
                "definition.kind",
                "expected \"circle\" or \"geojson\"".into(),
            ));
        }
    };
    let vertices: usize = area.polygons_of().iter().map(|p| p.n_vertices()).sum();
    if vertices > MAX_VERTICES {
        return Err(one(
            "definition.geometry",
            format!("{vertices} vertices: at most {MAX_VERTICES}"),
        ));
    }
    let problems = area.validate();
    if !problems.is_empty() {
        return Err(problems
            .iter()
            .map(|p| ("definition".to_owned(), p.to_string()))
            .collect());
    }
    Ok(area)
}
