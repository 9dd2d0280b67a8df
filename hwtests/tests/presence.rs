//! BLF and presence (TEL-2, ACD-10): a desk phone of the test's own (TCP)
//! subscribes to extension 1002's dialog state and to agent 2001's
//! presence. A sipp call to 1002 lights its lamp `early` while it rings,
//! `confirmed` while it talks, and idle again after; agent 2001's presence
//! follows its login, not-ready and reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::fragments::{uac_answered_then, uac_media_and_bye, uas_answer, wait_bye};
use hwtests::phone::StreamPhone;
use hwtests::{callee, caller, free_udp_port, ok, register, Dering};

/// The dialog state in a dialog-info document, `idle` when it has none.
fn lamp(doc: &str) -> &str {
    assert!(doc.contains("state=\"full\""), "{doc}");
    if doc.contains("<state>early</state>") {
        "early"
    } else if doc.contains("<state>confirmed</state>") {
        "confirmed"
    } else {
        assert!(!doc.contains("<dialog "), "{doc}");
        "idle"
    }
}

#[test]
fn lamps_follow_a_colleagues_calls_and_an_agents_state() {
    let d = Dering::start();
    let mut watcher = StreamPhone::tcp(&d, "1005");
    watcher.register();
    let blf = watcher.subscribe("1002", "dialog").unwrap();
    assert_eq!(
        lamp(&watcher.next_notify(&blf.call_id, Duration::from_secs(5))),
        "idle"
    );

    let phone = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let call = caller(&d, "1001", "1002", &uac_answered_then(&uac_media_and_bye()));
    let mut seen = vec!["idle".to_string()];
    let t = Instant::now();
    while seen.last().map(String::as_str) != Some("idle") || seen.len() < 3 {
        assert!(t.elapsed() < Duration::from_secs(20), "lamps: {seen:?}");
        let doc = watcher.next_notify(&blf.call_id, Duration::from_secs(20));
        seen.push(lamp(&doc).to_string());
    }
    ok(call, "caller", &d);
    ok(phone, "1002", &d);
    seen.dedup();
    assert_eq!(seen, ["idle", "early", "confirmed", "idle"]);

    // Agent 2001's presence: logged out (closed), ready at 1003 (open),
    // not ready for a break (closed, with the reason).
    let presence = watcher.subscribe("2001", "presence").unwrap();
    let doc = watcher.next_notify(&presence.call_id, Duration::from_secs(5));
    assert!(
        doc.contains("<basic>closed</basic>") && doc.contains("logged_out"),
        "{doc}"
    );
    register(&d, "1003", free_udp_port(), 300);
    d.agent_login("2001", "1003");
    let doc = watcher.next_notify(&presence.call_id, Duration::from_secs(5));
    assert!(
        doc.contains("<basic>open</basic>") && doc.contains("<note>ready</note>"),
        "{doc}"
    );
    d.json_lines(&["agent", "not-ready", "2001", "1"]);
    let doc = watcher.next_notify(&presence.call_id, Duration::from_secs(5));
    assert!(
        doc.contains("<basic>closed</basic>") && doc.contains("not_ready: istirahat"),
        "{doc}"
    );
    // Unknown resources and packages are refused.
    assert_eq!(watcher.subscribe("7777", "dialog").err(), Some(404));
    assert_eq!(
        watcher.subscribe("1002", "message-summary").err(),
        Some(489)
    );
}
