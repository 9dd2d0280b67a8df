//! `/api/v1/tickets`: record, list, read and change tickets. Each write
//! is one transaction: the ticket, its history, its outbox row for syncd
//! and the audit entry.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dering_store::tickets::{self, Level, NewTicket, TicketChange, TicketStatus};
use dering_store::StoreError;
use serde::Deserialize;
use serde_json::json;

use super::access::{reach, Reach};
use crate::app::AppState;
use crate::audit;
use crate::auth::Viewer;
use crate::error::AppError;

/// Longest text accepted in a field (a description included).
const MAX_TEXT: usize = 8_000;

pub(super) fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::TicketNotFound(_) => AppError::NotFound,
        StoreError::TicketStale { version, .. } => AppError::Conflict {
            field: "version".into(),
            message: format!("the ticket was changed meanwhile (now version {version})"),
        },
        StoreError::Sql(e) => AppError::Db(e),
        other => AppError::Internal(other.to_string()),
    }
}

pub(super) fn text(field: &str, value: &str, required: bool) -> Result<(), AppError> {
    if required && value.trim().is_empty() {
        return Err(AppError::invalid(field, "required"));
    }
    if value.len() > MAX_TEXT {
        return Err(AppError::invalid(
            field,
            format!("longer than {MAX_TEXT} bytes"),
        ));
    }
    Ok(())
}

/// A new ticket.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TicketIn {
    pub reporter_name: String,
    pub reporter_phone: String,
    #[serde(default)]
    pub reporter_email: String,
    pub category: String,
    pub description: String,
    /// `low`, `medium` or `high`.
    #[schema(value_type = String)]
    pub urgency: Level,
    /// `low`, `medium` or `high`; with urgency it gives the priority.
    #[schema(value_type = String)]
    pub impact: Level,
    /// The back-office unit (KU Dumas at the Ombudsman).
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub call_ids: Vec<String>,
    #[serde(default)]
    pub recordings: Vec<String>,
}

/// A change: the fields given change; `version` is the one the change was
/// made on (a ticket changed meanwhile is refused with 409).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIn {
    pub version: i64,
    #[serde(default)]
    pub reporter_name: Option<String>,
    #[serde(default)]
    pub reporter_email: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `open`, `in_progress`, `escalated` or `closed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub escalation_level: Option<i64>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub add_call_ids: Vec<String>,
    #[serde(default)]
    pub add_recordings: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only the tickets of this reporter's number.
    pub phone: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", description = "Tickets the caller may see, newest first", params(ListQuery),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let reach = reach(&state, &viewer).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000) as usize;
    let phone = q.phone;
    let found = state
        .read(move |c| tickets::list(c, phone.as_deref(), 10_000).map_err(store_error))
        .await?;
    let shown: Vec<_> = found
        .into_iter()
        .filter(|t| reach.allows(t))
        .take(limit)
        .collect();
    Ok(Json(json!({ "tickets": shown })).into_response())
}

#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", description = "A ticket and its history", params(("id" = i64, Path, description = "the ticket's id")),
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let reach = reach(&state, &viewer).await?;
    let (ticket, history) = state
        .read(move |c| {
            let t = tickets::get(c, id).map_err(store_error)?;
            let mut st = c.prepare(
                "SELECT version, at_ms, author, origin, change FROM ticket_history
                 WHERE ticket_id = ?1 ORDER BY id",
            )?;
            let h: Vec<serde_json::Value> = st
                .query_map([id], |r| {
                    Ok(json!({
                        "version": r.get::<_, i64>(0)?,
                        "at_ms": r.get::<_, i64>(1)?,
                        "author": r.get::<_, String>(2)?,
                        "origin": r.get::<_, String>(3)?,
                        "change": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(4)?)
                            .unwrap_or_default(),
                    }))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok((t, h))
        })
        .await?;
    // A ticket out of reach is as absent as one that does not exist.
    let ticket = ticket
        .filter(|t| reach.allows(t))
        .ok_or(AppError::NotFound)?;
    Ok(Json(json!({ "ticket": ticket, "history": history })).into_response())
}

#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", description = "Records a ticket; it is owed to SIMPEL in the same transaction", request_body = TicketIn,
    responses((status = 201, body = serde_json::Value), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Json(t): Json<TicketIn>,
) -> Result<Response, AppError> {
    let reach = reach(&state, &viewer).await?;
    text("reporter_name", &t.reporter_name, false)?;
    text("reporter_phone", &t.reporter_phone, true)?;
    text("reporter_email", &t.reporter_email, false)?;
    text("category", &t.category, true)?;
    text("description", &t.description, true)?;
    text("unit", &t.unit, false)?;
    if !reach.may_file_in(t.queue.as_deref()) {
        return Err(AppError::invalid("queue", "not a queue you serve"));
    }
    let new = NewTicket {
        reporter_name: t.reporter_name,
        reporter_phone: t.reporter_phone,
        reporter_email: t.reporter_email,
        category: t.category,
        description: t.description,
        urgency: t.urgency,
        impact: t.impact,
        unit: t.unit,
        queue: t.queue,
        assignee: t.assignee,
        call_ids: t.call_ids,
        recordings: t.recordings,
    };
    let now = state.now_ms();
    let actor = audit::Actor::from(&viewer);
    let login = viewer.login.clone();
    let ticket = state
        .write(move |tx| {
            let sla = super::sla::running(tx);
            let t = tickets::create(tx, &new, &login, &sla, now).map_err(store_error)?;
            let after = serde_json::to_value(&t).unwrap_or_default();
            audit::record(
                tx,
                actor,
                now,
                "ticket.create",
                &t.number,
                None,
                Some(&after),
            )?;
            Ok(t)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "ticket": ticket }))).into_response())
}

#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", description = "Changes a ticket; the change is owed to SIMPEL in the same transaction", params(("id" = i64, Path, description = "the ticket's id")), request_body = ChangeIn,
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub async fn change(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Json(c): Json<ChangeIn>,
) -> Result<Response, AppError> {
    let reach = reach(&state, &viewer).await?;
    for (field, v) in [
        ("reporter_name", &c.reporter_name),
        ("reporter_email", &c.reporter_email),
        ("category", &c.category),
        ("description", &c.description),
        ("assignee", &c.assignee),
        ("unit", &c.unit),
    ] {
        if let Some(v) = v {
            text(field, v, matches!(field, "category" | "description"))?;
        }
    }
    let status = match c.status.as_deref() {
        None => None,
        Some(s) => Some(TicketStatus::parse(s).ok_or_else(|| {
            AppError::invalid("status", "open, in_progress, escalated or closed")
        })?),
    };
    if c.escalation_level.is_some_and(|l| !(0..=3).contains(&l)) {
        return Err(AppError::invalid("escalation_level", "0 to 3"));
    }
    let change = TicketChange {
        reporter_name: c.reporter_name,
        reporter_email: c.reporter_email,
        category: c.category,
        description: c.description,
        status,
        escalation_level: c.escalation_level,
        assignee: c.assignee,
        unit: c.unit,
        add_call_ids: c.add_call_ids,
        add_recordings: c.add_recordings,
    };
    let version = c.version;
    let ticket = write_change(&state, &viewer, reach, id, change, version, "ticket.change").await?;
    Ok(Json(json!({ "ticket": ticket })).into_response())
}

/// Writes `change` to ticket `id` as `viewer` made it on `version`, the
/// ticket, its history, its outbox row and the audit entry (`action`) in
/// one transaction; a ticket out of `reach` is as absent as a missing one.
/// The API, the ticket page's form and its escalation button share it.
pub(super) async fn write_change(
    state: &AppState,
    viewer: &Viewer,
    reach: Reach,
    id: i64,
    change: TicketChange,
    version: i64,
    action: &'static str,
) -> Result<tickets::Ticket, AppError> {
    let now = state.now_ms();
    let actor = audit::Actor::from(viewer);
    let login = viewer.login.clone();
    state
        .write(move |tx| {
            let before = tickets::get(tx, id)
                .map_err(store_error)?
                .filter(|t| reach.allows(t))
                .ok_or(AppError::NotFound)?;
            let t = tickets::update(tx, id, &change, &login, Some(version), now)
                .map_err(store_error)?;
            if t.version == before.version {
                // Nothing changed: nothing owed, nothing to audit.
                return Ok(t);
            }
            let b = serde_json::to_value(&before).unwrap_or_default();
            let a = serde_json::to_value(&t).unwrap_or_default();
            audit::record(tx, actor, now, action, &t.number, Some(&b), Some(&a))?;
            Ok(t)
        })
        .await
}
