//! Maildir delivery: the RFC 5322 message is written and synced under `tmp/`, then renamed
//! into `new/`, and `new/` itself is synced, so the rename survives a power cut before the
//! channel says delivered. The name in `new/` is derived from the notification id, so a retry
//! overwrites rather than duplicates; the name in `tmp/` is unique per attempt (pid and a
//! counter), so two workers delivering the same id never write into one file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes every `tmp/` name of this process unique.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

use lookout_core::SendError;

use super::EmailMessage;

/// Syncs a directory, so a rename into it is durable.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

/// Writes messages into Maildirs.
#[derive(Debug, Clone, Default)]
pub struct MaildirChannel {}

impl MaildirChannel {
    /// A Maildir writer.
    pub fn new() -> MaildirChannel {
        MaildirChannel {}
    }

    /// Delivers `message` into the Maildir at `root` (created if missing). Returns the path of
    /// the file in `new/`.
    ///
    /// # Cancel safety
    /// Dropping the future may leave a file in `tmp/`, never a partial file in `new/`.
    pub async fn deliver(
        &self,
        root: &Path,
        id: &str,
        message: &EmailMessage,
    ) -> Result<PathBuf, SendError> {
        let io = |what: &str, path: &Path, e: std::io::Error| SendError::Transient {
            reason: format!("maildir {what} {}: {e}", path.display()),
            retry_after: None,
        };
        for sub in ["tmp", "new", "cur"] {
            let dir = root.join(sub);
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| io("cannot create", &dir, e))?;
        }
        let safe_id: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!("{safe_id}.lookout");
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = root
            .join("tmp")
            .join(format!("{safe_id}.{}.{seq}.lookout", std::process::id()));
        let new = root.join("new").join(&name);
        let bytes = message.message.formatted();
        {
            use tokio::io::AsyncWriteExt as _;
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| io("cannot create", &tmp, e))?;
            file.write_all(&bytes)
                .await
                .map_err(|e| io("cannot write", &tmp, e))?;
            file.sync_all()
                .await
                .map_err(|e| io("cannot sync", &tmp, e))?;
        }
        tokio::fs::rename(&tmp, &new)
            .await
            .map_err(|e| io("cannot move into new/", &new, e))?;
        let new_dir = root.join("new");
        sync_dir(&new_dir)
            .await
            .map_err(|e| io("cannot sync", &new_dir, e))?;
        Ok(new)
    }
}
