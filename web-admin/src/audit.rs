//! The audit log (CTI-5): who, when, from where, what, before and after,
//! for every change and every sensitive read (a recording played or
//! downloaded, an export). Append-only: the table's triggers refuse UPDATE
//! and DELETE, and nothing expires it. A change is recorded in the same
//! transaction as the change itself, so one never lands without the other.

use axum::Router;
use rusqlite::{params, Transaction};
use serde_json::Value;

use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;

mod pages;

pub use pages::Api;

/// Who acted, as the audit log names them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub login: String,
    /// Client address, with the API token when one was used.
    pub source: String,
}

impl From<&Viewer> for Actor {
    fn from(v: &Viewer) -> Self {
        Actor {
            user_id: Some(v.user_id),
            login: v.login.clone(),
            source: match v.token_id() {
                Some(t) => format!("{} (API token {t})", v.source),
                None => v.source.clone(),
            },
        }
    }
}

/// Appends one entry inside the caller's transaction. `action` is a dotted
/// verb (`user.create`, `recording.play`), `target` what it acted on;
/// `before`/`after` the state around a change (JSON, secrets left out).
pub fn record(
    tx: &Transaction<'_>,
    who: impl Into<Actor>,
    at_ms: i64,
    action: &str,
    target: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), AppError> {
    let who = who.into();
    tx.execute(
        "INSERT INTO audit_log (at_ms, user_id, login, source, action, target, before, after) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            at_ms,
            who.user_id,
            who.login,
            who.source,
            action,
            target,
            before.map(Value::to_string),
            after.map(Value::to_string),
        ],
    )?;
    Ok(())
}

/// Records a sensitive read (or a change made elsewhere, through pbxd) in
/// its own transaction.
pub async fn log(
    state: &AppState,
    who: &Viewer,
    action: &str,
    target: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), AppError> {
    let actor = Actor::from(who);
    let now = state.now_ms();
    let (action, target) = (action.to_owned(), target.to_owned());
    state
        .write(move |tx| {
            record(
                tx,
                actor,
                now,
                &action,
                &target,
                before.as_ref(),
                after.as_ref(),
            )
        })
        .await
}

/// The audit log page, its CSV export and its API.
pub fn routes() -> Router<AppState> {
    pages::routes()
}
