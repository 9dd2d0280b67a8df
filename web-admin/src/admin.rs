//! Mount point of `/admin/…` and `/api/v1/admin/…` (owned by web-config: the configuration screens).

use axum::Router;

use crate::app::AppState;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
