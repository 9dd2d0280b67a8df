//! What pbxd shows of its state: the items of `dering calls`, `agents`,
//! `queues`, ... and the snapshot a late subscriber starts from.

use serde::{Deserialize, Serialize};

/// A live call, as `dering calls` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallView {
    pub uuid: String,
    pub caller: String,
    pub caller_name: Option<String>,
    pub callee: String,
    pub callee_name: Option<String>,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub state: CallState,
    pub codec: Option<String>,
    pub a_port: u16,
    pub b_port: u16,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Ringing,
    Answered,
    Ending,
    /// Answered by the box, in a call flow (possibly ringing a callee).
    Flow,
}

/// A registration, as `dering registrations` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistrationView {
    pub extension: String,
    pub contact: String,
    pub transport: String,
    pub source: String,
    pub expires_in: u64,
    pub reachable: bool,
    pub user_agent: Option<String>,
}

/// A trunk to a carrier, as `dering trunks` shows it (issue 13): what an
/// operator needs to tell a registered trunk from a failing or a down
/// one without reading logs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrunkView {
    pub name: String,
    pub kind: TrunkKind,
    /// Whether the configuration has it on (the demo's trunk is off).
    pub enabled: bool,
    /// Registered now; `None` for a trunk that does not register.
    pub registered: Option<bool>,
    /// Why it is not registered (the last failure), or why it is down.
    #[serde(default)]
    pub why: Option<String>,
    /// The registration gave up after refusals and waits for a new
    /// configuration: the trunk alarm is raised.
    #[serde(default)]
    pub alarm: bool,
    /// What the OPTIONS keep-alive says.
    pub health: TrunkHealth,
    /// Calls on the trunk now, and its configured limit (`None`: no limit).
    pub channels_busy: u32,
    pub channels_limit: Option<u32>,
    /// Calls through the trunk today (WIB).
    pub calls_today: u64,
    /// When (Unix ms) its registration or health last changed.
    pub since_ms: i64,
    /// The carrier address in use (after RFC 3263), if one is known.
    #[serde(default)]
    pub target: Option<String>,
}

/// How a carrier knows the box.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrunkKind {
    /// The box registers with the carrier.
    Register,
    /// The carrier knows the box by its address.
    Ip,
}

/// Whether a trunk's carrier answers OPTIONS.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrunkHealth {
    /// Not probed yet (or the trunk is off): routes still try it.
    Unknown,
    Up,
    /// Unanswered: routes skip it until it answers again.
    Down,
}

impl TrunkHealth {
    pub fn name(self) -> &'static str {
        match self {
            TrunkHealth::Unknown => "unknown",
            TrunkHealth::Up => "up",
            TrunkHealth::Down => "down",
        }
    }
}

/// A published call flow, as `dering flows` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlowView {
    pub name: String,
    pub version: i64,
    pub numbers: Vec<String>,
}

/// An address blocked after repeated authentication failures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockedView {
    pub ip: String,
    pub seconds_left: u64,
}

/// An agent as `dering agents` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentView {
    pub agent: String,
    pub name: String,
    /// The phone the agent is logged in at.
    pub extension: Option<String>,
    #[serde(flatten)]
    pub state: dering_acd::AgentState,
    /// Since when (Unix ms) the agent is in this state.
    pub since_ms: i64,
    /// Queue calls taken since pbxd started.
    pub calls: u64,
}

/// A queue as `dering queues` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueView {
    pub queue: String,
    pub strategy: dering_acd::Strategy,
    /// Callers waiting now.
    pub waiting: usize,
    /// How long the caller waiting longest has waited.
    pub longest_wait_ms: u64,
    pub agents_logged_in: usize,
    pub agents_ready: usize,
    /// Service level today (WIB), percent; see docs/metrics.md.
    pub service_level: Option<f64>,
    /// Today's counters (WIB), from the journal.
    pub today: dering_acd::QueueStats,
}

/// pbxd's answer to [`crate::Request::Status`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PbxStatus {
    pub version: String,
    pub active_calls: usize,
    pub registrations: usize,
    pub intake_open: bool,
    pub uptime_seconds: u64,
    /// SIP connections over TCP and TLS that pbxd refused or closed itself
    /// since it started, by reason (a cap, a deadline, a framing error, a
    /// full write queue); absent from an older pbxd.
    #[serde(default)]
    pub stream_cuts: std::collections::BTreeMap<String, u64>,
    /// Records (call starts, answers, ends, ...) the database could not
    /// take, held in memory until it can (a full disk; issue 17 §6);
    /// absent from an older pbxd.
    #[serde(default)]
    pub records_held: u64,
}

/// pbxd's answer to [`crate::Request::Shutdown`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stopped {
    pub calls_ended: usize,
    pub checkpointed: bool,
}

/// Live calls, agents and queues as they were right after event `seq`:
/// a client that connects late shows this, then follows the stream from
/// `seq + 1` ([`crate::Request::Subscribe`]) and misses nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// The last event this snapshot includes (0: none yet).
    pub seq: u64,
    pub calls: Vec<CallView>,
    pub agents: Vec<AgentView>,
    pub queues: Vec<QueueView>,
}
