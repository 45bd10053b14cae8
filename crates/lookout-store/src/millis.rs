//! What every table's code shares about the stored form: times as milliseconds since the Unix
//! epoch, and the PostgreSQL `NOTIFY` channel new work is announced on. A leaf: it imports
//! nothing from the crate, so the writers (`ingest`, `outcome`, ...) and `store` both use it.

use jiff::Timestamp;

/// PostgreSQL `NOTIFY` channel raised when new work is committed.
pub(crate) const PG_CHANNEL: &str = "lookout_outbox";

/// Milliseconds since the Unix epoch, as stored.
pub(crate) fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}
