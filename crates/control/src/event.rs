//! What subscribers of the event stream receive: power, intake and ACD
//! events, and call events with the call's identity (CTI-1), each stamped
//! with a sequence number so a client can follow without a gap.

use serde::{Deserialize, Serialize};

/// One event on the stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Many outside calls from one extension in a short time (TEL-5):
    /// the toll-fraud pattern, `calls` within `seconds`.
    OutsideBurst {
        at_ms: i64,
        extension: String,
        calls: u32,
        seconds: u32,
    },
    /// A power event (PWR-2), as powerd stored it.
    Power {
        at_ms: i64,
        kind: String,
        alarm: bool,
        detail: String,
    },
    /// pbxd's intake opened or closed.
    Intake { open: bool },
    /// A queue or agent event (ACD-10), as the journal stores it; `uuid`
    /// names the call when there is one.
    Acd {
        at_ms: i64,
        uuid: Option<String>,
        detail: dering_acd::Event,
    },
    /// Something happened to a call (CTI-1: the screen pop and the agent
    /// desktop follow calls by these).
    Call(CallEvent),
    /// An extension's phone became unreachable (its last registration
    /// expired or was removed, or it stopped answering OPTIONS: `why`), or
    /// reachable (registered, the first time too, or answering again). A supervisor's wall shows phones offline by
    /// these; an agent's own state change follows as an `Acd` event.
    Phone {
        at_ms: i64,
        extension: String,
        reachable: bool,
        /// `expired`, `unregistered` or `unanswered` when lost.
        #[serde(default)]
        why: Option<String>,
    },
    /// A trunk's registration or OPTIONS health changed (issue 13, MON-1):
    /// `alarm` is the trunk alarm (the registration gave up after the
    /// carrier's refusals), which the SNMP agent sends as a trap.
    Trunk {
        at_ms: i64,
        trunk: String,
        /// `None` for a trunk that does not register.
        registered: Option<bool>,
        health: crate::TrunkHealth,
        alarm: bool,
        #[serde(default)]
        why: Option<String>,
    },
    /// A span's or line's alarm, D-channel, channel counts or reporting
    /// changed (issue 14): its whole view, as `dering trunks` shows it.
    Span { at_ms: i64, span: crate::SpanView },
}

/// An event as the stream carries it: `seq` grows by one per event, so a
/// client sees a gap (and knows to take a new snapshot) instead of
/// silently missing one. Sequence numbers start at 1 each time pbxd
/// starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamped {
    pub seq: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// A call event: who the call is between (the same on every event of the
/// call, except where it moved: queue, agent, extension) and what happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallEvent {
    pub at_ms: i64,
    #[serde(flatten)]
    pub call: CallIdentity,
    #[serde(flatten)]
    pub what: CallEventKind,
}

/// Who a call is between, as a desktop shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallIdentity {
    /// The call's UUID, as `dering calls` and the call record name it.
    pub uuid: String,
    /// The caller's number (extension or line).
    pub caller: String,
    #[serde(default)]
    pub caller_name: Option<String>,
    /// The number the caller dialled.
    pub dialled: String,
    /// The ACD queue the call waits in or was served by.
    #[serde(default)]
    pub queue: Option<String>,
    /// The agent offered or serving the call.
    #[serde(default)]
    pub agent: Option<String>,
    /// The extension whose phone is offered or talking (the B leg).
    #[serde(default)]
    pub extension: Option<String>,
}

/// What happened to a call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallEventKind {
    /// The box presents the call to `extension` (its INVITE went out).
    Offered,
    /// `extension`'s phone rings (its first provisional answer).
    Ringing,
    /// `extension` answered; the parties are connected.
    Answered,
    /// A party put the call on hold.
    Held { by: Party },
    /// A party took the call off hold.
    Resumed { by: Party },
    /// The call was handed on to extension `to`.
    Transferred { to: String },
    /// The call is being recorded.
    Recorded,
    /// The call is over.
    Ended {
        disposition: Disposition,
        /// Who hung up: `caller`, `callee` or `system`.
        by: String,
        cause: String,
        #[serde(default)]
        sip_code: Option<u16>,
    },
}

/// One side of a call.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Caller,
    Callee,
}

/// How a call ended (TEL-7), as the call record says it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Answered,
    Busy,
    NoAnswer,
    Cancelled,
    Failed,
    Interrupted,
}

impl CallEventKind {
    /// The kind's name on the wire (`offered`, `ended`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            CallEventKind::Offered => "offered",
            CallEventKind::Ringing => "ringing",
            CallEventKind::Answered => "answered",
            CallEventKind::Held { .. } => "held",
            CallEventKind::Resumed { .. } => "resumed",
            CallEventKind::Transferred { .. } => "transferred",
            CallEventKind::Recorded => "recorded",
            CallEventKind::Ended { .. } => "ended",
        }
    }
}
