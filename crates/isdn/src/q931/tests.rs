//! The call machines in virtual time: a user side and a network side
//! talking to each other through the byte codec, and single machines
//! against byte strings.

use std::time::{Duration, Instant};

use super::*;
use MessageType as T;

mod timers;

struct Pair {
    now: Instant,
    user: CallControl,
    net: CallControl,
    /// Every message that crossed, with true when the user sent it.
    wire: Vec<(bool, MessageType)>,
    /// Messages of this type are lost (once each entry).
    drop: Vec<(bool, MessageType)>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            now: Instant::now(),
            user: CallControl::new(Side::User, Timers::default()),
            net: CallControl::new(Side::Network, Timers::default()),
            wire: Vec::new(),
            drop: Vec::new(),
        }
    }

    /// Carries messages both ways until both are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(m) = self.user.poll_message() {
                moved = true;
                self.carry(true, m);
            }
            while let Some(m) = self.net.poll_message() {
                moved = true;
                self.carry(false, m);
            }
            if !moved {
                return;
            }
        }
    }

    fn carry(&mut self, from_user: bool, m: Message) {
        self.wire.push((from_user, m.msg_type));
        if let Some(i) = self.drop.iter().position(|d| *d == (from_user, m.msg_type)) {
            self.drop.remove(i);
            return;
        }
        let bytes = m.encode();
        let to = if from_user {
            &mut self.net
        } else {
            &mut self.user
        };
        to.handle_bytes(self.now, &bytes);
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.user.handle_timeout(self.now);
        self.net.handle_timeout(self.now);
        self.pump();
    }

    fn events(m: &mut CallControl) -> Vec<Event> {
        std::iter::from_fn(|| m.poll_event()).collect()
    }

    /// The network calls 137 on timeslot 1; the user is offered it.
    /// A call from the network, answered by the user and acknowledged:
    /// both sides active, their events so far taken.
    fn active_call(&mut self) -> (CallId, CallId) {
        let (n, u) = self.net_calls_user();
        self.user.connect(self.now, u).unwrap();
        self.pump();
        Pair::events(&mut self.user);
        Pair::events(&mut self.net);
        (n, u)
    }

    fn net_calls_user(&mut self) -> (CallId, CallId) {
        let n = self
            .net
            .setup(
                self.now,
                SetupRequest {
                    called: PartyNumber::e164(TypeOfNumber::National, "137"),
                    calling: Some(PartyNumber::e164(TypeOfNumber::National, "215550")),
                    channel: ChannelId {
                        exclusive: true,
                        channel: ChannelSel::BChannel(1),
                    },
                    sending_complete: true,
                },
            )
            .unwrap();
        self.pump();
        let ev = Self::events(&mut self.user);
        let [Event::IncomingCall {
            call,
            called,
            channel,
            sending_complete: true,
            ..
        }] = ev.as_slice()
        else {
            panic!("no incoming call: {ev:?}");
        };
        assert_eq!(called.as_ref().map(|c| c.digits.as_str()), Some("137"));
        assert_eq!(channel.map(|c| c.channel), Some(ChannelSel::BChannel(1)));
        assert_eq!(self.user.state(*call), 6);
        assert_eq!(self.net.state(n), 6);
        (n, *call)
    }
}

#[test]
fn a_call_from_the_network_is_answered_and_cleared() {
    let mut p = Pair::new();
    let (n, u) = p.net_calls_user();
    p.user.proceeding(p.now, u, None).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (9, 9));
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Proceeding {
            call: n,
            channel: Some(1)
        }]
    );
    p.user.alerting(p.now, u).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (7, 7));
    p.user.connect(p.now, u).unwrap();
    assert_eq!(p.user.state(u), 8);
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (10, 10));
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Alerting { call: n }, Event::Connected { call: n }]
    );
    assert_eq!(Pair::events(&mut p.user), [Event::Connected { call: u }]);

    p.net.disconnect(p.now, n, Cause::NormalClearing).unwrap();
    assert_eq!(p.net.state(n), 12);
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert_eq!(
        p.wire,
        [
            (false, T::Setup),
            (true, T::CallProceeding),
            (true, T::Alerting),
            (true, T::Connect),
            (false, T::ConnectAck),
            (false, T::Disconnect),
            (true, T::Release),
            (false, T::ReleaseComplete),
        ]
    );
    assert_eq!(
        Pair::events(&mut p.user),
        [
            Event::Disconnected {
                call: u,
                cause: Cause::NormalClearing
            },
            Event::Released {
                call: u,
                cause: Cause::NormalClearing,
                channel: Some(1)
            }
        ]
    );
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Released {
            call: n,
            cause: Cause::NormalClearing,
            channel: Some(1)
        }]
    );
    assert_eq!(p.user.next_deadline(), None);
    assert_eq!(p.net.next_deadline(), None);
}

/// The user calls out; the network side answers with its states 1, 3, 4.
#[test]
fn a_busy_callee_clears_with_17_which_is_sip_486() {
    let mut p = Pair::new();
    let u = p
        .user
        .setup(
            p.now,
            SetupRequest {
                called: PartyNumber::e164(TypeOfNumber::Subscriber, "1500123"),
                calling: None,
                channel: ChannelId {
                    exclusive: false,
                    channel: ChannelSel::BChannel(5),
                },
                sending_complete: true,
            },
        )
        .unwrap();
    assert_eq!(p.user.state(u), 1);
    p.pump();
    let [Event::IncomingCall { call: n, .. }] = Pair::events(&mut p.net)[..] else {
        panic!("no incoming call");
    };
    assert_eq!(p.net.state(n), 1);
    p.net.proceeding(p.now, n, Some(7)).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (3, 3));
    // The network moved the call to timeslot 7.
    assert_eq!(
        Pair::events(&mut p.user),
        [Event::Proceeding {
            call: u,
            channel: Some(7)
        }]
    );
    p.net.disconnect(p.now, n, Cause::UserBusy).unwrap();
    p.pump();
    let ev = Pair::events(&mut p.user);
    let Event::Disconnected { cause, .. } = ev[0] else {
        panic!("{ev:?}");
    };
    assert_eq!(q850_to_sip(cause), 486);
    assert_eq!(
        ev[1],
        Event::Released {
            call: u,
            cause: Cause::UserBusy,
            channel: Some(7)
        }
    );
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
}

/// Ringing with nobody answering: the caller gives up with cause 19.
#[test]
fn no_answer_is_cleared_by_the_caller_with_19() {
    let mut p = Pair::new();
    let (n, u) = p.net_calls_user();
    p.user.alerting(p.now, u).unwrap();
    p.pump();
    assert_eq!(p.net.state(n), 7);
    p.advance(Duration::from_secs(60));
    // Nothing runs on an alerting call.
    assert_eq!((p.user.state(u), p.net.state(n)), (7, 7));
    p.net.disconnect(p.now, n, Cause::NoAnswer).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert!(Pair::events(&mut p.user).contains(&Event::Disconnected {
        call: u,
        cause: Cause::NoAnswer
    }));
}

#[test]
fn both_sides_disconnect_at_once() {
    let mut p = Pair::new();
    let (n, u) = p.active_call();
    // Both DISCONNECTs are sent before either arrives.
    p.user.disconnect(p.now, u, Cause::NormalClearing).unwrap();
    p.net.disconnect(p.now, n, Cause::NormalClearing).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert!(Pair::events(&mut p.user)
        .iter()
        .any(|e| matches!(e, Event::Released { call, .. } if *call == u)));
    assert!(Pair::events(&mut p.net)
        .iter()
        .any(|e| matches!(e, Event::Released { call, .. } if *call == n)));
    assert_eq!(p.user.next_deadline(), None);
    assert_eq!(p.net.next_deadline(), None);
}

#[test]
fn a_lost_release_is_sent_again_on_t308() {
    let mut p = Pair::new();
    let (n, u) = p.net_calls_user();
    p.user.connect(p.now, u).unwrap();
    p.pump();
    p.drop.push((true, T::Release));
    p.net.disconnect(p.now, n, Cause::NormalClearing).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (19, 12));
    p.advance(Duration::from_millis(3999));
    assert_eq!(p.user.state(u), 19);
    p.advance(Duration::from_millis(1));
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert_eq!(
        p.wire[p.wire.len() - 2..],
        [(true, T::Release), (false, T::ReleaseComplete)]
    );
}

#[test]
fn release_lost_twice_frees_the_reference_and_restarts_the_channel() {
    let mut p = Pair::new();
    let (_, u) = p.net_calls_user();
    p.user.connect(p.now, u).unwrap();
    p.pump();
    Pair::events(&mut p.user);
    p.drop.push((true, T::Release));
    p.drop.push((true, T::Release));
    p.user.release(p.now, u, Cause::NormalClearing).unwrap();
    p.pump();
    p.advance(Duration::from_secs(4));
    assert_eq!(p.user.state(u), 19);
    p.advance(Duration::from_secs(4));
    assert_eq!(p.user.state(u), 0);
    assert_eq!(
        Pair::events(&mut p.user),
        [
            Event::Released {
                call: u,
                cause: Cause::RecoveryOnTimerExpiry,
                channel: Some(1)
            },
            Event::Restarted { channel: Some(1) }
        ]
    );
    // The network still had the call; the RESTART cleared it.
    assert_eq!(
        p.wire[p.wire.len() - 2..],
        [(true, T::Restart), (false, T::RestartAck)]
    );
    assert!(Pair::events(&mut p.net).contains(&Event::Restarted { channel: Some(1) }));
}

#[test]
fn an_unanswered_setup_is_sent_twice_then_cleared_with_102() {
    let mut p = Pair::new();
    p.drop.push((false, T::Setup));
    p.drop.push((false, T::Setup));
    let n = p
        .net
        .setup(
            p.now,
            SetupRequest {
                called: PartyNumber::e164(TypeOfNumber::Unknown, "1"),
                calling: None,
                channel: ChannelId {
                    exclusive: true,
                    channel: ChannelSel::BChannel(2),
                },
                sending_complete: false,
            },
        )
        .unwrap();
    p.pump();
    p.advance(Duration::from_secs(4));
    assert_eq!(p.net.state(n), 6);
    p.advance(Duration::from_secs(4));
    assert_eq!(p.net.state(n), 0);
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Released {
            call: n,
            cause: Cause::RecoveryOnTimerExpiry,
            channel: Some(2)
        }]
    );
    assert_eq!(
        p.wire,
        [
            (false, T::Setup),
            (false, T::Setup),
            (false, T::ReleaseComplete)
        ]
    );
    assert_eq!(q850_to_sip(Cause::RecoveryOnTimerExpiry), 504);
}

#[test]
fn t303_stops_when_the_resent_setup_is_answered() {
    let mut p = Pair::new();
    p.drop.push((false, T::Setup));
    let n = p
        .net
        .setup(
            p.now,
            SetupRequest {
                called: PartyNumber::e164(TypeOfNumber::Unknown, "1"),
                calling: None,
                channel: ChannelId {
                    exclusive: true,
                    channel: ChannelSel::BChannel(2),
                },
                sending_complete: true,
            },
        )
        .unwrap();
    p.pump();
    p.advance(Duration::from_secs(4));
    let [Event::IncomingCall { call: u, .. }] = Pair::events(&mut p.user)[..] else {
        panic!("the resent SETUP did not arrive");
    };
    p.user.alerting(p.now, u).unwrap();
    p.pump();
    p.advance(Duration::from_secs(10));
    assert_eq!(p.net.state(n), 7);
}

#[test]
fn t305_and_t313_and_t310_clear_with_release_and_102() {
    // T313: the user's CONNECT gets no CONNECT ACK.
    let mut p = Pair::new();
    let (n, u) = p.net_calls_user();
    p.drop.push((true, T::Connect));
    p.user.connect(p.now, u).unwrap();
    p.pump();
    assert_eq!(p.net.state(n), 6);
    // The DISCONNECT is lost too, so T305 must send the RELEASE.
    p.drop.push((true, T::Disconnect));
    p.advance(Duration::from_secs(4));
    assert_eq!(p.user.state(u), 11);
    p.advance(Duration::from_secs(30));
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Released {
            call: n,
            cause: Cause::RecoveryOnTimerExpiry,
            channel: Some(1)
        }]
    );

    // T310: CALL PROCEEDING and then nothing.
    let mut p = Pair::new();
    let u = p
        .user
        .setup(
            p.now,
            SetupRequest {
                called: PartyNumber::e164(TypeOfNumber::Unknown, "1"),
                calling: None,
                channel: ChannelId {
                    exclusive: true,
                    channel: ChannelSel::BChannel(3),
                },
                sending_complete: true,
            },
        )
        .unwrap();
    p.pump();
    let [Event::IncomingCall { call: n, .. }] = Pair::events(&mut p.net)[..] else {
        panic!("no call");
    };
    p.net.proceeding(p.now, n, None).unwrap();
    p.pump();
    p.advance(Duration::from_secs(30));
    assert_eq!((p.user.state(u), p.net.state(n)), (0, 0));
    assert!(Pair::events(&mut p.net).contains(&Event::Disconnected {
        call: n,
        cause: Cause::RecoveryOnTimerExpiry
    }));
}

#[test]
fn a_restart_from_the_network_clears_the_calls_on_its_channel() {
    let mut p = Pair::new();
    let (_, u) = p.active_call();
    p.net.restart(p.now, Some(1));
    p.pump();
    assert_eq!(p.user.state(u), 0);
    assert_eq!(
        Pair::events(&mut p.user),
        [
            Event::Released {
                call: u,
                cause: Cause::TemporaryFailure,
                channel: Some(1)
            },
            Event::Restarted { channel: Some(1) }
        ]
    );
    assert_eq!(p.net.next_deadline(), None);
}

#[test]
fn an_unacknowledged_restart_is_repeated_then_fails() {
    let mut m = CallControl::new(Side::Network, Timers::default());
    let t0 = Instant::now();
    m.restart(t0, None);
    assert_eq!(m.poll_message().map(|m| m.msg_type), Some(T::Restart));
    m.handle_timeout(t0 + Duration::from_secs(120));
    let again = m.poll_message().unwrap();
    assert_eq!(
        again.encode(),
        [0x08, 0x02, 0x00, 0x00, 0x46, 0x79, 0x01, 0x86]
    );
    m.handle_timeout(t0 + Duration::from_secs(240));
    assert_eq!(m.poll_event(), Some(Event::RestartFailed { channel: None }));
    assert_eq!(m.poll_message(), None);
}

/// A user machine in state 10, the call allocated by the network with
/// reference 1.
fn active_user() -> (CallControl, Instant) {
    let mut m = CallControl::new(Side::User, Timers::default());
    let t = Instant::now();
    m.handle_bytes(
        t,
        &[
            0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x80, 0x90, 0xA3, 0x18, 0x03, 0xA9, 0x83,
            0x81,
        ],
    );
    let call = CallId {
        value: 1,
        ours: false,
    };
    m.connect(t, call).unwrap();
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x01, 0x0F]);
    assert_eq!(m.state(call), 10);
    while m.poll_message().is_some() {}
    while m.poll_event().is_some() {}
    (m, t)
}

fn sent(m: &mut CallControl) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| m.poll_message().map(|m| m.encode())).collect()
}

#[test]
fn status_enquiry_is_answered_with_cause_30_and_the_state() {
    let (mut m, t) = active_user();
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x01, 0x75]);
    assert_eq!(
        sent(&mut m),
        [vec![
            0x08, 0x02, 0x80, 0x01, 0x7D, 0x08, 0x02, 0x81, 0x9E, 0x14, 0x01, 0x0A
        ]]
    );
}

#[test]
fn an_unknown_call_reference_gets_release_complete_81() {
    let (mut m, t) = active_user();
    // DISCONNECT on reference 5, unknown here.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x05, 0x45, 0x08, 0x02, 0x81, 0x90]);
    assert_eq!(
        sent(&mut m),
        [vec![0x08, 0x02, 0x80, 0x05, 0x5A, 0x08, 0x02, 0x81, 0xD1]]
    );
    // RELEASE COMPLETE on an unknown reference is not answered.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x05, 0x5A]);
    assert!(sent(&mut m).is_empty());
}

#[test]
fn a_setup_without_bearer_capability_gets_release_complete_96() {
    let mut m = CallControl::new(Side::User, Timers::default());
    let t = Instant::now();
    m.handle_bytes(
        t,
        &[0x08, 0x02, 0x00, 0x09, 0x05, 0x18, 0x03, 0xA9, 0x83, 0x81],
    );
    assert_eq!(
        sent(&mut m),
        [vec![0x08, 0x02, 0x80, 0x09, 0x5A, 0x08, 0x02, 0x81, 0xE0]]
    );
    assert_eq!(m.poll_event(), None);
    // With broken contents instead: cause 100.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x09, 0x05, 0x04, 0x01, 0x80]);
    assert_eq!(
        sent(&mut m),
        [vec![0x08, 0x02, 0x80, 0x09, 0x5A, 0x08, 0x02, 0x81, 0xE4]]
    );
}

#[test]
fn messages_out_of_state_get_status_101_and_unknown_types_97() {
    let (mut m, t) = active_user();
    // ALERTING in the Active state.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x01, 0x01]);
    // Message type 0x30 does not exist.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x01, 0x30]);
    assert_eq!(
        sent(&mut m),
        [
            vec![0x08, 0x02, 0x80, 0x01, 0x7D, 0x08, 0x02, 0x81, 0xE5, 0x14, 0x01, 0x0A],
            vec![0x08, 0x02, 0x80, 0x01, 0x7D, 0x08, 0x02, 0x81, 0xE1, 0x14, 0x01, 0x0A],
        ]
    );
    // A STATUS saying the peer is in Null frees the call.
    m.handle_bytes(
        t,
        &[
            0x08, 0x02, 0x00, 0x01, 0x7D, 0x08, 0x02, 0x81, 0xE5, 0x14, 0x01, 0x00,
        ],
    );
    assert_eq!(
        m.state(CallId {
            value: 1,
            ours: false
        }),
        0
    );
}

#[test]
fn owner_requests_in_the_wrong_state_are_refused() {
    let (mut m, t) = active_user();
    let call = CallId {
        value: 1,
        ours: false,
    };
    assert_eq!(
        m.alerting(t, call),
        Err(CallError::WrongState { call, state: 10 })
    );
    let other = CallId {
        value: 2,
        ours: true,
    };
    assert_eq!(m.connect(t, other), Err(CallError::UnknownCall(other)));
    assert!(sent(&mut m).is_empty());
}

#[test]
fn a_restart_of_channels_without_a_channel_clears_nothing() {
    let (mut m, t) = active_user();
    // Restart indicator "indicated channels", no Channel Identification.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x00, 0x46, 0x79, 0x01, 0x80]);
    assert!(sent(&mut m).is_empty());
    assert_eq!(
        m.state(CallId {
            value: 1,
            ours: false
        }),
        10
    );
    // The interface class clears it, and is acknowledged.
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x00, 0x46, 0x79, 0x01, 0x86]);
    assert_eq!(
        sent(&mut m),
        [vec![0x08, 0x02, 0x80, 0x00, 0x4E, 0x79, 0x01, 0x86]]
    );
    assert_eq!(
        m.state(CallId {
            value: 1,
            ours: false
        }),
        0
    );
}

/// The user calls "15" without Sending Complete and the network
/// acknowledges it (SETUP ACK): both in overlap (state 2 on both sides:
/// the network's states are named from the user's view). Returns the
/// network's and the user's call and the user's events (the SETUP ACK).
fn overlap_call(p: &mut Pair, first: &str) -> (CallId, CallId, Vec<Event>) {
    let u = p
        .user
        .setup(
            p.now,
            SetupRequest {
                called: PartyNumber::e164(TypeOfNumber::Unknown, first),
                calling: None,
                channel: ChannelId {
                    exclusive: false,
                    channel: ChannelSel::Any,
                },
                sending_complete: false,
            },
        )
        .unwrap();
    p.pump();
    let [Event::IncomingCall {
        call: n,
        sending_complete: false,
        ..
    }] = Pair::events(&mut p.net)[..]
    else {
        panic!("no overlap call");
    };
    p.net.setup_ack(p.now, n, Some(4)).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (2, 2));
    (n, u, Pair::events(&mut p.user))
}

/// The user dials digit by digit: SETUP without Sending Complete, SETUP
/// ACK (states 2 on both sides), INFORMATION, then CALL PROCEEDING.
#[test]
fn overlap_sending_from_the_user() {
    let mut p = Pair::new();
    let (n, u, acked) = overlap_call(&mut p, "15");
    assert_eq!(
        acked,
        [Event::SetupAcknowledged {
            call: u,
            channel: Some(4)
        }]
    );
    // T303 stopped with the SETUP ACK; T304 waits for the next answer.
    assert_eq!(
        p.user.next_deadline(),
        Some(p.now + Duration::from_secs(30))
    );
    p.user
        .information(
            p.now,
            u,
            PartyNumber::e164(TypeOfNumber::Unknown, "00"),
            true,
        )
        .unwrap();
    p.pump();
    assert_eq!(
        Pair::events(&mut p.net),
        [Event::Information {
            call: n,
            digits: "00".into(),
            sending_complete: true
        }]
    );
    p.net.proceeding(p.now, n, None).unwrap();
    p.pump();
    assert_eq!((p.user.state(u), p.net.state(n)), (3, 3));
    assert_eq!(
        Pair::events(&mut p.user),
        [Event::Proceeding {
            call: u,
            channel: None
        }]
    );
}

#[test]
fn link_down_mid_call_keeps_active_calls_for_t309() {
    let mut p = Pair::new();
    let (_, ringing) = p.net_calls_user();
    p.user.alerting(p.now, ringing).unwrap();
    let (_, active) = {
        let n = p
            .net
            .setup(
                p.now,
                SetupRequest {
                    called: PartyNumber::e164(TypeOfNumber::Unknown, "2"),
                    calling: None,
                    channel: ChannelId {
                        exclusive: true,
                        channel: ChannelSel::BChannel(2),
                    },
                    sending_complete: true,
                },
            )
            .unwrap();
        p.pump();
        let [Event::IncomingCall { call, .. }] = Pair::events(&mut p.user)[..] else {
            panic!("no second call");
        };
        (n, call)
    };
    p.user.connect(p.now, active).unwrap();
    p.pump();
    Pair::events(&mut p.user);
    p.user.link_down(p.now);
    assert_eq!((p.user.state(ringing), p.user.state(active)), (0, 10));
    // Back within T309: the active call survives and reports its state.
    p.advance(Duration::from_secs(5));
    p.user.link_up(p.now);
    p.pump();
    assert_eq!(p.user.state(active), 10);
    assert_eq!(p.wire.last(), Some(&(true, T::Status)));
    // Down again for longer than T309: the call is gone.
    p.user.link_down(p.now);
    p.advance(Duration::from_secs(6));
    assert_eq!(p.user.state(active), 0);
    assert_eq!(
        Pair::events(&mut p.user)[1..],
        [Event::Released {
            call: active,
            cause: Cause::DestinationOutOfOrder,
            channel: Some(2)
        }]
    );
}

/// Glare on an exclusive channel: both sides send a SETUP for B-channel 1
/// at once. The network's call wins (it has priority in a collision): the
/// network refuses the user's SETUP with cause 44, the user side takes
/// the network's call on the channel, and its own call is released
/// without a channel (the channel is the incoming call's now).
#[test]
fn glare_on_an_exclusive_channel_is_won_by_the_network_side() {
    let mut p = Pair::new();
    let req = SetupRequest {
        called: PartyNumber::e164(TypeOfNumber::Unknown, "1"),
        calling: None,
        channel: ChannelId {
            exclusive: true,
            channel: ChannelSel::BChannel(1),
        },
        sending_complete: true,
    };
    let u = p.user.setup(p.now, req.clone()).unwrap();
    let n = p.net.setup(p.now, req).unwrap();
    p.pump();
    let events = Pair::events(&mut p.user);
    assert!(
        events.contains(&Event::Released {
            call: u,
            cause: Cause::RequestedChannelNotAvailable,
            channel: None,
        }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::IncomingCall { .. })),
        "the user side is offered the network's call: {events:?}"
    );
    assert_eq!(p.user.state(u), 0, "the user's own call is gone");
    assert_ne!(p.net.state(n), 0, "the network's call goes on");
    assert_eq!(
        &p.wire[..3],
        [
            (true, T::Setup),
            (false, T::Setup),
            (false, T::ReleaseComplete),
        ]
    );
}

/// The SETUP a user side sends, byte for byte, and the network side's own
/// state numbers (1, 3, 4) in its answers to STATUS ENQUIRY.
#[test]
fn setup_bytes_and_network_side_states_in_status() {
    let mut user = CallControl::new(Side::User, Timers::default());
    let t = Instant::now();
    user.setup(
        t,
        SetupRequest {
            called: PartyNumber::e164(TypeOfNumber::National, "21"),
            calling: Some(PartyNumber {
                screening: Some(Screening {
                    presentation: Presentation::Allowed,
                    screening: 0,
                }),
                ..PartyNumber::e164(TypeOfNumber::Subscriber, "5")
            }),
            channel: ChannelId {
                exclusive: false,
                channel: ChannelSel::BChannel(3),
            },
            sending_complete: true,
        },
    )
    .unwrap();
    let setup = sent(&mut user).remove(0);
    assert_eq!(
        setup,
        [
            0x08, 0x02, 0x00, 0x01, 0x05, // header, reference 1 allocated here
            0x04, 0x03, 0x80, 0x90, 0xA3, // speech, 64 kbit/s, A-law
            0x18, 0x03, 0xA1, 0x83, 0x83, // preferred timeslot 3
            0x6C, 0x03, 0x41, 0x80, b'5', // subscriber, E.164, allowed
            0x70, 0x03, 0xA1, b'2', b'1', // national, E.164
            0xA1, // sending complete
        ]
    );
    let mut net = CallControl::new(Side::Network, Timers::default());
    net.handle_bytes(t, &setup);
    let call = CallId {
        value: 1,
        ours: false,
    };
    let enquiry = [0x08, 0x02, 0x00, 0x01, 0x75];
    let mut states = Vec::new();
    for step in 0..3 {
        match step {
            1 => net.proceeding(t, call, None).unwrap(),
            2 => net.alerting(t, call).unwrap(),
            _ => {}
        }
        let _ = sent(&mut net);
        net.handle_bytes(t, &enquiry);
        let status = Message::decode(&sent(&mut net).remove(0)).unwrap();
        assert!(status.call_ref.flag);
        states.extend(status.ies.iter().filter_map(|i| match i {
            Ie::CallState(s) => Some(*s),
            _ => None,
        }));
    }
    assert_eq!(states, [1, 3, 4]);
}

/// A DISCONNECT without its cause still clears the call: RELEASE with
/// cause 96; while this side is already releasing it changes nothing.
#[test]
fn a_disconnect_without_cause_is_released_with_96() {
    let (mut m, t) = active_user();
    let call = CallId {
        value: 1,
        ours: false,
    };
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x01, 0x45]);
    assert_eq!(
        sent(&mut m),
        [vec![0x08, 0x02, 0x80, 0x01, 0x4D, 0x08, 0x02, 0x81, 0xE0]]
    );
    assert_eq!(
        m.poll_event(),
        Some(Event::Disconnected {
            call,
            cause: Cause::MandatoryIeMissing
        })
    );
    assert_eq!(m.state(call), 19);
    m.handle_bytes(t, &[0x08, 0x02, 0x00, 0x01, 0x45]);
    assert!(sent(&mut m).is_empty());
    assert_eq!(m.poll_event(), None);
}
