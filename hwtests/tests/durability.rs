//! Crash durability under load (OPS-1, OPS-2, REC-2, issue 17 §6): the
//! box is killed with SIGKILL while 100 calls are up and recorded and
//! agents change state. Everything it had committed is still there after
//! the restart, unchanged: finished call records, closed recordings with
//! their checksums (and the files still matching them), ACD events. The
//! cut calls are `interrupted`, their recordings mended and readable,
//! every phone of a cut call gets a BYE, the database passes
//! `PRAGMA integrity_check`, and a phone registered before the crash
//! takes a new call without registering again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hwtests::fragments::*;
use hwtests::{credentials, free_udp_port, ok, phone, register, scenario, Dering, Sipp};

/// Calls finished before the crash.
const FINISHED: usize = 20;
/// Calls up when the box is killed.
const UP: usize = 100;

/// What the box had committed: the state the restart must keep.
#[derive(Debug, PartialEq)]
struct Committed {
    /// Ended calls: uuid → (disposition, end_ms).
    ended: BTreeMap<String, (String, i64)>,
    /// Closed recordings: path → sha256.
    recordings: BTreeMap<String, String>,
    /// ACD events: id → (kind, agent).
    acd: BTreeMap<i64, (String, Option<String>)>,
}

fn committed(db: &Path) -> Committed {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let ended = c
        .prepare("SELECT uuid, disposition, end_ms FROM calls WHERE end_ms IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let recordings = c
        .prepare("SELECT path, sha256 FROM recordings WHERE state = 'complete'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let acd = c
        .prepare("SELECT id, kind, agent FROM acd_events")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    Committed {
        ended,
        recordings,
        acd,
    }
}

fn sha256_of(path: &str) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {path}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A WAV whose RIFF and data sizes agree with the file's length: what a
/// player needs to read it to the end.
fn readable_wav(path: &str) -> bool {
    let Ok(b) = std::fs::read(path) else {
        return false;
    };
    if b.len() < 44 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return false;
    }
    let riff = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    riff + 8 == b.len()
}

/// Waits (20 s at most) until `n` ended calls are committed.
fn wait_ended(db: &Path, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    while committed(db).ended.len() < n {
        assert!(Instant::now() < until, "{n} ended calls never committed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// 1001 calling 1002 `count` times at 50 calls a second, then doing
/// `after` in each; ends when every call has.
fn calls(d: &Dering, count: usize, after: &str) -> Sipp {
    let sf = scenario(
        d.dir(),
        "uac.xml",
        &[("AFTER_INVITE", &uac_answered_then(after))],
    );
    let mut extra = vec![d.addr()];
    extra.extend(["-s", "1002", "-key", "me", "1001"].map(String::from));
    extra.extend(credentials("1001"));
    let n = count.to_string();
    extra.extend(["-m", &n, "-l", &n, "-r", "50", "-timeout", "120"].map(String::from));
    phone(d, &sf, free_udp_port(), &extra)
}

#[test]
fn kill_dash_nine_under_load_loses_nothing_committed_and_leaves_no_phone_hanging() {
    // 100 calls need more RTP ports than a test box's usual 200: a
    // range of its own, still below the peers' (`hwtests::ports`).
    let mut d = Dering::start_with(|text| {
        text.lines()
            .map(|l| {
                if l.starts_with("rtp_port_min = ") {
                    "rtp_port_min = 16000".to_owned()
                } else if l.starts_with("rtp_port_max = ") {
                    "rtp_port_max = 17999".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let db = d.dir().join("dering.db");

    // 1002 answers every call and waits for the BYE, whoever sends it.
    let port = free_udp_port();
    register(&d, "1002", port, 3600);
    let sf = scenario(
        d.dir(),
        "uas.xml",
        &[("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye()))],
    );
    // No call limit: on a loaded machine sipp counts an INVITE the box
    // retransmitted before its answer as a call of its own (aborted), and
    // a limit of exactly the calls placed would leave no room for the
    // last one.
    let callee = phone(
        &d,
        &sf,
        port,
        &["-rtp_echo", "-m", "100000", "-l", "1000", "-timeout", "180"].map(String::from),
    );
    hwtests::wait_bound(port, Duration::from_secs(10));

    // Calls that end before the crash, each recorded (the demo records
    // every answered call).
    let hang_up = format!(
        "  <pause milliseconds=\"500\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    );
    ok(calls(&d, FINISHED, &hang_up), "the finished calls", &d);
    wait_ended(&db, FINISHED);

    // 100 calls up, recorded, while agents log in and out.
    let up = calls(&d, UP, &wait_bye());
    let t = Instant::now();
    while d
        .query("calls")
        .iter()
        .filter(|c| c["state"] == "answered")
        .count()
        < UP
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{UP} calls never up\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    d.wait_answers_stored(2 * UP);
    for (agent, ext) in [("2001", "1003"), ("2002", "1004")] {
        d.agent_login(agent, ext);
        d.json_lines(&["agent", "logout", agent]);
        d.agent_login(agent, ext);
    }

    let before = committed(&db);
    assert_eq!(before.ended.len(), FINISHED, "{:?}", before.ended);
    assert!(
        before.recordings.len() >= FINISHED,
        "{:?}",
        before.recordings
    );
    assert!(
        !before.acd.is_empty(),
        "the agents' changes wrote no ACD event"
    );
    d.kill9();
    let restart = Instant::now();
    let sip = d.sip_port;
    d.launch(sip);
    eprintln!(
        "durability: the box was ready again {:?} after its restart began",
        restart.elapsed()
    );

    // Every phone of a cut call is sent a BYE; the caller's sipp ends
    // only when all 100 have one.
    ok(up, "the cut calls' callers (BYE after restart)", &d);

    let after = committed(&db);
    for (uuid, row) in &before.ended {
        assert_eq!(
            after.ended.get(uuid),
            Some(row),
            "call {uuid} changed or lost"
        );
    }
    for (path, sha) in &before.recordings {
        assert_eq!(
            after.recordings.get(path),
            Some(sha),
            "recording {path} changed or lost"
        );
        assert_eq!(
            &sha256_of(path),
            sha,
            "recording {path} no longer matches its checksum"
        );
    }
    for (id, row) in &before.acd {
        assert_eq!(
            after.acd.get(id),
            Some(row),
            "ACD event {id} changed or lost"
        );
    }

    let c = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let interrupted: i64 = c
        .query_row(
            "SELECT count(*) FROM calls WHERE disposition = 'interrupted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        interrupted, UP as i64,
        "the cut calls are not all interrupted"
    );
    let cut: Vec<(String, String)> = c
        .prepare(
            "SELECT r.path, r.state FROM recordings r JOIN calls c ON c.uuid = r.call_uuid
             WHERE c.disposition = 'interrupted'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(cut.len(), UP, "a cut call lost its recording row");
    for (path, state) in &cut {
        assert_eq!(state, "repaired", "{path}");
        assert!(
            readable_wav(path),
            "the cut recording {path} was not mended"
        );
    }

    // Both legs of each cut call had their BYE answered or timed out (the
    // box notes each; a call sipp aborted under load never answers, and
    // its BYE gives up after 32 s): the callee's phone is free again.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let confirmed: i64 = c
            .query_row(
                "SELECT count(*) FROM call_events WHERE kind = 'bye_after_restart'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if confirmed == 2 * UP as i64 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{confirmed} of {} legs' BYEs after the restart ended\n{}",
            2 * UP,
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // 1002 registered before the crash: the restarted box still knows
    // where it is, and a new call reaches it.
    let (good, err) = calls(&d, 1, &hang_up).wait(Duration::from_secs(40));
    assert!(
        good,
        "a call after the restart failed: {err}\n--- the callee's sipp ---\n{}\n{}\n--- pbxd log ---\n{}",
        std::fs::read_to_string(callee.log.with_extension("err")).unwrap_or_default(),
        std::fs::read_to_string(&callee.log).unwrap_or_default(),
        d.log()
    );
    wait_ended(&db, FINISHED + UP + 1);
}
