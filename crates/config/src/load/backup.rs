//! The loader's part for `[backup]`: its spanned mirror, its checks and
//! its plain value.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::backup::{time_of_day, Backup, DEFAULT_AT_MINUTES, DEFAULT_KEEP, MAX_KEEP};
use crate::reason::{Format, Reason};
use crate::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    destination: Spanned<PathBuf>,
    #[serde(default)]
    keep: Option<Spanned<u32>>,
    #[serde(default)]
    time: Option<Spanned<String>>,
}

/// Checks `[backup]`; `None` without the table.
pub(super) fn check(at: &Refusal, raw: Option<&RawBackup>) -> Result<Option<Backup>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    // A relative path would depend on the directory the timer starts in.
    if !raw.destination.get_ref().is_absolute() {
        return Err(at.refuse(
            &raw.destination,
            "backup.destination",
            Reason::NotA {
                what: Format::AbsolutePath,
                value: raw.destination.get_ref().display().to_string(),
            },
        ));
    }
    let keep = match &raw.keep {
        Some(k) if !(1..=MAX_KEEP).contains(k.get_ref()) => {
            return Err(at.refuse(
                k,
                "backup.keep",
                Reason::Range {
                    min: 1,
                    max: i64::from(MAX_KEEP),
                },
            ))
        }
        Some(k) => *k.get_ref(),
        None => DEFAULT_KEEP,
    };
    let at_minutes = match &raw.time {
        Some(t) => time_of_day(t.get_ref()).ok_or_else(|| {
            at.kind(
                t,
                format!(
                    "key `backup.time`: `{}` is not a time of day (HH:MM, 00:00 to 23:59)",
                    t.get_ref()
                ),
                Reason::Other("a time of day (HH:MM)".into()),
            )
        })?,
        None => DEFAULT_AT_MINUTES,
    };
    Ok(Some(Backup {
        destination: raw.destination.get_ref().clone(),
        keep,
        at_minutes,
    }))
}
