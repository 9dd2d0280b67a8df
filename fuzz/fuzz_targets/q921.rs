//! Q.921 LAPD as trunkd takes it from a D-channel: each frame decoded
//! (`Frame::decode`, which must encode back to the same bytes when it
//! parses) and given to a `Link`, whose own frames go to a well-behaved
//! peer link and the peer's back, so fuzzed frames land in every state.
//!
//! The first byte picks the fuzzed link's role. Then records, each led by
//! an op byte: 0 a frame (a length byte, then the bytes), 1 the next
//! deadline reached, 2 a layer-3 message to send (a length byte, then the
//! bytes), 3 establish, 4 release, 5 and 6 own receiver busy on and off.
#![no_main]

use std::time::{Duration, Instant};

use dering_isdn::q921::{Config, Frame, Link, Role};
use libfuzzer_sys::fuzz_target;

/// Carries frames both ways until both links are quiet; every frame a
/// link writes must be a valid LAPD frame.
fn exchange(now: Instant, a: &mut Link, b: &mut Link) {
    for _ in 0..1000 {
        let mut moved = false;
        while let Some(f) = a.poll_transmit() {
            assert!(Frame::decode(&f, 260).is_ok(), "link wrote {f:02x?}");
            b.handle_frame(now, &f);
            moved = true;
        }
        while let Some(f) = b.poll_transmit() {
            assert!(Frame::decode(&f, 260).is_ok(), "peer wrote {f:02x?}");
            a.handle_frame(now, &f);
            moved = true;
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let (role, peer_role) = if first & 1 == 0 {
        (Role::User, Role::Network)
    } else {
        (Role::Network, Role::User)
    };
    let mut now = Instant::now();
    let mut link = Link::new(role, Config::default(), now);
    let mut peer = Link::new(peer_role, Config::default(), now);
    peer.establish(now);
    exchange(now, &mut link, &mut peer);
    let take = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        let (&len, tail) = rest.split_first()?;
        let len = usize::from(len).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        *rest = tail;
        Some(bytes.to_vec())
    };
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 7 {
            0 => {
                let Some(bytes) = take(&mut rest) else { return };
                if let Ok(f) = Frame::decode(&bytes, 260) {
                    assert_eq!(f.encode(), bytes, "decode/encode round trip");
                }
                link.handle_frame(now, &bytes);
            }
            1 => {
                let next = [link.poll_timeout(), peer.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                now = next.map_or(now + Duration::from_secs(1), |t| now.max(t));
                link.handle_timeout(now);
                peer.handle_timeout(now);
            }
            2 => {
                let Some(bytes) = take(&mut rest) else { return };
                let _ = link.send(now, bytes);
            }
            3 => link.establish(now),
            4 => link.release(now),
            5 => link.set_receiver_busy(now, true),
            _ => link.set_receiver_busy(now, false),
        }
        exchange(now, &mut link, &mut peer);
    }
});
