//! The analog lines' side of the gateway (TRK-2, decision 0023): each
//! line's FXO port machine (`dering-fxo`) fed with the board's events and
//! audio, its events turned into SIP towards pbxd, and pbxd's answers and
//! clearings turned into hook changes.
//!
//! A line's call is keyed by the line alone (one call at a time). The
//! line's state (idle, ringing, in use, blocked) lives in its group's
//! [`Channels`], the same shape a span keeps for its B-channels, so status
//! reports both alike and outbound calls hunt a group's lines as they
//! hunt a span's channels.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dering_board::{Block, ChannelEvent};
use dering_config::{LineAnswer, LineCallerId, LineConfig, LineStart};
use dering_fxo::{
    CallerId, CidSignalling, Event, FxoPort, GoneReason, Outcome, PortConfig, StartSignalling,
};
use dering_isdn::q931::{Cause, PartyNumber, TypeOfNumber};
use dering_sip::build;
use dering_sip::dialog::Dialog;
use dering_sip::transaction::Peer;
use dering_sip::Message as SipMessage;

use super::{Call, Gateway, Key, Leg, Output};
use crate::hunt::{ChannelState, Channels};
use crate::numbers::dial_string;

/// One line: its settings, its port machine and its place in its group.
#[derive(Debug)]
pub(super) struct LineState {
    pub(super) cfg: LineConfig,
    pub(super) port: FxoPort,
    group: usize,
    /// The line's number in its group's channels (from 1).
    slot: u8,
    pub(super) rtp_port: u16,
}

/// A group of lines that calls out hunt across.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) name: String,
    channels: Channels,
    /// The lines of the group, by slot (slot 1 first).
    lines: Vec<usize>,
}

/// The lines of `cfg` with their groups, their RTP ports from `rtp_base`
/// on (two each, after the spans').
pub(super) fn lines(cfg: &[LineConfig], rtp_base: u16) -> (Vec<LineState>, Vec<Group>) {
    let mut groups: Vec<Group> = Vec::new();
    let mut lines = Vec::with_capacity(cfg.len());
    for (i, c) in cfg.iter().enumerate() {
        let g = match groups.iter().position(|g| g.name == c.group) {
            Some(g) => g,
            None => {
                groups.push(Group {
                    name: c.group.clone(),
                    channels: Channels::new(&[], c.hunting, 0),
                    lines: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[g].lines.push(i);
        lines.push(LineState {
            cfg: c.clone(),
            port: FxoPort::new(port_config(c)),
            group: g,
            slot: u8::try_from(groups[g].lines.len()).unwrap_or(u8::MAX),
            rtp_port: rtp_base.saturating_add(2 * i as u16),
        });
    }
    for g in &mut groups {
        let slots: Vec<u8> = (1..=g.lines.len())
            .map(|n| u8::try_from(n).unwrap_or(u8::MAX))
            .collect();
        let hunting = cfg[g.lines[0]].hunting;
        g.channels = Channels::new(&slots, hunting, slots.len() as u32);
    }
    (lines, groups)
}

/// The port machine's settings for a line.
fn port_config(c: &LineConfig) -> PortConfig {
    PortConfig {
        start: match c.start {
            LineStart::Kewlstart => StartSignalling::Kewlstart,
            LineStart::LoopStart => StartSignalling::LoopStart,
        },
        cid: match c.caller_id {
            LineCallerId::Auto => CidSignalling::Auto,
            LineCallerId::V23 => CidSignalling::V23,
            LineCallerId::Bell202 => CidSignalling::Bell202,
            LineCallerId::Dtmf => CidSignalling::Dtmf,
            LineCallerId::None => CidSignalling::Off,
        },
        polarity_guard: Duration::from_millis(u64::from(c.answer_guard_ms)),
        hangup_on_polarity: c.hangup_on_polarity,
        answer_on_polarity: c.answer == LineAnswer::Polarity,
        busy_count: c.busy_count,
        ..PortConfig::default()
    }
}

/// The Q.850 cause a line's disconnect is reported with. Busy and
/// congestion tone on a call out are the far end's answer to our dialling
/// (17, 34); on a call in they follow the caller's hangup (16).
fn gone_cause(why: GoneReason, outbound: bool) -> Cause {
    match why {
        GoneReason::BusyTone if outbound => Cause::UserBusy,
        GoneReason::CongestionTone if outbound => Cause::NoCircuitAvailable,
        GoneReason::NoDialTone => Cause::NoCircuitAvailable,
        GoneReason::StoppedRinging
        | GoneReason::PolarityReversal
        | GoneReason::LoopCurrentLost
        | GoneReason::BusyTone
        | GoneReason::CongestionTone => Cause::NormalClearing,
    }
}

impl Gateway {
    /// The state of line `line` (its index in the configuration), for
    /// status and tests.
    pub fn line_state(&self, line: usize) -> Option<ChannelState> {
        let l = self.lines.get(line)?;
        self.groups.get(l.group)?.channels.state(l.slot)
    }

    /// The RTP port of line `line`.
    pub fn line_rtp_port(&self, line: usize) -> Option<u16> {
        Some(self.lines.get(line)?.rtp_port)
    }

    /// An event from line `line`'s FXO port (ring, polarity, loop
    /// current, the channel's alarm).
    pub fn line_event(&mut self, now: Instant, line: usize, event: ChannelEvent) {
        if line >= self.lines.len() {
            return;
        }
        match event {
            ChannelEvent::Alarm => self.line_blocked(now, line, true),
            ChannelEvent::NoAlarm => self.line_blocked(now, line, false),
            e => {
                let t = self.since(now);
                self.lines[line].port.handle_event(e, t);
            }
        }
        self.pump(now);
    }

    /// One block of line `line`'s audio (caller ID, tones), as the board
    /// read it.
    pub fn line_audio(&mut self, now: Instant, line: usize, block: &Block) {
        let t = self.since(now);
        let Some(l) = self.lines.get_mut(line) else {
            return;
        };
        l.port.handle_audio(block, t);
        self.pump(now);
    }

    /// Whether line `line`'s call has its audio started (after pbxd's
    /// answer, or once a call out is dialled), for status and tests.
    pub fn line_talking(&self, line: usize) -> bool {
        self.calls.get(&Key::Line(line)).is_some_and(|c| c.media)
    }

    /// The port clocks' time for `now`.
    fn since(&mut self, now: Instant) -> Duration {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch)
    }

    /// Runs the ports' timers due at `now`.
    pub(super) fn lines_timeout(&mut self, now: Instant) {
        if self.epoch.is_none() {
            return;
        }
        let t = self.since(now);
        for l in &mut self.lines {
            while l.port.poll_timeout().is_some_and(|d| d <= t) {
                l.port.handle_timeout(t);
            }
        }
    }

    /// Carries the ports' actions out and acts on their events; true when
    /// anything moved.
    pub(super) fn pump_lines(&mut self, now: Instant) -> bool {
        let mut busy = false;
        for line in 0..self.lines.len() {
            while let Some(action) = self.lines[line].port.poll_action() {
                self.out.push_back(Output::Line { line, action });
            }
            while let Some(e) = self.lines[line].port.poll_event() {
                busy = true;
                self.on_line(now, line, e);
            }
            self.settle_line(now, line);
        }
        busy
    }

    fn set_line(&mut self, line: usize, state: ChannelState) {
        let (g, slot) = (self.lines[line].group, self.lines[line].slot);
        self.groups[g].channels.set(Some(slot), state);
    }

    /// Keeps the line's state in step with its port: a line whose port
    /// went idle drops its call; a port busy before any call (ringing
    /// before the offer, a spill) makes the line ringing, so no call out
    /// hunts it.
    fn settle_line(&mut self, now: Instant, line: usize) {
        let state = self.line_state(line);
        if state == Some(ChannelState::Blocked) {
            return;
        }
        let idle = self.lines[line].port.is_idle();
        let key = Key::Line(line);
        match (idle, self.calls.contains_key(&key)) {
            (true, true) => {
                self.end_sip(now, key, Cause::NormalClearing);
                self.forget(key);
                self.set_line(line, ChannelState::Idle);
            }
            (true, false) if state != Some(ChannelState::Idle) => {
                self.set_line(line, ChannelState::Idle);
            }
            (false, false) if state == Some(ChannelState::Idle) => {
                self.set_line(line, ChannelState::Ringing);
            }
            _ => {}
        }
    }

    fn on_line(&mut self, now: Instant, line: usize, e: Event) {
        let key = Key::Line(line);
        match e {
            Event::Offered(outcome) => self.line_offered(now, line, outcome),
            // Ours on a call in; the exchange's reversal on a call out.
            Event::Answered => {
                if self.is_outbound(key) {
                    self.answered_by_carrier(now, key);
                }
            }
            Event::Dialled => {
                self.respond_progress(now, key, 183);
                if self.lines[line].cfg.answer == LineAnswer::Dialled {
                    self.answered_by_carrier(now, key);
                }
            }
            Event::FarEndGone(why) => {
                let cause = gone_cause(why, self.is_outbound(key));
                tracing::info!(line = self.lines[line].cfg.name, ?why, "line cleared");
                self.end_sip(now, key, cause);
            }
        }
    }

    fn is_outbound(&self, key: Key) -> bool {
        matches!(
            self.calls.get(&key).and_then(|c| c.leg.as_ref()),
            Some(Leg::Uas { .. })
        )
    }

    /// A call in, its caller ID read (or given up on): INVITE to pbxd for
    /// the line's own number.
    fn line_offered(&mut self, now: Instant, line: usize, outcome: Outcome) {
        let key = Key::Line(line);
        if self.calls.contains_key(&key) {
            return;
        }
        let calling = match outcome {
            Outcome::Received(CallerId {
                number: Some(n), ..
            }) => Some(PartyNumber::e164(TypeOfNumber::Unknown, &n)),
            // Withheld, unavailable or no spill: anonymous.
            _ => None,
        };
        tracing::info!(
            line = self.lines[line].cfg.name,
            caller = calling.as_ref().map_or("anonymous", |n| n.digits.as_str()),
            "call in on the line"
        );
        self.set_line(line, ChannelState::Ringing);
        self.calls.insert(
            key,
            Call {
                channel: None,
                leg: None,
                called: self.lines[line].cfg.number.clone(),
                calling,
                digits_due: None,
                sip_ended: false,
                media: false,
            },
        );
        self.invite_pbx(now, key);
    }

    /// pbxd's 200 for a call in: off hook.
    pub(super) fn line_answer(&mut self, now: Instant, line: usize) {
        let t = self.since(now);
        match self.lines[line].port.answer(t) {
            Ok(()) => self.set_line(line, ChannelState::InUse),
            Err(e) => {
                // The ringing stopped as pbxd answered: the caller is gone.
                tracing::info!(line = self.lines[line].cfg.name, %e, "answer too late");
                self.end_sip(now, Key::Line(line), Cause::NormalClearing);
            }
        }
    }

    /// pbxd ended the call: on hook (a call still ringing is declined and
    /// the line stays ringing until the exchange stops).
    pub(super) fn line_hangup(&mut self, line: usize) {
        if let Some(l) = self.lines.get_mut(line) {
            l.port.hangup();
        }
    }

    /// The port's channel went into alarm (`true`) or out of it: a call
    /// on it ends with cause 38 and the line is blocked until it clears.
    fn line_blocked(&mut self, now: Instant, line: usize, alarm: bool) {
        let key = Key::Line(line);
        if alarm {
            self.end_sip(now, key, Cause::NetworkOutOfOrder);
            self.forget(key);
            self.lines[line].port.hangup();
            self.set_line(line, ChannelState::Blocked);
        } else if self.line_state(line) == Some(ChannelState::Blocked) {
            self.set_line(line, ChannelState::Idle);
        }
    }

    /// An INVITE from pbxd for a line: a free line of `group` (of the
    /// first group with one without it) seized to dial the number.
    #[allow(clippy::too_many_arguments)] // the INVITE's parts, taken apart
    pub(super) fn outgoing_line(
        &mut self,
        now: Instant,
        peer: Peer,
        key: String,
        msg: SipMessage,
        remote: SocketAddr,
        user: &str,
        group: Option<usize>,
    ) {
        let found = self.groups.iter_mut().enumerate().find_map(|(g, gr)| {
            if group.is_some_and(|want| want != g) {
                return None;
            }
            let slot = gr.channels.hunt()?;
            Some((g, gr.lines[usize::from(slot) - 1]))
        });
        let Some((_, line)) = found else {
            return self.refuse(now, &key, &msg, Cause::NoCircuitAvailable);
        };
        let Some(digits) = dial_string(user, &self.lines[line].cfg.country_code) else {
            self.set_line(line, ChannelState::Idle);
            return self.refuse(now, &key, &msg, Cause::InvalidNumberFormat);
        };
        let t = self.since(now);
        if let Err(e) = self.lines[line].port.dial(&digits, t) {
            tracing::warn!(line = self.lines[line].cfg.name, %e, "line not seized");
            self.set_line(line, ChannelState::Idle);
            let cause = match e {
                dering_fxo::PortError::BadDigit(_) => Cause::InvalidNumberFormat,
                _ => Cause::NoCircuitAvailable,
            };
            return self.refuse(now, &key, &msg, cause);
        }
        tracing::info!(line = self.lines[line].cfg.name, "call out: line seized");
        let dialog = Dialog::from_invite(&msg, peer, self.me.fresh());
        let data = build::response(&msg, 100, None, vec![], b"");
        self.tx.respond(now, &key, 100, data);
        self.calls.insert(
            Key::Line(line),
            Call {
                channel: None,
                leg: Some(Leg::Uas {
                    dialog,
                    invite: msg,
                    key,
                    remote,
                    done: false,
                    answered: false,
                }),
                called: digits,
                calling: None,
                digits_due: None,
                sip_ended: false,
                media: false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnects_map_to_causes_by_direction() {
        assert_eq!(gone_cause(GoneReason::BusyTone, true), Cause::UserBusy);
        assert_eq!(
            gone_cause(GoneReason::BusyTone, false),
            Cause::NormalClearing
        );
        assert_eq!(
            gone_cause(GoneReason::NoDialTone, true),
            Cause::NoCircuitAvailable
        );
        assert_eq!(
            gone_cause(GoneReason::PolarityReversal, false),
            Cause::NormalClearing
        );
    }
}
