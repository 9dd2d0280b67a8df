//! The history pages and their JSON twins: call records (search, detail,
//! CSV export), power events. Every handler checks the viewer's
//! permission first; the queries are in [`super::calls`] and
//! [`super::power`].

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::Connection;

use super::calls::{self, CallQuery, CallRow};
use super::power::{self, PowerQuery};
use super::{csv, HistoryError, Page, MAX_PER_PAGE};
use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::{Text, Zone};
use crate::ui::{esc, page_with, url_encode};

/// The most rows one CSV export holds (a month of a busy box); a larger
/// export is refused by naming the date field to narrow.
pub const EXPORT_MAX: u32 = 100_000;

impl From<HistoryError> for AppError {
    fn from(e: HistoryError) -> AppError {
        match e {
            HistoryError::Field { field, message } => AppError::invalid(field, message),
            HistoryError::Sql(e) => AppError::Db(e),
        }
    }
}

/// The API's documentation of the history pages (call records, power
/// events, recordings).
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        calls_api,
        calls_csv,
        call_api,
        power_api,
        super::playback::api,
        super::playback::audio,
        super::playback::download
    ),
    components(schemas(
        CallRow,
        calls::CallDetail,
        calls::CallEventRow,
        calls::CallRecording,
        power::PowerEvent,
        super::recordings::RecordingItem,
        super::recordings::Format
    ))
)]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/history", get(|| async { Redirect::to("/history/calls") }))
        .route("/history/calls", get(calls_page))
        .route("/history/calls.csv", get(calls_csv))
        .route("/history/calls/{uuid}", get(call_page))
        .route("/history/power", get(power_page))
        .route("/api/v1/history/calls", get(calls_api))
        .route("/api/v1/history/calls.csv", get(calls_csv))
        .route("/api/v1/history/calls/{uuid}", get(call_api))
        .route("/api/v1/history/power", get(power_api))
}

/// A history search: the query, the box's `now` and the zone its dates
/// are days in.
pub(crate) type Search<Q, T> = fn(&Connection, &Q, i64, Zone) -> Result<Page<T>, HistoryError>;

/// One page of a history search by `search`, once the viewer holds
/// `perm`: each history page and its JSON twin search the same way, the
/// open-ended date range ending at the box's `now`.
pub(crate) async fn searched<Q, T>(
    state: &AppState,
    v: &Viewer,
    perm: Perm,
    q: Q,
    search: Search<Q, T>,
) -> Result<Page<T>, AppError>
where
    Q: Send + 'static,
    T: Send + 'static,
{
    v.require(perm)?;
    let (now, zone) = (state.now_ms(), v.zone);
    state.read(move |c| Ok(search(c, &q, now, zone)?)).await
}

/// `t(v, id, en)`: the viewer's language.
pub(crate) fn t(v: &Viewer, id: &'static str, en: &'static str) -> &'static str {
    v.lang.t(&Text { id, en })
}

/// A query string of the non-empty `pairs`.
pub(crate) fn query_string(pairs: &[(&str, &Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", url_encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The history section's stylesheet and tabs, the ones the viewer may
/// open. (A stylesheet link may stand in the body; the layout's head is
/// the same for every module.)
pub(crate) fn tabs(v: &Viewer) -> String {
    let mut s =
        String::from("<link rel=\"stylesheet\" href=\"/assets/history.css\"><nav class=\"tabs\">");
    for (perm, href, id, en) in [
        (
            Perm::ViewCallRecords,
            "/history/calls",
            "Panggilan",
            "Calls",
        ),
        (
            Perm::Recordings,
            "/history/recordings",
            "Rekaman",
            "Recordings",
        ),
        (
            Perm::ViewPowerEvents,
            "/history/power",
            "Listrik dan alarm",
            "Power and alarms",
        ),
    ] {
        if v.may(perm) {
            s.push_str(&format!("<a href=\"{href}\">{}</a>", t(v, id, en)));
        }
    }
    s.push_str("</nav>");
    s
}

/// A text input of a search form, keeping its value.
pub(crate) fn input(name: &str, label: &str, kind: &str, value: &Option<String>) -> String {
    format!(
        "<label>{}<input type=\"{kind}\" name=\"{name}\" id=\"f-{name}\" value=\"{}\"></label>",
        esc(label),
        esc(value.as_deref().unwrap_or(""))
    )
}

/// The "from" and "to" date inputs every history search form starts its
/// range with (whole days in the viewer's zone, see [`super::date_range`]).
pub(crate) fn date_inputs(v: &Viewer, from: &Option<String>, to: &Option<String>) -> String {
    let mut s = input("from", t(v, "Dari tanggal", "From"), "date", from);
    s.push_str(&input("to", t(v, "Sampai tanggal", "To"), "date", to));
    s
}

/// The top of the calls and recordings pages: the tabs, then their
/// search form opened on `action` with the fields both begin with, the
/// number and the date range.
pub(crate) fn search_form_head(
    v: &Viewer,
    action: &str,
    number: &Option<String>,
    from: &Option<String>,
    to: &Option<String>,
) -> String {
    let mut s = tabs(v);
    s.push_str(&format!(
        "<form method=\"get\" action=\"{action}\" class=\"search\">"
    ));
    s.push_str(&input("number", t(v, "Nomor", "Number"), "search", number));
    s.push_str(&date_inputs(v, from, to));
    s
}

/// The close of a result table, then `empty` (already translated) when
/// the page has no rows, so an empty search says so.
pub(crate) fn table_end<T>(page: &Page<T>, empty: &str) -> String {
    let mut s = String::from("</tbody></table>");
    if page.items.is_empty() {
        s.push_str(&format!("<p class=\"empty\">{empty}</p>"));
    }
    s
}

/// The opening of a result table up to its first row: its id and the
/// column headings. The headings are the pages' own translated texts, so
/// they go in unescaped, as they did when each page wrote them out.
pub(crate) fn table_head(id: &str, headings: &[&str]) -> String {
    let mut s = format!("<table id=\"{id}\"><thead><tr>");
    for h in headings {
        s.push_str(&format!("<th>{h}</th>"));
    }
    s.push_str("</tr></thead><tbody>");
    s
}

/// Previous/next links for a page of results.
pub(crate) fn pager<T>(v: &Viewer, base: &str, qs: &str, p: &Page<T>) -> String {
    let mut s = String::from("<p class=\"pager\">");
    let sep = if qs.is_empty() { "" } else { "&" };
    if p.page > 1 {
        s.push_str(&format!(
            "<a rel=\"prev\" href=\"{base}?{qs}{sep}page={}\">« {}</a> ",
            p.page - 1,
            t(v, "Sebelumnya", "Previous")
        ));
    }
    s.push_str(&format!("{} {}", t(v, "Halaman", "Page"), p.page));
    if p.more {
        s.push_str(&format!(
            " <a rel=\"next\" href=\"{base}?{qs}{sep}page={}\">{} »</a>",
            p.page + 1,
            t(v, "Berikutnya", "Next")
        ));
    }
    s.push_str("</p>");
    s
}

fn call_qs(q: &CallQuery) -> String {
    query_string(&[
        ("number", &q.number),
        ("from", &q.from),
        ("to", &q.to),
        ("extension", &q.extension),
        ("agent", &q.agent),
        ("queue", &q.queue),
        ("trunk", &q.trunk),
        ("disposition", &q.disposition),
        ("per_page", &q.per_page),
    ])
}

fn seconds(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{}", ms / 1000)).unwrap_or_default()
}

async fn calls_page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<CallQuery>,
) -> Result<Html<String>, AppError> {
    let page = searched(&state, &v, Perm::ViewCallRecords, q.clone(), calls::search).await?;
    let mut b = search_form_head(&v, "/history/calls", &q.number, &q.from, &q.to);
    b.push_str(&input(
        "extension",
        t(&v, "Ekstensi", "Extension"),
        "text",
        &q.extension,
    ));
    b.push_str(&input("agent", t(&v, "Agen", "Agent"), "text", &q.agent));
    b.push_str(&input("queue", t(&v, "Antrean", "Queue"), "text", &q.queue));
    b.push_str(&input("trunk", t(&v, "Trunk", "Trunk"), "text", &q.trunk));
    b.push_str(&format!(
        "<label>{}<select name=\"disposition\" id=\"f-disposition\"><option value=\"\">—</option>",
        t(&v, "Hasil", "Disposition")
    ));
    for d in calls::DISPOSITIONS {
        let sel = if q.disposition.as_deref() == Some(d) {
            " selected"
        } else {
            ""
        };
        b.push_str(&format!("<option value=\"{d}\"{sel}>{d}</option>"));
    }
    b.push_str(&format!(
        "</select></label><button type=\"submit\" id=\"search\">{}</button></form>",
        t(&v, "Cari", "Search")
    ));
    let qs = call_qs(&q);
    if v.may(Perm::ExportCallRecords) {
        b.push_str(&format!(
            "<p><a id=\"export\" href=\"/history/calls.csv?{qs}\">{}</a></p>",
            t(&v, "Ekspor CSV", "Export CSV")
        ));
    }
    b.push_str(&table_head(
        "calls",
        &[
            &format!("{} ({})", t(&v, "Mulai", "Start"), v.zone.abbreviation),
            t(&v, "Penelepon", "Caller"),
            t(&v, "Tujuan", "Called"),
            t(&v, "Antrean", "Queue"),
            t(&v, "Agen", "Agent"),
            t(&v, "Hasil", "Disposition"),
            t(&v, "Detik", "Seconds"),
            t(&v, "Rekaman", "Recording"),
        ],
    ));
    for c in &page.items {
        b.push_str(&format!(
            "<tr data-uuid=\"{u}\"><td><a href=\"/history/calls/{u}\">{}</a></td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.zone.time(c.start_ms)),
            esc(&c.caller),
            esc(c.caller_name.as_deref().unwrap_or("")),
            esc(&c.callee),
            esc(c.queue.as_deref().unwrap_or("")),
            esc(c.agent.as_deref().unwrap_or("")),
            esc(c.disposition.as_deref().unwrap_or(&c.state)),
            seconds(c.billable_ms),
            if c.recording_id.is_some() { "●" } else { "" },
            u = esc(&url_encode(&c.uuid)),
        ));
    }
    b.push_str(&table_end(
        &page,
        t(&v, "Tidak ada panggilan.", "No calls."),
    ));
    b.push_str(&pager(&v, "/history/calls", &qs, &page));
    Ok(page_with(
        &v,
        t(&v, "Riwayat panggilan", "Call records"),
        &b,
        &[],
    ))
}

/// Call records matching the search, newest first, one page.
#[utoipa::path(get, path = "/api/v1/history/calls", tag = "history", params(CallQuery),
    responses((status = 200, body = Page<CallRow>), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn calls_api(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<CallQuery>,
) -> Result<Json<Page<CallRow>>, AppError> {
    Ok(Json(
        searched(&state, &v, Perm::ViewCallRecords, q, calls::search).await?,
    ))
}

/// The matching calls as CSV, every page of them up to [`EXPORT_MAX`];
/// audited with the search that made it.
#[utoipa::path(get, path = "/api/v1/history/calls.csv", tag = "history", params(CallQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn calls_csv(
    State(state): State<AppState>,
    v: Viewer,
    Query(mut q): Query<CallQuery>,
) -> Result<Response, AppError> {
    v.require(Perm::ExportCallRecords)?;
    let (now, zone) = (state.now_ms(), v.zone);
    let search = serde_json::to_value(&q).unwrap_or_default();
    q.per_page = Some(MAX_PER_PAGE.to_string());
    let (body, rows) = state
        .read(move |c| {
            let mut out = csv::line(&calls::csv_header(zone));
            let mut rows = 0u32;
            for page in 1.. {
                q.page = Some(page.to_string());
                let p = calls::search(c, &q, now, zone)?;
                for call in &p.items {
                    out.push_str(&csv::line(&calls::csv_record(call, zone)));
                }
                rows += p.items.len() as u32;
                if !p.more {
                    break;
                }
                if rows >= EXPORT_MAX {
                    return Err(AppError::invalid(
                        "from",
                        format!("more than {EXPORT_MAX} calls: choose fewer days"),
                    ));
                }
            }
            Ok((out, rows))
        })
        .await?;
    crate::audit::log(
        &state,
        &v,
        "calls.export",
        "call_records",
        None,
        Some(serde_json::json!({ "search": search, "rows": rows })),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"panggilan.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

async fn call_detail(state: &AppState, uuid: String) -> Result<calls::CallDetail, AppError> {
    state
        .read(move |c| calls::detail(c, &uuid)?.ok_or(AppError::NotFound))
        .await
}

/// One call with its events and recordings.
#[utoipa::path(get, path = "/api/v1/history/calls/{uuid}", tag = "history",
    params(("uuid" = String, Path, description = "The call's UUID")),
    responses((status = 200, body = calls::CallDetail), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn call_api(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Json<calls::CallDetail>, AppError> {
    v.require(Perm::ViewCallRecords)?;
    Ok(Json(call_detail(&state, uuid).await?))
}

async fn call_page(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Html<String>, AppError> {
    v.require(Perm::ViewCallRecords)?;
    let d = call_detail(&state, uuid).await?;
    let c = &d.call;
    let opt = |s: &Option<String>| esc(s.as_deref().unwrap_or("—"));
    let time = |ms: Option<i64>| ms.map(|ms| v.zone.time(ms)).unwrap_or_else(|| "—".into());
    let mut b = tabs(&v);
    b.push_str("<dl class=\"call\" id=\"call\">");
    for (k, val) in [
        ("UUID", esc(&c.uuid)),
        (
            t(&v, "Penelepon", "Caller"),
            format!("{} {}", esc(&c.caller), opt(&c.caller_name)),
        ),
        (t(&v, "Tujuan", "Called"), esc(&c.callee)),
        (t(&v, "Mulai", "Start"), esc(&time(Some(c.start_ms)))),
        (t(&v, "Dijawab", "Answered"), esc(&time(c.answer_ms))),
        (t(&v, "Selesai", "End"), esc(&time(c.end_ms))),
        (t(&v, "Hasil", "Disposition"), opt(&c.disposition)),
        (t(&v, "Ditutup oleh", "Hung up by"), opt(&c.hangup_by)),
        (t(&v, "Sebab", "Cause"), opt(&d.hangup_cause)),
        ("SIP", c.sip_code.map(|x| x.to_string()).unwrap_or_default()),
        ("Codec", opt(&d.codec)),
        (t(&v, "Antrean", "Queue"), opt(&c.queue)),
        (t(&v, "Agen", "Agent"), opt(&c.agent)),
        ("Trunk", opt(&c.trunk)),
    ] {
        b.push_str(&format!("<dt>{}</dt><dd>{val}</dd>", esc(k)));
    }
    b.push_str("</dl>");
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"events\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(&v, "Kejadian", "Events"),
        &format!("{} ({})", t(&v, "Waktu", "Time"), v.zone.abbreviation),
        t(&v, "Jenis", "Kind"),
        t(&v, "Antrean / agen", "Queue / agent"),
        t(&v, "Rincian", "Detail"),
    ));
    for e in &d.events {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}:{}</td><td>{} {}</td><td>{}</td></tr>",
            esc(&v.zone.time(e.at_ms)),
            e.source,
            esc(&e.kind),
            opt(&e.queue),
            opt(&e.agent),
            esc(e.detail.as_deref().unwrap_or("")),
        ));
    }
    b.push_str("</tbody></table>");
    if !d.recordings.is_empty() && v.may(Perm::Recordings) {
        b.push_str(&format!("<h2>{}</h2><ul>", t(&v, "Rekaman", "Recordings")));
        for r in &d.recordings {
            b.push_str(&format!(
                "<li><a href=\"/history/recordings?call={}\">{} ({} s)</a></li>",
                esc(&url_encode(&c.uuid)),
                esc(&v.zone.time(r.start_ms)),
                seconds(r.duration_ms)
            ));
        }
        b.push_str("</ul>");
    }
    Ok(page_with(
        &v,
        t(&v, "Rincian panggilan", "Call detail"),
        &b,
        &[],
    ))
}

/// Power and alarm events, newest first.
#[utoipa::path(get, path = "/api/v1/history/power", tag = "history", params(PowerQuery),
    responses((status = 200, body = Page<power::PowerEvent>), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn power_api(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<PowerQuery>,
) -> Result<Json<Page<power::PowerEvent>>, AppError> {
    Ok(Json(
        searched(&state, &v, Perm::ViewPowerEvents, q, power::search).await?,
    ))
}

async fn power_page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<PowerQuery>,
) -> Result<Html<String>, AppError> {
    let page = searched(&state, &v, Perm::ViewPowerEvents, q.clone(), power::search).await?;
    let mut b = tabs(&v);
    b.push_str("<form method=\"get\" action=\"/history/power\" class=\"search\">");
    b.push_str(&date_inputs(&v, &q.from, &q.to));
    let checked = if q.alarms.is_some() { " checked" } else { "" };
    b.push_str(&format!(
        "<label><input type=\"checkbox\" name=\"alarms\" value=\"on\"{checked}>{}</label>\
         <button type=\"submit\">{}</button></form>",
        t(&v, "Hanya alarm", "Alarms only"),
        t(&v, "Cari", "Search")
    ));
    b.push_str(&table_head(
        "power",
        &[
            &format!("{} ({})", t(&v, "Waktu", "Time"), v.zone.abbreviation),
            t(&v, "Kejadian", "Event"),
            t(&v, "Alarm", "Alarm"),
            t(&v, "Rincian", "Detail"),
        ],
    ));
    for e in &page.items {
        b.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if e.alarm { "alarm" } else { "" },
            esc(&v.zone.time(e.at_ms)),
            esc(&e.kind),
            if e.alarm { "⚠" } else { "" },
            esc(&e.detail),
        ));
    }
    b.push_str("</tbody></table>");
    let qs = query_string(&[("from", &q.from), ("to", &q.to), ("alarms", &q.alarms)]);
    b.push_str(&pager(&v, "/history/power", &qs, &page));
    Ok(page_with(
        &v,
        t(&v, "Kejadian listrik dan alarm", "Power and alarm events"),
        &b,
        &[],
    ))
}
