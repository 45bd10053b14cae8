//! Retries: [`RetryPolicy`], the [`retry`] builder, classifiers and [`RetryError`].
//!
//! Delays come from [`Backoff::delay`] (exponential or constant, full jitter on by default). Sentinel adds what a
//! service needs around them: a classifier that stops at once on permanent errors, a wall-clock budget
//! (`max_elapsed`, including the time the attempts take), no new attempt once shutdown has started, a log line per
//! retry and `sentinel_retries_total{op}`.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::metric_names;
use crate::task_name::TaskName;

/// How often and how long to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    delay: Delay,
    jitter: bool,
    max_attempts: Option<u32>,
    max_elapsed: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
enum Delay {
    Exponential {
        initial: Duration,
        max: Duration,
        factor: f32,
    },
    Constant(Duration),
}

impl Default for RetryPolicy {
    /// Exponential from 100 ms, doubling, at most 10 s apart, jitter on, 5 attempts.
    fn default() -> Self {
        RetryPolicy::exponential(Duration::from_millis(100))
    }
}

impl RetryPolicy {
    /// Exponential delays from `initial`, doubling up to 10 s; jitter on; 5 attempts in total.
    pub fn exponential(initial: Duration) -> Self {
        RetryPolicy {
            delay: Delay::Exponential {
                initial,
                max: Duration::from_secs(10),
                factor: 2.0,
            },
            jitter: true,
            max_attempts: Some(5),
            max_elapsed: None,
        }
    }

    /// The same delay every time; jitter on; 5 attempts in total.
    pub fn constant(delay: Duration) -> Self {
        RetryPolicy {
            delay: Delay::Constant(delay),
            ..RetryPolicy::exponential(delay)
        }
    }

    /// Caps exponential delays (ignored for constant delays).
    pub fn max_delay(mut self, max: Duration) -> Self {
        if let Delay::Exponential { max: m, .. } = &mut self.delay {
            *m = max;
        }
        self
    }

    /// Sets the growth factor of exponential delays (ignored for constant delays).
    pub fn factor(mut self, factor: f32) -> Self {
        if let Delay::Exponential { factor: f, .. } = &mut self.delay {
            *f = factor;
        }
        self
    }

    /// Turns full jitter (each delay drawn uniformly from `[0, delay]`) on or off.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Gives up after `n` attempts in total (the first call included; at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// Retries for as long as the other limits allow.
    pub fn unlimited_attempts(mut self) -> Self {
        self.max_attempts = None;
        self
    }

    /// Gives up when the next attempt would start later than `budget` after the first one.
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }

    /// The delay policy as a [`Backoff`] (constant delays are a backoff with factor 1).
    fn backoff(&self) -> Backoff {
        match self.delay {
            Delay::Exponential {
                initial,
                max,
                factor,
            } => Backoff {
                initial,
                max,
                factor,
                jitter: self.jitter,
                ..Backoff::default()
            },
            Delay::Constant(delay) => Backoff {
                initial: delay,
                max: delay,
                factor: 1.0,
                jitter: self.jitter,
                ..Backoff::default()
            },
        }
    }
}

/// Decides whether an error is worth retrying.
///
/// Implemented for closures `Fn(&E) -> bool` (`true` = transient, retry) and for [`RetryAll`].
pub trait Classify<E> {
    /// `true` when the error is transient and the operation may succeed if tried again.
    fn is_transient(&self, error: &E) -> bool;
}

impl<E, F: Fn(&E) -> bool> Classify<E> for F {
    fn is_transient(&self, error: &E) -> bool {
        self(error)
    }
}

/// The default classifier: every error is transient.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryAll;

impl<E> Classify<E> for RetryAll {
    fn is_transient(&self, _error: &E) -> bool {
        true
    }
}

/// Why [`Retry::run`] gave up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// The classifier called the error permanent; it was not retried.
    #[error("{op} failed with a permanent error after {attempts} attempt(s)")]
    Permanent {
        /// The operation.
        op: TaskName,
        /// Attempts made.
        attempts: u32,
        /// The error.
        #[source]
        source: E,
    },
    /// The attempts or the time budget ran out.
    #[error("{op} failed after {attempts} attempt(s), giving up")]
    Exhausted {
        /// The operation.
        op: TaskName,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: E,
    },
    /// Shutdown started, so no further attempt was made.
    #[error("{op} stopped retrying after {attempts} attempt(s): shutdown started")]
    ShutdownStarted {
        /// The operation.
        op: TaskName,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: E,
    },
}

impl<E> RetryError<E> {
    /// The last error the operation returned.
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Permanent { source, .. }
            | RetryError::Exhausted { source, .. }
            | RetryError::ShutdownStarted { source, .. } => source,
        }
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Permanent { attempts, .. }
            | RetryError::Exhausted { attempts, .. }
            | RetryError::ShutdownStarted { attempts, .. } => *attempts,
        }
    }

    /// `true` for [`RetryError::Permanent`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, RetryError::Permanent { .. })
    }

    /// `true` for [`RetryError::ShutdownStarted`].
    pub fn is_shutdown(&self) -> bool {
        matches!(self, RetryError::ShutdownStarted { .. })
    }
}

/// Starts building a retried operation called `op` (the `op` label and log field).
///
/// ```
/// use std::time::Duration;
/// use sentinel::RetryPolicy;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut calls = 0;
/// let result = sentinel::retry("webhook", RetryPolicy::constant(Duration::from_millis(1)).max_attempts(3))
///     .when(|status: &u16| *status >= 500) // 4xx is permanent, 5xx transient
///     .run(|| {
///         calls += 1;
///         let status = if calls < 3 { 503 } else { 200 };
///         async move { if status == 200 { Ok("sent") } else { Err(status) } }
///     })
///     .await;
/// assert_eq!(result.unwrap(), "sent");
/// assert_eq!(calls, 3);
/// # }
/// ```
pub fn retry(op: impl Into<TaskName>, policy: RetryPolicy) -> Retry<RetryAll> {
    Retry {
        op: op.into(),
        policy,
        classify: RetryAll,
        token: None,
    }
}

/// A retried operation under construction; see [`retry`].
#[derive(Debug, Clone)]
#[must_use = "call .run(..) to perform the operation"]
pub struct Retry<C> {
    op: TaskName,
    policy: RetryPolicy,
    classify: C,
    token: Option<CancellationToken>,
}

impl<C> Retry<C> {
    /// Retries only errors for which `classify` returns `true` (transient); others fail at once as
    /// [`RetryError::Permanent`].
    pub fn when<C2>(self, classify: C2) -> Retry<C2> {
        Retry {
            op: self.op,
            policy: self.policy,
            classify,
            token: self.token,
        }
    }

    /// Makes no new attempt once `token` is cancelled (pass [`Shutdown::token`](crate::Shutdown::token)); a
    /// waiting delay is cut short. An attempt already running is not interrupted.
    pub fn until(mut self, token: &CancellationToken) -> Self {
        self.token = Some(token.clone());
        self
    }

    /// Calls `attempt` until it succeeds or the policy, the classifier or shutdown says stop.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in progress; as cancel safe as one attempt.
    pub async fn run<T, E, F, Fut>(self, mut attempt: F) -> Result<T, RetryError<E>>
    where
        C: Classify<E>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Display,
    {
        let Retry {
            op,
            policy,
            classify,
            token,
        } = self;
        let started = Instant::now();
        let backoff = policy.backoff();
        let mut attempts: u32 = 0;
        let shutting_down = || token.as_ref().is_some_and(CancellationToken::is_cancelled);
        loop {
            attempts += 1;
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !classify.is_transient(&error) {
                return Err(RetryError::Permanent {
                    op,
                    attempts,
                    source: error,
                });
            }
            if policy.max_attempts.is_some_and(|max| attempts >= max) {
                return Err(RetryError::Exhausted {
                    op,
                    attempts,
                    source: error,
                });
            }
            let delay = backoff.delay(attempts - 1);
            if policy
                .max_elapsed
                .is_some_and(|budget| started.elapsed() + delay > budget)
            {
                return Err(RetryError::Exhausted {
                    op,
                    attempts,
                    source: error,
                });
            }
            if shutting_down() {
                return Err(RetryError::ShutdownStarted {
                    op,
                    attempts,
                    source: error,
                });
            }
            tracing::warn!(op = %op, attempt = attempts, error = %error, retry_in = ?delay, "operation failed: retrying");
            let cancelled = match &token {
                Some(token) => tokio::select! {
                    () = tokio::time::sleep(delay) => false,
                    () = token.cancelled() => true,
                },
                None => {
                    tokio::time::sleep(delay).await;
                    false
                }
            };
            if cancelled {
                return Err(RetryError::ShutdownStarted {
                    op,
                    attempts,
                    source: error,
                });
            }
            metrics::counter!(metric_names::RETRIES, "op" => op.label()).increment(1);
        }
    }
}
