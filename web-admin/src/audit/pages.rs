//! The audit log's page, CSV export and `/api/v1/audit` (to come).

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
