//! [`Limit`]: a concurrency limit whose pressure is visible (`sentinel_in_flight{op}`, `sentinel_pending{op}`).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metric_names;
use crate::task_name::TaskName;

/// At most `max` concurrent operations of one kind, e.g. SMTP connections or webhook calls.
///
/// `sentinel_in_flight{op}` counts the operations holding a permit and `sentinel_pending{op}` those waiting for
/// one: a pending gauge that stays above zero means the limit (or the thing behind it) is the bottleneck. Cheap to
/// clone; clones share the limit. A `tokio::sync::Semaphore` underneath, with the gauges added.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let smtp = sentinel::Limit::new("smtp", 4);
/// let sent = smtp.run(async { "250 OK" }).await;
/// assert_eq!(sent, "250 OK");
/// assert_eq!(smtp.available(), 4);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Limit {
    op: TaskName,
    semaphore: Arc<Semaphore>,
}

impl Limit {
    /// A limit of `max` (at least 1) concurrent operations called `op`.
    pub fn new(op: impl Into<TaskName>, max: usize) -> Self {
        Limit {
            op: op.into(),
            semaphore: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
        }
    }

    /// Waits for a permit; the operation is in flight until the permit is dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait takes no permit and leaves the pending gauge as it was. Waiters are served in
    /// FIFO order, and dropping a wait gives up its place.
    pub async fn acquire(&self) -> Permit {
        let waiting = Pending::new(&self.op);
        let permit = Arc::clone(&self.semaphore)
            .acquire_owned()
            .await
            .expect("a Limit's semaphore is owned by the Limit and never closed");
        drop(waiting);
        Permit::new(self.op.clone(), permit)
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<Permit> {
        let permit = Arc::clone(&self.semaphore).try_acquire_owned().ok()?;
        Some(Permit::new(self.op.clone(), permit))
    }

    /// Runs `fut` once a permit is free, holding the permit until it completes.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `fut`; dropping releases the permit.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        let _permit = self.acquire().await;
        fut.await
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// The operation's name (the `op` label).
    pub fn op(&self) -> &TaskName {
        &self.op
    }
}

struct Pending<'a> {
    op: &'a TaskName,
}

impl<'a> Pending<'a> {
    fn new(op: &'a TaskName) -> Self {
        metrics::gauge!(metric_names::PENDING, "op" => op.label()).increment(1.0);
        Pending { op }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        metrics::gauge!(metric_names::PENDING, "op" => self.op.label()).decrement(1.0);
    }
}

/// A permit from a [`Limit`]; the operation counts as in flight until it is dropped.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct Permit {
    op: TaskName,
    _permit: OwnedSemaphorePermit,
}

impl Permit {
    fn new(op: TaskName, permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!(metric_names::IN_FLIGHT, "op" => op.label()).increment(1.0);
        Permit {
            op,
            _permit: permit,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        metrics::gauge!(metric_names::IN_FLIGHT, "op" => self.op.label()).decrement(1.0);
    }
}
