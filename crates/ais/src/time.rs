//! Civil date to Unix time, without a dependency (used for `$PGHP` timestamps).

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
/// Inputs must already be range-checked (month 1..=12, day 1..=31, year 0..=9999).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month);
    let day = i64::from(day);
    let y = if month <= 2 {
        year.wrapping_sub(1)
    } else {
        year
    };
    let era = y.div_euclid(400);
    let yoe = y.wrapping_sub(era.wrapping_mul(400));
    let mp = if month > 2 {
        month.wrapping_sub(3)
    } else {
        month.wrapping_add(9)
    };
    let doy = (153i64.wrapping_mul(mp).wrapping_add(2))
        .div_euclid(5)
        .wrapping_add(day)
        .wrapping_sub(1);
    let doe = yoe
        .wrapping_mul(365)
        .wrapping_add(yoe.div_euclid(4))
        .wrapping_sub(yoe.div_euclid(100))
        .wrapping_add(doy);
    era.wrapping_mul(146_097)
        .wrapping_add(doe)
        .wrapping_sub(719_468)
}

/// Unix milliseconds for a UTC civil time; `None` when a field is out of range.
pub(crate) fn unix_ms(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    ms: u32,
) -> Option<i64> {
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || ms > 999
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days.checked_mul(86_400)?.checked_add(
        i64::from(hour)
            .wrapping_mul(3600)
            .wrapping_add(i64::from(minute).wrapping_mul(60))
            .wrapping_add(i64::from(second)),
    )?;
    secs.checked_mul(1000)?.checked_add(i64::from(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            unix_ms(2010, 6, 11, 11, 46, 11, 390),
            Some(1_276_256_771_390)
        );
        assert_eq!(unix_ms(2000, 2, 29, 0, 0, 0, 0), Some(951_782_400_000));
        assert_eq!(unix_ms(2010, 13, 1, 0, 0, 0, 0), None);
    }
}
