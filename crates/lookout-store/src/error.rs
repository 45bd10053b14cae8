//! The store's error type: what failed, on which value, with the database cause as `source`.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names no backend this crate supports.
    #[error("unsupported database url {url:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl {
        /// The URL as given (passwords are not logged by us, but mind where you print this).
        url: String,
    },
    /// The operation exists on another backend only (partitioned tracking needs PostgreSQL).
    #[error("{op} needs PostgreSQL; this store is {backend}")]
    Unsupported {
        /// What was asked.
        op: &'static str,
        /// `sqlite`.
        backend: &'static str,
    },
    /// The database URL could not be parsed.
    #[error("invalid database url for {backend}")]
    InvalidUrl {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The parse error.
        #[source]
        source: sqlx::Error,
    },
    /// A query or connection failed.
    #[error("database error while {op}")]
    Database {
        /// What the store was doing, e.g. `claiming notifications`.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("applying {backend} migrations failed")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A stored row could not be turned back into a domain value.
    #[error("corrupt {table} row {id:?}: {detail}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// Row id.
        id: String,
        /// What was wrong.
        detail: String,
    },
    /// An id is taken by an object of another organisation (users, rules, fleets, silences and
    /// tokens have ids unique across organisations).
    #[error("{table} id {id:?} is taken by another organisation")]
    Conflict {
        /// Table name.
        table: &'static str,
        /// The id.
        id: String,
    },
    /// A digest schedule names a time zone the tz database does not know.
    #[error("invalid time zone {timezone:?} in the digest schedule of user {user_id:?}")]
    InvalidTimeZone {
        /// The user whose schedule it is.
        user_id: String,
        /// The zone name as given.
        timezone: String,
        /// The tz lookup error.
        #[source]
        source: jiff::Error,
    },
    /// A digest period could not be computed (date arithmetic out of range).
    #[error("cannot compute the digest period of user {user_id:?} at {at}")]
    Period {
        /// The user whose schedule it is.
        user_id: String,
        /// The instant the period was asked for.
        at: jiff::Timestamp,
        /// The date arithmetic error.
        #[source]
        source: jiff::Error,
    },
}

impl StoreError {
    /// True when the failure is in the database connection or a query (usually transient).
    pub fn is_database(&self) -> bool {
        matches!(self, StoreError::Database { .. })
    }
}

/// Adds the operation name to a `sqlx` error.
pub(crate) trait DbContext<T> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { op, source })
    }
}
