//! The control socket's messages, defined once for pbxd and its clients
//! (the `dering` CLI, powerd, webd and the SNMP agent). One JSON object a
//! line each way; a reply is a sequence of lines ending with `{"end":...}`,
//! except [`Request::Subscribe`], whose reply is the event stream itself.

pub mod client;

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
    /// One [`PbxStatus`] line.
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
    /// Stream every event from now on, one [`Event`] a line.
    Subscribe,
    /// The published call flows and their numbers, one object a line.
    Flows,
    /// Validates a flow document and publishes it as the flow's next
    /// version; calls in progress keep theirs (IVR-3).
    PublishFlow { document: String },
    /// Every agent and its state, one [`AgentView`] a line.
    Agents,
    /// Every queue, its callers and today's statistics, one [`QueueView`]
    /// a line.
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
    /// restart; calls in progress go on (TEL-8). Replies one
    /// [`ConfigApplied`] line; a refused document names its line and key.
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
    /// Click-to-dial: rings `from`'s phone (asking it to answer by
    /// itself), then calls `to`; replies `{"uuid": ...}`.
    Originate { from: String, to: String },
    /// A supervisor's desktop: rings `supervisor`'s phone, which then
    /// monitors `extension`'s call in `mode` (`listen`, `whisper`,
    /// `barge`); replies `{"uuid": ...}` (REC-3).
    Listen {
        supervisor: String,
        extension: String,
        mode: String,
    },
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

/// pbxd's answer to [`Request::Status`].
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
}

/// pbxd's answer to [`Request::Shutdown`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stopped {
    pub calls_ended: usize,
    pub checkpointed: bool,
}

/// What subscribers receive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
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
}

/// pbxd's answer to [`Request::ConfigImport`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigApplied {
    /// The version now running (unchanged when the document is the same).
    pub version: i64,
    pub changed: bool,
    pub summary: String,
    /// Settings that differ but take effect only at the next start.
    pub restart_needed: Vec<String>,
}

/// The last line of every reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct End {
    pub end: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl End {
    pub fn ok() -> End {
        End {
            end: true,
            error: None,
        }
    }

    pub fn error(e: impl Into<String>) -> End {
        End {
            end: true,
            error: Some(e.into()),
        }
    }

    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"end\":true}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_tagged_json() {
        let r = Request::CloseIntake {
            retry_after_seconds: 120,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"close_intake","retry_after_seconds":120}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let e = Event::Power {
            at_ms: 1,
            kind: "on_battery".into(),
            alarm: true,
            detail: "d".into(),
        };
        let s = serde_json::to_string(&Request::Publish { event: e.clone() }).unwrap();
        assert!(s.contains(r#""event":{"event":"power""#), "{s}");
        assert_eq!(
            serde_json::from_str::<Request>(&s).unwrap(),
            Request::Publish { event: e }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
        let r = Request::Agent {
            action: AgentAction::NotReady {
                agent: "2001".into(),
                code: "2".into(),
            },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"cmd":"agent","action":"not_ready","agent":"2001","code":"2"}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert_eq!(End::error("x").line(), r#"{"end":true,"error":"x"}"#);
    }
}
