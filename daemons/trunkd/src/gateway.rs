//! The gateway core, without I/O (decision 0002): Q.931 calls on the
//! spans and calls on the analog CO lines ↔ SIP dialogs with pbxd on
//! loopback (TRK-1, TRK-2, issue 14).
//!
//! Inputs come with the time: Q.931 messages a span's data link
//! delivered, the link going up or down, a span's alarm, an FXO port's
//! events and audio, SIP datagrams from pbxd, and timeouts. Outputs are
//! polled: Q.931 messages for a span's link, an FXO port's hook changes
//! and dialled audio, SIP datagrams, and the start and stop of a
//! B-channel's or a line's RTP. The shell (`shell.rs`) carries them.
//!
//! - A SETUP from the carrier becomes an INVITE to pbxd (the called
//!   number as the Request-URI's user, the caller in From); 180 becomes
//!   ALERTING, 200 CONNECT, a failure DISCONNECT with the RFC 3398 cause.
//!   A SETUP without Sending Complete is acknowledged (SETUP ACK) and its
//!   digits collected until the span's digit timeout, then offered to
//!   pbxd en bloc.
//! - An INVITE from pbxd becomes a SETUP on a hunted channel of the first
//!   span that can carry it; ALERTING becomes 180, PROGRESS with in-band
//!   information 183 with SDP, CONNECT 200, a clearing the final response
//!   or BYE with the mapped code and a `Reason: Q.850` header.
//! - A span in alarm ends its calls with cause 38 (network out of order)
//!   and blocks its channels; when the alarm clears and the link is up,
//!   the interface is restarted (RESTART), as it is at start.
//!
//! - An analog line's call (decision 0023) is offered to pbxd once its
//!   caller ID had its chance, for the line's own number; pbxd's 200
//!   takes the line off hook; the far end's disconnect (a reversal after
//!   the guard, busy or congestion tone, loop-current loss) becomes BYE
//!   with a Q.850 cause. An INVITE for a line group seizes a free line,
//!   waits for dial tone and dials the digits as DTMF.
//!
//! The carrier's side is in `gateway/isdn.rs` (spans) and
//! `gateway/analog.rs` (lines), pbxd's in `gateway/pbx.rs`.
//!
//! Every B-channel has its own RTP port, fixed by its place in the
//! configuration, so the SDP can be written without asking the shell.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use dering_config::{SpanConfig, SpanSide, Trunkd};
use dering_fxo::Action;
use dering_isdn::q931::{self, CallControl, CallId, Cause, PartyNumber, Side, Timers};
use dering_sip::build;
use dering_sip::dialog::{Dialog, Local};
use dering_sip::transaction::{Incoming, Peer, TransactionLayer, Transport};
use dering_sip::Message as SipMessage;

use crate::hunt::{ChannelState, Channels};

mod analog;
mod isdn;
mod pbx;

use analog::{Group, LineState};

/// Which circuit a call is on: a span's call reference, or a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Span(usize, CallId),
    Line(usize),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a Q.931 message on a span's data link.
    Q931 { span: usize, message: q931::Message },
    /// Send a SIP datagram.
    Sip { to: SocketAddr, data: Vec<u8> },
    /// Carry a B-channel's audio to and from `remote` as RTP PCMA from
    /// the channel's `port` (again with a new remote: replace it).
    MediaStart {
        span: usize,
        channel: u8,
        port: u16,
        remote: SocketAddr,
    },
    /// Stop a B-channel's audio.
    MediaStop { span: usize, channel: u8 },
    /// Do this on line `line`'s FXO port (hook, or a block of dialling).
    Line { line: usize, action: Action },
    /// Carry a line's audio to and from `remote` as RTP PCMA from `port`.
    LineMediaStart {
        line: usize,
        port: u16,
        remote: SocketAddr,
    },
    /// Stop a line's audio.
    LineMediaStop { line: usize },
}

/// Static payload type of PCMA: the B-channel's own law, relayed as is.
const PCMA: u8 = 8;

/// How trunkd writes itself into requests: its loopback address, and
/// branches and tags from the seed the shell gave and a counter.
#[derive(Debug)]
struct Me {
    addr: SocketAddr,
    seed: u64,
    counter: Cell<u64>,
}

impl Me {
    fn fresh(&self) -> String {
        let n = self.counter.get().wrapping_add(1);
        self.counter.set(n);
        format!("{:x}{n:x}", self.seed)
    }
}

impl Local for Me {
    fn via(&self, _t: Transport) -> String {
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bK{};rport",
            self.addr,
            self.fresh()
        )
    }
    fn contact(&self, _t: Transport) -> String {
        format!("<sip:trunkd@{}>", self.addr)
    }
}

/// The SIP side of a call.
#[derive(Debug)]
enum Leg {
    /// trunkd called pbxd (a call from the carrier).
    Uac {
        dialog: Dialog,
        invite: SipMessage,
        key: String,
        /// A 2xx arrived (and was acknowledged).
        answered: bool,
        /// A final response arrived.
        done: bool,
    },
    /// pbxd called trunkd (a call to the carrier).
    Uas {
        dialog: Dialog,
        invite: SipMessage,
        key: String,
        /// pbxd's media address from its offer.
        remote: SocketAddr,
        /// A final response was sent; `answered` when it was a 2xx.
        done: bool,
        answered: bool,
    },
}

#[derive(Debug)]
struct Call {
    channel: Option<u8>,
    /// `None` while an incoming call's digits are collected.
    leg: Option<Leg>,
    /// An incoming call's numbers, until it is offered to pbxd.
    called: String,
    calling: Option<PartyNumber>,
    digits_due: Option<Instant>,
    /// The SIP side is over (BYE, CANCEL or a final response sent or
    /// received); the Q.931 side may still be clearing.
    sip_ended: bool,
    media: bool,
}

#[derive(Debug)]
struct SpanState {
    cfg: SpanConfig,
    cc: CallControl,
    channels: Channels,
    link_up: bool,
    alarm: bool,
    /// The interface must be restarted when the link is next up (at
    /// start, and after an alarm).
    needs_restart: bool,
    /// The RTP port of the span's first channel.
    rtp_base: u16,
}

/// The gateway: every span's call control, the SIP transactions and the
/// calls that join them.
#[derive(Debug)]
pub struct Gateway {
    me: Me,
    pbx: Peer,
    spans: Vec<SpanState>,
    lines: Vec<LineState>,
    groups: Vec<Group>,
    /// The FXO ports' time zero: their clocks are durations (decision
    /// 0021), taken from the first instant a line saw.
    epoch: Option<Instant>,
    tx: TransactionLayer,
    calls: BTreeMap<Key, Call>,
    out: VecDeque<Output>,
}

impl Gateway {
    /// A gateway for `cfg`'s spans; `seed` makes its tags, branches and
    /// Call-IDs (the shell passes randomness, tests a constant).
    pub fn new(cfg: &Trunkd, timers: Timers, seed: u64) -> Gateway {
        let mut port = cfg.rtp_port_min;
        let spans = cfg
            .spans
            .iter()
            .map(|s| {
                let rtp_base = port;
                port = port.saturating_add(2 * s.channels.len() as u16);
                let side = match s.side {
                    SpanSide::User => Side::User,
                    SpanSide::Network => Side::Network,
                };
                SpanState {
                    cfg: s.clone(),
                    cc: CallControl::new(side, timers),
                    channels: Channels::new(&s.channels, s.hunting, s.max_calls),
                    link_up: false,
                    alarm: false,
                    needs_restart: true,
                    rtp_base,
                }
            })
            .collect();
        let (lines, groups) = analog::lines(&cfg.lines, port);
        Gateway {
            me: Me {
                addr: cfg.sip,
                seed,
                counter: Cell::new(0),
            },
            pbx: Peer {
                transport: Transport::Udp,
                addr: cfg.pbx,
            },
            spans,
            lines,
            groups,
            epoch: None,
            tx: TransactionLayer::default(),
            calls: BTreeMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The next thing for the shell to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The RTP port of channel `ts` of span `span`.
    pub fn rtp_port(&self, span: usize, ts: u8) -> Option<u16> {
        let s = self.spans.get(span)?;
        let i = s.cfg.channels.iter().position(|&c| c == ts)?;
        Some(s.rtp_base + 2 * i as u16)
    }

    /// The state of a span's channel, for status and tests.
    pub fn channel_state(&self, span: usize, ts: u8) -> Option<ChannelState> {
        self.spans.get(span)?.channels.state(ts)
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// When [`Gateway::handle_timeout`] is next due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let spans = self.spans.iter().filter_map(|s| s.cc.next_deadline());
        let digits = self.calls.values().filter_map(|c| c.digits_due);
        let tx = self.tx.poll_timeout();
        let lines = self.epoch.and_then(|e| {
            let t = self
                .lines
                .iter()
                .filter_map(|l| l.port.poll_timeout())
                .min()?;
            Some(e + t)
        });
        spans.chain(digits).chain(tx).chain(lines).min()
    }

    /// Span `span`'s data link came up, or was established again: restart
    /// the interface when that is due or a restart was not acknowledged,
    /// and tell call control (calls that survived under T309).
    pub fn link_up(&mut self, now: Instant, span: usize) {
        let Some(s) = self.spans.get_mut(span) else {
            return;
        };
        s.link_up = true;
        s.cc.link_up(now);
        // A RESTART lost with a link that was reset (both sides sending
        // SABME at start is usual) is sent again on the new link.
        if (s.needs_restart || s.channels.restarting()) && !s.alarm {
            s.needs_restart = false;
            s.channels.set(None, ChannelState::Restarting);
            s.cc.restart(now, None);
        }
        self.pump(now);
    }

    /// Span `span`'s data link went down (Q.931 5.8.8: calls not active
    /// end with cause 41, active ones wait for T309).
    pub fn link_down(&mut self, now: Instant, span: usize) {
        let Some(s) = self.spans.get_mut(span) else {
            return;
        };
        s.link_up = false;
        s.cc.link_down(now);
        self.pump(now);
    }

    /// Span `span` went into alarm (`true`) or out of it. Into alarm: its
    /// calls end with cause 38 on the SIP side and are forgotten on the
    /// Q.931 side (nothing reaches the carrier), its channels are
    /// blocked. Out of it: the interface is restarted once the link is up.
    pub fn span_alarm(&mut self, now: Instant, span: usize, alarm: bool) {
        let Some(s) = self.spans.get_mut(span) else {
            return;
        };
        if alarm == s.alarm {
            return;
        }
        s.alarm = alarm;
        if alarm {
            s.channels.set(None, ChannelState::Blocked);
            s.needs_restart = true;
            // Frees every call reference locally; its RESTART is dropped
            // with the span's other messages while the alarm lasts.
            s.cc.restart(now, None);
            let ids: Vec<Key> = self
                .calls
                .keys()
                .filter(|k| matches!(k, Key::Span(sp, _) if *sp == span))
                .copied()
                .collect();
            for id in ids {
                self.end_sip(now, id, Cause::NetworkOutOfOrder);
                self.forget(id);
            }
        } else {
            s.channels.set(None, ChannelState::Restarting);
            if s.link_up {
                s.needs_restart = false;
                s.cc.restart(now, None);
            }
        }
        self.pump(now);
    }

    /// A Q.931 message from span `span`'s data link.
    pub fn handle_q931(&mut self, now: Instant, span: usize, bytes: &[u8]) {
        if let Some(s) = self.spans.get_mut(span) {
            s.cc.handle_bytes(now, bytes);
        }
        self.pump(now);
    }

    /// A SIP datagram from `from`.
    pub fn handle_sip(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = SipMessage::parse_datagram(bytes) else {
            tracing::debug!(%from, "unreadable SIP datagram dropped");
            return;
        };
        if !msg.is_request() {
            self.tx.on_response(now, msg);
            self.pump(now);
            return;
        }
        let peer = Peer {
            transport: Transport::Udp,
            addr: from,
        };
        match self.tx.on_request(now, peer, &msg) {
            Incoming::New(key) if key.is_empty() => {
                // The ACK of our 2xx.
                self.tx.ack_2xx(&msg);
            }
            Incoming::New(key) => self.on_request(now, peer, key, msg),
            _ => {}
        }
        self.pump(now);
    }

    /// Runs what is due at `now`: Q.931 and SIP timers, digit timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        for s in &mut self.spans {
            s.cc.handle_timeout(now);
        }
        let due: Vec<Key> = self
            .calls
            .iter()
            .filter(|(_, c)| c.digits_due.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.digits_complete(now, id);
        }
        self.lines_timeout(now);
        self.pump(now);
    }

    /// Drains call control and the transaction layer until both are
    /// quiet: their messages go out, their events are acted on.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            for span in 0..self.spans.len() {
                let s = &mut self.spans[span];
                while let Some(message) = s.cc.poll_message() {
                    // Nothing reaches the carrier through an alarm.
                    if !s.alarm {
                        self.out.push_back(Output::Q931 { span, message });
                    }
                }
                while let Some(e) = self.spans[span].cc.poll_event() {
                    busy = true;
                    self.on_isdn(now, span, e);
                }
            }
            busy |= self.pump_lines(now);
            while let Some(e) = self.tx.poll_event() {
                busy = true;
                self.on_tx(now, e);
            }
            while let Some(t) = self.tx.poll_transmit() {
                self.out.push_back(Output::Sip {
                    to: t.peer.addr,
                    data: t.data,
                });
            }
            if !busy {
                return;
            }
        }
    }
}

impl Gateway {
    /// Clears the carrier's side of a call: DISCONNECT on a span, on
    /// hook (or a ringing call declined) on a line.
    fn carrier_clear(&mut self, now: Instant, id: Key, cause: Cause) {
        match id {
            Key::Span(span, call) => {
                let _ = self.spans[span].cc.disconnect(now, call, cause);
            }
            Key::Line(line) => self.line_hangup(line),
        }
    }

    /// pbxd rings the caller: ALERTING on a span; a line has no such
    /// signal (its caller hears the exchange's ringback already).
    fn carrier_alerting(&mut self, now: Instant, id: Key) {
        if let Key::Span(span, call) = id {
            let _ = self.spans[span].cc.alerting(now, call);
        }
    }

    /// pbxd answered: CONNECT on a span, off hook on a line.
    fn carrier_connect(&mut self, now: Instant, id: Key) {
        match id {
            Key::Span(span, call) => {
                let _ = self.spans[span].cc.connect(now, call);
            }
            Key::Line(line) => self.line_answer(now, line),
        }
    }

    /// The RTP port of a call's circuit.
    fn call_rtp_port(&self, id: Key) -> Option<u16> {
        match id {
            Key::Span(span, _) => {
                let ts = self.calls.get(&id)?.channel?;
                self.rtp_port(span, ts)
            }
            Key::Line(line) => Some(self.lines.get(line)?.rtp_port),
        }
    }

    /// `X-Dering-Channel: span=NAME;channel=N`, on the INVITE of a call
    /// from the carrier and on the answers to pbxd's INVITE: pbxd writes
    /// the span and channel into the call's record (decision 0024). A
    /// line is named as a span of one channel.
    fn channel_header(&self, id: Key) -> Option<rsip::Header> {
        let value = match id {
            Key::Span(span, _) => {
                let ts = self.calls.get(&id)?.channel?;
                format!("span={};channel={ts}", self.spans.get(span)?.cfg.name)
            }
            Key::Line(line) => format!("span={};channel=1", self.lines.get(line)?.cfg.name),
        };
        Some(build::header("X-Dering-Channel", value))
    }
}

/// `Reason: Q.850;cause=N` (RFC 3326), which pbxd records.
fn reason(cause: Cause) -> rsip::Header {
    build::header("Reason", format!("Q.850;cause={}", cause.value()))
}

/// The Q.850 cause of a `Reason` header, when one is given.
fn reason_cause(msg: &SipMessage) -> Option<Cause> {
    msg.all("Reason").find_map(|r| {
        let (proto, params) = r.split_once(';')?;
        if !proto.trim().eq_ignore_ascii_case("Q.850") {
            return None;
        }
        params.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("cause")
                .then(|| v.trim().parse::<u8>().ok())
                .flatten()
                .map(Cause::from_value)
        })
    })
}
