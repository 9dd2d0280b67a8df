//! Escalation levels and SLA alarms (CTI-3, decision 0030).
//!
//! A ticket owes a first response by `respond_by_ms` and a resolution by
//! `resolve_by_ms` (set from its priority when it was recorded), and,
//! once escalated to level 1, 2 or 3, action within that level's timer
//! (`[tickets.escalation_hours]`, 1×, 3× and 7×24 h by default) from the
//! moment it got there. A deadline passed while the ticket is still owing
//! it is a breach: an alarm on the supervisor's pages and in `/metrics`,
//! and one audit entry per breach.
//!
//! [`due`] and [`breaches`] are pure: time is their argument, so the
//! clock's rules are tested in virtual time. [`sweep`] is the shell: it
//! reads the tickets' timelines from the database, and records (and
//! audits) each breach the first time it is seen.

use rusqlite::{params, Connection, Transaction};
use serde::Serialize;

use crate::app::AppState;
use crate::audit;
use crate::error::AppError;

/// Escalation levels above the front line.
pub const LEVELS: i64 = 3;

const HOUR_MS: i64 = 3_600_000;

/// How long a ticket may stay at each escalation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Levels 1, 2, 3.
    pub level_ms: [i64; 3],
}

impl Default for Timers {
    fn default() -> Self {
        Timers::from_config(&dering_config::Tickets::default())
    }
}

impl Timers {
    pub fn from_config(t: &dering_config::Tickets) -> Timers {
        Timers {
            level_ms: t.escalation_hours.map(|h| {
                i64::try_from(h)
                    .unwrap_or(i64::MAX / HOUR_MS)
                    .saturating_mul(HOUR_MS)
            }),
        }
    }
}

/// What the SLA clock needs to know of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    pub id: i64,
    pub number: String,
    pub closed: bool,
    /// 0 (the front line) to [`LEVELS`].
    pub level: i64,
    pub respond_by_ms: i64,
    pub resolve_by_ms: i64,
    /// When its status first left `open`: its first response.
    pub responded_ms: Option<i64>,
    /// When it reached its current level (its creation for level 0).
    pub level_since_ms: i64,
}

/// Which promise a deadline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// First response (15 min by default).
    Response,
    /// Resolution, by priority (8 / 12 / 24 / 48 h by default).
    Resolution,
    /// Action at the escalation level it is at.
    Escalation,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Response, Kind::Resolution, Kind::Escalation];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Response => "response",
            Kind::Resolution => "resolution",
            Kind::Escalation => "escalation",
        }
    }
}

/// A promise a ticket still has to keep, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deadline {
    pub kind: Kind,
    /// The escalation level (0 for response and resolution).
    pub level: i64,
    pub due_ms: i64,
}

/// A deadline missed by a ticket still owing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    pub ticket_id: i64,
    pub number: String,
    pub kind: Kind,
    pub level: i64,
    pub due_ms: i64,
}

/// The deadlines `t` still has to meet, earliest first: none once
/// closed; the first response until it came; the resolution; and, at
/// levels 1 to 3, the level's timer from when it got there.
pub fn due(t: &Timeline, timers: &Timers) -> Vec<Deadline> {
    if t.closed {
        return Vec::new();
    }
    let mut d = Vec::with_capacity(3);
    if t.responded_ms.is_none() {
        d.push(Deadline {
            kind: Kind::Response,
            level: 0,
            due_ms: t.respond_by_ms,
        });
    }
    d.push(Deadline {
        kind: Kind::Resolution,
        level: 0,
        due_ms: t.resolve_by_ms,
    });
    if (1..=LEVELS).contains(&t.level) {
        let timer = timers.level_ms[(t.level - 1) as usize];
        d.push(Deadline {
            kind: Kind::Escalation,
            level: t.level,
            due_ms: t.level_since_ms.saturating_add(timer),
        });
    }
    d.sort_by_key(|d| d.due_ms);
    d
}

/// Every deadline of `tickets` passed at `now` (a deadline is met up to
/// and including its own millisecond).
pub fn breaches(tickets: &[Timeline], timers: &Timers, now_ms: i64) -> Vec<Breach> {
    tickets
        .iter()
        .flat_map(|t| {
            due(t, timers)
                .into_iter()
                .filter(move |d| now_ms > d.due_ms)
                .map(move |d| Breach {
                    ticket_id: t.id,
                    number: t.number.clone(),
                    kind: d.kind,
                    level: d.level,
                    due_ms: d.due_ms,
                })
        })
        .collect()
}

/// The timelines of the tickets not closed (`only`: of that ticket). The
/// first response and the level's start come from the ticket's history,
/// written in the same transaction as each change.
pub fn timelines(conn: &Connection, only: Option<i64>) -> Result<Vec<Timeline>, AppError> {
    let mut st = conn.prepare_cached(
        "SELECT t.id, t.number, t.status, t.escalation_level, t.respond_by_ms, t.resolve_by_ms,
                t.created_ms,
                (SELECT MIN(h.at_ms) FROM ticket_history h
                  WHERE h.ticket_id = t.id AND h.version > 1 AND json_valid(h.change)
                    AND json_extract(h.change, '$.status') IS NOT NULL
                    AND json_extract(h.change, '$.status') != 'open'),
                (SELECT MAX(h.at_ms) FROM ticket_history h
                  WHERE h.ticket_id = t.id AND h.version > 1 AND json_valid(h.change)
                    AND json_extract(h.change, '$.escalation_level') IS NOT NULL)
         FROM tickets t
         WHERE t.status != 'closed' AND (?1 IS NULL OR t.id = ?1)
         ORDER BY t.id",
    )?;
    let rows = st.query_map(params![only], |r| {
        let created: i64 = r.get(6)?;
        Ok(Timeline {
            id: r.get(0)?,
            number: r.get(1)?,
            closed: r.get::<_, String>(2)? == "closed",
            level: r.get(3)?,
            respond_by_ms: r.get(4)?,
            resolve_by_ms: r.get(5)?,
            responded_ms: r.get(7)?,
            level_since_ms: r.get::<_, Option<i64>>(8)?.unwrap_or(created),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The breaches at `now`, each recorded (and audited, as done by webd's
/// SLA clock) the first time it is seen: a breach is audited once, however
/// many pages and scrapes see it.
pub fn sweep(tx: &Transaction<'_>, now_ms: i64) -> Result<Vec<Breach>, AppError> {
    let found = current(tx, now_ms)?;
    for b in &found {
        let new = tx.execute(
            "INSERT OR IGNORE INTO ticket_breaches (ticket_id, kind, level, due_ms, raised_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![b.ticket_id, b.kind.as_str(), b.level, b.due_ms, now_ms],
        )?;
        if new == 1 {
            tracing::warn!(ticket = %b.number, kind = b.kind.as_str(), level = b.level, "ticket SLA breached");
            let after = serde_json::to_value(b).unwrap_or_default();
            audit::record(
                tx,
                audit::Actor {
                    user_id: None,
                    login: "webd".into(),
                    source: "SLA clock".into(),
                },
                now_ms,
                "ticket.breach",
                &b.number,
                None,
                Some(&after),
            )?;
        }
    }
    Ok(found)
}

/// The breaches at `now` of the tickets not closed, under the running
/// configuration's timers.
fn current(conn: &Connection, now_ms: i64) -> Result<Vec<Breach>, AppError> {
    let timers = Timers::from_config(&super::sla::configured(conn));
    Ok(breaches(&timelines(conn, None)?, &timers, now_ms))
}

/// Whether `b` was recorded already.
fn recorded(conn: &Connection, b: &Breach) -> Result<bool, AppError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM ticket_breaches
                        WHERE ticket_id = ?1 AND kind = ?2 AND level = ?3 AND due_ms = ?4)",
        params![b.ticket_id, b.kind.as_str(), b.level, b.due_ms],
        |r| r.get(0),
    )?)
}

/// The breaches now, recorded as [`sweep`] does. Read first: the write
/// transaction (which holds SQLite's one writer lock) is taken only when
/// a breach is new, not on every page view and scrape.
pub async fn active(state: &AppState) -> Result<Vec<Breach>, AppError> {
    let now = state.now_ms();
    let (found, fresh) = state
        .read(move |c| {
            let found = current(c, now)?;
            let mut fresh = false;
            for b in &found {
                if !recorded(c, b)? {
                    fresh = true;
                    break;
                }
            }
            Ok((found, fresh))
        })
        .await?;
    if !fresh {
        return Ok(found);
    }
    state.write(move |tx| sweep(tx, now)).await
}

/// Breaches raised since the box began, by kind (the counter in
/// `/metrics`).
pub fn raised(conn: &Connection) -> Result<[u64; 3], AppError> {
    let mut out = [0u64; 3];
    for (i, k) in Kind::ALL.iter().enumerate() {
        out[i] = conn.query_row(
            "SELECT COUNT(*) FROM ticket_breaches WHERE kind = ?1",
            [k.as_str()],
            |r| r.get::<_, i64>(0),
        )? as u64;
    }
    Ok(out)
}

/// `/metrics`' ticket SLA series: the breaches open now and those raised
/// so far, by kind. Empty when the database cannot be read (the probes
/// still answer).
pub async fn metrics(state: &AppState) -> String {
    let open = match active(state).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "ticket SLA clock");
            return String::new();
        }
    };
    let raised = match state.read(raised).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "ticket breaches");
            return String::new();
        }
    };
    let now: [u64; 3] = Kind::ALL.map(|k| open.iter().filter(|b| b.kind == k).count() as u64);
    crate::metrics::ticket_sla(&now, &raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn ticket() -> Timeline {
        Timeline {
            id: 1,
            number: "DRG-0000001".into(),
            closed: false,
            level: 0,
            respond_by_ms: 15 * MIN,
            resolve_by_ms: 8 * HOUR_MS,
            responded_ms: None,
            level_since_ms: 0,
        }
    }

    fn kinds(b: &[Breach]) -> Vec<(Kind, i64)> {
        b.iter().map(|b| (b.kind, b.level)).collect()
    }

    #[test]
    fn a_new_ticket_owes_its_response_then_its_resolution() {
        let t = ticket();
        let timers = Timers::default();
        let d = due(&t, &timers);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].kind, d[0].due_ms), (Kind::Response, 15 * MIN));
        assert_eq!((d[1].kind, d[1].due_ms), (Kind::Resolution, 8 * HOUR_MS));
        let all = [t.clone()];
        // Met up to its own millisecond, missed one after.
        assert!(breaches(&all, &timers, 15 * MIN).is_empty());
        assert_eq!(
            kinds(&breaches(&all, &timers, 15 * MIN + 1)),
            [(Kind::Response, 0)]
        );
        assert_eq!(
            kinds(&breaches(&all, &timers, 8 * HOUR_MS + 1)),
            [(Kind::Response, 0), (Kind::Resolution, 0)]
        );
        // A response ends the first alarm; closing ends every one.
        let responded = Timeline {
            responded_ms: Some(20 * MIN),
            ..t.clone()
        };
        assert!(breaches(&[responded], &timers, HOUR_MS).is_empty());
        let closed = Timeline { closed: true, ..t };
        assert!(due(&closed, &timers).is_empty());
        assert!(breaches(&[closed], &timers, 100 * HOUR_MS).is_empty());
    }

    #[test]
    fn each_level_has_its_own_timer_from_when_it_got_there() {
        let timers = Timers::default();
        assert_eq!(timers.level_ms, [24, 72, 168].map(|h| h * HOUR_MS));
        let at = |level, since| Timeline {
            level,
            level_since_ms: since,
            responded_ms: Some(MIN),
            resolve_by_ms: 1_000 * HOUR_MS,
            ..ticket()
        };
        for (level, hours) in [(1, 24), (2, 72), (3, 168)] {
            let t = at(level, 10 * HOUR_MS);
            let end = (10 + hours) * HOUR_MS;
            let d = due(&t, &timers);
            assert_eq!(
                d[0],
                Deadline {
                    kind: Kind::Escalation,
                    level,
                    due_ms: end
                }
            );
            assert!(breaches(std::slice::from_ref(&t), &timers, end).is_empty());
            assert_eq!(
                kinds(&breaches(&[t], &timers, end + 1)),
                [(Kind::Escalation, level)]
            );
        }
        // Escalated again, the clock starts afresh at the new level.
        let again = at(2, 30 * HOUR_MS);
        assert!(breaches(&[again], &timers, 35 * HOUR_MS).is_empty());
    }

    #[test]
    fn timers_come_from_the_configuration() {
        let t = dering_config::Tickets {
            escalation_hours: [2, 4, 6],
            ..Default::default()
        };
        assert_eq!(
            Timers::from_config(&t).level_ms,
            [2 * HOUR_MS, 4 * HOUR_MS, 6 * HOUR_MS]
        );
    }
}
