//! What the partition runner reports: partitions owned, lag per partition, handoffs and lease losses, as a
//! snapshot (for `/tasks` and `/readyz`) and as metrics through the `metrics` facade.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A snapshot of one runner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerSnapshot {
    /// Partitions with a running worker, and each one's lag (`None` before its first record).
    pub partitions: BTreeMap<u32, Option<u64>>,
    /// Partitions claimed since the start.
    pub acquired: u64,
    /// Partitions released to balance or on shutdown.
    pub released: u64,
    /// Leases found lost at a renewal.
    pub lost: u64,
    /// Commits refused by the fence.
    pub fenced: u64,
}

impl RunnerSnapshot {
    /// The largest lag over the owned partitions (0 when none is known).
    pub fn max_lag(&self) -> u64 {
        self.partitions
            .values()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// Shared, cheap to clone status of a runner: pass one in [`RunnerConfig::status`](super::RunnerConfig) and read
/// it with [`snapshot`](Self::snapshot).
///
/// Metrics (labels kept few): `lookout_partitions_owned` (gauge), `lookout_partition_lag{partition}` (gauge),
/// `lookout_partition_handoffs_total{direction = acquired | released}`,
/// `lookout_partition_lease_losses_total{reason = lost | fenced}`.
#[derive(Debug, Clone, Default)]
pub struct RunnerStatus {
    inner: Arc<Mutex<RunnerSnapshot>>,
}

impl RunnerStatus {
    /// A copy of the current state.
    pub fn snapshot(&self) -> RunnerSnapshot {
        self.with(|snapshot| snapshot.clone())
    }

    pub(super) fn acquired(&self) {
        metrics::counter!("lookout_partition_handoffs_total", "direction" => "acquired")
            .increment(1);
        self.with(|s| s.acquired += 1);
    }

    pub(super) fn track(&self, partition: u32) {
        self.with(|s| {
            s.partitions.insert(partition, None);
            metrics::gauge!("lookout_partitions_owned").set(s.partitions.len() as f64);
        });
    }

    pub(super) fn released(&self, n: usize) {
        metrics::counter!("lookout_partition_handoffs_total", "direction" => "released")
            .increment(n as u64);
        self.with(|s| s.released += n as u64);
    }

    pub(super) fn lost(&self) {
        metrics::counter!("lookout_partition_lease_losses_total", "reason" => "lost").increment(1);
        self.with(|s| s.lost += 1);
    }

    pub(super) fn fenced(&self) {
        metrics::counter!("lookout_partition_lease_losses_total", "reason" => "fenced")
            .increment(1);
        self.with(|s| s.fenced += 1);
    }

    pub(super) fn lag(&self, partition: u32, lag: Option<u64>) {
        if let Some(lag) = lag {
            metrics::gauge!("lookout_partition_lag", "partition" => partition.to_string())
                .set(lag as f64);
        }
        self.with(|s| {
            if let Some(slot) = s.partitions.get_mut(&partition) {
                *slot = lag;
            }
        });
    }

    pub(super) fn dropped(&self, partition: u32) {
        self.with(|s| {
            s.partitions.remove(&partition);
            metrics::gauge!("lookout_partitions_owned").set(s.partitions.len() as f64);
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut RunnerSnapshot) -> T) -> T {
        // Never held across an await; a panic while holding it leaves plain counters, safe to keep using.
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}
