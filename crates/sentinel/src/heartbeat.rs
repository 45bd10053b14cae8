//! Liveness of long-running loops: [`Heartbeat`], [`health`] and the [`Health`] report.
//!
//! A loop that must keep turning (the dispatcher, a feed reader) registers a heartbeat with a tolerance and calls
//! [`Heartbeat::beat`] once per iteration. [`health`] reports every registered loop with the age of its last beat;
//! any loop whose last beat is older than its tolerance makes the whole process unhealthy and is named. This catches
//! what panic capture cannot: a loop that is stuck (deadlocked, blocked on a call without a timeout) or that ended
//! without anyone noticing.
//!
//! Heartbeats are process-wide (like the registry) so `/healthz` sees them all. Beating is one relaxed atomic store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::metric_names;
use crate::sync::lock;
use crate::task_name::TaskName;

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
static HEARTBEATS: LazyLock<Mutex<HashMap<u64, Arc<Beat>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
struct Beat {
    name: TaskName,
    tolerance: Duration,
    /// Nanoseconds since [`EPOCH`] of the last beat.
    last_beat_nanos: AtomicU64,
}

#[derive(Debug)]
struct Registration {
    id: u64,
    beat: Arc<Beat>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&HEARTBEATS).remove(&self.id);
        // A gauge cannot be removed through the metrics facade; zero it so a dashboard does not show a stale age.
        metrics::gauge!(metric_names::HEARTBEAT_AGE, "task" => self.beat.name.label()).set(0.0);
    }
}

/// A registered liveness heartbeat. Deregisters when the last clone is dropped.
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let heartbeat = sentinel::Heartbeat::register("dispatcher", Duration::from_secs(30));
/// for _tick in 0..3 {
///     heartbeat.beat();
///     // ... one iteration of work ...
/// }
/// assert!(sentinel::health().loop_health("dispatcher").is_some_and(|l| !l.stale));
/// drop(heartbeat);
/// assert!(sentinel::health().loop_health("dispatcher").is_none());
/// # }
/// ```
///
/// Choose the tolerance as the longest healthy gap between two beats (tick interval plus the slowest iteration),
/// with margin: a loop waiting for work must still beat, e.g. on a timer branch of its `select!`.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    registration: Arc<Registration>,
}

impl Heartbeat {
    /// Registers a loop called `name` that promises to beat at least every `tolerance`. Counts as one beat.
    ///
    /// Several heartbeats may share a name (e.g. one per shard); each is reported separately.
    pub fn register(name: impl Into<TaskName>, tolerance: Duration) -> Heartbeat {
        let beat = Arc::new(Beat {
            name: name.into(),
            tolerance,
            last_beat_nanos: AtomicU64::new(now_nanos()),
        });
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        lock(&HEARTBEATS).insert(id, Arc::clone(&beat));
        Heartbeat {
            registration: Arc::new(Registration { id, beat }),
        }
    }

    /// Records that the loop is alive now.
    pub fn beat(&self) {
        self.registration
            .beat
            .last_beat_nanos
            .store(now_nanos(), Ordering::Relaxed);
    }

    /// The loop's name.
    pub fn name(&self) -> &TaskName {
        &self.registration.beat.name
    }

    /// How long the loop may go without beating before it counts as stale.
    pub fn tolerance(&self) -> Duration {
        self.registration.beat.tolerance
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        age_of(&self.registration.beat)
    }
}

fn now_nanos() -> u64 {
    u64::try_from(EPOCH.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn age_of(beat: &Beat) -> Duration {
    Duration::from_nanos(now_nanos().saturating_sub(beat.last_beat_nanos.load(Ordering::Relaxed)))
}

/// One loop in a [`Health`] report.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LoopHealth {
    /// The loop's name.
    pub name: TaskName,
    /// Seconds since its last beat.
    pub age_seconds: f64,
    /// Its tolerance, in seconds.
    pub tolerance_seconds: f64,
    /// `true` when `age_seconds > tolerance_seconds`.
    pub stale: bool,
}

/// Liveness of the process: every registered loop and whether any is stale.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// `false` when at least one loop is stale.
    pub healthy: bool,
    /// Every registered loop, sorted by name.
    pub loops: Vec<LoopHealth>,
}

impl Health {
    /// `true` when no loop is stale.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// The loops past their tolerance.
    pub fn stale(&self) -> impl Iterator<Item = &LoopHealth> {
        self.loops.iter().filter(|l| l.stale)
    }

    /// Names of the loops past their tolerance.
    pub fn stale_names(&self) -> Vec<&str> {
        self.stale().map(|l| l.name.as_str()).collect()
    }

    /// The first loop registered under `name`, if any.
    pub fn loop_health(&self, name: &str) -> Option<&LoopHealth> {
        self.loops.iter().find(|l| l.name == name)
    }
}

/// Reports every registered heartbeat; unhealthy when any is past its tolerance.
///
/// Also refreshes the `sentinel_heartbeat_age_seconds{task}` gauge (the ops router calls this on every `/metrics`
/// scrape).
pub fn health() -> Health {
    let beats: Vec<Arc<Beat>> = lock(&HEARTBEATS).values().cloned().collect();
    let mut loops: Vec<LoopHealth> = beats
        .iter()
        .map(|beat| {
            let age = age_of(beat);
            metrics::gauge!(metric_names::HEARTBEAT_AGE, "task" => beat.name.label())
                .set(age.as_secs_f64());
            LoopHealth {
                name: beat.name.clone(),
                age_seconds: age.as_secs_f64(),
                tolerance_seconds: beat.tolerance.as_secs_f64(),
                stale: age > beat.tolerance,
            }
        })
        .collect();
    loops.sort_by(|a, b| a.name.cmp(&b.name));
    let healthy = loops.iter().all(|l| !l.stale);
    Health { healthy, loops }
}
