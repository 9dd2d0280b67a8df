//! Dates as people type and read them on the box: Western Indonesian Time
//! (WIB, UTC+7, no daylight saving), stored as Unix milliseconds. A date
//! range from a search form covers whole local days, so "until 3 December"
//! includes the evening of the 3rd.

use time::{Date, Month, OffsetDateTime, UtcOffset};

/// WIB's offset from UTC in seconds.
const WIB_SECONDS: i32 = 7 * 3600;

fn wib() -> UtcOffset {
    // 7 h is within the ±25 h `time` accepts, so this never falls back.
    UtcOffset::from_whole_seconds(WIB_SECONDS).unwrap_or(UtcOffset::UTC)
}

/// Parses `YYYY-MM-DD` (an HTML date input's value).
pub fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.trim().splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// Unix ms of local midnight starting `date` in WIB.
pub fn day_start_ms(date: Date) -> i64 {
    let t = date.midnight().assume_offset(wib());
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix ms of local midnight ending `date` (the next day's start).
pub fn day_end_ms(date: Date) -> i64 {
    day_start_ms(date) + 86_400_000
}

/// `YYYY-MM-DD HH:MM:SS` in WIB, as the pages and CSV show times.
pub fn format_ms(ms: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let t = t.to_offset(wib());
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_wib_day_starts_at_17_utc_the_day_before() {
        let d = parse_date("2026-12-04").unwrap();
        // 2026-12-03T17:00:00Z
        assert_eq!(day_start_ms(d), 1_796_317_200_000);
        assert_eq!(day_end_ms(d) - day_start_ms(d), 86_400_000);
        assert_eq!(format_ms(day_start_ms(d)), "2026-12-04 00:00:00");
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in ["", "2026-13-01", "2026-02-30", "04/12/2026", "x-y-z"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }
}
