//! Carrier trunks, outbound routes and who may call out (TRK-3, TRK-4,
//! TEL-5; decision 0015), as plain values. The loader's checks are in
//! `load/trunks.rs`.
//!
//! A `[[trunk]]` is a carrier: where its calls go and how they are
//! written. A `[[route]]` says which dialled numbers leave through which
//! trunks, when, and on which failures the next trunk is tried. Who may
//! dial what is a permission (`dering_telco::Permission`) on each
//! extension, agent and queue's callbacks, checked before any route.

use dering_sip::transaction::Transport;
pub use dering_telco::{CarrierFormat, DialledClass, Permission};

/// A carrier trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// Names it in routes, call records and `dering trunks`.
    pub name: String,
    /// A disabled trunk is kept in the file but neither registers, nor is
    /// probed, nor carries calls (the demo's trunk, until configured).
    pub enabled: bool,
    pub kind: TrunkKind,
    /// The carrier's signalling host: an IP address, or a name resolved
    /// per RFC 3263 (NAPTR, SRV, then A/AAAA) when `port` is not given.
    pub host: String,
    /// Without it: SRV for a name, else 5060 (5061 over TLS).
    pub port: Option<u16>,
    pub transport: Transport,
    /// Sources accepted as this trunk's calls in (an `ip` trunk's only
    /// way to be recognised; a `register` trunk's carrier also reaches the
    /// box at the contact it registered). Disjoint from every other
    /// trunk's and trusted peer's.
    pub addresses: Vec<ipnet::IpNet>,
    /// Most calls at once, in and out (the contract's lines).
    pub channels: u32,
    /// Most new outbound calls per second; carriers refuse beyond their
    /// contract's rate.
    pub cps: u32,
    /// Codecs offered to the carrier, in order (`PCMA` first: Indonesia's
    /// trunks are A-law).
    pub codecs: Vec<String>,
    /// How called and calling numbers are written for this carrier.
    pub number_format: CarrierFormat,
    /// Put before numbers abroad in the national format (`001`, `007`).
    pub international_prefix: String,
    /// What the carrier is told about the caller.
    pub caller_id: CallerId,
    /// OPTIONS every this many seconds mark the trunk up or down; `None`
    /// probes nothing (the trunk is then always tried).
    pub keepalive_seconds: Option<u32>,
    /// Which failures mean trouble at this carrier, so a route tries its
    /// next trunk (unless the route sets its own list).
    pub failover_on: Vec<FailoverCause>,
    /// How a forwarded call names the extension it was forwarded from.
    pub redirect_header: RedirectHeader,
}

/// The header that tells the carrier a call was forwarded: carriers read
/// one or the other, rarely both, so each trunk says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectHeader {
    /// `Diversion` (RFC 5806), what most carriers still read.
    #[default]
    Diversion,
    /// `History-Info` (RFC 7044), the standard that replaced it.
    HistoryInfo,
}

impl RedirectHeader {
    pub fn from_name(name: &str) -> Option<RedirectHeader> {
        match name {
            "diversion" => Some(RedirectHeader::Diversion),
            "history-info" => Some(RedirectHeader::HistoryInfo),
            _ => None,
        }
    }
}

impl Trunk {
    /// The port to reach the carrier at when no SRV record is asked for.
    pub fn default_port(&self) -> u16 {
        self.port.unwrap_or(match self.transport {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        })
    }
}

/// How the carrier knows the trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrunkKind {
    /// The box registers with the carrier (and answers its challenges
    /// on calls with the same account).
    Register(TrunkAccount),
    /// The carrier knows the box by its address; no registration.
    Ip,
}

/// A registering trunk's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkAccount {
    /// The user of the address of record (`sip:username@host`).
    pub username: String,
    pub password: String,
    /// The digest user name when the carrier's differs from `username`.
    pub auth_username: Option<String>,
    /// Answer this realm only; without it, any realm the carrier names.
    pub realm: Option<String>,
    /// The expiry asked for, in seconds.
    pub expires: u32,
}

/// The caller-ID presentation on a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// The number presented (the agency's main number, E.164 or
    /// national); an extension's own `caller_id` wins. `None`: the
    /// account's user name for a registering trunk, else the caller's
    /// extension (which a carrier usually replaces).
    pub number: Option<String>,
    /// Where it is written, each at most once.
    pub headers: Vec<CallerIdHeader>,
}

/// Headers that carry the caller's identity to a carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallerIdHeader {
    /// The From's user part.
    From,
    /// `P-Asserted-Identity` (RFC 3325), what most carriers present.
    PAssertedIdentity,
    /// `Remote-Party-ID` (the draft older carriers still read).
    RemotePartyId,
}

impl CallerIdHeader {
    pub const ALL: [CallerIdHeader; 3] = [
        CallerIdHeader::From,
        CallerIdHeader::PAssertedIdentity,
        CallerIdHeader::RemotePartyId,
    ];

    /// The name in configuration: the header's, lower-cased.
    pub fn name(self) -> &'static str {
        match self {
            CallerIdHeader::From => "from",
            CallerIdHeader::PAssertedIdentity => "p-asserted-identity",
            CallerIdHeader::RemotePartyId => "remote-party-id",
        }
    }

    pub fn from_name(name: &str) -> Option<CallerIdHeader> {
        CallerIdHeader::ALL.into_iter().find(|h| h.name() == name)
    }
}

/// A failure through one trunk that sends the call on to the route's next
/// one. The callee's own answers (486 busy, 404, 484, 603 declined) are no
/// cause: another carrier would ring them again or pay a second failure,
/// so the configuration refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverCause {
    /// No answer in time, or the carrier could not be reached.
    Timeout,
    /// One status: 408, or one of 500–699 other than 603.
    Status(u16),
    /// Every 5xx (`5xx`).
    ServerError,
    /// Every 6xx other than 603 (`6xx`).
    GlobalFailure,
}

/// The causes a trunk fails over on unless configured: carrier trouble.
pub const DEFAULT_FAILOVER: [FailoverCause; 3] = [
    FailoverCause::Timeout,
    FailoverCause::Status(408),
    FailoverCause::ServerError,
];

impl FailoverCause {
    /// `timeout`, `5xx`, `6xx` or a status code; `Err` says why not.
    pub fn parse(s: &str) -> Result<FailoverCause, String> {
        let cause = match s {
            "timeout" => FailoverCause::Timeout,
            "5xx" => FailoverCause::ServerError,
            "6xx" => FailoverCause::GlobalFailure,
            _ => match s.parse::<u16>() {
                Ok(603) => {
                    return Err("603 (declined) is the callee's answer: never failed over".into())
                }
                Ok(code @ (408 | 500..=699)) => FailoverCause::Status(code),
                Ok(code @ 400..=499) => {
                    return Err(format!(
                        "{code} is about the called number or person: never failed over"
                    ))
                }
                _ => {
                    return Err(format!(
                        "{s:?} is not timeout, 5xx, 6xx, 408 or a 5xx/6xx code"
                    ))
                }
            },
        };
        Ok(cause)
    }

    /// Whether a try through a trunk that ended with `status` (`None`: a
    /// timeout or transport failure) is this cause.
    pub fn covers(self, status: Option<u16>) -> bool {
        match (self, status) {
            (FailoverCause::Timeout, None) => true,
            (FailoverCause::Status(c), Some(s)) => c == s,
            (FailoverCause::ServerError, Some(s)) => (500..=599).contains(&s),
            (FailoverCause::GlobalFailure, Some(s)) => (600..=699).contains(&s) && s != 603,
            _ => false,
        }
    }
}

/// An outbound route: the numbers it carries and through which trunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    /// The classes it carries; empty: any class its patterns match.
    pub classes: Vec<DialledClass>,
    /// Prefixes of the normalised number (`+62811`, `+1`, `112`); empty:
    /// any number of its classes.
    pub patterns: Vec<String>,
    /// The trunks tried, by name, each defined.
    pub trunks: Vec<String>,
    /// Each trunk's share of first tries; empty: in the order listed.
    pub weights: Vec<u32>,
    /// When the route applies, in local time (WIB by default); empty:
    /// always. Outside them the next route that matches is taken.
    pub windows: Vec<dering_flow::WeeklyHours>,
    /// Overrides the trunks' own `failover_on`; `Some([])`: never fail
    /// over.
    pub failover_on: Option<Vec<FailoverCause>>,
}

impl Route {
    /// Whether the route carries a number of `class` whose normalised
    /// form is `number` (time windows aside).
    pub fn carries(&self, class: DialledClass, number: &str) -> bool {
        (self.classes.is_empty() || self.classes.contains(&class))
            && (self.patterns.is_empty() || self.patterns.iter().any(|p| number.starts_with(p)))
    }
}

/// The box's place in the numbering plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbering {
    /// The box's own area code (`21`, Jakarta): a 7–8 digit number is a
    /// local line there, and `021…` costs a local call. Inbound numbers
    /// are normalised with it too.
    pub area_code: u16,
}

pub(crate) fn default_area_code() -> u16 {
    21
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            area_code: default_area_code(),
        }
    }
}

/// Outside calls against fraud: the burst alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// This many outside calls from one extension within
    /// `burst_seconds` raise the burst alarm (toll fraud places many
    /// calls fast from one hijacked phone); 0: off.
    pub burst_calls: u32,
    pub burst_seconds: u32,
}

pub(crate) fn default_burst_calls() -> u32 {
    10
}
pub(crate) fn default_burst_seconds() -> u32 {
    60
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            burst_calls: default_burst_calls(),
            burst_seconds: default_burst_seconds(),
        }
    }
}

/// What one extension (or agent) may dial out, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Outside calls at once; `None`: no limit but the trunks'.
    pub outside_calls: Option<u32>,
    /// Minutes of answered outside calls per day (WIB); `None`: no limit.
    pub outside_minutes_per_day: Option<u32>,
}

/// An extension's presented number: a number, or withheld (`Privacy: id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presentation {
    Number(String),
    Withheld,
}

/// A caller-ID number as configured: digits with an optional leading `+`.
pub(crate) fn is_presentable(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (3..=16).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, DEFAULT_TOML};

    const TRUNK: &str = "[[trunk]]\nname = \"telkom\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.0/29\"]\n";
    const TRUNK2: &str = "[[trunk]]\nname = \"indosat\"\nkind = \"register\"\nhost = \"sip.carrier.example\"\nusername = \"0215550000\"\npassword = \"carrier-pw\"\n";

    fn with(more: &str) -> String {
        format!("{DEFAULT_TOML}\n{more}")
    }

    /// The demo has a trunk, off until configured, and a route through it.
    #[test]
    fn the_demo_trunk_is_off() {
        let c = Config::embedded().unwrap();
        let t = &c.trunks[0];
        assert!(!t.enabled);
        assert!(matches!(t.kind, TrunkKind::Register(_)));
        assert_eq!(t.codecs[0], "PCMA");
        assert_eq!(c.routes[0].trunks, ["demo"]);
        assert_eq!(t.name, "demo");
        assert_eq!(c.numbering.area_code, 21);
        assert_eq!(c.extensions[0].permission, Permission::International);
        assert_eq!(c.extensions[9].permission, Permission::Internal);
    }

    /// Defaults of a minimal trunk and route, and every key read back.
    #[test]
    fn trunks_and_routes_read_back() {
        let text = with(&format!(
            "{TRUNK}{TRUNK2}port = 5070\ntransport = \"tls\"\nauth_username = \"u1\"\nrealm = \"carrier.example\"\nexpires = 900\nchannels = 60\ncps = 3\ncodecs = [\"PCMA\"]\nnumber_format = \"e164\"\ncaller_id = \"+62215550000\"\ncaller_id_headers = [\"p-asserted-identity\", \"remote-party-id\"]\nkeepalive_seconds = 0\nfailover_on = [\"timeout\", \"6xx\", \"502\"]\n\
             [[route]]\nname = \"mobile\"\nclasses = [\"mobile\", \"long_distance\"]\npatterns = [\"+6281\"]\ntrunks = [\"telkom\", \"indosat\"]\nweights = [3, 1]\nwindows = [{{ days = [\"mon\"], from = \"08:00\", to = \"16:00\" }}]\nfailover_on = []\n"
        ));
        let c = Config::parse(&text, "f.toml").unwrap();
        let ip = c.trunks.iter().find(|t| t.name == "telkom").unwrap();
        assert!(ip.enabled);
        assert_eq!(ip.kind, TrunkKind::Ip);
        assert_eq!(
            ip.addresses,
            ["192.0.2.0/29".parse::<ipnet::IpNet>().unwrap()]
        );
        assert_eq!(ip.transport, Transport::Udp);
        assert_eq!(ip.default_port(), 5060);
        assert_eq!(ip.codecs, ["PCMA", "PCMU"]);
        assert_eq!(ip.number_format, CarrierFormat::National);
        assert_eq!(ip.keepalive_seconds, Some(30));
        assert_eq!(ip.failover_on, DEFAULT_FAILOVER);
        assert_eq!(
            ip.caller_id.headers,
            [CallerIdHeader::From, CallerIdHeader::PAssertedIdentity]
        );
        let reg = c.trunks.iter().find(|t| t.name == "indosat").unwrap();
        let TrunkKind::Register(acct) = &reg.kind else {
            panic!("{reg:?}")
        };
        assert_eq!(acct.auth_username.as_deref(), Some("u1"));
        assert_eq!(acct.expires, 900);
        assert_eq!(reg.default_port(), 5070);
        assert_eq!(reg.transport, Transport::Tls);
        assert_eq!((reg.channels, reg.cps), (60, 3));
        assert_eq!(reg.number_format, CarrierFormat::E164);
        assert_eq!(reg.caller_id.number.as_deref(), Some("+62215550000"));
        assert_eq!(reg.keepalive_seconds, None);
        assert_eq!(
            reg.failover_on,
            [
                FailoverCause::Timeout,
                FailoverCause::GlobalFailure,
                FailoverCause::Status(502)
            ]
        );
        let r = c.routes.iter().find(|r| r.name == "mobile").unwrap();
        assert_eq!(
            r.classes,
            [DialledClass::Mobile, DialledClass::LongDistance]
        );
        assert_eq!(r.weights, [3, 1]);
        assert_eq!(r.failover_on, Some(vec![]));
        assert!(r.carries(DialledClass::Mobile, "+628123"));
        assert!(!r.carries(DialledClass::Mobile, "+628523"), "pattern");
        assert!(!r.carries(DialledClass::International, "+6281"), "class");
    }

    /// Permissions and limits on extensions, agents and queue callbacks.
    #[test]
    fn permissions_and_limits() {
        let text = with(
            "[[extension]]\nnumber = \"7001\"\nname = \"X\"\npassword = \"long-enough\"\npermission = \"national\"\nmax_outside_calls = 2\noutside_minutes_per_day = 120\ncaller_id = \"withheld\"\n\
             [[extension]]\nnumber = \"7002\"\nname = \"Y\"\npassword = \"long-enough\"\ncaller_id = \"0215550002\"\n\
             [outbound]\nburst_calls = 5\nburst_seconds = 30\n",
        )
        .replace("area_code = 21", "area_code = 22");
        let c = Config::parse(&text, "f.toml").unwrap();
        let e = c.extensions.iter().find(|e| e.number == "7001").unwrap();
        assert_eq!(e.permission, Permission::National);
        assert_eq!(
            e.limits,
            Limits {
                outside_calls: Some(2),
                outside_minutes_per_day: Some(120)
            }
        );
        assert_eq!(e.caller_id, Some(Presentation::Withheld));
        let e = c.extensions.iter().find(|e| e.number == "7002").unwrap();
        assert_eq!(e.permission, Permission::Internal, "the safe default");
        assert_eq!(e.caller_id, Some(Presentation::Number("0215550002".into())));
        assert_eq!(c.numbering.area_code, 22);
        assert_eq!((c.outbound.burst_calls, c.outbound.burst_seconds), (5, 30));
        assert_eq!(c.agents[0].permission, Some(Permission::National));
        assert_eq!(c.agents[1].permission, None);
        assert_eq!(c.queues[0].callback_permission, Permission::National);
    }

    /// A queue's backup number (OPS-3): none by default; when set, it
    /// takes callers when no agent is there, dialling nationally, unless
    /// configured otherwise.
    #[test]
    fn a_queues_backup_number() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.queues[0].backup_number, None);
        let text = with("[[queue]]\nname = \"q2\"\nbackup_number = \"+6281298765432\"\n\n[[queue]]\nname = \"q3\"\nbackup_number = \"0215559000\"\nbackup_when = \"leaving\"\nbackup_permission = \"local\"\n");
        let c = Config::parse(&text, "f.toml").unwrap();
        let q2 = c.queues.iter().find(|q| q.name == "q2").unwrap();
        assert_eq!(q2.backup_number.as_deref(), Some("+6281298765432"));
        assert_eq!(q2.backup_when, crate::BackupWhen::NoAgents);
        assert_eq!(q2.backup_permission, Permission::National);
        let q3 = c.queues.iter().find(|q| q.name == "q3").unwrap();
        assert_eq!(q3.backup_when, crate::BackupWhen::Leaving);
        assert_eq!(q3.backup_permission, Permission::Local);
    }

    /// Failover causes: carrier trouble only.
    #[test]
    fn failover_causes() {
        use FailoverCause::*;
        assert!(Timeout.covers(None));
        assert!(ServerError.covers(Some(503)));
        assert!(!ServerError.covers(Some(486)));
        assert!(GlobalFailure.covers(Some(600)));
        assert!(!GlobalFailure.covers(Some(603)));
        assert!(Status(408).covers(Some(408)));
        for never in ["486", "404", "484", "603", "480", "200", "busy"] {
            assert!(FailoverCause::parse(never).is_err(), "{never}");
        }
    }

    /// Each refusal names its line and key. `bad` is appended to the demo;
    /// `marker` is on the refused line (its last occurrence).
    #[test]
    fn each_refusal_names_its_line_and_key() {
        let route = "[[route]]\nname = \"r\"\n";
        let cases: Vec<(String, &str, &str)> = vec![
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"nowhere\"]\n"), "nowhere", "route.trunks"),
            (format!("{TRUNK}{route}trunks = [\"telkom\"]\n"), "name = \"r\"", "route"),
            (format!("{TRUNK}{route}classes = [\"cheap\"]\ntrunks = [\"telkom\"]\n"), "cheap", "route.classes"),
            (format!("{TRUNK}{route}classes = [\"invalid\"]\ntrunks = [\"telkom\"]\n"), "invalid", "route.classes"),
            (format!("{TRUNK}{route}patterns = [\"08x\"]\ntrunks = [\"telkom\"]\n"), "08x", "route.patterns"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = []\n"), "trunks = []", "route.trunks"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"telkom\", \"telkom\"]\n"), "trunks =", "route.trunks"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"telkom\"]\nweights = [1, 2]\n"), "weights", "route.weights"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"telkom\"]\nweights = [0]\n"), "weights", "route.weights"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"telkom\"]\nfailover_on = [\"486\"]\n"), "486", "route.failover_on"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"telkom\"]\nwindows = [{{ days = [\"fri\"], from = \"17:00\", to = \"08:00\" }}]\n"), "windows", "route.windows"),
            (format!("{TRUNK}{route}classes = [\"mobile\"]\ntrunks = [\"telkom\"]\n{route}classes = [\"local\"]\ntrunks = [\"telkom\"]\n"), "name = \"r\"", "route.name"),
            (format!("{TRUNK}{TRUNK}"), "name = \"telkom\"", "trunk.name"),
            ("[[trunk]]\nname = \"a b\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\n".into(), "a b", "trunk.name"),
            ("[[trunk]]\nname = \"a\"\nkind = \"peer\"\nhost = \"192.0.2.1\"\n".into(), "peer", "trunk.kind"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\n".into(), "name = \"a\"", "trunk.addresses"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"carrier.example\"]\n".into(), "carrier.example", "trunk.addresses"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\nusername = \"u\"\n".into(), "name = \"a\"", "trunk.username"),
            ("[[trunk]]\nname = \"a\"\nkind = \"register\"\nhost = \"192.0.2.1\"\nusername = \"u\"\n".into(), "name = \"a\"", "trunk.password"),
            ("[[trunk]]\nname = \"a\"\nkind = \"register\"\nhost = \"192.0.2.1\"\nusername = \"u\"\npassword = \"p\"\nexpires = 10\n".into(), "expires", "trunk.expires"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"bad host!\"\naddresses = [\"192.0.2.1\"]\n".into(), "bad host", "trunk.host"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\nport = 0\naddresses = [\"192.0.2.1\"]\n".into(), "port = 0", "trunk.port"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\ntransport = \"sctp\"\naddresses = [\"192.0.2.1\"]\n".into(), "sctp", "trunk.transport"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\nchannels = 0\n".into(), "channels", "trunk.channels"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ncps = 0\n".into(), "cps", "trunk.cps"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ncodecs = [\"opus\"]\n".into(), "opus", "trunk.codecs"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ncodecs = []\n".into(), "codecs", "trunk.codecs"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\nnumber_format = \"local\"\n".into(), "number_format", "trunk.number_format"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ninternational_prefix = \"+\"\n".into(), "international_prefix", "trunk.international_prefix"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ncaller_id = \"kantor\"\n".into(), "kantor", "trunk.caller_id"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ncaller_id_headers = [\"from\", \"from\"]\n".into(), "caller_id_headers", "trunk.caller_id_headers"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\ncaller_id_headers = [\"contact\"]\n".into(), "caller_id_headers", "trunk.caller_id_headers"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\nredirect_header = \"diversion-info\"\n".into(), "redirect_header", "trunk.redirect_header"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\nkeepalive_seconds = 2\n".into(), "keepalive", "trunk.keepalive_seconds"),
            ("[[trunk]]\nname = \"a\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\nfailover_on = [\"404\"]\n".into(), "404", "trunk.failover_on"),
            (format!("{TRUNK}[[trunk]]\nname = \"b\"\nkind = \"ip\"\nhost = \"192.0.2.9\"\naddresses = [\"192.0.2.4\"]\n"), "192.0.2.4", "trunk.addresses"),
            (format!("{TRUNK}[[trusted_peer]]\nname = \"gw\"\naddresses = [\"192.0.2.2\"]\n"), "192.0.2.0/29", "trunk.addresses"),
            ("[[extension]]\nnumber = \"7001\"\nname = \"X\"\npassword = \"long-enough\"\npermission = \"galactic\"\n".into(), "galactic", "extension.permission"),
            ("[[extension]]\nnumber = \"7001\"\nname = \"X\"\npassword = \"long-enough\"\ncaller_id = \"02x\"\n".into(), "02x", "extension.caller_id"),
            ("[[agent]]\nid = \"2009\"\nname = \"X\"\npin = \"1234\"\npermission = \"world\"\n".into(), "world", "agent.permission"),
            ("[[queue]]\nname = \"q2\"\ncallback_permission = \"everything\"\n".into(), "everything", "queue.callback_permission"),
            ("[[queue]]\nname = \"q2\"\nbackup_number = \"0812-x\"\n".into(), "0812-x", "queue.backup_number"),
            ("[[queue]]\nname = \"q2\"\nbackup_when = \"sometimes\"\n".into(), "sometimes", "queue.backup_when"),
            ("[[queue]]\nname = \"q2\"\nbackup_permission = \"moon\"\n".into(), "moon", "queue.backup_permission"),
            ("[numbering]\narea_code = 0\n".into(), "area_code", "numbering.area_code"),
            ("[outbound]\nburst_calls = 3\nburst_seconds = 0\n".into(), "burst_seconds", "outbound.burst_seconds"),
        ];
        for (bad, marker, key) in cases {
            // The demo has a [numbering] table: edit it, not a second.
            let text = match bad.strip_prefix("[numbering]\n") {
                Some(line) => DEFAULT_TOML.replace("area_code = 21\n", line),
                None => with(&bad),
            };
            let e = match Config::parse(&text, "f.toml") {
                Ok(_) => panic!("accepted: {bad}"),
                Err(e) => e.to_string(),
            };
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
                "{bad}: {e}"
            );
        }
    }
}
