//! Every fault of the simulated E1, played on its far end and observed
//! through the traits trunkd uses (TRK-1, issue 14): alarms raised and
//! cleared, damaged D-channel frames dropped and counted, frame slips, a
//! line cut mid-call and its repair.
// The helpers outside #[test] functions fail the test on a broken setup;
// clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use dering_board::sim::{SimE1, Slip};
use dering_board::{fcs, Alarms, BChannel, ChannelEvent, DChannel, Incoming, Span, BLOCK_LEN};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, MsgFlags};

/// The far end writes a frame as libpri does: the frame and two
/// placeholder FCS bytes.
fn far_send(far: &OwnedFd, frame: &[u8]) {
    let mut m = frame.to_vec();
    m.extend([0, 0]);
    send(far.as_raw_fd(), &m, MsgFlags::empty()).unwrap();
}

/// What the far end received, if anything: a frame and its FCS.
fn far_recv(far: &OwnedFd) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1100];
    match recv(far.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(Errno::EAGAIN) => None,
        Err(e) => panic!("far recv: {e}"),
    }
}

fn event<T: std::fmt::Debug>(got: Option<Incoming<T>>) -> ChannelEvent {
    match got {
        Some(Incoming::Event(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

const SABME: &[u8] = &[0x02, 0x01, 0x7F];
const UA: &[u8] = &[0x02, 0x01, 0x73];

#[test]
fn d_channel_frames_pass_without_fcs_and_leave_with_a_good_one() {
    let (mut e1, far) = SimE1::with_socketpair(1).unwrap();
    assert_eq!(e1.dchannel.channo(), 16);
    assert_eq!(e1.bchannels.len(), 30);
    assert_eq!(e1.bchannels[15].channo(), 17);

    far_send(&far, SABME);
    assert_eq!(
        e1.dchannel.recv().unwrap(),
        Some(Incoming::Data(SABME.to_vec()))
    );
    assert_eq!(e1.dchannel.recv().unwrap(), None);

    e1.dchannel.send(UA).unwrap();
    let line = far_recv(&far).expect("the far end got our frame");
    assert_eq!(&line[..3], UA);
    assert!(fcs::check(&line), "FCS on the line: {line:02x?}");
}

/// Whether waiting on the D-channel would wake now.
fn readable(d: &impl AsFd) -> bool {
    let mut fds = [PollFd::new(d.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
}

/// trunkd waits on the D-channel's descriptor: it must wake for an alarm
/// as for a frame, and rest when both are taken.
#[test]
fn the_d_channel_wakes_its_owner_for_frames_and_for_alarms() {
    let (mut e1, far) = SimE1::with_socketpair(1).unwrap();
    assert!(!readable(&e1.dchannel));
    e1.line.raise(Alarms::RED);
    assert!(readable(&e1.dchannel), "no wake-up for the alarm");
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::Alarm);
    assert!(!readable(&e1.dchannel));
    e1.line.clear(Alarms::RED);
    far_send(&far, SABME);
    assert!(readable(&e1.dchannel));
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::NoAlarm);
    assert!(readable(&e1.dchannel), "the frame still waits");
    assert_eq!(
        e1.dchannel.recv().unwrap(),
        Some(Incoming::Data(SABME.to_vec()))
    );
    assert!(!readable(&e1.dchannel));
}

#[test]
fn red_yellow_and_blue_alarms_are_raised_and_cleared_on_every_channel() {
    let (mut e1, _far) = SimE1::with_socketpair(1).unwrap();
    assert!(e1.span.status().unwrap().alarms.is_clear());

    e1.line.raise(Alarms::RED);
    assert!(e1.span.status().unwrap().alarms.contains(Alarms::RED));
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::Alarm);
    for b in &mut e1.bchannels {
        assert_eq!(event(b.recv().unwrap()), ChannelEvent::Alarm);
    }

    // Further alarms and the clearing of some are no new events (DAHDI
    // tells only the change between none and some).
    e1.line.raise(Alarms::YELLOW | Alarms::BLUE);
    e1.line.clear(Alarms::RED);
    let status = e1.span.status().unwrap();
    assert_eq!(status.alarms, Alarms::YELLOW | Alarms::BLUE);
    assert_eq!(e1.dchannel.recv().unwrap(), None);
    assert_eq!(e1.bchannels[0].recv().unwrap(), None);

    e1.line.clear(Alarms::YELLOW | Alarms::BLUE);
    assert_eq!(e1.span.status().unwrap().alarms, Alarms::NONE);
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::NoAlarm);
    for b in &mut e1.bchannels {
        assert_eq!(event(b.recv().unwrap()), ChannelEvent::NoAlarm);
    }
}

/// Yellow: the far end does not hear us; we still hear it. Blue (AIS):
/// we hear only all ones; the far end still hears us.
#[test]
fn yellow_stops_what_we_send_and_blue_what_we_receive() {
    let (mut e1, far) = SimE1::with_socketpair(1).unwrap();
    e1.line.raise(Alarms::YELLOW);
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::Alarm);
    e1.dchannel.send(UA).unwrap();
    assert_eq!(far_recv(&far), None);
    far_send(&far, SABME);
    assert_eq!(
        e1.dchannel.recv().unwrap(),
        Some(Incoming::Data(SABME.to_vec()))
    );
    e1.line.clear(Alarms::YELLOW);
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::NoAlarm);

    e1.line.raise(Alarms::BLUE);
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::Alarm);
    far_send(&far, SABME);
    assert_eq!(e1.dchannel.recv().unwrap(), None);
    e1.dchannel.send(UA).unwrap();
    assert!(far_recv(&far).is_some());
}

#[test]
fn damaged_frames_are_dropped_counted_and_reported() {
    let (mut e1, far) = SimE1::with_socketpair(1).unwrap();
    e1.line.corrupt_next_frames(2);
    far_send(&far, SABME);
    far_send(&far, SABME);
    far_send(&far, UA);
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::BadFcs);
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::BadFcs);
    // The damaged frames never come out; the next good one does.
    assert_eq!(
        e1.dchannel.recv().unwrap(),
        Some(Incoming::Data(UA.to_vec()))
    );
    assert_eq!(e1.dchannel.recv().unwrap(), None);
    assert_eq!(e1.span.status().unwrap().bad_fcs, 2);
}

#[test]
fn frame_slips_are_counted_and_repeat_or_lose_a_byte_of_audio() {
    let (mut e1, _far) = SimE1::with_socketpair(1).unwrap();
    let ramp: Vec<u8> = (0..3 * BLOCK_LEN).map(|i| i as u8).collect();
    e1.line.send_audio(1, &ramp);

    e1.line.slip(Slip::Deleted);
    let Some(Incoming::Data(first)) = e1.bchannels[0].recv().unwrap() else {
        panic!("no block");
    };
    assert_eq!(first[..], ramp[1..1 + BLOCK_LEN], "byte 0 deleted");

    e1.line.slip(Slip::Repeated);
    let Some(Incoming::Data(second)) = e1.bchannels[0].recv().unwrap() else {
        panic!("no block");
    };
    let next = 1 + BLOCK_LEN;
    assert_eq!(second[0], ramp[next]);
    assert_eq!(second[1], ramp[next], "byte {next} repeated");
    assert_eq!(second[2..], ramp[next + 1..next + BLOCK_LEN - 1]);

    assert_eq!(e1.span.status().unwrap().slips, 2);
}

#[test]
fn a_line_cut_mid_call_stops_the_b_channel_and_turns_the_span_red() {
    let (mut e1, far) = SimE1::with_socketpair(1).unwrap();
    let b = &mut e1.bchannels[0];
    // A call's audio both ways.
    b.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert_eq!(e1.line.take_audio(1), vec![0xD5; BLOCK_LEN]);
    e1.line.send_audio(1, &[0x55; BLOCK_LEN]);
    assert_eq!(b.recv().unwrap(), Some(Incoming::Data([0x55; BLOCK_LEN])));

    // Audio in flight, then the cut.
    e1.line.send_audio(1, &[0x55; BLOCK_LEN]);
    e1.line.cut();
    let alarms = e1.span.status().unwrap().alarms;
    assert!(alarms.contains(Alarms::RED | Alarms::LOS), "{alarms:?}");
    assert_eq!(event(b.recv().unwrap()), ChannelEvent::Alarm);
    assert_eq!(b.recv().unwrap(), None, "audio in flight is lost");
    e1.line.send_audio(1, &[0x55; BLOCK_LEN]);
    assert_eq!(b.recv().unwrap(), None);
    b.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert!(e1.line.take_audio(1).is_empty());
    // The D-channel is cut too, both ways.
    assert_eq!(event(e1.dchannel.recv().unwrap()), ChannelEvent::Alarm);
    far_send(&far, SABME);
    assert_eq!(e1.dchannel.recv().unwrap(), None);
    e1.dchannel.send(SABME).unwrap();
    assert_eq!(far_recv(&far), None);

    e1.line.restore();
    assert!(e1.span.status().unwrap().alarms.is_clear());
    assert_eq!(event(b.recv().unwrap()), ChannelEvent::NoAlarm);
    e1.line.send_audio(1, &[0x55; BLOCK_LEN]);
    assert_eq!(b.recv().unwrap(), Some(Incoming::Data([0x55; BLOCK_LEN])));
    b.send(&[0xD5; BLOCK_LEN]).unwrap();
    assert_eq!(e1.line.take_audio(1).len(), BLOCK_LEN);
}

#[test]
fn the_far_end_closing_is_an_error_not_silence() {
    let (mut e1, far) = SimE1::with_socketpair(2).unwrap();
    assert_eq!(e1.dchannel.channo(), 31 + 16);
    drop(far);
    assert!(matches!(
        e1.dchannel.recv(),
        Err(dering_board::BoardError::FarEndClosed { channo: 47 })
    ));
}
