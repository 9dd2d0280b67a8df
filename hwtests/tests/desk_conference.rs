//! The agent desktop's conference from an answered consultation (issue
//! 16, TEL-2) with baresip phones, each playing its own tone: 1001 calls
//! agent phone 1002; the desktop consults 1003 (the caller held, 1002's
//! phone calls 1003), then asks for a conference naming the
//! consultation. 1003 is not rung again (one incoming call at its phone:
//! the box moves its dialog with a re-INVITE), 1002's consultation call
//! ends, and the three hear each other: what each phone decoded in the
//! three-way holds the other two tones and not its own. The call's record
//! says three-way. The caller hanging up ends it for all, as for `*3`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use dering_control::{ControlError, Reply, Response};
use hwtests::baresip::{before_end, tone_levels, tone_wav, Baresip};
use hwtests::Dering;

const TONES: [u32; 3] = [440, 1000, 1700];

/// One control-socket request as its JSON line (as the desktop's webd
/// sends it), and pbxd's answer.
fn control(d: &Dering, line: &str) -> Result<Response, ControlError> {
    let s = UnixStream::connect(d.dir().join(dering_control::SOCKET_NAME)).unwrap();
    // A stuck box fails the test instead of hanging it.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    writeln!(&s, "{line}").unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    let r: Reply = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
    r.into_result()
}

#[test]
fn the_desktop_conference_joins_the_answered_consultation_without_a_second_call() {
    let d = Dering::start();
    let mut phones: Vec<Baresip> = ["1001", "1002", "1003"]
        .iter()
        .zip(TONES)
        .map(|(ext, hz)| Baresip::start(&d, ext, *ext != "1001", &tone_wav(d.dir(), hz, 60)))
        .collect();
    d.wait_registered(3);
    let [a, b, c] = &mut phones[..] else {
        unreachable!()
    };
    a.dial(&d, "1002");
    a.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    let live = d.query("calls");
    assert_eq!(live.len(), 1, "{live:?}");
    let uuid = live[0]["uuid"].as_str().unwrap().to_string();

    // Consult: the caller is held and the agent's phone calls 1003.
    let consult = match control(
        &d,
        &format!(r#"{{"cmd":"consult","uuid":"{uuid}","to":"1003"}}"#),
    ) {
        Ok(Response::CallPlaced { uuid }) => uuid,
        other => panic!("consult: {other:?}"),
    };
    b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    c.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));

    // Conference, naming the consultation.
    let r = control(
        &d,
        &format!(r#"{{"cmd":"conference","uuid":"{uuid}","to":"1003","consult":"{consult}"}}"#),
    );
    assert!(matches!(r, Ok(Response::Done)), "conference: {r:?}");
    // The agent's consultation leg is let go.
    b.wait_event("CALL_CLOSED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(4));
    // baresip 1.0 reports no CALL_INCOMING for a call it answers by
    // itself: one call established at 1003, and its session changed
    // once after the first offer (the box's re-INVITE moving it).
    assert_eq!(
        c.count_events("CALL_ESTABLISHED"),
        1,
        "1003 was rung a second time"
    );
    assert_eq!(c.count_events("CALL_REMOTE_SDP"), 2, "moved by a re-INVITE");
    let ended: Vec<_> = d
        .query("cdr")
        .into_iter()
        .filter(|r| r["uuid"] == consult.as_str())
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["state"], "ended", "the consultation: {ended:?}");
    assert_eq!(ended[0]["hangup_by"], "system", "{ended:?}");

    // The caller leaves: the host call ends, and the added party with it.
    a.command("hangup", "");
    for p in [&mut *a, &mut *b, &mut *c] {
        p.wait_event("CALL_CLOSED", Duration::from_secs(10));
    }
    assert_eq!(c.count_events("CALL_ESTABLISHED"), 1);

    // The three-way is the last 4 s of each phone's call. What the agent
    // and the target decoded holds the other two tones and not their own
    // (the caller's tone reached both through the mix). baresip 1.0
    // stops dumping what the caller decodes at the box's hold re-INVITE,
    // so for the caller the relay's counters say the mix reached it.
    for (name, heard, own) in [("1002", b.heard(), 1), ("1003", c.heard(), 2)] {
        assert!(heard.len() > 4 * 8000, "{name}: {} samples", heard.len());
        let three = tone_levels(
            &heard,
            before_end(&heard, 3.0),
            before_end(&heard, 0.5),
            &TONES,
        );
        for (j, l) in three.iter().enumerate() {
            if j == own {
                assert!(*l < 1000.0, "{name} hears itself: {three:?}");
            } else {
                assert!(
                    *l > 2000.0,
                    "{name} does not hear {} Hz: {three:?}",
                    TONES[j]
                );
            }
        }
    }
    let added = d
        .query("cdr")
        .into_iter()
        .find(|r| r["callee"] == "1003" && r["uuid"] != consult.as_str())
        .expect("the added party's record");
    let moved = d.media_counts(added["uuid"].as_str().unwrap());
    // 1003 talked on the port it was moved to for the 4 s of the
    // three-way (200 packets); the mix went back to it.
    assert!(moved["rtp_from_callee"] > 150, "{moved:?}");
    assert!(moved["rtp_to_callee"] > 150, "{moved:?}");
    let host = d.media_counts(&uuid);
    assert!(host["rtp_to_caller"] > 150, "{host:?}");
    assert_eq!(
        d.call_events(&uuid, "three_way"),
        [format!("consulted 1003 in {consult}"), "joined 1003".into()]
    );
    let calls = d.ended_calls(3);
    assert_eq!(calls.len(), 3, "host, consultation, added: {calls:?}");
}
