//! Router tests without a port (axum's `oneshot`): a temporary data
//! directory with the migrated database, a clock the test moves, and
//! users of each role with a live session. Every module's tests use it:
//!
//! ```ignore
//! let b = TestBox::new();
//! let s = b.login_as(Role::Supervisor);
//! let r = b.get("/history", Some(&s)).await;
//! assert_eq!(r.status, 200);
//! ```

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use rusqlite::{params, Connection};
use tower::ServiceExt;

use crate::app::{AppState, ManualClock};
use crate::auth::{password, session, totp, Role};

/// 2026-12-04 08:00:00 UTC.
pub const T0: i64 = 1_796_371_200_000;

/// The password every test user has.
pub const PASSWORD: &str = "Rahasia123";

#[derive(Debug)]
pub struct TestBox {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub router: Router,
}

/// A logged-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub login: String,
    pub secret: String,
    pub csrf: String,
    /// For roles that need one: the user's TOTP secret (enabled).
    pub totp_secret: Option<String>,
}

impl Session {
    pub fn cookie(&self) -> String {
        format!("{}={}", session::COOKIE, self.secret)
    }
}

/// What a test request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION)?.to_str().ok()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Default for TestBox {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        dering_store::Store::open(&dir.path().join("dering.db")).expect("migrated database");
        let clock = Arc::new(ManualClock::new(T0));
        let state = AppState::new(dir.path(), vec![], clock.clone(), false);
        let router = crate::app::router(state.clone());
        TestBox {
            dir,
            clock,
            state,
            router,
        }
    }

    /// A read-write connection for arranging and checking rows.
    pub fn db(&self) -> Connection {
        Connection::open(self.dir.path().join("dering.db")).expect("database")
    }

    /// Creates user `login` with `role` (TOTP enabled for roles that need
    /// it) and returns its id and TOTP secret.
    pub fn add_user(&self, login: &str, role: Role) -> (i64, Option<String>) {
        let hash = password::hash(PASSWORD).expect("hash");
        let secret = role.needs_totp().then(totp::new_secret);
        let db = self.db();
        db.execute(
            "INSERT INTO users (login, full_name, role, password_hash, totp_secret, totp_enabled, created_ms, updated_ms) \
             VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![login, role.name(), hash, secret, secret.is_some(), self.clock.now()],
        )
        .expect("insert user");
        (db.last_insert_rowid(), secret)
    }

    /// A user of `role` named after it, with a session opened directly.
    pub fn login_as(&self, role: Role) -> Session {
        let login = format!("{}-{}", role.name(), rand::random::<u32>());
        let (user_id, totp_secret) = self.add_user(&login, role);
        let mut db = self.db();
        let tx = db.transaction().expect("tx");
        let secret =
            session::create(&tx, user_id, self.clock.now(), "127.0.0.1", "test").expect("session");
        tx.commit().expect("commit");
        Session {
            user_id,
            login,
            csrf: session::csrf_token(&secret),
            secret,
            totp_secret,
        }
    }

    /// An API token of `s`'s user with `scopes` (permission names).
    pub fn token_for(&self, s: &Session, scopes: &[&str]) -> String {
        let perms: Vec<crate::auth::Perm> = scopes
            .iter()
            .map(|n| crate::auth::Perm::parse(n).expect("permission name"))
            .collect();
        let mut db = self.db();
        let tx = db.transaction().expect("tx");
        let actor = crate::audit::Actor {
            user_id: Some(s.user_id),
            login: s.login.clone(),
            source: "test".into(),
        };
        let (_, secret) = crate::auth::account::create_token_row(
            &tx,
            actor,
            self.clock.now(),
            s.user_id,
            "test",
            &perms,
        )
        .expect("token");
        tx.commit().expect("commit");
        secret
    }

    /// Sends `req` through the router.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn request(method: Method, path: &str, s: Option<&Session>) -> axum::http::request::Builder {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "box.test");
        if let Some(s) = s {
            b = b.header(header::COOKIE, s.cookie());
        }
        b
    }

    pub async fn get(&self, path: &str, s: Option<&Session>) -> Reply {
        let req = Self::request(Method::GET, path, s)
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    /// A same-origin form POST with the session's CSRF token added.
    pub async fn post_form(&self, path: &str, s: Option<&Session>, form: &str) -> Reply {
        let body = match s {
            Some(s) if form.is_empty() => format!("_csrf={}", s.csrf),
            Some(s) => format!("{form}&_csrf={}", s.csrf),
            None => form.to_owned(),
        };
        let req = Self::request(Method::POST, path, s)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://box.test")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// A JSON request under `/api/v1` with a bearer token.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json: Option<serde_json::Value>,
    ) -> Reply {
        let mut b = Self::request(method, path, None);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match json {
            Some(j) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).expect("request")).await
    }
}

impl ManualClock {
    /// The clock's time (tests).
    pub fn now(&self) -> i64 {
        crate::app::Clock::now_ms(self)
    }
}
