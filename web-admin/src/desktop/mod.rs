//! The agent desktop (issue 16: CTI-1..3, ACD-1, ACD-7, CTI-5): one page
//! beside the desk phone where an agent logs in to the queues, goes
//! ready / not ready, ends wrap-up with a wrap-up code, and sees a call
//! offered to it (the screen pop: caller, service, history, tickets)
//! before the phone is answered, with click to dial, transfer and hang
//! up. Its SSE stream is the live page's one shared feed
//! ([`crate::live::feed`]) filtered to the agent's own events on the
//! server ([`events`]); every action goes to pbxd through the control
//! socket for the session's agent only ([`actions`]). Tickets are saved
//! through the tickets API (`POST /api/v1/tickets`), so the outbox row
//! is written by the same code as for every other ticket.

mod actions;
mod events;
mod me;
mod page;
mod pop;
#[cfg(test)]
mod tests;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// This module's page, stream and actions, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/desktop", get(page::page))
        .route("/desktop/events", get(events::events))
        .route("/desktop/calls/{uuid}/pop", get(pop::pop))
        .route("/desktop/login", post(actions::login))
        .route("/desktop/logout", post(actions::logout))
        .route("/desktop/ready", post(actions::ready))
        .route("/desktop/not-ready", post(actions::not_ready))
        .route("/desktop/wrapup", post(actions::wrapup))
        .route("/desktop/dial", post(actions::dial))
        .route("/desktop/calls/{uuid}/transfer", post(actions::transfer))
        .route("/desktop/calls/{uuid}/hangup", post(actions::hangup))
}
