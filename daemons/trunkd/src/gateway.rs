//! The gateway core, without I/O (decision 0002): Q.931 calls on the
//! spans ↔ SIP dialogs with pbxd on loopback (TRK-1, issue 14).
//!
//! Inputs come with the time: Q.931 messages a span's data link
//! delivered, the link going up or down, a span's alarm, SIP datagrams
//! from pbxd, and timeouts. Outputs are polled: Q.931 messages for a
//! span's link, SIP datagrams, and the start and stop of a B-channel's
//! RTP. The shell (`shell.rs`) carries them.
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
//! Every B-channel has its own RTP port, fixed by its place in the
//! configuration, so the SDP can be written without asking the shell.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dering_config::{SpanConfig, SpanSide, Trunkd};
use dering_isdn::q931::{
    self, q850_to_sip, sip_to_q850, CallControl, CallId, Cause, ChannelId, ChannelSel, PartyNumber,
    SetupRequest, Side, Timers,
};
use dering_sip::build::{self, RequestSpec};
use dering_sip::dialog::{Dialog, Local};
use dering_sip::sdp::{AudioSdp, Direction, Format};
use dering_sip::transaction::{Incoming, Peer, TransactionLayer, Transport, TxEvent};
use dering_sip::{Message as SipMessage, Method};

use crate::hunt::{ChannelState, Channels};
use crate::numbers::{from_sip_user, to_sip_user, user_of};

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
    tx: TransactionLayer,
    calls: BTreeMap<(usize, CallId), Call>,
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
        spans.chain(digits).chain(tx).min()
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
            let ids: Vec<(usize, CallId)> = self
                .calls
                .keys()
                .filter(|(sp, _)| *sp == span)
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
        let due: Vec<(usize, CallId)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.digits_due.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.digits_complete(now, id);
        }
        self.pump(now);
    }

    // ---- the carrier's side ------------------------------------------

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

    fn on_isdn(&mut self, now: Instant, span: usize, e: q931::Event) {
        use q931::Event as E;
        match e {
            E::IncomingCall {
                call,
                called,
                calling,
                channel,
                sending_complete,
                ..
            } => self.incoming(now, span, call, called, calling, channel, sending_complete),
            E::Information {
                call,
                digits,
                sending_complete,
            } => {
                let timeout = self.digit_timeout(span);
                if let Some(c) = self.calls.get_mut(&(span, call)) {
                    if c.leg.is_none() {
                        c.called.push_str(&digits);
                        c.digits_due = Some(if sending_complete { now } else { now + timeout });
                    }
                }
                if sending_complete {
                    self.digits_complete(now, (span, call));
                }
            }
            E::Proceeding { call, channel } | E::SetupAcknowledged { call, channel } => {
                self.channel_chosen(span, call, channel);
            }
            E::Alerting { call } => self.respond_progress(now, (span, call), 180),
            // In-band information (1: not end-to-end ISDN, 8: in-band
            // now available): the caller hears the carrier's tones.
            E::Progress {
                call,
                description: 1 | 8,
            } => self.respond_progress(now, (span, call), 183),
            E::Progress { .. } => {}
            E::Connected { call } => self.answered_by_carrier(now, (span, call)),
            E::Disconnected { call, cause } => self.end_sip(now, (span, call), cause),
            E::Released {
                call,
                cause,
                channel,
            } => {
                self.end_sip(now, (span, call), cause);
                self.forget((span, call));
                if let Some(ts) = channel {
                    let s = &mut self.spans[span];
                    if s.channels.state(ts) == Some(ChannelState::InUse) {
                        s.channels.set(Some(ts), ChannelState::Idle);
                    }
                }
            }
            E::Restarted { channel } => self.restarted(span, channel),
            E::RestartFailed { channel } => {
                tracing::warn!(
                    span = self.spans[span].cfg.name,
                    ?channel,
                    "RESTART unacknowledged; channels taken into service anyway"
                );
                self.restarted(span, channel);
            }
        }
    }

    fn restarted(&mut self, span: usize, channel: Option<u8>) {
        let s = &mut self.spans[span];
        if s.alarm {
            return;
        }
        let ts: Vec<u8> = match channel {
            Some(n) => vec![n],
            None => s.cfg.channels.clone(),
        };
        for t in ts {
            if s.channels.state(t) == Some(ChannelState::Restarting) {
                s.channels.set(Some(t), ChannelState::Idle);
            }
        }
    }

    fn digit_timeout(&self, span: usize) -> Duration {
        Duration::from_millis(u64::from(self.spans[span].cfg.digit_timeout_ms))
    }

    /// A SETUP from the carrier: a channel for it, then CALL PROCEEDING
    /// and the INVITE, or SETUP ACK and the digits first.
    #[allow(clippy::too_many_arguments)] // one event's fields, taken apart
    fn incoming(
        &mut self,
        now: Instant,
        span: usize,
        call: CallId,
        called: Option<PartyNumber>,
        calling: Option<PartyNumber>,
        channel: Option<ChannelId>,
        sending_complete: bool,
    ) {
        let timeout = self.digit_timeout(span);
        let s = &mut self.spans[span];
        let chosen = if !s.channels.below_limit() {
            Err(Cause::NoCircuitAvailable)
        } else {
            match channel {
                Some(ChannelId {
                    exclusive,
                    channel: ChannelSel::BChannel(n),
                }) => {
                    // The carrier's choice; a channel still being
                    // restarted is the carrier's to use.
                    if s.channels.state(n) == Some(ChannelState::Restarting) {
                        s.channels.set(Some(n), ChannelState::Idle);
                    }
                    if s.channels.take(n) {
                        Ok(n)
                    } else if exclusive {
                        Err(Cause::RequestedChannelNotAvailable)
                    } else {
                        s.channels.hunt().ok_or(Cause::NoCircuitAvailable)
                    }
                }
                Some(ChannelId {
                    channel: ChannelSel::NoChannel,
                    ..
                }) => Err(Cause::RequestedChannelNotAvailable),
                _ => s.channels.hunt().ok_or(Cause::NoCircuitAvailable),
            }
        };
        let ts = match chosen {
            Ok(ts) => ts,
            Err(cause) => {
                tracing::info!(span = s.cfg.name, ?cause, "incoming call refused");
                let _ = s.cc.disconnect(now, call, cause);
                return;
            }
        };
        let digits = called.map(|n| n.digits).unwrap_or_default();
        let complete = sending_complete && !digits.is_empty();
        let r = if complete {
            s.cc.proceeding(now, call, Some(ts))
        } else {
            s.cc.setup_ack(now, call, Some(ts))
        };
        if let Err(e) = r {
            tracing::warn!(span = s.cfg.name, %e, "incoming call not taken");
            s.channels.set(Some(ts), ChannelState::Idle);
            return;
        }
        self.calls.insert(
            (span, call),
            Call {
                channel: Some(ts),
                leg: None,
                called: digits,
                calling,
                digits_due: (!complete).then_some(now + timeout),
                sip_ended: false,
                media: false,
            },
        );
        if complete {
            self.invite_pbx(now, (span, call));
        }
    }

    /// Overlap receiving is over (Sending Complete or the digit
    /// timeout): the call is offered to pbxd en bloc, or refused without
    /// a number.
    fn digits_complete(&mut self, now: Instant, id: (usize, CallId)) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.leg.is_some() || c.digits_due.is_none() {
            return;
        }
        c.digits_due = None;
        let empty = c.called.is_empty();
        let cc = &mut self.spans[id.0].cc;
        if empty {
            let _ = cc.disconnect(now, id.1, Cause::InvalidNumberFormat);
            if let Some(c) = self.calls.get_mut(&id) {
                c.sip_ended = true;
            }
            return;
        }
        let _ = cc.proceeding(now, id.1, None);
        self.invite_pbx(now, id);
    }

    /// Our SDP for channel `ts` of `span`.
    fn sdp(&self, span: usize, ts: u8) -> Vec<u8> {
        let port = self.rtp_port(span, ts).unwrap_or(0);
        AudioSdp {
            addr: self.me.addr.ip(),
            port,
            formats: vec![Format {
                pt: PCMA,
                name: "PCMA".into(),
                rate: 8000,
                fmtp: None,
            }],
            direction: Direction::SendRecv,
            ptime: Some(20),
        }
        .to_body(self.me.seed & 0xFFFF_FFFF, u64::from(port))
    }

    /// The INVITE to pbxd for a call from the carrier.
    fn invite_pbx(&mut self, now: Instant, id: (usize, CallId)) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let Some(ts) = c.channel else { return };
        let cc_code = &self.spans[id.0].cfg.country_code;
        let called = to_sip_user(
            &PartyNumber::e164(q931::TypeOfNumber::Unknown, &c.called),
            cc_code,
        );
        let calling = c
            .calling
            .as_ref()
            .map(|n| to_sip_user(n, cc_code))
            .filter(|u| !u.is_empty());
        let from = match calling {
            Some(u) => format!("<sip:{u}@{}>;tag={}", self.me.addr, self.me.fresh()),
            None => format!(
                "\"Anonymous\" <sip:anonymous@{}>;tag={}",
                self.me.addr,
                self.me.fresh()
            ),
        };
        let uri = format!("sip:{called}@{}", self.pbx.addr);
        let dialog = Dialog::uac(
            format!("{}@trunkd", self.me.fresh()),
            from,
            format!("<{uri}>"),
            uri,
            self.pbx,
        );
        let sdp = self.sdp(id.0, ts);
        let extra = vec![build::header(
            "X-Dering-Channel",
            format!("{}/{ts}", self.spans[id.0].cfg.name),
        )];
        let sent = dialog
            .request_with(
                &self.me,
                rsip::Method::Invite,
                extra,
                Some("application/sdp"),
                &sdp,
            )
            .ok()
            .and_then(|data| Some((SipMessage::parse_datagram(&data).ok()?, data)));
        let Some((invite, data)) = sent else {
            tracing::warn!("INVITE for an incoming call could not be written");
            let _ = self.spans[id.0]
                .cc
                .disconnect(now, id.1, Cause::Interworking);
            return;
        };
        let Some(key) = self.tx.send_request(now, self.pbx, invite.clone(), data) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            c.leg = Some(Leg::Uac {
                dialog,
                invite,
                key,
                answered: false,
                done: false,
            });
        }
    }

    /// The carrier chose (or confirmed) the channel of our SETUP.
    fn channel_chosen(&mut self, span: usize, call: CallId, channel: Option<u8>) {
        let Some(n) = channel else { return };
        let Some(c) = self.calls.get_mut(&(span, call)) else {
            return;
        };
        if c.channel == Some(n) {
            return;
        }
        let s = &mut self.spans[span];
        if let Some(old) = c.channel {
            s.channels.set(Some(old), ChannelState::Idle);
        }
        if !s.channels.take(n) {
            tracing::warn!(
                span = s.cfg.name,
                channel = n,
                "carrier chose a channel not idle here"
            );
            s.channels.set(Some(n), ChannelState::InUse);
        }
        c.channel = Some(n);
    }

    // ---- pbxd's side -------------------------------------------------

    fn on_request(&mut self, now: Instant, peer: Peer, key: String, msg: SipMessage) {
        let method = msg.method().cloned();
        match method {
            Some(Method::Invite) => {
                let in_dialog = self.find_by_call_id(&msg).is_some();
                if in_dialog {
                    self.reinvite(now, &key, &msg);
                } else {
                    self.outgoing(now, peer, key, msg);
                }
            }
            Some(Method::Cancel) => self.cancel(now, &key, &msg),
            Some(Method::Bye) => self.bye(now, &key, &msg),
            Some(Method::Options) => self.reply(now, &key, &msg, 200, vec![]),
            _ => self.reply(now, &key, &msg, 501, vec![]),
        }
    }

    /// A response with no dialog of ours behind it.
    fn reply(
        &mut self,
        now: Instant,
        key: &str,
        msg: &SipMessage,
        code: u16,
        extra: Vec<rsip::Header>,
    ) {
        let data = build::response(msg, code, Some(&self.me.fresh()), extra, b"");
        self.tx.respond(now, key, code, data);
    }

    fn find_by_call_id(&self, msg: &SipMessage) -> Option<(usize, CallId)> {
        let cid = msg.call_id()?;
        self.calls
            .iter()
            .find(|(_, c)| match &c.leg {
                Some(Leg::Uac { dialog, .. } | Leg::Uas { dialog, .. }) => dialog.call_id == cid,
                None => false,
            })
            .map(|(id, _)| *id)
    }

    /// An INVITE from pbxd: a SETUP on a hunted channel of the first span
    /// that is up, out of alarm and below its limit.
    fn outgoing(&mut self, now: Instant, peer: Peer, key: String, msg: SipMessage) {
        let offer = AudioSdp::parse(&msg.body)
            .ok()
            .filter(|s| s.formats.iter().any(|f| f.name == "PCMA") && s.addr_port().is_ok());
        let Some(remote) = offer.and_then(|s| s.addr_port().ok()) else {
            let extra = vec![build::header("Warning", "399 trunkd \"PCMA only\"")];
            return self.reply(now, &key, &msg, 488, extra);
        };
        let user = msg
            .request_uri()
            .and_then(user_of)
            .unwrap_or_default()
            .to_string();
        let place = self.spans.iter_mut().enumerate().find_map(|(i, s)| {
            if s.alarm || !s.link_up {
                return None;
            }
            s.channels.hunt().map(|ts| (i, ts))
        });
        let Some((span, ts)) = place else {
            return self.refuse(now, &key, &msg, Cause::NoCircuitAvailable);
        };
        let cc_code = self.spans[span].cfg.country_code.clone();
        let Some(called) = from_sip_user(&user, &cc_code) else {
            self.spans[span].channels.set(Some(ts), ChannelState::Idle);
            return self.refuse(now, &key, &msg, Cause::InvalidNumberFormat);
        };
        let calling = msg
            .get("From")
            .and_then(user_of)
            .and_then(|u| from_sip_user(u, &cc_code));
        let req = SetupRequest {
            called,
            calling,
            channel: ChannelId {
                exclusive: false,
                channel: ChannelSel::BChannel(ts),
            },
            sending_complete: true,
        };
        let call = match self.spans[span].cc.setup(now, req) {
            Ok(call) => call,
            Err(e) => {
                tracing::warn!(%e, "SETUP not sent");
                self.spans[span].channels.set(Some(ts), ChannelState::Idle);
                return self.refuse(now, &key, &msg, Cause::TemporaryFailure);
            }
        };
        let dialog = Dialog::from_invite(&msg, peer, self.me.fresh());
        let data = build::response(&msg, 100, None, vec![], b"");
        self.tx.respond(now, &key, 100, data);
        self.calls.insert(
            (span, call),
            Call {
                channel: Some(ts),
                leg: Some(Leg::Uas {
                    dialog,
                    invite: msg,
                    key,
                    remote,
                    done: false,
                    answered: false,
                }),
                called: String::new(),
                calling: None,
                digits_due: None,
                sip_ended: false,
                media: false,
            },
        );
    }

    /// A final failure to an INVITE of pbxd's, with the cause's code.
    fn refuse(&mut self, now: Instant, key: &str, msg: &SipMessage, cause: Cause) {
        let code = q850_to_sip(cause);
        self.reply(now, key, msg, code, vec![reason(cause)]);
    }

    /// A re-INVITE (hold, a new media address): answered with the same
    /// SDP, the audio sent to the new address.
    fn reinvite(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        let Some(id) = self.find_by_call_id(msg) else {
            return;
        };
        let remote = AudioSdp::parse(&msg.body)
            .ok()
            .and_then(|s| s.addr_port().ok());
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let ts = c.channel.unwrap_or(0);
        let (dialog, stored_remote) = match &mut c.leg {
            Some(Leg::Uac { dialog, .. }) => (dialog, None),
            Some(Leg::Uas { dialog, remote, .. }) => (dialog, Some(remote)),
            None => return,
        };
        if let Err(e) = dialog.check_request(msg) {
            let code = e.status();
            self.reply(now, key, msg, code, vec![]);
            return;
        }
        dialog.refresh_target(msg);
        let tag = dialog.local_tag().unwrap_or_default();
        if let (Some(r), Some(slot)) = (remote, stored_remote) {
            *slot = r;
        }
        let media = c.media;
        let sdp = self.sdp(id.0, ts);
        let extra = vec![
            build::header("Contact", self.me.contact(Transport::Udp)),
            build::header("Content-Type", "application/sdp"),
        ];
        let data = build::response(msg, 200, Some(&tag), extra, &sdp);
        self.tx.respond(now, key, 200, data);
        if let (Some(r), true) = (remote, media) {
            self.media_start(id, r);
        }
    }

    fn cancel(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        let found = self.find_by_call_id(msg);
        self.reply(
            now,
            key,
            msg,
            if found.is_some() { 200 } else { 481 },
            vec![],
        );
        let Some(id) = found else { return };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(Leg::Uas {
            invite,
            key,
            dialog,
            done: done @ false,
            ..
        }) = &mut c.leg
        {
            *done = true;
            c.sip_ended = true;
            let tag = dialog.local_tag().unwrap_or_default();
            let data = build::response(invite, 487, Some(&tag), vec![], b"");
            let key = key.clone();
            self.tx.respond(now, &key, 487, data);
            let _ = self.spans[id.0]
                .cc
                .disconnect(now, id.1, Cause::NormalClearing);
        }
    }

    fn bye(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        let Some(id) = self.find_by_call_id(msg) else {
            return self.reply(now, key, msg, 481, vec![]);
        };
        self.reply(now, key, msg, 200, vec![]);
        let cause = reason_cause(msg).unwrap_or(Cause::NormalClearing);
        if let Some(c) = self.calls.get_mut(&id) {
            c.sip_ended = true;
        }
        self.media_stop(id);
        let _ = self.spans[id.0].cc.disconnect(now, id.1, cause);
    }

    /// 180 or 183 to pbxd for a call to the carrier; 183 carries our SDP
    /// and starts the audio (the carrier's tones).
    fn respond_progress(&mut self, now: Instant, id: (usize, CallId), code: u16) {
        let Some(c) = self.calls.get(&id) else { return };
        let ts = c.channel.unwrap_or(0);
        let Some(Leg::Uas {
            dialog,
            invite,
            key,
            remote,
            done: false,
            ..
        }) = &c.leg
        else {
            return;
        };
        let remote = *remote;
        let tag = dialog.local_tag().unwrap_or_default();
        let mut extra = vec![build::header("Contact", self.me.contact(Transport::Udp))];
        let body = if code == 183 {
            extra.push(build::header("Content-Type", "application/sdp"));
            self.sdp(id.0, ts)
        } else {
            Vec::new()
        };
        let data = build::response(invite, code, Some(&tag), extra, &body);
        let key = key.clone();
        self.tx.respond(now, &key, code, data);
        if code == 183 {
            self.media_start(id, remote);
        }
    }

    /// CONNECT from the carrier: 200 with our SDP to pbxd.
    fn answered_by_carrier(&mut self, now: Instant, id: (usize, CallId)) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let ts = c.channel.unwrap_or(0);
        let Some(Leg::Uas {
            dialog,
            invite,
            key,
            remote,
            done,
            answered,
        }) = &mut c.leg
        else {
            return;
        };
        if *done {
            return;
        }
        *done = true;
        *answered = true;
        let remote = *remote;
        let tag = dialog.local_tag().unwrap_or_default();
        let invite = invite.clone();
        let key = key.clone();
        let extra = vec![
            build::header("Contact", self.me.contact(Transport::Udp)),
            build::header("Content-Type", "application/sdp"),
        ];
        let sdp = self.sdp(id.0, ts);
        let data = build::response(&invite, 200, Some(&tag), extra, &sdp);
        self.tx.respond(now, &key, 200, data);
        self.media_start(id, remote);
    }

    /// A response to one of our client transactions.
    fn on_tx(&mut self, now: Instant, e: TxEvent) {
        let (key, msg) = match e {
            TxEvent::Response { key, msg } => (key, Some(msg)),
            TxEvent::Timeout { key } => (key, None),
            TxEvent::NoAck { key } => {
                // Our 200 to pbxd was never acknowledged: the call is
                // over on both sides.
                if let Some(id) = self.find_uas(&key) {
                    self.end_sip(now, id, Cause::RecoveryOnTimerExpiry);
                    let _ = self.spans[id.0]
                        .cc
                        .disconnect(now, id.1, Cause::RecoveryOnTimerExpiry);
                }
                return;
            }
        };
        let Some(id) = self.find_uac(&key) else {
            return; // BYE, CANCEL: nothing waits for their answers
        };
        let code = msg.as_ref().and_then(SipMessage::status).unwrap_or(408);
        if code < 200 {
            if let Some(m) = &msg {
                self.provisional(now, id, code, m);
            }
            return;
        }
        if code < 300 {
            if let Some(m) = msg {
                self.answered_by_pbx(now, id, &m);
            }
            return;
        }
        let cause = msg
            .as_ref()
            .and_then(reason_cause)
            .unwrap_or_else(|| sip_to_q850(code));
        let mut clear = false;
        if let Some(c) = self.calls.get_mut(&id) {
            if let Some(Leg::Uac { done, .. }) = &mut c.leg {
                *done = true;
            }
            clear = !c.sip_ended;
            c.sip_ended = true;
        }
        self.media_stop(id);
        if clear {
            let _ = self.spans[id.0].cc.disconnect(now, id.1, cause);
        }
    }

    fn find_uac(&self, k: &str) -> Option<(usize, CallId)> {
        self.calls
            .iter()
            .find(|(_, c)| matches!(&c.leg, Some(Leg::Uac { key, .. }) if key == k))
            .map(|(id, _)| *id)
    }

    fn find_uas(&self, k: &str) -> Option<(usize, CallId)> {
        self.calls
            .iter()
            .find(|(_, c)| matches!(&c.leg, Some(Leg::Uas { key, .. }) if key == k))
            .map(|(id, _)| *id)
    }

    /// 180 from pbxd: ALERTING to the carrier; 183 with SDP: the caller
    /// hears pbxd's announcement before the answer.
    fn provisional(&mut self, now: Instant, id: (usize, CallId), code: u16, m: &SipMessage) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(Leg::Uac { dialog, .. }) = &mut c.leg {
            dialog.learn(m);
        }
        if c.sip_ended || code == 100 {
            return;
        }
        let early = AudioSdp::parse(&m.body)
            .ok()
            .and_then(|s| s.addr_port().ok());
        if code == 180 || early.is_some() {
            let _ = self.spans[id.0].cc.alerting(now, id.1);
        }
        if let Some(r) = early {
            self.media_start(id, r);
        }
    }

    /// 200 from pbxd: ACK, audio, CONNECT (or BYE when the carrier's side
    /// is already gone: a 200 that crossed our CANCEL).
    fn answered_by_pbx(&mut self, now: Instant, id: (usize, CallId), m: &SipMessage) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(Leg::Uac {
            dialog,
            answered,
            done,
            ..
        }) = &mut c.leg
        else {
            return;
        };
        if let Ok(ack) = dialog.ack_2xx(&self.me, m) {
            self.out.push_back(Output::Sip {
                to: self.pbx.addr,
                data: ack,
            });
        }
        if *answered {
            return; // a retransmitted 2xx, ACKed again
        }
        *answered = true;
        *done = true;
        if c.sip_ended {
            self.send_bye(now, id, Cause::NormalClearing);
            return;
        }
        if let Some(r) = AudioSdp::parse(&m.body)
            .ok()
            .and_then(|s| s.addr_port().ok())
        {
            self.media_start(id, r);
        }
        let _ = self.spans[id.0].cc.connect(now, id.1);
    }

    /// Ends the SIP side of a call with `cause`, whatever its state: BYE
    /// after an answer, CANCEL or a final response before.
    fn end_sip(&mut self, now: Instant, id: (usize, CallId), cause: Cause) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.sip_ended {
            return;
        }
        c.sip_ended = true;
        c.digits_due = None;
        self.media_stop(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match &mut c.leg {
            None => {}
            Some(Leg::Uac { answered: true, .. } | Leg::Uas { answered: true, .. }) => {
                self.send_bye(now, id, cause)
            }
            Some(Leg::Uac {
                invite,
                done: false,
                ..
            }) => {
                let invite = invite.clone();
                self.send_cancel(now, &invite, cause);
            }
            Some(Leg::Uas {
                invite,
                key,
                dialog,
                done: done @ false,
                ..
            }) => {
                *done = true;
                let code = q850_to_sip(cause);
                let tag = dialog.local_tag().unwrap_or_default();
                let data = build::response(invite, code, Some(&tag), vec![reason(cause)], b"");
                let key = key.clone();
                self.tx.respond(now, &key, code, data);
            }
            Some(_) => {}
        }
    }

    fn send_bye(&mut self, now: Instant, id: (usize, CallId), cause: Cause) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let (Some(Leg::Uac { dialog, .. }) | Some(Leg::Uas { dialog, .. })) = &mut c.leg else {
            return;
        };
        dialog.next_cseq();
        let peer = dialog.peer;
        let sent = dialog
            .request_with(&self.me, rsip::Method::Bye, vec![reason(cause)], None, b"")
            .ok()
            .and_then(|data| Some((SipMessage::parse_datagram(&data).ok()?, data)));
        if let Some((req, data)) = sent {
            self.tx.send_request(now, peer, req, data);
        }
    }

    fn send_cancel(&mut self, now: Instant, invite: &SipMessage, cause: Cause) {
        let parts = (|| {
            Some((
                invite.request_uri()?,
                invite.get("Via")?,
                invite.get("From")?,
                invite.get("To")?,
                invite.call_id()?,
                invite.cseq().ok()?.0,
            ))
        })();
        let Some((uri, via, from, to, call_id, cseq)) = parts else {
            return;
        };
        let data = build::request(RequestSpec {
            method: rsip::Method::Cancel,
            uri,
            via: via.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            call_id,
            cseq,
            contact: None,
            extra: vec![reason(cause)],
            content_type: None,
            body: b"",
        });
        if let Some((req, data)) = data
            .ok()
            .and_then(|d| Some((SipMessage::parse_datagram(&d).ok()?, d)))
        {
            self.tx.send_request(now, self.pbx, req, data);
        }
    }

    fn media_start(&mut self, id: (usize, CallId), remote: SocketAddr) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(ts) = c.channel else { return };
        c.media = true;
        if let Some(port) = self.rtp_port(id.0, ts) {
            self.out.push_back(Output::MediaStart {
                span: id.0,
                channel: ts,
                port,
                remote,
            });
        }
    }

    fn media_stop(&mut self, id: (usize, CallId)) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if let (true, Some(ts)) = (c.media, c.channel) {
            c.media = false;
            self.out.push_back(Output::MediaStop {
                span: id.0,
                channel: ts,
            });
        }
    }

    /// Drops a call whose both sides are over.
    fn forget(&mut self, id: (usize, CallId)) {
        self.media_stop(id);
        self.calls.remove(&id);
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
