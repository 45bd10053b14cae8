//! Values as written in configuration files, shared by every stage crate's `Deserialize`
//! config: durations (`"30s"`, `"5m"`, `"1h 30m"`, jiff's friendly format) and positive
//! counts, each with an error text a user can act on.
//!
//! Use the `serde` helpers on fields:
//!
//! ```
//! use std::time::Duration;
//! #[derive(serde::Deserialize)]
//! struct Settings {
//!     #[serde(with = "lookout_core::config::duration")]
//!     lease: Duration,
//!     #[serde(deserialize_with = "lookout_core::config::positive")]
//!     batch_size: usize,
//! }
//! let s: Settings = serde_json::from_str(r#"{"lease": "1m 30s", "batch_size": 8}"#).unwrap();
//! assert_eq!(s.lease, Duration::from_secs(90));
//! assert!(serde_json::from_str::<Settings>(r#"{"lease": "0s", "batch_size": 8}"#).is_err());
//! ```

use std::time::Duration;

use jiff::fmt::friendly::SpanParser;
use jiff::{SignedDuration, SpanRelativeTo};
use serde::{Deserialize, Deserializer};

static PARSER: SpanParser = SpanParser::new();

/// Parses a duration such as `500ms`, `90s`, `5m`, `6h`, `2d`, `1w`, `1h30m`, `1h 30m` or
/// `2 hours 5 minutes` (jiff's friendly format, days being 24 hours).
///
/// Rejected: months and years (their length varies), negative spans (`-5m`, `5m ago`),
/// fractions (`1.5h`), and anything without a unit.
///
/// # Errors
/// `invalid duration "5x": expected e.g. "30s", "5m", "6h", "1d", "1h 30m"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration {s:?}: expected e.g. \"30s\", \"5m\", \"6h\", \"1d\", \"1h 30m\"")
    };
    // jiff accepts fractions of the smallest unit; a configuration value has none.
    if s.contains(['.', ',']) {
        return Err(bad());
    }
    let span = PARSER.parse_span(s.trim()).map_err(|_| bad())?;
    if span.is_negative() || span.get_years() != 0 || span.get_months() != 0 {
        return Err(bad());
    }
    let signed: SignedDuration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    Duration::try_from(signed).map_err(|_| bad())
}

/// A duration greater than zero, for `#[serde(with = "lookout_core::config::duration")]`.
pub mod duration {
    use super::{Deserialize, Deserializer, Duration, parse_duration};

    /// Deserializes a duration string (see [`parse_duration`]) that must not be zero.
    ///
    /// # Errors
    /// The parse error, or `must be greater than zero`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        match parse_duration(&text) {
            Ok(value) if !value.is_zero() => Ok(value),
            Ok(_) => Err(serde::de::Error::custom("must be greater than zero")),
            Err(msg) => Err(serde::de::Error::custom(msg)),
        }
    }
}

/// An optional duration greater than zero, for
/// `#[serde(default, with = "lookout_core::config::opt_duration")]`.
pub mod opt_duration {
    use super::{Deserializer, Duration};

    /// Deserializes a duration string that must not be zero.
    ///
    /// # Errors
    /// As [`super::duration::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }
}

/// A socket address such as `127.0.0.1:9090`, for
/// `#[serde(deserialize_with = "lookout_core::config::socket_addr")]`.
///
/// # Errors
/// `invalid address "nowhere": invalid socket address syntax`.
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<std::net::SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("invalid address {text:?}: {e}")))
}

/// A count of at least 1, for `#[serde(deserialize_with = "lookout_core::config::positive")]`.
///
/// # Errors
/// `must be at least 1`, or the integer's own type error.
pub fn positive<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    let value = T::deserialize(d)?;
    if value == T::default() {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_the_friendly_format() {
        let secs = |n| Ok(Duration::from_secs(n));
        assert_eq!(parse_duration("90s"), secs(90));
        assert_eq!(parse_duration("5m"), secs(300));
        assert_eq!(parse_duration("6h"), secs(21_600));
        assert_eq!(parse_duration("2d"), secs(172_800));
        assert_eq!(parse_duration("1h30m"), secs(5400));
        assert_eq!(parse_duration("1h 30m"), secs(5400));
        assert_eq!(parse_duration("2 hours 5 minutes"), secs(7500));
        assert_eq!(parse_duration("48h"), secs(172_800));
        assert_eq!(parse_duration("0s"), secs(0));
        assert_eq!(parse_duration("1w"), secs(604_800));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn months_years_negatives_fractions_and_bare_numbers_are_rejected() {
        for bad in [
            "5x",
            "5h3",
            "",
            "  ",
            "1mo",
            "1y",
            "2 years",
            "-5m",
            "5m ago",
            "1.5h",
            "1,5h",
            "90",
            "five minutes",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(format!(
                    "invalid duration {bad:?}: expected e.g. \"30s\", \"5m\", \"6h\", \"1d\", \"1h 30m\""
                )),
                "{bad:?}"
            );
        }
    }
}
