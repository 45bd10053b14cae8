//! The Grafana dashboard `deploy/grafana/lookout.json` is over the same metrics: every metric
//! an expression references is in `docs/metrics.md` (or is a recording rule of
//! `deploy/prometheus/lookout.rules.yml`). The end-to-end Prometheus test also runs every
//! expression against a live Prometheus.

use std::collections::BTreeSet;

use crate::obs_util::{documented_metrics, repo_file};

/// Every `expr` of the dashboard (panel targets and annotations).
pub(crate) fn dashboard_exprs() -> Vec<String> {
    let path = repo_file("deploy/grafana/lookout.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let mut out = Vec::new();
    collect(&json, &mut out);
    out
}

fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// Metric names referenced by a PromQL expression (ours only: `lookout_*`, `sentinel_*`,
/// `lookout:*`), outside quoted strings.
pub(crate) fn referenced_metrics(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut quoted = false;
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            quoted = !quoted;
            word.clear();
            continue;
        }
        if !quoted && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("lookout_")
            || word.starts_with("sentinel_")
            || word.starts_with("lookout:")
        {
            out.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    out
}

/// Recording rule names of the shipped rules.
fn recording_rules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_file("deploy/prometheus/lookout.rules.yml")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn dashboard_references_only_catalogued_metrics() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() > 20, "too few expressions: {exprs:?}");
    let documented = documented_metrics();
    let recorded = recording_rules();
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in referenced_metrics(expr) {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| documented.contains_key(*b)))
                .unwrap_or(&name)
                .to_owned();
            if !documented.contains_key(&base) && !recorded.contains(&base) {
                problems.push(format!(
                    "deploy/grafana/lookout.json uses `{name}`, which is neither in docs/metrics.md nor a recording rule: {expr}"
                ));
            }
            used.insert(base);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // RED per stage and saturation are on the dashboard.
    for needed in [
        "lookout_ais_sentences_total",
        "lookout_track_reports_total",
        "lookout_events_total",
        "lookout_notifications_total",
        "lookout_event_to_delivery_seconds",
        "lookout_outbox_oldest_pending_age_seconds",
        "lookout_digests_total",
        "lookout_process_resident_bytes",
        "lookout_process_anonymous_bytes",
        "sentinel_heartbeat_age_seconds",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
}

#[test]
fn references_are_found_outside_strings_only() {
    let refs = referenced_metrics(
        r#"sum by (le) (rate(lookout_x_bucket{a="lookout_not_a_metric"}[5m])) / lookout:y:ratio"#,
    );
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["lookout:y:ratio", "lookout_x_bucket"]
    );
}
