//! A citizen's interaction history (CTI-4): every call from or to their
//! number, every ticket they reported and each change to it, and the
//! notes people added, in time order; as a page, CSV and XLSX.
//!
//! A number is matched by its national significant digits, so
//! `081234567890`, `+6281234567890` and `6281234567890` are one citizen
//! (callers' numbers arrive in whichever form the trunk sends).

use dering_store::tickets::{self, Ticket};
use rusqlite::{params, Connection};
use serde::Serialize;

use super::access::Reach;
use crate::error::AppError;
use crate::history::csv;
use crate::i18n::{Lang, Text, Zone};

/// How an interaction reached the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Call,
    Ticket,
    Note,
}

impl Channel {
    pub fn text(self) -> Text {
        match self {
            Channel::Call => Text {
                id: "Panggilan",
                en: "Call",
            },
            Channel::Ticket => Text {
                id: "Tiket",
                en: "Ticket",
            },
            Channel::Note => Text {
                id: "Catatan",
                en: "Note",
            },
        }
    }
}

/// One line of a citizen's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interaction {
    pub at_ms: i64,
    pub channel: Channel,
    pub content: String,
    /// The call's UUID or the ticket's id (links on the page).
    pub reference: String,
}

/// The national significant digits of a number: the key calls carry
/// in their indexed `caller_key` and `callee_key` columns.
pub use dering_store::phone::key as phone_key;

/// `phone` as a LIKE pattern ending in its key (`%`, `_` cannot occur:
/// the key is digits).
fn pattern(key: &str) -> String {
    format!("%{key}")
}

/// A refused number: too short to name one citizen.
fn check(phone: &str) -> Result<String, AppError> {
    let key = phone_key(phone);
    if key.len() < 4 {
        return Err(AppError::invalid("phone", "at least 4 digits"));
    }
    Ok(key)
}

/// A citizen's calls, newest first: `?1` the key ([`phone_key`]), `?2`
/// the most rows. By the calls' key indexes (`bench history` measures it
/// against the scan it replaced).
pub const CITIZEN_CALLS: &str =
    "SELECT uuid, start_ms, caller, callee, COALESCE(disposition, state), billable_ms
     FROM calls WHERE caller_key = ?1 OR callee_key = ?1
     ORDER BY start_ms DESC LIMIT ?2";

/// The most lines of each source one history holds.
const MAX_EACH: u32 = 5_000;

/// The history of the citizen at `phone`, newest first: calls, the
/// tickets within `reach` and their changes, notes.
pub fn interactions(
    conn: &Connection,
    phone: &str,
    reach: &Reach,
    lang: Lang,
) -> Result<Vec<Interaction>, AppError> {
    let key = check(phone)?;
    let like = pattern(&key);
    let mut out = Vec::new();
    {
        let mut st = conn.prepare(CITIZEN_CALLS)?;
        let rows = st.query_map(params![key, MAX_EACH], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?;
        for row in rows {
            let (uuid, at, caller, callee, disposition, billable) = row?;
            let inbound = phone_key(&caller) == key;
            let (from_id, from_en) = if inbound {
                ("Masuk dari", "In from")
            } else {
                ("Keluar ke", "Out to")
            };
            let dir = lang.t(&Text {
                id: from_id,
                en: from_en,
            });
            let other = if inbound { &caller } else { &callee };
            let to = if inbound { &callee } else { &caller };
            out.push(Interaction {
                at_ms: at,
                channel: Channel::Call,
                content: format!(
                    "{dir} {other} ({to}): {disposition}, {} s",
                    billable.unwrap_or(0) / 1000
                ),
                reference: uuid,
            });
        }
    }
    let ids: Vec<i64> = {
        let mut st = conn.prepare(
            "SELECT id FROM tickets WHERE REPLACE(REPLACE(REPLACE(reporter_phone, ' ', ''), '-', ''), '.', '') LIKE ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![like, MAX_EACH], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in ids {
        let Some(t) = tickets::get(conn, id).map_err(super::api::store_error)? else {
            continue;
        };
        if phone_key(&t.reporter_phone) != key || !reach.allows(&t) {
            continue;
        }
        ticket_lines(conn, &t, lang, &mut out)?;
    }
    {
        let mut st = conn.prepare(
            "SELECT at_ms, author, text FROM citizen_notes WHERE phone = ?1
             ORDER BY at_ms DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![key, MAX_EACH], |r| {
            Ok(Interaction {
                at_ms: r.get(0)?,
                channel: Channel::Note,
                content: format!("{}: {}", r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                reference: String::new(),
            })
        })?;
        for n in rows {
            out.push(n?);
        }
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.at_ms));
    Ok(out)
}

/// A ticket's creation and each later change, as lines of the history.
fn ticket_lines(
    conn: &Connection,
    t: &Ticket,
    lang: Lang,
    out: &mut Vec<Interaction>,
) -> Result<(), AppError> {
    let mut st = conn.prepare_cached(
        "SELECT version, at_ms, author, change FROM ticket_history WHERE ticket_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([t.id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (version, at, author, change) = row?;
        let content = if version == 1 {
            let recorded = lang.t(&Text {
                id: "dicatat",
                en: "recorded",
            });
            format!(
                "{} {recorded} ({author}): {} — {}",
                t.number, t.category, t.description
            )
        } else {
            let changed = lang.t(&Text {
                id: "diubah",
                en: "changed",
            });
            format!("{} {changed} ({author}): {}", t.number, summary(&change))
        };
        out.push(Interaction {
            at_ms: at,
            channel: Channel::Ticket,
            content,
            reference: t.id.to_string(),
        });
    }
    Ok(())
}

/// `field = value, …` of a change's JSON.
pub(super) fn summary(change: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(change) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} = {s}"),
                other => format!("{k} = {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => change.to_owned(),
    }
}

fn headings(lang: Lang) -> [&'static str; 3] {
    [
        lang.t(&Text {
            id: "Waktu",
            en: "Time",
        }),
        lang.t(&Text {
            id: "Saluran",
            en: "Channel",
        }),
        lang.t(&Text {
            id: "Isi",
            en: "Content",
        }),
    ]
}

/// The history as CSV (formulas defused, as every export of the box).
pub fn to_csv(rows: &[Interaction], lang: Lang, zone: Zone) -> String {
    let mut out = csv::line(&headings(lang));
    for r in rows {
        out.push_str(&csv::line(&[
            zone.time(r.at_ms).as_str(),
            lang.t(&r.channel.text()),
            r.content.as_str(),
        ]));
    }
    out
}

/// The history as an XLSX workbook of one sheet. Every cell is written
/// as a string, so text a caller typed never becomes a formula.
pub fn to_xlsx(
    rows: &[Interaction],
    phone: &str,
    lang: Lang,
    zone: Zone,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name(lang.t(&Text {
        id: "Interaksi",
        en: "Interactions",
    }))?;
    ws.write_string_with_format(0, 0, phone, &bold)?;
    for (col, h) in headings(lang).iter().enumerate() {
        ws.write_string_with_format(1, col as u16, *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = u32::try_from(i + 2).unwrap_or(u32::MAX);
        ws.write_string(row, 0, zone.time(r.at_ms))?;
        ws.write_string(row, 1, lang.t(&r.channel.text()))?;
        ws.write_string(row, 2, &r.content)?;
    }
    ws.set_column_width(0, 24)?;
    ws.set_column_width(1, 12)?;
    ws.set_column_width(2, 90)?;
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_in_any_form_is_one_citizen() {
        for n in [
            "081234567890",
            "+6281234567890",
            "6281234567890",
            "0812-3456-7890",
        ] {
            assert_eq!(phone_key(n), "81234567890", "{n}");
        }
        assert!(check("12").is_err());
    }

    #[test]
    fn csv_defuses_what_a_caller_typed() {
        let rows = [Interaction {
            at_ms: 0,
            channel: Channel::Note,
            content: "=HYPERLINK(\"x\")".into(),
            reference: String::new(),
        }];
        let text = to_csv(&rows, Lang::En, Zone::WIB);
        assert!(text.starts_with("Time,Channel,Content\r\n"), "{text}");
        assert!(text.contains("Note,\"'=HYPERLINK("), "{text}");
    }
}
