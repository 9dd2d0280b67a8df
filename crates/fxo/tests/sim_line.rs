//! Whole calls on the simulated FXO port (board-support's `SimFxo`) with
//! a scripted CO, in virtual time: the CO rings with Indonesia's cadence,
//! reverses polarity, drops loop current and plays spills and tones made
//! by spandsp; the port's state machine, pumped through the board's
//! `AnalogPort`, must offer, answer and hang up at the right moments.

// The Line helpers outside #[test] functions fail the test when the
// simulated board errs; clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::{on_the_line, spandsp};
use dering_board::sim::{Cadence, CoLine, FxoSignalling, SimAnalogPort, SimClock, SimFxo};
use dering_fxo::driver::{apply, pump};
use dering_fxo::{
    CidSignalling, Event, FxoPort, GoneReason, Outcome, PortConfig, Signal, StartSignalling,
    Unavailable,
};
use dering_media::dtmf::Detector;
use dering_media::g711::Law;

const STEP: Duration = Duration::from_millis(20);

/// The port, its line, and what happened when.
struct Line {
    clock: SimClock,
    board: SimAnalogPort,
    co: CoLine,
    port: FxoPort,
    /// A-law the CO has still to play, 160 bytes each step.
    audio: VecDeque<u8>,
    events: Vec<(Duration, Event)>,
}

impl Line {
    fn new(config: PortConfig) -> Line {
        let clock = SimClock::new();
        let signalling = match config.start {
            StartSignalling::LoopStart => FxoSignalling::LoopStart,
            StartSignalling::Kewlstart => FxoSignalling::Kewlstart,
        };
        let SimFxo { port: board, co } = SimFxo::new(1, signalling, clock.clone());
        Line {
            clock,
            board,
            co,
            port: FxoPort::new(config),
            audio: VecDeque::new(),
            events: Vec::new(),
        }
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The CO plays `samples` from now on.
    fn play(&mut self, samples: &[i16]) {
        self.audio.extend(on_the_line(samples, 0));
    }

    /// 20 ms of line time: the CO's next block of audio (or silence),
    /// then the port reads what the board has.
    fn step(&mut self) {
        self.clock.advance(STEP);
        let block: Vec<u8> = (0..160)
            .map(|_| self.audio.pop_front().unwrap_or(Law::Alaw.silence()))
            .collect();
        self.co.send_audio(&block);
        let now = self.now();
        for e in pump(&mut self.board, &mut self.port, now).unwrap() {
            self.events.push((now, e));
        }
    }

    /// Steps for `d`.
    fn run(&mut self, d: Duration) {
        let end = self.now() + d;
        while self.now() < end {
            self.step();
        }
    }

    /// Steps until an event matches `f`, at most `limit`; returns it
    /// and when it came.
    fn until(&mut self, limit: Duration, f: impl Fn(&Event) -> bool) -> (Duration, Event) {
        let end = self.now() + limit;
        let seen = self.events.len();
        while self.now() < end {
            self.step();
            if let Some(hit) = self.events[seen..].iter().find(|(_, e)| f(e)) {
                return hit.clone();
            }
        }
        panic!(
            "no such event by {:?}; events {:?}",
            self.now(),
            self.events
        );
    }

    fn answer(&mut self) {
        let now = self.now();
        self.port.answer(now).unwrap();
        apply(&mut self.board, &mut self.port).unwrap();
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn busy_tone(seconds: u32) -> Vec<i16> {
    spandsp(&["tone", "425", "-13", "500", "500", &seconds.to_string()])
}

/// ETSI's order: polarity reversal, V.23 spill, then ringing. The call is
/// offered at the first ring with the caller ID, answered, survives the
/// exchange's polarity reversal inside the guard time, and ends when the
/// far end hangs up and the exchange plays busy tone.
#[test]
fn inbound_call_with_v23_caller_id_answered_then_busy_tone() {
    let mut line = Line::new(PortConfig::default());
    line.co.reverse_polarity();
    line.play(&spandsp(&[
        "clip",
        "0x80",
        "0x01=12041620",
        "0x02=0215551234",
        "0x07=OMBUDSMAN RI",
    ]));
    line.run(secs(1.0));
    assert!(line.events.is_empty(), "{:?}", line.events);
    line.co.ring(&Cadence::indonesia(), 5);
    let (at, offered) = line.until(secs(1.0), |e| matches!(e, Event::Offered(_)));
    let Event::Offered(Outcome::Received(id)) = offered else {
        panic!("{offered:?}");
    };
    assert_eq!(id.number.as_deref(), Some("0215551234"));
    assert_eq!(id.name.as_deref(), Some("OMBUDSMAN RI"));
    assert_eq!(id.signal, Signal::V23);
    assert!(at >= secs(1.0), "offered at {at:?}, before the ring");
    assert!(!line.co.is_off_hook());

    line.run(secs(0.5));
    line.answer();
    assert!(line.co.is_off_hook());
    // The exchange's answer signal, 200 ms after ours: inside the guard.
    line.run(secs(0.2));
    line.co.reverse_polarity();
    line.run(secs(5.0));
    let gone = |e: &Event| matches!(e, Event::FarEndGone(_));
    assert!(
        !line.events.iter().any(|(_, e)| gone(e)),
        "{:?}",
        line.events
    );
    assert!(line.co.is_off_hook());

    // The far end hangs up: busy tone, three bursts to be sure.
    let start = line.now();
    line.play(&busy_tone(5));
    let (at, e) = line.until(secs(4.0), gone);
    assert_eq!(e, Event::FarEndGone(GoneReason::BusyTone));
    assert!(at - start >= secs(2.4), "busy after {:?}", at - start);
    assert!(!line.co.is_off_hook());
    assert!(line.port.is_idle());
}

/// Bellcore's order: the spill between the first and second ring. The
/// call is offered once the spill is read, before the second ring; then
/// the caller gives up and the ringing stops before the answer.
#[test]
fn bell202_spill_between_rings_then_the_ringing_stops() {
    let mut line = Line::new(PortConfig::default());
    line.co.ring(&Cadence::indonesia(), 2);
    // DAHDI reports the first ring 1.4 s in; the spill follows at 2 s.
    line.run(secs(2.0));
    assert!(
        !line
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Offered(_))),
        "offered before caller ID had its chance: {:?}",
        line.events
    );
    line.play(&spandsp(&["class", "0x04", "0=12041620", "0=6095551212"]));
    let (at, offered) = line.until(secs(2.0), |e| matches!(e, Event::Offered(_)));
    assert!(at < secs(5.0), "offered at {at:?}, after the second ring");
    let Event::Offered(Outcome::Received(id)) = offered else {
        panic!("{offered:?}");
    };
    assert_eq!(id.number.as_deref(), Some("6095551212"));
    assert_eq!(id.signal, Signal::Bell202);

    let (at, e) = line.until(secs(12.0), |e| matches!(e, Event::FarEndGone(_)));
    assert_eq!(e, Event::FarEndGone(GoneReason::StoppedRinging));
    // The second (last) ring is reported at 6.4 s; the timeout is 6 s.
    assert!(at >= secs(12.0), "gone at {at:?}");
    assert!(!line.co.is_off_hook());
    assert!(line.port.is_idle());
}

/// No spill: the call waits for the second ring (the spill's chance) and
/// comes with "not sent". On a loop-start line the far end's polarity
/// reversal after the guard time ends the call.
#[test]
fn no_caller_id_then_polarity_reversal_hangs_up() {
    let mut line = Line::new(PortConfig {
        start: StartSignalling::LoopStart,
        ..PortConfig::default()
    });
    line.co.ring(&Cadence::indonesia(), 5);
    let (at, offered) = line.until(secs(6.0), |e| matches!(e, Event::Offered(_)));
    assert_eq!(
        offered,
        Event::Offered(Outcome::Unavailable(Unavailable::NotSent))
    );
    assert!(at >= secs(5.0), "offered at {at:?}, before the second ring");
    line.answer();
    line.run(secs(2.0));
    line.co.reverse_polarity();
    let (_, e) = line.until(secs(0.1), |e| matches!(e, Event::FarEndGone(_)));
    assert_eq!(e, Event::FarEndGone(GoneReason::PolarityReversal));
    assert!(!line.co.is_off_hook());
}

/// A kewlstart line: the exchange drops loop current to hang up. A bad
/// checksum on a V.23 spill offers the call with "unavailable".
#[test]
fn kewlstart_loop_current_loss_and_a_damaged_spill() {
    let mut line = Line::new(PortConfig {
        cid: CidSignalling::V23,
        ..PortConfig::default()
    });
    line.co.reverse_polarity();
    line.play(&spandsp(&[
        "clip",
        "--corrupt",
        "5",
        "0x80",
        "0x02=0215551234",
    ]));
    line.run(secs(1.0));
    line.co.ring(&Cadence::indonesia(), 5);
    let (_, offered) = line.until(secs(1.0), |e| matches!(e, Event::Offered(_)));
    assert_eq!(
        offered,
        Event::Offered(Outcome::Unavailable(Unavailable::BadChecksum))
    );
    line.answer();
    line.run(secs(3.0));
    line.co.drop_loop_current();
    let (_, e) = line.until(secs(0.1), |e| matches!(e, Event::FarEndGone(_)));
    assert_eq!(e, Event::FarEndGone(GoneReason::LoopCurrentLost));
    assert!(!line.co.is_off_hook());
}

/// Outbound: seize, hear dial tone, dial; the CO hears the digits as
/// DTMF. Then congestion tone ends the call. Without dial tone the port
/// gives up and releases the line.
#[test]
fn outbound_dial_tone_dtmf_dialling_then_congestion() {
    let mut line = Line::new(PortConfig::default());
    line.play(&spandsp(&["tone", "425", "-13", "1000", "0", "2"]));
    let now = line.now();
    line.port.dial("0215551234#", now).unwrap();
    apply(&mut line.board, &mut line.port).unwrap();
    assert!(line.co.is_off_hook());
    let (at, _) = line.until(secs(5.0), |e| *e == Event::Dialled);
    // Dial tone takes 0.8 s; eleven digits of 100 + 100 ms take 2.2 s.
    assert!(at >= secs(2.9), "dialled at {at:?}");
    let mut pcm = Vec::new();
    Law::Alaw.decode(&line.co.take_audio(), &mut pcm);
    let digits: String = Detector::new().feed(&pcm).into_iter().collect();
    assert_eq!(digits, "0215551234#");

    line.run(secs(1.0));
    line.play(&spandsp(&["tone", "425", "-13", "250", "250", "3"]));
    let (_, e) = line.until(secs(3.0), |e| matches!(e, Event::FarEndGone(_)));
    assert_eq!(e, Event::FarEndGone(GoneReason::CongestionTone));
    assert!(!line.co.is_off_hook());

    // A dead line: no dial tone.
    let now = line.now();
    line.port.dial("137", now).unwrap();
    apply(&mut line.board, &mut line.port).unwrap();
    let (_, e) = line.until(secs(4.0), |e| matches!(e, Event::FarEndGone(_)));
    assert_eq!(e, Event::FarEndGone(GoneReason::NoDialTone));
    assert!(!line.co.is_off_hook());
    assert!(line.co.take_audio().is_empty());
}

/// DTMF CLIP with no warning (no reversal, no ring before it): the idle
/// port hears it, and the first ring offers the call with the number.
#[test]
fn dtmf_clip_on_an_idle_line_before_the_first_ring() {
    let mut line = Line::new(PortConfig::default());
    line.run(secs(0.5));
    line.play(&spandsp(&["dtmf", "C", "A=0215551234"]));
    line.run(secs(2.0));
    assert!(line.events.is_empty(), "{:?}", line.events);
    line.co.ring(&Cadence::indonesia(), 5);
    let (at, offered) = line.until(secs(1.0), |e| matches!(e, Event::Offered(_)));
    let Event::Offered(Outcome::Received(id)) = offered else {
        panic!("{offered:?}");
    };
    assert_eq!(id.number.as_deref(), Some("0215551234"));
    assert_eq!(id.signal, Signal::Dtmf);
    assert!(at <= secs(2.6), "offered at {at:?}, not at the first ring");
}

/// An FSK spill announced by the dual-tone alerting signal instead of a
/// polarity reversal (the UK's practice): the idle port hears the alert,
/// then the V.23 spill, and offers at the first ring.
#[test]
fn v23_spill_after_a_dual_tone_alert_without_reversal() {
    let mut line = Line::new(PortConfig::default());
    line.run(secs(0.3));
    line.play(&spandsp(&["clip", "--alert", "0x80", "0x02=0215551234"]));
    line.run(secs(1.5));
    line.co.ring(&Cadence::indonesia(), 5);
    let (at, offered) = line.until(secs(1.0), |e| matches!(e, Event::Offered(_)));
    let Event::Offered(Outcome::Received(id)) = offered else {
        panic!("{offered:?}");
    };
    assert_eq!(id.number.as_deref(), Some("0215551234"));
    assert!(at <= secs(2.0), "offered at {at:?}, not at the first ring");
}
