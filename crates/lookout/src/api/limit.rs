//! The per-token rate limit of `/api/v1`: a token bucket per API token (per instance), `burst`
//! requests at once and `per_second` after that; past it a `429` problem with `Retry-After`
//! (whole seconds until a request would pass). Checked right after the token authenticated,
//! so an unknown token costs no bucket. At most [`MAX_BUCKETS`] buckets are kept; full ones
//! (tokens idle long enough to have refilled) are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Most tokens with a bucket at once.
pub const MAX_BUCKETS: usize = 10_000;

/// `[http]`'s API rate limit settings.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second per token (default 50).
    pub per_second: f64,
    /// Requests a token may make at once (default 200).
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            per_second: 50.0,
            burst: 200,
        }
    }
}

/// Token buckets by API token id.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Buckets for `limit`.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `token`'s bucket; `Err(wait)` when it is empty.
    pub fn check(&self, token: &str) -> Result<(), Duration> {
        let (rate, burst) = (
            self.limit.per_second.max(0.001),
            f64::from(self.limit.burst.max(1)),
        );
        let now = Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !buckets.contains_key(token) && buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, (level, at)| {
                *level + now.duration_since(*at).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_BUCKETS {
                // Every bucket is in use: refuse newcomers rather than grow.
                return Err(Duration::from_secs(1));
            }
        }
        let (level, at) = buckets.entry(token.to_owned()).or_insert((burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *level) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 3,
        });
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limiter.check("b").is_ok(),
            "another token has its own bucket"
        );
    }
}
