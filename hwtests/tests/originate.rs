//! Click-to-dial through the control socket (the agent desktop's
//! "originate"): `dering originate 1001 1002` rings 1001's phone, saying
//! who will be called and asking it to answer by itself; once it answers,
//! 1002 rings and answers, and `dering hangup` ends the call for both.
//! When 1002 is busy, 1001's phone is hung up. Unknown numbers are
//! refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::fragments::{uas_answer, uas_busy, wait_bye};
use hwtests::{callee, free_udp_port, ok, phone, register, scenario, Dering, Sipp};

/// 1001's phone, checking the box's INVITE and answering it.
fn own_phone(d: &Dering) -> Sipp {
    let port = free_udp_port();
    register(d, "1001", port, 300);
    let sf = scenario(
        d.dir(),
        "agent.xml",
        &[
            ("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye())),
            ("DISPLAY", "Panggilan ke 1002"),
        ],
    );
    let s = phone(d, &sf, port, &["-rtp_echo".to_string()]);
    hwtests::wait_bound(port, Duration::from_secs(10));
    s
}

#[test]
fn click_to_dial_rings_the_agent_then_the_number() {
    let d = Dering::start();
    let mine = own_phone(&d);
    let theirs = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let out = d.json_lines(&["originate", "1001", "1002"]);
    let uuid = out[0]["uuid"].as_str().unwrap().to_string();
    let t = Instant::now();
    while !d
        .query("calls")
        .iter()
        .any(|c| c["uuid"] == uuid.as_str() && c["state"] == "answered")
    {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    d.json_lines(&["hangup", &uuid]);
    ok(mine, "1001's phone", &d);
    ok(theirs, "1002", &d);
    let c = d.ended_calls(1)[0].clone();
    assert_eq!(
        (
            c["caller"].as_str(),
            c["callee"].as_str(),
            c["disposition"].as_str()
        ),
        (Some("1001"), Some("1002"), Some("answered")),
        "{c}"
    );

    // 1002 busy: 1001's phone, which answered, is hung up.
    let mine = own_phone(&d);
    let theirs = callee(&d, "1002", &uas_busy());
    d.json_lines(&["originate", "1001", "1002"]);
    ok(mine, "1001's phone, hung up", &d);
    ok(theirs, "1002 busy", &d);
    let calls = d.ended_calls(2);
    assert_eq!(calls[1]["disposition"], "busy", "{calls:?}");

    let refused = std::process::Command::new(hwtests::dering_bin())
        .args(["originate", "1001", "4444", "--data-dir"])
        .arg(d.dir())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no extension 4444"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
