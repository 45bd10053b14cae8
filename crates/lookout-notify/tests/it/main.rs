//! Integration tests for lookout-notify: one binary, one module per area.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too; a failure is a test failure

mod channels;
mod render;
mod router;
mod rules;

use jiff::Timestamp;
use lookout_core::{ChannelKind, Delivery, Event, EventKind, NewNotification, Notification};
use lookout_notify::model::User;

/// An event of `kind` for ENDEAVOUR in New Zealand 400nm at `at` (RFC 3339).
pub fn event(kind: EventKind, at: &str) -> Event {
    let at: Timestamp = at.parse().unwrap();
    let gap = matches!(kind, EventKind::GapStarted | EventKind::GapEnded);
    Event {
        kind,
        mmsi: 512_000_001,
        vessel_name: Some("ENDEAVOUR".into()),
        area_id: "nz400".into(),
        area_name: "New Zealand 400nm".into(),
        at,
        lat: -41.123_456,
        lon: 174.5,
        last_seen: gap.then(|| at - jiff::SignedDuration::from_hours(6)),
        gap_seconds: match kind {
            EventKind::GapStarted => Some(6 * 3600),
            EventKind::GapEnded => Some(26 * 3600),
            _ => None,
        },
        threshold_seconds: gap.then_some(6 * 3600),
    }
}

/// A notification for `user` on `channel` about `event`.
pub fn notification(
    id: &str,
    user: &User,
    channel: ChannelKind,
    destination: &str,
    event: Event,
) -> Notification {
    Notification {
        id: id.into(),
        attempt: 1,
        created_at: event.at,
        new: NewNotification {
            silence_id: None,
            dedupe_key: NewNotification::dedupe_key_for("r1", channel, &event),
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            rule_id: "r1".into(),
            channel,
            destination: destination.into(),
            delivery: Delivery::Realtime,
            event,
        },
    }
}
