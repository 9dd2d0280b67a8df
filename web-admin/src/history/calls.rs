//! Call records (TEL-7): search, one call's detail, and the rows a CSV
//! export writes. The `calls` table holds who called whom and how it
//! ended; the queue and agent come from the ACD journal (`acd_events`, by
//! call UUID) and the recording from `recordings`, each looked up through
//! an index on the call's UUID (the index migration that came with them).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{contains_pattern, date_range, paging, query_page, text, HistoryError, Page};
use crate::i18n::Zone;

/// The dispositions a call record may have (the `calls` CHECK).
pub const DISPOSITIONS: &[&str] = &[
    "answered",
    "busy",
    "no_answer",
    "cancelled",
    "failed",
    "interrupted",
];

/// A search as the form or the API sends it (every field optional).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct CallQuery {
    /// A number the caller or the callee contains.
    pub number: Option<String>,
    /// First day (`YYYY-MM-DD`, in the box's zone).
    pub from: Option<String>,
    /// Last day (in the box's zone), included.
    pub to: Option<String>,
    /// An extension that called, was called or took the call.
    pub extension: Option<String>,
    /// An agent's ID (login) that was offered or took the call.
    pub agent: Option<String>,
    pub queue: Option<String>,
    /// The trunk the call used, once call records name it.
    pub trunk: Option<String>,
    pub disposition: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// One call in a result list.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CallRow {
    pub uuid: String,
    pub caller: String,
    pub caller_name: Option<String>,
    pub callee: String,
    pub callee_name: Option<String>,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub state: String,
    pub disposition: Option<String>,
    pub hangup_by: Option<String>,
    pub sip_code: Option<i64>,
    pub billable_ms: Option<i64>,
    /// The first queue the call entered.
    pub queue: Option<String>,
    /// The last agent offered or serving the call.
    pub agent: Option<String>,
    /// The call's recording, when there is one.
    pub recording_id: Option<i64>,
    /// The trunk the call came in or went out by (migration 9).
    pub trunk: Option<String>,
}

/// The columns of a [`CallRow`], in order.
const SELECT: &str = "SELECT c.uuid, c.caller, c.caller_name, c.callee, c.callee_name, \
    c.start_ms, c.answer_ms, c.end_ms, c.state, c.disposition, c.hangup_by, c.sip_code, \
    c.billable_ms, \
    (SELECT a.queue FROM acd_events a WHERE a.call_uuid = c.uuid AND a.queue IS NOT NULL \
        ORDER BY a.id LIMIT 1), \
    (SELECT a.agent FROM acd_events a WHERE a.call_uuid = c.uuid AND a.agent IS NOT NULL \
        ORDER BY a.id DESC LIMIT 1), \
    (SELECT r.id FROM recordings r WHERE r.call_uuid = c.uuid ORDER BY r.id LIMIT 1), \
    c.trunk \
    FROM calls c";

fn row(r: &Row<'_>) -> rusqlite::Result<CallRow> {
    Ok(CallRow {
        uuid: r.get(0)?,
        caller: r.get(1)?,
        caller_name: r.get(2)?,
        callee: r.get(3)?,
        callee_name: r.get(4)?,
        start_ms: r.get(5)?,
        answer_ms: r.get(6)?,
        end_ms: r.get(7)?,
        state: r.get(8)?,
        disposition: r.get(9)?,
        hangup_by: r.get(10)?,
        sip_code: r.get(11)?,
        billable_ms: r.get(12)?,
        queue: r.get(13)?,
        agent: r.get(14)?,
        recording_id: r.get(15)?,
        trunk: r.get(16)?,
    })
}

/// A checked search: the WHERE clause and its parameters.
#[derive(Debug)]
struct Filter {
    clauses: Vec<&'static str>,
    params: Vec<Value>,
}

impl CallQuery {
    fn filter(&self, now_ms: i64, zone: Zone) -> Result<Filter, HistoryError> {
        let (start, end) = date_range(self.from.as_deref(), self.to.as_deref(), now_ms, zone)?;
        let mut f = Filter {
            clauses: vec!["c.start_ms >= ?", "c.start_ms < ?"],
            params: vec![Value::Integer(start), Value::Integer(end)],
        };
        if let Some(n) = text(&self.number) {
            f.clauses
                .push("(c.caller LIKE ? ESCAPE '\\' OR c.callee LIKE ? ESCAPE '\\')");
            let p = contains_pattern(&n);
            f.params.push(Value::Text(p.clone()));
            f.params.push(Value::Text(p));
        }
        if let Some(x) = text(&self.extension) {
            f.clauses.push(
                "(c.caller = ? OR c.callee = ? OR EXISTS (SELECT 1 FROM recordings r \
                 WHERE r.call_uuid = c.uuid AND r.agent = ?))",
            );
            f.params.extend([0, 1, 2].map(|_| Value::Text(x.clone())));
        }
        if let Some(a) = text(&self.agent) {
            f.clauses.push(
                "EXISTS (SELECT 1 FROM acd_events a WHERE a.call_uuid = c.uuid AND a.agent = ?)",
            );
            f.params.push(Value::Text(a));
        }
        if let Some(q) = text(&self.queue) {
            f.clauses.push(
                "EXISTS (SELECT 1 FROM acd_events a WHERE a.call_uuid = c.uuid AND a.queue = ?)",
            );
            f.params.push(Value::Text(q));
        }
        if let Some(t) = text(&self.trunk) {
            f.clauses.push("c.trunk = ?");
            f.params.push(Value::Text(t));
        }
        if let Some(d) = text(&self.disposition) {
            if !DISPOSITIONS.contains(&d.as_str()) {
                return Err(HistoryError::field("disposition", "unknown disposition"));
            }
            f.clauses.push("c.disposition = ?");
            f.params.push(Value::Text(d));
        }
        Ok(f)
    }
}

/// Calls matching `q`, newest first, one page; its dates are days in
/// `zone`.
pub fn search(
    conn: &Connection,
    q: &CallQuery,
    now_ms: i64,
    zone: Zone,
) -> Result<Page<CallRow>, HistoryError> {
    let paging = paging(&q.page, &q.per_page)?;
    let f = q.filter(now_ms, zone)?;
    let sql = format!(
        "{SELECT} WHERE {} ORDER BY c.start_ms DESC, c.id DESC LIMIT ? OFFSET ?",
        f.clauses.join(" AND ")
    );
    query_page(conn, &sql, f.params, paging, row)
}

/// One event of a call's history, from the call's own events or the ACD
/// journal, in time order.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CallEventRow {
    pub at_ms: i64,
    /// `call` (the box's call events) or `acd` (the ACD journal).
    pub source: &'static str,
    pub kind: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub detail: Option<String>,
}

/// A recording of the call, as its detail page lists it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CallRecording {
    pub id: i64,
    pub start_ms: i64,
    pub duration_ms: Option<i64>,
    pub state: String,
}

/// One call with everything known about it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CallDetail {
    pub call: CallRow,
    pub hangup_cause: Option<String>,
    pub codec: Option<String>,
    pub events: Vec<CallEventRow>,
    pub recordings: Vec<CallRecording>,
}

/// The call `uuid`, its events and recordings; `None` if no such call.
pub fn detail(conn: &Connection, uuid: &str) -> Result<Option<CallDetail>, HistoryError> {
    let sql = format!("{SELECT} WHERE c.uuid = ?1");
    let Some(call) = conn.query_row(&sql, [uuid], row).optional()? else {
        return Ok(None);
    };
    let (hangup_cause, codec) = conn.query_row(
        "SELECT hangup_cause, codec FROM calls WHERE uuid = ?1",
        [uuid],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut events = Vec::new();
    let mut st = conn.prepare(
        "SELECT e.at_ms, e.kind, e.detail FROM call_events e JOIN calls c ON c.id = e.call_id \
         WHERE c.uuid = ?1 ORDER BY e.at_ms, e.id",
    )?;
    for e in st.query_map([uuid], |r| {
        Ok(CallEventRow {
            at_ms: r.get(0)?,
            source: "call",
            kind: r.get(1)?,
            queue: None,
            agent: None,
            detail: r.get(2)?,
        })
    })? {
        events.push(e?);
    }
    let mut st = conn.prepare(
        "SELECT at_ms, kind, queue, agent, detail FROM acd_events WHERE call_uuid = ?1 \
         ORDER BY at_ms, id",
    )?;
    for e in st.query_map([uuid], |r| {
        Ok(CallEventRow {
            at_ms: r.get(0)?,
            source: "acd",
            kind: r.get(1)?,
            queue: r.get(2)?,
            agent: r.get(3)?,
            detail: r.get(4)?,
        })
    })? {
        events.push(e?);
    }
    // Stable: events at the same millisecond keep call-then-ACD order.
    events.sort_by_key(|e| e.at_ms);
    let mut st = conn.prepare(
        "SELECT id, start_ms, duration_ms, state FROM recordings WHERE call_uuid = ?1 ORDER BY id",
    )?;
    let recordings = st
        .query_map([uuid], |r| {
            Ok(CallRecording {
                id: r.get(0)?,
                start_ms: r.get(1)?,
                duration_ms: r.get(2)?,
                state: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(CallDetail {
        call,
        hangup_cause,
        codec,
        events,
        recordings,
    }))
}

/// The CSV header of an export in `zone`: its three times are named
/// with the zone they are in (`start_wib`, `start_wita`, `start_wit`), so
/// a spreadsheet read elsewhere cannot mistake them for UTC.
pub fn csv_header(zone: Zone) -> Vec<String> {
    let z = zone.abbreviation.to_ascii_lowercase();
    let mut h = vec![
        "uuid".to_owned(),
        format!("start_{z}"),
        format!("answer_{z}"),
        format!("end_{z}"),
    ];
    h.extend(CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    h
}

/// The columns after the times.
const CSV_COLUMNS: &[&str] = &[
    "caller",
    "caller_name",
    "callee",
    "callee_name",
    "disposition",
    "hangup_by",
    "sip_code",
    "billable_seconds",
    "queue",
    "agent",
    "trunk",
    "recorded",
];

/// A call as a CSV record (times in `zone`, as [`csv_header`] says).
pub fn csv_record(c: &CallRow, zone: Zone) -> Vec<String> {
    let t = |ms: Option<i64>| ms.and_then(|ms| zone.plain_time(ms)).unwrap_or_default();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        c.uuid.clone(),
        t(Some(c.start_ms)),
        t(c.answer_ms),
        t(c.end_ms),
        c.caller.clone(),
        s(&c.caller_name),
        c.callee.clone(),
        s(&c.callee_name),
        s(&c.disposition),
        s(&c.hangup_by),
        c.sip_code.map(|v| v.to_string()).unwrap_or_default(),
        c.billable_ms
            .map(|ms| format!("{:.1}", ms as f64 / 1000.0))
            .unwrap_or_default(),
        s(&c.queue),
        s(&c.agent),
        s(&c.trunk),
        if c.recording_id.is_some() {
            "yes"
        } else {
            "no"
        }
        .into(),
    ]
}

#[cfg(test)]
mod tests;
