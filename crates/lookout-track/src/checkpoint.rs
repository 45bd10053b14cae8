//! Checkpoints: where vessel state goes so that a restart continues where the last run stopped.
//!
//! The tracker writes each vessel's state as the JSON `data` of a
//! [`VesselCheckpoint`] ([`Tracker::take_dirty`](crate::tracker::Tracker::take_dirty),
//! [`Tracker::checkpoint_all`](crate::tracker::Tracker::checkpoint_all)) and reads it back with
//! [`Tracker::restore`](crate::tracker::Tracker::restore). A [`CheckpointStore`] keeps the
//! rows; [`FileCheckpoint`] is the file implementation, the pipeline's store saves them in
//! SQLite/PostgreSQL in the same transaction as the events they follow.
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

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use lookout_core::{Mmsi, VesselCheckpoint};
use tokio::sync::Mutex;

/// Somewhere vessel checkpoints are kept. Implemented by [`FileCheckpoint`] here and by the
/// pipeline's SQL store.
pub trait CheckpointStore: Send + Sync {
    /// Why loading or saving failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every saved row (one per MMSI).
    ///
    /// # Cancel safety
    /// Cancel safe: loading changes nothing.
    fn load(&self) -> impl Future<Output = Result<Vec<VesselCheckpoint>, Self::Error>> + Send;

    /// Upserts `rows` by MMSI; a row with empty `data` deletes that vessel's row (an evicted
    /// vessel); rows not mentioned keep their saved state. Durable when it returns `Ok`.
    ///
    /// # Cancel safety
    /// Not cancel safe in general: a cancelled save may or may not have been applied (the file
    /// implementation applies all rows or none).
    fn save(
        &self,
        rows: Vec<VesselCheckpoint>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Why a file checkpoint failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileCheckpointError {
    /// Reading or writing the file failed.
    #[error("checkpoint file {path}: {op} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of the file is not a checkpoint row.
    #[error("checkpoint file {path}: line {line} is not a vessel checkpoint")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Checkpoints in one JSON-lines file (one [`VesselCheckpoint`] per line, sorted by MMSI).
///
/// Every save rewrites the whole file atomically (temporary file, fsync, rename), so a crash
/// leaves either the old or the new snapshot, never a torn one. Meant for a single process and
/// up to a few hundred thousand vessels; use the SQL store beyond that.
#[derive(Debug)]
pub struct FileCheckpoint {
    path: PathBuf,
    rows: Mutex<BTreeMap<Mmsi, String>>,
}

impl FileCheckpoint {
    /// Opens (reading it when it exists) the checkpoint file at `path`.
    ///
    /// # Errors
    /// The file exists but cannot be read, or a line is not a checkpoint row.
    pub async fn open(path: impl Into<PathBuf>) -> Result<FileCheckpoint, FileCheckpointError> {
        let path = path.into();
        let rows = match tokio::fs::read_to_string(&path).await {
            Ok(text) => parse(&path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(FileCheckpointError::Io {
                    path,
                    op: "read",
                    source,
                });
            }
        };
        Ok(FileCheckpoint {
            path,
            rows: Mutex::new(rows),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn parse(path: &Path, text: &str) -> Result<BTreeMap<Mmsi, String>, FileCheckpointError> {
    let mut rows = BTreeMap::new();
    for (idx, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: VesselCheckpoint =
            serde_json::from_str(line).map_err(|source| FileCheckpointError::Corrupt {
                path: path.to_owned(),
                line: idx + 1,
                source,
            })?;
        rows.insert(row.mmsi, row.data);
    }
    Ok(rows)
}

impl CheckpointStore for FileCheckpoint {
    type Error = FileCheckpointError;

    async fn load(&self) -> Result<Vec<VesselCheckpoint>, FileCheckpointError> {
        let rows = self.rows.lock().await;
        Ok(rows
            .iter()
            .map(|(mmsi, data)| VesselCheckpoint {
                mmsi: *mmsi,
                data: data.clone(),
            })
            .collect())
    }

    async fn save(&self, new_rows: Vec<VesselCheckpoint>) -> Result<(), FileCheckpointError> {
        let mut rows = self.rows.lock().await;
        let mut next = rows.clone();
        for row in new_rows {
            if row.data.is_empty() {
                next.remove(&row.mmsi); // an evicted vessel
            } else {
                next.insert(row.mmsi, row.data);
            }
        }
        let mut text = String::new();
        for (mmsi, data) in &next {
            let line = serde_json::to_string(&VesselCheckpoint {
                mmsi: *mmsi,
                data: data.clone(),
            })
            .unwrap_or_default();
            text.push_str(&line);
            text.push('\n');
        }
        let io = |op| {
            let path = self.path.clone();
            move |source| FileCheckpointError::Io { path, op, source }
        };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io("create temporary file"))?;
        tokio::io::AsyncWriteExt::write_all(&mut file, text.as_bytes())
            .await
            .map_err(io("write"))?;
        file.sync_all().await.map_err(io("fsync"))?;
        drop(file);
        tokio::fs::rename(&tmp, &self.path)
            .await
            .map_err(io("rename"))?;
        *rows = next;
        tracing::debug!(path = %self.path.display(), n_vessels = rows.len(), "checkpoint saved");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mmsi: Mmsi, data: &str) -> VesselCheckpoint {
        VesselCheckpoint {
            mmsi,
            data: data.into(),
        }
    }

    #[tokio::test]
    async fn saves_upsert_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vessels.jsonl");
        let store = FileCheckpoint::open(&path).await.unwrap();
        assert!(store.load().await.unwrap().is_empty());
        store
            .save(vec![row(2, "{\"b\":1}"), row(1, "{}")])
            .await
            .unwrap();
        store.save(vec![row(2, "{\"b\":2}")]).await.unwrap();
        let reopened = FileCheckpoint::open(&path).await.unwrap();
        assert_eq!(
            reopened.load().await.unwrap(),
            vec![row(1, "{}"), row(2, "{\"b\":2}")]
        );
    }

    #[tokio::test]
    async fn a_corrupt_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vessels.jsonl");
        std::fs::write(&path, "{\"mmsi\":1,\"data\":\"{}\"}\nnot json\n").unwrap();
        let err = FileCheckpoint::open(&path).await.unwrap_err();
        assert!(
            matches!(err, FileCheckpointError::Corrupt { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"));
    }
}
