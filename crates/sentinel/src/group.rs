//! Structured fan-out: [`TaskGroup`], errgroup done right.
//!
//! Children are observed tasks (see [`spawn`](crate::spawn)), so every panic is caught, logged with the child's
//! name and counted. [`TaskGroup::join`] returns the first failure (a panic arrives as [`TaskError::Panicked`]
//! naming the child, never re-thrown into the caller) after cancelling and stopping the other children;
//! [`TaskGroup::join_all`] collects every result instead.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::name::TaskName;
use crate::task::{BoxError, TaskError, TaskHandle};

/// A group of observed tasks joined together, with an optional concurrency limit and a shared cancellation token.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut group = sentinel::TaskGroup::new("fetch-profiles").limit(8);
/// for user in ["ann", "bob", "eve"] {
///     group.spawn(format!("fetch-profiles/{user}"), async move {
///         if user == "eve" {
///             panic!("profile of {user} is missing");
///         }
///         Ok::<_, std::io::Error>(user.len())
///     });
/// }
/// let err = group.join().await.unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.task(), "fetch-profiles/eve");
/// # }
/// ```
///
/// Dropping a group without joining it cancels its token and aborts its children.
#[derive(Debug)]
pub struct TaskGroup<T> {
    name: TaskName,
    token: CancellationToken,
    limit: Option<Arc<Semaphore>>,
    handles: Vec<TaskHandle<T>>,
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group with its own cancellation token and no concurrency limit.
    pub fn new(name: impl Into<TaskName>) -> Self {
        TaskGroup { name: name.into(), token: CancellationToken::new(), limit: None, handles: Vec::new() }
    }

    /// An empty group whose token is a child of `parent`: cancelling the parent (e.g. shutdown) cancels the group.
    pub fn with_parent(name: impl Into<TaskName>, parent: &CancellationToken) -> Self {
        TaskGroup { name: name.into(), token: parent.child_token(), limit: None, handles: Vec::new() }
    }

    /// Runs at most `max_concurrent` children at a time (at least 1); the others wait, already spawned, for a slot.
    pub fn limit(mut self, max_concurrent: usize) -> Self {
        self.limit = Some(Arc::new(Semaphore::new(max_concurrent.max(1))));
        self
    }

    /// The group's name.
    pub fn name(&self) -> &TaskName {
        &self.name
    }

    /// The token cancelled when the group gives up (first failure in [`join`](TaskGroup::join), or drop). Children
    /// that want to stop cleanly select on it; the others are aborted.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Number of children spawned and not yet joined.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// `true` when no child was spawned.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Spawns a child as an observed task called `name`. With a limit, it waits for a slot before it starts.
    pub fn spawn<E, F>(&mut self, name: impl Into<TaskName>, fut: F)
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let handle = match &self.limit {
            None => crate::spawn(name, fut),
            Some(limit) => {
                let limit = Arc::clone(limit);
                crate::spawn(name, async move {
                    let _permit = limit.acquire_owned().await.map_err(|_closed| -> BoxError {
                        "task group concurrency limit was closed".into()
                    })?;
                    fut.await.map_err(Into::into)
                })
            }
        };
        self.handles.push(handle);
    }

    /// Waits for every child and returns their values in spawn order, or the first failure.
    ///
    /// On the first failure the group's token is cancelled, the other children are aborted, and `join` waits until
    /// they have stopped before returning the error. The failure was already logged by the child.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the group, which aborts the children that are still running.
    pub async fn join(mut self) -> Result<Vec<T>, TaskError> {
        let handles = std::mem::take(&mut self.handles);
        let n_children = handles.len();
        let aborts: Vec<_> = handles.iter().map(TaskHandle::abort_handle).collect();
        let mut pending: FuturesUnordered<_> =
            handles.into_iter().enumerate().map(|(idx, handle)| async move { (idx, handle.await) }).collect();
        let mut values: Vec<Option<T>> = std::iter::repeat_with(|| None).take(n_children).collect();
        while let Some((idx, result)) = pending.next().await {
            match result {
                Ok(value) => values[idx] = Some(value),
                Err(error) => {
                    tracing::debug!(group = %self.name, task = %error.task(), "child failed: cancelling the group");
                    self.token.cancel();
                    aborts.iter().for_each(tokio::task::AbortHandle::abort);
                    while pending.next().await.is_some() {}
                    return Err(error);
                }
            }
        }
        Ok(values.into_iter().flatten().collect())
    }

    /// Waits for every child and returns every result in spawn order; a failure does not cancel the others.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the group, which aborts the children that are still running.
    pub async fn join_all(mut self) -> Vec<Result<T, TaskError>> {
        let handles = std::mem::take(&mut self.handles);
        futures::future::join_all(handles).await
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        if !self.handles.is_empty() {
            self.token.cancel();
            self.handles.iter().for_each(TaskHandle::abort);
        }
    }
}
