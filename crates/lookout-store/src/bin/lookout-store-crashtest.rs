//! Test fixture for the kill -9 test: runs one dispatcher against a database until killed.
//!
//! `lookout-store-crashtest DATABASE_URL LOG_FILE LEASE_MS [SEND_MS]`: every notification it
//! "sends" is appended to LOG_FILE as `id attempt pid` (synced before the send is acknowledged),
//! taking SEND_MS (default 20) a send, 8 at a time, outcomes flushed every 8, so a test can
//! SIGKILL it mid-batch (while another instance runs) and check that nothing was lost and that
//! any duplicate carries the same id.

// A test fixture with no tracing subscriber: usage errors go to stderr.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_core::{Deliver, DigestBatch, Notification, SendError};
use lookout_store::{Dispatcher, DispatcherConfig, Store};
use tokio_util::sync::CancellationToken;

struct FileChannel {
    file: Mutex<std::fs::File>,
    send_time: Duration,
}

impl FileChannel {
    fn append(&self, line: &str) -> Result<(), SendError> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| SendError::Permanent("log file lock poisoned".into()))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| SendError::Transient {
                reason: format!("writing the log file: {e}"),
                retry_after: None,
            })
    }
}

impl Deliver for FileChannel {
    async fn deliver(&self, n: &Notification) -> Result<(), SendError> {
        tokio::time::sleep(self.send_time).await;
        self.append(&format!("{} {} {}\n", n.id, n.attempt, std::process::id()))
    }

    async fn deliver_digest(&self, d: &DigestBatch) -> Result<(), SendError> {
        self.append(&format!("{} digest\n", d.id))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (url, log, lease_ms, send_ms) = match args.as_slice() {
        [_, url, log, lease_ms] => (url, log, lease_ms, "20"),
        [_, url, log, lease_ms, send_ms] => (url, log, lease_ms, send_ms.as_str()),
        _ => {
            eprintln!("usage: lookout-store-crashtest DATABASE_URL LOG_FILE LEASE_MS [SEND_MS]");
            return ExitCode::from(64);
        }
    };
    let Ok(send_ms) = send_ms.parse::<u64>() else {
        eprintln!("invalid SEND_MS {send_ms:?}: expected milliseconds");
        return ExitCode::from(64);
    };
    let Ok(lease_ms) = lease_ms.parse::<u64>() else {
        eprintln!("invalid LEASE_MS {lease_ms:?}: expected milliseconds");
        return ExitCode::from(64);
    };
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        Ok(file) => file,
        Err(e) => {
            eprintln!("cannot open {log}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match Store::connect(url).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot open the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config =
        DispatcherConfig::default().with_owner(format!("crashtest-{}", std::process::id()));
    config.lease = Duration::from_millis(lease_ms);
    config.batch_size = 16;
    config.max_in_flight = 8;
    config.flush_max = 8;
    config.poll_interval = Duration::from_millis(100);
    let channel = Arc::new(FileChannel {
        file: Mutex::new(file),
        send_time: Duration::from_millis(send_ms),
    });
    let dispatcher = Dispatcher::new(store, channel, config);
    match dispatcher.run(CancellationToken::new()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dispatcher failed: {e}");
            ExitCode::FAILURE
        }
    }
}
