//! Messages in Bahasa Indonesia (the default) and English, and times in
//! the site's zone. Each module keeps its own messages as `Text` constants
//! beside the code that shows them (no shared catalogue file that every
//! helper edits), and picks one with `viewer.lang.t(&TEXT)`.

use axum::http::{header, HeaderMap};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

/// A user's language. Indonesian unless the user chose English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Id,
    En,
}

/// The cookie that carries the language to pages rendered before (or
/// without) a session: the login page and error pages.
pub const LANG_COOKIE: &str = "dering_lang";

impl Lang {
    /// The code stored in `users.lang` and the `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "id" => Some(Lang::Id),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The message in this language.
    pub fn t(self, text: &Text) -> &'static str {
        match self {
            Lang::Id => text.id,
            Lang::En => text.en,
        }
    }

    /// From the language cookie, else Indonesian.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        cookie(headers, LANG_COOKIE)
            .and_then(|v| Lang::parse(&v))
            .unwrap_or_default()
    }
}

/// One message in both languages.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub id: &'static str,
    pub en: &'static str,
}

/// The kinds of the configuration loader's refusals (`dering_config::
/// Reason`) in both languages: `{0}`, `{1}` stand for the reason's
/// values. English is the loader's own wording, as logged.
mod refusals {
    use super::Text;
    pub const SYNTAX: Text = Text {
        id: "penulisan TOML tidak sah ({0})",
        en: "{0}",
    };
    pub const UNKNOWN_KEY: Text = Text {
        id: "kunci `{0}` tidak dikenal",
        en: "unknown key `{0}`",
    };
    pub const MISSING_KEY: Text = Text {
        id: "kunci `{0}` wajib diisi",
        en: "missing key `{0}`",
    };
    pub const DUPLICATE: Text = Text {
        id: "\"{0}\" tercantum dua kali",
        en: "\"{0}\" is given twice",
    };
    pub const NO_SUCH: Text = Text {
        id: "tidak ada [[{0}]] bernama \"{1}\"",
        en: "no [[{0}]] named \"{1}\"",
    };
    pub const RANGE: Text = Text {
        id: "harus {0} sampai {1}",
        en: "{0} to {1}",
    };
    pub const NOT_A: Text = Text {
        id: "\"{0}\" bukan {1}",
        en: "\"{0}\" is not {1}",
    };
    pub const NOT_ONE_OF: Text = Text {
        id: "\"{0}\" bukan salah satu dari {1}",
        en: "\"{0}\" is not one of {1}",
    };
    pub const AT_MOST: Text = Text {
        id: "paling besar {0}",
        en: "at most {0}",
    };
    pub const AT_LEAST: Text = Text {
        id: "paling kecil {0}",
        en: "at least {0}",
    };
    pub const EVEN_AT_LEAST: Text = Text {
        id: "harus genap dan paling kecil {0}",
        en: "must be even and at least {0}",
    };
    pub const BELOW: Text = Text {
        id: "lebih kecil dari `{0}`",
        en: "below `{0}`",
    };
    pub const EMPTY: Text = Text {
        id: "tidak boleh kosong",
        en: "must not be empty",
    };
    pub const EXACTLY_ONE: Text = Text {
        id: "harus tepat satu dari {0}",
        en: "needs exactly one of {0}",
    };
    /// Between the keys of [`TOGETHER`].
    pub const AND: Text = Text {
        id: " dan ",
        en: " and ",
    };
    pub const TOGETHER: Text = Text {
        id: "{0} harus diisi bersama",
        en: "needs {0} together",
    };
    pub const NEEDED_BY: Text = Text {
        id: "wajib diisi untuk {0}",
        en: "needed by {0}",
    };
    pub const ONLY_WITH: Text = Text {
        id: "hanya boleh dengan {0}",
        en: "only allowed with {0}",
    };
    pub const LOOPBACK: Text = Text {
        id: "harus alamat loopback",
        en: "must be a loopback address",
    };
    pub const OVERLAP: Text = Text {
        id: "bertumpang tindih dengan {0}",
        en: "overlaps {0}",
    };
    pub const MUST_HOLD: Text = Text {
        id: "harus memuat `{0}`",
        en: "must hold `{0}`",
    };
    pub const MIN_CHARS: Text = Text {
        id: "minimal {0} karakter",
        en: "needs at least {0} characters",
    };
    pub const MUST_BE: Text = Text {
        id: "harus {0}",
        en: "must be {0}",
    };
    pub const ANY_OF: Text = Text {
        id: "perlu salah satu dari {0}",
        en: "needs one of {0}",
    };
    pub const SECRET: Text = Text {
        id: "bukan {0}",
        en: "is not {0}",
    };
    pub const INVALID: Text = Text {
        id: "bukan {0} yang sah ({1})",
        en: "not {0}: {1}",
    };
    /// A check without a kind of its own: its English words.
    pub const OTHER: Text = Text {
        id: "ditolak: {0}",
        en: "{0}",
    };
    pub const NAME: Text = Text {
        id: "nama 1 sampai 40 huruf, angka, - atau _",
        en: "a name of 1 to 40 letters, digits, - or _",
    };
    pub const DATE: Text = Text {
        id: "tanggal (YYYY-MM-DD)",
        en: "a date (YYYY-MM-DD)",
    };
    pub const HOURS: Text = Text {
        id: "jam mingguan (mon … sun, HH:MM sebelum HH:MM)",
        en: "weekly hours (mon … sun, HH:MM before HH:MM)",
    };
    pub const HOST: Text = Text {
        id: "nama host atau alamat",
        en: "a host name or address",
    };
    pub const TIME_ZONE: Text = Text {
        id: "salah satu dari Asia/Jakarta, Asia/Makassar, Asia/Jayapura",
        en: "one of Asia/Jakarta, Asia/Makassar, Asia/Jayapura",
    };
    pub const ABSOLUTE_PATH: Text = Text {
        id: "path absolut",
        en: "an absolute path",
    };
    pub const DIGITS: Text = Text {
        id: "angka saja",
        en: "digits",
    };
    pub const PIN: Text = Text {
        id: "PIN 4 sampai 12 angka",
        en: "a PIN of 4 to 12 digits",
    };
    pub const NUMBER: Text = Text {
        id: "nomor telepon",
        en: "a telephone number",
    };
    pub const FEATURE_CODE: Text = Text {
        id: "kode fitur (* dan angka)",
        en: "a feature code (* and digits)",
    };
    pub const HOST_PORT: Text = Text {
        id: "HOST:PORT",
        en: "HOST:PORT",
    };
    pub const URL: Text = Text {
        id: "URL http:// atau https://",
        en: "an http:// or https:// URL",
    };
    pub const JSON_POINTER: Text = Text {
        id: "JSON pointer (diawali /)",
        en: "a JSON pointer (starting with /)",
    };
    pub const TIMESLOTS: Text = Text {
        id: "timeslot 1-15 dan 17-31 (misalnya 1-15,17-31)",
        en: "timeslots 1-15 and 17-31 (like 1-15,17-31)",
    };
    pub const AGENTX: Text = Text {
        id: "tcp:HOST:PORT atau path socket",
        en: "tcp:HOST:PORT or a socket path",
    };
    pub const UTC_OFFSET: Text = Text {
        id: "selisih zona waktu",
        en: "the offset of the time zone",
    };
    pub const NETWORK: Text = Text {
        id: "jaringan atau alamat",
        en: "a network or an address",
    };
    pub const CONTACT: Text = Text {
        id: "kontak SIP",
        en: "a SIP contact",
    };
    pub const COUNTRY_CODE: Text = Text {
        id: "satu sampai tiga angka",
        en: "one to three digits",
    };
    pub const CALLER_ID: Text = Text {
        id: "nomor atau withheld",
        en: "a number or withheld",
    };
    pub const FAILOVER_CAUSE: Text = Text {
        id: "status atau sebab SIP",
        en: "a SIP status or cause",
    };
    pub const INTL_PREFIX: Text = Text {
        id: "2 sampai 4 angka",
        en: "2 to 4 digits",
    };
    pub const PREFIX: Text = Text {
        id: "awalan nomor (+62811, 112)",
        en: "a number prefix (+62811, 112)",
    };
    pub const WEIGHTS: Text = Text {
        id: "satu bobot minimal 1 per trunk",
        en: "one weight of at least 1 per trunk",
    };
    pub const AREA_CODE: Text = Text {
        id: "kode area tanpa 0 (21, 361)",
        en: "an area code without its 0 (21, 361)",
    };
    pub const AT: Text = Text {
        id: "{0} baris {1}, kunci `{2}`: {3}",
        en: "{0}:{1}: key `{2}`: {3}",
    };
    pub const AT_NO_KEY: Text = Text {
        id: "{0} baris {1}: {3}",
        en: "{0}:{1}: {3}",
    };
}

/// `template` with `{0}`, `{1}`, … replaced by `values`.
fn fill(template: &str, values: &[&str]) -> String {
    values
        .iter()
        .enumerate()
        .fold(template.to_string(), |s, (i, v)| {
            s.replace(&format!("{{{i}}}"), v)
        })
}

/// Why the configuration loader refused a value, in `lang`.
pub fn config_reason(lang: Lang, reason: &dering_config::Reason) -> String {
    use dering_config::{Format, Reason};
    let format = |f: &Format| match f {
        Format::Name => &refusals::NAME,
        Format::Date => &refusals::DATE,
        Format::Hours => &refusals::HOURS,
        Format::Host => &refusals::HOST,
        Format::TimeZone => &refusals::TIME_ZONE,
        Format::AbsolutePath => &refusals::ABSOLUTE_PATH,
        Format::Digits => &refusals::DIGITS,
        Format::Pin => &refusals::PIN,
        Format::Number => &refusals::NUMBER,
        Format::FeatureCode => &refusals::FEATURE_CODE,
        Format::HostPort => &refusals::HOST_PORT,
        Format::Url => &refusals::URL,
        Format::JsonPointer => &refusals::JSON_POINTER,
        Format::Timeslots => &refusals::TIMESLOTS,
        Format::Agentx => &refusals::AGENTX,
        Format::UtcOffset => &refusals::UTC_OFFSET,
        Format::Network => &refusals::NETWORK,
        Format::Contact => &refusals::CONTACT,
        Format::CountryCode => &refusals::COUNTRY_CODE,
        Format::CallerId => &refusals::CALLER_ID,
        Format::FailoverCause => &refusals::FAILOVER_CAUSE,
        Format::IntlPrefix => &refusals::INTL_PREFIX,
        Format::Prefix => &refusals::PREFIX,
        Format::Weights => &refusals::WEIGHTS,
        Format::AreaCode => &refusals::AREA_CODE,
        _ => &refusals::OTHER,
    };
    let t = |text: &Text, values: &[&str]| fill(lang.t(text), values);
    let list = |names: &[&str]| names.join(", ");
    match reason {
        Reason::Syntax(m) => fill(lang.t(&refusals::SYNTAX), &[m]),
        Reason::UnknownKey(k) => fill(lang.t(&refusals::UNKNOWN_KEY), &[k]),
        Reason::MissingKey(k) => fill(lang.t(&refusals::MISSING_KEY), &[k]),
        Reason::Duplicate(v) => fill(lang.t(&refusals::DUPLICATE), &[v]),
        Reason::NoSuch { table, name } => fill(lang.t(&refusals::NO_SUCH), &[table, name]),
        Reason::Range { min, max } => fill(
            lang.t(&refusals::RANGE),
            &[&min.to_string(), &max.to_string()],
        ),
        Reason::NotA { what, value } => {
            fill(lang.t(&refusals::NOT_A), &[value, lang.t(format(what))])
        }
        Reason::NotOneOf { value, allowed } => t(&refusals::NOT_ONE_OF, &[value, &list(allowed)]),
        Reason::AtMost(n) => t(&refusals::AT_MOST, &[&n.to_string()]),
        Reason::AtLeast(n) => t(&refusals::AT_LEAST, &[&n.to_string()]),
        Reason::EvenAtLeast(n) => t(&refusals::EVEN_AT_LEAST, &[&n.to_string()]),
        Reason::Below(k) => t(&refusals::BELOW, &[k]),
        Reason::Empty => t(&refusals::EMPTY, &[]),
        Reason::ExactlyOne(keys) => t(&refusals::EXACTLY_ONE, &[&list(keys)]),
        Reason::Together(keys) => t(&refusals::TOGETHER, &[&keys.join(lang.t(&refusals::AND))]),
        Reason::NeededBy(by) => t(&refusals::NEEDED_BY, &[by]),
        Reason::OnlyWith(with) => t(&refusals::ONLY_WITH, &[with]),
        Reason::Loopback => t(&refusals::LOOPBACK, &[]),
        Reason::Overlap(other) => t(&refusals::OVERLAP, &[other]),
        Reason::MustHold(what) => t(&refusals::MUST_HOLD, &[what]),
        Reason::MinChars(n) => t(&refusals::MIN_CHARS, &[&n.to_string()]),
        Reason::MustBe(v) => t(&refusals::MUST_BE, &[v]),
        Reason::AnyOf(keys) => t(&refusals::ANY_OF, &[&list(keys)]),
        Reason::Invalid { what, why } => t(&refusals::INVALID, &[lang.t(format(what)), why]),
        Reason::Secret(what) => t(&refusals::SECRET, &[lang.t(format(what))]),
        Reason::Other(m) => fill(lang.t(&refusals::OTHER), &[m]),
        other => fill(lang.t(&refusals::OTHER), &[&other.to_string()]),
    }
}

/// A refused document, with its file, line and key, in `lang` (a
/// restore); the English is the loader's message, as logged.
pub fn config_error(lang: Lang, e: &dering_config::ConfigError) -> String {
    if lang == Lang::En {
        return e.to_string();
    }
    match e {
        dering_config::ConfigError::Invalid {
            file,
            line,
            key,
            reason,
            ..
        } => {
            let template = if key.is_some() {
                &refusals::AT
            } else {
                &refusals::AT_NO_KEY
            };
            fill(
                lang.t(template),
                &[
                    file,
                    &line.to_string(),
                    key.as_deref().unwrap_or_default(),
                    &config_reason(lang, reason),
                ],
            )
        }
        other => other.to_string(),
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The zone the box shows times in: one of Indonesia's three, fixed
/// offsets all year (no daylight saving), from `[system] time_zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// Minutes east of UTC.
    pub offset_minutes: i32,
    /// WIB, WITA or WIT, as Indonesians write it after a time.
    pub abbreviation: &'static str,
}

impl Zone {
    /// Asia/Jakarta, the default.
    pub const WIB: Zone = Zone {
        offset_minutes: 7 * 60,
        abbreviation: "WIB",
    };

    /// The zone of an IANA name of `[system] time_zone`; WIB for a name
    /// the loader would not take (a stored version always passed it).
    pub fn named(name: &str) -> Zone {
        let abbreviation = |minutes: i32| match minutes {
            480 => "WITA",
            540 => "WIT",
            _ => "WIB",
        };
        dering_config::zone_offset(name)
            .map(|offset_minutes| Zone {
                offset_minutes,
                abbreviation: abbreviation(offset_minutes),
            })
            .unwrap_or(Zone::WIB)
    }

    pub fn offset(self) -> UtcOffset {
        UtcOffset::from_whole_seconds(self.offset_minutes * 60).unwrap_or(UtcOffset::UTC)
    }

    /// `at_ms` as `YYYY-MM-DD HH:MM:SS WITA`.
    pub fn time(self, at_ms: i64) -> String {
        match self.plain_time(at_ms) {
            Some(t) => format!("{t} {}", self.abbreviation),
            None => at_ms.to_string(),
        }
    }

    /// `at_ms` as `YYYY-MM-DD HH:MM:SS` in this zone, without its name
    /// (a CSV cell, whose column names the zone); `None` out of range.
    pub fn plain_time(self, at_ms: i64) -> Option<String> {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).ok()?;
        let t = t.to_offset(self.offset());
        Some(format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_jakarta() {
        // 2026-12-04 15:00:00 UTC is 22:00 in Jakarta.
        assert_eq!(Zone::WIB.time(1_796_396_400_000), "2026-12-04 22:00:00 WIB");
    }

    /// `[system] time_zone` picks the offset and the abbreviation.
    #[test]
    fn times_are_shown_in_the_box_s_zone_with_its_abbreviation() {
        let at = 1_796_396_400_000; // 2026-12-04 15:00:00 UTC
        let shown = |name: &str| Zone::named(name).time(at);
        assert_eq!(shown("Asia/Jakarta"), "2026-12-04 22:00:00 WIB");
        assert_eq!(shown("Asia/Makassar"), "2026-12-04 23:00:00 WITA");
        assert_eq!(shown("Asia/Jayapura"), "2026-12-05 00:00:00 WIT");
        assert_eq!(shown("Europe/Paris"), "2026-12-04 22:00:00 WIB");
    }

    fn refused(text: &str) -> dering_config::ConfigError {
        match dering_config::Config::parse(text, "dering.toml") {
            Err(e) => e,
            Ok(_) => panic!("not refused"),
        }
    }

    /// Every kind of the loader's refusal in both languages: Indonesian
    /// from the table, English the loader's words as the log has them.
    #[test]
    fn each_kind_of_configuration_refusal_reads_in_indonesian_and_english() {
        let demo = dering_config::DEFAULT_TOML;
        let cases: [(String, &str, &str); 8] = [
            (
                demo.replace("[sip]\n", "[sip]\nport_udp = 1\n"),
                "kunci `port_udp` tidak dikenal",
                "unknown field `port_udp`",
            ),
            (
                demo.replace("[sip]\n", "[sip\n"),
                "penulisan TOML tidak sah (",
                "invalid table header",
            ),
            (
                format!("{demo}\n[[calendar]]\nname = \"x\"\nholidays = [{{ date = \"2027-01-02\" }}]\n"),
                "kunci `name` wajib diisi",
                "missing field `name`",
            ),
            (
                demo.replace("percent = 100\nretention", "percent = 101\nretention"),
                "kunci `recording.percent`: harus 0 sampai 100",
                "key `recording.percent`: 0 to 100",
            ),
            (
                format!("{demo}\n[[calendar]]\nname = \"kantor\"\n"),
                "kunci `calendar.name`: \"kantor\" tercantum dua kali",
                "key `calendar.name`: \"kantor\" is given twice",
            ),
            (
                format!("{demo}\n[[recording.rule]]\ntrunk = \"x\"\npercent = 1\n"),
                "kunci `recording.rule.trunk`: tidak ada [[trunk]] bernama \"x\"",
                "key `recording.rule.trunk`: no [[trunk]] named \"x\"",
            ),
            (
                demo.replace("time_zone = \"Asia/Jakarta\"", "time_zone = \"WIB\""),
                "kunci `system.time_zone`: \"WIB\" bukan salah satu dari Asia/Jakarta",
                "key `system.time_zone`: \"WIB\" is not one of Asia/Jakarta",
            ),
            (
                demo.replace("rtp_port_min = 20000", "rtp_port_min = 20001"),
                "kunci `media.rtp_port_min`: harus genap dan paling kecil 1024",
                "key `media.rtp_port_min`: must be even",
            ),
        ];
        for (text, id, en) in cases {
            let e = refused(&text);
            let in_id = config_error(Lang::Id, &e);
            assert!(in_id.starts_with("dering.toml baris "), "{in_id}");
            assert!(in_id.contains(id), "{in_id}");
            let in_en = config_error(Lang::En, &e);
            assert!(in_en.contains(en), "{in_en}");
            // The English shown is the log's line.
            assert_eq!(in_en, e.to_string());
        }
    }

    /// Every kind of refusal the loader has (one example each, and
    /// "not a …" with every format) has its own Indonesian words, not
    /// the English ones behind "ditolak:", and the table's English is
    /// the loader's own (`Display`).
    #[test]
    fn every_reason_and_format_has_an_indonesian_message() {
        use dering_config::{Format, Reason};
        let formats = Format::ALL.iter().map(|f| Reason::NotA {
            what: *f,
            value: "x".into(),
        });
        let invalid = Format::ALL.iter().map(|f| Reason::Invalid {
            what: *f,
            why: "bad".into(),
        });
        let secret = Format::ALL.iter().map(|f| Reason::Secret(*f));
        for reason in Reason::examples()
            .into_iter()
            .chain(formats)
            .chain(invalid)
            .chain(secret)
        {
            let english = reason.to_string();
            let id = config_reason(Lang::Id, &reason);
            assert_eq!(config_reason(Lang::En, &reason), english, "{reason:?}");
            assert_ne!(id, english, "{reason:?}");
            // A syntax error and an unkinded refusal carry English words.
            if !matches!(reason, Reason::Other(_) | Reason::Syntax(_)) {
                assert!(!id.contains("ditolak"), "{reason:?}: {id}");
                assert!(!id.contains(&english), "{reason:?}: {id}");
            }
        }
    }

    #[test]
    fn the_language_cookie_picks_english_and_anything_else_indonesian() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Id);
        h.insert(header::COOKIE, "a=b; dering_lang=en".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(header::COOKIE, "dering_lang=fr".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Id);
    }
}
