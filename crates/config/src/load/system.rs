//! The loader's part for `[system]`: the time zone (which decides the
//! flows' offset unless `flows.utc_offset_minutes` is written, and then
//! they must agree) and the NTP servers.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::reason::{Format, Reason};
use crate::system::{is_ntp_server, zone_offset, System, MAX_NTP_SERVERS, TIME_ZONES};
use crate::ConfigError;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSystem {
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    ntp: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    ntp_sources_dir: Option<Spanned<PathBuf>>,
}

/// The offset the flows run at: the zone's when one is written. A
/// written `flows.utc_offset_minutes` (a non-empty span) must agree.
pub(super) fn check(
    at: &Refusal,
    system: &RawSystem,
    offset: &Spanned<i32>,
) -> Result<i32, ConfigError> {
    if let Some(ntp) = &system.ntp {
        if ntp.get_ref().len() > MAX_NTP_SERVERS {
            return Err(at.refuse(
                ntp,
                "system.ntp",
                Reason::Range {
                    min: 0,
                    max: MAX_NTP_SERVERS as i64,
                },
            ));
        }
        if let Some(bad) = ntp.get_ref().iter().find(|s| !is_ntp_server(s)) {
            return Err(at.refuse(
                ntp,
                "system.ntp",
                Reason::NotA {
                    what: Format::Host,
                    value: bad.clone(),
                },
            ));
        }
    }
    if let Some(dir) = &system.ntp_sources_dir {
        if !dir.get_ref().is_absolute() {
            return Err(at.refuse(
                dir,
                "system.ntp_sources_dir",
                Reason::NotA {
                    what: Format::AbsolutePath,
                    value: dir.get_ref().display().to_string(),
                },
            ));
        }
    }
    let Some(zone) = &system.time_zone else {
        return Ok(*offset.get_ref());
    };
    let Some(zone_minutes) = zone_offset(zone.get_ref()) else {
        return Err(at.refuse(
            zone,
            "system.time_zone",
            Reason::NotA {
                what: Format::TimeZone,
                value: zone.get_ref().clone(),
            },
        ));
    };
    let written = !offset.span().is_empty();
    if written && *offset.get_ref() != zone_minutes {
        return Err(at.kind(
            offset,
            format!(
                "key `flows.utc_offset_minutes`: {} is UTC{:+} minutes ([system] time_zone); \
                 remove this key or make it {zone_minutes}",
                zone.get_ref(),
                zone_minutes
            ),
            Reason::MustBe(zone_minutes.to_string()),
        ));
    }
    Ok(zone_minutes)
}

impl RawSystem {
    /// The settings, with the zone named by the offset the flows run at
    /// when the file names none (an older file writing only the offset).
    pub(super) fn into_plain(self, offset: i32) -> System {
        let by_offset = || {
            TIME_ZONES
                .iter()
                .find(|(_, o)| *o == offset)
                .map_or(crate::system::DEFAULT_TIME_ZONE, |(n, _)| n)
                .to_string()
        };
        System {
            time_zone: self.time_zone.map_or_else(by_offset, Spanned::into_inner),
            ntp: self.ntp.map(Spanned::into_inner).unwrap_or_default(),
            ntp_sources_dir: self.ntp_sources_dir.map(Spanned::into_inner),
        }
    }
}
