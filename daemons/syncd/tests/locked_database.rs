//! A database held locked past the busy timeout (another daemon's long
//! write, a backup) makes syncd's writes fail with `database is locked`;
//! syncd logs it and goes on. It used to end on the first such error,
//! and under `dering up` nobody restarted it, so the outbox stayed stuck
//! (found by `bench sync`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

/// syncd's newest heartbeat, once it has one.
fn heartbeat_ms(db: &Path, pid: u32) -> Option<i64> {
    let store = dering_store::Store::open(db).ok()?;
    store
        .daemon_statuses()
        .ok()?
        .into_iter()
        .find(|r| r.daemon == "syncd" && r.pid == pid && !r.stopped)
        .map(|r| r.heartbeat_ms)
}

#[test]
fn syncd_outlives_a_database_locked_past_its_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    support::configure(dir.path(), "endpoint = \"http://127.0.0.1:9\"");
    let db = dir.path().join("data/dering.db");
    let mut syncd = support::syncd(dir.path()).spawn().unwrap();
    support::wait_serving(dir.path(), &mut syncd);

    // Every write waits 5 s (the store's busy timeout) and then fails:
    // hold the write lock for 12 s, long enough for two heartbeats.
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::sleep(Duration::from_secs(12));
    assert!(
        syncd.try_wait().unwrap().is_none(),
        "syncd ended on a locked database"
    );
    lock.execute_batch("COMMIT").unwrap();
    let released = Instant::now();
    let before = heartbeat_ms(&db, syncd.id()).unwrap_or(0);
    // It writes its heartbeat again once the lock is gone.
    loop {
        if heartbeat_ms(&db, syncd.id()).is_some_and(|h| h > before) {
            break;
        }
        assert!(syncd.try_wait().unwrap().is_none(), "syncd exited");
        assert!(
            released.elapsed() < Duration::from_secs(20),
            "no heartbeat after the lock was released"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = syncd.kill();
    let _ = syncd.wait();
}
