//! The users admin page and `/api/v1/users` (`manage_users`): create an
//! account (one per person: the login is unique and names the person),
//! change its role, disable or enable it, reset its second factor. Every
//! change is audited with before and after, and ends the user's sessions
//! so the new rights apply at once.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor};
use crate::auth::{password, session, Perm, Role, Viewer};
use crate::error::AppError;
use crate::i18n::{Lang, Text};
use crate::ui::{csrf_field, esc, page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_page).post(create_form))
        .route("/users/{id}", post(change_form))
        .route("/api/v1/users", get(list_api).post(create_api))
        .route("/api/v1/users/{id}", post(change_api))
}

/// A new account as a form or JSON gives it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    pub login: String,
    pub full_name: String,
    /// agent, supervisor, qa or admin.
    pub role: String,
    pub password: String,
}

const BAD_LOGIN: Text = Text {
    id: "Nama pengguna 2–32 karakter: huruf kecil, angka, titik, garis bawah atau tanda hubung.",
    en: "Login of 2–32 characters: lower-case letters, digits, dot, underscore or hyphen.",
};
const NO_NAME: Text = Text {
    id: "Nama lengkap wajib diisi.",
    en: "The full name is required.",
};
const BAD_ROLE: Text = Text {
    id: "Peran harus agent, supervisor, qa atau admin.",
    en: "The role must be agent, supervisor, qa or admin.",
};
const TAKEN: Text = Text {
    id: "Nama pengguna sudah dipakai (satu akun per orang).",
    en: "This login is taken (one account per person).",
};
const LAST_ADMIN: Text = Text {
    id: "Admin aktif terakhir tidak dapat dinonaktifkan atau diturunkan.",
    en: "The last active admin cannot be disabled or demoted.",
};

fn valid_login(s: &str) -> bool {
    (2..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Checks every field; the first bad one is named.
pub fn validate(u: &NewUser, lang: Lang) -> Result<Role, AppError> {
    if !valid_login(u.login.trim()) {
        return Err(AppError::invalid("login", lang.t(&BAD_LOGIN)));
    }
    if u.full_name.trim().is_empty() || u.full_name.len() > 100 {
        return Err(AppError::invalid("full_name", lang.t(&NO_NAME)));
    }
    let role = Role::parse(&u.role).ok_or_else(|| AppError::invalid("role", lang.t(&BAD_ROLE)))?;
    password::check_policy(&u.password, "password", lang)?;
    Ok(role)
}

/// Creates the account (without a second factor: a role that needs one
/// enrols at its first login). Returns its id.
pub fn create(
    tx: &Transaction<'_>,
    actor: Actor,
    now: i64,
    u: &NewUser,
    role: Role,
    hash: &str,
    lang: Lang,
) -> Result<i64, AppError> {
    let login = u.login.trim();
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE login = ?1)",
        [login],
        |r| r.get(0),
    )?;
    if taken {
        return Err(AppError::Conflict {
            field: "login".into(),
            message: lang.t(&TAKEN).into(),
        });
    }
    tx.execute(
        "INSERT INTO users (login, full_name, role, password_hash, created_ms, updated_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![login, u.full_name.trim(), role.name(), hash, now],
    )?;
    let id = tx.last_insert_rowid();
    audit::record(
        tx,
        actor,
        now,
        "user.create",
        login,
        None,
        Some(&json!({"login": login, "full_name": u.full_name.trim(), "role": role.name()})),
    )?;
    Ok(id)
}

/// One account as listed (no secrets).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub login: String,
    pub full_name: String,
    pub role: String,
    pub lang: String,
    pub disabled: bool,
    pub totp_enabled: bool,
    pub created_ms: i64,
}

fn list(conn: &rusqlite::Connection) -> Result<Vec<UserView>, AppError> {
    let mut st = conn.prepare(
        "SELECT id, login, full_name, role, lang, disabled, totp_enabled, created_ms \
         FROM users ORDER BY login",
    )?;
    let rows = st.query_map([], |r| {
        Ok(UserView {
            id: r.get(0)?,
            login: r.get(1)?,
            full_name: r.get(2)?,
            role: r.get(3)?,
            lang: r.get(4)?,
            disabled: r.get::<_, i64>(5)? != 0,
            totp_enabled: r.get::<_, i64>(6)? != 0,
            created_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A change to an account: any of these.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct Change {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    #[serde(default)]
    pub reset_totp: bool,
}

fn change(
    tx: &Transaction<'_>,
    actor: Actor,
    now: i64,
    id: i64,
    c: &Change,
    lang: Lang,
) -> Result<(), AppError> {
    let (login, role, disabled): (String, String, bool) = tx
        .query_row(
            "SELECT login, role, disabled FROM users WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0)),
        )
        .optional()?
        .ok_or(AppError::NotFound)?;
    let new_role = match &c.role {
        Some(r) => Role::parse(r).ok_or_else(|| AppError::invalid("role", lang.t(&BAD_ROLE)))?,
        None => Role::parse(&role).unwrap_or(Role::Agent),
    };
    let new_disabled = c.disabled.unwrap_or(disabled);
    if role == "admin" && !disabled && (new_role != Role::Admin || new_disabled) {
        let admins: i64 = tx.query_row(
            "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
            [],
            |r| r.get(0),
        )?;
        if admins <= 1 {
            let field = if new_disabled { "disabled" } else { "role" };
            return Err(AppError::invalid(field, lang.t(&LAST_ADMIN)));
        }
    }
    tx.execute(
        "UPDATE users SET role = ?2, disabled = ?3, updated_ms = ?4 WHERE id = ?1",
        params![id, new_role.name(), new_disabled, now],
    )?;
    if c.reset_totp {
        tx.execute(
            "UPDATE users SET totp_secret = NULL, totp_enabled = 0, totp_last_step = 0 WHERE id = ?1",
            [id],
        )?;
    }
    session::end_all(tx, id)?;
    audit::record(
        tx,
        actor,
        now,
        "user.change",
        &login,
        Some(&json!({"role": role, "disabled": disabled})),
        Some(
            &json!({"role": new_role.name(), "disabled": new_disabled, "reset_totp": c.reset_totp}),
        ),
    )
}

const TITLE: Text = Text {
    id: "Pengguna",
    en: "Users",
};
const NEW: Text = Text {
    id: "Pengguna baru",
    en: "New user",
};
const HEADS: [Text; 6] = [
    Text {
        id: "Nama pengguna",
        en: "Login",
    },
    Text {
        id: "Nama lengkap",
        en: "Full name",
    },
    Text {
        id: "Peran",
        en: "Role",
    },
    Text {
        id: "2FA",
        en: "2FA",
    },
    Text {
        id: "Dibuat",
        en: "Created",
    },
    Text {
        id: "Tindakan",
        en: "Actions",
    },
];
const SAVE: Text = Text {
    id: "Simpan",
    en: "Save",
};
const DISABLE: Text = Text {
    id: "Nonaktifkan",
    en: "Disable",
};
const ENABLE: Text = Text {
    id: "Aktifkan",
    en: "Enable",
};
const RESET: Text = Text {
    id: "Atur ulang 2FA",
    en: "Reset 2FA",
};
const CREATE: Text = Text {
    id: "Buat",
    en: "Create",
};
const PASSWORD: Text = Text {
    id: "Kata sandi awal",
    en: "Initial password",
};

fn role_select(name: &str, selected: &str) -> String {
    let mut s = format!("<select name=\"{name}\">");
    for r in Role::ALL {
        s.push_str(&format!(
            "<option value=\"{n}\"{sel}>{n}</option>",
            n = r.name(),
            sel = if r.name() == selected {
                " selected"
            } else {
                ""
            }
        ));
    }
    s.push_str("</select>");
    s
}

async fn list_page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::ManageUsers)?;
    let users = state.read(list).await?;
    let lang = viewer.lang;
    let csrf = csrf_field(&viewer);
    let mut b = String::from("<table id=\"users\"><tr>");
    for h in &HEADS {
        b.push_str(&format!("<th>{}</th>", lang.t(h)));
    }
    b.push_str("</tr>");
    for u in &users {
        let toggle = if u.disabled {
            format!(
                "<button name=\"disabled\" value=\"false\">{}</button>",
                lang.t(&ENABLE)
            )
        } else {
            format!(
                "<button name=\"disabled\" value=\"true\">{}</button>",
                lang.t(&DISABLE)
            )
        };
        b.push_str(&format!(
            "<tr data-login=\"{login}\"{cls}><td>{login}</td><td>{name}</td>\
             <td><form method=\"post\" action=\"/users/{id}\" class=\"inline\">{csrf}{sel}\
             <button>{save}</button></form></td><td>{totp}</td><td>{created}</td>\
             <td><form method=\"post\" action=\"/users/{id}\" class=\"inline\">{csrf}{toggle}</form> \
             <form method=\"post\" action=\"/users/{id}\" class=\"inline\">{csrf}\
             <button name=\"reset_totp\" value=\"true\">{reset}</button></form></td></tr>",
            id = u.id,
            login = esc(&u.login),
            cls = if u.disabled { " class=\"disabled\"" } else { "" },
            name = esc(&u.full_name),
            sel = role_select("role", &u.role),
            save = lang.t(&SAVE),
            totp = if u.totp_enabled { "✓" } else { "—" },
            created = viewer.zone.time(u.created_ms),
            reset = lang.t(&RESET),
        ));
    }
    b.push_str(&format!(
        "</table><h2>{new}</h2><form method=\"post\" action=\"/users\" id=\"new-user\">{csrf}\
         <label>{l}<input name=\"login\" required></label>\
         <label>{n}<input name=\"full_name\" required></label>\
         <label>{r}{sel}</label>\
         <label>{p}<input name=\"password\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <button>{c}</button></form>",
        new = lang.t(&NEW),
        l = lang.t(&HEADS[0]),
        n = lang.t(&HEADS[1]),
        r = lang.t(&HEADS[2]),
        sel = role_select("role", "agent"),
        p = lang.t(&PASSWORD),
        c = lang.t(&CREATE),
    ));
    Ok(page(&viewer, lang.t(&TITLE), &b).into_response())
}

async fn create_user(state: &AppState, viewer: &Viewer, u: NewUser) -> Result<i64, AppError> {
    viewer.require(Perm::ManageUsers)?;
    let lang = viewer.lang;
    let role = validate(&u, lang)?;
    let hash = password::hash(&u.password)?;
    let (actor, now) = (Actor::from(viewer), state.now_ms());
    state
        .write(move |tx| create(tx, actor, now, &u, role, &hash, lang))
        .await
}

async fn create_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(u): Form<NewUser>,
) -> Result<Redirect, AppError> {
    create_user(&state, &viewer, u).await?;
    Ok(Redirect::to("/users"))
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "created", body = serde_json::Value),
              (status = 422, description = "a field refused"),
              (status = 409, description = "login taken"),
              (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn create_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Json(u): Json<NewUser>,
) -> Result<Response, AppError> {
    let id = create_user(&state, &viewer, u).await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

/// List accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserView]), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn list_api(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<UserView>>, AppError> {
    viewer.require(Perm::ManageUsers)?;
    Ok(Json(state.read(list).await?))
}

async fn change_user(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    c: Change,
) -> Result<(), AppError> {
    viewer.require(Perm::ManageUsers)?;
    let (actor, now, lang) = (Actor::from(viewer), state.now_ms(), viewer.lang);
    state
        .write(move |tx| change(tx, actor, now, id, &c, lang))
        .await
}

/// The page's forms send strings; "true"/"false" become booleans.
#[derive(Debug, Deserialize)]
struct ChangeForm {
    role: Option<String>,
    disabled: Option<String>,
    reset_totp: Option<String>,
}

async fn change_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<ChangeForm>,
) -> Result<Redirect, AppError> {
    let c = Change {
        role: f.role,
        disabled: f.disabled.map(|d| d == "true"),
        reset_totp: f.reset_totp.as_deref() == Some("true"),
    };
    change_user(&state, &viewer, id, c).await?;
    Ok(Redirect::to("/users"))
}

/// Change an account's role, disable or enable it, reset its second factor.
#[utoipa::path(post, path = "/api/v1/users/{id}", tag = "users", request_body = Change,
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = serde_json::Value), (status = 404), (status = 422),
              (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn change_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Json(c): Json<Change>,
) -> Result<Json<serde_json::Value>, AppError> {
    change_user(&state, &viewer, id, c).await?;
    Ok(Json(json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestBox;
    use axum::http::{Method, StatusCode};

    #[tokio::test]
    async fn a_bad_form_is_refused_naming_the_field_and_nothing_is_created() {
        let b = TestBox::new();
        let s = b.login_as(Role::Admin);
        let cases = [
            (
                "login=A%20B&full_name=Ana&role=agent&password=Rahasia123",
                "login",
            ),
            (
                "login=ana&full_name=&role=agent&password=Rahasia123",
                "full_name",
            ),
            (
                "login=ana&full_name=Ana&role=king&password=Rahasia123",
                "role",
            ),
            (
                "login=ana&full_name=Ana&role=agent&password=rahasia123",
                "password",
            ),
            (
                "login=ana&full_name=Ana&role=agent&password=Rah1",
                "password",
            ),
        ];
        for (form, field) in cases {
            let r = b.post_form("/users", Some(&s), form).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
            assert!(
                r.body.contains(&format!("data-field=\"{field}\"")),
                "{form}: {}",
                r.body
            );
        }
        let n: i64 = b
            .db()
            .query_row("SELECT count(*) FROM users WHERE login = 'ana'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0);
        // The same through the API: JSON naming the field.
        let token = b.token_for(&s, &["manage_users"]);
        let r = b
            .api(Method::POST, "/api/v1/users", Some(&token),
                Some(json!({"login": "ana", "full_name": "Ana", "role": "agent", "password": "short"})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["field"], "password");
    }

    #[tokio::test]
    async fn an_admin_creates_a_user_once_and_the_change_is_audited() {
        let b = TestBox::new();
        let s = b.login_as(Role::Admin);
        let form = "login=ana&full_name=Ana%20Putri&role=agent&password=Rahasia123";
        let r = b.post_form("/users", Some(&s), form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        // One account per person: the login cannot be taken twice.
        let r = b.post_form("/users", Some(&s), form).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.body.contains("data-field=\"login\""));
        let (who, action, after): (String, String, String) = b
            .db()
            .query_row(
                "SELECT login, action, after FROM audit_log WHERE action = 'user.create'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (who.as_str(), action.as_str()),
            (s.login.as_str(), "user.create")
        );
        assert!(after.contains("\"role\":\"agent\""));
        let page = b.get("/users", Some(&s)).await;
        assert!(page.body.contains("data-login=\"ana\""));
    }

    #[tokio::test]
    async fn disabling_a_user_ends_their_sessions_and_the_last_admin_stays() {
        let b = TestBox::new();
        let admin = b.login_as(Role::Admin);
        let agent = b.login_as(Role::Agent);
        assert_eq!(
            b.get("/api/v1/me", Some(&agent)).await.status,
            StatusCode::OK
        );
        let r = b
            .post_form(
                &format!("/users/{}", agent.user_id),
                Some(&admin),
                "disabled=true",
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(
            b.get("/api/v1/me", Some(&agent)).await.status,
            StatusCode::UNAUTHORIZED
        );
        let r = b
            .post_form(
                &format!("/users/{}", admin.user_id),
                Some(&admin),
                "role=qa",
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("data-field=\"role\""));
    }
}
