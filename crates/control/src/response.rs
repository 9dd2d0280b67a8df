//! pbxd's replies: one [`Reply`] line per request, carrying either a
//! typed [`Response`] or a typed [`ControlError`], and the protocol
//! version pbxd speaks.

use serde::{Deserialize, Serialize};

use crate::views::{
    AgentView, BlockedView, CallView, FlowView, PbxStatus, QueueView, RegistrationView, Snapshot,
    Stopped, TrunkView,
};

/// One reply line: `{"v":2,"ok":{"type":...}}` or
/// `{"v":2,"error":{"code":...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    /// The protocol version of the pbxd that wrote it.
    pub v: u32,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok(Response),
    Error(ControlError),
}

impl Reply {
    pub fn new(r: Result<Response, ControlError>) -> Reply {
        Reply {
            v: crate::PROTOCOL,
            outcome: match r {
                Ok(r) => Outcome::Ok(r),
                Err(e) => Outcome::Error(e),
            },
        }
    }

    pub fn into_result(self) -> Result<Response, ControlError> {
        match self.outcome {
            Outcome::Ok(r) => Ok(r),
            Outcome::Error(e) => Err(e),
        }
    }

    /// The reply as one line (without the newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                r#"{{"v":{},"error":{{"code":"refused","message":"unserialisable reply: {e}"}}}}"#,
                crate::PROTOCOL
            )
        })
    }
}

/// What a request gets when it succeeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The answer to [`crate::Request::Hello`]: the versions agree.
    Hello {
        protocol: u32,
        pbxd: String,
    },
    /// Done; nothing to say (an action).
    Done,
    Calls {
        calls: Vec<CallView>,
    },
    Registrations {
        registrations: Vec<RegistrationView>,
    },
    Blocked {
        blocked: Vec<BlockedView>,
    },
    Trunks {
        trunks: Vec<TrunkView>,
    },
    Spans {
        spans: Vec<crate::SpanView>,
    },
    Unblocked {
        ip: String,
        was_blocked: bool,
    },
    Status {
        status: PbxStatus,
    },
    Stopped {
        stopped: Stopped,
    },
    Flows {
        flows: Vec<FlowView>,
    },
    FlowPublished {
        flow: String,
        version: i64,
    },
    Agents {
        agents: Vec<AgentView>,
    },
    Queues {
        queues: Vec<QueueView>,
    },
    /// A call the box placed (click-to-dial, a supervisor's listen).
    CallPlaced {
        uuid: String,
    },
    Snapshot {
        snapshot: Snapshot,
    },
    /// The first line of a subscription: events from `from_seq` follow.
    Subscribed {
        from_seq: u64,
    },
    /// A configuration import: the version now running (the same one when
    /// the document is unchanged), what changed, and the settings that
    /// differ but take effect only at the next start.
    ConfigApplied {
        version: i64,
        changed: bool,
        summary: String,
        restart_needed: Vec<String>,
    },
    /// The prompts now in use: how many prompts (every language) and
    /// music-on-hold classes.
    PromptsReloaded {
        prompts: usize,
        music: usize,
    },
}

impl Response {
    /// The variant's name on the wire, for "expected X, got Y" errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Hello { .. } => "hello",
            Response::Done => "done",
            Response::Calls { .. } => "calls",
            Response::Registrations { .. } => "registrations",
            Response::Blocked { .. } => "blocked",
            Response::Trunks { .. } => "trunks",
            Response::Spans { .. } => "spans",
            Response::Unblocked { .. } => "unblocked",
            Response::Status { .. } => "status",
            Response::Stopped { .. } => "stopped",
            Response::Flows { .. } => "flows",
            Response::FlowPublished { .. } => "flow_published",
            Response::Agents { .. } => "agents",
            Response::Queues { .. } => "queues",
            Response::CallPlaced { .. } => "call_placed",
            Response::Snapshot { .. } => "snapshot",
            Response::Subscribed { .. } => "subscribed",
            Response::ConfigApplied { .. } => "config_applied",
            Response::PromptsReloaded { .. } => "prompts_reloaded",
        }
    }
}

/// Why pbxd refused a request, by code, so a desktop can react to each
/// (ask for the PIN again, drop a call from its list, re-snapshot).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlError {
    #[error("bad request: {message}")]
    BadRequest { message: String },
    #[error("pbxd speaks control protocol {pbxd}, this client {client}")]
    IncompatibleVersion { pbxd: u32, client: u32 },
    #[error("no such agent {agent}")]
    UnknownAgent { agent: String },
    #[error("wrong PIN for agent {agent}")]
    BadPin { agent: String },
    #[error("agent {agent} is not logged in")]
    NotLoggedIn { agent: String },
    #[error("agent {agent} is logged in at {extension}")]
    LoggedInElsewhere { agent: String, extension: String },
    #[error("no such queue {queue}")]
    UnknownQueue { queue: String },
    #[error("no live call {uuid}")]
    NoSuchCall { uuid: String },
    #[error("no extension {extension}")]
    NoSuchExtension { extension: String },
    #[error("not an IP address: {ip}")]
    NotAnAddress { ip: String },
    #[error("flow refused: {message}")]
    BadFlow { message: String },
    /// A configuration document refused whole: `message` names the
    /// source, line and key.
    #[error("configuration refused: {message}")]
    BadConfig { message: String },
    /// The prompts directory holds a file pbxd cannot play (`message`
    /// names it); the prompts in use stay.
    #[error("prompts refused: {message}")]
    BadPrompts { message: String },
    /// Another import is being stored; try again.
    #[error("another configuration import is being stored; try again")]
    ConfigBusy,
    /// The events from `from_seq` on are no longer kept (the oldest kept
    /// is `oldest`, the next to come `next`): take a new snapshot.
    #[error("events from {from_seq} are gone (kept {oldest}..{next}): take a new snapshot")]
    SeqUnavailable {
        from_seq: u64,
        oldest: u64,
        next: u64,
    },
    /// The subscriber did not read fast enough and was cut off: the box
    /// never waits for a client.
    #[error("cut off: this subscriber fell too far behind")]
    TooSlow,
    /// Anything else the engine refused, in words.
    #[error("{message}")]
    Refused { message: String },
    /// A code this client does not know (a newer pbxd).
    #[serde(other)]
    #[error("refused (a code this client does not know)")]
    Unknown,
}

impl From<dering_acd::AcdError> for ControlError {
    fn from(e: dering_acd::AcdError) -> ControlError {
        use dering_acd::AcdError as A;
        match e {
            A::NoAgent(agent) => ControlError::UnknownAgent { agent },
            A::WrongPin(agent) => ControlError::BadPin { agent },
            A::NoQueue(queue) => ControlError::UnknownQueue { queue },
            A::NotLoggedIn(agent) => ControlError::NotLoggedIn { agent },
            A::LoggedInElsewhere { agent, extension } => {
                ControlError::LoggedInElsewhere { agent, extension }
            }
            e @ A::NotWaiting(_) => ControlError::Refused {
                message: e.to_string(),
            },
        }
    }
}
