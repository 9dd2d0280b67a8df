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
    /// A value not among the few the key takes.
    NotOneOf {
        /// Boxed, so that a refusal stays small (clippy's large `Err`).
        value: Box<str>,
        allowed: Box<[&'static str]>,
    },
    /// A number above `max`.
    AtMost(i64),
    /// A number below `min`.
    AtLeast(i64),
    /// A port that must be even (RTP pairs) and at least `min`.
    EvenAtLeast(i64),
    /// A number smaller than the one of another key, named.
    Below(String),
    /// A list or text that must not be empty.
    Empty,
    /// Exactly one of these keys must be given.
    ExactlyOne(Vec<&'static str>),
    /// These keys are given together or not at all.
    Together(Vec<&'static str>),
    /// A key needed by another choice, named (`sync.auth = "basic"`).
    NeededBy(String),
    /// A key only allowed with another choice, named.
    OnlyWith(String),
    /// An address that must be on the loopback interface.
    Loopback,
    /// A range that overlaps another one, named.
    Overlap(String),
    /// A text that must contain a placeholder, named.
    MustHold(String),
    /// A text shorter than `n` characters.
    MinChars(i64),
    /// A value that must be the one given (a value another key fixes).
    MustBe(String),
    /// At least one of these keys must be given.
    AnyOf(Vec<&'static str>),
    /// A value of `what` refused by its own parser, whose words (`why`,
    /// English, from another crate) say what is wrong.
    Invalid { what: Format, why: String },
    /// A secret (a PIN) that is not `what`; its value is never shown.
    Secret(Format),
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
    /// Digits only.
    Digits,
    /// A PIN: 4 to 12 digits.
    Pin,
    /// A telephone number.
    Number,
    /// A feature code: `*` and digits.
    FeatureCode,
    /// `HOST:PORT`.
    HostPort,
    /// An `http://` or `https://` URL.
    Url,
    /// A JSON pointer, starting with `/`.
    JsonPointer,
    /// Timeslots of an E1 span (`1-15,17-31`).
    Timeslots,
    /// `tcp:HOST:PORT` or a socket path.
    Agentx,
    /// An offset from UTC of one of Indonesia's zones, in minutes.
    UtcOffset,
    /// A network (`10.0.0.0/8`) or an address.
    Network,
    /// A SIP contact URI.
    Contact,
    /// One to three digits.
    CountryCode,
    /// A number or `withheld`.
    CallerId,
    /// A SIP status or cause a call fails over on.
    FailoverCause,
    /// Two to four digits.
    IntlPrefix,
    /// A number prefix (`+62811`, `112`).
    Prefix,
    /// One weight of at least 1 per trunk.
    Weights,
    /// An area code without its 0 (`21`, `361`).
    AreaCode,
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
            Format::Digits => "digits",
            Format::Pin => "a PIN of 4 to 12 digits",
            Format::Number => "a telephone number",
            Format::FeatureCode => "a feature code (* and digits)",
            Format::HostPort => "HOST:PORT",
            Format::Url => "an http:// or https:// URL",
            Format::JsonPointer => "a JSON pointer (starting with /)",
            Format::Timeslots => "timeslots 1-15 and 17-31 (like 1-15,17-31)",
            Format::Agentx => "tcp:HOST:PORT or a socket path",
            Format::UtcOffset => "the offset of the time zone",
            Format::Network => "a network or an address",
            Format::Contact => "a SIP contact",
            Format::CountryCode => "one to three digits",
            Format::CallerId => "a number or withheld",
            Format::FailoverCause => "a SIP status or cause",
            Format::IntlPrefix => "2 to 4 digits",
            Format::Prefix => "a number prefix (+62811, 112)",
            Format::Weights => "one weight of at least 1 per trunk",
            Format::AreaCode => "an area code without its 0 (21, 361)",
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
            Reason::NotOneOf { value, allowed } => {
                write!(f, "{value:?} is not one of {}", allowed.join(", "))
            }
            Reason::AtMost(max) => write!(f, "at most {max}"),
            Reason::AtLeast(min) => write!(f, "at least {min}"),
            Reason::EvenAtLeast(min) => write!(f, "must be even and at least {min}"),
            Reason::Below(other) => write!(f, "below `{other}`"),
            Reason::Empty => f.write_str("must not be empty"),
            Reason::ExactlyOne(keys) => write!(f, "needs exactly one of {}", keys.join(", ")),
            Reason::Together(keys) => write!(f, "needs {} together", keys.join(" and ")),
            Reason::NeededBy(by) => write!(f, "needed by {by}"),
            Reason::OnlyWith(with) => write!(f, "only allowed with {with}"),
            Reason::Loopback => f.write_str("must be a loopback address"),
            Reason::Overlap(other) => write!(f, "overlaps {other}"),
            Reason::MustHold(what) => write!(f, "must hold `{what}`"),
            Reason::MinChars(n) => write!(f, "needs at least {n} characters"),
            Reason::Secret(what) => write!(f, "is not {}", what.en()),
            Reason::MustBe(v) => write!(f, "must be {v}"),
            Reason::AnyOf(keys) => write!(f, "needs one of {}", keys.join(", ")),
            Reason::Invalid { what, why } => write!(f, "not {}: {why}", what.en()),
        }
    }
}

impl Format {
    /// Every format, for a table that must say each one (webd's i18n
    /// test); [`tests::every_format_is_listed`] keeps it whole.
    pub const ALL: [Format; 25] = [
        Format::Name,
        Format::Date,
        Format::Hours,
        Format::Host,
        Format::TimeZone,
        Format::AbsolutePath,
        Format::Digits,
        Format::Pin,
        Format::Number,
        Format::FeatureCode,
        Format::HostPort,
        Format::Url,
        Format::JsonPointer,
        Format::Timeslots,
        Format::Agentx,
        Format::UtcOffset,
        Format::Network,
        Format::Contact,
        Format::CountryCode,
        Format::CallerId,
        Format::FailoverCause,
        Format::IntlPrefix,
        Format::Prefix,
        Format::Weights,
        Format::AreaCode,
    ];
}

impl Reason {
    /// One reason of each kind with made-up values, so that a table of
    /// messages can be checked against every kind (webd's i18n test);
    /// [`tests::every_kind_has_an_example`] keeps it whole.
    pub fn examples() -> Vec<Reason> {
        vec![
            Reason::Syntax("expected `]`".into()),
            Reason::UnknownKey("port_udp".into()),
            Reason::MissingKey("name".into()),
            Reason::Duplicate("kantor".into()),
            Reason::NoSuch {
                table: "trunk",
                name: "x".into(),
            },
            Reason::Range { min: 0, max: 100 },
            Reason::NotA {
                what: Format::Date,
                value: "25-12-2026".into(),
            },
            Reason::NotOneOf {
                value: "fifo".into(),
                allowed: vec!["ringall", "linear"].into(),
            },
            Reason::AtMost(5000),
            Reason::AtLeast(1),
            Reason::EvenAtLeast(1024),
            Reason::Below("registrar.min_expires".into()),
            Reason::Empty,
            Reason::ExactlyOne(vec!["number", "prefix"]),
            Reason::Together(vec!["auth_user", "auth_password"]),
            Reason::NeededBy("sync.auth = \"basic\"".into()),
            Reason::OnlyWith("device = \"simulated\"".into()),
            Reason::Loopback,
            Reason::Overlap("media ports 20000-20100".into()),
            Reason::MustHold("{id}".into()),
            Reason::MinChars(8),
            Reason::Secret(Format::Pin),
            Reason::MustBe("420".into()),
            Reason::AnyOf(vec!["classes", "patterns"]),
            Reason::Invalid {
                what: Format::Hours,
                why: "08:00 is not before 07:00".into(),
            },
            Reason::Other("something else".into()),
        ]
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

    /// Fails to compile when a kind is added without an example: the
    /// match has no wildcard, and each arm's index must be listed.
    #[test]
    fn every_kind_has_an_example() {
        let seen: std::collections::BTreeSet<usize> = Reason::examples()
            .iter()
            .map(|r| match r {
                Reason::Syntax(_) => 0,
                Reason::UnknownKey(_) => 1,
                Reason::MissingKey(_) => 2,
                Reason::Duplicate(_) => 3,
                Reason::NoSuch { .. } => 4,
                Reason::Range { .. } => 5,
                Reason::NotA { .. } => 6,
                Reason::NotOneOf { .. } => 7,
                Reason::AtMost(_) => 8,
                Reason::AtLeast(_) => 9,
                Reason::EvenAtLeast(_) => 10,
                Reason::Below(_) => 11,
                Reason::Empty => 12,
                Reason::ExactlyOne(_) => 13,
                Reason::Together(_) => 14,
                Reason::NeededBy(_) => 15,
                Reason::OnlyWith(_) => 16,
                Reason::Loopback => 17,
                Reason::Overlap(_) => 18,
                Reason::MustHold(_) => 19,
                Reason::MinChars(_) => 20,
                Reason::MustBe(_) => 21,
                Reason::AnyOf(_) => 22,
                Reason::Invalid { .. } => 23,
                Reason::Secret(_) => 24,
                Reason::Other(_) => 25,
            })
            .collect();
        assert_eq!(seen.len(), 26);
    }

    #[test]
    fn every_format_is_listed() {
        let seen: std::collections::BTreeSet<usize> = Format::ALL
            .iter()
            .map(|f| match f {
                Format::Name => 0,
                Format::Date => 1,
                Format::Hours => 2,
                Format::Host => 3,
                Format::TimeZone => 4,
                Format::AbsolutePath => 5,
                Format::Digits => 6,
                Format::Pin => 7,
                Format::Number => 8,
                Format::FeatureCode => 9,
                Format::HostPort => 10,
                Format::Url => 11,
                Format::JsonPointer => 12,
                Format::Timeslots => 13,
                Format::Agentx => 14,
                Format::UtcOffset => 15,
                Format::Network => 16,
                Format::Contact => 17,
                Format::CountryCode => 18,
                Format::CallerId => 19,
                Format::FailoverCause => 20,
                Format::IntlPrefix => 21,
                Format::Prefix => 22,
                Format::Weights => 23,
                Format::AreaCode => 24,
            })
            .collect();
        assert_eq!(seen.len(), Format::ALL.len());
    }

    /// The checks of `load/*.rs` (trunks, trunkd's spans and lines,
    /// syncd) say their kind too, with the key, and keep their English.
    #[test]
    fn the_tables_checks_say_their_kind() {
        let line = "[[line]]\nname = \"co1\"\nchannel = 33\nnumber = \"137\"\n";
        let sync =
            "[sync]\nendpoint = \"http://127.0.0.1:8700\"\nauth = \"api_key\"\napi_key = \"k\"\n";
        let cases: [(String, &str, Reason, &str); 6] = [
            (
                DEFAULT_TOML.replace("codecs = [\"PCMA\", \"PCMU\"]", "codecs = [\"GSM\"]"),
                "trunk.codecs",
                Reason::NotOneOf {
                    value: "GSM".into(),
                    allowed: vec!["PCMA", "PCMU", "G722"].into(),
                },
                "\"GSM\" is not one of PCMA, PCMU, G722",
            ),
            (
                DEFAULT_TOML.replace("expires = 600", "expires = 5"),
                "trunk.expires",
                Reason::Range {
                    min: 60,
                    max: 86_400,
                },
                "60 to 86400 seconds",
            ),
            (
                format!("{DEFAULT_TOML}\n{line}busy_count = 11\n"),
                "line.busy_count",
                Reason::Range { min: 2, max: 10 },
                "between 2 and 10",
            ),
            (
                format!("{DEFAULT_TOML}\n{line}\n{line}"),
                "line.name",
                Reason::Duplicate("co1".into()),
                "`co1` twice",
            ),
            (
                format!("{DEFAULT_TOML}\n{}", sync.replace("http://", "ftp://")),
                "sync.endpoint",
                Reason::NotA {
                    what: Format::Url,
                    value: "ftp://127.0.0.1:8700".into(),
                },
                "is not an http:// or https:// URL",
            ),
            (
                format!("{DEFAULT_TOML}\n{}", sync.replace("api_key = \"k\"\n", "")),
                "sync.api_key",
                Reason::NeededBy("sync.auth = \"api_key\"".into()),
                "needed by this `sync.auth`",
            ),
        ];
        for (text, key, expected, english) in cases {
            let (got_key, reason, message) = refusal(&text);
            assert_eq!(got_key.as_deref(), Some(key), "{message}");
            assert_eq!(reason, expected, "{message}");
            assert!(message.contains(english), "{message}");
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
                "media.rtp_port_min",
                Reason::EvenAtLeast(1024),
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
