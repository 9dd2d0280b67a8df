//! The ACD end to end with sipp phones (ACD-1, ACD-2, ACD-5..7, ACD-10,
//! CMS-1): an agent logs in by dial string from a desk phone that answers
//! queue calls; callers reach queue `pengaduan` through a flow on 170.
//! While the agent is busy, a fixed-line caller and then a mobile caller
//! wait: the mobile one, with its higher priority, is served first. A
//! caller who gives up, one who gives up at once (short abandon) and a
//! blocked number are counted as such; `dering queues` reports what the
//! test counted, and still does after pbxd restarts. A second test has an
//! agent whose phone rings out: the call moves on to the next agent; and
//! agents are back at their phones, as they were, after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::fragments::{
    caller_request, uac_answered_then, uac_final, uas_answer, uas_ring_until_cancel, wait_bye,
};
use hwtests::{caller, free_udp_port, ok, phone, register, scenario, Dering, Sipp};

/// The test box: queue `pengaduan` with short rings and wrap-up, callers
/// kept waiting when no agent is free, a flow on 170 straight to it, and
/// phones whose numbers are a mobile, two fixed lines and a blocked one.
fn acd_box() -> Dering {
    let d = Dering::start_with(|t| {
        let mut t = t
            .replace(
                "ring_seconds = 15\nwrapup_seconds = 15",
                "ring_seconds = 4\nwrapup_seconds = 1",
            )
            .replace(
                "join_empty = false\nleave_when_empty = true",
                "join_empty = true\nleave_when_empty = false",
            )
            .replace(
                "block = [{ prefix = \"+62899\", action = \"announcement\" }]",
                "block = [{ prefix = \"+62899\", action = \"announcement\" }, { number = \"021-5555-0003\", action = \"busy\" }]",
            );
        t = t.replace(
            "id = \"2001\"\nname = \"Petugas 2001\"",
            "id = \"2001\"\nname = \"Petugas 2001\"\nauto_answer = true",
        );
        t.push_str(hwtests::DID_170_TO_QUEUE);
        for n in ["081211110001", "02155550001", "02155550002", "02155550003"] {
            t.push_str(&format!(
                "\n[[extension]]\nnumber = \"{n}\"\nname = \"Penelepon {n}\"\npassword = \"demo-{n}\"\n"
            ));
        }
        t
    });
    d.publish_queue_flow();
    d
}

/// An agent's desk phone: `ext` registered, answering `calls` queue calls
/// one after the other and waiting for each to be hung up.
fn agent_phone(d: &Dering, ext: &str, calls: u32, behaviour: &str) -> Sipp {
    let sf = scenario(d.dir(), "uas.xml", &[("BEHAVIOUR", behaviour)]);
    desk_phone(d, ext, calls, sf)
}

/// [`agent_phone`] that also checks each offer shows the queue's name
/// before the caller's and asks the phone to answer by itself (ACD-1,
/// TEL-2).
fn auto_answer_phone(d: &Dering, ext: &str, calls: u32, behaviour: &str) -> Sipp {
    let sf = scenario(
        d.dir(),
        "agent.xml",
        &[("BEHAVIOUR", behaviour), ("DISPLAY", "\"pengaduan: ")],
    );
    desk_phone(d, ext, calls, sf)
}

fn desk_phone(d: &Dering, ext: &str, calls: u32, sf: std::path::PathBuf) -> Sipp {
    let port = free_udp_port();
    register(d, ext, port, 300);
    let extra = ["-rtp_echo", "-m", &calls.to_string(), "-timeout", "90"].map(String::from);
    let s = phone(d, &sf, port, &extra);
    hwtests::wait_bound(port, Duration::from_secs(10));
    s
}

/// `ext` dials an agent code; the box answers, confirms and hangs up.
fn dial_code(d: &Dering, ext: &str, code: &str) {
    ok(
        caller(d, ext, code, &uac_answered_then(&wait_bye())),
        code,
        d,
    );
}

/// A caller answered by the flow who stays `ms` (waiting, then talking)
/// and hangs up.
fn stay_then_bye(ms: u32) -> String {
    uac_answered_then(&format!(
        "  <pause milliseconds=\"{ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ))
}

fn queue(d: &Dering) -> serde_json::Value {
    d.json_lines(&["queues", "--json"])
        .into_iter()
        .find(|q| q["queue"] == "pengaduan")
        .unwrap()
}

/// The journal: (kind, agent, call UUID, detail).
type Row = (String, Option<String>, Option<String>, serde_json::Value);

fn journal(d: &Dering) -> Vec<Row> {
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    store
        .acd_events(0)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.kind,
                r.agent,
                r.call_uuid,
                serde_json::from_str(&r.detail).unwrap(),
            )
        })
        .collect()
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

/// The caller (from the call records) of each queue call answered, in
/// order.
fn answered_callers(d: &Dering) -> Vec<String> {
    let calls = d.query("cdr");
    journal(d)
        .into_iter()
        .filter(|r| r.0 == "answered")
        .map(|r| {
            let uuid = r.2.unwrap();
            let c = calls.iter().find(|c| c["uuid"] == uuid.as_str()).unwrap();
            c["caller"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_mobile_caller_overtakes_and_statistics_equal_what_happened() {
    let mut d = acd_box();
    // Agent 2001 logs in at 1001 by dial string; the phone answers the
    // three calls it will be offered.
    // The agent desktop's view: the control socket's event stream.
    // It follows on from the snapshot, so it misses nothing from here
    // however long it takes to subscribe.
    let events = d.follow_events(std::process::Stdio::piped());
    let desk = auto_answer_phone(&d, "1001", 3, &format!("{}{}", uas_answer(), wait_bye()));
    dial_code(&d, "1001", "*712001*1234");
    let a = d.agent("2001");
    assert_eq!(
        (a["state"].as_str(), a["extension"].as_str()),
        (Some("ready"), Some("1001")),
        "{a}"
    );

    // A fixed line reaches the agent and talks 6 s; meanwhile another
    // fixed line, then a mobile, wait.
    let first = caller(&d, "02155550001", "170", &stay_then_bye(6_000));
    wait_until(
        &d,
        "the first call answered",
        Duration::from_secs(10),
        || journal(&d).iter().any(|r| r.0 == "answered"),
    );
    let fixed = caller(&d, "02155550002", "170", &stay_then_bye(22_000));
    // The fixed line waits before the mobile one calls.
    wait_until(
        &d,
        "the fixed-line caller waiting",
        Duration::from_secs(10),
        || queue(&d)["waiting"] == 1,
    );
    let mobile = caller(&d, "081211110001", "170", &stay_then_bye(12_000));
    wait_until(&d, "two callers waiting", Duration::from_secs(10), || {
        queue(&d)["waiting"] == 2
    });
    ok(first, "first caller", &d);
    ok(mobile, "mobile caller", &d);
    ok(fixed, "fixed-line caller", &d);
    ok(desk, "agent's phone", &d);
    assert_eq!(
        answered_callers(&d),
        ["02155550001", "081211110001", "02155550002"],
        "the mobile caller (priority 5) goes before the fixed line that came first"
    );
    let entered: Vec<i64> = journal(&d)
        .iter()
        .filter(|r| r.0 == "entered")
        .map(|r| r.3["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(entered, [0, 0, 5]);

    // Not ready (lunch) from the agent desktop's command: two callers give
    // up, one after 7 s, one at once.
    // Asked during wrap-up, it takes effect when the wrap-up ends.
    d.json_lines(&["agent", "not-ready", "2001", "2"]);
    wait_until(
        &d,
        "not ready after wrap-up",
        Duration::from_secs(10),
        || d.agent("2001")["state"] == "not_ready",
    );
    let a = d.agent("2001");
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("not_ready"), Some("makan siang")),
        "{a}"
    );
    let patient = caller(&d, "02155550001", "170", &stay_then_bye(7_000));
    let hasty = caller(&d, "02155550002", "170", &stay_then_bye(1_000));
    ok(hasty, "short abandon", &d);
    ok(patient, "abandon", &d);
    // A blocked number is turned away busy and never enters the queue.
    ok(
        caller(&d, "02155550003", "170", &uac_final(486)),
        "blocked",
        &d,
    );

    // Log out by dial string.
    dial_code(&d, "1001", "*72");
    assert_eq!(d.agent("2001")["state"], "logged_out");

    // What the test counted, from the journal's own numbers.
    let j = journal(&d);
    let count = |kind: &str| j.iter().filter(|r| r.0 == kind).count() as u64;
    let within = j
        .iter()
        .filter(|r| r.0 == "answered" && r.3["wait_ms"].as_u64().unwrap() <= 20_000)
        .count() as f64;
    let shorts = j
        .iter()
        .filter(|r| r.0 == "abandoned" && r.3["short"] == true)
        .count() as u64;
    assert_eq!(
        (
            count("entered"),
            count("answered"),
            count("abandoned"),
            shorts
        ),
        (5, 3, 2, 1)
    );
    assert_eq!(count("completed"), 3);
    let check = |q: &serde_json::Value| {
        let t = &q["today"];
        assert_eq!(t["offered"], 5, "{q}");
        assert_eq!(t["answered"], 3, "{q}");
        assert_eq!(t["abandoned"], 1, "{q}");
        assert_eq!(t["short_abandoned"], 1, "{q}");
        assert_eq!(t["completed"], 3, "{q}");
        let sl = q["service_level"].as_f64().unwrap();
        assert!((sl - 100.0 * within / 4.0).abs() < 1e-9, "{q}");
    };
    check(&queue(&d));
    // Statistics survive a restart: they are the journal's.
    let port = d.sip_port;
    d.stop();
    // Subscribers saw every journal entry as it happened.
    let out = events.wait_with_output().unwrap();
    let stream: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The agent's screen pop (CTI-1): each queue call offered to the
    // agent's phone, with the caller and the queue.
    let offered: Vec<&str> = stream
        .iter()
        .filter(|e| e["event"] == "call" && e["kind"] == "offered" && e["queue"] == "pengaduan")
        .inspect(|e| {
            assert_eq!(
                (&e["agent"], &e["extension"]),
                (&"2001".into(), &"1001".into()),
                "{e}"
            )
        })
        .map(|e| e["caller"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["02155550001", "081211110001", "02155550002"]);
    let published: Vec<&serde_json::Value> =
        stream.iter().filter(|e| e["event"] == "acd").collect();
    assert_eq!(published.len(), journal(&d).len(), "{published:?}");
    assert_eq!(
        published
            .iter()
            .filter(|e| e["detail"]["event"] == "answered" && e["uuid"].is_string())
            .count(),
        3
    );
    d.launch(port);
    check(&queue(&d));
    // The three calls the agent took are recorded under the agent and the
    // queue (REC-2).
    let recs: Vec<serde_json::Value> = d
        .json_lines(&["recordings", "--json"])
        .into_iter()
        .filter(|r| r["service"] == "pengaduan")
        .collect();
    assert_eq!(recs.len(), 3, "{recs:?}");
    assert!(recs.iter().all(|r| r["agent"] == "2001"), "{recs:?}");
    // Every agent state change is in the journal, with its reason.
    assert!(j.iter().any(|r| r.0 == "agent_state"
        && r.1.as_deref() == Some("2001")
        && r.3["reason"] == "makan siang"));
}

/// ACD-3: an agent whose phone rings out is skipped after the ring time;
/// the call goes to the next agent, and the miss is in the journal.
#[test]
fn a_call_not_answered_moves_on_to_the_next_agent() {
    let mut d = acd_box();
    // 1001 rings and never answers (the box cancels it); 1002 answers.
    let silent = agent_phone(&d, "1001", 1, &uas_ring_until_cancel());
    let answering = agent_phone(&d, "1002", 1, &format!("{}{}", uas_answer(), wait_bye()));
    dial_code(&d, "1001", "*712001*1234");
    dial_code(&d, "1002", "*712002*1234");
    ok(
        caller(&d, "02155550001", "170", &stay_then_bye(8_000)),
        "caller",
        &d,
    );
    ok(silent, "the phone that rang out", &d);
    ok(answering, "the phone that answered", &d);
    let steps: Vec<(String, String)> = journal(&d)
        .into_iter()
        .filter(|r| ["offered", "missed", "answered"].contains(&r.0.as_str()))
        .map(|r| (r.0, r.1.unwrap()))
        .collect();
    let want = |k: &str, a: &str| (k.to_string(), a.to_string());
    assert_eq!(
        steps,
        [
            want("offered", "2001"),
            want("missed", "2001"),
            want("offered", "2002"),
            want("answered", "2002"),
        ]
    );
    // One miss is not yet "missed" twice: 2001 is ready again.
    assert_eq!(d.agent("2001")["state"], "ready");
    // 2002 goes to lunch; pbxd restarts: both agents are back at their
    // phones as they were (ACD-10).
    d.json_lines(&["agent", "not-ready", "2002", "2"]);
    wait_until(&d, "2002 not ready", Duration::from_secs(5), || {
        d.agent("2002")["state"] == "not_ready"
    });
    let port = d.sip_port;
    d.stop();
    d.launch(port);
    let a = d.agent("2001");
    assert_eq!(
        (a["state"].as_str(), a["extension"].as_str()),
        (Some("ready"), Some("1001")),
        "{a}"
    );
    let a = d.agent("2002");
    assert_eq!(
        (a["reason"].as_str(), a["extension"].as_str()),
        (Some("makan siang"), Some("1002")),
        "{a}"
    );
}

/// ACD-4: a waiting caller presses 1, is told it will be called back and
/// is hung up, its place kept; when the agent is ready the box rings the
/// agent's phone, then the caller's, and bridges them. The journal has
/// the callback and the answer; nothing was abandoned.
#[test]
fn a_caller_asks_to_be_called_back_and_is() {
    let d = acd_box();
    let desk = agent_phone(&d, "1001", 1, &format!("{}{}", uas_answer(), wait_bye()));
    dial_code(&d, "1001", "*712001*1234");
    d.json_lines(&["agent", "not-ready", "2001", "1"]);
    let press_1 = format!(
        "  <pause milliseconds=\"2000\"/>\n  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_1.pcap\"/></action></nop>\n{}",
        wait_bye()
    );
    ok(
        caller(&d, "02155550001", "170", &uac_answered_then(&press_1)),
        "caller asking to be called back",
        &d,
    );
    assert_eq!(queue(&d)["waiting"], 1, "the place is kept");
    let back = hwtests::callee(
        &d,
        "02155550001",
        &format!("{}{}", uas_answer(), wait_bye()),
    );
    d.json_lines(&["agent", "ready", "2001"]);
    let mut uuid = String::new();
    wait_until(&d, "the callback answered", Duration::from_secs(15), || {
        let live = d.query("calls");
        match live.iter().find(|c| c["state"] == "answered") {
            Some(c) => {
                uuid = c["uuid"].as_str().unwrap().to_string();
                true
            }
            None => false,
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    d.json_lines(&["hangup", &uuid]);
    ok(desk, "agent's phone", &d);
    ok(back, "caller's phone", &d);
    // The journal is written through the database writer: the call's end
    // reaches it a moment after the phones are done (later under load).
    wait_until(
        &d,
        "the callback completed in the journal",
        Duration::from_secs(10),
        || journal(&d).iter().any(|r| r.0 == "completed"),
    );
    let kinds: Vec<(String, Option<String>)> = journal(&d)
        .into_iter()
        .filter(|r| r.0 != "agent_state")
        .map(|r| (r.0, r.1))
        .collect();
    let want = |k: &str, a: Option<&str>| (k.to_string(), a.map(str::to_string));
    assert_eq!(
        kinds,
        [
            want("entered", None),
            want("callback_requested", None),
            want("offered", Some("2001")),
            want("answered", Some("2001")),
            want("completed", Some("2001")),
        ]
    );
    let t = &queue(&d)["today"];
    assert_eq!(
        (
            t["callbacks"].as_u64(),
            t["answered"].as_u64(),
            t["abandoned"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{t}"
    );
}

/// ACD-2: an agent on a call that is not a queue's (a colleague rang its
/// phone) is busy for the queues while it lasts, and ready after.
#[test]
fn an_agent_on_a_direct_call_is_busy_for_the_queues() {
    let d = acd_box();
    let desk = agent_phone(&d, "1001", 1, &format!("{}{}", uas_answer(), wait_bye()));
    dial_code(&d, "1001", "*712001*1234");
    let call = caller(
        &d,
        "1002",
        "1001",
        &uac_answered_then(&hwtests::fragments::uac_media_and_bye()),
    );
    wait_until(
        &d,
        "busy on the direct call",
        Duration::from_secs(10),
        || d.agent("2001")["state"] == "busy",
    );
    ok(call, "colleague", &d);
    ok(desk, "agent's phone", &d);
    wait_until(&d, "ready after it", Duration::from_secs(5), || {
        d.agent("2001")["state"] == "ready"
    });
}
