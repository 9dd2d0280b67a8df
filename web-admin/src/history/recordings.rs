//! Call recordings (REC-3, REC-4): search by number, date, agent (login,
//! extension or name), service (flow or queue) and duration, and where a
//! recording's file is for playback or download. Paths come only from
//! the `recordings` table pbxd writes, never from the request.

use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{contains_pattern, date_range, number, paging, query_page, text, HistoryError, Page};
use crate::i18n::Zone;

/// A search as the form or the API sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct RecordingQuery {
    /// A number the caller or the callee contains.
    pub number: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The call's UUID (from a call record's detail).
    pub call: Option<String>,
    /// The agent: its login (ID), its extension, or part of its name.
    pub agent: Option<String>,
    /// The service: the call flow or the queue.
    pub service: Option<String>,
    /// At least this many seconds long.
    pub min_seconds: Option<String>,
    /// At most this many seconds long.
    pub max_seconds: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// A recording in a result list.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RecordingItem {
    pub id: i64,
    pub call_uuid: String,
    pub caller: String,
    pub callee: String,
    pub agent: Option<String>,
    /// The agent's extension's display name, when it has one.
    pub agent_name: Option<String>,
    pub service: Option<String>,
    pub start_ms: i64,
    pub duration_ms: Option<i64>,
    pub state: String,
    /// `wav` or `mp3`: the format the file is kept in.
    pub format: String,
}

const SELECT: &str = "SELECT r.id, r.call_uuid, r.caller, r.callee, r.agent, \
    (SELECT e.display_name FROM extensions e WHERE e.number = r.agent), \
    r.service, r.start_ms, r.duration_ms, r.state, r.path FROM recordings r";

fn item(r: &Row<'_>) -> rusqlite::Result<RecordingItem> {
    let path: String = r.get(10)?;
    Ok(RecordingItem {
        id: r.get(0)?,
        call_uuid: r.get(1)?,
        caller: r.get(2)?,
        callee: r.get(3)?,
        agent: r.get(4)?,
        agent_name: r.get(5)?,
        service: r.get(6)?,
        start_ms: r.get(7)?,
        duration_ms: r.get(8)?,
        state: r.get(9)?,
        format: Format::of(&path).ext().into(),
    })
}

/// Recordings matching `q`, newest first; deleted ones (retention) are
/// not listed.
pub fn search(
    conn: &Connection,
    q: &RecordingQuery,
    now_ms: i64,
    zone: Zone,
) -> Result<Page<RecordingItem>, HistoryError> {
    let paging = paging(&q.page, &q.per_page)?;
    let (mut start, mut end) = date_range(q.from.as_deref(), q.to.as_deref(), now_ms, zone)?;
    if text(&q.call).is_some() && text(&q.from).is_none() && text(&q.to).is_none() {
        // One call's recordings (from its record's page), however old:
        // the UUID index bounds the search, not the dates.
        (start, end) = (i64::MIN, i64::MAX);
    }
    let mut clauses = vec!["r.start_ms >= ?", "r.start_ms < ?", "r.state <> 'deleted'"];
    let mut params = vec![Value::Integer(start), Value::Integer(end)];
    if let Some(n) = text(&q.number) {
        clauses.push("(r.caller LIKE ? ESCAPE '\\' OR r.callee LIKE ? ESCAPE '\\')");
        let p = contains_pattern(&n);
        params.push(Value::Text(p.clone()));
        params.push(Value::Text(p));
    }
    if let Some(u) = text(&q.call) {
        clauses.push("r.call_uuid = ?");
        params.push(Value::Text(u));
    }
    if let Some(a) = text(&q.agent) {
        clauses.push(
            "(r.agent = ? \
             OR EXISTS (SELECT 1 FROM acd_events a WHERE a.call_uuid = r.call_uuid AND a.agent = ?) \
             OR EXISTS (SELECT 1 FROM extensions e WHERE e.number = r.agent \
                        AND e.display_name LIKE ? ESCAPE '\\'))",
        );
        params.push(Value::Text(a.clone()));
        params.push(Value::Text(a.clone()));
        params.push(Value::Text(contains_pattern(&a)));
    }
    if let Some(s) = text(&q.service) {
        clauses.push(
            "(r.service = ? \
             OR EXISTS (SELECT 1 FROM acd_events a WHERE a.call_uuid = r.call_uuid AND a.queue = ?))",
        );
        params.push(Value::Text(s.clone()));
        params.push(Value::Text(s));
    }
    let min_seconds = number("min_seconds", &q.min_seconds)?;
    let max_seconds = number("max_seconds", &q.max_seconds)?;
    if let (Some(lo), Some(hi)) = (min_seconds, max_seconds) {
        if lo > hi {
            return Err(HistoryError::field("max_seconds", "below the minimum"));
        }
    }
    if let Some(lo) = min_seconds {
        clauses.push("r.duration_ms >= ?");
        params.push(Value::Integer(i64::from(lo) * 1000));
    }
    if let Some(hi) = max_seconds {
        clauses.push("r.duration_ms <= ?");
        params.push(Value::Integer(i64::from(hi) * 1000 + 999));
    }
    let sql = format!(
        "{SELECT} WHERE {} ORDER BY r.start_ms DESC, r.id DESC LIMIT ? OFFSET ?",
        clauses.join(" AND ")
    );
    query_page(conn, &sql, params, paging, item)
}

/// The two formats a recording may be kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Wav,
    Mp3,
}

impl Format {
    fn of(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".mp3") {
            Format::Mp3
        } else {
            Format::Wav
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Wav => "audio/wav",
            Format::Mp3 => "audio/mpeg",
        }
    }
}

/// A recording's files on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingFiles {
    pub item: RecordingItem,
    /// The WAV, if it is kept (the recorder removes it after an MP3).
    pub wav: Option<PathBuf>,
    /// The MP3, if one was made.
    pub mp3: Option<PathBuf>,
}

impl RecordingFiles {
    pub fn file(&self, f: Format) -> Option<&PathBuf> {
        match f {
            Format::Wav => self.wav.as_ref(),
            Format::Mp3 => self.mp3.as_ref(),
        }
    }

    /// What the page plays: the WAV when kept, else the MP3.
    pub fn playable(&self) -> Option<(Format, &PathBuf)> {
        self.wav
            .as_ref()
            .map(|p| (Format::Wav, p))
            .or(self.mp3.as_ref().map(|p| (Format::Mp3, p)))
    }
}

/// Recording `id` and its files that exist; `None` if there is no such
/// recording or it was deleted.
pub fn files(conn: &Connection, id: i64) -> Result<Option<RecordingFiles>, HistoryError> {
    let sql = format!("{SELECT} WHERE r.id = ?1 AND r.state <> 'deleted'");
    let found = conn
        .query_row(&sql, [id], |r| Ok((item(r)?, r.get::<_, String>(10)?)))
        .optional()?;
    let Some((item, path)) = found else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let (wav, mp3) = match Format::of(&path.to_string_lossy()) {
        Format::Wav => (path.clone(), path.with_extension("mp3")),
        Format::Mp3 => (path.with_extension("wav"), path.clone()),
    };
    Ok(Some(RecordingFiles {
        item,
        wav: wav.is_file().then_some(wav),
        mp3: mp3.is_file().then_some(mp3),
    }))
}

#[cfg(test)]
mod tests;
