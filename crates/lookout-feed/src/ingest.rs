//! The per-connection pipeline every source shares: line → `ais::Decoder` → [`adapt`] →
//! bounded channel, counting everything on the way (metrics, registry, [`FeedStats`]).
//!
//! One [`Ingest`] per connection: multipart reassembly and `$PGHP` pairing are per stream,
//! so two receivers' fragments can never be glued together.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::Observation;
use metrics::Counter;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::adapter::{Adapted, EventClock, adapt_at};
use crate::registry::ConnectionHandle;

/// Counters of one source (summed over its connections), e.g. for `lookout replay`'s summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedStats {
    /// Bytes received.
    pub bytes: u64,
    /// Lines received (AIS or not, valid or not).
    pub lines: u64,
    /// AIS sentences that decoded or were buffered as a fragment.
    pub sentences_ok: u64,
    /// Lines that were neither AIS nor a receiver timestamp (e.g. GNSS sentences).
    pub lines_ignored: u64,
    /// Lines longer than the limit, discarded.
    pub lines_too_long: u64,
    /// Decode errors by kind (`checksum`, `bad_field`, ...).
    pub errors: BTreeMap<&'static str, u64>,
    /// Decoded messages by AIS message type.
    pub messages: BTreeMap<u8, u64>,
    /// Observations handed to the tracker.
    pub observations: u64,
    /// Base station reports (type 4), never observations.
    pub base_stations: u64,
    /// Aid-to-navigation reports (type 21), never observations.
    pub aids_to_navigation: u64,
    /// Messages of types the tracker does not use.
    pub skipped: u64,
    /// Live-clock observations whose receiver time was off ingest time by more than the skew
    /// and were re-timed to ingest time.
    pub clock_skew: u64,
}

impl FeedStats {
    /// Adds another connection's counters.
    pub fn merge(&mut self, other: &FeedStats) {
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.sentences_ok += other.sentences_ok;
        self.lines_ignored += other.lines_ignored;
        self.lines_too_long += other.lines_too_long;
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in &other.messages {
            *self.messages.entry(*k).or_default() += v;
        }
        self.observations += other.observations;
        self.base_stations += other.base_stations;
        self.aids_to_navigation += other.aids_to_navigation;
        self.skipped += other.skipped;
        self.clock_skew += other.clock_skew;
    }

    /// Total decode errors plus over-long lines.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.lines_too_long
    }
}

/// The receiver of the observations went away (the pipeline is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// Replays at a multiple of real time, using the observations' receiver timestamps.
#[derive(Debug)]
pub(crate) struct Pacer {
    speed: f64,
    origin: Option<(Timestamp, Instant)>,
}

impl Pacer {
    pub(crate) fn new(speed: f64) -> Pacer {
        Pacer {
            speed,
            origin: None,
        }
    }

    /// Waits until the wall-clock moment that corresponds to `at`.
    async fn wait_for(&mut self, at: Timestamp) {
        let (t0, w0) = *self.origin.get_or_insert((at, Instant::now()));
        let ahead_ms = at.as_millisecond() - t0.as_millisecond();
        if ahead_ms <= 0 {
            return;
        }
        let wall = Duration::from_secs_f64(ahead_ms as f64 / 1000.0 / self.speed);
        tokio::time::sleep_until(w0 + wall).await;
    }
}

/// Metric handles of one source, built once (labels allocate; sentences must not).
#[derive(Debug)]
struct Meters {
    source: Arc<str>,
    ok: Counter,
    partial: Counter,
    ignored: Counter,
    too_long: Counter,
    bytes: Counter,
    errors: BTreeMap<&'static str, Counter>,
    types: BTreeMap<u8, Counter>,
}

impl Meters {
    fn new(source: Arc<str>) -> Meters {
        let result = |r: &'static str| metrics::counter!("lookout_ais_sentences_total", "source" => source.to_string(), "result" => r);
        Meters {
            ok: result("ok"),
            partial: result("partial"),
            ignored: result("ignored"),
            too_long: result("too_long"),
            bytes: metrics::counter!("lookout_feed_bytes_total", "source" => source.to_string()),
            errors: BTreeMap::new(),
            types: BTreeMap::new(),
            source,
        }
    }

    fn error(&mut self, kind: &'static str) {
        let source = &self.source;
        self.errors
            .entry(kind)
            .or_insert_with(|| {
                metrics::counter!("lookout_ais_sentences_total", "source" => source.to_string(), "result" => kind)
            })
            .increment(1);
    }

    fn message(&mut self, msg_type: u8) {
        self.types
            .entry(msg_type)
            .or_insert_with(
                || metrics::counter!("lookout_ais_messages_total", "type" => msg_type.to_string()),
            )
            .increment(1);
    }
}

/// One connection's decoder, counters and output.
#[derive(Debug)]
pub(crate) struct Ingest {
    decoder: ais::Decoder,
    conn: ConnectionHandle,
    out: mpsc::Sender<Observation>,
    meters: Meters,
    pub(crate) stats: FeedStats,
    pacer: Option<Pacer>,
    clock: EventClock,
    skew_logged: Option<Instant>,
}

impl Ingest {
    pub(crate) fn new(
        source: Arc<str>,
        conn: ConnectionHandle,
        out: mpsc::Sender<Observation>,
    ) -> Ingest {
        Ingest {
            decoder: ais::Decoder::new(),
            conn,
            out,
            meters: Meters::new(source),
            stats: FeedStats::default(),
            pacer: None,
            clock: EventClock::new(lookout_core::ClockMode::Live),
            skew_logged: None,
        }
    }

    /// Times observations by `mode` (default `live`; file sources use `data`).
    pub(crate) fn with_clock(mut self, mode: lookout_core::ClockMode) -> Ingest {
        self.clock = EventClock::new(mode);
        self
    }

    /// Counts a re-timed observation; logs at most once a minute per connection.
    fn clock_skewed(&mut self, offset_ms: i64) {
        self.stats.clock_skew += 1;
        metrics::counter!("lookout_feed_clock_skew_total", "source" => self.meters.source.to_string())
            .increment(1);
        if self
            .skew_logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.skew_logged = Some(Instant::now());
            tracing::warn!(
                target: "lookout_feed",
                source = %self.meters.source,
                offset_seconds = offset_ms / 1000,
                "receiver clock off ingest time beyond the allowed skew; re-timed to ingest time (clock_skew)"
            );
        }
    }

    /// Paces observations at `speed` times real time (file replay).
    pub(crate) fn with_pacer(mut self, pacer: Pacer) -> Ingest {
        self.pacer = Some(pacer);
        self
    }

    /// Counts bytes read from the connection.
    pub(crate) fn bytes(&mut self, n: usize) {
        self.stats.bytes += n as u64;
        self.meters.bytes.increment(n as u64);
        self.conn.add_bytes(n as u64);
    }

    /// Counts a line that was too long and discarded.
    pub(crate) fn too_long(&mut self, len: usize) {
        self.stats.lines += 1;
        self.stats.lines_too_long += 1;
        self.meters.too_long.increment(1);
        self.conn.add_error();
        tracing::debug!(target: "lookout_feed", source = %self.meters.source, len, "over-long line discarded");
    }

    /// Decodes one line and forwards what it yields; waits when the channel is full.
    ///
    /// # Cancel safety
    /// Not cancel safe: an observation may be lost if cancelled while waiting for channel space.
    pub(crate) async fn line(&mut self, line: &[u8]) -> Result<(), Closed> {
        self.stats.lines += 1;
        let decoded = match crate::decode::decode_line(&mut self.decoder, line) {
            crate::decode::Decoded::Message(meta, message) => {
                self.conn.add_sentence();
                self.stats.sentences_ok += 1;
                self.meters.ok.increment(1);
                (meta, message)
            }
            crate::decode::Decoded::Pending => {
                self.conn.add_sentence();
                self.stats.sentences_ok += 1;
                self.meters.partial.increment(1);
                return Ok(());
            }
            crate::decode::Decoded::Ignored => {
                self.stats.lines_ignored += 1;
                self.meters.ignored.increment(1);
                return Ok(());
            }
            crate::decode::Decoded::Error(err) => {
                self.conn.add_sentence();
                let kind = err.kind();
                *self.stats.errors.entry(kind).or_default() += 1;
                self.meters.error(kind);
                self.conn.add_error();
                tracing::trace!(target: "lookout_feed", source = %self.meters.source, error = %err, "undecodable sentence");
                return Ok(());
            }
        };
        let (meta, message) = decoded;
        let msg_type = message.msg_type();
        *self.stats.messages.entry(msg_type).or_default() += 1;
        self.meters.message(msg_type);
        let timed = self.clock.time(&meta, Timestamp::now());
        if let Some(offset_ms) = timed.retimed_ms {
            self.clock_skewed(offset_ms);
        }
        match adapt_at(&message, timed.at) {
            Adapted::One(obs) => self.send(obs, meta.receiver_time_ms().is_some()).await,
            Adapted::Two(a, b) => {
                let timed = meta.receiver_time_ms().is_some();
                self.send(a, timed).await?;
                self.send(b, timed).await
            }
            Adapted::BaseStation => {
                self.stats.base_stations += 1;
                Ok(())
            }
            Adapted::AidToNavigation => {
                self.stats.aids_to_navigation += 1;
                Ok(())
            }
            Adapted::Skipped(_) => {
                self.stats.skipped += 1;
                Ok(())
            }
        }
    }

    async fn send(&mut self, obs: Observation, timed: bool) -> Result<(), Closed> {
        if let (true, Some(pacer)) = (timed, self.pacer.as_mut()) {
            pacer.wait_for(obs.at).await;
        }
        self.out.send(obs).await.map_err(|_| Closed)?;
        self.stats.observations += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;
    use crate::registry::{ConnectionRegistry, Direction};

    /// (name, sorted labels) → counter value.
    type Counters = BTreeMap<(String, Vec<(String, String)>), u64>;

    fn counters(recorder: &DebuggingRecorder) -> Counters {
        recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let DebugValue::Counter(n) = value else {
                    return None;
                };
                let key = key.key();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                Some(((key.name().to_owned(), labels), n))
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_line_is_counted_under_its_source_and_result() {
        let recorder = DebuggingRecorder::new();
        let registry = ConnectionRegistry::new();
        let (tx, mut rx) = mpsc::channel(8);
        let stats = metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let conn = registry.register("hub", "127.0.0.1:1", Direction::Outbound);
                let mut ingest = Ingest::new(Arc::from("hub"), conn, tx);
                ingest.bytes(300);
                for line in [
                    &b"$PGHP,1,2010,6,11,11,46,11,390,231,45,992190934,1,2B*5B"[..],
                    b"!AIVDM,1,1,,B,402=481uaUcf;OQ55JS9ITi025Jp,0*2B",
                    b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5F",
                    b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*00",
                ] {
                    ingest.line(line).await.unwrap();
                }
                ingest.too_long(5000);
                ingest.stats.clone()
            })
        });
        let got = counters(&recorder);
        let sentences = |result: &str| {
            got.get(&(
                "lookout_ais_sentences_total".to_owned(),
                labels(&[("result", result), ("source", "hub")]),
            ))
            .copied()
        };
        assert_eq!(sentences("ignored"), Some(1), "{got:?}");
        assert_eq!(sentences("ok"), Some(2), "{got:?}");
        assert_eq!(sentences("checksum"), Some(1));
        assert_eq!(sentences("too_long"), Some(1));
        let messages = |ty: &str| {
            got.get(&(
                "lookout_ais_messages_total".to_owned(),
                labels(&[("type", ty)]),
            ))
            .copied()
        };
        assert_eq!((messages("1"), messages("4")), (Some(1), Some(1)));
        assert_eq!(
            got.get(&(
                "lookout_feed_bytes_total".to_owned(),
                labels(&[("source", "hub")])
            )),
            Some(&300)
        );
        // Only the type 1 became an observation; the type 4 was counted as a base station.
        assert_eq!((stats.observations, stats.base_stations), (1, 1));
        assert_eq!(rx.try_recv().unwrap().mmsi, 366_053_209);
        assert_eq!(stats.error_count(), 2);
    }
}
