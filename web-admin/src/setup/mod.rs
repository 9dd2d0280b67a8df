//! First-boot setup after the admin account (issue 17 §3, decision
//! 0034). The one-time link (`auth::setup`) makes the admin and logs them
//! in; this page then takes the box's settings (network, host name, time
//! zone, NTP, the agency's name and numbers, SNMP, the UPS, the backup
//! destination) as the next configuration version, through the same
//! import the admin's screens use, and its "Selesai" marks setup done:
//! from then on pbxd serves SIP on the configured address
//! (`pbxd::setup_gate`). Each save also asks for `dering system apply`
//! by touching [`APPLY_REQUEST`] in the data directory, which a path unit
//! watches (webd itself cannot write the host's network settings).
//! Once setup is done these pages are gone; the admin screens remain.

pub mod settings;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::json;

use crate::admin::apply::{self, ApplyError};
use crate::app::AppState;
use crate::audit;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ui::{csrf_field, esc, page};

/// The file whose change asks the host to run `dering system apply`
/// (`dering-system-apply.path` watches it).
pub const APPLY_REQUEST: &str = "system-apply.request";

/// Where the admin step leads.
pub const SETTINGS_PATH: &str = "/setup/box";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(SETTINGS_PATH, get(settings_page).post(save))
        .route("/setup/finish", post(finish))
}

const TITLE: Text = Text {
    id: "Penyiapan pertama: kotak ini",
    en: "First setup: this box",
};
const INTRO: Text = Text {
    id: "Atur jaringan, nama, waktu dan layanan kotak ini. SIP hanya dilayani di loopback sampai Anda menekan Selesai.",
    en: "Set this box's network, name, time and services. SIP is served on loopback only until you press Finish.",
};

/// Only an admin, and only while setup is not done: afterwards the
/// page does not exist (the admin screens change these settings).
async fn guard(state: &AppState, viewer: &Viewer) -> Result<(), AppError> {
    viewer.require(Perm::EditConfig)?;
    let dir = state.data_dir().to_path_buf();
    let done = tokio::task::spawn_blocking(move || is_done(&dir))
        .await
        .map_err(|e| AppError::Internal(format!("setup check: {e}")))??;
    if done {
        return Err(AppError::NotFound);
    }
    Ok(())
}

fn is_done(data_dir: &Path) -> Result<bool, AppError> {
    let conn = rusqlite::Connection::open(data_dir.join("dering.db"))?;
    Ok(dering_store::setup::setup_done(&conn)
        .map_err(|e| AppError::Internal(e.to_string()))?
        .is_some())
}

/// Asks the host to render the settings again (the path unit).
fn request_apply(data_dir: &Path, version: i64) {
    let path = data_dir.join(APPLY_REQUEST);
    if let Err(e) = std::fs::write(&path, format!("{version}\n")) {
        tracing::warn!(file = %path.display(), error = %e, "cannot ask for `dering system apply`");
    }
}

async fn current(state: &AppState) -> Result<(i64, String), AppError> {
    let dir = state.data_dir().to_path_buf();
    let v = tokio::task::spawn_blocking(move || apply::current(&dir))
        .await
        .map_err(|e| AppError::Internal(format!("reading configuration: {e}")))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((v.version, v.document))
}

fn field(label: &str, name: &str, v: &BTreeMap<String, String>, kind: &str) -> String {
    format!(
        "<label>{label}<input name=\"{name}\" id=\"{name}\" type=\"{kind}\" value=\"{}\"></label>",
        esc(v.get(name).map_or("", String::as_str))
    )
}

fn select(
    label: &str,
    name: &str,
    v: &BTreeMap<String, String>,
    options: &[(&str, &str)],
) -> String {
    let chosen = v.get(name).map_or("", String::as_str);
    let opts: String = options
        .iter()
        .map(|(val, text)| {
            format!(
                "<option value=\"{val}\"{}>{}</option>",
                if *val == chosen { " selected" } else { "" },
                esc(text)
            )
        })
        .collect();
    format!("<label>{label}<select name=\"{name}\" id=\"{name}\">{opts}</select></label>")
}

async fn settings_page(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, AppError> {
    guard(&state, &viewer).await?;
    let (_, document) = current(&state).await?;
    let cfg = dering_config::Config::parse(&document, "current")
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(page(
        &viewer,
        viewer.lang.t(&TITLE),
        &settings_body(&viewer, &settings::current(&cfg), None),
    )
    .into_response())
}

/// The page's form with values `v`; with `refused`, the field and why,
/// above the form, so what was typed stays.
fn settings_body(
    viewer: &Viewer,
    v: &BTreeMap<String, String>,
    refused: Option<&settings::Refused>,
) -> String {
    let l = |id, en| viewer.lang.t(&Text { id, en });
    let error = refused.map_or(String::new(), |r| {
        format!(
            "<p class=\"error\" data-field=\"{f}\"><strong>{f}</strong> — {m}</p>",
            f = r.field,
            m = esc(&r.message)
        )
    });
    let v = v.clone();
    format!(
        "<p>{intro}</p>{error}\
         <form method=\"post\" action=\"{SETTINGS_PATH}\" id=\"setup-box\">{csrf}\
         <fieldset><legend>{net}</legend>{port}{mode}{address}{gateway}{dns}</fieldset>\
         <fieldset><legend>{name_time}</legend>{host}{zone}{ntp}</fieldset>\
         <fieldset><legend>{agency_l}</legend>{agency}{numbers}</fieldset>\
         <fieldset><legend>SNMP</legend>{snmp}{community}{v3u}{v3a}{v3p}</fieldset>\
         <fieldset><legend>{power}</legend>{ups}{backup}</fieldset>\
         <button id=\"save\">{save}</button></form>\
         <form method=\"post\" action=\"/setup/finish\" id=\"setup-finish\">{csrf}\
         <button id=\"finish\">{finish}</button></form>",
        intro = viewer.lang.t(&INTRO),
        csrf = csrf_field(viewer),
        net = l("Jaringan (port kabel)", "Network (wired port)"),
        port = field(
            l(
                "Port (kosong: semua port kabel)",
                "Port (empty: every wired port)"
            ),
            "port",
            &v,
            "text"
        ),
        mode = select(
            l("Cara alamat", "Addressing"),
            "mode",
            &v,
            &[("dhcp", "DHCP"), ("static", l("Statis", "Static"))]
        ),
        address = field(
            l(
                "Alamat/prefiks (192.0.2.10/24)",
                "Address/prefix (192.0.2.10/24)"
            ),
            "address",
            &v,
            "text"
        ),
        gateway = field("Gateway", "gateway", &v, "text"),
        dns = field("DNS", "dns", &v, "text"),
        name_time = l("Nama dan waktu", "Name and time"),
        host = field(l("Nama host", "Host name"), "host_name", &v, "text"),
        zone = select(
            l("Zona waktu", "Time zone"),
            "time_zone",
            &v,
            &[
                ("Asia/Jakarta", "WIB (Asia/Jakarta)"),
                ("Asia/Makassar", "WITA (Asia/Makassar)"),
                ("Asia/Jayapura", "WIT (Asia/Jayapura)")
            ]
        ),
        ntp = field(l("Server NTP", "NTP servers"), "ntp", &v, "text"),
        agency_l = l("Instansi", "Agency"),
        agency = field(l("Nama instansi", "Agency's name"), "agency", &v, "text"),
        numbers = field(
            l(
                "Nomor layanan (137, 1500137)",
                "Service numbers (137, 1500137)"
            ),
            "numbers",
            &v,
            "text"
        ),
        snmp = select(
            "SNMP",
            "snmp",
            &v,
            &[
                ("none", l("Tidak ada", "None")),
                ("community", "v2c community"),
                ("v3", l("Pengguna v3", "v3 user"))
            ]
        ),
        community = field("Community", "community", &v, "text"),
        v3u = field(l("Pengguna v3", "v3 user"), "v3_user", &v, "text"),
        v3a = field(
            l("Sandi autentikasi v3", "v3 authentication password"),
            "v3_auth_password",
            &BTreeMap::new(),
            "password"
        ),
        v3p = field(
            l("Sandi privasi v3", "v3 privacy password"),
            "v3_priv_password",
            &BTreeMap::new(),
            "password"
        ),
        power = l("UPS dan cadangan", "UPS and backup"),
        ups = field(
            l(
                "UPS (nama@host, kosong: tidak ada)",
                "UPS (name@host, empty: none)"
            ),
            "ups",
            &v,
            "text"
        ),
        backup = field(
            l(
                "Tujuan cadangan harian (kosong: tidak ada)",
                "Daily backup destination (empty: none)"
            ),
            "backup",
            &v,
            "text"
        ),
        save = l("Simpan", "Save"),
        finish = l("Selesai", "Finish"),
    )
}

/// A refused save: the page again, 422, with what was typed.
fn refused_page(
    viewer: &Viewer,
    form: &BTreeMap<String, String>,
    r: settings::Refused,
) -> Response {
    (
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        page(
            viewer,
            viewer.lang.t(&TITLE),
            &settings_body(viewer, form, Some(&r)),
        ),
    )
        .into_response()
}

/// What the audit keeps of a form: never the passwords.
fn audited(form: &BTreeMap<String, String>) -> serde_json::Value {
    let kept: BTreeMap<&str, &str> = form
        .iter()
        .filter(|(k, _)| {
            settings::FIELDS.contains(&k.as_str()) && !k.contains("password") && *k != "community"
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!(kept)
}

async fn save(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    guard(&state, &viewer).await?;
    let (version, document) = current(&state).await?;
    let before = dering_config::Config::parse(&document, "current")
        .ok()
        .map(|c| audited(&settings::current(&c)));
    let edited = match settings::edit(&document, &form, viewer.lang) {
        Ok(t) => t,
        Err(r) => return Ok(refused_page(&viewer, &form, r)),
    };
    let refusal = |field: &'static str, message: String| settings::Refused { field, message };
    let applied = match apply::import(state.data_dir(), edited, &viewer.login, state.now_ms()).await
    {
        Ok(a) => a,
        Err(ApplyError::Loader(e)) => {
            let r = match &e {
                dering_config::ConfigError::Invalid { key, reason, .. } => refusal(
                    settings::field_of_key(key.as_deref().unwrap_or("")),
                    crate::i18n::config_reason(viewer.lang, reason),
                ),
                other => refusal("host_name", other.to_string()),
            };
            return Ok(refused_page(&viewer, &form, r));
        }
        Err(ApplyError::Invalid(message)) => {
            let field = settings::field_of_key(message.split('`').nth(1).unwrap_or(""));
            return Ok(refused_page(&viewer, &form, refusal(field, message)));
        }
        Err(e) => return Err(AppError::Internal(e.to_string())),
    };
    let mut after = audited(&form);
    if let Some(m) = after.as_object_mut() {
        m.insert("_version".into(), json!(applied.version));
    }
    audit::log(
        &state,
        &viewer,
        "setup.settings",
        "system",
        before,
        Some(after),
    )
    .await?;
    request_apply(state.data_dir(), applied.version);
    tracing::info!(
        version = applied.version,
        from = version,
        "first-boot settings saved"
    );
    Ok(Redirect::to(SETTINGS_PATH).into_response())
}

async fn finish(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    guard(&state, &viewer).await?;
    let now = state.now_ms();
    let by = viewer.login.clone();
    let dir = state.data_dir().to_path_buf();
    let marked = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(dir.join("dering.db"))?;
        dering_store::setup::mark_setup_done(&conn, now, &by)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| AppError::Internal(format!("marking setup done: {e}")))??;
    if marked {
        audit::log(
            &state,
            &viewer,
            "setup.done",
            "system",
            None,
            Some(json!({"done": true})),
        )
        .await?;
        let version = current(&state).await.map(|(v, _)| v).unwrap_or(0);
        request_apply(state.data_dir(), version);
        tracing::warn!(by = %viewer.login, "first-boot setup done: SIP is served on the configured address");
    }
    Ok(Redirect::to("/").into_response())
}
