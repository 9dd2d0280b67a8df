//! Tickets (CTI-3, issue 16): `/api/v1/tickets`. A ticket is written with
//! its history and its outbox row in one transaction
//! (`dering_store::tickets`), together with its audit entry; syncd
//! delivers the outbox to SIMPEL (decision 0027).
//!
//! Who sees what: a supervisor (`all_tickets`) every ticket; an agent
//! (`tickets`) those it recorded or is assigned, and those of the queues
//! it serves (`access`).
//!
//! The pages (`pages`: list and search, detail, edit, escalation, a
//! citizen's interaction history with its XLSX and CSV exports) and the
//! SLA alarms (`escalation`, decision 0030) sit on the same functions.
//! The technicians' outbox page (`outbox_page`) and the outbox API
//! (`outbox`) share one retry.

mod access;
mod api;
pub mod escalation;
pub mod export;
mod outbox;
mod outbox_page;
mod pages;
mod sla;

pub use pages::live_banner;

/// `/metrics`' ticket SLA series (see [`escalation::metrics`]).
pub async fn sla_metrics(state: &AppState) -> String {
    escalation::metrics(state).await
}

#[cfg(test)]
mod outbox_tests;
#[cfg(test)]
mod tests;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// The API documentation of `/api/v1/tickets`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(api::list, api::create, api::one, api::change, pages::citizen_json, outbox::dead, outbox::retry),
    components(schemas(api::TicketIn, api::ChangeIn)),
    tags((name = "tickets", description = "Tickets delivered to SIMPEL (tickets, all_tickets; the outbox: sync_outbox)"))
)]
pub struct Api;

/// This module's API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets", get(api::list).post(api::create))
        .route("/api/v1/tickets/{id}", get(api::one).patch(api::change))
        .route("/api/v1/outbox/dead", get(outbox::dead))
        .route("/api/v1/outbox/{id}/retry", post(outbox::retry))
        .merge(pages::routes())
        .merge(outbox_page::routes())
}
