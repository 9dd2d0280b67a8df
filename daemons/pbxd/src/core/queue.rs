//! The ACD at work in the box (ACD-1..7, ACD-10, TEL-2): the sans-IO
//! [`dering_acd::Acd`] decides; this module carries its decisions out over
//! SIP and media, and feeds it what happens.
//!
//! - A flow's `queue` node puts the caller in a queue, with the priority
//!   their number earns (ACD-5). The caller's leg stays at the box: music
//!   on hold, and their place and expected wait announced periodically in
//!   their language (ACD-4).
//! - An offer rings the agent's phone with an INVITE of its own (several at
//!   once for ring-all), showing the queue's name before the caller's and,
//!   for agents so configured, the auto-answer headers desk phones honour.
//!   The first to answer becomes the call's B leg and is bridged; the
//!   others are cancelled.
//! - Every engine event goes to the journal in SQLite and to control
//!   socket subscribers, and into today's counters, which are rebuilt from
//!   the journal at start (statistics survive restarts).
//! - Agents act with dial strings (`*71`…`*75`, see
//!   [`dering_acd::codes`]) answered by a spoken confirmation, or through
//!   the control socket, through the same functions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use dering_acd::codes::AgentCode;
use dering_acd::{
    Acd, AcdError, Action, AgentConfig, BlockAction, CallerRules, Destination, Event, ExitReason,
    QueueConfig, QueueStats, Strategy,
};
use dering_control::{AgentAction, AgentView, ControlError, QueueView};
use dering_media::speech::{self, Lang};
use dering_sip::build::{self, header, RequestSpec};
use dering_sip::sdp::Direction;
use dering_sip::Message;
use dering_store::{AcdEventRow, Op};

use super::call::CallChange;
use super::timers::Timer;
use super::{
    BLegSpec, CallState, ClientPurpose, Core, Dialog, Life, MediaCmd, Now, Output, Reply, Side,
};
use crate::config::{BackupWhen, Config};
use crate::registrar::PhoneEvent;
use dering_telco::Permission;

/// The not-ready reason of an agent whose phone is gone (`[acd]
/// phone_lost = "unreachable"`).
const UNREACHABLE: &str = "unreachable";

/// How often a waiting caller hears their place, by default.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(30);

/// A queue's backup number (OPS-3): another site or the mobile agents.
#[derive(Debug, Clone)]
struct Backup {
    number: String,
    when: BackupWhen,
    permission: Permission,
}

impl Backup {
    /// Whether a caller leaving for `reason` goes to the backup number.
    fn takes(&self, reason: ExitReason) -> bool {
        match self.when {
            BackupWhen::NoAgents => reason == ExitReason::Empty,
            BackupWhen::Leaving => true,
        }
    }
}

/// The box's ACD and what it needs around the engine.
#[derive(Debug)]
pub(super) struct Queues {
    pub(super) acd: Acd,
    rules: CallerRules,
    /// Not-ready reason codes and their names (ACD-7).
    reasons: BTreeMap<String, String>,
    /// Agents whose phones get the auto-answer headers.
    auto_answer: HashSet<String>,
    /// Each queue's backup number, when it takes callers and what it may
    /// dial (OPS-3), by queue.
    backups: HashMap<String, Backup>,
    /// Service-level threshold of each queue, in ms.
    thresholds: HashMap<String, u64>,
    /// Queues whose callers may ask to be called back.
    callback: HashSet<String>,
    announce_every: Duration,
    /// Today's counters per queue and the day (Unix ms of WIB midnight)
    /// they count.
    today: HashMap<String, QueueStats>,
    day_start_ms: i64,
    utc_offset_minutes: i32,
    /// Log out agents whose phone is gone (else mark them unreachable).
    logout_lost: bool,
}

/// The queue part of a call: the caller waits at the box while agents'
/// phones are offered the call.
#[derive(Debug)]
pub(super) struct QueueLeg {
    pub(super) queue: String,
    priority: i32,
    /// Agents' phones ringing with the call.
    offers: Vec<Offer>,
    /// Offers cancelled whose final answer may still come (a 200 that
    /// crossed the CANCEL is ACKed and hung up).
    cancelled: Vec<Offer>,
    next_announce: Option<Instant>,
    lang: Lang,
    /// The agent who took the call.
    pub(super) agent: Option<String>,
    /// The engine's id of this queue call: the box call's own, except for
    /// a callback, whose box call is new while the engine's call is the
    /// one the caller left.
    pub(super) acd_call: u64,
}

/// One agent's phone ringing with a queue call.
#[derive(Debug)]
struct Offer {
    agent: String,
    extension: String,
    dialog: Dialog,
    key: String,
    invite: Message,
}

/// Parses `queue:NAME`, `flow:NAME` or `hangup` (validated with the
/// configuration).
fn destination(s: &str) -> Destination {
    if let Some(q) = s.strip_prefix("queue:") {
        Destination::Queue(q.to_string())
    } else if let Some(f) = s.strip_prefix("flow:") {
        Destination::Flow(f.to_string())
    } else {
        Destination::Hangup
    }
}

/// The engine's queues and agents as `cfg` describes them.
fn acd_config(cfg: &Config) -> (Vec<QueueConfig>, Vec<AgentConfig>) {
    let queues = cfg
        .queues
        .iter()
        .map(|q| QueueConfig {
            name: q.name.clone(),
            strategy: Strategy::parse(&q.strategy).unwrap_or_default(),
            skills: q.skills.iter().map(|(s, l)| (s.clone(), *l)).collect(),
            ring_timeout: Duration::from_secs(q.ring_seconds.max(1).into()),
            wrapup: Duration::from_secs(q.wrapup_seconds.into()),
            overflow_after: q.overflow_seconds.map(|s| Duration::from_secs(s.into())),
            overflow_to: destination(&q.overflow_to),
            max_wait: q.max_wait_seconds.map(|s| Duration::from_secs(s.into())),
            max_len: q.max_callers,
            exit_to: destination(&q.exit_to),
            join_empty: q.join_empty,
            leave_when_empty: q.leave_when_empty,
        })
        .collect();
    let agents = cfg
        .agents
        .iter()
        .map(|a| AgentConfig {
            id: a.id.clone(),
            name: a.name.clone(),
            pin: a.pin.clone(),
            skills: a.skills.iter().map(|(s, l)| (s.clone(), *l)).collect(),
        })
        .collect();
    (queues, agents)
}

impl Queues {
    pub(super) fn new(cfg: &Config, now: Instant) -> Queues {
        let (queues, agents) = acd_config(cfg);
        let mut q = Queues {
            acd: Acd::new(
                queues,
                agents,
                Duration::from_secs(cfg.acd.short_abandon_seconds.into()),
                cfg.acd.max_missed,
                now,
            ),
            rules: CallerRules::default(),
            reasons: BTreeMap::new(),
            auto_answer: HashSet::new(),
            thresholds: HashMap::new(),
            backups: HashMap::new(),
            callback: HashSet::new(),
            announce_every: ANNOUNCE_EVERY,
            today: HashMap::new(),
            day_start_ms: 0,
            utc_offset_minutes: cfg.flows.utc_offset_minutes,
            logout_lost: true,
        };
        q.take_settings(cfg);
        q
    }

    /// A new configuration while calls go on (TEL-8): the engine matches
    /// queues and agents by name (see [`Acd::reconfigure`]); caller rules,
    /// reason codes, auto-answer, thresholds and callbacks apply to the
    /// next decision. Today's counters are kept.
    pub(super) fn reconfigure(&mut self, cfg: &Config, now: Instant) {
        let (queues, agents) = acd_config(cfg);
        self.acd.reconfigure(
            queues,
            agents,
            Duration::from_secs(cfg.acd.short_abandon_seconds.into()),
            cfg.acd.max_missed,
            now,
        );
        self.take_settings(cfg);
    }

    /// The settings around the engine, from `cfg`.
    fn take_settings(&mut self, cfg: &Config) {
        let action = |s: &str| match s {
            "busy" => BlockAction::Busy,
            "hangup" => BlockAction::Hangup,
            _ => BlockAction::Announcement,
        };
        let rules = CallerRules {
            mobile: cfg.acd.priority_mobile,
            fixed: cfg.acd.priority_fixed,
            other: 0,
            vip: cfg.acd.vip.iter().map(|(n, p)| (n.clone(), *p)).collect(),
            blocks: cfg
                .acd
                .block
                .iter()
                .filter_map(|b| {
                    let a = action(&b.action);
                    if let Some(n) = &b.number {
                        Some(dering_acd::Block::Number(n.clone(), a))
                    } else if let Some(p) = &b.prefix {
                        Some(dering_acd::Block::Prefix(p.clone(), a))
                    } else {
                        b.anonymous.then_some(dering_acd::Block::Anonymous(a))
                    }
                })
                .collect(),
            // Extensions never start with 0, the trunk prefix: a phone
            // registered under a national number (a GSM gateway's line)
            // is classified by that number.
            internal_len: cfg
                .extensions
                .iter()
                .map(|e| &e.number)
                .filter(|n| !n.starts_with('0'))
                .map(String::len)
                .max()
                .unwrap_or(4),
        };
        self.rules = rules;
        self.reasons = cfg.acd.reasons.clone();
        self.auto_answer = cfg
            .agents
            .iter()
            .filter(|a| a.auto_answer)
            .map(|a| a.id.clone())
            .collect();
        self.thresholds = cfg
            .queues
            .iter()
            .map(|q| (q.name.clone(), u64::from(q.service_level_seconds) * 1000))
            .collect();
        self.callback = cfg
            .queues
            .iter()
            .filter(|q| q.callback)
            .map(|q| q.name.clone())
            .collect();
        self.backups = cfg
            .queues
            .iter()
            .filter_map(|q| {
                let backup = Backup {
                    number: q.backup_number.clone()?,
                    when: q.backup_when,
                    permission: q.backup_permission,
                };
                Some((q.name.clone(), backup))
            })
            .collect();
        self.utc_offset_minutes = cfg.flows.utc_offset_minutes;
        self.logout_lost = cfg.acd.phone_lost != "unreachable";
    }

    /// Unix ms of the local (WIB) midnight that began the day of `wall_ms`.
    fn day_start(&self, wall_ms: i64) -> i64 {
        let offset = i64::from(self.utc_offset_minutes) * 60_000;
        let day = 86_400_000;
        (wall_ms + offset).div_euclid(day) * day - offset
    }

    /// Counts `e` into today's statistics, starting a new day at local
    /// midnight.
    fn count(&mut self, wall_ms: i64, e: &Event) {
        let day = self.day_start(wall_ms);
        if day != self.day_start_ms {
            self.day_start_ms = day;
            self.today.clear();
        }
        let queue = match e {
            Event::Entered { queue, .. }
            | Event::Offered { queue, .. }
            | Event::Missed { queue, .. }
            | Event::Answered { queue, .. }
            | Event::Abandoned { queue, .. }
            | Event::Exited { queue, .. }
            | Event::Dropped { queue, .. }
            | Event::CallbackRequested { queue, .. }
            | Event::Completed { queue, .. }
            | Event::Transferred { queue, .. } => queue.clone(),
            Event::AgentState { .. } => return,
        };
        let threshold = self.thresholds.get(&queue).copied().unwrap_or(20_000);
        self.today
            .entry(queue.clone())
            .or_default()
            .apply(&queue, threshold, e);
    }
}

/// The journal's columns for `e`.
fn event_columns(e: &Event) -> (&'static str, Option<&str>, Option<&str>, Option<u64>) {
    match e {
        Event::Entered { call, queue, .. } => ("entered", Some(queue), None, Some(*call)),
        Event::Offered { call, queue, agent } => ("offered", Some(queue), Some(agent), Some(*call)),
        Event::Missed { call, queue, agent } => ("missed", Some(queue), Some(agent), Some(*call)),
        Event::Answered {
            call, queue, agent, ..
        } => ("answered", Some(queue), Some(agent), Some(*call)),
        Event::Abandoned { call, queue, .. } => ("abandoned", Some(queue), None, Some(*call)),
        Event::Exited { call, queue, .. } => ("exited", Some(queue), None, Some(*call)),
        Event::Dropped { call, queue, .. } => ("dropped", Some(queue), None, Some(*call)),
        Event::CallbackRequested { call, queue, .. } => {
            ("callback_requested", Some(queue), None, Some(*call))
        }
        Event::Completed {
            call, queue, agent, ..
        } => ("completed", Some(queue), Some(agent), Some(*call)),
        Event::Transferred {
            call, queue, agent, ..
        } => ("transferred", Some(queue), Some(agent), Some(*call)),
        Event::AgentState { agent, .. } => ("agent_state", None, Some(agent), None),
    }
}

impl Core {
    /// Today's journal, stored by earlier runs: the counters start from it.
    pub fn restore_acd_journal(&mut self, now: Now, rows: &[AcdEventRow]) -> usize {
        let day = self.queues.day_start(now.wall_ms);
        let mut n = 0;
        // A desktop's wrap-up code (webd's row) counts nothing.
        for r in rows
            .iter()
            .filter(|r| r.at_ms >= day && r.kind != "wrapup_code")
        {
            match serde_json::from_str::<Event>(&r.detail) {
                Ok(e) => {
                    self.queues.count(r.at_ms, &e);
                    n += 1;
                }
                Err(e) => tracing::warn!(error = %e, kind = %r.kind, "unreadable ACD journal row"),
            }
        }
        n
    }

    /// Puts agents back where the journal last saw them (`detail` of each
    /// agent's last state change): logged in at the same phone, ready or
    /// not ready as they were. Returns how many.
    pub fn restore_agents(&mut self, now: Now, last_states: &[String]) -> usize {
        let mut n = 0;
        for detail in last_states {
            let Ok(Event::AgentState {
                agent,
                extension: Some(ext),
                state,
            }) = serde_json::from_str::<Event>(detail)
            else {
                continue;
            };
            let not_ready = match state {
                dering_acd::AgentState::LoggedOut => continue,
                dering_acd::AgentState::NotReady { reason } => Some(reason),
                _ => None,
            };
            if !self.users.contains_key(&ext) {
                continue;
            }
            match self.queues.acd.resume(&agent, &ext, not_ready, now.at) {
                Ok(()) => {
                    n += 1;
                    self.agent_phone(now, &agent, &ext);
                }
                Err(e) => tracing::warn!(%agent, error = %e, "agent not restored"),
            }
        }
        self.drive_acd(now);
        n
    }

    /// Carries out what the engine asks and records what it reports,
    /// until it has nothing more to say.
    pub(super) fn drive_acd(&mut self, now: Now) {
        loop {
            if let Some(a) = self.queues.acd.poll_action() {
                self.acd_action(now, a);
                continue;
            }
            let Some(e) = self.queues.acd.poll_event() else {
                break;
            };
            self.queues.count(now.wall_ms, &e);
            let (kind, queue, agent, call) = event_columns(&e);
            let uuid = call
                .and_then(|c| self.calls.get(&c))
                .map(|c| c.parties.uuid.clone());
            tracing::info!(kind, queue, agent, call, "acd");
            let row = AcdEventRow {
                at_ms: now.wall_ms,
                kind: kind.to_string(),
                call_uuid: uuid.clone(),
                queue: queue.map(str::to_string),
                agent: agent.map(str::to_string),
                detail: serde_json::to_string(&e).unwrap_or_default(),
            };
            self.store(Op::AcdEvent(row));
            self.out
                .push_back(Output::Publish(dering_control::Event::Acd {
                    at_ms: now.wall_ms,
                    uuid,
                    detail: e,
                }));
        }
    }

    fn acd_action(&mut self, now: Now, action: Action) {
        match action {
            Action::Offer { call, agent } => self.offer(now, call, &agent),
            Action::CancelOffer { call, agent } => self.cancel_offer(now, call, &agent),
            Action::Callback {
                call,
                agent,
                number,
            } => self.call_back(now, call, &agent, &number),
            Action::Exit { call, to, reason } => {
                tracing::info!(call, ?to, ?reason, "caller leaves the queue");
                let backup = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.queue.as_deref())
                    .and_then(|q| self.queues.backups.get(&q.queue))
                    .filter(|b| b.takes(reason))
                    .cloned();
                match backup {
                    Some(b) => self.leave_for_backup(now, call, b, to),
                    None => self.leave_queue(now, call, to),
                }
            }
        }
    }

    /// The blocklist's verdict on a caller to a flow number (ACD-6):
    /// `true` when the call was refused or will be.
    pub(super) fn refuse_blocked(&mut self, now: Now, call: &super::Inbound) -> bool {
        let verdict = self.queues.rules.judge(&call.caller);
        let Some(action) = verdict.blocked else {
            return false;
        };
        tracing::info!(caller = %dering_daemon::redact::number(&call.caller), ?action, "blocked caller");
        match action {
            BlockAction::Busy => self.respond(now, &call.key, &call.req, 486, vec![]),
            BlockAction::Hangup => self.respond(now, &call.key, &call.req, 603, vec![]),
            BlockAction::Announcement => return false,
        }
        true
    }

    /// Whether a caller to a flow number is blocked with an announcement.
    pub(super) fn blocked_with_announcement(&self, caller: &str) -> bool {
        self.queues.rules.judge(caller).blocked == Some(BlockAction::Announcement)
    }

    /// A flow hands call `call` to `queue`.
    pub(super) fn enter_queue(&mut self, now: Now, call: u64, queue: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let priority = match &c.queue {
            // Overflowing from one queue to another keeps the priority.
            Some(q) => q.priority,
            None => self.queues.rules.judge(&c.parties.caller).priority,
        };
        let lang = c.flow().map_or(Lang::Id, |f| f.lang());
        c.queue = Some(Box::new(QueueLeg {
            queue: queue.to_string(),
            priority,
            offers: Vec::new(),
            cancelled: Vec::new(),
            next_announce: None,
            lang,
            agent: None,
            acd_call: call,
        }));
        let uuid = c.parties.uuid.clone();
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "queue".into(),
            detail: Some(format!("{queue} priority={priority}")),
        });
        if let Err(e) = self.queues.acd.enqueue(call, queue, priority, now.at) {
            tracing::error!(call, error = %e, "cannot enter the queue");
            self.leave_queue(now, call, Destination::Hangup);
            return;
        }
        if self.queues.acd.queue_of(call).is_some() {
            let music = self.flows.music();
            self.out
                .push_back(Output::Media(MediaCmd::Music { call, music }));
            self.announce_place(now, call);
        }
        self.drive_acd(now);
    }

    /// Says the caller's place and expected wait; music resumes after.
    fn announce_place(&mut self, now: Now, call: u64) {
        let Some(position) = self.queues.acd.position(call) else {
            return;
        };
        let Some(q) = self.calls.get(&call).and_then(|c| c.queue.as_deref()) else {
            return;
        };
        let (lang, queue) = (q.lang, q.queue.clone());
        let minutes = self.expected_wait_minutes(now, &queue, position);
        let mut names = vec!["queue_position".to_string()];
        names.extend(speech::number(lang, position as u32));
        names.push("expected_wait".into());
        names.extend(speech::number(lang, minutes));
        names.push("minutes".into());
        if self.queues.callback.contains(&queue) {
            names.push("callback_offer".into());
        }
        let audio = self.resolve_prompts(lang, &names);
        self.out.push_back(Output::Media(MediaCmd::Play {
            call,
            audio,
            interruptible: false,
        }));
        let every = self.queues.announce_every;
        if let Some(q) = self.queue_leg(call) {
            q.next_announce = Some(now.at + every);
            self.timers.arm(Timer::QueueAnnounce(call), now.at + every);
        }
    }

    /// The expected wait at `position`: each caller ahead takes the
    /// queue's average handling time today, shared by the agents logged
    /// in (3 minutes a call before any is counted); at least 1.
    fn expected_wait_minutes(&self, now: Now, queue: &str, position: usize) -> u32 {
        let handle_ms = self
            .queues
            .today
            .get(queue)
            .and_then(QueueStats::average_handle_ms)
            .unwrap_or(180_000);
        let agents = self
            .queues
            .acd
            .queue(queue, now.at)
            .map_or(1, |s| s.logged_in.max(1)) as u64;
        let ms = handle_ms * position as u64 / agents;
        (ms.div_ceil(60_000)).clamp(1, 99) as u32
    }

    /// The extensions ringing with queue call `c` now.
    pub(super) fn offering<'a>(&self, c: &'a super::Call) -> impl Iterator<Item = &'a str> {
        c.queue
            .iter()
            .flat_map(|q| q.offers.iter().map(|o| o.extension.as_str()))
    }

    fn queue_leg(&mut self, call: u64) -> Option<&mut QueueLeg> {
        self.calls.get_mut(&call)?.queue.as_deref_mut()
    }

    /// The engine's own deadlines (offers ringing out, wrap-up, overflow
    /// and maximum waits).
    pub(super) fn acd_timers(&mut self, now: Now) {
        if self.queues.acd.poll_timeout().is_some_and(|t| t <= now.at) {
            self.queues.acd.handle_timeout(now.at);
            self.drive_acd(now);
        }
    }

    /// Call `call`'s waiting caller is due to hear their place again (a
    /// [`Timer::QueueAnnounce`]).
    pub(super) fn announce_due(&mut self, now: Now, call: u64) {
        let due = self
            .calls
            .get(&call)
            .filter(|c| c.state() == CallState::Flow)
            .and_then(|c| c.queue.as_ref()?.next_announce)
            .is_some_and(|t| t <= now.at);
        if due {
            self.announce_place(now, call);
        }
    }

    /// What the registrar reports of phones (see [`PhoneEvent`]): an
    /// agent whose phone unregistered, expired or stopped answering
    /// OPTIONS is logged out (or, with `[acd] phone_lost =
    /// "unreachable"`, not ready until the phone is back), so no call
    /// rings a dead phone. Reports are read after the whole input that
    /// made them, against the phone as it is then: a phone that moved
    /// its binding in one REGISTER was never lost.
    pub(super) fn phone_events(&mut self, now: Now) {
        let mut any = false;
        while let Some(e) = self.bindings.poll_event() {
            let (ext, why) = match e {
                PhoneEvent::PhoneLost { extension, why } => (extension, Some(why)),
                PhoneEvent::PhoneBack { extension } => (extension, None),
            };
            self.out
                .push_back(Output::Publish(dering_control::Event::Phone {
                    at_ms: now.wall_ms,
                    extension: ext.clone(),
                    reachable: why.is_none(),
                    why: why.map(|w| w.name().to_string()),
                }));
            let Some(agent) = self.queues.acd.agent_at(&ext).map(str::to_string) else {
                continue;
            };
            tracing::debug!(extension = %ext, %agent, ?why, "agent's phone lost or back");
            self.agent_phone(now, &agent, &ext);
            any = true;
        }
        if any {
            self.drive_acd(now);
        }
    }

    /// Puts `agent`, at `ext`, where the phone-lost policy says: logged
    /// out or not ready while the box has nowhere to ring `ext`, ready
    /// again once it has (when it was made not ready for that).
    fn agent_phone(&mut self, now: Now, agent: &str, ext: &str) {
        let gone = self.target(ext).is_none();
        let marked = self.queues.acd.agent_state(agent)
            == Some(&dering_acd::AgentState::NotReady {
                reason: UNREACHABLE.into(),
            });
        match (gone, self.queues.logout_lost, marked) {
            (true, true, _) => {
                tracing::warn!(extension = %ext, %agent, "agent's phone is gone: agent logged out");
                self.queues.acd.phone_lost(ext, now.at);
            }
            (true, false, false) => {
                tracing::warn!(extension = %ext, %agent, "agent's phone is gone: agent unreachable");
                let _ = self.queues.acd.not_ready(agent, UNREACHABLE, now.at);
            }
            (false, _, true) => {
                tracing::info!(extension = %ext, %agent, "agent's phone is back: ready");
                let _ = self.queues.acd.ready(agent, now.at);
            }
            _ => {}
        }
    }

    /// Rings `agent`'s phone with queue call `call`.
    fn offer(&mut self, now: Now, call: u64, agent: &str) {
        let Some(ext) = self.queues.acd.extension_of(agent).map(str::to_string) else {
            self.queues.acd.missed(call, agent, now.at);
            return;
        };
        let Some(target) = self.target(&ext) else {
            tracing::warn!(call, %agent, extension = %ext, "agent's phone unreachable");
            self.queues.acd.phone_lost(&ext, now.at);
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(q) = c.queue.as_deref() else {
            return;
        };
        let formats = c.answered_caller_offer();
        let caller = c.parties.caller.clone();
        // The queue's name before the caller's on the agent's display.
        let display = format!(
            "{}: {}",
            q.queue,
            c.parties.caller_name.as_deref().unwrap_or(&caller)
        );
        let mut extra = Vec::new();
        if self.queues.auto_answer.contains(agent) {
            // Yealink, Snom, Fanvil and Grandstream answer on Call-Info's
            // answer-after; Polycom and older Grandstream on Alert-Info.
            extra.push(header(
                "Call-Info",
                format!("<sip:{}>;answer-after=0", self.realm),
            ));
            extra.push(header(
                "Alert-Info",
                format!("<sip:{}>;info=alert-autoanswer;delay=0", self.realm),
            ));
        }
        let leg = BLegSpec {
            call,
            caller: &caller,
            display: &display,
            callee: &ext,
            target: &target,
            formats,
            direction: Direction::SendRecv,
            ptime: c.offer.ptime,
            b_port: c.b.port,
            extra,
        };
        let Some((dialog, key, invite)) = self.invite_b(now, leg) else {
            self.queues.acd.missed(call, agent, now.at);
            return;
        };
        tracing::info!(call, %agent, extension = %ext, "queue call offered");
        let what = dering_control::CallEventKind::Offered;
        self.call_event_at(now, call, what, &ext, Some(agent));
        self.clients.insert(key.clone(), ClientPurpose::Offer(call));
        if let Some(q) = self.queue_leg(call) {
            q.offers.push(Offer {
                agent: agent.to_string(),
                extension: ext,
                dialog,
                key,
                invite,
            });
        }
    }

    /// Stops ringing `agent` with `call`.
    fn cancel_offer(&mut self, now: Now, call: u64, agent: &str) {
        let Some(q) = self.queue_leg(call) else {
            // A callback ringing the agent's own phone: that call goes.
            let ringing = self
                .calls
                .values()
                .find(|c| {
                    c.callback_agent() == Some(agent)
                        && c.queue.as_ref().is_some_and(|q| q.acd_call == call)
                })
                .map(|c| c.id);
            if let Some(cb) = ringing {
                if let Some(c) = self.calls.get_mut(&cb) {
                    if let Some(o) = c.originated_mut() {
                        o.callback_agent = None;
                    }
                }
                self.hang_up_call(now, cb, "callback not answered in time");
            }
            return;
        };
        let Some(i) = q.offers.iter().position(|o| o.agent == agent) else {
            return;
        };
        let o = q.offers.remove(i);
        self.send_cancel_of(now, &o.invite, o.dialog.peer);
        if let Some(q) = self.queue_leg(call) {
            q.cancelled.push(o);
        }
    }

    /// A response to an offer's INVITE.
    pub(super) fn offer_response(&mut self, now: Now, call: u64, r: Reply<'_>) {
        let Reply { key, code, msg } = r;
        let Some(q) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.queue.as_deref_mut())
        else {
            return;
        };
        let live = q.offers.iter().position(|o| o.key == key);
        let Some(i) = live else {
            // A cancelled offer's answer: a 200 that crossed our CANCEL is
            // ACKed and hung up.
            if code >= 200 {
                if let Some(i) = q.cancelled.iter().position(|o| o.key == key) {
                    let mut o = q.cancelled.remove(i);
                    if code < 300 {
                        self.ack_and_bye(now, &mut o.dialog, msg);
                    }
                }
            }
            return;
        };
        if code < 200 {
            // The first ringing answer: the remote tag is not known yet.
            let o = &mut q.offers[i];
            let first = code != 100 && !o.dialog.remote.contains("tag=");
            o.dialog.learn(msg);
            if first {
                let (ext, agent) = (o.extension.clone(), o.agent.clone());
                let what = dering_control::CallEventKind::Ringing;
                self.call_event_at(now, call, what, &ext, Some(&agent));
            }
            return;
        }
        let o = q.offers.remove(i);
        if code >= 300 {
            tracing::info!(call, agent = %o.agent, code, "agent did not take the call");
            self.queues.acd.missed(call, &o.agent, now.at);
            self.drive_acd(now);
            return;
        }
        if self.queues.acd.queue_of(call).is_none() {
            // Taken by another agent a moment ago.
            let mut o = o;
            self.ack_and_bye(now, &mut o.dialog, msg);
            return;
        }
        self.offer_answered(now, call, o, msg);
    }

    /// An offer failed at the transaction layer (no response).
    pub(super) fn offer_timed_out(&mut self, now: Now, key: &str, call: u64) {
        let Some(q) = self.queue_leg(call) else {
            return;
        };
        q.cancelled.retain(|o| o.key != key);
        let Some(i) = q.offers.iter().position(|o| o.key == key) else {
            return;
        };
        let o = q.offers.remove(i);
        self.queues.acd.missed(call, &o.agent, now.at);
        self.drive_acd(now);
    }

    /// Sends the ACK for a 2xx on `d` (learning the remote tag and
    /// target), then a BYE.
    pub(super) fn ack_and_bye(&mut self, now: Now, d: &mut Dialog, msg: &Message) {
        self.listen.ack_2xx(d, msg, &mut self.out);
        d.cseq += 1;
        if let Ok(bye) = d.request(&self.listen, rsip::Method::Bye, b"") {
            self.send_request_data(now, d.peer, bye);
        }
    }

    /// The agent answered: its leg becomes the call's B leg, bridged to
    /// the caller; the engine cancels the other offers.
    fn offer_answered(&mut self, now: Now, call: u64, mut o: Offer, msg: &Message) {
        let ack = self.listen.ack_2xx(&mut o.dialog, msg, &mut self.out);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        self.by_call_id
            .insert(o.dialog.call_id.clone(), (call, Side::B));
        c.b.dialog = o.dialog;
        c.b.invite_key = o.key;
        c.b.invite = Some(o.invite);
        c.b.ack = ack;
        c.b.life = Life::Live;
        c.connected = Some(o.extension.clone());
        if let Some(f) = c.flow_mut() {
            f.connected();
        }
        if let Some(q) = c.queue.as_deref_mut() {
            q.agent = Some(o.agent.clone());
            q.next_announce = None;
        }
        self.timers.disarm(Timer::QueueAnnounce(call));
        let uuid = c.parties.uuid.clone();
        self.out.push_back(Output::Media(MediaCmd::Music {
            call,
            music: Vec::new(),
        }));
        self.queues.acd.answered(call, &o.agent, now.at);
        self.bridge_answered(call, msg);
        tracing::info!(call, %uuid, agent = %o.agent, "queue call answered");
        self.set_state(now, call, CallState::Answered);
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "bridged".into(),
            detail: Some(format!("agent {} at {}", o.agent, o.extension)),
        });
        self.drive_acd(now);
    }

    /// The caller leaves the queue for its backup number `b`, through the
    /// outbound routes under the queue's backup permission; when no route
    /// or trunk can take the call now, for `to` as without a backup. The
    /// caller's leg stays at the box, bridged when the backup answers,
    /// like a flow's connection (a failure later takes the flow's
    /// fallback, see `flow_member_failed`).
    fn leave_for_backup(&mut self, now: Now, call: u64, b: Backup, to: Destination) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.state() != CallState::Flow {
            return;
        }
        let caller = c.parties.caller.clone();
        let uuid = c.parties.uuid.clone();
        let queue = c
            .queue
            .as_deref()
            .map(|q| q.queue.clone())
            .unwrap_or_default();
        self.permit_outside(call, b.permission);
        if !self.ring_outside(now, call, &caller, &b.number, None) {
            tracing::warn!(call, %queue, "backup number not reachable now");
            self.leave_queue(now, call, to);
            return;
        }
        tracing::info!(call, %queue, "caller sent to the queue's backup number");
        self.out.push_back(Output::Media(MediaCmd::Music {
            call,
            music: Vec::new(),
        }));
        self.timers.disarm(Timer::QueueAnnounce(call));
        if let Some(c) = self.calls.get_mut(&call) {
            // An outside call from here: its record and busy accounting
            // are an ordinary call's.
            c.queue = None;
            c.ringing_member = Some(b.number.clone());
        }
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "backup".into(),
            detail: Some(format!("{queue} -> {}", b.number)),
        });
    }

    /// The caller leaves the queue for `to`.
    fn leave_queue(&mut self, now: Now, call: u64, to: Destination) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.state() != CallState::Flow {
            return;
        }
        self.out.push_back(Output::Media(MediaCmd::Music {
            call,
            music: Vec::new(),
        }));
        if let Some(q) = self.queue_leg(call) {
            q.next_announce = None;
        }
        self.timers.disarm(Timer::QueueAnnounce(call));
        if !matches!(to, Destination::Queue(_)) {
            // No longer a queue's call: its record and busy accounting
            // are an ordinary call's from here. (A 200 from an agent that
            // crosses the CANCEL now goes unanswered; the phone gives up
            // on its own, RFC 3261 §13.3.1.4.)
            if let Some(c) = self.calls.get_mut(&call) {
                c.queue = None;
            }
        }
        match to {
            Destination::Queue(q) => self.enter_queue(now, call, &q),
            Destination::Flow(f) => self.restart_flow(now, call, &f),
            // The flow that sent the caller takes its fallback.
            Destination::Hangup => {
                if !self.flow_fallback(now, call) {
                    self.announce_and_hang_up(call, "goodbye");
                }
            }
        }
    }

    /// The ACD's share of the call events: a call that starts makes its
    /// caller's and callee's agents busy; one that ends frees them and
    /// tells the engine.
    pub(super) fn acd_call_event(&mut self, now: Now, event: CallChange<'_>) {
        match event {
            CallChange::Started(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                let caller = c.parties.caller.clone();
                let callee = c
                    .connected
                    .clone()
                    .unwrap_or_else(|| c.parties.callee.clone());
                self.refresh_busy(now, &caller);
                self.refresh_busy(now, &callee);
            }
            CallChange::Moved(..) => {}
            CallChange::Ended(c, ending) => self.queue_call_gone(now, c, ending.by),
        }
    }

    /// A call has ended: its offers are cancelled and the engine learns
    /// whether the caller gave up waiting, the box lost the call, or an
    /// agent's call completed. Agents on the call are free again.
    fn queue_call_gone(&mut self, now: Now, c: &super::Call, by: &str) {
        if let Some(q) = &c.queue {
            for o in &q.offers {
                self.clients.remove(&o.key);
                self.send_cancel_of(now, &o.invite, o.dialog.peer);
            }
            let id = q.acd_call;
            if self.queues.acd.callback_pending(id) {
                // The caller hung up to be called back: its place is kept.
            } else if self.queues.acd.queue_of(id).is_some() {
                if by == "system" {
                    self.queues.acd.dropped(id, now.at);
                } else {
                    self.queues.acd.abandon(id, now.at);
                }
            } else if self.queues.acd.serving(id).is_some() {
                self.queues.acd.completed(id, now.at);
            }
        }
        for ext in [
            Some(c.parties.caller.as_str()),
            c.connected.as_deref(),
            Some(c.parties.callee.as_str()),
        ]
        .into_iter()
        .flatten()
        {
            self.refresh_busy(now, ext);
        }
        self.drive_acd(now);
    }

    /// Tells the engine whether the agent at `ext` is on a call that is
    /// not a queue's (busy for the queues).
    pub(super) fn refresh_busy(&mut self, now: Now, ext: &str) {
        let Some(agent) = self.queues.acd.agent_at(ext).map(str::to_string) else {
            return;
        };
        let busy = self.calls.values().any(|c| {
            c.queue.is_none()
                && c.feature().is_none()
                && c.state() != CallState::Ending
                && (c.parties.caller == ext
                    || c.connected.as_deref() == Some(ext)
                    || c.ringing_member.as_deref() == Some(ext)
                    || (c.flow().is_none() && c.parties.callee == ext))
        });
        self.queues.acd.agent_busy(&agent, busy, now.at);
    }

    /// The engine's id of box call `call` (see [`QueueLeg::acd_call`]).
    fn acd_id(&self, call: u64) -> u64 {
        self.calls
            .get(&call)
            .and_then(|c| c.queue.as_ref())
            .map_or(call, |q| q.acd_call)
    }

    /// The agent's queue call was transferred to `to`: the agent's part
    /// is over, and the call is an ordinary one from here.
    pub(super) fn queue_transferred(&mut self, now: Now, call: u64, to: &str) {
        let id = self.acd_id(call);
        if self.queues.acd.serving(id).is_none() {
            return;
        }
        self.queues.acd.transferred(id, to, now.at);
        if let Some(c) = self.calls.get_mut(&call) {
            c.queue = None;
        }
        self.drive_acd(now);
    }

    /// The queue call was put on hold or resumed by a party (hold time is
    /// booked apart from talk time).
    pub(super) fn queue_hold(&mut self, now: Now, call: u64, held: bool) {
        let id = self.acd_id(call);
        if self.queues.acd.serving(id).is_some() {
            self.queues.acd.hold(id, held, now.at);
            self.drive_acd(now);
        }
    }

    // ---- callbacks -----------------------------------------------------

    /// A key from a caller waiting in a queue: 1 asks to be called back
    /// (where the queue offers it). `true` when the key was taken.
    pub(super) fn queue_digit(&mut self, now: Now, call: u64, key: char) -> bool {
        let Some(c) = self
            .calls
            .get(&call)
            .filter(|c| c.state() == CallState::Flow)
        else {
            return false;
        };
        let Some(q) = c.queue.as_deref() else {
            return false;
        };
        if key != '1'
            || !self.queues.callback.contains(&q.queue)
            || self.queues.acd.queue_of(call).is_none()
        {
            return q.agent.is_none() && self.queues.acd.queue_of(call).is_some();
        }
        let number = c.parties.caller.clone();
        if let Err(e) = self.queues.acd.request_callback(call, &number, now.at) {
            tracing::warn!(call, error = %e, "callback refused");
            return true;
        }
        tracing::info!(call, caller = %dering_daemon::redact::number(&number), "callback asked: place kept");
        self.drive_acd(now);
        self.out.push_back(Output::Media(MediaCmd::Music {
            call,
            music: Vec::new(),
        }));
        self.announce_and_hang_up(call, "callback_confirmed");
        true
    }

    /// The engine asks to call back the caller of queue call `id` at
    /// `number` with `agent`: the agent's phone first (auto-answer), then
    /// the caller. Only the box's own extensions can be called (no trunks
    /// yet); another number is dropped, loudly.
    fn call_back(&mut self, now: Now, id: u64, agent: &str, number: &str) {
        let Some(ext) = self.queues.acd.extension_of(agent).map(str::to_string) else {
            self.queues.acd.missed(id, agent, now.at);
            return;
        };
        let queue = self.queues.acd.queue_of(id).unwrap_or_default().to_string();
        // An outside number is called under the queue's callback
        // permission (TEL-5), through a route's trunks.
        let outside = !self.users.contains_key(number);
        let permission = self.callback_permission(&queue);
        if outside
            && self
                .outward_for(now, &ext, number, Some(permission))
                .is_err()
        {
            tracing::error!(
                call = id,
                "callback to an outside number not permitted or not routed"
            );
            self.queues.acd.dropped(id, now.at);
            return;
        }
        match self.ring_own_phone(now, &ext, number, None) {
            Ok((call, _)) => {
                if outside {
                    self.permit_outside(call, permission);
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.queue = Some(Box::new(QueueLeg {
                        queue,
                        priority: 0,
                        offers: Vec::new(),
                        cancelled: Vec::new(),
                        next_announce: None,
                        lang: Lang::Id,
                        agent: None,
                        acd_call: id,
                    }));
                    if let Some(o) = c.originated_mut() {
                        o.callback_agent = Some(agent.to_string());
                    }
                }
                tracing::info!(call = id, %agent, "calling back: ringing the agent");
            }
            Err(e) => {
                tracing::warn!(call = id, %agent, error = %e, "callback: agent's phone not rung");
                self.queues.acd.missed(id, agent, now.at);
            }
        }
    }

    /// The agent's phone answered a callback (`answered`) or did not.
    pub(super) fn callback_leg(&mut self, now: Now, call: u64, answered: bool) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(agent) = c.originated_mut().and_then(|o| o.callback_agent.take()) else {
            return;
        };
        let Some(q) = c.queue.as_deref_mut() else {
            return;
        };
        let id = q.acd_call;
        if answered {
            q.agent = Some(agent.clone());
            self.queues.acd.answered(id, &agent, now.at);
        } else {
            self.queues.acd.missed(id, &agent, now.at);
        }
        self.drive_acd(now);
    }

    // ---- agents --------------------------------------------------------

    /// An agent code dialled from `who`'s phone, with everything needed:
    /// the prompt that answers it.
    pub(super) fn agent_code(&mut self, now: Now, who: &str, code: &AgentCode) -> &'static str {
        let result = match code {
            AgentCode::Login {
                agent: Some(agent),
                pin: Some(pin),
            } => self.agent_login(now, agent, pin, who),
            AgentCode::Login { .. } => return "invalid",
            AgentCode::NotReady { code: None } => return "invalid",
            other => {
                let Some(agent) = self.queues.acd.agent_at(who).map(str::to_string) else {
                    return "not_agent";
                };
                match other {
                    AgentCode::Logout => self.queues.acd.logout(&agent, now.at),
                    AgentCode::Ready => self.queues.acd.ready(&agent, now.at),
                    AgentCode::EndWrapup => self.queues.acd.end_wrapup(&agent, now.at),
                    AgentCode::NotReady { code: Some(code) } => {
                        self.agent_not_ready(now, &agent, code)
                    }
                    _ => return "invalid",
                }
            }
        };
        self.drive_acd(now);
        match (result, code) {
            (Ok(()), AgentCode::Login { .. }) => "agent_in",
            (Ok(()), AgentCode::Logout) => "agent_out",
            (Ok(()), AgentCode::Ready) => "agent_ready",
            (Ok(()), AgentCode::NotReady { .. }) => "agent_not_ready",
            (Ok(()), AgentCode::EndWrapup) => "wrapup_done",
            (Err(AcdError::WrongPin(_) | AcdError::NoAgent(_)), _) => "wrong_pin",
            (Err(AcdError::NotLoggedIn(_)), _) => "not_agent",
            (Err(e), _) => {
                tracing::info!(error = %e, "agent code refused");
                "invalid"
            }
        }
    }

    /// Logs `agent` in at `extension` (a phone of the box).
    pub fn agent_login(
        &mut self,
        now: Now,
        agent: &str,
        pin: &str,
        extension: &str,
    ) -> Result<(), AcdError> {
        if !self.users.contains_key(extension) {
            return Err(AcdError::NoAgent(format!("{agent} (no phone {extension})")));
        }
        let r = self.queues.acd.login(agent, pin, extension, now.at);
        match &r {
            Ok(()) => {
                tracing::info!(%agent, %extension, "agent logged in");
                // The registrar reports changes only: a phone that was
                // already gone is found here.
                self.agent_phone(now, agent, extension);
            }
            Err(e) => tracing::warn!(%agent, %extension, error = %e, "agent login refused"),
        }
        self.refresh_busy(now, extension);
        self.drive_acd(now);
        r
    }

    fn agent_not_ready(&mut self, now: Now, agent: &str, code: &str) -> Result<(), AcdError> {
        let Some(reason) = self.queues.reasons.get(code).cloned() else {
            return Err(AcdError::NoQueue(format!("reason code {code}")));
        };
        self.queues.acd.not_ready(agent, &reason, now.at)
    }

    /// The control socket's agent commands (the agent desktop), through
    /// the same engine calls as the dial strings.
    pub fn agent_command(&mut self, now: Now, req: AgentAction) -> Result<(), ControlError> {
        let r = match req {
            AgentAction::Login {
                agent,
                pin,
                extension,
            } => self.agent_login(now, &agent, &pin, &extension),
            AgentAction::Logout { agent } => self.queues.acd.logout(&agent, now.at),
            AgentAction::Ready { agent } => self.queues.acd.ready(&agent, now.at),
            AgentAction::NotReady { agent, code } => self.agent_not_ready(now, &agent, &code),
            AgentAction::EndWrapup { agent } => self.queues.acd.end_wrapup(&agent, now.at),
        };
        self.drive_acd(now);
        r.map_err(ControlError::from)
    }

    pub fn agents(&self, now: Now) -> Vec<AgentView> {
        self.queues
            .acd
            .agents()
            .into_iter()
            .map(|a| AgentView {
                since_ms: now.wall_ms
                    - i64::try_from(now.at.saturating_duration_since(a.since).as_millis())
                        .unwrap_or(0),
                agent: a.id,
                name: a.name,
                extension: a.extension,
                state: a.state,
                calls: a.calls,
            })
            .collect()
    }

    pub fn queue_views(&self, now: Now) -> Vec<QueueView> {
        let today = self.queues.day_start(now.wall_ms);
        self.queues
            .acd
            .queue_names()
            .filter_map(|name| {
                let s = self.queues.acd.queue(name, now.at)?;
                let stats = if self.queues.day_start_ms == today {
                    self.queues.today.get(name).cloned().unwrap_or_default()
                } else {
                    QueueStats::default()
                };
                Some(QueueView {
                    queue: name.to_string(),
                    strategy: s.strategy,
                    waiting: s.waiting,
                    longest_wait_ms: u64::try_from(s.longest_wait.as_millis()).unwrap_or(u64::MAX),
                    agents_logged_in: s.logged_in,
                    agents_ready: s.ready,
                    service_level: stats.service_level(),
                    today: stats,
                })
            })
            .collect()
    }

    /// A CANCEL for the INVITE `inv` (§9.1: it copies the INVITE's
    /// Request-URI, Via, From, To, Call-ID and CSeq number).
    pub(super) fn send_cancel_of(
        &mut self,
        now: Now,
        inv: &Message,
        peer: dering_sip::transaction::Peer,
    ) {
        let Some(data) = build::request(RequestSpec {
            method: rsip::Method::Cancel,
            uri: inv.request_uri().unwrap_or_default(),
            via: inv.get("Via").unwrap_or_default().to_string(),
            from: inv.get("From").unwrap_or_default().to_string(),
            to: inv.get("To").unwrap_or_default().to_string(),
            call_id: inv.call_id().unwrap_or_default(),
            cseq: inv.cseq().map(|c| c.0).unwrap_or(1),
            contact: None,
            extra: vec![],
            content_type: None,
            body: b"",
        })
        .ok() else {
            return;
        };
        if let Ok(m) = Message::parse_datagram(&data) {
            if let Some(k) = self.tx.send_request(now.at, peer, m, data) {
                self.clients.insert(k, ClientPurpose::InDialog);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CMS-2: "today" starts at WIB midnight, not UTC's.
    #[test]
    fn the_day_starts_at_local_midnight() {
        let cfg = Config::embedded().unwrap();
        let q = Queues::new(&cfg, Instant::now());
        // 2026-11-22 17:30 UTC is 2026-11-23 00:30 WIB.
        let t = 1_795_282_200_000;
        let start = q.day_start(t);
        assert_eq!(t - start, 30 * 60_000);
        assert_eq!(q.day_start(start - 1), start - 86_400_000);
    }

    #[test]
    fn destinations_parse() {
        assert_eq!(destination("queue:x"), Destination::Queue("x".into()));
        assert_eq!(destination("flow:f"), Destination::Flow("f".into()));
        assert_eq!(destination("hangup"), Destination::Hangup);
    }
}
