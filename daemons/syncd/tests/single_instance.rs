//! Two syncd on one database: the real binary started twice on one data
//! directory; the second is refused while the first runs, and starts
//! once the first is gone, even after SIGKILL (the kernel drops a dead
//! process's flock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn syncd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_syncd"));
    c.arg("--config")
        .arg(dir.join("dering.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Waits (at most 20 s) for `child`'s heartbeat row: it holds the lock.
fn wait_serving(dir: &Path, child: &mut Child) {
    let t = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "syncd exited early");
        let db = dir.join("data/dering.db");
        if db.exists() {
            let store = dering_store::Store::open(&db).unwrap();
            let rows = store.daemon_statuses().unwrap();
            if rows
                .iter()
                .any(|r| r.daemon == "syncd" && r.pid == child.id() && !r.stopped)
            {
                return;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no heartbeat");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_second_syncd_on_one_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // An upstream nobody answers: the lock is all this test is about.
    std::fs::write(
        dir.path().join("dering.toml"),
        format!(
            "{}\n[sync]\nendpoint = \"http://127.0.0.1:9\"\n",
            dering_config::DEFAULT_TOML
        ),
    )
    .unwrap();
    let mut first = syncd(dir.path()).spawn().unwrap();
    wait_serving(dir.path(), &mut first);

    let mut second = syncd(dir.path()).spawn().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = second.kill();
            let _ = second.wait();
            let _ = first.kill();
            let _ = first.wait();
            panic!("a second syncd runs beside the first");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "another syncd (pid {}) delivers from this database",
            first.id()
        )),
        "{err}"
    );

    first.kill().unwrap();
    first.wait().unwrap();
    let mut third = syncd(dir.path()).spawn().unwrap();
    wait_serving(dir.path(), &mut third);
    third.kill().unwrap();
    third.wait().unwrap();
}
