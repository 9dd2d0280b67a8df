//! The call-flow editor (ACD-3, issue 15 §3): flows drawn as nodes and
//! edges in the browser (`assets/flows.js`), saved as drafts, checked by
//! the very validator `publish-flow` uses, compared version to version,
//! and published or rolled back through pbxd's `Request::PublishFlow`, so
//! a change reaches new calls at once and never calls in progress.
//!
//! Modules: `check` (validator messages by node), `diff` (node by node),
//! `db` (drafts, versions, layouts in SQLite), `prompts` (the prompt
//! names and files pbxd plays).

pub mod check;
pub mod db;
pub mod diff;
pub mod prompts;

use axum::Router;

use crate::app::AppState;

/// This module's pages and API, merged into `app::router`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
