//! `bench history`: finding a citizen's calls (CTI-4) in a box that has
//! taken a million calls, as the citizen history and the desktop's pop
//! do, against the scan it replaced (issue 16).
//!
//! The calls are written by the store as pbxd writes them
//! (`Op::CallStart`, which fills the indexed `caller_key` and
//! `callee_key`), each from its own caller, plus a citizen who called 20
//! times with the number in three forms. Then webd's query
//! ([`webd::tickets::export::CITIZEN_CALLS`]) and the one it replaced (a
//! `LIKE '%key'` on both numbers, a scan of every call) are timed on the
//! same database in the same run, each answer checked to hold the
//! citizen's 20 calls.

use std::time::Instant;

use dering_store::phone;
use dering_store::{CallParties, Op, Store};

/// The query before the keys (the scan), for the baseline.
const SCAN: &str =
    "SELECT uuid, start_ms, caller, callee, COALESCE(disposition, state), billable_ms
     FROM calls WHERE caller LIKE ?1 OR callee LIKE ?1
     ORDER BY start_ms DESC LIMIT ?2";

/// The median of `runs` timings of `sql` with `arg`, in ms, and the rows.
fn time(conn: &rusqlite::Connection, sql: &str, arg: &str, runs: usize) -> (f64, usize) {
    let mut ms = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let mut st = conn.prepare_cached(sql).unwrap();
        rows = st
            .query_map(rusqlite::params![arg, 5_000], |r| r.get::<_, String>(0))
            .unwrap()
            .count();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], rows)
}

pub fn history() {
    let calls: u64 = std::env::var("BENCH_HISTORY_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dering.db");
    let mut store = Store::open(&path).unwrap();
    let t = Instant::now();
    let citizen = ["081234567890", "+6281234567890", "6281234567890"];
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..calls {
        let caller = if i % (calls / 20).max(1) == 7 {
            citizen[(i % 3) as usize].to_owned()
        } else {
            format!("08{}", 1_000_000_000 + (i * 7_919) % 8_999_999_999)
        };
        batch.push(Op::CallStart(CallParties {
            uuid: format!("c-{i}"),
            caller,
            caller_name: None,
            callee: "137".into(),
            callee_name: None,
            start_ms: 1_700_000_000_000 + i as i64 * 1_000,
            answer_ms: None,
        }));
        if batch.len() == 10_000 {
            store.apply(&batch).unwrap();
            batch.clear();
        }
    }
    store.apply(&batch).unwrap();
    drop(store);
    let written = t.elapsed().as_secs_f64();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let key = phone::key(citizen[0]);
    let (scan_ms, scan_rows) = time(&conn, SCAN, &format!("%{key}"), 5);
    let (key_ms, key_rows) = time(&conn, webd::tickets::export::CITIZEN_CALLS, &key, 101);
    println!("\n## A citizen's calls among {calls} (`bench history`)\n");
    println!("{calls} calls written through the store in {written:.1} s.\n");
    println!("| query | rows found | median |\n|---|---|---|");
    println!("| before: `LIKE '%key'` on both numbers (scan) | {scan_rows} | {scan_ms:.2} ms |");
    println!("| now: `caller_key = ? OR callee_key = ?` (indexes) | {key_rows} | {key_ms:.3} ms |");
    println!(
        "\nthe index takes {:.5}× the scan's time",
        key_ms / scan_ms.max(f64::MIN_POSITIVE)
    );
    assert_eq!(key_rows, 20, "the citizen's 20 calls in three forms");
    assert!(scan_rows >= 20, "the scan finds them too");
}
