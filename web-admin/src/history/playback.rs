//! The recordings page (REC-3, REC-4): search, play in the page with
//! seeking, download as WAV or MP3. Supervisors and QA only (the
//! `recordings` permission). Every playback and download is written to
//! the audit log before a byte of the file is sent; a failed audit sends
//! nothing. A playback is audited once, on its first request (no Range,
//! or a range from byte 0): the requests a browser makes to seek are
//! the same playback.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::recordings::{self, Format, RecordingFiles, RecordingItem, RecordingQuery};
use super::serve::{self, Disposition};
use super::web::{
    input, pager, query_string, search_form_head, searched, t, table_end, table_head,
};
use super::Page;
use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::ui::{esc, page_with};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/history/recordings", get(page))
        .route("/history/recordings/{id}/audio", get(audio))
        .route("/history/recordings/{id}/download", get(download))
        .route("/api/v1/history/recordings", get(api))
        .route("/api/v1/history/recordings/{id}/audio", get(audio))
        .route("/api/v1/history/recordings/{id}/download", get(download))
}

/// Recordings matching the search, newest first (supervisors and QA).
#[utoipa::path(get, path = "/api/v1/history/recordings", tag = "history", params(RecordingQuery),
    responses((status = 200, body = Page<RecordingItem>), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn api(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordingQuery>,
) -> Result<Json<Page<RecordingItem>>, AppError> {
    Ok(Json(
        searched(&state, &v, Perm::Recordings, q, recordings::search).await?,
    ))
}

async fn page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordingQuery>,
) -> Result<Html<String>, AppError> {
    let page = searched(&state, &v, Perm::Recordings, q.clone(), recordings::search).await?;
    let mut b = search_form_head(&v, "/history/recordings", &q.number, &q.from, &q.to);
    b.push_str(&input(
        "agent",
        t(
            &v,
            "Agen (nama, login, ekstensi)",
            "Agent (name, login, extension)",
        ),
        "text",
        &q.agent,
    ));
    b.push_str(&input(
        "service",
        t(&v, "Layanan (alur, antrean)", "Service (flow, queue)"),
        "text",
        &q.service,
    ));
    b.push_str(&input(
        "min_seconds",
        t(&v, "Minimal detik", "Min. seconds"),
        "number",
        &q.min_seconds,
    ));
    b.push_str(&input(
        "max_seconds",
        t(&v, "Maksimal detik", "Max. seconds"),
        "number",
        &q.max_seconds,
    ));
    b.push_str(&format!(
        "<button type=\"submit\" id=\"search\">{}</button></form>",
        t(&v, "Cari", "Search")
    ));
    b.push_str(&table_head(
        "recordings",
        &[
            &format!("{} ({})", t(&v, "Mulai", "Start"), v.zone.abbreviation),
            t(&v, "Penelepon", "Caller"),
            t(&v, "Tujuan", "Called"),
            t(&v, "Agen", "Agent"),
            t(&v, "Layanan", "Service"),
            t(&v, "Detik", "Seconds"),
            t(&v, "Dengar / unduh", "Play / download"),
        ],
    ));
    for r in &page.items {
        let agent = match (&r.agent, &r.agent_name) {
            (Some(a), Some(n)) => format!("{} ({})", esc(n), esc(a)),
            (Some(a), None) => esc(a),
            _ => String::new(),
        };
        b.push_str(&format!(
            "<tr data-id=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{agent}</td><td>{}</td><td>{}</td>\
             <td><audio controls preload=\"none\" src=\"/history/recordings/{id}/audio\"></audio> \
             <a class=\"download\" href=\"/history/recordings/{id}/download?format={f}\">{F}</a></td></tr>",
            esc(&v.zone.time(r.start_ms)),
            esc(&r.caller),
            esc(&r.callee),
            esc(r.service.as_deref().unwrap_or("")),
            r.duration_ms.map(|ms| (ms / 1000).to_string()).unwrap_or_default(),
            id = r.id,
            f = r.format,
            F = r.format.to_uppercase(),
        ));
    }
    b.push_str(&table_end(
        &page,
        t(&v, "Tidak ada rekaman.", "No recordings."),
    ));
    let qs = query_string(&[
        ("number", &q.number),
        ("from", &q.from),
        ("to", &q.to),
        ("call", &q.call),
        ("agent", &q.agent),
        ("service", &q.service),
        ("min_seconds", &q.min_seconds),
        ("max_seconds", &q.max_seconds),
        ("per_page", &q.per_page),
    ]);
    b.push_str(&pager(&v, "/history/recordings", &qs, &page));
    Ok(page_with(&v, t(&v, "Rekaman", "Recordings"), &b, &[]))
}

async fn files(state: &AppState, id: i64) -> Result<RecordingFiles, AppError> {
    state
        .read(move |c| recordings::files(c, id)?.ok_or(AppError::NotFound))
        .await
}

fn audit_target(f: &RecordingFiles) -> String {
    format!("recording {} (call {})", f.item.id, f.item.call_uuid)
}

fn io_error(e: std::io::Error) -> AppError {
    if e.kind() == std::io::ErrorKind::NotFound {
        AppError::NotFound
    } else {
        AppError::Internal(format!("recording file: {e}"))
    }
}

/// What a request does with a recording: play it in the page, or save
/// it in the format asked for (whichever exists when none is).
#[derive(Debug, Clone, Copy)]
enum Use {
    Play,
    Download(Option<Format>),
}

/// Streams a recording for `use_`, the one way the page and the API both
/// reach a file: the viewer's permission first, then the recording and
/// the file chosen, then the audit entry, written before a byte is sent
/// (a seek within a playback is the same playback and is not audited
/// again), then the bytes the `Range` header asks for.
async fn stream(
    state: &AppState,
    v: &Viewer,
    id: i64,
    headers: &HeaderMap,
    use_: Use,
) -> Result<Response, AppError> {
    v.require(Perm::Recordings)?;
    let f = files(state, id).await?;
    let asked = match use_ {
        Use::Play => None,
        Use::Download(asked) => asked,
    };
    let (format, path) = match asked {
        Some(fmt) => (
            fmt,
            f.file(fmt).ok_or_else(|| {
                AppError::invalid("format", format!("no {} of this recording", fmt.ext()))
            })?,
        ),
        None => f.playable().ok_or(AppError::NotFound)?,
    };
    let range = headers.get(header::RANGE).and_then(|h| h.to_str().ok());
    let (action, audited) = match use_ {
        Use::Play => (
            "recording.play",
            range.is_none_or(|r| r.trim().starts_with("bytes=0-")),
        ),
        Use::Download(_) => ("recording.download", true),
    };
    if audited {
        crate::audit::log(
            state,
            v,
            action,
            &audit_target(&f),
            None,
            Some(serde_json::json!({ "format": format.ext() })),
        )
        .await?;
    }
    let name = format!("rekaman-{}-{}.{}", f.item.id, f.item.caller, format.ext());
    let disposition = match use_ {
        Use::Play => Disposition::Inline,
        Use::Download(_) => Disposition::Attachment(&name),
    };
    serve::file(path, format, range, disposition)
        .await
        .map_err(io_error)
}

/// Plays in the page: the WAV if kept, else the MP3, by byte range.
#[utoipa::path(get, path = "/api/v1/history/recordings/{id}/audio", tag = "history",
    params(("id" = i64, Path, description = "The recording's id"),
           ("Range" = Option<String>, Header, description = "bytes=START-END")),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>),
              (status = 206, content_type = "audio/wav", body = Vec<u8>),
              (status = 401), (status = 403), (status = 404), (status = 416)),
    security(("bearer" = [])))]
pub(super) async fn audio(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    stream(&state, &v, id, &headers, Use::Play).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DownloadQuery {
    format: Option<Format>,
}

/// Saves the recording as WAV or MP3 (whichever exists unless asked).
#[utoipa::path(get, path = "/api/v1/history/recordings/{id}/download", tag = "history",
    params(("id" = i64, Path, description = "The recording's id"), DownloadQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn download(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    stream(&state, &v, id, &headers, Use::Download(q.format)).await
}
