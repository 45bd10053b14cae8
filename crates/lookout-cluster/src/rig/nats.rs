//! An own `nats-server -js` on a free port with its store in a temporary directory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{RigError, free_port, io_error, log_tail};

const READY_WITHIN: Duration = Duration::from_secs(15);

/// Where `nats-server` is: PATH, then `/usr/sbin` and `/usr/local/bin`.
pub fn find_nats_server() -> Option<PathBuf> {
    super::find_program(
        "nats-server",
        &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")],
    )
}

/// A running (or stopped, between [`kill`](Self::kill) and [`start_again`](Self::start_again)) `nats-server -js`.
/// The port and the store directory stay the same across restarts, so JetStream keeps what it acknowledged.
/// Dropping it kills the server and deletes the directory.
#[derive(Debug)]
pub struct NatsRig {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<tokio::process::Child>,
}

impl NatsRig {
    /// Starts a server and waits until JetStream answers (bounded).
    ///
    /// # Cancel safety
    ///
    /// Cancelled, the half-started server is killed when the future is dropped.
    pub async fn start() -> Result<Self, RigError> {
        let bin = find_nats_server().ok_or(RigError::NotFound {
            program: "nats-server",
            searched: "/usr/sbin, /usr/local/bin",
            package: "nats-server",
        })?;
        let dir = tempfile::Builder::new()
            .prefix("lookout-rig-nats-")
            .tempdir()
            .map_err(io_error("create the nats temporary directory"))?;
        let mut rig = Self {
            bin,
            dir,
            port: free_port()?,
            child: None,
        };
        rig.start_again().await?;
        Ok(rig)
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `true` while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the server with SIGKILL (a crash: no graceful shutdown) and waits for it to exit.
    ///
    /// # Cancel safety
    ///
    /// The kill signal is sent before the first await; the process is reaped later if cancelled.
    pub async fn kill(&mut self) -> Result<(), RigError> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().map_err(io_error("kill nats-server"))?;
            match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(waited) => {
                    waited.map_err(io_error("wait for nats-server"))?;
                }
                Err(_) => {
                    return Err(RigError::TimedOut {
                        what: "nats-server to exit after SIGKILL".to_owned(),
                        after: Duration::from_secs(10),
                    });
                }
            }
        }
        Ok(())
    }

    /// Starts the server again on the same port and store (no-op when running) and waits until JetStream answers.
    ///
    /// # Cancel safety
    ///
    /// As for [`start`](Self::start).
    pub async fn start_again(&mut self) -> Result<(), RigError> {
        if self.is_running() {
            return Ok(());
        }
        let log = self.dir.path().join("nats.log");
        let store = self.dir.path().join("js");
        let child = tokio::process::Command::new(&self.bin)
            .arg("-js")
            .args(["-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&store)
            .arg("-l")
            .arg(&log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_error("spawn nats-server"))?;
        self.child = Some(child);
        self.wait_ready(&log).await
    }

    /// Kills and starts the server again (see [`kill`](Self::kill)).
    ///
    /// # Cancel safety
    ///
    /// As for [`start`](Self::start).
    pub async fn restart(&mut self) -> Result<(), RigError> {
        self.kill().await?;
        self.start_again().await
    }

    async fn wait_ready(&mut self, log: &std::path::Path) -> Result<(), RigError> {
        let started = Instant::now();
        let url = self.url();
        loop {
            let exited = self.child.as_mut().map(tokio::process::Child::try_wait);
            if let Some(Ok(Some(status))) = exited {
                self.child = None;
                return Err(RigError::Command {
                    what: format!("nats-server on port {}", self.port),
                    status,
                    output: log_tail(log),
                });
            }
            if jetstream_answers(&url).await {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                return Err(RigError::TimedOut {
                    what: format!(
                        "nats-server on port {} to accept JetStream requests ({})",
                        self.port,
                        log_tail(log)
                    ),
                    after: READY_WITHIN,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn jetstream_answers(url: &str) -> bool {
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(1))
        .request_timeout(Some(Duration::from_secs(1)))
        .max_reconnects(Some(1))
        .connect(url);
    let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
        return false;
    };
    // Any answer of the JetStream API means it is up ("no responders" while it is not).
    let info = client.request("$JS.API.INFO", bytes::Bytes::new());
    matches!(
        tokio::time::timeout(Duration::from_secs(2), info).await,
        Ok(Ok(_))
    )
}
