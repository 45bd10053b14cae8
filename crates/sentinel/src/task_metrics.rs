//! Pre-built metric keys per task name, so an observed spawn records its five metric updates without allocating.
//!
//! The `metrics` macros build a `Key` (a `Vec` of labels plus a hash) on every call when a label is dynamic. Keys
//! do not depend on the recorder, so sentinel builds them once per task name and looks them up in a small cache;
//! recording then goes through [`metrics::with_recorder`], exactly like the macros (a test's local recorder still
//! sees everything).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use metrics::{Key, Label, Level, Metadata};

use crate::metric_names;
use crate::registry::NameStats;
use crate::task_name::TaskName;

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Names are expected to be few and stable; past this many distinct names the cache is cleared rather than grown.
const MAX_CACHED: usize = 1024;

thread_local! {
    /// Per thread, so the spawn path takes no lock; keys are plain data, so each thread building its own is fine.
    static CACHE: RefCell<HashMap<TaskName, Arc<TaskKeys>, FastHash>> = const { RefCell::new(HashMap::with_hasher(FastHash)) };
    /// The keys used last on this thread: a loop spawning one name per item skips the hash lookup.
    static LAST: RefCell<Option<(TaskName, Arc<TaskKeys>)>> = const { RefCell::new(None) };
}

/// A cheap FNV-style hasher for the cache: task names come from code, not from outside input, so SipHash's
/// flooding resistance buys nothing here.
#[derive(Debug, Clone, Copy, Default)]
struct FastHash;

#[derive(Debug)]
struct FastHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(23);
        }
        for byte in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The outcomes of `sentinel_task_finished_total`, in the order of [`TaskKeys::finished`].
pub(crate) const OUTCOMES: [&str; 5] = ["ok", "error", "panic", "cancelled", "timeout"];

/// Metric keys of one task name.
#[derive(Debug)]
pub(crate) struct TaskKeys {
    /// The registry's running count for this name.
    pub(crate) stats: Arc<NameStats>,
    started: Key,
    running: Key,
    duration: Key,
    finished: [Key; 5],
}

impl TaskKeys {
    fn new(name: &TaskName) -> Self {
        let task = || Label::new("task", name.label());
        TaskKeys {
            stats: NameStats::get(name),
            started: Key::from_parts(metric_names::TASK_STARTED, vec![task()]),
            running: Key::from_parts(metric_names::TASKS_RUNNING, vec![task()]),
            duration: Key::from_parts(metric_names::TASK_DURATION, vec![task()]),
            finished: OUTCOMES.map(|outcome| {
                Key::from_parts(
                    metric_names::TASK_FINISHED,
                    vec![task(), Label::new("outcome", outcome)],
                )
            }),
        }
    }

    /// The keys for `name`, built on first use.
    pub(crate) fn get(name: &TaskName) -> Arc<TaskKeys> {
        let last = LAST.try_with(|last| match &*last.borrow() {
            Some((last_name, keys)) if last_name == name => Some(Arc::clone(keys)),
            _ => None,
        });
        if let Ok(Some(keys)) = last {
            return keys;
        }
        let keys = Self::lookup(name);
        // Only during thread teardown is the slot gone; the next call then looks up again.
        let _ = LAST.try_with(|last| *last.borrow_mut() = Some((name.clone(), Arc::clone(&keys))));
        keys
    }

    /// The keys for `name` from the per-thread map, built on first use.
    fn lookup(name: &TaskName) -> Arc<TaskKeys> {
        let cached = CACHE.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(keys) = cache.get(name) {
                return Arc::clone(keys);
            }
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            Arc::clone(
                cache
                    .entry(name.clone())
                    .or_insert_with(|| Arc::new(TaskKeys::new(name))),
            )
        });
        // Only during thread teardown is the cache gone; build the keys without caching then.
        cached.unwrap_or_else(|_| Arc::new(TaskKeys::new(name)))
    }

    pub(crate) fn record_start(&self) {
        metrics::with_recorder(|r| {
            r.register_counter(&self.started, &METADATA).increment(1);
            r.register_gauge(&self.running, &METADATA).increment(1.0);
        });
    }

    /// Records the end of a run; `outcome` indexes [`OUTCOMES`].
    pub(crate) fn record_finish(&self, outcome: usize, seconds: f64) {
        metrics::with_recorder(|r| {
            if let Some(key) = self.finished.get(outcome) {
                r.register_counter(key, &METADATA).increment(1);
            }
            r.register_gauge(&self.running, &METADATA).decrement(1.0);
            r.register_histogram(&self.duration, &METADATA)
                .record(seconds);
        });
    }
}

/// The index in [`OUTCOMES`] of an outcome label.
pub(crate) fn outcome_index(outcome: &str) -> usize {
    OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(1)
}
