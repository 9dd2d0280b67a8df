//! The live page, its SSE stream and JSON twin, and the supervisor's
//! actions on a call in progress (listen, whisper, barge, transfer, hang
//! up) sent to pbxd over the control socket and audited. Everyone with
//! `view_live` watches; only `supervise_calls` acts.

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use dering_control::client::ClientError;
use dering_control::{ControlError, Request};
use serde::Deserialize;

use super::{feed, sse};
use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ui::{csrf_field, esc, page_with};

/// The API's documentation of the live page and its actions.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(api, events, hangup_api, transfer_api, listen_api),
    components(schemas(TransferForm, ListenForm))
)]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/live", get(page))
        .route("/live/events", get(events))
        .route("/live/calls/{uuid}/hangup", post(hangup_form))
        .route("/live/calls/{uuid}/transfer", post(transfer_form))
        .route("/live/listen", post(listen_form))
        .route("/api/v1/live", get(api))
        .route("/api/v1/live/events", get(events))
        .route("/api/v1/live/calls/{uuid}/hangup", post(hangup_api))
        .route("/api/v1/live/calls/{uuid}/transfer", post(transfer_api))
        .route("/api/v1/live/listen", post(listen_api))
}

fn t(v: &Viewer, id: &'static str, en: &'static str) -> &'static str {
    v.lang.t(&Text { id, en })
}

/// The live view as Server-Sent Events: `snapshot` (the whole view),
/// then `call`, `call_ended`, `agent`, `queues`, `health`, `feed`.
#[utoipa::path(get, path = "/api/v1/live/events", tag = "live",
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 401), (status = 403)),
    security(("bearer" = [])))]
async fn events(State(state): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    v.require(Perm::ViewLive)?;
    Ok(sse::stream(feed::hub(state.data_dir())).into_response())
}

/// The live view now: calls, agents, queues, the feed's state, health.
#[utoipa::path(get, path = "/api/v1/live", tag = "live",
    responses((status = 200, body = Object), (status = 401), (status = 403)),
    security(("bearer" = [])))]
async fn api(
    State(state): State<AppState>,
    v: Viewer,
) -> Result<Json<serde_json::Value>, AppError> {
    v.require(Perm::ViewLive)?;
    let hub = feed::hub(state.data_dir());
    let (live, connected) = hub.state();
    let health = hub
        .health()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p.json).ok());
    Ok(Json(serde_json::json!({
        "live": live,
        "connected": connected,
        "health": health,
    })))
}

async fn page(State(state): State<AppState>, v: Viewer) -> Result<Html<String>, AppError> {
    v.require(Perm::ViewLive)?;
    // Start the shared feed now, so the page's stream finds it warm.
    let _ = feed::hub(state.data_dir());
    let supervise = v.may(Perm::SuperviseCalls);
    // The health panel links the outbox page for those who may open it.
    let outbox = v.may(Perm::SyncOutbox);
    let mut b = format!(
        "<link rel=\"stylesheet\" href=\"/assets/live.css\">\
         <div id=\"live\" data-supervise=\"{supervise}\" data-outbox=\"{outbox}\" data-lang=\"{}\">",
        v.lang.code()
    );
    // The CSRF token for the action forms the script builds.
    b.push_str(&format!(
        "<form id=\"csrf\" hidden>{}</form>",
        csrf_field(&v)
    ));
    b.push_str(&format!(
        "<p id=\"feed\" class=\"feed\" data-connected=\"false\">{}</p>",
        t(&v, "Menghubungkan…", "Connecting…")
    ));
    b.push_str(&crate::tickets::live_banner(&state, &v).await);
    if supervise {
        b.push_str(&format!(
            "<p><label>{}<input id=\"my-phone\" type=\"text\" inputmode=\"numeric\" size=\"8\"></label></p>",
            t(&v, "Telepon saya (untuk dengar, bisik, sela)", "My phone (to listen, whisper, barge)")
        ));
    }
    for (id, h_id, h_en, cols) in [
        (
            "calls",
            "Panggilan berlangsung",
            "Calls in progress",
            &[
                ("Penelepon", "Caller"),
                ("Tujuan", "Dialled"),
                ("Antrean", "Queue"),
                ("Agen / ekstensi", "Agent / extension"),
                ("Status", "State"),
                ("Durasi", "Duration"),
                ("Tindakan", "Actions"),
            ][..],
        ),
        (
            "queues",
            "Antrean",
            "Queues",
            &[
                ("Antrean", "Queue"),
                ("Menunggu", "Waiting"),
                ("Tunggu terlama", "Longest wait"),
                ("Agen masuk", "Agents logged in"),
                ("Agen siap", "Agents ready"),
                ("Tingkat layanan", "Service level"),
            ][..],
        ),
        (
            "agents",
            "Agen",
            "Agents",
            &[
                ("Agen", "Agent"),
                ("Nama", "Name"),
                ("Ekstensi", "Extension"),
                ("Status", "State"),
                ("Sejak", "For"),
                ("Panggilan", "Calls"),
            ][..],
        ),
        (
            "trunks",
            "Trunk",
            "Trunks",
            &[
                ("Trunk", "Trunk"),
                ("Terdaftar", "Registered"),
                ("Kesehatan", "Health"),
                ("Alarm", "Alarm"),
                ("Sebab", "Why"),
                ("Sejak", "For"),
            ][..],
        ),
        (
            "bursts",
            "Alarm panggilan keluar beruntun",
            "Outside-call burst alarms",
            &[
                ("Waktu", "When"),
                ("Ekstensi", "Extension"),
                ("Panggilan", "Calls"),
                ("Dalam", "Within"),
            ][..],
        ),
        (
            "health",
            "Kesehatan sistem dan UPS",
            "System health and UPS",
            &[
                ("Daemon", "Daemon"),
                ("Status", "Status"),
                ("Keterangan", "Detail"),
            ][..],
        ),
    ] {
        b.push_str(&format!(
            "<section><h2>{}</h2><table id=\"{id}\"><thead><tr>",
            esc(v.lang.t(&Text { id: h_id, en: h_en }))
        ));
        for (c_id, c_en) in cols {
            b.push_str(&format!(
                "<th>{}</th>",
                esc(v.lang.t(&Text { id: c_id, en: c_en }))
            ));
        }
        b.push_str("</tr></thead><tbody></tbody></table></section>");
    }
    b.push_str("</div>");
    Ok(page_with(
        &v,
        t(&v, "Pemantauan langsung", "Live"),
        &b,
        &["live.js"],
    ))
}

/// A number typed into `field`: digits (with `*`, `#`, a leading `+`),
/// at most 32.
fn dial_string(field: &str, s: &str) -> Result<String, AppError> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.char_indices()
            .all(|(i, c)| c.is_ascii_digit() || c == '*' || c == '#' || (c == '+' && i == 0));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(AppError::invalid(field, "digits only"))
    }
}

/// pbxd's refusals as the user's mistake where they are one.
fn refused(e: AppError, field: &str) -> AppError {
    match e {
        AppError::Control(ClientError::Refused(ControlError::NoSuchCall { .. })) => {
            AppError::NotFound
        }
        AppError::Control(ClientError::Refused(ControlError::NoSuchExtension { extension })) => {
            AppError::invalid(field, format!("no extension {extension}"))
        }
        AppError::Control(ClientError::Refused(ControlError::Refused { message })) => {
            AppError::invalid(field, message)
        }
        e => e,
    }
}

/// Sends `req` to pbxd and audits it as `action` on `target`.
async fn act(
    state: &AppState,
    v: &Viewer,
    req: Request,
    action: &str,
    target: &str,
    field: &str,
) -> Result<serde_json::Value, AppError> {
    v.require(Perm::SuperviseCalls)?;
    let reply = state.control(&req).await.map_err(|e| refused(e, field))?;
    let after = serde_json::json!({ "request": req, "reply": reply });
    crate::audit::log(state, v, action, target, None, Some(after.clone())).await?;
    Ok(after)
}

async fn hangup(state: &AppState, v: &Viewer, uuid: String) -> Result<serde_json::Value, AppError> {
    let target = format!("call {uuid}");
    act(
        state,
        v,
        Request::Hangup { uuid },
        "call.hangup",
        &target,
        "uuid",
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TransferForm {
    to: String,
}

async fn transfer(
    state: &AppState,
    v: &Viewer,
    uuid: String,
    f: TransferForm,
) -> Result<serde_json::Value, AppError> {
    v.require(Perm::SuperviseCalls)?;
    let to = dial_string("to", &f.to)?;
    let target = format!("call {uuid}");
    act(
        state,
        v,
        Request::Transfer { uuid, to },
        "call.transfer",
        &target,
        "to",
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ListenForm {
    /// The extension whose call to monitor.
    extension: String,
    /// `listen`, `whisper` or `barge`.
    mode: String,
    /// The supervisor's own phone, which pbxd rings.
    phone: String,
}

async fn listen(
    state: &AppState,
    v: &Viewer,
    f: ListenForm,
) -> Result<serde_json::Value, AppError> {
    v.require(Perm::SuperviseCalls)?;
    let extension = dial_string("extension", &f.extension)?;
    let supervisor = dial_string("phone", &f.phone)?;
    if !matches!(f.mode.as_str(), "listen" | "whisper" | "barge") {
        return Err(AppError::invalid("mode", "listen, whisper or barge"));
    }
    let target = format!("extension {extension}");
    let action = format!("call.{}", f.mode);
    let req = Request::Listen {
        supervisor,
        extension,
        mode: f.mode,
    };
    act(state, v, req, &action, &target, "phone").await
}

async fn hangup_form(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Redirect, AppError> {
    hangup(&state, &v, uuid).await?;
    Ok(Redirect::to("/live"))
}

/// Hangs up a call in progress (supervisors; audited).
#[utoipa::path(post, path = "/api/v1/live/calls/{uuid}/hangup", tag = "live",
    params(("uuid" = String, Path, description = "The call's UUID")),
    responses((status = 200, body = Object), (status = 401), (status = 403), (status = 404), (status = 503)),
    security(("bearer" = [])))]
async fn hangup_api(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(hangup(&state, &v, uuid).await?))
}

async fn transfer_form(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Form(f): Form<TransferForm>,
) -> Result<Redirect, AppError> {
    transfer(&state, &v, uuid, f).await?;
    Ok(Redirect::to("/live"))
}

/// Hands a call's caller to extension `to` (supervisors; audited).
#[utoipa::path(post, path = "/api/v1/live/calls/{uuid}/transfer", tag = "live",
    params(("uuid" = String, Path, description = "The call's UUID")),
    request_body = TransferForm,
    responses((status = 200, body = Object), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
async fn transfer_api(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Json(f): Json<TransferForm>,
) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(transfer(&state, &v, uuid, f).await?))
}

async fn listen_form(
    State(state): State<AppState>,
    v: Viewer,
    Form(f): Form<ListenForm>,
) -> Result<Redirect, AppError> {
    listen(&state, &v, f).await?;
    Ok(Redirect::to("/live"))
}

/// Rings the supervisor's phone to listen, whisper or barge on an
/// extension's call (supervisors; audited).
#[utoipa::path(post, path = "/api/v1/live/listen", tag = "live",
    request_body = ListenForm,
    responses((status = 200, body = Object), (status = 401), (status = 403), (status = 422), (status = 503)),
    security(("bearer" = [])))]
async fn listen_api(
    State(state): State<AppState>,
    v: Viewer,
    Json(f): Json<ListenForm>,
) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(listen(&state, &v, f).await?))
}
