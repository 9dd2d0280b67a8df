//! The gateway's analog lines in virtual time (TRK-2, issue 14): the test
//! plays the CO on the port's side (DAHDI's ring events at the cadence's
//! moments, polarity reversals, A-law audio every 20 ms: a DTMF caller-ID
//! spill, dial tone, busy tone) and pbxd with SIP messages. No sockets,
//! no clock: the test moves time.
// The helpers outside #[test] functions fail the test on a broken set-up;
// clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dering_board::{ChannelEvent, BLOCK_LEN};
use dering_config::{Hunting, LineAnswer, LineCallerId, LineConfig, LineDevice, LineStart, Trunkd};
use dering_fxo::Action;
use dering_isdn::q931::Timers;
use dering_media::dtmf::{self, Detector};
use dering_media::g711::Law;
use dering_sip::Message;
mod pbx_side;

use pbx_side::{answer, in_dialog, sdp, PBX, PBX_RTP};
use trunkd::gateway::{Gateway, Output};
use trunkd::hunt::ChannelState;

const STEP: Duration = Duration::from_millis(20);

fn pbx() -> SocketAddr {
    PBX.parse().unwrap()
}

fn line_config(answer: LineAnswer) -> LineConfig {
    LineConfig {
        name: "co1".into(),
        device: LineDevice::Simulated,
        number: "137".into(),
        caller_id: LineCallerId::Auto,
        start: LineStart::Kewlstart,
        hangup_on_polarity: true,
        answer_guard_ms: 600,
        busy_count: 3,
        answer,
        group: "lines".into(),
        hunting: Hunting::Ascending,
        country_code: "62".into(),
    }
}

/// The gateway with one line, the CO's audio still to play, what the
/// port was told to do and what reached pbxd.
struct World {
    gw: Gateway,
    now: Instant,
    /// A-law the CO plays, one block each 20 ms step.
    co_audio: VecDeque<u8>,
    /// The port's hook changes, in order.
    hook: Vec<Action>,
    /// The audio the port sent to the line (its dialling).
    sent: Vec<u8>,
    sip: Vec<Message>,
    media: Vec<Output>,
    placed: u32,
}

impl World {
    fn new(answer: LineAnswer) -> World {
        let cfg = Trunkd {
            sip: "127.0.0.1:5090".parse().unwrap(),
            pbx: pbx(),
            rtp_port_min: 40000,
            spans: Vec::new(),
            lines: vec![line_config(answer)],
        };
        World {
            gw: Gateway::new(&cfg, Timers::default(), 7),
            now: Instant::now(),
            co_audio: VecDeque::new(),
            hook: Vec::new(),
            sent: Vec::new(),
            sip: Vec::new(),
            media: Vec::new(),
            placed: 0,
        }
    }

    fn settle(&mut self) {
        while let Some(o) = self.gw.poll_output() {
            match o {
                Output::Sip { to, data } => {
                    assert_eq!(to, pbx());
                    self.sip.push(Message::parse_datagram(&data).unwrap());
                }
                Output::Line {
                    line: 0,
                    action: Action::Send(block),
                } => self.sent.extend_from_slice(&block[..]),
                Output::Line { line: 0, action } => self.hook.push(action),
                m => self.media.push(m),
            }
        }
    }

    /// Moves virtual time on by `d` in block steps: the CO's audio is
    /// heard a block a step (silence when it has none), timers fire.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += STEP;
            let mut block = [Law::Alaw.silence(); BLOCK_LEN];
            for b in &mut block {
                match self.co_audio.pop_front() {
                    Some(x) => *b = x,
                    None => break,
                }
            }
            self.gw.line_audio(self.now, 0, &block);
            if self.gw.poll_timeout().is_some_and(|t| t <= self.now) {
                self.gw.handle_timeout(self.now);
            }
            self.settle();
        }
    }

    fn event(&mut self, e: ChannelEvent) {
        self.gw.line_event(self.now, 0, e);
        self.settle();
    }

    /// One ring burst of Indonesia's cadence as DAHDI reports it:
    /// RINGBEGIN, then the ring 400 ms after the 1 s burst, then the
    /// silence to the next burst.
    fn ring_burst(&mut self) {
        self.event(ChannelEvent::RingBegin);
        self.advance(Duration::from_millis(1400));
        self.event(ChannelEvent::Ring);
        self.advance(Duration::from_millis(3600));
    }

    fn play(&mut self, pcm: &[i16]) {
        let mut alaw = Vec::new();
        Law::Alaw.encode(pcm, &mut alaw);
        self.co_audio.extend(alaw);
    }

    fn pbx_sends(&mut self, data: &[u8]) {
        self.gw.handle_sip(self.now, pbx(), data);
        self.settle();
    }

    /// The first SIP message of `kind` (a method or a status) not looked
    /// at yet, taken.
    fn take_sip(&mut self, kind: &str) -> Message {
        match self.sip.iter().position(|m| is(m, kind)) {
            Some(i) => self.sip.remove(i),
            None => panic!("no {kind} to pbxd in {:#?}", self.sip),
        }
    }

    fn no_sip(&self, kind: &str) {
        assert!(
            !self.sip.iter().any(|m| is(m, kind)),
            "unexpected {kind} in {:#?}",
            self.sip
        );
    }

    /// pbxd calls out through trunkd.
    fn pbx_calls(&mut self, number: &str) -> Vec<u8> {
        self.placed += 1;
        let n = self.placed;
        let invite = format!(
            "INVITE sip:{number}@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bKout{n}\r\nFrom: <sip:1001@dering>;tag=p{n}\r\nTo: <sip:{number}@127.0.0.1:5090>\r\nCall-ID: out-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:pbx@{PBX}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            len = sdp().len(),
            sdp = sdp()
        )
        .into_bytes();
        self.pbx_sends(&invite);
        invite
    }

    /// A call in with a DTMF spill before the first ring, offered to
    /// pbxd and answered by it.
    fn answered_call_in(&mut self) -> Message {
        self.play(&dtmf_spill("A0215551234C"));
        self.advance(Duration::from_millis(2500));
        self.no_sip("INVITE");
        self.event(ChannelEvent::RingBegin);
        let invite = self.take_sip("INVITE");
        self.pbx_sends(&answer(&invite, 200));
        self.take_sip("ACK");
        invite
    }
}

/// Whether `m` is a request of method `kind` or a response of status
/// `kind`.
fn is(m: &Message, kind: &str) -> bool {
    match m.status() {
        Some(code) => code.to_string() == kind,
        None => m.method().is_some_and(|x| x.as_str() == kind),
    }
}

/// A DTMF CLIP spill (EN 300 659-1 Annex B): 70 ms digits, 70 ms apart.
fn dtmf_spill(keys: &str) -> Vec<i16> {
    let mut pcm = Vec::new();
    for k in keys.chars() {
        pcm.extend(dtmf::generate(k, 70, -8.0, 0.0, 0.0));
        pcm.extend(std::iter::repeat_n(0, 70 * 8));
    }
    pcm
}

/// 425 Hz (every Indonesian tone) about −13 dBm0, `on_ms` on and
/// `off_ms` off, for `total_ms`.
fn tone(on_ms: u32, off_ms: u32, total_ms: u32) -> Vec<i16> {
    let period = on_ms + off_ms;
    (0..total_ms * 8)
        .map(|n| {
            let ms = n / 8;
            if off_ms > 0 && ms % period >= on_ms {
                return 0;
            }
            (5000.0 * (TAU * 425.0 * f64::from(n) / 8000.0).sin()) as i16
        })
        .collect()
}

fn user_of(header: &str) -> &str {
    let s = &header[header.find("sip:").unwrap() + 4..];
    &s[..s.find('@').unwrap()]
}

#[test]
fn a_spill_and_a_ring_become_an_invite_with_the_callers_number_and_pbxds_200_goes_off_hook() {
    let mut w = World::new(LineAnswer::Dialled);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
    let invite = w.answered_call_in();
    // Offered at the first ring, the spill read before it: the line's own
    // number is the called one, the caller's normalised to E.164.
    assert_eq!(
        invite.request_uri().map(|u| user_of(u).to_owned()),
        Some("137".into())
    );
    assert_eq!(user_of(invite.get("From").unwrap()), "+62215551234");
    assert_eq!(invite.get("X-Dering-Channel"), Some("span=co1;channel=1"));
    let body = String::from_utf8_lossy(&invite.body).into_owned();
    assert!(body.contains("m=audio 40000 RTP/AVP 8"), "{body}");

    assert_eq!(
        w.hook,
        [Action::Seize],
        "pbxd's 200 takes the line off hook"
    );
    assert!(w.media.contains(&Output::LineMediaStart {
        line: 0,
        port: 40000,
        remote: PBX_RTP.parse().unwrap()
    }));
    assert_eq!(w.gw.line_state(0), Some(ChannelState::InUse));
    assert!(w.gw.line_talking(0));
}

#[test]
fn a_reversal_inside_the_guard_is_ignored_and_busy_tone_ends_the_call_with_bye() {
    let mut w = World::new(LineAnswer::Dialled);
    w.answered_call_in();
    // The exchange's answer signal, 200 ms after ours: inside the guard.
    w.advance(Duration::from_millis(200));
    w.event(ChannelEvent::Polarity);
    w.advance(Duration::from_secs(2));
    w.no_sip("BYE");
    assert_eq!(w.hook, [Action::Seize]);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::InUse));

    // The caller hangs up; the exchange plays busy tone.
    w.play(&tone(500, 500, 5000));
    w.advance(Duration::from_secs(5));
    let bye = w.take_sip("BYE");
    assert_eq!(bye.get("Reason"), Some("Q.850;cause=16"));
    assert_eq!(w.hook, [Action::Seize, Action::Release]);
    assert!(w.media.contains(&Output::LineMediaStop { line: 0 }));
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn a_reversal_after_the_guard_is_the_far_end_hanging_up() {
    let mut w = World::new(LineAnswer::Dialled);
    w.answered_call_in();
    w.advance(Duration::from_secs(3));
    w.event(ChannelEvent::Polarity);
    let bye = w.take_sip("BYE");
    assert_eq!(bye.get("Reason"), Some("Q.850;cause=16"));
    assert_eq!(w.hook, [Action::Seize, Action::Release]);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
}

#[test]
fn ringing_that_stops_before_the_answer_cancels_the_invite() {
    let mut w = World::new(LineAnswer::Dialled);
    // No spill: offered when the second ring begins, as anonymous.
    w.ring_burst();
    w.no_sip("INVITE");
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Ringing));
    w.event(ChannelEvent::RingBegin);
    let invite = w.take_sip("INVITE");
    assert_eq!(user_of(invite.get("From").unwrap()), "anonymous");
    w.pbx_sends(&answer(&invite, 180));
    w.advance(Duration::from_millis(1400));
    w.event(ChannelEvent::Ring);
    // The caller gives up: no ring for longer than the cadence's silence.
    w.advance(Duration::from_secs(7));
    let cancel = w.take_sip("CANCEL");
    assert_eq!(cancel.call_id(), invite.call_id());
    assert_eq!(cancel.get("Reason"), Some("Q.850;cause=16"));
    assert!(w.hook.is_empty(), "never off hook: {:?}", w.hook);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn a_call_out_seizes_the_line_waits_for_dial_tone_and_dials_the_digits() {
    let mut w = World::new(LineAnswer::Dialled);
    w.pbx_calls("+62215550123");
    w.take_sip("100");
    assert_eq!(w.hook, [Action::Seize]);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::InUse));
    w.play(&tone(1000, 0, 1500));
    w.advance(Duration::from_secs(4));

    let mut heard = Vec::new();
    Law::Alaw.decode(&w.sent, &mut heard);
    let digits: String = Detector::new().feed(&heard).into_iter().collect();
    assert_eq!(digits, "0215550123", "the national form, as a phone dials");
    // Dialled: the far end's tones are heard early, and with no answer
    // signal the call is up once dialled.
    let progress = w.take_sip("183");
    assert!(String::from_utf8_lossy(&progress.body).contains("m=audio 40000 RTP/AVP 8"));
    assert!(w.media.contains(&Output::LineMediaStart {
        line: 0,
        port: 40000,
        remote: PBX_RTP.parse().unwrap()
    }));
    let ok = w.take_sip("200");
    w.pbx_sends(&in_dialog("ACK", &ok, 1, None));
    w.pbx_sends(&in_dialog("BYE", &ok, 2, None));
    w.take_sip("200");
    assert_eq!(w.hook, [Action::Seize, Action::Release]);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn with_polarity_answer_the_200_waits_for_the_exchanges_reversal() {
    let mut w = World::new(LineAnswer::Polarity);
    w.pbx_calls("137");
    w.play(&tone(1000, 0, 1500));
    w.advance(Duration::from_secs(3));
    w.take_sip("183");
    w.advance(Duration::from_secs(5));
    w.no_sip("200");
    w.event(ChannelEvent::Polarity);
    w.take_sip("200");
}

#[test]
fn no_dial_tone_refuses_the_call_with_503_and_cause_34() {
    let mut w = World::new(LineAnswer::Dialled);
    w.pbx_calls("081234567890");
    w.take_sip("100");
    w.advance(Duration::from_secs(4));
    let refused = w.take_sip("503");
    assert_eq!(refused.get("Reason"), Some("Q.850;cause=34"));
    assert!(w.sent.is_empty(), "nothing dialled");
    assert_eq!(w.hook, [Action::Seize, Action::Release]);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
    // The line is free again: a second call seizes it.
    w.pbx_calls("081234567890");
    w.take_sip("100");
    assert_eq!(w.gw.line_state(0), Some(ChannelState::InUse));
}

#[test]
fn a_ringing_line_is_not_hunted_and_a_busy_group_refuses_with_503() {
    let mut w = World::new(LineAnswer::Dialled);
    w.event(ChannelEvent::RingBegin);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Ringing));
    w.pbx_calls("081234567890");
    let refused = w.take_sip("503");
    assert_eq!(refused.get("Reason"), Some("Q.850;cause=34"));
    assert!(w.hook.is_empty());
}

#[test]
fn pbxds_refusal_leaves_the_line_on_hook_until_the_ringing_stops() {
    let mut w = World::new(LineAnswer::Dialled);
    w.play(&dtmf_spill("A0215551234C"));
    w.advance(Duration::from_millis(2500));
    w.event(ChannelEvent::RingBegin);
    let invite = w.take_sip("INVITE");
    w.pbx_sends(&answer(&invite, 486));
    w.take_sip("ACK");
    w.advance(Duration::from_millis(1400));
    w.event(ChannelEvent::Ring);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Ringing));
    // The exchange rings on; nothing is offered again.
    w.advance(Duration::from_millis(3600));
    w.event(ChannelEvent::RingBegin);
    w.no_sip("INVITE");
    w.advance(Duration::from_secs(8));
    assert!(w.hook.is_empty(), "never off hook: {:?}", w.hook);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn loop_current_loss_ends_an_answered_call_and_an_alarm_blocks_the_line() {
    let mut w = World::new(LineAnswer::Dialled);
    w.answered_call_in();
    w.advance(Duration::from_secs(1));
    w.event(ChannelEvent::LoopCurrentLost);
    let bye = w.take_sip("BYE");
    assert_eq!(bye.get("Reason"), Some("Q.850;cause=16"));
    assert_eq!(w.hook, [Action::Seize, Action::Release]);

    w.event(ChannelEvent::Alarm);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Blocked));
    w.pbx_calls("081234567890");
    let refused = w.take_sip("503");
    assert_eq!(refused.get("Reason"), Some("Q.850;cause=34"));
    w.event(ChannelEvent::NoAlarm);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::Idle));
}

/// A gateway with a span (its link down) and the line: calls out go to
/// the span first, to the line when no span can carry them, and to the
/// span or group a `tgrp` names.
#[test]
fn calls_out_take_a_line_when_no_span_can_carry_them_or_when_tgrp_names_its_group() {
    let span = dering_config::SpanConfig {
        name: "telkom".into(),
        span: 1,
        device: dering_config::SpanDevice::Dahdi,
        side: dering_config::SpanSide::User,
        channels: vec![1, 2],
        hunting: Hunting::Ascending,
        digit_timeout_ms: 4000,
        max_calls: 2,
        country_code: "62".into(),
    };
    let cfg = Trunkd {
        sip: "127.0.0.1:5090".parse().unwrap(),
        pbx: pbx(),
        rtp_port_min: 40000,
        spans: vec![span],
        lines: vec![line_config(LineAnswer::Dialled)],
    };
    let mut w = World::new(LineAnswer::Dialled);
    w.gw = Gateway::new(&cfg, Timers::default(), 7);
    // The line's port follows the span's two channels.
    assert_eq!(w.gw.line_rtp_port(0), Some(40004));
    // The span's link is down: the line carries the call.
    w.pbx_calls("081234567890");
    w.take_sip("100");
    assert_eq!(w.hook, [Action::Seize]);
    assert_eq!(w.gw.line_state(0), Some(ChannelState::InUse));

    // A tgrp naming the span keeps the call off the lines.
    let mut w2 = World::new(LineAnswer::Dialled);
    w2.gw = Gateway::new(&cfg, Timers::default(), 7);
    w2.pbx_calls("081234567890;tgrp=telkom");
    w2.take_sip("503");
    assert!(w2.hook.is_empty());
    assert_eq!(w2.gw.line_state(0), Some(ChannelState::Idle));
    // One naming the group goes to its line.
    w2.pbx_calls("081234567890;tgrp=lines");
    w2.take_sip("100");
    assert_eq!(w2.hook, [Action::Seize]);
}
