//! One's own account (`own_account`): password change under the policy,
//! the second factor's state, "log out everywhere", and API tokens
//! (`api_tokens`): named, scoped to a subset of the owner's permissions,
//! shown once, stored as SHA-256, revocable, each step audited.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rusqlite::{params, Transaction};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::auth::{password, session, Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ui::{csrf_field, esc, page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/account/logout-all", post(logout_all))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
}

/// Creates an API token for `user_id` with `scopes`; returns (id, secret).
pub fn create_token_row(
    tx: &Transaction<'_>,
    actor: Actor,
    now: i64,
    user_id: i64,
    name: &str,
    scopes: &[Perm],
) -> Result<(i64, String), AppError> {
    let secret = format!("drg_{}", session::new_secret());
    let names: Vec<&str> = scopes.iter().map(|p| p.name()).collect();
    tx.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, name, session::digest(&secret), names.join(" "), now],
    )?;
    let id = tx.last_insert_rowid();
    audit::record(
        tx,
        actor,
        now,
        "token.create",
        &format!("token {id} ({name})"),
        None,
        Some(&json!({"name": name, "scopes": names})),
    )?;
    Ok((id, secret))
}

const TITLE: Text = Text {
    id: "Akun saya",
    en: "My account",
};
const PW_TITLE: Text = Text {
    id: "Ganti kata sandi",
    en: "Change password",
};
const CURRENT: Text = Text {
    id: "Kata sandi sekarang",
    en: "Current password",
};
const NEW: Text = Text {
    id: "Kata sandi baru",
    en: "New password",
};
const WRONG: Text = Text {
    id: "Kata sandi sekarang salah.",
    en: "The current password is wrong.",
};
const SAVE: Text = Text {
    id: "Simpan",
    en: "Save",
};
const EVERYWHERE: Text = Text {
    id: "Keluar dari semua perangkat",
    en: "Log out everywhere",
};
const LANGUAGE: Text = Text {
    id: "Bahasa",
    en: "Language",
};
const TOTP_ON: Text = Text {
    id: "Autentikasi dua faktor: aktif.",
    en: "Two-factor authentication: on.",
};
const TOTP_OFF: Text = Text {
    id: "Autentikasi dua faktor: belum aktif.",
    en: "Two-factor authentication: off.",
};
const TOKENS: Text = Text {
    id: "Token API",
    en: "API tokens",
};
const TOKEN_NAME: Text = Text {
    id: "Nama token",
    en: "Token name",
};
const CREATE: Text = Text {
    id: "Buat token",
    en: "Create token",
};
const REVOKE: Text = Text {
    id: "Cabut",
    en: "Revoke",
};
const SHOWN_ONCE: Text = Text {
    id: "Salin token ini sekarang; token tidak akan ditampilkan lagi:",
    en: "Copy this token now; it will not be shown again:",
};
const NO_SCOPE: Text = Text {
    id: "Pilih setidaknya satu izin.",
    en: "Choose at least one permission.",
};
const NO_NAME: Text = Text {
    id: "Nama token wajib diisi.",
    en: "The token needs a name.",
};

struct TokenRow {
    id: i64,
    name: String,
    scopes: String,
    created_ms: i64,
    last_used_ms: Option<i64>,
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    new_token: Option<String>,
) -> Result<Response, AppError> {
    viewer.require(Perm::OwnAccount)?;
    let id = viewer.user_id;
    let (totp, tokens) = state
        .read(move |c| {
            let totp: bool =
                c.query_row("SELECT totp_enabled FROM users WHERE id = ?1", [id], |r| {
                    Ok(r.get::<_, i64>(0)? != 0)
                })?;
            let mut st = c.prepare(
                "SELECT id, name, scopes, created_ms, last_used_ms FROM api_tokens \
                 WHERE user_id = ?1 AND revoked_ms IS NULL ORDER BY id",
            )?;
            let rows = st
                .query_map([id], |r| {
                    Ok(TokenRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        scopes: r.get(2)?,
                        created_ms: r.get(3)?,
                        last_used_ms: r.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((totp, rows))
        })
        .await?;
    let lang = viewer.lang;
    let csrf = csrf_field(viewer);
    let mut b = format!(
        "<p>{} ({}) — <span id=\"totp-state\">{}</span></p>",
        esc(&viewer.full_name),
        viewer.role.name(),
        lang.t(if totp { &TOTP_ON } else { &TOTP_OFF })
    );
    b.push_str(&format!(
        "<h2>{t}</h2><form method=\"post\" action=\"/account/password\" id=\"password-form\">{csrf}\
         <label>{c}<input name=\"current\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>{n}<input name=\"new\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <button>{s}</button></form>\
         <form method=\"post\" action=\"/account/logout-all\">{csrf}<button id=\"logout-all\">{e}</button></form>",
        t = lang.t(&PW_TITLE),
        c = lang.t(&CURRENT),
        n = lang.t(&NEW),
        s = lang.t(&SAVE),
        e = lang.t(&EVERYWHERE),
    ));
    // The language setting (the layout's switch posts the same form).
    b.push_str(&format!(
        "<h2>{l}</h2><form method=\"post\" action=\"/account/lang\" id=\"lang-form\">{csrf}\
         <select name=\"lang\" id=\"lang\"><option value=\"id\"{id}>Bahasa Indonesia</option>\
         <option value=\"en\"{en}>English</option></select> <button>{s}</button></form>",
        l = lang.t(&LANGUAGE),
        id = if lang == crate::i18n::Lang::Id {
            " selected"
        } else {
            ""
        },
        en = if lang == crate::i18n::Lang::En {
            " selected"
        } else {
            ""
        },
        s = lang.t(&SAVE),
    ));
    if viewer.may(Perm::ApiTokens) {
        b.push_str(&format!("<h2>{}</h2>", lang.t(&TOKENS)));
        if let Some(t) = new_token {
            b.push_str(&format!(
                "<p>{} <code id=\"new-token\">{}</code></p>",
                lang.t(&SHOWN_ONCE),
                esc(&t)
            ));
        }
        b.push_str("<table id=\"tokens\">");
        for t in &tokens {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form method=\"post\" action=\"/account/tokens/{}/revoke\">{csrf}<button>{}</button></form></td></tr>",
                esc(&t.name),
                esc(&t.scopes),
                viewer.zone.time(t.created_ms),
                t.last_used_ms.map(|ms| viewer.zone.time(ms)).unwrap_or_default(),
                t.id,
                lang.t(&REVOKE),
            ));
        }
        b.push_str(&format!(
            "</table><form method=\"post\" action=\"/account/tokens\" id=\"token-form\">{csrf}\
             <label>{}<input name=\"name\" required></label>",
            lang.t(&TOKEN_NAME)
        ));
        for p in Perm::all().filter(|p| viewer.may(*p)) {
            b.push_str(&format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"scope\" value=\"{n}\"> {n}</label>",
                n = p.name()
            ));
        }
        b.push_str(&format!("<button>{}</button></form>", lang.t(&CREATE)));
    }
    Ok(page(viewer, lang.t(&TITLE), &b).into_response())
}

async fn account_page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    render(&state, &viewer, None).await
}

#[derive(Debug, serde::Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

/// A new password ends every other session of the account (a thief who
/// knew the old one is out).
async fn change_password(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AppError> {
    viewer.require(Perm::OwnAccount)?;
    let lang = viewer.lang;
    password::check_policy(&f.new, "new", lang)?;
    let hash = password::hash(&f.new)?;
    let (id, now, actor) = (viewer.user_id, state.now_ms(), Actor::from(&viewer));
    let keep = viewer.session_secret().map(session::digest);
    state
        .write(move |tx| {
            let stored: String =
                tx.query_row("SELECT password_hash FROM users WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            if !password::verify(&f.current, &stored) {
                return Err(AppError::invalid("current", lang.t(&WRONG)));
            }
            tx.execute(
                "UPDATE users SET password_hash = ?2, updated_ms = ?3 WHERE id = ?1",
                params![id, hash, now],
            )?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2",
                params![id, keep],
            )?;
            audit::record(
                tx,
                actor.clone(),
                now,
                "user.password",
                &actor.login,
                None,
                None,
            )
        })
        .await?;
    Ok(Redirect::to("/account").into_response())
}

async fn logout_all(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::OwnAccount)?;
    let (id, now, actor) = (viewer.user_id, state.now_ms(), Actor::from(&viewer));
    let n = state
        .write(move |tx| {
            let n = session::end_all(tx, id)?;
            audit::record(
                tx,
                actor.clone(),
                now,
                "session.logout_everywhere",
                &actor.login,
                None,
                Some(&json!({"sessions_ended": n})),
            )?;
            Ok(n)
        })
        .await?;
    tracing::info!(user = viewer.user_id, sessions = n, "logged out everywhere");
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = session::clear_cookie(state.https()).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn create_token(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::RawForm(raw): axum::extract::RawForm,
) -> Result<Response, AppError> {
    viewer.require(Perm::ApiTokens)?;
    // Several `scope` fields: read the pairs, not a struct.
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(&raw);
    let name = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() || name.len() > 64 {
        return Err(AppError::invalid("name", viewer.lang.t(&NO_NAME)));
    }
    let mut scopes = Vec::new();
    for (k, v) in &pairs {
        if k == "scope" {
            // A scope beyond the owner's role is refused, not dropped.
            match Perm::parse(v).filter(|p| viewer.may(*p)) {
                Some(p) => scopes.push(p),
                None => return Err(AppError::invalid("scope", v.clone())),
            }
        }
    }
    if scopes.is_empty() {
        return Err(AppError::invalid("scope", viewer.lang.t(&NO_SCOPE)));
    }
    let (id, now, actor) = (viewer.user_id, state.now_ms(), Actor::from(&viewer));
    let (_, secret) = state
        .write(move |tx| create_token_row(tx, actor, now, id, &name, &scopes))
        .await?;
    render(&state, &viewer, Some(secret)).await
}

fn serde_urlencoded_pairs(raw: &[u8]) -> Vec<(String, String)> {
    crate::auth::csrf::form_pairs(raw)
}

async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(token): Path<i64>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ApiTokens)?;
    let (id, now, actor) = (viewer.user_id, state.now_ms(), Actor::from(&viewer));
    state
        .write(move |tx| {
            let n = tx.execute(
                "UPDATE api_tokens SET revoked_ms = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_ms IS NULL",
                params![token, id, now],
            )?;
            if n == 0 {
                return Err(AppError::NotFound);
            }
            audit::record(tx, actor, now, "token.revoke", &format!("token {token}"), None, None)
        })
        .await?;
    Ok(Redirect::to("/account").into_response())
}
