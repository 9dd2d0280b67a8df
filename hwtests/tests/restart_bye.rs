//! No phone left hanging after a crash (OPS-1, OPS-2, issue 17 §6,
//! decision 0028): two sipp phones in a call, the box killed with
//! SIGKILL and started again on the same data directory; each phone gets
//! a BYE in its dialog, answers it and its scenario ends successfully,
//! and the record says `interrupted` with both BYEs noted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::fragments::*;
use hwtests::phone::StreamPhone;
use hwtests::{callee, caller, ok, Dering};

/// The `bye_after_restart` notes of call `uuid`, once there are `n`
/// (polled: the box writes them when the phones' 200s arrive).
fn notes(d: &Dering, uuid: &str, n: usize) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let got = d.call_events(uuid, "bye_after_restart");
        if got.len() >= n || Instant::now() > until {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn both_phones_of_a_call_cut_by_kill_dash_nine_get_a_bye_at_restart() {
    let mut d = Dering::start();
    // Each phone waits for a BYE and answers 200: only the restarted box
    // sends one (neither phone hangs up).
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(&d, "1001", "1002", &uac_answered_then(&wait_bye()));
    d.wait_answered(1);
    d.wait_answers_stored(2);
    d.kill9();
    let port = d.sip_port;
    d.launch(port);
    ok(uac, "caller (BYE after restart)", &d);
    ok(uas, "callee (BYE after restart)", &d);

    let calls = d.query("cdr");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["disposition"], "interrupted");
    let uuid = calls[0]["uuid"].as_str().unwrap();
    let mut got = notes(&d, uuid, 2);
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}\n--- pbxd log ---\n{}", d.log());
    for (note, leg) in got.iter().zip(["a", "b"]) {
        let v: serde_json::Value = serde_json::from_str(note).unwrap();
        assert_eq!(v["leg"], leg, "{note}");
        assert_eq!(v["answer"], 200, "{note}");
    }
}

/// A phone on TCP loses its connection with the box that died, and the
/// restarted box does not dial phones: the BYE waits until the phone
/// connects again and registers, then comes on the new connection, in
/// the old dialog (decision 0028). The callee on UDP gets its BYE at once.
#[test]
fn a_tcp_phone_gets_its_bye_on_its_new_connection_after_the_restart() {
    let mut d = Dering::start();
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let mut phone = StreamPhone::tcp(&d, "1001");
    phone.register();
    let dialog = phone.call("1002");
    d.wait_answered(1);
    d.wait_answers_stored(2);
    d.kill9();
    drop(phone);
    let port = d.sip_port;
    d.launch(port);
    ok(uas, "callee (BYE after restart)", &d);
    let calls = d.query("cdr");
    let uuid = calls[0]["uuid"].as_str().unwrap().to_string();
    // The UDP leg is done; the TCP leg waits for its phone, unnoted.
    let got = notes(&d, &uuid, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("\"leg\":\"b\""), "{got:?}");

    // The phone is back on a new connection (a new source port).
    let mut phone = StreamPhone::tcp(&d, "1001");
    phone.register();
    // Served (answered 200) during the REGISTER, or still to come.
    let is_bye = |m: &dering_sip::Message| m.method().map(|x| x.as_str()) == Some("BYE");
    let bye = match phone.inbox.iter().position(is_bye) {
        Some(i) => phone.inbox.remove(i),
        None => phone.take_bye(),
    };
    assert_eq!(bye.call_id(), Some(dialog.call_id.as_str()), "{bye:?}");
    assert!(
        bye.get("Reason").is_some_and(|r| r.contains("cause=41")),
        "{bye:?}"
    );
    let mut got = notes(&d, &uuid, 2);
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}\n--- pbxd log ---\n{}", d.log());
    let a: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(a["leg"], "a", "{got:?}");
    assert_eq!(a["answer"], 200, "{got:?}");
}
