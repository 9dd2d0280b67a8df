//! `/api/v1/outbox/…`: the dead letters technicians see, and their retry
//! once the cause is fixed (a field mapping, SIMPEL's data) (SYNC-3).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dering_store::tickets;
use serde_json::json;

use crate::app::AppState;
use crate::audit;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;

fn internal(e: dering_store::StoreError) -> AppError {
    match e {
        dering_store::StoreError::Sql(e) => AppError::Db(e),
        other => AppError::Internal(other.to_string()),
    }
}

#[utoipa::path(get, path = "/api/v1/outbox/dead", tag = "tickets", description = "The outbox's dead letters: rows SIMPEL refused for good, with the error",
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn dead(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::SyncOutbox)?;
    let rows = state
        .read(|c| tickets::outbox_dead(c).map_err(internal))
        .await?;
    Ok(Json(json!({ "dead": rows })).into_response())
}

#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = "tickets", description = "Sends a dead letter again (attempts counted afresh)", params(("id" = i64, Path, description = "the outbox row")),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    viewer.require(Perm::SyncOutbox)?;
    let now = state.now_ms();
    let actor = audit::Actor::from(&viewer);
    state
        .write(move |tx| {
            if !tickets::outbox_revive(tx, id, now).map_err(internal)? {
                return Err(AppError::NotFound);
            }
            audit::record(
                tx,
                actor,
                now,
                "outbox.retry",
                &format!("outbox row {id}"),
                None,
                None,
            )
        })
        .await?;
    Ok(Json(json!({ "retried": id })).into_response())
}
