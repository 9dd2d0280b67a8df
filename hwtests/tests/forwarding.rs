//! Call forwarding to internal units (TEL-6) with sipp phones: 1002 sets
//! "forward all" to 1003 by dialing `*211003` (the box answers, confirms
//! and hangs up); a call to 1002 rings 1003, and still does after pbxd
//! restarts. 1002 cancels it (`*22`) and sets "forward when busy" to 1003
//! (`*671003`): a call to 1002 that it answers busy goes on to 1003. Each
//! forwarded call's record says from where to where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hwtests::fragments::{uac_answered_then, uac_media_and_bye, uas_answer, uas_busy, wait_bye};
use hwtests::{callee, caller, ok, Dering};

/// 1002 dials a forwarding code; the box confirms and hangs up.
fn dial_code(d: &Dering, code: &str) {
    ok(
        caller(d, "1002", code, &uac_answered_then(&wait_bye())),
        code,
        d,
    );
}

/// 1001 calls 1002; the phone registered as 1003 answers.
fn call_reaches_1003(d: &Dering) {
    let uas = callee(d, "1003", &format!("{}{}", uas_answer(), wait_bye()));
    ok(
        caller(d, "1001", "1002", &uac_answered_then(&uac_media_and_bye())),
        "caller",
        d,
    );
    ok(uas, "1003", d);
}

fn forward_events(d: &Dering, uuid: &str) -> Vec<String> {
    d.call_events(uuid, "forwarded")
}

#[test]
fn forward_all_survives_a_restart_and_forward_on_busy_takes_over() {
    let mut d = Dering::start();
    dial_code(&d, "*211003");
    let set = d.ended_calls(1);
    assert_eq!(set[0]["callee"], "*211003", "{set:?}");
    assert_eq!(set[0]["hangup_by"], "system", "{set:?}");

    call_reaches_1003(&d);
    let calls = d.ended_calls(2);
    let c = calls.iter().find(|c| c["caller"] == "1001").unwrap();
    assert_eq!(
        c["callee"], "1002",
        "the record keeps the number dialed: {c}"
    );
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(
        forward_events(&d, c["uuid"].as_str().unwrap()),
        ["all 1002 -> 1003"]
    );

    // Kept in the database: after a restart it still applies.
    let port = d.sip_port;
    d.stop();
    d.launch(port);
    call_reaches_1003(&d);

    // Cancel; forward on busy instead. 1002 answers busy: 1003 gets it.
    dial_code(&d, "*22");
    dial_code(&d, "*671003");
    let busy = callee(&d, "1002", &uas_busy());
    call_reaches_1003(&d);
    ok(busy, "1002 busy", &d);
    let calls = d.ended_calls(6);
    let last = calls.iter().rfind(|c| c["caller"] == "1001").unwrap();
    assert_eq!(last["disposition"], "answered", "{last}");
    assert_eq!(
        forward_events(&d, last["uuid"].as_str().unwrap()),
        ["busy 1002 -> 1003"]
    );
    // A code naming no extension is refused (and changes nothing).
    dial_code(&d, "*219999");
    assert!(d.log().contains("call forwarding set"));
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    assert_eq!(
        store.forwards().unwrap(),
        [("1002".to_string(), "busy".to_string(), "1003".to_string())]
    );
}
