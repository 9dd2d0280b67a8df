//! trunkd's span status wherever SIP trunks are shown (issue 14, decision
//! 0024), on the simulated board (these machines have no cards): libpri
//! plays the carrier's exchange on the far end of the span's D-channel,
//! trunkd's shell runs here and reports to a real `dering up` over its
//! control socket, with snmpd and snmptrapd beside it.
//!
//! The span comes up and libpri calls 137: the call's record names span
//! and channel. Once the call is over `dering trunks --json` shows the
//! D-channel up and 30 idle channels. Then the simulated board raises a
//! red alarm: a span event on the control feed, `/metrics` and `/health`
//! say it, and snmptrapd receives deringNotifyTrunkAlarm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The shared far end of a simulated span; this file uses its libpri
// harness only.
#[allow(dead_code)]
mod trunkd_peer;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dering_board::Alarms;
use dering_config::SpanSide;
use hwtests::{free_udp_port, Dering};

const DERING: &str = ".1.3.6.1.4.1.99999";

/// A child process killed when the test ends however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// The 30 B-channels of an E1 (timeslot 16 is the D-channel).
fn e1_channels() -> Vec<u8> {
    (1..=31).filter(|t| *t != 16).collect()
}

/// The span `telkom` as `dering trunks --json` lists it.
fn span(d: &Dering) -> Option<serde_json::Value> {
    d.json_lines(&["trunks", "--json"])
        .into_iter()
        .find(|v| v["kind"] == "e1" && v["name"] == "telkom")
}

#[test]
fn span_status_reaches_trunks_records_events_metrics_health_and_snmp() {
    eprintln!("trunkd_status: no DAHDI card is used here; the span is the simulated board's");
    let snmp = hwtests::peers::Snmp::start();
    let port = free_udp_port();
    let sip = SocketAddr::from(([127, 0, 0, 1], port));
    // trunkd is a trusted peer on loopback, and `[trunkd] sip` tells pbxd
    // which source's X-Dering-Channel to believe.
    let d = Dering::start_with_args(
        |text| {
            text + &format!(
                "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.1/32\"]\nroute_class = \"national\"\n\n[trunkd]\nsip = \"{sip}\"\n"
            )
        },
        &["--agentx".to_string(), snmp.agentx()],
    );
    let feed_path = d.dir().join("events.jsonl");
    let _feed = Killed(
        Command::new(hwtests::dering_bin())
            .args(["events", "--json", "--data-dir"])
            .arg(d.dir())
            .stdout(std::fs::File::create(&feed_path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let span_events = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&feed_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "span")
            .collect()
    };

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = trunkd_peer::start_carrier(dir.path(), &sock, "net", &["-d", "137", "-a", "2"]);
    let log = || carrier.log();
    let trunk = trunkd_peer::Trunk::start_with(
        &d,
        &sock,
        &carrier,
        sip,
        SpanSide::User,
        e1_channels(),
        true,
    );

    // libpri's call to 137: answered by the flow, hung up by libpri.
    wait_for(
        "libpri's call answered and hung up",
        Duration::from_secs(40),
        || log().contains("EVENT PRI_EVENT_ANSWER") && log().contains("-> hangup"),
    );
    assert!(
        !log().contains("libpri ERROR"),
        "protocol error:\n{}",
        log()
    );
    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c["span"], "telkom", "the record names the span: {c}");
    let channel = c["channel"].as_u64().expect("the record names the channel");
    assert!(e1_channels().contains(&(channel as u8)), "a B-channel: {c}");

    // The call over, the span is idle: D-channel up and 30 idle channels.
    wait_for(
        "30 idle channels with the D-channel up",
        Duration::from_secs(15),
        || span(&d).is_some_and(|s| s["dchannel_up"] == true && s["channels"]["idle"] == 30),
    );
    let s = span(&d).unwrap();
    assert_eq!(s["alarm"], "none", "{s}");
    assert_eq!(s["reporting"], true, "{s}");
    assert_eq!(s["side"], "user", "{s}");
    assert!(
        span_events()
            .iter()
            .any(|e| e["span"]["channels"]["in_use"] == 1),
        "the feed told of the call's channel in use: {:?}",
        span_events()
    );
    let (code, body) = hwtests::peers::http_get(&d.http, "/health");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["warnings"], serde_json::json!([]), "{body}");
    assert_eq!(code, 200, "{body}");

    // The board raises a red alarm.
    trunk.raise(Alarms::RED);
    wait_for("the red alarm on the feed", Duration::from_secs(10), || {
        span_events()
            .iter()
            .any(|e| e["span"]["name"] == "telkom" && e["span"]["alarm"] == "red")
    });
    let (code, metrics) = hwtests::peers::http_get(&d.http, "/metrics");
    assert_eq!(code, 200, "{metrics}");
    for line in [
        "dering_span_alarm{span=\"telkom\",alarm=\"red\"} 1",
        "dering_span_alarm{span=\"telkom\",alarm=\"yellow\"} 0",
        "dering_span_channels{span=\"telkom\",state=\"blocked\"} 30",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in\n{metrics}"
        );
    }
    let (code, body) = hwtests::peers::http_get(&d.http, "/health");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "a warning, not a failure: {body}");
    assert_eq!(health["status"], "warning", "{body}");
    assert!(
        health["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "span telkom: red alarm"),
        "{body}"
    );
    let out = Command::new(hwtests::dering_bin())
        .args(["trunks", "--data-dir"])
        .arg(d.dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("telkom "))
        .unwrap_or_else(|| panic!("no telkom span in\n{text}"));
    assert!(row.contains(" red "), "{text}");

    // The NOC hears of it: deringNotifyTrunkAlarm naming the span, in
    // state alarm (3), and the trunk table has its row.
    let trap = format!("{DERING}.0.8");
    wait_for("the trunk-alarm trap", Duration::from_secs(60), || {
        let traps = snmp.traps();
        traps.contains(&trap) && traps.contains("\"telkom\"")
    });
    let names: Vec<String> = snmp
        .walk(&format!("{DERING}.1.6.1.1.2"))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert!(
        names.iter().any(|v| v.contains("\"telkom\"")),
        "the span in the MIB's trunk table: {names:?}"
    );
    drop(trunk);
}
