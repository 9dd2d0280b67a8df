//! Configuration taken live (TEL-8, issue 12 §3): while a queue call (agent
//! 2002 at phone 1003) and a direct call (1001 to 1002) are up, an
//! administrator imports a configuration that adds extension 1011, removes
//! agent 2002, changes the queue's strategy and stops recording. Both
//! calls go on to their natural end and are recorded as they started; the
//! removed agent finishes its call and is then gone; 1011 registers and
//! calls at once, and its call follows the new recording policy. The
//! history names who changed what, and the change survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, dering_bin, free_udp_port, ok, phone, register, scenario, Dering};

/// The box of the ACD tests, smaller: short rings and wrap-up, a flow on
/// 170 straight to queue `pengaduan`.
fn live_box() -> Dering {
    let d = Dering::start_with(|t| {
        t.replace(
            "ring_seconds = 15\nwrapup_seconds = 15",
            "ring_seconds = 4\nwrapup_seconds = 1",
        )
        .replace(
            "join_empty = false\nleave_when_empty = true",
            "join_empty = true\nleave_when_empty = false",
        ) + hwtests::DID_170_TO_QUEUE
    });
    d.publish_queue_flow();
    d
}

/// `dering config ARGS --data-dir DIR`: (exit status, stdout, stderr).
fn config(d: &Dering, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(dering_bin())
        .arg("config")
        .args(args)
        .arg("--data-dir")
        .arg(d.dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_until(d: &Dering, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A caller answered who stays `ms` and hangs up.
fn stay_then_bye(ms: u32) -> String {
    uac_answered_then(&format!(
        "  <pause milliseconds=\"{ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ))
}

fn recorded(d: &Dering, uuid: &str) -> bool {
    d.json_lines(&["recordings", "--json"])
        .iter()
        .any(|r| r["call_uuid"] == uuid)
}

#[test]
fn calls_survive_an_import_and_new_calls_follow_it() {
    let mut d = live_box();
    // Agent 2002 at 1003, taking one queue call.
    let port = free_udp_port();
    register(&d, "1003", port, 300);
    let sf = scenario(
        d.dir(),
        "uas.xml",
        &[("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye()))],
    );
    let desk = phone(&d, &sf, port, &["-rtp_echo".to_string()]);
    hwtests::wait_bound(port, Duration::from_secs(10));
    ok(
        caller(&d, "1003", "*712002*1234", &uac_answered_then(&wait_bye())),
        "agent login",
        &d,
    );
    let queue_caller = caller(&d, "1004", "170", &stay_then_bye(9_000));
    wait_until(
        &d,
        "agent on the queue call",
        Duration::from_secs(15),
        || d.agent("2002")["state"] == "on_call",
    );
    // A direct call beside it.
    let callee_1002 = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let direct = caller(&d, "1001", "1002", &stay_then_bye(7_000));
    wait_until(&d, "two calls up", Duration::from_secs(10), || {
        d.query("calls").len() == 2
    });
    let before: Vec<String> = d
        .query("calls")
        .iter()
        .map(|c| c["uuid"].as_str().unwrap().to_string())
        .collect();

    // The administrator's change, made on the exported running version.
    let (exported, running, err) = config(&d, &["export"]);
    assert!(exported, "{err}");
    assert_eq!(running, std::fs::read_to_string(&d.config).unwrap());
    let agent_2002 =
        "[[agent]]\nid = \"2002\"\nname = \"Petugas 2002\"\npin = \"1234\"\nskills = { pengaduan = 5 }\n\n";
    assert!(running.contains(agent_2002));
    let edited = running
        .replace(agent_2002, "")
        .replace("strategy = \"longest-idle\"", "strategy = \"ring-all\"")
        .replace("[recording]\npercent = 100", "[recording]\npercent = 0")
        + "\n[[extension]]\nnumber = \"1011\"\nname = \"Loket Baru\"\npassword = \"demo-1011\"\n";
    let file = d.dir().join("baru.toml");
    std::fs::write(&file, &edited).unwrap();
    let (imported, out, err) = config(&d, &["import", file.to_str().unwrap(), "--author", "budi"]);
    assert!(imported, "import: {err}\n{}", d.log());
    let applied: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(applied["version"], 2, "{out}");
    assert_eq!(applied["changed"], true);
    let summary = applied["summary"].as_str().unwrap();
    for part in [
        "agent 2002 removed",
        "extension 1011 added",
        "queue pengaduan changed",
        "[recording] changed",
    ] {
        assert!(summary.contains(part), "{summary}");
    }

    // Nothing dropped: the same calls are up, the agent still on its call.
    let after: Vec<String> = d
        .query("calls")
        .iter()
        .map(|c| c["uuid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after, before);
    assert_eq!(d.agent("2002")["state"], "on_call");
    let q = d
        .json_lines(&["queues", "--json"])
        .into_iter()
        .find(|q| q["queue"] == "pengaduan")
        .unwrap();
    assert_eq!(q["strategy"], "ring-all", "{q}");

    // The new extension registers and calls now, without a restart.
    let callee_1010 = callee(&d, "1010", &format!("{}{}", uas_answer(), wait_bye()));
    ok(
        caller(&d, "1011", "1010", &stay_then_bye(1_000)),
        "1011's call",
        &d,
    );
    ok(callee_1010, "1010 for 1011", &d);

    // The calls of before end as they would have.
    ok(direct, "direct caller", &d);
    ok(callee_1002, "direct callee", &d);
    ok(queue_caller, "queue caller", &d);
    ok(desk, "agent's phone", &d);
    let cdr = d.query("cdr");
    for uuid in &before {
        let c = cdr.iter().find(|c| c["uuid"] == uuid.as_str()).unwrap();
        assert_eq!(c["disposition"], "answered", "{c}");
        assert_eq!(c["hangup_by"], "caller", "{c}");
    }
    // Recorded as they started; 1011's call follows percent = 0.
    let new_call = cdr.iter().find(|c| c["caller"] == "1011").unwrap();
    let new_uuid = new_call["uuid"].as_str().unwrap();
    wait_until(&d, "old calls' recordings", Duration::from_secs(10), || {
        before.iter().all(|u| recorded(&d, u))
    });
    assert!(
        !recorded(&d, new_uuid),
        "1011's call recorded under percent = 0"
    );

    // The removed agent finished its call and is gone.
    wait_until(&d, "agent 2002 gone", Duration::from_secs(10), || {
        d.json_lines(&["agents", "--json"])
            .iter()
            .all(|a| a["agent"] != "2002")
    });

    // The history says who changed what; the change outlives a restart
    // with the unchanged file.
    let (_, history, _) = config(&d, &["history", "--json"]);
    let rows: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(rows[0]["author"], "seed");
    assert_eq!(rows[1]["author"], "budi");
    assert_eq!(rows[1]["source"], file.to_str().unwrap());
    d.stop();
    d.launch(0);
    let (_, running, _) = config(&d, &["export"]);
    assert_eq!(running, edited);
    register(&d, "1011", free_udp_port(), 300);
}

#[test]
fn a_bad_import_is_refused_with_line_and_key_and_changes_nothing() {
    let d = Dering::start();
    let file = d.dir().join("salah.toml");
    let (_, running, _) = config(&d, &["export"]);
    std::fs::write(
        &file,
        running.replace("no_answer_seconds = 8", "no_answer_seconds = \"lama\""),
    )
    .unwrap();
    let (imported, _, err) = config(&d, &["import", file.to_str().unwrap()]);
    assert!(!imported);
    assert!(err.contains("salah.toml:"), "{err}");
    assert!(err.contains("no_answer_seconds"), "{err}");
    let (_, history, _) = config(&d, &["history", "--json"]);
    assert_eq!(history.lines().count(), 1, "{history}");
    // The same document again is no new version either.
    let same = d.dir().join("sama.toml");
    std::fs::write(&same, &running).unwrap();
    let (imported, out, err) = config(&d, &["import", same.to_str().unwrap()]);
    assert!(imported, "{err}");
    assert!(out.contains("\"changed\":false"), "{out}");
}
