//! Who is asking and what they may do. Roles and permissions are one
//! table (`MATRIX`, written out in `docs/web-permissions.md`); a handler
//! takes a `Viewer` (401 / login page when anonymous) and calls
//! `viewer.require(Perm::X)?` (403 when the role or the API token's scope
//! lacks it). Nothing in the browser decides access.

pub mod account;
pub mod csrf;
mod login;
pub mod password;
pub mod session;
pub mod setup;
pub mod throttle;
pub mod totp;
pub mod users;
mod viewer;

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::app::AppState;

pub use viewer::{source_of, ClientAddr, Viewer};

/// The API documentation of login-related and account routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(login::me, users::create_api, users::list_api, users::change_api),
    components(schemas(users::NewUser, users::UserView, users::Change))
)]
pub struct Api;

/// A user's role (CTI-5: at least agent, manager, admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Supervisor,
    /// Quality assurance and managers.
    Qa,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Supervisor, Role::Qa, Role::Admin];

    /// The name stored in `users.role`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Qa => "qa",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Admins and supervisors cannot log in without a second factor.
    pub fn needs_totp(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }

    pub fn may(self, perm: Perm) -> bool {
        MATRIX
            .iter()
            .any(|(p, roles)| *p == perm && roles.contains(&self))
    }
}

/// What a route needs. API token scopes are sets of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Perm {
    /// One's own password, second factor, language and sessions.
    OwnAccount,
    /// Live page: agents, calls, queues, trunks, health.
    ViewLive,
    /// Listen, whisper, barge, transfer or hang up a call in progress.
    SuperviseCalls,
    /// Call records (TEL-7): search and detail.
    ViewCallRecords,
    /// Call records as CSV (audited).
    ExportCallRecords,
    /// Recordings: search, play, download (REC-3/4, audited).
    Recordings,
    /// Power and alarm events (PWR-2).
    ViewPowerEvents,
    /// Configuration screens, read only.
    ViewConfig,
    /// Configuration changes (audited).
    EditConfig,
    /// The ACD's day-to-day configuration: agents, queues, VIP and block
    /// lists, business hours (audited; issue 15 §2).
    EditAcd,
    /// Call flows, read only.
    ViewFlows,
    /// Call flow drafts, publish and rollback (audited).
    EditFlows,
    /// Accounts: create, role, disable, reset second factor.
    ManageUsers,
    /// The audit log and its export.
    ViewAudit,
    /// Own API tokens for integrations.
    ApiTokens,
    /// Record tickets and see one's own and one's queues' (CTI-3, audited).
    Tickets,
    /// See and change every ticket.
    AllTickets,
    /// The outbox's dead letters, and sending one again after a fix (SYNC-3).
    SyncOutbox,
}

use Role::{Admin, Agent, Qa, Supervisor};

/// The permission matrix: each permission with the roles that have it.
/// Monitoring and recordings are for supervisors and QA only (REC-4), not
/// for the technicians who run the box.
pub const MATRIX: &[(Perm, &[Role])] = &[
    (Perm::OwnAccount, &[Agent, Supervisor, Qa, Admin]),
    (Perm::ViewLive, &[Agent, Supervisor, Qa, Admin]),
    (Perm::SuperviseCalls, &[Supervisor]),
    (Perm::ViewCallRecords, &[Supervisor, Qa, Admin]),
    (Perm::ExportCallRecords, &[Supervisor, Qa, Admin]),
    (Perm::Recordings, &[Supervisor, Qa]),
    (Perm::ViewPowerEvents, &[Supervisor, Qa, Admin]),
    (Perm::ViewConfig, &[Supervisor, Qa, Admin]),
    (Perm::EditConfig, &[Admin]),
    (Perm::EditAcd, &[Supervisor, Admin]),
    (Perm::ViewFlows, &[Supervisor, Qa, Admin]),
    (Perm::EditFlows, &[Admin]),
    (Perm::ManageUsers, &[Admin]),
    (Perm::ViewAudit, &[Qa, Admin]),
    (Perm::ApiTokens, &[Supervisor, Qa, Admin]),
    (Perm::Tickets, &[Agent, Supervisor]),
    (Perm::AllTickets, &[Supervisor]),
    (Perm::SyncOutbox, &[Admin]),
];

impl Perm {
    /// Every permission, in the matrix's order.
    pub fn all() -> impl Iterator<Item = Perm> {
        MATRIX.iter().map(|(p, _)| *p)
    }

    /// The name used in token scopes and the permissions document.
    pub fn name(self) -> &'static str {
        match self {
            Perm::OwnAccount => "own_account",
            Perm::ViewLive => "view_live",
            Perm::SuperviseCalls => "supervise_calls",
            Perm::ViewCallRecords => "view_call_records",
            Perm::ExportCallRecords => "export_call_records",
            Perm::Recordings => "recordings",
            Perm::ViewPowerEvents => "view_power_events",
            Perm::ViewConfig => "view_config",
            Perm::EditConfig => "edit_config",
            Perm::EditAcd => "edit_acd",
            Perm::ViewFlows => "view_flows",
            Perm::EditFlows => "edit_flows",
            Perm::ManageUsers => "manage_users",
            Perm::ViewAudit => "view_audit",
            Perm::ApiTokens => "api_tokens",
            Perm::Tickets => "tickets",
            Perm::AllTickets => "all_tickets",
            Perm::SyncOutbox => "sync_outbox",
        }
    }

    pub fn parse(s: &str) -> Option<Perm> {
        Perm::all().find(|p| p.name() == s)
    }
}

/// Login, logout and the own-account routes.
pub fn routes() -> Router<AppState> {
    login::routes()
        .merge(account::routes())
        .merge(users::routes())
        .merge(setup::routes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_is_in_the_matrix_once_and_names_round_trip() {
        let all: Vec<Perm> = Perm::all().collect();
        for p in &all {
            assert_eq!(all.iter().filter(|q| *q == p).count(), 1, "{p:?}");
            assert_eq!(Perm::parse(p.name()), Some(*p));
        }
        assert_eq!(all.len(), 18);
    }

    #[test]
    fn recordings_are_for_supervisors_and_qa_only() {
        assert!(Role::Supervisor.may(Perm::Recordings));
        assert!(Role::Qa.may(Perm::Recordings));
        assert!(!Role::Agent.may(Perm::Recordings));
        assert!(!Role::Admin.may(Perm::Recordings));
    }

    /// docs/web-permissions.md is the matrix written down: it must say the
    /// same as the code.
    #[test]
    fn the_permissions_document_matches_the_matrix() {
        let doc = include_str!("../../../docs/web-permissions.md");
        for (perm, roles) in MATRIX {
            let line = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` ", perm.name())))
                .unwrap_or_else(|| panic!("{} missing from the document", perm.name()));
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            for (i, role) in Role::ALL.iter().enumerate() {
                let yes = cells[i + 2] == "yes";
                assert_eq!(
                    yes,
                    roles.contains(role),
                    "{} for {}",
                    perm.name(),
                    role.name()
                );
            }
        }
    }
}
