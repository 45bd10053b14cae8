//! Batched, fenced transitions out of `leased`: the dispatcher buffers outcomes briefly and
//! records a whole flush with one statement (PostgreSQL `UPDATE … FROM UNNEST(…)`), or one
//! transaction reusing one prepared statement (SQLite); renewal extends every row of a lease
//! with one statement by token.
//!
//! Each outcome that ends an attempt (not a release) also appends its row to
//! `notification_attempts` in the same statement or transaction: the delivery history.
//!
//! Every change is conditioned on `lease_token` and `state = 'leased'`, exactly as the per-row
//! `mark_*` functions: a row whose lease was lost (lapsed and re-claimed, or swept) is not
//! returned, and the dispatcher counts it as `lease_lost`.

use std::collections::HashSet;

use jiff::Timestamp;
use sqlx::{AssertSqlSafe, Row};

use crate::error::{DbContext, StoreError};
use crate::outbox::JobKind;
use crate::store::{Pool, Store, in_tx, ms};

/// Where a leased notification goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transition {
    /// The channel acknowledged: `delivered`.
    Delivered,
    /// A transient failure: `retry_scheduled`, claimable again at `at`, `error` recorded.
    Retry {
        /// Next claimable time.
        at: Timestamp,
        /// Why it failed (already redacted by the channel).
        error: String,
    },
    /// A permanent failure: `dead` with `reason`.
    Dead {
        /// Why.
        reason: String,
    },
    /// Given back unsent, the attempt not counted: `pending` (or `retry_scheduled` if it had
    /// failed before), claimable again at `at`. Shutdown before the send, or a destination
    /// that is open (circuit breaker) or slow.
    Release {
        /// Next claimable time.
        at: Timestamp,
    },
}

impl Transition {
    fn op(&self) -> &'static str {
        match self {
            Transition::Delivered => "delivered",
            Transition::Retry { .. } => "retry_scheduled",
            Transition::Dead { .. } => "dead",
            Transition::Release { .. } => "release",
        }
    }

    fn at_ms(&self) -> Option<i64> {
        match self {
            Transition::Retry { at, .. } | Transition::Release { at } => Some(ms(*at)),
            Transition::Delivered | Transition::Dead { .. } => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Transition::Retry { error, .. } => Some(error),
            Transition::Dead { reason } => Some(reason),
            Transition::Delivered | Transition::Release { .. } => None,
        }
    }
}

/// One outcome to record: the notification, the lease token it was claimed with, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// Notification id.
    pub id: String,
    /// The fencing token of the claim.
    pub token: String,
    /// The new state.
    pub transition: Transition,
}

/// The per-row statement (SQLite; `$n` works on both engines).
const FINISH_ONE: &str = "UPDATE outbox SET \
     state = CASE WHEN $3 = 'release' THEN (CASE WHEN attempt > 1 THEN 'retry_scheduled' ELSE 'pending' END) ELSE $3 END, \
     attempt = CASE WHEN $3 = 'release' THEN attempt - 1 ELSE attempt END, \
     available_at = COALESCE($4, available_at), \
     last_error = CASE WHEN $3 = 'delivered' THEN NULL WHEN $3 = 'release' THEN last_error ELSE $5 END, \
     finished_at = CASE WHEN $3 IN ('delivered', 'dead') THEN $6 ELSE finished_at END, \
     updated_at = $6, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
     WHERE id = $1 AND lease_token = $2 AND state = 'leased'";

/// The attempt a per-row outcome ended (SQLite; after [`FINISH_ONE`] applied, not for a release).
const ATTEMPT_ONE: &str = "INSERT INTO notification_attempts (job_id, attempt, at, outcome, error) \
     SELECT id, attempt, $2, $3, $4 FROM outbox WHERE id = $1";

/// The whole-flush statement (PostgreSQL): the fenced outcomes and, for every one applied that
/// ended an attempt (not a release), its row in `notification_attempts`.
const FINISH_MANY_PG: &str = "WITH done AS (UPDATE outbox AS o SET \
     state = CASE WHEN u.op = 'release' THEN (CASE WHEN o.attempt > 1 THEN 'retry_scheduled' ELSE 'pending' END) ELSE u.op END, \
     attempt = CASE WHEN u.op = 'release' THEN o.attempt - 1 ELSE o.attempt END, \
     available_at = COALESCE(u.at, o.available_at), \
     last_error = CASE WHEN u.op = 'delivered' THEN NULL WHEN u.op = 'release' THEN o.last_error ELSE u.err END, \
     finished_at = CASE WHEN u.op IN ('delivered', 'dead') THEN $6 ELSE o.finished_at END, \
     updated_at = $6, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS u(id, token, op, at, err) \
     WHERE o.id = u.id AND o.lease_token = u.token AND o.state = 'leased' \
     RETURNING o.id, o.attempt, u.op, u.err), \
     history AS (INSERT INTO notification_attempts (job_id, attempt, at, outcome, error) \
     SELECT id, attempt, $6, op, err FROM done WHERE op <> 'release') \
     SELECT id FROM done";

impl Store {
    /// Records a flush of notification outcomes, each fenced by its lease token, in one
    /// statement (PostgreSQL) or one transaction (SQLite). Returns the ids whose transition
    /// was applied; an id missing from the answer had lost its lease (`lease_lost`).
    ///
    /// # Cancel safety
    /// Dropping the future rolls the flush back (nothing recorded); the leases then lapse and
    /// the notifications are delivered again, same id.
    pub async fn finish_notifications(
        &self,
        finishes: &[Finish],
        now: Timestamp,
    ) -> Result<HashSet<String>, StoreError> {
        const OP: &str = "recording delivery outcomes";
        if finishes.is_empty() {
            return Ok(HashSet::new());
        }
        let now_ms = ms(now);
        match &self.pool {
            Pool::Postgres(pool) => {
                let ids: Vec<&str> = finishes.iter().map(|f| f.id.as_str()).collect();
                let tokens: Vec<&str> = finishes.iter().map(|f| f.token.as_str()).collect();
                let ops: Vec<&str> = finishes.iter().map(|f| f.transition.op()).collect();
                let ats: Vec<Option<i64>> = finishes.iter().map(|f| f.transition.at_ms()).collect();
                let errs: Vec<Option<&str>> =
                    finishes.iter().map(|f| f.transition.text()).collect();
                let rows = sqlx::query(FINISH_MANY_PG)
                    .bind(ids)
                    .bind(tokens)
                    .bind(ops)
                    .bind(ats)
                    .bind(errs)
                    .bind(now_ms)
                    .fetch_all(pool)
                    .await
                    .ctx(OP)?;
                rows.iter()
                    .map(|row| row.try_get::<String, _>(0))
                    .collect::<Result<HashSet<_>, _>>()
                    .ctx(OP)
            }
            Pool::Sqlite(_) => {
                let applied = in_tx!(self, OP, tx => {
                    let mut applied = HashSet::with_capacity(finishes.len());
                    for f in finishes {
                        let n = sqlx::query(FINISH_ONE)
                            .bind(f.id.as_str())
                            .bind(f.token.as_str())
                            .bind(f.transition.op())
                            .bind(f.transition.at_ms())
                            .bind(f.transition.text())
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await
                            .ctx(OP)?
                            .rows_affected();
                        if n == 1 {
                            if !matches!(f.transition, Transition::Release { .. }) {
                                sqlx::query(ATTEMPT_ONE)
                                    .bind(f.id.as_str())
                                    .bind(now_ms)
                                    .bind(f.transition.op())
                                    .bind(f.transition.text())
                                    .execute(&mut *tx)
                                    .await
                                    .ctx(OP)?;
                            }
                            applied.insert(f.id.clone());
                        }
                    }
                    applied
                });
                Ok(applied)
            }
        }
    }

    /// Extends every row still leased under one of `tokens` until `until`, with one statement
    /// per table (by token, so a row re-claimed under a new token is renewed under that token
    /// and never under the old one). Returns how many rows were renewed.
    pub async fn renew_tokens(
        &self,
        kind: JobKind,
        tokens: &[String],
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        const OP: &str = "renewing leases";
        if tokens.is_empty() {
            return Ok(0);
        }
        let table = match kind {
            JobKind::Notification => "outbox",
            JobKind::Digest => "digests",
        };
        match &self.pool {
            Pool::Postgres(pool) => {
                let sql = format!(
                    "UPDATE {table} SET lease_expires_at = $2, available_at = $2, updated_at = $3 \
                     WHERE lease_token = ANY($1) AND state = 'leased'"
                );
                let n = sqlx::query(AssertSqlSafe(sql))
                    .bind(tokens)
                    .bind(ms(until))
                    .bind(ms(now))
                    .execute(pool)
                    .await
                    .ctx(OP)?
                    .rows_affected();
                Ok(n)
            }
            Pool::Sqlite(_) => {
                let marks = vec!["?"; tokens.len()].join(", ");
                let sql = format!(
                    "UPDATE {table} SET lease_expires_at = ?, available_at = ?, updated_at = ? \
                     WHERE state = 'leased' AND lease_token IN ({marks})"
                );
                let n = in_tx!(self, OP, tx => {
                    let mut q = sqlx::query(AssertSqlSafe(sql))
                        .bind(ms(until))
                        .bind(ms(until))
                        .bind(ms(now));
                    for token in tokens {
                        q = q.bind(token.as_str());
                    }
                    q.execute(&mut *tx).await.ctx(OP)?.rows_affected()
                });
                Ok(n)
            }
        }
    }
}
