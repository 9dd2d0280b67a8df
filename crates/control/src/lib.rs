//! The control socket's messages, defined once for pbxd and its clients
//! (the `dering` CLI now; webd and the SNMP agent later). One JSON object a
//! line each way; a reply is a sequence of lines ending with `{"end":...}`.

use serde::{Deserialize, Serialize};

/// File name of the control socket inside the data directory.
pub const SOCKET_NAME: &str = "pbxd.sock";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Live calls, one object a line.
    Calls,
    /// Live registrations, one object a line.
    Registrations,
    /// Addresses blocked after repeated authentication failures.
    Blocked,
    /// Lifts the block on an address.
    Unblock { ip: String },
    /// Counters and the daemon's version.
    Status,
}

/// The last line of every reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct End {
    pub end: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}
