//! Whose desktop this is: the session's account is the agent of the same
//! ID in the running configuration (`[[agent]] id`), as for tickets
//! (`tickets::access`). Every action is for that agent and no other, so
//! agent A cannot act for agent B whatever the browser sends.

use dering_config::Config;
use rusqlite::OptionalExtension;

use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;

/// The agent behind a session, and what the running configuration says
/// the desktop offers it.
#[derive(Debug, Clone)]
pub struct Me {
    pub agent: String,
    pub name: String,
    /// `[acd] reasons`: not-ready code and its name (ACD-7).
    pub reasons: Vec<(String, String)>,
    pub config: Config,
}

/// Wrap-up codes the agent closes a call's after-call work with. Fixed
/// for now (decision 0029): the ACD has no configured list yet.
pub const WRAPUP_CODES: &[(&str, &str, &str)] = &[
    ("informasi", "Permintaan informasi", "Information request"),
    ("pengaduan", "Pengaduan dicatat", "Complaint recorded"),
    ("tindak-lanjut", "Perlu tindak lanjut", "Needs follow-up"),
    ("salah-sambung", "Salah sambung", "Wrong number"),
    ("lainnya", "Lainnya", "Other"),
];

/// The running configuration, when there is one that parses.
pub async fn running(state: &AppState) -> Result<Option<Config>, AppError> {
    let text: Option<String> = state
        .read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT document FROM config_versions ORDER BY version DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await?;
    Ok(text.and_then(|t| Config::parse(&t, "running configuration").ok()))
}

/// The viewer's agent: 403 without the desktop's permission (agents and
/// supervisors record tickets, `tickets`), `None` when the account is
/// not a configured agent (the page says so; actions refuse).
pub async fn me(state: &AppState, v: &Viewer) -> Result<Option<Me>, AppError> {
    v.require(Perm::Tickets)?;
    let config = running(state).await?;
    let Some(c) = config else { return Ok(None) };
    let Some((agent, name)) = c
        .agents
        .iter()
        .find(|a| a.id == v.login)
        .map(|a| (a.id.clone(), a.name.clone()))
    else {
        return Ok(None);
    };
    let reasons = c
        .acd
        .reasons
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Some(Me {
        agent,
        name,
        reasons,
        config: c,
    }))
}

/// [`me`], refusing an account that is not an agent (an action needs
/// one).
pub async fn agent(state: &AppState, v: &Viewer) -> Result<Me, AppError> {
    me(state, v).await?.ok_or(AppError::Forbidden)
}
