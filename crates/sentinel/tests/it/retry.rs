//! Retries stop when shutdown starts; permanent errors are not retried.

use std::cell::Cell;
use std::time::Duration;

use sentinel::{RetryPolicy, Shutdown, retry};

use crate::support::observe;

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("relay busy")]
    Busy,
    #[error("mailbox does not exist")]
    NoMailbox,
}

#[test]
fn retries_stop_when_shutdown_starts() {
    let observed = observe(true, |_| async {
        let shutdown = Shutdown::default();
        let attempts = Cell::new(0);
        let result = retry(
            "smtp-send",
            RetryPolicy::exponential(Duration::from_millis(100)).unlimited_attempts(),
        )
        .until(&shutdown.token())
        .run(|| {
            attempts.set(attempts.get() + 1);
            if attempts.get() == 3 {
                shutdown.trigger("deploy");
            }
            async { Err::<(), _>(SendError::Busy) }
        })
        .await;
        let error = result.unwrap_err();
        assert!(error.is_shutdown(), "{error:?}");
        assert_eq!(error.attempts(), 3);
        assert_eq!(attempts.get(), 3);

        // Shutdown during the wait cuts the delay short.
        let shutdown = Shutdown::default();
        let token = shutdown.token();
        let trigger = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            shutdown.trigger("deploy");
        };
        let retried = retry(
            "slow-retry",
            RetryPolicy::constant(Duration::from_secs(3600)).jitter(false),
        )
        .until(&token)
        .run(|| async { Err::<(), _>(SendError::Busy) });
        let started = tokio::time::Instant::now();
        let (result, ()) = tokio::join!(retried, trigger);
        assert!(result.unwrap_err().is_shutdown());
        assert!(started.elapsed() < Duration::from_secs(3600));
    });
    assert_eq!(
        observed
            .metrics()
            .counter("sentinel_retries_total", &[("op", "smtp-send")]),
        2
    );
}

#[test]
fn permanent_errors_are_not_retried_and_transient_ones_exhaust_the_policy() {
    let observed = observe(true, |_| async {
        let attempts = Cell::new(0);
        let classify = |error: &SendError| matches!(error, SendError::Busy);
        let result = retry("permanent", RetryPolicy::default())
            .when(classify)
            .run(|| {
                attempts.set(attempts.get() + 1);
                async { Err::<(), _>(SendError::NoMailbox) }
            })
            .await;
        let error = result.unwrap_err();
        assert!(error.is_permanent());
        assert_eq!(attempts.get(), 1);
        assert!(matches!(error.into_inner(), SendError::NoMailbox));

        attempts.set(0);
        let result = retry(
            "transient",
            RetryPolicy::constant(Duration::from_millis(10)).max_attempts(4),
        )
        .when(classify)
        .run(|| {
            attempts.set(attempts.get() + 1);
            async { Err::<(), _>(SendError::Busy) }
        })
        .await;
        let error = result.unwrap_err();
        assert_eq!(error.attempts(), 4);
        assert_eq!(
            sentinel::error_chain(&error),
            "transient failed after 4 attempt(s), giving up: relay busy"
        );

        let budget = RetryPolicy::constant(Duration::from_secs(1))
            .jitter(false)
            .unlimited_attempts()
            .max_elapsed(Duration::from_millis(5500));
        let result = retry("budget", budget)
            .run(|| async { Err::<(), _>(SendError::Busy) })
            .await;
        assert_eq!(result.unwrap_err().attempts(), 6);
    });
    let metrics = observed.metrics();
    assert_eq!(
        metrics.counter("sentinel_retries_total", &[("op", "permanent")]),
        0
    );
    assert_eq!(
        metrics.counter("sentinel_retries_total", &[("op", "transient")]),
        3
    );
}
