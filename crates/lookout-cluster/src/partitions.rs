//! Fenced partition leases in PostgreSQL: who processes which partition of the observation log, and the fence that
//! keeps a stale owner from ever writing.
//!
//! # Model
//!
//! - `partition_layout`: one row, the partition count `P` recorded at the first start. A later start with a
//!   different `P` is refused ([`LeaseError::LayoutMismatch`]): the hash `mmsi → partition` would move vessels.
//! - `partitions`: one row per partition: `owner` (an instance id, `NULL` when free), `epoch` (incremented on every
//!   claim, hence on every change of owner), `lease_expires_at` (on the **database** clock, `now()`, so instances
//!   with skewed clocks agree), `last_applied_seq` (the stream sequence the committed state includes).
//! - `cluster_members`: one row per live instance with its own expiry, refreshed by [`PartitionLeases::claim`] and
//!   [`PartitionLeases::renew`]; the number of live instances (members or lease holders) sets each instance's
//!   target of `⌈P / live⌉` partitions.
//!
//! # Fencing
//!
//! Every commit of a partition's state runs [`PartitionLeases::begin_fenced`] as the **first** statement of its transaction:
//! `UPDATE partitions SET … WHERE partition = $p AND epoch = $epoch AND owner = $owner`. The update locks the row
//! until the transaction ends, so a claim by another instance (which bumps the epoch) either happened before (the
//! update touches no row: [`LeaseError::Fenced`], roll back, drop the partition) or waits for the commit. A plain
//! `SELECT` check would race: the claim could land between the check and the commit.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

/// Errors of the partition leases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The partition count recorded in the database differs from the configured one.
    #[error(
        "the database records {recorded} partitions but this instance is configured with {configured}; \
         the partition count is fixed when the cluster is created: configure {recorded}, or start a new \
         cluster (database and stream) to change it"
    )]
    LayoutMismatch {
        /// The count recorded at the first start.
        recorded: u32,
        /// The count this instance was given.
        configured: u32,
    },
    /// The fenced update touched no row: this instance no longer owns the partition at that epoch.
    #[error(
        "partition {partition} is no longer owned at epoch {epoch}: another instance took it over"
    )]
    Fenced {
        /// The partition.
        partition: u32,
        /// The epoch this instance held.
        epoch: u64,
    },
    /// A configuration value is unusable.
    #[error("invalid lease configuration: {0}")]
    Config(&'static str),
    /// A database statement failed.
    #[error("partition leases: {op} failed")]
    Database {
        /// What was being done.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A database statement did not answer in time.
    #[error("partition leases: {op} timed out after {after:?}")]
    TimedOut {
        /// What was being done.
        op: &'static str,
        /// The bound.
        after: Duration,
    },
}

impl LeaseError {
    /// `true` for [`LeaseError::Fenced`]: roll back and drop the partition at once.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Fenced { .. })
    }

    /// `true` when trying again later may succeed (database unreachable or slow).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Database { .. } | Self::TimedOut { .. })
    }
}

/// The crate's DDL, idempotent (what [`migrate`] runs in one transaction; to be folded into the store's
/// migrations). The advisory lock serialises concurrent first starts (concurrent `CREATE TABLE IF NOT EXISTS` can
/// fail on the catalog's unique index).
pub const MIGRATION: &str = r"
SELECT pg_advisory_xact_lock(7310482919);
CREATE TABLE IF NOT EXISTS partition_layout (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    partitions INTEGER NOT NULL CHECK (partitions > 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS partitions (
    partition INTEGER PRIMARY KEY CHECK (partition >= 0),
    owner TEXT,
    epoch BIGINT NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    lease_expires_at TIMESTAMPTZ,
    last_applied_seq BIGINT NOT NULL DEFAULT 0 CHECK (last_applied_seq >= 0),
    committed_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS leaders (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    epoch BIGINT NOT NULL CHECK (epoch > 0),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_members (
    member TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

/// Creates the `partition_layout`, `partitions` and `cluster_members` tables when missing. Idempotent and safe to
/// run from several instances at once.
///
/// # Cancel safety
///
/// The DDL runs in one transaction: cancelling leaves either nothing or everything.
pub async fn migrate(pool: &PgPool, timeout: Duration) -> Result<(), LeaseError> {
    bounded("migrate", timeout, async {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
        tx.commit().await
    })
    .await
}

/// How an instance takes part in the leases.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// This instance's id, unique in the cluster (e.g. host name and a random suffix; never reused by a restart,
    /// so a restarted process does not inherit the epochs of its previous life).
    pub owner: String,
    /// The partition count `P`.
    pub partitions: u32,
    /// How long a claim or renewal holds (default 6 s); renew every third of it.
    pub lease: Duration,
    /// Bound on every database statement.
    pub statement_timeout: Duration,
}

impl LeaseConfig {
    /// A configuration with the defaults: a 6 s lease, 5 s per statement.
    pub fn new(owner: impl Into<String>, partitions: u32) -> Self {
        Self {
            owner: owner.into(),
            partitions,
            lease: Duration::from_secs(6),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// One partition this instance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The partition.
    pub partition: u32,
    /// The epoch of this claim: pass it to [`PartitionLeases::begin_fenced`].
    pub epoch: u64,
    /// The stream sequence the committed state of the partition includes: consume from `last_applied_seq + 1`.
    pub last_applied_seq: u64,
}

/// What one [`PartitionLeases::claim`] round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// Partitions newly claimed (free or expired ones), with their new epoch.
    pub acquired: Vec<Lease>,
    /// Partitions this instance held beyond its target and released for another instance: stop processing them
    /// (a commit would be [`LeaseError::Fenced`] anyway once another instance claims them).
    pub released: Vec<u32>,
    /// The number of live instances seen, this one included.
    pub live_instances: u32,
    /// This instance's target, `⌈P / live_instances⌉`.
    pub target: u32,
}

/// What one [`PartitionLeases::renew`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Leases still held, extended by one lease period.
    pub held: Vec<Lease>,
    /// Partitions given to `renew` that are no longer held at their epoch (expired or taken over): drop them.
    pub lost: Vec<u32>,
}

/// The partition leases of one instance.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), lookout_cluster::partitions::LeaseError> {
/// use lookout_cluster::partitions::{self, LeaseConfig, PartitionLeases};
/// let timeout = std::time::Duration::from_secs(5);
/// partitions::migrate(&pool, timeout).await?;
/// let leases = PartitionLeases::open(pool.clone(), LeaseConfig::new("host-a-1f3e", 64)).await?;
/// let claim = leases.claim().await?;
/// for lease in &claim.acquired {
///     let mut tx = pool.begin().await.map_err(|e| partitions::LeaseError::Database { op: "begin", source: e })?;
///     let fence = leases.begin_fenced(&mut tx, lease.partition, lease.epoch).await?; // FIRST statement
///     // ... write the partition's state ...
///     leases.set_applied_seq(&mut tx, &fence, fence.last_applied_seq + 10).await?;
///     tx.commit().await.map_err(|e| partitions::LeaseError::Database { op: "commit", source: e })?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PartitionLeases {
    pool: PgPool,
    config: LeaseConfig,
}

/// Proof that the current transaction holds the partition's row lock at the expected epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The partition.
    pub partition: u32,
    /// The epoch checked.
    pub epoch: u64,
    /// The sequence committed so far (records at or below it are already in the state).
    pub last_applied_seq: u64,
}

impl PartitionLeases {
    /// Checks the recorded layout (recording `P` at the first start) and creates the partition rows. Run
    /// [`migrate`] first.
    ///
    /// # Cancel safety
    ///
    /// One transaction: cancelling records nothing.
    pub async fn open(pool: PgPool, config: LeaseConfig) -> Result<Self, LeaseError> {
        if config.partitions == 0 || config.partitions > i32::MAX as u32 {
            return Err(LeaseError::Config(
                "the partition count must be between 1 and 2^31-1",
            ));
        }
        if config.owner.is_empty() {
            return Err(LeaseError::Config("the owner id must not be empty"));
        }
        if config.lease.is_zero() {
            return Err(LeaseError::Config("the lease must be longer than zero"));
        }
        let configured = config.partitions;
        let recorded: i32 = bounded("check the partition layout", config.statement_timeout, async {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO partition_layout (id, partitions) VALUES (TRUE, $1) ON CONFLICT (id) DO NOTHING")
                .bind(configured as i32)
                .execute(&mut *tx)
                .await?;
            let recorded: i32 = sqlx::query_scalar("SELECT partitions FROM partition_layout WHERE id")
                .fetch_one(&mut *tx)
                .await?;
            if recorded as u32 == configured {
                sqlx::query(
                    // NOT EXISTS reads the snapshot: an existing row locked by a fenced transaction does not make the
                    // start wait (ON CONFLICT alone would wait for that lock).
                    "INSERT INTO partitions (partition) SELECT g FROM generate_series(0, $1 - 1) AS g \
                     WHERE NOT EXISTS (SELECT 1 FROM partitions WHERE partition = g) ON CONFLICT (partition) DO NOTHING",
                )
                .bind(configured as i32)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(recorded)
        })
        .await?;
        if recorded as u32 != configured {
            return Err(LeaseError::LayoutMismatch {
                recorded: recorded as u32,
                configured,
            });
        }
        Ok(Self { pool, config })
    }

    /// This instance's owner id.
    pub fn owner(&self) -> &str {
        &self.config.owner
    }

    /// The pool the leases use (the fenced transactions begin on it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// One balancing round: refreshes this instance's membership, counts the live instances, then claims free or
    /// expired partitions up to the target `⌈P / live⌉`, or releases the ones beyond it (highest partitions
    /// first) so that a newly started instance finds them free.
    ///
    /// Call it periodically (e.g. every lease / 3, with [`renew`](Self::renew)). Claiming locks candidate rows
    /// with `FOR UPDATE SKIP LOCKED`, so two instances claiming at once never take one partition.
    ///
    /// # Cancel safety
    ///
    /// Each step is one statement; cancelled after a claim committed, the partitions are held until their lease
    /// expires and the next `claim` does not return them again (they are held already): use
    /// [`held`](Self::held) to resynchronise.
    pub async fn claim(&self) -> Result<Claim, LeaseError> {
        let secs = self.config.lease.as_secs_f64();
        let owner = self.config.owner.as_str();
        let p = self.config.partitions;
        let live: i64 = self
            .bounded(
                "count live instances",
                sqlx::query_scalar(
                    r"WITH me AS (
                        INSERT INTO cluster_members (member, expires_at) VALUES ($1, now() + make_interval(secs => $2))
                        ON CONFLICT (member) DO UPDATE SET expires_at = EXCLUDED.expires_at
                      )
                      SELECT count(*) FROM (
                        SELECT member FROM cluster_members WHERE expires_at > now() AND member <> $1
                        UNION SELECT owner FROM partitions WHERE owner IS NOT NULL AND owner <> $1 AND lease_expires_at > now()
                      ) others",
                )
                .bind(owner)
                .bind(secs)
                .fetch_one(&self.pool),
            )
            .await?;
        let live_instances = u32::try_from(live).unwrap_or(u32::MAX).saturating_add(1);
        let target = p.div_ceil(live_instances);
        let held: i64 = self
            .bounded(
                "count held partitions",
                sqlx::query_scalar(
                    "SELECT count(*) FROM partitions WHERE owner = $1 AND lease_expires_at > now()",
                )
                .bind(owner)
                .fetch_one(&self.pool),
            )
            .await?;
        let held = u32::try_from(held).unwrap_or(u32::MAX);
        let mut claim = Claim {
            live_instances,
            target,
            ..Claim::default()
        };
        if held < target {
            let rows: Vec<(i32, i64, i64)> = self
                .bounded(
                    "claim partitions",
                    sqlx::query_as(
                        r"UPDATE partitions p
                          SET owner = $1, epoch = p.epoch + 1, lease_expires_at = now() + make_interval(secs => $2)
                          FROM (
                            SELECT partition FROM partitions
                            WHERE owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= now()
                            ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED
                          ) free
                          WHERE p.partition = free.partition
                            AND (p.owner IS NULL OR p.lease_expires_at IS NULL OR p.lease_expires_at <= now())
                          RETURNING p.partition, p.epoch, p.last_applied_seq",
                    )
                    .bind(owner)
                    .bind(secs)
                    .bind(i64::from(target - held))
                    .fetch_all(&self.pool),
                )
                .await?;
            claim.acquired = rows.into_iter().map(lease_of).collect();
            claim.acquired.sort_by_key(|lease| lease.partition);
        } else if held > target {
            let rows: Vec<i32> = self
                .bounded(
                    "release excess partitions",
                    sqlx::query_scalar(
                        r"UPDATE partitions p SET owner = NULL, lease_expires_at = NULL
                          FROM (
                            SELECT partition FROM partitions WHERE owner = $1 AND lease_expires_at > now()
                            ORDER BY partition DESC LIMIT $2 FOR UPDATE
                          ) excess
                          WHERE p.partition = excess.partition
                          RETURNING p.partition",
                    )
                    .bind(owner)
                    .bind(i64::from(held - target))
                    .fetch_all(&self.pool),
                )
                .await?;
            claim.released = rows.into_iter().map(|p| p as u32).collect();
            claim.released.sort_unstable();
        }
        Ok(claim)
    }

    /// Extends every lease in `held` that this instance still holds at its epoch, in one statement (which also
    /// refreshes the membership), and reports the others as lost. A lease that expired is lost even when nobody
    /// took it yet: the next [`claim`](Self::claim) may take it back with a new epoch.
    ///
    /// # Cancel safety
    ///
    /// One statement: cancelled, either every lease was extended or none.
    pub async fn renew(&self, held: &[Lease]) -> Result<Renewal, LeaseError> {
        let partitions: Vec<i32> = held.iter().map(|lease| lease.partition as i32).collect();
        let epochs: Vec<i64> = held.iter().map(|lease| lease.epoch as i64).collect();
        let rows: Vec<(i32, i64, i64)> = self
            .bounded(
                "renew leases",
                sqlx::query_as(
                    r"WITH me AS (
                        INSERT INTO cluster_members (member, expires_at) VALUES ($1, now() + make_interval(secs => $2))
                        ON CONFLICT (member) DO UPDATE SET expires_at = EXCLUDED.expires_at
                      )
                      UPDATE partitions p SET lease_expires_at = now() + make_interval(secs => $2)
                      FROM unnest($3::int[], $4::bigint[]) AS mine(partition, epoch)
                      WHERE p.partition = mine.partition AND p.epoch = mine.epoch AND p.owner = $1
                        AND p.lease_expires_at > now()
                      RETURNING p.partition, p.epoch, p.last_applied_seq",
                )
                .bind(self.config.owner.as_str())
                .bind(self.config.lease.as_secs_f64())
                .bind(&partitions)
                .bind(&epochs)
                .fetch_all(&self.pool),
            )
            .await?;
        let mut renewal = Renewal {
            held: rows.into_iter().map(lease_of).collect(),
            lost: Vec::new(),
        };
        renewal.held.sort_by_key(|lease| lease.partition);
        renewal.lost = held
            .iter()
            .filter(|lease| {
                !renewal
                    .held
                    .iter()
                    .any(|kept| kept.partition == lease.partition)
            })
            .map(|lease| lease.partition)
            .collect();
        Ok(renewal)
    }

    /// The unexpired leases this instance holds according to the database.
    ///
    /// # Cancel safety
    ///
    /// Read only.
    pub async fn held(&self) -> Result<Vec<Lease>, LeaseError> {
        let rows: Vec<(i32, i64, i64)> = self
            .bounded(
                "list held partitions",
                sqlx::query_as(
                    "SELECT partition, epoch, last_applied_seq FROM partitions \
                     WHERE owner = $1 AND lease_expires_at > now() ORDER BY partition",
                )
                .bind(self.config.owner.as_str())
                .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows.into_iter().map(lease_of).collect())
    }

    /// Releases the given leases (graceful shutdown or handoff): another instance can claim them at once. Leases
    /// no longer held at their epoch are left alone. Returns the partitions released. With `leave` the instance
    /// also leaves the membership, so the others raise their target at once.
    ///
    /// # Cancel safety
    ///
    /// One statement per step.
    pub async fn release(&self, leases: &[Lease], leave: bool) -> Result<Vec<u32>, LeaseError> {
        let partitions: Vec<i32> = leases.iter().map(|lease| lease.partition as i32).collect();
        let epochs: Vec<i64> = leases.iter().map(|lease| lease.epoch as i64).collect();
        let rows: Vec<i32> = self
            .bounded(
                "release leases",
                sqlx::query_scalar(
                    r"UPDATE partitions p SET owner = NULL, lease_expires_at = NULL
                      FROM unnest($2::int[], $3::bigint[]) AS mine(partition, epoch)
                      WHERE p.partition = mine.partition AND p.epoch = mine.epoch AND p.owner = $1
                      RETURNING p.partition",
                )
                .bind(self.config.owner.as_str())
                .bind(&partitions)
                .bind(&epochs)
                .fetch_all(&self.pool),
            )
            .await?;
        if leave {
            self.bounded(
                "leave the cluster",
                sqlx::query("DELETE FROM cluster_members WHERE member = $1")
                    .bind(self.config.owner.as_str())
                    .execute(&self.pool),
            )
            .await?;
        }
        let mut released: Vec<u32> = rows.into_iter().map(|p| p as u32).collect();
        released.sort_unstable();
        Ok(released)
    }

    /// The fence: run it as the **first** statement of the transaction that commits a partition's state. It
    /// locks the partition's row until the transaction ends and fails with [`LeaseError::Fenced`] when this
    /// instance no longer owns the partition at `epoch` (roll back and drop the partition).
    ///
    /// The check is owner and epoch, not the lease's expiry: a commit after the lease lapsed but before another
    /// instance claimed the partition is accepted, since nobody else can have written it (a claim bumps the
    /// epoch, and waits for or skips the row this statement locks).
    ///
    /// # Cancel safety
    ///
    /// Cancelled, the transaction is in an unknown state: roll it back (dropping it does).
    pub async fn begin_fenced(
        &self,
        tx: &mut PgConnection,
        partition: u32,
        epoch: u64,
    ) -> Result<Fence, LeaseError> {
        let row: Option<i64> = self
            .bounded(
                "fence",
                sqlx::query_scalar(
                    "UPDATE partitions SET committed_at = now() \
                     WHERE partition = $1 AND epoch = $2 AND owner = $3 RETURNING last_applied_seq",
                )
                .bind(partition as i32)
                .bind(epoch as i64)
                .bind(self.config.owner.as_str())
                .fetch_optional(&mut *tx),
            )
            .await?;
        match row {
            Some(seq) => Ok(Fence {
                partition,
                epoch,
                last_applied_seq: u64::try_from(seq).unwrap_or(0),
            }),
            None => Err(LeaseError::Fenced { partition, epoch }),
        }
    }

    /// Records the stream sequence the state committed by this transaction includes. Call it inside the
    /// transaction [`PartitionLeases::begin_fenced`](Self::begin_fenced) opened (the row is locked by it).
    ///
    /// # Cancel safety
    ///
    /// As for [`PartitionLeases::begin_fenced`](Self::begin_fenced).
    pub async fn set_applied_seq(
        &self,
        tx: &mut PgConnection,
        fence: &Fence,
        seq: u64,
    ) -> Result<(), LeaseError> {
        let done = self
            .bounded(
                "record the applied sequence",
                sqlx::query(
                    "UPDATE partitions SET last_applied_seq = $4 \
                     WHERE partition = $1 AND epoch = $2 AND owner = $3",
                )
                .bind(fence.partition as i32)
                .bind(fence.epoch as i64)
                .bind(self.config.owner.as_str())
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .execute(&mut *tx),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(LeaseError::Fenced {
                partition: fence.partition,
                epoch: fence.epoch,
            });
        }
        Ok(())
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, LeaseError> {
        bounded(op, self.config.statement_timeout, fut).await
    }
}

fn lease_of((partition, epoch, seq): (i32, i64, i64)) -> Lease {
    Lease {
        partition: partition as u32,
        epoch: u64::try_from(epoch).unwrap_or(0),
        last_applied_seq: u64::try_from(seq).unwrap_or(0),
    }
}

pub(crate) async fn bounded<T>(
    op: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, LeaseError> {
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(LeaseError::Database { op, source }),
        Err(_) => Err(LeaseError::TimedOut { op, after }),
    }
}
