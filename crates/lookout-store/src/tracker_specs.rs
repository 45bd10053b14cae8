//! Tracking configurations of the multi-instance mode (PostgreSQL only): stored by id, and
//! each log partition's configuration in force, committed in its fenced transaction.

use crate::error::{DbContext as _, StoreError};
use crate::store::{Pool, Store};

impl Store {
    fn pg_only(&self, op: &'static str) -> Result<&sqlx::PgPool, StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => Ok(pool),
            Pool::Sqlite(_) => Err(StoreError::Unsupported {
                op,
                backend: self.backend().as_str(),
            }),
        }
    }

    /// Stores a tracking configuration under `id` (a hash of `spec`); storing it again is a
    /// no-op.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] on SQLite; the statement failed.
    pub async fn put_tracker_spec(&self, id: &str, spec: &str) -> Result<(), StoreError> {
        const OP: &str = "storing a tracking configuration";
        let pool = self.pg_only(OP)?;
        sqlx::query(
            "INSERT INTO tracker_specs (id, spec, created_at) \
             VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(spec)
        .execute(pool)
        .await
        .ctx(OP)?;
        Ok(())
    }

    /// The tracking configuration stored under `id`.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] on SQLite; the query failed.
    pub async fn tracker_spec(&self, id: &str) -> Result<Option<String>, StoreError> {
        const OP: &str = "reading a tracking configuration";
        let pool = self.pg_only(OP)?;
        sqlx::query_scalar("SELECT spec FROM tracker_specs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .ctx(OP)
    }

    /// The id of the tracking configuration `partition` last committed, if any.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] on SQLite; the query failed.
    pub async fn partition_tracker_spec(
        &self,
        partition: u32,
    ) -> Result<Option<String>, StoreError> {
        const OP: &str = "reading a partition's tracking configuration";
        let pool = self.pg_only(OP)?;
        sqlx::query_scalar("SELECT spec_id FROM partition_tracker_specs WHERE partition = $1")
            .bind(i64::from(partition))
            .fetch_optional(pool)
            .await
            .ctx(OP)
    }

    /// Records `spec_id` as `partition`'s configuration in force, inside the partition's
    /// fenced transaction `tx` (with the checkpoint it belongs to).
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] on SQLite; the statement failed.
    pub async fn set_partition_tracker_spec(
        &self,
        tx: &mut sqlx::PgConnection,
        partition: u32,
        spec_id: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "recording a partition's tracking configuration";
        self.pg_only(OP)?;
        sqlx::query(
            "INSERT INTO partition_tracker_specs (partition, spec_id) VALUES ($1, $2) \
             ON CONFLICT (partition) DO UPDATE SET spec_id = EXCLUDED.spec_id",
        )
        .bind(i64::from(partition))
        .bind(spec_id)
        .execute(&mut *tx)
        .await
        .ctx(OP)?;
        Ok(())
    }
}
