//! The vocabulary every Lookout stage shares: what the tracker emits ([`Event`]), what the rule
//! matcher asks the outbox to store ([`NewNotification`]), what the dispatcher hands a channel
//! ([`Notification`], [`DigestBatch`]) and how a channel answers ([`SendError`]); what the feed
//! hands the tracker ([`Observation`]).
//!
//! This crate holds types, the one Earth model ([`geo`]: radius and haversine distance) and
//! the value parsers every configuration shares ([`config`]: durations), local-time slots of
//! short digests ([`slots`]): no I/O, no async, no policy. Every other `lookout-*` crate
//! depends on it, so it changes rarely and on purpose.

pub mod config;
pub mod geo;
pub mod slots;
pub mod swap;

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A Maritime Mobile Service Identity: the nine-digit number that names a vessel on AIS.
pub type Mmsi = u32;

/// What happened to a vessel relative to an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The vessel is now inside the area (after `min_dwell`, when one is set).
    Entered,
    /// The vessel is now outside the area (after `min_dwell`, when one is set).
    Exited,
    /// The vessel, inside the area (or pending entry), has sent no usable position for the gap
    /// threshold (static data does not count: we cannot say where it is). `at` is the
    /// deadline, `max(last position, resume) + threshold`, even when the tracker's clock passed
    /// it later (it fires once the clock passed it plus the allowed lateness).
    GapStarted,
    /// The vessel sent a usable position after a `GapStarted`. `at` is `max(report time,
    /// deadline)`, so it never precedes its `GapStarted` even for a report that arrived late.
    GapEnded,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 4] = [
        EventKind::Entered,
        EventKind::Exited,
        EventKind::GapStarted,
        EventKind::GapEnded,
    ];

    /// The name used in JSON, SQL, config files and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Entered => "entered",
            EventKind::Exited => "exited",
            EventKind::GapStarted => "gap_started",
            EventKind::GapEnded => "gap_ended",
        }
    }

    /// Parses the name produced by [`EventKind::as_str`].
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detected event: the unit the tracker emits and the rule matcher consumes.
///
/// Serialised as one JSON object per line by `lookout replay` (schema in the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The vessel.
    pub mmsi: Mmsi,
    /// The vessel's name from static data (types 5/24), when known.
    pub vessel_name: Option<String>,
    /// Stable id of the area.
    pub area_id: String,
    /// Human name of the area.
    pub area_name: String,
    /// When it happened (UTC): the report time for entered/exited/gap_ended, the moment the
    /// threshold elapsed for gap_started.
    pub at: Timestamp,
    /// Latitude of the report that caused the event (for gap_started: the last known one).
    pub lat: f64,
    /// Longitude of the report that caused the event (for gap_started: the last known one).
    pub lon: f64,
    /// For gap events: the time of the last usable position before the silence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// For gap events: seconds of silence, `at − last_seen` (gap_started: the threshold, or more
    /// after a resume; gap_ended: the whole gap, never below the threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_seconds: Option<u64>,
    /// For gap events: the threshold (seconds) of the rule class that produced it, so that a
    /// rule with a 6 h threshold does not fire on a 1 h gap. For `entered`/`exited`: the
    /// `min_dwell` (seconds) that confirmed it when non-zero (an area whose rules have
    /// different dwells emits one event per dwell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_seconds: Option<u64>,
}

impl Event {
    /// The start of the episode this event belongs to: part of every notification's dedupe key.
    ///
    /// For entered/exited it is the event time; for gap events it is the last report before the
    /// silence, so `gap_started` and `gap_ended` of one gap share it.
    pub fn episode_start(&self) -> Timestamp {
        match self.kind {
            EventKind::Entered | EventKind::Exited => self.at,
            EventKind::GapStarted | EventKind::GapEnded => self.last_seen.unwrap_or(self.at),
        }
    }

    /// The vessel's display name: its name from static data, else `MMSI 123456789`.
    pub fn display_name(&self) -> String {
        match &self.vessel_name {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => format!("MMSI {}", self.mmsi),
        }
    }
}

/// How a notification reaches its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// SMTP email.
    Email,
    /// JSON POST to an HTTP endpoint, signed with HMAC-SHA256.
    Webhook,
    /// Slack incoming webhook.
    Slack,
    /// RFC 5322 files written into a local Maildir (demo, development).
    Maildir,
}

impl ChannelKind {
    /// Every channel, in a stable order.
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Email,
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Maildir,
    ];

    /// The name used in JSON, SQL, config files and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Maildir => "maildir",
        }
    }

    /// Parses the name produced by [`ChannelKind::as_str`].
    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a notification goes out on its own or in the user's next digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Sent as soon as the dispatcher claims it.
    Realtime,
    /// Held for the user's digest schedule.
    Digest,
}

impl Delivery {
    /// The name used in JSON, SQL and config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Realtime => "realtime",
            Delivery::Digest => "digest",
        }
    }
}

/// What the rule matcher asks the outbox to store: one (rule, user, channel) for one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewNotification {
    /// `rule:channel:mmsi:area:kind:episode_start_ms`; unique in the outbox, so replaying an
    /// event creates no second notification.
    pub dedupe_key: String,
    /// Owning organisation.
    pub org_id: String,
    /// Recipient.
    pub user_id: String,
    /// The rule that matched.
    pub rule_id: String,
    /// Channel to deliver on.
    pub channel: ChannelKind,
    /// Channel address: an email address, a URL, a Maildir path.
    pub destination: String,
    /// Realtime or digest.
    pub delivery: Delivery,
    /// The event itself.
    pub event: Event,
    /// The silence that mutes it: recorded as `silenced` (with this id), never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_id: Option<String>,
}

impl NewNotification {
    /// Builds the dedupe key for a rule, channel and event.
    pub fn dedupe_key_for(rule_id: &str, channel: ChannelKind, event: &Event) -> String {
        format!(
            "{rule_id}:{channel}:{mmsi}:{area}:{kind}:{episode}",
            mmsi = event.mmsi,
            area = event.area_id,
            kind = event.kind,
            episode = event.episode_start().as_millisecond(),
        )
    }
}

/// A stored notification as the dispatcher hands it to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Outbox id: stable across retries, used as the idempotency key (`Message-ID`, `Idempotency-Key`).
    pub id: String,
    /// Delivery attempt, starting at 1.
    pub attempt: u32,
    /// When the notification was queued.
    pub created_at: Timestamp,
    /// What was queued.
    #[serde(flatten)]
    pub new: NewNotification,
}

/// One digest: the notifications of one user and channel in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestBatch {
    /// Digest id (stable across retries; the idempotency key).
    pub id: String,
    /// Recipient.
    pub user_id: String,
    /// Channel to deliver on.
    pub channel: ChannelKind,
    /// Channel address.
    pub destination: String,
    /// Start of the period (inclusive).
    pub period_start: Timestamp,
    /// End of the period (exclusive).
    pub period_end: Timestamp,
    /// The period's notifications, oldest first; never empty.
    pub items: Vec<Notification>,
}

/// Why a channel did not accept a notification.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Retrying cannot help (SMTP 5xx, HTTP 4xx other than 408/429, a template error, a
    /// recipient that no longer exists): the notification goes to `dead` with this reason.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Retrying may help (timeouts, SMTP 4xx, HTTP 5xx/408/429).
    #[error("transient failure: {reason}")]
    Transient {
        /// What went wrong.
        reason: String,
        /// The server's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
}

impl SendError {
    /// True when the failure is worth retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
}

/// Where the dispatcher hands work: renders and sends on the right channel.
///
/// Implemented by `lookout-notify` (templates + SMTP/webhook/Slack/Maildir); the dispatcher in
/// `lookout-store` owns claiming, leases, retries and state changes. `Ok` means the channel
/// acknowledged (SMTP accepted DATA, HTTP 2xx, the file is in `new/`): only then is a
/// notification marked `delivered`.
pub trait Deliver: Send + Sync + 'static {
    /// Renders and sends one realtime notification.
    fn deliver(
        &self,
        notification: &Notification,
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send;

    /// Renders and sends one digest.
    fn deliver_digest(
        &self,
        digest: &DigestBatch,
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send;
}

/// The tracker's persisted state of one vessel, opaque to the store.
///
/// The tracker serialises its own per-vessel state into `data`; the store saves rows in the
/// same transaction as the events and notifications they produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VesselCheckpoint {
    /// The vessel.
    pub mmsi: Mmsi,
    /// Tracker-defined serialised state (a versioned text row of `lookout_track`). The EMPTY
    /// string means "delete this vessel's row" (an evicted vessel): `Store::commit` removes it
    /// in the same transaction; when one commit lists an MMSI more than once, the last entry
    /// wins.
    pub data: String,
}

/// Which clock a source's observations are timed by.
///
/// - `Live` (the default; network sources): the receiver's time (tag block `c:` or `$PGHP`) is
///   bounded against ingest time: off by more than the allowed skew, the observation is
///   re-timed to ingest time and counted as `clock_skew`; a line without one takes ingest time.
/// - `Data` (file sources, replays, the accelerated simulator): only the data's own time
///   counts; a line without one takes the last receiver time seen on that stream (a fixed
///   epoch before the first), never the wall clock, so the same files give the same output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Receiver time bounded by ingest time; ingest time when absent.
    #[default]
    Live,
    /// The data's own time only.
    Data,
}

/// One decoded AIS report as the tracker consumes it: the seam between feed and tracker.
///
/// Produced by `lookout-feed` from `ais` messages; consumed by `lookout-track`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The reporting vessel.
    pub mmsi: Mmsi,
    /// Event time: the tag block `c:` or receiver timestamp when present, else (see
    /// [`ClockMode`]) the ingest clock in a live source or the last receiver time of the
    /// stream in a data source. The tracker's clock is derived only from accepted reports'
    /// `at` and its clock inputs.
    pub at: Timestamp,
    /// What the report says.
    pub report: Report,
}

/// The content of an [`Observation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    /// A position report (types 1/2/3, 18, 19, 27).
    Position(Position),
    /// Static and voyage data (types 5, 24A, 24B, and the static part of 19).
    Static(VesselStatic),
}

/// Class of AIS transponder that sent a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransponderClass {
    /// Class A (SOLAS vessels): types 1/2/3, 5.
    A,
    /// Class B: types 18, 19, 24.
    B,
    /// Long-range broadcast: type 27.
    LongRange,
}

/// A position report, already normalised: `None` for every "not available" value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Latitude in degrees, north positive.
    pub lat: Option<f64>,
    /// Longitude in degrees, east positive.
    pub lon: Option<f64>,
    /// Speed over ground in knots.
    pub sog: Option<f32>,
    /// Course over ground in degrees.
    pub cog: Option<f32>,
    /// True heading in degrees.
    pub heading: Option<u16>,
    /// Transponder class.
    pub class: TransponderClass,
}

/// Static vessel data; each field `None` when the report did not carry it. Merging keeps
/// earlier values for fields a later report leaves `None` (type 24 A and B carry different halves).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VesselStatic {
    /// Vessel name, trimmed.
    pub name: Option<String>,
    /// Call sign, trimmed.
    pub callsign: Option<String>,
    /// IMO number.
    pub imo: Option<u32>,
    /// AIS ship and cargo type code.
    pub ship_type: Option<u8>,
    /// Dimensions: to bow, to stern, to port, to starboard, in metres.
    pub dimensions: Option<[u16; 4]>,
    /// Destination (type 5), trimmed.
    pub destination: Option<String>,
}

impl VesselStatic {
    /// Overwrites every field that `newer` carries.
    pub fn merge(&mut self, newer: &VesselStatic) {
        if newer.name.is_some() {
            self.name.clone_from(&newer.name);
        }
        if newer.callsign.is_some() {
            self.callsign.clone_from(&newer.callsign);
        }
        if newer.imo.is_some() {
            self.imo = newer.imo;
        }
        if newer.ship_type.is_some() {
            self.ship_type = newer.ship_type;
        }
        if newer.dimensions.is_some() {
            self.dimensions = newer.dimensions;
        }
        if newer.destination.is_some() {
            self.destination.clone_from(&newer.destination);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            kind,
            mmsi: 512_000_001,
            vessel_name: None,
            area_id: "nz400".into(),
            area_name: "New Zealand 400nm".into(),
            at: Timestamp::from_second(1_735_650_000).unwrap(),
            lat: -41.0,
            lon: 174.0,
            last_seen: Some(Timestamp::from_second(1_735_600_000).unwrap()),
            gap_seconds: Some(50_000),
            threshold_seconds: Some(3600),
        }
    }

    #[test]
    fn gap_events_of_one_gap_share_the_episode() {
        let started = event(EventKind::GapStarted);
        let ended = event(EventKind::GapEnded);
        assert_eq!(started.episode_start(), ended.episode_start());
        assert_eq!(event(EventKind::Entered).episode_start(), started.at);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("arrived"), None);
    }

    #[test]
    fn static_merge_keeps_fields_the_newer_report_lacks() {
        let mut known = VesselStatic {
            name: Some("ENDEAVOUR".into()),
            ..VesselStatic::default()
        };
        known.merge(&VesselStatic {
            callsign: Some("ZMFR".into()),
            ship_type: Some(70),
            ..VesselStatic::default()
        });
        assert_eq!(known.name.as_deref(), Some("ENDEAVOUR"));
        assert_eq!(known.callsign.as_deref(), Some("ZMFR"));
        assert_eq!(known.ship_type, Some(70));
    }

    #[test]
    fn display_name_falls_back_to_mmsi() {
        let mut e = event(EventKind::Entered);
        assert_eq!(e.display_name(), "MMSI 512000001");
        e.vessel_name = Some("ENDEAVOUR  ".into());
        assert_eq!(e.display_name(), "ENDEAVOUR");
    }
}
