//! The loader's part for `[[calendar]]` (named business hours and
//! holidays): the spanned mirror, its checks and its plain value.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::calendar::{Calendar, Holiday};
use crate::reason::{Format, Reason};
use crate::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    name: Spanned<String>,
    #[serde(default = "no_hours")]
    hours: Spanned<Vec<dering_flow::WeeklyHours>>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: Spanned<String>,
    name: Spanned<String>,
}

fn no_hours() -> Spanned<Vec<dering_flow::WeeklyHours>> {
    super::unspanned(Vec::new())
}

/// Names are unique and plain (a flow refers to them), hours are days
/// and `HH:MM` ranges, holidays are dates with a name, each date once.
pub(super) fn check(at: &Refusal, calendars: &[RawCalendar]) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for c in calendars {
        let name = c.name.get_ref();
        let plain = !name.is_empty()
            && name.len() <= 40
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !plain {
            return Err(at.refuse(
                &c.name,
                "calendar.name",
                Reason::NotA {
                    what: Format::Name,
                    value: name.clone(),
                },
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(at.refuse(&c.name, "calendar.name", Reason::Duplicate(name.clone())));
        }
        let weekly = dering_flow::Schedule {
            weekly: c.hours.get_ref().clone(),
            holidays: Vec::new(),
            always_open: false,
        };
        if let Err(m) = weekly.check() {
            return Err(at.refuse(
                &c.hours,
                "calendar.hours",
                Reason::NotA {
                    what: Format::Hours,
                    value: m,
                },
            ));
        }
        let mut dates = HashSet::new();
        for h in &c.holidays {
            let date = h.date.get_ref();
            if !dering_flow::is_date(date) {
                return Err(at.refuse(
                    &h.date,
                    "calendar.holidays.date",
                    Reason::NotA {
                        what: Format::Date,
                        value: date.clone(),
                    },
                ));
            }
            if !dates.insert(date.as_str()) {
                return Err(at.refuse(
                    &h.date,
                    "calendar.holidays.date",
                    Reason::Duplicate(date.clone()),
                ));
            }
            if h.name.get_ref().trim().is_empty() {
                return Err(at.refuse(
                    &h.name,
                    "calendar.holidays.name",
                    Reason::MissingKey("name".into()),
                ));
            }
        }
    }
    Ok(())
}

impl RawCalendar {
    pub(super) fn into_plain(self) -> Calendar {
        Calendar {
            name: self.name.into_inner(),
            hours: self.hours.into_inner(),
            holidays: self
                .holidays
                .into_iter()
                .map(|h| Holiday {
                    date: h.date.into_inner(),
                    name: h.name.into_inner(),
                })
                .collect(),
        }
    }
}
