//! The [`Store`] handle: opening SQLite or PostgreSQL from a URL, migrations, and the one
//! transaction that records events, their notifications and the tracker checkpoint together.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use lookout_core::{Event, NewNotification, VesselCheckpoint};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Notify;

use crate::error::{DbContext, StoreError};
use crate::ingest::CommitRows;

/// The database clock in Unix milliseconds, PostgreSQL (`clock_timestamp`, not the
/// transaction's start).
pub(crate) const PG_NOW_MS: &str = "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";
/// The database clock in Unix milliseconds, SQLite.
pub(crate) const SQLITE_NOW_MS: &str =
    "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

pub(crate) use crate::millis::PG_CHANNEL;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite (WAL): one process, single writer.
    Sqlite,
    /// Shared PostgreSQL: several instances may dispatch from one outbox.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`, as used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Pool size (SQLite: readers share it; writes are serialised by SQLite itself).
    pub max_connections: u32,
    /// How long to wait for a pooled connection.
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for the write lock before failing with `SQLITE_BUSY`.
    pub busy_timeout: Duration,
    /// PostgreSQL: `statement_timeout` for every statement.
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A snapshot of the store's connection pool ([`Store::pool_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub open: u32,
    /// Connections checked out by a query or transaction.
    pub in_use: u32,
    /// The pool's maximum.
    pub max: u32,
}

/// The durable store: outbox, digests, events and tracker checkpoints on SQLite or PostgreSQL.
///
/// Cheap to clone (a pool handle and a wake-up signal).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// Raised after a commit that queued new work, for dispatchers in this process.
    pub(crate) wake: Arc<Notify>,
    /// SQLite's single writer: every writing transaction of this process (the recorder's
    /// commits, the dispatcher's flushes, claims, sweeps, digests) takes it before `BEGIN
    /// IMMEDIATE`, so writers queue in FIFO order here instead of spinning in SQLite's busy
    /// handler (where a long wait ends in `SQLITE_BUSY`, a lapsed lease and a repeated send).
    /// Shared by every clone. Unused on PostgreSQL.
    pub(crate) writer: Arc<tokio::sync::Mutex<()>>,
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per backend,
/// so the same runtime SQL serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` inside a write transaction bound to `$tx` and commits it; an early return (or
/// `?`) drops the transaction, which rolls it back. On SQLite the store's single-writer lock is
/// taken first, then the write lock up front with `BEGIN IMMEDIATE`, so a transaction never
/// fails half-way for want of it and never waits in the busy handler for a writer of this
/// process.
macro_rules! in_tx {
    ($store:expr, $op:expr, $tx:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(pool) => {
                let _writer = $store.writer.lock().await;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await.ctx($op)?;
                let out = $body;
                $tx.commit().await.ctx($op)?;
                out
            }
            $crate::store::Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await.ctx($op)?;
                let out = $body;
                $tx.commit().await.ctx($op)?;
                out
            }
        }
    };
}

pub(crate) use {in_tx, on_pool};

pub(crate) use crate::millis::ms;

/// The stored milliseconds back as a timestamp.
pub(crate) fn from_ms(table: &'static str, id: &str, value: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(value).map_err(|e| StoreError::Corrupt {
        table,
        id: id.to_owned(),
        detail: format!("timestamp {value} out of range: {e}"),
    })
}

/// A stored checkpoint row of `table` back as a [`VesselCheckpoint`] (the MMSI checked).
fn checkpoint_row(
    table: &'static str,
    mmsi: i64,
    data: String,
) -> Result<VesselCheckpoint, StoreError> {
    let mmsi = u32::try_from(mmsi).map_err(|_| StoreError::Corrupt {
        table,
        id: mmsi.to_string(),
        detail: "mmsi out of range".into(),
    })?;
    Ok(VesselCheckpoint { mmsi, data })
}

impl Store {
    /// Opens the database at `url` with default [`StoreOptions`].
    ///
    /// `sqlite://PATH?mode=rwc` (created when missing) or `postgres://USER@HOST/DB`.
    /// Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// Opens the database at `url` with `options`.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let pool = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|source| StoreError::InvalidUrl {
                    backend: "sqlite",
                    source,
                })?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(options.busy_timeout)
                .foreign_keys(true);
            // An in-memory database exists per connection: keep exactly one.
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let max = if in_memory {
                1
            } else {
                options.max_connections
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .ctx("opening the sqlite database")?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let timeout_ms = options.statement_timeout.as_millis().to_string();
            let connect = PgConnectOptions::from_str(url)
                .map_err(|source| StoreError::InvalidUrl {
                    backend: "postgres",
                    source,
                })?
                .options([("statement_timeout", timeout_ms.as_str())]);
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .ctx("connecting to postgres")?;
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl {
                url: url.to_owned(),
            });
        };
        Ok(Store {
            pool,
            wake: Arc::new(Notify::new()),
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Which engine this store uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The connection pool's state now: for the saturation gauges.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle, max) = match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Pool::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolStats {
            open,
            in_use: open - idle,
            max,
        }
    }

    /// Applies the embedded migrations for this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite")
                .run(pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    backend: "sqlite",
                    source,
                }),
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres")
                .run(pool)
                .await
                .map_err(|source| StoreError::Migrate {
                    backend: "postgres",
                    source,
                }),
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.ctx("pinging the database")?;
        });
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Wakes dispatchers in this process (and, on PostgreSQL, the next commit wakes the others).
    pub(crate) fn wake_local(&self) {
        self.wake.notify_one();
    }

    /// The database's clock, in milliseconds since the Unix epoch: the one clock every
    /// instance agrees on for leases, `available_at`, the TTL and digest cut-offs (a process
    /// clock running ahead would otherwise steal live leases, one jumping back would strand them).
    pub async fn db_now(&self) -> Result<Timestamp, StoreError> {
        const OP: &str = "reading the database clock";
        let value: i64 = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(SQLITE_NOW_MS)
                .fetch_one(pool)
                .await
                .ctx(OP)?,
            Pool::Postgres(pool) => sqlx::query_scalar(PG_NOW_MS)
                .fetch_one(pool)
                .await
                .ctx(OP)?,
        };
        from_ms("clock", "now", value)
    }

    /// Records `events`, queues `notifications` and saves `checkpoint`, all in ONE transaction,
    /// stamped with the database clock.
    ///
    /// Events and notifications already stored (same event key / same `dedupe_key`) are left
    /// as they are, so replaying input creates no second notification. Returns how many
    /// notifications were new. A checkpoint row whose `data` is empty deletes that vessel's
    /// row (an evicted vessel); for an MMSI listed twice the last entry wins.
    ///
    /// Each table is written with multi-row statements (PostgreSQL `INSERT … SELECT … FROM
    /// UNNEST(…)`, SQLite multi-row `VALUES` chunked under its parameter limit), so a call with
    /// thousands of rows costs a handful of round trips. On SQLite the call queues on the
    /// store's single writer: group commit is the caller calling again as soon as the previous
    /// call returned, with everything gathered meanwhile.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes rolls the transaction back: nothing is written.
    pub async fn commit(
        &self,
        events: &[Event],
        notifications: &[NewNotification],
        checkpoint: &[VesselCheckpoint],
    ) -> Result<u64, StoreError> {
        self.commit_inner(None, events, notifications, checkpoint)
            .await
    }

    /// [`Store::commit`] with an explicit clock: `now` becomes the notifications' `created_at`
    /// (tests, replays of old data).
    pub async fn commit_at(
        &self,
        now: Timestamp,
        events: &[Event],
        notifications: &[NewNotification],
        checkpoint: &[VesselCheckpoint],
    ) -> Result<u64, StoreError> {
        self.commit_inner(Some(now), events, notifications, checkpoint)
            .await
    }

    async fn commit_inner(
        &self,
        now: Option<Timestamp>,
        events: &[Event],
        notifications: &[NewNotification],
        checkpoint: &[VesselCheckpoint],
    ) -> Result<u64, StoreError> {
        const OP: &str = "committing events, notifications and checkpoint";
        let rows = CommitRows::new(events, notifications, checkpoint)?;
        let n_new = match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await.ctx(OP)?;
                let now_ms = match now {
                    Some(now) => ms(now),
                    None => sqlx::query_scalar(PG_NOW_MS)
                        .fetch_one(&mut *tx)
                        .await
                        .ctx(OP)?,
                };
                let n_new = rows.write_pg(&mut tx, now_ms, None).await.ctx(OP)?;
                tx.commit().await.ctx(OP)?;
                n_new
            }
            Pool::Sqlite(pool) => {
                let _writer = self.writer.lock().await;
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.ctx(OP)?;
                let now_ms = match now {
                    Some(now) => ms(now),
                    None => sqlx::query_scalar(SQLITE_NOW_MS)
                        .fetch_one(&mut *tx)
                        .await
                        .ctx(OP)?,
                };
                let n_new = rows.write_sqlite(&mut tx, now_ms).await.ctx(OP)?;
                tx.commit().await.ctx(OP)?;
                n_new
            }
        };
        if n_new > 0 {
            self.wake_local();
        }
        tracing::debug!(
            n_events = events.len(),
            n_notifications = notifications.len(),
            n_new,
            n_checkpoint = checkpoint.len(),
            "committed"
        );
        Ok(n_new)
    }

    /// [`Store::commit`] for one partition of the observation log (PostgreSQL only), inside a
    /// transaction the caller opened on `tx` and commits: the partition runner's fenced
    /// transaction, whose first statement was the fence and whose last records the log
    /// sequence, so events, notifications, checkpoint rows and the sequence commit together or
    /// not at all. Checkpoint rows go to `partition`'s rows of `partition_checkpoints`.
    /// Dispatchers are woken by `NOTIFY` when the transaction commits.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] on SQLite; a failed statement.
    pub async fn commit_partition(
        &self,
        tx: &mut sqlx::PgConnection,
        partition: u32,
        events: &[Event],
        notifications: &[NewNotification],
        checkpoint: &[VesselCheckpoint],
    ) -> Result<u64, StoreError> {
        const OP: &str = "committing a partition's events, notifications and checkpoint";
        if !matches!(self.pool, Pool::Postgres(_)) {
            return Err(StoreError::Unsupported {
                op: OP,
                backend: self.backend().as_str(),
            });
        }
        let rows = CommitRows::new(events, notifications, checkpoint)?;
        let now_ms: i64 = sqlx::query_scalar(PG_NOW_MS)
            .fetch_one(&mut *tx)
            .await
            .ctx(OP)?;
        rows.write_pg(tx, now_ms, Some(partition)).await.ctx(OP)
    }

    /// The saved checkpoint rows of one log partition (PostgreSQL only), by MMSI.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] on SQLite; the query failed; a row is corrupt.
    pub async fn load_partition_checkpoint(
        &self,
        partition: u32,
    ) -> Result<Vec<VesselCheckpoint>, StoreError> {
        const OP: &str = "loading a partition's tracker checkpoint";
        let Pool::Postgres(pool) = &self.pool else {
            return Err(StoreError::Unsupported {
                op: OP,
                backend: self.backend().as_str(),
            });
        };
        let rows = sqlx::query(
            "SELECT mmsi, data FROM partition_checkpoints WHERE partition = $1 ORDER BY mmsi",
        )
        .bind(i64::from(partition))
        .fetch_all(pool)
        .await
        .ctx(OP)?;
        rows.iter()
            .map(|row| {
                let mmsi: i64 = row.try_get("mmsi").ctx(OP)?;
                let data: String = row.try_get("data").ctx(OP)?;
                checkpoint_row("partition_checkpoints", mmsi, data)
            })
            .collect()
    }

    /// The PostgreSQL pool (the partition leases share it), `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Every saved vessel checkpoint, by MMSI.
    pub async fn load_checkpoint(&self) -> Result<Vec<VesselCheckpoint>, StoreError> {
        const OP: &str = "loading the tracker checkpoint";
        let rows = on_pool!(self, pool => {
            let rows = sqlx::query("SELECT mmsi, data FROM vessel_checkpoints ORDER BY mmsi")
                .fetch_all(pool)
                .await
                .ctx(OP)?;
            rows.iter()
                .map(|row| Ok((row.try_get::<i64, _>("mmsi")?, row.try_get::<String, _>("data")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .ctx(OP)?
        });
        rows.into_iter()
            .map(|(mmsi, data)| checkpoint_row("vessel_checkpoints", mmsi, data))
            .collect()
    }
}
