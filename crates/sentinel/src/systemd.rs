//! systemd notifications (feature `systemd`): readiness and a watchdog that only pets while healthy.
//!
//! Hand-written over a Unix datagram socket (the protocol is one datagram of `KEY=VALUE` lines to
//! `$NOTIFY_SOCKET`), so the feature adds no dependency. Without `$NOTIFY_SOCKET` (not started by systemd) every
//! call does nothing.
//!
//! With `WatchdogSec=` in the unit, [`spawn_watchdog`] sends `WATCHDOG=1` every half interval **only while
//! [`health`](crate::health) is healthy**: a stuck loop stops the petting, and systemd restarts the service.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::task::TaskHandle;

/// A notification could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot notify systemd at {socket}")]
pub struct NotifyError {
    socket: String,
    #[source]
    source: std::io::Error,
}

/// Sends `state` (e.g. `"READY=1"`) to `$NOTIFY_SOCKET`. `Ok(false)` when the variable is unset.
pub fn notify(state: &str) -> Result<bool, NotifyError> {
    match std::env::var("NOTIFY_SOCKET") {
        Ok(socket) if !socket.is_empty() => send(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Tells systemd the service is ready (`Type=notify` units).
pub fn notify_ready() -> Result<bool, NotifyError> {
    notify("READY=1")
}

/// Tells systemd the service is stopping.
pub fn notify_stopping() -> Result<bool, NotifyError> {
    notify("STOPPING=1")
}

/// The watchdog interval systemd expects (`$WATCHDOG_USEC`), when it is meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Spawns the watchdog task when systemd asked for one: `WATCHDOG=1` every half interval while healthy; while
/// unhealthy it logs the stale loops and stays silent. Stops when `token` is cancelled.
pub fn spawn_watchdog(token: CancellationToken) -> Option<TaskHandle<()>> {
    let interval = watchdog_interval()?;
    Some(crate::spawn("sentinel/systemd-watchdog", async move {
        let mut ticker = tokio::time::interval(interval / 2);
        loop {
            tokio::select! {
                () = token.cancelled() => return Ok::<(), NotifyError>(()),
                _ = ticker.tick() => {}
            }
            let health = crate::health();
            if health.is_healthy() {
                notify("WATCHDOG=1")?;
            } else {
                tracing::warn!(stale = ?health.stale_names(), "unhealthy: withholding systemd watchdog notification");
            }
        }
    }))
}

fn send(socket: &str, state: &str) -> Result<(), NotifyError> {
    let error = |source| NotifyError {
        socket: socket.to_owned(),
        source,
    };
    let sender = std::os::unix::net::UnixDatagram::unbound().map_err(error)?;
    #[cfg(target_os = "linux")]
    if let Some(abstract_name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt as _;
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name).map_err(error)?;
        return sender
            .send_to_addr(state.as_bytes(), &addr)
            .map(drop)
            .map_err(error);
    }
    sender
        .send_to(state.as_bytes(), socket)
        .map(drop)
        .map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_to_the_socket_path() {
        let path =
            std::env::temp_dir().join(format!("sentinel-notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let receiver = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        std::fs::remove_file(&path).unwrap();

        let error = send("/nonexistent/sentinel.sock", "READY=1").unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/sentinel.sock"),
            "{error}"
        );
    }
}
