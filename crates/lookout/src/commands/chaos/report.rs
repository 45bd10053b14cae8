//! The chaos report: what was expected (the ground truth's dedupe keys), what was delivered,
//! and the timings. Pure functions over what the run recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One notification of an outbox: its dedupe key, id and creation time (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    /// Dedupe key (the identity of the event for the rule, user and channel).
    pub(super) key: String,
    /// Outbox id (the `Idempotency-Key` of its webhook).
    pub(super) id: String,
    /// When it was queued.
    pub(super) created_ms: i64,
}

/// One webhook the receiver answered 2xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Delivery {
    /// Its `Idempotency-Key`.
    pub(super) id: String,
    /// When it arrived (Unix ms).
    pub(super) at_ms: i64,
}

/// The report (`--report FILE` as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(super) struct Report {
    /// Notifications of the uninterrupted run.
    pub(super) expected: usize,
    /// Of those, delivered in the chaos run (by dedupe key).
    pub(super) delivered: usize,
    /// Expected and never delivered.
    pub(super) lost: usize,
    /// Delivered and not expected (e.g. a false gap after a restart).
    pub(super) spurious: usize,
    /// Deliveries beyond the first of a notification.
    pub(super) duplicates: usize,
    /// `duplicates` over all deliveries.
    pub(super) duplicate_ratio: f64,
    /// Dedupe keys delivered under more than one notification id.
    pub(super) duplicates_with_other_id: usize,
    /// SIGKILLs injected.
    pub(super) kills: usize,
    /// Kill → every partition owned again, median (s).
    pub(super) failover_p50_s: f64,
    /// Kill → every partition owned again, 99th percentile (s).
    pub(super) failover_p99_s: f64,
    /// Queued → first delivery, median (s).
    pub(super) latency_p50_s: f64,
    /// Queued → first delivery, 99th percentile (s).
    pub(super) latency_p99_s: f64,
    /// Faults injected besides the kills, in order.
    pub(super) faults: Vec<String>,
    /// Wall-clock seconds of the chaos phase.
    pub(super) duration_s: f64,
    /// Up to 20 of the lost dedupe keys.
    pub(super) lost_keys: Vec<String>,
    /// Up to 20 of the spurious dedupe keys.
    pub(super) spurious_keys: Vec<String>,
    /// Every kill's failover (s), in kill order.
    pub(super) failovers_s: Vec<f64>,
}

/// Nearest-rank percentile of `values` (sorted here); 0 when empty.
pub(super) fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// Compares the chaos run's outbox and deliveries with the truth's outbox.
pub(super) fn compare(
    truth: &[Row],
    outbox: &[Row],
    deliveries: &[Delivery],
    failovers_s: &mut [f64],
) -> Report {
    let expected: BTreeSet<&str> = truth.iter().map(|r| r.key.as_str()).collect();
    let by_id: BTreeMap<&str, &Row> = outbox.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut per_id: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for d in deliveries {
        per_id.entry(d.id.as_str()).or_default().push(d.at_ms);
    }
    let mut ids_per_key: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut duplicates = 0;
    for (id, times) in &per_id {
        duplicates += times.len() - 1;
        let Some(row) = by_id.get(id) else {
            continue; // a delivery of no known notification: counted spurious below by key
        };
        ids_per_key.entry(row.key.as_str()).or_default().insert(id);
        let first = times.iter().copied().min().unwrap_or(row.created_ms);
        latencies.push((first - row.created_ms).max(0) as f64 / 1000.0);
    }
    let delivered_keys: BTreeSet<&str> = ids_per_key.keys().copied().collect();
    let unknown = per_id.keys().filter(|id| !by_id.contains_key(*id)).count();
    let delivered = expected.intersection(&delivered_keys).count();
    let failovers = failovers_s.to_vec();
    Report {
        lost_keys: expected
            .difference(&delivered_keys)
            .take(20)
            .map(|k| (*k).to_owned())
            .collect(),
        spurious_keys: delivered_keys
            .difference(&expected)
            .take(20)
            .map(|k| (*k).to_owned())
            .collect(),
        failovers_s: failovers,
        expected: expected.len(),
        delivered,
        lost: expected.len() - delivered,
        spurious: delivered_keys.difference(&expected).count() + unknown,
        duplicates,
        duplicate_ratio: if deliveries.is_empty() {
            0.0
        } else {
            duplicates as f64 / deliveries.len() as f64
        },
        duplicates_with_other_id: ids_per_key.values().filter(|ids| ids.len() > 1).count(),
        kills: failovers_s.len(),
        failover_p50_s: percentile(failovers_s, 50.0),
        failover_p99_s: percentile(failovers_s, 99.0),
        latency_p50_s: percentile(&mut latencies, 50.0),
        latency_p99_s: percentile(&mut latencies, 99.0),
        faults: Vec::new(),
        duration_s: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, id: &str) -> Row {
        Row {
            key: key.into(),
            id: id.into(),
            created_ms: 1000,
        }
    }

    fn delivery(id: &str, at_ms: i64) -> Delivery {
        Delivery {
            id: id.into(),
            at_ms,
        }
    }

    #[test]
    fn lost_spurious_and_duplicates_are_counted_by_key_and_id() {
        let truth = [row("a", "t1"), row("b", "t2"), row("c", "t3")];
        let outbox = [row("a", "x1"), row("b", "x2"), row("z", "x9")];
        let deliveries = [
            delivery("x1", 2000),
            delivery("x1", 2500),
            delivery("x2", 4000),
            delivery("x9", 3000),
        ];
        let report = compare(&truth, &outbox, &deliveries, &mut [3.0, 7.0, 5.0]);
        assert_eq!(report.expected, 3);
        assert_eq!(report.delivered, 2);
        assert_eq!(report.lost, 1, "c never delivered");
        assert_eq!(report.spurious, 1, "z is not in the truth");
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.duplicates_with_other_id, 0);
        assert_eq!(report.kills, 3);
        assert_eq!(report.failover_p50_s, 5.0);
        assert_eq!(report.failover_p99_s, 7.0);
        assert_eq!(report.latency_p50_s, 2.0);
        assert_eq!(report.latency_p99_s, 3.0);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut v, 99.0), 99.0);
        assert_eq!(percentile(&mut [], 99.0), 0.0);
    }
}
