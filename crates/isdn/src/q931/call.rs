//! Basic call control (Q.931 section 5, EN 300 403) for every call
//! reference of one D-channel, on the user or the network side, without
//! I/O: messages and the owner's requests come in with the time, and the
//! messages to send and the events for trunkd are polled.
//!
//! A call's progress is kept as a phase plus who placed it; the Q.931
//! state number (which differs between the sides, e.g. "sent SETUP" is 1
//! on the user side and 6 on the network side) is derived from them for
//! STATUS. Clearing that the peer starts is answered at once (RELEASE on
//! DISCONNECT): trunkd has nothing to decide there.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::cause::Cause;
use super::ie::{BearerCapability, CauseIe, ChannelId, ChannelSel, Ie, PartyNumber, RestartClass};
use super::message::{CallRef, DecodeError, Message, MessageType};

/// Which end of the interface this machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The user (CPE, TE) side: the PBX behind a carrier's PRI.
    User,
    /// The network (NT) side: the PBX feeding a PRI to a downstream PBX.
    Network,
}

/// Timer values. The defaults are libpri's for the timers libpri runs
/// (T303, T305, T308, T309, T313, T316), so the box behaves like the
/// stacks carriers test against; T310 takes the low end of its 30 to 120
/// s; the ones libpri does not run (T301, T302, T304, T322) take the
/// values of the timer tables of Q.931 and ETSI EN 300 403: T301 their
/// minimum of 3 minutes, T302 and T304 the user side's 15 s and 30 s
/// (one machine serves either side, and a slow dialler is better cut
/// late than early), T322 4 s.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// ALERTING received for a call this side placed, no CONNECT yet: at
    /// least 3 minutes, then the call is cleared with cause 102.
    pub t301: Duration,
    /// Overlap receiving: SETUP ACK sent or the last INFORMATION
    /// received; on expiry the number is taken as complete (or, with no
    /// digit at all, cleared with cause 28).
    pub t302: Duration,
    /// SETUP unanswered.
    pub t303: Duration,
    /// Overlap sending: SETUP ACK received or the last INFORMATION sent,
    /// nothing after; on expiry the call is cleared with cause 102.
    pub t304: Duration,
    /// DISCONNECT sent, no RELEASE.
    pub t305: Duration,
    /// RELEASE sent, no RELEASE COMPLETE.
    pub t308: Duration,
    /// CALL PROCEEDING received, nothing after (user side).
    pub t310: Duration,
    /// CONNECT sent, no CONNECT ACK (user side).
    pub t313: Duration,
    /// RESTART sent, no RESTART ACK.
    pub t316: Duration,
    /// The data link went down under an active call.
    pub t309: Duration,
    /// STATUS ENQUIRY sent, no STATUS.
    pub t322: Duration,
    /// Times STATUS ENQUIRY is sent (the first included) before a call
    /// whose peer never answers it is cleared with cause 41.
    pub n322: u8,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t301: Duration::from_secs(180),
            t302: Duration::from_secs(15),
            t303: Duration::from_secs(4),
            t304: Duration::from_secs(30),
            t305: Duration::from_secs(30),
            t308: Duration::from_secs(4),
            t310: Duration::from_secs(30),
            t313: Duration::from_secs(4),
            t316: Duration::from_secs(120),
            t309: Duration::from_secs(6),
            t322: Duration::from_secs(4),
            n322: 3,
        }
    }
}

/// Times RESTART is sent before giving up (N316 + the first).
const RESTART_TRIES: u8 = 2;

/// A call as trunkd names it: the call reference value and whether this
/// side allocated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId {
    /// The call reference value.
    pub value: u16,
    /// Whether this side allocated the reference (placed the call).
    pub ours: bool,
}

impl CallId {
    fn call_ref(self) -> CallRef {
        CallRef {
            value: self.value,
            flag: !self.ours,
        }
    }
    fn of(r: CallRef) -> Self {
        // The flag is set by the side that did not allocate the value:
        // a flag in a received message means this side allocated it.
        CallId {
            value: r.value,
            ours: r.flag,
        }
    }
}

/// Where a call stands, independent of the side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// SETUP sent or received, no answer yet.
    Initiated,
    /// SETUP ACK sent or received: more digits come in INFORMATION.
    Overlap,
    /// CALL PROCEEDING sent or received.
    Proceeding,
    /// ALERTING sent or received.
    Delivered,
    /// User side, called: CONNECT sent, waiting for CONNECT ACK.
    ConnectRequest,
    /// Answered.
    Active,
    /// This side sent DISCONNECT.
    DisconnectSent,
    /// This side sent RELEASE.
    ReleaseRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    T301,
    T302,
    T303,
    T304,
    T305,
    T308,
    T310,
    T313,
    T309,
}

#[derive(Debug)]
struct Call {
    phase: Phase,
    channel: Option<u8>,
    /// Whether the first answer to the SETUP (which names the channel)
    /// has been sent.
    answered_setup: bool,
    timer: Option<(Timer, Instant)>,
    /// Whether the running timer has already expired once (T303, T308
    /// resend once).
    retried: bool,
    /// The cause this side cleared with, reused when T305 fires.
    cause: Cause,
    setup: Option<Message>,
    /// Whether an incoming call's called number has a digit yet: a T302
    /// expiry without one is a number that is definitely incomplete.
    digits: bool,
    /// The STATUS ENQUIRY waiting for its STATUS, beside the call's one
    /// other timer (it may be sent in any state).
    enquiry: Option<Enquiry>,
}

/// T322 and how many STATUS ENQUIRY messages went out.
#[derive(Debug, Clone, Copy)]
struct Enquiry {
    deadline: Instant,
    sent: u8,
}

/// What the owner asks for to place a call.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    /// The number to call.
    pub called: PartyNumber,
    /// This side's number, when it is sent.
    pub calling: Option<PartyNumber>,
    /// The B-channel (timeslot) and whether it is the only acceptable one.
    pub channel: ChannelId,
    /// Whether the called number is complete (en bloc).
    pub sending_complete: bool,
}

/// What happened, for trunkd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer offers a call.
    IncomingCall {
        /// The call.
        call: CallId,
        /// The number called.
        called: Option<PartyNumber>,
        /// The caller's number.
        calling: Option<PartyNumber>,
        /// The channel asked for.
        channel: Option<ChannelId>,
        /// The bearer asked for.
        bearer: Option<BearerCapability>,
        /// Whether the called number is complete.
        sending_complete: bool,
    },
    /// The peer took our SETUP (CALL PROCEEDING), on this channel.
    Proceeding {
        /// The call.
        call: CallId,
        /// The B-channel the peer chose, when it said.
        channel: Option<u8>,
    },
    /// The peer took our SETUP and asks for more digits (SETUP ACK): send
    /// them with [`CallControl::information`].
    SetupAcknowledged {
        /// The call.
        call: CallId,
        /// The B-channel the peer chose, when it said.
        channel: Option<u8>,
    },
    /// More digits of an incoming call in overlap receiving. When T302
    /// runs out with digits collected, this comes with no digits and
    /// `sending_complete`: the number is taken as it stands (answer with
    /// [`CallControl::proceeding`], or clear with cause 28 when the
    /// numbering plan says it is short).
    Information {
        /// The call.
        call: CallId,
        /// The digits added (not the whole number).
        digits: String,
        /// Whether the number is now complete.
        sending_complete: bool,
    },
    /// The called party is being alerted.
    Alerting {
        /// The call.
        call: CallId,
    },
    /// A PROGRESS message with this description (8 = in-band
    /// information).
    Progress {
        /// The call.
        call: CallId,
        /// The progress description.
        description: u8,
    },
    /// The call is answered and active.
    Connected {
        /// The call.
        call: CallId,
    },
    /// The peer cleared the call with this cause (RELEASE already sent).
    Disconnected {
        /// The call.
        call: CallId,
        /// The cause the peer gave.
        cause: Cause,
    },
    /// The call reference is free; so is its channel, unless it is being
    /// restarted (T308 expired twice).
    Released {
        /// The call.
        call: CallId,
        /// The cause of the clearing.
        cause: Cause,
        /// The B-channel the call held.
        channel: Option<u8>,
    },
    /// A RESTART from the peer or the peer's RESTART ACK: the channel (or
    /// with `None`, every channel) is idle.
    Restarted {
        /// The channel, or the whole interface.
        channel: Option<u8>,
    },
    /// RESTART went unacknowledged N316 times.
    RestartFailed {
        /// The channel, or the whole interface.
        channel: Option<u8>,
    },
}

/// Why an owner's request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such call.
    #[error("no call {0:?}")]
    UnknownCall(CallId),
    /// The request does not fit the call's state.
    #[error("request not valid in state {state} of call {call:?}")]
    WrongState {
        /// The call.
        call: CallId,
        /// Its Q.931 state.
        state: u8,
    },
    /// Every call reference value is in use.
    #[error("no call reference free")]
    NoCallReference,
}

#[derive(Debug)]
struct PendingRestart {
    channel: Option<u8>,
    deadline: Instant,
    tries: u8,
}

/// The call control of one D-channel.
#[derive(Debug)]
pub struct CallControl {
    side: Side,
    timers: Timers,
    calls: BTreeMap<CallId, Call>,
    next_ref: u16,
    restart: Option<PendingRestart>,
    out: VecDeque<Message>,
    events: VecDeque<Event>,
}

impl CallControl {
    /// A machine for `side` with `timers`.
    pub fn new(side: Side, timers: Timers) -> Self {
        CallControl {
            side,
            timers,
            calls: BTreeMap::new(),
            next_ref: 1,
            restart: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The next message to hand to Q.921.
    pub fn poll_message(&mut self) -> Option<Message> {
        self.out.pop_front()
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`CallControl::handle_timeout`] should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.calls
            .values()
            .flat_map(|c| [c.timer.map(|(_, t)| t), c.enquiry.map(|e| e.deadline)])
            .flatten()
            .chain(self.restart.as_ref().map(|r| r.deadline))
            .min()
    }

    /// The Q.931 state number of a call (0 when there is none).
    pub fn state(&self, call: CallId) -> u8 {
        self.calls.get(&call).map_or(0, |c| self.state_of(call, c))
    }

    fn state_of(&self, id: CallId, c: &Call) -> u8 {
        // (user placed, user called, network placed, network called)
        let (up, uc, np, nc) = match c.phase {
            Phase::Initiated => (1, 6, 6, 1),
            Phase::Overlap => (2, 25, 25, 2),
            Phase::Proceeding => (3, 9, 9, 3),
            Phase::Delivered => (4, 7, 7, 4),
            Phase::ConnectRequest => (8, 8, 8, 8),
            Phase::Active => (10, 10, 10, 10),
            Phase::DisconnectSent => (11, 11, 12, 12),
            Phase::ReleaseRequest => (19, 19, 19, 19),
        };
        match (self.side, id.ours) {
            (Side::User, true) => up,
            (Side::User, false) => uc,
            (Side::Network, true) => np,
            (Side::Network, false) => nc,
        }
    }

    fn send(&mut self, id: CallId, t: MessageType, ies: Vec<Ie>) {
        self.out.push_back(Message {
            call_ref: id.call_ref(),
            msg_type: t,
            ies,
        });
    }

    fn send_cause(&mut self, r: CallRef, t: MessageType, cause: Cause) {
        // Answering a message: the reply's flag is the opposite of the
        // received one.
        let r = CallRef {
            value: r.value,
            flag: !r.flag,
        };
        self.out
            .push_back(Message::new(r, t).with(Ie::Cause(CauseIe::new(cause))));
    }

    fn status(&mut self, id: CallId, cause: Cause) {
        let state = self.state(id);
        self.send(
            id,
            MessageType::Status,
            vec![Ie::Cause(CauseIe::new(cause)), Ie::CallState(state)],
        );
    }

    fn set_timer(&mut self, id: CallId, now: Instant, t: Option<Timer>) {
        let d = |t| match t {
            Timer::T301 => self.timers.t301,
            Timer::T302 => self.timers.t302,
            Timer::T303 => self.timers.t303,
            Timer::T304 => self.timers.t304,
            Timer::T305 => self.timers.t305,
            Timer::T308 => self.timers.t308,
            Timer::T310 => self.timers.t310,
            Timer::T313 => self.timers.t313,
            Timer::T309 => self.timers.t309,
        };
        let timer = t.map(|t| (t, now + d(t)));
        if let Some(c) = self.calls.get_mut(&id) {
            c.timer = timer;
            c.retried = false;
        }
    }

    fn free(&mut self, id: CallId, cause: Cause) {
        if let Some(c) = self.calls.remove(&id) {
            self.events.push_back(Event::Released {
                call: id,
                cause,
                channel: c.channel,
            });
        }
    }

    fn call(&self, id: CallId) -> Result<&Call, CallError> {
        self.calls.get(&id).ok_or(CallError::UnknownCall(id))
    }

    fn wrong(&self, id: CallId) -> CallError {
        CallError::WrongState {
            call: id,
            state: self.state(id),
        }
    }

    /// Places a call: SETUP, T303.
    pub fn setup(&mut self, now: Instant, req: SetupRequest) -> Result<CallId, CallError> {
        let value = (0..0x7FFF)
            .map(|i| (self.next_ref - 1 + i) % 0x7FFF + 1)
            .find(|&v| {
                !self.calls.contains_key(&CallId {
                    value: v,
                    ours: true,
                })
            })
            .ok_or(CallError::NoCallReference)?;
        self.next_ref = value % 0x7FFF + 1;
        let id = CallId { value, ours: true };
        let mut ies = vec![
            Ie::BearerCapability(BearerCapability::speech_alaw()),
            Ie::ChannelId(req.channel),
        ];
        if let Some(c) = req.calling {
            ies.push(Ie::CallingNumber(c));
        }
        ies.push(Ie::CalledNumber(req.called));
        if req.sending_complete {
            ies.push(Ie::SendingComplete);
        }
        let setup = Message {
            call_ref: id.call_ref(),
            msg_type: MessageType::Setup,
            ies,
        };
        self.out.push_back(setup.clone());
        let channel = match req.channel.channel {
            ChannelSel::BChannel(n) => Some(n),
            _ => None,
        };
        self.calls.insert(
            id,
            Call {
                phase: Phase::Initiated,
                channel,
                answered_setup: true,
                timer: None,
                retried: false,
                cause: Cause::NormalClearing,
                setup: Some(setup),
                digits: true,
                enquiry: None,
            },
        );
        self.set_timer(id, now, Some(Timer::T303));
        Ok(id)
    }

    /// The first answer to an incoming SETUP carries the channel.
    fn first_answer_ies(&mut self, id: CallId) -> Vec<Ie> {
        match self.calls.get_mut(&id) {
            Some(c) if !c.answered_setup => {
                c.answered_setup = true;
                c.channel
                    .map(|n| {
                        Ie::ChannelId(ChannelId {
                            exclusive: true,
                            channel: ChannelSel::BChannel(n),
                        })
                    })
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Takes an incoming call (CALL PROCEEDING), on `channel` when the
    /// owner chose one (it must on the network side when the user left the
    /// choice open).
    pub fn proceeding(
        &mut self,
        now: Instant,
        id: CallId,
        channel: Option<u8>,
    ) -> Result<(), CallError> {
        let allowed = |p: Phase| matches!(p, Phase::Initiated | Phase::Overlap);
        self.first_answer(
            now,
            id,
            channel,
            allowed,
            MessageType::CallProceeding,
            Phase::Proceeding,
        )
    }

    /// Asks for more digits of an incoming call whose SETUP did not say
    /// Sending Complete (SETUP ACK, overlap receiving); they come as
    /// [`Event::Information`], each within T302 of the last.
    pub fn setup_ack(
        &mut self,
        now: Instant,
        id: CallId,
        channel: Option<u8>,
    ) -> Result<(), CallError> {
        let allowed = |p: Phase| p == Phase::Initiated;
        self.first_answer(
            now,
            id,
            channel,
            allowed,
            MessageType::SetupAck,
            Phase::Overlap,
        )
    }

    /// The first answer to an incoming SETUP (CALL PROCEEDING or SETUP
    /// ACK): allowed only in the phases `allowed` takes, on `channel`
    /// when the owner chose one, moving the call to `then`. Overlap
    /// receiving runs under T302; any other answer ends it.
    fn first_answer(
        &mut self,
        now: Instant,
        id: CallId,
        channel: Option<u8>,
        allowed: impl Fn(Phase) -> bool,
        msg: MessageType,
        then: Phase,
    ) -> Result<(), CallError> {
        let c = self.call(id)?;
        if id.ours || !allowed(c.phase) {
            return Err(self.wrong(id));
        }
        if let (Some(n), Some(c)) = (channel, self.calls.get_mut(&id)) {
            c.channel = Some(n);
        }
        let ies = self.first_answer_ies(id);
        self.send(id, msg, ies);
        self.set_phase(id, then);
        let t302 = (then == Phase::Overlap).then_some(Timer::T302);
        self.set_timer(id, now, t302);
        Ok(())
    }

    /// Sends more digits of a call the peer acknowledged with SETUP ACK
    /// (INFORMATION, overlap sending); T304 starts again.
    pub fn information(
        &mut self,
        now: Instant,
        id: CallId,
        digits: PartyNumber,
        sending_complete: bool,
    ) -> Result<(), CallError> {
        let c = self.call(id)?;
        if !id.ours || c.phase != Phase::Overlap {
            return Err(self.wrong(id));
        }
        let mut ies = vec![Ie::CalledNumber(digits)];
        if sending_complete {
            ies.insert(0, Ie::SendingComplete);
        }
        self.send(id, MessageType::Information, ies);
        self.set_timer(id, now, Some(Timer::T304));
        Ok(())
    }

    fn set_phase(&mut self, id: CallId, p: Phase) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.phase = p;
        }
    }

    /// The called party is ringing (ALERTING).
    pub fn alerting(&mut self, now: Instant, id: CallId) -> Result<(), CallError> {
        let c = self.call(id)?;
        if id.ours
            || !matches!(
                c.phase,
                Phase::Initiated | Phase::Overlap | Phase::Proceeding
            )
        {
            return Err(self.wrong(id));
        }
        let ies = self.first_answer_ies(id);
        self.send(id, MessageType::Alerting, ies);
        self.set_phase(id, Phase::Delivered);
        self.set_timer(id, now, None);
        Ok(())
    }

    /// The called party answers (CONNECT). The user side waits for
    /// CONNECT ACK under T313; the network side is active at once.
    pub fn connect(&mut self, now: Instant, id: CallId) -> Result<(), CallError> {
        let c = self.call(id)?;
        if id.ours
            || !matches!(
                c.phase,
                Phase::Initiated | Phase::Overlap | Phase::Proceeding | Phase::Delivered
            )
        {
            return Err(self.wrong(id));
        }
        let ies = self.first_answer_ies(id);
        self.send(id, MessageType::Connect, ies);
        match self.side {
            Side::User => {
                self.set_phase(id, Phase::ConnectRequest);
                self.set_timer(id, now, Some(Timer::T313));
            }
            Side::Network => {
                self.set_phase(id, Phase::Active);
                self.set_timer(id, now, None);
                self.events.push_back(Event::Connected { call: id });
            }
        }
        Ok(())
    }

    /// Clears a call with `cause`: DISCONNECT and T305, or RELEASE
    /// COMPLETE when an incoming call is refused before any answer.
    pub fn disconnect(&mut self, now: Instant, id: CallId, cause: Cause) -> Result<(), CallError> {
        let c = self.call(id)?;
        match c.phase {
            Phase::DisconnectSent | Phase::ReleaseRequest => Err(self.wrong(id)),
            Phase::Initiated if !id.ours => {
                self.send(
                    id,
                    MessageType::ReleaseComplete,
                    vec![Ie::Cause(CauseIe::new(cause))],
                );
                self.free(id, cause);
                Ok(())
            }
            _ => {
                self.send(
                    id,
                    MessageType::Disconnect,
                    vec![Ie::Cause(CauseIe::new(cause))],
                );
                self.set_phase(id, Phase::DisconnectSent);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.cause = cause;
                }
                self.set_timer(id, now, Some(Timer::T305));
                Ok(())
            }
        }
    }

    /// Releases a call at once (RELEASE, T308), whatever its state.
    pub fn release(&mut self, now: Instant, id: CallId, cause: Cause) -> Result<(), CallError> {
        let c = self.call(id)?;
        if c.phase == Phase::ReleaseRequest {
            return Err(self.wrong(id));
        }
        self.send_release(now, id, cause);
        Ok(())
    }

    fn send_release(&mut self, now: Instant, id: CallId, cause: Cause) {
        self.send(
            id,
            MessageType::Release,
            vec![Ie::Cause(CauseIe::new(cause))],
        );
        self.set_phase(id, Phase::ReleaseRequest);
        if let Some(c) = self.calls.get_mut(&id) {
            c.cause = cause;
        }
        self.set_timer(id, now, Some(Timer::T308));
    }

    /// Asks the peer for its state of a call (STATUS ENQUIRY, T322), e.g.
    /// when a call seems stuck. The STATUS that answers it is acted on as
    /// any STATUS is; without one the enquiry is repeated under T322 until
    /// it has gone out N322 times, and the call is then cleared with cause
    /// 41. While an enquiry is outstanding another is not sent.
    pub fn status_enquiry(&mut self, now: Instant, id: CallId) -> Result<(), CallError> {
        let c = self.call(id)?;
        if c.enquiry.is_some() {
            return Ok(());
        }
        self.send(id, MessageType::StatusEnquiry, Vec::new());
        if let Some(c) = self.calls.get_mut(&id) {
            c.enquiry = Some(Enquiry {
                deadline: now + self.timers.t322,
                sent: 1,
            });
        }
        Ok(())
    }

    /// T322 ran out for `id`: the enquiry again, or the call cleared.
    fn enquiry_expired(&mut self, now: Instant, id: CallId) {
        let (t322, n322) = (self.timers.t322, self.timers.n322);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match c.enquiry {
            Some(e) if e.sent < n322 => {
                c.enquiry = Some(Enquiry {
                    deadline: now + t322,
                    sent: e.sent + 1,
                });
                self.send(id, MessageType::StatusEnquiry, Vec::new());
            }
            Some(_) => {
                c.enquiry = None;
                // A call already being cleared is left to T305 and T308.
                if !matches!(c.phase, Phase::DisconnectSent | Phase::ReleaseRequest) {
                    let _ = self.disconnect(now, id, Cause::TemporaryFailure);
                }
            }
            None => {}
        }
    }

    /// Restarts a channel (or with `None` the interface): RESTART on the
    /// global reference, T316. Calls on it are released locally.
    pub fn restart(&mut self, now: Instant, channel: Option<u8>) {
        self.release_local(channel, Cause::TemporaryFailure);
        self.send_restart(channel);
        self.restart = Some(PendingRestart {
            channel,
            deadline: now + self.timers.t316,
            tries: 1,
        });
    }

    fn restart_ies(channel: Option<u8>) -> Vec<Ie> {
        match channel {
            Some(n) => vec![
                Ie::ChannelId(ChannelId {
                    exclusive: true,
                    channel: ChannelSel::BChannel(n),
                }),
                Ie::RestartIndicator(RestartClass::Channels),
            ],
            None => vec![Ie::RestartIndicator(RestartClass::Interface)],
        }
    }

    fn send_restart(&mut self, channel: Option<u8>) {
        self.out.push_back(Message {
            call_ref: CallRef::GLOBAL,
            msg_type: MessageType::Restart,
            ies: Self::restart_ies(channel),
        });
    }

    /// Frees, without messages, every call on `channel` (all with `None`).
    fn release_local(&mut self, channel: Option<u8>, cause: Cause) {
        let ids: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| channel.is_none() || c.channel == channel)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.free(id, cause);
        }
    }

    /// Q.921 lost the data link (Q.931 5.8.8): calls not yet or no
    /// longer active are released at once with cause 41; active calls
    /// survive for T309, waiting for [`CallControl::link_up`].
    pub fn link_down(&mut self, now: Instant) {
        let ids: Vec<(CallId, Phase)> = self.calls.iter().map(|(id, c)| (*id, c.phase)).collect();
        for (id, phase) in ids {
            if phase == Phase::Active {
                self.set_timer(id, now, Some(Timer::T309));
            } else {
                self.free(id, Cause::TemporaryFailure);
            }
        }
    }

    /// The data link is back: T309 stops and each surviving call tells
    /// the peer its state (STATUS, cause 31), so a peer that lost the call
    /// clears it.
    pub fn link_up(&mut self, now: Instant) {
        let ids: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.timer, Some((Timer::T309, _))))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.set_timer(id, now, None);
            self.status(id, Cause::NormalUnspecified);
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(CallId, Timer, bool)> = self
            .calls
            .iter()
            .filter_map(|(id, c)| match c.timer {
                Some((t, at)) if at <= now => Some((*id, t, c.retried)),
                _ => None,
            })
            .collect();
        for (id, t, retried) in due {
            self.expire(now, id, t, retried);
        }
        let enquiries: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.enquiry.is_some_and(|e| e.deadline <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in enquiries {
            self.enquiry_expired(now, id);
        }
        if let Some(r) = self.restart.as_mut().filter(|r| r.deadline <= now) {
            let channel = r.channel;
            if r.tries < RESTART_TRIES {
                r.tries += 1;
                r.deadline = now + self.timers.t316;
                self.send_restart(channel);
            } else {
                self.restart = None;
                self.events.push_back(Event::RestartFailed { channel });
            }
        }
    }

    fn expire(&mut self, now: Instant, id: CallId, t: Timer, retried: bool) {
        match t {
            Timer::T303 if !retried => {
                // Resend the SETUP once, under a fresh T303.
                let setup = self.calls.get(&id).and_then(|c| c.setup.clone());
                if let Some(s) = setup {
                    self.out.push_back(s);
                }
                self.set_timer(id, now, Some(Timer::T303));
                if let Some(c) = self.calls.get_mut(&id) {
                    c.retried = true;
                }
            }
            Timer::T303 => {
                let cause = Cause::RecoveryOnTimerExpiry;
                self.send(
                    id,
                    MessageType::ReleaseComplete,
                    vec![Ie::Cause(CauseIe::new(cause))],
                );
                self.free(id, cause);
            }
            Timer::T309 => self.free(id, Cause::DestinationOutOfOrder),
            Timer::T301 | Timer::T304 | Timer::T310 | Timer::T313 => {
                let _ = self.disconnect(now, id, Cause::RecoveryOnTimerExpiry);
            }
            Timer::T302 => {
                // No digit for T302: a number without any digit is
                // definitely incomplete (cause 28); otherwise the owner
                // takes what came as the whole number (en bloc) and
                // answers with CALL PROCEEDING, or clears with cause 28
                // when its numbering plan says the number is short.
                let digits = self.calls.get(&id).is_some_and(|c| c.digits);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.timer = None;
                }
                if digits {
                    self.events.push_back(Event::Information {
                        call: id,
                        digits: String::new(),
                        sending_complete: true,
                    });
                } else {
                    let _ = self.disconnect(now, id, Cause::InvalidNumberFormat);
                }
            }
            Timer::T305 => {
                let cause = self
                    .calls
                    .get(&id)
                    .map_or(Cause::NormalClearing, |c| c.cause);
                self.send_release(now, id, cause);
            }
            Timer::T308 if !retried => {
                let cause = self
                    .calls
                    .get(&id)
                    .map_or(Cause::NormalClearing, |c| c.cause);
                self.send_release(now, id, cause);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.retried = true;
                }
            }
            Timer::T308 => {
                // The peer may still think the channel busy: free the
                // reference and restart the channel.
                let channel = self.calls.get(&id).and_then(|c| c.channel);
                self.free(id, Cause::RecoveryOnTimerExpiry);
                if channel.is_some() {
                    self.restart(now, channel);
                }
            }
        }
    }

    /// Takes bytes from Q.921: a message is handled, and one that could
    /// not be read but names its call answers as Q.931 section 5.8 says.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        match Message::decode(bytes) {
            Ok(m) => self.handle_message(now, m),
            Err(e) => self.handle_decode_error(now, &e),
        }
    }

    /// Answers a message that lacks a mandatory IE (cause 96) or has one
    /// with broken contents (cause 100).
    pub fn handle_decode_error(&mut self, now: Instant, e: &DecodeError) {
        let (header, cause) = match *e {
            DecodeError::MandatoryMissing { header, .. } => (header, Cause::MandatoryIeMissing),
            DecodeError::InvalidContents { header, .. } => (header, Cause::InvalidIeContents),
            _ => return,
        };
        let r = header.call_ref;
        if r.is_global() {
            return;
        }
        let id = CallId::of(r);
        let known = self.calls.contains_key(&id);
        match header.msg_type {
            MessageType::Setup if !known => self.send_cause(r, MessageType::ReleaseComplete, cause),
            MessageType::ReleaseComplete => {}
            _ if !known => {
                self.send_cause(r, MessageType::ReleaseComplete, Cause::InvalidCallReference)
            }
            MessageType::Disconnect => match self.calls.get(&id).map(|c| c.phase) {
                Some(Phase::ReleaseRequest) => {}
                Some(Phase::DisconnectSent) => self.send_release(now, id, cause),
                _ => {
                    self.events
                        .push_back(Event::Disconnected { call: id, cause });
                    self.send_release(now, id, cause);
                }
            },
            MessageType::Release => {
                self.send(
                    id,
                    MessageType::ReleaseComplete,
                    vec![Ie::Cause(CauseIe::new(cause))],
                );
                self.free(id, cause);
            }
            _ => self.status(id, cause),
        }
    }

    /// Takes a message from the peer.
    pub fn handle_message(&mut self, now: Instant, m: Message) {
        if m.call_ref.is_global() {
            self.handle_global(m);
            return;
        }
        let id = CallId::of(m.call_ref);
        let Some(phase) = self.calls.get(&id).map(|c| c.phase) else {
            self.handle_unknown(id, m);
            return;
        };
        use MessageType as T;
        if matches!(
            m.msg_type,
            T::Status | T::Disconnect | T::Release | T::ReleaseComplete
        ) {
            // Each of these stops T322 (Q.931 table 9).
            if let Some(c) = self.calls.get_mut(&id) {
                c.enquiry = None;
            }
        }
        match (m.msg_type, phase) {
            (T::StatusEnquiry, _) => self.status(id, Cause::ResponseToStatusEnquiry),
            (T::Status, _) => {
                // A peer in the Null state has forgotten the call.
                if m.ies.contains(&Ie::CallState(0)) {
                    let cause = m.cause().unwrap_or(Cause::NormalUnspecified);
                    self.free(id, cause);
                }
            }
            (T::ReleaseComplete, _) => {
                // Without a cause of its own it closes the clearing this
                // side started, for the reason that side gave.
                let ours = self
                    .calls
                    .get(&id)
                    .map_or(Cause::NormalClearing, |c| c.cause);
                let cause = m.cause().unwrap_or(ours);
                self.free(id, cause);
            }
            (T::Release, Phase::ReleaseRequest) => {
                // Both sides released at once: the RELEASE stands for the
                // RELEASE COMPLETE (Q.931 5.3.5).
                let cause = self
                    .calls
                    .get(&id)
                    .map_or(Cause::NormalClearing, |c| c.cause);
                self.free(id, cause);
            }
            (T::Release, _) => {
                let cause = m.cause().unwrap_or(Cause::NormalClearing);
                self.send(id, T::ReleaseComplete, Vec::new());
                self.free(id, cause);
            }
            (T::Disconnect, Phase::ReleaseRequest) => {}
            (T::Disconnect, Phase::DisconnectSent) => {
                // Both sides disconnected at once: go on to RELEASE.
                let cause = self
                    .calls
                    .get(&id)
                    .map_or(Cause::NormalClearing, |c| c.cause);
                self.send_release(now, id, cause);
            }
            (T::Disconnect, _) => {
                let cause = m.cause().unwrap_or(Cause::NormalUnspecified);
                self.events
                    .push_back(Event::Disconnected { call: id, cause });
                self.send_release(now, id, cause);
            }
            (_, Phase::DisconnectSent | Phase::ReleaseRequest) => {}
            (T::SetupAck, Phase::Initiated) if id.ours => {
                let channel = self.take_channel(id, &m);
                self.set_phase(id, Phase::Overlap);
                self.set_timer(id, now, Some(Timer::T304));
                self.events
                    .push_back(Event::SetupAcknowledged { call: id, channel });
            }
            (T::Information, Phase::Overlap) if !id.ours => {
                let digits = m
                    .ies
                    .iter()
                    .find_map(|i| match i {
                        Ie::CalledNumber(n) => Some(n.digits.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let sending_complete = m.ies.contains(&Ie::SendingComplete);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.digits |= !digits.is_empty();
                }
                // T302 runs again for the next digit, or stops with the
                // last one.
                let t302 = (!sending_complete).then_some(Timer::T302);
                self.set_timer(id, now, t302);
                self.events.push_back(Event::Information {
                    call: id,
                    digits,
                    sending_complete,
                });
            }
            (T::CallProceeding, Phase::Initiated | Phase::Overlap) if id.ours => {
                let channel = self.take_channel(id, &m);
                self.set_phase(id, Phase::Proceeding);
                let t310 = (self.side == Side::User).then_some(Timer::T310);
                self.set_timer(id, now, t310);
                self.events
                    .push_back(Event::Proceeding { call: id, channel });
            }
            (T::Alerting, Phase::Initiated | Phase::Overlap | Phase::Proceeding) if id.ours => {
                self.take_channel(id, &m);
                self.set_phase(id, Phase::Delivered);
                self.set_timer(id, now, Some(Timer::T301));
                self.events.push_back(Event::Alerting { call: id });
            }
            (
                T::Connect,
                Phase::Initiated | Phase::Overlap | Phase::Proceeding | Phase::Delivered,
            ) if id.ours => {
                self.take_channel(id, &m);
                self.send(id, T::ConnectAck, Vec::new());
                self.set_phase(id, Phase::Active);
                self.set_timer(id, now, None);
                self.events.push_back(Event::Connected { call: id });
            }
            (T::ConnectAck, Phase::ConnectRequest) => {
                self.set_phase(id, Phase::Active);
                self.set_timer(id, now, None);
                self.events.push_back(Event::Connected { call: id });
            }
            // The network side need not wait for it, but may get it.
            (T::ConnectAck, Phase::Active) if !id.ours => {}
            (T::Progress, _) => {
                if let Some(Ie::Progress(p)) = m.ie(super::ie::id::PROGRESS) {
                    self.events.push_back(Event::Progress {
                        call: id,
                        description: p.description,
                    });
                }
            }
            (T::Setup, _) | (T::Information | T::Facility, _) => {}
            (T::Other(_), _) => self.status(id, Cause::MessageTypeNonExistent),
            _ => self.status(id, Cause::MessageNotCompatibleWithState),
        }
    }

    fn take_channel(&mut self, id: CallId, m: &Message) -> Option<u8> {
        let n = match m.channel()?.channel {
            ChannelSel::BChannel(n) => n,
            _ => return None,
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.channel = Some(n);
        }
        Some(n)
    }

    fn handle_unknown(&mut self, id: CallId, m: Message) {
        use MessageType as T;
        match m.msg_type {
            T::Setup if !id.ours => {
                let channel = m.channel();
                if let Some(ChannelId {
                    exclusive: true,
                    channel: ChannelSel::BChannel(n),
                }) = channel
                {
                    // Glare: both sides chose this channel at once. The
                    // network's call wins (Q.931's channel selection: on a
                    // collision the network side's call has priority): the
                    // network refuses the user's SETUP with cause 44, and
                    // the user side gives the channel to the network's
                    // call, its own SETUP waiting for that refusal
                    // (released without a channel, so the owner does not
                    // free the one now in use). A channel held by a call
                    // past its SETUP is refused on either side.
                    let own_setup = |c: &Call| c.phase == Phase::Initiated;
                    let holder = self.calls.iter_mut().find(|(_, c)| c.channel == Some(n));
                    match holder {
                        Some((hid, c)) if self.side == Side::User && hid.ours && own_setup(c) => {
                            c.channel = None;
                        }
                        Some(_) => {
                            self.send_cause(
                                m.call_ref,
                                T::ReleaseComplete,
                                Cause::RequestedChannelNotAvailable,
                            );
                            return;
                        }
                        None => {}
                    }
                }
                let mut called = None;
                let mut calling = None;
                let mut bearer = None;
                let mut sending_complete = false;
                let mut digits = false;
                for ie in m.ies {
                    match ie {
                        Ie::CalledNumber(n) => {
                            digits = !n.digits.is_empty();
                            called = Some(n);
                        }
                        Ie::CallingNumber(n) => calling = Some(n),
                        Ie::BearerCapability(b) => bearer = Some(b),
                        Ie::SendingComplete => sending_complete = true,
                        _ => {}
                    }
                }
                self.calls.insert(
                    id,
                    Call {
                        phase: Phase::Initiated,
                        channel: channel.and_then(|c| match c.channel {
                            ChannelSel::BChannel(n) => Some(n),
                            _ => None,
                        }),
                        answered_setup: false,
                        timer: None,
                        retried: false,
                        cause: Cause::NormalClearing,
                        setup: None,
                        digits,
                        enquiry: None,
                    },
                );
                self.events.push_back(Event::IncomingCall {
                    call: id,
                    called,
                    calling,
                    channel,
                    bearer,
                    sending_complete,
                });
            }
            T::ReleaseComplete => {}
            T::Status if m.ies.contains(&Ie::CallState(0)) => {}
            T::StatusEnquiry => {
                self.send(
                    id,
                    T::Status,
                    vec![
                        Ie::Cause(CauseIe::new(Cause::ResponseToStatusEnquiry)),
                        Ie::CallState(0),
                    ],
                );
            }
            _ => self.send_cause(m.call_ref, T::ReleaseComplete, Cause::InvalidCallReference),
        }
    }

    fn handle_global(&mut self, m: Message) {
        let channel = m.channel().and_then(|c| match c.channel {
            ChannelSel::BChannel(n) => Some(n),
            _ => None,
        });
        let class = m.ies.iter().find_map(|i| match i {
            Ie::RestartIndicator(c) => Some(*c),
            _ => None,
        });
        let target = match class {
            // Naming channels without saying which is not a restart of
            // everything: such a message is ignored.
            Some(RestartClass::Channels) if channel.is_none() => return,
            Some(RestartClass::Channels) => channel,
            Some(RestartClass::Interface | RestartClass::AllInterfaces) => None,
            _ => return,
        };
        match m.msg_type {
            MessageType::Restart => {
                self.release_local(target, Cause::TemporaryFailure);
                self.out.push_back(Message {
                    call_ref: CallRef {
                        value: 0,
                        flag: true,
                    },
                    msg_type: MessageType::RestartAck,
                    ies: m.ies,
                });
                self.events.push_back(Event::Restarted { channel: target });
            }
            MessageType::RestartAck
                if self.restart.as_ref().is_some_and(|r| r.channel == target) =>
            {
                self.restart = None;
                self.events.push_back(Event::Restarted { channel: target });
            }
            _ => {}
        }
    }
}
