//! Calls the box answers itself (IVR-1..3, ACD-3, ACD-8, ACD-9, TEL-10):
//! a number (DID) maps to a call flow; the caller's leg is answered here,
//! its media ends at a local endpoint on the relay (prompts out, keys
//! in), and a [`Session`] decides what happens. When the flow connects
//! the caller to an extension or a ring group, a B leg is built like any
//! call's and, once it answers, the relay bridges the two legs.
//!
//! Flows are versioned: publishing a new version swaps what new calls
//! get, while each call keeps the `Arc` of the version it started with.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use dering_flow::{Action, Flow, LocalTime, Session, Target};
use dering_media::prompts::Prompts;
use dering_media::speech::Lang;
use dering_sip::sdp::{AudioSdp, Direction};
use dering_sip::Message;
use dering_store::{CallParties, Op};
use serde::Serialize;

use super::media_to;
use super::timers::Timer;
use super::{
    BLegSpec, Call, CallKind, CallState, Core, Dialog, Inbound, Life, MediaCmd, Now, Output, Reply,
    Side,
};
use crate::config::{Config, DidTarget};

/// The flow part of a call.
#[derive(Debug)]
pub(super) struct FlowLeg {
    session: Session,
    /// (when, id) of the session's pending timer.
    timer: Option<(Instant, u64)>,
    /// Extensions still to try for the current connection.
    members: VecDeque<String>,
}

/// The box's flows, the numbers they answer and the prompts they play.
#[derive(Debug)]
pub(super) struct Flows {
    /// By the number's E.164 form (TEL-10): (the number as configured,
    /// what answers it).
    dids: HashMap<String, (String, DidTarget)>,
    /// The box's area code, which short numbers called get.
    area_code: u16,
    current: HashMap<String, (i64, Arc<Flow>)>,
    prompts: Arc<Prompts>,
    utc_offset_minutes: i32,
    /// The configuration's named calendars, for time nodes that name one.
    calendars: Arc<dering_flow::Calendars>,
    music_class: String,
}

/// A flow as `dering flows` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FlowView {
    pub name: String,
    pub version: i64,
    pub numbers: Vec<String>,
}

impl FlowLeg {
    pub(super) fn flow_name(&self) -> &str {
        self.session.flow_name()
    }

    /// The connection was made: the flow's part is over.
    pub(super) fn connected(&mut self) {
        self.session.on_connected();
        self.timer = None;
    }

    /// The language the caller chose (prompts of a queue are in it).
    pub(super) fn lang(&self) -> Lang {
        self.session.lang()
    }
}

impl Flows {
    pub(super) fn new(cfg: &Config) -> Flows {
        Flows {
            dids: cfg
                .dids
                .iter()
                .map(|d| (d.e164.clone(), (d.number.clone(), d.target.clone())))
                .collect(),
            area_code: cfg.numbering.area_code,
            current: HashMap::new(),
            prompts: Arc::new(Prompts::default()),
            utc_offset_minutes: cfg.flows.utc_offset_minutes,
            calendars: Arc::new(dering_config::calendars(&cfg.calendars)),
            music_class: cfg.calls.music_on_hold.clone(),
        }
    }

    /// A new configuration (TEL-8): the numbers and their flows, the
    /// clock offset and the music class, for calls from now on; calls in
    /// a flow keep the version they started with.
    pub(super) fn reconfigure(&mut self, cfg: &Config) {
        let fresh = Flows::new(cfg);
        self.dids = fresh.dids;
        self.area_code = fresh.area_code;
        self.utc_offset_minutes = fresh.utc_offset_minutes;
        self.calendars = fresh.calendars;
        self.music_class = fresh.music_class;
    }

    /// The box's area code (TEL-10).
    pub(super) fn area_code(&self) -> u16 {
        self.area_code
    }

    /// What answers the DID `number` (`137`, `0211500137`,
    /// `+62 21 1500137`: the DID's E.164 form decides, TEL-10).
    pub(super) fn did(&self, number: &str) -> Option<&DidTarget> {
        let e164 = dering_telco::inbound_e164(number, self.area_code)?;
        self.dids.get(&e164).map(|(_, target)| target)
    }

    /// The flow that answers `number`, if a flow does.
    fn flow_of(&self, number: &str) -> Option<&str> {
        match self.did(number)? {
            DidTarget::Flow(f) => Some(f),
            DidTarget::Extension(_) | DidTarget::Queue(_) => None,
        }
    }

    /// The flows' numbers: (as configured, the flow's name).
    fn flow_numbers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dids.values().filter_map(|(n, t)| match t {
            DidTarget::Flow(f) => Some((n.as_str(), f.as_str())),
            DidTarget::Extension(_) | DidTarget::Queue(_) => None,
        })
    }

    /// The music on hold of the configured class (queues will have their
    /// own).
    pub(super) fn music(&self) -> Vec<Arc<[i16]>> {
        self.prompts.music(&self.music_class).into_iter().collect()
    }

    pub(super) fn utc_offset(&self) -> i32 {
        self.utc_offset_minutes
    }

    fn local_time(&self, now: Now) -> LocalTime {
        LocalTime::from_wall_ms(now.wall_ms, self.utc_offset_minutes)
    }
}

/// Why a flow was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not a flow document: {0}")]
    Parse(String),
    #[error(transparent)]
    Invalid(#[from] dering_flow::Invalid),
}

impl Core {
    /// The prompts and the stored flows (newest version of each), at
    /// start. Flows that no longer validate are skipped with an error.
    pub fn set_media(&mut self, prompts: Arc<Prompts>, flows: Vec<(String, i64, String)>) {
        self.flows.prompts = prompts;
        if !self.flows.prompts.has_music(&self.flows.music_class) {
            tracing::warn!(class = %self.flows.music_class, "no such music-on-hold class: the default plays");
        }
        for (name, version, doc) in flows {
            match Flow::from_json(&doc) {
                Ok(f) => match f.validate(|l, p| self.flows.prompts.contains(l, p)) {
                    Ok(()) => {
                        self.flows.current.insert(name, (version, Arc::new(f)));
                    }
                    Err(e) => tracing::error!(error = %e, version, "stored flow no longer valid"),
                },
                Err(e) => tracing::error!(%name, version, error = %e, "stored flow unreadable"),
            }
        }
        for (number, flow) in self.flows.flow_numbers() {
            if !self.flows.current.contains_key(flow) {
                tracing::warn!(%number, %flow, "number answered by a flow that does not exist yet");
            }
        }
    }

    /// A new prompt library (a prompt uploaded, recorded from a phone,
    /// replaced or deleted): what the next prompt played is taken from.
    /// Prompts already sent to a call's endpoint are its own `Arc`s, so a
    /// call hearing the old one finishes it.
    pub fn set_prompts(&mut self, prompts: Arc<Prompts>) {
        self.flows.prompts = prompts;
        if !self.flows.prompts.has_music(&self.flows.music_class) {
            tracing::warn!(class = %self.flows.music_class, "no such music-on-hold class: the default plays");
        }
    }

    /// Validates and publishes `document` as the next version of its
    /// flow: new calls get it at once, calls in progress keep theirs.
    pub fn publish_flow(
        &mut self,
        now: Now,
        document: &str,
    ) -> Result<(String, i64), PublishError> {
        let flow = Flow::from_json(document).map_err(|e| PublishError::Parse(e.to_string()))?;
        flow.validate(|l, p| self.flows.prompts.contains(l, p))?;
        let unknown: Vec<String> = flow
            .calendars()
            .into_iter()
            .filter(|c| !self.flows.calendars.contains_key(*c))
            .map(|c| format!("calendar `{c}` is not in the configuration ([[calendar]])"))
            .collect();
        if !unknown.is_empty() {
            return Err(PublishError::Invalid(dering_flow::Invalid {
                flow: flow.name.clone(),
                problems: unknown,
            }));
        }
        let name = flow.name.clone();
        let version = self.flows.current.get(&name).map_or(1, |(v, _)| v + 1);
        self.store(Op::FlowVersion {
            name: name.clone(),
            version,
            document: flow.to_json(),
            at_ms: now.wall_ms,
        });
        tracing::info!(flow = %name, version, "flow published");
        self.flows
            .current
            .insert(name.clone(), (version, Arc::new(flow)));
        Ok((name, version))
    }

    pub fn flows(&self) -> Vec<FlowView> {
        let mut v: Vec<FlowView> = self
            .flows
            .current
            .iter()
            .map(|(name, (version, _))| {
                let mut numbers: Vec<String> = self
                    .flows
                    .flow_numbers()
                    .filter(|(_, f)| f == name)
                    .map(|(n, _)| n.to_string())
                    .collect();
                numbers.sort();
                FlowView {
                    name: name.clone(),
                    version: *version,
                    numbers,
                }
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A caller the block list turns away (ACD-6): refused, or answered
    /// for the announcement and hung up. Gives the call back otherwise.
    fn turn_away_blocked(&mut self, now: Now, call: Inbound) -> Option<Inbound> {
        if self.refuse_blocked(now, &call) {
            return None;
        }
        if !self.blocked_with_announcement(&call.caller) {
            return Some(call);
        }
        let number = call.number.clone();
        if let Some(id) = self.answer_here(now, call, "blocked".into(), None) {
            if let Some(c) = self.calls.get(&id) {
                let uuid = c.parties.uuid.clone();
                self.store(Op::CallEvent {
                    uuid,
                    at_ms: now.wall_ms,
                    kind: "blocked".into(),
                    detail: Some(number),
                });
            }
            self.announce_and_hang_up(id, "blocked");
        }
        None
    }

    /// A call to a DID that rings a queue (TEL-10): answered here and
    /// queued at once, unless the caller is blocked.
    pub(super) fn start_queue_call(&mut self, now: Now, call: Inbound, queue: &str) {
        let Some(call) = self.turn_away_blocked(now, call) else {
            return;
        };
        if let Some(id) = self.answer_here(now, call, queue.to_string(), None) {
            tracing::info!(call = id, %queue, "a DID's call queued");
            self.enter_queue(now, id, queue);
        }
    }

    /// A call to a number answered by a flow: answer it here (unless the
    /// caller is blocked, ACD-6).
    pub(super) fn start_flow_call(&mut self, now: Now, call: Inbound) {
        let Some(call) = self.turn_away_blocked(now, call) else {
            return;
        };
        let number = &call.number;
        let flow_name = self.flows.flow_of(number).unwrap_or_default().to_string();
        let Some((version, flow)) = self.flows.current.get(&flow_name).cloned() else {
            tracing::error!(%number, flow = %flow_name, "no such flow published");
            self.respond(now, &call.key, &call.req, 480, vec![]);
            return;
        };
        let Some(id) = self.answer_here(now, call, flow_name, None) else {
            return;
        };
        let (session, actions) = Session::start_with(
            flow,
            version,
            self.flows.local_time(now),
            self.flows.calendars.clone(),
        );
        if let Some(c) = self.calls.get_mut(&id) {
            tracing::info!(call = id, uuid = %c.parties.uuid, version, "call answered by a flow");
            c.kind = CallKind::Flow(Box::new(FlowLeg {
                session,
                timer: None,
                members: VecDeque::new(),
            }));
        }
        self.apply_flow(now, id, actions);
    }

    /// Answers a call at the box (a flow, a conference room, a
    /// supervisor's feature code): ports, the media on the relay thread of
    /// `group` (the call's own by default) ending at a local endpoint, and
    /// the 200 once the call's start and answer are committed. `label`
    /// names what answered in the record. Returns the call's id, or `None`
    /// when the caller was refused (and answered so).
    pub(super) fn answer_here(
        &mut self,
        now: Now,
        call: Inbound,
        label: String,
        group: Option<u64>,
    ) -> Option<u64> {
        let Inbound {
            peer,
            key,
            req,
            caller,
            number,
            source,
        } = call;
        let key = key.as_str();
        let Ok(offer) = AudioSdp::parse(&req.body) else {
            self.respond(now, key, &req, 488, vec![]);
            return None;
        };
        let (Some((codec, format)), Ok(a_sock)) = (
            super::known_formats(&offer).into_iter().next(),
            offer.addr_port(),
        ) else {
            self.respond(now, key, &req, 488, vec![]);
            return None;
        };
        let mut formats = vec![format];
        formats.extend(offer.telephone_event().cloned());
        let event_pt = offer.telephone_event().map(|f| f.pt);
        let Some((a_port, b_port)) = self.take_ports(now) else {
            tracing::error!("RTP port range exhausted");
            self.respond(now, key, &req, 503, vec![]);
            return None;
        };
        let id = self.next_call;
        self.next_call += 1;
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let a = Dialog::from_invite(&req, peer, self.listen.tokens.token(10));
        let caller_name = self.users.get(&caller).map(|u| u.name.clone());
        let parties = CallParties {
            uuid: uuid.clone(),
            caller,
            caller_name,
            callee: number,
            callee_name: Some(label),
            start_ms: now.wall_ms,
            answer_ms: Some(now.wall_ms),
        };
        self.store(Op::CallStart(parties.clone()));
        if let Some(s) = &source {
            self.tag_source(now, &uuid, s);
        }
        tracing::info!(
            call = id,
            %uuid,
            from = %dering_daemon::redact::number(&parties.caller),
            to = %parties.callee,
            "call answered by the box"
        );
        self.by_call_id.insert(a.call_id.clone(), (id, Side::A));
        self.by_a_key.insert(key.to_string(), id);
        self.a_invites.insert(key.to_string(), req.clone());
        // No B leg yet.
        let b = Dialog::placeholder(peer);
        let group = group.unwrap_or(id);
        let mut c = Call::new(id, parties, (a, b), req, offer, (a_port, b_port), now.at)
            .starting_in(CallState::Flow);
        c.a.invite_key = key.to_string();
        c.a.codec = Some(codec);
        c.a.formats = formats.clone();
        c.b.life = Life::Absent;
        c.group = group;
        self.calls.insert(id, c);
        self.open_media(id, a_port, b_port, a_sock, group);
        self.out.push_back(Output::Media(MediaCmd::Local {
            call: id,
            codec,
            event_pt,
        }));
        let body = self.a_sdp(id, formats, Direction::SendRecv);
        if let Some((a_key, data)) = self.response_to_a(id, 200, &body, vec![]) {
            self.respond_after(
                Op::CallAnswered {
                    uuid,
                    at_ms: now.wall_ms,
                    codec: codec.name().to_string(),
                },
                a_key,
                200,
                data,
            );
        }
        Some(id)
    }

    /// Starts flow `name` afresh on `call` (a queue overflowing to a
    /// flow); with no such flow, the caller hears goodbye.
    pub(super) fn restart_flow(&mut self, now: Now, call: u64, name: &str) {
        let Some((version, flow)) = self.flows.current.get(name).cloned() else {
            tracing::error!(call, flow = %name, "no such flow published");
            self.announce_and_hang_up(call, "goodbye");
            return;
        };
        let (session, actions) = Session::start_with(
            flow,
            version,
            self.flows.local_time(now),
            self.flows.calendars.clone(),
        );
        if let Some(c) = self.calls.get_mut(&call) {
            c.kind = CallKind::Flow(Box::new(FlowLeg {
                session,
                timer: None,
                members: VecDeque::new(),
            }));
        }
        self.apply_flow(now, call, actions);
    }

    /// The flow's connection failed: it takes its fallback. `false` when
    /// it has none (the call is not in a flow waiting on a connection).
    pub(super) fn flow_fallback(&mut self, now: Now, call: u64) -> bool {
        let t = self.flows.local_time(now);
        let actions = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.flow_mut())
            .map(|f| f.session.on_connect_failed(t))
            .unwrap_or_default();
        if actions.is_empty() {
            return false;
        }
        self.apply_flow(now, call, actions);
        true
    }

    /// A key or the end of playback from a call's local endpoint.
    pub fn handle_media_event(&mut self, now: Now, event: crate::endpoint::MediaEvent) {
        use crate::endpoint::MediaEvent;
        let call = match event {
            MediaEvent::InCallKey { call, side, key } => {
                self.in_call_key(now, call, side, key);
                self.drain_tx(now);
                return;
            }
            MediaEvent::Digit { call, .. }
            | MediaEvent::PlayDone { call }
            | MediaEvent::Captured { call, .. } => call,
        };
        if self.calls.get(&call).is_some_and(|c| c.feature().is_some()) {
            self.feature_media_event(now, event);
            self.drain_tx(now);
            return;
        }
        let t = self.flows.local_time(now);
        let (call, actions) = match event {
            MediaEvent::Digit { call, key } => {
                if self.queue_digit(now, call, key) {
                    self.drain_tx(now);
                    return;
                }
                let Some(f) = self.flow_leg(call) else {
                    return;
                };
                tracing::debug!(call, %key, "key");
                (call, f.session.on_digit(key, t))
            }
            MediaEvent::PlayDone { call } => {
                let Some(f) = self.flow_leg(call) else {
                    return;
                };
                (call, f.session.on_playback_done(t))
            }
            MediaEvent::InCallKey { .. } | MediaEvent::Captured { .. } => return,
        };
        self.apply_flow(now, call, actions);
        self.drain_tx(now);
    }

    fn flow_leg(&mut self, call: u64) -> Option<&mut FlowLeg> {
        self.calls
            .get_mut(&call)
            .filter(|c| c.state() == CallState::Flow)
            .and_then(|c| c.flow_mut())
    }

    /// Call `call`'s flow step waited its time (a [`Timer::FlowStep`]).
    pub(super) fn flow_timer(&mut self, now: Now, call: u64) {
        let t = self.flows.local_time(now);
        let Some(f) = self.flow_leg(call) else {
            return;
        };
        let Some((_, id)) = f.timer.filter(|(at, _)| *at <= now.at) else {
            return;
        };
        f.timer = None;
        let actions = f.session.on_timeout(id, t);
        self.apply_flow(now, call, actions);
    }

    fn apply_flow(&mut self, now: Now, call: u64, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Play {
                    lang,
                    prompts,
                    interruptible,
                } => {
                    let audio = self.resolve_prompts(lang, &prompts);
                    self.out.push_back(Output::Media(MediaCmd::Play {
                        call,
                        audio,
                        interruptible,
                    }));
                }
                Action::StopPlayback => {
                    self.out
                        .push_back(Output::Media(MediaCmd::StopPlay { call }));
                }
                Action::Timer { id, seconds } => {
                    let at = now.at + std::time::Duration::from_secs(seconds.into());
                    if let Some(f) = self.flow_leg(call) {
                        f.timer = Some((at, id));
                        self.timers.arm(Timer::FlowStep(call), at);
                    }
                }
                Action::Count { node, choice } => {
                    let Some(c) = self.calls.get(&call) else {
                        continue;
                    };
                    let Some(f) = c.flow() else {
                        continue;
                    };
                    let op = Op::FlowCount {
                        flow: f.session.flow_name().to_string(),
                        version: f.session.version(),
                        node,
                        choice,
                    };
                    self.store(op);
                }
                Action::Connect(target) => {
                    let members: VecDeque<String> = match target {
                        Target::Extension(n) => [n].into(),
                        Target::RingGroup(v) => v.into(),
                        Target::Queue(q) => {
                            self.enter_queue(now, call, &q);
                            continue;
                        }
                    };
                    if let Some(f) = self.flow_leg(call) {
                        f.members = members;
                    }
                    self.connect_next_member(now, call);
                }
                Action::Hangup => {
                    self.hang_up_here(now, call, "flow ended");
                    return;
                }
            }
        }
    }

    /// Prompts in `lang`, falling back to the other language for any the
    /// deployment only recorded in one.
    pub(super) fn resolve_prompts(&self, lang: Lang, names: &[String]) -> Vec<Arc<[i16]>> {
        let other = match lang {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        };
        names
            .iter()
            .filter_map(|n| {
                let p = self
                    .flows
                    .prompts
                    .get(lang, n)
                    .or_else(|| self.flows.prompts.get(other, n));
                if p.is_none() {
                    tracing::warn!(prompt = %n, "prompt missing");
                }
                p
            })
            .collect()
    }

    /// Rings the next reachable member of the flow's connection; when none
    /// is left, the flow takes its fallback.
    fn connect_next_member(&mut self, now: Now, call: u64) {
        loop {
            let Some(member) = self.flow_leg(call).and_then(|f| f.members.pop_front()) else {
                let t = self.flows.local_time(now);
                let actions = self
                    .flow_leg(call)
                    .map(|f| f.session.on_connect_failed(t))
                    .unwrap_or_default();
                if actions.is_empty() {
                    // No flow to fall back on (a DID's queue whose backup
                    // failed): the caller is not left in silence.
                    self.announce_and_hang_up(call, "goodbye");
                    return;
                }
                self.apply_flow(now, call, actions);
                return;
            };
            let Some(target) = self.target(&member) else {
                if self.flow_rings_outside(now, call, &member) {
                    return;
                }
                tracing::debug!(call, %member, "not reachable; next");
                continue;
            };
            let Some(c) = self.calls.get(&call) else {
                return;
            };
            let formats = c.answered_caller_offer();
            let caller = c.parties.caller.clone();
            let display = c
                .parties
                .caller_name
                .clone()
                .unwrap_or_else(|| caller.clone());
            let leg = BLegSpec {
                call,
                caller: &caller,
                display: &display,
                callee: &member,
                target: &target,
                formats,
                direction: Direction::SendRecv,
                ptime: c.offer.ptime,
                b_port: c.b.port,
                extra: vec![],
            };
            let Some(invite) = self.invite_b(now, leg) else {
                continue;
            };
            let Some(c) = self.ring_b(now, call, invite) else {
                return;
            };
            tracing::info!(call, %member, "flow rings");
            c.ringing_member = Some(member.clone());
            let uuid = c.parties.uuid.clone();
            self.store(Op::CallEvent {
                uuid,
                at_ms: now.wall_ms,
                kind: "ring".into(),
                detail: Some(member),
            });
            return;
        }
    }

    /// Rings outside `number` for a flow whose `outside_permission` lets
    /// it (OPS-3: a backup site, mobile agents), through the outbound
    /// routes as dialled under that permission; a trunk down or failing is
    /// passed over as for any outside call. `false` when the number is an
    /// extension's, the flow may not dial out, or nothing can carry it.
    fn flow_rings_outside(&mut self, now: Now, call: u64, number: &str) -> bool {
        if self.users.contains_key(number) {
            return false;
        }
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let Some(permission) = c.flow().and_then(|f| f.session.outside_permission()) else {
            return false;
        };
        let caller = c.parties.caller.clone();
        self.permit_outside(call, permission);
        if !self.ring_outside(now, call, &caller, number, None) {
            return false;
        }
        tracing::info!(call, "flow rings an outside number");
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        c.ringing_member = Some(number.to_string());
        let uuid = c.parties.uuid.clone();
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "ring".into(),
            detail: Some(number.to_string()),
        });
        true
    }

    /// The callee of a call answered at the box answered with `msg`: its
    /// media address and codec are taken, the caller's leg is bridged to
    /// it and keys are watched (the recording policy hears of the answer
    /// from the state change).
    pub(super) fn bridge_answered(&mut self, call: u64, msg: &Message) {
        if let Ok(sdp) = AudioSdp::parse(&msg.body) {
            media_to(&mut self.out, call, Side::B, &sdp);
            if self.settle_codecs(call, &sdp.formats).is_none() {
                tracing::warn!(call, "callee answered without a codec we talk");
            }
        }
        self.out.push_back(Output::Media(MediaCmd::Bridge { call }));
        self.watch_keys(call);
    }

    /// The member being rung did not answer in time: an outside number
    /// (a queue's backup) goes on through its route's next trunk when the
    /// route fails over on timeouts, else the next member is tried.
    pub(super) fn flow_member_failed(&mut self, now: Now, call: u64) {
        if self.trunk_failed(now, call, None) {
            return;
        }
        self.flow_member_gone(now, call);
    }

    /// The member being rung failed for good: the next one is tried.
    fn flow_member_gone(&mut self, now: Now, call: u64) {
        self.drop_outside_leg(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.b.life = Life::Absent;
        let b_call_id = std::mem::take(&mut c.b.call_id);
        self.by_call_id.remove(&b_call_id);
        self.connect_next_member(now, call);
    }

    /// A response on the B leg of a call still in its flow.
    pub(super) fn flow_b_response(&mut self, now: Now, call: u64, r: Reply<'_>) {
        let Reply { code, msg, .. } = r;
        if code < 200 {
            if let Some(c) = self.calls.get_mut(&call) {
                c.b.learn(msg);
            }
            return;
        }
        if code >= 300 {
            tracing::debug!(call, code, "flow member refused");
            // A carrier's trouble (a 503 from a trunk) sends an outside
            // number on through the route's next trunk (OPS-3).
            if !self.trunk_failed(now, call, Some(code)) {
                self.flow_member_gone(now, call);
            }
            return;
        }
        let listen = &self.listen;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.b.ack = listen.ack_2xx(&mut c.b, msg, &mut self.out);
        c.connected = c.ringing_member.take();
        if let Some(f) = c.flow_mut() {
            f.session.on_connected();
            f.timer = None;
        }
        let uuid = c.parties.uuid.clone();
        let member = c.b.remote.clone();
        self.bridge_answered(call, msg);
        tracing::info!(call, %uuid, "flow connected the caller");
        self.set_state(now, call, CallState::Answered);
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "bridged".into(),
            detail: Some(member),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TEL-2: the held party hears the configured class; an unknown class
    /// falls back to the built-in music.
    #[test]
    fn music_on_hold_comes_from_the_configured_class() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("music")).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("music/calm.wav"), spec).unwrap();
        for i in 0..4000 {
            w.write_sample((i % 50) as i16).unwrap();
        }
        w.finalize().unwrap();
        let prompts = Arc::new(Prompts::load(dir.path()).unwrap());
        let text = crate::config::DEFAULT_TOML
            .replace("music_on_hold = \"default\"", "music_on_hold = \"calm\"");
        let cfg = Config::parse(&text, "t.toml").unwrap();
        let mut flows = Flows::new(&cfg);
        flows.prompts = prompts.clone();
        assert_eq!(flows.music()[0].len(), 4000);
        flows.music_class = "jazz".into();
        assert!(flows.music()[0].len() > 8000 * 10, "the built-in default");
    }
}
