//! The link state machine through the in-memory wire, in virtual time.

use std::time::Duration;

use super::wire::{Pair, Rng};
use crate::q921::{Event, Frame, Kind, LinkError, Role, SendError, State};

fn msg(side: u8, i: usize) -> Vec<u8> {
    vec![side, (i >> 8) as u8, i as u8, 0x5A]
}

fn decoded(bytes: &[u8]) -> Frame {
    Frame::decode(bytes, 260).unwrap()
}

fn sent_by(p: &Pair, from: Role) -> Vec<Frame> {
    p.log
        .iter()
        .filter(|s| s.from == from)
        .map(|s| decoded(&s.bytes))
        .collect()
}

#[test]
fn establishes_on_sabme_and_ua() {
    let mut p = Pair::new(1);
    p.net.establish(p.now);
    p.deliver();
    assert_eq!(p.user_events, vec![Event::Established]);
    assert_eq!(p.net_events, vec![Event::Established]);
    assert_eq!(p.user.state(), State::Established);
    assert_eq!(p.net.state(), State::Established);
    let bytes: Vec<_> = p.log.iter().map(|s| s.bytes.clone()).collect();
    assert_eq!(bytes, vec![vec![0x02, 0x01, 0x7F], vec![0x02, 0x01, 0x73]]);
}

#[test]
fn establishment_gives_up_after_n200_retries() {
    let mut p = Pair::new(1);
    p.faults.cut = true;
    let start = p.now;
    p.user.establish(p.now);
    assert!(p.run_until(Duration::from_secs(30), |p| p.user.state()
        == State::Released));
    let sabmes = sent_by(&p, Role::User)
        .iter()
        .filter(|f| matches!(f.kind, Kind::Sabme { pf: true }))
        .count();
    assert_eq!(sabmes, 4, "the first SABME and N200 = 3 retransmissions");
    let at: Vec<_> = p.log.iter().map(|s| (s.at - start).as_secs()).collect();
    assert_eq!(at, vec![0, 1, 2, 3], "one T200 apart");
    assert_eq!(p.now - start, Duration::from_secs(4));
    assert_eq!(
        p.user_events,
        vec![Event::Error(LinkError::EstablishFailed), Event::Released]
    );
}

#[test]
fn dm_answer_to_sabme_releases() {
    let mut p = Pair::new(1);
    p.net.establish(p.now);
    // DM with F = 1 from the user (a response: C/R = 1).
    p.net.handle_frame(p.now, &[0x02, 0x01, 0x1F]);
    assert_eq!(p.net.state(), State::Released);
    assert_eq!(p.net.poll_event(), Some(Event::Released));
    assert_eq!(p.net.poll_timeout(), None);
}

#[test]
fn sabme_collision_establishes_both_once() {
    let mut p = Pair::new(1);
    p.user.establish(p.now);
    p.net.establish(p.now);
    p.deliver();
    assert_eq!(p.user_events, vec![Event::Established]);
    assert_eq!(p.net_events, vec![Event::Established]);
    // Each side answered the other's SABME with UA.
    assert!(sent_by(&p, Role::User)
        .iter()
        .any(|f| matches!(f.kind, Kind::Ua { pf: true })));
    assert!(sent_by(&p, Role::Network)
        .iter()
        .any(|f| matches!(f.kind, Kind::Ua { pf: true })));
    p.user.send(p.now, b"setup".to_vec()).unwrap();
    p.deliver();
    assert_eq!(Pair::data(&p.net_events), vec![b"setup".to_vec()]);
}

#[test]
fn hundred_messages_each_way_survive_random_loss() {
    for seed in [1, 2, 3] {
        let mut p = Pair::established(seed);
        // 10 %: enough to exercise REJ and timer recovery many times, little
        // enough that N200 polls in a row are not all lost (that is the
        // re-establishment test).
        p.faults.drop = 10;
        let want_user: Vec<_> = (0..100).map(|i| msg(1, i)).collect();
        let want_net: Vec<_> = (0..100).map(|i| msg(2, i)).collect();
        for i in 0..100 {
            p.user.send(p.now, want_user[i].clone()).unwrap();
            p.net.send(p.now, want_net[i].clone()).unwrap();
            if i % 10 == 9 {
                p.deliver();
            }
        }
        let ok = p.run_until(Duration::from_secs(3600), |p| {
            Pair::data(&p.net_events).len() >= 100 && Pair::data(&p.user_events).len() >= 100
        });
        assert!(ok, "seed {seed}: not all delivered");
        assert_eq!(Pair::data(&p.net_events), want_user, "seed {seed}");
        assert_eq!(Pair::data(&p.user_events), want_net, "seed {seed}");
        assert_eq!(
            Pair::errors(&p.user_events) + Pair::errors(&p.net_events),
            0
        );
        assert!(p.log.iter().any(|s| s.lost), "seed {seed}: nothing lost");
        // Loss was real: some frames were sent again.
        let i_frames = sent_by(&p, Role::User)
            .iter()
            .filter(|f| matches!(f.kind, Kind::I { .. }))
            .count();
        assert!(i_frames > 100, "seed {seed}: {i_frames} I-frames");
    }
}

#[test]
fn reestablishes_after_n200_unanswered_polls() {
    let mut p = Pair::established(1);
    p.faults.cut = true;
    p.user.send(p.now, b"lost".to_vec()).unwrap();
    assert!(p.run_until(Duration::from_secs(30), |p| {
        p.user.state() == State::AwaitingEstablishment
    }));
    assert_eq!(
        p.user_events,
        vec![Event::Error(LinkError::PeerNotResponding { lost: 1 })]
    );
    let user: Vec<_> = sent_by(&p, Role::User)
        .into_iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        user,
        vec![
            Kind::I {
                ns: 0,
                nr: 0,
                pf: false
            },
            Kind::Rr { nr: 0, pf: true },
            Kind::Rr { nr: 0, pf: true },
            Kind::Rr { nr: 0, pf: true },
            Kind::Sabme { pf: true },
        ]
    );
    p.faults.cut = false;
    p.user.send(p.now, b"after".to_vec()).unwrap();
    assert!(p.run_until(Duration::from_secs(30), |p| {
        p.user.state() == State::Established && !Pair::data(&p.net_events).is_empty()
    }));
    assert_eq!(p.user_events.last(), Some(&Event::Established));
    assert_eq!(Pair::data(&p.net_events), vec![b"after".to_vec()]);
}

#[test]
fn window_of_seven_fills_then_drains_on_ack() {
    let mut p = Pair::established(1);
    for i in 0..10 {
        p.user.send(p.now, msg(1, i)).unwrap();
    }
    let mut frames = Vec::new();
    while let Some(f) = p.user.poll_transmit() {
        frames.push(f);
    }
    let ns: Vec<_> = frames
        .iter()
        .map(|b| match decoded(b).kind {
            Kind::I { ns, .. } => ns,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ns,
        (0..7).collect::<Vec<u8>>(),
        "k = 7 frames, then the window is shut"
    );
    for f in &frames {
        p.net.handle_frame(p.now, f);
    }
    p.deliver();
    assert_eq!(
        Pair::data(&p.net_events),
        (0..10).map(|i| msg(1, i)).collect::<Vec<_>>()
    );
}

#[test]
fn rnr_pauses_the_peer_until_cleared() {
    let mut p = Pair::established(1);
    p.net.set_receiver_busy(p.now, true);
    p.deliver();
    for i in 0..3 {
        p.user.send(p.now, msg(1, i)).unwrap();
    }
    // A minute of busy: the user polls but sends no I-frame and keeps the link.
    p.run_until(Duration::from_secs(60), |_| false);
    assert!(Pair::data(&p.net_events).is_empty());
    assert!(!sent_by(&p, Role::User)
        .iter()
        .any(|f| matches!(f.kind, Kind::I { .. })));
    assert!(sent_by(&p, Role::User)
        .iter()
        .any(|f| matches!(f.kind, Kind::Rr { pf: true, .. })));
    assert_eq!(
        Pair::errors(&p.user_events) + Pair::errors(&p.net_events),
        0
    );
    assert!(p.user.is_established());

    p.net.set_receiver_busy(p.now, false);
    assert!(
        p.run_until(Duration::from_secs(10), |p| Pair::data(&p.net_events).len()
            == 3)
    );
    assert_eq!(
        Pair::data(&p.net_events),
        (0..3).map(|i| msg(1, i)).collect::<Vec<_>>()
    );
}

#[test]
fn out_of_sequence_i_frame_gets_one_rej_and_a_resend() {
    let mut p = Pair::established(1);
    for i in 0..3 {
        p.user.send(p.now, msg(1, i)).unwrap();
    }
    let frames: Vec<_> = std::iter::from_fn(|| p.user.poll_transmit()).collect();
    assert_eq!(frames.len(), 3);
    // N(S) = 0 is lost; 1 and 2 arrive.
    p.net.handle_frame(p.now, &frames[1]);
    assert_eq!(
        p.net.poll_transmit(),
        Some(vec![0x00, 0x01, 0x09, 0x00]),
        "REJ N(R)=0"
    );
    p.net.handle_frame(p.now, &frames[2]);
    assert_eq!(p.net.poll_transmit(), None, "one REJ per exception");
    assert_eq!(p.net.poll_event(), None);
    p.user.handle_frame(p.now, &[0x00, 0x01, 0x09, 0x00]);
    p.deliver();
    assert_eq!(
        Pair::data(&p.net_events),
        (0..3).map(|i| msg(1, i)).collect::<Vec<_>>()
    );
}

#[test]
fn idle_link_is_polled_after_t203() {
    let mut p = Pair::established(1);
    let start = p.now;
    p.run_until(Duration::from_secs(10), |_| false);
    assert_eq!(p.now - start, Duration::from_secs(10));
    let user = sent_by(&p, Role::User);
    assert!(
        user.iter()
            .any(|f| f.kind == Kind::Rr { nr: 0, pf: true } && !f.cr),
        "RR poll"
    );
    let net = sent_by(&p, Role::Network);
    assert!(
        net.iter()
            .any(|f| f.kind == Kind::Rr { nr: 0, pf: true } && !f.cr),
        "RR final"
    );
    assert_eq!(p.user.state(), State::Established);
    assert_eq!(p.user.poll_timeout(), Some(p.now + Duration::from_secs(10)));
    assert!(p.user_events.is_empty() && p.net_events.is_empty());
}

#[test]
fn disc_and_ua_release_the_link() {
    let mut p = Pair::established(1);
    p.user.release(p.now);
    p.deliver();
    assert_eq!(p.user_events, vec![Event::Released]);
    assert_eq!(p.net_events, vec![Event::Released]);
    let bytes: Vec<_> = p.log.iter().map(|s| s.bytes.clone()).collect();
    assert_eq!(bytes, vec![vec![0x00, 0x01, 0x53], vec![0x00, 0x01, 0x73]]);
    assert_eq!(p.user.poll_timeout(), None);
}

#[test]
fn invalid_nr_reestablishes_with_an_error() {
    let mut p = Pair::established(1);
    // RR response from the network acknowledging N(R) = 5, never sent.
    p.user.handle_frame(p.now, &[0x00, 0x01, 0x01, 0x0A]);
    p.deliver();
    assert_eq!(
        p.user_events,
        vec![
            Event::Error(LinkError::InvalidNr {
                nr: 5,
                va: 0,
                vs: 0
            }),
            Event::Established
        ]
    );
    assert_eq!(
        p.net_events,
        vec![
            Event::Error(LinkError::PeerReestablished { lost: 0 }),
            Event::Established
        ]
    );
}

#[test]
fn duplicates_and_reordering_never_deliver_twice_or_out_of_order() {
    let mut p = Pair::established(7);
    p.faults.duplicate = 15;
    p.faults.reorder = 15;
    for i in 0..50 {
        p.user.send(p.now, msg(1, i)).unwrap();
        if i % 5 == 4 {
            p.deliver();
        }
    }
    p.run_until(Duration::from_secs(120), |_| false);
    let got = Pair::data(&p.net_events);
    // Without loss every message arrives unless a re-establishment threw
    // some away; either way nothing twice, nothing out of order.
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    if Pair::errors(&p.user_events) == 0 {
        assert_eq!(got.len(), 50);
    }
    p.faults = Default::default();
    p.user.send(p.now, msg(1, 999)).unwrap();
    assert!(p.run_until(Duration::from_secs(60), |p| {
        Pair::data(&p.net_events).last() == Some(&msg(1, 999))
    }));
}

#[test]
fn oversized_message_is_refused() {
    let mut p = Pair::established(1);
    assert_eq!(
        p.user.send(p.now, vec![0; 261]),
        Err(SendError::TooLong { len: 261, max: 260 })
    );
}

#[test]
fn random_bytes_in_every_state_do_not_panic() {
    let mut rng = Rng::new(42);
    for setup in 0..4 {
        let mut p = Pair::established(setup);
        match setup {
            1 => p.user.release(p.now),
            2 => p.user.establish(p.now),
            3 => {
                p.user.send(p.now, b"x".to_vec()).unwrap();
                p.user.handle_timeout(p.now + Duration::from_secs(1));
            }
            _ => {}
        }
        for _ in 0..5000 {
            let len = (rng.next_u64() % 8) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if len >= 2 && rng.chance(70) {
                bytes[0] &= 0x02;
                bytes[1] = 0x01;
            }
            p.user.handle_frame(p.now, &bytes);
            while p.user.poll_transmit().is_some() {}
            while p.user.poll_event().is_some() {}
        }
    }
}

#[test]
fn lost_i_frame_is_resent_after_the_t200_poll() {
    let mut p = Pair::established(1);
    p.user.send(p.now, b"one".to_vec()).unwrap();
    // The I-frame is lost on the wire.
    let lost = p.user.poll_transmit().unwrap();
    assert!(matches!(decoded(&lost).kind, Kind::I { ns: 0, .. }));
    p.advance();
    assert_eq!(p.user.state(), State::Established);
    let user: Vec<_> = sent_by(&p, Role::User)
        .into_iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        user,
        vec![
            Kind::Rr { nr: 0, pf: true },
            Kind::I {
                ns: 0,
                nr: 0,
                pf: false
            },
        ],
        "poll, then the resend from the peer's N(R)"
    );
    assert_eq!(Pair::data(&p.net_events), vec![b"one".to_vec()]);
    assert_eq!(
        Pair::errors(&p.user_events) + Pair::errors(&p.net_events),
        0
    );
}

#[test]
fn dm_or_an_undefined_frame_while_established_reestablishes() {
    for (bytes, error) in [
        (vec![0x00, 0x01, 0x0F], LinkError::PeerDisconnected),
        (
            vec![0x00, 0x01, 0x0D, 0x00],
            LinkError::InvalidFrame(crate::q921::DecodeError::UndefinedControl(0x0D)),
        ),
        (
            vec![0x00, 0x01, 0x87, 0, 0, 0, 0, 0],
            LinkError::FrameRejected,
        ),
    ] {
        let mut p = Pair::established(1);
        p.user.handle_frame(p.now, &bytes);
        p.deliver();
        assert_eq!(p.user_events, vec![Event::Error(error), Event::Established]);
        assert!(p.user.is_established() && p.net.is_established());
    }
}

#[test]
fn released_link_answers_polls_with_dm_and_ignores_ui() {
    let mut p = Pair::new(1);
    // An RR command with P = 1 from the network.
    p.user.handle_frame(p.now, &[0x02, 0x01, 0x01, 0x01]);
    assert_eq!(
        p.user.poll_transmit(),
        Some(vec![0x02, 0x01, 0x1F]),
        "DM F=1"
    );
    p.user.handle_frame(p.now, &[0x02, 0x01, 0x03, 0x08]);
    assert_eq!(p.user.poll_transmit(), None);
    assert_eq!(p.user.poll_event(), None);
    assert_eq!(p.user.state(), State::Released);
}
