//! webd: the box's HTTP face. Now `/health` (MON-2: each daemon live and
//! ready, with reasons; 200 when all are, 503 otherwise) and `/metrics`
//! (Prometheus text format); the web admin arrives on the same router.
//! Layout after axum's examples: state, router, handlers, error type.

pub mod history;
pub mod live;
mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dering_health::{Scope, SystemProbe};
use tokio::sync::Mutex;

pub use metrics::render as render_metrics;

/// How webd is started.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The daemons this box runs besides webd.
    pub expected: Vec<String>,
}

#[derive(Debug)]
struct AppState {
    scope: Scope,
    probe: Mutex<SystemProbe>,
}

pub fn router(opts: &Options) -> Router {
    let state = Arc::new(AppState {
        scope: Scope {
            data_dir: opts.data_dir.clone(),
            expected: opts.expected.clone(),
            self_name: "webd".into(),
        },
        probe: Mutex::new(SystemProbe::new()),
    });
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn snapshot(state: &AppState) -> dering_health::Snapshot {
    let mut probe = state.probe.lock().await;
    dering_health::collect(&state.scope, &mut probe).await
}

/// Liveness only: webd answers HTTP. For probes that must not cost a
/// database read (systemd's watchdog, a load balancer).
async fn live() -> &'static str {
    "ok\n"
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

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let s = snapshot(&state).await;
    let code = if s.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if s.healthy() { "ok" } else { "degraded" },
        "version": s.version,
        "daemons": s.daemons,
        "ups": s.ups,
        "pbx": s.pbx,
    });
    (code, Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let s = snapshot(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&s),
    )
        .into_response()
}

/// A bound, serving webd.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
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
    let app = router(&opts);
    let db = opts.data_dir.join("dering.db");
    let task = tokio::spawn(async move {
        let store = dering_store::Store::open(&db)?;
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
        tracing::info!(%addr, "webd serving /health and /metrics");
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        hb.abort();
        let _ = writer.submit(beat(true), None);
        r.map_err(anyhow::Error::from)
    });
    Ok(Running { addr, task })
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
