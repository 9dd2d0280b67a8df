//! The timers libpri does not run, in virtual time: T301 (ringing
//! unanswered), T302 (overlap receiving), T304 (overlap sending) and T322
//! (STATUS ENQUIRY unanswered), on a user and a network machine talking
//! through the byte codec.

use std::time::Duration;

use super::*;

const MS: Duration = Duration::from_millis(1);

/// [`overlap_call`] with the user's events taken.
fn overlap_call_taken(p: &mut Pair, first: &str) -> (CallId, CallId) {
    let (n, u, _) = overlap_call(p, first);
    (n, u)
}

fn digits(d: &str) -> PartyNumber {
    PartyNumber::e164(TypeOfNumber::Unknown, d)
}

/// Alerting for three minutes with nobody answering: the caller's side
/// (here the network, which placed the call) clears with cause 102, the
/// user side sees the DISCONNECT, and SIP hears 504.
#[test]
fn t301_clears_a_call_ringing_for_three_minutes_with_102() {
    let mut p = Pair::new();
    let (n, u) = p.net_calls_user();
    p.user.alerting(p.now, u).unwrap();
    p.pump();
    assert_eq!(
        p.net.next_deadline(),
        Some(p.now + Duration::from_secs(180))
    );
    p.advance(Duration::from_secs(180) - MS);
    assert_eq!((p.user.state(u), p.net.state(n)), (7, 7));
    p.advance(MS);
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert_eq!(
        p.wire[p.wire.len() - 3..],
        [
            (false, T::Disconnect),
            (true, T::Release),
            (false, T::ReleaseComplete)
        ]
    );
    let user = Pair::events(&mut p.user);
    assert_eq!(
        user[0],
        Event::Disconnected {
            call: u,
            cause: Cause::RecoveryOnTimerExpiry
        }
    );
    assert_eq!(q850_to_sip(Cause::RecoveryOnTimerExpiry), 504);
}

#[test]
fn t301_stops_when_the_call_is_answered() {
    let mut p = Pair::new();
    let (n, u) = p.net_calls_user();
    p.user.alerting(p.now, u).unwrap();
    p.pump();
    p.advance(Duration::from_secs(179));
    p.user.connect(p.now, u).unwrap();
    p.pump();
    assert_eq!(p.net.next_deadline(), None);
    p.advance(Duration::from_secs(600));
    assert_eq!((p.user.state(u), p.net.state(n)), (10, 10));
}

/// Overlap receiving on the network side: each INFORMATION starts T302
/// again; when no digit follows for T302 the number so far is handed to
/// the owner as complete, which takes the call en bloc.
#[test]
fn t302_takes_the_digits_so_far_as_the_whole_number() {
    let mut p = Pair::new();
    let (n, u) = overlap_call_taken(&mut p, "15");
    assert_eq!(p.net.next_deadline(), Some(p.now + Duration::from_secs(15)));
    p.advance(Duration::from_secs(10));
    p.user.information(p.now, u, digits("0"), false).unwrap();
    p.pump();
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Information {
            call: n,
            digits: "0".into(),
            sending_complete: false
        }]
    );
    // 15 s after the last digit, not after the SETUP ACK.
    p.advance(Duration::from_secs(15) - MS);
    assert_eq!(Pair::events(&mut p.net), []);
    assert_eq!(p.net.state(n), 2);
    p.advance(MS);
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Information {
            call: n,
            digits: String::new(),
            sending_complete: true
        }]
    );
    assert_eq!(p.net.next_deadline(), None, "T302 ran once");
    p.net.proceeding(p.now, n, None).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (3, 3));
}

/// T302 with not one digit received: the number is definitely incomplete
/// and the call is cleared with cause 28, which SIP hears as 484.
#[test]
fn t302_without_any_digit_clears_with_28() {
    let mut p = Pair::new();
    let (n, u) = overlap_call_taken(&mut p, "");
    p.advance(Duration::from_secs(15));
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert_eq!(
        Pair::events(&mut p.user)[0],
        Event::Disconnected {
            call: u,
            cause: Cause::InvalidNumberFormat
        }
    );
    assert_eq!(q850_to_sip(Cause::InvalidNumberFormat), 484);
    assert_eq!(Pair::events(&mut p.net)[0..0], []);
}

/// Sending Complete in an INFORMATION stops T302: the owner answers
/// when it likes.
#[test]
fn t302_stops_with_sending_complete() {
    let mut p = Pair::new();
    let (n, u) = overlap_call_taken(&mut p, "15");
    p.user.information(p.now, u, digits("00"), true).unwrap();
    p.pump();
    assert_eq!(p.net.next_deadline(), None);
    Pair::events(&mut p.net);
    // Past T302 (but within the user's T304): nothing happens.
    p.advance(Duration::from_secs(20));
    assert_eq!(Pair::events(&mut p.net), []);
    assert_eq!(p.net.state(n), 2);
}

/// Overlap sending: T304 starts on SETUP ACK and again with each
/// INFORMATION sent; the network answering nothing for T304 after the
/// last digit gets a DISCONNECT with cause 102.
#[test]
fn t304_clears_overlap_sending_the_network_never_answers_with_102() {
    let mut p = Pair::new();
    // The network waits longer for digits than the user for an answer.
    p.net = CallControl::new(
        Side::Network,
        Timers {
            t302: Duration::from_secs(120),
            ..Timers::default()
        },
    );
    let (n, u) = overlap_call_taken(&mut p, "15");
    p.advance(Duration::from_secs(20));
    p.user.information(p.now, u, digits("0"), false).unwrap();
    p.pump();
    p.advance(Duration::from_secs(30) - MS);
    assert_eq!((p.user.state(u), p.net.state(n)), (2, 2));
    p.advance(MS);
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert!(Pair::events(&mut p.net).contains(&Event::Disconnected {
        call: n,
        cause: Cause::RecoveryOnTimerExpiry
    }));
    assert_eq!(
        p.wire[p.wire.len() - 3..],
        [
            (true, T::Disconnect),
            (false, T::Release),
            (true, T::ReleaseComplete)
        ]
    );
}

#[test]
fn t304_stops_when_the_network_proceeds() {
    let mut p = Pair::new();
    let (n, u) = overlap_call_taken(&mut p, "15");
    p.user.information(p.now, u, digits("0"), true).unwrap();
    p.pump();
    p.net.alerting(p.now, n).unwrap();
    p.pump();
    assert_eq!(p.user.state(u), 4);
    // T301 now, not T304.
    assert_eq!(
        p.user.next_deadline(),
        Some(p.now + Duration::from_secs(180))
    );
}

/// A STATUS ENQUIRY whose STATUS is lost is sent again after T322; the
/// answer to the repeat stops T322 and the call goes on.
#[test]
fn t322_repeats_the_enquiry_until_status_comes() {
    let mut p = Pair::new();
    let (n, u) = p.active_call();
    p.drop.push((true, T::Status));
    p.net.status_enquiry(p.now, n).unwrap();
    p.pump();
    assert_eq!(p.net.next_deadline(), Some(p.now + Duration::from_secs(4)));
    p.advance(Duration::from_secs(4));
    assert_eq!(
        p.wire[p.wire.len() - 4..],
        [
            (false, T::StatusEnquiry),
            (true, T::Status),
            (false, T::StatusEnquiry),
            (true, T::Status)
        ]
    );
    assert_eq!(p.net.next_deadline(), None);
    p.advance(Duration::from_secs(60));
    assert_eq!((p.user.state(u), p.net.state(n)), (10, 10));
}

/// No STATUS at all: the enquiry goes out N322 (3) times, T322 apart,
/// then the call is cleared with cause 41.
#[test]
fn t322_clears_with_41_after_n322_unanswered_enquiries() {
    let mut p = Pair::new();
    let (n, u) = p.active_call();
    p.drop.extend([(false, T::Status); 3]);
    p.user.status_enquiry(p.now, u).unwrap();
    p.pump();
    let enquiries = |p: &Pair| {
        p.wire
            .iter()
            .filter(|w| **w == (true, T::StatusEnquiry))
            .count()
    };
    // A second request while one is outstanding sends nothing.
    p.user.status_enquiry(p.now, u).unwrap();
    p.pump();
    assert_eq!(enquiries(&p), 1);
    p.advance(Duration::from_secs(8));
    assert_eq!(enquiries(&p), 2);
    p.advance(Duration::from_secs(4));
    assert_eq!(enquiries(&p), 3);
    assert_eq!((p.user.state(u), p.net.state(n)), (10, 10));
    p.advance(Duration::from_secs(4) - MS);
    assert_eq!(p.user.state(u), 10);
    p.advance(MS);
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert_eq!(
        Pair::events(&mut p.net)[0],
        Event::Disconnected {
            call: n,
            cause: Cause::TemporaryFailure
        }
    );
}
