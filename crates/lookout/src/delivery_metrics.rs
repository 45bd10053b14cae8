//! The delivery SLI and log context of one notification: [`Measured`] wraps a [`Deliver`]
//! implementation, runs each delivery inside a span carrying `notification_id`, `rule_id`,
//! `user_id` and `channel` (so every log line of the send names them), and records
//! `lookout_event_to_delivery_seconds{channel}` (from the event's own time to the channel's
//! acknowledgement) for every realtime notification delivered.

use jiff::Timestamp;
use lookout_core::{ChannelKind, Deliver, DigestBatch, Notification, SendError};
use tracing::Instrument as _;

/// Records one event → delivery latency sample. Call it when a channel acknowledged a realtime
/// notification whose event happened at `event_at`.
pub fn record_event_to_delivery(channel: ChannelKind, event_at: Timestamp) {
    let seconds = Timestamp::now()
        .duration_since(event_at)
        .as_secs_f64()
        .max(0.0);
    metrics::histogram!("lookout_event_to_delivery_seconds", "channel" => channel.as_str())
        .record(seconds);
}

/// A [`Deliver`] that measures the delivery SLI and adds log context around another.
#[derive(Debug, Clone)]
pub struct Measured<D> {
    inner: D,
}

impl<D> Measured<D> {
    /// Wraps `inner`.
    pub fn new(inner: D) -> Measured<D> {
        Measured { inner }
    }
}

impl<D: Deliver> Deliver for Measured<D> {
    async fn deliver(&self, notification: &Notification) -> Result<(), SendError> {
        let new = &notification.new;
        let span = tracing::info_span!(
            "notification",
            notification_id = %notification.id,
            rule_id = %new.rule_id,
            user_id = %new.user_id,
            channel = new.channel.as_str(),
            attempt = notification.attempt,
        );
        let result = self.inner.deliver(notification).instrument(span).await;
        if result.is_ok() {
            record_event_to_delivery(new.channel, new.event.at);
        }
        result
    }

    async fn deliver_digest(&self, digest: &DigestBatch) -> Result<(), SendError> {
        let span = tracing::info_span!(
            "digest",
            digest_id = %digest.id,
            user_id = %digest.user_id,
            channel = digest.channel.as_str(),
        );
        self.inner.deliver_digest(digest).instrument(span).await
    }
}
