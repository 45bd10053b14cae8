//! Delivery history for the API (issue 12): an organisation's notifications, filtered and
//! paged, and the two operator actions on one — requeue a `dead` one, cancel a `pending` one —
//! each audited in the same transaction. Scoped by the outbox's `org_id` like the rest of the
//! model.

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use super::Audit;
use super::conn::ModelConn;
use crate::error::{DbContext, StoreError};
use crate::store::{Store, from_ms, in_tx, on_pool};

/// One notification as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRecord {
    /// Id (UUIDv7: ordered by creation).
    pub id: String,
    /// The user notified.
    pub user_id: String,
    /// The rule that matched.
    pub rule_id: String,
    /// `email`, `webhook`, `slack` or `maildir`.
    pub channel: String,
    /// `realtime` or `digest`.
    pub delivery: String,
    /// `pending`, `leased`, `delivered`, `retry_scheduled`, `dead`, `expired` or `silenced`.
    pub state: String,
    /// Claims so far.
    pub attempt: i64,
    /// When it was queued.
    pub created_at: jiff::Timestamp,
    /// Its last change.
    pub updated_at: jiff::Timestamp,
    /// When it may next be claimed.
    pub available_at: jiff::Timestamp,
    /// When it reached a final state.
    pub finished_at: Option<jiff::Timestamp>,
    /// The last failure (the reason, when `dead`).
    pub last_error: Option<String>,
    /// The digest it went out in (digest items).
    pub digest_id: Option<String>,
    /// The silence that muted it (`silenced`).
    pub silence_id: Option<String>,
    /// The event (JSON).
    pub event: serde_json::Value,
}

/// One attempt of a notification that reached an outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    /// Its number (a requeue starts again at 1).
    pub attempt: i64,
    /// When its outcome was recorded.
    pub at: jiff::Timestamp,
    /// `delivered`, `retry_scheduled` or `dead`.
    pub outcome: String,
    /// Why it failed (already redacted by the channel).
    pub error: Option<String>,
}

/// One digest as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestRecord {
    /// Id.
    pub id: String,
    /// The user it goes to.
    pub user_id: String,
    /// `email`, `webhook`, `slack` or `maildir`.
    pub channel: String,
    /// Start of the period (inclusive).
    pub period_start: jiff::Timestamp,
    /// End of the period (exclusive; when it was due).
    pub period_end: jiff::Timestamp,
    /// `pending`, `leased`, `delivered`, `retry_scheduled`, `dead` or `expired`.
    pub state: String,
    /// Claims so far.
    pub attempt: i64,
    /// When it reached a final state.
    pub finished_at: Option<jiff::Timestamp>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The notifications it carries.
    pub items: i64,
}

/// Which notifications to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    /// A state word.
    pub state: Option<String>,
    /// A user id.
    pub user: Option<String>,
    /// A rule id.
    pub rule: Option<String>,
    /// A channel word.
    pub channel: Option<String>,
    /// A digest id: the notifications it carries.
    pub digest: Option<String>,
    /// Queued at or after.
    pub from: Option<jiff::Timestamp>,
    /// Queued before.
    pub to: Option<jiff::Timestamp>,
}

const COLS: &str = "id, user_id, rule_id, channel, delivery, state, attempt, created_at, updated_at, \
                    available_at, finished_at, last_error, digest_id, event, silence_id";

macro_rules! record {
    ($row:expr) => {{
        let row = $row;
        (|| {
            Ok::<_, sqlx::Error>((
                row.try_get::<String, _>("id")?,
                row.try_get::<String, _>("user_id")?,
                row.try_get::<String, _>("rule_id")?,
                row.try_get::<String, _>("channel")?,
                row.try_get::<String, _>("delivery")?,
                row.try_get::<String, _>("state")?,
                row.try_get::<i64, _>("attempt")?,
                [
                    row.try_get::<i64, _>("created_at")?,
                    row.try_get::<i64, _>("updated_at")?,
                    row.try_get::<i64, _>("available_at")?,
                ],
                row.try_get::<Option<i64>, _>("finished_at")?,
                row.try_get::<Option<String>, _>("last_error")?,
                row.try_get::<Option<String>, _>("digest_id")?,
                row.try_get::<String, _>("event")?,
                row.try_get::<Option<String>, _>("silence_id")?,
            ))
        })()
    }};
}

type Raw = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    [i64; 3],
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

fn into_record(raw: Raw) -> Result<NotificationRecord, StoreError> {
    let (
        id,
        user_id,
        rule_id,
        channel,
        delivery,
        state,
        attempt,
        times,
        finished,
        err,
        dig,
        ev,
        sil,
    ) = raw;
    let t = |v| from_ms("outbox", &id, v);
    Ok(NotificationRecord {
        created_at: t(times[0])?,
        updated_at: t(times[1])?,
        available_at: t(times[2])?,
        finished_at: finished.map(t).transpose()?,
        event: serde_json::from_str(&ev).map_err(|e| StoreError::Corrupt {
            table: "outbox",
            id: id.clone(),
            detail: format!("bad event JSON: {e}"),
        })?,
        id,
        user_id,
        rule_id,
        channel,
        delivery,
        state,
        attempt,
        last_error: err,
        digest_id: dig,
        silence_id: sil,
    })
}

/// One recorded event as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// Sequence number (the cursor).
    pub id: i64,
    /// `entered`, `exited`, `gap_started` or `gap_ended`.
    pub kind: String,
    /// The vessel.
    pub mmsi: i64,
    /// The area.
    pub area_id: String,
    /// When it happened.
    pub at: jiff::Timestamp,
    /// The whole event (JSON).
    pub event: serde_json::Value,
}

/// Which events to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// A vessel.
    pub mmsi: Option<u32>,
    /// Members of this fleet of the organisation.
    pub fleet: Option<String>,
    /// An area id.
    pub area: Option<String>,
    /// An event kind.
    pub kind: Option<String>,
    /// At or after.
    pub from: Option<jiff::Timestamp>,
    /// Before.
    pub to: Option<jiff::Timestamp>,
    /// Recorded before this time (a live stream lets commits settle before it moves on).
    pub recorded_before: Option<jiff::Timestamp>,
}

/// Which events, in which order.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// After this id, oldest first (pages).
    After(i64),
    /// Newest first.
    Newest,
    /// Each vessel's newest, newest first.
    LatestPerVessel,
}

/// What a requeue or cancel found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Done.
    Done,
    /// The organisation has no such notification.
    NotFound,
    /// It is in a state the action does not apply to.
    WrongState,
}

impl Store {
    /// A page of `org`'s notifications after id `after` (`""`: from the start), by id.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn notifications(
        &self,
        org: &str,
        filter: &NotificationFilter,
        after: &str,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        const OP: &str = "listing notifications";
        let sql = format!(
            "SELECT {COLS} FROM outbox WHERE org_id = $1 AND id > $2 \
             AND ($3 = '' OR state = $3) AND ($4 = '' OR user_id = $4) \
             AND ($5 = '' OR rule_id = $5) AND ($6 = '' OR channel = $6) \
             AND ($8 = '' OR digest_id = $8) AND created_at >= $9 AND created_at < $10 \
             ORDER BY id LIMIT $7"
        );
        let f = |v: &Option<String>| v.clone().unwrap_or_default();
        let raws = on_pool!(self, pool => {
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(org)
                .bind(after)
                .bind(f(&filter.state))
                .bind(f(&filter.user))
                .bind(f(&filter.rule))
                .bind(f(&filter.channel))
                .bind(i64::from(limit))
                .bind(f(&filter.digest))
                .bind(filter.from.map_or(i64::MIN, crate::store::ms))
                .bind(filter.to.map_or(i64::MAX, crate::store::ms))
                .fetch_all(pool)
                .await
                .ctx(OP)?;
            rows.iter().map(|row| record!(row)).collect::<Result<Vec<_>, _>>().ctx(OP)?
        });
        raws.into_iter().map(into_record).collect()
    }

    /// A page of the events in `org`'s areas (the tracker's events carry no organisation: an
    /// organisation sees what happened in the areas it defines), after event id `after`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn events(
        &self,
        org: &str,
        filter: &EventFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.events_in(org, filter, Order::After(after), limit)
            .await
    }

    /// The newest events in `org`'s areas matching `filter`, newest first, at most `limit`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn newest_events(
        &self,
        org: &str,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.events_in(org, filter, Order::Newest, limit).await
    }

    /// The newest event of each vessel in `org`'s areas (where it was last seen in them),
    /// newest first, at most `limit` vessels.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn latest_event_per_vessel(
        &self,
        org: &str,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.events_in(org, &EventFilter::default(), Order::LatestPerVessel, limit)
            .await
    }

    async fn events_in(
        &self,
        org: &str,
        filter: &EventFilter,
        order: Order,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        const OP: &str = "listing events";
        let (after, tail) = match order {
            Order::After(after) => (after, "ORDER BY id LIMIT $9"),
            Order::Newest => (0, "ORDER BY id DESC LIMIT $9"),
            Order::LatestPerVessel => (
                0,
                "AND id IN (SELECT MAX(id) FROM events \
                 WHERE area_id IN (SELECT id FROM areas WHERE org_id = $1) GROUP BY mmsi) \
                 ORDER BY id DESC LIMIT $9",
            ),
        };
        let sql = format!(
            "SELECT id, kind, mmsi, area_id, at_ms, body FROM events \
             WHERE area_id IN (SELECT id FROM areas WHERE org_id = $1) AND id > $2 \
             AND ($3 < 0 OR mmsi = $3) AND ($4 = '' OR area_id = $4) AND ($5 = '' OR kind = $5) \
             AND at_ms >= $6 AND at_ms < $7 \
             AND ($8 = '' OR mmsi IN (SELECT mmsi FROM fleet_members WHERE org_id = $1 AND fleet_id = $8)) \
             AND recorded_at < $10 {tail}"
        );
        let rows: Vec<(i64, String, i64, String, i64, String)> = on_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(org)
                .bind(after)
                .bind(filter.mmsi.map_or(-1, i64::from))
                .bind(filter.area.clone().unwrap_or_default())
                .bind(filter.kind.clone().unwrap_or_default())
                .bind(filter.from.map_or(i64::MIN, crate::store::ms))
                .bind(filter.to.map_or(i64::MAX, crate::store::ms))
                .bind(filter.fleet.clone().unwrap_or_default())
                .bind(i64::from(limit))
                .bind(filter.recorded_before.map_or(i64::MAX, crate::store::ms))
                .fetch_all(pool)
                .await
                .ctx(OP)?
        });
        rows.into_iter()
            .map(|(id, kind, mmsi, area_id, at_ms, body)| {
                let sid = id.to_string();
                Ok(EventRecord {
                    at: from_ms("events", &sid, at_ms)?,
                    event: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                        table: "events",
                        id: sid,
                        detail: format!("bad JSON: {e}"),
                    })?,
                    id,
                    kind,
                    mmsi,
                    area_id,
                })
            })
            .collect()
    }

    /// A page of `org`'s digests (those of its users) after id `after` (`""`: from the
    /// start), by id; `user` and `state` filter when not empty.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn digests(
        &self,
        org: &str,
        user: &str,
        state: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<DigestRecord>, StoreError> {
        const OP: &str = "listing digests";
        const T: &str = "digests";
        type Raw = (
            String,
            String,
            String,
            i64,
            i64,
            String,
            i64,
            Option<i64>,
            Option<String>,
            i64,
        );
        let sql = "SELECT d.id, d.user_id, d.channel, d.period_start, d.period_end, d.state, d.attempt, \
             d.finished_at, d.last_error, (SELECT COUNT(*) FROM outbox o WHERE o.digest_id = d.id) \
             FROM digests d WHERE d.user_id IN (SELECT id FROM users WHERE org_id = $1) AND d.id > $2 \
             AND ($3 = '' OR d.user_id = $3) AND ($4 = '' OR d.state = $4) ORDER BY d.id LIMIT $5";
        let rows: Vec<Raw> = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(org)
                .bind(after)
                .bind(user)
                .bind(state)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .ctx(OP)?
        });
        rows.into_iter()
            .map(
                |(
                    id,
                    user_id,
                    channel,
                    start,
                    end,
                    state,
                    attempt,
                    finished,
                    last_error,
                    items,
                )| {
                    let t = |v| from_ms(T, &id, v);
                    Ok(DigestRecord {
                        period_start: t(start)?,
                        period_end: t(end)?,
                        finished_at: finished.map(t).transpose()?,
                        id,
                        user_id,
                        channel,
                        state,
                        attempt,
                        last_error,
                        items,
                    })
                },
            )
            .collect()
    }

    /// The id of the newest recorded event (0 when none): where a live stream that wants only
    /// what comes next starts.
    ///
    /// # Errors
    /// A database error.
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        const OP: &str = "reading the newest event id";
        let (id,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM events")
                .fetch_one(pool)
                .await
                .ctx(OP)?
        });
        Ok(id)
    }

    /// Notification `id` of `org`.
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn notification(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        const OP: &str = "reading a notification";
        let sql = format!("SELECT {COLS} FROM outbox WHERE org_id = $1 AND id = $2");
        let raw = on_pool!(self, pool => {
            match sqlx::query(AssertSqlSafe(sql)).bind(org).bind(id).fetch_optional(pool).await.ctx(OP)? {
                Some(row) => Some(record!(&row).ctx(OP)?),
                None => None,
            }
        });
        raw.map(into_record).transpose()
    }

    /// Every attempt of notification `id` of `org` that reached an outcome, oldest first
    /// (empty for another organisation's notification).
    ///
    /// # Errors
    /// A database error; a corrupt row.
    pub async fn notification_attempts(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        const OP: &str = "reading a notification's attempts";
        let sql = "SELECT a.attempt, a.at, a.outcome, a.error FROM notification_attempts a \
                   JOIN outbox o ON o.id = a.job_id WHERE o.org_id = $1 AND a.job_id = $2 \
                   ORDER BY a.id LIMIT 1000";
        let rows: Vec<(i64, i64, String, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(org).bind(id).fetch_all(pool).await.ctx(OP)?
        });
        rows.into_iter()
            .map(|(attempt, at, outcome, error)| {
                Ok(AttemptRecord {
                    at: from_ms("notification_attempts", id, at)?,
                    attempt,
                    outcome,
                    error,
                })
            })
            .collect()
    }

    /// Puts a `dead` realtime notification of `org` back to `pending` with its attempts reset
    /// (the same id, so the receiver can still dedupe).
    ///
    /// # Errors
    /// A database error.
    pub async fn requeue_notification(
        &self,
        org: &str,
        id: &str,
        audit: &Audit,
    ) -> Result<Action, StoreError> {
        self.change_state(
            org,
            id,
            audit,
            "UPDATE outbox SET state = 'pending', attempt = 0, available_at = $3, updated_at = $3, \
             finished_at = NULL WHERE org_id = $1 AND id = $2 AND state = 'dead' AND delivery = 'realtime'",
        )
        .await
    }

    /// Cancels a `pending` or `retry_scheduled` realtime notification of `org`: it becomes
    /// `dead` with `last_error` "cancelled" (final; it may be requeued).
    ///
    /// # Errors
    /// A database error.
    pub async fn cancel_notification(
        &self,
        org: &str,
        id: &str,
        audit: &Audit,
    ) -> Result<Action, StoreError> {
        self.change_state(
            org,
            id,
            audit,
            "UPDATE outbox SET state = 'dead', last_error = 'cancelled through the API', updated_at = $3, \
             finished_at = $3 WHERE org_id = $1 AND id = $2 AND state IN ('pending', 'retry_scheduled') \
             AND delivery = 'realtime'",
        )
        .await
    }

    async fn change_state(
        &self,
        org: &str,
        id: &str,
        audit: &Audit,
        sql: &'static str,
    ) -> Result<Action, StoreError> {
        const OP: &str = "changing a notification's state";
        let action = in_tx!(self, OP, tx => {
            let now = tx.now_ms().await.ctx(OP)?;
            let n = sqlx::query(sql).bind(org).bind(id).bind(now).execute(&mut *tx).await.ctx(OP)?.rows_affected();
            if n > 0 {
                tx.audit_insert(Some(org), audit, now).await.ctx(OP)?;
                Action::Done
            } else {
                let exists: Option<String> = sqlx::query_scalar("SELECT id FROM outbox WHERE org_id = $1 AND id = $2")
                    .bind(org).bind(id).fetch_optional(&mut *tx).await.ctx(OP)?;
                if exists.is_some() { Action::WrongState } else { Action::NotFound }
            }
        });
        if action == Action::Done {
            self.wake_local();
        }
        Ok(action)
    }
}
