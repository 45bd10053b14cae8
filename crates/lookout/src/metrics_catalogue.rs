//! The metrics catalogue: every metric Lookout exports, with its type, labels and meaning, in
//! one table.
//!
//! [`register`] describes every entry and touches it at zero for its bounded label sets, so
//! `/metrics` shows a series before the first event (a counter that first appears at 1 has no
//! `increase()` in Prometheus, and an alert on it would never fire). Histograms get explicit
//! buckets ([`buckets_for`]) that include the SLO thresholds, so they are exported as
//! Prometheus histograms, not summaries. `docs/metrics.md` is [`markdown`] of this table (a
//! test checks it, and another checks the table against what a running `lookout` exposes).
//!
//! Labels are bounded by construction: no label holds an MMSI, a user, an address or a peer.

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter (`_total`).
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Prometheus histogram with explicit buckets.
    Histogram,
}

impl Kind {
    /// The Prometheus `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One catalogued metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// Metric name as exported.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Its label names, in order.
    pub labels: &'static [&'static str],
    /// The RED/USE stage it belongs to (ingest, track, record, dispatch, digest, process, tasks).
    pub stage: &'static str,
    /// What it means (one sentence; becomes the `# HELP` text).
    pub help: &'static str,
    /// Label values to touch at zero on start-up: one entry per label, each the full bounded
    /// set of values; the cross product is registered. Empty for a metric whose labels are
    /// only known at run time (task or source names), or for an unlabelled metric (which is
    /// touched once).
    pub zero: &'static [&'static [&'static str]],
}

/// Channels of `{channel}` labels.
pub const CHANNELS: &[&str] = &["email", "webhook", "slack", "maildir"];
/// Outcomes of `lookout_notifications_total` and `lookout_digests_total`.
pub const DELIVERY_OUTCOMES: &[&str] = &[
    "delivered",
    "retry",
    "dead",
    "released",
    "lease_lost",
    "expired",
];
/// Results of `lookout_ais_sentences_total`: decoded or rejected with a reason.
pub const SENTENCE_RESULTS: &[&str] = &[
    "ok",
    "partial",
    "ignored",
    "too_long",
    "checksum",
    "bad_field",
    "line_too_long",
    "payload_char",
    "fill_bits",
    "empty_payload",
    "payload_too_long",
    "payload_too_short",
    "bad_value",
    "duplicate_fragment",
];
/// Outcomes of `sentinel_task_finished_total`.
pub const TASK_OUTCOMES: &[&str] = &["ok", "error", "panic", "cancelled", "timeout"];
/// Levels of `lookout_log_events_total`.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
/// Targets of `lookout_log_events_total`: the first path segment of the event's target when
/// it is one of these, `other` otherwise (bounded).
pub const LOG_TARGETS: &[&str] = &[
    "lookout",
    "lookout_feed",
    "lookout_track",
    "lookout_store",
    "lookout_notify",
    "lookout_core",
    "sentinel",
    "ais",
    "sqlx",
    "tower_http",
    "other",
];

/// Buckets of latency histograms of one send (seconds).
pub const SEND_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];
/// Buckets of `lookout_event_to_delivery_seconds`: include the 60 s SLO threshold.
pub const EVENT_TO_DELIVERY_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0,
];
/// Buckets of task durations (seconds; a task may run for the life of the process).
pub const TASK_BUCKETS: &[f64] = &[0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 86400.0];

/// Explicit buckets of a catalogued histogram.
pub fn buckets_for(name: &str) -> &'static [f64] {
    match name {
        "lookout_event_to_delivery_seconds" => EVENT_TO_DELIVERY_BUCKETS,
        "sentinel_task_duration_seconds" => TASK_BUCKETS,
        _ => SEND_BUCKETS,
    }
}

const fn def(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    stage: &'static str,
    help: &'static str,
    zero: &'static [&'static [&'static str]],
) -> MetricDef {
    MetricDef {
        name,
        kind,
        labels,
        stage,
        help,
        zero,
    }
}

mod table;
pub use table::CATALOGUE;

/// The catalogue entry of `name`.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    CATALOGUE.iter().find(|m| m.name == name)
}

/// Describes every catalogued metric and touches each at zero for its bounded label sets.
/// Call once, right after the recorder is installed.
pub fn register() {
    for m in CATALOGUE {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
        if m.labels.is_empty() {
            touch(m, Vec::new());
        } else if m.zero.len() == m.labels.len() {
            for labels in cross(m.labels, m.zero) {
                touch(m, labels);
            }
        }
    }
    metrics::gauge!("lookout_build_info",
        "version" => env!("CARGO_PKG_VERSION"), "git_sha" => env!("LOOKOUT_GIT_SHA"))
    .set(1.0);
}

/// Touches the per-source series of a source at zero (called for every source the connection
/// registry knows, on every scrape: sources are known only at run time).
pub fn touch_source(source: &str) {
    for result in SENTENCE_RESULTS {
        metrics::counter!("lookout_ais_sentences_total",
            "source" => source.to_owned(), "result" => *result)
        .increment(0);
    }
    metrics::counter!("lookout_feed_bytes_total", "source" => source.to_owned()).increment(0);
    metrics::counter!("lookout_feed_clock_skew_total", "source" => source.to_owned()).increment(0);
    metrics::counter!("lookout_feed_reconnects_total", "source" => source.to_owned()).increment(0);
    for reason in ["max_connections", "max_per_peer"] {
        metrics::counter!("lookout_feed_rejected_total",
            "source" => source.to_owned(), "reason" => reason)
        .increment(0);
    }
}

/// Touches the per-task series of a task name at zero (`sentinel_task_finished_total` for
/// every outcome, restarts, the duration histogram), so the first panic or restart of a task
/// is an increase Prometheus can see.
pub fn touch_task(task: &str) {
    metrics::counter!("sentinel_task_restarts_total", "task" => task.to_owned()).increment(0);
    let key = metrics::Key::from_parts(
        "sentinel_task_duration_seconds",
        vec![metrics::Label::new("task", task.to_owned())],
    );
    let meta = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    metrics::with_recorder(|r| drop(r.register_histogram(&key, &meta)));
    for outcome in TASK_OUTCOMES {
        metrics::counter!("sentinel_task_finished_total",
            "task" => task.to_owned(), "outcome" => *outcome)
        .increment(0);
    }
}

fn touch(m: &MetricDef, labels: Vec<metrics::Label>) {
    let key = metrics::Key::from_parts(m.name, labels);
    let meta = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    metrics::with_recorder(|r| match m.kind {
        Kind::Counter => r.register_counter(&key, &meta).increment(0),
        // Touching a gauge must not overwrite a value set before: add zero.
        Kind::Gauge => r.register_gauge(&key, &meta).increment(0.0),
        // A histogram shows its buckets once it exists; registering creates it empty.
        Kind::Histogram => drop(r.register_histogram(&key, &meta)),
    });
}

fn cross(names: &[&'static str], values: &[&[&'static str]]) -> Vec<Vec<metrics::Label>> {
    let mut out: Vec<Vec<metrics::Label>> = vec![Vec::new()];
    for (name, vals) in names.iter().zip(values) {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                vals.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(metrics::Label::new(*name, *v));
                    next
                })
            })
            .collect();
    }
    out
}

/// The catalogue as the Markdown table of `docs/metrics.md`, grouped by stage.
pub fn markdown() -> String {
    let mut out = String::from(
        "| metric | type | labels | stage | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for m in CATALOGUE {
        let labels = if m.labels.is_empty() {
            "—".to_owned()
        } else {
            m.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            m.name,
            m.kind.as_str(),
            labels,
            m.stage,
            m.help
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_label_is_unbounded() {
        let unbounded = [
            "mmsi", "user", "user_id", "ip", "peer", "addr", "id", "rule_id",
        ];
        for m in CATALOGUE {
            for l in m.labels {
                assert!(!unbounded.contains(l), "{} has unbounded label {l}", m.name);
            }
        }
    }

    #[test]
    fn names_are_unique_and_counters_end_in_total() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate catalogue entries");
        for m in CATALOGUE {
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn the_delivery_buckets_include_the_slo_threshold() {
        assert!(EVENT_TO_DELIVERY_BUCKETS.contains(&60.0));
        assert!(SEND_BUCKETS.contains(&60.0));
    }

    /// `docs/metrics.md` holds the table between markers; `LOOKOUT_BLESS=1` rewrites it.
    #[test]
    fn docs_metrics_md_is_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let (begin, end) = ("<!-- catalogue:begin -->\n", "<!-- catalogue:end -->");
        let table = markdown();
        let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
            panic!("{path} lacks the {begin:?} … {end:?} markers");
        };
        let current = &text[b + begin.len()..e];
        if current != table {
            if std::env::var_os("LOOKOUT_BLESS").is_some() {
                let new = format!("{}{table}{}", &text[..b + begin.len()], &text[e..]);
                std::fs::write(path, new).unwrap_or_else(|e| panic!("{path}: {e}"));
            } else {
                panic!(
                    "{path} is out of date with crates/lookout/src/metrics_catalogue.rs; \
                     run `LOOKOUT_BLESS=1 cargo test -p lookout docs_metrics_md` to regenerate it"
                );
            }
        }
    }
}
