//! [`timeout`]: a deadline on one operation, counted in `sentinel_timeouts_total{op}`.

use std::future::Future;
use std::time::Duration;

use crate::metric_names;
use crate::task_name::TaskName;

/// An operation did not finish within its time limit.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op} timed out after {after:?}")]
#[non_exhaustive]
pub struct TimedOut {
    /// The operation's name.
    pub op: TaskName,
    /// The limit it exceeded.
    pub after: Duration,
}

/// Runs `fut` with a time limit. On timeout the future is dropped, `sentinel_timeouts_total{op}` is incremented and
/// [`TimedOut`] names the operation. Logging is left to the caller, who knows whether a timeout is an error.
///
/// The same as `tokio::time::timeout`, plus the name and the counter: every network call needs one.
///
/// ```
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let slow = sentinel::timeout("smtp-connect", Duration::from_millis(10), std::future::pending::<()>());
/// assert_eq!(slow.await.unwrap_err().to_string(), "smtp-connect timed out after 10ms");
/// # }
/// ```
///
/// # Cancel safety
///
/// As cancel safe as `fut`.
pub async fn timeout<F: Future>(
    op: impl Into<TaskName>,
    limit: Duration,
    fut: F,
) -> Result<F::Output, TimedOut> {
    match tokio::time::timeout(limit, fut).await {
        Ok(output) => Ok(output),
        Err(_) => {
            let op = op.into();
            metrics::counter!(metric_names::TIMEOUTS, "op" => op.label()).increment(1);
            Err(TimedOut { op, after: limit })
        }
    }
}
