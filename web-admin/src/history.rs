//! Mount point of `/history/…` and `/api/v1/history/…` (owned by web-history: call records, recordings, power events).

use axum::Router;

use crate::app::AppState;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
