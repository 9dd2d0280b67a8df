//! Blind transfer (TEL-2) with baresip phones, each playing its own tone:
//! 1001 calls 1002; 1002 transfers 1001 to 1003 with REFER (baresip's
//! `transfer`), then 1003 hands 1001 on to 1004 by typing `##1004#` in
//! the call. What 1001 hears changes from 1002's tone to 1003's to
//! 1004's; the transferors' calls end; the call's record keeps one call
//! with both transfers. A transfer to an extension that is not registered
//! is refused and the call goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::baresip::{sample_at, tone_levels, tone_wav, Baresip};
use hwtests::Dering;

const TONES: [u32; 4] = [440, 1000, 1700, 2300];

#[test]
fn blind_transfer_by_refer_then_by_keys() {
    let d = Dering::start();
    let mut phones: Vec<Baresip> = ["1001", "1002", "1003", "1004"]
        .iter()
        .zip(TONES)
        .map(|(ext, hz)| Baresip::start(&d, ext, *ext != "1001", &tone_wav(d.dir(), hz, 60)))
        .collect();
    d.wait_registered(4);
    let [a, b, c, e] = &mut phones[..] else {
        unreachable!()
    };
    a.dial(&d, "1002");
    a.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let a_up = Instant::now();
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    let first_end = Instant::now();

    b.command("transfer", &format!("sip:1003@127.0.0.1:{}", d.sip_port));
    b.wait_event("CALL_CLOSED", Duration::from_secs(10));
    c.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let second = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let second_end = Instant::now();

    // A transfer to an extension nobody registered is refused: the call
    // goes on as it was.
    c.keys("##1009#");
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.log().contains("transfer by code refused"), "{}", d.log());
    c.keys("##1004#");
    c.wait_event("CALL_CLOSED", Duration::from_secs(10));
    e.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let third = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let third_end = Instant::now();
    a.command("hangup", "");
    a.wait_event("CALL_CLOSED", Duration::from_secs(10));
    e.wait_event("CALL_CLOSED", Duration::from_secs(10));

    let heard = a.heard();
    let settle = Duration::from_millis(800);
    let at = |t: Instant| sample_at(a_up, t);
    // Each phase without its first 0.8 s and last 0.4 s: the phone's own
    // clock and the test's differ by a few frames.
    let phase = |from: Instant, to: Instant| {
        tone_levels(
            &heard,
            at(from + settle),
            at(to - Duration::from_millis(400)),
            &TONES,
        )
    };
    let talking_to = |l: &[f64], who: usize| {
        l.iter()
            .enumerate()
            .all(|(i, v)| if i == who { *v > 2000.0 } else { *v < 1000.0 })
    };
    let l = phase(a_up, first_end);
    assert!(talking_to(&l, 1), "1001 with 1002: {l:?}");
    let l = phase(second, second_end);
    assert!(talking_to(&l, 2), "1001 after the REFER to 1003: {l:?}");
    let l = phase(third, third_end);
    assert!(talking_to(&l, 3), "1001 after ##1004#: {l:?}");
    // 1004 hears 1001.
    let l = tone_levels(&e.heard(), 8000, 8000 * 2, &TONES);
    assert!(l[0] > 2000.0, "1004 heard {l:?}");

    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "one call, handed on twice: {calls:?}");
    let uuid = calls[0]["uuid"].as_str().unwrap();
    assert_eq!(calls[0]["disposition"], "answered");
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let transfers: Vec<String> = store
        .call_events(uuid)
        .unwrap()
        .into_iter()
        .filter(|e| e.1 == "transferred")
        .filter_map(|e| e.2)
        .collect();
    assert_eq!(transfers, ["by 1002 to 1003", "by 1003 to 1004"]);
}
