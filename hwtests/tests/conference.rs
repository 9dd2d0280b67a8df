//! Conference rooms (TEL-2, TEL-6) with baresip phones: three phones,
//! each playing its own tone, dial room 8000 and are mixed; what each one
//! heard (baresip's decoded audio) holds the other two tones and not its
//! own. Room 8001 asks for a PIN, typed with RFC 4733 keys (`sndcode`);
//! three wrong PINs and the box says goodbye and hangs up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::baresip::{
    before_end, sample_at, tone_levels, tone_wav, tone_wav_at, Baresip, TRIO_TONES,
};
use hwtests::Dering;

const SECOND: usize = 8000;

/// The amplitude of each of `tones` from `from_end` seconds before the end
/// of `samples` to `to_end` seconds before it.
fn levels(samples: &[i16], from_end: f64, to_end: f64, tones: &[u32]) -> Vec<f64> {
    tone_levels(
        samples,
        before_end(samples, from_end),
        before_end(samples, to_end),
        tones,
    )
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

/// A room with a G.722 member mixes at 16 kHz (TEL-2, TEL-6): two G.722
/// desk phones hear each other's 6 kHz tone, which no 8 kHz mix could
/// carry, and an A-law phone in the same room is heard by both and hears
/// the wideband phones' tones that fit its band.
#[test]
fn a_room_with_g722_phones_mixes_in_wideband() {
    let d = Dering::start();
    let g722 = "G722/16000/1";
    let mut high = Baresip::start_with_codecs(
        &d,
        "1001",
        false,
        &tone_wav_at(d.dir(), 6000, 60, 16_000),
        g722,
    );
    let mut low = Baresip::start_with_codecs(
        &d,
        "1002",
        false,
        &tone_wav_at(d.dir(), 440, 60, 16_000),
        g722,
    );
    let mut alaw =
        Baresip::start_with_codecs(&d, "1003", false, &tone_wav(d.dir(), 1000, 60), "PCMA");
    d.wait_registered(3);
    for p in [&mut high, &mut low, &mut alaw] {
        p.dial(&d, "8000");
        p.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    }
    std::thread::sleep(Duration::from_millis(7_500 + 4_000));
    for p in [&mut high, &mut low, &mut alaw] {
        p.command("hangup", "");
    }
    for p in [&mut high, &mut low, &mut alaw] {
        p.wait_event("CALL_CLOSED", Duration::from_secs(10));
    }
    // Levels over the last 3 s but the final half, at the rate heard.
    let wide_levels = |p: &Baresip| {
        let (rate, s) = p.heard_at_rate();
        assert_eq!(rate, 16_000, "{} decoded G.722", p.ext);
        let (from, to) = (
            s.len().saturating_sub(56_000),
            s.len().saturating_sub(8_000),
        );
        // The detector's DFT assumes 8 kHz: at 16 kHz a tone of f Hz sits
        // where it looks for f / 2.
        [6000.0, 440.0, 1000.0].map(|hz| dering_media::dtmf::tone_amplitude(&s[from..to], hz / 2.0))
    };
    let l = wide_levels(&low);
    assert!(l[0] > 1500.0, "1002 does not hear 1001's 6 kHz tone: {l:?}");
    assert!(l[1] < 1000.0, "1002 hears itself: {l:?}");
    assert!(l[2] > 1500.0, "1002 does not hear the A-law phone: {l:?}");
    let l = wide_levels(&high);
    assert!(l[0] < 1000.0, "1001 hears itself: {l:?}");
    assert!(l[1] > 1500.0 && l[2] > 1500.0, "1001 hears {l:?}");
    let l = levels(&alaw.heard(), 3.5, 0.5, &[440, 1000]);
    assert!(l[0] > 1500.0, "the A-law phone does not hear 440 Hz: {l:?}");
    assert!(l[1] < 1000.0, "the A-law phone hears itself: {l:?}");
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

/// TEL-2: in a call, 1001 types `*3` 1003 `#`; 1003 is called and, once it
/// answers, the three hear each other. 1003 hangs up: the two go on. 1003
/// is added again, then 1002 hangs up: the call ends for all, the added
/// party hung up by the box.
#[test]
fn three_way_from_a_call_by_keys() {
    let d = Dering::start();
    let tones = TRIO_TONES;
    let [mut a, mut b, mut c] = Baresip::trio(&d);
    a.dial(&d, "1002");
    a.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let a_up = Instant::now();
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let b_up = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    a.keys("*31003#");
    c.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let joined = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let three_end = Instant::now();
    c.command("hangup", "");
    c.wait_event("CALL_CLOSED", Duration::from_secs(10));
    let c_heard = c.heard();
    let two = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let two_end = Instant::now();
    let l = levels(&c_heard, 3.5, 0.5, &tones);
    assert!(
        l[0] > 2000.0 && l[1] > 2000.0 && l[2] < 1000.0,
        "1003 heard {l:?}"
    );

    // Again, then the host call ends: everyone is hung up.
    a.keys("*31003#");
    c.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    b.command("hangup", "");
    for p in [&mut a, &mut b, &mut c] {
        p.wait_event("CALL_CLOSED", Duration::from_secs(10));
    }
    let settle = Duration::from_millis(800);
    for (name, heard, up, tone) in [("1001", a.heard(), a_up, 0), ("1002", b.heard(), b_up, 1)] {
        let at = |t: Instant| sample_at(up, t);
        let three = tone_levels(&heard, at(joined + settle), at(three_end), &tones);
        let back = tone_levels(&heard, at(two + settle), at(two_end), &tones);
        for (j, l) in three.iter().enumerate() {
            assert_eq!(*l > 2000.0, j != tone, "{name} in the three-way: {three:?}");
        }
        assert!(back[2] < 1000.0, "{name} after 1003 left: {back:?}");
        assert!(back[1 - tone] > 2000.0, "{name} after 1003 left: {back:?}");
    }
    let calls = d.ended_calls(3);
    assert_eq!(calls.len(), 3, "{calls:?}");
    let added: Vec<_> = calls.iter().filter(|c| c["callee"] == "1003").collect();
    assert_eq!(added.len(), 2, "{calls:?}");
    assert!(added
        .iter()
        .all(|c| c["caller"] == "1001" && c["disposition"] == "answered"));
    assert_eq!(added[0]["hangup_by"], "callee", "{:?}", added[0]);
    assert_eq!(added[1]["hangup_by"], "system", "{:?}", added[1]);
}
