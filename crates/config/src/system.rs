//! `[system]`: the box's own settings an admin keeps from the web (issue
//! 15 §2): its time zone and the NTP servers chrony follows. The daemons
//! do not set the clock; webd writes the servers as a chrony sources file
//! (decision 0026). First-boot setup (issue 17 §3, decision 0034) adds
//! the host name, the agency's name and the wired ports' addressing,
//! which `dering system apply` renders for the read-only image at boot.

use std::net::IpAddr;
use std::path::PathBuf;

/// Indonesia's zones (fixed offsets, no daylight saving) by their IANA
/// name, with the offset in minutes.
pub const TIME_ZONES: [(&str, i32); 3] = [
    ("Asia/Jakarta", 7 * 60),
    ("Asia/Makassar", 8 * 60),
    ("Asia/Jayapura", 9 * 60),
];

/// The zone the box runs in when nothing is written: WIB.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Jakarta";

/// The offset of zone `name`, if it is one of [`TIME_ZONES`].
pub fn zone_offset(name: &str) -> Option<i32> {
    TIME_ZONES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, off)| *off)
}

/// How many NTP servers a box follows at most (chrony wants a few).
pub const MAX_NTP_SERVERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    /// An IANA name of [`TIME_ZONES`]; business hours and flows follow it.
    pub time_zone: String,
    /// Host names or addresses of NTP servers; empty leaves chrony's own.
    pub ntp: Vec<String>,
    /// Where the chrony sources file `dering.sources` is written:
    /// `/etc/chrony/sources.d` on the appliance; none, the data directory
    /// (a demo or a test box never touches the host's chrony).
    pub ntp_sources_dir: Option<PathBuf>,
    /// The box's host name; none keeps the image's own (`dering`).
    pub host_name: Option<String>,
    /// The agency the box serves (its name as people know it).
    pub agency: Option<String>,
    /// How the wired ports get their address (`[[system.network]]`);
    /// empty: DHCP on every wired port, as the image boots.
    pub network: Vec<Network>,
}

impl Default for System {
    fn default() -> Self {
        System {
            time_zone: DEFAULT_TIME_ZONE.into(),
            ntp: Vec::new(),
            ntp_sources_dir: None,
            host_name: None,
            agency: None,
            network: Vec::new(),
        }
    }
}

/// One `[[system.network]]`: a wired port's addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The port's name (`enp1s0`); none: every wired port.
    pub port: Option<String>,
    /// DHCP, or the static address below.
    pub dhcp: bool,
    /// The static address with its prefix (`192.0.2.10/24`).
    pub address: Option<ipnet::IpNet>,
    pub gateway: Option<IpAddr>,
    pub dns: Vec<IpAddr>,
}

/// How many DNS servers a port may name.
pub const MAX_DNS_SERVERS: usize = 3;

/// Whether `s` is a host name (RFC 1123 labels of letters, digits and
/// `-`, dot-separated): it is written into `/run` and the DHCP request.
pub fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Whether `s` may name a network port (as the kernel allows: 1 to 15
/// characters, none of them `/`, space or `:`; kept to the safe ones).
pub fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether `s` may stand in a chrony `server` line: a host name or an
/// address, nothing that could start another directive.
pub fn is_ntp_server(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

#[cfg(test)]
mod tests {
    use crate::{Config, DEFAULT_TOML};

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn the_zone_decides_the_flows_offset_and_an_older_offset_alone_still_works() {
        let c = Config::parse(DEFAULT_TOML, "f.toml").unwrap();
        assert_eq!(c.system.time_zone, "Asia/Jakarta");
        assert_eq!(c.flows.utc_offset_minutes, 420);
        assert!(c.system.ntp.is_empty() && c.system.ntp_sources_dir.is_none());
        let wita = DEFAULT_TOML.replace(
            "time_zone = \"Asia/Jakarta\"\nntp = []",
            "time_zone = \"Asia/Makassar\"\nntp = [\"ntp.bmkg.go.id\", \"192.0.2.123\"]\n\
             ntp_sources_dir = \"/etc/chrony/sources.d\"",
        );
        let c = Config::parse(&wita, "f.toml").unwrap();
        assert_eq!(c.flows.utc_offset_minutes, 480);
        assert_eq!(c.system.ntp, ["ntp.bmkg.go.id", "192.0.2.123"]);
        // A file of before [system]: the offset alone names its zone.
        let older = DEFAULT_TOML
            .replace("[system]\ntime_zone = \"Asia/Jakarta\"\nntp = []\n", "")
            .replace("[flows]\n", "[flows]\nutc_offset_minutes = 540\n");
        let c = Config::parse(&older, "f.toml").unwrap();
        assert_eq!(c.system.time_zone, "Asia/Jayapura");
        assert_eq!(c.flows.utc_offset_minutes, 540);
    }

    #[test]
    fn setup_writes_host_name_agency_ports_and_snmp_access() {
        let text = DEFAULT_TOML.replace(
            "time_zone = \"Asia/Jakarta\"\nntp = []\n",
            "time_zone = \"Asia/Jakarta\"\nntp = []\nhost_name = \"pbx-jkt\"\n\
             agency = \"Ombudsman RI\"\n\
             [[system.network]]\nport = \"enp1s0\"\ndhcp = false\naddress = \"192.0.2.10/24\"\n\
             gateway = \"192.0.2.1\"\ndns = [\"192.0.2.53\"]\n\
             [[system.network]]\nport = \"enp2s0\"\ndhcp = true\n",
        ) + "\n[snmp]\nagentx = \"tcp:127.0.0.1:705\"\ncommunity = \"rahasia\"\n";
        let c = Config::parse(&text, "f.toml").unwrap();
        assert_eq!(c.system.host_name.as_deref(), Some("pbx-jkt"));
        assert_eq!(c.system.agency.as_deref(), Some("Ombudsman RI"));
        let n = &c.system.network;
        assert_eq!(n.len(), 2);
        assert_eq!(
            (n[0].dhcp, n[0].address.map(|a| a.to_string())),
            (false, Some("192.0.2.10/24".into()))
        );
        assert_eq!(n[0].dns, [std::net::IpAddr::from([192, 0, 2, 53])]);
        assert!(n[1].dhcp && n[1].address.is_none());
        assert_eq!(
            c.snmp.unwrap().access,
            Some(crate::SnmpAccess::Community("rahasia".into()))
        );
    }

    #[test]
    fn bad_setup_settings_name_their_key() {
        let cases = [
            ("host_name = \"bad name\"", "system.host_name"),
            ("agency = \" \"", "system.agency"),
            ("[[system.network]]\ndhcp = false", "system.network.address"),
            (
                "[[system.network]]\ndhcp = true\naddress = \"192.0.2.1/24\"",
                "system.network.address",
            ),
            (
                "[[system.network]]\ndhcp = false\naddress = \"192.0.2.300/24\"",
                "system.network.address",
            ),
            (
                "[[system.network]]\ndhcp = false\naddress = \"192.0.2.1/24\"\ngateway = \"x\"",
                "system.network.gateway",
            ),
            (
                "[[system.network]]\nport = \"en p1\"\ndhcp = true",
                "system.network.port",
            ),
            (
                "[[system.network]]\ndhcp = true\n[[system.network]]\ndhcp = true",
                "system.network.port",
            ),
        ];
        for (body, key) in cases {
            let text = DEFAULT_TOML.replace(
                "time_zone = \"Asia/Jakarta\"\nntp = []\n",
                &format!("time_zone = \"Asia/Jakarta\"\nntp = []\n{body}\n"),
            );
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            assert!(e.contains(&format!("key `{key}`")), "{body}: {e}");
        }
        for (body, key) in [
            ("community = \"a b\"", "snmp.community"),
            ("v3_user = \"noc\"", "snmp.v3_user"),
            ("v3_user = \"noc\"\nv3_auth_password = \"short\"\nv3_priv_password = \"longenough\"", "snmp.v3_auth_password"),
        ] {
            let text = format!("{DEFAULT_TOML}\n[snmp]\nagentx = \"tcp:127.0.0.1:705\"\n{body}\n");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            assert!(e.contains(&format!("key `{key}`")), "{body}: {e}");
        }
    }

    #[test]
    fn bad_system_settings_name_line_and_key() {
        let cases = [
            (
                "time_zone = \"Asia/Jakarta\"",
                "time_zone = \"Europe/Paris\"",
                "system.time_zone",
            ),
            ("ntp = []", "ntp = [\"pool ntp\"]", "system.ntp"),
            ("ntp = []", "ntp = [\"-x\"]", "system.ntp"),
            (
                "ntp = []",
                "ntp = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\"]",
                "system.ntp",
            ),
            (
                "ntp = []",
                "ntp_sources_dir = \"sources.d\"",
                "system.ntp_sources_dir",
            ),
            (
                "[flows]\n",
                "[flows]\nutc_offset_minutes = 480\n",
                "flows.utc_offset_minutes",
            ),
        ];
        for (from, to, key) in cases {
            let text = DEFAULT_TOML.replacen(from, to, 1);
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let needle = to.lines().last().unwrap_or(to);
            let line = line_containing(&text, needle);
            assert!(
                e.starts_with(&format!("f.toml:{line}: key `{key}`")),
                "{to}: {e}"
            );
        }
    }
}
