//! The resolved model: organisations, users, rules, vessels and fleets, ready for matching and
//! delivery. Built by the `lookout` binary's configuration loader from files, or by hand
//! (tests, an API).
//!
//! Invariant: nothing here does I/O. Values may still be "bad at runtime" (a user whose
//! timezone did not resolve, a rule whose area is gone): the matcher skips those with a reason
//! instead of failing, so one broken entry never blocks anyone else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _, Zoned};
use lookout_core::{ChannelKind, EventKind, Mmsi};

use crate::channels::Trust;

/// An organisation: owns users, rules and fleets, and may carry its own template overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// One way to reach a user, with its resolved address.
#[derive(Debug, Clone, PartialEq)]
pub struct UserChannel {
    /// The channel.
    pub kind: ChannelKind,
    /// Email address, webhook or Slack URL, or Maildir path.
    pub destination: String,
    /// Who set the destination: a URL a tenant set through the API is sent only where the
    /// destination policy allows, and a tenant's webhook URL is not signed.
    pub origin: Trust,
}

impl UserChannel {
    /// A channel from the operator's files.
    pub fn new(kind: ChannelKind, destination: impl Into<String>) -> UserChannel {
        UserChannel {
            kind,
            destination: destination.into(),
            origin: Trust::Operator,
        }
    }

    /// A channel a tenant set through the API.
    pub fn tenant(kind: ChannelKind, destination: impl Into<String>) -> UserChannel {
        UserChannel {
            origin: Trust::Tenant,
            ..UserChannel::new(kind, destination)
        }
    }
}

/// A recipient.
#[derive(Debug, Clone)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// IANA timezone name as configured.
    pub timezone_name: String,
    /// The resolved timezone; `None` when the name did not resolve (the user is then skipped).
    pub timezone: Option<TimeZone>,
    /// BCP 47 locale tag, e.g. `en-NZ` (informational for templates).
    pub locale: String,
    /// Where the user can be reached.
    pub channels: Vec<UserChannel>,
    /// False: notifications for this user are skipped.
    pub enabled: bool,
    /// True: the user was deleted; notifications are skipped and pending ones fail permanently.
    pub deleted: bool,
}

impl User {
    /// Builds an enabled user with the given timezone name (resolved with jiff) and no channels.
    pub fn new(id: &str, org_id: &str, email: &str, timezone_name: &str) -> User {
        User {
            id: id.to_owned(),
            org_id: org_id.to_owned(),
            name: id.to_owned(),
            email: email.to_owned(),
            timezone_name: timezone_name.to_owned(),
            timezone: TimeZone::get(timezone_name).ok(),
            locale: "en".to_owned(),
            channels: Vec::new(),
            enabled: true,
            deleted: false,
        }
    }
}

/// Which vessels a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VesselSelector {
    /// These MMSIs.
    Mmsi(BTreeSet<Mmsi>),
    /// The members of a fleet (by fleet id).
    Fleet(String),
    /// Every vessel carrying this tag in the vessel registry.
    Tag(String),
    /// Every vessel (not allowed for gap rules).
    Any,
}

/// A vessel known to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vessel {
    /// The vessel's MMSI.
    pub mmsi: Mmsi,
    /// A name to use when AIS static data has none.
    pub name: Option<String>,
    /// Free-form tags, selectable by rules.
    pub tags: BTreeSet<String>,
}

/// A named set of vessels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// Stable id.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Members.
    pub mmsi: BTreeSet<Mmsi>,
    /// Free-form labels.
    pub tags: BTreeSet<String>,
}

/// When a digest goes out, in the recipient's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestSchedule {
    /// Every day at this local time.
    Daily {
        /// Local wall-clock time.
        at: Time,
    },
    /// Every week on this day at this local time.
    Weekly {
        /// Day of the week.
        weekday: Weekday,
        /// Local wall-clock time.
        at: Time,
    },
    /// Every `minutes` (a divisor of a day), aligned to local midnight: `every 10m` sends at
    /// 00:00, 00:10, … in the recipient's timezone.
    Every {
        /// Period length in minutes, dividing 1,440.
        minutes: u16,
    },
}

use lookout_core::slots::{self, DAY_MINUTES};

impl DigestSchedule {
    /// Parses `daily HH:MM`, `weekly <mon|tue|...> HH:MM` or `every <N>m|<N>h` (N minutes or
    /// hours dividing a day).
    pub fn parse(s: &str) -> Result<DigestSchedule, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let time = |w: &str| -> Result<Time, String> {
            let (h, m) = w
                .split_once(':')
                .ok_or_else(|| format!("expected HH:MM, got {w:?}"))?;
            let h: i8 = h.parse().map_err(|_| format!("bad hour in {w:?}"))?;
            let m: i8 = m.parse().map_err(|_| format!("bad minute in {w:?}"))?;
            Time::new(h, m, 0, 0).map_err(|_| format!("no such time of day {w:?}"))
        };
        match words.as_slice() {
            ["daily", t] => Ok(DigestSchedule::Daily { at: time(t)? }),
            ["weekly", day, t] => {
                let weekday = match day.to_ascii_lowercase().get(..3) {
                    Some("mon") => Weekday::Monday,
                    Some("tue") => Weekday::Tuesday,
                    Some("wed") => Weekday::Wednesday,
                    Some("thu") => Weekday::Thursday,
                    Some("fri") => Weekday::Friday,
                    Some("sat") => Weekday::Saturday,
                    Some("sun") => Weekday::Sunday,
                    _ => return Err(format!("unknown weekday {day:?}")),
                };
                Ok(DigestSchedule::Weekly {
                    weekday,
                    at: time(t)?,
                })
            }
            ["every", period] => {
                let minutes = period
                    .strip_suffix('m')
                    .and_then(|n| n.parse::<u16>().ok())
                    .or_else(|| {
                        period
                            .strip_suffix('h')
                            .and_then(|n| n.parse::<u16>().ok())
                            .and_then(|h| h.checked_mul(60))
                    })
                    .ok_or_else(|| format!("bad period {period:?}: expected e.g. 10m or 2h"))?;
                if minutes == 0 || minutes > DAY_MINUTES || !DAY_MINUTES.is_multiple_of(minutes) {
                    return Err(format!(
                        "period {period:?} does not divide a day: use e.g. 5m, 10m, 15m, 30m, 1h, 2h, 6h or 12h"
                    ));
                }
                Ok(DigestSchedule::Every { minutes })
            }
            _ => Err(format!(
                "unknown digest schedule {s:?}: expected \"daily HH:MM\", \"weekly mon HH:MM\" or \"every 10m\""
            )),
        }
    }

    /// The first run strictly after `after`, in `tz`.
    ///
    /// DST-correct: a local time that does not exist that day (spring forward) runs at the first
    /// instant after the gap; a local time that occurs twice (fall back) runs once, at the
    /// first occurrence (jiff's "compatible" disambiguation).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Timestamp {
        let local = after.to_zoned(tz.clone());
        if let DigestSchedule::Every { minutes } = *self {
            return slots::slot_after(tz, minutes, after).unwrap_or(after);
        }
        let mut date = local.date();
        // At most 8 days are ever needed (weekly); 10 bounds the loop.
        for _ in 0..10 {
            let candidate = match self {
                DigestSchedule::Daily { at } => Some(*at),
                DigestSchedule::Weekly { weekday, at } => {
                    (date.weekday() == *weekday).then_some(*at)
                }
                DigestSchedule::Every { .. } => None,
            };
            if let Some(at) = candidate
                && let Ok(zoned) = date.to_datetime(at).to_zoned(tz.clone())
                && zoned.timestamp() > after
            {
                return zoned.timestamp();
            }
            match date.checked_add(1.day()) {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        // Only reachable at the end of jiff's supported range.
        after
    }

    /// The period ending at the run `end`: from the previous run (inclusive) to `end`.
    pub fn period_ending(&self, end: Timestamp, tz: &TimeZone) -> (Timestamp, Timestamp) {
        let back = match self {
            DigestSchedule::Daily { .. } => 2,
            DigestSchedule::Weekly { .. } => 8,
            DigestSchedule::Every { minutes } => {
                let before = end
                    .checked_sub(jiff::SignedDuration::from_nanos(1))
                    .unwrap_or(end);
                let start = slots::slot_at_or_before(tz, *minutes, before).unwrap_or(end);
                return (start, end);
            }
        };
        let zoned: Zoned = end.to_zoned(tz.clone());
        let probe = zoned
            .checked_sub(back.days())
            .map(|z| z.timestamp())
            .unwrap_or(end);
        let mut start = self.next_after(probe, tz);
        // Each step moves forward by about a period; the guard stops at jiff's range end,
        // where next_after cannot advance.
        loop {
            let next = self.next_after(start, tz);
            if next >= end || next <= start {
                return (start, end);
            }
            start = next;
        }
    }
}

impl fmt::Display for DigestSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestSchedule::Daily { at } => write!(f, "daily {}", at.strftime("%H:%M")),
            DigestSchedule::Weekly { weekday, at } => {
                let day = match weekday {
                    Weekday::Monday => "mon",
                    Weekday::Tuesday => "tue",
                    Weekday::Wednesday => "wed",
                    Weekday::Thursday => "thu",
                    Weekday::Friday => "fri",
                    Weekday::Saturday => "sat",
                    Weekday::Sunday => "sun",
                };
                write!(f, "weekly {day} {}", at.strftime("%H:%M"))
            }
            DigestSchedule::Every { minutes } if minutes.is_multiple_of(60) => {
                write!(f, "every {}h", minutes / 60)
            }
            DigestSchedule::Every { minutes } => write!(f, "every {minutes}m"),
        }
    }
}

/// How a rule's notifications go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// One message per notification, as soon as possible.
    Realtime,
    /// Gathered into the user's digest on this schedule.
    Digest(DigestSchedule),
}

impl DeliveryMode {
    /// The core crate's delivery flag.
    pub fn as_delivery(&self) -> lookout_core::Delivery {
        match self {
            DeliveryMode::Realtime => lookout_core::Delivery::Realtime,
            DeliveryMode::Digest(_) => lookout_core::Delivery::Digest,
        }
    }
}

/// An alert rule: who wants to hear about what, where, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Stable id (part of every dedupe key).
    pub id: String,
    /// Owning organisation (the owner's).
    pub org_id: String,
    /// The user who receives its notifications.
    pub owner: String,
    /// Which vessels.
    pub vessels: VesselSelector,
    /// Area ids.
    pub areas: Vec<String>,
    /// Event kinds.
    pub events: BTreeSet<EventKind>,
    /// For gap events: the silence that counts as a gap.
    pub gap_threshold: Option<Duration>,
    /// Time a vessel must stay in (or out) before entered (exited) fires.
    pub min_dwell: Option<Duration>,
    /// Realtime or digest.
    pub delivery: DeliveryMode,
    /// Channels to use; empty means every channel of the owner.
    pub channels: Vec<ChannelKind>,
    /// False: the rule is ignored.
    pub enabled: bool,
}

/// A webhook endpoint with its signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Name referenced by users' channels.
    pub name: String,
    /// URL to POST to.
    pub url: String,
    /// HMAC-SHA256 key; empty when the configured environment variable was unset.
    pub secret: Vec<u8>,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The whole resolved model.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Organisations by id.
    pub orgs: BTreeMap<String, Organisation>,
    /// Users by id.
    pub users: BTreeMap<String, User>,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// Vessel registry by MMSI: one catalogue for every organisation (the files').
    pub vessels: BTreeMap<Mmsi, Vessel>,
    /// Each organisation's own vessel registry (the store's model, where organisations keep
    /// their own names and tags); when set for an organisation it replaces `vessels` for it,
    /// so one organisation's names and tags never reach another's rules or notifications.
    pub org_vessels: BTreeMap<String, BTreeMap<Mmsi, Vessel>>,
    /// Fleets by id.
    pub fleets: BTreeMap<String, Fleet>,
    /// Ids of the areas that exist; a rule naming another area is skipped at match time.
    pub areas: BTreeSet<String>,
    /// Webhook endpoints by name.
    pub webhooks: BTreeMap<String, WebhookEndpoint>,
}

impl Model {
    /// The webhook endpoint with this URL (the destination stored in a notification).
    pub fn webhook_by_url(&self, url: &str) -> Option<&WebhookEndpoint> {
        self.webhooks.values().find(|w| w.url == url)
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The digest schedule of a user: that of their enabled digest rules (configuration
    /// validation makes them agree), or `None` when they have none.
    pub fn digest_schedule(&self, user_id: &str) -> Option<DigestSchedule> {
        self.rules
            .iter()
            .filter(|r| r.enabled && r.owner == user_id)
            .find_map(|r| match r.delivery {
                DeliveryMode::Digest(schedule) => Some(schedule),
                DeliveryMode::Realtime => None,
            })
    }

    /// The registry `org` sees: its own when it has one, else the shared one.
    pub fn registry(&self, org: &str) -> &BTreeMap<Mmsi, Vessel> {
        self.org_vessels.get(org).unwrap_or(&self.vessels)
    }

    /// The MMSIs a selector of a rule of `org` stands for; `None` means any vessel.
    pub fn resolve_selector(&self, org: &str, selector: &VesselSelector) -> Option<BTreeSet<Mmsi>> {
        match selector {
            VesselSelector::Any => None,
            VesselSelector::Mmsi(set) => Some(set.clone()),
            VesselSelector::Fleet(id) => Some(
                self.fleets
                    .get(id)
                    .map(|f| f.mmsi.clone())
                    .unwrap_or_default(),
            ),
            VesselSelector::Tag(tag) => Some(
                self.registry(org)
                    .values()
                    .filter(|v| v.tags.contains(tag))
                    .map(|v| v.mmsi)
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn schedule_parses_and_prints() {
        for s in ["daily 08:00", "weekly mon 07:30", "every 10m", "every 2h"] {
            assert_eq!(DigestSchedule::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            DigestSchedule::parse("every 120m").unwrap(),
            DigestSchedule::Every { minutes: 120 }
        );
        for bad in ["every 7m", "every 0m", "every 25h", "every 10", "every 10s"] {
            assert!(DigestSchedule::parse(bad).is_err(), "{bad}");
        }
        assert!(DigestSchedule::parse("daily 25:00").is_err());
        assert!(DigestSchedule::parse("hourly").is_err());
        assert!(DigestSchedule::parse("weekly funday 08:00").is_err());
    }

    #[test]
    fn every_ten_minutes_runs_on_the_local_ten_minute_marks() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap(); // UTC+05:30
        let s = DigestSchedule::parse("every 10m").unwrap();
        // 12:34:56 IST = 07:04:56Z.
        let next = s.next_after(ts("2025-01-01T07:04:56Z"), &tz);
        assert_eq!(next, ts("2025-01-01T07:10:00Z"), "12:40 IST");
        assert_eq!(
            s.period_ending(next, &tz),
            (ts("2025-01-01T07:00:00Z"), next),
            "from 12:30 IST"
        );
    }

    #[test]
    fn daily_digest_in_a_missing_hour_runs_once() {
        // Pacific/Auckland springs forward at 02:00 NZST on 2025-09-28 to 03:00 NZDT.
        let tz = TimeZone::get("Pacific/Auckland").unwrap();
        let s = DigestSchedule::parse("daily 02:30").unwrap();
        let before = ts("2025-09-27T12:00:00Z"); // 2025-09-28 00:00 NZST
        let run = s.next_after(before, &tz);
        assert_eq!(run, ts("2025-09-27T14:30:00Z")); // 03:30 NZDT
        let next = s.next_after(run, &tz);
        assert_eq!(next, ts("2025-09-28T13:30:00Z")); // 2025-09-29 02:30 NZDT
        assert_eq!(s.period_ending(next, &tz), (run, next));
    }

    #[test]
    fn daily_digest_in_a_repeated_hour_runs_once() {
        // Pacific/Auckland falls back at 03:00 NZDT on 2025-04-06 to 02:00 NZST.
        let tz = TimeZone::get("Pacific/Auckland").unwrap();
        let s = DigestSchedule::parse("daily 02:30").unwrap();
        let run = s.next_after(ts("2025-04-05T11:00:00Z"), &tz);
        assert_eq!(run, ts("2025-04-05T13:30:00Z")); // first 02:30 (NZDT)
        let next = s.next_after(run, &tz);
        assert_eq!(next, ts("2025-04-06T14:30:00Z")); // next day 02:30 NZST, not the repeat
    }
}
