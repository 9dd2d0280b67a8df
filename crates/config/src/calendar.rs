//! Named calendars (ACD-9): weekly opening hours in the box's local time
//! (WIB by default) and dated holidays, each with the name the admin gave
//! it (`Idul Fitri`, `Hari Raya Natal`). Flows name a calendar in their
//! time node, so the year's holidays are entered once for every service
//! rather than in each flow.

use dering_flow::{Schedule, WeeklyHours};

/// One `[[calendar]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub name: String,
    pub hours: Vec<WeeklyHours>,
    pub holidays: Vec<Holiday>,
}

/// A day the service is closed all day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    pub name: String,
}

impl Calendar {
    /// The calendar as the flow engine evaluates it.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            weekly: self.hours.clone(),
            holidays: self.holidays.iter().map(|h| h.date.clone()).collect(),
            always_open: false,
        }
    }
}

/// Every calendar by name, for `dering_flow::Session::start_with`.
pub fn calendars(list: &[Calendar]) -> dering_flow::Calendars {
    list.iter()
        .map(|c| (c.name.clone(), c.schedule()))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::{Config, DEFAULT_TOML};

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn the_demo_calendar_is_read_with_its_named_holidays() {
        let c = Config::parse(DEFAULT_TOML, "f.toml").unwrap();
        let kantor = &c.calendars[0];
        assert_eq!(kantor.name, "kantor");
        assert_eq!(kantor.holidays[0].name, "Hari Raya Natal");
        let s = kantor.schedule();
        assert_eq!(s.holidays, ["2026-12-25", "2027-01-01"]);
        assert_eq!(s.weekly[0].from, "08:00");
        assert!(super::calendars(&c.calendars).contains_key("kantor"));
    }

    /// Each refusal names file, line and key.
    #[test]
    fn bad_calendars_name_line_and_key() {
        let cases = [
            ("name = \"kantor\"", "name = \"kan tor\"", "calendar.name"),
            (
                "\"08:00\", to = \"16:00\"",
                "\"17:00\", to = \"16:00\"",
                "calendar.hours",
            ),
            ("\"tue\", \"wed\"", "\"tue\", \"wedn\"", "calendar.hours"),
            ("2026-12-25", "2026-12-32", "calendar.holidays.date"),
            (
                "name = \"Tahun Baru Masehi\"",
                "name = \" \"",
                "calendar.holidays.name",
            ),
            (
                "2027-01-01\", name = \"Tahun",
                "2026-12-25\", name = \"Tahun",
                "calendar.holidays.date",
            ),
        ];
        for (from, to, key) in cases {
            let text = DEFAULT_TOML.replacen(from, to, 1);
            assert_ne!(text, DEFAULT_TOML, "{from}");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let line = line_containing(&text, to);
            assert!(
                e.starts_with(&format!("f.toml:{line}: key `{key}`")),
                "{to}: {e}"
            );
        }
        let twice = format!("{DEFAULT_TOML}\n[[calendar]]\nname = \"kantor\"\n");
        let e = Config::parse(&twice, "f.toml").unwrap_err().to_string();
        assert!(
            e.contains("key `calendar.name`: \"kantor\" is given twice"),
            "{e}"
        );
        let unknown = format!("{DEFAULT_TOML}\n[[calendar]]\nname = \"x\"\nopen = true\n");
        let e = Config::parse(&unknown, "f.toml").unwrap_err().to_string();
        assert!(e.contains("open"), "{e}");
    }
}
