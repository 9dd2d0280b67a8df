//! Which tickets a viewer may see and change.

use dering_config::Config;
use dering_store::tickets::Ticket;
use rusqlite::OptionalExtension;

use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;

/// A viewer's reach over tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    All,
    /// An agent: its login, and the queues it serves.
    Own {
        login: String,
        queues: Vec<String>,
    },
}

impl Reach {
    pub fn allows(&self, t: &Ticket) -> bool {
        match self {
            Reach::All => true,
            Reach::Own { login, queues } => {
                t.created_by == *login
                    || t.assignee.as_deref() == Some(login.as_str())
                    || t.queue.as_ref().is_some_and(|q| queues.contains(q))
            }
        }
    }

    /// Whether a ticket may be recorded in `queue`.
    pub fn may_file_in(&self, queue: Option<&str>) -> bool {
        match (self, queue) {
            (Reach::All, _) | (_, None) => true,
            (Reach::Own { queues, .. }, Some(q)) => queues.iter().any(|x| x == q),
        }
    }
}

/// The viewer's reach: every ticket with `all_tickets`; with `tickets`
/// only, its own and its queues'. An account is the agent of the same ID
/// in the running configuration (`[[agent]] id`), which serves the queues
/// whose skills it has at their levels, as the ACD decides
/// (`dering_acd`'s `qualifies`).
pub async fn reach(state: &AppState, viewer: &Viewer) -> Result<Reach, AppError> {
    if viewer.may(Perm::AllTickets) {
        return Ok(Reach::All);
    }
    viewer.require(Perm::Tickets)?;
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
    let config = text.and_then(|t| Config::parse(&t, "running configuration").ok());
    let queues = config
        .map(|c| {
            let agent = c.agents.iter().find(|a| a.id == viewer.login);
            c.queues
                .iter()
                .filter(|q| {
                    agent.is_some_and(|a| {
                        q.skills
                            .iter()
                            .all(|(s, min)| a.skills.get(s).copied().unwrap_or(0) >= *min)
                    })
                })
                .map(|q| q.name.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(Reach::Own {
        login: viewer.login.clone(),
        queues,
    })
}
