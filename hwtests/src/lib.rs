//! Harness for system tests: starts the real `dering` binary on loopback
//! with its own data directory and ports, and drives real peers against it.
//! Peers are installed by `.ci/run` (see README); a missing peer fails the
//! test with the command that installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub mod baresip;
pub mod browser;
pub mod fragments;
pub mod pcap;
pub mod peers;
pub mod phone;
pub mod ports;
pub mod raw;
pub mod shell_thread;
pub mod tls;
pub mod web;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `dering migrate --data-dir DATA`, as the package's postinst and
/// `dering-migrate.service` run it; fails the test unless it succeeds,
/// and returns what it printed.
pub fn dering_migrate(data: &Path) -> String {
    let out = Command::new(dering_bin())
        .args(["migrate", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "dering migrate: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `dering` binary built for this test run (`DERING_BIN` overrides;
/// the bench sets it to the release build).
pub fn dering_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DERING_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("dering");
        if p.exists() {
            return p;
        }
    }
    panic!("dering binary not built: run `cargo build -p dering` first (.ci/run does)");
}

pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is not installed: run `bash .ci/install-peers` (the README's test command does)"
    );
}

/// An even port free for UDP and TCP, with the next three free for UDP
/// (sipp's RTCP and video ports), below the ephemeral range ([`ports`]):
/// for every port a test hands a peer.
pub fn free_udp_port() -> u16 {
    ports::pair()
}

static RTP_BLOCK: AtomicU16 = AtomicU16::new(0);

/// A running box.
#[derive(Debug)]
pub struct Dering {
    pub child: Option<Child>,
    pub data: tempfile::TempDir,
    pub config: PathBuf,
    pub sip_port: u16,
    pub tls_port: u16,
    /// webd's address (`/health`, `/metrics`).
    pub http: String,
    /// Further arguments to `dering up` (`--upsd`, `--agentx`, ...);
    /// `@DATA@` in them stands for the data directory.
    pub extra_args: Vec<String>,
}

/// A DID 170 routed to the flow `antrian` ([`Dering::publish_queue_flow`]),
/// to be appended to a box's configuration.
pub const DID_170_TO_QUEUE: &str = "\n[[did]]\nnumber = \"170\"\nflow = \"antrian\"\n";

impl Dering {
    /// Starts a box on a fresh data directory.
    pub fn start() -> Dering {
        Self::start_with(|text| text)
    }

    /// Starts a box whose configuration (the embedded default, with this
    /// box's RTP range) is first passed through `edit`.
    pub fn start_with(edit: impl FnOnce(String) -> String) -> Dering {
        Self::start_with_args(edit, &[])
    }

    /// Like [`Dering::start_with`], with further `dering up` arguments.
    pub fn start_with_args(edit: impl FnOnce(String) -> String, args: &[String]) -> Dering {
        let data = tempfile::tempdir().unwrap();
        // Each box gets its own RTP range so tests can run side by side,
        // below the peers' ports (`ports::PEER_START`).
        let block = RTP_BLOCK.fetch_add(1, Ordering::SeqCst) + (std::process::id() % 16) as u16 * 8;
        let lo = 10_000 + (block % 50) * 200;
        let text = std::fs::read_to_string(workspace().join("crates/config/src/default.toml"))
            .unwrap()
            .replace("rtp_port_min = 20000", &format!("rtp_port_min = {lo}"))
            .replace(
                "rtp_port_max = 29999",
                &format!("rtp_port_max = {}", lo + 199),
            )
            .replace("no_answer_seconds = 30", "no_answer_seconds = 8");
        let config = data.path().join("dering.toml");
        std::fs::write(&config, edit(text)).unwrap();
        let mut d = Dering {
            child: None,
            data,
            config,
            sip_port: 0,
            tls_port: 0,
            http: String::new(),
            extra_args: args.to_vec(),
        };
        d.launch(0);
        d
    }

    /// (Re)starts the process on `port` (0: any).
    pub fn launch(&mut self, port: u16) {
        let mut child = Command::new(dering_bin())
            .args(["up", "--data-dir"])
            .arg(self.data.path())
            .arg("--config")
            .arg(&self.config)
            .args(["--sip-port", &port.to_string(), "--http-port", "0"])
            .args(
                self.extra_args
                    .iter()
                    .map(|a| a.replace("@DATA@", &self.data.path().display().to_string())),
            )
            .env(
                "DERING_LOG",
                std::env::var("DERING_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.data.path().join("pbxd.log"))
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let ready = loop {
            let Some(Ok(line)) = lines.next() else {
                // Why it stopped is in its log: say it here, or a flake
                // that a rerun does not repeat leaves nothing to go on.
                let log =
                    std::fs::read_to_string(self.data.path().join("pbxd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "dering exited before ready; the end of its log:\n{}",
                    tail.join("\n")
                );
            };
            if line.starts_with("ready") {
                break line;
            }
        };
        // ready sip udp:127.0.0.1:PORT tcp:... tls:...
        let udp = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("udp:"))
            .unwrap();
        let port_of = |w: &str| -> u16 { w.rsplit(':').next().unwrap().parse().unwrap() };
        self.sip_port = port_of(udp);
        self.tls_port = port_of(
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix("tls:"))
                .unwrap(),
        );
        self.http = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http:"))
            .unwrap()
            .to_string();
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    pub fn tls_addr(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    pub fn dir(&self) -> &Path {
        self.data.path()
    }

    /// Ctrl-C, as an operator would.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if c.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            panic!("dering did not stop on SIGINT within 10 s");
        }
    }

    /// Waits for `dering` to exit on its own (after a power-off) and
    /// returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let mut c = self.child.take().expect("dering is not running");
        let t = Instant::now();
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code();
            }
            if t.elapsed() > limit {
                let _ = c.kill();
                let _ = c.wait();
                panic!("dering did not exit within {limit:?}\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `dering` is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Waits (10 s at most) until `n` calls are up and all answered.
    pub fn wait_answered(&self, n: usize) {
        let t = Instant::now();
        loop {
            let calls = self.query("calls");
            if calls.len() == n && calls.iter().all(|c| c["state"] == "answered") {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{n} answered calls expected, have {calls:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (10 s at most) until `dering calls` lists a call `is` says
    /// yes to; `what` names it in the panic, with the calls and the log.
    pub fn wait_call(&self, what: &str, is: impl Fn(&serde_json::Value) -> bool) {
        let listed = poll_until(Duration::from_secs(10), || {
            self.query("calls").iter().any(&is)
        });
        assert!(
            listed,
            "{what} never listed: {:?}\n{}",
            self.query("calls"),
            self.log()
        );
    }

    /// Waits until `legs` answered legs' dialogs are on disk. "Answered"
    /// shows in `dering calls` before the answer's writes are committed;
    /// the dialogs are written in the same flush as the answer, before
    /// the caller's 200 OK is sent (decision 0028), so a kill after this
    /// finds the answer recorded.
    pub fn wait_answers_stored(&self, legs: usize) {
        let until = Instant::now() + Duration::from_secs(10);
        let store = dering_store::Store::open(&self.dir().join("dering.db")).unwrap();
        while store.stored_dialogs().unwrap().len() < legs {
            assert!(
                Instant::now() < until,
                "{legs} answered legs never stored\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The kinds of the power events stored so far, oldest first.
    pub fn power_events(&self) -> Vec<String> {
        dering_store::Store::open(&self.dir().join("dering.db"))
            .unwrap()
            .power_events(0)
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.kind)
            .collect()
    }

    /// Waits (20 s at most) until power event `kind` is stored.
    pub fn wait_power_event(&self, kind: &str) -> Vec<String> {
        let t = Instant::now();
        loop {
            let events = self.power_events();
            if events.iter().any(|e| e == kind) {
                return events;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no {kind} power event; stored: {events:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Runs a `dering` subcommand against this box's data directory and
    /// parses its JSON lines.
    pub fn query(&self, sub: &str) -> Vec<serde_json::Value> {
        if sub == "cdr" {
            self.json_lines(&["cdr", "--json"])
        } else {
            self.json_lines(&[sub])
        }
    }

    /// Follows the box's event stream (`dering events --json`) into `out`
    /// from the event after the current snapshot's `seq`: every event
    /// from this call on reaches `out`, however long the follower takes
    /// to subscribe (the box keeps recent events for replay).
    pub fn follow_events(&self, out: impl Into<Stdio>) -> Child {
        let snapshot = self.json_lines(&["snapshot"]);
        let seq = snapshot
            .first()
            .and_then(|s| s["seq"].as_u64())
            .unwrap_or_else(|| panic!("a snapshot with its seq: {snapshot:?}"));
        Command::new(dering_bin())
            .args(["events", "--json", "--from-seq", &(seq + 1).to_string()])
            .arg("--data-dir")
            .arg(self.dir())
            .stdout(out)
            .spawn()
            .unwrap()
    }

    /// Publishes `antrian`, the flow that puts a caller straight into queue
    /// `pengaduan` (goodbye and hang up if the queue gives up): the flow of
    /// [`DID_170_TO_QUEUE`], which the box's configuration must carry.
    pub fn publish_queue_flow(&self) {
        let flow = self.dir().join("antrian.json");
        std::fs::write(
            &flow,
            r#"{"name": "antrian", "language": "id", "start": "q",
                "nodes": {
                  "q": {"type": "queue", "queue": "pengaduan", "on_fail": "bye"},
                  "bye": {"type": "play", "prompts": ["goodbye"], "next": "end"},
                  "end": {"type": "hangup"}}}"#,
        )
        .unwrap();
        self.json_lines(&["publish-flow", flow.to_str().unwrap()]);
    }

    /// `dering ARGS --data-dir DIR`: its output, one JSON value a line.
    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = Command::new(dering_bin())
            .args(args)
            .arg("--data-dir")
            .arg(self.dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dering {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Call records, waiting until `n` have ended (they are written before
    /// the final response, so this returns at once in practice).
    pub fn ended_calls(&self, n: usize) -> Vec<serde_json::Value> {
        let t = Instant::now();
        loop {
            let calls: Vec<_> = self
                .query("cdr")
                .into_iter()
                .filter(|c| c["state"] == "ended")
                .collect();
            if calls.len() >= n || t.elapsed() > Duration::from_secs(5) {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the box lists `n` registrations (a phone may report
    /// its registration before the box has it stored).
    pub fn wait_registered(&self, n: usize) -> Vec<serde_json::Value> {
        let t = Instant::now();
        loop {
            let regs = self.query("registrations");
            if regs.len() >= n {
                return regs;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{regs:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Logs `agent` in at phone `extension` with the demo PIN, through
    /// the control socket (`dering agent login`).
    pub fn agent_login(&self, agent: &str, extension: &str) {
        self.json_lines(&[
            "agent",
            "login",
            agent,
            "--pin",
            "1234",
            "--extension",
            extension,
        ]);
    }

    /// Agent `id` as `dering agents --json` shows it.
    pub fn agent(&self, id: &str) -> serde_json::Value {
        self.json_lines(&["agents", "--json"])
            .into_iter()
            .find(|a| a["agent"] == id)
            .unwrap_or_else(|| panic!("no agent {id}"))
    }

    /// The details of call `uuid`'s events of `kind` (`forwarded`,
    /// `transferred`, `monitor`, ...), in order.
    pub fn call_events(&self, uuid: &str, kind: &str) -> Vec<String> {
        let store = dering_store::Store::open(&self.dir().join("dering.db")).unwrap();
        store
            .call_events(uuid)
            .unwrap()
            .into_iter()
            .filter(|e| e.1 == kind)
            .filter_map(|e| e.2)
            .collect()
    }

    /// The relay's RTP counters of call `uuid`, from the "media" event
    /// pbxd records when the call's media closes (`rtp_from_caller`, ...).
    pub fn media_counts(&self, uuid: &str) -> std::collections::HashMap<String, u64> {
        let t = Instant::now();
        loop {
            let store = dering_store::Store::open(&self.dir().join("dering.db")).unwrap();
            let events = store.call_events(uuid).unwrap();
            if let Some(detail) = events
                .iter()
                .find(|e| e.1 == "media")
                .and_then(|e| e.2.clone())
            {
                return detail
                    .split(' ')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                    .collect();
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "no media event for {uuid}: {events:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("pbxd.log")).unwrap_or_default()
    }
}

impl Drop for Dering {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // DERING_KEEP=1 keeps the data directory (logs, scenarios, database)
        // of every box for a post-mortem.
        if std::env::var_os("DERING_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// Writes a scenario from `hwtests/scenarios/NAME` with `@KEY@` replaced.
pub fn scenario(dir: &Path, name: &str, subs: &[(&str, &str)]) -> PathBuf {
    let mut text =
        std::fs::read_to_string(workspace().join("hwtests/scenarios").join(name)).unwrap();
    for (k, v) in subs {
        let placeholder = format!("@{k}@");
        assert_eq!(
            text.matches(&placeholder).count(),
            1,
            "{name}: {placeholder} must occur once"
        );
        text = text.replace(&placeholder, v);
    }
    let path = dir.join(format!("{}-{}", rand_suffix(), name));
    std::fs::write(&path, text).unwrap();
    path
}

fn rand_suffix() -> u64 {
    static N: AtomicU16 = AtomicU16::new(0);
    u64::from(N.fetch_add(1, Ordering::SeqCst)) * 1000 + u64::from(std::process::id())
}

/// A sipp run; `wait` returns its exit status and output.
#[derive(Debug)]
pub struct Sipp {
    pub child: Child,
    pub log: PathBuf,
}

impl Sipp {
    pub fn spawn(dir: &Path, args: &[String]) -> Sipp {
        require("sipp");
        let log = dir.join(format!("sipp-{}.log", rand_suffix()));
        let child = Command::new("sipp")
            .args(args)
            .args(["-nostdin", "-trace_err", "-error_file"])
            .arg(log.with_extension("err"))
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Sipp { child, log }
    }

    /// Waits at most `limit`; kills sipp past it.
    pub fn wait(mut self, limit: Duration) -> (bool, String) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let err =
                    std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
                return (st.success(), err);
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let err =
                    std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
                return (false, format!("sipp timed out\n{err}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A sipp left running when its test ends (a failed assertion) is
/// stopped rather than left to its own timeout.
impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `-au`/`-ap` for a demo extension's digest credentials.
pub fn credentials(ext: &str) -> Vec<String> {
    ["-au", ext, "-ap", &format!("demo-{ext}")]
        .map(String::from)
        .to_vec()
}

/// A sipp phone on 127.0.0.1:`port` with its own media port, running the
/// scenario file `sf` once; `extra` are further sipp arguments.
pub fn phone(d: &Dering, sf: &Path, port: u16, extra: &[String]) -> Sipp {
    let mut args: Vec<String> = ["-sf", &sf.display().to_string(), "-i", "127.0.0.1"]
        .map(String::from)
        .to_vec();
    args.extend([
        "-p".into(),
        port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
    ]);
    args.extend(["-mp".into(), (free_udp_port() & !1).to_string()]);
    args.extend(["-m", "1", "-timeout", "30"].map(String::from));
    args.extend_from_slice(extra);
    Sipp::spawn(d.dir(), &args)
}

/// sipp as a SIP carrier on `port` answering the box's INVITE with
/// `behaviour` (a `uas.xml` body), echoing RTP, and tracing every message
/// it receives and sends into the returned file; waits until it listens.
pub fn sipp_carrier(d: &Dering, port: u16, behaviour: &str) -> (Sipp, PathBuf) {
    let sf = scenario(d.dir(), "uas.xml", &[("BEHAVIOUR", behaviour)]);
    let trace = d.dir().join(format!("carrier-{port}-messages.log"));
    let extra = [
        "-rtp_echo".to_string(),
        "-trace_msg".to_string(),
        "-message_file".to_string(),
        trace.display().to_string(),
    ];
    let s = phone(d, &sf, port, &extra);
    wait_bound(port, Duration::from_secs(10));
    (s, trace)
}

/// Registers extension `ext` from local port `port` with sipp.
pub fn register(d: &Dering, ext: &str, port: u16, expires: u32) {
    let sf = scenario(d.dir(), "register.xml", &[]);
    let mut extra = vec![d.addr()];
    extra.extend(["-key", "me", ext, "-key", "exp"].map(String::from));
    extra.push(expires.to_string());
    extra.extend(credentials(ext));
    let (ok, err) = phone(d, &sf, port, &extra).wait(Duration::from_secs(15));
    assert!(ok, "sipp REGISTER of {ext} failed: {err}\n{}", d.log());
}

/// A callee phone answering on `port` as the `uas.xml` template with
/// `behaviour` says, echoing RTP.
pub fn callee_on(d: &Dering, port: u16, behaviour: &str) -> Sipp {
    let sf = scenario(d.dir(), "uas.xml", &[("BEHAVIOUR", behaviour)]);
    let s = phone(d, &sf, port, &["-rtp_echo".to_string()]);
    wait_bound(port, Duration::from_secs(10));
    s
}

/// The wall clock in Unix milliseconds, as the box stamps its rows.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Polls `done` every 20 ms until it holds (true) or `limit` passes
/// (false).
pub fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits until something holds UDP `port` (sipp starting up: under load it
/// took seconds, and a fixed pause let the box's INVITE find no phone), at
/// most `limit`. Reads `/proc/net/udp` rather than trying to bind the
/// port, which could take it from under the starting peer.
pub fn wait_bound(port: u16, limit: Duration) {
    let hex = format!(":{port:04X} ");
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        let bound = std::fs::read_to_string("/proc/net/udp").is_ok_and(|t| {
            t.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| format!("{a} ").ends_with(&hex))
            })
        });
        if bound {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Extension `ext` registered from a fresh port, then answering there as
/// [`callee_on`] does.
pub fn callee(d: &Dering, ext: &str, behaviour: &str) -> Sipp {
    let port = free_udp_port();
    register(d, ext, port, 300);
    callee_on(d, port, behaviour)
}

/// Waits (40 s at most) for sipp run `s` to succeed; fails the test with
/// sipp's errors and the box's log otherwise.
pub fn ok(s: Sipp, what: &str, d: &Dering) {
    let (ok, err) = s.wait(Duration::from_secs(40));
    assert!(ok, "{what} failed: {err}\n--- pbxd log ---\n{}", d.log());
}

/// Extension `ext` calling `callee` through the box; the `uac.xml` template
/// continues after the INVITE with `after_invite`.
pub fn caller(d: &Dering, ext: &str, callee: &str, after_invite: &str) -> Sipp {
    caller_over(d, "u1", ext, callee, after_invite)
}

/// [`caller`] over sipp transport `transport` (`u1` UDP, `t1` TCP).
pub fn caller_over(
    d: &Dering,
    transport: &str,
    ext: &str,
    callee: &str,
    after_invite: &str,
) -> Sipp {
    let sf = scenario(d.dir(), "uac.xml", &[("AFTER_INVITE", after_invite)]);
    let mut extra = vec![d.addr(), "-t".to_string(), transport.to_string()];
    extra.extend(["-s", callee, "-key", "me", ext].map(String::from));
    extra.extend(credentials(ext));
    phone(d, &sf, free_udp_port(), &extra)
}
