//! `docs/metrics.md` against what a running `lookout demo` really exposes at `/metrics`, both
//! ways: every documented metric is there (with its type and no label beyond the documented
//! ones), and every `lookout_*`/`sentinel_*` metric exposed is documented.

use std::time::{Duration, Instant};

use crate::obs_util::{Demo, Exposed, documented_metrics, get, parse_exposition};

/// Series whose labels exist only in cluster mode (one per owned partition), so the one-process
/// demo cannot expose them; the cluster test scrapes them.
const CLUSTER_ONLY: &[&str] = &["lookout_partition_lag"];

#[test]
fn metrics_catalogue_matches_what_a_running_lookout_exposes() {
    let documented = documented_metrics();
    assert!(
        documented.len() > 30,
        "catalogue parsed too small: {documented:?}"
    );
    let demo = Demo::start();
    // Per-source and per-task series appear with their source and tasks; wait for a full
    // picture (traffic decoded, the first notifications delivered), at most 60 s.
    let started = Instant::now();
    let mut exposed: Exposed;
    loop {
        let (status, text) = get(demo.ops, "/metrics");
        assert_eq!(status, 200, "{text}");
        exposed = parse_exposition(&text);
        let missing: Vec<&String> = documented
            .keys()
            .filter(|k| !CLUSTER_ONLY.contains(&k.as_str()))
            .filter(|k| !exposed.contains_key(*k))
            .collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut problems = Vec::new();
    for (name, doc) in &documented {
        match exposed.get(name) {
            None if CLUSTER_ONLY.contains(&name.as_str()) => {}
            None => problems.push(format!(
                "docs/metrics.md lists `{name}` ({}) but /metrics of a running `lookout demo` does not expose it \
                 (register it at zero in crates/lookout/src/metrics_catalogue.rs, or drop it from the catalogue)",
                doc.kind
            )),
            Some((kind, labels)) => {
                if kind != &doc.kind {
                    problems.push(format!(
                        "`{name}` is a {} in docs/metrics.md but /metrics exposes a {kind}",
                        doc.kind
                    ));
                }
                let extra: Vec<&String> = labels.difference(&doc.labels).collect();
                if !extra.is_empty() {
                    problems.push(format!(
                        "`{name}` is exposed with labels {extra:?} that docs/metrics.md does not list"
                    ));
                }
            }
        }
    }
    for name in exposed.keys() {
        if (name.starts_with("lookout_") || name.starts_with("sentinel_"))
            && !documented.contains_key(name)
        {
            problems.push(format!(
                "/metrics exposes `{name}` but docs/metrics.md does not list it \
                 (add it to CATALOGUE in crates/lookout/src/metrics_catalogue.rs, then \
                 `LOOKOUT_BLESS=1 cargo test -p lookout docs_metrics_md`)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
