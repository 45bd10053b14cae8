//! At-least-once publishing into the log, in order per partition: `Nats-Msg-Id` de-duplication, one message
//! outstanding per partition (the next of that partition goes out only once the server acknowledged it), a bound on
//! messages accepted and not yet acknowledged over all partitions, a timeout on every send and ack, and retries
//! with the same id (a retry after a lost ack is dropped by the server as a duplicate instead of stored twice).
//!
//! **Why one per partition.** A partition's order is what its tracker replays. With several messages of one
//! partition outstanding, a server crash can lose an earlier one while the client still holds later ones in its
//! buffer, which it writes after reconnecting: the retry of the earlier one would then land behind them. Waiting
//! for each ack keeps the stored order the publish order; partitions still pipeline against each other.

use std::collections::{HashMap, VecDeque};
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
    /// Messages accepted and not yet acknowledged, over all partitions, at most; `publish` waits for acks
    /// beyond it (back-pressure). At most one per partition is on the wire. Default 256.
    pub max_in_flight: usize,
    /// Bound on handing one message to the client (a full client buffer while disconnected). Default 5 s.
    pub send_timeout: Duration,
    /// Bound on one acknowledgement. Default 5 s.
    pub ack_timeout: Duration,
    /// Sends of one message at most (the first included) before `publish`/`flush` returns a retryable error
    /// (the message stays queued). Default 5.
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
    /// Failed sends of this message since it was accepted (or since its last reported failure).
    attempt: u32,
}

/// One partition's messages in publish order: the first is on the wire (or waiting to be re-sent).
#[derive(Default)]
struct Lane {
    queue: VecDeque<Pending>,
    /// The head's send or ack is outstanding.
    in_flight: bool,
    /// The head failed its attempts: re-sent by the next `publish` or `flush`.
    stalled: bool,
}

type AckResult = (u32, Result<PublishAck, async_nats::Error>);

/// Publishes [`LogRecord`]s of observation type `O`. Not shared: one per ingest task (`&mut self`).
///
/// A message, once accepted by [`publish`](Self::publish), is never given up: a call that cannot get the log to
/// take what is queued returns a retryable error without accepting its own message, and the queue stays for the
/// next call.
pub struct Publisher<O> {
    js: jetstream::Context,
    log: LogConfig,
    config: PublisherConfig,
    lanes: HashMap<u32, Lane>,
    acks: FuturesUnordered<BoxFuture<'static, AckResult>>,
    /// Messages accepted and not yet acknowledged.
    accepted: usize,
    last_ack: Option<PublishAck>,
    stats: PublishStats,
    _records: PhantomData<fn(&O)>,
}

impl<O> std::fmt::Debug for Publisher<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("stream", &self.log.stream)
            .field("in_flight", &self.accepted)
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
            lanes: HashMap::new(),
            acks: FuturesUnordered::new(),
            accepted: 0,
            last_ack: None,
            stats: PublishStats::default(),
            _records: PhantomData,
        }
    }

    /// Accepts `record` for partition `partition` with message id `msg_id` (the de-duplication key: the same
    /// sentence read by two ingest instances must get the same id). It goes on the wire once the partition's
    /// previous message is acknowledged; its ack is awaited by a following `publish` (when `max_in_flight`
    /// messages are accepted and unacknowledged) or by [`flush`](Self::flush).
    ///
    /// # Errors
    /// A retryable error when earlier messages could not be stored within their attempts (NATS down): `record`
    /// was **not** accepted; call again with it (the earlier ones are kept and go first).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call did not accept the message (messages already accepted stay queued).
    pub async fn publish(
        &mut self,
        partition: u32,
        msg_id: &str,
        record: &LogRecord<O>,
    ) -> Result<(), LogError> {
        let pending = self.encode(partition, msg_id, record)?;
        self.relaunch_stalled();
        while self.accepted >= self.config.max_in_flight {
            self.settle_one().await?;
        }
        let lane = self.lanes.entry(partition).or_default();
        lane.queue.push_back(pending);
        self.accepted += 1;
        if !lane.in_flight && !lane.stalled {
            self.launch(partition);
        }
        Ok(())
    }

    /// Publishes `record` and waits until it and everything accepted before it is acknowledged, returning its
    /// ack (the stream sequence, and whether the server recognised a duplicate).
    ///
    /// # Errors
    /// As [`flush`](Self::flush): the message may then be accepted and still queued.
    ///
    /// # Cancel safety
    ///
    /// As for [`flush`](Self::flush).
    pub async fn publish_and_wait(
        &mut self,
        partition: u32,
        msg_id: &str,
        record: &LogRecord<O>,
    ) -> Result<PublishAck, LogError> {
        self.flush().await?;
        self.publish(partition, msg_id, record).await?;
        self.flush().await?;
        self.last_ack
            .clone()
            .ok_or_else(|| LogError::Config("no acknowledgement recorded after a flush".to_owned()))
    }

    /// Waits for every accepted message to be acknowledged (re-sending as needed) and returns the counters.
    ///
    /// # Errors
    /// A retryable error when a message was not stored within its attempts (it stays queued).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: unacknowledged messages stay queued for the next call.
    pub async fn flush(&mut self) -> Result<PublishStats, LogError> {
        self.relaunch_stalled();
        while self.accepted > 0 {
            self.settle_one().await?;
        }
        Ok(self.stats)
    }

    /// Settles the next acknowledgement (putting that partition's next message on the wire), or waits forever
    /// when nothing is on the wire. A message goes out only after its partition's previous one is settled, and
    /// `publish` settles only at `max_in_flight`: a loop publishing a quiet feed selects on this too, or its
    /// records would wait for the next burst or a `flush`.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is settled until an ack has arrived, and then without awaiting.
    pub async fn progress(&mut self) -> Result<(), LogError> {
        self.relaunch_stalled();
        if self.acks.is_empty() {
            return std::future::pending().await;
        }
        self.settle_one().await
    }

    /// Drops every message accepted and not yet acknowledged (they may or may not have been stored): for an
    /// ingest instance that stopped leading, whose successor publishes the same stretch of the feed again.
    /// Publishing them later would put them behind the successor's newer records.
    pub fn abandon(&mut self) -> usize {
        let dropped = self.accepted;
        self.lanes.clear();
        self.acks = FuturesUnordered::new();
        self.accepted = 0;
        dropped
    }

    /// The counters so far.
    pub fn stats(&self) -> PublishStats {
        self.stats
    }

    /// Messages accepted and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.accepted
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

    /// Puts the head of `partition`'s lane on the wire: after a pause when it is a re-send (a restarting server
    /// or a reconnecting client gets a moment: 100 ms, doubling, at most 2 s), then handed to the client within
    /// `send_timeout` and acknowledged within `ack_timeout`.
    fn launch(&mut self, partition: u32) {
        let Some(lane) = self.lanes.get_mut(&partition) else {
            return;
        };
        let Some(head) = lane.queue.front() else {
            return;
        };
        lane.in_flight = true;
        let js = self.js.clone();
        let (subject, msg_id, payload) = (
            head.subject.clone(),
            head.msg_id.clone(),
            head.payload.clone(),
        );
        let attempt = head.attempt;
        let (send_timeout, ack_timeout) = (self.config.send_timeout, self.config.ack_timeout);
        self.acks.push(Box::pin(async move {
            if attempt > 0 {
                let shift = (attempt - 1).min(5);
                tokio::time::sleep(Duration::from_millis(100 << shift).min(Duration::from_secs(2)))
                    .await;
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
            let sent = tokio::time::timeout(
                send_timeout,
                js.publish_with_headers(subject, headers, payload),
            )
            .await;
            let ack: PublishAckFuture = match sent {
                Ok(Ok(ack)) => ack,
                Ok(Err(error)) => return (partition, Err(error.into())),
                Err(_) => {
                    return (
                        partition,
                        Err("timed out handing the message to the nats client".into()),
                    );
                }
            };
            let result = match tokio::time::timeout(ack_timeout, ack).await {
                Ok(Ok(ack)) => Ok(ack),
                Ok(Err(error)) => Err(error.into()),
                Err(_) => Err(format!("no ack within {ack_timeout:?}").into()),
            };
            (partition, result)
        }));
    }

    /// Lanes whose head failed its attempts go on the wire again.
    fn relaunch_stalled(&mut self) {
        let stalled: Vec<u32> = self
            .lanes
            .iter_mut()
            .filter(|(_, lane)| lane.stalled)
            .map(|(partition, lane)| {
                lane.stalled = false;
                *partition
            })
            .collect();
        for partition in stalled {
            self.launch(partition);
        }
    }

    /// Awaits the next ack of any partition: acknowledged, the partition's next message goes out; failed, the
    /// same message is re-sent (same id) until its attempts are spent, then the lane waits for the next call.
    async fn settle_one(&mut self) -> Result<(), LogError> {
        let Some((partition, result)) = self.acks.next().await else {
            return Ok(());
        };
        let Some(lane) = self.lanes.get_mut(&partition) else {
            return Ok(());
        };
        lane.in_flight = false;
        match result {
            Ok(ack) => {
                lane.queue.pop_front();
                self.accepted = self.accepted.saturating_sub(1);
                if lane.queue.is_empty() {
                    self.lanes.remove(&partition);
                } else {
                    self.launch(partition);
                }
                self.count(ack);
                Ok(())
            }
            Err(error) => {
                let Some(head) = lane.queue.front_mut() else {
                    return Ok(());
                };
                head.attempt += 1;
                self.stats.retries += 1;
                if head.attempt >= self.config.max_attempts {
                    let attempts = head.attempt;
                    head.attempt = 0;
                    lane.stalled = true;
                    return Err(LogError::Publish {
                        subject: head.subject.clone(),
                        msg_id: head.msg_id.clone(),
                        attempts,
                        source: error,
                    });
                }
                tracing::debug!(target: "lookout_cluster::log", subject = %head.subject, msg_id = %head.msg_id,
                    attempt = head.attempt, error = %error, "publish not acknowledged, retrying");
                self.launch(partition);
                Ok(())
            }
        }
    }

    fn count(&mut self, ack: PublishAck) {
        self.stats.acked += 1;
        if ack.duplicate {
            self.stats.duplicates += 1;
        }
        self.stats.last_seq = self.stats.last_seq.max(ack.sequence);
        self.last_ack = Some(ack);
    }
}
