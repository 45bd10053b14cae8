//! Value parsers shared by the subcommands' arguments.

use std::time::Duration;

/// Parses `90s`, `15m`, `6h`, `2d`, `1h30m` (the configuration files' syntax, so flags and
/// files agree: [`lookout_core::config::parse_duration`]) or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => lookout_core::config::parse_duration(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5h3").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("1mo").is_err());
        assert_eq!(
            parse_duration("5 fortnights"),
            Err("invalid duration \"5 fortnights\": expected e.g. \"30s\", \"5m\", \"6h\", \"1d\", \"1h 30m\"".into())
        );
    }
}
