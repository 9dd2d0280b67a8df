//! `/outbox`: what the box still owes SIMPEL, for the technicians who
//! fix what holds it up (SYNC-3). The counts (pending, failing, dead,
//! the oldest pending row's age) are read from the outbox itself, as
//! `/health` reads them, so they hold while syncd is down. Below them
//! the rows still retrying, with their last error and next attempt, and
//! the dead letters with a retry button each and one for all; the
//! buttons post to the same `outbox::revive` the API's retry uses.
//!
//! Above the counts, the link to SIMPEL as syncd's heartbeat last told
//! it: whether syncd runs, its circuit breaker (sending, holding back
//! until when after how many failures, or probing), the last failure and
//! when SIMPEL last accepted a row. The breaker lives in syncd's memory,
//! so this is what its heartbeat said, at most 5 s old (at once when the
//! breaker changes), and the page says when syncd has gone quiet.

use axum::extract::{Path, State};
use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use axum::Router;
use dering_store::tickets::{self, BreakerState, SyncdBeat};

use super::outbox::{internal, revive, Revive};
use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ui::{csrf_field, esc, page_with};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/outbox", get(page))
        .route("/outbox/retry", post(retry_all))
        .route("/outbox/{id}/retry", post(retry_one))
}

fn t(v: &Viewer, id: &'static str, en: &'static str) -> &'static str {
    v.lang.t(&Text { id, en })
}

/// The most rows each list shows; the counts above are always whole.
const LIST_MAX: i64 = 500;

/// One outbox row as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Letter {
    id: i64,
    ticket_id: i64,
    number: String,
    seq: i64,
    kind: String,
    attempts: i64,
    last_error: Option<String>,
    created_ms: i64,
    /// For a retrying row, when it is tried next; for a dead letter,
    /// when its last attempt fell due (the outbox keeps no separate
    /// time of death: syncd sends a row as soon as it is due, unless its
    /// breaker holds everything back).
    next_attempt_ms: i64,
}

/// Which of the lists.
#[derive(Debug, Clone, Copy)]
enum List {
    /// Pending rows that failed at least once and are still retried.
    Failing,
    Dead,
}

fn letters(conn: &rusqlite::Connection, list: List) -> Result<Vec<Letter>, AppError> {
    let filter = match list {
        List::Failing => "o.state = 'pending' AND o.attempts > 0 ORDER BY o.next_attempt_ms, o.id",
        List::Dead => "o.state = 'dead' ORDER BY o.id",
    };
    let mut st = conn.prepare(&format!(
        "SELECT o.id, o.ticket_id, t.number, o.seq, o.kind, o.attempts, o.last_error,
                o.created_ms, o.next_attempt_ms
         FROM outbox o JOIN tickets t ON t.id = o.ticket_id
         WHERE {filter} LIMIT ?1"
    ))?;
    let rows = st.query_map([LIST_MAX], |r| {
        Ok(Letter {
            id: r.get(0)?,
            ticket_id: r.get(1)?,
            number: r.get(2)?,
            seq: r.get(3)?,
            kind: r.get(4)?,
            attempts: r.get(5)?,
            last_error: r.get(6)?,
            created_ms: r.get(7)?,
            next_attempt_ms: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn kind_text(v: &Viewer, l: &Letter) -> String {
    let what = match l.kind.as_str() {
        "create" => t(v, "buat", "create"),
        _ => t(v, "ubah", "update"),
    };
    format!("{what} #{}", l.seq)
}

/// A wait in whole minutes (seconds under one), as `/health` says it.
fn age(v: &Viewer, ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 60 {
        format!("{s} {}", t(v, "detik", "s"))
    } else {
        format!("{} {}", s / 60, t(v, "menit", "min"))
    }
}

fn table(v: &Viewer, id: &str, rows: &[Letter], list: List) -> String {
    let when = match list {
        List::Failing => t(v, "Dicoba lagi", "Next attempt"),
        List::Dead => t(v, "Percobaan terakhir", "Last attempt due"),
    };
    let mut s = format!(
        "<table id=\"{id}\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th>{} ({zone})</th><th>{when} ({zone})</th>",
        t(v, "Nomor tiket", "Ticket"),
        t(v, "Operasi", "Operation"),
        t(v, "Percobaan", "Attempts"),
        t(v, "Galat terakhir", "Last error"),
        t(v, "Dibuat", "Written"),
        zone = v.zone.abbreviation,
    );
    if matches!(list, List::Dead) {
        s.push_str(&format!("<th>{}</th>", t(v, "Tindakan", "Action")));
    }
    s.push_str("</tr></thead><tbody>");
    for l in rows {
        s.push_str(&format!(
            "<tr data-row=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            l.id,
            if v.may(Perm::Tickets) {
                format!("<a href=\"/tickets/{}\">{}</a>", l.ticket_id, esc(&l.number))
            } else {
                esc(&l.number)
            },
            esc(&kind_text(v, l)),
            l.attempts,
            esc(l.last_error.as_deref().unwrap_or("—")),
            esc(&v.zone.time(l.created_ms)),
            esc(&v.zone.time(l.next_attempt_ms)),
        ));
        if matches!(list, List::Dead) {
            s.push_str(&format!(
                "<td><form method=\"post\" action=\"/outbox/{}/retry\" class=\"inline\">{}\
                 <button type=\"submit\" class=\"retry\">{}</button></form></td>",
                l.id,
                csrf_field(v),
                t(v, "Kirim ulang", "Retry"),
            ));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    if rows.is_empty() {
        s.push_str(&format!(
            "<p class=\"empty\">{}</p>",
            t(v, "Tidak ada.", "None.")
        ));
    }
    s
}

/// The link to SIMPEL: syncd's state and its breaker's, the last
/// failure and the last row accepted, as a `<dl id="link">`.
fn link(v: &Viewer, beat: Option<&SyncdBeat>, now: i64) -> String {
    let time = |ms: i64| esc(&v.zone.time(ms));
    let quiet =
        beat.is_some_and(|b| now - b.heartbeat_ms >= dering_health::STALE_AFTER.as_millis() as i64);
    let syncd = match beat {
        None => t(
            v,
            "belum pernah berjalan di kotak ini",
            "has never run on this box",
        )
        .to_owned(),
        Some(b) if b.stopped => format!(
            "{} ({} {})",
            t(v, "dihentikan", "stopped"),
            t(v, "sejak", "since"),
            time(b.heartbeat_ms)
        ),
        Some(b) if quiet => format!(
            "{} {}",
            t(v, "tidak menjawab sejak", "silent since"),
            time(b.heartbeat_ms)
        ),
        Some(_) => t(v, "berjalan", "running").to_owned(),
    };
    let mut rows = vec![("syncd", t(v, "Layanan syncd", "syncd"), syncd)];
    if let Some(l) = beat
        .filter(|b| !b.stopped && !quiet)
        .and_then(|b| b.link.as_ref())
    {
        let breaker = match l.breaker {
            BreakerState::Closed => t(v, "tertutup: mengirim", "closed: sending").to_owned(),
            BreakerState::Open => format!(
                "{} {} ({} {})",
                t(
                    v,
                    "terbuka: tidak mengirim sampai",
                    "open: not sending until"
                ),
                l.open_until_ms.map(time).unwrap_or_default(),
                l.failures,
                t(v, "kegagalan berturut-turut", "failures in a row"),
            ),
            BreakerState::HalfOpen => t(
                v,
                "setengah terbuka: mencoba satu kiriman",
                "half open: trying one row",
            )
            .to_owned(),
        };
        rows.push((
            "breaker",
            t(v, "Pemutus sirkuit", "Circuit breaker"),
            breaker,
        ));
    }
    if let Some(l) = beat.and_then(|b| b.link.as_ref()) {
        let last_error = match (&l.last_error, l.last_error_ms) {
            (Some(e), Some(at)) => format!("{} ({})", esc(e), time(at)),
            (Some(e), None) => esc(e),
            _ => "—".into(),
        };
        rows.push((
            "last-error",
            t(v, "Kegagalan terakhir", "Last failure"),
            last_error,
        ));
        rows.push((
            "last-delivered",
            t(v, "Terakhir diterima SIMPEL", "Last accepted by SIMPEL"),
            l.last_delivered_ms.map(time).unwrap_or_else(|| "—".into()),
        ));
    }
    let mut s = format!(
        "<h2>{}</h2><dl class=\"ticket\" id=\"link\">",
        t(v, "Koneksi ke SIMPEL", "Link to SIMPEL")
    );
    for (id, label, value) in rows {
        s.push_str(&format!(
            "<dt>{}</dt><dd id=\"link-{id}\">{value}</dd>",
            esc(label)
        ));
    }
    s.push_str("</dl>");
    s
}

async fn page(State(state): State<AppState>, v: Viewer) -> Result<Html<String>, AppError> {
    v.require(Perm::SyncOutbox)?;
    let (counts, failing, dead, beat) = state
        .read(|c| {
            Ok((
                tickets::outbox_counts(c).map_err(internal)?,
                letters(c, List::Failing)?,
                letters(c, List::Dead)?,
                tickets::syncd_beat(c).map_err(internal)?,
            ))
        })
        .await?;
    let now = state.now_ms();
    let mut b = String::from("<link rel=\"stylesheet\" href=\"/assets/tickets.css\">");
    b.push_str(&format!(
        "<p>{}</p><dl class=\"ticket\" id=\"counts\">",
        t(
            &v,
            "Tiket yang belum sampai di SIMPEL. Surat mati ditolak SIMPEL untuk seterusnya: \
             perbaiki sebabnya (pemetaan kolom, data tiket), lalu kirim ulang.",
            "Tickets not yet in SIMPEL. Dead letters were refused by SIMPEL for good: \
             fix the cause (field mapping, the ticket's data), then retry."
        )
    ));
    let oldest = match counts.oldest_pending_ms {
        Some(at) => format!(
            "{} ({} {})",
            esc(&age(&v, now - at)),
            t(&v, "sejak", "since"),
            esc(&v.zone.time(at))
        ),
        None => "—".into(),
    };
    for (id, label, value) in [
        (
            "pending",
            t(&v, "Menunggu dikirim", "Pending"),
            counts.pending.to_string(),
        ),
        (
            "failing",
            t(&v, "Gagal, dicoba lagi", "Failed, retrying"),
            counts.failing.to_string(),
        ),
        (
            "dead",
            t(&v, "Surat mati", "Dead letters"),
            counts.dead.to_string(),
        ),
        ("oldest", t(&v, "Tertua menunggu", "Oldest pending"), oldest),
    ] {
        b.push_str(&format!(
            "<dt>{}</dt><dd id=\"count-{id}\">{value}</dd>",
            esc(label)
        ));
    }
    b.push_str("</dl>");
    b.push_str(&link(&v, beat.as_ref(), now));
    b.push_str(&format!(
        "<h2>{}</h2>",
        t(&v, "Gagal, dicoba lagi", "Failed, retrying")
    ));
    b.push_str(&table(&v, "failing", &failing, List::Failing));
    b.push_str(&format!("<h2>{}</h2>", t(&v, "Surat mati", "Dead letters")));
    if !dead.is_empty() {
        b.push_str(&format!(
            "<form method=\"post\" action=\"/outbox/retry\" id=\"retry-all\" data-confirm=\"{}\">{}\
             <button type=\"submit\">{}</button></form>",
            t(
                &v,
                "Kirim ulang semua surat mati?",
                "Send every dead letter again?"
            ),
            csrf_field(&v),
            t(&v, "Kirim ulang semua", "Retry all"),
        ));
    }
    b.push_str(&table(&v, "dead", &dead, List::Dead));
    Ok(page_with(
        &v,
        t(&v, "Kotak keluar SIMPEL", "SIMPEL outbox"),
        &b,
        &[],
    ))
}

async fn retry_one(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    revive(&state, &v, Revive::One(id)).await?;
    Ok(Redirect::to("/outbox"))
}

async fn retry_all(State(state): State<AppState>, v: Viewer) -> Result<Redirect, AppError> {
    revive(&state, &v, Revive::AllDead).await?;
    Ok(Redirect::to("/outbox"))
}
