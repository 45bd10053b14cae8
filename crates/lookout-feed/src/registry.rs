//! The connections registry: every live feed connection, its counters and its age, for
//! `/connections`, plus the state of every configured source (for `/readyz`).
//!
//! A connection is registered by [`ConnectionRegistry::register`] and stays listed exactly as
//! long as the returned [`ConnectionHandle`] lives, so a connection task that ends for any
//! reason (error, panic, shutdown) disappears from the list. Counters are atomics: updating
//! them on every sentence costs no lock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use jiff::Timestamp;
use serde::Serialize;

/// Which way a connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We dialled a feed (TCP client source).
    Outbound,
    /// A receiver connected to us (TCP server source).
    Inbound,
    /// Datagrams from one UDP peer.
    Datagram,
    /// A file being replayed.
    File,
}

/// What a configured source is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Dialling, binding or opening.
    Starting,
    /// Connected, listening or reading.
    Up,
    /// Waiting before the next dial after a failure.
    Backoff,
    /// Finished (a file at its end, or shut down).
    Stopped,
}

/// One connection as served at `/connections`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionSnapshot {
    /// Registry id, unique for the life of the process.
    pub id: u64,
    /// Name of the source the connection belongs to (the metric label).
    pub source: String,
    /// Remote address, or the file path.
    pub peer: String,
    /// Which way the connection was made.
    pub direction: Direction,
    /// When the connection was established.
    pub since: Timestamp,
    /// AIS sentences received, valid or not (other lines, such as `$PGHP`, are not counted).
    pub sentences: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Lines that did not decode, over-long lines and other errors.
    pub errors: u64,
    /// Seconds since the last sentence; `None` before the first.
    pub last_sentence_age_seconds: Option<f64>,
}

/// One configured source as served with the connections (for `/readyz`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSnapshot {
    /// Source name.
    pub source: String,
    /// What it is doing.
    pub state: SourceState,
    /// Dial attempts after the first (TCP client): every failed dial and every lost connection.
    pub reconnects: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Everything the registry knows, as one serialisable value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistrySnapshot {
    /// Configured sources, by name.
    pub sources: Vec<SourceSnapshot>,
    /// Live connections, oldest first.
    pub connections: Vec<ConnectionSnapshot>,
}

#[derive(Debug)]
struct ConnectionEntry {
    source: Arc<str>,
    peer: String,
    direction: Direction,
    since: Timestamp,
    opened: Instant,
    sentences: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    /// Milliseconds after `opened` of the last sentence, plus one; 0 = none yet.
    last_sentence_ms: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    connections: BTreeMap<u64, Arc<ConnectionEntry>>,
    sources: BTreeMap<String, SourceSnapshot>,
}

/// The shared list of live connections and sources. Cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct ConnectionRegistry {
    inner: Arc<Mutex<Inner>>,
}

impl ConnectionRegistry {
    /// An empty registry.
    pub fn new() -> ConnectionRegistry {
        ConnectionRegistry::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (single inserts
        // and removes), so a poisoned lock is still safe to use.
        sentinel::sync::lock(&self.inner)
    }

    /// Registers a connection; it is listed until the handle is dropped.
    pub fn register(
        &self,
        source: &str,
        peer: impl Into<String>,
        direction: Direction,
    ) -> ConnectionHandle {
        let entry = Arc::new(ConnectionEntry {
            source: Arc::from(source),
            peer: peer.into(),
            direction,
            since: Timestamp::now(),
            opened: Instant::now(),
            sentences: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_sentence_ms: AtomicU64::new(0),
        });
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.connections.insert(id, Arc::clone(&entry));
        ConnectionHandle {
            id,
            entry,
            registry: self.clone(),
        }
    }

    /// Records a source's state (creating its entry on first use).
    pub fn set_source_state(&self, source: &str, state: SourceState, last_error: Option<String>) {
        let mut inner = self.lock();
        let entry = inner
            .sources
            .entry(source.to_owned())
            .or_insert_with(|| SourceSnapshot {
                source: source.to_owned(),
                state,
                reconnects: 0,
                last_error: None,
            });
        entry.state = state;
        if last_error.is_some() {
            entry.last_error = last_error;
        }
    }

    /// Counts one reconnect of a source.
    pub(crate) fn count_reconnect(&self, source: &str) {
        let mut inner = self.lock();
        if let Some(entry) = inner.sources.get_mut(source) {
            entry.reconnects += 1;
        }
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.lock().connections.len()
    }

    /// True when no connection is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live connections, oldest first.
    pub fn connections(&self) -> Vec<ConnectionSnapshot> {
        let entries: Vec<(u64, Arc<ConnectionEntry>)> = self
            .lock()
            .connections
            .iter()
            .map(|(id, e)| (*id, Arc::clone(e)))
            .collect();
        entries
            .into_iter()
            .map(|(id, e)| snapshot_of(id, &e))
            .collect()
    }

    /// Sources and connections, for `/connections`.
    pub fn snapshot(&self) -> RegistrySnapshot {
        let sources = self.lock().sources.values().cloned().collect();
        RegistrySnapshot {
            sources,
            connections: self.connections(),
        }
    }

    fn remove(&self, id: u64) {
        self.lock().connections.remove(&id);
    }
}

fn snapshot_of(id: u64, e: &ConnectionEntry) -> ConnectionSnapshot {
    let last = e.last_sentence_ms.load(Ordering::Relaxed);
    let last_sentence_age_seconds = (last > 0).then(|| {
        let now_ms = e.opened.elapsed().as_millis() as u64;
        now_ms.saturating_sub(last - 1) as f64 / 1000.0
    });
    ConnectionSnapshot {
        id,
        source: e.source.to_string(),
        peer: e.peer.clone(),
        direction: e.direction,
        since: e.since,
        sentences: e.sentences.load(Ordering::Relaxed),
        bytes: e.bytes.load(Ordering::Relaxed),
        errors: e.errors.load(Ordering::Relaxed),
        last_sentence_age_seconds,
    }
}

/// A registered connection; dropping it removes the connection from the registry.
#[derive(Debug)]
pub struct ConnectionHandle {
    id: u64,
    entry: Arc<ConnectionEntry>,
    registry: ConnectionRegistry,
}

impl ConnectionHandle {
    /// The registry id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Counts received bytes.
    pub fn add_bytes(&self, n: u64) {
        self.entry.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one sentence and stamps its arrival.
    pub fn add_sentence(&self) {
        self.entry.sentences.fetch_add(1, Ordering::Relaxed);
        let ms = self.entry.opened.elapsed().as_millis() as u64 + 1;
        self.entry.last_sentence_ms.store(ms, Ordering::Relaxed);
    }

    /// Counts one error.
    pub fn add_error(&self) {
        self.entry.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The connection's current snapshot.
    pub fn snapshot(&self) -> ConnectionSnapshot {
        snapshot_of(self.id, &self.entry)
    }
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// Formats a socket address for the registry.
pub(crate) fn peer_name(addr: SocketAddr) -> String {
    addr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_listed_while_its_handle_lives() {
        let registry = ConnectionRegistry::new();
        let handle = registry.register("feed", "127.0.0.1:4001", Direction::Outbound);
        assert!(handle.snapshot().last_sentence_age_seconds.is_none());
        handle.add_bytes(42);
        handle.add_sentence();
        handle.add_error();
        let snap = registry.snapshot();
        assert_eq!(snap.connections.len(), 1);
        let c = &snap.connections[0];
        assert_eq!((c.sentences, c.bytes, c.errors), (1, 42, 1));
        assert!(c.last_sentence_age_seconds.is_some());
        drop(handle);
        assert!(registry.is_empty());
    }

    #[test]
    fn the_snapshot_serialises_for_the_connections_endpoint() {
        let registry = ConnectionRegistry::new();
        registry.set_source_state("feed", SourceState::Up, None);
        let _handle = registry.register("feed", "10.0.0.7:50123", Direction::Inbound);
        let json = serde_json::to_value(registry.snapshot()).unwrap();
        assert_eq!(json["sources"][0]["state"], "up");
        let c = &json["connections"][0];
        assert_eq!(c["peer"], "10.0.0.7:50123");
        assert_eq!(c["direction"], "inbound");
        assert_eq!(c["sentences"], 0);
        assert!(c["last_sentence_age_seconds"].is_null());
        assert!(c["since"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn source_state_records_reconnects_and_last_error() {
        let registry = ConnectionRegistry::new();
        registry.set_source_state("feed", SourceState::Starting, None);
        registry.count_reconnect("feed");
        registry.set_source_state("feed", SourceState::Backoff, Some("refused".into()));
        registry.set_source_state("feed", SourceState::Up, None);
        let s = &registry.snapshot().sources[0];
        assert_eq!(s.state, SourceState::Up);
        assert_eq!(s.reconnects, 1);
        assert_eq!(s.last_error.as_deref(), Some("refused"));
    }
}
