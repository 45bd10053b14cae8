//! GeoJSON loading: a FeatureCollection, a Feature or a bare Polygon/MultiPolygon becomes one
//! [`Area`] per feature, with every problem in the file reported at once.
//!
//! The id comes from the feature's `id`, else `properties.id`, else the file stem (with
//! `:INDEX` appended when the file has several features); an empty id is a problem. The name
//! comes from `properties.name`, else the id. These are the only id rules: configuration
//! checks get area ids by loading through [`super::load_specs`].

use std::path::Path;

use serde_json::Value;

use super::{Area, AreaErrors, AreaProblem, Polygon, ProblemKind, Shape, validate};

/// Loads and validates every area in a GeoJSON file.
///
/// # Errors
/// Every problem in the file (unreadable, not GeoJSON, invalid geometry), each naming the file,
/// the feature index and id, the polygon and ring.
pub fn load_geojson_file(path: &Path) -> Result<Vec<Area>, AreaErrors> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        AreaErrors(vec![problem(
            &source,
            None,
            None,
            ProblemKind::Io(e.to_string()),
        )])
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.clone());
    parse_geojson(&source, &stem, &text)
}

/// Loads a GeoJSON file, or every `*.geojson`/`*.json` file of a directory (in name order),
/// reporting the problems of all files at once (for `lookout check --areas PATH`).
///
/// # Errors
/// Every problem of every file; a directory without GeoJSON files is an empty-geometry problem.
pub fn load_path(path: &Path) -> Result<Vec<Area>, AreaErrors> {
    if !path.is_dir() {
        return load_geojson_file(path);
    }
    let source = path.display().to_string();
    let io_error = |e: std::io::Error| {
        AreaErrors(vec![problem(
            &source,
            None,
            None,
            ProblemKind::Io(e.to_string()),
        )])
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_error)? {
        let file = entry.map_err(io_error)?.path();
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        if file.is_file()
            && (ext.eq_ignore_ascii_case("geojson") || ext.eq_ignore_ascii_case("json"))
        {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(AreaErrors(vec![problem(
            &source,
            None,
            None,
            ProblemKind::EmptyGeometry,
        )]));
    }
    let mut areas = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match load_geojson_file(&file) {
            Ok(found) => areas.extend(found),
            Err(e) => problems.extend(e.0),
        }
    }
    if problems.is_empty() {
        Ok(areas)
    } else {
        Err(AreaErrors(problems))
    }
}

/// Parses and validates GeoJSON text; `source` names it in errors and `default_id` is the id
/// of features that carry none.
///
/// # Errors
/// Every problem found, as for [`load_geojson_file`].
pub fn parse_geojson(source: &str, default_id: &str, text: &str) -> Result<Vec<Area>, AreaErrors> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        AreaErrors(vec![problem(
            source,
            None,
            None,
            ProblemKind::Json(e.to_string()),
        )])
    })?;
    let features: Vec<&Value> = match root.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => match root.get("features").and_then(Value::as_array) {
            Some(f) => f.iter().collect(),
            None => {
                return Err(AreaErrors(vec![problem(
                    source,
                    None,
                    None,
                    ProblemKind::Json("FeatureCollection without a \"features\" array".into()),
                )]));
            }
        },
        _ => vec![&root],
    };
    let mut areas = Vec::new();
    let mut problems = Vec::new();
    if features.is_empty() {
        problems.push(problem(source, None, None, ProblemKind::EmptyGeometry));
    }
    let many = features.len() > 1;
    for (idx, feature) in features.into_iter().enumerate() {
        let (geometry, props, own_id) = match feature.get("type").and_then(Value::as_str) {
            Some("Feature") => (
                feature.get("geometry"),
                feature.get("properties"),
                feature.get("id"),
            ),
            _ => (Some(feature), None, None),
        };
        let given = match own_id
            .or_else(|| props.and_then(|p| p.get("id")))
            .map(id_of)
        {
            Some(Err(kind)) => {
                problems.push(problem(source, Some(idx), None, kind));
                continue;
            }
            Some(Ok(id)) => id,
            None => None,
        };
        let id = given.unwrap_or_else(|| {
            if many {
                format!("{default_id}:{idx}")
            } else {
                default_id.to_owned()
            }
        });
        let name = props
            .and_then(|p| p.get("name"))
            .and_then(Value::as_str)
            .map_or_else(|| id.clone(), str::to_owned);
        let feature_idx = Some(idx);
        match polygons_of(geometry) {
            Ok(polygons) => {
                let area = Area {
                    id,
                    name,
                    shape: Shape::Polygons(polygons),
                    source: source.to_owned(),
                };
                let found = validate::area(&area, feature_idx);
                if found.is_empty() {
                    areas.push(area);
                } else {
                    problems.extend(found);
                }
            }
            Err(kind) => problems.push(problem(source, feature_idx, Some(id), kind)),
        }
    }
    if problems.is_empty() {
        Ok(areas)
    } else {
        Err(AreaErrors(problems))
    }
}

fn problem(
    source: &str,
    feature: Option<usize>,
    id: Option<String>,
    kind: ProblemKind,
) -> AreaProblem {
    AreaProblem {
        source: source.to_owned(),
        feature,
        id,
        polygon: None,
        ring: None,
        kind,
    }
}

/// The id a feature gives itself: a non-empty string or a number. An empty string is a
/// problem, not "no id" (it would silently become the file stem); any other JSON value
/// (`null`, an object) means no id.
fn id_of(v: &Value) -> Result<Option<String>, ProblemKind> {
    match v {
        Value::String(s) if s.trim().is_empty() => Err(empty_id()),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Ok(None),
    }
}

/// The problem of an empty id, in a feature or in configuration.
pub(crate) fn empty_id() -> ProblemKind {
    ProblemKind::Json(
        "empty \"id\": give the area a non-empty id, or none to use the file name".into(),
    )
}

fn polygons_of(geometry: Option<&Value>) -> Result<Vec<Polygon>, ProblemKind> {
    let Some(geometry) = geometry.filter(|g| !g.is_null()) else {
        return Err(ProblemKind::EmptyGeometry);
    };
    let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = geometry.get("coordinates");
    match kind {
        "Polygon" => Ok(vec![polygon(coords)?]),
        "MultiPolygon" => match coords.and_then(Value::as_array) {
            Some(parts) => parts.iter().map(|p| polygon(Some(p))).collect(),
            None => Err(ProblemKind::EmptyGeometry),
        },
        other => Err(ProblemKind::UnsupportedGeometry(other.to_owned())),
    }
}

fn polygon(coords: Option<&Value>) -> Result<Polygon, ProblemKind> {
    let rings = coords
        .and_then(Value::as_array)
        .ok_or(ProblemKind::EmptyGeometry)?;
    let rings = rings
        .iter()
        .enumerate()
        .map(|(r_idx, ring)| {
            let positions = ring.as_array().ok_or_else(|| {
                ProblemKind::Json(format!("ring {r_idx} is not an array of positions"))
            })?;
            positions
                .iter()
                .enumerate()
                .map(|(p_idx, pos)| match pos.as_array().map(Vec::as_slice) {
                    Some([lon, lat, ..]) => Ok([
                        lon.as_f64().unwrap_or(f64::NAN),
                        lat.as_f64().unwrap_or(f64::NAN),
                    ]),
                    _ => Err(ProblemKind::Json(format!(
                        "ring {r_idx} position {p_idx} is not [lon, lat]"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon { rings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_come_from_the_feature_or_the_file() {
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":7,"properties":{"name":"Seven"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
          {"type":"Feature","properties":{"id":"b"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
          {"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
        let areas = parse_geojson("t.geojson", "t", text).unwrap();
        let got: Vec<(&str, &str)> = areas
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str()))
            .collect();
        assert_eq!(got, vec![("7", "Seven"), ("b", "b"), ("t:2", "t:2")]);
    }

    #[test]
    fn an_empty_id_is_a_problem_not_the_file_stem() {
        let square = r#""geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#;
        for feature in [
            format!(r#"{{"type":"Feature","id":"",{square}}}"#),
            format!(r#"{{"type":"Feature","properties":{{"id":" "}},{square}}}"#),
        ] {
            let err = parse_geojson("e.geojson", "e", &feature).unwrap_err();
            assert_eq!(
                err.problems()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                [
                    "e.geojson: feature 0: invalid geojson: empty \"id\": give the area a non-empty id, or none to use the file name"
                ]
            );
        }
    }

    #[test]
    fn every_problem_in_a_file_is_reported() {
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":"open","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}},
          {"type":"Feature","id":"pt","geometry":{"type":"Point","coordinates":[0,0]}},
          {"type":"Feature","id":"none","geometry":null},
          {"type":"Feature","id":"bow","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[0,0],[1,1],[1,0],[0,1],[0,0]],[[0,0],[1,0],[0,0]]]]}},
          {"type":"Feature","id":"nan","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,95],[0,0]]]}}]}"#;
        let err = parse_geojson("bad.geojson", "bad", text).unwrap_err();
        let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "bad.geojson: feature 0 (id \"open\"), ring 0: unclosed ring: the last position must repeat the first",
                "bad.geojson: feature 1 (id \"pt\"): unsupported geometry type \"Point\": use Polygon or MultiPolygon",
                "bad.geojson: feature 2 (id \"none\"): empty geometry: no polygon with coordinates",
                "bad.geojson: feature 3 (id \"bow\"), polygon 1, ring 0: self-intersection: edges 0 and 2 cross",
                "bad.geojson: feature 3 (id \"bow\"), polygon 1, ring 1: too few points: ring has 3 positions, needs at least 4",
                "bad.geojson: feature 4 (id \"nan\"), ring 0: bad coordinate at position 2: [1, 95] (need finite lon in ±360, lat in ±90)",
            ]
        );
    }
}
