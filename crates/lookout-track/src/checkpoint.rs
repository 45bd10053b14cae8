//! Checkpoints: where vessel state goes so that a restart continues where the last run stopped.
//!
//! The tracker writes each vessel's state as the `data` of a
//! [`VesselCheckpoint`](lookout_core::VesselCheckpoint) ([`Tracker::take_dirty`](crate::tracker::Tracker::take_dirty),
//! [`Tracker::checkpoint_all`](crate::tracker::Tracker::checkpoint_all)) and reads it back with
//! [`Tracker::restore`](crate::tracker::Tracker::restore). The service's store
//! (`lookout_store::Store::commit`) saves the rows in SQLite/PostgreSQL in the same transaction
//! as the events they follow; this crate does no checkpoint I/O of its own.
//!
//! # Format
//! Vessel rows are version 3: a compact text form (`3|…`: hex integers, times in
//! milliseconds relative to `last_seen`, coordinates as their IEEE bits, area ids
//! length-prefixed; see `tracker/row.rs`), about 140 bytes for a vessel in one area, written
//! without serde because nearly every report changes its vessel's row. Rows of versions 1 and
//! 2 (JSON objects, written before) still restore, so an upgrade fires no false event; a row
//! of an unknown version is skipped with [`RowError::UnknownVersion`](crate::tracker::RowError)
//! in the [`RestoreReport`](crate::tracker::RestoreReport), never guessed at. An instance of a
//! version before 3 cannot read version 3 rows (it skips them, and would treat those vessels
//! as new): do not run it on a checkpoint a newer instance wrote. The clock row stays JSON.
//!
//! # Restart semantics
//! Saved per vessel: `last_seen`, the last usable position and its time, merged static data,
//! and for each area it is in or pending for: confirmed membership (`inside`), the last raw
//! answer, the start of an unconfirmed (min-dwell) change, and which gap thresholds have
//! started without ending. After [`Tracker::restore`](crate::tracker::Tracker::restore):
//! - **No second `entered`**: a vessel saved inside stays inside; its next position inside
//!   the area emits nothing.
//! - **No missed `exited`**: the first usable position after the restart is compared with the
//!   saved membership, so a vessel that left while the service was down emits `exited` (at
//!   that report's time and position, which is the first moment the tracker knows it). With a
//!   `min_dwell`, a saved pending change keeps its start time across the restart.
//! - **Gap timers resume from `max(last position, resumed_at)`**: the shard clock (watermark,
//!   `resumed_at`, input offset) is saved in a row under a reserved key below 1000; a live
//!   service sends `Resume` at start, so a vessel that reports within the threshold after the
//!   restart gets no gap however long the service was down. Without a resume (a replay), a
//!   vessel silent since before the stop emits `gap_started` at `last position + threshold`
//!   once the clock passes it plus the lateness, unless that gap had already started; a saved
//!   started gap ends, with `gap_ended`, at the next usable position.
//! - Rows with empty `data` are deletions (evicted vessels) and are skipped on restore.
//! - Memberships of areas that no longer exist are dropped silently (counted in
//!   [`RestoreReport`](crate::tracker::RestoreReport)); new areas start empty.
//! - The runner emits each vessel's row in the same unit as the events that changed it, and the
//!   service commits units whole, so the saved state is always exactly the state that produced
//!   the saved events: nothing is repeated or missed (`tests/it/kill.rs`).
