//! webd: the box's HTTP face. `/health` (MON-2: each daemon live and
//! ready, with reasons; 200 when all are, 503 otherwise), `/health/live`
//! and `/metrics` (Prometheus text format), unauthenticated as before; and
//! the web admin (issue 15) behind a login.
//!
//! # How the web admin is put together (the contract between its modules)
//!
//! - [`app::AppState`]: the data directory, [`app::AppState::read`] (a
//!   read-only SQLite connection on a blocking thread),
//!   [`app::AppState::write`] (one transaction, for webd's own tables),
//!   [`app::AppState::control`] (a request to pbxd over the control
//!   socket) and [`app::AppState::now_ms`] (the clock; tests move it).
//! - [`auth::Viewer`] extractor: the logged-in user (id, login, role,
//!   language) from the session cookie or an API bearer token. Anonymous:
//!   401 under `/api/v1`, a redirect to `/login` for pages.
//!   `viewer.require(Perm::X)?` answers 403 when the role (or the token's
//!   scope) lacks the permission; the matrix is [`auth::MATRIX`], written
//!   out in `docs/web-permissions.md`. Take `Option<Viewer>` for a page
//!   that anonymous visitors may see.
//! - [`audit::record`] (inside the change's transaction) and
//!   [`audit::log`] (a sensitive read): who, when, from where, what,
//!   before, after.
//! - [`error::AppError`]: the handlers' error; `AppError::invalid(field,
//!   message)` refuses input naming the field. Rendered as JSON
//!   `{error, field, message}` under `/api/v1`, as a page elsewhere.
//! - [`ui::page`] / [`ui::page_with`]: the layout (navigation by role,
//!   language switch, logout); [`ui::esc`] escapes text;
//!   [`ui::csrf_field`] goes into every POST form (multipart forms:
//!   [`ui::csrf_query`] in the action URL; scripts: header `x-csrf-token`
//!   with the token from `<meta name="csrf-token">`). No inline script or
//!   style attribute: the Content-Security-Policy forbids them.
//! - [`i18n`]: `Text { id, en }` constants kept beside the code that shows
//!   them, `viewer.lang.t(&TEXT)`; `viewer.zone.time(ms)` for a time in the box's zone.
//! - Assets: files in `web-admin/assets/` are compiled in and served at
//!   `/assets/<file>`; each module has its own (`assets/<module>.js`).
//! - Modules, one owner each, each `pub fn routes() -> Router<AppState>`
//!   merged in [`app::router`]: [`history`], [`live`], [`admin`],
//!   [`flows`]. Pages at `/<module>/…`, the same actions as JSON under
//!   `/api/v1/<module>/…`, with the same permission checks.
//! - Router tests: `testing::TestBox` (a temporary data dir with the
//!   migrated database, a manual clock, `login_as(role)` for a session,
//!   `token_for(session, scopes)` for an API token, `get`, `post_form`
//!   with the CSRF token, `api` with a bearer token). Keep a table of your
//!   routes with the permission each needs and test it for every role, as
//!   `tests.rs` does for web-core's.
//! - OpenAPI: annotate API handlers with `#[utoipa::path]`, collect them
//!   in your module's `#[derive(utoipa::OpenApi)] pub struct Api`, and add
//!   one `doc.merge(...)` line in [`openapi::document`].
//! - Web-core's own pages: `/login`, `/logout`, `/setup` (first start),
//!   `/account` (password, log out everywhere, API tokens), `/users`,
//!   `/audit` (+ `.csv`), `/certificate`; `/api/v1/me`, `/api/v1/users`,
//!   `/api/v1/audit`, `/api/v1/openapi.json`.
//! - Serving: `[http] port` is plain HTTP with only the probes and a
//!   redirect; the admin is on `https_port` with the box's certificate
//!   ([`tls`], decision 0017).

pub mod admin;
pub mod app;
mod assets;
pub mod audit;
pub mod auth;
pub mod certificate;
pub mod desktop;
pub mod error;
pub mod flows;
mod headers;
pub mod history;
pub mod i18n;
pub mod live;
mod metrics;
pub mod openapi;
pub mod setup;
#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod tickets;
pub mod tls;
pub mod ui;
mod unread_body;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use metrics::render as render_metrics;

/// How webd is started.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The daemons this box runs besides webd.
    pub expected: Vec<String>,
    /// Where the web admin is served over HTTPS; `listen` then serves only
    /// the probes and redirects the rest. `None`: everything on `listen`
    /// over plain HTTP (a development setup).
    pub https: Option<SocketAddr>,
}

fn state(opts: &Options) -> app::AppState {
    app::AppState::new(
        &opts.data_dir,
        opts.expected.clone(),
        Arc::new(app::SystemClock),
        opts.https.is_some(),
    )
}

/// The whole router over the data directory with the system clock.
pub fn router(opts: &Options) -> axum::Router {
    app::router(state(opts))
}

/// The first-start link for the HTTPS listener at `https` (an unspecified
/// bind address is shown as the box's host name, to be replaced by the
/// address the visitor reaches it at).
pub fn setup_link(https: SocketAddr, token: &str) -> String {
    let host = if https.ip().is_unspecified() {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else {
        https.ip().to_string()
    };
    format!("https://{host}:{}/setup?token={token}", https.port())
}

/// Whether webd at `addr` answers `/health/live` with 200 within 5 s.
pub async fn answers(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), probe).await,
        Ok(Some(true))
    )
}

/// A bound, serving webd.
#[derive(Debug)]
pub struct Running {
    /// Plain HTTP: the probes (and the admin when there is no HTTPS).
    pub addr: SocketAddr,
    /// The web admin over HTTPS.
    pub https_addr: Option<SocketAddr>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Binds and serves until `shutdown` resolves; writes webd's heartbeat.
pub async fn start(
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&opts.data_dir)?;
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let db = opts.data_dir.join("dering.db");
    // Migrate before serving: the admin's tables must exist for a login.
    let store = dering_store::Store::open(&db)?;
    let state = state(&opts);
    let (app, https) = match opts.https {
        Some(at) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls::load(
                &opts.data_dir,
            )?));
            state.set_tls(tls.clone());
            let secure = std::net::TcpListener::bind(at)?;
            secure.set_nonblocking(true)?;
            let https_addr = secure.local_addr()?;
            let plain = app::plain_router(state.clone(), https_addr.port());
            (plain, Some((secure, https_addr, tls)))
        }
        None => (app::router(state.clone()), None),
    };
    let https_addr = https.as_ref().map(|h| h.1);
    // The admin over HTTPS, stopped with the plain listener below.
    let handle = axum_server::Handle::new();
    let https_task = https.map(|(secure, _, tls)| {
        let app = app::router(state.clone());
        let handle = handle.clone();
        tokio::spawn(async move {
            axum_server::from_tcp_rustls(secure, tls)
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
        })
    });
    let task = tokio::spawn(async move {
        let (writer, _t) = dering_store::writer::Writer::spawn(store)?;
        let started = Instant::now();
        let started_ms = wall_ms();
        let beat = move |stopped: bool| {
            dering_store::Op::Heartbeat(dering_store::DaemonStatus {
                daemon: "webd".into(),
                pid: std::process::id(),
                started_ms,
                heartbeat_ms: wall_ms(),
                ready: !stopped,
                reasons: vec![],
                state: serde_json::json!({"listen": addr.to_string(), "uptime_seconds": started.elapsed().as_secs()}).to_string(),
                stopped,
            })
        };
        let hb_writer = writer.clone();
        let hb = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if hb_writer.submit(beat(false), None).is_err() {
                    break;
                }
            }
        });
        tracing::info!(%addr, https = ?https_addr, "webd serving");
        let stop_https = handle.clone();
        let r = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop_https.graceful_shutdown(Some(Duration::from_secs(5)));
        })
        .await;
        if let Some(t) = https_task {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "HTTPS listener failed"),
                Err(e) => tracing::error!(error = %e, "HTTPS listener task"),
            }
        }
        hb.abort();
        let _ = writer.submit(beat(true), None);
        r.map_err(anyhow::Error::from)
    });
    Ok(Running {
        addr,
        https_addr,
        task,
    })
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
