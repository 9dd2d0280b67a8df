//! Tickets (CTI-3) and their outbox (SYNC-1..3, decision 0027).
//!
//! Every function that creates or changes a ticket writes the ticket, its
//! history entry and its `outbox` row in one IMMEDIATE transaction: the
//! box never holds a ticket whose delivery to SIMPEL is not owed, and a
//! change rolled back owes nothing. syncd reads the outbox heads (the
//! first undelivered row of each ticket, so rows go in order per ticket)
//! and writes each attempt's outcome back here.

use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError};

/// Urgency or impact, the two axes of the priority matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
}

/// A ticket's priority, from urgency × impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Critical,
    High,
    Medium,
    Low,
}

impl Priority {
    /// Peruri's service-desk matrix (source 004, SLA item 15): urgency
    /// rows, impact columns.
    pub fn from_matrix(urgency: Level, impact: Level) -> Priority {
        use Level as L;
        match (urgency, impact) {
            (L::High, L::High) => Priority::Critical,
            (L::High, L::Medium) | (L::Medium, L::High) => Priority::High,
            (L::High, L::Low) | (L::Medium, L::Medium) | (L::Low, L::High) => Priority::Medium,
            (L::Medium, L::Low) | (L::Low, L::Low) | (L::Low, L::Medium) => Priority::Low,
        }
    }

    fn index(self) -> usize {
        match self {
            Priority::Critical => 0,
            Priority::High => 1,
            Priority::Medium => 2,
            Priority::Low => 3,
        }
    }
}

/// How long a ticket of each priority may take; the defaults are Peruri's
/// (8 / 12 / 24 / 48 h to resolve, first response within 15 min).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    pub first_response_ms: i64,
    /// Critical, High, Medium, Low.
    pub resolution_ms: [i64; 4],
}

impl Default for Sla {
    fn default() -> Self {
        const H: i64 = 3_600_000;
        Sla {
            first_response_ms: 15 * 60_000,
            resolution_ms: [8 * H, 12 * H, 24 * H, 48 * H],
        }
    }
}

impl Sla {
    pub fn resolution(&self, p: Priority) -> i64 {
        self.resolution_ms[p.index()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    InProgress,
    Escalated,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::InProgress => "in_progress",
            TicketStatus::Escalated => "escalated",
            TicketStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        Some(match s {
            "open" => TicketStatus::Open,
            "in_progress" => TicketStatus::InProgress,
            "escalated" => TicketStatus::Escalated,
            "closed" => TicketStatus::Closed,
            _ => return None,
        })
    }
}

fn level_str(l: Level) -> &'static str {
    match l {
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High => "high",
    }
}

fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Critical => "critical",
        Priority::High => "high",
        Priority::Medium => "medium",
        Priority::Low => "low",
    }
}

/// What an agent records when a ticket is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    pub reporter_name: String,
    pub reporter_phone: String,
    #[serde(default)]
    pub reporter_email: String,
    pub category: String,
    pub description: String,
    pub urgency: Level,
    pub impact: Level,
    /// The back-office unit it is dispatched to (KU Dumas at the Ombudsman).
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub call_ids: Vec<String>,
    #[serde(default)]
    pub recordings: Vec<String>,
}

impl NewTicket {
    /// A complaint (`pengaduan`) from `reporter_name` at `reporter_phone`
    /// about `description`, of medium urgency and impact (the matrix's
    /// Medium), for no unit, queue or assignee, linked to nothing: the
    /// fields an agent must fill, the rest set as needed.
    pub fn complaint(reporter_name: &str, reporter_phone: &str, description: &str) -> NewTicket {
        NewTicket {
            reporter_name: reporter_name.into(),
            reporter_phone: reporter_phone.into(),
            reporter_email: String::new(),
            category: "pengaduan".into(),
            description: description.into(),
            urgency: Level::Medium,
            impact: Level::Medium,
            unit: String::new(),
            queue: None,
            assignee: None,
            call_ids: vec![],
            recordings: vec![],
        }
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: i64,
    pub number: String,
    pub reporter_name: String,
    pub reporter_phone: String,
    pub reporter_email: String,
    pub category: String,
    pub description: String,
    pub urgency: Level,
    pub impact: Level,
    pub priority: Priority,
    pub respond_by_ms: i64,
    pub resolve_by_ms: i64,
    pub status: TicketStatus,
    pub escalation_level: i64,
    pub assignee: Option<String>,
    pub unit: String,
    pub queue: Option<String>,
    pub created_by: String,
    pub call_ids: Vec<String>,
    pub recordings: Vec<String>,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// SIMPEL's id, once the creation was delivered.
    pub upstream_id: Option<String>,
}

/// A change to a ticket: only the fields given change. It is also the
/// update row's payload, so SIMPEL receives what changed and not a whole
/// snapshot that could undo a status set there meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_level: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Calls linked to the ticket in addition to those it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_call_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_recordings: Vec<String>,
}

impl TicketChange {
    pub fn is_empty(&self) -> bool {
        *self == TicketChange::default()
    }
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketEvent {
    pub version: i64,
    pub at_ms: i64,
    pub author: String,
    /// `local` (made on the box) or `upstream` (came back from SIMPEL).
    pub origin: String,
    /// JSON: the new ticket for a creation, the change otherwise.
    pub change: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    Create,
    Update,
}

/// One row of the outbox, with what delivering it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub ticket_id: i64,
    pub seq: i64,
    pub idempotency_key: String,
    pub kind: OutboxKind,
    /// JSON `{"ticket": …, "change": …}`: the ticket as it was after the
    /// change, and the change (`null` for a creation).
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub state: String,
    pub last_error: Option<String>,
    /// SIMPEL's id of the ticket, known once its creation was delivered.
    pub upstream_id: Option<String>,
}

/// The outbox at a glance (SYNC-3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    /// Pending rows that have failed at least once.
    pub failing: u64,
    pub dead: u64,
    pub delivered: u64,
    /// When the oldest pending row was written.
    pub oldest_pending_ms: Option<i64>,
}

/// The circuit breaker of syncd's link to SIMPEL (decision 0027).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Sending.
    #[default]
    Closed,
    /// Too many failures in a row: nothing is sent until `open_until_ms`.
    Open,
    /// One row is let through as a probe; its answer closes or reopens.
    HalfOpen,
}

/// syncd's link to SIMPEL as its last heartbeat told it (SYNC-3). The
/// breaker lives in syncd's memory; syncd writes this into its
/// `daemon_status` state (beside the outbox counts) at each heartbeat and
/// at once when the breaker changes, so the outbox page can say why
/// nothing is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncLink {
    pub breaker: BreakerState,
    /// Attempts answered with a retry since SIMPEL last accepted a row
    /// (the breaker opens after `[sync] breaker_failures` in a row).
    pub failures: u32,
    /// An open breaker sends nothing before this.
    pub open_until_ms: Option<i64>,
    /// The last transient failure (timeout, refused connection, 5xx,
    /// 429) and when it came: what holds the outbox up.
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// When SIMPEL last accepted a row.
    pub last_delivered_ms: Option<i64>,
}

/// syncd as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncdBeat {
    pub heartbeat_ms: i64,
    /// Stopped on purpose.
    pub stopped: bool,
    /// `None` from a syncd older than the link's report.
    pub link: Option<SyncLink>,
}

/// syncd's last heartbeat, if it ever wrote one on this database.
pub fn syncd_beat(conn: &rusqlite::Connection) -> Result<Option<SyncdBeat>> {
    let row = conn
        .query_row(
            "SELECT heartbeat_ms, stopped, state FROM daemon_status WHERE daemon = 'syncd'",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(heartbeat_ms, stopped, state)| SyncdBeat {
        heartbeat_ms,
        stopped,
        link: SyncLink::from_state(&state),
    }))
}

impl SyncLink {
    /// The link in syncd's heartbeat state (its `link` key), if it is
    /// there and readable.
    pub fn from_state(state: &str) -> Option<SyncLink> {
        serde_json::from_str::<serde_json::Value>(state)
            .ok()
            .and_then(|mut v| serde_json::from_value(v["link"].take()).ok())
    }
}

/// A status change made in SIMPEL, read from its change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamChange {
    pub upstream_id: String,
    pub status: TicketStatus,
    /// SIMPEL's version of the ticket after the change; a change at or
    /// below the version already applied is not applied again.
    pub version: i64,
}

const TICKET_COLUMNS: &str = "id, number, reporter_name, reporter_phone, reporter_email, category,
    description, urgency, impact, priority, respond_by_ms, resolve_by_ms, status,
    escalation_level, assignee, unit, queue, created_by, call_ids, recordings, version,
    created_ms, updated_ms, upstream_id";

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn enum_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<Ticket> {
    Ok(Ticket {
        id: r.get(0)?,
        number: r.get(1)?,
        reporter_name: r.get(2)?,
        reporter_phone: r.get(3)?,
        reporter_email: r.get(4)?,
        category: r.get(5)?,
        description: r.get(6)?,
        urgency: enum_col(r, 7)?,
        impact: enum_col(r, 8)?,
        priority: enum_col(r, 9)?,
        respond_by_ms: r.get(10)?,
        resolve_by_ms: r.get(11)?,
        status: enum_col(r, 12)?,
        escalation_level: r.get(13)?,
        assignee: r.get(14)?,
        unit: r.get(15)?,
        queue: r.get(16)?,
        created_by: r.get(17)?,
        call_ids: json_col(r, 18)?,
        recordings: json_col(r, 19)?,
        version: r.get(20)?,
        created_ms: r.get(21)?,
        updated_ms: r.get(22)?,
        upstream_id: r.get(23)?,
    })
}

fn load(tx: &Transaction<'_>, id: i64) -> Result<Option<Ticket>> {
    Ok(tx
        .query_row(
            &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1"),
            params![id],
            ticket_row,
        )
        .optional()?)
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Json(e.to_string()))
}

/// Appends the ticket's next outbox row; its key is stable across every
/// attempt and every restart.
fn owe(
    tx: &Transaction<'_>,
    ticket: &Ticket,
    kind: OutboxKind,
    change: Option<&TicketChange>,
    now_ms: i64,
) -> Result<()> {
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox WHERE ticket_id = ?1",
        params![ticket.id],
        |r| r.get(0),
    )?;
    let payload = to_json(&serde_json::json!({ "ticket": ticket, "change": change }))?;
    let kind = match kind {
        OutboxKind::Create => "create",
        OutboxKind::Update => "update",
    };
    tx.execute(
        "INSERT INTO outbox (ticket_id, seq, idempotency_key, kind, payload, next_attempt_ms,
            state, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?6)",
        params![
            ticket.id,
            seq,
            format!("dering:{}:{seq}", ticket.number),
            kind,
            payload,
            now_ms
        ],
    )?;
    Ok(())
}

fn history(
    tx: &Transaction<'_>,
    ticket: &Ticket,
    author: &str,
    origin: &str,
    change: &str,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO ticket_history (ticket_id, version, at_ms, author, origin, change)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![ticket.id, ticket.version, now_ms, author, origin, change],
    )?;
    Ok(())
}

impl Store {
    /// Records a new ticket by `author`, its history and its creation's
    /// outbox row, in one transaction ([`create`]).
    pub fn create_ticket(
        &mut self,
        new: &NewTicket,
        author: &str,
        sla: &Sla,
        now_ms: i64,
    ) -> Result<Ticket> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let t = create(&tx, new, author, sla, now_ms)?;
        tx.commit()?;
        Ok(t)
    }

    /// Changes ticket `id` in one transaction ([`update`]).
    pub fn update_ticket(
        &mut self,
        id: i64,
        change: &TicketChange,
        author: &str,
        expected_version: Option<i64>,
        now_ms: i64,
    ) -> Result<Ticket> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let t = update(&tx, id, change, author, expected_version, now_ms)?;
        tx.commit()?;
        Ok(t)
    }

    pub fn ticket(&self, id: i64) -> Result<Option<Ticket>> {
        get(&self.conn, id)
    }

    /// Every ticket, newest first, at most `limit`.
    pub fn tickets(&self, limit: u32) -> Result<Vec<Ticket>> {
        list(&self.conn, None, limit)
    }

    pub fn ticket_history(&self, id: i64) -> Result<Vec<TicketEvent>> {
        let mut st = self.conn.prepare(
            "SELECT version, at_ms, author, origin, change FROM ticket_history
             WHERE ticket_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![id], |r| {
            Ok(TicketEvent {
                version: r.get(0)?,
                at_ms: r.get(1)?,
                author: r.get(2)?,
                origin: r.get(3)?,
                change: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The rows due for delivery: of each ticket, its first undelivered
    /// row, when that row is pending and due by `now_ms` (a dead first
    /// row holds the ticket's later rows back, so order is kept), oldest
    /// first, at most `limit`.
    pub fn outbox_due(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT o.id, o.ticket_id, o.seq, o.idempotency_key, o.kind, o.payload, o.attempts,
                    o.next_attempt_ms, o.state, o.last_error, t.upstream_id
             FROM outbox o JOIN tickets t ON t.id = o.ticket_id
             WHERE o.state = 'pending' AND o.next_attempt_ms <= ?1
               AND o.seq = (SELECT MIN(seq) FROM outbox h
                            WHERE h.ticket_id = o.ticket_id AND h.state IN ('pending', 'dead'))
             ORDER BY o.id LIMIT ?2",
        )?;
        let rows = st.query_map(params![now_ms, limit], outbox_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When the next pending row falls due, if any row is pending.
    pub fn outbox_next_due(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The dead letters (SYNC-3), oldest first.
    pub fn outbox_dead(&self) -> Result<Vec<OutboxRow>> {
        outbox_dead(&self.conn)
    }

    /// Marks row `id` delivered; a creation's answer gives the ticket its
    /// SIMPEL id in the same transaction.
    pub fn outbox_delivered(
        &mut self,
        id: i64,
        attempts: i64,
        upstream_id: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE outbox SET state = 'delivered', attempts = ?2, delivered_ms = ?3,
                last_error = NULL WHERE id = ?1",
            params![id, attempts, now_ms],
        )?;
        if let Some(u) = upstream_id {
            tx.execute(
                "UPDATE tickets SET upstream_id = ?2
                 WHERE id = (SELECT ticket_id FROM outbox WHERE id = ?1) AND upstream_id IS NULL",
                params![id, u],
            )?;
            apply_parked(&tx, u, now_ms)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Row `id` failed for now: it is tried again at `next_attempt_ms`.
    pub fn outbox_retry(
        &mut self,
        id: i64,
        attempts: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4
             WHERE id = ?1 AND state = 'pending'",
            params![id, attempts, next_attempt_ms, error],
        )?;
        Ok(())
    }

    /// Row `id` failed for good: a dead letter until a technician retries it.
    pub fn outbox_kill(&mut self, id: i64, attempts: i64, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET state = 'dead', attempts = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'pending'",
            params![id, attempts, error],
        )?;
        Ok(())
    }

    /// Puts dead letter `id` back as pending ([`outbox_revive`]).
    pub fn outbox_revive(&mut self, id: i64, now_ms: i64) -> Result<bool> {
        outbox_revive(&self.conn, id, now_ms)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        outbox_counts(&self.conn)
    }

    /// How far the feed `name` was applied.
    pub fn sync_cursor(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT cursor FROM sync_cursors WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Applies status changes read from SIMPEL's feed `name` and moves its
    /// cursor to `cursor`, in one transaction: a crash either applies the
    /// page and its cursor or neither. A change whose version is not newer
    /// than the ticket's last applied upstream version is skipped, so a
    /// page read twice is applied once (SYNC-2). Returns how many changed
    /// a ticket. A change to a SIMPEL id the box does not know yet is
    /// parked: the creation it belongs to may have been written upstream
    /// with its answer lost, and is applied when that id is delivered.
    pub fn apply_upstream(
        &mut self,
        name: &str,
        changes: &[UpstreamChange],
        cursor: &str,
        now_ms: i64,
    ) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut applied = 0;
        for c in changes {
            let found: Option<i64> = tx
                .query_row(
                    "SELECT id FROM tickets WHERE upstream_id = ?1",
                    params![c.upstream_id],
                    |r| r.get(0),
                )
                .optional()?;
            match found {
                Some(id) => applied += usize::from(apply_change(&tx, id, c, now_ms)?),
                None => {
                    tx.execute(
                        "INSERT INTO upstream_parked (upstream_id, status, version, at_ms)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![c.upstream_id, c.status.as_str(), c.version, now_ms],
                    )?;
                }
            }
        }
        tx.execute(
            "INSERT INTO sync_cursors (name, cursor, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET cursor = ?2, at_ms = ?3",
            params![name, cursor, now_ms],
        )?;
        tx.commit()?;
        Ok(applied)
    }
}

/// Applies `c` to ticket `id` unless a change at or above its version
/// was applied already; true when it changed the ticket.
fn apply_change(tx: &Transaction<'_>, id: i64, c: &UpstreamChange, now_ms: i64) -> Result<bool> {
    let seen: i64 = tx.query_row(
        "SELECT upstream_version FROM tickets WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    if c.version <= seen {
        return Ok(false);
    }
    tx.execute(
        "UPDATE tickets SET status = ?2, upstream_version = ?3, version = version + 1,
            updated_ms = ?4 WHERE id = ?1",
        params![id, c.status.as_str(), c.version, now_ms],
    )?;
    let t = load(tx, id)?.ok_or(StoreError::TicketNotFound(id))?;
    let change = TicketChange {
        status: Some(c.status),
        ..TicketChange::default()
    };
    history(tx, &t, "simpel", "upstream", &to_json(&change)?, now_ms)?;
    Ok(true)
}

/// Applies, in version order, the changes parked for `upstream_id`.
fn apply_parked(tx: &Transaction<'_>, upstream_id: &str, now_ms: i64) -> Result<()> {
    let Some(id) = tx
        .query_row(
            "SELECT id FROM tickets WHERE upstream_id = ?1",
            params![upstream_id],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
    else {
        return Ok(());
    };
    let parked: Vec<(String, i64)> = {
        let mut st = tx.prepare(
            "SELECT status, version FROM upstream_parked WHERE upstream_id = ?1 ORDER BY version",
        )?;
        let rows = st.query_map(params![upstream_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (status, version) in parked {
        let Some(status) = TicketStatus::parse(&status) else {
            continue;
        };
        let c = UpstreamChange {
            upstream_id: upstream_id.to_string(),
            status,
            version,
        };
        apply_change(tx, id, &c, now_ms)?;
    }
    tx.execute(
        "DELETE FROM upstream_parked WHERE upstream_id = ?1",
        params![upstream_id],
    )?;
    Ok(())
}

/// Records a new ticket by `author`, its history and its creation's
/// outbox row in `tx` (the caller's transaction, so webd's audit entry
/// commits with them).
pub fn create(
    tx: &Transaction<'_>,
    new: &NewTicket,
    author: &str,
    sla: &Sla,
    now_ms: i64,
) -> Result<Ticket> {
    let priority = Priority::from_matrix(new.urgency, new.impact);
    let id: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM tickets", [], |r| {
        r.get(0)
    })?;
    tx.execute(
        &format!(
            "INSERT INTO tickets ({TICKET_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'open', 0, ?13, ?14,
                         ?15, ?16, ?17, ?18, 1, ?19, ?19, NULL)"
        ),
        params![
            id,
            format!("DRG-{id:07}"),
            new.reporter_name,
            new.reporter_phone,
            new.reporter_email,
            new.category,
            new.description,
            level_str(new.urgency),
            level_str(new.impact),
            priority_str(priority),
            now_ms + sla.first_response_ms,
            now_ms + sla.resolution(priority),
            new.assignee,
            new.unit,
            new.queue,
            author,
            to_json(&new.call_ids)?,
            to_json(&new.recordings)?,
            now_ms,
        ],
    )?;
    let ticket = load(tx, id)?.ok_or(StoreError::TicketNotFound(id))?;
    history(tx, &ticket, author, "local", &to_json(&ticket)?, now_ms)?;
    owe(tx, &ticket, OutboxKind::Create, None, now_ms)?;
    Ok(ticket)
}

/// Applies `change` to ticket `id` by `author`, with its history entry
/// and outbox row, in `tx`. With `expected_version`, a ticket changed
/// meanwhile is refused ([`StoreError::TicketStale`]) rather than
/// overwritten. An empty change writes nothing.
pub fn update(
    tx: &Transaction<'_>,
    id: i64,
    change: &TicketChange,
    author: &str,
    expected_version: Option<i64>,
    now_ms: i64,
) -> Result<Ticket> {
    let mut t = load(tx, id)?.ok_or(StoreError::TicketNotFound(id))?;
    if let Some(v) = expected_version {
        if v != t.version {
            return Err(StoreError::TicketStale {
                id,
                version: t.version,
            });
        }
    }
    if change.is_empty() {
        return Ok(t);
    }
    let c = change.clone();
    if let Some(v) = c.reporter_name {
        t.reporter_name = v;
    }
    if let Some(v) = c.reporter_email {
        t.reporter_email = v;
    }
    if let Some(v) = c.category {
        t.category = v;
    }
    if let Some(v) = c.description {
        t.description = v;
    }
    if let Some(v) = c.status {
        t.status = v;
    }
    if let Some(v) = c.escalation_level {
        t.escalation_level = v;
    }
    if let Some(v) = c.assignee {
        t.assignee = Some(v);
    }
    if let Some(v) = c.unit {
        t.unit = v;
    }
    for call in c.add_call_ids {
        if !t.call_ids.contains(&call) {
            t.call_ids.push(call);
        }
    }
    for rec in c.add_recordings {
        if !t.recordings.contains(&rec) {
            t.recordings.push(rec);
        }
    }
    t.version += 1;
    t.updated_ms = now_ms;
    tx.execute(
        "UPDATE tickets SET reporter_name = ?2, reporter_email = ?3, category = ?4,
                description = ?5, status = ?6, escalation_level = ?7, assignee = ?8, unit = ?9,
                call_ids = ?10, recordings = ?11, version = ?12, updated_ms = ?13
             WHERE id = ?1",
        params![
            id,
            t.reporter_name,
            t.reporter_email,
            t.category,
            t.description,
            t.status.as_str(),
            t.escalation_level,
            t.assignee,
            t.unit,
            to_json(&t.call_ids)?,
            to_json(&t.recordings)?,
            t.version,
            now_ms
        ],
    )?;
    history(tx, &t, author, "local", &to_json(change)?, now_ms)?;
    owe(tx, &t, OutboxKind::Update, Some(change), now_ms)?;
    Ok(t)
}

/// Ticket `id`, on any connection.
pub fn get(conn: &rusqlite::Connection, id: i64) -> Result<Option<Ticket>> {
    Ok(conn
        .query_row(
            &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = ?1"),
            params![id],
            ticket_row,
        )
        .optional()?)
}

/// Tickets newest first, at most `limit`, those of `phone` only when given.
pub fn list(conn: &rusqlite::Connection, phone: Option<&str>, limit: u32) -> Result<Vec<Ticket>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE ?1 IS NULL OR reporter_phone = ?1
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = st.query_map(params![phone, limit], ticket_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The outbox at a glance, on any connection (webd's `/metrics`).
pub fn outbox_counts(conn: &rusqlite::Connection) -> Result<OutboxCounts> {
    Ok(conn.query_row(
        "SELECT
                COALESCE(SUM(state = 'pending'), 0),
                COALESCE(SUM(state = 'pending' AND attempts > 0), 0),
                COALESCE(SUM(state = 'dead'), 0),
                COALESCE(SUM(state = 'delivered'), 0),
                MIN(CASE WHEN state = 'pending' THEN created_ms END)
             FROM outbox",
        [],
        |r| {
            Ok(OutboxCounts {
                pending: r.get::<_, i64>(0)? as u64,
                failing: r.get::<_, i64>(1)? as u64,
                dead: r.get::<_, i64>(2)? as u64,
                delivered: r.get::<_, i64>(3)? as u64,
                oldest_pending_ms: r.get(4)?,
            })
        },
    )?)
}

/// The dead letters (SYNC-3), oldest first, on any connection.
pub fn outbox_dead(conn: &rusqlite::Connection) -> Result<Vec<OutboxRow>> {
    let mut st = conn.prepare(
        "SELECT o.id, o.ticket_id, o.seq, o.idempotency_key, o.kind, o.payload, o.attempts,
                    o.next_attempt_ms, o.state, o.last_error, t.upstream_id
             FROM outbox o JOIN tickets t ON t.id = o.ticket_id
             WHERE o.state = 'dead' ORDER BY o.id",
    )?;
    let rows = st.query_map([], outbox_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Puts dead letter `id` back as pending, due now, its attempts
/// counted afresh (after the fix a technician made). False when `id`
/// is no dead letter.
pub fn outbox_revive(conn: &rusqlite::Connection, id: i64, now_ms: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?2
             WHERE id = ?1 AND state = 'dead'",
        params![id, now_ms],
    )? == 1)
}

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let kind: String = r.get(4)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        ticket_id: r.get(1)?,
        seq: r.get(2)?,
        idempotency_key: r.get(3)?,
        kind: if kind == "create" {
            OutboxKind::Create
        } else {
            OutboxKind::Update
        },
        payload: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        state: r.get(8)?,
        last_error: r.get(9)?,
        upstream_id: r.get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(phone: &str) -> NewTicket {
        NewTicket {
            reporter_name: "Siti".into(),
            reporter_phone: phone.into(),
            reporter_email: String::new(),
            category: "complaint".into(),
            description: "layanan lambat".into(),
            urgency: Level::High,
            impact: Level::Medium,
            unit: "KU Dumas".into(),
            queue: Some("pengaduan".into()),
            assignee: None,
            call_ids: vec!["c-1".into()],
            recordings: vec![],
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("d.db")).unwrap();
        (dir, s)
    }

    fn syncd_heartbeat(s: &mut Store, state: &str, stopped: bool) {
        s.apply(&[crate::Op::Heartbeat(crate::DaemonStatus {
            daemon: "syncd".into(),
            pid: 7,
            started_ms: 1,
            heartbeat_ms: 5_000,
            ready: !stopped,
            reasons: vec![],
            state: state.into(),
            stopped,
        })])
        .unwrap();
    }

    #[test]
    fn syncds_link_is_read_from_its_heartbeat() {
        let (_d, mut s) = open();
        assert_eq!(syncd_beat(&s.conn).unwrap(), None);
        let link = SyncLink {
            breaker: BreakerState::Open,
            failures: 5,
            open_until_ms: Some(35_000),
            last_error: Some("connection refused".into()),
            last_error_ms: Some(4_900),
            last_delivered_ms: None,
        };
        let state = serde_json::json!({"pending": 3, "alarm_after_ms": 900_000, "link": link});
        syncd_heartbeat(&mut s, &state.to_string(), false);
        assert_eq!(
            syncd_beat(&s.conn).unwrap(),
            Some(SyncdBeat {
                heartbeat_ms: 5_000,
                stopped: false,
                link: Some(link),
            })
        );
        // A heartbeat without the link (an older syncd) still counts.
        syncd_heartbeat(&mut s, r#"{"pending": 3}"#, true);
        let beat = syncd_beat(&s.conn).unwrap().unwrap();
        assert!(beat.stopped);
        assert_eq!(beat.link, None);
    }

    #[test]
    fn the_matrix_gives_each_priority_and_its_times() {
        use Level::*;
        assert_eq!(Priority::from_matrix(High, High), Priority::Critical);
        assert_eq!(Priority::from_matrix(Medium, High), Priority::High);
        assert_eq!(Priority::from_matrix(Low, High), Priority::Medium);
        assert_eq!(Priority::from_matrix(Low, Medium), Priority::Low);
        let (_d, mut s) = open();
        let t = s
            .create_ticket(&new("0811"), "agent1", &Sla::default(), 1_000)
            .unwrap();
        assert_eq!(t.priority, Priority::High);
        assert_eq!(t.resolve_by_ms, 1_000 + 12 * 3_600_000);
        assert_eq!(t.respond_by_ms, 1_000 + 15 * 60_000);
        assert_eq!(t.number, "DRG-0000001");
        assert_eq!(t.status, TicketStatus::Open);
    }

    #[test]
    fn each_create_and_change_owes_one_row_in_order() {
        let (_d, mut s) = open();
        let t = s
            .create_ticket(&new("0811"), "a", &Sla::default(), 10)
            .unwrap();
        let change = TicketChange {
            description: Some("more".into()),
            add_call_ids: vec!["c-2".into()],
            ..Default::default()
        };
        let t2 = s.update_ticket(t.id, &change, "a", Some(1), 20).unwrap();
        assert_eq!(t2.version, 2);
        assert_eq!(t2.call_ids, ["c-1", "c-2"]);
        // A stale form is refused, and owes nothing.
        let err = s
            .update_ticket(t.id, &change, "a", Some(1), 30)
            .unwrap_err();
        assert!(matches!(err, StoreError::TicketStale { version: 2, .. }));
        // Only the first row of the ticket is due.
        let due = s.outbox_due(100, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, OutboxKind::Create);
        assert_eq!(due[0].idempotency_key, "dering:DRG-0000001:1");
        s.outbox_delivered(due[0].id, 1, Some("S-9"), 40).unwrap();
        let due = s.outbox_due(100, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, OutboxKind::Update);
        assert_eq!(due[0].upstream_id.as_deref(), Some("S-9"));
        let payload: serde_json::Value = serde_json::from_str(&due[0].payload).unwrap();
        assert_eq!(payload["change"]["description"], "more");
        assert_eq!(payload["ticket"]["version"], 2);
        assert_eq!(s.ticket_history(t.id).unwrap().len(), 2);
    }

    #[test]
    fn a_dead_row_holds_back_its_ticket_until_revived() {
        let (_d, mut s) = open();
        let t = s
            .create_ticket(&new("0811"), "a", &Sla::default(), 10)
            .unwrap();
        let other = s
            .create_ticket(&new("0812"), "a", &Sla::default(), 10)
            .unwrap();
        let change = TicketChange {
            category: Some("info".into()),
            ..Default::default()
        };
        s.update_ticket(t.id, &change, "a", None, 11).unwrap();
        let first = s.outbox_due(100, 10).unwrap();
        assert_eq!(first.len(), 2);
        s.outbox_kill(first[0].id, 1, "422 bad field").unwrap();
        let due = s.outbox_due(100, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].ticket_id, other.id);
        let counts = s.outbox_counts().unwrap();
        assert_eq!((counts.pending, counts.dead), (2, 1));
        assert_eq!(
            s.outbox_dead().unwrap()[0].last_error.as_deref(),
            Some("422 bad field")
        );
        assert!(s.outbox_revive(first[0].id, 200).unwrap());
        assert!(!s.outbox_revive(first[0].id, 200).unwrap());
        let due = s.outbox_due(200, 10).unwrap();
        assert!(due.iter().any(|r| r.id == first[0].id && r.attempts == 0));
    }

    #[test]
    fn a_retry_waits_for_its_time() {
        let (_d, mut s) = open();
        s.create_ticket(&new("0811"), "a", &Sla::default(), 10)
            .unwrap();
        let row = s.outbox_due(10, 10).unwrap().remove(0);
        s.outbox_retry(row.id, 1, 500, "503").unwrap();
        assert!(s.outbox_due(499, 10).unwrap().is_empty());
        assert_eq!(s.outbox_next_due().unwrap(), Some(500));
        let again = s.outbox_due(500, 10).unwrap();
        assert_eq!(again[0].attempts, 1);
        assert_eq!(s.outbox_counts().unwrap().failing, 1);
    }

    #[test]
    fn upstream_changes_apply_once_with_their_cursor() {
        let (_d, mut s) = open();
        let t = s
            .create_ticket(&new("0811"), "a", &Sla::default(), 10)
            .unwrap();
        let row = s.outbox_due(10, 10).unwrap().remove(0);
        s.outbox_delivered(row.id, 1, Some("S-1"), 20).unwrap();
        let page = [
            UpstreamChange {
                upstream_id: "S-1".into(),
                status: TicketStatus::Closed,
                version: 3,
            },
            UpstreamChange {
                upstream_id: "S-unknown".into(),
                status: TicketStatus::Closed,
                version: 1,
            },
        ];
        assert_eq!(s.apply_upstream("simpel", &page, "7", 30).unwrap(), 1);
        // The same page read again (a crash before the next poll) changes nothing.
        assert_eq!(s.apply_upstream("simpel", &page, "7", 40).unwrap(), 0);
        assert_eq!(s.sync_cursor("simpel").unwrap().as_deref(), Some("7"));
        let t = s.ticket(t.id).unwrap().unwrap();
        assert_eq!(t.status, TicketStatus::Closed);
        assert_eq!(t.version, 2);
        let h = s.ticket_history(t.id).unwrap();
        assert_eq!(h.iter().filter(|e| e.origin == "upstream").count(), 1);
        // A change from upstream is not sent back: nothing more is owed.
        assert!(s.outbox_due(100, 10).unwrap().is_empty());
    }

    /// SIMPEL wrote the creation but its answer was lost, and a status
    /// change made there reaches the box before the retry tells it the
    /// id: the change waits and is applied once the id is known.
    #[test]
    fn a_change_that_overtakes_its_creation_is_applied_after_it() {
        let (_d, mut s) = open();
        let t = s
            .create_ticket(&new("0811"), "a", &Sla::default(), 10)
            .unwrap();
        let early = UpstreamChange {
            upstream_id: "S-5".into(),
            status: TicketStatus::InProgress,
            version: 2,
        };
        assert_eq!(
            s.apply_upstream("simpel", std::slice::from_ref(&early), "1", 20)
                .unwrap(),
            0
        );
        assert_eq!(s.ticket(t.id).unwrap().unwrap().status, TicketStatus::Open);
        let row = s.outbox_due(30, 10).unwrap().remove(0);
        s.outbox_delivered(row.id, 2, Some("S-5"), 30).unwrap();
        let t = s.ticket(t.id).unwrap().unwrap();
        assert_eq!(t.status, TicketStatus::InProgress);
        // Read again later, it is not applied twice.
        assert_eq!(s.apply_upstream("simpel", &[early], "1", 40).unwrap(), 0);
        let h = s.ticket_history(t.id).unwrap();
        assert_eq!(h.iter().filter(|e| e.origin == "upstream").count(), 1);
    }
}
