//! The one source of randomness for jitter in the workspace: a per-thread SplitMix64 generator seeded
//! from the standard library's per-process random hasher keys.
//!
//! Jitter only has to keep many clients from retrying in lockstep, so it needs no cryptographic quality
//! and no dependency. Every backoff ([`Backoff::delay`](crate::Backoff::delay): supervisor restarts,
//! [`retry`](crate::retry), feed reconnects, outbox retries) draws from here; nothing else in the
//! workspace should roll its own. A generator that must be reproducible from a seed (the traffic
//! simulator) is not jitter and keeps its own.
//!
//! ```
//! use std::time::Duration;
//! let d = sentinel::jitter::full(Duration::from_secs(2));
//! assert!(d <= Duration::from_secs(2));
//! let x = sentinel::jitter::unit();
//! assert!((0.0..1.0).contains(&x));
//! ```

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A fresh random seed from the standard library's per-instance hasher keys.
fn seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x05e1_71e1);
    hasher.finish()
}

/// One SplitMix64 step (Steele, Lea, Flood 2014).
fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A uniform float in `[0, 1)`.
pub fn unit() -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    #[allow(clippy::cast_precision_loss)]
    let x = (next_u64() >> 11) as f64;
    x * (1.0 / (1u64 << 53) as f64)
}

/// "Full jitter": a uniform duration in `[0, max]`.
pub fn full(max: Duration) -> Duration {
    max.mul_f64(unit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_in_range_and_vary() {
        let max = Duration::from_millis(1000);
        let draws: Vec<Duration> = (0..1000).map(|_| full(max)).collect();
        assert!(draws.iter().all(|d| *d <= max));
        assert!(draws.iter().any(|d| *d < max / 2));
        assert!(draws.iter().any(|d| *d > max / 2));
        assert_eq!(full(Duration::ZERO), Duration::ZERO);
    }
}
