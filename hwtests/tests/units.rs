//! The systemd units (APP-2, OPS-2, MON-2): `systemd-analyze verify`
//! passes on each, `systemd-analyze security` scores them as
//! docs/systemd.md records, and every daemon binary speaks the notify
//! protocol the units rely on (READY, WATCHDOG pings, STOPPING) to a
//! real `NOTIFY_SOCKET`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hwtests::peers::free_tcp_port;
use hwtests::{dering_bin, free_udp_port, require, workspace};

fn units_dir() -> PathBuf {
    workspace().join("systemd-units")
}

fn unit_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(units_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".service") || n.ends_with(".target") || n.ends_with(".timer"))
        .collect();
    v.sort();
    v
}

/// Debian's `dahdi` package's configuration tool, which
/// `dering-dahdi.service` runs.
const DAHDI_CFG: &str = "/usr/sbin/dahdi_cfg";

/// A copy of the units whose ExecStart points at the binaries of this
/// build (verify checks that the program exists and is executable). Where
/// the `dahdi` package is not installed, `dahdi_cfg` is stood in for by
/// `true`, said on stderr: the unit's own keys and order are still
/// verified, the tool's presence is the package's.
fn units_for_this_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dering_bin();
    let bin_dir = bin.parent().unwrap();
    let dahdi_cfg = if Path::new(DAHDI_CFG).exists() {
        DAHDI_CFG.to_string()
    } else {
        eprintln!("units: {DAHDI_CFG} is not installed here; verifying dering-dahdi.service with /usr/bin/true in its place");
        "/usr/bin/true".to_string()
    };
    for name in unit_names() {
        let text = std::fs::read_to_string(units_dir().join(&name))
            .unwrap()
            .replace("/usr/lib/dering/", &format!("{}/", bin_dir.display()))
            .replace("/usr/bin/dering ", &format!("{} ", bin.display()))
            .replace(DAHDI_CFG, &dahdi_cfg);
        std::fs::write(dir.path().join(&name), text).unwrap();
    }
    dir
}

/// `systemd-analyze verify` of `units` in `dir`: its whole output (it
/// exits 0 on warnings such as unknown keys, so the output is the verdict).
fn verify(dir: &Path, units: &[String]) -> String {
    require("systemd-analyze");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(units)
        .current_dir(dir)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    format!(
        "{}{}{}",
        if out.status.success() {
            ""
        } else {
            "(failed) "
        },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_unit_verifies_and_a_broken_one_does_not() {
    let dir = units_for_this_build();
    let units = unit_names();
    assert!(units.len() >= 6, "{units:?}");
    assert!(
        units.iter().any(|u| u == "dering-dahdi.service"),
        "{units:?}"
    );
    let verdict = verify(dir.path(), &units);
    assert!(verdict.trim().is_empty(), "{verdict}");
    // The check can fail.
    let webd = dir.path().join("dering-webd.service");
    let text = std::fs::read_to_string(&webd).unwrap();
    std::fs::write(
        &webd,
        text.replace("Restart=on-failure", "Restart=on-failure\nRestartSecs=2"),
    )
    .unwrap();
    let verdict = verify(dir.path(), &["dering-webd.service".to_string()]);
    assert!(verdict.contains("RestartSecs"), "{verdict}");
}

/// `systemd-analyze security --offline=true`'s overall exposure of `unit`.
fn exposure(dir: &Path, unit: &str) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager", unit])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    line.split(':')
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn security_exposure_is_low_and_as_documented() {
    require("systemd-analyze");
    let dir = units_for_this_build();
    let doc = std::fs::read_to_string(workspace().join("docs/systemd.md")).unwrap();
    for unit in unit_names().iter().filter(|u| u.ends_with(".service")) {
        let score = exposure(dir.path(), unit);
        // systemd calls up to 2.0 "OK"; every Dering unit stays there.
        assert!(score <= 2.0, "{unit}: exposure {score}");
        let row = format!("| `{unit}` | {score:.1} |");
        assert!(
            doc.contains(&row),
            "docs/systemd.md must record `{row}` (measured now)"
        );
    }
}

/// A configuration for one daemon run on free loopback ports: the SIP
/// ports of the embedded default, a `[power]` pointing where no upsd
/// listens, an `[snmp]` pointing where no snmpd listens and a `[sync]`
/// pointing where no SIMPEL listens (each daemon must start and report,
/// not fail, without its peer).
fn config(dir: &Path) -> PathBuf {
    let sip = free_udp_port();
    let text = std::fs::read_to_string(workspace().join("crates/config/src/default.toml"))
        .unwrap()
        .replace("udp_port = 5060", &format!("udp_port = {sip}"))
        .replace("tcp_port = 5060", &format!("tcp_port = {sip}"))
        .replace(
            "tls_port = 5061",
            &format!("tls_port = {}", free_tcp_port()),
        )
        .replace(
            "upsd = \"127.0.0.1:3493\"",
            &format!("upsd = \"127.0.0.1:{}\"", free_tcp_port()),
        )
        .replace("port = 8080", &format!("port = {}", free_tcp_port()))
        + &format!("\n[snmp]\nagentx = \"tcp:127.0.0.1:{}\"\n", free_tcp_port())
        + &format!(
            "\n[sync]\nendpoint = \"http://127.0.0.1:{}\"\n",
            free_tcp_port()
        );
    let path = dir.join("dering.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs daemon `name` as systemd would (NOTIFY_SOCKET, WATCHDOG_USEC):
/// returns what it sent before being stopped with SIGTERM, and its exit.
fn notifications(name: &str) -> (Vec<String>, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let cfg = config(dir.path());
    let bin = dering_bin().parent().unwrap().join(name);
    // systemd sets WATCHDOG_PID to the service's pid, and the daemon
    // checks it: the shell exports its own pid, then becomes the daemon.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(&bin)
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &sock_path)
        // A 1 s watchdog: pings every 0.5 s while the main loop answers.
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    // Until READY and two WATCHDOG pings, 20 s at most.
    while t.elapsed() < Duration::from_secs(20)
        && !(got.iter().any(|m: &String| m.contains("READY=1"))
            && got.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    let code = loop {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if t.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            break None;
        }
    };
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    assert!(code.is_some(), "{name} did not stop on SIGTERM\n{log}");
    (got, code)
}

#[test]
fn every_daemon_notifies_ready_pings_the_watchdog_and_stops_cleanly() {
    for name in ["pbxd", "webd", "powerd", "snmp-agent", "syncd"] {
        let (got, code) = notifications(name);
        let ready = got.iter().position(|m| m.contains("READY=1"));
        assert!(ready.is_some(), "{name}: no READY=1 in {got:?}");
        let pings = got.iter().filter(|m| m.contains("WATCHDOG=1")).count();
        assert!(pings >= 2, "{name}: {pings} watchdog pings in {got:?}");
        assert!(
            got.iter().any(|m| m.contains("STATUS=")),
            "{name}: no status line for systemctl status: {got:?}"
        );
        assert_eq!(code, Some(0), "{name}: exit on SIGTERM; sent {got:?}");
    }
}

#[test]
fn migrate_creates_the_schema_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var/lib/dering");
    for _ in 0..2 {
        let text = hwtests::dering_migrate(&data);
        let version = dering_store::Store::open(&data.join("dering.db"))
            .unwrap()
            .schema_version()
            .unwrap();
        assert!(version >= 2);
        assert!(
            text.contains(&format!("schema version {version}")),
            "{text}"
        );
    }
}
