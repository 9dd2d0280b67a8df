//! Login (password, then the TOTP code; first-time enrolment of the code
//! for roles that must have one), logout and the language switch.

use axum::extract::{Query, State};
use axum::http::header::{self, HeaderMap};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;

use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::auth::{password, session, throttle, totp, ClientAddr, Role, Viewer};
use crate::error::AppError;
use crate::i18n::{Lang, Text, LANG_COOKIE};
use crate::ui::{bare_page, esc};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account/lang", post(set_lang))
        .route("/api/v1/me", get(me))
}

/// Who the caller is and what they may do (for scripts and integrations).
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, description = "id, login, full_name, role, lang, permissions",
               body = serde_json::Value), (status = 401)),
    security(("bearer" = [])))]
pub(super) async fn me(viewer: Viewer) -> axum::Json<serde_json::Value> {
    let perms: Vec<&str> = crate::auth::Perm::all()
        .filter(|p| viewer.may(*p))
        .map(|p| p.name())
        .collect();
    axum::Json(serde_json::json!({
        "id": viewer.user_id,
        "login": viewer.login,
        "full_name": viewer.full_name,
        "role": viewer.role.name(),
        "lang": viewer.lang.code(),
        "permissions": perms,
    }))
}

/// The start page: the live view for the logged in, else the login page.
async fn home(viewer: Option<Viewer>) -> Redirect {
    match viewer {
        Some(_) => Redirect::to("/live"),
        None => Redirect::to("/login"),
    }
}

#[derive(Debug, Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths: an open redirect would let a phishing link bounce
/// through the box.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

const TITLE: Text = Text {
    id: "Masuk",
    en: "Log in",
};
const LOGIN: Text = Text {
    id: "Nama pengguna",
    en: "Login",
};
const PASSWORD: Text = Text {
    id: "Kata sandi",
    en: "Password",
};
const CODE: Text = Text {
    id: "Kode autentikator (6 angka)",
    en: "Authenticator code (6 digits)",
};
const SUBMIT: Text = Text {
    id: "Masuk",
    en: "Log in",
};
const BAD: Text = Text {
    id: "Nama pengguna, kata sandi atau kode salah.",
    en: "Wrong login, password or code.",
};
const ENROL: Text = Text {
    id: "Peran Anda wajib memakai autentikasi dua faktor. Pindai kode QR ini dengan aplikasi autentikator, lalu masukkan kata sandi dan kode yang ditampilkan aplikasi.",
    en: "Your role requires two-factor authentication. Scan this QR code with an authenticator app, then enter your password and the code the app shows.",
};

struct Shown<'a> {
    lang: Lang,
    login: &'a str,
    next: &'a str,
    error: Option<&'a str>,
    error_field: Option<&'a str>,
    enrol: Option<String>,
}

fn form(s: Shown<'_>) -> String {
    let lang = s.lang;
    let mut b = String::new();
    if let Some(e) = s.error {
        b.push_str(&format!(
            "<p class=\"error\" id=\"login-error\" data-field=\"{}\">{}</p>",
            esc(s.error_field.unwrap_or("")),
            esc(e)
        ));
    }
    if let Some(enrol) = &s.enrol {
        b.push_str(&format!("<p>{}</p>{enrol}", esc(lang.t(&ENROL))));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/login\" class=\"login\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>{l}<input name=\"login\" id=\"login\" value=\"{login}\" autocomplete=\"username\" required></label>\
         <label>{p}<input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>{c}<input name=\"code\" id=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\"></label>\
         <button type=\"submit\" id=\"submit\">{s}</button></form>",
        next = esc(s.next),
        l = esc(lang.t(&LOGIN)),
        login = esc(s.login),
        p = esc(lang.t(&PASSWORD)),
        c = esc(lang.t(&CODE)),
        s = esc(lang.t(&SUBMIT)),
    ));
    b
}

async fn login_page(
    viewer: Option<Viewer>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer.is_some() {
        return Redirect::to(next).into_response();
    }
    let lang = Lang::from_headers(&headers);
    let body = form(Shown {
        lang,
        login: "",
        next,
        error: None,
        error_field: None,
        enrol: None,
    });
    bare_page(lang, lang.t(&TITLE), &body).into_response()
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    code: String,
    next: Option<String>,
}

/// What a login attempt came to, decided in one transaction.
enum Outcome {
    /// Logged in: the session's secret and the user's language.
    In { secret: String, lang: Lang },
    /// Wrong login, password or code (counted as a failure); the field.
    Refused(&'static str),
    /// Password right, but the role needs a second factor not set up yet:
    /// show the enrolment QR code for this (pending) secret.
    Enrol { secret: String },
}

struct UserRow {
    id: i64,
    login: String,
    role: Role,
    hash: String,
    totp_secret: Option<String>,
    totp_enabled: bool,
    last_step: i64,
}

fn attempt(
    tx: &rusqlite::Transaction<'_>,
    f: &LoginForm,
    source: &str,
    user_agent: &str,
    now: i64,
) -> Result<Outcome, AppError> {
    let login = f.login.trim();
    throttle::check(tx, login, source, now)?;
    let user = tx
        .query_row(
            "SELECT id, login, role, password_hash, totp_secret, totp_enabled, totp_last_step \
             FROM users WHERE login = ?1 AND disabled = 0",
            [login],
            |r| {
                Ok(UserRow {
                    id: r.get(0)?,
                    login: r.get(1)?,
                    role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Agent),
                    hash: r.get(3)?,
                    totp_secret: r.get(4)?,
                    totp_enabled: r.get::<_, i64>(5)? != 0,
                    last_step: r.get(6)?,
                })
            },
        )
        .optional()?;
    let hash = user
        .as_ref()
        .map_or(password::dummy_hash(), |u| u.hash.as_str());
    let password_ok = password::verify(&f.password, hash);
    let Some(user) = user.filter(|_| password_ok) else {
        throttle::fail(tx, login, source, now)?;
        return Ok(Outcome::Refused("password"));
    };
    let actor = Actor {
        user_id: Some(user.id),
        login: user.login.clone(),
        source: source.to_owned(),
    };
    if user.totp_enabled || user.role.needs_totp() {
        let secret = match &user.totp_secret {
            Some(s) => s.clone(),
            None => {
                // First login of a role that needs a second factor: a
                // pending secret, enabled when its first code is right.
                let s = totp::new_secret();
                tx.execute(
                    "UPDATE users SET totp_secret = ?2, totp_enabled = 0 WHERE id = ?1",
                    params![user.id, s],
                )?;
                return Ok(Outcome::Enrol { secret: s });
            }
        };
        if f.code.trim().is_empty() {
            if user.totp_enabled {
                return Ok(Outcome::Refused("code"));
            }
            return Ok(Outcome::Enrol { secret });
        }
        let Some(step) = totp::verify(&secret, &f.code, now, user.last_step)? else {
            throttle::fail(tx, login, source, now)?;
            return Ok(Outcome::Refused("code"));
        };
        tx.execute(
            "UPDATE users SET totp_last_step = ?2, totp_enabled = 1 WHERE id = ?1",
            params![user.id, step],
        )?;
        if !user.totp_enabled {
            audit::record(
                tx,
                actor.clone(),
                now,
                "user.totp_enrol",
                &user.login,
                None,
                None,
            )?;
        }
    }
    throttle::clear(tx, login)?;
    let secret = session::create(tx, user.id, now, source, user_agent)?;
    audit::record(tx, actor, now, "session.login", &user.login, None, None)?;
    let lang: String = tx.query_row("SELECT lang FROM users WHERE id = ?1", [user.id], |r| {
        r.get(0)
    })?;
    Ok(Outcome::In {
        secret,
        lang: Lang::parse(&lang).unwrap_or_default(),
    })
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    let lang = Lang::from_headers(&headers);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let now = state.now_ms();
    let next = safe_next(f.next.as_deref()).to_owned();
    let login = f.login.clone();
    let outcome = state
        .write(move |tx| attempt(tx, &f, &source, &user_agent, now))
        .await?;
    let shown = |error: Option<&str>, field: Option<&str>, enrol: Option<String>| {
        form(Shown {
            lang,
            login: &login,
            next: &next,
            error,
            error_field: field,
            enrol,
        })
    };
    Ok(match outcome {
        Outcome::In { secret, lang } => {
            let mut r = Redirect::to(&next).into_response();
            let h = r.headers_mut();
            if let Ok(v) = session::cookie(&secret, state.https()).parse() {
                h.append(header::SET_COOKIE, v);
            }
            if let Ok(v) = lang_cookie(lang, state.https()).parse() {
                h.append(header::SET_COOKIE, v);
            }
            r
        }
        Outcome::Refused(field) => (
            StatusCode::UNAUTHORIZED,
            bare_page(
                lang,
                lang.t(&TITLE),
                &shown(Some(lang.t(&BAD)), Some(field), None),
            ),
        )
            .into_response(),
        Outcome::Enrol { secret } => {
            let uri = totp::uri(&secret, login.trim());
            let enrol = format!(
                "<div class=\"qr\" id=\"totp-qr\">{}</div>\
                 <p><code id=\"totp-uri\">{}</code></p>",
                totp::qr_svg(&uri)?,
                esc(&uri)
            );
            bare_page(lang, lang.t(&TITLE), &shown(None, None, Some(enrol))).into_response()
        }
    })
}

fn lang_cookie(lang: Lang, https: bool) -> String {
    format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000{}",
        lang.code(),
        if https { "; Secure" } else { "" }
    )
}

async fn logout(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    let now = state.now_ms();
    let actor = Actor::from(&viewer);
    let secret = viewer.session_secret().map(str::to_owned);
    let login = viewer.login.clone();
    state
        .write(move |tx| {
            if let Some(s) = &secret {
                session::end(tx, s)?;
            }
            audit::record(tx, actor, now, "session.logout", &login, None, None)
        })
        .await?;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = session::clear_cookie(state.https()).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Debug, Deserialize)]
struct LangForm {
    lang: String,
}

async fn set_lang(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<LangForm>,
) -> Result<Response, AppError> {
    viewer.require(crate::auth::Perm::OwnAccount)?;
    let lang = Lang::parse(&f.lang).ok_or_else(|| AppError::invalid("lang", "id or en"))?;
    let (id, now) = (viewer.user_id, state.now_ms());
    let actor = Actor::from(&viewer);
    let before = viewer.lang;
    state
        .write(move |tx| {
            tx.execute(
                "UPDATE users SET lang = ?2, updated_ms = ?3 WHERE id = ?1",
                params![id, lang.code(), now],
            )?;
            audit::record(
                tx,
                actor.clone(),
                now,
                "user.lang",
                &actor.login,
                Some(&serde_json::json!({ "lang": before.code() })),
                Some(&serde_json::json!({ "lang": lang.code() })),
            )
        })
        .await?;
    // Back to the page the switch was pressed on, if it was ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.find("://")
                .and_then(|i| r[i + 3..].find('/').map(|j| &r[i + 3 + j..]))
        })
        .unwrap_or("/");
    let mut r = Redirect::to(safe_next(Some(back))).into_response();
    if let Ok(v) = lang_cookie(lang, state.https()).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/history?x=1")), "/history?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}

#[cfg(test)]
mod flow_tests {
    use axum::http::StatusCode;

    use crate::auth::{session, throttle, totp, Role};
    use crate::testing::{Reply, TestBox, PASSWORD};

    async fn log_in(b: &TestBox, login: &str, password: &str, code: &str) -> Reply {
        b.post_form(
            "/login",
            None,
            &format!("login={login}&password={password}&code={code}&next=/account"),
        )
        .await
    }

    fn cookie_of(r: &Reply) -> Option<String> {
        r.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{}=", session::COOKIE)))
            .map(|v| v.split(';').next().unwrap_or("").to_owned())
    }

    #[tokio::test]
    async fn an_agent_logs_in_with_a_password_and_gets_a_strict_cookie() {
        let b = TestBox::new();
        b.add_user("ana", Role::Agent);
        let r = log_in(&b, "ana", "wrong", "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("data-field=\"password\""));
        let r = log_in(&b, "ana", PASSWORD, "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), Some("/account"));
        let set = r.headers["set-cookie"].to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(cookie_of(&r).is_some_and(|c| c.len() == 64));
    }

    #[tokio::test]
    async fn an_admin_needs_the_totp_code_and_a_code_works_once() {
        let b = TestBox::new();
        let (_, secret) = b.add_user("boss", Role::Admin);
        let secret = secret.unwrap();
        // Password alone: refused, asking for the code.
        let r = log_in(&b, "boss", PASSWORD, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("data-field=\"code\""));
        assert!(cookie_of(&r).is_none());
        let code = totp::code_at(&secret, b.clock.now()).unwrap();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = log_in(&b, "boss", PASSWORD, wrong).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = log_in(&b, "boss", PASSWORD, &code).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(cookie_of(&r).is_some());
        // The same code again (replayed): refused.
        let r = log_in(&b, "boss", PASSWORD, &code).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_supervisor_without_a_second_factor_enrols_at_first_login() {
        let b = TestBox::new();
        let db = b.db();
        let hash = crate::auth::password::hash(PASSWORD).unwrap();
        db.execute(
            "INSERT INTO users (login, full_name, role, password_hash, created_ms, updated_ms) VALUES ('sup', 'Sup', 'supervisor', ?1, 0, 0)",
            [hash],
        )
        .unwrap();
        let r = log_in(&b, "sup", PASSWORD, "").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("<svg") && r.body.contains("otpauth://totp/Dering%3Asup"));
        assert!(cookie_of(&r).is_none(), "no session before the code");
        let secret: String = db
            .query_row(
                "SELECT totp_secret FROM users WHERE login = 'sup'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let code = totp::code_at(&secret, b.clock.now()).unwrap();
        let r = log_in(&b, "sup", PASSWORD, &code).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let on: i64 = db
            .query_row(
                "SELECT totp_enabled FROM users WHERE login = 'sup'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(on, 1);
    }

    #[tokio::test]
    async fn five_failures_lock_the_account_even_for_the_right_password_until_the_window_passes() {
        let b = TestBox::new();
        b.add_user("ana", Role::Agent);
        for _ in 0..throttle::PER_LOGIN {
            assert_eq!(
                log_in(&b, "ana", "Wrong1234", "").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        let r = log_in(&b, "ana", PASSWORD, "").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers["retry-after"], "900");
        b.clock.advance_ms(throttle::WINDOW_MS);
        assert_eq!(
            log_in(&b, "ana", PASSWORD, "").await.status,
            StatusCode::SEE_OTHER
        );
    }

    #[tokio::test]
    async fn one_address_trying_many_logins_is_rate_limited() {
        let b = TestBox::new();
        b.add_user("ana", Role::Agent);
        for i in 0..throttle::PER_SOURCE {
            log_in(&b, &format!("user{i}"), "Wrong1234", "").await;
        }
        assert_eq!(
            log_in(&b, "ana", PASSWORD, "").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[tokio::test]
    async fn a_session_expires_when_idle_and_after_a_shift() {
        let b = TestBox::new();
        let s = b.login_as(Role::Agent);
        b.clock.advance_ms(session::IDLE_MS - 1000);
        assert_eq!(b.get("/api/v1/me", Some(&s)).await.status, StatusCode::OK);
        b.clock.advance_ms(session::IDLE_MS - 1000);
        // Still alive: the last request renewed it.
        assert_eq!(b.get("/api/v1/me", Some(&s)).await.status, StatusCode::OK);
        b.clock.advance_ms(session::IDLE_MS);
        assert_eq!(
            b.get("/api/v1/me", Some(&s)).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Kept busy, it still ends after the absolute lifetime.
        let s = b.login_as(Role::Agent);
        let mut t = 0;
        while t < session::ABSOLUTE_MS - session::IDLE_MS {
            b.clock.advance_ms(session::IDLE_MS / 2);
            t += session::IDLE_MS / 2;
            assert_eq!(b.get("/api/v1/me", Some(&s)).await.status, StatusCode::OK);
        }
        b.clock.advance_ms(session::IDLE_MS);
        assert_eq!(
            b.get("/api/v1/me", Some(&s)).await.status,
            StatusCode::UNAUTHORIZED
        );
        let r = b.get("/account", Some(&s)).await;
        assert_eq!(r.location(), Some("/login?next=/account"));
    }

    #[tokio::test]
    async fn log_out_everywhere_ends_every_session_of_the_user_only() {
        let b = TestBox::new();
        let s1 = b.login_as(Role::Agent);
        let mut db = b.db();
        let tx = db.transaction().unwrap();
        let other = session::create(&tx, s1.user_id, b.clock.now(), "10.0.0.2", "phone").unwrap();
        tx.commit().unwrap();
        let bystander = b.login_as(Role::Agent);
        let r = b.post_form("/account/logout-all", Some(&s1), "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(
            b.get("/api/v1/me", Some(&s1)).await.status,
            StatusCode::UNAUTHORIZED
        );
        let mut s2 = s1.clone();
        s2.secret = other;
        assert_eq!(
            b.get("/api/v1/me", Some(&s2)).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            b.get("/api/v1/me", Some(&bystander)).await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_new_password_must_meet_the_policy_and_the_old_one_then_fails() {
        let b = TestBox::new();
        let s = b.login_as(Role::Agent);
        let r = b
            .post_form(
                "/account/password",
                Some(&s),
                &format!("current={PASSWORD}&new=lowercase1"),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("data-field=\"new\""));
        let r = b
            .post_form(
                "/account/password",
                Some(&s),
                "current=Wrong1234&new=Baru12345",
            )
            .await;
        assert!(r.body.contains("data-field=\"current\""));
        let r = b
            .post_form(
                "/account/password",
                Some(&s),
                &format!("current={PASSWORD}&new=Baru12345"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(
            log_in(&b, &s.login, PASSWORD, "").await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            log_in(&b, &s.login, "Baru12345", "").await.status,
            StatusCode::SEE_OTHER
        );
    }

    #[tokio::test]
    async fn api_tokens_act_within_their_scope_until_revoked() {
        let b = TestBox::new();
        let s = b.login_as(Role::Qa);
        let token = b.token_for(&s, &["view_audit"]);
        let me = b
            .api(axum::http::Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.json()["permissions"], serde_json::json!(["view_audit"]));
        // A scope beyond the role is refused, naming the field.
        let r = b
            .post_form("/account/tokens", Some(&s), "name=x&scope=manage_users")
            .await;
        assert!(r.body.contains("data-field=\"scope\""), "{}", r.body);
        let id: i64 = b
            .db()
            .query_row("SELECT id FROM api_tokens", [], |r| r.get(0))
            .unwrap();
        let r = b
            .post_form(&format!("/account/tokens/{id}/revoke"), Some(&s), "")
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let me = b
            .api(axum::http::Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
        let actions: Vec<String> = b
            .db()
            .prepare("SELECT action FROM audit_log ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(actions, ["token.create", "token.revoke"]);
    }
}
