//! The live page (issue 15 §4): agents and their states, calls in
//! progress, queues with waiting callers, daemons' health and the UPS,
//! pushed over SSE from pbxd's typed event stream through one shared
//! feed ([`feed`]); and the supervisor's actions on a call (listen,
//! whisper, barge, transfer, hang up) through the control socket.

pub mod feed;
pub mod sse;
pub mod state;
#[cfg(test)]
mod tests;
mod web;

pub use web::Api;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> axum::Router<crate::app::AppState> {
    web::routes()
}
