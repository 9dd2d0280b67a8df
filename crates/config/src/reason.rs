//! What a refusal of the loader is about, typed, so that a user interface
//! says it in the user's language from a table (webd's `i18n`) rather
//! than by reading the English words. The English text, kept in logs and
//! in `ConfigError`'s message, is this type's `Display`.

use std::fmt;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Not TOML, or a value of the wrong type: the reader's own words.
    Syntax(String),
    /// A key the table does not have (a typo, usually).
    UnknownKey(String),
    /// A key the table must have.
    MissingKey(String),
    /// A name or value given twice where it must be unique.
    Duplicate(String),
    /// A reference to an entry that does not exist: `table` is the TOML
    /// table (`trunk`), `name` the name given.
    NoSuch { table: &'static str, name: String },
    /// A number outside `min ..= max`.
    Range { min: i64, max: i64 },
    /// A value that is not what the key holds.
    NotA { what: Format, value: String },
    /// A check without a kind of its own yet: its English words.
    Other(String),
}

/// What a value should have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// 1 to 40 letters, digits, `-` or `_`.
    Name,
    /// `YYYY-MM-DD`.
    Date,
    /// Days and `HH:MM` times of weekly hours.
    Hours,
    /// An NTP server: a host name or an address.
    Host,
    /// One of Indonesia's zones.
    TimeZone,
    AbsolutePath,
}

impl Format {
    fn en(self) -> &'static str {
        match self {
            Format::Name => "a name of 1 to 40 letters, digits, - or _",
            Format::Date => "a date (YYYY-MM-DD)",
            Format::Hours => "weekly hours (mon … sun, HH:MM before HH:MM)",
            Format::Host => "a host name or address",
            Format::TimeZone => "one of Asia/Jakarta, Asia/Makassar, Asia/Jayapura",
            Format::AbsolutePath => "an absolute path",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Syntax(m) | Reason::Other(m) => f.write_str(m),
            Reason::UnknownKey(k) => write!(f, "unknown key `{k}`"),
            Reason::MissingKey(k) => write!(f, "missing key `{k}`"),
            Reason::Duplicate(v) => write!(f, "{v:?} is given twice"),
            Reason::NoSuch { table, name } => write!(f, "no [[{table}]] named {name:?}"),
            Reason::Range { min, max } => write!(f, "{min} to {max}"),
            Reason::NotA { what, value } => write!(f, "{value:?} is not {}", what.en()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Format, Reason};
    use crate::{Config, ConfigError, DEFAULT_TOML};

    fn refusal(text: &str) -> (Option<String>, Reason, String) {
        match Config::parse(text, "f.toml") {
            Err(ConfigError::Invalid {
                key,
                reason,
                message,
                ..
            }) => (key, reason, message),
            other => panic!("not refused: {other:?}"),
        }
    }

    /// Each kind of refusal comes typed with its key, and its English
    /// words (the log's) are the reason's.
    #[test]
    fn every_kind_of_refusal_is_typed_with_its_key() {
        let cases: [(String, &str, Reason); 8] = [
            (
                DEFAULT_TOML.replace("[sip]\n", "[sip\n"),
                "",
                Reason::Syntax(String::new()),
            ),
            (
                DEFAULT_TOML.replace("[sip]\n", "[sip]\nport_udp = 1\n"),
                "port_udp",
                Reason::UnknownKey("port_udp".into()),
            ),
            (
                DEFAULT_TOML.replace("percent = 100\nretention", "percent = 101\nretention"),
                "recording.percent",
                Reason::Range { min: 0, max: 100 },
            ),
            (
                format!("{DEFAULT_TOML}\n[[calendar]]\nname = \"kantor\"\n"),
                "calendar.name",
                Reason::Duplicate("kantor".into()),
            ),
            (
                format!("{DEFAULT_TOML}\n[[recording.rule]]\ntrunk = \"x\"\npercent = 1\n"),
                "recording.rule.trunk",
                Reason::NoSuch {
                    table: "trunk",
                    name: "x".into(),
                },
            ),
            (
                DEFAULT_TOML.replace("2026-12-25", "25-12-2026"),
                "calendar.holidays.date",
                Reason::NotA {
                    what: Format::Date,
                    value: "25-12-2026".into(),
                },
            ),
            (
                format!("{DEFAULT_TOML}\n[[calendar]]\nname = \"x\"\nholidays = [{{ date = \"2027-01-02\" }}]\n"),
                "",
                Reason::MissingKey("name".into()),
            ),
            (
                DEFAULT_TOML.replace("rtp_port_min = 20000", "rtp_port_min = 20001"),
                "",
                Reason::Other(String::new()),
            ),
        ];
        for (text, key, expected) in cases {
            let (got_key, reason, message) = refusal(&text);
            if !key.is_empty() {
                assert_eq!(got_key.as_deref(), Some(key), "{message}");
            }
            if !matches!(
                reason,
                Reason::Syntax(_)
                    | Reason::Other(_)
                    | Reason::UnknownKey(_)
                    | Reason::MissingKey(_)
            ) {
                assert_eq!(message, format!("key `{key}`: {reason}"));
            }
            let same_kind = std::mem::discriminant(&reason) == std::mem::discriminant(&expected);
            assert!(same_kind, "{message}: {reason:?}");
            if !matches!(expected, Reason::Syntax(_) | Reason::Other(_)) {
                assert_eq!(reason, expected, "{message}");
            }
        }
    }
}
