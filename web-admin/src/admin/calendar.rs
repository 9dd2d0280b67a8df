//! The business-hours screen's two fields as text an admin types, one
//! line each, and back: `mon-fri 08:00-16:00` for weekly hours (WIB) and
//! `2026-12-25 Hari Raya Natal` for a holiday. A line that does not read
//! is refused here with its field named; dates and times that read but
//! are wrong (`2026-02-30`, `17:00-16:00`) are the loader's to refuse.

use toml_edit::{Array, InlineTable, Value};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Why a line was refused: the line's number (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(['\n', ';'])
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| (i + 1, l))
}

/// `mon-fri 08:00-16:00` or `mon wed, fri 08:00-12:00` as weekly hours.
pub fn hours(text: &str) -> Result<Value, LineError> {
    let mut out = Array::new();
    for (line, l) in lines(text) {
        let err = |message: String| LineError { line, message };
        let (days_text, range) = l
            .rsplit_once(char::is_whitespace)
            .ok_or_else(|| err(format!("{l:?}: write days then HH:MM-HH:MM")))?;
        let (from, to) = range
            .split_once('-')
            .ok_or_else(|| err(format!("{range:?} is not HH:MM-HH:MM")))?;
        let mut days = Array::new();
        for part in days_text
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let index = |d: &str| {
                DAYS.iter()
                    .position(|x| *x == d.to_ascii_lowercase())
                    .ok_or_else(|| err(format!("{d:?} is not a day (mon … sun)")))
            };
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (index(a)?, index(b)?),
                None => (index(part)?, index(part)?),
            };
            if a > b {
                return Err(err(format!("{part:?}: the days run backwards")));
            }
            for d in &DAYS[a..=b] {
                days.push(*d);
            }
        }
        if days.is_empty() {
            return Err(err(format!("{l:?}: no days")));
        }
        let mut t = InlineTable::new();
        t.insert("days", Value::Array(days));
        t.insert("from", Value::from(from.trim()));
        t.insert("to", Value::from(to.trim()));
        out.push(Value::InlineTable(t));
    }
    Ok(Value::Array(out))
}

/// `2026-12-25 Hari Raya Natal` as holidays.
pub fn holidays(text: &str) -> Result<Value, LineError> {
    let mut out = Array::new();
    for (line, l) in lines(text) {
        let (date, name) = l.split_once(char::is_whitespace).ok_or_else(|| LineError {
            line,
            message: format!("{l:?}: write the date (YYYY-MM-DD) then the holiday's name"),
        })?;
        let mut t = InlineTable::new();
        t.insert("date", Value::from(date.trim()));
        t.insert("name", Value::from(name.trim()));
        out.push(Value::InlineTable(t));
    }
    Ok(Value::Array(out))
}

fn string(t: &InlineTable, key: &str) -> String {
    t.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Stored hours as the form's lines, consecutive days as a range.
pub fn show_hours(v: &Value) -> String {
    let Some(list) = v.as_array() else {
        return String::new();
    };
    list.iter()
        .filter_map(Value::as_inline_table)
        .map(|t| {
            let days: Vec<&str> = t
                .get("days")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "{} {}-{}",
                day_ranges(&days),
                string(t, "from"),
                string(t, "to")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `mon tue wed fri` as `mon-wed fri`.
fn day_ranges(days: &[&str]) -> String {
    let idx: Vec<Option<usize>> = days
        .iter()
        .map(|d| DAYS.iter().position(|x| x == d))
        .collect();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && matches!((idx[j], idx[j + 1]), (Some(a), Some(b)) if b == a + 1)
        {
            j += 1;
        }
        parts.push(if j > i + 1 {
            format!("{}-{}", days[i], days[j])
        } else {
            days[i..=j].join(" ")
        });
        i = j + 1;
    }
    parts.join(" ")
}

/// Stored holidays as the form's lines.
pub fn show_holidays(v: &Value) -> String {
    let Some(list) = v.as_array() else {
        return String::new();
    };
    list.iter()
        .filter_map(Value::as_inline_table)
        .map(|t| format!("{} {}", string(t, "date"), string(t, "name")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_read_ranges_and_lists_and_show_back() {
        let v = hours("mon-fri 08:00-16:00\r\nsat, sun 09:00-12:00").unwrap();
        assert_eq!(
            v.to_string().trim(),
            r#"[{ days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "16:00" }, { days = ["sat", "sun"], from = "09:00", to = "12:00" }]"#
        );
        assert_eq!(show_hours(&v), "mon-fri 08:00-16:00\nsat sun 09:00-12:00");
        assert_eq!(
            hours("Mon wed fri 08:00-12:00").map(|v| show_hours(&v)),
            Ok("mon wed fri 08:00-12:00".into())
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let e = hours("mon-fri 08:00-16:00\nfunday 08:00-10:00").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("funday"), "{e}");
        assert!(hours("fri-mon 08:00-16:00")
            .unwrap_err()
            .message
            .contains("backwards"));
        assert!(hours("mon 0800").is_err());
        assert!(holidays("2026-12-25").is_err());
    }

    #[test]
    fn holidays_keep_their_names() {
        let v = holidays("2026-12-25 Hari Raya Natal\n\n2027-01-01 Tahun Baru").unwrap();
        assert_eq!(
            show_holidays(&v),
            "2026-12-25 Hari Raya Natal\n2027-01-01 Tahun Baru"
        );
    }
}
