//! Dates as people type and read them on the box: in the box's zone
//! (`[system] time_zone`: WIB, WITA or WIT, no daylight saving), stored as
//! Unix milliseconds. A date range from a search form covers whole local
//! days, so "until 3 December" includes the evening of the 3rd wherever
//! the box stands.

use time::{Date, Month};

use crate::i18n::Zone;

/// Parses `YYYY-MM-DD` (an HTML date input's value).
pub fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.trim().splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// Unix ms of local midnight starting `date` in `zone`.
pub fn day_start_ms(date: Date, zone: Zone) -> i64 {
    let t = date.midnight().assume_offset(zone.offset());
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix ms of local midnight ending `date` (the next day's start).
pub fn day_end_ms(date: Date, zone: Zone) -> i64 {
    day_start_ms(date, zone) + 86_400_000
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_wib_day_starts_at_17_utc_the_day_before() {
        let d = parse_date("2026-12-04").unwrap();
        // 2026-12-03T17:00:00Z
        assert_eq!(day_start_ms(d, Zone::WIB), 1_796_317_200_000);
        assert_eq!(
            day_end_ms(d, Zone::WIB) - day_start_ms(d, Zone::WIB),
            86_400_000
        );
        assert_eq!(
            Zone::WIB.plain_time(day_start_ms(d, Zone::WIB)).unwrap(),
            "2026-12-04 00:00:00"
        );
    }

    #[test]
    fn a_day_in_makassar_or_jayapura_starts_earlier() {
        let d = parse_date("2026-12-04").unwrap();
        let wib = day_start_ms(d, Zone::WIB);
        assert_eq!(
            wib - day_start_ms(d, Zone::named("Asia/Makassar")),
            3_600_000
        );
        assert_eq!(
            wib - day_start_ms(d, Zone::named("Asia/Jayapura")),
            7_200_000
        );
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in ["", "2026-13-01", "2026-02-30", "04/12/2026", "x-y-z"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }
}
