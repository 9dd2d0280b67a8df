//! The call-flow editor (ACD-3, issue 15 §3): flows drawn as nodes and
//! edges in the browser (`assets/flows.js`), saved as drafts, checked by
//! the very validator `publish-flow` uses, compared version to version,
//! and published or rolled back through pbxd's `Request::PublishFlow`, so
//! a change reaches new calls at once and never calls in progress.
//!
//! Modules: `check` (validator messages by node), `diff` (node by node),
//! `db` (drafts, versions, layouts in SQLite), `prompts` (the prompt
//! names and files pbxd plays), `api` (`/api/v1/flows/…`), `pages`
//! (`/flows`, `/flows/{name}`).

mod api;
pub mod check;
pub mod db;
pub mod diff;
mod pages;
pub mod prompts;

#[cfg(test)]
mod tests;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// The API documentation of `/api/v1/flows/…`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        api::list,
        api::flow,
        api::version,
        api::draft,
        api::check_edit,
        api::save_draft,
        api::publish,
        api::rollback,
        api::diff_versions,
        api::diff_editor,
        api::prompts,
        api::calendars,
        api::prompt_wav
    ),
    components(schemas(
        api::Edit,
        api::AgainstEditor,
        api::CalendarNames,
        check::Checked,
        diff::Diff,
        diff::NodeChange,
        diff::FieldChange
    )),
    tags((name = "flows", description = "Call flows: drafts, publish, rollback, diff (view_flows, edit_flows)"))
)]
pub struct Api;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/flows", get(pages::list))
        .route("/flows/{name}", get(pages::editor))
        .route("/api/v1/flows", get(api::list))
        .route("/api/v1/flows/prompts", get(api::prompts))
        .route("/api/v1/flows/calendars", get(api::calendars))
        .route("/api/v1/flows/prompts/{lang}/{name}", get(api::prompt_wav))
        .route("/api/v1/flows/{name}", get(api::flow))
        .route("/api/v1/flows/{name}/versions/{version}", get(api::version))
        .route(
            "/api/v1/flows/{name}/versions/{version}/rollback",
            post(api::rollback),
        )
        .route(
            "/api/v1/flows/{name}/draft",
            get(api::draft).post(api::save_draft),
        )
        .route("/api/v1/flows/{name}/check", post(api::check_edit))
        .route("/api/v1/flows/{name}/publish", post(api::publish))
        .route(
            "/api/v1/flows/{name}/diff",
            get(api::diff_versions).post(api::diff_editor),
        )
}
