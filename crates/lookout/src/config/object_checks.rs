//! The file checks applied to one object given as JSON (the API): a rule is written out as a
//! one-rule rules file and checked by the very code that checks `rules.toml` against the
//! organisation's users, fleets and areas, so a file and an API call get the same problems for
//! the same mistake. Problems come back as `(field, message)`.

use lookout_notify::model::Model;
use serde_json::{Value, json};

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

fn strip_nulls(value: Value) -> Value {
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
