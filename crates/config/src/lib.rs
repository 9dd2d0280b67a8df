//! Configuration: one TOML file for every daemon (`/etc/dering/dering.toml`)
//! or the embedded default. Each daemon reads its own tables; unknown keys
//! and bad values are refused with the file, line and key named.
//!
//! The types here hold plain values: they are what the running engine
//! keeps, compares and replaces when a new version is imported. Where a
//! value stood in its file matters only while the file is read and
//! checked, so spans live in the TOML loader (`load`) alone: it reads a
//! document into its own spanned types, checks it whole and hands back a
//! [`Config`].

use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use dering_sip::auth::Algorithm;
use dering_sip::transaction::{Peer, Transport};
use serde::Deserialize;

pub mod backup;
mod calendar;
mod load;
mod reason;
mod sync;
mod system;
mod tickets;
mod trunkd;

pub use backup::Backup;
pub use calendar::{calendars, Calendar, Holiday};
pub use reason::{Format, Reason};
pub use sync::{SyncAuth, SyncConfig, DEFAULT_CREATE_TEMPLATE, DEFAULT_UPDATE_TEMPLATE};
pub use system::{
    is_host_name, is_ntp_server, is_port_name, zone_offset, Network, System, DEFAULT_TIME_ZONE,
    MAX_DNS_SERVERS, MAX_NTP_SERVERS, TIME_ZONES,
};
pub use tickets::Tickets;
pub use trunkd::{
    parse_channels, Hunting, LineAnswer, LineCallerId, LineConfig, LineDevice, LineStart,
    SpanConfig, SpanDevice, SpanSide, Trunkd,
};

mod trunks;

pub use trunks::{
    CallerId, CallerIdHeader, CarrierFormat, DialledClass, FailoverCause, Limits, Numbering,
    Outbound, Permission, Presentation, RedirectHeader, Route, Trunk, TrunkAccount, TrunkKind,
    DEFAULT_FAILOVER,
};

/// The embedded default: the demo box.
pub const DEFAULT_TOML: &str = include_str!("default.toml");
pub const DEFAULT_NAME: &str = "<embedded default>";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        /// In English, naming the key: `key `agent.pin`: …` (logs).
        message: String,
        /// The key refused (`agent.pin`), when one is.
        key: Option<String>,
        /// Why, typed: what a user interface translates.
        reason: Reason,
    },
}

/// Every daemon's settings, as plain values. What [`Config::parse`] (and
/// `load`, `embedded`) gives back has passed every check; code that changes
/// a field afterwards (the CLI's command-line overrides) checks the new
/// value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub sip: Sip,
    pub media: Media,
    pub calls: Calls,
    pub registrar: Registrar,
    pub security: Security,
    pub extensions: Vec<Extension>,
    /// The UPS watched by powerd; absent means no UPS is configured.
    pub power: Option<Power>,
    /// The SNMP subagent; absent means no subagent.
    pub snmp: Option<Snmp>,
    pub http: Http,
    /// Numbers the box answers itself, each with its call flow (IVR).
    pub dids: Vec<Did>,
    pub flows: Flows,
    pub recording: Recording,
    /// Conference rooms (TEL-6), each a number of its own.
    pub conferences: Vec<Conference>,
    /// Live monitoring of calls by supervisors (REC-3).
    pub monitoring: Monitoring,
    /// ACD queues (ACD-2).
    pub queues: Vec<Queue>,
    /// Agents: people who log in at any phone (ACD-1).
    pub agents: Vec<Agent>,
    /// SIP peers trusted by their address (issue 12 §5).
    pub trusted_peers: Vec<TrustedPeer>,
    /// Caller priorities, blocklist and ACD-wide settings (ACD-5..7).
    pub acd: Acd,
    /// trunkd, its E1 spans and analog lines (TRK-1, TRK-2); `None`
    /// without `[trunkd]`, `[[span]]` or `[[line]]`.
    pub trunkd: Option<Trunkd>,
    /// syncd's connector to SIMPEL (SYNC-4); `None` without `[sync]`.
    pub sync: Option<SyncConfig>,
    /// Ticket deadlines (`[tickets]`, CTI-3); Peruri's without the table.
    pub tickets: Tickets,
    /// Carrier trunks (TRK-3, TRK-4; decision 0015).
    pub trunks: Vec<Trunk>,
    /// Outbound routes, the first that carries a number (and whose
    /// windows hold the time) deciding (TEL-5).
    pub routes: Vec<Route>,
    pub numbering: Numbering,
    /// Limits on outside calls against fraud (the burst alarm).
    pub outbound: Outbound,
    /// Named business hours and holidays that flows' time nodes name
    /// (ACD-9).
    pub calendars: Vec<Calendar>,
    /// Time zone and NTP servers (`[system]`).
    pub system: System,
    /// The daily database and configuration backup (OPS-4); `None`
    /// without `[backup]`.
    pub backup: Option<Backup>,
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    /// `longest-idle` (default), `round-robin`, `fewest-calls`,
    /// `least-talk-time`, `ring-all`, `random`, `skills-best-match`.
    pub strategy: String,
    /// Skills an agent needs: `{ pajak = 3 }` (levels 1–10).
    pub skills: std::collections::BTreeMap<String, u8>,
    pub ring_seconds: u32,
    pub wrapup_seconds: u32,
    pub overflow_seconds: Option<u32>,
    /// `queue:NAME`, `flow:NAME` or `hangup`: the flow that queued the
    /// caller takes its `on_fail` branch, else the box says goodbye.
    pub overflow_to: String,
    pub max_wait_seconds: Option<u32>,
    pub max_callers: Option<usize>,
    pub exit_to: String,
    pub join_empty: bool,
    pub leave_when_empty: bool,
    /// Service level: answered within this (CMS).
    pub service_level_seconds: u32,
    /// Waiting callers may press 1 to be called back, keeping their place
    /// (ACD-4); the box calls the agent, then the caller's number.
    pub callback: bool,
    /// What the callbacks may dial (TEL-5): `national` by default, to
    /// reach callers' mobiles.
    pub callback_permission: Permission,
    /// Where callers go when the queue cannot serve them (OPS-3): another
    /// site or the mobile agents, dialled out through the outbound routes
    /// (so a trunk down or answering 503 gives way to the route's next).
    pub backup_number: Option<String>,
    /// When the backup number takes the callers: see [`BackupWhen`].
    pub backup_when: BackupWhen,
    /// What the backup call may dial (TEL-5), `national` by default: a
    /// mobile or another site's number.
    pub backup_permission: Permission,
}

/// When a queue's callers are sent to its backup number (OPS-3).
///
/// A failed agents' network shows at the box as its agents gone (logged
/// out, phones unreachable), so `no_agents` is the re-routing the
/// requirement asks for. A down trunk needs no trigger of its own: the
/// backup call goes through the routes, which skip a trunk marked down
/// and fail over on 503 to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackupWhen {
    /// Callers turned away or sent away because no agent is logged in
    /// (`join_empty = false`, `leave_when_empty = true`).
    #[default]
    NoAgents,
    /// Every caller leaving the queue unserved: no agents, overflow,
    /// longest wait, queue full.
    Leaving,
}

impl BackupWhen {
    /// The names `backup_when` takes, the default first.
    pub const NAMES: [&'static str; 2] = ["no_agents", "leaving"];

    pub fn from_name(s: &str) -> Option<BackupWhen> {
        match s {
            "no_agents" => Some(BackupWhen::NoAgents),
            "leaving" => Some(BackupWhen::Leaving),
            _ => None,
        }
    }
}

/// The queue strategies, the first the default.
pub const STRATEGIES: [&str; 7] = [
    "longest-idle",
    "round-robin",
    "fewest-calls",
    "least-talk-time",
    "ring-all",
    "random",
    "skills-best-match",
];

fn default_strategy() -> String {
    STRATEGIES[0].into()
}
fn default_hangup() -> String {
    "hangup".into()
}
fn default_ring_seconds() -> u32 {
    15
}
fn default_wrapup_seconds() -> u32 {
    15
}
fn default_sl_seconds() -> u32 {
    20
}
fn default_true() -> bool {
    true
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub pin: String,
    pub skills: std::collections::BTreeMap<String, u8>,
    /// Send the phone the auto-answer headers for queue calls.
    pub auto_answer: bool,
    /// While logged in, what the agent may dial out from any phone,
    /// instead of the phone's own permission; `None`: the phone's.
    pub permission: Option<Permission>,
}

/// ACD-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acd {
    /// Callers who hang up sooner are short abandons.
    pub short_abandon_seconds: u32,
    /// Offers missed in a row before an agent goes not ready ("missed").
    pub max_missed: u32,
    /// Not-ready reason codes for `*73<code>` (ACD-7).
    pub reasons: std::collections::BTreeMap<String, String>,
    /// Entry priority by caller class (ACD-5).
    pub priority_mobile: i32,
    pub priority_fixed: i32,
    /// Listed numbers and their priority: `{ "02135221234" = 9 }`.
    pub vip: std::collections::BTreeMap<String, i32>,
    /// Blocked numbers (ACD-6): `number`, `prefix` or `anonymous = true`,
    /// with `action` busy, announcement or hangup.
    pub block: Vec<BlockRule>,
    /// What happens to an agent whose phone unregisters or stops
    /// answering OPTIONS: `logout` (default), or `unreachable` (not ready
    /// with reason `unreachable` until the phone is back, then ready).
    pub phone_lost: String,
    /// The codes an agent closes a call's after-call work with on the
    /// desktop, recorded in the ACD journal (issue 16).
    pub wrapup_codes: Vec<WrapupCode>,
}

/// One of `[acd] wrapup_codes`: `{ code = "informasi", name = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapupCode {
    /// What the journal and reports keep: a name (letters, digits, `-`).
    pub code: String,
    /// What the desktop shows.
    pub name: String,
}

/// The desktop's list before it was configurable (decision 0029).
fn default_wrapup_codes() -> Vec<WrapupCode> {
    [
        ("informasi", "Permintaan informasi"),
        ("pengaduan", "Pengaduan dicatat"),
        ("tindak-lanjut", "Perlu tindak lanjut"),
        ("salah-sambung", "Salah sambung"),
        ("lainnya", "Lainnya"),
    ]
    .into_iter()
    .map(|(code, name)| WrapupCode {
        code: code.into(),
        name: name.into(),
    })
    .collect()
}

fn default_phone_lost() -> String {
    "logout".into()
}

fn default_short_abandon() -> u32 {
    5
}
fn default_max_missed() -> u32 {
    2
}
fn default_reasons() -> std::collections::BTreeMap<String, String> {
    [
        ("1", "istirahat"),
        ("2", "makan siang"),
        ("3", "sholat"),
        ("4", "rapat"),
        ("5", "pelatihan"),
        ("6", "coaching"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Default for Acd {
    fn default() -> Self {
        Acd {
            short_abandon_seconds: default_short_abandon(),
            max_missed: default_max_missed(),
            reasons: default_reasons(),
            priority_mobile: 0,
            priority_fixed: 0,
            vip: Default::default(),
            block: Vec::new(),
            phone_lost: default_phone_lost(),
            wrapup_codes: default_wrapup_codes(),
        }
    }
}

/// A blocklist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRule {
    pub number: Option<String>,
    pub prefix: Option<String>,
    pub anonymous: bool,
    pub action: String,
}

/// A conference room: callers to `number` are mixed together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    pub number: String,
    pub name: String,
    /// Asked for before joining; none: anyone who dials joins.
    pub pin: Option<String>,
    /// Most parties at once (the room answers "busy" beyond).
    pub max_parties: usize,
}

fn default_room_size() -> usize {
    20
}

/// Live monitoring (REC-3): a supervisor dials a feature code and the
/// extension, then a PIN that names them in the call's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitoring {
    pub listen_code: String,
    pub whisper_code: String,
    pub barge_code: String,
    pub supervisors: Vec<Supervisor>,
}

fn default_listen_code() -> String {
    "*90".into()
}

fn default_whisper_code() -> String {
    "*91".into()
}

fn default_barge_code() -> String {
    "*92".into()
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            listen_code: default_listen_code(),
            whisper_code: default_whisper_code(),
            barge_code: default_barge_code(),
            supervisors: Vec::new(),
        }
    }
}

/// Someone allowed to monitor calls; the PIN identifies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    pub name: String,
    pub pin: String,
}

/// Call recording (REC-1, REC-2, REC-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Share of answered calls recorded, chosen at random: 100 records
    /// every call, 0 none.
    pub percent: u8,
    /// Recordings older than this are deleted (REC-5).
    pub retention_days: u32,
    /// Where recordings go; `<data-dir>/recordings` by default.
    pub directory: Option<std::path::PathBuf>,
    /// Convert each recording to MP3 when it closes (the system's LAME,
    /// run as a separate process).
    pub mp3: bool,
    /// A removable disk's directory: new recordings are copied there with
    /// a checksum manifest every `backup_every_hours`.
    pub backup_directory: Option<std::path::PathBuf>,
    pub backup_every_hours: u32,
    /// Policies that override `percent` for some calls; the first that
    /// matches a call (and whose windows hold the call's time) decides.
    pub rules: Vec<RecordingRule>,
}

/// A recording policy for one extension, dialed number or flow (REC-2):
/// record `percent` of its calls, within `windows` of the week (WIB), or
/// always when there are none. `percent = 0` keeps a line unrecorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRule {
    /// Calls this extension makes or takes.
    pub extension: Option<String>,
    /// Calls to this number (a service number like 137, or an extension).
    pub number: Option<String>,
    /// Calls answered by this flow.
    pub flow: Option<String>,
    /// Calls an agent took from this ACD queue.
    pub queue: Option<String>,
    /// Calls that came in or went out through this carrier trunk.
    pub trunk: Option<String>,
    pub percent: u8,
    pub windows: Vec<dering_flow::WeeklyHours>,
}

fn default_backup_hours() -> u32 {
    7 * 24
}

fn default_retention() -> u32 {
    400
}

impl Default for Recording {
    fn default() -> Self {
        Recording {
            percent: 0,
            retention_days: default_retention(),
            directory: None,
            mp3: false,
            backup_directory: None,
            backup_every_hours: default_backup_hours(),
            rules: Vec::new(),
        }
    }
}

/// A number (DID, service number) the box answers: by a call flow, an
/// extension or a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Did {
    /// As configured (what `dering flows` shows).
    pub number: String,
    /// The number in E.164 with the box's area code (TEL-10): what a
    /// called number, in whatever form a carrier or a phone sends it, is
    /// matched against, so `137`, `021137` and `+6221137` are one DID.
    pub e164: String,
    /// What answers it.
    pub target: DidTarget,
}

/// What a DID rings (TEL-10): a call flow, an extension or a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DidTarget {
    /// A flow by name (flows live in the database, versioned).
    Flow(String),
    /// An extension, rung as if dialled.
    Extension(String),
    /// A queue, entered at once (no menu before it).
    Queue(String),
}

impl Did {
    /// The flow's name, for a DID a flow answers.
    pub fn flow(&self) -> Option<&str> {
        match &self.target {
            DidTarget::Flow(f) => Some(f),
            DidTarget::Extension(_) | DidTarget::Queue(_) => None,
        }
    }
}

/// Settings of the call flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flows {
    /// The local time of business hours: WIB (UTC+7) by default; WITA is
    /// 480, WIT 540.
    pub utc_offset_minutes: i32,
    /// A directory of prompts (`<lang>/<name>.wav`) that override and
    /// extend the built-in ones.
    pub prompts: Option<std::path::PathBuf>,
}

fn default_utc_offset() -> i32 {
    7 * 60
}

impl Default for Flows {
    fn default() -> Self {
        Flows {
            utc_offset_minutes: default_utc_offset(),
            prompts: None,
        }
    }
}

/// powerd's settings (PWR-1..3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Power {
    /// `host:port` of upsd.
    pub upsd: String,
    /// The UPS's name in upsd (`dummy` in `dummy@127.0.0.1`).
    pub ups: String,
    pub username: Option<String>,
    /// Better given by the environment (`DERING_UPS_PASSWORD`).
    pub password: Option<String>,
    /// How often upsd is read.
    pub poll_seconds: u32,
    /// On battery with less runtime than this, the box shuts down.
    pub shutdown_runtime_seconds: u32,
    /// How long calls in progress may go on once intake is closed.
    pub grace_seconds: u32,
    /// The runtime the UPS must give at the current load (PWR-1: 8 hours).
    pub required_runtime_hours: u32,
    /// Stops the daemons other than pbxd and powerd (argv, no shell).
    pub stop_command: Vec<String>,
    /// Run once every daemon has stopped (argv, no shell; never empty).
    pub poweroff_command: Vec<String>,
}

impl Power {
    fn default_poll() -> u32 {
        2
    }
    fn default_min_runtime() -> u32 {
        300
    }
    fn default_grace() -> u32 {
        60
    }
    fn default_required() -> u32 {
        8
    }
    fn default_stop() -> Vec<String> {
        [
            "systemctl",
            "stop",
            "dering-webd.service",
            "dering-snmp-agent.service",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_poweroff() -> Vec<String> {
        vec!["systemctl".into(), "poweroff".into()]
    }
}

/// The SNMP subagent's settings (MON-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snmp {
    /// The master agent's AgentX socket: `tcp:HOST:PORT` or a Unix path
    /// (`unix:/var/agentx/master` or `/var/agentx/master`).
    pub agentx: String,
    /// Service level (percent) under which a trap is sent.
    pub service_level_threshold: u32,
    /// Disk use (percent) over which a trap is sent.
    pub disk_alarm_percent: u32,
    /// Who may read the box by SNMP: snmpd's access, which `dering
    /// system apply` writes as its drop-in (issue 17 §3); none leaves
    /// snmpd's own.
    pub access: Option<SnmpAccess>,
}

/// snmpd's read-only access, as first-boot setup chooses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpAccess {
    /// SNMPv2c with a community (`rocommunity`).
    Community(String),
    /// SNMPv3 with authentication (SHA) and privacy (AES).
    V3 {
        user: String,
        auth_password: String,
        priv_password: String,
    },
}

impl Snmp {
    /// The defaults, with the agentx address still to set.
    pub fn with_defaults() -> Snmp {
        Snmp {
            agentx: "tcp:127.0.0.1:705".into(),
            service_level_threshold: Snmp::default_sl(),
            disk_alarm_percent: Snmp::default_disk(),
            access: None,
        }
    }

    fn default_sl() -> u32 {
        80
    }
    fn default_disk() -> u32 {
        90
    }
}

/// webd's listeners. Read straight from the file: it needs no check of
/// its own. `port` is plain HTTP: `/health`, `/health/live` and `/metrics`
/// for the NOC and the watchdog, everything else redirected to
/// `https_port`, where the web admin is served with the box's certificate
/// (decision 0017).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub bind: IpAddr,
    pub port: u16,
    #[serde(default = "Http::default_https_port")]
    pub https_port: u16,
}

impl Http {
    fn default_https_port() -> u16 {
        8443
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            https_port: Http::default_https_port(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sip {
    pub bind: IpAddr,
    pub udp_port: u16,
    pub tcp_port: u16,
    pub tls_port: u16,
    pub domain: String,
    /// Digest algorithms offered in challenges, in order (default MD5).
    /// Each is a separate challenge header, and some phones (baresip 1.0,
    /// sipp) fail on any algorithm they lack: offer SHA-256 to the phones
    /// that take it, per extension.
    pub digest_algorithms: Option<Vec<String>>,
    /// The address written into Via, Contact and SDP. Without it, the bind
    /// address, unless that is a wildcard (`0.0.0.0`, `::`), which a peer
    /// cannot send to: then the address of the interface the default route
    /// leaves by (see `pbxd::advertise`).
    pub advertise: Option<IpAddr>,
}

/// The RTP ports, `rtp_port_min` even and at least four ports wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
}

/// In-call feature codes and timers. Read straight from the file: it
/// needs no check of its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    pub no_answer_seconds: u32,
    /// Pressed in a call, then an extension and `#`: that extension is
    /// called and joins the call (a three-way conference, TEL-2).
    #[serde(default = "default_three_way_code")]
    pub three_way_code: String,
    /// Pressed in a call, then an extension and `#`: the other party is
    /// transferred there and this one leaves (blind transfer, TEL-2).
    #[serde(default = "default_transfer_code")]
    pub transfer_code: String,
    /// Dialled with an extension: answers the call ringing it (directed
    /// pickup, TEL-2).
    #[serde(default = "default_pickup_code")]
    pub pickup_code: String,
    /// Dialled alone: answers a call ringing any extension of the
    /// caller's pickup group.
    #[serde(default = "default_group_pickup_code")]
    pub group_pickup_code: String,
    /// The music-on-hold class a held party hears: `default` (built in)
    /// or a `music/<class>.wav` of `[flows] prompts`.
    #[serde(default = "default_music_class")]
    pub music_on_hold: String,
    /// Dialled alone or with a prompt number (`*97`, `*9705`): the caller
    /// records a prompt after a beep, hears it back and keeps it with 1
    /// (it is played from the next call on) or records again with 2.
    #[serde(default = "default_record_prompt_code")]
    pub record_prompt_code: String,
    /// The extensions whose phones may record prompts with
    /// `record_prompt_code`: a prompt is what every caller hears, so only
    /// the phones named here (an administrator's, a supervisor's) may.
    /// Empty: nobody.
    #[serde(default)]
    pub prompt_recorders: Vec<String>,
}

fn default_record_prompt_code() -> String {
    "*97".into()
}

fn default_music_class() -> String {
    "default".into()
}

fn default_three_way_code() -> String {
    "*3".into()
}

fn default_transfer_code() -> String {
    "##".into()
}

fn default_pickup_code() -> String {
    "**".into()
}

fn default_group_pickup_code() -> String {
    "*8".into()
}

impl Default for Calls {
    fn default() -> Self {
        Calls {
            no_answer_seconds: 30,
            three_way_code: default_three_way_code(),
            transfer_code: default_transfer_code(),
            pickup_code: default_pickup_code(),
            group_pickup_code: default_group_pickup_code(),
            music_on_hold: default_music_class(),
            record_prompt_code: default_record_prompt_code(),
            prompt_recorders: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    pub min_expires: u32,
    pub default_expires: u32,
    /// Not below `min_expires`.
    pub max_expires: u32,
    pub qualify_seconds: u32,
}

/// Limits against floods and slow peers. Read straight from the file: it
/// needs no check of its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub auth_failures_before_block: u32,
    pub block_seconds: u32,
    pub requests_per_second_per_source: u32,
    /// SIP over TCP and TLS: connections held at once from one address.
    /// Beyond it a new connection is closed at once; a box behind one NAT
    /// with many phones needs it raised.
    #[serde(default = "default_stream_per_source")]
    pub stream_connections_per_source: u32,
    /// SIP over TCP and TLS: connections held at once in all, below the
    /// daemon's file limit (`LimitNOFILE`) with room for media sockets.
    #[serde(default = "default_stream_total")]
    pub stream_connections_total: u32,
    /// A TLS handshake not done by then is abandoned.
    #[serde(default = "default_stream_handshake")]
    pub tls_handshake_seconds: u32,
    /// A message begun on a stream must be complete this long after its
    /// first byte (slowloris: a head that never ends, a body that never
    /// comes).
    #[serde(default = "default_stream_message")]
    pub stream_message_seconds: u32,
    /// A connection that receives nothing (not even a CRLF keep-alive) this
    /// long is closed. Registered phones never get there: the registrar
    /// probes them every `qualify_seconds` and they answer, and a phone
    /// that re-registers on its own refreshes within `default_expires`. Keep
    /// it above both.
    #[serde(default = "default_stream_idle")]
    pub stream_idle_seconds: u32,
}

fn default_stream_per_source() -> u32 {
    128
}

fn default_stream_total() -> u32 {
    4096
}

fn default_stream_handshake() -> u32 {
    10
}

fn default_stream_message() -> u32 {
    10
}

fn default_stream_idle() -> u32 {
    900
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Digits only, unique among extensions, numbers and rooms.
    pub number: String,
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    /// Overrides `sip.digest_algorithms` for this extension.
    pub digest_algorithms: Option<Vec<String>>,
    /// Calls ringing this extension can be picked up with the group
    /// pickup code by the extensions of the same group (TEL-2). Without
    /// one, the extension is in the box's one default group.
    pub pickup_group: Option<String>,
    /// A static peer: the extension is always reached at this SIP URI
    /// (`sip:7001@192.0.2.10:5060`, an IP address; `;transport=tcp`,
    /// `;transport=tls` or `sips:` for a stream, see [`static_contact`])
    /// instead of where it registers. A registration, when there is one,
    /// still wins.
    pub contact: Option<String>,
    /// Over TLS: a PEM file of the CA certificates the peer's certificate
    /// must chain to, for a carrier with a private CA; without it, the
    /// system's trusted roots.
    pub tls_ca: Option<std::path::PathBuf>,
    /// Over TLS: the name the peer's certificate is checked against (and
    /// sent as SNI) when it is not the contact's IP address, e.g.
    /// `sip.carrier.example`.
    pub tls_name: Option<String>,
    /// The account the box answers the peer's 401/407 challenges with
    /// (RFC 3261 §22.2); `auth_realm` limits it to that realm.
    pub auth_user: Option<String>,
    pub auth_password: Option<String>,
    pub auth_realm: Option<String>,
    /// What it may dial out (TEL-5); `internal` unless given, so a new
    /// extension cannot call out before someone decides it may.
    pub permission: Permission,
    pub limits: Limits,
    /// The number the carrier presents for its calls, or withheld;
    /// `None`: the trunk's.
    pub caller_id: Option<Presentation>,
    /// `id` or `en` (checked): the language the box speaks to this phone
    /// when its INVITE names none (Accept-Language); `None`: Indonesian.
    pub language: Option<String>,
}

/// A SIP peer trusted by its source address: the trunk gateway on
/// loopback, a carrier's signalling addresses. Its INVITEs reach the dial
/// plan without digest authentication (a gateway or a carrier cannot answer
/// a challenge), with the route class its calls are allowed; everything
/// else about the call (guard, dial plan, records) is as for a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedPeer {
    pub name: String,
    /// Addresses and networks, written `127.0.0.1`, `203.0.113.0/28`,
    /// `2001:db8::/64` (an address is a network of one).
    pub addresses: Vec<ipnet::IpNet>,
    /// What its calls may reach when they leave the box again (outbound
    /// routing classes: `internal`, `local`, `national`, `international`).
    pub route_class: String,
}

fn default_route_class() -> String {
    ROUTE_CLASSES[0].to_string()
}

/// The route classes, narrowest first.
pub const ROUTE_CLASSES: &[&str] = &["internal", "local", "national", "international"];

/// An address or a network (CIDR) of a trusted peer.
pub fn trusted_network(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("{s:?} is not an IP address or network (CIDR)"))
}

/// A static peer's contact: a `sip:` or `sips:` URI whose host is an IP
/// address (no resolver in the core), and the transport it is reached
/// over: `;transport=tcp` or `;transport=tls` as given, TLS for `sips:`
/// (RFC 3261 §19.1.2), UDP otherwise. Without a port, 5061 for TLS and 5060
/// for the others (§19.1.2).
pub fn static_contact(uri: &str) -> Result<Peer, String> {
    let u = dering_sip::uri::Uri::parse(uri).map_err(|e| e.to_string())?;
    let ip: IpAddr = u
        .host
        .parse()
        .map_err(|_| format!("host {:?} is not an IP address", u.host))?;
    let transport = match u.param("transport").flatten() {
        None if u.secure => Transport::Tls,
        None => Transport::Udp,
        Some(t) if t.eq_ignore_ascii_case("udp") && !u.secure => Transport::Udp,
        // `sips:` over TCP is TLS over TCP (RFC 3261 §26.2.2).
        Some(t) if t.eq_ignore_ascii_case("tcp") && u.secure => Transport::Tls,
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(t) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
        Some(t) if u.secure => return Err(format!("sips: cannot go over {t}")),
        Some(t) => return Err(format!("transport {t} is not UDP, TCP or TLS")),
    };
    let port = match transport {
        Transport::Tls => 5061,
        Transport::Udp | Transport::Tcp => 5060,
    };
    Ok(Peer {
        transport,
        addr: std::net::SocketAddr::new(ip, u.port.unwrap_or(port)),
    })
}

impl Config {
    /// The daemons a box with this configuration runs: pbxd and webd
    /// always, powerd with a `[power]` table, the SNMP agent with `[snmp]`,
    /// syncd with `[sync]`.
    pub fn daemons(&self) -> Vec<String> {
        let mut v = vec!["pbxd".to_string(), "webd".to_string()];
        if self.power.is_some() {
            v.push("powerd".into());
        }
        if self.snmp.is_some() {
            v.push("snmp-agent".into());
        }
        if self.sync.is_some() {
            v.push("syncd".into());
        }
        v
    }

    /// This configuration delivering tickets to `endpoint` (`dering up
    /// --simpel`, the demo beside `tools/simpel-sim`): its own `[sync]`
    /// with that endpoint, or one with every default. The URL is checked
    /// as the file's would be, naming `--simpel` in the error.
    pub fn with_sync_endpoint(mut self, endpoint: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "{DEFAULT_TOML}\n[sync]\nendpoint = {}\n",
            toml::Value::String(endpoint.to_string())
        );
        let fresh = Config::parse(&text, "--simpel")?.sync;
        self.sync = match (self.sync.take(), fresh) {
            (Some(mut mine), Some(f)) => {
                mine.endpoint = f.endpoint;
                Some(mine)
            }
            (_, f) => f,
        };
        Ok(self)
    }

    /// Parses and validates `text`, naming `file` in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        load::parse(text, file)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    pub fn embedded() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_TOML, DEFAULT_NAME)
    }

    /// The digest algorithms offered to `ext` (the global list for an
    /// extension without its own, and for names that are no extension).
    pub fn digest_algorithms(&self, ext: Option<&Extension>) -> Vec<Algorithm> {
        let list = ext
            .and_then(|e| e.digest_algorithms.as_ref())
            .or(self.sip.digest_algorithms.as_ref());
        match list {
            Some(l) => l.iter().filter_map(|a| Algorithm::parse(a)).collect(),
            None => vec![Algorithm::Md5],
        }
    }

    pub fn rtp_ports(&self) -> Range<u16> {
        self.media.rtp_port_min..self.media.rtp_port_max
    }

    pub fn bind(&self) -> IpAddr {
        self.sip.bind
    }

    /// The address to advertise when set, else the bind address unless
    /// it is a wildcard; `None` leaves the choice to the daemon.
    pub fn advertise(&self) -> Option<IpAddr> {
        match self.sip.advertise {
            Some(a) => Some(a),
            None => Some(self.bind()).filter(|ip| !ip.is_unspecified()),
        }
    }

    /// Whether any extension still has its demo password.
    pub fn has_demo_passwords(&self) -> bool {
        self.extensions
            .iter()
            .any(|e| e.password == format!("demo-{}", e.number))
    }
}

/// Splits `host:port` (the host may be a name or an address).
pub fn parse_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(())?;
    Some((host.to_string(), port.parse().ok()?))
}

/// Where the SNMP master agent listens for AgentX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentxAddr {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
}

impl AgentxAddr {
    /// net-snmp's notation: `tcp:HOST:PORT`, `unix:PATH` or a bare path.
    pub fn parse(s: &str) -> Option<AgentxAddr> {
        if let Some(rest) = s.strip_prefix("tcp:") {
            let (h, p) = parse_host_port(rest)?;
            return Some(AgentxAddr::Tcp(h, p));
        }
        let path = s.strip_prefix("unix:").unwrap_or(s);
        path.starts_with('/').then(|| AgentxAddr::Unix(path.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.extensions.len(), 10);
        assert!(c.has_demo_passwords());
    }

    /// Like hickory-dns: an unknown key in every table is refused, naming
    /// the file, the line and the key.
    #[test]
    fn unknown_key_in_every_table_is_refused() {
        for table in [
            "[sip]",
            "[media]",
            "[calls]",
            "[registrar]",
            "[security]",
            "[[extension]]",
            "[power]",
            "[snmp]",
            "[http]",
            "[numbering]",
        ] {
            let line = format!("\n{table}\n");
            let text = if DEFAULT_TOML.contains(&line) {
                DEFAULT_TOML.replacen(&line, &format!("{line}bogus_key = 1\n"), 1)
            } else {
                format!("{DEFAULT_TOML}\n{table}\nagentx = \"tcp:127.0.0.1:705\"\nbogus_key = 1\n")
            };
            let line = text.lines().position(|l| l == "bogus_key = 1").unwrap() + 1;
            let e = Config::parse(&text, "/etc/dering/dering.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("/etc/dering/dering.toml:{line}:")),
                "{table}: {e}"
            );
            assert!(e.contains("bogus_key"), "{e}");
        }
    }

    /// `transport=` and `sips:` choose how a static peer is reached, with
    /// the default port of that transport (RFC 3261 §19.1.2).
    #[test]
    fn a_static_contact_names_its_transport() {
        let peer = |t, a: &str| {
            Ok(Peer {
                transport: t,
                addr: a.parse().unwrap(),
            })
        };
        for (uri, want) in [
            ("sip:7001@10.0.0.1", peer(Transport::Udp, "10.0.0.1:5060")),
            (
                "sip:7001@10.0.0.1;transport=UDP",
                peer(Transport::Udp, "10.0.0.1:5060"),
            ),
            (
                "sip:7001@10.0.0.1:5080;transport=tcp",
                peer(Transport::Tcp, "10.0.0.1:5080"),
            ),
            (
                "sip:7001@10.0.0.1;transport=tls",
                peer(Transport::Tls, "10.0.0.1:5061"),
            ),
            ("sips:7001@10.0.0.1", peer(Transport::Tls, "10.0.0.1:5061")),
            (
                "sips:7001@[::1]:5071;transport=tcp",
                peer(Transport::Tls, "[::1]:5071"),
            ),
        ] {
            assert_eq!(static_contact(uri), want, "{uri}");
        }
    }

    #[test]
    fn static_peers_and_the_advertised_address() {
        let peer =
            "[[extension]]\nnumber = \"7001\"\nname = \"Peer\"\npassword = \"peer-pass-1\"\n";
        let text = format!(
            "{DEFAULT_TOML}\n{peer}contact = \"sip:7001@127.0.0.1:5099\"\nauth_user = \"dering\"\nauth_password = \"s3cret-pw\"\n"
        );
        let c = Config::parse(&text, "f.toml").unwrap();
        let e = c.extensions.last().unwrap();
        assert_eq!(
            static_contact(e.contact.as_deref().unwrap()),
            Ok(Peer {
                transport: Transport::Udp,
                addr: "127.0.0.1:5099".parse().unwrap()
            })
        );
        assert_eq!(e.auth_user.as_deref(), Some("dering"));
        for (bad, why) in [
            ("contact = \"sip:7001@peer.example\"\n", "not an IP address"),
            (
                "contact = \"sip:7001@127.0.0.1;transport=sctp\"\n",
                "not UDP, TCP or TLS",
            ),
            (
                "contact = \"sips:7001@127.0.0.1;transport=udp\"\n",
                "sips: cannot go over udp",
            ),
            ("tls_ca = \"/etc/ca.pem\"\n", "no contact over TLS"),
            (
                "contact = \"sip:7001@127.0.0.1;transport=tcp\"\ntls_name = \"far.example\"\n",
                "no contact over TLS",
            ),
            ("auth_user = \"dering\"\n", "together"),
        ] {
            let text = format!("{DEFAULT_TOML}\n{peer}{bad}");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }

        let tls = format!(
            "{DEFAULT_TOML}\n{peer}contact = \"sip:7001@127.0.0.1;transport=tls\"\ntls_ca = \"/etc/dering/carrier-ca.pem\"\ntls_name = \"sip.far.example\"\n"
        );
        let e = Config::parse(&tls, "f.toml")
            .unwrap()
            .extensions
            .pop()
            .unwrap();
        assert_eq!(e.tls_name.as_deref(), Some("sip.far.example"));
        assert!(e.tls_ca.is_some());

        assert_eq!(c.advertise(), Some(IpAddr::from([127, 0, 0, 1])));
        let any = DEFAULT_TOML.replace("bind = \"127.0.0.1\"", "bind = \"0.0.0.0\"");
        assert_eq!(Config::parse(&any, "f.toml").unwrap().advertise(), None);
        let set = any.replace("[sip]\n", "[sip]\nadvertise = \"192.0.2.7\"\n");
        assert_eq!(
            Config::parse(&set, "f.toml").unwrap().advertise(),
            Some(IpAddr::from([192, 0, 2, 7]))
        );
    }

    #[test]
    fn optional_daemon_tables() {
        let c = Config::embedded().unwrap();
        assert!(c.power.is_some() && c.snmp.is_none());
        let p = c.power.unwrap();
        assert_eq!(p.poweroff_command, &["systemctl", "poweroff"]);
        assert_eq!(p.required_runtime_hours, 8);
        let text = DEFAULT_TOML.replace("upsd = \"127.0.0.1:3493\"", "upsd = \"nohost\"");
        let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
        let line = line_containing(&text, "nohost");
        assert!(
            e.starts_with(&format!("f.toml:{line}: key `power.upsd`")),
            "{e}"
        );
        assert_eq!(
            AgentxAddr::parse("tcp:127.0.0.1:705"),
            Some(AgentxAddr::Tcp("127.0.0.1".into(), 705))
        );
        assert_eq!(
            AgentxAddr::parse("/var/agentx/master"),
            Some(AgentxAddr::Unix("/var/agentx/master".into()))
        );
        assert_eq!(AgentxAddr::parse("udp:1.2.3.4:5"), None);
    }

    /// TEL-6, REC-3: rooms and supervisors; bad PINs and clashing numbers
    /// are named with their line.
    #[test]
    fn conference_rooms_and_supervisors() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.conferences.len(), 2);
        assert_eq!(c.conferences[1].pin.as_deref(), Some("2468"));
        assert_eq!(c.monitoring.supervisors.len(), 1);
        assert_eq!(c.monitoring.listen_code, "*90");
        for (from, to, key) in [
            ("pin = \"2468\"", "pin = \"24a8\"", "conference.pin"),
            (
                "pin = \"1357\"",
                "pin = \"13\"",
                "monitoring.supervisor.pin",
            ),
            (
                "number = \"8000\"",
                "number = \"1001\"",
                "conference.number",
            ),
        ] {
            let text = DEFAULT_TOML.replace(from, to);
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let line = line_containing(&text, to);
            assert!(e.starts_with(&format!("f.toml:{line}: key `{key}`")), "{e}");
        }
        let text = DEFAULT_TOML.replace("[monitoring]", "[monitoring]\nspy_code = \"*99\"");
        let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
        assert!(e.contains("spy_code"), "{e}");
    }

    /// ACD-1..7: the demo queue and agents; bad strategies, destinations,
    /// PINs and blocks are named at their line.
    #[test]
    fn queues_agents_and_caller_rules() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.queues.len(), 1);
        assert_eq!(c.queues[0].name, "pengaduan");
        assert_eq!(c.queues[0].skills.get("pengaduan"), Some(&1));
        assert_eq!(c.agents.len(), 4);
        assert_eq!(c.agents[2].skills.get("bahasa-jawa"), Some(&8));
        assert_eq!(c.acd.priority_mobile, 5);
        assert_eq!(c.acd.vip.get("02135221234"), Some(&9));
        assert_eq!(c.acd.reasons.get("3").map(String::as_str), Some("sholat"));
        for (from, to, key) in [
            (
                "strategy = \"longest-idle\"",
                "strategy = \"loudest\"",
                "queue.strategy",
            ),
            (
                "overflow_to = \"hangup\"",
                "overflow_to = \"queue:nowhere\"",
                "queue.overflow_to",
            ),
            (
                "id = \"2004\"\nname = \"Petugas 2004\"\npin = \"1234\"",
                "id = \"2004\"\nname = \"Petugas 2004\"\npin = \"12\"",
                "agent.pin",
            ),
            (
                "phone_lost = \"logout\"",
                "phone_lost = \"ignore\"",
                "acd.phone_lost",
            ),
            (
                "action = \"announcement\"",
                "action = \"shout\"",
                "acd.block.action",
            ),
        ] {
            let text = DEFAULT_TOML.replace(from, to);
            assert_ne!(text, DEFAULT_TOML, "{from}");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let last = to.lines().last().unwrap();
            let line = line_containing(&text, last);
            assert!(e.starts_with(&format!("f.toml:{line}: key `{key}`")), "{e}");
        }
    }

    /// REC-2: policies by extension, number or flow with weekly windows;
    /// a rule naming two selectors or a bad window is refused at its line.
    #[test]
    fn recording_rules() {
        let rules = "[[recording.rule]]\nextension = \"1002\"\npercent = 0\n\n[[recording.rule]]\nflow = \"layanan-pengaduan\"\npercent = 50\nwindows = [{ days = [\"mon\", \"fri\"], from = \"08:00\", to = \"16:00\" }]\n";
        let c = Config::parse(&format!("{DEFAULT_TOML}\n{rules}"), "f.toml").unwrap();
        assert_eq!(c.recording.rules.len(), 2);
        assert_eq!(c.recording.rules[1].percent, 50);
        assert_eq!(c.recording.rules[1].windows[0].from, "08:00");
        for (bad, what) in [
            ("[[recording.rule]]\nextension = \"1\"\nnumber = \"137\"\npercent = 5\n", "exactly one"),
            ("[[recording.rule]]\nnumber = \"137\"\npercent = 101\n", "0 to 100"),
            ("[[recording.rule]]\ntrunk = \"telkom\"\npercent = 5\n", "no [[trunk]] named"),
            ("[[recording.rule]]\nnumber = \"137\"\npercent = 5\nwindows = [{ days = [\"fri\"], from = \"17:00\", to = \"08:00\" }]\n", "not before"),
        ] {
            let text = format!("{DEFAULT_TOML}\n{bad}");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let want = text.lines().count() - bad.lines().count() + bad.lines().position(|l| l.starts_with("percent")).unwrap() + 1;
            assert!(e.starts_with(&format!("f.toml:{want}:")), "{e}");
            assert!(e.contains(what), "{e}");
        }
    }

    #[test]
    fn digest_algorithms_default_global_and_per_extension() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.digest_algorithms(c.extensions.first()), [Algorithm::Md5]);
        let text = DEFAULT_TOML
            .replace(
                "digest_algorithms = [\"MD5\"]",
                "digest_algorithms = [\"SHA-256\", \"MD5\"]",
            )
            .replacen(
                "password = \"demo-1002\"",
                "password = \"demo-1002\"\ndigest_algorithms = [\"SHA-256\"]",
                1,
            );
        let c = Config::parse(&text, "f.toml").unwrap();
        assert_eq!(
            c.digest_algorithms(None),
            [Algorithm::Sha256, Algorithm::Md5]
        );
        assert_eq!(
            c.digest_algorithms(c.extensions.get(1)),
            [Algorithm::Sha256]
        );
        let bad = DEFAULT_TOML.replace(
            "digest_algorithms = [\"MD5\"]",
            "digest_algorithms = [\"SHA-1\"]",
        );
        let e = Config::parse(&bad, "f.toml").unwrap_err().to_string();
        let line = line_containing(&bad, "SHA-1");
        assert!(
            e.starts_with(&format!("f.toml:{line}: key `sip.digest_algorithms`")),
            "{e}"
        );
    }

    /// Every check that refuses a value names the file, the line the
    /// value stands on and its key, though the spans stay in the loader
    /// (issue 12 §3). Each case edits the demo (a line replaced, or tables
    /// appended when `from` is empty) and names the text on the refused
    /// line (its last occurrence) and the key.
    #[test]
    fn every_check_names_its_line_and_key() {
        let ext = |number: &str, more: &str| {
            format!("[[extension]]\nnumber = \"{number}\"\nname = \"X\"\npassword = \"long-enough\"\n{more}")
        };
        let peer = "[[trusted_peer]]\nname = \"gw\"\n";
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "rtp_port_min = 20000",
                "rtp_port_min = 20001".into(),
                "20001",
                "media.rtp_port_min",
            ),
            (
                "max_expires = 3600",
                "max_expires = 10".into(),
                "max_expires",
                "registrar.max_expires",
            ),
            (
                "digest_algorithms = [\"MD5\"]",
                "digest_algorithms = []".into(),
                "digest_algorithms",
                "sip.digest_algorithms",
            ),
            (
                "[flows]\n",
                "[flows]\nutc_offset_minutes = 1000\n".into(),
                "1000",
                "flows.utc_offset_minutes",
            ),
            (
                "percent = 100\nretention",
                "percent = 101\nretention".into(),
                "percent = 101",
                "recording.percent",
            ),
            (
                "listen_code = \"*90\"",
                "listen_code = \"90\"".into(),
                "listen_code",
                "monitoring.listen_code",
            ),
            (
                "barge_code = \"*92\"",
                "barge_code = \"*\"".into(),
                "barge_code",
                "monitoring.barge_code",
            ),
            (
                "record_prompt_code = \"*97\"",
                "record_prompt_code = \"\"".into(),
                "record_prompt_code",
                "calls.record_prompt_code",
            ),
            (
                "prompt_recorders = [\"1001\"]",
                "prompt_recorders = [\"1999\"]".into(),
                "prompt_recorders",
                "calls.prompt_recorders",
            ),
            (
                "skills = { pengaduan = 1 }",
                "skills = { pengaduan = 11 }".into(),
                "= 11",
                "queue.skills",
            ),
            (
                "skills = { pengaduan = 2 }",
                "skills = { pengaduan = 0 }".into(),
                "= 0 }",
                "agent.skills",
            ),
            (
                "id = \"2003\"",
                "id = \"2002\"".into(),
                "id = \"2002\"",
                "agent.id",
            ),
            ("id = \"2004\"", "id = \"20x4\"".into(), "20x4", "agent.id"),
            (
                "overflow_to = \"hangup\"",
                "overflow_to = \"hangup\"\nexit_to = \"flow:\"".into(),
                "exit_to",
                "queue.exit_to",
            ),
            (
                "prefix = \"+62899\",",
                "prefix = \"+62899\", anonymous = true,".into(),
                "anonymous",
                "acd.block",
            ),
            (
                "poweroff_command = [\"systemctl\", \"poweroff\"]",
                "poweroff_command = []".into(),
                "poweroff_command",
                "power.poweroff_command",
            ),
            (
                "number = \"1500137\"",
                "number = \"15-00\"".into(),
                "15-00",
                "did.number",
            ),
            (
                "number = \"1500137\"",
                "number = \"1005\" # an extension".into(),
                "# an extension",
                "did.number",
            ),
            (
                "number = \"8001\"",
                "number = \"137\"".into(),
                "number = \"137\"",
                "conference.number",
            ),
            (
                "",
                "[[did]]\nnumber = \"+62211500137\" # 1500137 again\nflow = \"x\"\n".into(),
                "# 1500137 again",
                "did.number",
            ),
            (
                "",
                "[[did]]\nnumber = \"0211002\" # extension 1002\nflow = \"x\"\n".into(),
                "# extension 1002",
                "did.number",
            ),
            (
                "",
                "[[did]]\nnumber = \"1500138\" # nothing\n".into(),
                "# nothing",
                "did",
            ),
            (
                "",
                "[[did]]\nnumber = \"1500138\" # two\nflow = \"x\"\nqueue = \"pengaduan\"\n".into(),
                "# two",
                "did",
            ),
            (
                "",
                "[[did]]\nnumber = \"1500138\"\nextension = \"1999\"\n".into(),
                "extension = \"1999\"",
                "did.extension",
            ),
            (
                "",
                "[[did]]\nnumber = \"1500138\"\nqueue = \"pajak\"\n".into(),
                "queue = \"pajak\"",
                "did.queue",
            ),
            (
                "area_code = 21",
                "area_code = 7".into(),
                "area_code = 7",
                "numbering.area_code",
            ),
            ("", ext("1003", ""), "number = \"1003\"", "extension.number"),
            ("", ext("10a3", ""), "10a3", "extension.number"),
            (
                "",
                ext("7001", "contact = \"sip:7001@127.0.0.1;transport=sctp\"\n"),
                "contact",
                "extension.contact",
            ),
            (
                "",
                ext("7003", "tls_name = \"far.example\"\n"),
                "number = \"7003\"",
                "extension.tls_ca`/`tls_name",
            ),
            (
                "",
                ext("7002", "auth_password = \"secret-pw\"\n"),
                "7002",
                "extension.auth_password",
            ),
            (
                "",
                ext("7003", "digest_algorithms = [\"SHA-1\"]\n"),
                "SHA-1",
                "extension.digest_algorithms",
            ),
            (
                "",
                "[[queue]]\nname = \"pengaduan\"\n".into(),
                "name = \"pengaduan\"",
                "queue.name",
            ),
            (
                "",
                "[[monitoring.supervisor]]\nname = \"Dua\"\npin = \"1357\"\n".into(),
                "1357",
                "monitoring.supervisor.pin",
            ),
            (
                "",
                "[snmp]\nagentx = \"udp:127.0.0.1:705\"\n".into(),
                "agentx",
                "snmp.agentx",
            ),
            (
                "",
                format!("{peer}addresses = [\"127.0.0.1\",\n  \"gw.example\"]\n"),
                "gw.example",
                "trusted_peer.addresses",
            ),
            (
                "",
                format!("{peer}addresses = [\"127.0.0.1\"]\nroute_class = \"galactic\"\n"),
                "galactic",
                "trusted_peer.route_class",
            ),
            (
                "",
                "[[recording.rule]]\nqueue = \"pengaduan\"\nflow = \"x\"\npercent = 5\n".into(),
                "percent = 5",
                "recording.rule",
            ),
        ];
        for (from, to, marker, key) in cases {
            let text = if from.is_empty() {
                format!("{DEFAULT_TOML}\n{to}")
            } else {
                DEFAULT_TOML.replacen(from, &to, 1)
            };
            assert_ne!(text, DEFAULT_TOML, "{from}");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let line = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(marker))
                .last()
                .unwrap()
                .0
                + 1;
            assert!(
                e.starts_with(&format!("f.toml:{line}: key `{key}`")),
                "{to}: {e}"
            );
        }
    }

    /// The checked values come out plain: a trusted peer's addresses as
    /// networks, equal configurations equal.
    #[test]
    fn plain_values_out_of_the_loader() {
        let text = format!(
            "{DEFAULT_TOML}\n[[trusted_peer]]\nname = \"gw\"\naddresses = [\"203.0.113.9/28\", \"::1\"]\n"
        );
        let c = Config::parse(&text, "f.toml").unwrap();
        let p = &c.trusted_peers[0];
        assert_eq!(
            p.addresses,
            [
                "203.0.113.0/28".parse().unwrap(),
                "::1/128".parse().unwrap()
            ] as [ipnet::IpNet; 2]
        );
        assert_eq!(p.route_class, "internal");
        assert_eq!(c, Config::parse(&text, "other.toml").unwrap());
        assert_ne!(c, Config::embedded().unwrap());
    }

    /// DIDs carry their E.164 form with the box's area code (TEL-10), and
    /// a box elsewhere adds its own.
    #[test]
    fn dids_in_e164_with_the_area_code() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.numbering.area_code, 21);
        let e164: Vec<_> = c.dids.iter().map(|d| d.e164.as_str()).collect();
        assert_eq!(e164, ["+6221137", "+62211500137", "+628001500137"]);
        let bandung = DEFAULT_TOML.replacen("area_code = 21", "area_code = 22", 1);
        let c = Config::parse(&bandung, "f.toml").unwrap();
        assert_eq!(c.dids[1].e164, "+62221500137");
        assert_eq!(c.dids[1].number, "1500137", "shown as configured");
        // A DID rings a flow, an extension or a queue.
        let text = format!("{DEFAULT_TOML}\n[[did]]\nnumber = \"0215551002\"\nextension = \"1002\"\n\n[[did]]\nnumber = \"+62215551700\"\nqueue = \"pengaduan\"\n");
        let c = Config::parse(&text, "f.toml").unwrap();
        let targets: Vec<_> = c
            .dids
            .iter()
            .map(|d| (d.e164.as_str(), d.target.clone()))
            .collect();
        assert_eq!(
            targets[3..],
            [
                ("+62215551002", DidTarget::Extension("1002".into())),
                ("+62215551700", DidTarget::Queue("pengaduan".into())),
            ]
        );
        assert_eq!(c.dids[0].flow(), Some("layanan-pengaduan"));
        assert_eq!(c.dids[4].flow(), None);
    }

    /// The 1-based line of `text` containing `needle`.
    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let text = DEFAULT_TOML.replace("udp_port = 5060", "udp_port = 70000");
        let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
        let line = line_containing(&text, "70000");
        assert!(
            e.starts_with(&format!("f.toml:{line}: key `udp_port`")),
            "{e}"
        );
        let text = DEFAULT_TOML.replace("rtp_port_max = 29999", "rtp_port_max = 20001");
        let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
        let line = line_containing(&text, "rtp_port_max");
        assert!(
            e.contains("rtp_port_max") && e.starts_with(&format!("f.toml:{line}:")),
            "{e}"
        );
        let text = DEFAULT_TOML.replace("password = \"demo-1003\"", "password = \"x\"");
        let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
        assert!(e.contains("extension.password"), "{e}");
        let text = DEFAULT_TOML.replace("number = \"1004\"", "number = \"1003\"");
        assert!(Config::parse(&text, "f.toml")
            .unwrap_err()
            .to_string()
            .contains("defined twice"));
    }
}
