//! The simulated FXO port on virtual time, with the test as the CO
//! (TRK-2, issue 14): ring cadence, answer, polarity reversal, loop
//! current loss on kewlstart and loop start, audio, a cut line.
// The helpers outside #[test] functions fail the test on a broken setup;
// clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dering_board::sim::{Cadence, FxoSignalling, SimClock, SimFxo};
use dering_board::{AnalogPort, ChannelEvent, Hook, Incoming, BLOCK_LEN};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The events the port has now, in order.
fn events(fxo: &mut SimFxo) -> Vec<ChannelEvent> {
    let mut out = Vec::new();
    while let Some(got) = fxo.port.recv().unwrap() {
        match got {
            Incoming::Event(e) => out.push(e),
            Incoming::Data(_) => {}
        }
    }
    out
}

fn port(signalling: FxoSignalling) -> (SimFxo, SimClock) {
    let clock = SimClock::new();
    (SimFxo::new(1, signalling, clock.clone()), clock)
}

#[test]
fn ringing_follows_the_cadence_with_dahdis_ring_event_after_each_burst() {
    let (mut fxo, clock) = port(FxoSignalling::Kewlstart);
    fxo.co.ring(&Cadence::indonesia(), 2);
    assert_eq!(events(&mut fxo), [ChannelEvent::RingBegin]);

    // The burst ends at 1 s; the ring is reported 400 ms later.
    clock.advance(ms(1399));
    assert_eq!(events(&mut fxo), []);
    clock.advance(ms(1));
    assert_eq!(events(&mut fxo), [ChannelEvent::Ring]);

    // The second burst after 4 s of silence.
    clock.advance(ms(3599));
    assert_eq!(events(&mut fxo), []);
    clock.advance(ms(1));
    assert_eq!(events(&mut fxo), [ChannelEvent::RingBegin]);
    clock.advance(ms(1400));
    assert_eq!(events(&mut fxo), [ChannelEvent::Ring]);

    // Two bursts asked for: the line falls quiet (the caller gave up).
    clock.advance(Duration::from_secs(30));
    assert_eq!(events(&mut fxo), []);
    assert!(!fxo.co.is_off_hook());
}

#[test]
fn events_due_while_unread_come_out_in_order() {
    let (mut fxo, clock) = port(FxoSignalling::Kewlstart);
    fxo.co.ring(&Cadence::indonesia(), 3);
    clock.advance(Duration::from_secs(11));
    use ChannelEvent::{Ring, RingBegin};
    assert_eq!(
        events(&mut fxo),
        [RingBegin, Ring, RingBegin, Ring, RingBegin]
    );
}

#[test]
fn answering_trips_the_ringing_and_the_co_sees_the_loop_closed() {
    let (mut fxo, clock) = port(FxoSignalling::Kewlstart);
    fxo.co.ring(&Cadence::indonesia(), 10);
    clock.advance(ms(1500));
    assert_eq!(
        events(&mut fxo),
        [ChannelEvent::RingBegin, ChannelEvent::Ring]
    );

    fxo.port.seize().unwrap();
    assert_eq!(fxo.port.hook(), Hook::Off);
    assert!(fxo.co.is_off_hook());
    clock.advance(Duration::from_secs(60));
    assert_eq!(events(&mut fxo), [], "ringing went on after the answer");
}

#[test]
fn a_ringing_line_that_stops_before_the_answer_falls_quiet() {
    let (mut fxo, clock) = port(FxoSignalling::LoopStart);
    fxo.co.ring(&Cadence::indonesia(), 10);
    clock.advance(ms(500));
    fxo.co.stop_ringing();
    // The burst under way is cut short: its ring is reported 400 ms after
    // the ringing voltage went, not after the full second.
    assert_eq!(events(&mut fxo), [ChannelEvent::RingBegin]);
    clock.advance(ms(399));
    assert_eq!(events(&mut fxo), []);
    clock.advance(ms(1));
    assert_eq!(events(&mut fxo), [ChannelEvent::Ring]);
    clock.advance(Duration::from_secs(60));
    assert_eq!(events(&mut fxo), []);
}

/// Stopped in the silence after a burst, the ring still due comes out.
#[test]
fn stopping_between_bursts_keeps_the_ring_already_due() {
    let (mut fxo, clock) = port(FxoSignalling::LoopStart);
    fxo.co.ring(&Cadence::indonesia(), 10);
    clock.advance(ms(1200));
    fxo.co.stop_ringing();
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        events(&mut fxo),
        [ChannelEvent::RingBegin, ChannelEvent::Ring]
    );
}

#[test]
fn polarity_reversals_are_events() {
    let (mut fxo, _clock) = port(FxoSignalling::Kewlstart);
    fxo.co.reverse_polarity();
    assert!(fxo.co.is_reversed());
    assert_eq!(events(&mut fxo), [ChannelEvent::Polarity]);
    fxo.co.reverse_polarity();
    assert!(!fxo.co.is_reversed());
    assert_eq!(events(&mut fxo), [ChannelEvent::Polarity]);
}

/// Kewlstart reports the CO's disconnect (loop current lost) off hook;
/// loop start cannot, which is why busy-tone detection exists.
#[test]
fn loop_current_loss_is_reported_on_kewlstart_only() {
    let (mut ks, _c) = port(FxoSignalling::Kewlstart);
    ks.co.drop_loop_current();
    assert_eq!(
        events(&mut ks),
        [],
        "on hook there is no loop current to lose"
    );
    ks.co.restore_loop_current();
    ks.port.seize().unwrap();
    ks.co.drop_loop_current();
    assert_eq!(events(&mut ks), [ChannelEvent::LoopCurrentLost]);

    let (mut ls, _c) = port(FxoSignalling::LoopStart);
    ls.port.seize().unwrap();
    ls.co.drop_loop_current();
    assert_eq!(events(&mut ls), []);
}

#[test]
fn audio_is_heard_on_hook_and_sent_off_hook() {
    let (mut fxo, _clock) = port(FxoSignalling::Kewlstart);
    // A caller-ID spill arrives before the answer: the port hears it.
    fxo.co.send_audio(&[0x5A; BLOCK_LEN]);
    assert_eq!(
        fxo.port.recv().unwrap(),
        Some(Incoming::Data([0x5A; BLOCK_LEN]))
    );
    assert_eq!(fxo.port.recv().unwrap(), None);
    // On hook the CO hears nothing from us.
    fxo.port.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert!(fxo.co.take_audio().is_empty());
    fxo.port.seize().unwrap();
    fxo.port.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert_eq!(fxo.co.take_audio(), vec![0xD5; BLOCK_LEN]);
}

#[test]
fn a_line_cut_mid_call_drops_loop_current_and_audio() {
    let (mut fxo, _clock) = port(FxoSignalling::Kewlstart);
    fxo.port.seize().unwrap();
    fxo.co.send_audio(&[0x5A; BLOCK_LEN]);
    fxo.co.cut();
    assert_eq!(
        fxo.port.recv().unwrap(),
        Some(Incoming::Event(ChannelEvent::LoopCurrentLost))
    );
    assert_eq!(fxo.port.recv().unwrap(), None, "audio in flight is lost");
    fxo.co.send_audio(&[0x5A; BLOCK_LEN]);
    fxo.port.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert_eq!(fxo.port.recv().unwrap(), None);
    assert!(fxo.co.take_audio().is_empty());

    fxo.co.restore();
    fxo.port.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert_eq!(fxo.co.take_audio().len(), BLOCK_LEN);
}
