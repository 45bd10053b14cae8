//! The process-wide registry of live tasks, for introspection (`/tasks`).
//!
//! Plain tasks started with [`spawn`](crate::spawn) are counted **per name** while they run (one row per name, with
//! how many run and since when); every supervisor and supervised child has its own row (with its restart count and
//! last error) for as long as the supervisor runs. [`snapshot`] copies it all out, together with the heartbeats, as
//! a `serde::Serialize` value.
//!
//! Why per name for plain tasks: a service spawns per-item tasks by the thousand (one per notification); a row each
//! would drown the loops an operator looks for, and registering each one would cost a lock and a map insert on the
//! spawn path. Per name it is one atomic increment, and the loops (one instance per name) still get exact start
//! times.
//!
//! The registry is global on purpose: an ops endpoint must see every task without the application threading a handle
//! through every call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::heartbeat::{self, LoopHealth};
use crate::sync::lock;
use crate::task_name::TaskName;

const N_SHARDS: usize = 16;

type Shard = Mutex<HashMap<u64, Record, BuildIdHasher>>;

static SHARDS: LazyLock<[Shard; N_SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashMap::with_hasher(BuildIdHasher))));

/// Ids are unique sequential integers chosen by us, so a multiplicative mix is a good enough (and much cheaper)
/// hash than SipHash; no outside input reaches these maps.
#[derive(Debug, Clone, Copy, Default)]
struct BuildIdHasher;

#[derive(Debug, Default)]
struct IdHasher(u64);

impl std::hash::BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
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
    /// Registry id (unique for the life of the process; plain tasks share one id per name).
    pub id: u64,
    /// Task name, as in logs and metric labels.
    pub name: TaskName,
    /// Plain task, supervised child or supervisor.
    pub kind: TaskKind,
    /// Current state.
    pub state: TaskState,
    /// How many instances run now (plain tasks: all tasks of this name; supervised: 0 or 1).
    pub running: u64,
    /// When the entry started, in milliseconds since the Unix epoch (plain tasks: since when at least one task of
    /// this name has been running without a pause, which for a single long-lived task is its start).
    pub started_at_unix_ms: u64,
    /// Seconds since `started_at_unix_ms`.
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
    let now_instant = Instant::now();
    let mut rows = Vec::new();
    for shard in SHARDS.iter() {
        for (id, record) in lock(shard).iter() {
            let shared = lock(&record.shared.state);
            let running = u64::from(shared.state == TaskState::Running);
            rows.push(Row {
                id: *id,
                name: record.name.clone(),
                kind: record.kind,
                state: shared.state,
                running,
                started: record.started,
                restarts: shared.restarts,
                last_error: shared.last_error.clone(),
            });
        }
    }
    for (name, stats) in lock(&BY_NAME).iter() {
        let running = stats.running.load(Ordering::Relaxed);
        if running > 0 {
            let since =
                EPOCHS.0 + Duration::from_nanos(stats.busy_since_nanos.load(Ordering::Relaxed));
            rows.push(Row {
                id: stats.id,
                name: name.clone(),
                kind: TaskKind::Task,
                state: TaskState::Running,
                running,
                started: since,
                restarts: 0,
                last_error: None,
            });
        }
    }
    let tasks = rows
        .into_iter()
        .map(|row| {
            let uptime = now_instant.saturating_duration_since(row.started);
            let started_at = now.checked_sub(uptime).unwrap_or(UNIX_EPOCH);
            TaskInfo {
                id: row.id,
                last_beat_age_seconds: health
                    .loops
                    .iter()
                    .find(|l| l.name == row.name)
                    .map(|l| l.age_seconds),
                name: row.name,
                kind: row.kind,
                state: row.state,
                running: row.running,
                started_at_unix_ms: started_at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                uptime_seconds: uptime.as_secs_f64(),
                restarts: row.restarts,
                last_error: row.last_error,
            }
        })
        .collect::<Vec<_>>();
    let mut tasks = tasks;
    tasks.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Snapshot {
        healthy: health.healthy,
        tasks,
        heartbeats: health.loops,
    }
}

struct Row {
    id: u64,
    name: TaskName,
    kind: TaskKind,
    state: TaskState,
    running: u64,
    started: Instant,
    restarts: u64,
    last_error: Option<String>,
}

/// A supervisor or supervised child, with the state it shares with its owner.
#[derive(Debug)]
struct Record {
    name: TaskName,
    kind: TaskKind,
    started: Instant,
    shared: Arc<Entry>,
}

/// One moment on both clocks: the OS clock (`std`) and the task clock (`quanta`, TSC-based where
/// available), so a task-clock reading converts to a `std` instant.
static EPOCHS: LazyLock<(Instant, quanta::Instant)> =
    LazyLock::new(|| (Instant::now(), quanta::Instant::now()));
static BY_NAME: LazyLock<Mutex<HashMap<TaskName, Arc<NameStats>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Past this many names, names with nothing running and no other holder are forgotten.
const MAX_NAMES: usize = 4096;

/// Running plain tasks of one name. Fetched once per name and thread (cached with the metric keys), then updated
/// with atomics only.
#[derive(Debug)]
pub(crate) struct NameStats {
    id: u64,
    running: AtomicU64,
    /// Nanoseconds after [`EPOCHS`] when `running` last went from 0 to 1.
    busy_since_nanos: AtomicU64,
}

impl NameStats {
    /// The shared counters of `name`.
    pub(crate) fn get(name: &TaskName) -> Arc<NameStats> {
        let mut by_name = lock(&BY_NAME);
        if let Some(stats) = by_name.get(name) {
            return Arc::clone(stats);
        }
        if by_name.len() >= MAX_NAMES {
            by_name.retain(|_, stats| {
                stats.running.load(Ordering::Relaxed) > 0 || Arc::strong_count(stats) > 1
            });
        }
        let stats = Arc::new(NameStats {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            running: AtomicU64::new(0),
            busy_since_nanos: AtomicU64::new(0),
        });
        by_name.insert(name.clone(), Arc::clone(&stats));
        stats
    }

    /// One more task of this name runs, since `started`.
    pub(crate) fn enter(&self, started: quanta::Instant) {
        if self.running.fetch_add(1, Ordering::Relaxed) == 0 {
            let since = u64::try_from(started.saturating_duration_since(EPOCHS.1).as_nanos())
                .unwrap_or(u64::MAX);
            self.busy_since_nanos.store(since, Ordering::Relaxed);
        }
    }

    /// One task of this name ended.
    pub(crate) fn exit(&self) {
        self.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Mutable state of a supervised child or supervisor, shared between its owner and the registry.
#[derive(Debug)]
pub(crate) struct Entry {
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

/// Keeps a record registered until dropped.
#[derive(Debug)]
struct Registration {
    id: u64,
}

impl Registration {
    fn insert(record: Record) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        lock(shard(id)).insert(id, record);
        Registration { id }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(shard(self.id)).remove(&self.id);
    }
}

/// Keeps a supervised child or supervisor registered until dropped, with state its owner updates.
#[derive(Debug)]
pub(crate) struct SharedRegistration {
    entry: Arc<Entry>,
    _registration: Registration,
}

impl SharedRegistration {
    pub(crate) fn new(name: TaskName, kind: TaskKind) -> Self {
        let entry = Arc::new(Entry {
            state: Mutex::new(EntryState {
                state: TaskState::Running,
                restarts: 0,
                last_error: None,
            }),
        });
        let record = Record {
            name,
            kind,
            started: Instant::now(),
            shared: Arc::clone(&entry),
        };
        SharedRegistration {
            entry,
            _registration: Registration::insert(record),
        }
    }

    pub(crate) fn entry(&self) -> &Arc<Entry> {
        &self.entry
    }
}

fn shard(id: u64) -> &'static Shard {
    // N_SHARDS is tiny, so the cast cannot truncate a meaningful value.
    &SHARDS[(id % N_SHARDS as u64) as usize]
}
