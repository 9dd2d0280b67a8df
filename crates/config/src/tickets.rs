//! Ticket deadlines (`[tickets]`, CTI-3): how soon a ticket must first be
//! answered and, by priority, resolved. The defaults are Peruri's
//! (15 min; 8 / 12 / 24 / 48 h); an agency with another service charter
//! changes them here, not in code.

/// `[tickets]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tickets {
    pub first_response_minutes: u64,
    /// Hours to resolve a ticket of each priority: critical, high,
    /// medium, low.
    pub resolution_hours: [u64; 4],
    /// Hours a ticket may stay at escalation level 1, 2 and 3 before it
    /// is overdue there (`[tickets.escalation_hours]`, 1×, 3× and 7×24 h
    /// by default): each level is a unit with its own time to act.
    pub escalation_hours: [u64; 3],
}

impl Default for Tickets {
    fn default() -> Self {
        Tickets {
            first_response_minutes: 15,
            resolution_hours: [8, 12, 24, 48],
            escalation_hours: [24, 72, 168],
        }
    }
}
