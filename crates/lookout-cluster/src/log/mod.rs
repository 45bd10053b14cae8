//! The observation log on NATS JetStream: one stream, one subject per partition (`<prefix>.<partition>`), the
//! partition of a vessel a stable hash of its MMSI ([`partition_of`]).
//!
//! - [`ObservationLog::open`] creates the stream, or checks an existing one: the partition count is recorded in
//!   the stream's description (JetStream 2.9 has no stream metadata), and a different count is refused
//!   ([`LogError::LayoutMismatch`]).
//! - [`Publisher`]: at-least-once publishing with `Nats-Msg-Id` de-duplication, a bound on outstanding acks
//!   (back-pressure), a timeout on every send and ack, and retries with the same id.
//! - [`PartitionConsumer`]: an ordered consumer of one partition from a given sequence, exposing its lag (the
//!   consumer's pending count).
//!
//! Records are [`LogRecord`]s encoded as JSON; the observation payload is a type parameter, so this module does
//! not depend on the tracker's types.

mod consumer;
mod publisher;

use std::time::Duration;

use async_nats::jetstream;
use serde::{Deserialize, Serialize};

pub use consumer::{DecodeError, Entry, PartitionConsumer};
pub use publisher::{PublishStats, Publisher, PublisherConfig};

/// The partition of a vessel: 32-bit FNV-1a over the ASCII decimal digits of the MMSI (no leading zeros, no
/// sign), modulo `partitions`.
///
/// **This function must never change**: the partition of every vessel, the checkpoints keyed by partition and the
/// messages already in the stream depend on it. `partitions` must be at least 1 (0 is treated as 1).
///
/// ```
/// use lookout_cluster::log::partition_of;
/// assert_eq!(partition_of(219_000_000, 64), partition_of(219_000_000, 64));
/// assert!(partition_of(366_999_999, 64) < 64);
/// ```
pub fn partition_of(mmsi: u32, partitions: u32) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut digits = [0u8; 10];
    let mut n = mmsi;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut hash = OFFSET;
    for digit in digits[..len].iter().rev() {
        hash ^= u32::from(*digit);
        hash = hash.wrapping_mul(PRIME);
    }
    hash % partitions.max(1)
}

/// One record of the log. The tracker's clock advances only from records of its partition, so a replay from a
/// checkpoint sees the same times in the same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogRecord<O> {
    /// One decoded observation (the tracker's type, opaque here).
    Observation {
        /// The observation.
        observation: O,
    },
    /// A watermark: the feed is up and ingest time is `ingest_time`; published into every partition.
    Tick {
        /// Ingest's clock when the tick was published.
        ingest_time: jiff::Timestamp,
    },
    /// A feed went down at `at` (the tracker suspends gap timers).
    FeedDown {
        /// The feed's name.
        source: String,
        /// When ingest noticed.
        at: jiff::Timestamp,
    },
    /// A feed is up again at `at`.
    FeedUp {
        /// The feed's name.
        source: String,
        /// When ingest noticed.
        at: jiff::Timestamp,
    },
    /// Tracking resumes at `at` after an outage of ingest itself.
    Resume {
        /// When ingest resumed.
        at: jiff::Timestamp,
    },
    /// The tracking configuration (areas, gap thresholds, dwells) in force from this record on,
    /// by the id under which it is stored: a model change takes effect at a recorded position
    /// of each partition, so a replay applies it at the same point.
    Reconfigure {
        /// The stored configuration's id (a hash of its content).
        spec: String,
    },
}

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The stream records another partition count (or none: not a Lookout stream).
    #[error(
        "stream {stream} records {recorded} but this instance is configured with {configured} partitions; \
         the partition count is fixed when the stream is created: configure the recorded count, or use a new stream"
    )]
    LayoutMismatch {
        /// The stream's name.
        stream: String,
        /// What its description records.
        recorded: String,
        /// The configured count.
        configured: u32,
    },
    /// A configuration value is unusable.
    #[error("invalid log configuration: {0}")]
    Config(String),
    /// Connecting to NATS failed.
    #[error("could not connect to nats at {url}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A JetStream API request (stream or consumer management) failed.
    #[error("jetstream: {op} failed")]
    Api {
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: async_nats::Error,
    },
    /// A publish was not acknowledged after every attempt.
    #[error("publish of {msg_id} to {subject} failed after {attempts} attempts")]
    Publish {
        /// The subject.
        subject: String,
        /// The message id.
        msg_id: String,
        /// How many sends were tried.
        attempts: u32,
        /// The last cause.
        #[source]
        source: async_nats::Error,
    },
    /// A record could not be encoded.
    #[error("log record for {msg_id} does not encode")]
    Encode {
        /// The message id.
        msg_id: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Reading a partition failed (the consumer is recreated from the next sequence at the next call).
    #[error("consuming {subject} from sequence {next_seq} failed")]
    Consume {
        /// The subject.
        subject: String,
        /// The next sequence wanted.
        next_seq: u64,
        /// The cause.
        #[source]
        source: async_nats::Error,
    },
    /// An operation did not finish in time.
    #[error("jetstream: {op} timed out after {after:?}")]
    TimedOut {
        /// What was being done.
        op: &'static str,
        /// The bound.
        after: Duration,
    },
}

impl LogError {
    /// `true` when trying again later may succeed (NATS unreachable, slow, restarting).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. }
                | Self::Api { .. }
                | Self::Publish { .. }
                | Self::Consume { .. }
                | Self::TimedOut { .. }
        )
    }
}

/// Where the log lives and its shape.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// The stream's name (default `LOOKOUT_OBS`).
    pub stream: String,
    /// The subject prefix: partition `p` is `<prefix>.<p>` (default `lookout.obs`).
    pub subject_prefix: String,
    /// The partition count `P` (default 64), fixed when the stream is created.
    pub partitions: u32,
    /// The de-duplication window of `Nats-Msg-Id` (default 2 minutes).
    pub duplicate_window: Duration,
    /// How long records are kept (default 7 days; zero keeps them until the limits of the server).
    pub max_age: Duration,
    /// JetStream replicas (default 1; 3 on a three-node cluster).
    pub replicas: usize,
    /// Bound on every JetStream API request and on stream checks (default 5 s).
    pub request_timeout: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            stream: "LOOKOUT_OBS".to_owned(),
            subject_prefix: "lookout.obs".to_owned(),
            partitions: 64,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            replicas: 1,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl LogConfig {
    /// The subject of partition `partition`.
    pub fn subject(&self, partition: u32) -> String {
        format!("{}.{partition}", self.subject_prefix)
    }

    /// The description recorded in the stream: the partition count travels in it.
    fn description(&self) -> String {
        format!(
            "lookout observation log; partitions={}; subjects={}.<partition>",
            self.partitions, self.subject_prefix
        )
    }
}

/// Connects to NATS with bounded connection and request timeouts; the client then reconnects by itself forever
/// (a lost connection shows in [`async_nats::Client::connection_state`]).
///
/// # Cancel safety
///
/// Cancelled, no connection is kept.
pub async fn connect(
    url: &str,
    name: &str,
    timeout: Duration,
) -> Result<async_nats::Client, LogError> {
    let connect = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(timeout)
        .request_timeout(Some(timeout))
        .connect(url);
    match tokio::time::timeout(timeout + Duration::from_secs(1), connect).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(source)) => Err(LogError::Connect {
            url: url.to_owned(),
            source,
        }),
        Err(_) => Err(LogError::TimedOut {
            op: "connect",
            after: timeout,
        }),
    }
}

/// The opened log: a JetStream context and the checked stream.
#[derive(Debug, Clone)]
pub struct ObservationLog {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    config: LogConfig,
}

impl ObservationLog {
    /// Creates the stream when missing, or checks that the existing one records the configured partition count
    /// and subjects.
    ///
    /// # Cancel safety
    ///
    /// Cancelled, the stream may or may not have been created; opening again is safe.
    pub async fn open(client: async_nats::Client, config: LogConfig) -> Result<Self, LogError> {
        if config.partitions == 0 {
            return Err(LogError::Config(
                "the partition count must be at least 1".to_owned(),
            ));
        }
        if config.subject_prefix.is_empty() || config.subject_prefix.contains(['*', '>', ' ']) {
            return Err(LogError::Config(format!(
                "subject prefix {:?} must be a plain subject (no wildcards or spaces)",
                config.subject_prefix
            )));
        }
        let js = jetstream::ContextBuilder::new()
            .timeout(config.request_timeout)
            .build(client);
        let wanted = jetstream::stream::Config {
            name: config.stream.clone(),
            description: Some(config.description()),
            subjects: vec![format!("{}.*", config.subject_prefix)],
            storage: jetstream::stream::StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            max_age: config.max_age,
            ..Default::default()
        };
        let stream = bounded(
            "open the stream",
            config.request_timeout,
            js.get_or_create_stream(wanted),
        )
        .await?;
        let info = &stream.cached_info().config;
        let recorded = info.description.clone().unwrap_or_default();
        let recorded_partitions = recorded
            .split(';')
            .find_map(|part| part.trim().strip_prefix("partitions="))
            .and_then(|n| n.trim().parse::<u32>().ok());
        let subjects_ok = info.subjects == [format!("{}.*", config.subject_prefix)];
        if recorded_partitions != Some(config.partitions) || !subjects_ok {
            return Err(LogError::LayoutMismatch {
                stream: config.stream.clone(),
                recorded: format!("{recorded:?} with subjects {:?}", info.subjects),
                configured: config.partitions,
            });
        }
        Ok(Self { js, stream, config })
    }

    /// The configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// A publisher of records with observation type `O`.
    pub fn publisher<O: Serialize>(&self, config: PublisherConfig) -> Publisher<O> {
        Publisher::new(self.js.clone(), self.config.clone(), config)
    }

    /// A consumer of partition `partition` starting after `after_seq` (the last applied stream sequence; 0 reads
    /// from the beginning).
    pub fn consumer<O: serde::de::DeserializeOwned>(
        &self,
        partition: u32,
        after_seq: u64,
    ) -> Result<PartitionConsumer<O>, LogError> {
        if partition >= self.config.partitions {
            return Err(LogError::Config(format!(
                "partition {partition} is out of range (the log has {})",
                self.config.partitions
            )));
        }
        Ok(PartitionConsumer::new(
            self.stream.clone(),
            self.config.subject(partition),
            after_seq,
            self.config.request_timeout,
        ))
    }

    /// The stream's last sequence (over every subject): for tests and reports, not a lag.
    ///
    /// # Cancel safety
    ///
    /// Read only.
    pub async fn last_seq(&self) -> Result<u64, LogError> {
        Ok(self.info().await?.state.last_sequence)
    }

    /// When the newest record of the stream (any partition) was stored, `None` when the stream is empty: an
    /// ingest instance starting up tells from it whether the others kept the log moving (no outage to resume
    /// from) or the whole ingest was down.
    ///
    /// # Cancel safety
    ///
    /// Read only.
    pub async fn last_record_at(&self) -> Result<Option<jiff::Timestamp>, LogError> {
        let info = self.info().await?;
        if info.state.messages == 0 {
            return Ok(None);
        }
        let nanos = info.state.last_timestamp.unix_timestamp_nanos();
        Ok(jiff::Timestamp::from_nanosecond(nanos).ok())
    }
}

impl ObservationLog {
    /// The stream sequence of the newest record of `partition`, `None` when it has none: a tracker that committed
    /// this sequence has applied everything the partition holds.
    ///
    /// # Cancel safety
    ///
    /// Read only.
    pub async fn last_seq_of(&self, partition: u32) -> Result<Option<u64>, LogError> {
        let subject = self.config.subject(partition);
        let last = tokio::time::timeout(
            self.config.request_timeout,
            self.stream.get_last_raw_message_by_subject(&subject),
        )
        .await;
        match last {
            Ok(Ok(message)) => Ok(Some(message.sequence)),
            Ok(Err(error))
                if error.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(None)
            }
            Ok(Err(error)) => Err(LogError::Api {
                op: "read the last record of a partition",
                source: error.into(),
            }),
            Err(_) => Err(LogError::TimedOut {
                op: "read the last record of a partition",
                after: self.config.request_timeout,
            }),
        }
    }

    /// The stream's info, bounded by the request timeout.
    async fn info(&self) -> Result<jetstream::stream::Info, LogError> {
        let mut stream = self.stream.clone();
        bounded(
            "read the stream info",
            self.config.request_timeout,
            stream.info(),
        )
        .await
        .cloned()
    }
}

pub(crate) async fn bounded<T, E>(
    op: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, LogError>
where
    E: Into<async_nats::Error>,
{
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(LogError::Api {
            op,
            source: source.into(),
        }),
        Err(_) => Err(LogError::TimedOut { op, after }),
    }
}

#[cfg(test)]
mod tests {
    use super::partition_of;

    /// Pinned values: if this test fails, the hash changed, which moves vessels between partitions. Don't.
    #[test]
    fn partition_of_is_pinned() {
        // FNV-1a 32 of "0" is 0x350ca8af; of "219000000" and "366999999" as computed by the reference algorithm.
        assert_eq!(partition_of(0, u32::MAX), 0x350c_a8af);
        let cases = [
            (219_000_000, 64),
            (366_999_999, 64),
            (1, 7),
            (999_999_999, 1),
            (4_294_967_295, 64),
        ];
        let got: Vec<u32> = cases.iter().map(|&(m, p)| partition_of(m, p)).collect();
        let reference: Vec<u32> = cases
            .iter()
            .map(|&(m, p)| fnv1a(m.to_string().as_bytes()) % p)
            .collect();
        assert_eq!(got, reference);
        assert_eq!(got, vec![PINNED_219, PINNED_366, PINNED_1, 0, PINNED_MAX]);
    }

    fn fnv1a(bytes: &[u8]) -> u32 {
        bytes.iter().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        })
    }

    const PINNED_219: u32 = 55;
    const PINNED_366: u32 = 48;
    const PINNED_1: u32 = 2;
    const PINNED_MAX: u32 = 34;

    #[test]
    fn partitions_spread() {
        let mut counts = [0u32; 64];
        for mmsi in 219_000_000..219_064_000 {
            counts[partition_of(mmsi, 64) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
