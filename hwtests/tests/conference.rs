//! Conference rooms (TEL-2, TEL-6) with baresip phones: three phones,
//! each playing its own tone, dial room 8000 and are mixed; what each one
//! heard (baresip's decoded audio) holds the other two tones and not its
//! own. Room 8001 asks for a PIN, typed with RFC 4733 keys (`sndcode`);
//! three wrong PINs and the box says goodbye and hangs up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dering_media::dtmf::tone_amplitude;
use hwtests::baresip::{tone_wav, Baresip};
use hwtests::Dering;

const SECOND: usize = 8000;

/// The amplitude of each of `tones` in the window of `samples` from
/// `from_end` seconds before their end to `to_end` seconds before it.
fn levels(samples: &[i16], from_end: f64, to_end: f64, tones: &[u32]) -> Vec<f64> {
    let n = samples.len();
    let a = n.saturating_sub((from_end * SECOND as f64) as usize);
    let b = n.saturating_sub((to_end * SECOND as f64) as usize);
    tones
        .iter()
        .map(|hz| tone_amplitude(&samples[a..b], f64::from(*hz)))
        .collect()
}

#[test]
fn three_phones_in_a_room_each_hear_the_other_two_and_not_themselves() {
    let d = Dering::start();
    let tones = [440u32, 1000, 1700];
    let mut phones: Vec<Baresip> = ["1001", "1002", "1003"]
        .iter()
        .zip(tones)
        .map(|(ext, hz)| Baresip::start(&d, ext, false, &tone_wav(d.dir(), hz, 60)))
        .collect();
    d.wait_registered(3);
    for p in &mut phones {
        p.dial(&d, "8000");
        p.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    }
    // "You are joining" (and, for the first, "you are the first") then
    // four seconds all together.
    std::thread::sleep(Duration::from_millis(7_500 + 4_000));
    let live = d.query("calls");
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(live.iter().all(|c| c["callee"] == "8000"), "{live:?}");
    for p in &mut phones {
        p.command("hangup", "");
    }
    for p in &mut phones {
        p.wait_event("CALL_CLOSED", Duration::from_secs(10));
    }
    for (i, p) in phones.iter().enumerate() {
        let heard = p.heard();
        assert!(
            heard.len() > 8 * SECOND,
            "{}: {} samples",
            p.ext,
            heard.len()
        );
        // The last 3 s but the final half second.
        let l = levels(&heard, 3.5, 0.5, &tones);
        for (j, level) in l.iter().enumerate() {
            if i == j {
                assert!(*level < 1000.0, "{} hears itself: {l:?}", p.ext);
            } else {
                assert!(
                    *level > 2000.0,
                    "{} does not hear {} Hz: {l:?}",
                    p.ext,
                    tones[j]
                );
            }
        }
    }
    let calls = d.ended_calls(3);
    for c in &calls {
        assert_eq!(c["callee"], "8000", "{c}");
        assert_eq!(c["callee_name"], "Ruang Rapat 1", "{c}");
        assert_eq!(c["disposition"], "answered", "{c}");
        assert_eq!(c["hangup_by"], "caller", "{c}");
    }
}

#[test]
fn a_room_with_a_pin_lets_in_the_right_pin_and_hangs_up_after_three_wrong() {
    let d = Dering::start();
    let mut a = Baresip::start(&d, "1004", false, &tone_wav(d.dir(), 600, 60));
    let mut b = Baresip::start(&d, "1005", false, &tone_wav(d.dir(), 1300, 60));
    d.wait_registered(2);
    a.dial(&d, "8001");
    a.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    // Keys while "enter your PIN" plays interrupt it.
    std::thread::sleep(Duration::from_millis(1000));
    a.keys("2468#");
    b.dial(&d, "8001");
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1000));
    b.keys("2468#");
    // Joining prompts, then three seconds together.
    std::thread::sleep(Duration::from_millis(7_500 + 3_000));
    a.command("hangup", "");
    a.wait_event("CALL_CLOSED", Duration::from_secs(10));
    b.command("hangup", "");
    b.wait_event("CALL_CLOSED", Duration::from_secs(10));
    let l = levels(&a.heard(), 2.5, 0.5, &[600, 1300]);
    assert!(l[1] > 2000.0 && l[0] < 1000.0, "1004 heard {l:?}");
    let l = levels(&b.heard(), 2.5, 0.5, &[600, 1300]);
    assert!(l[0] > 2000.0 && l[1] < 1000.0, "1005 heard {l:?}");

    // Three wrong PINs: "wrong PIN", "goodbye", and the box hangs up.
    a.dial(&d, "8001");
    a.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(800));
        a.keys("1111#");
    }
    a.wait_event("CALL_CLOSED", Duration::from_secs(20));
    let calls = d.ended_calls(3);
    let last = calls.last().unwrap();
    assert_eq!(last["hangup_by"], "system", "{last}");
    assert_eq!(last["callee"], "8001", "{last}");
    assert!(d.log().contains("wrong PIN"), "the attempts are logged");
}
