//! The ticket pages (CTI-3, CTI-4): the list with its search, one
//! ticket with every field, its deadlines, its links, an edit form, the
//! escalation button and its change history from the audit log; and a
//! citizen's interaction history with its exports. Plain forms, no inline
//! script (the CSP forbids it). Who sees which ticket is `access::reach`,
//! the same as the API's; every write goes through
//! `api::write_change`, so a page's change is audited and owed to SIMPEL
//! in one transaction like the API's.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use dering_store::tickets::{self, Level, Priority, Ticket, TicketChange, TicketStatus};
use rusqlite::types::Value;
use serde::Deserialize;

use super::access::{reach, Reach};
use super::api::{store_error, text, write_change};
use super::escalation::{self, Breach, Kind, LEVELS};
use super::export;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ui::{csrf_field, esc, page_with, url_encode};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list))
        .route("/tickets/citizen", get(citizen))
        .route("/tickets/citizen.csv", get(citizen_csv))
        .route("/tickets/citizen.xlsx", get(citizen_xlsx))
        .route("/api/v1/citizens/history", get(citizen_json))
        .route("/tickets/citizen/note", post(note))
        .route("/tickets/{id}", get(detail).post(edit))
        .route("/tickets/{id}/escalate", post(escalate))
}

fn t(v: &Viewer, id: &'static str, en: &'static str) -> &'static str {
    v.lang.t(&Text { id, en })
}

/// The most tickets one list shows.
const LIST_MAX: usize = 200;

fn status_text(v: &Viewer, s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => t(v, "Terbuka", "Open"),
        TicketStatus::InProgress => t(v, "Sedang diproses", "In progress"),
        TicketStatus::Escalated => t(v, "Dieskalasi", "Escalated"),
        TicketStatus::Closed => t(v, "Ditutup", "Closed"),
    }
}

fn priority_text(v: &Viewer, p: Priority) -> &'static str {
    match p {
        Priority::Critical => t(v, "Kritis", "Critical"),
        Priority::High => t(v, "Tinggi", "High"),
        Priority::Medium => t(v, "Sedang", "Medium"),
        Priority::Low => t(v, "Rendah", "Low"),
    }
}

fn level_text(v: &Viewer, l: Level) -> &'static str {
    match l {
        Level::High => t(v, "tinggi", "high"),
        Level::Medium => t(v, "sedang", "medium"),
        Level::Low => t(v, "rendah", "low"),
    }
}

fn breach_text(v: &Viewer, b: &Breach) -> String {
    match b.kind {
        Kind::Response => t(v, "respons pertama", "first response").to_owned(),
        Kind::Resolution => t(v, "penyelesaian", "resolution").to_owned(),
        Kind::Escalation => format!("{} L{}", t(v, "eskalasi", "escalation"), b.level),
    }
}

const STATUSES: [TicketStatus; 4] = [
    TicketStatus::Open,
    TicketStatus::InProgress,
    TicketStatus::Escalated,
    TicketStatus::Closed,
];

/// The SLA alarm banner over `breaches` (already those the viewer may
/// see); empty when there are none.
pub(super) fn banner(v: &Viewer, breaches: &[Breach]) -> String {
    if breaches.is_empty() {
        return String::new();
    }
    let mut tickets: Vec<i64> = breaches.iter().map(|b| b.ticket_id).collect();
    tickets.dedup();
    let mut s = format!(
        "<div id=\"sla-alarm\" class=\"sla-alarm\" role=\"alert\"><strong>{}</strong> {} {}: <ul>",
        t(v, "Alarm SLA:", "SLA alarm:"),
        tickets.len(),
        t(v, "tiket melewati batas waktu", "tickets past a deadline"),
    );
    for b in breaches.iter().take(20) {
        s.push_str(&format!(
            "<li><a href=\"/tickets/{}\">{}</a> — {} ({} {})</li>",
            b.ticket_id,
            esc(&b.number),
            esc(&breach_text(v, b)),
            t(v, "batas", "due"),
            esc(&v.zone.time(b.due_ms)),
        ));
    }
    s.push_str("</ul></div>");
    s
}

/// The banner of the supervisor's live page: every ticket breaching now,
/// for those who see every ticket; nothing for others, and nothing
/// (logged) when the database cannot be read, so the live page still
/// shows.
pub async fn live_banner(state: &AppState, v: &Viewer) -> String {
    if !v.may(Perm::AllTickets) {
        return String::new();
    }
    match escalation::active(state).await {
        Ok(b) if !b.is_empty() => format!(
            "<link rel=\"stylesheet\" href=\"/assets/tickets.css\">{}",
            banner(v, &b)
        ),
        Ok(_) => String::new(),
        Err(e) => {
            tracing::warn!(error = %e, "ticket SLA clock");
            String::new()
        }
    }
}

/// The breaches now among the tickets `reach` allows.
async fn visible_breaches(
    state: &AppState,
    reach: &Reach,
    only: Option<i64>,
) -> Result<Vec<Breach>, AppError> {
    let all = escalation::active(state).await?;
    if *reach == Reach::All {
        return Ok(all
            .into_iter()
            .filter(|b| only.is_none_or(|id| b.ticket_id == id))
            .collect());
    }
    let reach = reach.clone();
    state
        .read(move |c| {
            let mut out = Vec::new();
            for b in all {
                if only.is_some_and(|id| b.ticket_id != id) {
                    continue;
                }
                let seen = tickets::get(c, b.ticket_id)
                    .map_err(store_error)?
                    .is_some_and(|t| reach.allows(&t));
                if seen {
                    out.push(b);
                }
            }
            Ok(out)
        })
        .await
}

/// The list's search: every field a text box, so an empty one is none.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Search {
    /// The reporter's number (any form of it).
    pub phone: Option<String>,
    /// Part of the reporter's name.
    pub name: Option<String>,
    /// Part of the ticket number.
    pub ticket: Option<String>,
    /// Created from this day (YYYY-MM-DD, WIB).
    pub from: Option<String>,
    pub to: Option<String>,
    pub status: Option<String>,
}

fn filled(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The tickets matching `q` that `reach` allows, newest first.
fn search(
    conn: &rusqlite::Connection,
    q: &Search,
    reach: &Reach,
    now_ms: i64,
    zone: crate::i18n::Zone,
) -> Result<Vec<Ticket>, AppError> {
    let mut sql = String::from("SELECT id FROM tickets WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(p) = filled(&q.phone) {
        let key = export::phone_key(&p);
        if key.is_empty() {
            return Err(AppError::invalid("phone", "digits"));
        }
        sql.push_str(
            " AND REPLACE(REPLACE(REPLACE(reporter_phone, ' ', ''), '-', ''), '.', '') LIKE ?",
        );
        args.push(Value::Text(format!("%{key}")));
    }
    if let Some(n) = filled(&q.name) {
        sql.push_str(" AND reporter_name LIKE ? ESCAPE '\\'");
        args.push(Value::Text(crate::history::contains_pattern(&n)));
    }
    if let Some(n) = filled(&q.ticket) {
        sql.push_str(" AND number LIKE ? ESCAPE '\\'");
        args.push(Value::Text(crate::history::contains_pattern(&n)));
    }
    if filled(&q.from).is_some() || filled(&q.to).is_some() {
        let (start, end) =
            crate::history::date_range(q.from.as_deref(), q.to.as_deref(), now_ms, zone).map_err(
                |e| match e {
                    crate::history::HistoryError::Field { field, message } => {
                        AppError::invalid(field, message)
                    }
                    crate::history::HistoryError::Sql(e) => AppError::Db(e),
                },
            )?;
        sql.push_str(" AND created_ms >= ? AND created_ms < ?");
        args.push(Value::Integer(start));
        args.push(Value::Integer(end));
    }
    if let Some(s) = filled(&q.status) {
        let s = TicketStatus::parse(&s)
            .ok_or_else(|| AppError::invalid("status", "open, in_progress, escalated or closed"))?;
        sql.push_str(" AND status = ?");
        args.push(Value::Text(s.as_str().into()));
    }
    sql.push_str(" ORDER BY id DESC LIMIT 10000");
    let ids: Vec<i64> = {
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let phone_key = filled(&q.phone).map(|p| export::phone_key(&p));
    let mut out = Vec::new();
    for id in ids {
        let Some(t) = tickets::get(conn, id).map_err(store_error)? else {
            continue;
        };
        if phone_key
            .as_ref()
            .is_some_and(|k| export::phone_key(&t.reporter_phone) != *k)
        {
            continue;
        }
        if reach.allows(&t) {
            out.push(t);
            if out.len() == LIST_MAX {
                break;
            }
        }
    }
    Ok(out)
}

fn input(name: &str, label: &str, kind: &str, value: &str) -> String {
    format!(
        "<label>{}<input type=\"{kind}\" name=\"{name}\" id=\"f-{name}\" value=\"{}\"></label>",
        esc(label),
        esc(value)
    )
}

/// A search field's value as the form shows it again (empty when none).
fn shown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// A row of labelled inputs, each `(name, label, type, value)`: the
/// search form and the edit form are built from these lists.
fn inputs(fields: &[(&str, &str, &str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, label, kind, value)| input(name, label, kind, value))
        .collect()
}

fn status_select(v: &Viewer, name: &str, chosen: Option<&str>, any: bool) -> String {
    let mut s = format!(
        "<label>{}<select name=\"{name}\" id=\"f-{name}\">",
        t(v, "Status", "Status")
    );
    if any {
        s.push_str("<option value=\"\">—</option>");
    }
    for st in STATUSES {
        let sel = if chosen == Some(st.as_str()) {
            " selected"
        } else {
            ""
        };
        s.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            st.as_str(),
            status_text(v, st)
        ));
    }
    s.push_str("</select></label>");
    s
}

async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<Search>,
) -> Result<Html<String>, AppError> {
    let reach = reach(&state, &v).await?;
    let breaches = visible_breaches(&state, &reach, None).await?;
    let (now, zone) = (state.now_ms(), v.zone);
    let (query, r) = (q.clone(), reach.clone());
    let found = state
        .read(move |c| search(c, &query, &r, now, zone))
        .await?;
    let mut b = String::from("<link rel=\"stylesheet\" href=\"/assets/tickets.css\">");
    if v.may(Perm::AllTickets) {
        b.push_str(&banner(&v, &breaches));
    }
    b.push_str("<form method=\"get\" action=\"/tickets\" class=\"search\">");
    b.push_str(&inputs(&[
        (
            "phone",
            t(&v, "Nomor telepon", "Phone number"),
            "search",
            shown(&q.phone),
        ),
        (
            "name",
            t(&v, "Nama pelapor", "Reporter's name"),
            "search",
            shown(&q.name),
        ),
        (
            "ticket",
            t(&v, "Nomor tiket", "Ticket number"),
            "search",
            shown(&q.ticket),
        ),
        (
            "from",
            t(&v, "Dari tanggal", "From"),
            "date",
            shown(&q.from),
        ),
        ("to", t(&v, "Sampai tanggal", "To"), "date", shown(&q.to)),
    ]));
    b.push_str(&status_select(
        &v,
        "status",
        filled(&q.status).as_deref(),
        true,
    ));
    b.push_str(&format!(
        "<button type=\"submit\" id=\"search\">{}</button></form>",
        t(&v, "Cari", "Search")
    ));
    if let Some(p) = filled(&q.phone) {
        b.push_str(&format!(
            "<p><a id=\"citizen\" href=\"/tickets/citizen?phone={}\">{}</a></p>",
            esc(&url_encode(&p)),
            t(
                &v,
                "Riwayat interaksi warga ini",
                "This citizen's interaction history"
            )
        ));
    }
    b.push_str(&format!(
        "<table id=\"tickets\"><thead><tr><th>{}</th><th>{} ({})</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(&v, "Nomor tiket", "Ticket"),
        t(&v, "Dibuat", "Created"),
        v.zone.abbreviation,
        t(&v, "Pelapor", "Reporter"),
        t(&v, "Telepon", "Phone"),
        t(&v, "Kategori", "Category"),
        t(&v, "Prioritas", "Priority"),
        t(&v, "Status", "Status"),
        t(&v, "Level", "Level"),
        t(&v, "Petugas", "Assignee"),
        t(&v, "SLA", "SLA"),
    ));
    for tk in &found {
        let late: Vec<String> = breaches
            .iter()
            .filter(|x| x.ticket_id == tk.id)
            .map(|x| breach_text(&v, x))
            .collect();
        b.push_str(&format!(
            "<tr data-id=\"{id}\"{cls}><td><a href=\"/tickets/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&tk.number),
            esc(&v.zone.time(tk.created_ms)),
            esc(&tk.reporter_name),
            esc(&tk.reporter_phone),
            esc(&tk.category),
            priority_text(&v, tk.priority),
            status_text(&v, tk.status),
            tk.escalation_level,
            esc(tk.assignee.as_deref().unwrap_or("")),
            if late.is_empty() {
                String::new()
            } else {
                format!("⚠ {}", esc(&late.join(", ")))
            },
            id = tk.id,
            cls = if late.is_empty() { "" } else { " class=\"breach\"" },
        ));
    }
    b.push_str("</tbody></table>");
    if found.is_empty() {
        b.push_str(&format!(
            "<p class=\"empty\">{}</p>",
            t(&v, "Tidak ada tiket.", "No tickets.")
        ));
    }
    Ok(page_with(&v, t(&v, "Tiket", "Tickets"), &b, &[]))
}

/// A ticket the viewer may see, with its change history from the audit
/// log (who, when, from where, before and after).
async fn load(
    state: &AppState,
    reach: &Reach,
    id: i64,
) -> Result<(Ticket, Vec<(i64, String, String, String)>), AppError> {
    let reach = reach.clone();
    state
        .read(move |c| {
            let t = tickets::get(c, id)
                .map_err(store_error)?
                .filter(|t| reach.allows(t))
                .ok_or(AppError::NotFound)?;
            let mut st = c.prepare(
                "SELECT at_ms, login, action, before, after FROM audit_log
                 WHERE target = ?1 AND action LIKE 'ticket.%' ORDER BY id",
            )?;
            let rows = st.query_map([&t.number], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut h = Vec::new();
            for row in rows {
                let (at, login, action, before, after) = row?;
                let what = match action.as_str() {
                    "ticket.breach" => export::summary(after.as_deref().unwrap_or("")),
                    _ => diff(before.as_deref(), after.as_deref()),
                };
                h.push((at, login, action, what));
            }
            Ok((t, h))
        })
        .await
}

/// What an audit entry changed: the top-level fields whose values differ
/// (all of `after` for a creation), as `field: before → after`.
fn diff(before: Option<&str>, after: Option<&str>) -> String {
    let parse = |s: Option<&str>| {
        s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    let (b, a) = (parse(before), parse(after));
    let show = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "—".into(),
        Some(other) => other.to_string(),
    };
    let mut out = Vec::new();
    for (k, av) in &a {
        if matches!(k.as_str(), "version" | "updated_ms") {
            continue;
        }
        let bv = b.get(k);
        if bv != Some(av) {
            if b.is_empty() {
                continue;
            }
            out.push(format!("{k}: {} → {}", show(bv), show(Some(av))));
        }
    }
    out.join("; ")
}

async fn detail(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> Result<Html<String>, AppError> {
    let reach = reach(&state, &v).await?;
    let (tk, history) = load(&state, &reach, id).await?;
    let breaches = visible_breaches(&state, &reach, Some(id)).await?;
    let timers = state
        .read(|c| Ok(escalation::Timers::from_config(&super::sla::configured(c))))
        .await?;
    let timeline = state
        .read(move |c| escalation::timelines(c, Some(id)))
        .await?;
    let mut b = String::from("<link rel=\"stylesheet\" href=\"/assets/tickets.css\">");
    b.push_str(&banner(&v, &breaches));
    let opt = |s: &Option<String>| esc(s.as_deref().unwrap_or("—"));
    b.push_str("<dl class=\"ticket\" id=\"ticket\">");
    let fields: Vec<(&str, String)> = vec![
        (t(&v, "Nomor tiket", "Ticket number"), esc(&tk.number)),
        (
            t(&v, "Nama pelapor", "Reporter's name"),
            esc(&tk.reporter_name),
        ),
        (
            t(&v, "Telepon", "Phone"),
            format!(
                "<a href=\"/tickets/citizen?phone={}\">{}</a>",
                esc(&url_encode(&tk.reporter_phone)),
                esc(&tk.reporter_phone)
            ),
        ),
        (t(&v, "Email", "Email"), esc(&tk.reporter_email)),
        (t(&v, "Kategori", "Category"), esc(&tk.category)),
        (t(&v, "Uraian", "Description"), esc(&tk.description)),
        (
            t(&v, "Prioritas", "Priority"),
            format!(
                "<span id=\"priority\">{}</span> ({} {} × {} {})",
                priority_text(&v, tk.priority),
                t(&v, "urgensi", "urgency"),
                level_text(&v, tk.urgency),
                t(&v, "dampak", "impact"),
                level_text(&v, tk.impact)
            ),
        ),
        (
            t(&v, "Status", "Status"),
            format!("<span id=\"status\">{}</span>", status_text(&v, tk.status)),
        ),
        (
            t(&v, "Level eskalasi", "Escalation level"),
            format!("<span id=\"level\">{}</span>", tk.escalation_level),
        ),
        (t(&v, "Petugas", "Assignee"), opt(&tk.assignee)),
        (t(&v, "Unit back-office", "Back-office unit"), esc(&tk.unit)),
        (t(&v, "Antrean", "Queue"), opt(&tk.queue)),
        (t(&v, "Dicatat oleh", "Recorded by"), esc(&tk.created_by)),
        (t(&v, "Dibuat", "Created"), esc(&v.zone.time(tk.created_ms))),
        (
            t(&v, "Respons pertama paling lambat", "First response by"),
            esc(&v.zone.time(tk.respond_by_ms)),
        ),
        (
            t(&v, "Selesai paling lambat", "Resolve by"),
            esc(&v.zone.time(tk.resolve_by_ms)),
        ),
        ("SIMPEL", opt(&tk.upstream_id)),
    ];
    for (k, val) in fields {
        b.push_str(&format!("<dt>{}</dt><dd>{val}</dd>", esc(k)));
    }
    b.push_str("</dl>");
    // The deadlines still to meet.
    if let Some(tl) = timeline.first() {
        b.push_str(&format!(
            "<h2>{}</h2><ul id=\"deadlines\">",
            t(&v, "Batas waktu", "Deadlines")
        ));
        for d in escalation::due(tl, &timers) {
            let what = breach_text(
                &v,
                &Breach {
                    ticket_id: tk.id,
                    number: String::new(),
                    kind: d.kind,
                    level: d.level,
                    due_ms: d.due_ms,
                },
            );
            b.push_str(&format!(
                "<li>{}: {}</li>",
                esc(&what),
                esc(&v.zone.time(d.due_ms))
            ));
        }
        b.push_str("</ul>");
    }
    // Linked calls and recordings: recordings only for those who may play them.
    b.push_str(&format!(
        "<h2>{}</h2><ul id=\"calls\">",
        t(&v, "Panggilan terkait", "Linked calls")
    ));
    for c in &tk.call_ids {
        if v.may(Perm::ViewCallRecords) {
            b.push_str(&format!(
                "<li><a href=\"/history/calls/{}\">{}</a></li>",
                esc(&url_encode(c)),
                esc(c)
            ));
        } else {
            b.push_str(&format!("<li>{}</li>", esc(c)));
        }
    }
    b.push_str("</ul>");
    b.push_str(&format!(
        "<h2>{}</h2><ul id=\"recordings\">",
        t(&v, "Rekaman", "Recordings")
    ));
    if v.may(Perm::Recordings) {
        for r in &tk.recordings {
            b.push_str(&format!(
                "<li><a class=\"recording\" href=\"/history/recordings/{}/audio\">{}</a></li>",
                esc(&url_encode(r)),
                esc(r)
            ));
        }
    } else if !tk.recordings.is_empty() {
        b.push_str(&format!(
            "<li>{} {}</li>",
            tk.recordings.len(),
            t(
                &v,
                "rekaman (tidak boleh diputar oleh peran Anda)",
                "recordings (your role may not play them)"
            )
        ));
    }
    b.push_str("</ul>");
    // Edit.
    b.push_str(&format!(
        "<h2>{}</h2><form method=\"post\" action=\"/tickets/{id}\" id=\"edit\" class=\"edit\">{}\
         <input type=\"hidden\" name=\"version\" value=\"{}\">",
        t(&v, "Ubah", "Edit"),
        csrf_field(&v),
        tk.version,
    ));
    b.push_str(&inputs(&[
        (
            "reporter_name",
            t(&v, "Nama pelapor", "Reporter's name"),
            "text",
            &tk.reporter_name,
        ),
        (
            "reporter_email",
            t(&v, "Email", "Email"),
            "email",
            &tk.reporter_email,
        ),
        (
            "category",
            t(&v, "Kategori", "Category"),
            "text",
            &tk.category,
        ),
    ]));
    b.push_str(&format!(
        "<label>{}<textarea name=\"description\" id=\"f-description\" rows=\"4\">{}</textarea></label>",
        t(&v, "Uraian", "Description"),
        esc(&tk.description)
    ));
    b.push_str(&status_select(
        &v,
        "status",
        Some(tk.status.as_str()),
        false,
    ));
    b.push_str(&inputs(&[
        (
            "assignee",
            t(&v, "Petugas", "Assignee"),
            "text",
            tk.assignee.as_deref().unwrap_or(""),
        ),
        (
            "unit",
            t(&v, "Unit back-office", "Back-office unit"),
            "text",
            &tk.unit,
        ),
    ]));
    b.push_str(&format!(
        "<button type=\"submit\" id=\"save\">{}</button></form>",
        t(&v, "Simpan", "Save")
    ));
    if tk.status != TicketStatus::Closed && tk.escalation_level < LEVELS {
        b.push_str(&format!(
            "<form method=\"post\" action=\"/tickets/{id}/escalate\" id=\"escalate-form\">{}\
             <input type=\"hidden\" name=\"version\" value=\"{}\">\
             <button type=\"submit\" id=\"escalate\">{} L{}</button></form>",
            csrf_field(&v),
            tk.version,
            t(&v, "Eskalasi ke", "Escalate to"),
            tk.escalation_level + 1,
        ));
    }
    // Change history from the audit log.
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"changes\"><thead><tr><th>{} ({})</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(&v, "Riwayat perubahan", "Change history"),
        t(&v, "Waktu", "Time"),
        v.zone.abbreviation,
        t(&v, "Oleh", "By"),
        t(&v, "Tindakan", "Action"),
        t(&v, "Perubahan", "Change"),
    ));
    for (at, login, action, what) in &history {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.zone.time(*at)),
            esc(login),
            esc(action),
            esc(what)
        ));
    }
    b.push_str("</tbody></table>");
    Ok(page_with(
        &v,
        &format!("{} {}", t(&v, "Tiket", "Ticket"), tk.number),
        &b,
        &[],
    ))
}

/// The edit form as posted: every field, changed or not.
#[derive(Debug, Deserialize)]
struct EditForm {
    version: i64,
    reporter_name: String,
    #[serde(default)]
    reporter_email: String,
    category: String,
    description: String,
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    unit: String,
}

/// What the form changed of `before`: only the fields that differ, so
/// SIMPEL receives what changed (decision 0027).
fn changed(before: &Ticket, f: &EditForm) -> Result<TicketChange, AppError> {
    for (field, value, required) in [
        ("reporter_name", &f.reporter_name, false),
        ("reporter_email", &f.reporter_email, false),
        ("category", &f.category, true),
        ("description", &f.description, true),
        ("assignee", &f.assignee, false),
        ("unit", &f.unit, false),
    ] {
        text(field, value, required)?;
    }
    let status = TicketStatus::parse(&f.status)
        .ok_or_else(|| AppError::invalid("status", "open, in_progress, escalated or closed"))?;
    let differs = |new: &str, old: &str| (new.trim() != old).then(|| new.trim().to_owned());
    Ok(TicketChange {
        reporter_name: differs(&f.reporter_name, &before.reporter_name),
        reporter_email: differs(&f.reporter_email, &before.reporter_email),
        category: differs(&f.category, &before.category),
        description: differs(&f.description, &before.description),
        status: (status != before.status).then_some(status),
        assignee: differs(&f.assignee, before.assignee.as_deref().unwrap_or("")),
        unit: differs(&f.unit, &before.unit),
        ..TicketChange::default()
    })
}

/// A change made on the ticket's page: `change` computes it from the
/// ticket as the viewer may see it (404 otherwise); it is written,
/// audited as `action` and owed to SIMPEL in one transaction
/// (`api::write_change`), and the browser goes back to the ticket.
async fn change_on_page(
    state: &AppState,
    v: &Viewer,
    id: i64,
    version: i64,
    action: &'static str,
    change: impl FnOnce(&Ticket) -> Result<TicketChange, AppError>,
) -> Result<Redirect, AppError> {
    let reach = reach(state, v).await?;
    let (before, _) = load(state, &reach, id).await?;
    let change = change(&before)?;
    write_change(state, v, reach, id, change, version, action).await?;
    Ok(Redirect::to(&format!("/tickets/{id}")))
}

async fn edit(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<EditForm>,
) -> Result<Redirect, AppError> {
    change_on_page(&state, &v, id, f.version, "ticket.change", |before| {
        changed(before, &f)
    })
    .await
}

#[derive(Debug, Deserialize)]
struct VersionForm {
    version: i64,
}

/// One level up from `before` (at most [`LEVELS`]), status escalated;
/// the new level's timer starts now.
fn escalation(before: &Ticket) -> Result<TicketChange, AppError> {
    if before.status == TicketStatus::Closed {
        return Err(AppError::invalid(
            "status",
            "a closed ticket is not escalated",
        ));
    }
    if before.escalation_level >= LEVELS {
        return Err(AppError::invalid(
            "escalation_level",
            "already at the last level",
        ));
    }
    Ok(TicketChange {
        status: Some(TicketStatus::Escalated),
        escalation_level: Some(before.escalation_level + 1),
        ..TicketChange::default()
    })
}

async fn escalate(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<VersionForm>,
) -> Result<Redirect, AppError> {
    change_on_page(&state, &v, id, f.version, "ticket.escalate", escalation).await
}

#[derive(Debug, Deserialize)]
pub(super) struct Citizen {
    phone: String,
}

async fn citizen(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<Citizen>,
) -> Result<Html<String>, AppError> {
    let reach = reach(&state, &v).await?;
    let (phone, lang) = (q.phone.clone(), v.lang);
    let rows = state
        .read(move |c| export::interactions(c, &phone, &reach, lang))
        .await?;
    let p = esc(&url_encode(&q.phone));
    let mut b = format!(
        "<link rel=\"stylesheet\" href=\"/assets/tickets.css\">\
         <p class=\"exports\"><a id=\"export-xlsx\" href=\"/tickets/citizen.xlsx?phone={p}\">{}</a> \
         <a id=\"export-csv\" href=\"/tickets/citizen.csv?phone={p}\">{}</a></p>",
        t(&v, "Unduh XLSX", "Download XLSX"),
        t(&v, "Unduh CSV", "Download CSV"),
    );
    b.push_str(&format!(
        "<table id=\"interactions\"><thead><tr><th>{} ({})</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(&v, "Waktu", "Time"),
        v.zone.abbreviation,
        t(&v, "Saluran", "Channel"),
        t(&v, "Isi", "Content"),
    ));
    for r in &rows {
        let content = match r.channel {
            export::Channel::Ticket => format!(
                "<a href=\"/tickets/{}\">{}</a>",
                esc(&r.reference),
                esc(&r.content)
            ),
            export::Channel::Call if v.may(Perm::ViewCallRecords) => format!(
                "<a href=\"/history/calls/{}\">{}</a>",
                esc(&url_encode(&r.reference)),
                esc(&r.content)
            ),
            _ => esc(&r.content),
        };
        b.push_str(&format!(
            "<tr class=\"{:?}\"><td>{}</td><td>{}</td><td>{content}</td></tr>",
            r.channel,
            esc(&v.zone.time(r.at_ms)),
            v.lang.t(&r.channel.text()),
        ));
    }
    b.push_str("</tbody></table>");
    b.push_str(&format!(
        "<h2>{}</h2><form method=\"post\" action=\"/tickets/citizen/note\" id=\"note-form\">{}\
         <input type=\"hidden\" name=\"phone\" value=\"{}\">\
         <label>{}<textarea name=\"text\" id=\"f-note\" rows=\"3\"></textarea></label>\
         <button type=\"submit\" id=\"add-note\">{}</button></form>",
        t(&v, "Catatan baru", "New note"),
        csrf_field(&v),
        esc(&q.phone),
        t(&v, "Catatan", "Note"),
        t(&v, "Tambah", "Add"),
    ));
    Ok(page_with(
        &v,
        &format!(
            "{} {}",
            t(&v, "Riwayat interaksi", "Interaction history"),
            q.phone
        ),
        &b,
        &[],
    ))
}

/// The history for an export, audited with the number and its size.
async fn exported(
    state: &AppState,
    v: &Viewer,
    phone: &str,
    format: &str,
) -> Result<Vec<export::Interaction>, AppError> {
    let reach = reach(state, v).await?;
    let (p, lang) = (phone.to_owned(), v.lang);
    let rows = state
        .read(move |c| export::interactions(c, &p, &reach, lang))
        .await?;
    audit::log(
        state,
        v,
        "ticket.export",
        phone,
        None,
        Some(serde_json::json!({ "format": format, "rows": rows.len() })),
    )
    .await?;
    Ok(rows)
}

fn attachment(name: &str, ext: &str) -> String {
    let safe: String = name.chars().filter(char::is_ascii_digit).collect();
    format!("attachment; filename=\"interaksi-{safe}.{ext}\"")
}

async fn citizen_csv(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<Citizen>,
) -> Result<Response, AppError> {
    let rows = exported(&state, &v, &q.phone, "csv").await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, attachment(&q.phone, "csv")),
        ],
        export::to_csv(&rows, v.lang, v.zone),
    )
        .into_response())
}

/// A citizen's interaction history for integrations: the lines the page
/// and the exports show, newest first, read and audited as an export.
#[utoipa::path(get, path = "/api/v1/citizens/history", tag = "tickets",
    description = "A citizen's interaction history (calls, tickets and their changes, notes), newest first; audited as ticket.export",
    params(("phone" = String, Query, description = "the citizen's number in any form (0812…, +62812…, 62812…), at least 4 digits")),
    responses((status = 200, body = serde_json::Value), (status = 422), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn citizen_json(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<Citizen>,
) -> Result<Response, AppError> {
    let rows = exported(&state, &v, &q.phone, "json").await?;
    let lines: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "at_ms": r.at_ms,
                "at": v.zone.time(r.at_ms),
                "channel": r.channel,
                "content": r.content,
                "reference": r.reference,
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({
        "phone": q.phone,
        "time_zone": v.zone.abbreviation,
        "interactions": lines,
    }))
    .into_response())
}

async fn citizen_xlsx(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<Citizen>,
) -> Result<Response, AppError> {
    let rows = exported(&state, &v, &q.phone, "xlsx").await?;
    let body = export::to_xlsx(&rows, &q.phone, v.lang, v.zone)
        .map_err(|e| AppError::Internal(format!("xlsx: {e}")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, attachment(&q.phone, "xlsx")),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    phone: String,
    text: String,
}

/// A note on a citizen's history (local: notes are not sent to SIMPEL),
/// audited.
async fn note(
    State(state): State<AppState>,
    v: Viewer,
    Form(f): Form<NoteForm>,
) -> Result<Redirect, AppError> {
    reach(&state, &v).await?;
    text("text", &f.text, true)?;
    let key = export::phone_key(&f.phone);
    if key.len() < 4 {
        return Err(AppError::invalid("phone", "at least 4 digits"));
    }
    let now = state.now_ms();
    let actor = audit::Actor::from(&v);
    let (login, body, phone) = (v.login.clone(), f.text.trim().to_owned(), f.phone.clone());
    state
        .write(move |tx| {
            tx.execute(
                "INSERT INTO citizen_notes (phone, at_ms, author, text) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![key, now, login, body],
            )?;
            let after = serde_json::json!({ "text": body });
            audit::record(tx, actor, now, "citizen.note", &phone, None, Some(&after))
        })
        .await?;
    Ok(Redirect::to(&format!(
        "/tickets/citizen?phone={}",
        url_encode(&f.phone)
    )))
}
