//! The shared state every handler gets and the one router that mounts
//! every module. Handlers never open files or sockets of their own: the
//! database, the control socket and the clock come from `AppState`, so a
//! router test gives a temporary data directory and a clock it moves.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use dering_control::{Request, Response as ControlResponse};
use dering_health::{Scope, SystemProbe};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Mutex;

use crate::error::AppError;

/// Where webd takes the time from: the system in production, a clock the
/// test moves in router tests (session expiry, lockout windows).
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::wall_ms()
    }
}

/// A clock that stands still until told to move (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        ManualClock(AtomicI64::new(now_ms))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything a handler may use. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    data_dir: PathBuf,
    db: PathBuf,
    clock: Arc<dyn Clock>,
    /// Served over HTTPS: cookies get `Secure` and responses HSTS.
    https: bool,
    health: Scope,
    probe: Mutex<SystemProbe>,
    /// The HTTPS listener's configuration, swapped when an administrator
    /// uploads a certificate (set by `start`).
    tls: std::sync::OnceLock<axum_server::tls_rustls::RustlsConfig>,
    /// The zone of `[system] time_zone` and the configuration version it
    /// was read from ([`AppState::zone`]).
    zone: std::sync::Mutex<Option<(i64, crate::i18n::Zone)>>,
}

impl AppState {
    /// State over the box's data directory (`<data>/dering.db`, the control
    /// socket `<data>/pbxd.sock`). `expected`: the daemons besides webd.
    pub fn new(data_dir: &Path, expected: Vec<String>, clock: Arc<dyn Clock>, https: bool) -> Self {
        AppState {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                db: data_dir.join("dering.db"),
                clock,
                https,
                health: Scope {
                    data_dir: data_dir.to_path_buf(),
                    expected,
                    self_name: "webd".into(),
                },
                probe: Mutex::new(SystemProbe::new()),
                tls: std::sync::OnceLock::new(),
                zone: std::sync::Mutex::new(None),
            }),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Milliseconds since the epoch, from the state's clock.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The zone pages show times in: the current configuration's
    /// `[system] time_zone`, read again only when the version changed
    /// (an admin, a restore or the file may change it at any time).
    pub fn zone(&self) -> crate::i18n::Zone {
        use crate::i18n::Zone;
        let current = match crate::admin::apply::current(&self.inner.data_dir) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no configuration version; times in WIB");
                return Zone::WIB;
            }
        };
        let mut cache = self.inner.zone.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((version, zone)) = *cache {
            if version == current.version {
                return zone;
            }
        }
        let zone = match dering_config::Config::parse(&current.document, "dering.toml") {
            Ok(c) => Zone::named(&c.system.time_zone),
            Err(e) => {
                tracing::warn!(error = %e, "configuration refused; times in WIB");
                Zone::WIB
            }
        };
        *cache = Some((current.version, zone));
        zone
    }

    pub fn https(&self) -> bool {
        self.inner.https
    }

    /// The HTTPS listener's live configuration, when serving HTTPS.
    pub fn tls(&self) -> Option<&axum_server::tls_rustls::RustlsConfig> {
        self.inner.tls.get()
    }

    pub(crate) fn set_tls(&self, config: axum_server::tls_rustls::RustlsConfig) {
        let _ = self.inner.tls.set(config);
    }

    /// Runs `f` on a read-only connection to the box's database, on a
    /// blocking thread (SQLite calls block). Read-only: a page that only
    /// shows data cannot change it by mistake.
    pub async fn read<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    {
        let path = self.inner.db.clone();
        run_blocking(move || {
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            f(&conn)
        })
        .await
    }

    /// Runs `f` in one transaction on a read-write connection: webd's own
    /// tables (users, sessions, tokens, audit). Configuration is changed
    /// through the control socket, never here.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AppError> + Send + 'static,
    {
        let path = self.inner.db.clone();
        run_blocking(move || {
            let mut conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.pragma_update(None, "foreign_keys", true)?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// One request to pbxd over the typed control socket.
    pub async fn control(&self, req: &Request) -> Result<ControlResponse, AppError> {
        Ok(dering_control::client::request(self.data_dir(), req).await?)
    }
}

async fn run_blocking<T, F>(f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("database task: {e}")))?
}

/// The whole router: health and metrics (unauthenticated, as before), the
/// login and account pages, the assets, then each module's routes.
pub fn router(state: AppState) -> Router {
    probes()
        .merge(crate::assets::routes())
        .merge(crate::auth::routes())
        .merge(crate::setup::routes())
        .merge(crate::audit::routes())
        .merge(crate::openapi::routes())
        .merge(crate::certificate::routes())
        .merge(crate::history::routes())
        .merge(crate::live::routes())
        .merge(crate::desktop::routes())
        .merge(crate::admin::routes())
        .merge(crate::flows::routes())
        .merge(crate::tickets::routes())
        .fallback(|| async { AppError::NotFound })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::csrf::check,
        ))
        .layer(middleware::from_fn(crate::error::render))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::headers::secure,
        ))
        .layer(middleware::from_fn(crate::unread_body::close_if_unread))
        .with_state(state)
}

/// What plain HTTP serves when the admin is on HTTPS: the probes the NOC
/// and systemd's watchdog read, and a redirect for everything else.
pub fn plain_router(state: AppState, https_port: u16) -> Router {
    probes()
        .fallback(move |req: axum::extract::Request| async move { to_https(&req, https_port) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::headers::secure,
        ))
        .with_state(state)
}

/// `/health`, `/health/live`, `/metrics`: unauthenticated (MON-2).
fn probes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/metrics", get(metrics))
}

/// A permanent redirect to the same path on the HTTPS port of the host
/// the browser asked for (308 keeps the method).
fn to_https(req: &axum::extract::Request, https_port: u16) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    // Strip the port, keeping an IPv6 literal's brackets.
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let to = format!("https://{name}:{https_port}{path}");
    match axum::http::HeaderValue::from_str(&to) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn snapshot(state: &AppState) -> dering_health::Snapshot {
    let mut probe = state.inner.probe.lock().await;
    dering_health::collect(&state.inner.health, &mut probe).await
}

/// Liveness only: webd answers HTTP. For probes that must not cost a
/// database read (systemd's watchdog, a load balancer).
async fn live() -> &'static str {
    "ok\n"
}

async fn health(State(state): State<AppState>) -> Response {
    let s = snapshot(&state).await;
    let code = if s.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A span in alarm is a warning, not a failure (the carrier's fault,
    // not the box's): still 200, status `warning`, the reasons listed.
    let warnings = s.warnings();
    let status = match (s.healthy(), warnings.is_empty()) {
        (false, _) => "degraded",
        (true, false) => "warning",
        (true, true) => "ok",
    };
    let body = serde_json::json!({
        "status": status,
        "version": s.version,
        "daemons": s.daemons,
        "ups": s.ups,
        "pbx": s.pbx,
        "warnings": warnings,
        "outbox": outbox(&state).await,
        "backup": s.backup,
    });
    (code, Json(body)).into_response()
}

/// The ticket outbox's counts (SYNC-3), `None` when they cannot be read
/// (no database yet): the probes still answer.
async fn outbox(state: &AppState) -> Option<dering_store::tickets::OutboxCounts> {
    state
        .read(|c| {
            dering_store::tickets::outbox_counts(c)
                .map_err(|e| crate::error::AppError::Internal(e.to_string()))
        })
        .await
        .ok()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let s = snapshot(&state).await;
    let mut text = crate::metrics::render(&s);
    if let Some(c) = outbox(&state).await {
        text.push_str(&crate::metrics::outbox(&c, state.now_ms()));
    }
    let beat = state
        .read(|c| {
            dering_store::tickets::syncd_beat(c)
                .map_err(|e| crate::error::AppError::Internal(e.to_string()))
        })
        .await
        .ok()
        .flatten();
    text.push_str(&crate::metrics::sync_link(beat.as_ref(), state.now_ms()));
    text.push_str(&crate::tickets::sla_metrics(&state).await);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
