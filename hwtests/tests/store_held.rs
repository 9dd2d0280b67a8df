//! A database that will not take writes stops neither the calls nor
//! their records (issue 17 §6, OPS-1). Here another program holds
//! SQLite's write lock past pbxd's busy timeout (an admin's `sqlite3`
//! shell left in a transaction); a full data partition takes the same
//! path through the writer (`SQLITE_FULL` instead of `SQLITE_BUSY`, shown
//! by the store's writer tests). A call made meanwhile is answered and
//! hung up as usual, `/health` warns that records are held in memory,
//! and once the lock is gone the call's record lands, whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, ok, Dering};

fn health(d: &Dering) -> serde_json::Value {
    let (_, body) = hwtests::peers::http_get(&d.http, "/health");
    serde_json::from_str(&body).unwrap()
}

fn held_warning(h: &serde_json::Value) -> bool {
    h["warnings"].as_array().is_some_and(|w| {
        w.iter().any(|w| {
            w.as_str()
                .is_some_and(|w| w.starts_with("database not writable"))
        })
    })
}

#[test]
fn a_call_made_while_the_database_is_locked_is_answered_and_recorded_after() {
    let d = Dering::start();
    let uas = callee(&d, "1003", &format!("{}{}", uas_answer(), wait_bye()));
    // Registered before the lock; from here no write of pbxd's commits.
    let lock = rusqlite::Connection::open(d.dir().join("dering.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let uac = caller(
        &d,
        "1004",
        "1003",
        &uac_answered_then(&format!(
            "  <pause milliseconds=\"1000\"/>\n{}  <recv response=\"200\"/>\n",
            caller_request("BYE", 3)
        )),
    );
    ok(
        uac,
        "caller (answered and hung up with the database locked)",
        &d,
    );
    ok(uas, "callee", &d);
    assert!(
        d.query("cdr").is_empty(),
        "nothing can be stored while the lock is held"
    );
    let h = health(&d);
    assert!(held_warning(&h), "{h}");

    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "caller", "{c}");
    assert_eq!(c["caller"], "1004", "{c}");
    // The warning clears once the held records are in.
    let t = Instant::now();
    while held_warning(&health(&d)) {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the warning stayed: {}",
            health(&d)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
