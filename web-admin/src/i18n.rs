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
    /// A check without a kind of its own yet: its English words.
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
        _ => &refusals::OTHER,
    };
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

/// The site's zone: Asia/Jakarta (WIB), UTC+7 all year (no daylight
/// saving in Indonesia, so a fixed offset is exact).
pub const SITE_OFFSET_HOURS: i8 = 7;

/// `at_ms` as `YYYY-MM-DD HH:MM:SS WIB`.
pub fn local_time(at_ms: i64) -> String {
    let offset = UtcOffset::from_hms(SITE_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC);
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000) else {
        return at_ms.to_string();
    };
    let t = t.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} WIB",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_jakarta() {
        // 2026-12-04 15:00:00 UTC is 22:00 in Jakarta.
        assert_eq!(local_time(1_796_396_400_000), "2026-12-04 22:00:00 WIB");
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
                "kunci `media.rtp_port_min`: ditolak: must be even",
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
