//! The TOML loader: the one place that knows where a value stood in its
//! file. A document is read into the private mirrors below, which keep a
//! span ([`Spanned`]) on every value a check may refuse, checked whole so
//! that each refusal names the file, the line and the key, and only then
//! turned into the plain [`Config`] the daemons hold. Tables that need no
//! check of their own (`[calls]`, `[security]`, `[http]`) are read straight
//! into their plain types.
//!
//! A default value stands nowhere in the file: it gets an empty span at the
//! start ([`unspanned`]), which no error ever shows because every default
//! passes its check.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use dering_sip::auth::Algorithm;
use dering_sip::transaction::Transport;
use serde::Deserialize;
use toml::Spanned;

use crate::reason::{Format, Reason};
use crate::trunks::{Limits, Permission};
use crate::{
    parse_host_port, static_contact, trusted_network, Acd, Agent, AgentxAddr, BackupWhen,
    BlockRule, Calls, Conference, Config, ConfigError, Did, DidTarget, Extension, Flows, Http,
    Media, Monitoring, Power, Queue, Recording, RecordingRule, Registrar, Security, Sip, Snmp,
    Supervisor, TrustedPeer, ROUTE_CLASSES, STRATEGIES,
};

mod backup;
mod calendars;
mod sync;
mod system;
mod tickets;
mod trunkd;
mod trunks;
mod wrapup;

use trunks::{RawNumbering, RawOutbound, RawRoute, RawTrunk};

/// Parses and checks `text`, naming `file` in errors.
pub(crate) fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let at = Refusal { text, file };
    let mut raw: RawConfig = toml::from_str(text).map_err(|e| at.toml(&e))?;
    raw.check(&at)?;
    let (offset, network) = system::check(&at, &raw.system, &raw.flows.utc_offset_minutes)?;
    let system = std::mem::take(&mut raw.system).into_plain(offset, network);
    let outside = raw.check_outside(&at)?;
    let media = *raw.media.rtp_port_min.get_ref()..=*raw.media.rtp_port_max.get_ref();
    let trunkd = trunkd::check(
        &at,
        raw.trunkd.as_ref(),
        &raw.spans,
        &raw.lines,
        raw.sip.udp_port,
        media,
    )?;
    let sync = sync::check(&at, raw.sync.as_ref())?;
    let tickets = tickets::check(&at, raw.tickets.as_ref())?;
    let backup = backup::check(&at, raw.backup.as_ref())?;
    let mut config = Config {
        trunkd,
        sync,
        tickets,
        backup,
        system,
        ..raw.into_plain(outside)
    };
    config.flows.utc_offset_minutes = offset;
    Ok(config)
}

/// The plain values of the tables about calls leaving the box, made while
/// they are checked (`load/trunks.rs`).
struct Outside {
    trunks: Vec<crate::Trunk>,
    routes: Vec<crate::Route>,
    numbering: crate::Numbering,
    outbound: crate::Outbound,
}

/// Turns a place in the document into an error naming file and line.
struct Refusal<'a> {
    text: &'a str,
    file: &'a str,
}

impl Refusal<'_> {
    /// A refusal typed as `reason` that keeps the check's own English
    /// words, `key `…`: why`, in the message (logs and tests read them).
    fn kind<T>(&self, value: &Spanned<T>, message: String, reason: Reason) -> ConfigError {
        self.kind_at(value.span().start, message, reason)
    }

    fn kind_at(&self, offset: usize, message: String, reason: Reason) -> ConfigError {
        let key = message
            .strip_prefix("key `")
            .and_then(|rest| rest.split_once("`: "))
            .map(|(key, _)| key.to_string());
        self.invalid(offset, message, key, reason)
    }

    /// The value `choices` gives `value`'s spelling, or the refusal of
    /// `key` naming every spelling allowed (`` `x` is not `a`, `b` or
    /// `c` ``, typed [`Reason::NotOneOf`]).
    fn choose<T: Copy>(
        &self,
        value: &Spanned<String>,
        key: &str,
        choices: &[(&'static str, T)],
    ) -> Result<T, ConfigError> {
        let given = value.get_ref().as_str();
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == given) {
            return Ok(*t);
        }
        let names: Vec<&'static str> = choices.iter().map(|(name, _)| *name).collect();
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let list = match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Err(self.kind(
            value,
            format!("key `{key}`: `{given}` is not {list}"),
            Reason::NotOneOf {
                value: given.into(),
                allowed: names.into(),
            },
        ))
    }

    /// A refusal of `key` for a typed `reason`.
    fn refuse<T>(&self, value: &Spanned<T>, key: &str, reason: Reason) -> ConfigError {
        let message = format!("key `{key}`: {reason}");
        self.invalid(value.span().start, message, Some(key.to_string()), reason)
    }

    fn invalid(
        &self,
        offset: usize,
        message: String,
        key: Option<String>,
        reason: Reason,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            line: line_of(self.text, offset),
            message,
            key,
            reason,
        }
    }

    /// A syntax or type error from the TOML reader, with the key of its
    /// line when the reader's message does not name it already.
    fn toml(&self, e: &toml::de::Error) -> ConfigError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let line = self
            .text
            .lines()
            .nth(line_of(self.text, offset) - 1)
            .unwrap_or_default();
        let message = match line.split_once('=') {
            Some((key, _)) if !e.message().contains('`') || !e.message().contains(key.trim()) => {
                format!("key `{}`: {}", key.trim(), e.message())
            }
            _ => e.message().to_string(),
        };
        let key = message
            .strip_prefix("key `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, _)| key.to_string());
        let reason = toml_reason(e.message());
        let key = key.or_else(|| match &reason {
            Reason::UnknownKey(k) | Reason::MissingKey(k) => Some(k.clone()),
            _ => None,
        });
        self.invalid(offset, message, key, reason)
    }
}

/// The kind of a TOML reader's refusal. The reader gives only words, so
/// serde's fixed phrases for a key too many or missing are read here, in
/// this one place; anything else is the reader's syntax or type error.
fn toml_reason(message: &str) -> Reason {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_string())
    };
    if let Some(k) = named("unknown field `") {
        Reason::UnknownKey(k)
    } else if let Some(k) = named("missing field `") {
        Reason::MissingKey(k)
    } else {
        Reason::Syntax(message.trim().to_string())
    }
}

/// The 1-based line of byte `offset` (counted in bytes, so an offset
/// inside a character cannot panic).
fn line_of(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// A default value, which stands nowhere in the file (see the module's
/// documentation).
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    sip: RawSip,
    media: RawMedia,
    #[serde(default)]
    calls: Calls,
    registrar: RawRegistrar,
    security: Security,
    #[serde(default, rename = "extension")]
    extensions: Vec<RawExtension>,
    #[serde(default)]
    power: Option<RawPower>,
    #[serde(default)]
    snmp: Option<RawSnmp>,
    #[serde(default)]
    http: Http,
    #[serde(default, rename = "did")]
    dids: Vec<RawDid>,
    #[serde(default)]
    flows: RawFlows,
    #[serde(default)]
    recording: RawRecording,
    #[serde(default, rename = "conference")]
    conferences: Vec<RawConference>,
    #[serde(default)]
    monitoring: RawMonitoring,
    #[serde(default, rename = "queue")]
    queues: Vec<RawQueue>,
    #[serde(default, rename = "agent")]
    agents: Vec<RawAgent>,
    #[serde(default, rename = "trusted_peer")]
    trusted_peers: Vec<RawTrustedPeer>,
    #[serde(default)]
    trunkd: Option<trunkd::RawTrunkd>,
    #[serde(default, rename = "span")]
    spans: Vec<trunkd::RawSpan>,
    #[serde(default, rename = "line")]
    lines: Vec<trunkd::RawLine>,
    #[serde(default)]
    sync: Option<sync::RawSync>,
    #[serde(default)]
    tickets: Option<tickets::RawTickets>,
    #[serde(default)]
    backup: Option<backup::RawBackup>,
    #[serde(default)]
    acd: RawAcd,
    #[serde(default, rename = "trunk")]
    trunks: Vec<RawTrunk>,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
    #[serde(default)]
    numbering: RawNumbering,
    #[serde(default)]
    outbound: RawOutbound,
    #[serde(default, rename = "calendar")]
    calendars: Vec<calendars::RawCalendar>,
    #[serde(default)]
    system: system::RawSystem,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSip {
    bind: IpAddr,
    udp_port: u16,
    tcp_port: u16,
    tls_port: u16,
    domain: String,
    #[serde(default)]
    digest_algorithms: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    advertise: Option<IpAddr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    rtp_port_min: Spanned<u16>,
    rtp_port_max: Spanned<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistrar {
    min_expires: u32,
    default_expires: u32,
    max_expires: Spanned<u32>,
    qualify_seconds: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtension {
    number: Spanned<String>,
    name: String,
    password: Spanned<String>,
    #[serde(default)]
    digest_algorithms: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pickup_group: Option<String>,
    #[serde(default)]
    contact: Option<Spanned<String>>,
    #[serde(default)]
    tls_ca: Option<std::path::PathBuf>,
    #[serde(default)]
    tls_name: Option<String>,
    #[serde(default)]
    auth_user: Option<String>,
    #[serde(default)]
    auth_password: Option<String>,
    #[serde(default)]
    auth_realm: Option<String>,
    /// Default `internal`: a new extension calls out only once allowed.
    #[serde(default)]
    permission: Option<Spanned<String>>,
    #[serde(default)]
    max_outside_calls: Option<u32>,
    #[serde(default)]
    outside_minutes_per_day: Option<u32>,
    #[serde(default)]
    caller_id: Option<Spanned<String>>,
    /// `id` or `en`: the language of the box's prompts to this phone.
    #[serde(default)]
    language: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustedPeer {
    name: String,
    addresses: Vec<Spanned<String>>,
    #[serde(default = "default_route_class")]
    route_class: Spanned<String>,
}

fn default_route_class() -> Spanned<String> {
    unspanned(crate::default_route_class())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPower {
    upsd: Spanned<String>,
    ups: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default = "Power::default_poll")]
    poll_seconds: u32,
    #[serde(default = "Power::default_min_runtime")]
    shutdown_runtime_seconds: u32,
    #[serde(default = "Power::default_grace")]
    grace_seconds: u32,
    #[serde(default = "Power::default_required")]
    required_runtime_hours: u32,
    #[serde(default = "Power::default_stop")]
    stop_command: Vec<String>,
    #[serde(default = "default_poweroff")]
    poweroff_command: Spanned<Vec<String>>,
}

fn default_poweroff() -> Spanned<Vec<String>> {
    unspanned(Power::default_poweroff())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnmp {
    agentx: Spanned<String>,
    #[serde(default = "Snmp::default_sl")]
    service_level_threshold: u32,
    #[serde(default = "Snmp::default_disk")]
    disk_alarm_percent: u32,
    #[serde(default)]
    community: Option<Spanned<String>>,
    #[serde(default)]
    v3_user: Option<Spanned<String>>,
    #[serde(default)]
    v3_auth_password: Option<Spanned<String>>,
    #[serde(default)]
    v3_priv_password: Option<Spanned<String>>,
}

/// snmpd's access (issue 17 §3): a community, or a v3 user with both
/// passwords (net-snmp wants 8 characters at least), never both kinds;
/// each word a single token of snmpd.conf.
fn check_snmp_access(at: &Refusal, s: &RawSnmp) -> Result<(), ConfigError> {
    let token = |v: &Spanned<String>, key: &str, min: usize| {
        let t = v.get_ref();
        if t.chars().count() < min {
            return Err(at.refuse(v, key, Reason::MinChars(min as i64)));
        }
        if t.len() > 64
            || !t
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '#'))
        {
            return Err(at.refuse(
                v,
                key,
                Reason::Other("letters, digits and punctuation only, at most 64".into()),
            ));
        }
        Ok(())
    };
    if let Some(c) = &s.community {
        token(c, "snmp.community", 1)?;
        if let Some(u) = &s.v3_user {
            return Err(at.refuse(
                u,
                "snmp.v3_user",
                Reason::ExactlyOne(vec!["snmp.community", "snmp.v3_user"]),
            ));
        }
    }
    match (&s.v3_user, &s.v3_auth_password, &s.v3_priv_password) {
        (None, None, None) => Ok(()),
        (Some(u), Some(a), Some(p)) => {
            token(u, "snmp.v3_user", 1)?;
            token(a, "snmp.v3_auth_password", 8)?;
            token(p, "snmp.v3_priv_password", 8)
        }
        (u, a, p) => {
            let given = u.as_ref().or(a.as_ref()).or(p.as_ref());
            match given {
                Some(g) => Err(at.refuse(
                    g,
                    "snmp.v3_user",
                    Reason::Together(vec![
                        "snmp.v3_user",
                        "snmp.v3_auth_password",
                        "snmp.v3_priv_password",
                    ]),
                )),
                None => Ok(()),
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDid {
    number: Spanned<String>,
    /// Exactly one of these three.
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    extension: Option<Spanned<String>>,
    #[serde(default)]
    queue: Option<Spanned<String>>,
}

impl RawDid {
    /// What the DID rings; checked by `check_numbers` to be exactly one.
    fn target(&self) -> Option<DidTarget> {
        match (&self.flow, &self.extension, &self.queue) {
            (Some(f), None, None) => Some(DidTarget::Flow(f.clone())),
            (None, Some(e), None) => Some(DidTarget::Extension(e.get_ref().clone())),
            (None, None, Some(q)) => Some(DidTarget::Queue(q.get_ref().clone())),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlows {
    #[serde(default = "default_utc_offset")]
    utc_offset_minutes: Spanned<i32>,
    #[serde(default)]
    prompts: Option<PathBuf>,
}

fn default_utc_offset() -> Spanned<i32> {
    unspanned(crate::default_utc_offset())
}

impl Default for RawFlows {
    fn default() -> Self {
        RawFlows {
            utc_offset_minutes: default_utc_offset(),
            prompts: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecording {
    #[serde(default = "default_percent")]
    percent: Spanned<u8>,
    #[serde(default = "crate::default_retention")]
    retention_days: u32,
    #[serde(default)]
    directory: Option<PathBuf>,
    #[serde(default)]
    mp3: bool,
    #[serde(default)]
    backup_directory: Option<PathBuf>,
    #[serde(default = "crate::default_backup_hours")]
    backup_every_hours: u32,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRecordingRule>,
}

fn default_percent() -> Spanned<u8> {
    unspanned(0)
}

impl Default for RawRecording {
    fn default() -> Self {
        RawRecording {
            percent: default_percent(),
            retention_days: crate::default_retention(),
            directory: None,
            mp3: false,
            backup_directory: None,
            backup_every_hours: crate::default_backup_hours(),
            rules: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecordingRule {
    #[serde(default)]
    extension: Option<String>,
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    trunk: Option<String>,
    percent: Spanned<u8>,
    #[serde(default)]
    windows: Vec<dering_flow::WeeklyHours>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConference {
    number: Spanned<String>,
    name: String,
    #[serde(default)]
    pin: Option<Spanned<String>>,
    #[serde(default = "crate::default_room_size")]
    max_parties: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitoring {
    #[serde(default = "default_listen_code")]
    listen_code: Spanned<String>,
    #[serde(default = "default_whisper_code")]
    whisper_code: Spanned<String>,
    #[serde(default = "default_barge_code")]
    barge_code: Spanned<String>,
    #[serde(default, rename = "supervisor")]
    supervisors: Vec<RawSupervisor>,
}

fn default_listen_code() -> Spanned<String> {
    unspanned(crate::default_listen_code())
}

fn default_whisper_code() -> Spanned<String> {
    unspanned(crate::default_whisper_code())
}

fn default_barge_code() -> Spanned<String> {
    unspanned(crate::default_barge_code())
}

impl Default for RawMonitoring {
    fn default() -> Self {
        RawMonitoring {
            listen_code: default_listen_code(),
            whisper_code: default_whisper_code(),
            barge_code: default_barge_code(),
            supervisors: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupervisor {
    name: String,
    pin: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    name: Spanned<String>,
    #[serde(default = "default_strategy")]
    strategy: Spanned<String>,
    #[serde(default = "no_skills")]
    skills: Spanned<BTreeMap<String, u8>>,
    #[serde(default = "crate::default_ring_seconds")]
    ring_seconds: u32,
    #[serde(default = "crate::default_wrapup_seconds")]
    wrapup_seconds: u32,
    #[serde(default)]
    overflow_seconds: Option<u32>,
    #[serde(default = "default_hangup")]
    overflow_to: Spanned<String>,
    #[serde(default)]
    max_wait_seconds: Option<u32>,
    #[serde(default)]
    max_callers: Option<usize>,
    #[serde(default = "default_hangup")]
    exit_to: Spanned<String>,
    #[serde(default = "crate::default_true")]
    join_empty: bool,
    #[serde(default)]
    leave_when_empty: bool,
    #[serde(default = "crate::default_sl_seconds")]
    service_level_seconds: u32,
    #[serde(default)]
    callback: bool,
    #[serde(default)]
    callback_permission: Option<Spanned<String>>,
    #[serde(default)]
    backup_number: Option<Spanned<String>>,
    #[serde(default)]
    backup_when: Option<Spanned<String>>,
    #[serde(default)]
    backup_permission: Option<Spanned<String>>,
}

fn default_strategy() -> Spanned<String> {
    unspanned(crate::default_strategy())
}

fn default_hangup() -> Spanned<String> {
    unspanned(crate::default_hangup())
}

fn no_skills() -> Spanned<BTreeMap<String, u8>> {
    unspanned(BTreeMap::new())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    id: Spanned<String>,
    name: String,
    pin: Spanned<String>,
    #[serde(default = "no_skills")]
    skills: Spanned<BTreeMap<String, u8>>,
    #[serde(default)]
    auto_answer: bool,
    #[serde(default)]
    permission: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcd {
    #[serde(default = "crate::default_short_abandon")]
    short_abandon_seconds: u32,
    #[serde(default = "crate::default_max_missed")]
    max_missed: u32,
    #[serde(default = "crate::default_reasons")]
    reasons: BTreeMap<String, String>,
    #[serde(default)]
    priority_mobile: i32,
    #[serde(default)]
    priority_fixed: i32,
    #[serde(default)]
    vip: BTreeMap<String, i32>,
    #[serde(default)]
    block: Vec<RawBlockRule>,
    #[serde(default = "default_phone_lost")]
    phone_lost: Spanned<String>,
    #[serde(default = "wrapup::defaults")]
    wrapup_codes: Spanned<Vec<wrapup::RawWrapup>>,
}

fn default_phone_lost() -> Spanned<String> {
    unspanned(crate::default_phone_lost())
}

impl Default for RawAcd {
    fn default() -> Self {
        RawAcd {
            short_abandon_seconds: crate::default_short_abandon(),
            max_missed: crate::default_max_missed(),
            reasons: crate::default_reasons(),
            priority_mobile: 0,
            priority_fixed: 0,
            vip: BTreeMap::new(),
            block: Vec::new(),
            phone_lost: default_phone_lost(),
            wrapup_codes: wrapup::defaults(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlockRule {
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    anonymous: bool,
    action: Spanned<String>,
}

/// A PIN: 4 to 12 digits.
fn check_pin(at: &Refusal, pin: &Spanned<String>, key: &str) -> Result<(), ConfigError> {
    let p = pin.get_ref();
    if (4..=12).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(at.kind(
            pin,
            format!("key `{key}`: a PIN is 4 to 12 digits"),
            Reason::Secret(Format::Pin),
        ))
    }
}

/// Digits only, at least one.
fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn check_algorithms(
    at: &Refusal,
    list: &Option<Spanned<Vec<String>>>,
    key: &str,
) -> Result<(), ConfigError> {
    let Some(list) = list else { return Ok(()) };
    if list.get_ref().is_empty() {
        return Err(at.kind(
            list,
            format!("key `{key}`: needs at least one algorithm"),
            Reason::Empty,
        ));
    }
    for a in list.get_ref() {
        if Algorithm::parse(a).is_none() {
            return Err(at.kind(
                list,
                format!("key `{key}`: {a:?} is not MD5 or SHA-256"),
                Reason::NotOneOf {
                    value: a.clone().into(),
                    allowed: vec!["MD5", "SHA-256"].into(),
                },
            ));
        }
    }
    Ok(())
}

/// Skill levels are 1 to 10.
fn check_skills(
    at: &Refusal,
    skills: &Spanned<BTreeMap<String, u8>>,
    key: &str,
    whose: &str,
) -> Result<(), ConfigError> {
    match skills
        .get_ref()
        .iter()
        .find(|(_, l)| !(1..=10).contains(*l))
    {
        None => Ok(()),
        Some((skill, level)) => Err(at.kind(
            skills,
            format!("key `{key}`: levels are 1 to 10 ({whose}: {skill} = {level})"),
            Reason::Range { min: 1, max: 10 },
        )),
    }
}

impl RawConfig {
    /// Every check that needs more than the value's type, in the order of
    /// the tables they guard; the first refusal is returned.
    fn check(&self, at: &Refusal) -> Result<(), ConfigError> {
        self.check_media(at)?;
        check_algorithms(at, &self.sip.digest_algorithms, "sip.digest_algorithms")?;
        self.check_numbers(at)?;
        self.check_monitoring(at)?;
        self.check_prompt_recording(at)?;
        self.check_recording(at)?;
        self.check_queues(at)?;
        self.check_agents(at)?;
        self.check_acd(at)?;
        let offset = &self.flows.utc_offset_minutes;
        if !(-12 * 60..=14 * 60).contains(offset.get_ref()) {
            return Err(at.kind(
                offset,
                "key `flows.utc_offset_minutes`: not a time zone's offset".into(),
                Reason::NotA {
                    what: Format::UtcOffset,
                    value: offset.get_ref().to_string(),
                },
            ));
        }
        self.check_daemons(at)?;
        self.check_extensions(at)?;
        self.check_trusted_peers(at)?;
        calendars::check(at, &self.calendars)
    }

    fn check_media(&self, at: &Refusal) -> Result<(), ConfigError> {
        let (lo, hi) = (&self.media.rtp_port_min, &self.media.rtp_port_max);
        if lo.get_ref() % 2 != 0 || *lo.get_ref() < 1024 {
            return Err(at.kind(
                lo,
                "key `media.rtp_port_min`: must be even and at least 1024".into(),
                Reason::EvenAtLeast(1024),
            ));
        }
        if u32::from(*hi.get_ref()) < u32::from(*lo.get_ref()) + 3 {
            return Err(at.kind(
                hi,
                "key `media.rtp_port_max`: must leave at least 4 ports above rtp_port_min".into(),
                Reason::AtLeast(i64::from(*lo.get_ref()) + 4),
            ));
        }
        let max = &self.registrar.max_expires;
        if *max.get_ref() < self.registrar.min_expires {
            return Err(at.kind(
                max,
                "key `registrar.max_expires`: smaller than min_expires".into(),
                Reason::Below("registrar.min_expires".into()),
            ));
        }
        Ok(())
    }

    /// Numbers the box answers itself (DIDs, rooms) are digits, and clash
    /// with no extension and no other such number. A DID may be written
    /// in E.164 (`+62…`), and clashes in any written form: `137` and
    /// `021137` are one number to a carrier (TEL-10).
    fn check_numbers(&self, at: &Refusal) -> Result<(), ConfigError> {
        // A bad area code is refused with the outside tables; the numbers
        // are compared with it as it is.
        let area = self.numbering.area_code();
        let is_extension = |n: &String| self.extensions.iter().any(|e| e.number.get_ref() == n);
        let mut seen = HashSet::new();
        let numbers = self.dids.iter().map(|d| ("did.number", &d.number)).chain(
            self.conferences
                .iter()
                .map(|c| ("conference.number", &c.number)),
        );
        for (key, number) in numbers {
            let n = number.get_ref();
            let digits = match key {
                "did.number" => n.strip_prefix('+').unwrap_or(n),
                _ => n,
            };
            if !is_number(digits) {
                return Err(at.kind(
                    number,
                    format!("key `{key}`: {n:?} is not a number"),
                    Reason::NotA {
                        what: Format::Number,
                        value: n.to_string(),
                    },
                ));
            }
            if is_extension(n) || !seen.insert(n) {
                return Err(at.kind(
                    number,
                    format!("key `{key}`: {n} is used twice"),
                    Reason::Duplicate(n.to_string()),
                ));
            }
        }
        let e164 = |n: &str| dering_telco::inbound_e164(n, area);
        let extensions: HashSet<_> = self
            .extensions
            .iter()
            .filter_map(|e| e164(e.number.get_ref()))
            .collect();
        let mut dids = HashSet::new();
        for d in &self.dids {
            let n = d.number.get_ref();
            match d.target() {
                None => {
                    return Err(at.kind(
                        &d.number,
                        format!("key `did`: {n} needs one of flow, extension or queue"),
                        Reason::ExactlyOne(vec!["flow", "extension", "queue"]),
                    ))
                }
                Some(DidTarget::Extension(e)) if !is_extension(&e) => {
                    let span = d.extension.as_ref().unwrap_or(&d.number);
                    return Err(at.kind(
                        span,
                        format!("key `did.extension`: no extension {e}"),
                        Reason::NoSuch {
                            table: "extension",
                            name: e.to_string(),
                        },
                    ));
                }
                Some(DidTarget::Queue(q))
                    if !self.queues.iter().any(|x| x.name.get_ref() == &q) =>
                {
                    let span = d.queue.as_ref().unwrap_or(&d.number);
                    return Err(at.kind(
                        span,
                        format!("key `did.queue`: no queue {q}"),
                        Reason::NoSuch {
                            table: "queue",
                            name: q.to_string(),
                        },
                    ));
                }
                Some(_) => {}
            }
            let Some(e) = e164(n) else {
                return Err(at.kind(
                    &d.number,
                    format!("key `did.number`: {n:?} is not a number"),
                    Reason::NotA {
                        what: Format::Number,
                        value: n.to_string(),
                    },
                ));
            };
            if extensions.contains(&e) || !dids.insert(e.clone()) {
                return Err(at.kind(
                    &d.number,
                    format!("key `did.number`: {n} is used twice (as {e})"),
                    Reason::Duplicate(n.to_string()),
                ));
            }
        }
        for c in &self.conferences {
            if let Some(pin) = &c.pin {
                check_pin(at, pin, "conference.pin")?;
            }
        }
        Ok(())
    }

    fn check_monitoring(&self, at: &Refusal) -> Result<(), ConfigError> {
        let m = &self.monitoring;
        let mut pins = HashSet::new();
        for s in &m.supervisors {
            check_pin(at, &s.pin, "monitoring.supervisor.pin")?;
            if !pins.insert(s.pin.get_ref()) {
                return Err(at.kind(
                    &s.pin,
                    "key `monitoring.supervisor.pin`: two supervisors share a PIN".into(),
                    Reason::Duplicate("PIN".into()),
                ));
            }
        }
        for (key, code) in [
            ("listen_code", &m.listen_code),
            ("whisper_code", &m.whisper_code),
            ("barge_code", &m.barge_code),
        ] {
            let c = code.get_ref();
            if !c.starts_with('*') || c.len() < 2 {
                return Err(at.kind(
                    code,
                    format!("key `monitoring.{key}`: {c:?} must start with * and have a digit"),
                    Reason::NotA {
                        what: Format::FeatureCode,
                        value: c.to_string(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// `[calls] record_prompt_code` is a code (else every number would
    /// start with it) and `prompt_recorders` are extensions. `[calls]` has
    /// no spans: the line is the key's.
    fn check_prompt_recording(&self, at: &Refusal) -> Result<(), ConfigError> {
        let line_of = |key: &str| at.text.find(key).unwrap_or(0);
        let code = &self.calls.record_prompt_code;
        if !code.starts_with('*')
            || code.len() < 2
            || !code[1..].bytes().all(|b| b.is_ascii_digit())
        {
            return Err(at.kind_at(
                line_of("record_prompt_code"),
                format!("key `calls.record_prompt_code`: {code:?} must be * and digits"),
                Reason::NotA {
                    what: Format::FeatureCode,
                    value: code.to_string(),
                },
            ));
        }
        for who in &self.calls.prompt_recorders {
            if !self.extensions.iter().any(|e| e.number.get_ref() == who) {
                return Err(at.kind_at(
                    line_of("prompt_recorders"),
                    format!("key `calls.prompt_recorders`: no extension {who}"),
                    Reason::NoSuch {
                        table: "extension",
                        name: who.to_string(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn check_recording(&self, at: &Refusal) -> Result<(), ConfigError> {
        let percent = &self.recording.percent;
        if *percent.get_ref() > 100 {
            return Err(at.refuse(
                percent,
                "recording.percent",
                Reason::Range { min: 0, max: 100 },
            ));
        }
        for r in &self.recording.rules {
            let selectors = [&r.extension, &r.number, &r.flow, &r.queue, &r.trunk]
                .iter()
                .filter(|s| s.is_some())
                .count();
            if selectors != 1 {
                let keys = vec!["extension", "number", "flow", "queue", "trunk"];
                return Err(at.kind(
                    &r.percent,
                    "key `recording.rule`: needs exactly one of extension, number, flow, queue, trunk"
                        .into(),
                    Reason::ExactlyOne(keys),
                ));
            }
            if let Some(t) = &r.trunk {
                if !self.trunks.iter().any(|k| k.name() == t) {
                    return Err(at.refuse(
                        &r.percent,
                        "recording.rule.trunk",
                        Reason::NoSuch {
                            table: "trunk",
                            name: t.clone(),
                        },
                    ));
                }
            }
            if *r.percent.get_ref() > 100 {
                return Err(at.refuse(
                    &r.percent,
                    "recording.rule.percent",
                    Reason::Range { min: 0, max: 100 },
                ));
            }
            let windows = dering_flow::Schedule {
                weekly: r.windows.clone(),
                holidays: Vec::new(),
                always_open: false,
            };
            windows.check().map_err(|m| {
                at.kind(
                    &r.percent,
                    format!("key `recording.rule.windows`: {m}"),
                    Reason::Invalid {
                        what: Format::Hours,
                        why: m.to_string(),
                    },
                )
            })?;
        }
        Ok(())
    }

    fn check_queues(&self, at: &Refusal) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for q in &self.queues {
            if !names.insert(q.name.get_ref().as_str()) {
                return Err(at.kind(
                    &q.name,
                    format!("key `queue.name`: {} is defined twice", q.name.get_ref()),
                    Reason::Duplicate(q.name.get_ref().clone()),
                ));
            }
        }
        for q in &self.queues {
            if !STRATEGIES.contains(&q.strategy.get_ref().as_str()) {
                return Err(at.kind(
                    &q.strategy,
                    format!(
                        "key `queue.strategy`: {:?} is not one of {}",
                        q.strategy.get_ref(),
                        STRATEGIES.join(", ")
                    ),
                    Reason::NotOneOf {
                        value: q.strategy.get_ref().clone().into(),
                        allowed: STRATEGIES.to_vec().into(),
                    },
                ));
            }
            for (key, dest) in [("overflow_to", &q.overflow_to), ("exit_to", &q.exit_to)] {
                let d = dest.get_ref();
                let ok = d == "hangup"
                    || d.strip_prefix("queue:").is_some_and(|n| names.contains(n))
                    || d.strip_prefix("flow:").is_some_and(|n| !n.is_empty());
                if !ok {
                    let reason = Reason::NotOneOf {
                        value: d.to_string().into(),
                        allowed: vec!["hangup", "flow:NAME", "queue:NAME"].into(),
                    };
                    return Err(at.kind(
                        dest,
                        format!("key `queue.{key}`: {d:?} is not hangup, flow:NAME or queue:NAME of a defined queue"),
                        reason,
                    ));
                }
            }
            if let Some(p) = &q.callback_permission {
                trunks::permission(at, p, "queue.callback_permission")?;
            }
            if let Some(p) = &q.backup_permission {
                trunks::permission(at, p, "queue.backup_permission")?;
            }
            if let Some(w) = &q.backup_when {
                if BackupWhen::from_name(w.get_ref()).is_none() {
                    return Err(at.kind(
                        w,
                        format!(
                            "key `queue.backup_when`: {:?} is not one of {}",
                            w.get_ref(),
                            BackupWhen::NAMES.join(", ")
                        ),
                        Reason::NotOneOf {
                            value: w.get_ref().clone().into(),
                            allowed: BackupWhen::NAMES.to_vec().into(),
                        },
                    ));
                }
            }
            if let Some(n) = &q.backup_number {
                let d = n.get_ref();
                let digits = d.strip_prefix('+').unwrap_or(d);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(at.kind(
                        n,
                        format!("key `queue.backup_number`: {d:?} is not a telephone number"),
                        Reason::NotA {
                            what: Format::Number,
                            value: d.to_string(),
                        },
                    ));
                }
            }
            let whose = format!("queue {}", q.name.get_ref());
            check_skills(at, &q.skills, "queue.skills", &whose)?;
        }
        Ok(())
    }

    fn check_agents(&self, at: &Refusal) -> Result<(), ConfigError> {
        let mut ids = HashSet::new();
        for a in &self.agents {
            let id = a.id.get_ref();
            if !is_number(id) || !ids.insert(id) {
                return Err(at.kind(
                    &a.id,
                    format!("key `agent.id`: {id:?} is not digits or is defined twice"),
                    if is_number(id) {
                        Reason::Duplicate(id.clone())
                    } else {
                        Reason::NotA {
                            what: Format::Digits,
                            value: id.clone(),
                        }
                    },
                ));
            }
            check_pin(at, &a.pin, "agent.pin")?;
            if let Some(p) = &a.permission {
                trunks::permission(at, p, "agent.permission")?;
            }
            check_skills(at, &a.skills, "agent.skills", &format!("agent {id}"))?;
        }
        Ok(())
    }

    fn check_acd(&self, at: &Refusal) -> Result<(), ConfigError> {
        for b in &self.acd.block {
            let selectors = usize::from(b.number.is_some())
                + usize::from(b.prefix.is_some())
                + usize::from(b.anonymous);
            if selectors != 1 {
                return Err(at.kind(
                    &b.action,
                    "key `acd.block`: needs exactly one of number, prefix, anonymous".into(),
                    Reason::ExactlyOne(vec!["number", "prefix", "anonymous"]),
                ));
            }
            if !["busy", "announcement", "hangup"].contains(&b.action.get_ref().as_str()) {
                return Err(at.kind(
                    &b.action,
                    format!(
                        "key `acd.block.action`: {:?} is not busy, announcement or hangup",
                        b.action.get_ref()
                    ),
                    Reason::NotOneOf {
                        value: b.action.get_ref().clone().into(),
                        allowed: vec!["busy", "announcement", "hangup"].into(),
                    },
                ));
            }
        }
        let lost = &self.acd.phone_lost;
        if !["logout", "unreachable"].contains(&lost.get_ref().as_str()) {
            return Err(at.kind(
                lost,
                format!(
                    "key `acd.phone_lost`: {:?} is not logout or unreachable",
                    lost.get_ref()
                ),
                Reason::NotOneOf {
                    value: lost.get_ref().clone().into(),
                    allowed: vec!["logout", "unreachable"].into(),
                },
            ));
        }
        wrapup::check(at, &self.acd.wrapup_codes)
    }

    /// The tables of powerd and the SNMP agent.
    fn check_daemons(&self, at: &Refusal) -> Result<(), ConfigError> {
        if let Some(p) = &self.power {
            if parse_host_port(p.upsd.get_ref()).is_none() {
                return Err(at.kind(
                    &p.upsd,
                    format!("key `power.upsd`: {:?} is not HOST:PORT", p.upsd.get_ref()),
                    Reason::NotA {
                        what: Format::HostPort,
                        value: p.upsd.get_ref().clone(),
                    },
                ));
            }
            if p.poweroff_command.get_ref().is_empty() {
                return Err(at.kind(
                    &p.poweroff_command,
                    "key `power.poweroff_command`: needs a program".into(),
                    Reason::Empty,
                ));
            }
        }
        if let Some(s) = &self.snmp {
            check_snmp_access(at, s)?;
            if AgentxAddr::parse(s.agentx.get_ref()).is_none() {
                return Err(at.kind(
                    &s.agentx,
                    format!(
                        "key `snmp.agentx`: {:?} is not tcp:HOST:PORT or a socket path",
                        s.agentx.get_ref()
                    ),
                    Reason::NotA {
                        what: Format::Agentx,
                        value: s.agentx.get_ref().clone(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn check_extensions(&self, at: &Refusal) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for ext in &self.extensions {
            let n = ext.number.get_ref();
            if !is_number(n) {
                return Err(at.kind(
                    &ext.number,
                    format!("key `extension.number`: {n:?} is not all digits"),
                    Reason::NotA {
                        what: Format::Digits,
                        value: n.to_string(),
                    },
                ));
            }
            if !seen.insert(n) {
                return Err(at.kind(
                    &ext.number,
                    format!("key `extension.number`: {n} defined twice"),
                    Reason::Duplicate(n.to_string()),
                ));
            }
            check_algorithms(at, &ext.digest_algorithms, "extension.digest_algorithms")?;
            if let Some(p) = &ext.permission {
                trunks::permission(at, p, "extension.permission")?;
            }
            if let Some(l) = ext
                .language
                .as_ref()
                .filter(|l| !["id", "en"].contains(&l.get_ref().as_str()))
            {
                return Err(at.kind(
                    l,
                    format!(
                        "key `extension.language`: {:?} is not id or en",
                        l.get_ref()
                    ),
                    Reason::NotOneOf {
                        value: l.get_ref().clone().into(),
                        allowed: vec!["id", "en"].into(),
                    },
                ));
            }
            if let Some(c) = &ext.caller_id {
                trunks::presentation(at, c)?;
            }
            if ext.password.get_ref().len() < 8 {
                return Err(at.kind(
                    &ext.password,
                    format!("key `extension.password`: extension {n} needs at least 8 characters"),
                    Reason::MinChars(8),
                ));
            }
            let transport = match &ext.contact {
                Some(c) => Some(
                    static_contact(c.get_ref())
                        .map_err(|e| {
                            at.kind(
                                c,
                                format!("key `extension.contact`: {e}"),
                                Reason::NotA {
                                    what: Format::Contact,
                                    value: c.get_ref().clone(),
                                },
                            )
                        })?
                        .transport,
                ),
                None => None,
            };
            if transport != Some(Transport::Tls) && (ext.tls_ca.is_some() || ext.tls_name.is_some())
            {
                return Err(at.kind(
                    &ext.number,
                    format!(
                        "key `extension.tls_ca`/`tls_name`: extension {n} has no contact over TLS"
                    ),
                    Reason::OnlyWith("contact ;transport=tls".into()),
                ));
            }
            if ext.auth_user.is_some() != ext.auth_password.is_some() {
                return Err(at.kind(
                    &ext.number,
                    format!(
                        "key `extension.auth_password`: extension {n} needs auth_user and auth_password together"
                    ), Reason::Together(vec!["auth_user", "auth_password"])));
            }
        }
        Ok(())
    }

    fn check_trusted_peers(&self, at: &Refusal) -> Result<(), ConfigError> {
        for p in &self.trusted_peers {
            for a in &p.addresses {
                trusted_network(a.get_ref()).map_err(|e| {
                    at.kind(
                        a,
                        format!("key `trusted_peer.addresses`: {e}"),
                        Reason::NotA {
                            what: Format::Network,
                            value: a.get_ref().clone(),
                        },
                    )
                })?;
            }
            if !ROUTE_CLASSES.contains(&p.route_class.get_ref().as_str()) {
                return Err(at.kind(
                    &p.route_class,
                    format!(
                        "key `trusted_peer.route_class`: one of {}",
                        ROUTE_CLASSES.join(", ")
                    ),
                    Reason::NotOneOf {
                        value: p.route_class.get_ref().clone().into(),
                        allowed: ROUTE_CLASSES.to_vec().into(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// Trunks, routes and the outbound limits, checked (after the rest:
    /// a trunk's addresses are checked against the trusted peers') and
    /// made plain.
    fn check_outside(&self, at: &Refusal) -> Result<Outside, ConfigError> {
        let trusted: Vec<ipnet::IpNet> = self
            .trusted_peers
            .iter()
            .flat_map(|p| &p.addresses)
            .filter_map(|a| trusted_network(a.get_ref()).ok())
            .collect();
        let (trunks, routes) = trunks::trunks_and_routes(at, &self.trunks, &self.routes, &trusted)?;
        Ok(Outside {
            trunks,
            routes,
            numbering: self.numbering.plain(at)?,
            outbound: self.outbound.plain(at)?,
        })
    }

    /// The checked document as plain values, its spans dropped.
    fn into_plain(self, outside: Outside) -> Config {
        let area_code = outside.numbering.area_code;
        Config {
            sip: Sip {
                bind: self.sip.bind,
                udp_port: self.sip.udp_port,
                tcp_port: self.sip.tcp_port,
                tls_port: self.sip.tls_port,
                domain: self.sip.domain,
                digest_algorithms: self.sip.digest_algorithms.map(Spanned::into_inner),
                advertise: self.sip.advertise,
            },
            media: Media {
                rtp_port_min: self.media.rtp_port_min.into_inner(),
                rtp_port_max: self.media.rtp_port_max.into_inner(),
            },
            calls: self.calls,
            registrar: Registrar {
                min_expires: self.registrar.min_expires,
                default_expires: self.registrar.default_expires,
                max_expires: self.registrar.max_expires.into_inner(),
                qualify_seconds: self.registrar.qualify_seconds,
            },
            security: self.security,
            extensions: self
                .extensions
                .into_iter()
                .map(RawExtension::into_plain)
                .collect(),
            power: self.power.map(RawPower::into_plain),
            snmp: self.snmp.map(|s| {
                let access = match (
                    s.community,
                    s.v3_user,
                    s.v3_auth_password,
                    s.v3_priv_password,
                ) {
                    (Some(c), _, _, _) => Some(crate::SnmpAccess::Community(c.into_inner())),
                    (None, Some(u), Some(a), Some(p)) => Some(crate::SnmpAccess::V3 {
                        user: u.into_inner(),
                        auth_password: a.into_inner(),
                        priv_password: p.into_inner(),
                    }),
                    _ => None,
                };
                Snmp {
                    agentx: s.agentx.into_inner(),
                    service_level_threshold: s.service_level_threshold,
                    disk_alarm_percent: s.disk_alarm_percent,
                    access,
                }
            }),
            http: self.http,
            dids: self
                .dids
                .into_iter()
                .map(|d| Did {
                    // Checked: every DID has an E.164 form and a target.
                    e164: dering_telco::inbound_e164(d.number.get_ref(), area_code)
                        .unwrap_or_default(),
                    target: d.target().unwrap_or_else(|| DidTarget::Flow(String::new())),
                    number: d.number.into_inner(),
                })
                .collect(),
            flows: Flows {
                utc_offset_minutes: self.flows.utc_offset_minutes.into_inner(),
                prompts: self.flows.prompts,
            },
            recording: self.recording.into_plain(),
            conferences: self
                .conferences
                .into_iter()
                .map(|c| Conference {
                    number: c.number.into_inner(),
                    name: c.name,
                    pin: c.pin.map(Spanned::into_inner),
                    max_parties: c.max_parties,
                })
                .collect(),
            monitoring: Monitoring {
                listen_code: self.monitoring.listen_code.into_inner(),
                whisper_code: self.monitoring.whisper_code.into_inner(),
                barge_code: self.monitoring.barge_code.into_inner(),
                supervisors: self
                    .monitoring
                    .supervisors
                    .into_iter()
                    .map(|s| Supervisor {
                        name: s.name,
                        pin: s.pin.into_inner(),
                    })
                    .collect(),
            },
            queues: self.queues.into_iter().map(RawQueue::into_plain).collect(),
            agents: self
                .agents
                .into_iter()
                .map(|a| Agent {
                    id: a.id.into_inner(),
                    name: a.name,
                    pin: a.pin.into_inner(),
                    skills: a.skills.into_inner(),
                    auto_answer: a.auto_answer,
                    // Checked above.
                    permission: a
                        .permission
                        .and_then(|p| Permission::from_name(p.get_ref())),
                })
                .collect(),
            trusted_peers: self
                .trusted_peers
                .into_iter()
                .map(|p| TrustedPeer {
                    name: p.name,
                    // Checked above; none is left out.
                    addresses: p
                        .addresses
                        .iter()
                        .filter_map(|a| trusted_network(a.get_ref()).ok())
                        .collect(),
                    route_class: p.route_class.into_inner(),
                })
                .collect(),
            acd: self.acd.into_plain(),
            // Set by `parse` from `load/trunkd.rs`.
            trunkd: None,
            // Set by `parse` from `load/sync.rs`.
            sync: None,
            // Both set by `parse`, from `[system]` and the checked zone.
            system: crate::System::default(),
            // Set by `parse` from `load/tickets.rs`.
            tickets: crate::Tickets::default(),
            // Set by `parse` from `load/backup.rs`.
            backup: None,
            trunks: outside.trunks,
            routes: outside.routes,
            numbering: outside.numbering,
            outbound: outside.outbound,
            calendars: self
                .calendars
                .into_iter()
                .map(calendars::RawCalendar::into_plain)
                .collect(),
        }
    }
}

impl RawExtension {
    fn into_plain(self) -> Extension {
        Extension {
            number: self.number.into_inner(),
            name: self.name,
            password: self.password.into_inner(),
            digest_algorithms: self.digest_algorithms.map(Spanned::into_inner),
            pickup_group: self.pickup_group,
            contact: self.contact.map(Spanned::into_inner),
            tls_ca: self.tls_ca,
            tls_name: self.tls_name,
            auth_user: self.auth_user,
            auth_password: self.auth_password,
            auth_realm: self.auth_realm,
            // Checked above: an unknown name never gets here.
            permission: self
                .permission
                .and_then(|p| Permission::from_name(p.get_ref()))
                .unwrap_or(Permission::Internal),
            limits: Limits {
                outside_calls: self.max_outside_calls,
                outside_minutes_per_day: self.outside_minutes_per_day,
            },
            caller_id: self.caller_id.map(|c| match c.into_inner() {
                w if w == "withheld" => crate::trunks::Presentation::Withheld,
                n => crate::trunks::Presentation::Number(n),
            }),
            language: self.language.map(Spanned::into_inner),
        }
    }
}

impl RawPower {
    fn into_plain(self) -> Power {
        Power {
            upsd: self.upsd.into_inner(),
            ups: self.ups,
            username: self.username,
            password: self.password,
            poll_seconds: self.poll_seconds,
            shutdown_runtime_seconds: self.shutdown_runtime_seconds,
            grace_seconds: self.grace_seconds,
            required_runtime_hours: self.required_runtime_hours,
            stop_command: self.stop_command,
            poweroff_command: self.poweroff_command.into_inner(),
        }
    }
}

impl RawRecording {
    fn into_plain(self) -> Recording {
        Recording {
            percent: self.percent.into_inner(),
            retention_days: self.retention_days,
            directory: self.directory,
            mp3: self.mp3,
            backup_directory: self.backup_directory,
            backup_every_hours: self.backup_every_hours,
            rules: self
                .rules
                .into_iter()
                .map(|r| RecordingRule {
                    extension: r.extension,
                    number: r.number,
                    flow: r.flow,
                    queue: r.queue,
                    trunk: r.trunk,
                    percent: r.percent.into_inner(),
                    windows: r.windows,
                })
                .collect(),
        }
    }
}

impl RawQueue {
    fn into_plain(self) -> Queue {
        Queue {
            name: self.name.into_inner(),
            strategy: self.strategy.into_inner(),
            skills: self.skills.into_inner(),
            ring_seconds: self.ring_seconds,
            wrapup_seconds: self.wrapup_seconds,
            overflow_seconds: self.overflow_seconds,
            overflow_to: self.overflow_to.into_inner(),
            max_wait_seconds: self.max_wait_seconds,
            max_callers: self.max_callers,
            exit_to: self.exit_to.into_inner(),
            join_empty: self.join_empty,
            leave_when_empty: self.leave_when_empty,
            service_level_seconds: self.service_level_seconds,
            callback: self.callback,
            // Checked above; queue callbacks reach a caller's mobile by
            // default.
            callback_permission: self
                .callback_permission
                .and_then(|p| Permission::from_name(p.get_ref()))
                .unwrap_or(Permission::National),
            backup_number: self.backup_number.map(Spanned::into_inner),
            backup_when: self
                .backup_when
                .and_then(|w| BackupWhen::from_name(w.get_ref()))
                .unwrap_or_default(),
            // Checked above; a mobile or another site by default.
            backup_permission: self
                .backup_permission
                .and_then(|p| Permission::from_name(p.get_ref()))
                .unwrap_or(Permission::National),
        }
    }
}

impl RawAcd {
    fn into_plain(self) -> Acd {
        Acd {
            short_abandon_seconds: self.short_abandon_seconds,
            max_missed: self.max_missed,
            reasons: self.reasons,
            priority_mobile: self.priority_mobile,
            priority_fixed: self.priority_fixed,
            vip: self.vip,
            block: self
                .block
                .into_iter()
                .map(|b| BlockRule {
                    number: b.number,
                    prefix: b.prefix,
                    anonymous: b.anonymous,
                    action: b.action.into_inner(),
                })
                .collect(),
            phone_lost: self.phone_lost.into_inner(),
            wrapup_codes: wrapup::plain(self.wrapup_codes),
        }
    }
}
