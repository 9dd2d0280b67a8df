//! The data link entity's multiple-frame operation (Q.921 §5 and its SDL,
//! Annex B): states 4 (TEI assigned, released), 5 (awaiting
//! establishment), 6 (awaiting release), 7 (multiple frame established)
//! and 8 (timer recovery). Sans-IO: the owner feeds frames and the time
//! and polls the frames to write, the events and the next deadline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::frame::{DecodeError, Frame, Kind, MODULUS};

/// Which end of the PRI this entity is; it decides the C/R bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The customer premises side (C/R = 0 on commands).
    User,
    /// The exchange side (C/R = 1 on commands).
    Network,
}

/// The system parameters of Q.921 §5.9, defaulting to the PRI values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Service access point (0: call control).
    pub sapi: u8,
    /// Terminal endpoint (0: point to point).
    pub tei: u8,
    /// Retransmission timer.
    pub t200: Duration,
    /// Idle supervision timer.
    pub t203: Duration,
    /// Retransmissions before the link gives up.
    pub n200: u32,
    /// Longest information field.
    pub n201: usize,
    /// Window: I-frames outstanding at once (1..=127).
    pub k: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sapi: 0,
            tei: 0,
            t200: Duration::from_secs(1),
            t203: Duration::from_secs(10),
            n200: 3,
            n201: 260,
            k: 7,
        }
    }
}

/// What the link tells its owner (the DL- and MDL- indications).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The link entered multiple-frame operation (DL-ESTABLISH indication
    /// or confirm): sequence numbers start again from 0.
    Established,
    /// The link is released (DL-RELEASE indication or confirm).
    Released,
    /// A layer-3 message, delivered once and in order (DL-DATA indication).
    Data(Vec<u8>),
    /// A protocol error (MDL-ERROR indication); the link's reaction has
    /// already been taken.
    Error(LinkError),
}

/// The MDL-ERROR causes of Q.921 Table II.1 that this entity reports.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    /// A supervisory response with F = 1 nobody asked for (A).
    #[error("unsolicited supervisory response with F=1")]
    UnsolicitedFinal,
    /// A DM response while established (B, E): the peer lost the link.
    #[error("peer sent DM while the link was established")]
    PeerDisconnected,
    /// A UA response nobody asked for (C, D).
    #[error("unsolicited UA response")]
    UnsolicitedUa,
    /// The peer re-established an established link (F); `lost` I-frames
    /// sent but not acknowledged are discarded.
    #[error("peer re-established the link, {lost} unacknowledged I-frames discarded")]
    PeerReestablished {
        /// Frames that may or may not have reached the peer.
        lost: usize,
    },
    /// SABME was sent N200 + 1 times without an answer (G).
    #[error("no answer to SABME after N200 retries")]
    EstablishFailed,
    /// DISC was sent N200 + 1 times without an answer (H).
    #[error("no answer to DISC after N200 retries")]
    ReleaseFailed,
    /// Timer recovery ran out of retries (I); the link re-establishes and
    /// `lost` unacknowledged I-frames are discarded.
    #[error("peer not responding in timer recovery, re-establishing ({lost} I-frames lost)")]
    PeerNotResponding {
        /// Frames that may or may not have reached the peer.
        lost: usize,
    },
    /// An N(R) outside V(A)..=V(S) (J); the link re-establishes.
    #[error("N(R) {nr} outside V(A) {va} ..= V(S) {vs}, re-establishing")]
    InvalidNr {
        /// The received N(R).
        nr: u8,
        /// V(A) at the time.
        va: u8,
        /// V(S) at the time.
        vs: u8,
    },
    /// The peer sent FRMR (K); the link re-establishes.
    #[error("peer rejected a frame (FRMR), re-establishing")]
    FrameRejected,
    /// A frame that is a frame rejection condition (L, M, N, O); while
    /// established the link re-establishes.
    #[error("invalid frame: {0}")]
    InvalidFrame(DecodeError),
}

/// Why [`Link::send`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// Longer than N201: it cannot fit one I-frame.
    #[error("message of {len} bytes exceeds N201 = {max}")]
    TooLong {
        /// The message's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// The states of Q.921's SDL (the numbers are the recommendation's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// 4: released; answers SABME, nothing else.
    Released,
    /// 5: SABME sent, waiting for UA.
    AwaitingEstablishment,
    /// 6: DISC sent, waiting for UA.
    AwaitingRelease,
    /// 7: multiple frame established.
    Established,
    /// 8: established, T200 ran out and the peer is being polled.
    TimerRecovery,
}

/// One LAPD data link entity (one D-channel, TEI 0, SAPI 0).
#[derive(Debug)]
pub struct Link {
    role: Role,
    config: Config,
    state: State,
    /// Send state variable V(S): N(S) of the next new I-frame.
    vs: u8,
    /// Acknowledge state variable V(A): the oldest unacknowledged N(S).
    va: u8,
    /// Receive state variable V(R): the N(S) expected next.
    vr: u8,
    /// Retransmission counter.
    rc: u32,
    peer_busy: bool,
    own_busy: bool,
    reject_exception: bool,
    ack_pending: bool,
    t200: Option<Instant>,
    t203: Option<Instant>,
    /// Layer-3 messages not yet acknowledged, the first with N(S) = V(A):
    /// the first `V(S) - V(A)` have been sent, the rest wait for the window.
    outbox: VecDeque<Vec<u8>>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

/// `a - b` modulo 128.
fn diff(a: u8, b: u8) -> u8 {
    a.wrapping_sub(b) % MODULUS
}

fn inc(a: u8) -> u8 {
    (a + 1) % MODULUS
}

impl Link {
    /// A released link; call [`Link::establish`] to bring it up, or wait for
    /// the peer's SABME.
    pub fn new(role: Role, mut config: Config, _now: Instant) -> Self {
        config.k = config.k.clamp(1, MODULUS - 1);
        config.n201 = config.n201.max(1);
        Self {
            role,
            config,
            state: State::Released,
            vs: 0,
            va: 0,
            vr: 0,
            rc: 0,
            peer_busy: false,
            own_busy: false,
            reject_exception: false,
            ack_pending: false,
            t200: None,
            t203: None,
            outbox: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The current state (for status displays and tests).
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether I-frames flow (states 7 and 8).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established | State::TimerRecovery)
    }

    /// The next frame to write to the D-channel.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next indication for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.t200, self.t203) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// DL-ESTABLISH request: sends SABME (again, if already established:
    /// unacknowledged I-frames are then discarded, Q.921 §5.5.3).
    pub fn establish(&mut self, now: Instant) {
        match self.state {
            State::AwaitingEstablishment => {}
            State::Established | State::TimerRecovery => {
                self.discard_unacknowledged();
                self.establish_data_link(now);
            }
            State::Released | State::AwaitingRelease => self.establish_data_link(now),
        }
    }

    /// DL-RELEASE request: sends DISC; queued messages are discarded.
    pub fn release(&mut self, now: Instant) {
        match self.state {
            State::Established | State::TimerRecovery => {
                self.outbox.clear();
                self.rc = 0;
                self.send_frame(Kind::Disc { pf: true }, true, Vec::new());
                self.t203 = None;
                self.start_t200(now);
                self.state = State::AwaitingRelease;
            }
            State::AwaitingEstablishment => {
                self.outbox.clear();
                self.t200 = None;
                self.state = State::Released;
                self.events.push_back(Event::Released);
            }
            State::Released | State::AwaitingRelease => {}
        }
    }

    /// DL-DATA request: queues a layer-3 message for an I-frame; it goes out
    /// when the link is established and the window has room.
    pub fn send(&mut self, now: Instant, payload: Vec<u8>) -> Result<(), SendError> {
        if payload.len() > self.config.n201 {
            return Err(SendError::TooLong {
                len: payload.len(),
                max: self.config.n201,
            });
        }
        self.outbox.push_back(payload);
        self.push_i_frames(now);
        Ok(())
    }

    /// Sets or clears own receiver busy (RNR): while set, received I-frames
    /// are discarded unacknowledged and the peer is told to pause.
    pub fn set_receiver_busy(&mut self, _now: Instant, busy: bool) {
        if busy == self.own_busy {
            return;
        }
        self.own_busy = busy;
        if self.is_established() {
            self.send_supervisory_response(false);
            self.ack_pending = false;
        }
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.t200.is_some_and(|t| t <= now) {
            self.t200 = None;
            self.t200_expired(now);
        }
        if self.t203.is_some_and(|t| t <= now) {
            self.t203 = None;
            if self.state == State::Established {
                self.rc = 0;
                self.state = State::TimerRecovery;
                self.transmit_enquiry(now);
            }
        }
    }

    /// One received frame (without FCS). Frames for another SAPI or TEI
    /// are ignored.
    pub fn handle_frame(&mut self, now: Instant, bytes: &[u8]) {
        let frame = match Frame::decode(bytes, self.config.n201) {
            Ok(f) => f,
            Err(e) => {
                if e.is_protocol_error() && self.is_established() {
                    self.events
                        .push_back(Event::Error(LinkError::InvalidFrame(e)));
                    self.discard_unacknowledged();
                    self.establish_data_link(now);
                }
                return;
            }
        };
        if frame.sapi != self.config.sapi || frame.tei != self.config.tei {
            return;
        }
        let command = frame.is_command(self.role == Role::User);
        match frame.kind {
            Kind::Sabme { pf } if command => self.on_sabme(now, pf),
            Kind::Disc { pf } if command => self.on_disc(pf),
            Kind::Ua { pf } if !command => self.on_ua(now, pf),
            Kind::Dm { pf } if !command => self.on_dm(now, pf),
            Kind::Frmr { .. } if !command && self.is_established() => {
                self.events
                    .push_back(Event::Error(LinkError::FrameRejected));
                self.discard_unacknowledged();
                self.establish_data_link(now);
            }
            Kind::I { ns, nr, pf } if command => self.on_i(now, ns, nr, pf, frame.info),
            Kind::Rr { nr, pf } | Kind::Rnr { nr, pf } | Kind::Rej { nr, pf } => {
                self.on_supervisory(now, &frame.kind, nr, pf, command)
            }
            // UI and XID carry nothing for point-to-point call control; a
            // frame with the wrong C/R bit is invalid and ignored (§5.8.4).
            _ => {}
        }
        if self.ack_pending && self.is_established() {
            self.push_i_frames(now);
            if self.ack_pending {
                self.send_supervisory_response(false);
            }
        }
    }

    fn on_sabme(&mut self, now: Instant, pf: bool) {
        match self.state {
            State::Released => {
                self.send_frame(Kind::Ua { pf }, false, Vec::new());
                self.enter_established(now);
            }
            // Both sides sent SABME: each answers UA and becomes
            // established on the other's UA (§5.5.1.3).
            State::AwaitingEstablishment => self.send_frame(Kind::Ua { pf }, false, Vec::new()),
            State::AwaitingRelease => self.send_frame(Kind::Dm { pf }, false, Vec::new()),
            State::Established | State::TimerRecovery => {
                self.send_frame(Kind::Ua { pf }, false, Vec::new());
                let lost = self.discard_unacknowledged();
                self.events
                    .push_back(Event::Error(LinkError::PeerReestablished { lost }));
                self.enter_established(now);
            }
        }
    }

    fn on_disc(&mut self, pf: bool) {
        match self.state {
            State::Released | State::AwaitingEstablishment => {
                self.send_frame(Kind::Dm { pf }, false, Vec::new())
            }
            State::AwaitingRelease => self.send_frame(Kind::Ua { pf }, false, Vec::new()),
            State::Established | State::TimerRecovery => {
                self.outbox.clear();
                self.send_frame(Kind::Ua { pf }, false, Vec::new());
                self.enter_released();
            }
        }
    }

    fn on_ua(&mut self, now: Instant, pf: bool) {
        match self.state {
            State::AwaitingEstablishment if pf => self.enter_established(now),
            State::AwaitingRelease if pf => self.enter_released(),
            State::Established | State::TimerRecovery => self
                .events
                .push_back(Event::Error(LinkError::UnsolicitedUa)),
            _ => {}
        }
    }

    fn on_dm(&mut self, now: Instant, pf: bool) {
        match self.state {
            State::AwaitingEstablishment | State::AwaitingRelease if pf => {
                self.outbox.clear();
                self.enter_released();
            }
            State::Established | State::TimerRecovery => {
                self.events
                    .push_back(Event::Error(LinkError::PeerDisconnected));
                self.discard_unacknowledged();
                self.establish_data_link(now);
            }
            _ => {}
        }
    }

    fn on_i(&mut self, now: Instant, ns: u8, nr: u8, pf: bool, info: Vec<u8>) {
        if !self.is_established() {
            if self.state == State::Released && pf {
                self.send_frame(Kind::Dm { pf: true }, false, Vec::new());
            }
            return;
        }
        if self.own_busy {
            if pf {
                self.send_supervisory_response(true);
            }
        } else if ns == self.vr {
            self.vr = inc(self.vr);
            self.reject_exception = false;
            self.events.push_back(Event::Data(info));
            if pf {
                self.send_supervisory_response(true);
                self.ack_pending = false;
            } else {
                self.ack_pending = true;
            }
        } else if self.reject_exception {
            if pf {
                self.send_supervisory_response(true);
            }
        } else {
            self.reject_exception = true;
            self.send_frame(Kind::Rej { nr: self.vr, pf }, false, Vec::new());
            self.ack_pending = false;
        }
        if self.check_nr(now, nr) {
            self.acknowledge(now, nr);
        }
    }

    fn on_supervisory(&mut self, now: Instant, kind: &Kind, nr: u8, pf: bool, command: bool) {
        if !self.is_established() {
            if self.state == State::Released && command && pf {
                self.send_frame(Kind::Dm { pf: true }, false, Vec::new());
            }
            return;
        }
        self.peer_busy = matches!(kind, Kind::Rnr { .. });
        let reject = matches!(kind, Kind::Rej { .. });
        if command && pf {
            self.send_supervisory_response(true);
            self.ack_pending = false;
        }
        if !self.check_nr(now, nr) {
            return;
        }
        let final_response = !command && pf;
        match self.state {
            State::TimerRecovery if final_response => {
                self.set_va(nr);
                self.state = State::Established;
                self.rc = 0;
                self.vs = nr;
                self.resume_after_ack(now);
            }
            State::TimerRecovery => self.set_va(nr),
            _ => {
                if final_response {
                    self.events
                        .push_back(Event::Error(LinkError::UnsolicitedFinal));
                }
                if reject {
                    self.set_va(nr);
                    self.vs = nr;
                    self.resume_after_ack(now);
                } else {
                    self.acknowledge(now, nr);
                    if self.peer_busy && self.t200.is_none() {
                        // Poll the busy peer when T200 runs out (§5.6.6).
                        self.start_t200(now);
                    }
                }
            }
        }
        self.push_i_frames(now);
    }

    /// After the peer told where it stands: T200 keeps polling a busy
    /// peer, otherwise T203 supervises and the window is (re)sent.
    fn resume_after_ack(&mut self, now: Instant) {
        if self.peer_busy {
            self.start_t200(now);
        } else {
            self.t200 = None;
            self.start_t203(now);
        }
        self.push_i_frames(now);
    }

    /// Acknowledges up to `nr` in state 7 (the N(R) handling of §5.6.3).
    fn acknowledge(&mut self, now: Instant, nr: u8) {
        if self.state != State::Established {
            self.set_va(nr);
            return;
        }
        if self.peer_busy {
            self.set_va(nr);
        } else if nr == self.vs {
            self.set_va(nr);
            self.t200 = None;
            self.start_t203(now);
        } else if nr != self.va {
            self.set_va(nr);
            self.start_t200(now);
        } else if self.t200.is_none() {
            self.start_t203(now);
        }
    }

    /// Checks V(A) <= N(R) <= V(S); on failure reports MDL-ERROR J and
    /// re-establishes (§5.8.2).
    fn check_nr(&mut self, now: Instant, nr: u8) -> bool {
        if diff(nr, self.va) <= diff(self.vs, self.va) {
            return true;
        }
        self.events.push_back(Event::Error(LinkError::InvalidNr {
            nr,
            va: self.va,
            vs: self.vs,
        }));
        self.discard_unacknowledged();
        self.establish_data_link(now);
        false
    }

    /// Moves V(A) to `nr`, dropping the acknowledged messages.
    fn set_va(&mut self, nr: u8) {
        let acked = usize::from(diff(nr, self.va)).min(self.outbox.len());
        self.outbox.drain(..acked);
        self.va = nr;
    }

    fn t200_expired(&mut self, now: Instant) {
        match self.state {
            State::AwaitingEstablishment => {
                if self.rc >= self.config.n200 {
                    self.events
                        .push_back(Event::Error(LinkError::EstablishFailed));
                    self.outbox.clear();
                    self.enter_released();
                } else {
                    self.rc += 1;
                    self.send_frame(Kind::Sabme { pf: true }, true, Vec::new());
                    self.start_t200(now);
                }
            }
            State::AwaitingRelease => {
                if self.rc >= self.config.n200 {
                    self.events
                        .push_back(Event::Error(LinkError::ReleaseFailed));
                    self.enter_released();
                } else {
                    self.rc += 1;
                    self.send_frame(Kind::Disc { pf: true }, true, Vec::new());
                    self.start_t200(now);
                }
            }
            State::Established => {
                self.rc = 0;
                self.state = State::TimerRecovery;
                self.transmit_enquiry(now);
                self.rc = 1;
            }
            State::TimerRecovery => {
                if self.rc >= self.config.n200 {
                    let lost = self.discard_unacknowledged();
                    self.events
                        .push_back(Event::Error(LinkError::PeerNotResponding { lost }));
                    self.establish_data_link(now);
                } else {
                    self.transmit_enquiry(now);
                    self.rc += 1;
                }
            }
            State::Released => {}
        }
    }

    /// RR (or RNR when busy) command with P = 1, asking the peer for its
    /// V(R); T200 runs for the answer.
    fn transmit_enquiry(&mut self, now: Instant) {
        let kind = if self.own_busy {
            Kind::Rnr {
                nr: self.vr,
                pf: true,
            }
        } else {
            Kind::Rr {
                nr: self.vr,
                pf: true,
            }
        };
        self.send_frame(kind, true, Vec::new());
        self.ack_pending = false;
        self.start_t200(now);
    }

    /// RR or RNR response carrying V(R).
    fn send_supervisory_response(&mut self, pf: bool) {
        let nr = self.vr;
        let kind = if self.own_busy {
            Kind::Rnr { nr, pf }
        } else {
            Kind::Rr { nr, pf }
        };
        self.send_frame(kind, false, Vec::new());
    }

    /// Sends I-frames from the outbox while state 7 and the window allow.
    fn push_i_frames(&mut self, now: Instant) {
        while self.state == State::Established && !self.peer_busy {
            let sent = usize::from(diff(self.vs, self.va));
            if sent >= usize::from(self.config.k) {
                break;
            }
            let Some(payload) = self.outbox.get(sent).cloned() else {
                break;
            };
            let kind = Kind::I {
                ns: self.vs,
                nr: self.vr,
                pf: false,
            };
            self.send_frame(kind, true, payload);
            self.vs = inc(self.vs);
            self.ack_pending = false;
            if self.t200.is_none() {
                self.start_t200(now);
            }
        }
    }

    /// Sends SABME and enters state 5 (the "establish data link" procedure).
    fn establish_data_link(&mut self, now: Instant) {
        self.reject_exception = false;
        self.own_busy = false;
        self.peer_busy = false;
        self.ack_pending = false;
        self.rc = 0;
        self.send_frame(Kind::Sabme { pf: true }, true, Vec::new());
        self.t203 = None;
        self.start_t200(now);
        self.state = State::AwaitingEstablishment;
    }

    /// Drops the messages sent but not acknowledged (their fate is unknown
    /// after a re-establishment; layer 3 recovers, e.g. STATUS ENQUIRY);
    /// messages never sent stay queued. Returns how many were dropped.
    fn discard_unacknowledged(&mut self) -> usize {
        let sent = usize::from(diff(self.vs, self.va)).min(self.outbox.len());
        self.outbox.drain(..sent);
        self.vs = self.va;
        sent
    }

    fn enter_established(&mut self, now: Instant) {
        self.vs = 0;
        self.va = 0;
        self.vr = 0;
        self.rc = 0;
        self.peer_busy = false;
        self.reject_exception = false;
        self.ack_pending = false;
        self.t200 = None;
        self.start_t203(now);
        self.state = State::Established;
        self.events.push_back(Event::Established);
        self.push_i_frames(now);
    }

    fn enter_released(&mut self) {
        self.t200 = None;
        self.t203 = None;
        self.state = State::Released;
        self.own_busy = false;
        self.peer_busy = false;
        self.events.push_back(Event::Released);
    }

    fn start_t200(&mut self, now: Instant) {
        self.t200 = Some(now + self.config.t200);
        self.t203 = None;
    }

    fn start_t203(&mut self, now: Instant) {
        self.t203 = Some(now + self.config.t203);
    }

    fn send_frame(&mut self, kind: Kind, command: bool, info: Vec<u8>) {
        let network = self.role == Role::Network;
        let frame = Frame {
            sapi: self.config.sapi,
            cr: command == network,
            tei: self.config.tei,
            kind,
            info,
        };
        self.transmit.push_back(frame.encode());
    }
}
