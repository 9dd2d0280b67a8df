//! The control socket's messages, defined once for pbxd and its clients
//! (the `dering` CLI, powerd, webd and the SNMP agent). One JSON object a
//! line each way, so `socat` still talks to it: a client writes a
//! [`Request`], pbxd answers one [`Reply`] line (a typed [`Response`] or a
//! typed [`ControlError`]). [`Request::Subscribe`] is the one stream: its
//! reply line is followed by one [`Stamped`] event a line. See
//! docs/decisions/0012-typed-control-protocol.md.

pub mod client;
mod event;
mod response;
mod spans;
mod views;

use serde::{Deserialize, Serialize};

pub use event::{CallEvent, CallEventKind, CallIdentity, Disposition, Event, Party, Stamped};
pub use response::{ControlError, Outcome, Reply, Response};
pub use spans::{ChannelCounts, SpanAlarm, SpanKind, SpanReport, SpanSide, SpanView};
pub use views::{
    AgentView, BlockedView, CallState, CallView, FlowView, PbxStatus, QueueView, RegistrationView,
    Snapshot, Stopped, TrunkHealth, TrunkKind, TrunkView,
};

/// File name of the control socket inside the data directory.
pub const SOCKET_NAME: &str = "pbxd.sock";

/// The control protocol's version. It changes when a message changes
/// incompatibly (a field removed or its meaning changed); added variants
/// and optional fields keep it. Version 1 was the untyped line format
/// ending with `{"end":true}`.
pub const PROTOCOL: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Says which protocol version the client speaks; pbxd answers
    /// [`Response::Hello`] or refuses with
    /// [`ControlError::IncompatibleVersion`]. Optional (a `socat` user
    /// may skip it); the client library always sends it first.
    Hello { protocol: u32 },
    /// Live calls.
    Calls,
    /// Live registrations.
    Registrations,
    /// Every configured trunk and its state (issue 13).
    Trunks,
    /// The spans and lines trunkd reports (issue 14).
    Spans,
    /// trunkd's spans and lines as they are now, sent on every change and
    /// as a heartbeat; a reporter silent too long has its spans shown
    /// unknown (decision 0024). Replies [`Response::Done`].
    ReportSpans {
        reporter: String,
        spans: Vec<SpanReport>,
    },
    /// Addresses blocked after repeated authentication failures.
    Blocked,
    /// Lifts the block on an address.
    Unblock { ip: String },
    /// pbxd's [`PbxStatus`].
    Status,
    /// Stop taking new calls: they get 503 with this Retry-After. Calls in
    /// progress go on (PWR-3).
    CloseIntake { retry_after_seconds: u32 },
    /// Take new calls again.
    OpenIntake,
    /// Hang up every call, close recordings, checkpoint the database, and
    /// exit. The reply ([`Stopped`]) comes once all of that is done.
    Shutdown { cause: String },
    /// Publish an event to every subscriber (powerd's power events).
    Publish { event: Event },
    /// Stream events, one [`Stamped`] a line: from `from_seq` on (still
    /// kept by pbxd, else [`ControlError::SeqUnavailable`]), or from the
    /// next one. A subscriber that falls behind is cut off.
    Subscribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seq: Option<u64>,
    },
    /// Live calls, agents and queues with the sequence number of the last
    /// event they include (a late subscriber's starting point).
    Snapshot,
    /// The published call flows and their numbers.
    Flows,
    /// Validates a flow document and publishes it as the flow's next
    /// version; calls in progress keep theirs (IVR-3).
    PublishFlow { document: String },
    /// Every agent and its state.
    Agents,
    /// Every queue, its callers and today's statistics.
    Queues,
    /// Acts for an agent (the agent desktop), with the same checks and
    /// accounting as the phone's `*71`..`*75` (ACD-1, ACD-7):
    /// `{"cmd":"agent","action":"login","agent":"2001",...}`.
    Agent {
        #[serde(flatten)]
        action: AgentAction,
    },
    /// Validates a whole configuration document (TOML) and makes it the
    /// next version: stored, then taken by the running engine without a
    /// restart; calls in progress go on (TEL-8). Replies
    /// [`Response::ConfigApplied`]; a refused document is
    /// [`ControlError::BadConfig`], naming its line and key.
    ConfigImport {
        document: String,
        /// The file or client it comes from, for errors and the history.
        source: String,
        /// Who imports it.
        author: String,
    },
    /// Hangs up a live call (its UUID, as `dering calls` shows it).
    Hangup { uuid: String },
    /// Hands the caller of a live call to extension `to`; the callee (the
    /// agent) leaves (blind transfer).
    Transfer { uuid: String, to: String },
    /// Puts the caller of live call `uuid` on hold for its callee (the
    /// agent desktop's Hold): the box re-INVITEs the caller `sendonly` and
    /// plays it music, as when the agent's phone holds (TEL-2).
    Hold { uuid: String },
    /// Takes the caller of live call `uuid` off the box's hold.
    Resume { uuid: String },
    /// Attended transfer, first step: holds the caller of live call
    /// `uuid` and calls `to` from its agent's phone; replies
    /// [`Response::CallPlaced`] with the consultation's UUID.
    Consult { uuid: String, to: String },
    /// Joins the caller of `uuid` with the party consulted in call
    /// `consult`; the agent leaves both (attended transfer).
    CompleteTransfer { uuid: String, consult: String },
    /// Hangs consultation `consult` up and takes `uuid`'s caller off hold.
    CancelConsult { uuid: String, consult: String },
    /// Adds extension `to` to live call `uuid` as a third party, mixed
    /// with both when it answers (the phone's `*3` three-way). With
    /// `consult`, an answered consultation of the call's agent
    /// ([`Request::Consult`]), the party already consulted is joined
    /// instead of being called again, and the agent's consultation leg is
    /// released; `to` may then be left out (if given it must be the
    /// number the consultation called). Both fields beyond `uuid` are
    /// optional on the wire so older clients' lines read the same.
    Conference {
        uuid: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consult: Option<String>,
    },
    /// Click-to-dial: rings `from`'s phone (asking it to answer by
    /// itself), then calls `to`; replies [`Response::CallPlaced`].
    Originate { from: String, to: String },
    /// A supervisor's desktop: rings `supervisor`'s phone, which then
    /// monitors `extension`'s call in `mode` (`listen`, `whisper`,
    /// `barge`); replies [`Response::CallPlaced`] (REC-3).
    Listen {
        supervisor: String,
        extension: String,
        mode: String,
    },
    /// Reads the prompts directory again and swaps it in for the next
    /// call: after the web admin wrote, replaced or deleted a prompt or a
    /// music class. Calls playing a prompt finish the one they have.
    /// Replies [`Response::PromptsReloaded`]; a directory with a file
    /// pbxd cannot play is [`ControlError::BadPrompts`] and the prompts
    /// in use stay.
    ReloadPrompts,
}

/// What the agent desktop does for an agent; also the `dering agent`
/// subcommands (with the `clap` feature), so the two never drift apart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Subcommand))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AgentAction {
    /// Log AGENT in at phone EXTENSION.
    Login {
        agent: String,
        #[cfg_attr(feature = "clap", arg(long))]
        pin: String,
        #[cfg_attr(feature = "clap", arg(long))]
        extension: String,
    },
    /// Log AGENT out.
    Logout { agent: String },
    /// AGENT is ready for calls.
    Ready { agent: String },
    /// Not ready with a reason code of `[acd] reasons`.
    NotReady { agent: String, code: String },
    /// End after-call work now.
    EndWrapup { agent: String },
}

#[cfg(test)]
mod tests;
