//! What syncd's tests share: a box's directory with syncd configured,
//! the real binary started on it, and the wait for its first heartbeat.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Writes `dir/dering.toml`: the default configuration and a `[sync]`
/// table of `sync` (its lines, `endpoint` first). The data directory is
/// `dir/data`.
pub fn configure(dir: &Path, sync: &str) {
    std::fs::write(
        dir.join("dering.toml"),
        format!("{}\n[sync]\n{sync}\n", dering_config::DEFAULT_TOML),
    )
    .unwrap();
}

/// syncd on the box at `dir` (see [`configure`]), its output dropped.
pub fn syncd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_syncd"));
    c.arg("--config")
        .arg(dir.join("dering.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Waits (at most 20 s) for `child`'s heartbeat row: it serves (and
/// holds the database's lock).
pub fn wait_serving(dir: &Path, child: &mut Child) {
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
