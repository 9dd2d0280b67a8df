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
}

impl Default for Tickets {
    fn default() -> Self {
        Tickets {
            first_response_minutes: 15,
            resolution_hours: [8, 12, 24, 48],
        }
    }
}
