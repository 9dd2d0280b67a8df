//! Mount point of `/live/…` and `/api/v1/live/…` (owned by web-history: the live page over the event stream).

use axum::Router;

use crate::app::AppState;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
