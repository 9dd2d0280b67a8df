//! One continuous RTP stream per leg (TEL-2, issue 16): a baresip caller
//! is held by the other party (the box re-INVITEs it and plays it music),
//! resumed, then put in a three-way; over the call the box sends its leg
//! the callee's packets, music, the callee's again and a room's mix.
//! Baresip 1.0 drops every packet whose timestamp is not ahead of the last
//! one it took ("rtp timestamp wraps backwards -- discard"), so a stream
//! whose producers each start their own numbering goes mute at the first
//! switch backwards and stays mute; with two switches between two
//! producers (to the music and back) one of them always goes backwards.
//! Baresip 1.0 stops dumping what it decodes at a re-INVITE (its player
//! restarts), so what the caller heard is checked before the hold, and
//! after it by the discards it logged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::baresip::{sample_at, tone_levels, Baresip, TRIO_TONES};
use hwtests::Dering;

#[test]
fn a_caller_held_resumed_and_put_in_a_three_way_takes_every_packet() {
    let d = Dering::start();
    let tones = TRIO_TONES;
    let [mut a, mut b, mut c] = Baresip::trio(&d);
    a.dial(&d, "1002");
    a.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let up = Instant::now();
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));

    let held = Instant::now();
    b.command("hold", "");
    std::thread::sleep(Duration::from_secs(3));
    b.command("resume", "");
    std::thread::sleep(Duration::from_secs(3));
    a.keys("*31003#");
    c.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let end = Instant::now();
    a.command("hangup", "");
    for p in [&mut a, &mut b, &mut c] {
        p.wait_event("CALL_CLOSED", Duration::from_secs(10));
    }

    let uuid = d
        .ended_calls(2)
        .into_iter()
        .find(|c| c["callee"] == "1002")
        .and_then(|c| c["uuid"].as_str().map(String::from))
        .expect("the call's record");
    let heard = a.heard();
    let at = |t: Instant| sample_at(up, t);
    let before = tone_levels(
        &heard,
        at(up + Duration::from_millis(800)),
        at(held),
        &tones,
    );
    assert!(before[1] > 2000.0, "1001 before the hold: {before:?}");
    // Music, the callee again and the mix all reached the caller's phone
    // (about 50 packets a second from the hold to the end)...
    let sent = d.media_counts(&uuid);
    let expected = (end - held).as_secs() * 50 * 8 / 10;
    assert!(sent["rtp_to_caller"] > expected, "{sent:?}");
    // ... and the phone took every packet of its one stream.
    assert!(
        !a.log().contains("wraps backwards"),
        "1001 discarded packets:\n{}",
        a.log()
    );
}
