//! Dering's automatic call distribution (ACD-1..10, CMS-1, CMS-2).
//!
//! Sans-IO like the rest of the box's logic: [`Acd`] takes inputs (a
//! caller enters a queue, an agent logs in, an offer is answered, time
//! passes) with the time they happen, and gives back actions (offer this
//! call to that agent, take that caller out of the queue) and events (the
//! journal statistics are computed from). pbxd's core carries the actions
//! out over SIP; tests drive the same machine on virtual time.
//!
//! One agent is one state machine, whatever the number of queues it
//! serves: one wrap-up timer, one "missed" count, one state any wallboard
//! shows (pitfalls 1, 7, 8).

pub mod callers;
pub mod codes;
pub mod engine;
pub mod metrics;
/// Numbering lives in `dering-telco`, shared with routing and trunks.
pub use dering_telco::numbers;

pub use callers::{Block, BlockAction, CallerRules, CallerVerdict};
pub use engine::{
    Acd, AcdError, Action, AgentConfig, AgentSnapshot, AgentState, Destination, Event, ExitReason,
    QueueConfig, QueueSnapshot, Strategy,
};
pub use metrics::QueueStats;
pub use numbers::{classify, normalise, NumberClass};
