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

pub(super) fn internal(e: dering_store::StoreError) -> AppError {
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
    revive(&state, &viewer, Revive::One(id)).await?;
    Ok(Json(json!({ "retried": id })).into_response())
}

/// Which dead letters a technician sends again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Revive {
    One(i64),
    /// Every dead letter there is (the page's "retry all", after a fix
    /// that cured them all, e.g. the field mapping).
    AllDead,
}

/// Puts dead letters back as pending, due now, each with its own
/// `outbox.retry` audit entry, in one transaction: the one retry both
/// the API and the outbox page use, so they cannot differ in who may,
/// what changes or what is audited. `Revive::One` of a row that is no
/// dead letter is `NotFound`. Returns the rows revived.
pub(super) async fn revive(
    state: &AppState,
    viewer: &Viewer,
    which: Revive,
) -> Result<Vec<i64>, AppError> {
    viewer.require(Perm::SyncOutbox)?;
    let now = state.now_ms();
    let actor = audit::Actor::from(viewer);
    state
        .write(move |tx| {
            let ids = match which {
                Revive::One(id) => vec![id],
                Revive::AllDead => {
                    let mut st =
                        tx.prepare("SELECT id FROM outbox WHERE state = 'dead' ORDER BY id")?;
                    let rows = st.query_map([], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<Vec<i64>>>()?
                }
            };
            for &id in &ids {
                if !tickets::outbox_revive(tx, id, now).map_err(internal)? {
                    return Err(AppError::NotFound);
                }
                audit::record(
                    tx,
                    actor.clone(),
                    now,
                    "outbox.retry",
                    &format!("outbox row {id}"),
                    None,
                    None,
                )?;
            }
            Ok(ids)
        })
        .await
}
