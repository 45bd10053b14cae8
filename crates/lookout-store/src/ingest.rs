//! The rows of one [`Store::commit`](crate::Store::commit), serialised up front and written with
//! multi-row statements: PostgreSQL `INSERT … SELECT … FROM UNNEST(…)` (one statement per
//! table), SQLite multi-row `VALUES` chunked under its bound-parameter limit.

use std::collections::BTreeMap;

use lookout_core::{Event, NewNotification, VesselCheckpoint};
use sqlx::{AssertSqlSafe, PgConnection, Sqlite, Transaction};

use crate::error::StoreError;
use crate::millis::{PG_CHANNEL, ms};

/// Rows per SQLite statement: 11 parameters each stays far below SQLite's 32,766 limit while
/// keeping statements (and their prepared-statement cache entries) few.
const SQLITE_CHUNK: usize = 200;

/// Columns of the new outbox rows, one vector per column (the shape UNNEST wants).
#[derive(Default)]
pub(crate) struct CommitRows {
    ev_kind: Vec<String>,
    ev_mmsi: Vec<i64>,
    ev_area: Vec<String>,
    ev_at: Vec<i64>,
    ev_body: Vec<String>,
    n_id: Vec<String>,
    n_dedupe: Vec<String>,
    n_org: Vec<String>,
    n_user: Vec<String>,
    n_rule: Vec<String>,
    n_channel: Vec<String>,
    n_dest: Vec<String>,
    n_delivery: Vec<String>,
    n_event: Vec<String>,
    n_silence: Vec<Option<String>>,
    cp_mmsi: Vec<i64>,
    cp_data: Vec<String>,
    cp_delete: Vec<i64>,
}

impl CommitRows {
    pub(crate) fn new(
        events: &[Event],
        notifications: &[NewNotification],
        checkpoint: &[VesselCheckpoint],
    ) -> Result<CommitRows, StoreError> {
        let mut rows = CommitRows::default();
        for event in events {
            let body = serde_json::to_string(event).map_err(|e| StoreError::Corrupt {
                table: "events",
                id: format!("{}:{}:{}", event.mmsi, event.area_id, event.kind),
                detail: format!("event does not serialise: {e}"),
            })?;
            rows.ev_kind.push(event.kind.as_str().to_owned());
            rows.ev_mmsi.push(i64::from(event.mmsi));
            rows.ev_area.push(event.area_id.clone());
            rows.ev_at.push(ms(event.at));
            rows.ev_body.push(body);
        }
        for n in notifications {
            let event = serde_json::to_string(&n.event).map_err(|e| StoreError::Corrupt {
                table: "outbox",
                id: n.dedupe_key.clone(),
                detail: format!("event does not serialise: {e}"),
            })?;
            rows.n_id.push(uuid::Uuid::now_v7().to_string());
            rows.n_dedupe.push(n.dedupe_key.clone());
            rows.n_org.push(n.org_id.clone());
            rows.n_user.push(n.user_id.clone());
            rows.n_rule.push(n.rule_id.clone());
            rows.n_channel.push(n.channel.as_str().to_owned());
            rows.n_dest.push(n.destination.clone());
            rows.n_delivery.push(n.delivery.as_str().to_owned());
            rows.n_event.push(event);
            rows.n_silence.push(n.silence_id.clone());
        }
        // The last entry per vessel wins; an empty `data` deletes the vessel's row.
        let mut last: BTreeMap<u32, &str> = BTreeMap::new();
        for cp in checkpoint {
            last.insert(cp.mmsi, cp.data.as_str());
        }
        for (mmsi, data) in last {
            if data.is_empty() {
                rows.cp_delete.push(i64::from(mmsi));
            } else {
                rows.cp_mmsi.push(i64::from(mmsi));
                rows.cp_data.push(data.to_owned());
            }
        }
        Ok(rows)
    }

    /// Writes every row inside the transaction open on `tx`; returns how many notifications were
    /// new. `partition`: the checkpoint rows are that log partition's (table
    /// `partition_checkpoints`), else the single-process tracker's (`vessel_checkpoints`).
    pub(crate) async fn write_pg(
        &self,
        tx: &mut PgConnection,
        now_ms: i64,
        partition: Option<u32>,
    ) -> Result<u64, sqlx::Error> {
        if !self.ev_kind.is_empty() {
            sqlx::query(
                "INSERT INTO events (kind, mmsi, area_id, at_ms, body, recorded_at) \
                 SELECT k, m, a, t, b, $6 FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS u(k, m, a, t, b) \
                 ON CONFLICT (mmsi, area_id, kind, at_ms) DO NOTHING",
            )
            .bind(&self.ev_kind)
            .bind(&self.ev_mmsi)
            .bind(&self.ev_area)
            .bind(&self.ev_at)
            .bind(&self.ev_body)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        let mut n_new = 0;
        if !self.n_id.is_empty() {
            n_new = sqlx::query(
                "INSERT INTO outbox (id, dedupe_key, org_id, user_id, rule_id, channel, \
                 destination, delivery, event, state, attempt, created_at, available_at, updated_at, \
                 silence_id, finished_at) \
                 SELECT i, d, o, us, r, c, de, dl, e, \
                 CASE WHEN s IS NULL THEN 'pending' ELSE 'silenced' END, 0, $10, $10, $10, \
                 s, CASE WHEN s IS NULL THEN NULL ELSE $10 END FROM UNNEST( \
                 $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $11::text[]) \
                 AS u(i, d, o, us, r, c, de, dl, e, s) \
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(&self.n_id)
            .bind(&self.n_dedupe)
            .bind(&self.n_org)
            .bind(&self.n_user)
            .bind(&self.n_rule)
            .bind(&self.n_channel)
            .bind(&self.n_dest)
            .bind(&self.n_delivery)
            .bind(&self.n_event)
            .bind(now_ms)
            .bind(&self.n_silence)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        match partition {
            None => {
                if !self.cp_mmsi.is_empty() {
                    sqlx::query(
                        "INSERT INTO vessel_checkpoints (mmsi, data, updated_at) \
                         SELECT m, d, $3 FROM UNNEST($1::bigint[], $2::text[]) AS u(m, d) \
                         ON CONFLICT (mmsi) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    )
                    .bind(&self.cp_mmsi)
                    .bind(&self.cp_data)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                if !self.cp_delete.is_empty() {
                    sqlx::query("DELETE FROM vessel_checkpoints WHERE mmsi = ANY($1)")
                        .bind(&self.cp_delete)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            Some(partition) => {
                let partition = i64::from(partition);
                if !self.cp_mmsi.is_empty() {
                    sqlx::query(
                        "INSERT INTO partition_checkpoints (partition, mmsi, data, updated_at) \
                         SELECT $1, m, d, $4 FROM UNNEST($2::bigint[], $3::text[]) AS u(m, d) \
                         ON CONFLICT (partition, mmsi) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    )
                    .bind(partition)
                    .bind(&self.cp_mmsi)
                    .bind(&self.cp_data)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                if !self.cp_delete.is_empty() {
                    sqlx::query(
                        "DELETE FROM partition_checkpoints WHERE partition = $1 AND mmsi = ANY($2)",
                    )
                    .bind(partition)
                    .bind(&self.cp_delete)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        if n_new > 0 {
            // Delivered to listeners only when the transaction commits.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(PG_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        Ok(n_new)
    }

    /// Writes every row inside `tx` (SQLite); returns how many notifications were new.
    pub(crate) async fn write_sqlite(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        now_ms: i64,
    ) -> Result<u64, sqlx::Error> {
        for start in (0..self.ev_kind.len()).step_by(SQLITE_CHUNK) {
            let end = (start + SQLITE_CHUNK).min(self.ev_kind.len());
            let sql = format!(
                "INSERT INTO events (kind, mmsi, area_id, at_ms, body, recorded_at) VALUES {} \
                 ON CONFLICT (mmsi, area_id, kind, at_ms) DO NOTHING",
                values(end - start, 6)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for i in start..end {
                q = q
                    .bind(self.ev_kind[i].as_str())
                    .bind(self.ev_mmsi[i])
                    .bind(self.ev_area[i].as_str())
                    .bind(self.ev_at[i])
                    .bind(self.ev_body[i].as_str())
                    .bind(now_ms);
            }
            q.execute(&mut **tx).await?;
        }
        let mut n_new = 0;
        for start in (0..self.n_id.len()).step_by(SQLITE_CHUNK) {
            let end = (start + SQLITE_CHUNK).min(self.n_id.len());
            let sql = format!(
                "INSERT INTO outbox (id, dedupe_key, org_id, user_id, rule_id, channel, \
                 destination, delivery, event, state, attempt, created_at, available_at, updated_at, \
                 silence_id, finished_at) \
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, \
                 CASE WHEN column11 IS NULL THEN 'pending' ELSE 'silenced' END, 0, column10, column10, column10, \
                 column11, CASE WHEN column11 IS NULL THEN NULL ELSE column10 END \
                 FROM (VALUES {}) WHERE true \
                 ON CONFLICT (dedupe_key) DO NOTHING",
                values(end - start, 11)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for i in start..end {
                q = q
                    .bind(self.n_id[i].as_str())
                    .bind(self.n_dedupe[i].as_str())
                    .bind(self.n_org[i].as_str())
                    .bind(self.n_user[i].as_str())
                    .bind(self.n_rule[i].as_str())
                    .bind(self.n_channel[i].as_str())
                    .bind(self.n_dest[i].as_str())
                    .bind(self.n_delivery[i].as_str())
                    .bind(self.n_event[i].as_str())
                    .bind(now_ms)
                    .bind(self.n_silence[i].as_deref());
            }
            n_new += q.execute(&mut **tx).await?.rows_affected();
        }
        for start in (0..self.cp_mmsi.len()).step_by(SQLITE_CHUNK) {
            let end = (start + SQLITE_CHUNK).min(self.cp_mmsi.len());
            let sql = format!(
                "INSERT INTO vessel_checkpoints (mmsi, data, updated_at) VALUES {} \
                 ON CONFLICT (mmsi) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                values(end - start, 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for i in start..end {
                q = q
                    .bind(self.cp_mmsi[i])
                    .bind(self.cp_data[i].as_str())
                    .bind(now_ms);
            }
            q.execute(&mut **tx).await?;
        }
        for chunk in self.cp_delete.chunks(SQLITE_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM vessel_checkpoints WHERE mmsi IN ({marks})");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for mmsi in chunk {
                q = q.bind(*mmsi);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(n_new)
    }
}

/// `(?, ?, …), (?, ?, …)`: `n_rows` groups of `n_cols` anonymous parameters.
pub(crate) fn values(n_rows: usize, n_cols: usize) -> String {
    let group = format!("({})", vec!["?"; n_cols].join(", "));
    vec![group.as_str(); n_rows].join(", ")
}
