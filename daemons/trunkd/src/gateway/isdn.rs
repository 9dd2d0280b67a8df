//! The carrier's side of the gateway: Q.931 events from a span's call
//! control turned into SIP requests and responses to pbxd, incoming
//! calls given a channel, overlap digits collected.

use std::time::{Duration, Instant};

use dering_isdn::q931::{self, CallId, Cause, ChannelId, ChannelSel, PartyNumber};
use dering_sip::dialog::Dialog;
use dering_sip::sdp::{AudioSdp, Direction, Format};
use dering_sip::Message as SipMessage;

use super::{Call, Gateway, Key, Leg, PCMA};
use crate::hunt::ChannelState;
use crate::numbers::to_sip_user;

impl Gateway {
    pub(super) fn on_isdn(&mut self, now: Instant, span: usize, e: q931::Event) {
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
                if let Some(c) = self.calls.get_mut(&Key::Span(span, call)) {
                    if c.leg.is_none() {
                        c.called.push_str(&digits);
                        c.digits_due = Some(if sending_complete { now } else { now + timeout });
                    }
                }
                if sending_complete {
                    self.digits_complete(now, Key::Span(span, call));
                }
            }
            E::Proceeding { call, channel } | E::SetupAcknowledged { call, channel } => {
                self.channel_chosen(span, call, channel);
            }
            E::Alerting { call } => self.respond_progress(now, Key::Span(span, call), 180),
            // In-band information (1: not end-to-end ISDN, 8: in-band
            // now available): the caller hears the carrier's tones.
            E::Progress {
                call,
                description: 1 | 8,
            } => self.respond_progress(now, Key::Span(span, call), 183),
            E::Progress { .. } => {}
            E::Connected { call } => self.answered_by_carrier(now, Key::Span(span, call)),
            E::Disconnected { call, cause } => self.end_sip(now, Key::Span(span, call), cause),
            E::Released {
                call,
                cause,
                channel,
            } => {
                self.end_sip(now, Key::Span(span, call), cause);
                self.forget(Key::Span(span, call));
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

    pub(super) fn restarted(&mut self, span: usize, channel: Option<u8>) {
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

    pub(super) fn digit_timeout(&self, span: usize) -> Duration {
        Duration::from_millis(u64::from(self.spans[span].cfg.digit_timeout_ms))
    }

    /// A SETUP from the carrier: a channel for it, then CALL PROCEEDING
    /// and the INVITE, or SETUP ACK and the digits first.
    #[allow(clippy::too_many_arguments)] // one event's fields, taken apart
    pub(super) fn incoming(
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
            Key::Span(span, call),
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
            self.invite_pbx(now, Key::Span(span, call));
        }
    }

    /// Overlap receiving is over (Sending Complete or the digit
    /// timeout): the call is offered to pbxd en bloc, or refused without
    /// a number.
    pub(super) fn digits_complete(&mut self, now: Instant, id: Key) {
        let Key::Span(span, call) = id else { return };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.leg.is_some() || c.digits_due.is_none() {
            return;
        }
        c.digits_due = None;
        let empty = c.called.is_empty();
        let cc = &mut self.spans[span].cc;
        if empty {
            let _ = cc.disconnect(now, call, Cause::InvalidNumberFormat);
            if let Some(c) = self.calls.get_mut(&id) {
                c.sip_ended = true;
            }
            return;
        }
        let _ = cc.proceeding(now, call, None);
        self.invite_pbx(now, id);
    }

    /// Our SDP for a call's circuit (a B-channel or a line).
    pub(super) fn sdp(&self, id: Key) -> Vec<u8> {
        let port = self.call_rtp_port(id).unwrap_or(0);
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

    /// The INVITE to pbxd for a call from the carrier (on a span or a
    /// line: its called number and caller are in the call).
    pub(super) fn invite_pbx(&mut self, now: Instant, id: Key) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let cc_code = match id {
            Key::Span(span, _) => {
                if c.channel.is_none() {
                    return;
                }
                &self.spans[span].cfg.country_code
            }
            Key::Line(line) => &self.lines[line].cfg.country_code,
        };
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
        let sdp = self.sdp(id);
        let extra: Vec<_> = self.channel_header(id).into_iter().collect();
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
            self.carrier_clear(now, id, Cause::Interworking);
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
    pub(super) fn channel_chosen(&mut self, span: usize, call: CallId, channel: Option<u8>) {
        let Some(n) = channel else { return };
        let Some(c) = self.calls.get_mut(&Key::Span(span, call)) else {
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
}
