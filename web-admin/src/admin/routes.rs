//! The handlers: `/admin/…` pages and the same actions as JSON under
//! `/api/v1/admin/…`. Each checks the viewer's permission first (reading
//! needs `view_config`; a screen's `Editor` says whether a change needs
//! `edit_config` or `edit_acd`), then calls `service`, and audits every
//! change with the entry before and after (secrets hidden).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use dering_control::{Request, Response as ControlResponse};
use serde_json::{json, Value};

use super::apply::{self, ApplyError};
use super::form;
use super::pages;
use super::prompts;
use super::screens::{screen, Editor, Screen};
use super::service::{self, Saved, ServiceError};
use super::system;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::ui;

/// The API's documentation of the configuration screens.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(
    api_list,
    api_entry,
    api_create,
    api_update,
    api_delete,
    api_versions,
    api_export,
    api_restore,
    api_backup,
    api_blocked,
    api_unblock,
    api_prompts,
    api_prompt_upload,
    api_prompt_delete
))]
pub struct Api;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/versions", get(versions_page))
        .route("/admin/versions/{version}/restore", post(restore_page))
        .route("/admin/blocked", get(blocked_page))
        .route("/admin/blocked/{ip}/unblock", post(unblock_page))
        .route("/admin/prompts", get(prompts_page))
        .route("/admin/prompts/{folder}/{name}", get(prompt_audio))
        .route("/api/v1/admin/prompts", get(api_prompts))
        .route(
            "/api/v1/admin/prompts/{folder}/{name}",
            axum::routing::put(api_prompt_upload)
                .delete(api_prompt_delete)
                .layer(axum::extract::DefaultBodyLimit::max(prompts::MAX_UPLOAD)),
        )
        .route("/admin/{slug}", get(list_page).post(create_page))
        .route("/admin/{slug}/new", get(new_page))
        .route(
            "/admin/{slug}/entry/{key}",
            get(edit_page).post(update_page),
        )
        .route("/admin/{slug}/entry/{key}/delete", post(delete_page))
        .route("/api/v1/admin/versions", get(api_versions))
        .route("/api/v1/admin/versions/{version}", get(api_export))
        .route("/api/v1/admin/restore", post(api_restore))
        .route("/api/v1/admin/backup", get(api_backup))
        .route("/api/v1/admin/blocked", get(api_blocked))
        .route("/api/v1/admin/blocked/{ip}/unblock", post(api_unblock))
        .route("/api/v1/admin/{slug}", get(api_list).post(api_create))
        .route(
            "/api/v1/admin/{slug}/{key}",
            get(api_entry).put(api_update).delete(api_delete),
        )
}

fn screen_of(slug: &str) -> Result<&'static Screen, AppError> {
    screen(slug).ok_or(AppError::NotFound)
}

/// A screen's page (its list, or its form) in the admin frame: the
/// screen's title and the admin scripts, the same for every screen page.
fn screen_page(viewer: &Viewer, screen: &Screen, body: &str) -> Html<String> {
    ui::page_with(
        viewer,
        pages::title(screen, viewer.lang),
        body,
        pages::SCRIPTS,
    )
}

/// The permission a change on `screen` needs.
fn edit_perm(screen: &Screen) -> Perm {
    match screen.editor {
        Editor::Admin => Perm::EditConfig,
        Editor::Supervisor => Perm::EditAcd,
    }
}

/// A service error as the response, a refusal in the viewer's language.
fn service_error(e: ServiceError, lang: crate::i18n::Lang) -> AppError {
    match e {
        ServiceError::Refused(r) => AppError::Invalid {
            message: r.message_in(lang),
            field: r.field.unwrap_or_else(|| "document".into()),
        },
        ServiceError::NotFound => AppError::NotFound,
        ServiceError::Stale { .. } => AppError::Conflict {
            field: service::BASE_VERSION.into(),
            message: e.to_string(),
        },
        ServiceError::Apply(ApplyError::Busy) => AppError::Conflict {
            field: "document".into(),
            message: ApplyError::Busy.to_string(),
        },
        ServiceError::Apply(ApplyError::NoVersion) => AppError::NotFound,
        other => AppError::Internal(other.to_string()),
    }
}

async fn audited(
    state: &AppState,
    viewer: &Viewer,
    screen: &Screen,
    action: &str,
    saved: &Saved,
) -> Result<(), AppError> {
    let side = |e: &Option<super::document::Entry>| e.as_ref().map(|e| json!(e.values));
    let mut after = side(&saved.after);
    if let Some(Value::Object(m)) = after.as_mut() {
        m.insert("_version".into(), json!(saved.applied.version));
    }
    audit::log(
        state,
        viewer,
        &format!("config.{}.{action}", screen.slug),
        &format!("{} {}", screen.slug, saved.key),
        side(&saved.before),
        after.or_else(|| Some(json!({"_version": saved.applied.version}))),
    )
    .await
}

/// The agents screen shows who is logged in where (from pbxd, when it
/// runs): the admin sees at once that a new agent works.
async fn with_live(state: &AppState, screen: &Screen, view: &mut service::ScreenView) {
    if screen.slug != "agents" {
        return;
    }
    let Ok(ControlResponse::Agents { agents }) = state.control(&Request::Agents).await else {
        return;
    };
    for e in &mut view.entries {
        e.live = agents
            .iter()
            .find(|a| a.agent == e.entry.key)
            .and_then(|a| serde_json::to_value(a).ok());
    }
}

/// What a saved version changes outside the configuration: the system
/// screen's NTP servers go to chrony's sources file.
async fn after_applied(state: &AppState, version: i64) {
    let Some(cfg) = current_config(state).await else {
        return;
    };
    let outcome = system::apply_ntp(state.data_dir(), &cfg, version).await;
    tracing::debug!(?outcome, "NTP sources after version {version}");
}

async fn current_config(state: &AppState) -> Option<dering_config::Config> {
    let dir = state.data_dir().to_path_buf();
    let current = tokio::task::spawn_blocking(move || apply::current(&dir))
        .await
        .ok()?
        .ok()?;
    dering_config::Config::parse(&current.document, "current").ok()
}

/// The system page's blocks beyond its settings and the network: time
/// and NTP, the certificate, backup and restore.
async fn system_blocks(state: &AppState, viewer: &Viewer) -> String {
    let sources = current_config(state)
        .await
        .map(|c| system::sources_dir(state.data_dir(), &c.system))
        .unwrap_or_else(|| state.data_dir().to_path_buf())
        .join(system::SOURCES_FILE);
    let tracking = system::tracking().await;
    let cert = tokio::fs::read(crate::tls::dir(state.data_dir()).join("cert.pem"))
        .await
        .ok()
        .and_then(|pem| crate::certificate::fingerprint(&pem));
    let mut s = system::time_block(viewer.lang, &sources, tracking.as_deref());
    s.push_str(&system::certificate_block(viewer.lang, cert.as_deref()));
    s.push_str(&system::backup_block(
        viewer.lang,
        viewer.may(Perm::EditConfig),
        viewer.csrf_token(),
    ));
    s
}

/// The addresses the box serves on, read only: they are bound once at
/// start, from the file and the command line (decision 0013).
async fn network_summary(state: &AppState) -> String {
    let dir = state.data_dir().to_path_buf();
    let Ok(Ok(current)) = tokio::task::spawn_blocking(move || apply::current(&dir)).await else {
        return String::new();
    };
    let Ok(cfg) = dering_config::Config::parse(&current.document, "current") else {
        return String::new();
    };
    let rows = [
        (
            "SIP",
            format!(
                "{} udp/tcp {}/{} tls {}",
                cfg.sip.bind, cfg.sip.udp_port, cfg.sip.tcp_port, cfg.sip.tls_port
            ),
        ),
        (
            "SIP advertise",
            cfg.sip
                .advertise
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "RTP",
            format!("{}-{}", cfg.media.rtp_port_min, cfg.media.rtp_port_max),
        ),
        ("HTTP", format!("{}:{}", cfg.http.bind, cfg.http.port)),
    ];
    let mut s = String::from("<h2>Network</h2><table class=\"network\"><tbody>");
    for (k, v) in rows {
        s.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            ui::esc(k),
            ui::esc(&v)
        ));
    }
    s.push_str("</tbody></table>");
    s
}

// ---- pages ----

#[derive(Debug, serde::Deserialize)]
struct Flash {
    saved: Option<i64>,
    live: Option<u8>,
}

async fn index(viewer: Viewer) -> Result<Html<String>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    Ok(ui::page_with(
        &viewer,
        viewer.lang.t(&pages::TITLE),
        &pages::index(&viewer),
        pages::SCRIPTS,
    ))
}

async fn list_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let screen = screen_of(&slug)?;
    let mut view = service::view(state.data_dir(), screen)
        .await
        .map_err(|e| service_error(e, viewer.lang))?;
    with_live(&state, screen, &mut view).await;
    let mut body = flash
        .saved
        .map(|v| pages::flash(viewer.lang, v, flash.live == Some(1)))
        .unwrap_or_default();
    body.push_str(&pages::list(
        &viewer,
        screen,
        &view,
        viewer.may(edit_perm(screen)),
    ));
    if screen.slug == "system" {
        body.push_str(&network_summary(&state).await);
        body.push_str(&system_blocks(&state, &viewer).await);
    }
    Ok(screen_page(&viewer, screen, &body))
}

async fn new_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> Result<Html<String>, AppError> {
    let screen = screen_of(&slug)?;
    viewer.require(edit_perm(screen))?;
    let version = service::view(state.data_dir(), screen)
        .await
        .map_or(0, |v| v.version);
    let body = pages::form(&viewer, screen, None, &BTreeMap::new(), None, version, true);
    Ok(screen_page(&viewer, screen, &body))
}

async fn edit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, key)): Path<(String, String)>,
) -> Result<Html<String>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let screen = screen_of(&slug)?;
    let view = service::view(state.data_dir(), screen)
        .await
        .map_err(|e| service_error(e, viewer.lang))?;
    let entry = view
        .entries
        .iter()
        .find(|e| e.entry.key == key)
        .ok_or(AppError::NotFound)?;
    let body = pages::form(
        &viewer,
        screen,
        Some(&key),
        &pages::values_of(Some(&entry.entry)),
        None,
        view.version,
        viewer.may(edit_perm(screen)),
    );
    Ok(screen_page(&viewer, screen, &body))
}

async fn create_page(
    state: State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    save_page(state, viewer, slug, None, form).await
}

async fn update_page(
    state: State<AppState>,
    viewer: Viewer,
    Path((slug, key)): Path<(String, String)>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    save_page(state, viewer, slug, Some(key), form).await
}

/// A refused form comes back with what was typed and the field marked.
async fn save_page(
    State(state): State<AppState>,
    viewer: Viewer,
    slug: String,
    original: Option<String>,
    form: BTreeMap<String, String>,
) -> Result<Response, AppError> {
    let screen = screen_of(&slug)?;
    viewer.require(edit_perm(screen))?;
    let action = if original.is_some() || screen.key.is_empty() {
        "update"
    } else {
        "create"
    };
    let version = form
        .get(service::BASE_VERSION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match service::save(
        state.data_dir(),
        screen,
        original.clone(),
        form.clone(),
        &viewer.login,
        state.now_ms(),
    )
    .await
    {
        Ok(saved) => {
            audited(&state, &viewer, screen, action, &saved).await?;
            if screen.slug == "system" {
                after_applied(&state, saved.applied.version).await;
            }
            Ok(saved_redirect(screen, &saved))
        }
        Err(ServiceError::Refused(refusal)) => {
            let body = pages::form(
                &viewer,
                screen,
                original.as_deref(),
                &form,
                Some(&refusal),
                version,
                true,
            );
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                screen_page(&viewer, screen, &body),
            )
                .into_response())
        }
        Err(e) => Err(service_error(e, viewer.lang)),
    }
}

fn saved_redirect(screen: &Screen, saved: &Saved) -> Response {
    Redirect::to(&format!(
        "/admin/{}?saved={}&live={}",
        screen.slug,
        saved.applied.version,
        u8::from(saved.applied.live)
    ))
    .into_response()
}

async fn delete_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, key)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let screen = screen_of(&slug)?;
    viewer.require(edit_perm(screen))?;
    let saved = service::delete(state.data_dir(), screen, key, &viewer.login, state.now_ms())
        .await
        .map_err(|e| service_error(e, viewer.lang))?;
    audited(&state, &viewer, screen, "delete", &saved).await?;
    Ok(saved_redirect(screen, &saved))
}

// ---- the API ----

/// The JSON body as form fields. Read after the permission check, so a
/// role without the permission gets 403 whatever it sent.
fn api_form(body: &[u8]) -> Result<BTreeMap<String, String>, AppError> {
    let map: serde_json::Map<String, Value> = serde_json::from_slice(body)
        .map_err(|_| AppError::invalid("body", "a JSON object of the entry's fields"))?;
    Ok(form::from_json(&map))
}

#[utoipa::path(get, path = "/api/v1/admin/{slug}", tag = "admin", params(("slug" = String, Path, description = "The screen: extensions, agents, queues, vip, blocklist, priority, numbers, trunks, routes, conferences, supervisors, features, recording, moh, system, ups, calendars")),
    responses((status = 200, body = serde_json::Value, description = "The entries, each with who changed it last"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn api_list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> Result<Json<service::ScreenView>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let screen = screen_of(&slug)?;
    let mut view = service::view(state.data_dir(), screen)
        .await
        .map_err(|e| service_error(e, viewer.lang))?;
    with_live(&state, screen, &mut view).await;
    Ok(Json(view))
}

#[utoipa::path(get, path = "/api/v1/admin/{slug}/{key}", tag = "admin", params(("slug" = String, Path, description = "The screen: extensions, agents, queues, vip, blocklist, priority, numbers, trunks, routes, conferences, supervisors, features, recording, moh, system, ups, calendars"), ("key" = String, Path, description = "The entry: its number, id or name")),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn api_entry(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, key)): Path<(String, String)>,
) -> Result<Json<service::EntryView>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let screen = screen_of(&slug)?;
    service::view(state.data_dir(), screen)
        .await
        .map_err(|e| service_error(e, viewer.lang))?
        .entries
        .into_iter()
        .find(|e| e.entry.key == key)
        .map(Json)
        .ok_or(AppError::NotFound)
}

#[utoipa::path(post, path = "/api/v1/admin/{slug}", tag = "admin", params(("slug" = String, Path, description = "The screen: extensions, agents, queues, vip, blocklist, priority, numbers, trunks, routes, conferences, supervisors, features, recording, moh, system, ups, calendars")),
    request_body(content = serde_json::Value, description = "The entry's fields (a settings screen: the settings to change)"),
    responses((status = 201, body = serde_json::Value, description = "Stored as the next version"), (status = 200, description = "Settings changed"), (status = 401), (status = 403), (status = 409), (status = 422, description = "Refused, naming the field")),
    security(("bearer" = [])))]
async fn api_create(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Saved>), AppError> {
    let screen = screen_of(&slug)?;
    viewer.require(edit_perm(screen))?;
    let saved = service::save(
        state.data_dir(),
        screen,
        None,
        api_form(&body)?,
        &viewer.login,
        state.now_ms(),
    )
    .await
    .map_err(|e| service_error(e, viewer.lang))?;
    let (action, status) = if screen.key.is_empty() {
        ("update", StatusCode::OK)
    } else {
        ("create", StatusCode::CREATED)
    };
    audited(&state, &viewer, screen, action, &saved).await?;
    if screen.slug == "system" {
        after_applied(&state, saved.applied.version).await;
    }
    Ok((status, Json(saved)))
}

#[utoipa::path(put, path = "/api/v1/admin/{slug}/{key}", tag = "admin", params(("slug" = String, Path, description = "The screen: extensions, agents, queues, vip, blocklist, priority, numbers, trunks, routes, conferences, supervisors, features, recording, moh, system, ups, calendars"), ("key" = String, Path, description = "The entry: its number, id or name")),
    request_body(content = serde_json::Value),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn api_update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, key)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Saved>, AppError> {
    let screen = screen_of(&slug)?;
    viewer.require(edit_perm(screen))?;
    let saved = service::save(
        state.data_dir(),
        screen,
        Some(key),
        api_form(&body)?,
        &viewer.login,
        state.now_ms(),
    )
    .await
    .map_err(|e| service_error(e, viewer.lang))?;
    audited(&state, &viewer, screen, "update", &saved).await?;
    if screen.slug == "system" {
        after_applied(&state, saved.applied.version).await;
    }
    Ok(Json(saved))
}

#[utoipa::path(delete, path = "/api/v1/admin/{slug}/{key}", tag = "admin", params(("slug" = String, Path, description = "The screen: extensions, agents, queues, vip, blocklist, priority, numbers, trunks, routes, conferences, supervisors, features, recording, moh, system, ups, calendars"), ("key" = String, Path, description = "The entry: its number, id or name")),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
async fn api_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, key)): Path<(String, String)>,
) -> Result<Json<Saved>, AppError> {
    let screen = screen_of(&slug)?;
    viewer.require(edit_perm(screen))?;
    let saved = service::delete(state.data_dir(), screen, key, &viewer.login, state.now_ms())
        .await
        .map_err(|e| service_error(e, viewer.lang))?;
    audited(&state, &viewer, screen, "delete", &saved).await?;
    Ok(Json(saved))
}

// ---- versions: backup (export) and restore (import) ----

async fn list_versions(state: &AppState) -> Result<Vec<dering_store::ConfigVersion>, AppError> {
    let dir = state.data_dir().to_path_buf();
    tokio::task::spawn_blocking(move || apply::history(&dir))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))
}

#[utoipa::path(get, path = "/api/v1/admin/versions", tag = "admin",
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403)),
    security(("bearer" = [])))]
async fn api_versions(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let versions = list_versions(&state).await?;
    Ok(Json(json!({ "versions": versions })))
}

/// A version's whole document (the backup). It holds passwords and PINs:
/// admins only, and audited as a sensitive read.
#[utoipa::path(get, path = "/api/v1/admin/versions/{version}", tag = "admin", params(("version" = i64, Path)),
    responses((status = 200, content_type = "application/toml", body = String, description = "The whole document (audited)"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn api_export(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(version): Path<i64>,
) -> Result<Response, AppError> {
    viewer.require(Perm::EditConfig)?;
    let dir = state.data_dir().to_path_buf();
    let v = tokio::task::spawn_blocking(move || {
        dering_store::Store::open(&dir.join("dering.db"))
            .and_then(|s| s.config_version(Some(version)))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Internal(e.to_string()))?
    .ok_or(AppError::NotFound)?;
    audit::log(
        &state,
        &viewer,
        "config.export",
        &format!("version {version}"),
        None,
        None,
    )
    .await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/toml; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"dering-v{version}.toml\""),
            ),
        ],
        v.document,
    )
        .into_response())
}

/// The whole configuration in one download: the running document and
/// every version (the system page's backup). It holds passwords and
/// PINs: admins only, audited as a sensitive read.
#[utoipa::path(get, path = "/api/v1/admin/backup", tag = "admin",
    responses((status = 200, content_type = "application/json", body = serde_json::Value, description = "{format, current_version, document, versions} (audited)"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
async fn api_backup(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::EditConfig)?;
    let dir = state.data_dir().to_path_buf();
    let backup = tokio::task::spawn_blocking(move || {
        let store = dering_store::Store::open(&dir.join("dering.db"))?;
        let versions = store.config_versions(true)?;
        Ok::<_, dering_store::StoreError>(versions)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let current = backup.last().ok_or(AppError::NotFound)?;
    let body = system::Backup {
        format: "dering-backup",
        current_version: current.version,
        document: current.document.clone(),
        versions: backup.clone(),
    };
    audit::log(
        &state,
        &viewer,
        "config.backup",
        &format!("versions 1-{}", current.version),
        None,
        None,
    )
    .await?;
    let date = state.zone().time(state.now_ms());
    let date = date.get(..10).unwrap_or("backup");
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"dering-backup-{date}.json\""),
        )],
        Json(body),
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize)]
struct Restore {
    /// A whole document (an uploaded backup) …
    document: Option<String>,
    /// … or an earlier version to go back to.
    version: Option<i64>,
}

async fn restore(
    state: &AppState,
    viewer: &Viewer,
    r: Restore,
) -> Result<apply::Applied, AppError> {
    viewer.require(Perm::EditConfig)?;
    let (document, what) = match (r.document, r.version) {
        // A plain dering.toml, or a backup of the system page (its
        // running document).
        (Some(d), None) => (
            system::restored_document(&d),
            "uploaded document".to_string(),
        ),
        (None, Some(v)) => {
            let dir = state.data_dir().to_path_buf();
            let doc = tokio::task::spawn_blocking(move || {
                dering_store::Store::open(&dir.join("dering.db"))
                    .and_then(|s| s.config_version(Some(v)))
            })
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::Internal(e.to_string()))?
            .ok_or_else(|| AppError::invalid("version", "no such version"))?;
            (doc.document, format!("version {v}"))
        }
        _ => {
            return Err(AppError::invalid(
                "document",
                "give a document or a version",
            ))
        }
    };
    let applied = apply::import(state.data_dir(), document, &viewer.login, state.now_ms())
        .await
        .map_err(|e| match e {
            ApplyError::Invalid(m) => AppError::invalid("document", m),
            ApplyError::Loader(e) => {
                tracing::info!(error = %e, "restored document refused");
                AppError::invalid("document", crate::i18n::config_error(viewer.lang, &e))
            }
            ApplyError::Busy => AppError::Conflict {
                field: "document".into(),
                message: e.to_string(),
            },
            other => AppError::Internal(other.to_string()),
        })?;
    audit::log(
        state,
        viewer,
        "config.restore",
        &what,
        None,
        Some(json!({"_version": applied.version, "summary": applied.summary})),
    )
    .await?;
    after_applied(state, applied.version).await;
    Ok(applied)
}

#[utoipa::path(post, path = "/api/v1/admin/restore", tag = "admin",
    request_body(content = serde_json::Value, description = "{\"document\": TOML} or {\"version\": N}"),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
async fn api_restore(
    State(state): State<AppState>,
    viewer: Viewer,
    body: axum::body::Bytes,
) -> Result<Json<apply::Applied>, AppError> {
    viewer.require(Perm::EditConfig)?;
    let r: Restore = serde_json::from_slice(&body)
        .map_err(|_| AppError::invalid("body", "{\"document\": TOML} or {\"version\": N}"))?;
    Ok(Json(restore(&state, &viewer, r).await?))
}

async fn restore_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(version): Path<i64>,
) -> Result<Response, AppError> {
    let applied = restore(
        &state,
        &viewer,
        Restore {
            document: None,
            version: Some(version),
        },
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/admin/versions?saved={}&live={}",
        applied.version,
        u8::from(applied.live)
    ))
    .into_response())
}

async fn versions_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let versions = list_versions(&state).await?;
    let admin = viewer.may(Perm::EditConfig);
    let mut s = flash
        .saved
        .map(|v| pages::flash(viewer.lang, v, flash.live == Some(1)))
        .unwrap_or_default();
    s.push_str(
        "<table><thead><tr><th>#</th><th></th><th></th><th></th><th></th></tr></thead><tbody>",
    );
    for v in versions.iter().rev() {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            v.version,
            ui::esc(&viewer.zone.time(v.at_ms)),
            ui::esc(&v.author),
            ui::esc(&v.summary)
        ));
        if admin {
            s.push_str(&format!(
                "<a href=\"/api/v1/admin/versions/{n}\">TOML</a> \
                 <form method=\"post\" class=\"inline\" action=\"/admin/versions/{n}/restore\">{}\
                 <button type=\"submit\">↺</button></form>",
                ui::csrf_field(&viewer),
                n = v.version
            ));
        }
        s.push_str("</td></tr>");
    }
    s.push_str("</tbody></table>");
    Ok(ui::page_with(
        &viewer,
        "Versi / Versions",
        &s,
        pages::SCRIPTS,
    ))
}

// ---- the live block list (addresses pbxd blocked after failed logins) ----

async fn blocked(state: &AppState) -> Result<Vec<dering_control::BlockedView>, AppError> {
    match state.control(&Request::Blocked).await? {
        ControlResponse::Blocked { blocked } => Ok(blocked),
        other => Err(AppError::Internal(format!(
            "pbxd answered {}",
            other.kind()
        ))),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/blocked", tag = "admin",
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 502), (status = 503)),
    security(("bearer" = [])))]
async fn api_blocked(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    Ok(Json(json!({ "blocked": blocked(&state).await? })))
}

async fn unblock(state: &AppState, viewer: &Viewer, ip: String) -> Result<bool, AppError> {
    viewer.require(Perm::EditAcd)?;
    if ip.parse::<std::net::IpAddr>().is_err() {
        return Err(AppError::invalid("ip", "not an IP address"));
    }
    let was = match state.control(&Request::Unblock { ip: ip.clone() }).await? {
        ControlResponse::Unblocked { was_blocked, .. } => was_blocked,
        other => {
            return Err(AppError::Internal(format!(
                "pbxd answered {}",
                other.kind()
            )))
        }
    };
    audit::log(
        state,
        viewer,
        "config.blocked.unblock",
        &ip,
        Some(json!({"blocked": was})),
        Some(json!({"blocked": false})),
    )
    .await?;
    Ok(was)
}

#[utoipa::path(post, path = "/api/v1/admin/blocked/{ip}/unblock", tag = "admin", params(("ip" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 422), (status = 502), (status = 503)),
    security(("bearer" = [])))]
async fn api_unblock(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(ip): Path<String>,
) -> Result<Json<Value>, AppError> {
    let was = unblock(&state, &viewer, ip.clone()).await?;
    Ok(Json(json!({"ip": ip, "was_blocked": was})))
}

async fn unblock_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(ip): Path<String>,
) -> Result<Response, AppError> {
    unblock(&state, &viewer, ip).await?;
    Ok(Redirect::to("/admin/blocked").into_response())
}

async fn blocked_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Html<String>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let list = blocked(&state).await?;
    let mut s = String::from("<table><tbody>");
    for b in &list {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{} s</td><td>",
            ui::esc(&b.ip),
            b.seconds_left
        ));
        if viewer.may(Perm::EditAcd) {
            s.push_str(&format!(
                "<form method=\"post\" class=\"inline\" action=\"/admin/blocked/{}/unblock\">{}<button type=\"submit\">✕</button></form>",
                ui::url_encode(&b.ip),
                ui::csrf_field(&viewer)
            ));
        }
        s.push_str("</td></tr>");
    }
    s.push_str("</tbody></table>");
    Ok(ui::page_with(
        &viewer,
        "Blokir / Blocked",
        &s,
        pages::SCRIPTS,
    ))
}

// ---- prompts and music on hold ----

/// Where pbxd reads prompts, from the current version's `[flows] prompts`.
async fn prompts_dir(state: &AppState) -> Result<std::path::PathBuf, AppError> {
    let dir = state.data_dir().to_path_buf();
    let current = tokio::task::spawn_blocking(move || apply::current(&dir))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let configured = dering_config::Config::parse(&current.document, "current")
        .ok()
        .and_then(|c| c.flows.prompts);
    Ok(prompts::directory(state.data_dir(), configured.as_deref()))
}

fn prompt_error(e: prompts::PromptError) -> AppError {
    match e {
        prompts::PromptError::Refused { field, message } => AppError::invalid(field, message),
        other => AppError::Internal(other.to_string()),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/prompts", tag = "admin",
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403)),
    security(("bearer" = [])))]
async fn api_prompts(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let dir = prompts_dir(&state).await?;
    let list = prompts::list(&dir).map_err(prompt_error)?;
    Ok(Json(json!({ "directory": dir, "prompts": list })))
}

/// The upload is the request body (WAV or MP3), so the page's script
/// sends the file as it is, with the CSRF header.
#[utoipa::path(put, path = "/api/v1/admin/prompts/{folder}/{name}", tag = "admin", params(("folder" = String, Path, description = "id, en or music"), ("name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "audio/wav", description = "WAV or MP3"),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn api_prompt_upload(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((folder, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AppError> {
    viewer.require(Perm::EditConfig)?;
    let dir = prompts_dir(&state).await?;
    let target = prompts::path_of(&dir, &folder, &name).map_err(prompt_error)?;
    let before = pbxd::prompt_store::read_meta(&target);
    let replaced = target.exists();
    let placed = prompts::store(&body, &target).await.map_err(prompt_error)?;
    // Live for the next call, or refused with the old prompt kept.
    let reloaded = prompts::apply(placed, state.data_dir())
        .await
        .map_err(prompt_error)?;
    let meta = pbxd::prompt_store::Meta {
        by: viewer.login.clone(),
        source: "web".into(),
        at_ms: state.now_ms(),
    };
    if let Err(e) = pbxd::prompt_store::write_meta(&target, &meta) {
        tracing::warn!(error = %e, prompt = %format!("{folder}/{name}"), "prompt metadata not written");
    }
    audit::log(
        &state,
        &viewer,
        "config.prompts.upload",
        &format!("{folder}/{name}"),
        replaced.then(|| json!({"replaced": true, "made": before})),
        Some(json!({"bytes_uploaded": body.len(), "reloaded": reloaded})),
    )
    .await?;
    Ok(Json(
        json!({"folder": folder, "name": name, "replaced": replaced, "reloaded": reloaded}),
    ))
}

/// Deletes an uploaded or recorded prompt: the built-in one of that name
/// (if any) plays again from the next call on.
#[utoipa::path(delete, path = "/api/v1/admin/prompts/{folder}/{name}", tag = "admin", params(("folder" = String, Path, description = "id, en or music"), ("name" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn api_prompt_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((folder, name)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    viewer.require(Perm::EditConfig)?;
    let dir = prompts_dir(&state).await?;
    let target = prompts::path_of(&dir, &folder, &name).map_err(prompt_error)?;
    let before = pbxd::prompt_store::read_meta(&target);
    let placed = prompts::remove(&target).await.map_err(prompt_error)?;
    let reloaded = prompts::apply(placed, state.data_dir())
        .await
        .map_err(prompt_error)?;
    let _ = tokio::fs::remove_file(pbxd::prompt_store::meta_path(&target)).await;
    audit::log(
        &state,
        &viewer,
        "config.prompts.delete",
        &format!("{folder}/{name}"),
        Some(json!({"made": before})),
        Some(json!({"reloaded": reloaded})),
    )
    .await?;
    Ok(Json(
        json!({"folder": folder, "name": name, "deleted": true, "reloaded": reloaded}),
    ))
}

async fn prompt_audio(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((folder, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let dir = prompts_dir(&state).await?;
    let path =
        prompts::path_of(&dir, &folder, name.trim_end_matches(".wav")).map_err(prompt_error)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| AppError::NotFound)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

async fn prompts_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Html<String>, AppError> {
    viewer.require(Perm::ViewConfig)?;
    let dir = prompts_dir(&state).await?;
    let list = prompts::list(&dir).map_err(prompt_error)?;
    let mut s = format!(
        "<p><code>{}</code></p><table><tbody>",
        ui::esc(&dir.display().to_string())
    );
    let editor = viewer.may(Perm::EditConfig);
    for p in &list {
        let delete = if editor {
            format!(
                "<td><button type=\"button\" class=\"prompt-delete\" data-url=\"/api/v1/admin/prompts/{}/{}\" data-csrf=\"{}\">{}</button></td>",
                ui::esc(&p.folder),
                ui::esc(&p.name),
                ui::esc(viewer.csrf_token()),
                if viewer.lang.code() == "en" { "Delete" } else { "Hapus" }
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "<tr><td>{f}</td><td>{n}</td><td>{b} B</td><td>{made}</td>\
             <td><audio controls preload=\"none\" src=\"/admin/prompts/{f}/{n}.wav\"></audio></td>{delete}</tr>",
            f = ui::esc(&p.folder),
            n = ui::esc(&p.name),
            b = p.bytes,
            made = p.made.as_ref().map_or_else(String::new, |m| format!(
                "{} ({}, {})",
                ui::esc(&m.by),
                ui::esc(&m.source),
                ui::esc(&viewer.zone.time(m.at_ms))
            )),
        ));
    }
    s.push_str("</tbody></table>");
    if viewer.may(Perm::EditConfig) {
        let options: String = prompts::FOLDERS
            .iter()
            .map(|f| format!("<option>{f}</option>"))
            .collect();
        s.push_str(&format!(
            "<form id=\"prompt-upload\" data-csrf=\"{}\">\
             <label>folder<select name=\"folder\">{options}</select></label>\
             <label>name<input name=\"name\" required pattern=\"[a-z0-9_-]{{1,40}}\"></label>\
             <label>WAV / MP3<input name=\"file\" type=\"file\" accept=\".wav,.mp3,audio/wav,audio/mpeg\" required></label>\
             <button type=\"submit\">Upload</button> <span class=\"status\" role=\"status\"></span></form>",
            ui::esc(viewer.csrf_token())
        ));
    }
    Ok(ui::page_with(&viewer, "Prompt", &s, pages::SCRIPTS))
}
