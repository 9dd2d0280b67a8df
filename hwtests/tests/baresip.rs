//! baresip, a real SIP/RTP stack, against the box (TEL-1, TEL-7): two
//! baresip phones register with digest auth; one calls, the other receives
//! and auto-answers; audio flows both ways through the relay; the caller
//! hangs up and the call record says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hwtests::baresip::{tone_wav, Baresip};
use hwtests::Dering;

#[test]
fn baresip_registers_calls_and_receives_a_call() {
    let d = Dering::start();
    let wav_a = tone_wav(d.dir(), 440, 30);
    let wav_b = tone_wav(d.dir(), 1000, 30);
    let mut alice = Baresip::start(&d, "1001", true, &wav_a);
    let mut bob = Baresip::start(&d, "1002", false, &wav_b);
    // baresip may register before its control connection is up, so the
    // box's own view is what we wait on.
    let regs = d.wait_registered(2);
    assert!(
        regs.iter().all(|r| r["user_agent"]
            .as_str()
            .unwrap_or("")
            .starts_with("baresip")),
        "{regs:?}"
    );

    bob.dial(&d, "1001");
    alice.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    bob.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let live = d.query("calls");
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["caller"], "1002");
    assert_eq!(live[0]["callee"], "1001");
    std::thread::sleep(Duration::from_secs(3));
    bob.command("hangup", "");
    bob.wait_event("CALL_CLOSED", Duration::from_secs(10));
    alice.wait_event("CALL_CLOSED", Duration::from_secs(10));

    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "caller");
    assert_eq!(c["caller_name"], "Demo 1002");
    assert!(c["billable_seconds"].as_f64().unwrap() >= 2.5, "{c}");
    let media = d.media_counts(c["uuid"].as_str().unwrap());
    // 20 ms packets for about 3 s each way.
    assert!(media["rtp_from_caller"] >= 120, "{media:?}");
    assert!(media["rtp_from_callee"] >= 120, "{media:?}");
}
