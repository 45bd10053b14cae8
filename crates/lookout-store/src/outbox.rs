//! The outbox: claiming work under a lease, fenced state changes, TTL expiry and statistics.
//!
//! The same machinery serves realtime notifications (table `outbox`) and digests (table
//! `digests`); [`JobKind`] says which. Every change out of `leased` is conditioned on the lease
//! token handed out by the claim (`WHERE id = $1 AND lease_token = $2 AND state = 'leased'`),
//! so a worker whose lease expired and was re-claimed by another cannot overwrite the result.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{ChannelKind, Delivery, DigestBatch, Event, NewNotification, Notification};
use sqlx::{AssertSqlSafe, Row};

use crate::error::{DbContext, StoreError};
use crate::store::{Store, from_ms, in_tx, ms, on_pool};

/// Where a notification or digest is in its life. Stored as the plain word of [`State::as_str`].
///
/// | state | meaning | moved on by | purged |
/// |---|---|---|---|
/// | `pending` | queued, waiting for a dispatcher (digest items: for their digest) | dispatcher claim; digest scheduler | never |
/// | `leased` | claimed by `lease_owner` until `lease_expires_at`, fenced by `lease_token` | that dispatcher (delivered/retry/dead), or any dispatcher once the lease expired | never |
/// | `delivered` | the channel acknowledged | final | never (archive by hand) |
/// | `retry_scheduled` | a transient failure; claimable again at `available_at` | dispatcher claim; TTL sweep | never |
/// | `dead` | permanent failure, panic or attempts exhausted; reason in `last_error` | final (operator may requeue) | never |
/// | `expired` | older than the TTL before it could be delivered | final | never |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Queued and claimable from `available_at`.
    Pending,
    /// Claimed by a dispatcher under a lease.
    Leased,
    /// Acknowledged by the channel.
    Delivered,
    /// Failed transiently; claimable again from `available_at`.
    RetryScheduled,
    /// Failed for good; the reason is in `last_error`.
    Dead,
    /// Not delivered within the TTL.
    Expired,
    /// Muted by a silence: recorded, never sent (outbox only; its `silence_id` names it).
    Silenced,
}

impl State {
    /// Every state.
    pub const ALL: [State; 7] = [
        State::Pending,
        State::Leased,
        State::Delivered,
        State::RetryScheduled,
        State::Dead,
        State::Expired,
        State::Silenced,
    ];

    /// The word stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Leased => "leased",
            State::Delivered => "delivered",
            State::RetryScheduled => "retry_scheduled",
            State::Dead => "dead",
            State::Expired => "expired",
            State::Silenced => "silenced",
        }
    }

    /// Parses [`State::as_str`].
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for `delivered`, `dead` and `expired`.
    pub fn is_final(self) -> bool {
        matches!(self, State::Delivered | State::Dead | State::Expired)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a lease covers: a realtime notification or a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// A row of `outbox` with `delivery = 'realtime'`.
    Notification,
    /// A row of `digests`.
    Digest,
}

impl JobKind {
    fn table(self) -> &'static str {
        match self {
            JobKind::Notification => "outbox",
            JobKind::Digest => "digests",
        }
    }

    /// `notification` or `digest`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Notification => "notification",
            JobKind::Digest => "digest",
        }
    }
}

/// A lease handed out by a claim: who holds it, until when, and the fencing token that every
/// later state change must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The claiming worker.
    pub owner: String,
    /// Fencing token, new for every claim.
    pub token: String,
    /// When the lease lapses and the work becomes claimable again.
    pub expires_at: Timestamp,
}

/// Notifications claimed under one lease.
#[derive(Debug, Clone)]
pub struct ClaimedNotifications {
    /// The lease shared by every claimed notification.
    pub lease: Lease,
    /// The notifications, `attempt` already counting this one.
    pub notifications: Vec<Notification>,
    /// `(id, reason)` of claimed rows that could not be decoded (a channel or event kind this
    /// version does not know, corrupt JSON): already moved to `dead` with the reason, in the
    /// claim's transaction, so one bad row neither strands the batch nor loops.
    pub undecodable: Vec<(String, String)>,
}

/// Digests claimed under one lease.
#[derive(Debug, Clone)]
pub struct ClaimedDigests {
    /// The lease shared by every claimed digest.
    pub lease: Lease,
    /// The digests with their items; `attempt` of each digest is in `attempts` at the same index.
    pub digests: Vec<DigestBatch>,
    /// Delivery attempt of each digest (1 for the first), parallel to `digests`.
    pub attempts: Vec<u32>,
    /// `(id, reason)` of claimed digests that could not be decoded (or had an undecodable
    /// item): already `dead` with the reason, their items with them.
    pub undecodable: Vec<(String, String)>,
}

/// Current status of one notification (ops, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// State.
    pub state: State,
    /// Claims so far.
    pub attempt: u32,
    /// Last failure text (the reason, when `dead`).
    pub last_error: Option<String>,
    /// Lease owner while leased.
    pub lease_owner: Option<String>,
    /// The digest it was assigned to (digest items).
    pub digest_id: Option<String>,
}

/// Queue depth for the gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Realtime notifications and digests not yet final (pending, leased, retry_scheduled).
    pub n_pending: u64,
    /// When the oldest of them was created.
    pub oldest_created_at: Option<Timestamp>,
}

/// What one TTL sweep expired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// `(id, channel)` of expired realtime notifications and unassigned digest items.
    pub notifications: Vec<(String, ChannelKind)>,
    /// `(id, channel)` of expired digests (their items expire with them).
    pub digests: Vec<(String, ChannelKind)>,
}

impl Expired {
    /// Total rows expired.
    pub fn len(&self) -> usize {
        self.notifications.len() + self.digests.len()
    }

    /// True when nothing expired.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The longest digest period (weekly): digest items wait this long, plus a day, beyond the TTL
/// before the sweep expires them.
pub const LONGEST_DIGEST_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) const NOTIFICATION_COLS: &str = "id, attempt, created_at, dedupe_key, org_id, user_id, \
     rule_id, channel, destination, delivery, event";

/// A notification row as read, before validation.
pub(crate) struct RawNotification {
    pub(crate) id: String,
    pub(crate) attempt: i64,
    pub(crate) created_at: i64,
    pub(crate) dedupe_key: String,
    pub(crate) org_id: String,
    pub(crate) user_id: String,
    pub(crate) rule_id: String,
    pub(crate) channel: String,
    pub(crate) destination: String,
    pub(crate) delivery: String,
    pub(crate) event: String,
}

/// Reads a [`RawNotification`] out of a row of either backend.
macro_rules! raw_notification {
    ($row:expr) => {{
        let row = $row;
        (|| {
            Ok::<_, sqlx::Error>($crate::outbox::RawNotification {
                id: row.try_get("id")?,
                attempt: row.try_get("attempt")?,
                created_at: row.try_get("created_at")?,
                dedupe_key: row.try_get("dedupe_key")?,
                org_id: row.try_get("org_id")?,
                user_id: row.try_get("user_id")?,
                rule_id: row.try_get("rule_id")?,
                channel: row.try_get("channel")?,
                destination: row.try_get("destination")?,
                delivery: row.try_get("delivery")?,
                event: row.try_get("event")?,
            })
        })()
    }};
}
pub(crate) use raw_notification;

pub(crate) fn corrupt(table: &'static str, id: &str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        id: id.to_owned(),
        detail: detail.into(),
    }
}

pub(crate) fn parse_channel(
    table: &'static str,
    id: &str,
    s: &str,
) -> Result<ChannelKind, StoreError> {
    ChannelKind::parse(s).ok_or_else(|| corrupt(table, id, format!("unknown channel {s:?}")))
}

pub(crate) fn attempt_u32(table: &'static str, id: &str, attempt: i64) -> Result<u32, StoreError> {
    u32::try_from(attempt)
        .map_err(|_| corrupt(table, id, format!("attempt {attempt} out of range")))
}

impl RawNotification {
    pub(crate) fn into_notification(self) -> Result<Notification, StoreError> {
        const T: &str = "outbox";
        let event: Event = serde_json::from_str(&self.event)
            .map_err(|e| corrupt(T, &self.id, format!("event json: {e}")))?;
        let delivery = match self.delivery.as_str() {
            "realtime" => Delivery::Realtime,
            "digest" => Delivery::Digest,
            other => return Err(corrupt(T, &self.id, format!("unknown delivery {other:?}"))),
        };
        Ok(Notification {
            attempt: attempt_u32(T, &self.id, self.attempt)?,
            created_at: from_ms(T, &self.id, self.created_at)?,
            new: NewNotification {
                silence_id: None,
                dedupe_key: self.dedupe_key,
                org_id: self.org_id,
                user_id: self.user_id,
                rule_id: self.rule_id,
                channel: parse_channel(T, &self.id, &self.channel)?,
                destination: self.destination,
                delivery,
                event,
            },
            id: self.id,
        })
    }
}

/// Appends the attempt of `id` (a notification or digest of `kind`, just moved out of
/// `leased`) that ended with `outcome` to `notification_attempts`, on `tx` (the caller's
/// transaction; a macro so that it expands for each backend's connection).
macro_rules! record_attempt {
    ($tx:expr, $kind:expr, $id:expr, $now:expr, $outcome:expr, $error:expr) => {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO notification_attempts (job_id, attempt, at, outcome, error) \
             SELECT id, attempt, $2, $3, $4 FROM {} WHERE id = $1",
            $kind.table()
        )))
        .bind($id)
        .bind(ms($now))
        .bind($outcome)
        .bind($error)
        .execute($tx)
        .await
        .map(drop)
    };
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn new_lease(owner: &str, now: Timestamp, lease: Duration) -> Result<Lease, StoreError> {
    let expires_at = now
        .checked_add(jiff::SignedDuration::from_millis(duration_ms(lease)))
        .map_err(|e| corrupt("outbox", owner, format!("lease end out of range: {e}")))?;
    Ok(Lease {
        owner: owner.to_owned(),
        token: uuid::Uuid::new_v4().to_string(),
        expires_at,
    })
}

impl Store {
    /// Extends the lease on `ids` (all claimed with `token`) until `until`. Returns how many
    /// are still held; the others were lost (expired and re-claimed, or expired by the TTL).
    pub async fn renew(
        &self,
        kind: JobKind,
        ids: &[String],
        token: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        const OP: &str = "renewing leases";
        let sql = format!(
            "UPDATE {} SET lease_expires_at = $3, available_at = $3, updated_at = $4 \
             WHERE id = $1 AND lease_token = $2 AND state = 'leased'",
            kind.table()
        );
        let n = in_tx!(self, OP, tx => {
            let mut n = 0;
            for id in ids {
                n += sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(id.as_str())
                    .bind(token)
                    .bind(ms(until))
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await
                    .ctx(OP)?
                    .rows_affected();
            }
            n
        });
        Ok(n)
    }

    /// Moves a leased row to `delivered`. Returns false (and changes nothing) when `token` no
    /// longer holds the lease. For a digest, its items become `delivered` in the same transaction.
    pub async fn mark_delivered(
        &self,
        kind: JobKind,
        id: &str,
        token: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        const OP: &str = "marking delivered";
        let sql = format!(
            "UPDATE {} SET state = 'delivered', finished_at = $3, updated_at = $3, last_error = NULL, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_token = $2 AND state = 'leased'",
            kind.table()
        );
        let ok = in_tx!(self, OP, tx => {
            let n = sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .bind(token)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .ctx(OP)?
                .rows_affected();
            if n == 1 {
                record_attempt!(&mut *tx, kind, id, now, "delivered", None::<&str>).ctx(OP)?;
            }
            if n == 1 && kind == JobKind::Digest {
                sqlx::query(
                    "UPDATE outbox SET state = 'delivered', finished_at = $2, updated_at = $2 \
                     WHERE digest_id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .ctx(OP)?;
            }
            n == 1
        });
        Ok(ok)
    }

    /// Moves a leased row to `retry_scheduled`, claimable again at `next_attempt_at`, recording
    /// `error`. Returns false when `token` no longer holds the lease.
    pub async fn mark_retry(
        &self,
        kind: JobKind,
        id: &str,
        token: &str,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        const OP: &str = "scheduling a retry";
        let sql = format!(
            "UPDATE {} SET state = 'retry_scheduled', available_at = $3, last_error = $4, \
             updated_at = $5, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_token = $2 AND state = 'leased'",
            kind.table()
        );
        let n = in_tx!(self, OP, tx => {
            let n = sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .bind(token)
                .bind(ms(next_attempt_at))
                .bind(error)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .ctx(OP)?
                .rows_affected();
            if n == 1 {
                record_attempt!(&mut *tx, kind, id, now, "retry_scheduled", Some(error)).ctx(OP)?;
            }
            n
        });
        Ok(n == 1)
    }

    /// Moves a leased row to `dead` with `reason`. Returns false when `token` no longer holds
    /// the lease. A dead digest takes its items with it (their reason names the digest).
    pub async fn mark_dead(
        &self,
        kind: JobKind,
        id: &str,
        token: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        const OP: &str = "marking dead";
        let sql = format!(
            "UPDATE {} SET state = 'dead', last_error = $3, finished_at = $4, updated_at = $4, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_token = $2 AND state = 'leased'",
            kind.table()
        );
        let item_reason = format!("digest {id} dead: {reason}");
        let ok = in_tx!(self, OP, tx => {
            let n = sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .bind(token)
                .bind(reason)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .ctx(OP)?
                .rows_affected();
            if n == 1 {
                record_attempt!(&mut *tx, kind, id, now, "dead", Some(reason)).ctx(OP)?;
            }
            if n == 1 && kind == JobKind::Digest {
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', last_error = $2, finished_at = $3, updated_at = $3 \
                     WHERE digest_id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(item_reason.as_str())
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .ctx(OP)?;
            }
            n == 1
        });
        Ok(ok)
    }

    /// Gives a leased row back untouched (`pending`, claimable now, the attempt not counted):
    /// used when shutting down before a claimed row was started.
    pub async fn release(
        &self,
        kind: JobKind,
        id: &str,
        token: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        const OP: &str = "releasing a lease";
        let sql = format!(
            "UPDATE {} SET state = CASE WHEN attempt > 1 THEN 'retry_scheduled' ELSE 'pending' END, \
             attempt = attempt - 1, available_at = $3, updated_at = $3, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_token = $2 AND state = 'leased'",
            kind.table()
        );
        let n = in_tx!(self, OP, tx => sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(token)
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .ctx(OP)?
            .rows_affected());
        Ok(n == 1)
    }

    /// Moves everything created before `now - ttl` that is still waiting (pending,
    /// retry_scheduled, or leased with a lapsed lease) to `expired`; a row under a live lease is
    /// never touched (its holder is mid-send and renews it). Digest items not yet in a digest
    /// wait for their schedule by design, so they get the longest digest period
    /// ([`LONGEST_DIGEST_PERIOD`], a week) plus a day on top of the TTL: a weekly digest never
    /// loses the start of its week. Nothing is deleted.
    pub async fn expire(&self, now: Timestamp, ttl: Duration) -> Result<Expired, StoreError> {
        const OP: &str = "expiring stale notifications";
        let now_ms = ms(now);
        let cutoff = now_ms.saturating_sub(duration_ms(ttl));
        let digest_item_cutoff = cutoff.saturating_sub(duration_ms(
            LONGEST_DIGEST_PERIOD + Duration::from_secs(24 * 3600),
        ));
        let waiting = "(state IN ('pending', 'retry_scheduled') OR (state = 'leased' AND lease_expires_at <= $1))";
        let realtime_sql = format!(
            "UPDATE outbox SET state = 'expired', finished_at = $1, updated_at = $1, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE delivery = 'realtime' AND created_at < $2 AND {waiting} RETURNING id, channel"
        );
        let digests_sql = format!(
            "UPDATE digests SET state = 'expired', finished_at = $1, updated_at = $1, \
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
             WHERE created_at < $2 AND {waiting} RETURNING id, channel"
        );
        let (notifications, digests) = in_tx!(self, OP, tx => {
            macro_rules! read {
                ($rows:expr) => {
                    $rows
                        .iter()
                        .map(|row| Ok((row.try_get::<String, _>("id")?, row.try_get::<String, _>("channel")?)))
                        .collect::<Result<Vec<(String, String)>, sqlx::Error>>()
                };
            }
            let mut notifications = read!(sqlx::query(AssertSqlSafe(realtime_sql))
                .bind(now_ms)
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await
                .ctx(OP)?).ctx(OP)?;
            notifications.extend(read!(sqlx::query(
                "UPDATE outbox SET state = 'expired', finished_at = $1, updated_at = $1 \
                 WHERE delivery = 'digest' AND digest_id IS NULL AND state = 'pending' AND created_at < $2 \
                 RETURNING id, channel",
            )
            .bind(now_ms)
            .bind(digest_item_cutoff)
            .fetch_all(&mut *tx)
            .await
            .ctx(OP)?).ctx(OP)?);
            let digests = read!(sqlx::query(AssertSqlSafe(digests_sql))
                .bind(now_ms)
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await
                .ctx(OP)?).ctx(OP)?;
            if !digests.is_empty() {
                sqlx::query(
                    "UPDATE outbox SET state = 'expired', finished_at = $1, updated_at = $1 \
                     WHERE state = 'pending' AND digest_id IN (SELECT id FROM digests WHERE state = 'expired')",
                )
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .ctx(OP)?;
            }
            (notifications, digests)
        });
        let parse = |table: &'static str, rows: Vec<(String, String)>| {
            rows.into_iter()
                .map(|(id, channel)| {
                    let channel = parse_channel(table, &id, &channel)?;
                    Ok((id, channel))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        };
        Ok(Expired {
            notifications: parse("outbox", notifications)?,
            digests: parse("digests", digests)?,
        })
    }

    /// Depth and age of the queue (realtime notifications and digests not yet final).
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        const OP: &str = "reading outbox statistics";
        let (n, oldest) = on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM ( \
                 SELECT created_at FROM outbox WHERE delivery = 'realtime' \
                   AND state IN ('pending', 'leased', 'retry_scheduled') \
                 UNION ALL SELECT created_at FROM digests \
                   WHERE state IN ('pending', 'leased', 'retry_scheduled')) AS waiting",
            )
            .fetch_one(pool)
            .await
            .ctx(OP)?;
            (
                row.try_get::<i64, _>("n").ctx(OP)?,
                row.try_get::<Option<i64>, _>("oldest").ctx(OP)?,
            )
        });
        Ok(OutboxStats {
            n_pending: u64::try_from(n).unwrap_or(0),
            oldest_created_at: oldest.map(|o| from_ms("outbox", "stats", o)).transpose()?,
        })
    }

    /// How many notifications are in each state (ops, tests).
    pub async fn count_by_state(&self) -> Result<BTreeMap<State, u64>, StoreError> {
        self.count_states(
            "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state",
            "outbox",
        )
        .await
    }

    /// How many digests are in each state (ops, tests).
    pub async fn count_digests_by_state(&self) -> Result<BTreeMap<State, u64>, StoreError> {
        self.count_states(
            "SELECT state, COUNT(*) AS n FROM digests GROUP BY state",
            "digests",
        )
        .await
    }

    async fn count_states(
        &self,
        sql: &'static str,
        table: &'static str,
    ) -> Result<BTreeMap<State, u64>, StoreError> {
        const OP: &str = "counting states";
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await.ctx(OP)?;
            rows.iter()
                .map(|row| Ok((row.try_get::<String, _>("state")?, row.try_get::<i64, _>("n")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .ctx(OP)?
        });
        rows.into_iter()
            .map(|(state, n)| {
                let st = State::parse(&state)
                    .ok_or_else(|| corrupt(table, "-", format!("unknown state {state:?}")))?;
                Ok((st, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// The status of notification `id`, if it exists.
    pub async fn status(&self, id: &str) -> Result<Option<Status>, StoreError> {
        const OP: &str = "reading a notification's status";
        let raw = on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT state, attempt, last_error, lease_owner, digest_id FROM outbox WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .ctx(OP)?;
            match row {
                None => None,
                Some(row) => Some((|| Ok::<_, sqlx::Error>((
                    row.try_get::<String, _>("state")?,
                    row.try_get::<i64, _>("attempt")?,
                    row.try_get::<Option<String>, _>("last_error")?,
                    row.try_get::<Option<String>, _>("lease_owner")?,
                    row.try_get::<Option<String>, _>("digest_id")?,
                )))().ctx(OP)?),
            }
        });
        let Some((state, attempt, last_error, lease_owner, digest_id)) = raw else {
            return Ok(None);
        };
        Ok(Some(Status {
            state: State::parse(&state)
                .ok_or_else(|| corrupt("outbox", id, format!("unknown state {state:?}")))?,
            attempt: attempt_u32("outbox", id, attempt)?,
            last_error,
            lease_owner,
            digest_id,
        }))
    }

    /// Every notification with its status, oldest first (ops, tests; mind the size).
    pub async fn list_notifications(&self) -> Result<Vec<(Notification, Status)>, StoreError> {
        const OP: &str = "listing notifications";
        let sql = format!(
            "SELECT {NOTIFICATION_COLS}, state, last_error, lease_owner, digest_id FROM outbox ORDER BY created_at, id"
        );
        let raws = on_pool!(self, pool => {
            let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await.ctx(OP)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let raw = raw_notification!(row).ctx(OP)?;
                let extra = (|| Ok::<_, sqlx::Error>((
                    row.try_get::<String, _>("state")?,
                    row.try_get::<Option<String>, _>("last_error")?,
                    row.try_get::<Option<String>, _>("lease_owner")?,
                    row.try_get::<Option<String>, _>("digest_id")?,
                )))().ctx(OP)?;
                out.push((raw, extra));
            }
            out
        });
        raws.into_iter()
            .map(|(raw, (state, last_error, lease_owner, digest_id))| {
                let n = raw.into_notification()?;
                let status = Status {
                    state: State::parse(&state).ok_or_else(|| {
                        corrupt("outbox", &n.id, format!("unknown state {state:?}"))
                    })?,
                    attempt: n.attempt,
                    last_error,
                    lease_owner,
                    digest_id,
                };
                Ok((n, status))
            })
            .collect()
    }
}
