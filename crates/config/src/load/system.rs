//! The loader's part for `[system]`: the time zone (which decides the
//! flows' offset unless `flows.utc_offset_minutes` is written, and then
//! they must agree), the NTP servers, and what first-boot setup writes:
//! the host name, the agency's name and the wired ports' addressing.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::reason::{Format, Reason};
use crate::system::{
    is_host_name, is_ntp_server, is_port_name, zone_offset, Network, System, MAX_DNS_SERVERS,
    MAX_NTP_SERVERS, TIME_ZONES,
};
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
    #[serde(default)]
    host_name: Option<Spanned<String>>,
    #[serde(default)]
    agency: Option<Spanned<String>>,
    #[serde(default)]
    network: Vec<RawNetwork>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    #[serde(default)]
    port: Option<Spanned<String>>,
    dhcp: Spanned<bool>,
    #[serde(default)]
    address: Option<Spanned<String>>,
    #[serde(default)]
    gateway: Option<Spanned<String>>,
    #[serde(default)]
    dns: Option<Spanned<Vec<String>>>,
}

/// The most characters of the agency's name (it heads pages).
const MAX_AGENCY: usize = 120;

fn ip(at: &Refusal, v: &Spanned<String>, key: &str) -> Result<IpAddr, ConfigError> {
    v.get_ref().parse().map_err(|_| {
        at.refuse(
            v,
            key,
            Reason::NotA {
                what: Format::Host,
                value: v.get_ref().clone(),
            },
        )
    })
}

/// The first-boot settings: host name, agency, ports.
fn check_box(at: &Refusal, system: &RawSystem) -> Result<Vec<Network>, ConfigError> {
    if let Some(h) = &system.host_name {
        if !is_host_name(h.get_ref()) {
            return Err(at.refuse(
                h,
                "system.host_name",
                Reason::NotA {
                    what: Format::Host,
                    value: h.get_ref().clone(),
                },
            ));
        }
    }
    if let Some(a) = &system.agency {
        let n = a.get_ref().trim().chars().count();
        if n == 0 {
            return Err(at.refuse(a, "system.agency", Reason::Empty));
        }
        if n > MAX_AGENCY || a.get_ref().chars().any(char::is_control) {
            return Err(at.refuse(a, "system.agency", Reason::AtMost(MAX_AGENCY as i64)));
        }
    }
    let mut ports: Vec<Option<&str>> = Vec::new();
    let mut out = Vec::new();
    for n in &system.network {
        let port = n.port.as_ref().map(|p| p.get_ref().as_str());
        if let Some(p) = &n.port {
            if !is_port_name(p.get_ref()) {
                return Err(at.refuse(
                    p,
                    "system.network.port",
                    Reason::NotA {
                        what: Format::Name,
                        value: p.get_ref().clone(),
                    },
                ));
            }
        }
        if ports.contains(&port) {
            let shown = port.unwrap_or("(every wired port)").to_string();
            return Err(match &n.port {
                Some(p) => at.refuse(p, "system.network.port", Reason::Duplicate(shown)),
                None => at.refuse(&n.dhcp, "system.network.port", Reason::Duplicate(shown)),
            });
        }
        ports.push(port);
        let dhcp = *n.dhcp.get_ref();
        let address = match (&n.address, dhcp) {
            (Some(a), true) => {
                return Err(at.refuse(
                    a,
                    "system.network.address",
                    Reason::OnlyWith("dhcp = false".into()),
                ))
            }
            (Some(a), false) => Some(a.get_ref().parse::<ipnet::IpNet>().map_err(|_| {
                at.refuse(
                    a,
                    "system.network.address",
                    Reason::NotA {
                        what: Format::Network,
                        value: a.get_ref().clone(),
                    },
                )
            })?),
            (None, false) => {
                return Err(at.refuse(
                    &n.dhcp,
                    "system.network.address",
                    Reason::NeededBy("dhcp = false".into()),
                ))
            }
            (None, true) => None,
        };
        let gateway = match &n.gateway {
            Some(g) if dhcp => {
                return Err(at.refuse(
                    g,
                    "system.network.gateway",
                    Reason::OnlyWith("dhcp = false".into()),
                ))
            }
            Some(g) => Some(ip(at, g, "system.network.gateway")?),
            None => None,
        };
        let mut dns = Vec::new();
        if let Some(d) = &n.dns {
            if d.get_ref().len() > MAX_DNS_SERVERS {
                return Err(at.refuse(
                    d,
                    "system.network.dns",
                    Reason::AtMost(MAX_DNS_SERVERS as i64),
                ));
            }
            for one in d.get_ref() {
                dns.push(one.parse::<IpAddr>().map_err(|_| {
                    at.refuse(
                        d,
                        "system.network.dns",
                        Reason::NotA {
                            what: Format::Host,
                            value: one.clone(),
                        },
                    )
                })?);
            }
        }
        out.push(Network {
            port: port.map(str::to_string),
            dhcp,
            address,
            gateway,
            dns,
        });
    }
    Ok(out)
}

/// The offset the flows run at: the zone's when one is written. A
/// written `flows.utc_offset_minutes` (a non-empty span) must agree.
pub(super) fn check(
    at: &Refusal,
    system: &RawSystem,
    offset: &Spanned<i32>,
) -> Result<(i32, Vec<Network>), ConfigError> {
    let network = check_box(at, system)?;
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
        return Ok((*offset.get_ref(), network));
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
    Ok((zone_minutes, network))
}

impl RawSystem {
    /// The settings, with the zone named by the offset the flows run at
    /// when the file names none (an older file writing only the offset).
    pub(super) fn into_plain(self, offset: i32, network: Vec<Network>) -> System {
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
            host_name: self.host_name.map(Spanned::into_inner),
            agency: self.agency.map(|a| a.into_inner().trim().to_string()),
            network,
        }
    }
}
