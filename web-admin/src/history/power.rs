//! Power and alarm events (PWR-2) as powerd stored them: mains lost and
//! back, battery low, shutdown steps, each with the UPS's reading.

use rusqlite::types::Value;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{date_range, paging, query_page, HistoryError, Page};
use crate::i18n::Zone;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct PowerQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only alarms (a checkbox: `on`, or `true`).
    pub alarms: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PowerEvent {
    pub id: i64,
    pub at_ms: i64,
    pub kind: String,
    pub alarm: bool,
    pub detail: String,
    /// The UPS's reading at the time (JSON), as powerd stored it.
    #[schema(value_type = Option<Object>)]
    pub status: Option<serde_json::Value>,
}

/// Power events matching `q`, newest first.
pub fn search(
    conn: &Connection,
    q: &PowerQuery,
    now_ms: i64,
    zone: Zone,
) -> Result<Page<PowerEvent>, HistoryError> {
    let paging = paging(&q.page, &q.per_page)?;
    let (start, end) = date_range(q.from.as_deref(), q.to.as_deref(), now_ms, zone)?;
    let alarms = if matches!(q.alarms.as_deref(), Some("on" | "true" | "1")) {
        " AND alarm = 1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, at_ms, kind, alarm, detail, status FROM power_events \
         WHERE at_ms >= ? AND at_ms < ?{alarms} ORDER BY at_ms DESC, id DESC LIMIT ? OFFSET ?"
    );
    let params = vec![Value::Integer(start), Value::Integer(end)];
    query_page(conn, &sql, params, paging, |r| {
        let status: Option<String> = r.get(5)?;
        Ok(PowerEvent {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            kind: r.get(2)?,
            alarm: r.get(3)?,
            detail: r.get(4)?,
            // A reading that is not JSON is shown as its text.
            status: status
                .map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))),
        })
    })
}

#[cfg(test)]
mod tests;
