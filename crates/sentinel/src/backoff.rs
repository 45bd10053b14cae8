//! [`Backoff`]: the one exponential backoff of the workspace, as a pure function of the attempt number.
//!
//! Supervisor restarts, [`retry`](crate::retry), feed reconnects and outbox retries all compute their
//! delays with [`Backoff::delay`]. It keeps no state: the caller counts attempts (in memory, or in a
//! database row for the outbox), so the same policy serves a loop and a table of deliveries alike.

use std::time::Duration;

/// Exponential backoff: `initial * factor^attempt`, capped at `max`, with "full jitter" (a uniform
/// delay in `[0, nominal]`) by default so many clients do not retry in lockstep.
///
/// A supervised child that ran at least `reset_after` before ending starts again from `initial`.
///
/// ```
/// use std::time::Duration;
/// let backoff = sentinel::Backoff {
///     initial: Duration::from_secs(1),
///     max: Duration::from_secs(60),
///     jitter: false,
///     ..sentinel::Backoff::default()
/// };
/// assert_eq!(backoff.delay(0), Duration::from_secs(1)); // first retry
/// assert_eq!(backoff.delay(3), Duration::from_secs(8));
/// assert_eq!(backoff.delay(30), Duration::from_secs(60)); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay (attempt 0).
    pub initial: Duration,
    /// Largest delay (jitter draws below it, never above).
    pub max: Duration,
    /// Growth per attempt.
    pub factor: f32,
    /// Full jitter: draw each delay uniformly from `[0, nominal]` (from [`crate::jitter`]).
    pub jitter: bool,
    /// Uptime after which a supervised child counts as healthy again and its delay resets.
    pub reset_after: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling to 30 s, full jitter, reset after 60 s of uptime.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: true,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// No delay at all (tests, or children that must come back at once).
    pub fn none() -> Self {
        Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            factor: 1.0,
            jitter: false,
            ..Backoff::default()
        }
    }

    /// Exponential from `initial` to `max`, doubling, full jitter.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            ..Backoff::default()
        }
    }

    /// The delay before retry number `attempt`, where attempt 0 is the first retry (the wait after
    /// the first failure).
    ///
    /// Pure apart from the jitter draw: the nominal delay is `min(max, initial * factor^attempt)`;
    /// with [`Backoff::jitter`] the result is uniform in `[0, nominal]`. The caller owns the count,
    /// so it can live anywhere (a loop variable, a `attempts` column).
    pub fn delay(&self, attempt: u32) -> Duration {
        let nominal = self.nominal(attempt);
        if self.jitter {
            crate::jitter::full(nominal)
        } else {
            nominal
        }
    }

    /// The delay before retry `attempt` without jitter.
    fn nominal(&self, attempt: u32) -> Duration {
        let max = self.max.max(self.initial);
        let factor = f64::from(self.factor).max(1.0);
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * factor.powi(exponent);
        if secs.is_finite() && secs < max.as_secs_f64() {
            Duration::try_from_secs_f64(secs).unwrap_or(max)
        } else {
            max
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
            jitter: false,
            ..Backoff::default()
        }
    }

    #[test]
    fn grows_from_initial_and_caps_at_max() {
        let b = plain(100, 2000);
        let delays: Vec<u64> = (0..7).map(|n| b.delay(n).as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(2000));
    }

    #[test]
    fn full_jitter_stays_between_zero_and_the_nominal_delay() {
        let b = Backoff {
            jitter: true,
            ..plain(100, 2000)
        };
        for attempt in 0..10 {
            let nominal = plain(100, 2000).delay(attempt);
            let draws: Vec<Duration> = (0..200).map(|_| b.delay(attempt)).collect();
            assert!(draws.iter().all(|d| *d <= nominal), "attempt {attempt}");
            // Full, not equal, jitter: some draws fall below half the nominal delay.
            assert!(draws.iter().any(|d| *d < nominal / 2), "attempt {attempt}");
        }
    }

    #[test]
    fn none_is_zero_and_a_factor_below_one_does_not_shrink() {
        assert_eq!(Backoff::none().delay(5), Duration::ZERO);
        let b = Backoff {
            factor: 0.5,
            ..plain(100, 1000)
        };
        assert_eq!(b.delay(3), Duration::from_millis(100));
    }
}
