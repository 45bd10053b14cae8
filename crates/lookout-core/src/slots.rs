//! Local-time slots: the instants at which a recipient's wall clock shows a multiple of N
//! minutes since midnight (`every 10m` digests). Slots follow the wall clock through DST: a slot
//! in a spring-forward gap does not exist, and a slot in a fall-back fold happens twice (both
//! times are slots), so consecutive slots are never further apart than N minutes plus a gap and
//! never out of order.

use jiff::Timestamp;
use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;

/// Minutes in a day; a slot length must divide it.
pub const DAY_MINUTES: u16 = 1440;

/// The civil slot boundary at or before `local`.
fn floor(local: DateTime, minutes: u16) -> DateTime {
    let n = i32::from(minutes.clamp(1, DAY_MINUTES));
    let minute_of_day = i32::from(local.hour()) * 60 + i32::from(local.minute());
    let slot = minute_of_day - minute_of_day % n;
    let time = Time::new(
        i8::try_from(slot / 60).unwrap_or(0),
        i8::try_from(slot % 60).unwrap_or(0),
        0,
        0,
    )
    .unwrap_or(Time::midnight());
    local.date().to_datetime(time)
}

/// The instants (zero, one or two) at which the wall clock of `tz` shows `civil`.
fn occurrences(tz: &TimeZone, civil: DateTime) -> impl Iterator<Item = Timestamp> {
    let ambiguous = tz.to_ambiguous_zoned(civil);
    let both = [ambiguous.clone().earlier().ok(), ambiguous.later().ok()];
    both.into_iter()
        .flatten()
        .filter(move |z| z.datetime() == civil)
        .map(|z| z.timestamp())
}

/// Every slot instant whose civil time lies within three hours (more than any DST shift) of
/// the civil slot of `t`, plus `extra` more slots ahead.
fn around(tz: &TimeZone, minutes: u16, t: Timestamp, extra: i64) -> Vec<Timestamp> {
    let n = i64::from(minutes.clamp(1, DAY_MINUTES));
    let center = floor(t.to_zoned(tz.clone()).datetime(), minutes);
    let reach = 180 / n + 1;
    let mut out = Vec::new();
    for k in -reach..=reach + extra {
        if let Ok(civil) = center.checked_add(jiff::Span::new().minutes(k * n)) {
            out.extend(occurrences(tz, civil));
        }
    }
    out
}

/// The latest slot of `minutes` in `tz` at or before `t` (`None` only at the ends of jiff's range).
pub fn slot_at_or_before(tz: &TimeZone, minutes: u16, t: Timestamp) -> Option<Timestamp> {
    around(tz, minutes, t, 0)
        .into_iter()
        .filter(|s| *s <= t)
        .max()
}

/// The first slot of `minutes` in `tz` strictly after `t`.
pub fn slot_after(tz: &TimeZone, minutes: u16, t: Timestamp) -> Option<Timestamp> {
    around(tz, minutes, t, 1)
        .into_iter()
        .filter(|s| *s > t)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn all(tz: &str, minutes: u16, from: &str, to: &str) -> Vec<Timestamp> {
        let tz = TimeZone::get(tz).unwrap();
        let mut out = Vec::new();
        let mut t = ts(from);
        while let Some(next) = slot_after(&tz, minutes, t) {
            if next > ts(to) {
                break;
            }
            assert_eq!(slot_at_or_before(&tz, minutes, next), Some(next));
            out.push(next);
            t = next;
        }
        out
    }

    #[test]
    fn slots_follow_the_wall_clock() {
        let tz = TimeZone::get("Pacific/Auckland").unwrap();
        // 2025-01-01 12:34:56 NZDT = 23:34:56Z the day before.
        let t = ts("2024-12-31T23:34:56Z");
        assert_eq!(
            slot_at_or_before(&tz, 10, t),
            Some(ts("2024-12-31T23:30:00Z"))
        );
        assert_eq!(slot_after(&tz, 10, t), Some(ts("2024-12-31T23:40:00Z")));
        assert_eq!(slot_after(&tz, 60, t), Some(ts("2025-01-01T00:00:00Z")));
    }

    #[test]
    fn a_spring_forward_gap_has_no_slots_and_a_fall_back_fold_has_them_twice() {
        // New York, 2026-03-08 02:00 EST -> 03:00 EDT.
        let spring = all(
            "America/New_York",
            30,
            "2026-03-08T06:00Z",
            "2026-03-08T07:30Z",
        );
        assert_eq!(
            spring,
            vec![
                ts("2026-03-08T06:30Z"), // 01:30 EST
                ts("2026-03-08T07:00Z"), // 03:00 EDT: 02:00 and 02:30 do not exist
                ts("2026-03-08T07:30Z"), // 03:30 EDT
            ]
        );
        // 2026-11-01 02:00 EDT -> 01:00 EST: 01:00 and 01:30 happen twice.
        let fall = all(
            "America/New_York",
            30,
            "2026-11-01T04:45Z",
            "2026-11-01T07:00Z",
        );
        assert_eq!(
            fall,
            vec![
                ts("2026-11-01T05:00Z"), // 01:00 EDT
                ts("2026-11-01T05:30Z"), // 01:30 EDT
                ts("2026-11-01T06:00Z"), // 01:00 EST
                ts("2026-11-01T06:30Z"), // 01:30 EST
                ts("2026-11-01T07:00Z"), // 02:00 EST
            ]
        );
    }
}
