//! Business hours and holidays (ACD-9), in the box's local time: WIB
//! (Asia/Jakarta, UTC+7, no daylight saving) unless configured otherwise.
//! Indonesia's zones have fixed offsets, so no time-zone database is
//! needed.

use serde::{Deserialize, Serialize};

/// A moment in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// Minutes since local midnight.
    pub minute: u32,
    /// Days since 1970-01-01 (local).
    pub day: i64,
}

impl LocalTime {
    /// From a wall-clock time (ms since the epoch) and the zone's offset.
    pub fn from_wall_ms(wall_ms: i64, utc_offset_minutes: i32) -> LocalTime {
        let local_min = wall_ms.div_euclid(60_000) + i64::from(utc_offset_minutes);
        let day = local_min.div_euclid(1440);
        LocalTime {
            // 1970-01-01 was a Thursday (3).
            weekday: (day + 3).rem_euclid(7) as u8,
            minute: local_min.rem_euclid(1440) as u32,
            day,
        }
    }
}

/// Opening hours on some days of the week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, inclusive.
    pub from: String,
    /// `HH:MM`, exclusive.
    pub to: String,
}

/// When a service is open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub weekly: Vec<WeeklyHours>,
    /// `YYYY-MM-DD`: closed all day.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Ignore the hours (the demo answers round the clock).
    #[serde(default)]
    pub always_open: bool,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
fn civil_day(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The named calendars of the box's configuration (`[[calendar]]`), by
/// name, that a flow's time node may name instead of writing its own
/// hours: one place to enter the year's holidays for every flow.
pub type Calendars = std::collections::BTreeMap<String, Schedule>;

/// Whether `s` is a `YYYY-MM-DD` date (the configuration's holidays).
pub fn is_date(s: &str) -> bool {
    civil_day(s).is_some()
}

impl Schedule {
    /// Nothing written: no hours, no holidays (a time node that names a
    /// calendar instead).
    pub fn is_empty(&self) -> bool {
        self.weekly.is_empty() && self.holidays.is_empty() && !self.always_open
    }

    /// Whether every day, time and date parses.
    pub fn check(&self) -> Result<(), String> {
        for w in &self.weekly {
            for d in &w.days {
                if !DAYS.contains(&d.as_str()) {
                    return Err(format!("`{d}` is not a day (mon … sun)"));
                }
            }
            let (Some(a), Some(b)) = (hhmm(&w.from), hhmm(&w.to)) else {
                return Err(format!("`{}`–`{}` is not HH:MM–HH:MM", w.from, w.to));
            };
            if a >= b {
                return Err(format!("`{}` is not before `{}`", w.from, w.to));
            }
        }
        for h in &self.holidays {
            if civil_day(h).is_none() {
                return Err(format!("`{h}` is not a date (YYYY-MM-DD)"));
            }
        }
        Ok(())
    }

    pub fn is_open(&self, t: LocalTime) -> bool {
        if self.always_open {
            return true;
        }
        if self.holidays.iter().any(|h| civil_day(h) == Some(t.day)) {
            return false;
        }
        let day = DAYS[usize::from(t.weekday % 7)];
        self.weekly.iter().any(|w| {
            w.days.iter().any(|d| d == day)
                && matches!((hhmm(&w.from), hhmm(&w.to)), (Some(a), Some(b)) if a <= t.minute && t.minute < b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIB: i32 = 7 * 60;

    /// ms since the epoch of a UTC date and time.
    fn utc(date: &str, h: i64, m: i64) -> i64 {
        (civil_day(date).unwrap() * 1440 + h * 60 + m) * 60_000
    }

    fn office() -> Schedule {
        Schedule {
            weekly: vec![WeeklyHours {
                days: ["mon", "tue", "wed", "thu", "fri"]
                    .map(String::from)
                    .to_vec(),
                from: "08:00".into(),
                to: "16:00".into(),
            }],
            holidays: vec!["2026-12-25".into()],
            always_open: false,
        }
    }

    #[test]
    fn wib_office_hours() {
        let s = office();
        // Monday 2026-11-23 08:00 WIB is 01:00 UTC.
        let t = LocalTime::from_wall_ms(utc("2026-11-23", 1, 0), WIB);
        assert_eq!((t.weekday, t.minute), (0, 8 * 60));
        assert!(s.is_open(t));
        // 07:59 WIB: not yet; 16:00 WIB: closed.
        assert!(!s.is_open(LocalTime::from_wall_ms(utc("2026-11-23", 0, 59), WIB)));
        assert!(!s.is_open(LocalTime::from_wall_ms(utc("2026-11-23", 9, 0), WIB)));
        // Sunday 2026-11-22 at noon WIB.
        assert!(!s.is_open(LocalTime::from_wall_ms(utc("2026-11-22", 5, 0), WIB)));
        // Friday 2026-12-25 is a holiday: 10:00 WIB = 03:00 UTC.
        assert!(!s.is_open(LocalTime::from_wall_ms(utc("2026-12-25", 3, 0), WIB)));
        // 23:30 UTC on Sunday is 06:30 Monday in Jakarta.
        let t = LocalTime::from_wall_ms(utc("2026-11-22", 23, 30), WIB);
        assert_eq!((t.weekday, t.minute), (0, 6 * 60 + 30));
        assert_eq!(civil_day("1970-01-01"), Some(0));
        assert_eq!(civil_day("2000-03-01"), Some(11_017));
    }

    #[test]
    fn bad_schedules_are_named() {
        let mut s = office();
        s.weekly[0].days.push("funday".into());
        assert!(s.check().unwrap_err().contains("funday"));
        let mut s = office();
        s.weekly[0].to = "07:00".into();
        assert!(s.check().unwrap_err().contains("not before"));
        let mut s = office();
        s.holidays.push("2026-13-01".into());
        assert!(s.check().unwrap_err().contains("2026-13-01"));
        assert!(office().check().is_ok());
    }
}
