//! What the live page shows, kept up to date from pbxd's event stream
//! (sans-IO: a snapshot and events in, changes to push out). Calls come
//! and go by their call events, agents change by their ACD state events;
//! queues' figures (waiting callers, agents ready, service level) are
//! pbxd's own, fetched again after a queue event (`queues_stale`) rather
//! than recomputed here, so the page never disagrees with `dering queues`.
//! Trunks start from pbxd's `trunks` answer taken with the snapshot and
//! follow their trunk events; the last outside-call bursts are kept so a
//! browser that arrives after the alarm still sees it.

use std::collections::{BTreeMap, VecDeque};

use dering_control::{
    AgentView, CallEvent, CallEventKind, CallState, Event, QueueView, Snapshot, Stamped,
    TrunkHealth, TrunkKind, TrunkView,
};
use serde::Serialize;

/// A call in progress as the page lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LiveCall {
    pub uuid: String,
    pub caller: String,
    pub caller_name: Option<String>,
    pub dialled: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// The extension offered or talking.
    pub extension: Option<String>,
    /// `ringing`, `answered`, `held`, `flow` (in a call flow) or `ending`.
    pub state: &'static str,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
    pub recorded: bool,
}

/// The whole live view: what a browser gets first.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LiveState {
    /// The last event included.
    pub seq: u64,
    pub calls: BTreeMap<String, LiveCall>,
    pub agents: BTreeMap<String, AgentView>,
    pub queues: Vec<QueueView>,
    /// pbxd's intake, once an event said.
    pub intake_open: Option<bool>,
    /// The trunks by name (TRK-3).
    pub trunks: BTreeMap<String, TrunkView>,
    /// The last outside-call bursts, oldest first, at most
    /// [`BURSTS_KEPT`] (TEL-5).
    pub bursts: VecDeque<Burst>,
}

/// How many burst alarms the page keeps: enough to see a pattern, few
/// enough that a fraud storm cannot grow the state without end.
pub const BURSTS_KEPT: usize = 20;

/// One extension's burst of outside calls (the toll-fraud alarm).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Burst {
    pub at_ms: i64,
    pub extension: String,
    pub calls: u32,
    pub seconds: u32,
}

/// One change to push to the browsers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Call {
        call: LiveCall,
    },
    CallEnded {
        uuid: String,
    },
    Agent {
        agent: AgentView,
    },
    Queues {
        queues: Vec<QueueView>,
    },
    Intake {
        open: bool,
    },
    Power {
        at_ms: i64,
        kind: String,
        alarm: bool,
        detail: String,
    },
    /// A trunk's registration or OPTIONS health changed (TRK-3).
    Trunk {
        at_ms: i64,
        trunk: String,
        registered: Option<bool>,
        health: dering_control::TrunkHealth,
        alarm: bool,
        why: Option<String>,
    },
    /// One extension placed a burst of outside calls: the toll-fraud
    /// pattern (TEL-5).
    OutsideBurst {
        at_ms: i64,
        extension: String,
        calls: u32,
        seconds: u32,
    },
}

impl Change {
    /// The SSE event name the page listens for.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Call { .. } => "call",
            Change::CallEnded { .. } => "call_ended",
            Change::Agent { .. } => "agent",
            Change::Queues { .. } => "queues",
            Change::Intake { .. } => "intake",
            Change::Power { .. } => "power",
            Change::Trunk { .. } => "trunk",
            Change::OutsideBurst { .. } => "outside_burst",
        }
    }
}

/// What applying one event did.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    pub changes: Vec<Change>,
    /// A queue event: the queues' figures should be fetched again.
    pub queues_stale: bool,
}

fn call_state(s: CallState) -> &'static str {
    match s {
        CallState::Ringing => "ringing",
        CallState::Answered => "answered",
        CallState::Ending => "ending",
        CallState::Flow => "flow",
    }
}

impl LiveState {
    /// The view as a snapshot says it.
    pub fn from_snapshot(s: Snapshot) -> LiveState {
        LiveState {
            seq: s.seq,
            calls: s
                .calls
                .into_iter()
                .map(|c| {
                    let call = LiveCall {
                        uuid: c.uuid.clone(),
                        caller: c.caller,
                        caller_name: c.caller_name,
                        dialled: c.callee,
                        queue: None,
                        agent: None,
                        extension: None,
                        state: call_state(c.state),
                        start_ms: c.start_ms,
                        answer_ms: c.answer_ms,
                        recorded: false,
                    };
                    (c.uuid, call)
                })
                .collect(),
            agents: s.agents.into_iter().map(|a| (a.agent.clone(), a)).collect(),
            queues: s.queues,
            intake_open: None,
            trunks: BTreeMap::new(),
            bursts: VecDeque::new(),
        }
    }

    /// The trunks as pbxd's `trunks` answer says, taken just after the
    /// snapshot: the trunk events after it are applied on top.
    pub fn with_trunks(mut self, trunks: Vec<TrunkView>) -> LiveState {
        self.trunks = trunks.into_iter().map(|t| (t.name.clone(), t)).collect();
        self
    }

    /// Applies event `e` (the one after `self.seq`).
    pub fn apply(&mut self, e: Stamped) -> Applied {
        self.seq = e.seq;
        let mut out = Applied::default();
        match e.event {
            Event::Call(ce) => out.changes.push(self.call(ce)),
            Event::Acd { at_ms, detail, .. } => self.acd(at_ms, detail, &mut out),
            Event::Intake { open } => {
                self.intake_open = Some(open);
                out.changes.push(Change::Intake { open });
            }
            Event::Power {
                at_ms,
                kind,
                alarm,
                detail,
            } => out.changes.push(Change::Power {
                at_ms,
                kind,
                alarm,
                detail,
            }),
            // A phone's reachability shows on the agent's state event
            // that follows, when it matters to the ACD.
            Event::Phone { .. } => {}
            // trunkd's spans come with the health reading (the hub reads
            // it again at once on a span's event), not as a change here.
            Event::Span { .. } => {}
            Event::Trunk {
                at_ms,
                trunk,
                registered,
                health,
                alarm,
                why,
            } => {
                self.trunk(at_ms, &trunk, registered, health, alarm, why.clone());
                out.changes.push(Change::Trunk {
                    at_ms,
                    trunk,
                    registered,
                    health,
                    alarm,
                    why,
                })
            }
            Event::OutsideBurst {
                at_ms,
                extension,
                calls,
                seconds,
            } => {
                if self.bursts.len() == BURSTS_KEPT {
                    self.bursts.pop_front();
                }
                self.bursts.push_back(Burst {
                    at_ms,
                    extension: extension.clone(),
                    calls,
                    seconds,
                });
                out.changes.push(Change::OutsideBurst {
                    at_ms,
                    extension,
                    calls,
                    seconds,
                })
            }
        }
        out
    }

    /// A trunk event carries the trunk's whole registration and health,
    /// so the last one applied wins. A trunk the `trunks` answer did not
    /// list (added since) appears with what the event says.
    fn trunk(
        &mut self,
        at_ms: i64,
        name: &str,
        registered: Option<bool>,
        health: TrunkHealth,
        alarm: bool,
        why: Option<String>,
    ) {
        let t = self
            .trunks
            .entry(name.to_owned())
            .or_insert_with(|| TrunkView {
                name: name.to_owned(),
                kind: if registered.is_some() {
                    TrunkKind::Register
                } else {
                    TrunkKind::Ip
                },
                enabled: true,
                registered,
                why: None,
                alarm,
                health,
                channels_busy: 0,
                channels_limit: None,
                calls_today: 0,
                since_ms: at_ms,
                target: None,
            });
        t.registered = registered;
        t.health = health;
        t.alarm = alarm;
        t.why = why;
        t.since_ms = at_ms;
    }

    fn call(&mut self, ce: CallEvent) -> Change {
        let id = ce.call;
        if let CallEventKind::Ended { .. } = ce.what {
            self.calls.remove(&id.uuid);
            return Change::CallEnded { uuid: id.uuid };
        }
        let c = self
            .calls
            .entry(id.uuid.clone())
            .or_insert_with(|| LiveCall {
                uuid: id.uuid.clone(),
                caller: id.caller.clone(),
                caller_name: None,
                dialled: id.dialled.clone(),
                queue: None,
                agent: None,
                extension: None,
                state: "ringing",
                start_ms: ce.at_ms,
                answer_ms: None,
                recorded: false,
            });
        c.caller = id.caller;
        c.caller_name = id.caller_name.or(c.caller_name.take());
        c.dialled = id.dialled;
        c.queue = id.queue.or(c.queue.take());
        c.agent = id.agent;
        c.extension = id.extension;
        match ce.what {
            CallEventKind::Offered | CallEventKind::Ringing => {
                if c.answer_ms.is_none() {
                    c.state = "ringing";
                }
            }
            CallEventKind::Answered => {
                c.state = "answered";
                c.answer_ms.get_or_insert(ce.at_ms);
            }
            CallEventKind::Held { .. } => c.state = "held",
            CallEventKind::Resumed { .. } => c.state = "answered",
            CallEventKind::Recorded => c.recorded = true,
            CallEventKind::Transferred { .. } | CallEventKind::Ended { .. } => {}
        }
        Change::Call { call: c.clone() }
    }

    fn acd(&mut self, at_ms: i64, e: dering_acd::Event, out: &mut Applied) {
        use dering_acd::Event as A;
        match e {
            A::AgentState {
                agent,
                extension,
                state,
            } => {
                let a = self
                    .agents
                    .entry(agent.clone())
                    .or_insert_with(|| AgentView {
                        agent: agent.clone(),
                        name: agent.clone(),
                        extension: None,
                        state: state.clone(),
                        since_ms: at_ms,
                        calls: 0,
                    });
                a.extension = extension;
                a.state = state;
                a.since_ms = at_ms;
                out.changes.push(Change::Agent { agent: a.clone() });
                // Logged in and ready counts are per queue.
                out.queues_stale = true;
            }
            A::Answered { agent, .. } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.calls += 1;
                }
                out.queues_stale = true;
            }
            _ => out.queues_stale = true,
        }
    }

    /// pbxd's queues, fetched again.
    pub fn set_queues(&mut self, queues: Vec<QueueView>) -> Option<Change> {
        if self.queues == queues {
            return None;
        }
        self.queues = queues.clone();
        Some(Change::Queues { queues })
    }
}

#[cfg(test)]
mod tests;
