//! Structured fan-out: [`TaskGroup`], errgroup done right.
//!
//! Children are observed tasks (see [`spawn`](crate::spawn)), so every panic is caught, logged with the child's
//! name and counted. [`TaskGroup::join`] returns the first failure (a panic arrives as [`TaskError::Panicked`]
//! naming the child, never re-thrown into the caller) after cancelling and stopping the other children;
//! [`TaskGroup::join_all`] collects every result instead. Underneath is a `tokio::task::JoinSet`, so the
//! bookkeeping per child is tokio's own.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::task::{BoxError, TaskError, observed};
use crate::task_name::TaskName;

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
    set: JoinSet<(usize, Result<T, TaskError>)>,
    /// Child names in spawn order, with their task ids (to name a child whose task was aborted).
    children: Vec<(Id, TaskName)>,
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group with its own cancellation token and no concurrency limit.
    pub fn new(name: impl Into<TaskName>) -> Self {
        Self::with_token(name.into(), CancellationToken::new())
    }

    /// An empty group whose token is a child of `parent`: cancelling the parent (e.g. shutdown) cancels the group.
    pub fn with_parent(name: impl Into<TaskName>, parent: &CancellationToken) -> Self {
        Self::with_token(name.into(), parent.child_token())
    }

    fn with_token(name: TaskName, token: CancellationToken) -> Self {
        TaskGroup {
            name,
            token,
            limit: None,
            set: JoinSet::new(),
            children: Vec::new(),
        }
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
        self.set.len()
    }

    /// `true` when no child is waiting to be joined.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Spawns a child as an observed task called `name`. With a limit, it waits for a slot before it starts.
    ///
    /// # Panics
    ///
    /// Like `tokio::spawn`, panics when called outside a tokio runtime.
    pub fn spawn<E, F>(&mut self, name: impl Into<TaskName>, fut: F)
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let name = name.into();
        let idx = self.children.len();
        let handle = match &self.limit {
            None => {
                let child = observed(name.clone(), None, fut);
                self.set.spawn(async move { (idx, child.await) })
            }
            Some(limit) => {
                let limit = Arc::clone(limit);
                let child = observed(name.clone(), None, async move {
                    let _permit = limit.acquire_owned().await.map_err(|_closed| -> BoxError {
                        "task group concurrency limit was closed".into()
                    })?;
                    fut.await.map_err(Into::into)
                });
                self.set.spawn(async move { (idx, child.await) })
            }
        };
        self.children.push((handle.id(), name));
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
        let mut values: Vec<Option<T>> = std::iter::repeat_with(|| None)
            .take(self.children.len())
            .collect();
        while let Some(joined) = self.set.join_next().await {
            let error = match joined {
                Ok((idx, Ok(value))) => {
                    values[idx] = Some(value);
                    continue;
                }
                Ok((_, Err(error))) => error,
                Err(join_error) => self.join_error(join_error),
            };
            tracing::debug!(group = %self.name, task = %error.task(), "child failed: cancelling the group");
            self.token.cancel();
            self.set.abort_all();
            while self.set.join_next().await.is_some() {}
            return Err(error);
        }
        Ok(values.into_iter().flatten().collect())
    }

    /// Waits for every child and returns every result in spawn order; a failure does not cancel the others.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the group, which aborts the children that are still running.
    pub async fn join_all(mut self) -> Vec<Result<T, TaskError>> {
        let mut results: Vec<Option<Result<T, TaskError>>> = std::iter::repeat_with(|| None)
            .take(self.children.len())
            .collect();
        while let Some(joined) = self.set.join_next().await {
            match joined {
                Ok((idx, result)) => results[idx] = Some(result),
                Err(join_error) => {
                    let id = join_error.id();
                    let error = self.join_error(join_error);
                    if let Some(idx) = self.children.iter().position(|(child, _)| *child == id) {
                        results[idx] = Some(Err(error));
                    }
                }
            }
        }
        results.into_iter().flatten().collect()
    }

    /// A child's task ended without producing its result: it was aborted (runtime shutdown) or sentinel's own
    /// bookkeeping panicked.
    fn join_error(&self, join_error: JoinError) -> TaskError {
        let id = join_error.id();
        let task = self
            .children
            .iter()
            .find(|(child, _)| *child == id)
            .map_or_else(|| self.name.clone(), |(_, name)| name.clone());
        if join_error.is_cancelled() {
            TaskError::Cancelled { task }
        } else {
            TaskError::Panicked {
                task,
                message: join_error.to_string(),
                location: None,
                backtrace: None,
            }
        }
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        // The JoinSet aborts the children when it is dropped; cancel the token first so cooperative ones see why.
        if !self.set.is_empty() {
            self.token.cancel();
        }
    }
}
