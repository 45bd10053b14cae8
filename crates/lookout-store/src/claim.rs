//! Claims: up to a batch of due rows leased to one owner under one token, in one transaction
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite). A claimed row that
//! does not decode is dead-lettered with the reason in the same transaction, so one bad row
//! neither strands the batch nor loops.
//!
//! Realtime claims are fair across organisations: one organisation's backlog cannot starve
//! another's. A claim takes the organisations with due rows, the one whose oldest due row waits
//! longest first (at most one per slot of the batch), and gives each an equal share of the
//! batch (`limit / organisations`, at least one), its oldest due rows. With a single
//! organisation that is the plain oldest-first claim. A share an organisation cannot fill is
//! left empty for this claim (the next claim takes more of the others).

use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{DigestBatch, Notification};
use sqlx::{AssertSqlSafe, Row};

use crate::error::{DbContext, StoreError};
use crate::outbox::{
    ClaimedDigests, ClaimedNotifications, NOTIFICATION_COLS, attempt_u32, corrupt, new_lease,
    parse_channel, raw_notification,
};
use crate::store::{Backend, Store, from_ms, in_tx, ms};

/// The SQL that claims up to `$5` rows of `table`: PostgreSQL skips rows other claimers hold
/// locked; SQLite runs it under `BEGIN IMMEDIATE`, the single writer.
fn claim_sql(backend: Backend, table: &str, filter: &str, returning: &str) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE {table} SET state = 'leased', lease_owner = $1, lease_token = $2, \
         lease_expires_at = $3, available_at = $3, attempt = attempt + 1, updated_at = $4 \
         WHERE id IN (SELECT id FROM {table} WHERE {filter} \
         state IN ('pending', 'leased', 'retry_scheduled') AND available_at <= $4 \
         ORDER BY available_at LIMIT $5{lock}) \
         RETURNING {returning}"
    )
}

/// Realtime rows a claim may take once due: the predicate of the partial index
/// `outbox_claim_org`, written as it is so both planners match it.
const CLAIMABLE: &str =
    "delivery = 'realtime' AND state IN ('pending', 'leased', 'retry_scheduled')";

/// The CTE `due(org_id)`: organisations with a realtime row due at `now`, oldest due row
/// first, at most `limit` of them (`now` and `limit` are the statement's placeholders). It walks the organisations with claimable rows by a loose index scan
/// over `outbox_claim_org` (one probe per organisation, not one per row).
fn due_orgs_cte(now: &str, limit: &str) -> String {
    format!(
        "WITH RECURSIVE orgs(org_id) AS ( \
           SELECT min(org_id) FROM outbox WHERE {CLAIMABLE} \
           UNION ALL \
           SELECT (SELECT min(o.org_id) FROM outbox o WHERE o.{CLAIMABLE_O} AND o.org_id > orgs.org_id) \
           FROM orgs WHERE orgs.org_id IS NOT NULL \
         ), due(org_id) AS ( \
           SELECT org_id FROM ( \
             SELECT org_id, (SELECT min(n.available_at) FROM outbox n WHERE n.{CLAIMABLE_N} AND n.org_id = orgs.org_id) AS next \
             FROM orgs WHERE org_id IS NOT NULL \
           ) d WHERE next <= {now} ORDER BY next, org_id LIMIT {limit} \
         )",
        CLAIMABLE_O = CLAIMABLE.replace(" AND state", " AND o.state"),
        CLAIMABLE_N = CLAIMABLE.replace(" AND state", " AND n.state"),
    )
}

/// The lease assignment of a claim (`$1` owner, `$2` token, `$3` lease expiry, `$4` now).
const LEASE_SET: &str = "SET state = 'leased', lease_owner = $1, lease_token = $2, \
     lease_expires_at = $3, available_at = $3, attempt = attempt + 1, updated_at = $4";

/// PostgreSQL: one statement claims each due organisation's share (`$5` the batch), skipping
/// rows other claimers hold locked.
fn fair_claim_sql_pg() -> String {
    format!(
        "{due}, share AS (SELECT greatest(1, $5 / greatest(count(*), 1)) AS k FROM due) \
         UPDATE outbox {LEASE_SET} \
         WHERE id = ANY(ARRAY( \
           SELECT c.id FROM due, LATERAL ( \
             SELECT id FROM outbox WHERE {CLAIMABLE} AND org_id = due.org_id AND available_at <= $4 \
             ORDER BY available_at LIMIT (SELECT k FROM share) FOR UPDATE SKIP LOCKED \
           ) c LIMIT $5)) \
         RETURNING {NOTIFICATION_COLS}",
        due = due_orgs_cte("$4", "$5"),
    )
}

/// SQLite (under `BEGIN IMMEDIATE`, the single writer): the due organisations first (`$1`
/// now, `$2` the batch)…
fn due_orgs_sql_sqlite() -> String {
    format!("{} SELECT org_id FROM due", due_orgs_cte("$1", "$2"))
}

/// …then one statement per organisation claims its share (`$5`) of its oldest due rows (`$6`).
fn org_claim_sql_sqlite() -> String {
    format!(
        "UPDATE outbox {LEASE_SET} \
         WHERE id IN (SELECT id FROM outbox WHERE {CLAIMABLE} AND org_id = $6 AND available_at <= $4 \
         ORDER BY available_at LIMIT $5) \
         RETURNING {NOTIFICATION_COLS}"
    )
}

/// Orders a claimed batch round-robin across organisations (each organisation's rows oldest
/// first), so a dispatcher that starts a batch in order starts every organisation early.
fn interleave_orgs(mut claimed: Vec<Notification>) -> Vec<Notification> {
    claimed.sort_by(|a, b| {
        (a.new.org_id.as_str(), a.created_at, a.id.as_str()).cmp(&(
            b.new.org_id.as_str(),
            b.created_at,
            b.id.as_str(),
        ))
    });
    let mut rank = Vec::with_capacity(claimed.len());
    let mut previous: Option<&str> = None;
    let mut position = 0usize;
    for n in &claimed {
        position = if previous == Some(n.new.org_id.as_str()) {
            position + 1
        } else {
            0
        };
        previous = Some(n.new.org_id.as_str());
        rank.push(position);
    }
    let mut ranked: Vec<(usize, Notification)> = rank.into_iter().zip(claimed).collect();
    ranked.sort_by(|(ra, a), (rb, b)| {
        (ra, a.created_at, a.id.as_str()).cmp(&(rb, b.created_at, b.id.as_str()))
    });
    ranked.into_iter().map(|(_, n)| n).collect()
}

/// Moves one claimed row of `table` to `dead` with a reason, fenced by the claim's token.
fn dead_sql(table: &str) -> String {
    format!(
        "UPDATE {table} SET state = 'dead', last_error = $3, finished_at = $4, updated_at = $4, \
         lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
         WHERE id = $1 AND lease_token = $2 AND state = 'leased'"
    )
}

/// Decodes one claimed digest row and its item rows (either backend) into
/// `Result<(DigestBatch, attempt), reason>`; the reason is what the digest is dead-lettered with.
macro_rules! decode_digest {
    ($id:expr, $row:expr, $items:expr) => {{
        const T: &str = "digests";
        let id: &str = $id;
        let row = $row;
        (|| -> Result<(DigestBatch, u32), StoreError> {
            let db = |e: sqlx::Error| corrupt(T, id, e.to_string());
            let mut notifications = Vec::with_capacity($items.len());
            for item in $items.iter() {
                notifications.push(raw_notification!(item).map_err(db)?.into_notification()?);
            }
            let attempt = attempt_u32(T, id, row.try_get::<i64, _>("attempt").map_err(db)?)?;
            let channel: String = row.try_get("channel").map_err(db)?;
            let start: i64 = row.try_get("period_start").map_err(db)?;
            let end: i64 = row.try_get("period_end").map_err(db)?;
            Ok((
                DigestBatch {
                    channel: parse_channel(T, id, &channel)?,
                    period_start: from_ms(T, id, start)?,
                    period_end: from_ms(T, id, end)?,
                    items: notifications,
                    user_id: row.try_get("user_id").map_err(db)?,
                    destination: row.try_get("destination").map_err(db)?,
                    id: id.to_owned(),
                },
                attempt,
            ))
        })()
        .map_err(|e| format!("undecodable digest: {e}"))
    }};
}

impl Store {
    /// Claims up to `limit` realtime notifications that are due (`pending`, `retry_scheduled`
    /// whose time has come, or `leased` with a lapsed lease) for `owner`, for `lease`.
    ///
    /// # Cancel safety
    /// If dropped before completion the claim either did not happen or happened and is lost
    /// to the caller; the rows then become claimable again when the lease lapses.
    pub async fn claim_notifications(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
        now: Timestamp,
    ) -> Result<ClaimedNotifications, StoreError> {
        const OP: &str = "claiming notifications";
        let lease = new_lease(owner, now, lease)?;
        let backend = self.backend();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let dead_sql = dead_sql("outbox");
        let (notifications, undecodable) = in_tx!(self, OP, tx => {
            let rows = match backend {
                Backend::Postgres => sqlx::query(AssertSqlSafe(fair_claim_sql_pg()))
                    .bind(lease.owner.as_str())
                    .bind(lease.token.as_str())
                    .bind(ms(lease.expires_at))
                    .bind(ms(now))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .ctx(OP)?,
                Backend::Sqlite => {
                    let orgs: Vec<String> = sqlx::query_scalar(AssertSqlSafe(due_orgs_sql_sqlite()))
                        .bind(ms(now))
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await
                        .ctx(OP)?;
                    let share = limit / i64::try_from(orgs.len().max(1)).unwrap_or(i64::MAX);
                    let mut rows = Vec::new();
                    for org in &orgs {
                        rows.extend(
                            sqlx::query(AssertSqlSafe(org_claim_sql_sqlite()))
                                .bind(lease.owner.as_str())
                                .bind(lease.token.as_str())
                                .bind(ms(lease.expires_at))
                                .bind(ms(now))
                                .bind(share.max(1))
                                .bind(org.as_str())
                                .fetch_all(&mut *tx)
                                .await
                                .ctx(OP)?,
                        );
                    }
                    rows
                }
            };
            let mut good = Vec::with_capacity(rows.len());
            let mut bad = Vec::new();
            for row in &rows {
                let id: String = row.try_get("id").ctx(OP)?;
                let decoded = raw_notification!(row)
                    .map_err(|e| format!("undecodable row: {e}"))
                    .and_then(|raw| raw.into_notification().map_err(|e| format!("undecodable row: {e}")));
                match decoded {
                    Ok(n) => good.push(n),
                    Err(reason) => bad.push((id, reason)),
                }
            }
            for (id, reason) in &bad {
                sqlx::query(AssertSqlSafe(dead_sql.clone()))
                    .bind(id.as_str())
                    .bind(lease.token.as_str())
                    .bind(reason.as_str())
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await
                    .ctx(OP)?;
            }
            (good, bad)
        });
        for (id, reason) in &undecodable {
            tracing::error!(notification_id = %id, reason = %reason, "claimed notification cannot be decoded; dead-lettered");
        }
        Ok(ClaimedNotifications {
            lease,
            notifications: interleave_orgs(notifications),
            undecodable,
        })
    }

    /// Claims up to `limit` due digests, with their items, for `owner`.
    ///
    /// # Cancel safety
    /// As [`Store::claim_notifications`].
    pub async fn claim_digests(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
        now: Timestamp,
    ) -> Result<ClaimedDigests, StoreError> {
        const OP: &str = "claiming digests";
        let lease = new_lease(owner, now, lease)?;
        let sql = claim_sql(
            self.backend(),
            "digests",
            "",
            "id, user_id, channel, destination, period_start, period_end, attempt",
        );
        let items_sql = format!(
            "SELECT {NOTIFICATION_COLS} FROM outbox WHERE digest_id = $1 ORDER BY created_at, id"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let dead_sql = dead_sql("digests");
        let (digests, attempts, undecodable) = in_tx!(self, OP, tx => {
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(lease.owner.as_str())
                .bind(lease.token.as_str())
                .bind(ms(lease.expires_at))
                .bind(ms(now))
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .ctx(OP)?;
            let mut digests = Vec::with_capacity(rows.len());
            let mut attempts = Vec::with_capacity(rows.len());
            let mut bad = Vec::new();
            for row in &rows {
                let id: String = row.try_get("id").ctx(OP)?;
                let items = sqlx::query(AssertSqlSafe(items_sql.clone()))
                    .bind(id.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .ctx(OP)?;
                match decode_digest!(&id, row, &items) {
                    Ok((digest, attempt)) => {
                        digests.push(digest);
                        attempts.push(attempt);
                    }
                    Err(reason) => bad.push((id, reason)),
                }
            }
            for (id, reason) in &bad {
                sqlx::query(AssertSqlSafe(dead_sql.clone()))
                    .bind(id.as_str())
                    .bind(lease.token.as_str())
                    .bind(reason.as_str())
                    .bind(ms(now))
                    .execute(&mut *tx)
                    .await
                    .ctx(OP)?;
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', last_error = $2, finished_at = $3, updated_at = $3 \
                     WHERE digest_id = $1 AND state = 'pending'",
                )
                .bind(id.as_str())
                .bind(format!("digest {id} dead: {reason}"))
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .ctx(OP)?;
            }
            (digests, attempts, bad)
        });
        for (id, reason) in &undecodable {
            tracing::error!(digest_id = %id, reason = %reason, "claimed digest cannot be decoded; dead-lettered with its items");
        }
        Ok(ClaimedDigests {
            lease,
            digests,
            attempts,
            undecodable,
        })
    }
}
