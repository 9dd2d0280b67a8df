//! Two syncd on one database: the real binary started twice on one data
//! directory; the second is refused while the first runs, and starts
//! once the first is gone, even after SIGKILL (the kernel drops a dead
//! process's flock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod support;

use support::{configure, wait_serving};

/// syncd with its standard error kept: the refusal is read from it.
fn syncd(dir: &Path) -> std::process::Command {
    let mut c = support::syncd(dir);
    c.stderr(Stdio::piped());
    c
}

#[test]
fn a_second_syncd_on_one_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // An upstream nobody answers: the lock is all this test is about.
    configure(dir.path(), "endpoint = \"http://127.0.0.1:9\"");
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
