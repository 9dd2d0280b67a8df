//! Blind transfer (TEL-2) with baresip phones, each playing its own tone:
//! 1001 calls 1002; 1002 transfers 1001 to 1003 with REFER (baresip's
//! `transfer`), then 1003 hands 1001 on to 1004 by typing `##1004#` in
//! the call, and the agent desktop's `dering transfer` hands it back to
//! 1002 before `dering hangup` ends it. 1001 never hears the feature
//! codes 1003 types, only keys that are no code. What 1001 hears changes from
//! 1002's tone to 1003's, 1004's and 1002's again; the transferors' calls
//! end; the call's record keeps one call with every transfer. A transfer to an extension that is not registered
//! is refused and the call goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::baresip::{sample_at, tone_levels, tone_wav, Baresip};
use hwtests::{poll_until, Dering};

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

    // Keys that are no feature code reach the other party: a `#` held
    // as a possible `##` goes on when `5` follows.
    c.keys("#5");
    poll_until(Duration::from_secs(10), || a.keys_received() == "#5");
    assert_eq!(a.keys_received(), "#5", "1001 hears 1003's keys");
    // A transfer to an extension nobody registered is refused: the call
    // goes on as it was.
    c.keys("##1009#");
    let refused = poll_until(Duration::from_secs(10), || {
        d.log().contains("transfer by code refused")
    });
    assert!(
        refused,
        "the transfer to 1009 was never refused\n{}",
        d.log()
    );
    c.keys("##1004#");
    c.wait_event("CALL_CLOSED", Duration::from_secs(10));
    // Neither code reached 1001: the box took them out of the call.
    assert_eq!(a.keys_received(), "#5", "1001 heard feature codes");
    e.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let third = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let third_end = Instant::now();
    // The agent desktop's transfer and hang-up, through the control
    // socket: 1004 hands 1001 back to 1002, then the call is ended.
    let live = d.query("calls");
    let uuid = live[0]["uuid"].as_str().unwrap().to_string();
    d.json_lines(&["transfer", &uuid, "1002"]);
    e.wait_event("CALL_CLOSED", Duration::from_secs(10));
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let fourth = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let fourth_end = Instant::now();
    d.json_lines(&["hangup", &uuid]);
    a.wait_event("CALL_CLOSED", Duration::from_secs(10));
    b.wait_event("CALL_CLOSED", Duration::from_secs(10));

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
    let l = phase(fourth, fourth_end);
    assert!(talking_to(&l, 1), "1001 after `dering transfer`: {l:?}");
    // 1004 hears 1001.
    let l = tone_levels(&e.heard(), 8000, 8000 * 2, &TONES);
    assert!(l[0] > 2000.0, "1004 heard {l:?}");

    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "one call, handed on twice: {calls:?}");
    let uuid = calls[0]["uuid"].as_str().unwrap();
    assert_eq!(calls[0]["disposition"], "answered");
    let transfers = d.call_events(uuid, "transferred");
    assert_eq!(
        transfers,
        ["by 1002 to 1003", "by 1003 to 1004", "by 1004 to 1002"]
    );
    assert_eq!(calls[0]["hangup_cause"], "hung up by control");
}

/// Attended transfer (TEL-2, RFC 5589): 1001 (baresip, 440 Hz) calls 1002,
/// a phone of the test's own over TCP; 1002 consults 1003 (baresip, 1700
/// Hz) in a second call, then REFERs 1001 to 1003 with `Replaces` naming
/// that call. The box accepts (202), reports success in a NOTIFY, hangs
/// 1002 up on both calls and joins 1001 with 1003: the first call's
/// recording has 1001's tone on the caller's channel and, after the
/// transfer, 1003's on the other.
#[test]
fn attended_transfer_joins_the_caller_with_the_consulted_party() {
    let d = Dering::start();
    let mut r = Baresip::start(&d, "1001", false, &tone_wav(d.dir(), 440, 60));
    let mut t = Baresip::start(&d, "1003", true, &tone_wav(d.dir(), 1700, 60));
    let mut x = hwtests::phone::StreamPhone::tcp(&d, "1002");
    x.register();
    d.wait_registered(3);
    r.dial(&d, "1002");
    let inv = x.answer();
    r.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let mut first = x.dialog_of_answered(&inv);
    let consult = x.call("1003");
    t.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    let replaces = format!(
        "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
        consult.call_id.replace('@', "%40"),
        consult.remote_tag(),
        consult.local_tag()
    );
    let resp = x.request(
        &mut first,
        "REFER",
        &format!(
            "Refer-To: <sip:1003@dering.local?Replaces={replaces}>\r\nReferred-By: <sip:1002@dering.local>\r\n"
        ),
        "",
    );
    assert_eq!(resp.status(), Some(202), "{resp:?}");
    let transferred = Instant::now();
    // The NOTIFY and both BYEs, however long the box takes to send them.
    let in_inbox = |x: &hwtests::phone::StreamPhone, method: &str| {
        x.inbox
            .iter()
            .filter(|m| m.method().map(|m| m.as_str()) == Some(method))
            .count()
    };
    while in_inbox(&x, "NOTIFY") == 0 || in_inbox(&x, "BYE") < 2 {
        assert!(
            transferred.elapsed() < Duration::from_secs(10),
            "no NOTIFY and 2 BYEs within 10 s of the REFER: {:?}\n{}",
            x.inbox,
            d.log()
        );
        x.serve_for(Duration::from_millis(200));
    }
    let notify = x
        .inbox
        .iter()
        .find(|m| m.method().map(|m| m.as_str()) == Some("NOTIFY"))
        .unwrap_or_else(|| panic!("no NOTIFY: {:?}\n{}", x.inbox, d.log()));
    assert_eq!(notify.get("Event"), Some("refer"));
    assert!(
        String::from_utf8_lossy(&notify.body).starts_with("SIP/2.0 200"),
        "{notify:?}"
    );
    let byes: Vec<&str> = x
        .inbox
        .iter()
        .filter(|m| m.method().map(|m| m.as_str()) == Some("BYE"))
        .filter_map(|m| m.call_id())
        .collect();
    assert_eq!(byes.len(), 2, "1002 is let go on both calls: {byes:?}");
    std::thread::sleep(Duration::from_secs(4) - transferred.elapsed().min(Duration::from_secs(3)));
    r.command("hangup", "");
    r.wait_event("CALL_CLOSED", Duration::from_secs(10));
    t.wait_event("CALL_CLOSED", Duration::from_secs(10));

    let calls = d.ended_calls(2);
    let c1 = calls.iter().find(|c| c["caller"] == "1001").unwrap();
    let c2 = calls.iter().find(|c| c["caller"] == "1002").unwrap();
    assert_eq!(c2["hangup_cause"], "attended transfer", "{c2}");
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let events = store.call_events(c1["uuid"].as_str().unwrap()).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.1 == "transferred" && e.2.as_deref() == Some("attended by 1002 to 1003")),
        "{events:?}"
    );
    // The first call's recording: 1001 on the left all along, 1003 on the
    // right in its last seconds.
    let rec = d
        .json_lines(&["recordings", "--json"])
        .into_iter()
        .find(|r| r["call_uuid"] == c1["uuid"])
        .expect("the first call's recording");
    let mut wav = hound::WavReader::open(rec["path"].as_str().unwrap()).unwrap();
    let all: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let end = right.len();
    let l = tone_levels(&right, end - 8000 * 2, end - 4000, &[440, 1700]);
    assert!(
        l[1] > 2000.0 && l[0] < 1000.0,
        "the right channel after the transfer: {l:?}"
    );
    let l = tone_levels(&left, end - 8000 * 2, end - 4000, &[440, 1700]);
    assert!(l[0] > 2000.0, "the left channel: {l:?}");
}
