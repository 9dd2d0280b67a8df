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
