//! At-least-once publishing into the log: `Nats-Msg-Id` de-duplication, bounded outstanding acks, a timeout on
//! every send and ack, and retries with the same id (so a retry after a lost ack is dropped by the server as a
//! duplicate instead of stored twice).

use std::marker::PhantomData;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture, publish::PublishAck};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use super::{LogConfig, LogError, LogRecord};

/// How a [`Publisher`] bounds its work.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Outstanding (sent, not yet acknowledged) messages at most; `publish` waits for an ack beyond it
    /// (back-pressure). Default 256.
    pub max_in_flight: usize,
    /// Bound on handing one message to the client (a full client buffer while disconnected). Default 5 s.
    pub send_timeout: Duration,
    /// Bound on one acknowledgement. Default 5 s.
    pub ack_timeout: Duration,
    /// Sends of one message at most (the first included) before `publish`/`flush` fails. Default 5.
    pub max_attempts: u32,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            send_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}

/// Counters of a [`Publisher`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Messages acknowledged (stored, or recognised as duplicates).
    pub acked: u64,
    /// Of those, acknowledged as duplicates of an id already in the window (not stored again).
    pub duplicates: u64,
    /// Sends retried after a failed or missing ack.
    pub retries: u64,
    /// The highest stream sequence acknowledged.
    pub last_seq: u64,
}

struct Pending {
    subject: String,
    msg_id: String,
    payload: Bytes,
    attempt: u32,
}

type AckResult = (Pending, Result<PublishAck, async_nats::Error>);

/// Publishes [`LogRecord`]s of observation type `O`. Not shared: one per ingest task (`&mut self`), which keeps
/// the in-flight bound a plain count.
pub struct Publisher<O> {
    js: jetstream::Context,
    log: LogConfig,
    config: PublisherConfig,
    in_flight: FuturesUnordered<BoxFuture<'static, AckResult>>,
    stats: PublishStats,
    _records: PhantomData<fn(&O)>,
}

impl<O> std::fmt::Debug for Publisher<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("stream", &self.log.stream)
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<O: Serialize> Publisher<O> {
    pub(super) fn new(js: jetstream::Context, log: LogConfig, config: PublisherConfig) -> Self {
        Self {
            js,
            log,
            config: PublisherConfig {
                max_in_flight: config.max_in_flight.max(1),
                max_attempts: config.max_attempts.max(1),
                ..config
            },
            in_flight: FuturesUnordered::new(),
            stats: PublishStats::default(),
            _records: PhantomData,
        }
    }

    /// Sends `record` to partition `partition` with message id `msg_id` (the de-duplication key: the same
    /// sentence read by two ingest instances must get the same id). Returns once the message is handed to the
    /// client; its ack is awaited later, by a following `publish` (when `max_in_flight` acks are outstanding) or
    /// by [`flush`](Self::flush). An error of an earlier message's ack (after its retries) surfaces here.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled call may have sent the message without tracking its ack. Re-publishing it with
    /// the same id is safe (de-duplicated).
    pub async fn publish(
        &mut self,
        partition: u32,
        msg_id: &str,
        record: &LogRecord<O>,
    ) -> Result<(), LogError> {
        let pending = self.encode(partition, msg_id, record)?;
        while self.in_flight.len() >= self.config.max_in_flight {
            self.settle_one().await?;
        }
        self.send(pending).await
    }

    /// Sends `record` and waits for its ack (after the acks outstanding before it), returning the stream sequence
    /// and whether the server recognised a duplicate.
    ///
    /// # Cancel safety
    ///
    /// As for [`publish`](Self::publish).
    pub async fn publish_and_wait(
        &mut self,
        partition: u32,
        msg_id: &str,
        record: &LogRecord<O>,
    ) -> Result<PublishAck, LogError> {
        self.flush().await?;
        let mut pending = self.encode(partition, msg_id, record)?;
        loop {
            pending.attempt += 1;
            let (back, result) = match Self::start_send(&self.js, &self.config, pending).await {
                Ok(ack) => ack.await,
                Err((back, error)) => (back, Err(error)),
            };
            pending = back;
            match result {
                Ok(ack) => {
                    self.count(&ack);
                    return Ok(ack);
                }
                Err(error) => self.retry_or_fail(&pending, error)?,
            }
        }
    }

    /// Waits for every outstanding ack (retrying as needed) and returns the counters.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: unfinished acks stay outstanding for the next call.
    pub async fn flush(&mut self) -> Result<PublishStats, LogError> {
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(self.stats)
    }

    /// The counters so far.
    pub fn stats(&self) -> PublishStats {
        self.stats
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn encode(
        &self,
        partition: u32,
        msg_id: &str,
        record: &LogRecord<O>,
    ) -> Result<Pending, LogError> {
        if partition >= self.log.partitions {
            return Err(LogError::Config(format!(
                "partition {partition} is out of range (the log has {})",
                self.log.partitions
            )));
        }
        let payload = serde_json::to_vec(record).map_err(|source| LogError::Encode {
            msg_id: msg_id.to_owned(),
            source,
        })?;
        Ok(Pending {
            subject: self.log.subject(partition),
            msg_id: msg_id.to_owned(),
            payload: Bytes::from(payload),
            attempt: 0,
        })
    }

    /// Sends (and re-sends after failures, up to the attempts) until the message is handed over.
    async fn send(&mut self, mut pending: Pending) -> Result<(), LogError> {
        loop {
            pending.attempt += 1;
            match Self::start_send(&self.js, &self.config, pending).await {
                Ok(ack) => {
                    self.in_flight.push(Box::pin(ack));
                    return Ok(());
                }
                Err((back, error)) => {
                    pending = back;
                    self.retry_or_fail(&pending, error)?;
                }
            }
        }
    }

    /// Hands one message to the client; on success returns the future of its ack (bounded by `ack_timeout`).
    // Takes the two fields it needs, not `&self`: a future holding `&Publisher` would need the
    // publisher (its unsynchronised set of ack futures) to be `Sync`, and the caller's task to be `Send`.
    async fn start_send(
        js: &jetstream::Context,
        config: &PublisherConfig,
        pending: Pending,
    ) -> Result<impl Future<Output = AckResult> + Send + 'static, (Pending, async_nats::Error)>
    {
        if pending.attempt > 1 {
            // A retry: give a restarting server or a reconnecting client a moment (100 ms, doubling, at most 2 s).
            let shift = (pending.attempt - 2).min(5);
            tokio::time::sleep(Duration::from_millis(100 << shift).min(Duration::from_secs(2)))
                .await;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, pending.msg_id.as_str());
        let sent = tokio::time::timeout(
            config.send_timeout,
            js.publish_with_headers(pending.subject.clone(), headers, pending.payload.clone()),
        )
        .await;
        let ack: PublishAckFuture = match sent {
            Ok(Ok(ack)) => ack,
            Ok(Err(error)) => return Err((pending, error.into())),
            Err(_) => {
                return Err((
                    pending,
                    "timed out handing the message to the nats client".into(),
                ));
            }
        };
        let ack_timeout = config.ack_timeout;
        Ok(async move {
            let result = match tokio::time::timeout(ack_timeout, ack).await {
                Ok(Ok(ack)) => Ok(ack),
                Ok(Err(error)) => Err(error.into()),
                Err(_) => Err(format!("no ack within {ack_timeout:?}").into()),
            };
            (pending, result)
        })
    }

    /// Awaits the next ack; a failed one is re-sent (same id) until its attempts are spent.
    async fn settle_one(&mut self) -> Result<(), LogError> {
        let Some((pending, result)) = self.in_flight.next().await else {
            return Ok(());
        };
        match result {
            Ok(ack) => {
                self.count(&ack);
                Ok(())
            }
            Err(error) => {
                self.retry_or_fail(&pending, error)?;
                self.send(pending).await
            }
        }
    }

    fn retry_or_fail(
        &mut self,
        pending: &Pending,
        error: async_nats::Error,
    ) -> Result<(), LogError> {
        if pending.attempt >= self.config.max_attempts {
            return Err(LogError::Publish {
                subject: pending.subject.clone(),
                msg_id: pending.msg_id.clone(),
                attempts: pending.attempt,
                source: error,
            });
        }
        tracing::debug!(target: "lookout_cluster::log", subject = %pending.subject, msg_id = %pending.msg_id,
            attempt = pending.attempt, error = %error, "publish not acknowledged, retrying");
        self.stats.retries += 1;
        Ok(())
    }

    fn count(&mut self, ack: &PublishAck) {
        self.stats.acked += 1;
        if ack.duplicate {
            self.stats.duplicates += 1;
        }
        self.stats.last_seq = self.stats.last_seq.max(ack.sequence);
    }
}
