//! The daily backup and its restore (OPS-4, REC-5, issue 17 §4, decision
//! 0032) on a real box: calls with recordings through sipp, tickets
//! through webd's API and agent state changes; `dering backup` runs
//! while a call is up; `dering restore` puts the backup and the weekly
//! recording backup on a new data directory; a box started there has
//! every call record, ACD event, ticket and recording of the backup, each
//! recording with its checksum. A tampered backup is refused naming the
//! file, and a backup to a missing disk is a `/health` warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dering_store::Store;
use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, dering_bin, free_udp_port, ok, Dering};
use serde_json::{json, Value};

/// The callee answers, plays `pcap`, and waits for the BYE.
fn callee_playing(pcap: &Path) -> String {
    format!(
        "{}  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n{}",
        uas_answer(),
        pcap.display(),
        wait_bye()
    )
}

/// The caller plays `pcap`, stays `stay_ms`, hangs up.
fn caller_playing(pcap: &Path, stay_ms: u32) -> String {
    uac_answered_then(&format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{stay_ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        pcap.display(),
        caller_request("BYE", 3)
    ))
}

/// `dering ARGS`: its whole output.
fn dering(args: &[&str]) -> Output {
    Command::new(dering_bin()).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// webd's `/health` over plain HTTP.
fn health(d: &Dering) -> Value {
    let mut s = TcpStream::connect(&d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn sha256_hex(path: &Path) -> String {
    dering_store::backup::sha256_file(path).unwrap()
}

/// Waits until `n` recordings are closed; returns them all.
fn wait_recordings_complete(d: &Dering, n: usize) -> Vec<Value> {
    let t = Instant::now();
    loop {
        let r = d.json_lines(&["recordings", "--json"]);
        if r.iter().filter(|r| r["state"] == "complete").count() >= n {
            return r;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The rows a restore must bring back, read from a database.
struct Rows {
    calls: Vec<dering_store::CallRecord>,
    acd: Vec<dering_store::AcdEventRow>,
    tickets: Vec<(String, i64)>,
    recordings: Vec<dering_store::RecordingRow>,
}

fn rows(db: &Path) -> Rows {
    let s = Store::open(db).unwrap();
    let tickets = s
        .tickets(1000)
        .unwrap()
        .into_iter()
        .map(|t| (t.number, t.version))
        .collect();
    Rows {
        calls: s.calls().unwrap(),
        acd: s.acd_events(0).unwrap(),
        tickets,
        recordings: s.recordings(None).unwrap(),
    }
}

#[test]
fn a_backup_taken_during_a_call_restores_every_record_and_recording_and_a_tampered_one_is_refused()
{
    hwtests::require("sha256sum");
    let https_port = free_udp_port();
    let mut a = Dering::start_with_args(|t| t, &["--https-port".into(), https_port.to_string()]);
    let https = format!("127.0.0.1:{https_port}");
    let work = tempfile::tempdir().unwrap();
    let (low, high) = (work.path().join("440.pcap"), work.path().join("1000.pcap"));
    hwtests::pcap::tone(&low, 440.0, 2000);
    hwtests::pcap::tone(&high, 1000.0, 2000);

    // Agent state changes: the ACD journal (the agent's phone registered,
    // or the box logs the agent out at once).
    hwtests::register(&a, "1003", free_udp_port(), 300);
    a.agent_login("2001", "1003");
    a.json_lines(&["agent", "not-ready", "2001", "2"]);
    a.json_lines(&["agent", "ready", "2001"]);

    // Two recorded calls, finished.
    for _ in 0..2 {
        let uas = callee(&a, "1002", &callee_playing(&high));
        let uac = caller(&a, "1001", "1002", &caller_playing(&low, 2500));
        ok(uac, "caller", &a);
        ok(uas, "callee", &a);
    }
    let recs = wait_recordings_complete(&a, 2);
    let paths: Vec<String> = recs
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();

    // A ticket linking the first recording, and a change to it, through
    // webd's API.
    let token = hwtests::web::api_token(
        a.dir(),
        "spv",
        "supervisor",
        &[webd::auth::Perm::Tickets, webd::auth::Perm::AllTickets],
    );
    let (status, t) = a.api(
        &https,
        &token,
        "POST",
        "/api/v1/tickets",
        &json!({
            "reporter_name": "Siti",
            "reporter_phone": "081234567890",
            "category": "pengaduan",
            "description": "layanan lambat",
            "urgency": "high",
            "impact": "medium",
            "unit": "KU Dumas",
            "call_ids": [recs[0]["call_uuid"]],
            "recordings": [paths[0]],
        }),
    );
    assert_eq!(status, 201, "{t}");
    let id = t["ticket"]["id"].as_i64().unwrap();
    let (status, t) = a.api(
        &https,
        &token,
        "PATCH",
        &format!("/api/v1/tickets/{id}"),
        &json!({"version": t["ticket"]["version"], "status": "in_progress"}),
    );
    assert_eq!(status, 200, "{t}");

    // The backup, taken while a third call is up and recording.
    let disk = work.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let uas = callee(&a, "1002", &callee_playing(&high));
    let uac = caller(&a, "1001", "1002", &caller_playing(&low, 6000));
    a.wait_answered(1);
    let data_a = a.dir().display().to_string();
    let config_a = a.config.display().to_string();
    let disk_s = disk.display().to_string();
    let out = dering(&[
        "backup",
        "--data-dir",
        &data_a,
        "--config",
        &config_a,
        "--to",
        &disk_s,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        a.query("calls").len(),
        1,
        "the backup ran while the call was up"
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    let backup = PathBuf::from(done["path"].as_str().unwrap());
    ok(uac, "caller", &a);
    ok(uas, "callee", &a);
    // `sha256sum -c` reads the manifest as the box wrote it.
    let check = Command::new("sha256sum")
        .args(["-c", "MANIFEST.sha256"])
        .current_dir(&backup)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    // What the backup holds is what the restored box must have (read
    // from a copy: opening it would touch the backup's own file).
    let peek = work.path().join("peek.db");
    std::fs::copy(backup.join("dering.db"), &peek).unwrap();
    let at_backup = rows(&peek);
    let finished: Vec<_> = at_backup
        .recordings
        .iter()
        .filter(|r| r.state == "complete")
        .collect();
    assert_eq!(finished.len(), 2, "{:?}", at_backup.recordings);
    assert_eq!(
        at_backup
            .calls
            .iter()
            .filter(|c| c.state == "ended")
            .count(),
        2
    );
    assert!(at_backup.calls.iter().any(|c| c.state == "active"));
    assert!(at_backup.acd.len() >= 3, "{:?}", at_backup.acd);
    assert_eq!(at_backup.tickets.len(), 1);
    assert_eq!(done["summary"]["tickets"], 1);
    assert_eq!(done["summary"]["calls"], at_backup.calls.len());

    // The weekly recording backup (REC-5), as its job would copy it.
    let weekly = work.path().join("weekly");
    std::fs::create_dir(&weekly).unwrap();
    let weekly_s = weekly.display().to_string();
    let out = dering(&[
        "backup-recordings",
        "--data-dir",
        &data_a,
        "--config",
        &config_a,
        "--to",
        &weekly_s,
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // A backup to a disk that is not there fails, and /health says so.
    let gone = work.path().join("unplugged").display().to_string();
    let out = dering(&[
        "backup",
        "--data-dir",
        &data_a,
        "--config",
        &config_a,
        "--to",
        &gone,
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is the disk mounted"), "{}", text(&out));
    let h = health(&a);
    let warnings = h["warnings"].to_string();
    assert!(
        warnings.contains("backup: the last run") && warnings.contains("unplugged"),
        "{h}"
    );
    assert_eq!(h["backup"]["failures_total"], 1, "{h}");
    a.stop();

    // A tampered backup is refused, naming the file, and restores nothing.
    let tampered = work.path().join("tampered");
    std::fs::create_dir(&tampered).unwrap();
    for f in std::fs::read_dir(&backup).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), tampered.join(f.file_name())).unwrap();
    }
    let mut db = std::fs::read(tampered.join("dering.db")).unwrap();
    let last = db.len() - 1;
    db[last] ^= 0x01;
    std::fs::write(tampered.join("dering.db"), db).unwrap();
    let refused = tempfile::tempdir().unwrap();
    let out = dering(&[
        "restore",
        "--from",
        &tampered.display().to_string(),
        "--data-dir",
        &refused.path().display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("backup file dering.db does not match"),
        "{}",
        text(&out)
    );
    assert!(!refused.path().join("dering.db").exists());

    // The restore onto a new data directory.
    let new = tempfile::tempdir().unwrap();
    let new_s = new.path().display().to_string();
    let out = dering(&[
        "restore",
        "--from",
        &backup.display().to_string(),
        "--data-dir",
        &new_s,
        "--recordings",
        &weekly_s,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(restored["recordings_copied"], 2, "{restored}");
    assert_eq!(restored["recordings_missing"], json!([]), "{restored}");
    assert_eq!(restored["recordings_damaged"], json!([]), "{restored}");
    // Over it again without --force: refused.
    let out = dering(&[
        "restore",
        "--from",
        &backup.display().to_string(),
        "--data-dir",
        &new_s,
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not empty"), "{}", text(&out));

    // A box started on it.
    let https_b = free_udp_port();
    let mut b = Dering {
        child: None,
        config: new.path().join("dering.toml"),
        data: new,
        sip_port: 0,
        tls_port: 0,
        http: String::new(),
        extra_args: vec!["--https-port".into(), https_b.to_string()],
    };
    b.launch(0);
    let after = rows(&b.dir().join("dering.db"));
    for c in at_backup.calls.iter().filter(|c| c.state == "ended") {
        let r = after
            .calls
            .iter()
            .find(|r| r.parties.uuid == c.parties.uuid)
            .unwrap_or_else(|| panic!("call {} lost", c.parties.uuid));
        assert_eq!(r, c);
    }
    assert_eq!(after.calls.len(), at_backup.calls.len());
    // The call up at backup time is closed as interrupted by the restart.
    let cut = at_backup
        .calls
        .iter()
        .find(|c| c.state == "active")
        .unwrap();
    let cut_after = after
        .calls
        .iter()
        .find(|r| r.parties.uuid == cut.parties.uuid)
        .unwrap();
    assert_eq!(cut_after.disposition.as_deref(), Some("interrupted"));
    assert_eq!(after.acd[..at_backup.acd.len()], at_backup.acd[..]);
    assert_eq!(after.tickets, at_backup.tickets);
    for r in &finished {
        let got = after
            .recordings
            .iter()
            .find(|g| g.call_uuid == r.call_uuid)
            .unwrap();
        assert!(got.path.starts_with(&new_s), "{got:?}");
        assert_eq!(got.sha256, r.sha256);
        assert_eq!(Some(sha256_hex(Path::new(&got.path))), r.sha256, "{got:?}");
    }
    // The restored box serves the ticket, its recording moved with it.
    let token_b = hwtests::web::api_token(
        b.dir(),
        "spv2",
        "supervisor",
        &[webd::auth::Perm::Tickets, webd::auth::Perm::AllTickets],
    );
    let (status, t) = b.api(
        &format!("127.0.0.1:{https_b}"),
        &token_b,
        "GET",
        &format!("/api/v1/tickets/{id}"),
        &Value::Null,
    );
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["ticket"]["status"], "in_progress");
    let moved = t["ticket"]["recordings"][0].as_str().unwrap();
    assert!(
        moved.starts_with(&new_s) && moved.ends_with(paths[0].rsplit('/').next().unwrap()),
        "{t}"
    );
    assert!(Path::new(moved).is_file());
    b.stop();
}

const DERING_OID: &str = ".1.3.6.1.4.1.99999";

/// Polls until `ok` holds or 20 s pass; returns the last value seen.
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

/// The alarm path of a failed backup through net-snmp (snmpd as AgentX
/// master, snmptrapd) and `/metrics`: the trap leaves once, the MIB says
/// why, and a good backup clears it with its own trap.
#[test]
fn a_failed_backup_is_trapped_and_counted_and_a_good_one_clears_it() {
    use hwtests::peers::{http_get, Snmp};
    let snmp = Snmp::start();
    let d = Dering::start_with_args(|t| t, &["--agentx".into(), snmp.agentx()]);
    let data = d.dir().display().to_string();
    let config = d.config.display().to_string();
    let gone = d.dir().join("unplugged").display().to_string();
    let out = dering(&[
        "backup",
        "--data-dir",
        &data,
        "--config",
        &config,
        "--to",
        &gone,
    ]);
    assert!(!out.status.success());
    let backup = format!("{DERING_OID}.1.10");
    let traps = until(
        "the backup-failed trap",
        || snmp.traps(),
        |t| t.contains(&format!("{DERING_OID}.0.11")),
    );
    assert!(traps.contains(&format!("{backup}.4.0")), "{traps}");
    assert!(traps.contains("unplugged"), "{traps}");
    let w: std::collections::BTreeMap<String, String> = snmp.walk(DERING_OID).into_iter().collect();
    assert_eq!(w[&format!("{backup}.2.0")], "Gauge32: 1", "{w:?}");
    assert_eq!(w[&format!("{backup}.3.0")], "INTEGER: 1", "{w:?}");
    let (_, metrics) = http_get(&d.http, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l == "dering_backup_failures_total 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("dering_backup_last_success_timestamp_seconds "));

    let disk = tempfile::tempdir().unwrap();
    let to = disk.path().display().to_string();
    let out = dering(&[
        "backup",
        "--data-dir",
        &data,
        "--config",
        &config,
        "--to",
        &to,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let traps = until(
        "the backup-ok trap",
        || snmp.traps(),
        |t| t.contains(&format!("{DERING_OID}.0.12")),
    );
    assert_eq!(
        traps.matches(&format!("{DERING_OID}.0.11")).count(),
        1,
        "one failure, one trap: {traps}"
    );
    let (_, metrics) = http_get(&d.http, "/metrics");
    assert!(
        metrics.contains("dering_backup_last_success_timestamp_seconds "),
        "{metrics}"
    );
    assert!(health(&d)["warnings"].as_array().unwrap().is_empty());
}
