//! The ACD state machine: queues of waiting callers, agents with skills
//! and one state each, and the choice of who takes which call.
//!
//! Distribution is global, not per queue: every time something changes,
//! the waiting callers of all queues are taken in order of priority, then
//! of arrival, and each is offered to the best ready agent its queue's
//! strategy finds. So a higher-priority caller goes first at once and
//! across queues (pitfall 10), and an agent serving several queues is
//! never offered two calls.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How a queue picks among ready agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The agent ready the longest (the default: fair to agents).
    #[default]
    LongestIdle,
    /// In turn, remembering who was last.
    RoundRobin,
    FewestCalls,
    LeastTalkTime,
    /// Every ready agent rings; the first to answer takes it.
    RingAll,
    Random,
    /// The highest levels in the queue's skills, then longest idle.
    SkillsBestMatch,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "longest-idle" => Strategy::LongestIdle,
            "round-robin" => Strategy::RoundRobin,
            "fewest-calls" => Strategy::FewestCalls,
            "least-talk-time" => Strategy::LeastTalkTime,
            "ring-all" => Strategy::RingAll,
            "random" => Strategy::Random,
            "skills-best-match" => Strategy::SkillsBestMatch,
            _ => return None,
        })
    }
}

/// Where a caller goes when they leave a queue other than to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    Queue(String),
    Flow(String),
    Hangup,
}

/// A queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    pub strategy: Strategy,
    /// Skills an agent needs, each at a minimum level (1–10). None: every
    /// agent serves it.
    pub skills: Vec<(String, u8)>,
    /// How long an agent rings before the next one is tried.
    pub ring_timeout: Duration,
    /// After-call work.
    pub wrapup: Duration,
    /// After this long waiting, the caller overflows to `overflow_to`.
    pub overflow_after: Option<Duration>,
    pub overflow_to: Destination,
    /// Longest wait before the caller leaves for `exit_to`.
    pub max_wait: Option<Duration>,
    /// Most callers waiting; beyond, new callers leave for `exit_to`.
    pub max_len: Option<usize>,
    pub exit_to: Destination,
    /// Whether callers may join while no agent is logged in.
    pub join_empty: bool,
    /// Whether waiting callers leave when the last agent logs out.
    pub leave_when_empty: bool,
}

impl QueueConfig {
    /// A queue with the defaults: longest idle, 15 s ring, 15 s wrap-up,
    /// no overflow, no limits, join and stay when empty.
    pub fn new(name: &str) -> QueueConfig {
        QueueConfig {
            name: name.to_string(),
            strategy: Strategy::LongestIdle,
            skills: Vec::new(),
            ring_timeout: Duration::from_secs(15),
            wrapup: Duration::from_secs(15),
            overflow_after: None,
            overflow_to: Destination::Hangup,
            max_wait: None,
            max_len: None,
            exit_to: Destination::Hangup,
            join_empty: true,
            leave_when_empty: false,
        }
    }
}

/// An agent (a person: free seating, ACD-1).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: String,
    pub name: String,
    pub pin: String,
    pub skills: Vec<(String, u8)>,
}

/// What an agent is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Ready,
    /// Ringing with a queue call.
    Offered {
        call: u64,
    },
    OnCall {
        call: u64,
    },
    OnHold {
        call: u64,
    },
    /// After-call work, until the timer or the agent ends it.
    Wrapup {
        call: u64,
    },
    NotReady {
        reason: String,
    },
    /// On a call that is not a queue's (busy for the queues).
    Busy,
}

impl AgentState {
    /// Every state's name, as serialized (`state`), in a fixed order.
    pub const NAMES: [&'static str; 8] = [
        "logged_out",
        "ready",
        "offered",
        "on_call",
        "on_hold",
        "wrapup",
        "not_ready",
        "busy",
    ];

    /// The state's name as serialized, without its details.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::Offered { .. } => "offered",
            AgentState::OnCall { .. } => "on_call",
            AgentState::OnHold { .. } => "on_hold",
            AgentState::Wrapup { .. } => "wrapup",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Busy => "busy",
        }
    }
}

#[cfg(test)]
mod agent_state_names {
    use super::AgentState;

    #[test]
    fn names_are_the_serialized_tags() {
        for s in [
            AgentState::LoggedOut,
            AgentState::Ready,
            AgentState::Offered { call: 1 },
            AgentState::OnCall { call: 1 },
            AgentState::OnHold { call: 1 },
            AgentState::Wrapup { call: 1 },
            AgentState::NotReady { reason: "x".into() },
            AgentState::Busy,
        ] {
            let v = serde_json::to_value(&s).unwrap();
            assert_eq!(v["state"], s.name());
            assert!(AgentState::NAMES.contains(&s.name()));
        }
    }
}

/// Why a caller left a queue without an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Overflow,
    Timeout,
    Full,
    Empty,
}

/// What the ACD asks of the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ring `agent` (at the phone it logged in from) with `call`.
    Offer { call: u64, agent: String },
    /// Stop ringing `agent` (another answered, or the caller left).
    CancelOffer { call: u64, agent: String },
    /// A caller who asked to be called back reached the front: call the
    /// agent, then `number`.
    Callback {
        call: u64,
        agent: String,
        number: String,
    },
    /// Take the caller out of the queue to `to`.
    Exit {
        call: u64,
        to: Destination,
        reason: ExitReason,
    },
}

/// The journal: every change statistics are computed from (CMS-1, CMS-2,
/// CMS-10). Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Entered {
        call: u64,
        queue: String,
        position: usize,
        priority: i32,
    },
    Offered {
        call: u64,
        queue: String,
        agent: String,
    },
    /// The agent did not answer in time or refused.
    Missed {
        call: u64,
        queue: String,
        agent: String,
    },
    Answered {
        call: u64,
        queue: String,
        agent: String,
        wait_ms: u64,
    },
    /// The caller hung up waiting; `short` under the short-abandon
    /// threshold.
    Abandoned {
        call: u64,
        queue: String,
        position: usize,
        wait_ms: u64,
        short: bool,
    },
    Exited {
        call: u64,
        queue: String,
        reason: ExitReason,
        wait_ms: u64,
    },
    /// The system lost the call while it waited (not the caller's doing).
    Dropped {
        call: u64,
        queue: String,
        wait_ms: u64,
    },
    CallbackRequested {
        call: u64,
        queue: String,
        position: usize,
    },
    Completed {
        call: u64,
        queue: String,
        agent: String,
        talk_ms: u64,
        hold_ms: u64,
    },
    /// The agent handed the call to `to` (its part ends: `completed`
    /// follows).
    Transferred {
        call: u64,
        queue: String,
        agent: String,
        to: String,
    },
    AgentState {
        agent: String,
        /// The phone the agent is at (none once logged out).
        #[serde(default)]
        extension: Option<String>,
        #[serde(flatten)]
        state: AgentState,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AcdError {
    #[error("no such agent {0}")]
    NoAgent(String),
    #[error("wrong PIN for agent {0}")]
    WrongPin(String),
    #[error("no such queue {0}")]
    NoQueue(String),
    #[error("agent {0} is not logged in")]
    NotLoggedIn(String),
    #[error("agent {agent} is logged in at {extension}")]
    LoggedInElsewhere { agent: String, extension: String },
    #[error("call {0} is not waiting")]
    NotWaiting(u64),
}

#[derive(Debug)]
struct Agent {
    cfg: AgentConfig,
    state: AgentState,
    /// When `state` began.
    since: Instant,
    extension: Option<String>,
    /// Since when the agent is free (ready), for longest idle.
    idle_since: Instant,
    calls: u64,
    talk: Duration,
    missed_in_row: u32,
    wrapup_until: Option<Instant>,
    /// A state asked for during wrap-up, taken when it ends.
    after_wrapup: Option<AgentState>,
    /// The queue call in progress: (queue, answered at, hold started,
    /// held so far).
    current: Option<(String, Instant, Option<Instant>, Duration)>,
    /// Removed from the configuration while on a call: takes no new offer,
    /// is logged out and forgotten once the call is over.
    retiring: bool,
}

impl Agent {
    /// A configured agent, logged out.
    fn new(cfg: AgentConfig, now: Instant) -> Agent {
        Agent {
            cfg,
            state: AgentState::LoggedOut,
            since: now,
            extension: None,
            idle_since: now,
            calls: 0,
            talk: Duration::ZERO,
            missed_in_row: 0,
            wrapup_until: None,
            after_wrapup: None,
            current: None,
            retiring: false,
        }
    }

    /// Whether the agent is busy with a queue call (ringing, talking or
    /// holding).
    fn on_call(&self) -> bool {
        matches!(
            self.state,
            AgentState::Offered { .. } | AgentState::OnCall { .. } | AgentState::OnHold { .. }
        )
    }
}

#[derive(Debug)]
struct Waiting {
    queue: String,
    priority: i32,
    entered: Instant,
    seq: u64,
    /// Agents ringing with it now.
    ringing: Vec<String>,
    ring_until: Option<Instant>,
    /// Agents that missed it; tried again only when no one else is left.
    missed: HashSet<String>,
    callback: Option<String>,
}

/// The ACD of one box.
#[derive(Debug)]
pub struct Acd {
    queues: BTreeMap<String, QueueConfig>,
    agents: BTreeMap<String, Agent>,
    /// Queues removed from the configuration while callers waited in
    /// them: closed to new callers, forgotten once the last one leaves.
    retiring_queues: HashSet<String>,
    waiting: HashMap<u64, Waiting>,
    /// Offers a queue call was answered from, until it completes.
    serving: HashMap<u64, String>,
    last_rr: HashMap<String, String>,
    seq: u64,
    rng: u64,
    short_abandon: Duration,
    max_missed: u32,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl Acd {
    /// `short_abandon`: callers who hang up sooner are counted apart;
    /// `max_missed`: offers an agent may miss in a row before it is put
    /// not ready ("missed").
    pub fn new(
        queues: Vec<QueueConfig>,
        agents: Vec<AgentConfig>,
        short_abandon: Duration,
        max_missed: u32,
        now: Instant,
    ) -> Acd {
        Acd {
            queues: queues.into_iter().map(|q| (q.name.clone(), q)).collect(),
            agents: agents
                .into_iter()
                .map(|a| (a.id.clone(), Agent::new(a, now)))
                .collect(),
            retiring_queues: HashSet::new(),
            waiting: HashMap::new(),
            serving: HashMap::new(),
            last_rr: HashMap::new(),
            seq: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            short_abandon,
            max_missed: max_missed.max(1),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes a new configuration while calls are in progress (TEL-8):
    /// queues and agents are matched by name and id. A kept queue takes
    /// its new settings (strategy, timers, limits) for every decision from
    /// now on, its callers keep their places; a new one opens; a removed
    /// one takes no new callers and is forgotten when its last caller
    /// leaves. A kept agent keeps its state, phone and counters with its
    /// new name, PIN and skills; a new one starts logged out; a removed
    /// one is logged out now, or, while it has a queue call, finishes the
    /// call first (no wrap-up, no new offer).
    pub fn reconfigure(
        &mut self,
        queues: Vec<QueueConfig>,
        agents: Vec<AgentConfig>,
        short_abandon: Duration,
        max_missed: u32,
        now: Instant,
    ) {
        self.short_abandon = short_abandon;
        self.max_missed = max_missed.max(1);
        let new_queues: BTreeMap<String, QueueConfig> =
            queues.into_iter().map(|q| (q.name.clone(), q)).collect();
        for (name, old) in std::mem::take(&mut self.queues) {
            if !new_queues.contains_key(&name) && self.waiting.values().any(|w| w.queue == name) {
                self.retiring_queues.insert(name.clone());
                self.queues.insert(name, old);
            }
        }
        for (name, q) in new_queues {
            self.retiring_queues.remove(&name);
            self.queues.insert(name, q);
        }
        let mut new_agents: BTreeMap<String, AgentConfig> =
            agents.into_iter().map(|a| (a.id.clone(), a)).collect();
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            match new_agents.remove(&id) {
                Some(cfg) => {
                    if let Some(a) = self.agents.get_mut(&id) {
                        a.cfg = cfg;
                        a.retiring = false;
                    }
                }
                None => {
                    if let Some(a) = self.agents.get_mut(&id) {
                        a.retiring = true;
                    }
                    self.retire_if_free(&id, now);
                }
            }
        }
        for (id, cfg) in new_agents {
            self.agents.insert(id, Agent::new(cfg, now));
        }
        self.dispatch(now);
    }

    /// Logs out and forgets a retiring agent once it has no queue call.
    fn retire_if_free(&mut self, agent: &str, now: Instant) {
        let Some(a) = self.agents.get(agent) else {
            return;
        };
        if !a.retiring || a.on_call() {
            return;
        }
        if a.state != AgentState::LoggedOut {
            if let Some(a) = self.agents.get_mut(agent) {
                a.extension = None;
                a.wrapup_until = None;
                a.after_wrapup = None;
            }
            self.set_state(agent, AgentState::LoggedOut, now);
        }
        self.agents.remove(agent);
    }

    /// Forgets a retiring queue once nobody waits in it.
    fn retire_queue_if_empty(&mut self, queue: &str) {
        if self.retiring_queues.contains(queue) && !self.waiting.values().any(|w| w.queue == queue)
        {
            self.retiring_queues.remove(queue);
            self.queues.remove(queue);
        }
    }

    /// The next moment something is due (a ring timeout, an overflow, the
    /// end of a wrap-up).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rings = self.waiting.values().filter_map(|w| w.ring_until);
        let limits = self.waiting.values().flat_map(|w| {
            let q = self.queues.get(&w.queue);
            [
                q.and_then(|q| q.overflow_after).map(|d| w.entered + d),
                q.and_then(|q| q.max_wait).map(|d| w.entered + d),
            ]
            .into_iter()
            .flatten()
        });
        let wrapups = self.agents.values().filter_map(|a| a.wrapup_until);
        rings.chain(limits).chain(wrapups).min()
    }

    pub fn agent_state(&self, agent: &str) -> Option<&AgentState> {
        self.agents.get(agent).map(|a| &a.state)
    }

    /// The agent logged in at `extension`, if any.
    pub fn agent_at(&self, extension: &str) -> Option<&str> {
        self.agents
            .values()
            .find(|a| a.extension.as_deref() == Some(extension))
            .map(|a| a.cfg.id.as_str())
    }

    /// The agent's phone.
    pub fn extension_of(&self, agent: &str) -> Option<&str> {
        self.agents.get(agent)?.extension.as_deref()
    }

    /// 1-based place of `call` in its queue (priority, then arrival).
    pub fn position(&self, call: u64) -> Option<usize> {
        let w = self.waiting.get(&call)?;
        Some(
            1 + self
                .waiting
                .values()
                .filter(|o| o.queue == w.queue && (-o.priority, o.seq) < (-w.priority, w.seq))
                .count(),
        )
    }

    /// Every agent as a wallboard shows it, by id.
    pub fn agents(&self) -> Vec<AgentSnapshot> {
        self.agents
            .values()
            .map(|a| AgentSnapshot {
                id: a.cfg.id.clone(),
                name: a.cfg.name.clone(),
                extension: a.extension.clone(),
                state: a.state.clone(),
                since: a.since,
                calls: a.calls,
            })
            .collect()
    }

    /// A queue's callers and agents now.
    pub fn queue(&self, queue: &str, now: Instant) -> Option<QueueSnapshot> {
        let q = self.queues.get(queue)?;
        let waiting: Vec<&Waiting> = self.waiting.values().filter(|w| w.queue == queue).collect();
        let serving = self
            .agents
            .values()
            .filter(|a| a.state != AgentState::LoggedOut && qualifies(&a.cfg, q));
        Some(QueueSnapshot {
            strategy: q.strategy,
            waiting: waiting.len(),
            longest_wait: waiting
                .iter()
                .map(|w| now.saturating_duration_since(w.entered))
                .max()
                .unwrap_or_default(),
            logged_in: serving.clone().count(),
            ready: serving.filter(|a| a.state == AgentState::Ready).count(),
        })
    }

    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.keys().map(String::as_str)
    }

    /// The queue `call` waits in.
    pub fn queue_of(&self, call: u64) -> Option<&str> {
        self.waiting.get(&call).map(|w| w.queue.as_str())
    }

    /// Whether `call` waits for a callback (its caller has hung up).
    pub fn callback_pending(&self, call: u64) -> bool {
        self.waiting
            .get(&call)
            .is_some_and(|w| w.callback.is_some())
    }

    /// The agent serving `call` (answered, not yet completed).
    pub fn serving(&self, call: u64) -> Option<&str> {
        self.serving.get(&call).map(String::as_str)
    }

    pub fn waiting(&self, queue: &str) -> usize {
        self.waiting.values().filter(|w| w.queue == queue).count()
    }

    fn agent_mut(&mut self, agent: &str) -> Result<&mut Agent, AcdError> {
        self.agents
            .get_mut(agent)
            .ok_or_else(|| AcdError::NoAgent(agent.to_string()))
    }

    fn set_state(&mut self, agent: &str, state: AgentState, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.state == state {
            return;
        }
        if state == AgentState::Ready {
            a.idle_since = now;
        }
        a.state = state.clone();
        a.since = now;
        let extension = a.extension.clone();
        let retire = a.retiring && !a.on_call() && state != AgentState::LoggedOut;
        self.events.push_back(Event::AgentState {
            agent: agent.to_string(),
            extension,
            state,
        });
        if retire {
            self.retire_if_free(agent, now);
        }
    }

    // ---- agents --------------------------------------------------------

    /// Logs `agent` in at `extension` after checking the PIN; it starts
    /// ready. Logging in at a second phone moves the agent there.
    pub fn login(
        &mut self,
        agent: &str,
        pin: &str,
        extension: &str,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_mut(agent)?;
        if a.cfg.pin != pin {
            return Err(AcdError::WrongPin(agent.to_string()));
        }
        if matches!(
            a.state,
            AgentState::Offered { .. } | AgentState::OnCall { .. } | AgentState::OnHold { .. }
        ) {
            return Err(AcdError::LoggedInElsewhere {
                agent: agent.to_string(),
                extension: a.extension.clone().unwrap_or_default(),
            });
        }
        // Another agent at this phone is logged out first.
        let other = self
            .agents
            .values()
            .find(|o| o.cfg.id != agent && o.extension.as_deref() == Some(extension))
            .map(|o| o.cfg.id.clone());
        if let Some(o) = other {
            self.logout(&o, now)?;
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.extension = Some(extension.to_string());
            a.missed_in_row = 0;
        }
        self.set_state(agent, AgentState::Ready, now);
        self.dispatch(now);
        Ok(())
    }

    /// Puts back an agent who was logged in at `extension` when the box
    /// stopped, ready or not ready (`reason`) as it was; the PIN was
    /// checked at the original login. Calls did not survive the stop, so
    /// an agent that was on one is ready.
    pub fn resume(
        &mut self,
        agent: &str,
        extension: &str,
        not_ready: Option<String>,
        now: Instant,
    ) -> Result<(), AcdError> {
        let a = self.agent_mut(agent)?;
        a.extension = Some(extension.to_string());
        let state = match not_ready {
            Some(reason) => AgentState::NotReady { reason },
            None => AgentState::Ready,
        };
        self.set_state(agent, state, now);
        self.dispatch(now);
        Ok(())
    }

    pub fn logout(&mut self, agent: &str, now: Instant) -> Result<(), AcdError> {
        let a = self.agent_mut(agent)?;
        a.extension = None;
        a.wrapup_until = None;
        a.after_wrapup = None;
        if let AgentState::Offered { call } = a.state {
            self.withdraw_offer(call, agent);
        }
        self.set_state(agent, AgentState::LoggedOut, now);
        self.empty_queues_check(now);
        self.dispatch(now);
        Ok(())
    }

    /// The phone an agent is at stopped answering or unregistered: the
    /// agent is logged out, so no call rings a dead phone.
    pub fn phone_lost(&mut self, extension: &str, now: Instant) {
        if let Some(agent) = self.agent_at(extension).map(str::to_string) {
            let _ = self.logout(&agent, now);
        }
    }

    pub fn ready(&mut self, agent: &str, now: Instant) -> Result<(), AcdError> {
        self.change(agent, AgentState::Ready, now)
    }

    pub fn not_ready(&mut self, agent: &str, reason: &str, now: Instant) -> Result<(), AcdError> {
        self.change(
            agent,
            AgentState::NotReady {
                reason: reason.to_string(),
            },
            now,
        )
    }

    /// Ends wrap-up now (`*75`).
    pub fn end_wrapup(&mut self, agent: &str, now: Instant) -> Result<(), AcdError> {
        let a = self.agent_mut(agent)?;
        if matches!(a.state, AgentState::Wrapup { .. }) {
            a.wrapup_until = Some(now);
            self.handle_timeout(now);
        }
        Ok(())
    }

    /// Ready or not ready; asked during a call or wrap-up, it takes
    /// effect when the wrap-up ends.
    fn change(&mut self, agent: &str, to: AgentState, now: Instant) -> Result<(), AcdError> {
        let a = self.agent_mut(agent)?;
        match &a.state {
            AgentState::LoggedOut => return Err(AcdError::NotLoggedIn(agent.to_string())),
            AgentState::OnCall { .. }
            | AgentState::OnHold { .. }
            | AgentState::Wrapup { .. }
            | AgentState::Busy => {
                a.after_wrapup = Some(to);
                return Ok(());
            }
            AgentState::Offered { call } => {
                let call = *call;
                self.withdraw_offer(call, agent);
            }
            AgentState::Ready | AgentState::NotReady { .. } => {}
        }
        if to == AgentState::Ready {
            if let Some(a) = self.agents.get_mut(agent) {
                a.missed_in_row = 0;
            }
        }
        self.set_state(agent, to, now);
        self.dispatch(now);
        Ok(())
    }

    /// The agent's phone is on (or finished) a call that is not a queue's.
    pub fn agent_busy(&mut self, agent: &str, busy: bool, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        match (&a.state, busy) {
            (AgentState::Ready, true) => self.set_state(agent, AgentState::Busy, now),
            (AgentState::Busy, false) => {
                let next = a.after_wrapup.take().unwrap_or(AgentState::Ready);
                self.set_state(agent, next, now);
                self.dispatch(now);
            }
            _ => {}
        }
    }

    // ---- callers -------------------------------------------------------

    /// A caller enters `queue` with `priority` (higher goes first).
    pub fn enqueue(
        &mut self,
        call: u64,
        queue: &str,
        priority: i32,
        now: Instant,
    ) -> Result<(), AcdError> {
        let q = self
            .queues
            .get(queue)
            .filter(|_| !self.retiring_queues.contains(queue))
            .ok_or_else(|| AcdError::NoQueue(queue.to_string()))?
            .clone();
        let exit = if q.max_len.is_some_and(|m| self.waiting(queue) >= m) {
            Some(ExitReason::Full)
        } else if !q.join_empty && !self.has_agents(&q) {
            Some(ExitReason::Empty)
        } else {
            None
        };
        if let Some(reason) = exit {
            self.events.push_back(Event::Exited {
                call,
                queue: queue.to_string(),
                reason,
                wait_ms: 0,
            });
            self.actions.push_back(Action::Exit {
                call,
                to: q.exit_to.clone(),
                reason,
            });
            return Ok(());
        }
        self.seq += 1;
        self.waiting.insert(
            call,
            Waiting {
                queue: queue.to_string(),
                priority,
                entered: now,
                seq: self.seq,
                ringing: Vec::new(),
                ring_until: None,
                missed: HashSet::new(),
                callback: None,
            },
        );
        let position = self.position(call).unwrap_or(1);
        self.events.push_back(Event::Entered {
            call,
            queue: queue.to_string(),
            position,
            priority,
        });
        self.dispatch(now);
        Ok(())
    }

    /// The caller hung up while waiting (or ringing an agent).
    pub fn abandon(&mut self, call: u64, now: Instant) {
        let position = self.position(call).unwrap_or(0);
        let Some(w) = self.remove_waiting(call, now) else {
            return;
        };
        let wait = now.saturating_duration_since(w.entered);
        self.events.push_back(Event::Abandoned {
            call,
            queue: w.queue,
            position,
            wait_ms: ms(wait),
            short: wait < self.short_abandon,
        });
        self.dispatch(now);
    }

    /// The box lost a waiting call (a failure, not the caller).
    pub fn dropped(&mut self, call: u64, now: Instant) {
        if let Some(w) = self.remove_waiting(call, now) {
            self.events.push_back(Event::Dropped {
                call,
                queue: w.queue,
                wait_ms: ms(now.saturating_duration_since(w.entered)),
            });
            self.dispatch(now);
        }
    }

    /// The caller asked to be called back at `number` and hung up; their
    /// place is kept (not moved ahead, not lost: pitfall 10).
    pub fn request_callback(
        &mut self,
        call: u64,
        number: &str,
        now: Instant,
    ) -> Result<(), AcdError> {
        let position = self.position(call).ok_or(AcdError::NotWaiting(call))?;
        let w = self
            .waiting
            .get_mut(&call)
            .ok_or(AcdError::NotWaiting(call))?;
        w.callback = Some(number.to_string());
        let ringing = std::mem::take(&mut w.ringing);
        w.ring_until = None;
        let queue = w.queue.clone();
        for agent in ringing {
            self.actions.push_back(Action::CancelOffer {
                call,
                agent: agent.clone(),
            });
            self.set_state(&agent, AgentState::Ready, now);
        }
        self.events.push_back(Event::CallbackRequested {
            call,
            queue,
            position,
        });
        self.dispatch(now);
        Ok(())
    }

    // ---- offers --------------------------------------------------------

    /// `agent` answered `call`.
    pub fn answered(&mut self, call: u64, agent: &str, now: Instant) {
        let Some(w) = self.waiting.remove(&call) else {
            return;
        };
        for other in w.ringing.iter().filter(|a| *a != agent) {
            self.actions.push_back(Action::CancelOffer {
                call,
                agent: other.clone(),
            });
            self.set_state(other, AgentState::Ready, now);
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.missed_in_row = 0;
            a.calls += 1;
            a.current = Some((w.queue.clone(), now, None, Duration::ZERO));
        }
        self.serving.insert(call, agent.to_string());
        self.retire_queue_if_empty(&w.queue);
        self.events.push_back(Event::Answered {
            call,
            queue: w.queue,
            agent: agent.to_string(),
            wait_ms: ms(now.saturating_duration_since(w.entered)),
        });
        self.set_state(agent, AgentState::OnCall { call }, now);
        self.dispatch(now);
    }

    /// `agent` did not take `call` (refused, unreachable, timed out).
    pub fn missed(&mut self, call: u64, agent: &str, now: Instant) {
        let Some(w) = self.waiting.get_mut(&call) else {
            return;
        };
        if !w.ringing.iter().any(|a| a == agent) {
            return;
        }
        w.ringing.retain(|a| a != agent);
        w.missed.insert(agent.to_string());
        if w.ringing.is_empty() {
            w.ring_until = None;
        }
        let queue = w.queue.clone();
        self.events.push_back(Event::Missed {
            call,
            queue,
            agent: agent.to_string(),
        });
        let max = self.max_missed;
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        a.missed_in_row += 1;
        let next = if a.missed_in_row >= max {
            AgentState::NotReady {
                reason: "missed".into(),
            }
        } else {
            AgentState::Ready
        };
        self.set_state(agent, next, now);
        self.dispatch(now);
    }

    pub fn hold(&mut self, call: u64, held: bool, now: Instant) {
        let Some(agent) = self.serving.get(&call).cloned() else {
            return;
        };
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        if let Some((_, _, since, total)) = a.current.as_mut() {
            match (held, *since) {
                (true, None) => *since = Some(now),
                (false, Some(s)) => {
                    *total += now.saturating_duration_since(s);
                    *since = None;
                }
                _ => return,
            }
        }
        let state = if held {
            AgentState::OnHold { call }
        } else {
            AgentState::OnCall { call }
        };
        self.set_state(&agent, state, now);
    }

    /// A queue call an agent took has ended: talk and hold time are
    /// booked once, and the agent's one wrap-up timer starts.
    pub fn completed(&mut self, call: u64, now: Instant) {
        let Some(agent) = self.serving.remove(&call) else {
            return;
        };
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        let Some((queue, answered, hold_since, mut held)) = a.current.take() else {
            return;
        };
        if let Some(s) = hold_since {
            held += now.saturating_duration_since(s);
        }
        let talk = now.saturating_duration_since(answered).saturating_sub(held);
        a.talk += talk;
        let wrapup = self.queues.get(&queue).map_or(Duration::ZERO, |q| q.wrapup);
        a.wrapup_until = Some(now + wrapup);
        self.events.push_back(Event::Completed {
            call,
            queue,
            agent: agent.clone(),
            talk_ms: ms(talk),
            hold_ms: ms(held),
        });
        self.set_state(&agent, AgentState::Wrapup { call }, now);
        if wrapup.is_zero() {
            self.handle_timeout(now);
        }
    }

    /// The agent serving `call` transferred it to `to`: the agent's part
    /// is over (booked as completed, wrap-up starts); the call goes on
    /// outside the queue.
    pub fn transferred(&mut self, call: u64, to: &str, now: Instant) {
        let Some(agent) = self.serving.get(&call).cloned() else {
            return;
        };
        let queue = self
            .agents
            .get(&agent)
            .and_then(|a| a.current.as_ref())
            .map(|c| c.0.clone())
            .unwrap_or_default();
        self.events.push_back(Event::Transferred {
            call,
            queue,
            agent,
            to: to.to_string(),
        });
        self.completed(call, now);
    }

    // ---- time ----------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Instant) {
        // Wrap-ups that ended.
        let done: Vec<String> = self
            .agents
            .values()
            .filter(|a| a.wrapup_until.is_some_and(|t| t <= now))
            .map(|a| a.cfg.id.clone())
            .collect();
        for agent in done {
            let next = self.agents.get_mut(&agent).and_then(|a| {
                a.wrapup_until = None;
                a.after_wrapup.take()
            });
            self.set_state(&agent, next.unwrap_or(AgentState::Ready), now);
        }
        // Rings not answered in time.
        let unanswered: Vec<(u64, Vec<String>)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.ring_until.is_some_and(|t| t <= now))
            .map(|(c, w)| (*c, w.ringing.clone()))
            .collect();
        for (call, agents) in unanswered {
            for agent in agents {
                self.actions.push_back(Action::CancelOffer {
                    call,
                    agent: agent.clone(),
                });
                self.missed(call, &agent, now);
            }
        }
        // Callers past their queue's limits.
        let mut leaving: Vec<(u64, Destination, ExitReason)> = Vec::new();
        for (call, w) in &self.waiting {
            let Some(q) = self.queues.get(&w.queue) else {
                continue;
            };
            if q.overflow_after.is_some_and(|d| w.entered + d <= now) {
                leaving.push((*call, q.overflow_to.clone(), ExitReason::Overflow));
            } else if q.max_wait.is_some_and(|d| w.entered + d <= now) {
                leaving.push((*call, q.exit_to.clone(), ExitReason::Timeout));
            }
        }
        leaving.sort_by_key(|(c, _, _)| *c);
        for (call, to, reason) in leaving {
            self.exit(call, to, reason, now);
        }
        self.dispatch(now);
    }

    fn exit(&mut self, call: u64, to: Destination, reason: ExitReason, now: Instant) {
        if let Some(w) = self.remove_waiting(call, now) {
            self.events.push_back(Event::Exited {
                call,
                queue: w.queue,
                reason,
                wait_ms: ms(now.saturating_duration_since(w.entered)),
            });
            self.actions.push_back(Action::Exit { call, to, reason });
        }
    }

    // ---- distribution --------------------------------------------------

    fn has_agents(&self, q: &QueueConfig) -> bool {
        self.agents
            .values()
            .any(|a| a.state != AgentState::LoggedOut && qualifies(&a.cfg, q))
    }

    fn empty_queues_check(&mut self, now: Instant) {
        let empty: Vec<(String, Destination)> = self
            .queues
            .values()
            .filter(|q| q.leave_when_empty && !self.has_agents(q))
            .map(|q| (q.name.clone(), q.exit_to.clone()))
            .collect();
        for (queue, to) in empty {
            let mut calls: Vec<(u64, u64)> = self
                .waiting
                .iter()
                .filter(|(_, w)| w.queue == queue)
                .map(|(c, w)| (w.seq, *c))
                .collect();
            calls.sort_unstable();
            for (_, call) in calls {
                self.exit(call, to.clone(), ExitReason::Empty, now);
            }
        }
    }

    fn remove_waiting(&mut self, call: u64, now: Instant) -> Option<Waiting> {
        let w = self.waiting.remove(&call)?;
        for agent in &w.ringing {
            self.actions.push_back(Action::CancelOffer {
                call,
                agent: agent.clone(),
            });
            self.set_state(agent, AgentState::Ready, now);
        }
        self.retire_queue_if_empty(&w.queue);
        Some(w)
    }

    /// An agent ringing with `call` is no longer (it logged out or changed
    /// state): the offer goes, without counting a miss.
    fn withdraw_offer(&mut self, call: u64, agent: &str) {
        if let Some(w) = self.waiting.get_mut(&call) {
            w.ringing.retain(|a| a != agent);
            if w.ringing.is_empty() {
                w.ring_until = None;
            }
            self.actions.push_back(Action::CancelOffer {
                call,
                agent: agent.to_string(),
            });
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: deterministic, so tests replay; fairness, not
        // secrecy, is what is asked of it.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Offers waiting callers to ready agents: callers by priority then
    /// arrival, across all queues; each to its queue's choice of agent.
    ///
    /// The ready agents are gathered once and each chosen one leaves the
    /// pool, so a pass costs the ready agents times the callers it
    /// reaches, and stops as soon as no agent is left: with every agent
    /// busy it is one look at the agents.
    fn dispatch(&mut self, now: Instant) {
        let mut ready: Vec<Candidate> = self
            .agents
            .values()
            .filter(|a| a.state == AgentState::Ready)
            .map(|a| Candidate {
                id: a.cfg.id.clone(),
                idle_since: a.idle_since,
                calls: a.calls,
                talk: a.talk,
                score: 0,
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        let mut order: Vec<(i32, u64, u64)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.ringing.is_empty())
            .map(|(c, w)| (-w.priority, w.seq, *c))
            .collect();
        order.sort_unstable();
        for (_, _, call) in order {
            if ready.is_empty() {
                break;
            }
            let Some(w) = self.waiting.get(&call) else {
                continue;
            };
            let Some(q) = self.queues.get(&w.queue) else {
                continue;
            };
            // The ready agents this queue may use, scored on its skills;
            // those who missed this call ring again only when no one else
            // is ready.
            let mut pool: Vec<Candidate> = Vec::new();
            let mut missed_pool: Vec<Candidate> = Vec::new();
            for c in &ready {
                let Some(a) = self.agents.get(&c.id) else {
                    continue;
                };
                if !qualifies(&a.cfg, q) {
                    continue;
                }
                let mut c = c.clone();
                c.score = q
                    .skills
                    .iter()
                    .map(|(s, _)| u32::from(level(&a.cfg, s)))
                    .sum();
                if w.missed.contains(&c.id) {
                    missed_pool.push(c);
                } else {
                    pool.push(c);
                }
            }
            if pool.is_empty() {
                pool = missed_pool;
            }
            if pool.is_empty() {
                continue;
            }
            let (strategy, name, ring_timeout) = (q.strategy, q.name.clone(), q.ring_timeout);
            let callback = w.callback.clone();
            let chosen: Vec<String> = if strategy == Strategy::RingAll {
                pool.iter().map(|a| a.id.clone()).collect()
            } else {
                self.pick(strategy, &name, &pool).into_iter().collect()
            };
            if chosen.is_empty() {
                continue;
            }
            ready.retain(|c| !chosen.contains(&c.id));
            if strategy == Strategy::RoundRobin {
                if let Some(first) = chosen.first() {
                    self.last_rr.insert(name.clone(), first.clone());
                }
            }
            if let Some(w) = self.waiting.get_mut(&call) {
                w.ringing.clone_from(&chosen);
                w.ring_until = Some(now + ring_timeout);
            }
            for agent in chosen {
                self.events.push_back(Event::Offered {
                    call,
                    queue: name.clone(),
                    agent: agent.clone(),
                });
                self.actions.push_back(match &callback {
                    Some(number) => Action::Callback {
                        call,
                        agent: agent.clone(),
                        number: number.clone(),
                    },
                    None => Action::Offer {
                        call,
                        agent: agent.clone(),
                    },
                });
                self.set_state(&agent, AgentState::Offered { call }, now);
            }
        }
    }

    /// One agent from `pool` (all ready and qualified) by the queue's
    /// strategy.
    fn pick(&mut self, strategy: Strategy, queue: &str, pool: &[Candidate]) -> Option<String> {
        let id = |a: &Candidate| a.id.clone();
        match strategy {
            Strategy::LongestIdle | Strategy::RingAll => pool
                .iter()
                .min_by_key(|a| (a.idle_since, a.id.clone()))
                .map(id),
            Strategy::RoundRobin => {
                let last = self.last_rr.get(queue);
                let mut ids: Vec<&String> = pool.iter().map(|a| &a.id).collect();
                ids.sort();
                ids.iter()
                    .find(|i| last.is_none_or(|l| **i > l))
                    .or(ids.first())
                    .map(|i| (*i).clone())
            }
            Strategy::FewestCalls => pool.iter().min_by_key(|a| (a.calls, a.idle_since)).map(id),
            Strategy::LeastTalkTime => pool.iter().min_by_key(|a| (a.talk, a.idle_since)).map(id),
            Strategy::Random => {
                let n = pool.len() as u64;
                let i = (self.next_random() % n.max(1)) as usize;
                pool.get(i).map(id)
            }
            // Higher score first; among equals the longest idle.
            Strategy::SkillsBestMatch => pool
                .iter()
                .max_by_key(|a| (a.score, std::cmp::Reverse(a.idle_since)))
                .map(id),
        }
    }
}

/// An agent as [`Acd::agents`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    pub id: String,
    pub name: String,
    pub extension: Option<String>,
    pub state: AgentState,
    pub since: Instant,
    pub calls: u64,
}

/// A queue as [`Acd::queue`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub strategy: Strategy,
    pub waiting: usize,
    pub longest_wait: Duration,
    /// Qualified agents logged in, and of them ready.
    pub logged_in: usize,
    pub ready: usize,
}

/// A ready agent as distribution weighs it.
#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    idle_since: Instant,
    calls: u64,
    talk: Duration,
    /// Sum of its levels in the queue's skills.
    score: u32,
}

fn level(a: &AgentConfig, skill: &str) -> u8 {
    a.skills
        .iter()
        .find(|(s, _)| s == skill)
        .map_or(0, |(_, l)| *l)
}

/// Whether agent `a` has every skill queue `q` needs at its level.
fn qualifies(a: &AgentConfig, q: &QueueConfig) -> bool {
    q.skills.iter().all(|(s, min)| level(a, s) >= *min)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests;
