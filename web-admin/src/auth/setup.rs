//! First start without a default password (decision 0017). A real install
//! has no account: webd writes a one-time token to `<data>/setup-token`
//! (owner-only) and prints the link `/setup?token=…` on its console; the
//! first visitor with it chooses the admin's login and password and enrols
//! the TOTP code, and the token is gone; logged in, the admin goes on to
//! the box's settings (`crate::setup`, decision 0034). The demo (`dering up`) instead
//! creates the admin itself and prints its login, password and TOTP
//! secret, kept in `<data>/demo-login.txt` so a restart prints them again.

use std::path::{Path, PathBuf};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::auth::users::{self, NewUser};
use crate::auth::{password, session, totp, ClientAddr, Role};
use crate::error::AppError;
use crate::i18n::{Lang, Text};
use crate::ui::{bare_page, esc};

pub const TOKEN_FILE: &str = "setup-token";
pub const DEMO_FILE: &str = "demo-login.txt";

pub fn routes() -> Router<AppState> {
    Router::new().route("/setup", get(setup_page).post(setup))
}

fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)?.write_all(text.as_bytes())
}

fn no_users(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
}

/// On a box without accounts, the one-time setup token (made once, kept
/// until used); `None` once an account exists.
pub fn setup_token(data_dir: &Path) -> anyhow::Result<Option<String>> {
    let conn = Connection::open(data_dir.join("dering.db"))?;
    let path = token_path(data_dir);
    if !no_users(&conn)? {
        let _ = std::fs::remove_file(&path);
        return Ok(None);
    }
    if let Ok(t) = std::fs::read_to_string(&path) {
        if t.trim().len() == 64 {
            return Ok(Some(t.trim().to_owned()));
        }
    }
    let t = session::new_secret();
    write_private(&path, &t)?;
    Ok(Some(t))
}

/// The demo's admin login.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub login: String,
    pub password: String,
    pub totp_secret: String,
}

/// Creates the demo's admin on a box without accounts (or reads back the
/// one made before); `None` when accounts exist that the demo did not make.
pub fn demo_admin(data_dir: &Path, now_ms: i64) -> anyhow::Result<Option<DemoLogin>> {
    let file = data_dir.join(DEMO_FILE);
    let mut conn = Connection::open(data_dir.join("dering.db"))?;
    if !no_users(&conn)? {
        let Ok(text) = std::fs::read_to_string(&file) else {
            return Ok(None);
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_owned())
        };
        return Ok(
            match (field("login:"), field("password:"), field("totp_secret:")) {
                (Some(login), Some(password), Some(totp_secret)) => Some(DemoLogin {
                    login,
                    password,
                    totp_secret,
                }),
                _ => None,
            },
        );
    }
    // Random, and within the policy by construction.
    let password = format!("Demo{}", &session::new_secret()[..8]) + "x7";
    let d = DemoLogin {
        login: "admin".into(),
        password,
        totp_secret: totp::new_secret(),
    };
    let hash = password::hash(&d.password)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO users (login, full_name, role, password_hash, totp_secret, totp_enabled, created_ms, updated_ms) \
         VALUES (?1, 'Demo admin', 'admin', ?2, ?3, 1, ?4, ?4)",
        params![d.login, hash, d.totp_secret, now_ms],
    )?;
    audit::record(
        &tx,
        Actor {
            user_id: None,
            login: "dering up".into(),
            source: "console".into(),
        },
        now_ms,
        "user.create",
        &d.login,
        None,
        Some(&json!({"login": d.login, "role": "admin", "demo": true})),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit()?;
    write_private(
        &file,
        &format!(
            "login: {}\npassword: {}\ntotp_secret: {}\n",
            d.login, d.password, d.totp_secret
        ),
    )?;
    let _ = std::fs::remove_file(token_path(data_dir));
    Ok(Some(d))
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: String,
}

const TITLE: Text = Text {
    id: "Penyiapan pertama",
    en: "First setup",
};
const INTRO: Text = Text {
    id: "Buat akun admin. Pindai kode QR dengan aplikasi autentikator dan masukkan kodenya.",
    en: "Create the admin account. Scan the QR code with an authenticator app and enter its code.",
};
const USED: Text = Text {
    id: "Tautan penyiapan tidak berlaku (sudah dipakai atau salah).",
    en: "The setup link is not valid (used already, or wrong).",
};
const BAD_CODE: Text = Text {
    id: "Kode autentikator salah.",
    en: "Wrong authenticator code.",
};

/// Whether `given` is the box's current setup token (and no account
/// exists yet).
fn token_ok(data_dir: &Path, given: &str) -> bool {
    let Ok(stored) = std::fs::read_to_string(token_path(data_dir)) else {
        return false;
    };
    let (a, b) = (stored.trim().as_bytes(), given.trim().as_bytes());
    a.len() == 64 && a.len() == b.len() && a.iter().zip(b).fold(0u8, |x, (p, q)| x | (p ^ q)) == 0
}

async fn setup_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let lang = Lang::from_headers(&headers);
    if !token_ok(state.data_dir(), &q.token) {
        return Err(AppError::NotFound);
    }
    let secret = totp::new_secret();
    let uri = totp::uri(&secret, "admin");
    let l = |id, en| lang.t(&Text { id, en });
    let body = format!(
        "<p>{intro}</p><div class=\"qr\" id=\"totp-qr\">{qr}</div><p><code id=\"totp-uri\">{uri}</code></p>\
         <form method=\"post\" action=\"/setup\" id=\"setup-form\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <input type=\"hidden\" name=\"totp_secret\" value=\"{secret}\">\
         <label>{login}<input name=\"login\" id=\"login\" value=\"admin\" required></label>\
         <label>{name}<input name=\"full_name\" id=\"full_name\" required></label>\
         <label>{pw}<input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <label>{code}<input name=\"code\" id=\"code\" inputmode=\"numeric\" required></label>\
         <button id=\"submit\">{save}</button></form>",
        intro = lang.t(&INTRO),
        qr = totp::qr_svg(&uri)?,
        uri = esc(&uri),
        token = esc(&q.token),
        secret = esc(&secret),
        login = l("Nama pengguna", "Login"),
        name = l("Nama lengkap", "Full name"),
        pw = l("Kata sandi", "Password"),
        code = l("Kode autentikator", "Authenticator code"),
        save = l("Simpan", "Save"),
    );
    Ok(bare_page(lang, lang.t(&TITLE), &body).into_response())
}

#[derive(Debug, Deserialize)]
struct SetupForm {
    token: String,
    totp_secret: String,
    login: String,
    full_name: String,
    password: String,
    code: String,
}

async fn setup(
    State(state): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<SetupForm>,
) -> Result<Response, AppError> {
    let lang = Lang::from_headers(&headers);
    if !token_ok(state.data_dir(), &f.token) {
        return Ok((
            axum::http::StatusCode::FORBIDDEN,
            bare_page(
                lang,
                lang.t(&TITLE),
                &format!("<p class=\"error\">{}</p>", lang.t(&USED)),
            ),
        )
            .into_response());
    }
    let new = NewUser {
        login: f.login.clone(),
        full_name: f.full_name.clone(),
        role: "admin".into(),
        password: f.password.clone(),
    };
    let role = users::validate(&new, lang)?;
    let now = state.now_ms();
    let Some(step) = totp::verify(&f.totp_secret, &f.code, now, 0)? else {
        return Err(AppError::invalid("code", lang.t(&BAD_CODE)));
    };
    let hash = password::hash(&new.password)?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let secret = f.totp_secret.clone();
    let src = source.clone();
    let session_secret = state
        .write(move |tx| {
            // Only on a box still without accounts: a second visitor with
            // the same link finds it spent.
            let empty: bool = tx.query_row("SELECT NOT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))?;
            if !empty {
                return Err(AppError::Forbidden);
            }
            let actor = Actor {
                user_id: None,
                login: "setup link".into(),
                source: src.clone(),
            };
            let id = users::create(tx, actor, now, &new, role, &hash, lang)?;
            tx.execute(
                "UPDATE users SET totp_secret = ?2, totp_enabled = 1, totp_last_step = ?3 WHERE id = ?1",
                params![id, secret, step],
            )?;
            session::create(tx, id, now, &src, &user_agent)
        })
        .await?;
    let _ = std::fs::remove_file(token_path(state.data_dir()));
    tracing::info!(%source, "first admin created through the setup link");
    // Logged in: the box's settings are the setup's next step.
    let mut r = Redirect::to(crate::setup::SETTINGS_PATH).into_response();
    if let Ok(v) = session::cookie(&session_secret, state.https()).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// Roles as the setup creates them: the first account is an admin.
pub const FIRST_ROLE: Role = Role::Admin;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestBox;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn the_setup_link_creates_the_admin_once_with_totp() {
        let b = TestBox::new();
        let token = setup_token(b.dir.path()).unwrap().expect("no accounts yet");
        assert_eq!(
            b.get("/setup?token=wrong", None).await.status,
            StatusCode::NOT_FOUND
        );
        let page = b.get(&format!("/setup?token={token}"), None).await;
        assert_eq!(page.status, StatusCode::OK);
        let secret = page
            .body
            .split("name=\"totp_secret\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        let code = totp::code_at(&secret, b.clock.now()).unwrap();
        let form = |pw: &str, code: &str| {
            format!("token={token}&totp_secret={secret}&login=admin&full_name=Admin&password={pw}&code={code}")
        };
        // A weak password is refused naming the field; the link stays.
        let r = b.post_form("/setup", None, &form("weak", &code)).await;
        assert!(r.body.contains("data-field=\"password\""), "{}", r.body);
        let r = b
            .post_form("/setup", None, &form("Rahasia123", &code))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("dering_session="));
        let (role, totp_on): (String, i64) = b
            .db()
            .query_row(
                "SELECT role, totp_enabled FROM users WHERE login = 'admin'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((role.as_str(), totp_on), (FIRST_ROLE.name(), 1));
        // Used: the link is gone, and no new one is made.
        let r = b
            .post_form("/setup", None, &form("Rahasia123", &code))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(setup_token(b.dir.path()).unwrap(), None);
    }

    #[test]
    fn the_demo_admin_is_made_once_and_read_back() {
        let b = TestBox::new();
        let d = demo_admin(b.dir.path(), 0).unwrap().unwrap();
        assert!(password::check_policy(&d.password, "p", Lang::En).is_ok());
        let again = demo_admin(b.dir.path(), 0).unwrap().unwrap();
        assert_eq!(
            (again.password, again.totp_secret),
            (d.password, d.totp_secret)
        );
        let n: i64 = b
            .db()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
