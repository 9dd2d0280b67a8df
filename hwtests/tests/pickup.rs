//! Call pickup (TEL-2) with sipp phones: 1001 calls 1002, which rings and
//! never answers; 1003 dials `**1002` and gets the call (directed), 1002's
//! ringing is cancelled. Then 1004 answers a call ringing 1002 with `*8`
//! (group pickup: all demo extensions are in one group). With nothing
//! ringing, `*8` is refused. The records say who picked up which call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hwtests::fragments::{
    uac_answered_then, uac_final, uac_media_and_bye, uas_ring_until_cancel, wait_bye,
};
use hwtests::{callee, caller, ok, Dering};

fn picked_up(d: &Dering, uuid: &str) -> Vec<String> {
    d.call_events(uuid, "picked_up")
}

/// 1001 calls 1002 (ringing, never answering); `picker` dials `code`.
fn pick(d: &Dering, picker: &str, code: &str) {
    let ringing = callee(d, "1002", &uas_ring_until_cancel());
    let call = caller(d, "1001", "1002", &uac_answered_then(&uac_media_and_bye()));
    // Only a call that rings can be picked up: the picker dials once the
    // box lists it ringing 1002 (under load, sipp took seconds to call).
    d.wait_call("the call from 1001 ringing 1002", |c| {
        c["callee"] == "1002" && c["state"] == "ringing"
    });
    let p = caller(d, picker, code, &uac_answered_then(&wait_bye()));
    ok(call, "caller", d);
    ok(p, "picker", d);
    ok(ringing, "the phone that rang", d);
}

#[test]
fn directed_and_group_pickup() {
    let d = Dering::start();
    ok(
        caller(&d, "1004", "*8", &uac_final(480)),
        "nothing to pick up",
        &d,
    );
    pick(&d, "1003", "**1002");
    pick(&d, "1004", "*8");
    let calls = d.ended_calls(3);
    let picked: Vec<_> = calls.iter().filter(|c| c["callee"] == "1002").collect();
    assert_eq!(picked.len(), 2, "{calls:?}");
    for (c, by) in picked.iter().zip(["1003", "1004"]) {
        assert_eq!(c["disposition"], "answered", "{c}");
        assert_eq!(
            picked_up(&d, c["uuid"].as_str().unwrap()),
            [format!("by {by} (rang 1002)")]
        );
    }
}
