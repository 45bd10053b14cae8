//! Lookout's durable store: the outbox, its dispatcher, digests and the tracker checkpoint, on
//! SQLite (embedded, default) or PostgreSQL (shared by several instances).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lookout_store::StoreError> {
//! let store = lookout_store::Store::connect("sqlite://lookout.db?mode=rwc").await?;
//! store.migrate().await?;
//! // The tracker and rule matcher record events, notifications and checkpoint together:
//! let n_new = store.commit(&[], &[], &[]).await?;
//! assert_eq!(n_new, 0);
//! # Ok(()) }
//! ```
//!
//! - [`Store`]: opened from a URL; [`Store::commit`] writes events, notifications and the
//!   checkpoint in one transaction; claims, leases and fenced state changes live in [`outbox`].
//! - [`Dispatcher`]: claims batches, delivers each item in isolation through a
//!   [`lookout_core::Deliver`], retries with backoff, dead-letters, expires.
//! - [`DigestScheduler`]: cuts each user's digest period in their time zone.
//! - [`StoreConfig`], [`OutboxConfig`], [`DispatcherOptions`], [`DigestConfig`]: the
//!   `[store]`, `[outbox]`, `[dispatcher]` and `[digest]` tables of `lookout.toml`.
//!
//! - [`model`]: organisations, users, vessels, fleets, areas, rules, silences, API tokens and
//!   the audit log, tenant-scoped (issue 12).
//!
//! The notification lifecycle (states, who moves them, purging) is in the crate README and on
//! [`State`].

mod claim;
mod config;
mod digest;
mod dispatcher;
mod error;
mod ingest;
mod millis;
pub mod model;
pub mod outbox;
mod outcome;
mod store;
mod tracker_specs;

pub use config::{DigestConfig, DispatcherOptions, OutboxConfig, StoreConfig, is_store_url};
pub use digest::{
    Cadence, DigestInfo, DigestSchedule, DigestScheduler, Period, ScheduleReport, ScheduleSource,
    period_at,
};
pub use dispatcher::{Dispatcher, DispatcherConfig, RoundReport};
pub use error::StoreError;
pub use outbox::{JobKind, LONGEST_DIGEST_PERIOD, Lease, OutboxStats, State, Status};
pub use outcome::{Finish, Transition};
pub use store::{Backend, PoolStats, Store, StoreOptions};
