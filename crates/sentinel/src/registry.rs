//! The process-wide registry of live tasks, for introspection (`/tasks`).
//!
//! Every task started with [`spawn`](crate::spawn) is registered while it runs; every supervised child stays
//! registered (with its restart count and last error) for as long as its supervisor runs. [`snapshot`] copies it
//! all out, together with the heartbeats, as a `serde::Serialize` value.
//!
//! The registry is global on purpose: an ops endpoint must see every task without the application threading a handle
//! through every call. It is sharded so that concurrent spawns rarely contend on one lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::heartbeat::{self, LoopHealth};
use crate::name::TaskName;

const N_SHARDS: usize = 16;

static SHARDS: LazyLock<[Mutex<HashMap<u64, Arc<Entry>>>; N_SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashMap::new())));
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a registry entry stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskKind {
    /// A task started with [`spawn`](crate::spawn) (or by a [`TaskGroup`](crate::TaskGroup)).
    Task,
    /// A child of a [`Supervisor`](crate::Supervisor): lives across restarts.
    Supervised,
    /// A [`Supervisor`](crate::Supervisor) itself.
    Supervisor,
}

/// Where a registered task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskState {
    /// Running now.
    Running,
    /// Ended and waiting for its restart delay (supervised children).
    Backoff,
    /// Being stopped by its supervisor or by shutdown.
    Stopping,
    /// Ended and will not be restarted (supervised children with a finished temporary/transient policy).
    Stopped,
}

/// One task in a [`Snapshot`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Registry id (unique for the life of the process).
    pub id: u64,
    /// Task name, as in logs and metric labels.
    pub name: TaskName,
    /// Plain task, supervised child or supervisor.
    pub kind: TaskKind,
    /// Current state.
    pub state: TaskState,
    /// When the entry was registered, in milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// Seconds since the entry was registered.
    pub uptime_seconds: f64,
    /// How many times its supervisor restarted it (0 for plain tasks).
    pub restarts: u64,
    /// The last failure, as one line (`error: cause: cause`), if any.
    pub last_error: Option<String>,
    /// Seconds since the last beat of a heartbeat registered under the same name, if there is one.
    pub last_beat_age_seconds: Option<f64>,
}

/// Everything the registry knows, for `/tasks`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// `false` when any heartbeat is stale (see [`health`](crate::health)).
    pub healthy: bool,
    /// Live tasks, sorted by name.
    pub tasks: Vec<TaskInfo>,
    /// Registered heartbeats, sorted by name.
    pub heartbeats: Vec<LoopHealth>,
}

/// Copies out the registry: every live task and supervised child, and every heartbeat.
pub fn snapshot() -> Snapshot {
    let health = heartbeat::health();
    let now = SystemTime::now();
    let mut tasks = Vec::new();
    for shard in SHARDS.iter() {
        for entry in lock(shard).values() {
            let state = lock(&entry.state);
            tasks.push(TaskInfo {
                id: entry.id,
                name: entry.name.clone(),
                kind: entry.kind,
                state: state.state,
                started_at_unix_ms: entry
                    .started_at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                uptime_seconds: now.duration_since(entry.started_at).map_or(0.0, |d| d.as_secs_f64()),
                restarts: state.restarts,
                last_error: state.last_error.clone(),
                last_beat_age_seconds: health
                    .loops
                    .iter()
                    .find(|l| l.name == entry.name)
                    .map(|l| l.age_seconds),
            });
        }
    }
    tasks.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Snapshot { healthy: health.healthy, tasks, heartbeats: health.loops }
}

/// A registered entry; shared between its owner and the registry.
#[derive(Debug)]
pub(crate) struct Entry {
    id: u64,
    name: TaskName,
    kind: TaskKind,
    started_at: SystemTime,
    state: Mutex<EntryState>,
}

#[derive(Debug)]
struct EntryState {
    state: TaskState,
    restarts: u64,
    last_error: Option<String>,
}

impl Entry {
    pub(crate) fn set_state(&self, state: TaskState) {
        lock(&self.state).state = state;
    }

    pub(crate) fn set_last_error(&self, error: String) {
        lock(&self.state).last_error = Some(error);
    }

    pub(crate) fn record_restart(&self) {
        lock(&self.state).restarts += 1;
    }
}

/// Keeps an entry registered until dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    entry: Arc<Entry>,
}

impl Registration {
    pub(crate) fn new(name: TaskName, kind: TaskKind) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            id,
            name,
            kind,
            started_at: SystemTime::now(),
            state: Mutex::new(EntryState { state: TaskState::Running, restarts: 0, last_error: None }),
        });
        lock(shard(id)).insert(id, Arc::clone(&entry));
        Registration { entry }
    }

    pub(crate) fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(shard(self.entry.id)).remove(&self.entry.id);
    }
}

fn shard(id: u64) -> &'static Mutex<HashMap<u64, Arc<Entry>>> {
    // N_SHARDS is tiny, so the cast cannot truncate a meaningful value.
    &SHARDS[(id % N_SHARDS as u64) as usize]
}

/// Locks a registry mutex; a panic elsewhere while holding it cannot leave the maps inconsistent (every critical
/// section is a single insert/remove/assignment), so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
