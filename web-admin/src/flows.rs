//! Mount point of `/flows/…` and `/api/v1/flows/…` (owned by web-flow: the call-flow editor).

use axum::Router;

use crate::app::AppState;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
