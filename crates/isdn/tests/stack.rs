//! Q.931 over Q.921 in virtual time (TRK-1, issue 14): faults of the data
//! link seen from the calls above it. A lost I-frame is recovered by
//! T200 before any Q.931 timer notices; a cut line takes the link down
//! and an active call outlives it for T309 only.

mod support;

use std::time::Duration;

use dering_isdn::q931::{Cause, Event};
use support::Stack;

/// CONNECT's message type.
const CONNECT: u8 = 0x07;

#[test]
fn a_lost_connect_is_resent_by_t200_and_the_call_completes() {
    let mut s = Stack::up();
    let mut lost_once = false;
    s.lose = Box::new(move |from_user, bytes| {
        let connect = from_user && bytes.len() > 8 && bytes[2] & 1 == 0 && bytes[8] == CONNECT;
        let lose = connect && !lost_once;
        lost_once |= lose;
        lose
    });
    let (n, u) = s.active_call();
    // Lost: the user waits in Connect Request, the network in Call
    // Received.
    assert_eq!((s.user.cc.state(u), s.net.cc.state(n)), (8, 7));
    assert!(s.run_until(Duration::from_secs(3), |s| s.net.cc.state(n) == 10));
    assert_eq!(s.user.cc.state(u), 10);
    let connects: Vec<_> = s
        .frames
        .iter()
        .filter(|f| f.q931_type() == Some(CONNECT))
        .collect();
    assert_eq!(connects.len(), 2, "sent, lost, and sent again");
    assert!(connects[0].lost && !connects[1].lost);
    // T200 (1 s) brought it back, well inside T313 (4 s).
    assert_eq!(connects[1].at - connects[0].at, Duration::from_secs(1));
    assert!(s.user.events.contains(&Event::Connected { call: u }));
    assert!(!s
        .user
        .events
        .iter()
        .any(|e| matches!(e, Event::Released { .. })));
}

#[test]
fn a_cut_line_takes_the_link_down_and_the_active_call_after_t309() {
    let mut s = Stack::up();
    let (n, u) = s.active_call();
    assert_eq!((s.user.cc.state(u), s.net.cc.state(n)), (10, 10));
    s.lose = Box::new(|_, _| true);
    // T203 (10 s) polls, T200 retries N200 times, the link gives up and
    // re-establishment fails too: the link is down.
    assert!(s.run_until(Duration::from_secs(30), |s| !s.user.link.is_established()));
    let down = s.now;
    assert_eq!(s.user.cc.state(u), 10, "an active call outlives the link");
    assert!(s.run_until(Duration::from_secs(7), |s| s.user.cc.state(u) == 0));
    assert_eq!(s.now - down, Duration::from_secs(6), "T309");
    assert!(s.user.events.contains(&Event::Released {
        call: u,
        cause: Cause::DestinationOutOfOrder,
        channel: Some(1)
    }));
}
