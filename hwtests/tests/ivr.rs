//! Calls answered by the box's call flow (IVR-1, IVR-2, IVR-3, ACD-8,
//! TEL-10) with sipp callers sending keys as RFC 4733 events from
//! sip-tester's `dtmf_2833_*.pcap`: the demo flow on 137 answers, plays
//! its greeting and menu, takes a key, and the test asserts where the call
//! went (the information line, an officer's phone), the flow's counters,
//! and that a flow published mid-call leaves that call on its version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, dering_bin, ok, Dering};

/// After the answer: wait `before_ms` (the greeting is not interruptible),
/// press `key` (RFC 4733), stay `after_ms`, hang up.
fn press_then_bye(key: &str, before_ms: u32, after_ms: u32) -> String {
    uac_answered_then(&format!(
        r#"  <pause milliseconds="{before_ms}"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{key}.pcap"/></action></nop>
  <pause milliseconds="{after_ms}"/>
{}  <recv response="200" crlf="true"/>
"#,
        caller_request("BYE", 3)
    ))
}

/// (node, choice, count) rows of the demo flow's counters at `version`.
fn counters(d: &Dering, version: i64) -> Vec<(String, String, i64)> {
    d.json_lines(&["flow-counters", "layanan-pengaduan"])
        .into_iter()
        .filter(|v| v["version"] == version)
        .map(|v| {
            (
                v["node"].as_str().unwrap().to_string(),
                v["choice"].as_str().unwrap().to_string(),
                v["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `dering publish-flow FILE`: what it said, out and err.
fn publish(d: &Dering, file: &std::path::Path) -> String {
    let out = Command::new(dering_bin())
        .arg("publish-flow")
        .arg(file)
        .arg("--data-dir")
        .arg(d.dir())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn count(rows: &[(String, String, i64)], node: &str, choice: &str) -> i64 {
    rows.iter()
        .find(|(n, c, _)| n == node && c == choice)
        .map_or(0, |r| r.2)
}

fn events(d: &Dering, uuid: &str) -> Vec<(String, Option<String>)> {
    dering_store::Store::open(&d.dir().join("dering.db"))
        .unwrap()
        .call_events(uuid)
        .unwrap()
        .into_iter()
        .map(|e| (e.1, e.2))
        .collect()
}

#[test]
fn key_1_plays_the_information_line() {
    let d = Dering::start();
    let uac = caller(&d, "1001", "137", &press_then_bye("1", 3500, 3000));
    ok(uac, "caller", &d);
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["callee"], "137", "{c}");
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "caller", "{c}");
    let rows = counters(&d, 1);
    assert_eq!(count(&rows, "greeting", ""), 1, "{rows:?}");
    assert_eq!(count(&rows, "menu", "1"), 1, "{rows:?}");
    assert_eq!(count(&rows, "information", ""), 1, "{rows:?}");
    assert_eq!(count(&rows, "officer", ""), 0, "{rows:?}");
    // The box spoke for the whole call: about 50 packets a second for
    // 6.5 s.
    let media = d.media_counts(c["uuid"].as_str().unwrap());
    assert!(media["rtp_to_caller"] > 250, "{media:?}");
    assert_eq!(media["rtp_to_callee"], 0, "{media:?}");
}

#[test]
fn key_2_rings_the_officers_and_bridges_the_one_who_answers() {
    let d = Dering::start();
    // Of the ring group 1001–1004 only 1003 is registered.
    let uas = callee(&d, "1003", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(&d, "1002", "137", &press_then_bye("2", 3500, 7000));
    ok(uac, "caller", &d);
    ok(
        uas,
        "the officer at 1003 (got the caller's BYE through the bridge)",
        &d,
    );
    let c = &d.ended_calls(1)[0];
    let ev = events(&d, c["uuid"].as_str().unwrap());
    assert!(
        ev.contains(&("ring".to_string(), Some("1003".to_string()))),
        "{ev:?}"
    );
    assert!(ev.iter().any(|(k, _)| k == "bridged"), "{ev:?}");
    let rows = counters(&d, 1);
    assert_eq!(count(&rows, "menu", "2"), 1, "{rows:?}");
    assert_eq!(count(&rows, "ring", ""), 1, "{rows:?}");
    assert_eq!(count(&rows, "unavailable", ""), 0, "{rows:?}");
    // Once bridged, the caller's packets reach the officer.
    let media = d.media_counts(c["uuid"].as_str().unwrap());
    assert!(media["rtp_to_caller"] > 100, "{media:?}");
}

#[test]
fn a_flow_published_mid_call_leaves_that_call_on_its_version() {
    let d = Dering::start();
    // The caller presses 1 after 6 s; meanwhile version 2 is published,
    // where 1 rings an officer and the information line moved to 3.
    let uac = caller(&d, "1001", "137", &press_then_bye("1", 6000, 2500));
    // The call takes its version when the flow answers it: once it is
    // listed in the flow, it runs version 1.
    d.wait_call("the call from 1001 in the flow", |c| {
        c["caller"] == "1001" && c["state"] == "flow"
    });
    let doc = dering_flow::Flow::demo().to_json().replace(
        "\"1\": \"information\"",
        "\"1\": \"officer\", \"3\": \"information\"",
    );
    assert!(doc.contains("\"1\": \"officer\""), "the edit applied");
    let file = d.dir().join("v2.json");
    std::fs::write(&file, &doc).unwrap();
    let text = publish(&d, &file);
    assert!(text.contains("\"version\":2"), "{text}");
    ok(uac, "caller", &d);
    let v1 = counters(&d, 1);
    assert_eq!(
        count(&v1, "information", ""),
        1,
        "the call stayed on 1: {v1:?}"
    );
    assert_eq!(count(&v1, "officer", ""), 0, "{v1:?}");
    assert_eq!(counters(&d, 2), vec![], "no call ran version 2 yet");

    // A bad document is refused with its problems named, and changes
    // nothing.
    let bad = doc.replace("\"next\": \"menu\"", "\"next\": \"nowhere\"");
    std::fs::write(&file, bad).unwrap();
    let text = publish(&d, &file);
    assert!(text.contains("→ `nowhere`: no such node"), "{text}");
    let flows = d.query("flows");
    assert_eq!(flows[0]["version"], 2, "{flows:?}");
    assert_eq!(
        flows[0]["numbers"],
        serde_json::json!(["08001500137", "137", "1500137"])
    );
}
