//! Test support: run a future on a current-thread runtime with a local metrics recorder and captured logs.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// What a test run observed.
pub(crate) struct Observed {
    snapshotter: Snapshotter,
    logs: Arc<Mutex<Vec<u8>>>,
}

impl Observed {
    /// All log lines so far.
    pub(crate) fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }

    /// Takes a snapshot of every metric (the debugging recorder resets values on snapshot).
    pub(crate) fn metrics(&self) -> Metrics {
        Metrics(
            self.snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| {
                    let key = key.key();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    (key.name().to_owned(), labels, value)
                })
                .collect(),
        )
    }
}

/// One metric: name, labels, value.
type Sample = (String, Vec<(String, String)>, DebugValue);

/// A metrics snapshot.
pub(crate) struct Metrics(Vec<Sample>);

impl Metrics {
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0
            .iter()
            .find(|(n, ls, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| v)
    }

    /// A counter's value (0 when never incremented).
    pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    /// A gauge's value (0 when never set).
    pub(crate) fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels) {
            Some(DebugValue::Gauge(v)) => v.0,
            None => 0.0,
            Some(other) => panic!("{name} is not a gauge: {other:?}"),
        }
    }

    /// How many values a histogram recorded.
    pub(crate) fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        match self.find(name, labels) {
            Some(DebugValue::Histogram(v)) => v.len(),
            None => 0,
            Some(other) => panic!("{name} is not a histogram: {other:?}"),
        }
    }
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `test` on a current-thread runtime (so the thread-local recorder and subscriber see every task), with time
/// paused when `paused` (timers then fire as soon as the runtime is idle).
pub(crate) fn observe<F, Fut>(paused: bool, test: F) -> Observed
where
    F: FnOnce(ObservedRef) -> Fut,
    Fut: Future<Output = ()>,
{
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let capture = Capture(Arc::clone(&logs));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || capture.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let observed = Observed { snapshotter, logs };
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if paused {
        builder.start_paused(true);
    }
    let runtime = builder.build().unwrap();
    let handle = ObservedRef {
        snapshotter: observed.snapshotter.clone(),
        logs: Arc::clone(&observed.logs),
    };
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || runtime.block_on(test(handle)));
    });
    drop(runtime);
    observed
}

/// Access to the observations from inside the test future.
pub(crate) struct ObservedRef {
    snapshotter: Snapshotter,
    logs: Arc<Mutex<Vec<u8>>>,
}

impl ObservedRef {
    /// See [`Observed::metrics`].
    pub(crate) fn metrics(&self) -> Metrics {
        Observed {
            snapshotter: self.snapshotter.clone(),
            logs: Arc::clone(&self.logs),
        }
        .metrics()
    }
}

/// Lets spawned tasks run until the runtime is idle.
pub(crate) async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
