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
use crate::auth::{password, session, totp, Perm, Role};

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

/// One row of a module's permission matrix: method, path, the form or
/// JSON body a change sends, and the permission the route needs.
pub type Route = (&'static str, &'static str, &'static str, Perm);

/// How [`TestBox::assert_role_matrix`] reaches an `/api/` route: with
/// the session's cookie, as the pages' scripts do, or with a bearer
/// token scoped to everything the role may do, as an integration does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAuth {
    Session,
    Token,
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
        self.login_named(&format!("{}-{}", role.name(), rand::random::<u32>()), role)
    }

    /// User `login` of `role`, with a session opened directly: an agent
    /// account whose login is an agent ID of the configuration acts as
    /// that agent.
    pub fn login_named(&self, login: &str, role: Role) -> Session {
        let (user_id, totp_secret) = self.add_user(login, role);
        let mut db = self.db();
        let tx = db.transaction().expect("tx");
        let secret =
            session::create(&tx, user_id, self.clock.now(), "127.0.0.1", "test").expect("session");
        tx.commit().expect("commit");
        Session {
            user_id,
            login: login.into(),
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

    /// A request to the box as `s`'s browser sends it (its session
    /// cookie), or anonymously.
    pub fn request(
        method: Method,
        path: &str,
        s: Option<&Session>,
    ) -> axum::http::request::Builder {
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
        self.send_json(b, json).await
    }

    /// Sends `b` with `json` as its body (and says so), or with none.
    async fn send_json(
        &self,
        mut b: axum::http::request::Builder,
        json: Option<serde_json::Value>,
    ) -> Reply {
        let body = match json {
            Some(j) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).expect("request")).await
    }

    /// A same-origin JSON request of the logged-in page (cookie and CSRF
    /// header, as the pages' scripts send it).
    pub async fn json_as(
        &self,
        method: Method,
        path: &str,
        s: &Session,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let b = Self::request(method, path, Some(s))
            .header(header::ORIGIN, "http://box.test")
            .header("sec-fetch-site", "same-origin")
            .header(crate::auth::csrf::HEADER, &s.csrf);
        self.send_json(b, body).await
    }

    /// Sends a matrix row's `body` as it stands through `b`: some rows'
    /// bodies are wrong on purpose, as the permission is checked first.
    async fn send_text(&self, b: axum::http::request::Builder, body: &str) -> Reply {
        self.send(b.body(Body::from(body.to_owned())).expect("request"))
            .await
    }

    /// A pbxd on the box's real control socket answering one
    /// connection: hello, then `reply` to the request, which the handle
    /// returns as the line pbxd read.
    pub fn scripted_pbxd(
        &self,
        reply: dering_control::Response,
    ) -> tokio::task::JoinHandle<String> {
        let listener =
            tokio::net::UnixListener::bind(dering_control::client::socket_path(self.dir.path()))
                .expect("control socket");
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.expect("pbxd's client");
            answer_control(s, reply).await
        })
    }

    /// Files `ticket` through the tickets API as `s` (as the desktop
    /// does) and returns its id.
    pub async fn file_ticket(&self, s: &Session, ticket: serde_json::Value) -> i64 {
        let r = self
            .json_as(Method::POST, "/api/v1/tickets", s, Some(ticket))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.json()["ticket"]["id"].as_i64().expect("the ticket's id")
    }

    /// How many audit entries of `action` the log holds.
    pub fn audits(&self, action: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = ?1",
                [action],
                |r| r.get(0),
            )
            .expect("audit count")
    }

    /// Checks that an anonymous `method path` (with `body`) is refused as
    /// every route must refuse one: 401 from the API, and elsewhere a
    /// redirect to the login page that brings the visitor back.
    pub async fn assert_anonymous_refused(&self, method: &str, path: &str, body: &str) {
        let r = if crate::error::is_api(path) {
            self.send_text(Self::request(method_of(method), path, None), body)
                .await
        } else if method == "GET" {
            self.get(path, None).await
        } else {
            self.post_form(path, None, body).await
        };
        if crate::error::is_api(path) {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else {
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{method} {path}");
            assert!(
                r.location().is_some_and(|l| l.starts_with("/login?next=")),
                "{method} {path}: {:?}",
                r.location()
            );
        }
    }

    /// Logs a user of every role in and checks that each of `routes`
    /// answers it as the route's permission says: 403 without it,
    /// neither 403 nor 401 with it; then that each refuses an anonymous
    /// visitor. `api` says how the `/api/` routes are reached.
    pub async fn assert_role_matrix(&self, routes: &[Route], api: ApiAuth) {
        for role in Role::ALL {
            let s = self.login_as(role);
            let token = (api == ApiAuth::Token).then(|| {
                let scopes: Vec<&str> = Perm::all()
                    .filter(|p| role.may(*p))
                    .map(Perm::name)
                    .collect();
                self.token_for(&s, &scopes)
            });
            for (method, path, body, perm) in routes {
                let r = match (*method, crate::error::is_api(path), &token) {
                    (_, true, Some(token)) => {
                        let b = Self::request(method_of(method), path, None)
                            .header(header::AUTHORIZATION, format!("Bearer {token}"))
                            .header(header::CONTENT_TYPE, "application/json");
                        self.send_text(b, body).await
                    }
                    ("GET", _, _) => self.get(path, Some(&s)).await,
                    _ => self.post_form(path, Some(&s), body).await,
                };
                if role.may(*perm) {
                    assert!(
                        r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                        "{} {method} {path}: {} {}",
                        role.name(),
                        r.status,
                        r.body
                    );
                } else {
                    assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{} {method} {path}: {}",
                        role.name(),
                        r.body
                    );
                }
            }
        }
        for (method, path, body, _) in routes {
            self.assert_anonymous_refused(method, path, body).await;
        }
    }
}

/// pbxd's side of one control connection: hello, then `reply` to the
/// request, which it returns as the line read.
pub async fn answer_control(s: tokio::net::UnixStream, reply: dering_control::Response) -> String {
    use dering_control::{Reply, Response};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::new(rd).lines();
    let mut last = String::new();
    for r in [
        Response::Hello {
            protocol: dering_control::PROTOCOL,
            pbxd: "test".into(),
        },
        reply,
    ] {
        last = lines
            .next_line()
            .await
            .expect("a request")
            .expect("a request line");
        wr.write_all(format!("{}\n", Reply::new(Ok(r)).line()).as_bytes())
            .await
            .expect("reply written");
    }
    last
}

/// A citizen's complaint as the tickets API takes it: urgent and of high
/// impact (critical), linked to call `c-1`.
pub fn complaint() -> serde_json::Value {
    serde_json::json!({
        "reporter_name": "Siti",
        "reporter_phone": "081234567890",
        "category": "pengaduan",
        "description": "izin usaha tertahan",
        "urgency": "high",
        "impact": "high",
        "unit": "KU Dumas",
        "call_ids": ["c-1"]
    })
}

/// A matrix row's method name as a method.
fn method_of(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("method name")
}

impl ManualClock {
    /// The clock's time (tests).
    pub fn now(&self) -> i64 {
        crate::app::Clock::now_ms(self)
    }
}

/// A submitted form's fields, as the screens' handlers receive them.
pub fn form(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
