//! Reading one partition of the log in order, from the sequence after the last applied one, with its lag.
//!
//! Built on JetStream's ordered pull consumer (ephemeral, no acks, recreated by the client on a gap). When the
//! client reports an error the consumer is dropped and recreated from the next wanted sequence at the next call,
//! so a restart of NATS neither skips nor repeats a record.

use std::marker::PhantomData;
use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::{LogError, LogRecord, bounded};

/// A record of the log that does not decode (it is skipped by the consumer; the caller decides what to do).
#[derive(Debug, thiserror::Error)]
#[error("log record at stream sequence {seq} does not decode")]
pub struct DecodeError {
    /// The record's stream sequence.
    pub seq: u64,
    /// The cause.
    #[source]
    pub source: serde_json::Error,
}

/// One record read from a partition.
#[derive(Debug)]
pub struct Entry<O> {
    /// The record's stream sequence: commit it as the partition's last applied sequence.
    pub seq: u64,
    /// Records of this partition after this one, known to the server when it was delivered (the lag).
    pub pending: u64,
    /// The record, or why it does not decode.
    pub record: Result<LogRecord<O>, DecodeError>,
}

/// An ordered reader of one partition. Not shared: one per owned partition.
pub struct PartitionConsumer<O> {
    stream: jetstream::stream::Stream,
    subject: String,
    next_seq: u64,
    pending: Option<u64>,
    request_timeout: Duration,
    messages: Option<jetstream::consumer::pull::Ordered>,
    _records: PhantomData<fn() -> O>,
}

impl<O> std::fmt::Debug for PartitionConsumer<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionConsumer")
            .field("subject", &self.subject)
            .field("next_seq", &self.next_seq)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<O: DeserializeOwned> PartitionConsumer<O> {
    pub(super) fn new(
        stream: jetstream::stream::Stream,
        subject: String,
        after_seq: u64,
        request_timeout: Duration,
    ) -> Self {
        Self {
            stream,
            subject,
            next_seq: after_seq.saturating_add(1),
            pending: None,
            request_timeout,
            messages: None,
            _records: PhantomData,
        }
    }

    /// The next record, or `None` when none arrived within `wait`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a record is only consumed when it is returned (the ordered stream keeps its position).
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Entry<O>>, LogError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.messages.is_none() {
                self.messages = Some(self.start().await?);
            }
            let Some(messages) = self.messages.as_mut() else {
                continue;
            };
            let next = match tokio::time::timeout_at(deadline, messages.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    self.messages = None;
                    return Err(self.consume_error(error.into()));
                }
                None => {
                    self.messages = None;
                    return Err(self.consume_error("the ordered consumer ended".into()));
                }
            };
            let info = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending),
                Err(error) => {
                    self.messages = None;
                    return Err(self.consume_error(error));
                }
            };
            let (seq, pending) = info;
            if seq < self.next_seq {
                continue; // delivered again after a recreate: already returned
            }
            self.next_seq = seq.saturating_add(1);
            self.pending = Some(pending);
            let record = serde_json::from_slice(&message.payload)
                .map_err(|source| DecodeError { seq, source });
            return Ok(Some(Entry {
                seq,
                pending,
                record,
            }));
        }
    }

    /// Up to `max` records: waits at most `wait` for the first, then takes what is already there (at most
    /// `linger` more waiting). Empty when nothing arrived.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: records gathered before the cancellation are lost to this consumer (its position moved).
    /// Recreate it from the last applied sequence.
    pub async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
        linger: Duration,
    ) -> Result<Vec<Entry<O>>, LogError> {
        let mut batch = Vec::new();
        let Some(first) = self.next(wait).await? else {
            return Ok(batch);
        };
        batch.push(first);
        let until = tokio::time::Instant::now() + linger;
        while batch.len() < max {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) => break,
                Err(error) if batch.is_empty() => return Err(error),
                Err(error) => {
                    tracing::debug!(target: "lookout_cluster::log", subject = %self.subject, error = %error,
                        "consumer error after a partial batch; returning the batch");
                    break;
                }
            }
        }
        Ok(batch)
    }

    /// The lag: records of this partition not yet returned, as the server counted when the last one was
    /// delivered (`None` before the first record). This is the consumer's pending count, which counts this
    /// subject only (the stream's last sequence spans every partition).
    pub fn lag(&self) -> Option<u64> {
        self.pending
    }

    /// The sequence the next record will have at least.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The partition's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Asks the server for the pending count from the next wanted sequence (one API request: an ephemeral probe
    /// consumer the server removes after its inactivity threshold), e.g. before the first record.
    ///
    /// # Cancel safety
    ///
    /// Read only.
    pub async fn pending_now(&mut self) -> Result<u64, LogError> {
        let consumer = create_consumer(
            &self.stream,
            &self.subject,
            self.next_seq,
            self.request_timeout,
        )
        .await?;
        Ok(consumer.cached_info().num_pending)
    }

    /// Starts the ordered stream. Takes `&mut self` so the future does not need `Self: Sync` (the ordered stream
    /// is not).
    async fn start(&mut self) -> Result<jetstream::consumer::pull::Ordered, LogError> {
        let consumer = create_consumer(
            &self.stream,
            &self.subject,
            self.next_seq,
            self.request_timeout,
        )
        .await?;
        bounded(
            "start the ordered consumer",
            self.request_timeout,
            consumer.messages(),
        )
        .await
    }

    fn consume_error(&self, source: async_nats::Error) -> LogError {
        LogError::Consume {
            subject: self.subject.clone(),
            next_seq: self.next_seq,
            source,
        }
    }
}

async fn create_consumer(
    stream: &jetstream::stream::Stream,
    subject: &str,
    next_seq: u64,
    request_timeout: Duration,
) -> Result<jetstream::consumer::Consumer<OrderedConfig>, LogError> {
    let config = OrderedConfig {
        filter_subject: subject.to_owned(),
        deliver_policy: DeliverPolicy::ByStartSequence {
            start_sequence: next_seq,
        },
        ..Default::default()
    };
    bounded(
        "create the ordered consumer",
        request_timeout,
        stream.create_consumer(config),
    )
    .await
}
