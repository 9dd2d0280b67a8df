//! The HTTP side: the API, the admin endpoints, and the faults. The
//! accept loop is its own (not `axum::serve`) so that a fault can reset a
//! connection: each connection's task holds a duplicate of its socket and
//! a [`Kill`] a handler can pull, which closes the socket with SO_LINGER 0
//! (an RST, as a crashed peer or a middlebox would).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::db::Db;
use crate::faults::{Fault, Plan};

struct Sim {
    db: Mutex<Db>,
    plan: Mutex<Plan>,
    /// API requests so far: the fault plan's index.
    requests: AtomicU64,
    api_key: Option<String>,
}

type Shared = Arc<Sim>;

/// Pulled by a handler to reset its connection.
#[derive(Clone, Default)]
struct Kill(Arc<Notify>);

pub async fn serve(
    listen: SocketAddr,
    db: Db,
    plan: Plan,
    api_key: Option<String>,
) -> anyhow::Result<()> {
    let sim = Arc::new(Sim {
        db: Mutex::new(db),
        plan: Mutex::new(plan),
        requests: AtomicU64::new(0),
        api_key,
    });
    let router = Router::new()
        .route("/api/v1/tickets", post(create))
        .route("/api/v1/tickets/{id}", patch(update))
        .route("/api/v1/changes", get(changes))
        .route("/admin/tickets", get(all))
        .route("/admin/tickets/{id}/status", post(change_status))
        .route("/admin/faults", get(get_faults).put(put_faults))
        .with_state(sim);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept");
                continue;
            }
        };
        let router = router.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, router).await {
                tracing::debug!(error = %e, "connection");
            }
        });
    }
}

async fn connection(stream: tokio::net::TcpStream, router: Router) -> std::io::Result<()> {
    let std = stream.into_std()?;
    let guard = std.try_clone()?;
    let stream = tokio::net::TcpStream::from_std(std)?;
    let kill = Kill::default();
    let k = kill.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(k.clone());
        router.clone().oneshot(req)
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        r = conn => r.map_err(std::io::Error::other),
        _ = kill.0.notified() => {
            socket2::SockRef::from(&guard).set_linger(Some(Duration::ZERO))?;
            Ok(())
        }
    }
}

/// Resets the connection; the handler's future never finishes.
async fn reset(kill: &Kill) -> Response {
    kill.0.notify_one();
    std::future::pending::<()>().await;
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "database");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// What [`before`] leaves to the handler.
enum Before {
    /// Go on with the write, with a fault to act out after it, if any.
    Go(Option<Fault>),
    /// Answer this instead.
    Stop(Response),
}

/// Checks the API key, draws this request's fault and acts out the
/// faults that come before the write.
async fn before(sim: &Sim, headers: &HeaderMap, kill: &Kill) -> Before {
    match checked(sim, headers, kill).await {
        Ok(f) => Before::Go(f),
        Err(r) => Before::Stop(*r),
    }
}

async fn checked(
    sim: &Sim,
    headers: &HeaderMap,
    kill: &Kill,
) -> Result<Option<Fault>, Box<Response>> {
    if let Some(key) = &sim.api_key {
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(key.as_str()) {
            return Err(Box::new(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": "bad API key" })),
                )
                    .into_response(),
            ));
        }
    }
    let n = sim.requests.fetch_add(1, Ordering::Relaxed);
    let (fault, plan) = {
        let plan = sim.plan.lock().map_err(|e| Box::new(internal(e)))?;
        (plan.fault(n), plan.clone())
    };
    let Some(fault) = fault else {
        return Ok(None);
    };
    tracing::info!(n, ?fault, "fault");
    let status = |s: StatusCode| {
        Err(Box::new(
            (s, Json(json!({ "error": "injected" }))).into_response(),
        ))
    };
    match fault {
        Fault::Status500 => status(StatusCode::INTERNAL_SERVER_ERROR),
        Fault::Status502 => status(StatusCode::BAD_GATEWAY),
        Fault::Status503 => status(StatusCode::SERVICE_UNAVAILABLE),
        Fault::TooMany => Err(Box::new(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", plan.retry_after_s.to_string())],
                Json(json!({ "error": "slow down" })),
            )
                .into_response(),
        )),
        Fault::Slow => {
            tokio::time::sleep(Duration::from_millis(plan.slow_ms)).await;
            Ok(None)
        }
        Fault::Timeout => {
            tokio::time::sleep(Duration::from_millis(plan.hang_ms)).await;
            Err(Box::new(reset(kill).await))
        }
        Fault::Reset => Err(Box::new(reset(kill).await)),
        Fault::LostAnswer => Ok(Some(Fault::LostAnswer)),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(String::from)
}

fn no_key() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "Idempotency-Key needed" })),
    )
        .into_response()
}

async fn answer(
    fault: Option<Fault>,
    kill: &Kill,
    result: rusqlite::Result<(u16, Value)>,
) -> Response {
    let (status, body) = match result {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    if fault == Some(Fault::LostAnswer) {
        return reset(kill).await;
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

async fn create(
    State(sim): State<Shared>,
    Extension(kill): Extension<Kill>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(key) = idempotency_key(&headers) else {
        return no_key();
    };
    let fault = match before(&sim, &headers, &kill).await {
        Before::Go(f) => f,
        Before::Stop(r) => return r,
    };
    let result = match sim.db.lock() {
        Ok(mut db) => db.create(&key, &body),
        Err(e) => return internal(e),
    };
    answer(fault, &kill, result).await
}

async fn update(
    State(sim): State<Shared>,
    Extension(kill): Extension<Kill>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(key) = idempotency_key(&headers) else {
        return no_key();
    };
    let fault = match before(&sim, &headers, &kill).await {
        Before::Go(f) => f,
        Before::Stop(r) => return r,
    };
    let result = match sim.db.lock() {
        Ok(mut db) => db.update(&key, id, &body),
        Err(e) => return internal(e),
    };
    answer(fault, &kill, result).await
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

async fn changes(
    State(sim): State<Shared>,
    Extension(kill): Extension<Kill>,
    headers: HeaderMap,
    Query(q): Query<Since>,
) -> Response {
    let fault = match before(&sim, &headers, &kill).await {
        Before::Go(f) => f,
        Before::Stop(r) => return r,
    };
    let result = match sim.db.lock() {
        Ok(db) => db
            .changes(q.since, q.limit.clamp(1, 1000))
            .map(|v| (200, v)),
        Err(e) => return internal(e),
    };
    answer(fault, &kill, result).await
}

async fn all(State(sim): State<Shared>) -> Response {
    match sim.db.lock() {
        Ok(db) => match db.all() {
            Ok(v) => Json(json!({ "count": v.len(), "tickets": v })).into_response(),
            Err(e) => internal(e),
        },
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct NewStatus {
    status: String,
}

async fn change_status(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Json(s): Json<NewStatus>,
) -> Response {
    let result = match sim.db.lock() {
        Ok(mut db) => db.change_status(id, &s.status),
        Err(e) => return internal(e),
    };
    match result {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such ticket" })),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

async fn get_faults(State(sim): State<Shared>) -> Response {
    match sim.plan.lock() {
        Ok(p) => Json(p.clone()).into_response(),
        Err(e) => internal(e),
    }
}

async fn put_faults(State(sim): State<Shared>, Json(plan): Json<Plan>) -> Response {
    match sim.plan.lock() {
        Ok(mut p) => {
            *p = plan;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => internal(e),
    }
}
