//! The NOC's view (MON-1, MON-2, PWR-2): net-snmp's snmpd as AgentX
//! master with Dering's subagent registered, walked with `snmpwalk` while
//! sipp phones hold calls; UPS traps received by `snmptrapd`; `/metrics`
//! checked by `promtool` and `/health` while the calls run; the ticket
//! outbox's counts and late-alarm trap with SIMPEL unreachable; and the
//! MIB module checked by `smilint`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use hwtests::fragments::{uac_answered_then, uas_answer, wait_bye};
use hwtests::peers::{base_mibs, dering_mib_dir, free_tcp_port, http_get, Snmp, Upsd};
use hwtests::{callee, caller, require, Dering};

const DERING: &str = ".1.3.6.1.4.1.99999";
const MAINS: &str = "ups.status: OL\nbattery.charge: 100\nbattery.runtime: 36000\n";

fn walk_map(snmp: &Snmp) -> BTreeMap<String, String> {
    snmp.walk(DERING).into_iter().collect()
}

/// Polls until `f` holds or 20 s pass; returns the last value seen.
fn until<T: std::fmt::Debug>(what: &str, mut get: impl FnMut() -> T, ok: impl Fn(&T) -> bool) -> T {
    let t = Instant::now();
    loop {
        let v = get();
        if ok(&v) {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what}: last seen {v:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn promtool_check(text: &str) -> String {
    require("promtool");
    use std::io::Write;
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool exit {:?}", out.status);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of metric line `name` (with its labels, if any) in `text`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A box reading `ups` every second and registered with `snmp`.
fn watched_box(snmp: &Snmp, ups: &Upsd, extra: &[&str]) -> Dering {
    let mut args = vec![
        "--upsd".to_string(),
        ups.addr(),
        "--ups".into(),
        "sim".into(),
        "--agentx".into(),
        snmp.agentx(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    Dering::start_with_args(|t| t.replace("poll_seconds = 2", "poll_seconds = 1"), &args)
}

#[test]
fn snmp_walk_traps_metrics_and_health_while_calls_run() {
    let snmp = Snmp::start();
    let ups = Upsd::start(MAINS);
    let d = watched_box(&snmp, &ups, &[]);

    // Two calls held by sipp phones.
    let _calls: Vec<_> = [("1001", "1002"), ("1003", "1004")]
        .into_iter()
        .map(|(from, to)| {
            let uas = callee(&d, to, &format!("{}{}", uas_answer(), wait_bye()));
            let uac = caller(&d, from, to, &uac_answered_then(&wait_bye()));
            (uac, uas)
        })
        .collect();
    d.wait_answered(2);

    // snmpwalk through snmpd reaches the subagent's live values.
    let w = until(
        "the walk shows 2 active calls, the UPS on line, powerd up",
        || walk_map(&snmp),
        |w| {
            let is =
                |o: &str, v: &str| w.get(&format!("{DERING}.{o}")).map(String::as_str) == Some(v);
            is("1.3.2.0", "Gauge32: 2")
                && is("1.7.1.0", "STRING: \"OL\"")
                && is("1.2.1.1.3.2", "INTEGER: 1")
        },
    );
    assert_eq!(
        w[&format!("{DERING}.1.1.1.0")],
        "STRING: \"Dering contact-center PBX\""
    );
    assert_eq!(
        w[&format!("{DERING}.1.1.2.0")],
        format!("STRING: \"{}\"", env!("CARGO_PKG_VERSION"))
    );
    // Registrations: the two callees.
    assert_eq!(w[&format!("{DERING}.1.3.1.0")], "Gauge32: 2", "{w:?}");
    // Intake open (TruthValue true = 1).
    assert_eq!(w[&format!("{DERING}.1.3.4.0")], "INTEGER: 1", "{w:?}");
    // Daemon table: pbxd (row 1), powerd (2), webd (3), snmp-agent (4) up.
    for (row, name) in [(1, "pbxd"), (2, "powerd"), (3, "webd"), (4, "snmp-agent")] {
        assert_eq!(
            w[&format!("{DERING}.1.2.1.1.2.{row}")],
            format!("STRING: \"{name}\""),
            "{w:?}"
        );
        assert_eq!(
            w[&format!("{DERING}.1.2.1.1.3.{row}")],
            "INTEGER: 1",
            "{name} up: {w:?}"
        );
    }
    // UPS charge and runtime as dummy-ups reports them.
    assert_eq!(w[&format!("{DERING}.1.7.3.0")], "Gauge32: 100");
    assert_eq!(w[&format!("{DERING}.1.7.4.0")], "Gauge32: 36000");
    // Every value is an instance under the subtree, in order (snmpwalk
    // stops on a non-increasing OID, so a full walk proves GetNext).
    assert!(w.len() > 25, "{w:?}");

    // /metrics passes promtool and counts the calls.
    let (code, text) = http_get(&d.http, "/metrics");
    assert_eq!(code, 200);
    promtool_check(&text);
    assert_eq!(metric(&text, "dering_calls_active"), Some(2.0), "{text}");
    assert_eq!(
        metric(&text, "dering_sip_registrations"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(metric(&text, "dering_ups_on_battery"), Some(0.0), "{text}");
    // /health: every daemon ready, the calls visible.
    let (code, body) = http_get(&d.http, "/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["pbx"]["active_calls"], 2, "{h}");
    assert_eq!(h["daemons"].as_array().unwrap().len(), 4, "{h}");

    // The ACD (MON-1): the queue table holds pbxd's queues in its order,
    // and an agent logged in is counted by state.
    d.agent_login("2001", "1002");
    let queues = d.json_lines(&["queues", "--json"]);
    assert!(!queues.is_empty(), "the demo has queues");
    let w = until(
        "the walk counts the agent logged in",
        || walk_map(&snmp),
        |w| w.get(&format!("{DERING}.1.5.1.0")).map(String::as_str) == Some("Gauge32: 1"),
    );
    for (i, q) in queues.iter().enumerate() {
        let row = i + 1;
        let name = q["queue"].as_str().unwrap();
        assert_eq!(
            w[&format!("{DERING}.1.4.1.1.2.{row}")],
            format!("STRING: \"{name}\""),
            "{w:?}"
        );
        assert_eq!(
            w[&format!("{DERING}.1.4.1.1.3.{row}")],
            "Gauge32: 0",
            "{w:?}"
        );
    }
    // A manager with the MIB loaded names every instance: table columns
    // are entry.column.index as the MIB defines them.
    let named = snmp.walk_named(DERING);
    for line in [
        "DERING-MIB::deringDaemonName.1 = STRING: pbxd",
        "DERING-MIB::deringDaemonState.1 = INTEGER: up(1)",
        "DERING-MIB::deringAgentsLoggedIn.0 = Gauge32: 1",
    ] {
        assert!(named.lines().any(|l| l == line), "no {line} in\n{named}");
    }
    let first = queues[0]["queue"].as_str().unwrap();
    let queue_name = format!("DERING-MIB::deringQueueName.1 = STRING: {first}");
    assert!(named.lines().any(|l| l == queue_name), "{named}");
    assert!(
        !named.contains("SNMPv2-SMI::enterprises"),
        "every instance has a name: {named}"
    );
    let gauge = |o: &str| -> u32 {
        w[&format!("{DERING}.{o}")]
            .strip_prefix("Gauge32: ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{o} in {w:?}"))
    };
    let by_state: u32 = ["1.5.2.0", "1.5.3.0", "1.5.4.0", "1.5.5.0"]
        .into_iter()
        .map(gauge)
        .sum();
    assert_eq!(by_state, 1, "the agent is in one state: {w:?}");
    let (_, text) = http_get(&d.http, "/metrics");
    promtool_check(&text);
    assert_eq!(
        metric(&text, &format!("dering_queue_waiting{{queue=\"{first}\"}}")),
        Some(0.0),
        "{text}"
    );
    let agents: f64 = text
        .lines()
        .filter(|l| l.starts_with("dering_agents{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(agents, 1.0, "{text}");

    // The UPS goes on battery, then comes back: snmptrapd gets both traps,
    // each carrying the UPS status.
    ups.set("ups.status: OB DISCHRG\nbattery.charge: 80\nbattery.runtime: 30000\n");
    let traps = until(
        "the on-battery trap",
        || snmp.traps(),
        |t| t.contains(&format!("{DERING}.0.1")),
    );
    assert!(traps.contains("OB DISCHRG"), "{traps}");
    let w = walk_map(&snmp);
    assert_eq!(
        w[&format!("{DERING}.1.7.2.0")],
        "INTEGER: 1",
        "on battery: {w:?}"
    );
    let (_, text) = http_get(&d.http, "/metrics");
    assert_eq!(metric(&text, "dering_ups_on_battery"), Some(1.0), "{text}");
    ups.set(MAINS);
    until(
        "the on-line trap",
        || snmp.traps(),
        |t| t.contains(&format!("{DERING}.0.3")),
    );
    let traps = snmp.traps();
    assert!(
        !traps.contains(&format!("{DERING}.0.2")),
        "no low-battery trap was due: {traps}"
    );
    assert!(
        !traps.contains(&format!("{DERING}.0.4")),
        "no daemon was down, not even while the box started: {traps}"
    );
}

#[test]
fn the_low_battery_trap_leaves_before_the_agent_stops() {
    let snmp = Snmp::start();
    let ups = Upsd::start(MAINS);
    let mut d = watched_box(&snmp, &ups, &["--poweroff-command", "/bin/true"]);
    until(
        "the subagent registered",
        || walk_map(&snmp),
        |w| w.contains_key(&format!("{DERING}.1.1.1.0")),
    );
    // No calls: low battery runs the whole order at once; the trap leaves
    // before the subagent is stopped.
    ups.set("ups.status: OB LB\nbattery.charge: 10\nbattery.runtime: 90\n");
    assert_eq!(d.wait_exit(Duration::from_secs(30)), Some(0));
    let traps = until(
        "the low-battery trap",
        || snmp.traps(),
        |t| t.contains(&format!("{DERING}.0.2")),
    );
    assert!(traps.contains(&format!("{DERING}.0.1")), "{traps}");
    // With the box gone, snmpd answers for the subtree no more.
    let instances = |w: &BTreeMap<String, String>| {
        w.keys()
            .filter(|k| k.starts_with(&format!("{DERING}.")))
            .count()
    };
    until(
        "the subtree unregistered",
        || walk_map(&snmp),
        |w| instances(w) == 0,
    );
}

#[test]
fn a_late_outbox_is_counted_in_the_mib_trapped_and_warned_in_health() {
    use dering_store::tickets::{Level, NewTicket, Sla};
    let snmp = Snmp::start();
    // syncd delivers to a SIMPEL nobody answers: every row stays owed.
    let nobody = format!("http://127.0.0.1:{}/api/v1", free_tcp_port());
    let d = Dering::start_with_args(
        |t| t,
        &["--agentx".into(), snmp.agentx(), "--simpel".into(), nobody],
    );
    // Two tickets recorded 20 minutes ago (past the default 15): the
    // rows' age is what the alarm is about, not the wait.
    let mut store = dering_store::Store::open(&d.data.path().join("dering.db")).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let then = now_ms - 20 * 60_000;
    for n in 0..2 {
        let t = NewTicket {
            urgency: Level::High,
            ..NewTicket::complaint(&format!("Warga {n}"), "+6281234567890", "layanan publik")
        };
        store
            .create_ticket(&t, "agent-2001", &Sla::default(), then + n)
            .unwrap();
    }
    let sync = format!("{DERING}.1.9");
    let w = until(
        "the walk shows 2 pending, late, syncd up",
        || walk_map(&snmp),
        |w| {
            let is =
                |o: &str, v: &str| w.get(&format!("{DERING}.{o}")).map(String::as_str) == Some(v);
            is("1.9.1.0", "Gauge32: 2")
                && is("1.9.5.0", "INTEGER: 1")
                && is("1.2.1.1.3.6", "INTEGER: 1")
        },
    );
    assert_eq!(w[&format!("{DERING}.1.2.1.1.2.6")], "STRING: \"syncd\"");
    assert_eq!(w[&format!("{sync}.3.0")], "Gauge32: 0", "no dead letter");
    let age: u64 = w[&format!("{sync}.4.0")]
        .trim_start_matches("Gauge32: ")
        .parse()
        .unwrap();
    assert!((20 * 60..25 * 60).contains(&age), "oldest pending {age} s");
    // The trap, with the pending count.
    let traps = until(
        "the outbox-late trap",
        || snmp.traps(),
        |t| t.contains(&format!("{DERING}.0.9")),
    );
    assert!(traps.contains(&format!("{sync}.1.0")), "{traps}");
    assert!(
        !traps.contains(&format!("{DERING}.0.10")),
        "not caught up: {traps}"
    );
    // syncd keeps trying: the rows become failing, still pending.
    until(
        "both rows retried",
        || walk_map(&snmp),
        |w| w.get(&format!("{sync}.2.0")).map(String::as_str) == Some("Gauge32: 2"),
    );
    // /health warns (200, not degraded: SIMPEL's outage is not the box's).
    let (code, body) = http_get(&d.http, "/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["status"], "warning", "{h}");
    assert!(
        h["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("outbox: 2 tickets owed to SIMPEL")),
        "{h}"
    );
}

fn smilint(path: &std::path::Path) -> String {
    require("smilint");
    let out = Command::new("smilint")
        .args(["-l", "6", "-s"])
        .arg(path)
        .env(
            "SMIPATH",
            format!("{}:{}", base_mibs().display(), dering_mib_dir().display()),
        )
        .output()
        .unwrap();
    assert!(
        base_mibs().join("SNMPv2-SMI").exists(),
        "the SNMPv2 base MIBs are missing: run `bash .ci/install-peers`"
    );
    // smilint exits 0 even with errors: its output is the verdict.
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_mib_passes_smilint_and_a_broken_copy_does_not() {
    let mib = dering_mib_dir().join("DERING-MIB.txt");
    let verdict = smilint(&mib);
    assert!(verdict.trim().is_empty(), "smilint: {verdict}");
    // The check can fail: an object without a DESCRIPTION is reported.
    let text = std::fs::read_to_string(&mib).unwrap();
    let start = text.find("    DESCRIPTION").unwrap();
    let end = start + text[start..].find("\"\n").unwrap() + 2;
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("DERING-MIB.txt");
    std::fs::write(&broken, format!("{}{}", &text[..start], &text[end..])).unwrap();
    assert!(!smilint(&broken).trim().is_empty());
}
