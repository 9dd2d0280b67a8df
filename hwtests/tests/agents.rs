//! Agent codes by voice (ACD-1, ACD-7) with a baresip phone: `*71` alone
//! asks for the agent number, then the PIN, each typed with `#`; `*73`
//! alone asks for the reason code; `*72` logs out. Each is confirmed by
//! voice and the box hangs up; the agent's state follows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hwtests::baresip::{tone_wav, Baresip};
use hwtests::Dering;

/// Dials `code`, types each group of `answers` after a pause (the prompt
/// asking for it has begun), and waits for the box to hang up.
fn dial_and_answer(p: &mut Baresip, d: &Dering, code: &str, answers: &[&str]) {
    p.dial(d, code);
    p.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    for a in answers {
        std::thread::sleep(Duration::from_millis(1500));
        p.keys(a);
    }
    p.wait_event("CALL_CLOSED", Duration::from_secs(20));
}

#[test]
fn agent_codes_asked_by_voice() {
    let d = Dering::start();
    let mut p = Baresip::start(&d, "1003", false, &tone_wav(d.dir(), 440, 60));
    d.wait_registered(1);
    // A wrong PIN is refused.
    dial_and_answer(&mut p, &d, "*71", &["2001#", "9999#"]);
    assert_eq!(d.agent("2001")["state"], "logged_out");
    dial_and_answer(&mut p, &d, "*71", &["2001#", "1234#"]);
    let a = d.agent("2001");
    assert_eq!(
        (a["state"].as_str(), a["extension"].as_str()),
        (Some("ready"), Some("1003")),
        "{a}"
    );
    dial_and_answer(&mut p, &d, "*73", &["3#"]);
    let a = d.agent("2001");
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("not_ready"), Some("sholat")),
        "{a}"
    );
    dial_and_answer(&mut p, &d, "*74", &[]);
    assert_eq!(d.agent("2001")["state"], "ready");
    dial_and_answer(&mut p, &d, "*72", &[]);
    assert_eq!(d.agent("2001")["state"], "logged_out");
    // Codes of an agent not logged in at this phone are refused (and say
    // so), changing nothing.
    dial_and_answer(&mut p, &d, "*74", &[]);
    assert_eq!(d.agent("2001")["state"], "logged_out");
    assert!(d.log().contains("agent login refused"), "{}", d.log());
}

/// `[acd] phone_lost = "unreachable"` (ACD-10): an agent whose phone
/// unregisters stays logged in but not ready (`unreachable`), and is ready
/// again when the phone registers again.
#[test]
fn an_unreachable_phone_makes_its_agent_not_ready_until_it_is_back() {
    let d = Dering::start_with(|t| {
        t.replace("phone_lost = \"logout\"", "phone_lost = \"unreachable\"")
    });
    let port = hwtests::free_udp_port();
    hwtests::register(&d, "1003", port, 300);
    d.agent_login("2001", "1003");
    assert_eq!(d.agent("2001")["state"], "ready");
    let wait_for = |state: &str, reason: Option<&str>| {
        let t = std::time::Instant::now();
        loop {
            let a = d.agent("2001");
            if a["state"] == state && a["reason"].as_str() == reason {
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "{a}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    hwtests::register(&d, "1003", port, 0);
    wait_for("not_ready", Some("unreachable"));
    assert_eq!(d.agent("2001")["extension"], "1003");
    hwtests::register(&d, "1003", port, 300);
    wait_for("ready", None);
}
