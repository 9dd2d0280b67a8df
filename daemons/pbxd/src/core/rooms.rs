//! Conference rooms (TEL-2, TEL-6), three-way calls (TEL-2) and live
//! monitoring (REC-3): calls mixed on the relay.
//!
//! In a call, either party types `*3`, an extension and `#` (RFC 4733
//! keys): the box calls that extension and, when it answers, mixes the
//! three. The call stays the host: if its caller or callee hangs up, the
//! added party is hung up too; if the added party hangs up, the two go on
//! as before. The agent desktop's conference of an answered consultation
//! makes the same three-way from the party already consulted, moved from
//! its consultation call instead of called again.
//!
//! A conference room is a number: its callers give the room's PIN if it
//! has one, hear that they are joining, and are mixed together, each
//! hearing everyone but themselves.
//!
//! A supervisor dials a feature code and an extension (`*90` listen, `*91`
//! whisper, `*92` barge in, then e.g. `1003`), from any phone, and gives
//! their PIN. The extension's call gets a mixing room of its own: its two
//! legs and the supervisor. Listening leaves the two parties' direct path
//! alone; whispering sends the officer the mix of caller and supervisor;
//! barging in mixes all three. While monitoring, keys 4, 5 and 6 switch
//! between the three (the keys Asterisk's ChanSpy users know). Each
//! monitoring is written to the watched call's events with the
//! supervisor's name, so a call's record says who listened.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dering_acd::codes::AgentCode;
use dering_media::codec::Codec;
use dering_media::mix::{Audience, Role};
use dering_media::speech::Lang;
use dering_store::{Disposition, Op};

use super::timers::Timer;
use super::{leg_key, Call, CallKind, CallState, Core, Ending, Life, MediaCmd, Now, Output, Side};
use crate::config::Config;
use dering_sip::sdp::Format;

/// Mixing room ids: conference rooms count up from here, a monitored
/// call's room is this bit over its call id.
const CONFERENCE_ROOM: u64 = 1 << 47;
const MONITOR_ROOM: u64 = 1 << 48;
const THREE_WAY_ROOM: u64 = 1 << 49;
/// Keys of one feature code come within this of each other.
const KEY_GAP: Duration = Duration::from_secs(5);

/// Keys a party is typing in a call.
#[derive(Debug)]
pub(super) struct InCallKeys {
    side: Side,
    digits: String,
    at: Instant,
}
/// How long a caller has to enter a PIN before being asked again.
const PIN_WAIT: Duration = Duration::from_secs(10);
const PIN_TRIES: u8 = 3;

/// What a supervisor does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Listen,
    Whisper,
    Barge,
}

impl Mode {
    pub(super) fn parse(s: &str) -> Option<Mode> {
        match s {
            "listen" => Some(Mode::Listen),
            "whisper" => Some(Mode::Whisper),
            "barge" => Some(Mode::Barge),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Listen => "listen",
            Mode::Whisper => "whisper",
            Mode::Barge => "barge",
        }
    }
}

/// What a number the box answers this way asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Feature {
    Conference {
        number: String,
    },
    Monitor {
        mode: Mode,
        extension: String,
    },
    /// A call forwarding code (set, or cancel with no target).
    Forward {
        condition: super::forward::Condition,
        target: Option<String>,
    },
    /// An agent's code (ACD-1, ACD-7); what it lacks is asked for.
    Agent(AgentCode),
    /// A last announcement (a blocked caller's), then the box hangs up.
    Announcement,
    /// Recording a prompt (`*97`), with its number if dialled (`*9705`).
    RecordPrompt {
        number: Option<String>,
    },
}

/// `code` with `digits` (typed after a prompt) in the first part it
/// lacks.
fn fill_agent_code(code: AgentCode, digits: String) -> AgentCode {
    match code {
        AgentCode::Login { agent: None, .. } => AgentCode::Login {
            agent: Some(digits),
            pin: None,
        },
        AgentCode::Login { agent, pin: None } => AgentCode::Login {
            agent,
            pin: Some(digits),
        },
        AgentCode::NotReady { code: None } => AgentCode::NotReady { code: Some(digits) },
        other => other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Collecting the PIN.
    Pin,
    /// Hearing "you are joining": joins when the prompt ends.
    Announcing,
    /// Mixing.
    Joined,
    /// Hearing a last prompt: hung up when it ends.
    Goodbye,
}

/// The feature part of a call.
#[derive(Debug)]
pub(super) struct FeatureLeg {
    feature: Feature,
    stage: Stage,
    digits: String,
    tries: u8,
    timer: Option<Instant>,
    codec: Codec,
    /// Monitoring: who gave the PIN, and the call and leg (the officer's)
    /// watched.
    supervisor: Option<String>,
    target: Option<(u64, Side)>,
    /// Recording a prompt: the take's state (`prompt_rec.rs`).
    pub(super) take: Option<super::prompt_rec::Take>,
}

impl FeatureLeg {
    /// A feature call just answered, waiting for its first input.
    fn new(feature: Feature, codec: Codec) -> FeatureLeg {
        FeatureLeg {
            feature,
            stage: Stage::Pin,
            digits: String::new(),
            tries: 0,
            timer: None,
            codec,
            supervisor: None,
            target: None,
            take: None,
        }
    }
}

#[derive(Debug)]
struct RoomConfig {
    name: String,
    pin: Option<String>,
    max_parties: usize,
}

/// A room with callers in it (joined or giving the PIN).
#[derive(Debug)]
struct LiveRoom {
    id: u64,
    members: Vec<u64>,
}

/// The box's conference rooms, monitoring codes and supervisors.
#[derive(Debug)]
pub(super) struct Rooms {
    rooms: HashMap<String, RoomConfig>,
    live: HashMap<String, LiveRoom>,
    codes: [(String, Mode); 3],
    /// (name, PIN).
    supervisors: Vec<(String, String)>,
    next_room: u64,
    three_way_code: String,
    transfer_code: String,
    /// `[calls] record_prompt_code` and the extensions that may use it.
    record_code: String,
    recorders: std::collections::HashSet<String>,
}

impl Rooms {
    pub(super) fn new(cfg: &Config) -> Rooms {
        let m = &cfg.monitoring;
        Rooms {
            rooms: cfg
                .conferences
                .iter()
                .map(|c| {
                    (
                        c.number.clone(),
                        RoomConfig {
                            name: c.name.clone(),
                            pin: c.pin.clone(),
                            max_parties: c.max_parties.max(2),
                        },
                    )
                })
                .collect(),
            live: HashMap::new(),
            codes: [
                (m.listen_code.clone(), Mode::Listen),
                (m.whisper_code.clone(), Mode::Whisper),
                (m.barge_code.clone(), Mode::Barge),
            ],
            supervisors: m
                .supervisors
                .iter()
                .map(|s| (s.name.clone(), s.pin.clone()))
                .collect(),
            next_room: CONFERENCE_ROOM,
            three_way_code: cfg.calls.three_way_code.clone(),
            transfer_code: cfg.calls.transfer_code.clone(),
            record_code: cfg.calls.record_prompt_code.clone(),
            recorders: cfg.calls.prompt_recorders.iter().cloned().collect(),
        }
    }

    /// A new configuration (TEL-8): rooms, codes and supervisors for the
    /// next caller; rooms with people in them go on as they are.
    pub(super) fn reconfigure(&mut self, cfg: &Config) {
        let fresh = Rooms::new(cfg);
        self.rooms = fresh.rooms;
        self.codes = fresh.codes;
        self.supervisors = fresh.supervisors;
        self.three_way_code = fresh.three_way_code;
        self.transfer_code = fresh.transfer_code;
        self.record_code = fresh.record_code;
        self.recorders = fresh.recorders;
    }

    /// Whether extension `who` may record prompts from its phone.
    pub(super) fn may_record_prompts(&self, who: &str) -> bool {
        self.recorders.contains(who)
    }

    /// The feature code of `mode` (`*90`, ...), as records show it.
    pub(super) fn code_of(&self, mode: Mode) -> String {
        self.codes
            .iter()
            .find(|(_, m)| *m == mode)
            .map(|(c, _)| c.clone())
            .unwrap_or_default()
    }

    /// Whether `number` is a room or a monitoring code with an extension.
    pub(super) fn classify(&self, number: &str) -> Option<Feature> {
        if self.rooms.contains_key(number) {
            return Some(Feature::Conference {
                number: number.to_string(),
            });
        }
        // The code alone, or with up to four digits of a prompt number.
        if self.record_code.len() > 1 {
            if let Some(rest) = number.strip_prefix(self.record_code.as_str()) {
                if rest.len() <= 4 && rest.bytes().all(|b| b.is_ascii_digit()) {
                    return Some(Feature::RecordPrompt {
                        number: (!rest.is_empty()).then(|| rest.to_string()),
                    });
                }
            }
        }
        self.codes.iter().find_map(|(code, mode)| {
            let ext = number.strip_prefix(code.as_str())?;
            (!ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit())).then(|| Feature::Monitor {
                mode: *mode,
                extension: ext.to_string(),
            })
        })
    }
}

impl Core {
    /// A call to a conference room or a monitoring code: answer it here.
    pub(super) fn start_feature_call(&mut self, now: Now, call: super::Inbound, feature: Feature) {
        let (group, label) = match &feature {
            Feature::Conference { number } => {
                let Some(cfg) = self.rooms.rooms.get(number) else {
                    return;
                };
                let name = cfg.name.clone();
                let max = cfg.max_parties;
                if self
                    .rooms
                    .live
                    .get(number)
                    .is_some_and(|r| r.members.len() >= max)
                {
                    tracing::info!(room = %number, "conference full");
                    self.respond(now, &call.key, &call.req, 486, vec![]);
                    return;
                }
                let next = self.rooms.next_room;
                let room = self
                    .rooms
                    .live
                    .entry(number.clone())
                    .or_insert_with(|| LiveRoom {
                        id: next,
                        members: Vec::new(),
                    });
                if room.id == next {
                    self.rooms.next_room += 1;
                }
                (Some(room.id), name)
            }
            Feature::Monitor { extension, .. } => {
                let group = self
                    .leg_of_extension(extension)
                    .and_then(|(c, _)| self.calls.get(&c))
                    .map(|c| c.group);
                (group, "monitoring".to_string())
            }
            Feature::Forward { .. } => (None, "call forwarding".to_string()),
            Feature::Agent(_) => (None, "agent".to_string()),
            Feature::Announcement => (None, "announcement".to_string()),
            Feature::RecordPrompt { .. } => {
                if !self.rooms.may_record_prompts(&call.caller) {
                    tracing::warn!(caller = %call.caller, "prompt recording refused: not in [calls] prompt_recorders");
                    self.respond(now, &call.key, &call.req, 403, vec![]);
                    return;
                }
                (None, "prompt recording".to_string())
            }
        };
        let who = call.caller.clone();
        let Some(id) = self.answer_here(now, call, label, group) else {
            return;
        };
        let codec = self
            .calls
            .get(&id)
            .and_then(|c| c.a.codec)
            .unwrap_or(Codec::Pcma);
        let pin_needed = match &feature {
            Feature::Conference { number } => {
                if let Some(r) = self.rooms.live.get_mut(number) {
                    r.members.push(id);
                }
                self.rooms
                    .rooms
                    .get(number)
                    .is_some_and(|r| r.pin.is_some())
            }
            Feature::Monitor { .. } => true,
            Feature::Forward { .. }
            | Feature::Agent(_)
            | Feature::Announcement
            | Feature::RecordPrompt { .. } => false,
        };
        let take = match &feature {
            Feature::RecordPrompt { number } => Some(number.clone()),
            _ => None,
        };
        let forward = match &feature {
            Feature::Forward { condition, target } => Some((*condition, target.clone())),
            _ => None,
        };
        let agent_code = match &feature {
            Feature::Agent(code) => Some(code.clone()),
            _ => None,
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.kind = CallKind::Feature(Box::new(FeatureLeg::new(feature, codec)));
        }
        if let Some((condition, target)) = forward {
            let prompt = self.apply_forward_code(now, &who, condition, target);
            self.say_goodbye(id, &[prompt]);
        } else if let Some(code) = agent_code {
            self.agent_code_step(now, id, &who, code);
        } else if let Some(number) = take {
            self.take_start(now, id, &who, number);
        } else if pin_needed {
            self.ask_pin(now, id, &[]);
        } else {
            self.pin_accepted(now, id, None);
        }
    }

    /// An agent code from `who`'s phone: asks for what it lacks (the
    /// agent number, the PIN, the reason code), else carries it out and
    /// says so.
    fn agent_code_step(&mut self, now: Now, call: u64, who: &str, code: AgentCode) {
        let ask = match &code {
            AgentCode::Login { agent: None, .. } => Some("agent_id"),
            AgentCode::Login { pin: None, .. } => Some("enter_pin"),
            AgentCode::NotReady { code: None } => Some("agent_reason"),
            _ => None,
        };
        if let Some(f) = self.feature_leg(call) {
            f.feature = Feature::Agent(code.clone());
        }
        match ask {
            Some(prompt) => {
                self.play_here(call, &[prompt], true);
                if let Some(f) = self.feature_leg(call) {
                    f.stage = Stage::Pin;
                    f.digits.clear();
                    f.timer = Some(now.at + PIN_WAIT);
                    self.timers.arm(Timer::Feature(call), now.at + PIN_WAIT);
                }
            }
            None => {
                let prompt = self.agent_code(now, who, &code);
                self.say_goodbye(call, &[prompt]);
            }
        }
    }

    /// The relay group of the call `extension` is on, to monitor it.
    pub(super) fn monitored_group(&self, extension: &str) -> Option<u64> {
        self.leg_of_extension(extension)
            .and_then(|(c, _)| self.calls.get(&c))
            .map(|c| c.group)
    }

    /// A supervisor's phone, rung by the control socket's "listen", has
    /// answered with `answer`: its leg ends at the box like a `*90` call's,
    /// and it monitors `extension`'s call (the control socket is trusted:
    /// no PIN; the record names the supervisor "control").
    pub(super) fn monitor_from_control(
        &mut self,
        now: Now,
        call: u64,
        answer: &dering_sip::sdp::AudioSdp,
        mode: Mode,
        extension: String,
    ) {
        let found = super::known_formats(answer).into_iter().next();
        let Some((codec, format)) = found else {
            self.hang_up_here(now, call, "supervisor's phone has no codec we talk");
            return;
        };
        let event_pt = answer.telephone_event().map(|f| f.pt);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.a.codec = Some(codec);
        c.a.formats = std::iter::once(format)
            .chain(answer.telephone_event().cloned())
            .collect();
        c.parties.answer_ms = Some(now.wall_ms);
        c.kind = CallKind::Feature(Box::new(FeatureLeg::new(
            Feature::Monitor { mode, extension },
            codec,
        )));
        let uuid = c.parties.uuid.clone();
        self.set_state(now, call, CallState::Flow);
        self.out.push_back(Output::Media(MediaCmd::Local {
            call,
            codec,
            event_pt,
        }));
        self.store(Op::CallAnswered {
            uuid,
            at_ms: now.wall_ms,
            codec: codec.name().to_string(),
        });
        self.pin_accepted(now, call, Some("control".into()));
    }

    /// The answered leg of a call `extension` takes part in: the caller's
    /// leg of a call it made, the callee's of one it took.
    ///
    /// An agent's number that is no extension stands for the phone the
    /// agent is logged in at, so supervisors monitor agents by their ID.
    fn leg_of_extension(&self, extension: &str) -> Option<(u64, Side)> {
        let extension = match self.queues.acd.extension_of(extension) {
            Some(phone) if !self.users.contains_key(extension) => phone,
            _ => extension,
        };
        self.calls.values().find_map(|c| {
            if c.state() != CallState::Answered || !c.b.is_live() || c.feature().is_some() {
                return None;
            }
            if c.parties.caller == extension {
                return Some((c.id, Side::A));
            }
            let callee = c.connected.as_deref().unwrap_or(&c.parties.callee);
            (callee == extension).then_some((c.id, Side::B))
        })
    }

    pub(super) fn feature_leg(&mut self, call: u64) -> Option<&mut FeatureLeg> {
        self.calls
            .get_mut(&call)
            .filter(|c| c.state() == CallState::Flow)
            .and_then(|c| c.feature_mut())
    }

    pub(super) fn play_here(&mut self, call: u64, names: &[&str], interruptible: bool) {
        self.play_here_in(call, names, interruptible, Lang::Id);
    }

    /// [`Self::play_here`] in `lang`.
    fn play_here_in(&mut self, call: u64, names: &[&str], interruptible: bool, lang: Lang) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let audio = self.resolve_prompts(lang, &names);
        self.out.push_back(Output::Media(MediaCmd::Play {
            call,
            audio,
            interruptible,
        }));
    }

    /// Plays `before` then "enter your PIN", and waits for it.
    fn ask_pin(&mut self, now: Now, call: u64, before: &[&str]) {
        let mut names = before.to_vec();
        names.push("enter_pin");
        self.play_here(call, &names, true);
        if let Some(f) = self.feature_leg(call) {
            f.stage = Stage::Pin;
            f.digits.clear();
            f.timer = Some(now.at + PIN_WAIT);
            self.timers.arm(Timer::Feature(call), now.at + PIN_WAIT);
        }
    }

    /// Says `prompt` to a call answered here, whatever it was doing, then
    /// hangs up.
    pub(super) fn announce_and_hang_up(&mut self, call: u64, prompt: &str) {
        self.announce_and_hang_up_in(call, prompt, Lang::Id);
    }

    /// [`Self::announce_and_hang_up`] in the caller's language `lang`.
    pub(super) fn announce_and_hang_up_in(&mut self, call: u64, prompt: &str, lang: Lang) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.kind = CallKind::Feature(Box::new(FeatureLeg::new(
            Feature::Announcement,
            c.a.codec.unwrap_or(Codec::Pcma),
        )));
        self.say_goodbye_in(call, &[prompt], lang);
    }

    /// Plays `names`, then hangs up.
    pub(super) fn say_goodbye(&mut self, call: u64, names: &[&str]) {
        self.say_goodbye_in(call, names, Lang::Id);
    }

    /// [`Self::say_goodbye`] in `lang`.
    fn say_goodbye_in(&mut self, call: u64, names: &[&str], lang: Lang) {
        self.play_here_in(call, names, false, lang);
        if let Some(f) = self.feature_leg(call) {
            f.stage = Stage::Goodbye;
            f.timer = None;
        }
    }

    pub(super) fn feature_media_event(&mut self, now: Now, event: crate::endpoint::MediaEvent) {
        use crate::endpoint::MediaEvent;
        match event {
            MediaEvent::InCallKey { call, side, key } => self.in_call_key(now, call, side, key),
            MediaEvent::Digit { call, key } => self.feature_digit(now, call, key),
            MediaEvent::PlayDone { call } => {
                let Some(f) = self.feature_leg(call) else {
                    return;
                };
                let recording = f.take.is_some();
                match f.stage {
                    Stage::Announcing => self.join_room(now, call),
                    Stage::Goodbye => self.hang_up_here(now, call, "feature ended"),
                    Stage::Pin if recording => self.take_play_done(now, call),
                    Stage::Pin | Stage::Joined => {}
                }
            }
            MediaEvent::Captured { call, audio } => self.take_captured(call, audio),
        }
    }

    fn feature_digit(&mut self, now: Now, call: u64, key: char) {
        let Some(f) = self.feature_leg(call) else {
            return;
        };
        if f.take.is_some() {
            if f.stage == Stage::Pin {
                self.take_digit(now, call, key);
            }
            return;
        }
        match f.stage {
            Stage::Pin => match key {
                '#' => self.check_pin(now, call),
                '*' => f.digits.clear(),
                d if d.is_ascii_digit() && f.digits.len() < 12 => {
                    f.digits.push(d);
                    f.timer = Some(now.at + PIN_WAIT);
                    self.timers.arm(Timer::Feature(call), now.at + PIN_WAIT);
                }
                _ => {}
            },
            Stage::Joined => {
                let mode = match key {
                    '4' => Mode::Listen,
                    '5' => Mode::Whisper,
                    '6' => Mode::Barge,
                    _ => return,
                };
                if let Feature::Monitor { mode: m, .. } = &mut f.feature {
                    if *m != mode {
                        *m = mode;
                        if let Some((target, _)) = f.target {
                            self.note_monitoring(now, call, target, mode);
                            self.apply_monitoring(target);
                        }
                    }
                }
            }
            Stage::Announcing | Stage::Goodbye => {}
        }
    }

    fn check_pin(&mut self, now: Now, call: u64) {
        let Some(f) = self.feature_leg(call) else {
            return;
        };
        let pin = std::mem::take(&mut f.digits);
        let feature = f.feature.clone();
        let accepted = match &feature {
            Feature::Conference { number } => self
                .rooms
                .rooms
                .get(number)
                .and_then(|r| r.pin.as_ref())
                .is_some_and(|p| *p == pin)
                .then_some(None),
            Feature::Monitor { .. } => self
                .rooms
                .supervisors
                .iter()
                .find(|(_, p)| *p == pin)
                .map(|(name, _)| Some(name.clone())),
            Feature::Forward { .. } | Feature::Announcement | Feature::RecordPrompt { .. } => None,
            Feature::Agent(code) => {
                let who = self
                    .calls
                    .get(&call)
                    .map(|c| c.parties.caller.clone())
                    .unwrap_or_default();
                self.agent_code_step(now, call, &who, fill_agent_code(code.clone(), pin));
                return;
            }
        };
        match accepted {
            Some(supervisor) => self.pin_accepted(now, call, supervisor),
            None => {
                let Some(f) = self.feature_leg(call) else {
                    return;
                };
                f.tries += 1;
                let tries = f.tries;
                tracing::warn!(call, tries, "wrong PIN");
                if tries >= PIN_TRIES {
                    self.say_goodbye(call, &["wrong_pin", "goodbye"]);
                } else {
                    self.ask_pin(now, call, &["wrong_pin"]);
                }
            }
        }
    }

    fn pin_accepted(&mut self, now: Now, call: u64, supervisor: Option<String>) {
        let Some(f) = self.feature_leg(call) else {
            return;
        };
        f.timer = None;
        f.supervisor.clone_from(&supervisor);
        match f.feature.clone() {
            Feature::Conference { number } => {
                f.stage = Stage::Announcing;
                let joined = self.rooms.live.get(&number).map_or(0, |r| {
                    r.members
                        .iter()
                        .filter(|m| {
                            self.calls
                                .get(m)
                                .and_then(|c| c.feature())
                                .is_some_and(|f| f.stage == Stage::Joined)
                        })
                        .count()
                });
                if joined == 0 {
                    self.play_here(call, &["conference_join", "conference_alone"], false);
                } else {
                    self.play_here(call, &["conference_join"], false);
                }
            }
            Feature::Monitor { mode, extension } => {
                let group = self.calls.get(&call).map(|c| c.group);
                let target = self
                    .leg_of_extension(&extension)
                    .filter(|(t, _)| self.calls.get(t).map(|c| c.group) == group);
                let Some((target, side)) = target else {
                    tracing::info!(call, %extension, "nothing to monitor");
                    self.say_goodbye(call, &["not_in_call", "goodbye"]);
                    return;
                };
                if let Some(f) = self.feature_leg(call) {
                    f.stage = Stage::Joined;
                    f.target = Some((target, side));
                }
                tracing::info!(
                    call,
                    target,
                    supervisor = supervisor.as_deref().unwrap_or(""),
                    mode = mode.name(),
                    "supervisor monitoring"
                );
                self.note_monitoring(now, call, target, mode);
                self.apply_monitoring(target);
            }
            Feature::Forward { .. }
            | Feature::Agent(_)
            | Feature::Announcement
            | Feature::RecordPrompt { .. } => {}
        }
    }

    /// The watched call's record says who monitored it, how and when.
    fn note_monitoring(&mut self, now: Now, supervisor_call: u64, target: u64, mode: Mode) {
        let who = self
            .calls
            .get(&supervisor_call)
            .and_then(|c| c.feature()?.supervisor.clone())
            .unwrap_or_default();
        let Some(uuid) = self.calls.get(&target).map(|c| c.parties.uuid.clone()) else {
            return;
        };
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "monitor".into(),
            detail: Some(format!("{} by {who}", mode.name())),
        });
    }

    /// A conference caller joins the mix.
    fn join_room(&mut self, _now: Now, call: u64) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(f) = c.feature_mut() else {
            return;
        };
        f.stage = Stage::Joined;
        let codec = f.codec;
        let room = c.group;
        tracing::info!(call, room, "joined the conference");
        self.out.push_back(Output::Media(MediaCmd::Join {
            room,
            call,
            side: Side::A,
            codec,
            role: Role::party(),
        }));
    }

    /// Sets the roles in a watched call's room from every supervisor on
    /// it: the officer hears the mix when one whispers or barges, the
    /// caller when one barges; with only listeners both keep their
    /// direct path.
    fn apply_monitoring(&mut self, target: u64) {
        let Some(t) = self.calls.get(&target) else {
            return;
        };
        let leg_codec = |side: Side| {
            match side {
                Side::A => t.a.codec,
                Side::B => t.b.codec,
            }
            .unwrap_or(Codec::Pcma)
        };
        let room = MONITOR_ROOM | target;
        let watchers: Vec<(u64, Side, Mode, Codec)> = self
            .calls
            .values()
            .filter_map(|c| {
                let f = c.feature()?;
                let (t, agent) = f.target?;
                let Feature::Monitor { mode, .. } = f.feature else {
                    return None;
                };
                (t == target && f.stage == Stage::Joined).then_some((c.id, agent, mode, f.codec))
            })
            .collect();
        let Some(&(_, agent, _, _)) = watchers.first() else {
            self.out
                .push_back(Output::Media(MediaCmd::Leave { call: target }));
            return;
        };
        let agent_key = leg_key(target, agent);
        let any = |m: Mode| watchers.iter().any(|w| w.2 == m);
        let agent_hears = any(Mode::Whisper) || any(Mode::Barge);
        let other_hears = any(Mode::Barge);
        let legs = [
            (agent, agent_hears, leg_codec(agent)),
            (agent.other(), other_hears, leg_codec(agent.other())),
        ];
        for (side, hears, codec) in legs {
            self.out.push_back(Output::Media(MediaCmd::Join {
                room,
                call: target,
                side,
                codec,
                role: Role {
                    audience: Audience::Everyone,
                    hears,
                },
            }));
        }
        for (call, _, mode, codec) in watchers {
            let audience = match mode {
                Mode::Listen => Audience::Nobody,
                Mode::Whisper => Audience::Only(agent_key),
                Mode::Barge => Audience::Everyone,
            };
            self.out.push_back(Output::Media(MediaCmd::Join {
                room,
                call,
                side: Side::A,
                codec,
                role: Role {
                    audience,
                    hears: true,
                },
            }));
        }
    }

    /// A call has ended: its room loses it; supervisors watching it are
    /// hung up; a supervisor leaving restores the watched call.
    pub(super) fn call_gone(&mut self, now: Now, c: &Call) {
        if let Some(f) = c.feature() {
            match &f.feature {
                Feature::Conference { number } => {
                    if let Some(r) = self.rooms.live.get_mut(number) {
                        r.members.retain(|m| *m != c.id);
                        if r.members.is_empty() {
                            self.rooms.live.remove(number);
                        }
                    }
                }
                Feature::Monitor { .. } => {
                    if let Some((target, _)) = f.target {
                        self.apply_monitoring(target);
                    }
                }
                Feature::Forward { .. }
                | Feature::Agent(_)
                | Feature::Announcement
                | Feature::RecordPrompt { .. } => {}
            }
            return;
        }
        if let Some(host) = c.joins() {
            if self.calls.contains_key(&host) {
                tracing::info!(call = host, "third party left: back to two");
                self.out
                    .push_back(Output::Media(MediaCmd::Leave { call: host }));
            }
            return;
        }
        let added: Vec<u64> = self
            .calls
            .values()
            .filter(|a| a.joins() == Some(c.id))
            .map(|a| a.id)
            .collect();
        for a in added {
            self.hang_up_added(now, a);
        }
        let watchers: Vec<u64> = self
            .calls
            .values()
            .filter(|w| {
                w.feature()
                    .and_then(|f| f.target)
                    .is_some_and(|(t, _)| t == c.id)
            })
            .map(|w| w.id)
            .collect();
        for w in watchers {
            self.hang_up_here(now, w, "monitored call ended");
        }
    }

    /// Reports the keys the parties of an answered call send, for in-call
    /// feature codes.
    pub(super) fn watch_keys(&mut self, call: u64) {
        let Some(c) = self.calls.get(&call).filter(|c| c.a.is_live()) else {
            return;
        };
        let te = |f: &[dering_sip::sdp::Format]| {
            f.iter().find(|f| f.name == "TELEPHONE-EVENT").map(|f| f.pt)
        };
        let (a, b) = (te(&c.a.formats), te(&c.b.formats));
        if a.is_some() || b.is_some() {
            self.out.push_back(Output::Media(MediaCmd::WatchKeys {
                call,
                a,
                b,
                codes: self.in_call_codes().into(),
            }));
        }
    }

    /// The codes a party types in a call (three-way, transfer), each
    /// followed by an extension and `#`.
    fn in_call_codes(&self) -> Vec<String> {
        vec![
            self.rooms.three_way_code.clone(),
            self.rooms.transfer_code.clone(),
        ]
    }

    /// A key from a party of a relayed call: collects `*3<extension>#`.
    pub(super) fn in_call_key(&mut self, now: Now, call: u64, side: Side, key: char) {
        let codes = self.in_call_codes();
        let Some(c) = self
            .calls
            .get_mut(&call)
            .filter(|c| c.state() == CallState::Answered && c.a.is_live() && c.feature().is_none())
        else {
            return;
        };
        let k = c.keys.get_or_insert_with(|| InCallKeys {
            side,
            digits: String::new(),
            at: now.at,
        });
        if k.side != side || now.at.duration_since(k.at) > KEY_GAP {
            k.side = side;
            k.digits.clear();
        }
        k.at = now.at;
        // The relay's key gate reads the keys by the same rule, so what
        // the box acts on is exactly what the other party did not hear.
        use crate::keygate::{classify, CodeMatch};
        k.digits.push(key);
        match classify(&codes, &k.digits) {
            CodeMatch::Complete(which) => {
                let typed = std::mem::take(&mut k.digits);
                let ext = typed[codes[which].len()..typed.len() - 1].to_string();
                if which == 0 {
                    self.start_three_way(now, call, side, &ext);
                } else if let Err(e) = self.blind_transfer(now, call, side, &ext, false) {
                    tracing::info!(call, %ext, error = e, "transfer by code refused");
                }
            }
            CodeMatch::Possible { .. } => {}
            // Talk is full of keys (menus of the far end): keep only what
            // can still become a code.
            CodeMatch::No => {
                k.digits = key.to_string();
                if classify(&codes, &k.digits) == CodeMatch::No {
                    k.digits.clear();
                }
            }
        }
    }

    /// Calls `ext` from the box for the party on `side` of `host`; it
    /// joins the call when it answers.
    pub(super) fn start_three_way(&mut self, now: Now, host: u64, side: Side, ext: &str) {
        if self.calls.values().any(|c| c.joins() == Some(host)) {
            tracing::info!(call = host, "already three: not adding another");
            return;
        }
        let (Some(target), Some(name)) = (
            self.target(ext),
            self.users.get(ext).map(|u| u.name.clone()),
        ) else {
            tracing::info!(call = host, %ext, "three-way: no such reachable extension");
            return;
        };
        let Some(h) = self.calls.get(&host) else {
            return;
        };
        let (party, party_name, codec, te) = match side {
            Side::A => (
                h.parties.caller.clone(),
                h.parties.caller_name.clone(),
                h.a.codec,
                h.a.formats.get(1).cloned(),
            ),
            Side::B => (
                h.connected.clone().unwrap_or(h.parties.callee.clone()),
                h.parties.callee_name.clone(),
                h.b.codec,
                h.b.formats.get(1).cloned(),
            ),
        };
        let group = h.group;
        let host_uuid = h.parties.uuid.clone();
        let mut formats: Vec<Format> = codec.into_iter().map(super::codec_format).collect();
        for k in Codec::ALL {
            if Some(k) != codec {
                formats.push(super::codec_format(k));
            }
        }
        formats.extend(te);
        let Some((a_port, b_port)) = self.take_ports(now) else {
            tracing::error!("RTP port range exhausted");
            return;
        };
        let id = self.next_call;
        self.next_call += 1;
        let display = party_name.clone().unwrap_or_else(|| party.clone());
        let leg = super::BLegSpec {
            call: id,
            caller: &party,
            display: &display,
            callee: ext,
            target: &target,
            formats: formats.clone(),
            direction: dering_sip::sdp::Direction::SendRecv,
            ptime: None,
            b_port,
            extra: vec![],
        };
        let Some((b, b_key, b_msg)) = self.invite_b(now, leg) else {
            self.ports.unused([a_port, b_port]);
            return;
        };
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let parties = dering_store::CallParties {
            uuid: uuid.clone(),
            caller: party,
            caller_name: party_name,
            callee: ext.to_string(),
            callee_name: Some(name),
            start_ms: now.wall_ms,
            answer_ms: None,
        };
        self.store(Op::CallStart(parties.clone()));
        self.store(Op::CallEvent {
            uuid: host_uuid,
            at_ms: now.wall_ms,
            kind: "three_way".into(),
            detail: Some(format!("calling {ext}")),
        });
        tracing::info!(call = host, added = id, %ext, "three-way: calling");
        self.out.push_back(Output::Media(MediaCmd::Open {
            call: id,
            a_port,
            b_port,
            group,
        }));
        // No A leg; the offer stands for the party who asked.
        let a = super::Dialog::placeholder(b.peer);
        let offer = dering_sip::sdp::AudioSdp {
            addr: self.listen.ip,
            port: a_port,
            formats,
            direction: dering_sip::sdp::Direction::SendRecv,
            ptime: None,
        };
        let mut c = self.ringing(
            now,
            id,
            parties,
            (a, offer),
            (b, b_key, b_msg),
            (a_port, b_port),
        );
        c.group = group;
        c.a.life = Life::Absent;
        c.kind = CallKind::ThreeWayParty { joins: host };
        self.calls.insert(id, c);
    }

    /// The added party answered: the host call's two legs and it mix.
    pub(super) fn three_way_answered(&mut self, now: Now, added: u64) {
        let Some(a) = self.calls.get(&added) else {
            return;
        };
        let Some(host) = a.joins().and_then(|h| self.calls.get(&h)) else {
            self.hang_up_added(now, added);
            return;
        };
        let room = THREE_WAY_ROOM | host.id;
        let joins = [
            (host.id, Side::A, host.a.codec),
            (host.id, Side::B, host.b.codec),
            (added, Side::B, a.b.codec),
        ];
        let (host_id, uuid, ext) = (host.id, host.parties.uuid.clone(), a.parties.callee.clone());
        for (call, side, codec) in joins {
            self.out.push_back(Output::Media(MediaCmd::Join {
                room,
                call,
                side,
                codec: codec.unwrap_or(Codec::Pcma),
                role: Role::party(),
            }));
        }
        tracing::info!(call = host_id, added, "three-way: joined");
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "three_way".into(),
            detail: Some(format!("joined {ext}")),
        });
    }

    /// The party on `by` of `host` brings the party it consulted in
    /// `consult` (from its side `by2`) into a three-way with `host`'s
    /// other party, without calling it again: the consulted leg becomes
    /// the added party of a three-way (as if `*3` had called it and it
    /// had answered), moved by a re-INVITE to a port on `host`'s relay
    /// thread (mixing happens on one thread), and the consulting party's
    /// leg of the consultation is let go. From then on it is the phone's
    /// three-way: it leaves alone, or goes when `host` ends.
    pub(super) fn three_way_from_consultation(
        &mut self,
        now: Now,
        (host, by): (u64, Side),
        (consult, by2): (u64, Side),
    ) -> Result<(), &'static str> {
        let t = self.consulted_leg((host, by), (consult, by2))?;
        if self.calls.values().any(|c| c.joins() == Some(host)) {
            return Err("already three");
        }
        // The consulted party called in (a REFER's consultation may): no
        // INVITE of the box's own to stand for its leg.
        let Some(invite) = t.invite else {
            return Err("the consulted party called in");
        };
        let Some(h) = self.calls.get(&host) else {
            return Err("no such call");
        };
        let party_name = match by {
            Side::A => h.parties.caller_name.clone(),
            Side::B => h.parties.callee_name.clone(),
        };
        let (group, host_uuid) = (h.group, h.parties.uuid.clone());
        let consult_uuid = self
            .calls
            .get(&consult)
            .map(|c| c.parties.uuid.clone())
            .unwrap_or_default();
        let Some((a_port, b_port)) = self.take_ports(now) else {
            tracing::error!("RTP port range exhausted");
            return Err("RTP port range exhausted");
        };
        self.release_consultation(now, (consult, by2), "joined a three-way");
        let id = self.next_call;
        self.next_call += 1;
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let parties = dering_store::CallParties {
            uuid: uuid.clone(),
            caller: t.by_number,
            caller_name: party_name,
            callee: t.number.clone(),
            callee_name: self.users.get(&t.number).map(|u| u.name.clone()),
            start_ms: now.wall_ms,
            answer_ms: Some(now.wall_ms),
        };
        self.store(Op::CallStart(parties.clone()));
        self.store(Op::CallEvent {
            uuid: host_uuid,
            at_ms: now.wall_ms,
            kind: "three_way".into(),
            detail: Some(format!("consulted {} in {consult_uuid}", t.number)),
        });
        self.out.push_back(Output::Media(MediaCmd::Open {
            call: id,
            a_port,
            b_port,
            group,
        }));
        // No A leg, as for a party `*3` calls; the offer is never used.
        let offer = dering_sip::sdp::AudioSdp {
            addr: self.listen.ip,
            port: a_port,
            formats: t.formats.clone(),
            direction: dering_sip::sdp::Direction::SendRecv,
            ptime: None,
        };
        let a = super::Dialog::placeholder(t.dialog.peer);
        let call_id = t.dialog.call_id.clone();
        let mut c = Call::new(
            id,
            parties,
            (a, t.dialog),
            invite,
            offer,
            (a_port, b_port),
            now.at,
        );
        c.group = group;
        c.a.life = Life::Absent;
        c.b.codec = t.codec;
        c.b.formats.clone_from(&t.formats);
        c.sdp_version = t.sdp_version;
        c.kind = CallKind::ThreeWayParty { joins: host };
        self.calls.insert(id, c);
        self.by_call_id.insert(call_id, (id, Side::B));
        tracing::info!(call = host, added = id, consult, ext = %t.number, "three-way: the consulted party joins");
        self.set_state(now, id, CallState::Answered);
        self.store(Op::CallAnswered {
            uuid,
            at_ms: now.wall_ms,
            codec: t.codec.map(|k| k.name().to_string()).unwrap_or_default(),
        });
        self.reinvite_leg(now, id, Side::B, b_port, t.formats);
        self.three_way_answered(now, id);
        Ok(())
    }

    /// Ends a call the box placed (ringing or answered).
    fn hang_up_added(&mut self, now: Now, call: u64) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let ringing = c.state() == CallState::Ringing;
        self.set_state(now, call, CallState::Ending);
        let ending = if ringing {
            self.send_cancel(now, call);
            Ending::new(
                Disposition::Cancelled,
                "system",
                "three-way host ended",
                None,
            )
        } else {
            self.send_in_dialog(now, call, Side::B, rsip::Method::Bye);
            Ending::new(
                Disposition::Answered,
                "system",
                "three-way host ended",
                None,
            )
        };
        self.close(now, call, ending);
    }

    /// A caller who stopped typing (a [`Timer::Feature`]): what they
    /// typed is taken as the PIN, or, with nothing typed, they are asked
    /// again (a try used).
    pub(super) fn feature_timer(&mut self, now: Now, call: u64) {
        let Some(f) = self.feature_leg(call) else {
            return;
        };
        if f.take.is_some() {
            self.take_timer(now, call);
            return;
        }
        if f.timer.is_none_or(|t| t > now.at) {
            return;
        }
        f.timer = None;
        if f.digits.is_empty() {
            f.tries += 1;
            if f.tries >= PIN_TRIES {
                self.say_goodbye(call, &["no_input", "goodbye"]);
            } else if let Feature::Agent(code) = f.feature.clone() {
                let who = self
                    .calls
                    .get(&call)
                    .map(|c| c.parties.caller.clone())
                    .unwrap_or_default();
                self.agent_code_step(now, call, &who, code);
            } else {
                self.ask_pin(now, call, &["no_input"]);
            }
        } else {
            self.check_pin(now, call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rooms_or_codes_with_an_extension() {
        let cfg = Config::embedded().unwrap();
        let r = Rooms::new(&cfg);
        assert_eq!(
            r.classify("8001"),
            Some(Feature::Conference {
                number: "8001".into()
            })
        );
        assert_eq!(
            r.classify("*911003"),
            Some(Feature::Monitor {
                mode: Mode::Whisper,
                extension: "1003".into()
            })
        );
        assert_eq!(
            r.classify("*921001").map(|f| matches!(
                f,
                Feature::Monitor {
                    mode: Mode::Barge,
                    ..
                }
            )),
            Some(true)
        );
        assert_eq!(
            r.classify("*9705"),
            Some(Feature::RecordPrompt {
                number: Some("05".into())
            })
        );
        assert_eq!(
            r.classify("*97"),
            Some(Feature::RecordPrompt { number: None })
        );
        assert!(r.may_record_prompts("1001") && !r.may_record_prompts("1002"));
        for n in ["*90", "*90x1", "1001", "137", "8002", "*9712345", "*97x"] {
            assert_eq!(r.classify(n), None, "{n}");
        }
    }
}
