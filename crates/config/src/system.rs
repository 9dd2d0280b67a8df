//! `[system]`: the box's own settings an admin keeps from the web (issue
//! 15 §2): its time zone and the NTP servers chrony follows. The daemons
//! do not set the clock; webd writes the servers as a chrony sources file
//! (decision 0026).

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
}

impl Default for System {
    fn default() -> Self {
        System {
            time_zone: DEFAULT_TIME_ZONE.into(),
            ntp: Vec::new(),
            ntp_sources_dir: None,
        }
    }
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
