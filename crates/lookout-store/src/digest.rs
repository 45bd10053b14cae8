//! Digest bookkeeping and scheduling: which period a user's digest covers, in their own time
//! zone, and the one transaction that creates a digest and assigns its items.
//!
//! A digest notification waits in `outbox` as `pending` with `delivery = 'digest'` and no
//! `digest_id`; realtime claims never see it. When a period closes, [`Store::schedule_digests`]
//! inserts one `digests` row (unique per user, channel and period end) and points the waiting
//! items at it, in one transaction; if there are no items the transaction is rolled back, so an
//! empty digest never exists. The dispatcher then claims, leases, retries and dead-letters the
//! digest exactly like a notification; its items follow its final state.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use lookout_core::ChannelKind;
use tokio_util::sync::CancellationToken;

use sqlx::Row;

use crate::error::{DbContext, StoreError};
use crate::outbox::{State, attempt_u32, corrupt, parse_channel};
use crate::store::{Backend, PG_CHANNEL, Store, from_ms, in_tx, ms, on_pool};

/// How often a digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cadence {
    /// Once per local calendar day at the schedule's time.
    #[default]
    Daily,
    /// Once a week, on this local weekday at the schedule's time.
    Weekly(jiff::civil::Weekday),
    /// Every this many minutes (a divisor of a day), aligned to local midnight; the schedule's
    /// time is ignored.
    Every(u16),
}

impl Cadence {
    /// The latest date `<= date` on which this cadence sends.
    fn send_date_on_or_before(self, date: Date) -> Result<Date, jiff::Error> {
        match self {
            Cadence::Daily | Cadence::Every(_) => Ok(date),
            Cadence::Weekly(weekday) => {
                let back = (date.weekday().to_monday_zero_offset()
                    - weekday.to_monday_zero_offset())
                .rem_euclid(7);
                date.checked_sub(jiff::Span::new().days(i64::from(back)))
            }
        }
    }

    /// The send date before `date` (itself a send date).
    fn previous_send_date(self, date: Date) -> Result<Date, jiff::Error> {
        match self {
            Cadence::Daily | Cadence::Every(_) => date.yesterday(),
            Cadence::Weekly(_) => date.checked_sub(jiff::Span::new().days(7)),
        }
    }
}

/// When one user's digest goes out on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSchedule {
    /// Recipient.
    pub user_id: String,
    /// Channel the digest is sent on (the items gathered are this user's digest notifications
    /// on this channel).
    pub channel: ChannelKind,
    /// Channel address for the digest.
    pub destination: String,
    /// IANA time zone of the user, e.g. `Pacific/Auckland`.
    pub timezone: String,
    /// Local wall-clock time the digest goes out, e.g. 08:00.
    pub at: Time,
    /// How often.
    pub cadence: Cadence,
}

/// One digest period: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Previous send time (inclusive).
    pub start: Timestamp,
    /// This send time (exclusive); the digest's identity together with user and channel.
    pub end: Timestamp,
}

/// The local send time on `date`, as an instant. A time that does not exist that day (DST gap)
/// moves forward by the gap, a time that occurs twice (DST fold) takes the first occurrence:
/// jiff's "compatible" disambiguation, the one RFC 5545 prescribes. Either way each local date
/// has exactly one send instant.
fn send_instant(tz: &TimeZone, date: Date, at: Time) -> Result<Timestamp, jiff::Error> {
    Ok(tz
        .to_ambiguous_zoned(date.to_datetime(at))
        .compatible()?
        .timestamp())
}

/// The latest period of an `every N minutes` cadence closed at `now`: from the slot before to
/// the latest slot at or before `now` ([`lookout_core::slots`]: the wall clock of the
/// recipient shows a multiple of N minutes since midnight; none in a DST gap, twice in a fold).
fn every_period_at(tz: &TimeZone, minutes: u16, now: Timestamp) -> Option<Period> {
    let end = lookout_core::slots::slot_at_or_before(tz, minutes, now)?;
    let before = end.checked_sub(jiff::SignedDuration::from_nanos(1)).ok()?;
    let start = lookout_core::slots::slot_at_or_before(tz, minutes, before)?;
    Some(Period { start, end })
}

/// The most recent period of `schedule` that has closed at `now`: it ends at the latest send
/// instant `<= now` and starts at the one before.
pub fn period_at(schedule: &DigestSchedule, now: Timestamp) -> Result<Period, StoreError> {
    let tz = TimeZone::get(&schedule.timezone).map_err(|source| StoreError::InvalidTimeZone {
        user_id: schedule.user_id.clone(),
        timezone: schedule.timezone.clone(),
        source,
    })?;
    if let Cadence::Every(minutes) = schedule.cadence {
        return every_period_at(&tz, minutes, now).ok_or_else(|| StoreError::Period {
            user_id: schedule.user_id.clone(),
            at: now,
            source: jiff::Error::from_args(format_args!("no {minutes}-minute slot near {now}")),
        });
    }
    let compute = || -> Result<Period, jiff::Error> {
        let cadence = schedule.cadence;
        let mut day = cadence.send_date_on_or_before(now.to_zoned(tz.clone()).date())?;
        let mut end = send_instant(&tz, day, schedule.at)?;
        if end > now {
            day = cadence.previous_send_date(day)?;
            end = send_instant(&tz, day, schedule.at)?;
        }
        let start = send_instant(&tz, cadence.previous_send_date(day)?, schedule.at)?;
        Ok(Period { start, end })
    };
    compute().map_err(|source| StoreError::Period {
        user_id: schedule.user_id.clone(),
        at: now,
        source,
    })
}

/// What one scheduling pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    /// Ids of the digests created.
    pub created: Vec<String>,
    /// Schedules skipped because they are invalid (logged once per pass each).
    pub n_invalid: usize,
}

/// One stored digest (ops, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInfo {
    /// Digest id.
    pub id: String,
    /// Recipient.
    pub user_id: String,
    /// Channel.
    pub channel: ChannelKind,
    /// Period start.
    pub period_start: Timestamp,
    /// Period end (the send time).
    pub period_end: Timestamp,
    /// Lifecycle state.
    pub state: State,
    /// Delivery attempts so far.
    pub attempt: u32,
    /// Items assigned.
    pub n_items: u64,
}

impl Store {
    /// Every digest, by period end (ops, tests).
    pub async fn list_digests(&self) -> Result<Vec<DigestInfo>, StoreError> {
        const OP: &str = "listing digests";
        const T: &str = "digests";
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT d.id, d.user_id, d.channel, d.period_start, d.period_end, d.state, d.attempt, \
                 (SELECT COUNT(*) FROM outbox o WHERE o.digest_id = d.id) AS n_items \
                 FROM digests d ORDER BY d.period_end, d.user_id, d.channel",
            )
            .fetch_all(pool)
            .await
            .ctx(OP)?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get::<String, _>("id")?,
                        row.try_get::<String, _>("user_id")?,
                        row.try_get::<String, _>("channel")?,
                        row.try_get::<i64, _>("period_start")?,
                        row.try_get::<i64, _>("period_end")?,
                        row.try_get::<String, _>("state")?,
                        row.try_get::<i64, _>("attempt")?,
                        row.try_get::<i64, _>("n_items")?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .ctx(OP)?
        });
        rows.into_iter()
            .map(
                |(id, user_id, channel, start, end, state, attempt, n_items)| {
                    Ok(DigestInfo {
                        channel: parse_channel(T, &id, &channel)?,
                        period_start: from_ms(T, &id, start)?,
                        period_end: from_ms(T, &id, end)?,
                        state: State::parse(&state)
                            .ok_or_else(|| corrupt(T, &id, format!("unknown state {state:?}")))?,
                        attempt: attempt_u32(T, &id, attempt)?,
                        n_items: u64::try_from(n_items).unwrap_or(0),
                        user_id,
                        id,
                    })
                },
            )
            .collect()
    }

    /// Creates the digest of every schedule whose latest period has closed at `now` and has
    /// items, unless it exists already. Safe to call any number of times, from any number of
    /// instances: the `(user_id, channel, period_end)` key makes it exactly once per period.
    ///
    /// Items are this user's unassigned digest notifications on the channel created before the
    /// period's end: anything left over from earlier periods (say, while the service was down)
    /// goes out in the next digest rather than in several catch-up digests.
    pub async fn schedule_digests(
        &self,
        schedules: &[DigestSchedule],
        now: Timestamp,
    ) -> Result<ScheduleReport, StoreError> {
        let mut report = ScheduleReport::default();
        for schedule in schedules {
            let period = match period_at(schedule, now) {
                Ok(period) => period,
                Err(error) => {
                    tracing::warn!(user_id = %schedule.user_id, timezone = %schedule.timezone,
                        error = %error, "digest schedule skipped");
                    metrics::counter!("lookout_digest_schedules_invalid_total").increment(1);
                    report.n_invalid += 1;
                    continue;
                }
            };
            if let Some(id) = self.create_digest(schedule, period, now).await? {
                tracing::info!(digest_id = %id, user_id = %schedule.user_id,
                    channel = %schedule.channel, period_end = %period.end, "digest created");
                metrics::counter!("lookout_digests_created_total",
                    "channel" => schedule.channel.as_str())
                .increment(1);
                report.created.push(id);
            }
        }
        if !report.created.is_empty() {
            self.wake_local();
        }
        Ok(report)
    }

    async fn create_digest(
        &self,
        schedule: &DigestSchedule,
        period: Period,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        const OP: &str = "creating a digest";
        let id = uuid::Uuid::now_v7().to_string();
        let is_pg = self.backend() == Backend::Postgres;
        let created = in_tx!(self, OP, tx => {
            let inserted = sqlx::query(
                "INSERT INTO digests (id, user_id, channel, destination, period_start, period_end, \
                 state, attempt, created_at, available_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) \
                 ON CONFLICT (user_id, channel, period_end) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(schedule.user_id.as_str())
            .bind(schedule.channel.as_str())
            .bind(schedule.destination.as_str())
            .bind(ms(period.start))
            .bind(ms(period.end))
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .ctx(OP)?
            .rows_affected();
            if inserted == 0 {
                // This period's digest exists already (another pass or instance made it).
                return Ok(None);
            }
            let n_items = sqlx::query(
                "UPDATE outbox SET digest_id = $1, updated_at = $2 \
                 WHERE delivery = 'digest' AND digest_id IS NULL AND state = 'pending' \
                 AND user_id = $3 AND channel = $4 AND created_at < $5",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .bind(schedule.user_id.as_str())
            .bind(schedule.channel.as_str())
            .bind(ms(period.end))
            .execute(&mut *tx)
            .await
            .ctx(OP)?
            .rows_affected();
            if n_items == 0 {
                // Never an empty digest: dropping the transaction rolls the insert back.
                return Ok(None);
            }
            if is_pg {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(PG_CHANNEL)
                    .execute(&mut *tx)
                    .await
                    .ctx(OP)?;
            }
            true
        });
        Ok(created.then_some(id))
    }
}

/// Where a scheduler reads the schedules from at each pass.
pub type ScheduleSource = Arc<dyn Fn() -> Vec<DigestSchedule> + Send + Sync>;

/// Runs [`Store::schedule_digests`] every `interval` until cancelled.
#[derive(Clone)]
pub struct DigestScheduler {
    store: Store,
    schedules: ScheduleSource,
    interval: Duration,
}

impl std::fmt::Debug for DigestScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestScheduler")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl DigestScheduler {
    /// A scheduler for `schedules`, checking every `interval` (30 s is plenty for daily digests).
    pub fn new(store: Store, schedules: Vec<DigestSchedule>, interval: Duration) -> Self {
        Self::live(store, Arc::new(move || schedules.clone()), interval)
    }

    /// A scheduler that asks `schedules` for the schedules at each pass (a model that changes
    /// while the service runs: a new digest rule is scheduled from the next pass).
    pub fn live(store: Store, schedules: ScheduleSource, interval: Duration) -> Self {
        DigestScheduler {
            store,
            schedules,
            interval,
        }
    }

    /// One pass at `now`.
    pub async fn tick(&self, now: Timestamp) -> Result<ScheduleReport, StoreError> {
        let schedules = (self.schedules)();
        self.store.schedule_digests(&schedules, now).await
    }

    /// Loops until `cancel` fires. Store errors are logged and retried on the next tick.
    ///
    /// # Cancel safety
    /// Cancel with the token; dropping the future mid-pass loses nothing (each digest is
    /// created in its own transaction, which rolls back if dropped).
    ///
    /// Beats the `sentinel` heartbeat `digest-scheduler` after every pass, so a pass stuck on
    /// the database shows as a stale loop.
    pub async fn run(self, cancel: CancellationToken) {
        let heartbeat = sentinel::Heartbeat::register(
            "digest-scheduler",
            self.interval.saturating_mul(3) + Duration::from_secs(60),
        );
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if let Err(error) = self.tick(Timestamp::now()).await {
                metrics::counter!("lookout_digest_schedule_failures_total").increment(1);
                tracing::warn!(error = %error, "digest scheduling pass failed; retrying next tick");
            }
            heartbeat.beat();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auckland(at: &str) -> DigestSchedule {
        DigestSchedule {
            user_id: "kiri".into(),
            channel: ChannelKind::Email,
            destination: "kiri@example.invalid".into(),
            timezone: "Pacific/Auckland".into(),
            at: at.parse().unwrap(),
            cadence: Cadence::Daily,
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Every distinct period end seen by checking every 5 minutes between `from` and `to`.
    fn ends(schedule: &DigestSchedule, from: &str, to: &str) -> Vec<Timestamp> {
        let mut now = ts(from);
        let mut seen: Vec<Timestamp> = Vec::new();
        while now < ts(to) {
            let p = period_at(schedule, now).unwrap();
            assert!(p.start < p.end && p.end <= now);
            if seen.last() != Some(&p.end) {
                assert!(!seen.contains(&p.end), "period end went backwards at {now}");
                seen.push(p.end);
            }
            now += jiff::SignedDuration::from_mins(5);
        }
        seen
    }

    #[test]
    fn every_n_minutes_follows_the_local_wall_clock_through_both_dst_changes() {
        let schedule = DigestSchedule {
            cadence: Cadence::Every(30),
            timezone: "America/New_York".into(),
            ..auckland("08:00")
        };
        // 2026-03-08 02:00 EST -> 03:00 EDT: no 02:00 or 02:30 slot.
        assert_eq!(
            ends(&schedule, "2026-03-08T06:00Z", "2026-03-08T08:00Z"),
            vec![
                ts("2026-03-08T06:00Z"), // 01:00 EST
                ts("2026-03-08T06:30Z"), // 01:30 EST
                ts("2026-03-08T07:00Z"), // 03:00 EDT
                ts("2026-03-08T07:30Z"),
            ]
        );
        let p = period_at(&schedule, ts("2026-03-08T07:10Z")).unwrap();
        assert_eq!(
            (p.start, p.end),
            (ts("2026-03-08T06:30Z"), ts("2026-03-08T07:00Z"))
        );
        // 2026-11-01 02:00 EDT -> 01:00 EST: the repeated hour's slots count twice.
        assert_eq!(
            ends(&schedule, "2026-11-01T04:45Z", "2026-11-01T07:05Z"),
            vec![
                ts("2026-11-01T04:30Z"), // 00:30 EDT
                ts("2026-11-01T05:00Z"), // 01:00 EDT
                ts("2026-11-01T05:30Z"), // 01:30 EDT
                ts("2026-11-01T06:00Z"), // 01:00 EST
                ts("2026-11-01T06:30Z"), // 01:30 EST
                ts("2026-11-01T07:00Z"), // 02:00 EST
            ]
        );
        let ten = DigestSchedule {
            cadence: Cadence::Every(10),
            ..auckland("08:00")
        };
        // 2025-01-01 12:34:56 NZDT.
        let p = period_at(&ten, ts("2024-12-31T23:34:56Z")).unwrap();
        assert_eq!(
            (p.start, p.end),
            (ts("2024-12-31T23:20Z"), ts("2024-12-31T23:30Z"))
        );
    }

    #[test]
    fn weekly_sends_once_a_week_on_its_local_weekday_across_dst() {
        let schedule = DigestSchedule {
            cadence: Cadence::Weekly(jiff::civil::Weekday::Monday),
            ..auckland("08:00")
        };
        // September 2025: NZ moves to NZDT on Sunday 28th; Mondays 08:00 local.
        let seen = ends(&schedule, "2025-09-10T00:00Z", "2025-10-07T00:00Z");
        assert_eq!(
            seen,
            vec![
                ts("2025-09-07T20:00Z"), // Mon 8 Sep 08:00 NZST
                ts("2025-09-14T20:00Z"),
                ts("2025-09-21T20:00Z"),
                ts("2025-09-28T19:00Z"), // Mon 29 Sep 08:00 NZDT
                ts("2025-10-05T19:00Z"),
            ]
        );
        let p = period_at(&schedule, ts("2025-09-30T00:00Z")).unwrap();
        assert_eq!(p.start, ts("2025-09-21T20:00Z"));
        assert_eq!(
            p.end,
            ts("2025-09-28T19:00Z"),
            "a week of 167 hours across the change"
        );
    }

    #[test]
    fn repeated_hour_sends_once_april_2025() {
        // 2025-04-06 03:00 NZDT -> 02:00 NZST: 02:30 happens twice; the first one counts.
        let seen = ends(&auckland("02:30"), "2025-04-04T12:00Z", "2025-04-07T12:00Z");
        assert_eq!(
            seen,
            vec![
                ts("2025-04-03T13:30Z"), // Apr 4 02:30 NZDT
                ts("2025-04-04T13:30Z"), // Apr 5 02:30 NZDT
                ts("2025-04-05T13:30Z"), // Apr 6 02:30 NZDT (first of two)
                ts("2025-04-06T14:30Z"), // Apr 7 02:30 NZST
            ]
        );
        // The period across the change is 25 hours long.
        let p = period_at(&auckland("02:30"), ts("2025-04-06T15:00Z")).unwrap();
        assert_eq!(
            p.end.duration_since(p.start),
            jiff::SignedDuration::from_hours(25)
        );
    }

    #[test]
    fn missing_time_sends_once_september_2025() {
        // 2025-09-28 02:00 NZST -> 03:00 NZDT: 02:30 does not exist; it goes out at 03:30.
        let seen = ends(&auckland("02:30"), "2025-09-26T12:00Z", "2025-09-29T12:00Z");
        assert_eq!(
            seen,
            vec![
                ts("2025-09-25T14:30Z"), // Sep 26 02:30 NZST
                ts("2025-09-26T14:30Z"), // Sep 27 02:30 NZST
                ts("2025-09-27T14:30Z"), // Sep 28 03:30 NZDT (02:30 skipped)
                ts("2025-09-28T13:30Z"), // Sep 29 02:30 NZDT
            ]
        );
    }

    #[test]
    fn invalid_time_zone_is_an_error_naming_it() {
        let mut s = auckland("08:00");
        s.timezone = "Mars/Olympus".into();
        let err = period_at(&s, ts("2025-01-01T00:00Z")).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }
}
