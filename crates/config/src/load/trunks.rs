//! The loader's part for trunks, routes, permissions and the outbound
//! limits (decision 0015): their spanned mirrors, their checks and their
//! plain values.

use std::collections::HashSet;

use dering_sip::transaction::Transport;
use serde::Deserialize;
use toml::Spanned;

use super::{is_number, unspanned, Refusal};
use crate::reason::{Format, Reason};
use crate::trunks::{
    default_area_code, default_burst_calls, default_burst_seconds, is_presentable, CallerId,
    CallerIdHeader, CarrierFormat, DialledClass, FailoverCause, Numbering, Outbound, Permission,
    Presentation, RedirectHeader, Route, Trunk, TrunkAccount, TrunkKind, DEFAULT_FAILOVER,
};
use crate::{trusted_network, ConfigError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrunk {
    name: Spanned<String>,
    #[serde(default = "crate::default_true")]
    enabled: bool,
    kind: Spanned<String>,
    host: Spanned<String>,
    #[serde(default)]
    port: Option<Spanned<u16>>,
    #[serde(default = "default_transport")]
    transport: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth_username: Option<String>,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default = "default_expires")]
    expires: Spanned<u32>,
    #[serde(default = "default_channels")]
    channels: Spanned<u32>,
    #[serde(default = "default_cps")]
    cps: Spanned<u32>,
    #[serde(default = "default_codecs")]
    codecs: Spanned<Vec<String>>,
    #[serde(default = "default_format")]
    number_format: Spanned<String>,
    #[serde(default = "default_international_prefix")]
    international_prefix: Spanned<String>,
    #[serde(default)]
    caller_id: Option<Spanned<String>>,
    #[serde(default = "default_caller_id_headers")]
    caller_id_headers: Spanned<Vec<String>>,
    #[serde(default = "default_keepalive")]
    keepalive_seconds: Spanned<u32>,
    #[serde(default)]
    failover_on: Option<Vec<Spanned<String>>>,
    /// `diversion` or `history-info`.
    #[serde(default)]
    redirect_header: Option<Spanned<String>>,
}

fn default_transport() -> Spanned<String> {
    unspanned("udp".into())
}
fn default_expires() -> Spanned<u32> {
    unspanned(600)
}
fn default_channels() -> Spanned<u32> {
    unspanned(30)
}
fn default_cps() -> Spanned<u32> {
    unspanned(10)
}
fn default_codecs() -> Spanned<Vec<String>> {
    unspanned(vec!["PCMA".into(), "PCMU".into()])
}
fn default_format() -> Spanned<String> {
    unspanned("national".into())
}
fn default_international_prefix() -> Spanned<String> {
    unspanned("007".into())
}
fn default_caller_id_headers() -> Spanned<Vec<String>> {
    unspanned(vec!["from".into(), "p-asserted-identity".into()])
}
fn default_keepalive() -> Spanned<u32> {
    unspanned(30)
}

/// The codecs a trunk may offer: what the media layer talks.
const TRUNK_CODECS: [&str; 3] = ["PCMA", "PCMU", "G722"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    name: Spanned<String>,
    #[serde(default)]
    classes: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    trunks: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    weights: Option<Spanned<Vec<u32>>>,
    #[serde(default)]
    windows: Option<Spanned<Vec<dering_flow::WeeklyHours>>>,
    #[serde(default)]
    failover_on: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNumbering {
    #[serde(default = "default_area")]
    area_code: Spanned<u16>,
}

fn default_area() -> Spanned<u16> {
    unspanned(default_area_code())
}

impl Default for RawNumbering {
    fn default() -> Self {
        RawNumbering {
            area_code: default_area(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbound {
    #[serde(default = "default_burst_calls")]
    burst_calls: u32,
    #[serde(default = "default_burst")]
    burst_seconds: Spanned<u32>,
}

fn default_burst() -> Spanned<u32> {
    unspanned(default_burst_seconds())
}

impl Default for RawOutbound {
    fn default() -> Self {
        RawOutbound {
            burst_calls: default_burst_calls(),
            burst_seconds: default_burst(),
        }
    }
}

/// A name in routes and records: letters, digits, `-` and `_`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An IP address or a DNS name.
fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || (!s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

/// A permission's name, refused at its line when unknown.
pub(super) fn permission(
    at: &Refusal,
    name: &Spanned<String>,
    key: &str,
) -> Result<Permission, ConfigError> {
    Permission::from_name(name.get_ref()).ok_or_else(|| {
        let all: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
        at.kind(
            name,
            format!(
                "key `{key}`: {:?} is not one of {}",
                name.get_ref(),
                all.join(", ")
            ),
            Reason::NotOneOf {
                value: name.get_ref().clone().into(),
                allowed: all.into(),
            },
        )
    })
}

/// An extension's `caller_id`: a number or `withheld`.
pub(super) fn presentation(
    at: &Refusal,
    value: &Spanned<String>,
) -> Result<Presentation, ConfigError> {
    match value.get_ref().as_str() {
        "withheld" => Ok(Presentation::Withheld),
        n if is_presentable(n) => Ok(Presentation::Number(n.to_string())),
        n => Err(at.kind(
            value,
            format!("key `extension.caller_id`: {n:?} is not a number or withheld"),
            Reason::NotA {
                what: Format::CallerId,
                value: n.to_string(),
            },
        )),
    }
}

fn failover_causes(
    at: &Refusal,
    list: &[Spanned<String>],
    key: &str,
) -> Result<Vec<FailoverCause>, ConfigError> {
    list.iter()
        .map(|c| {
            FailoverCause::parse(c.get_ref()).map_err(|m| {
                at.kind(
                    c,
                    format!("key `{key}`: {m}"),
                    Reason::NotA {
                        what: Format::FailoverCause,
                        value: c.get_ref().clone(),
                    },
                )
            })
        })
        .collect()
}

impl RawTrunk {
    /// The trunk's name, for the sections that refer to it.
    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }

    fn kind(&self, at: &Refusal) -> Result<TrunkKind, ConfigError> {
        let name = &self.name;
        match self.kind.get_ref().as_str() {
            "register" => {
                let (Some(username), Some(password)) = (&self.username, &self.password) else {
                    let missing = if self.username.is_none() {
                        "username"
                    } else {
                        "password"
                    };
                    return Err(at.kind(
                        name,
                        format!(
                            "key `trunk.{missing}`: trunk {} registers and needs username and password",
                            name.get_ref()
                        ), Reason::NeededBy("kind = \"register\"".into())));
                };
                if !(60..=86_400).contains(self.expires.get_ref()) {
                    return Err(at.kind(
                        &self.expires,
                        "key `trunk.expires`: 60 to 86400 seconds".into(),
                        Reason::Range {
                            min: 60,
                            max: 86_400,
                        },
                    ));
                }
                Ok(TrunkKind::Register(TrunkAccount {
                    username: username.clone(),
                    password: password.clone(),
                    auth_username: self.auth_username.clone(),
                    realm: self.realm.clone(),
                    expires: *self.expires.get_ref(),
                }))
            }
            "ip" => {
                if self.username.is_some()
                    || self.password.is_some()
                    || self.auth_username.is_some()
                    || self.realm.is_some()
                {
                    return Err(at.kind(
                        name,
                        format!(
                            "key `trunk.username`: trunk {} is known by its address (kind ip) and has no account",
                            name.get_ref()
                        ), Reason::OnlyWith("kind = \"register\"".into())));
                }
                if self.addresses.is_empty() {
                    return Err(at.kind(
                        name,
                        format!(
                            "key `trunk.addresses`: trunk {} (kind ip) needs the carrier's addresses",
                            name.get_ref()
                        ), Reason::NeededBy("kind = \"ip\"".into())));
                }
                Ok(TrunkKind::Ip)
            }
            k => Err(at.kind(
                &self.kind,
                format!("key `trunk.kind`: {k:?} is not register or ip"),
                Reason::NotOneOf {
                    value: k.to_string().into(),
                    allowed: vec!["register", "ip"].into(),
                },
            )),
        }
    }

    /// Checks the trunk on its own and gives its plain value.
    fn plain(&self, at: &Refusal) -> Result<Trunk, ConfigError> {
        let name = self.name.get_ref();
        if !is_name(name) {
            return Err(at.kind(
                &self.name,
                format!("key `trunk.name`: {name:?} is not letters, digits, - and _"),
                Reason::NotA {
                    what: Format::Name,
                    value: name.to_string(),
                },
            ));
        }
        let kind = self.kind(at)?;
        if !is_host(self.host.get_ref()) {
            return Err(at.kind(
                &self.host,
                format!(
                    "key `trunk.host`: {:?} is not an IP address or a host name",
                    self.host.get_ref()
                ),
                Reason::NotA {
                    what: Format::Host,
                    value: self.host.get_ref().clone(),
                },
            ));
        }
        if let Some(port) = &self.port {
            if *port.get_ref() == 0 {
                return Err(at.kind(
                    port,
                    "key `trunk.port`: 1 to 65535".into(),
                    Reason::Range {
                        min: 1,
                        max: 65_535,
                    },
                ));
            }
        }
        let transport = match self.transport.get_ref().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            t => {
                return Err(at.kind(
                    &self.transport,
                    format!("key `trunk.transport`: {t:?} is not udp, tcp or tls"),
                    Reason::NotOneOf {
                        value: t.to_string().into(),
                        allowed: vec!["udp", "tcp", "tls"].into(),
                    },
                ))
            }
        };
        let addresses = self
            .addresses
            .iter()
            .map(|a| {
                trusted_network(a.get_ref()).map_err(|e| {
                    at.kind(
                        a,
                        format!("key `trunk.addresses`: {e}"),
                        Reason::NotA {
                            what: Format::Network,
                            value: a.get_ref().clone(),
                        },
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (key, value) in [("channels", &self.channels), ("cps", &self.cps)] {
            if *value.get_ref() == 0 {
                return Err(at.kind(
                    value,
                    format!("key `trunk.{key}`: at least 1"),
                    Reason::AtLeast(1),
                ));
            }
        }
        let codecs = self.codecs.get_ref();
        if codecs.is_empty() {
            return Err(at.kind(
                &self.codecs,
                "key `trunk.codecs`: needs a codec".into(),
                Reason::Empty,
            ));
        }
        if let Some(c) = codecs.iter().find(|c| !TRUNK_CODECS.contains(&c.as_str())) {
            return Err(at.kind(
                &self.codecs,
                format!(
                    "key `trunk.codecs`: {c:?} is not one of {}",
                    TRUNK_CODECS.join(", ")
                ),
                Reason::NotOneOf {
                    value: c.clone().into(),
                    allowed: TRUNK_CODECS.to_vec().into(),
                },
            ));
        }
        let number_format = match self.number_format.get_ref().as_str() {
            "national" => CarrierFormat::National,
            "international" => CarrierFormat::Country,
            "e164" => CarrierFormat::E164,
            f => {
                let reason = Reason::NotOneOf {
                    value: f.to_string().into(),
                    allowed: vec!["national", "international", "e164"].into(),
                };
                return Err(at.kind(
                    &self.number_format,
                    format!(
                        "key `trunk.number_format`: {f:?} is not national (0…), international (62…) or e164 (+62…)"
                    ),
                    reason,
                ));
            }
        };
        let prefix = self.international_prefix.get_ref();
        if !(is_number(prefix) && (2..=4).contains(&prefix.len())) {
            return Err(at.kind(
                &self.international_prefix,
                format!("key `trunk.international_prefix`: {prefix:?} is not 2 to 4 digits"),
                Reason::NotA {
                    what: Format::IntlPrefix,
                    value: prefix.to_string(),
                },
            ));
        }
        if let Some(n) = &self.caller_id {
            if !is_presentable(n.get_ref()) {
                return Err(at.kind(
                    n,
                    format!("key `trunk.caller_id`: {:?} is not a number", n.get_ref()),
                    Reason::NotA {
                        what: Format::Number,
                        value: n.get_ref().clone(),
                    },
                ));
            }
        }
        let mut headers = Vec::new();
        for h in self.caller_id_headers.get_ref() {
            match CallerIdHeader::from_name(h) {
                Some(header) if !headers.contains(&header) => headers.push(header),
                _ => {
                    let reason = Reason::NotOneOf {
                        value: h.to_string().into(),
                        allowed: vec!["from", "p-asserted-identity", "remote-party-id"].into(),
                    };
                    return Err(at.kind(
                        &self.caller_id_headers,
                        format!(
                            "key `trunk.caller_id_headers`: {h:?} is not from, p-asserted-identity or remote-party-id, or is given twice"
                        ),
                        reason,
                    ));
                }
            }
        }
        let keepalive = *self.keepalive_seconds.get_ref();
        if keepalive != 0 && !(10..=3600).contains(&keepalive) {
            return Err(at.kind(
                &self.keepalive_seconds,
                "key `trunk.keepalive_seconds`: 0 (off) or 10 to 3600".into(),
                Reason::MustBe("0 / 10 … 3600".into()),
            ));
        }
        let failover_on = match &self.failover_on {
            Some(list) => failover_causes(at, list, "trunk.failover_on")?,
            None => DEFAULT_FAILOVER.to_vec(),
        };
        let redirect_header = match &self.redirect_header {
            None => RedirectHeader::default(),
            Some(h) => RedirectHeader::from_name(h.get_ref()).ok_or_else(|| {
                at.kind(
                    h,
                    format!(
                        "key `trunk.redirect_header`: {:?} is not diversion or history-info",
                        h.get_ref()
                    ),
                    Reason::NotOneOf {
                        value: h.get_ref().clone().into(),
                        allowed: vec!["diversion", "history-info"].into(),
                    },
                )
            })?,
        };
        Ok(Trunk {
            name: name.clone(),
            enabled: self.enabled,
            kind,
            host: self.host.get_ref().clone(),
            port: self.port.as_ref().map(|p| *p.get_ref()),
            transport,
            addresses,
            channels: *self.channels.get_ref(),
            cps: *self.cps.get_ref(),
            codecs: codecs.clone(),
            number_format,
            international_prefix: prefix.clone(),
            caller_id: CallerId {
                number: self.caller_id.as_ref().map(|n| n.get_ref().clone()),
                headers,
            },
            keepalive_seconds: (keepalive != 0).then_some(keepalive),
            failover_on,
            redirect_header,
        })
    }
}

impl RawRoute {
    fn plain(&self, at: &Refusal, trunks: &HashSet<&str>) -> Result<Route, ConfigError> {
        let name = self.name.get_ref();
        if self.classes.is_empty() && self.patterns.is_empty() {
            return Err(at.kind(
                &self.name,
                format!("key `route`: route {name} needs classes or patterns"),
                Reason::AnyOf(vec!["classes", "patterns"]),
            ));
        }
        let classes = self
            .classes
            .iter()
            .map(|c| {
                DialledClass::from_name(c.get_ref()).ok_or_else(|| {
                    let all: Vec<&str> = DialledClass::ROUTABLE.iter().map(|c| c.name()).collect();
                    at.kind(
                        c,
                        format!(
                            "key `route.classes`: {:?} is not one of {}",
                            c.get_ref(),
                            all.join(", ")
                        ),
                        Reason::NotOneOf {
                            value: c.get_ref().clone().into(),
                            allowed: all.into(),
                        },
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for p in &self.patterns {
            let digits = p.get_ref().strip_prefix('+').unwrap_or(p.get_ref());
            if !is_number(digits) {
                return Err(at.kind(
                    p,
                    format!(
                        "key `route.patterns`: {:?} is not a number prefix (+62811, 112)",
                        p.get_ref()
                    ),
                    Reason::NotA {
                        what: Format::Prefix,
                        value: p.get_ref().clone(),
                    },
                ));
            }
        }
        let list = self.trunks.get_ref();
        if list.is_empty() {
            return Err(at.kind(
                &self.trunks,
                "key `route.trunks`: needs a trunk".into(),
                Reason::Empty,
            ));
        }
        let mut seen = HashSet::new();
        for t in list {
            if !trunks.contains(t.get_ref().as_str()) {
                return Err(at.kind(
                    t,
                    format!("key `route.trunks`: no trunk is named {:?}", t.get_ref()),
                    Reason::NoSuch {
                        table: "trunk",
                        name: t.get_ref().clone(),
                    },
                ));
            }
            if !seen.insert(t.get_ref()) {
                return Err(at.kind(
                    &self.trunks,
                    format!("key `route.trunks`: {} is listed twice", t.get_ref()),
                    Reason::Duplicate(t.get_ref().clone()),
                ));
            }
        }
        let weights = match &self.weights {
            None => Vec::new(),
            Some(w) => {
                if w.get_ref().len() != list.len() || w.get_ref().contains(&0) {
                    return Err(at.kind(
                        w,
                        "key `route.weights`: one weight of at least 1 per trunk".into(),
                        Reason::NotA {
                            what: Format::Weights,
                            value: format!("{:?}", w.get_ref()),
                        },
                    ));
                }
                w.get_ref().clone()
            }
        };
        let windows = match &self.windows {
            None => Vec::new(),
            Some(w) => {
                let schedule = dering_flow::Schedule {
                    weekly: w.get_ref().clone(),
                    holidays: Vec::new(),
                    always_open: false,
                };
                schedule.check().map_err(|m| {
                    at.kind(
                        w,
                        format!("key `route.windows`: {m}"),
                        Reason::Invalid {
                            what: Format::Hours,
                            why: m.to_string(),
                        },
                    )
                })?;
                w.get_ref().clone()
            }
        };
        let failover_on = match &self.failover_on {
            Some(list) => Some(failover_causes(at, list, "route.failover_on")?),
            None => None,
        };
        Ok(Route {
            name: name.clone(),
            classes,
            patterns: self.patterns.iter().map(|p| p.get_ref().clone()).collect(),
            trunks: list.iter().map(|t| t.get_ref().clone()).collect(),
            weights,
            windows,
            failover_on,
        })
    }
}

/// Trunks and routes checked together, as plain values. A source address
/// must name one caller, so no network of a trunk overlaps another
/// trunk's or a trusted peer's (`trusted` are those, already checked).
pub(super) fn trunks_and_routes(
    at: &Refusal,
    trunks: &[RawTrunk],
    routes: &[RawRoute],
    trusted: &[ipnet::IpNet],
) -> Result<(Vec<Trunk>, Vec<Route>), ConfigError> {
    let mut names = HashSet::new();
    let mut taken: Vec<ipnet::IpNet> = trusted.to_vec();
    let mut plain = Vec::with_capacity(trunks.len());
    for raw in trunks {
        if !names.insert(raw.name.get_ref().as_str()) {
            return Err(at.kind(
                &raw.name,
                format!("key `trunk.name`: {} is defined twice", raw.name.get_ref()),
                Reason::Duplicate(raw.name.get_ref().clone()),
            ));
        }
        let t = raw.plain(at)?;
        for (net, spanned) in t.addresses.iter().zip(&raw.addresses) {
            if let Some(other) = taken.iter().find(|o| o.contains(net) || net.contains(*o)) {
                return Err(at.kind(
                    spanned,
                    format!(
                        "key `trunk.addresses`: {net} overlaps {other} of another trunk or trusted peer"
                    ), Reason::Overlap(other.to_string())));
            }
        }
        taken.extend(t.addresses.iter().copied());
        plain.push(t);
    }
    let mut route_names = HashSet::new();
    let mut out = Vec::with_capacity(routes.len());
    for r in routes {
        if !route_names.insert(r.name.get_ref().as_str()) {
            return Err(at.kind(
                &r.name,
                format!("key `route.name`: {} is defined twice", r.name.get_ref()),
                Reason::Duplicate(r.name.get_ref().clone()),
            ));
        }
        out.push(r.plain(at, &names)?);
    }
    Ok((plain, out))
}

impl RawNumbering {
    /// The area code as written, checked or not (the DIDs' E.164 forms
    /// are made with it, TEL-10).
    pub(super) fn area_code(&self) -> u16 {
        *self.area_code.get_ref()
    }

    pub(super) fn plain(&self, at: &Refusal) -> Result<Numbering, ConfigError> {
        let area = &self.area_code;
        if !(10..=999).contains(area.get_ref()) {
            return Err(at.kind(
                area,
                "key `numbering.area_code`: an area code without its 0 (21, 361)".into(),
                Reason::NotA {
                    what: Format::AreaCode,
                    value: area.get_ref().to_string(),
                },
            ));
        }
        Ok(Numbering {
            area_code: *area.get_ref(),
        })
    }
}

impl RawOutbound {
    pub(super) fn plain(&self, at: &Refusal) -> Result<Outbound, ConfigError> {
        if self.burst_calls > 0 && *self.burst_seconds.get_ref() == 0 {
            return Err(at.kind(
                &self.burst_seconds,
                "key `outbound.burst_seconds`: at least 1 when burst_calls is set".into(),
                Reason::AtLeast(1),
            ));
        }
        Ok(Outbound {
            burst_calls: self.burst_calls,
            burst_seconds: *self.burst_seconds.get_ref(),
        })
    }
}
