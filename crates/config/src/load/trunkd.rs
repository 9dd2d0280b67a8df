//! The loader's part for trunkd (`[trunkd]`, `[[span]]`, `[[line]]`):
//! their spanned mirrors, their checks and their plain values.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, Refusal};
use crate::reason::{Format, Reason};
use crate::trunkd::{
    parse_channels, Hunting, LineAnswer, LineCallerId, LineConfig, LineDevice, LineStart,
    SpanConfig, SpanDevice, SpanSide, Trunkd,
};
use crate::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrunkd {
    #[serde(default = "default_sip")]
    sip: Spanned<SocketAddr>,
    #[serde(default)]
    pbx: Option<Spanned<SocketAddr>>,
    #[serde(default = "default_rtp")]
    rtp_port_min: Spanned<u16>,
}

impl Default for RawTrunkd {
    fn default() -> Self {
        RawTrunkd {
            sip: default_sip(),
            pbx: None,
            rtp_port_min: default_rtp(),
        }
    }
}

fn default_sip() -> Spanned<SocketAddr> {
    unspanned(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5090))
}
fn default_rtp() -> Spanned<u16> {
    unspanned(40000)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpan {
    name: Spanned<String>,
    span: Spanned<u32>,
    #[serde(default = "default_device")]
    device: Spanned<String>,
    #[serde(default)]
    socket: Option<PathBuf>,
    #[serde(default = "default_side")]
    side: Spanned<String>,
    #[serde(default = "default_channels")]
    channels: Spanned<String>,
    #[serde(default = "default_hunting")]
    hunting: Spanned<String>,
    #[serde(default = "default_digit_timeout")]
    digit_timeout_ms: Spanned<u32>,
    #[serde(default)]
    max_calls: Option<Spanned<u32>>,
    #[serde(default = "default_country")]
    country_code: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLine {
    name: Spanned<String>,
    #[serde(default = "default_device")]
    device: Spanned<String>,
    #[serde(default)]
    channel: Option<Spanned<u32>>,
    number: Spanned<String>,
    #[serde(default = "default_caller_id")]
    caller_id: Spanned<String>,
    #[serde(default = "default_signalling")]
    signalling: Spanned<String>,
    #[serde(default = "crate::default_true")]
    hangup_on_polarity: bool,
    #[serde(default = "default_guard")]
    answer_guard_ms: Spanned<u32>,
    #[serde(default = "default_busy_count")]
    busy_count: Spanned<u32>,
    #[serde(default = "default_answer")]
    answer: Spanned<String>,
    #[serde(default = "default_group")]
    group: Spanned<String>,
    #[serde(default = "default_line_hunting")]
    hunting: Spanned<String>,
    #[serde(default = "default_country")]
    country_code: Spanned<String>,
}

fn default_caller_id() -> Spanned<String> {
    unspanned("auto".into())
}
fn default_signalling() -> Spanned<String> {
    unspanned("kewlstart".into())
}
fn default_guard() -> Spanned<u32> {
    unspanned(600)
}
fn default_busy_count() -> Spanned<u32> {
    unspanned(4)
}
fn default_answer() -> Spanned<String> {
    unspanned("dialled".into())
}
fn default_group() -> Spanned<String> {
    unspanned("lines".into())
}
fn default_line_hunting() -> Spanned<String> {
    unspanned("ascending".into())
}

fn default_device() -> Spanned<String> {
    unspanned("dahdi".into())
}
fn default_side() -> Spanned<String> {
    unspanned("user".into())
}
fn default_channels() -> Spanned<String> {
    unspanned("1-15,17-31".into())
}
fn default_hunting() -> Spanned<String> {
    unspanned("descending".into())
}
fn default_digit_timeout() -> Spanned<u32> {
    unspanned(4000)
}
fn default_country() -> Spanned<String> {
    unspanned("62".into())
}

/// Checks `[trunkd]` and the spans and makes them plain; `None` when the
/// document has neither. `udp_port` is pbxd's, the default for `pbx`;
/// `media` is pbxd's RTP range, which the B-channels' ports must miss
/// (both bind on the box's addresses).
pub(super) fn check(
    at: &Refusal,
    raw: Option<&RawTrunkd>,
    spans: &[RawSpan],
    lines: &[RawLine],
    udp_port: u16,
    media: RangeInclusive<u16>,
) -> Result<Option<Trunkd>, ConfigError> {
    if raw.is_none() && spans.is_empty() && lines.is_empty() {
        return Ok(None);
    }
    let fallback = RawTrunkd::default();
    let raw = raw.unwrap_or(&fallback);
    if !raw.sip.get_ref().ip().is_loopback() {
        return Err(at.kind(
            &raw.sip,
            "key `trunkd.sip`: trunkd serves pbxd on loopback only (decision 0022)".into(),
            Reason::Loopback,
        ));
    }
    let pbx = match &raw.pbx {
        Some(p) if !p.get_ref().ip().is_loopback() => {
            return Err(at.kind(
                p,
                "key `trunkd.pbx`: pbxd is reached on loopback".into(),
                Reason::Loopback,
            ))
        }
        Some(p) => *p.get_ref(),
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), udp_port),
    };
    let rtp = *raw.rtp_port_min.get_ref();
    if !rtp.is_multiple_of(2) || rtp < 1024 {
        return Err(at.kind(
            &raw.rtp_port_min,
            "key `trunkd.rtp_port_min`: must be even and at least 1024".into(),
            Reason::EvenAtLeast(1024),
        ));
    }
    let mut names = HashSet::new();
    let mut numbers = HashSet::new();
    let mut plain = Vec::with_capacity(spans.len());
    for s in spans {
        if !names.insert(s.name.get_ref().as_str()) {
            return Err(at.kind(
                &s.name,
                format!("key `span.name`: `{}` twice", s.name.get_ref()),
                Reason::Duplicate(s.name.get_ref().clone()),
            ));
        }
        if *s.span.get_ref() == 0 || !numbers.insert(*s.span.get_ref()) {
            return Err(at.kind(
                &s.span,
                "key `span.span`: zero or used twice".into(),
                if *s.span.get_ref() == 0 {
                    Reason::AtLeast(1)
                } else {
                    Reason::Duplicate(s.span.get_ref().to_string())
                },
            ));
        }
        plain.push(span(at, s)?);
    }
    let lines = check_lines(at, lines, &plain)?;
    let ports: u32 = plain
        .iter()
        .map(|s| 2 * s.channels.len() as u32)
        .sum::<u32>()
        + 2 * lines.len() as u32;
    if u32::from(rtp) + ports > 65536 {
        return Err(at.kind(
            &raw.rtp_port_min,
            format!("key `trunkd.rtp_port_min`: {ports} ports do not fit above it"),
            Reason::AtMost(i64::from(65536 - ports)),
        ));
    }
    let last = u32::from(rtp) + ports.saturating_sub(1);
    if ports > 0 && u32::from(*media.start()) <= last && u32::from(rtp) <= u32::from(*media.end()) {
        return Err(at.kind(
            &raw.rtp_port_min,
            format!(
                "key `trunkd.rtp_port_min`: ports {rtp}-{last} overlap [media]'s {}-{}",
                media.start(),
                media.end()
            ),
            Reason::Overlap(format!("[media] {}-{}", media.start(), media.end())),
        ));
    }
    Ok(Some(Trunkd {
        sip: *raw.sip.get_ref(),
        pbx,
        rtp_port_min: rtp,
        spans: plain,
        lines,
    }))
}

/// Checks the `[[line]]`s: names and DAHDI channels once each, a group
/// named like no span (a `tgrp` names either) and hunting one way.
fn check_lines(
    at: &Refusal,
    lines: &[RawLine],
    spans: &[SpanConfig],
) -> Result<Vec<LineConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut channels = HashSet::new();
    let mut plain: Vec<LineConfig> = Vec::with_capacity(lines.len());
    for l in lines {
        if !names.insert(l.name.get_ref().as_str()) {
            return Err(at.kind(
                &l.name,
                format!("key `line.name`: `{}` twice", l.name.get_ref()),
                Reason::Duplicate(l.name.get_ref().clone()),
            ));
        }
        let c = line(at, l)?;
        if let (LineDevice::Dahdi { channel }, Some(ch)) = (&c.device, &l.channel) {
            if !channels.insert(*channel) {
                return Err(at.kind(
                    ch,
                    format!("key `line.channel`: {channel} used twice"),
                    Reason::Duplicate(channel.to_string()),
                ));
            }
        }
        if spans.iter().any(|s| s.name == c.group) {
            return Err(at.kind(
                &l.group,
                format!("key `line.group`: `{}` is a span's name", c.group),
                Reason::Duplicate(c.group.clone()),
            ));
        }
        if let Some(other) = plain.iter().find(|o| o.group == c.group) {
            if other.hunting != c.hunting {
                return Err(at.kind(
                    &l.hunting,
                    format!(
                        "key `line.hunting`: group `{}` hunts {:?} on line `{}`",
                        c.group, other.hunting, other.name
                    ),
                    Reason::MustBe(format!("{:?}", other.hunting)),
                ));
            }
        }
        plain.push(c);
    }
    Ok(plain)
}

fn line(at: &Refusal, l: &RawLine) -> Result<LineConfig, ConfigError> {
    let device = match (l.device.get_ref().as_str(), &l.channel) {
        ("dahdi", Some(c)) if *c.get_ref() > 0 => LineDevice::Dahdi {
            channel: *c.get_ref(),
        },
        ("dahdi", Some(c)) => {
            return Err(at.kind(
                c,
                "key `line.channel`: DAHDI channels count from 1".into(),
                Reason::AtLeast(1),
            ))
        }
        ("dahdi", None) => {
            // `device` may be the default, which stands nowhere.
            return Err(at.kind(
                &l.name,
                "key `line.channel`: a DAHDI line needs its channel number".into(),
                Reason::NeededBy("device = \"dahdi\"".into()),
            ));
        }
        ("simulated", None) => LineDevice::Simulated,
        ("simulated", Some(c)) => {
            return Err(at.kind(
                c,
                "key `line.channel`: a simulated line has none".into(),
                Reason::OnlyWith("device = \"dahdi\"".into()),
            ))
        }
        (other, _) => {
            return Err(at.kind(
                &l.device,
                format!("key `line.device`: `{other}` is not `dahdi` or `simulated`"),
                Reason::NotOneOf {
                    value: other.to_string().into(),
                    allowed: vec!["dahdi", "simulated"].into(),
                },
            ))
        }
    };
    let number = l.number.get_ref();
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(at.kind(
            &l.number,
            "key `line.number`: the line's own number, digits (`137`, `0215550137`)".into(),
            Reason::NotA {
                what: Format::Digits,
                value: l.number.get_ref().clone(),
            },
        ));
    }
    let caller_id = at.choose(
        &l.caller_id,
        "line.caller_id",
        &[
            ("auto", LineCallerId::Auto),
            ("v23", LineCallerId::V23),
            ("bell202", LineCallerId::Bell202),
            ("dtmf", LineCallerId::Dtmf),
            ("none", LineCallerId::None),
        ],
    )?;
    let start = at.choose(
        &l.signalling,
        "line.signalling",
        &[
            ("kewlstart", LineStart::Kewlstart),
            ("loopstart", LineStart::LoopStart),
        ],
    )?;
    let guard = *l.answer_guard_ms.get_ref();
    if guard > 5000 {
        return Err(at.kind(
            &l.answer_guard_ms,
            "key `line.answer_guard_ms`: at most 5000".into(),
            Reason::AtMost(5000),
        ));
    }
    let busy = *l.busy_count.get_ref();
    if !(2..=10).contains(&busy) {
        return Err(at.kind(
            &l.busy_count,
            "key `line.busy_count`: between 2 and 10".into(),
            Reason::Range { min: 2, max: 10 },
        ));
    }
    let answer = at.choose(
        &l.answer,
        "line.answer",
        &[
            ("dialled", LineAnswer::Dialled),
            ("polarity", LineAnswer::Polarity),
        ],
    )?;
    let group = l.group.get_ref();
    if group.is_empty()
        || !group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(at.kind(
            &l.group,
            "key `line.group`: letters, digits, `-` and `_`".into(),
            Reason::NotA {
                what: Format::Name,
                value: l.group.get_ref().clone(),
            },
        ));
    }
    let hunting = at.choose(
        &l.hunting,
        "line.hunting",
        &[
            ("ascending", Hunting::Ascending),
            ("descending", Hunting::Descending),
            ("round-robin", Hunting::RoundRobin),
        ],
    )?;
    let cc = l.country_code.get_ref();
    if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(at.kind(
            &l.country_code,
            "key `line.country_code`: one to three digits".into(),
            Reason::NotA {
                what: Format::CountryCode,
                value: cc.clone(),
            },
        ));
    }
    Ok(LineConfig {
        name: l.name.get_ref().clone(),
        device,
        number: number.clone(),
        caller_id,
        start,
        hangup_on_polarity: l.hangup_on_polarity,
        answer_guard_ms: guard,
        busy_count: busy,
        answer,
        group: group.clone(),
        hunting,
        country_code: cc.clone(),
    })
}

fn span(at: &Refusal, s: &RawSpan) -> Result<SpanConfig, ConfigError> {
    let device = match (s.device.get_ref().as_str(), &s.socket) {
        ("dahdi", None) => SpanDevice::Dahdi,
        ("simulated", Some(p)) => SpanDevice::Simulated { socket: p.clone() },
        ("simulated", None) => {
            return Err(at.kind(
                &s.device,
                "key `span.device`: a simulated span needs `socket`, its far end".into(),
                Reason::NeededBy("device = \"simulated\"".into()),
            ))
        }
        ("dahdi", Some(_)) => {
            return Err(at.kind(
                &s.device,
                "key `span.socket`: only a simulated span has one".into(),
                Reason::OnlyWith("device = \"simulated\"".into()),
            ))
        }
        (other, _) => {
            return Err(at.kind(
                &s.device,
                format!("key `span.device`: `{other}` is not `dahdi` or `simulated`"),
                Reason::NotOneOf {
                    value: other.to_string().into(),
                    allowed: vec!["dahdi", "simulated"].into(),
                },
            ))
        }
    };
    let side = at.choose(
        &s.side,
        "span.side",
        &[("user", SpanSide::User), ("network", SpanSide::Network)],
    )?;
    let channels = parse_channels(s.channels.get_ref()).ok_or_else(|| {
        at.kind(
            &s.channels,
            "key `span.channels`: not a list of timeslots 1-15 and 17-31 like `1-15,17-31`".into(),
            Reason::NotA {
                what: Format::Timeslots,
                value: s.channels.get_ref().clone(),
            },
        )
    })?;
    let hunting = at.choose(
        &s.hunting,
        "span.hunting",
        &[
            ("ascending", Hunting::Ascending),
            ("descending", Hunting::Descending),
            ("round-robin", Hunting::RoundRobin),
        ],
    )?;
    let timeout = *s.digit_timeout_ms.get_ref();
    if !(500..=30_000).contains(&timeout) {
        return Err(at.kind(
            &s.digit_timeout_ms,
            "key `span.digit_timeout_ms`: between 500 and 30000".into(),
            Reason::Range {
                min: 500,
                max: 30_000,
            },
        ));
    }
    let count = channels.len() as u32;
    let max_calls = match &s.max_calls {
        Some(m) if *m.get_ref() == 0 || *m.get_ref() > count => {
            return Err(at.kind(
                m,
                format!("key `span.max_calls`: between 1 and the span's {count} channels"),
                Reason::Range {
                    min: 1,
                    max: i64::from(count),
                },
            ))
        }
        Some(m) => *m.get_ref(),
        None => count,
    };
    let cc = s.country_code.get_ref();
    if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(at.kind(
            &s.country_code,
            "key `span.country_code`: one to three digits".into(),
            Reason::NotA {
                what: Format::CountryCode,
                value: s.country_code.get_ref().clone(),
            },
        ));
    }
    Ok(SpanConfig {
        name: s.name.get_ref().clone(),
        span: *s.span.get_ref(),
        device,
        side,
        channels,
        hunting,
        digit_timeout_ms: timeout,
        max_calls,
        country_code: cc.clone(),
    })
}
