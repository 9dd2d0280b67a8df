//! `bench sync`: what syncd's bookkeeping costs on the way to SIMPEL
//! (SYNC-1, issue 16), and how long it takes to catch up after an outage.
//!
//! Tickets are written into the box's database as webd writes them
//! (`Store::create_ticket`: the ticket and its outbox row in one
//! transaction), and syncd (the release binary, as `dering up` runs it)
//! delivers them to simpel-sim. Between the two sits a tap in this
//! process: a TCP relay that notes, for every answer, the moment its
//! first byte left the simulator (after the simulator committed the
//! write) and the request's `Idempotency-Key`. Commit and accept are
//! then both read on this process's clock.
//!
//! - drain: a backlog written while syncd is stopped, then syncd started;
//!   tickets/s from the first accept to the last. The baseline is a plain
//!   HTTP client POSTing the same bodies to a second simulator through a
//!   tap of its own, as many at once as syncd (`max_in_flight`), one
//!   connection per request as syncd does: what the simulator accepts
//!   with no outbox behind it.
//! - paced: tickets written at `--rate` while syncd runs; the delay from
//!   each commit to the simulator's accept, p50/p99, beside the plain
//!   client's POST at the same moments.
//! - catch-up: the simulator answers 503 to everything while a 1-hour
//!   outage's tickets are written at full speed (`--outage-tickets`,
//!   10,000: every call of the design's peak hour a ticket), kept down
//!   for `--outage-seconds` (40) more, then brought back; the time until the
//!   outbox is empty, and afterwards every ticket the box wrote is in the
//!   simulator exactly once.
//!
//! Returns false when a ticket is missing, duplicated, or not delivered
//! in time (bounded: `DRAIN_LIMIT` per phase).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dering_store::tickets::{Level, NewTicket, Sla};
use dering_store::Store;
use hwtests::{free_udp_port, Dering};
use serde_json::{json, Value};

use super::{clk_tck, cpu_ticks};

/// The simulator's API key (it refuses requests without it).
const KEY: &str = "bench-k3y";
/// The longest a phase may take to deliver its tickets: the catch-up's
/// worst case is the breaker's 30 s plus a row's 300 s backoff, then the
/// drain.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// The run's sizes: `--drain-tickets`, `--paced-tickets`, `--rate`,
/// `--outage-tickets`, `--outage-seconds`, `--in-flight`.
#[derive(Debug, Clone, Copy)]
struct Scale {
    drain: usize,
    paced: usize,
    rate: f64,
    outage: usize,
    outage_seconds: u64,
    in_flight: u32,
}

impl Scale {
    fn from_args() -> Scale {
        let args: Vec<String> = std::env::args().collect();
        let arg = |name: &str, default: u64| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Scale {
            drain: arg("--drain-tickets", 2_000) as usize,
            paced: arg("--paced-tickets", 300) as usize,
            rate: arg("--rate", 10) as f64,
            outage: arg("--outage-tickets", 10_000) as usize,
            outage_seconds: arg("--outage-seconds", 40),
            // `[sync] max_in_flight`'s default.
            in_flight: arg("--in-flight", 4) as u32,
        }
    }
}

// ---- the tap ------------------------------------------------------------

/// One answer seen by a tap.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    status: u16,
    key: String,
}

/// A TCP relay on 127.0.0.1 in front of a simulator that notes every
/// answer ([`Seen`]). Its tokio runtime lives as long as it does.
struct Tap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

impl Tap {
    fn start(upstream: SocketAddr) -> Tap {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = relay(client, upstream, log).await;
                });
            }
        });
        Tap {
            addr,
            seen,
            _rt: rt,
        }
    }

    /// The answers seen so far.
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Relays one connection both ways; the first bytes of the answer are
/// noted with the request's idempotency key.
async fn relay(
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    log: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = tokio::net::TcpStream::connect(upstream).await?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let key: Arc<Mutex<String>> = Arc::default();
    let k = key.clone();
    let up = async move {
        let mut head = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if head.len() < 8 * 1024 {
                head.extend_from_slice(&buf[..n]);
                if let Some(found) = header(&head, "idempotency-key") {
                    *k.lock().unwrap() = found;
                }
            }
            sw.write_all(&buf[..n]).await?;
        }
        sw.shutdown().await
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut first = true;
        loop {
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if first {
                first = false;
                let at = Instant::now();
                let status = std::str::from_utf8(buf.get(9..12).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let key = key.lock().unwrap().clone();
                log.lock().unwrap().push(Seen { at, status, key });
            }
            cw.write_all(&buf[..n]).await?;
        }
        cw.shutdown().await
    };
    let (a, b) = tokio::join!(up, down);
    a.and(b)
}

/// A header's value in a request's head (names compared without case).
fn header(head: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let end = text.find("\r\n\r\n")?;
    text[..end].split("\r\n").find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

// ---- the simulator ------------------------------------------------------

struct Sim {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release build's sibling binary `name` (syncd, simpel-sim).
fn sibling(name: &str) -> PathBuf {
    let p = hwtests::dering_bin().with_file_name(name);
    assert!(
        p.exists(),
        "{} not built: cargo build --release -p syncd -p simpel-sim",
        p.display()
    );
    p
}

fn start_sim(db: &Path) -> Sim {
    let mut child = Command::new(sibling("simpel-sim"))
        .args(["--listen", "127.0.0.1:0", "--api-key", KEY, "--db"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("simpel-sim said {line:?}"))
        .parse()
        .unwrap();
    Sim { child, addr }
}

/// One blocking request, one connection: status and JSON answer.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> (u16, Value) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, Value::Null);
    };
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let sent = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut raw = Vec::new();
    if sent.is_err() || s.read_to_end(&mut raw).is_err() {
        return (0, Value::Null);
    }
    let text = String::from_utf8_lossy(&raw);
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return (0, Value::Null);
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(rest).unwrap_or(Value::Null))
}

/// Every request of the simulator's API answered 503 (`down`) or none.
fn set_down(sim: SocketAddr, down: bool) {
    let plan = if down {
        json!({"seed": 1, "percent": 100, "faults": ["status503"]})
    } else {
        json!({})
    };
    let (status, _) = http(sim, "PUT", "/admin/faults", "", &plan.to_string());
    assert_eq!(status, 204, "PUT /admin/faults");
}

// ---- the tickets ----------------------------------------------------------

fn new_ticket(i: usize) -> NewTicket {
    NewTicket {
        reporter_name: format!("Pelapor {i}"),
        reporter_phone: format!("0812{i:08}"),
        reporter_email: format!("pelapor{i}@contoh.id"),
        category: "pengaduan".into(),
        description: format!("laporan {i}: pelayanan publik yang tertunda"),
        urgency: Level::Medium,
        impact: Level::High,
        unit: "KU Dumas".into(),
        queue: Some("pengaduan".into()),
        assignee: None,
        call_ids: vec![format!("call-{i}")],
        recordings: Vec::new(),
    }
}

/// The body the default create template makes of [`new_ticket`]`(i)`:
/// what the plain client POSTs.
fn plain_body(i: usize) -> String {
    json!({
        "external_ref": format!("BASE-{i}"),
        "reporter": {"name": format!("Pelapor {i}"), "phone": format!("0812{i:08}"), "email": format!("pelapor{i}@contoh.id")},
        "category": "pengaduan",
        "description": format!("laporan {i}: pelayanan publik yang tertunda"),
        "priority": "high",
        "status": "open",
        "unit": "KU Dumas",
        "calls": [format!("call-{i}")],
    })
    .to_string()
}

/// Writes tickets `from..to`, each at `pace(i)` after `t0` when given
/// (else at once); each ticket number's commit instant.
fn write_tickets(
    store: &mut Store,
    from: usize,
    to: usize,
    pace: Option<f64>,
) -> HashMap<String, Instant> {
    let t0 = Instant::now();
    let mut commits = HashMap::new();
    for i in from..to {
        if let Some(rate) = pace {
            let due = t0 + Duration::from_secs_f64((i - from) as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let t = store
            .create_ticket(&new_ticket(i), "bench", &Sla::default(), hwtests::wall_ms())
            .unwrap();
        commits.insert(t.number, Instant::now());
    }
    commits
}

/// Waits (bounded) until the outbox holds nothing pending; when it was
/// empty, or None. A syncd that exited meanwhile is reported with its
/// last words and started again, as a supervisor would.
fn drained(store: &Store, since: Instant, syncd: &mut Syncd) -> Option<Instant> {
    loop {
        let c = store.outbox_counts().unwrap();
        if c.pending == 0 {
            return Some(Instant::now());
        }
        syncd.restart_if_gone();
        if since.elapsed() > DRAIN_LIMIT {
            eprintln!("bench sync: outbox not empty after {DRAIN_LIMIT:?}: {c:?}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ticket number in a syncd key (`dering:<number>:<seq>`).
fn number_of(key: &str) -> Option<&str> {
    key.strip_prefix("dering:")?
        .rsplit_once(':')
        .map(|(n, _)| n)
}

/// The first 2xx answer per ticket number among `seen`.
fn accepts(seen: &[Seen]) -> HashMap<String, Instant> {
    let mut out = HashMap::new();
    for s in seen {
        if (200..300).contains(&s.status) {
            if let Some(n) = number_of(&s.key) {
                out.entry(n.to_string()).or_insert(s.at);
            }
        }
    }
    out
}

/// Milliseconds from each commit to its accept, sorted.
fn delays(commits: &HashMap<String, Instant>, accepted: &HashMap<String, Instant>) -> Vec<f64> {
    let mut d: Vec<f64> = commits
        .iter()
        .filter_map(|(n, c)| {
            accepted
                .get(n)
                .map(|a| a.duration_since(*c).as_secs_f64() * 1e3)
        })
        .collect();
    d.sort_by(f64::total_cmp);
    d
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Tickets per second from the first accept to the last.
fn rate_of(at: &[Instant]) -> f64 {
    match (at.iter().min(), at.iter().max()) {
        (Some(a), Some(b)) if b > a => (at.len() - 1) as f64 / b.duration_since(*a).as_secs_f64(),
        _ => f64::NAN,
    }
}

/// The plain client: `n` POSTs to the simulator behind `tap`, `at_once`
/// threads each sending its share one after another (at `pace` per
/// second in all when given); each POST's start instant by key.
fn plain_client(
    tap: SocketAddr,
    from: usize,
    n: usize,
    at_once: usize,
    pace: Option<f64>,
) -> HashMap<String, Instant> {
    let t0 = Instant::now();
    let threads: Vec<_> = (0..at_once)
        .map(|k| {
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                for i in (from + k..from + n).step_by(at_once) {
                    if let Some(rate) = pace {
                        let due = t0 + Duration::from_secs_f64((i - from) as f64 / rate);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    let key = format!("dering:BASE-{i}:1");
                    let start = Instant::now();
                    let (status, _) = http(
                        tap,
                        "POST",
                        "/api/v1/tickets",
                        &format!("Idempotency-Key: {key}\r\nX-API-Key: {KEY}\r\n"),
                        &plain_body(i),
                    );
                    assert_eq!(status, 201, "the plain client's POST {i}");
                    sent.push((format!("BASE-{i}"), start));
                }
                sent
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

/// syncd, killed when dropped (the run's end, or a phase that failed).
struct Syncd {
    child: Child,
    config: PathBuf,
    data: PathBuf,
    /// Its stderr (warnings and errors), appended across restarts.
    log: PathBuf,
    /// Why each earlier syncd exited on its own.
    exits: Vec<String>,
}

impl Drop for Syncd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Syncd {
    fn start(config: &Path, data: &Path) -> Syncd {
        let log = data.join("syncd-bench.log");
        Syncd {
            child: spawn_syncd(config, data, &log),
            config: config.to_path_buf(),
            data: data.to_path_buf(),
            log,
            exits: Vec::new(),
        }
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    /// When syncd has exited: notes its status and last log line, and
    /// starts another.
    fn restart_if_gone(&mut self) {
        let Ok(Some(status)) = self.child.try_wait() else {
            return;
        };
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let why = format!("{status}: {last}");
        eprintln!("bench sync: syncd exited ({why}); starting it again");
        self.exits.push(why);
        self.child = spawn_syncd(&self.config, &self.data, &self.log);
    }
}

fn spawn_syncd(config: &Path, data: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(sibling("syncd"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

/// Runs the three phases and prints their tables; false when a ticket
/// was lost, duplicated or late beyond the bound.
pub fn sync() -> bool {
    let scale = Scale::from_args();
    let Scale {
        drain,
        paced,
        rate,
        outage,
        outage_seconds,
        in_flight,
    } = scale;
    let tmp = tempfile::tempdir().unwrap();
    let sim = start_sim(&tmp.path().join("sim.db"));
    let plain_sim = start_sim(&tmp.path().join("plain-sim.db"));
    let tap = Tap::start(sim.addr);
    let plain_tap = Tap::start(plain_sim.addr);
    // The box without `[sync]` (so `dering up` runs no syncd of its own);
    // the bench's syncd reads the box's configuration plus `[sync]`.
    let https = free_udp_port();
    let d = Dering::start_with_args(|t| t, &["--https-port".into(), https.to_string()]);
    let config = tmp.path().join("syncd.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(&d.config).unwrap()
            + &format!(
                "\n[sync]\nendpoint = \"http://{}/api/v1\"\nauth = \"api_key\"\napi_key = \"{KEY}\"\nmax_in_flight = {in_flight}\n",
                tap.addr
            ),
    )
    .unwrap();
    let data = d.dir().to_path_buf();
    let mut store = Store::open(&data.join("dering.db")).unwrap();
    let mut ok = true;

    // Drain: the plain client, then syncd on a backlog.
    let plain_sent = plain_client(plain_tap.addr, 0, drain, in_flight as usize, None);
    let plain_seen = plain_tap.seen();
    let plain_rate = rate_of(&plain_seen.iter().map(|s| s.at).collect::<Vec<_>>());
    let sim_pid = |s: &Sim| s.child.id();
    let commits = write_tickets(&mut store, 0, drain, None);
    let c0 = cpu_ticks(sim_pid(&sim));
    let t_start = Instant::now();
    let mut syncd = Syncd::start(&config, &data);
    let s0 = cpu_ticks(syncd.id());
    let Some(t_empty) = drained(&store, t_start, &mut syncd) else {
        return false;
    };
    let syncd_cores = (cpu_ticks(syncd.id()) - s0) as f64
        / clk_tck()
        / t_empty.duration_since(t_start).as_secs_f64();
    let sim_cores = (cpu_ticks(sim_pid(&sim)) - c0) as f64
        / clk_tck()
        / t_empty.duration_since(t_start).as_secs_f64();
    let accepted = accepts(&tap.seen());
    let drain_at: Vec<Instant> = commits
        .keys()
        .filter_map(|n| accepted.get(n).copied())
        .collect();
    let syncd_rate = rate_of(&drain_at);
    ok &= drain_at.len() == drain;
    println!(
        "\n## syncd to simpel-sim (drain: {drain} tickets waiting, {in_flight} requests at once)\n\n\
         | sender | tickets accepted | tickets/s (first to last accept) | from start to outbox empty | syncd cores | ratio |\n|---|---|---|---|---|---|"
    );
    println!(
        "| plain HTTP client (baseline) | {} of {drain} | {plain_rate:.0} | — | — | 1.00 |",
        plain_sent.len()
    );
    println!(
        "| syncd (outbox → simulator) | {} of {drain} | {syncd_rate:.0} | {:.1} s | {syncd_cores:.2} (simulator {sim_cores:.2}) | **{:.2}** |",
        drain_at.len(),
        t_empty.duration_since(t_start).as_secs_f64(),
        syncd_rate / plain_rate
    );

    // Paced: commit to accept while syncd runs.
    let plain_paced = plain_client(plain_tap.addr, drain, paced, in_flight as usize, Some(rate));
    let plain_d = delays(&plain_paced, &accepts(&plain_tap.seen()));
    let commits = write_tickets(&mut store, drain, drain + paced, Some(rate));
    let t = Instant::now();
    ok &= drained(&store, t, &mut syncd).is_some();
    let d_sync = delays(&commits, &accepts(&tap.seen()));
    ok &= d_sync.len() == paced;
    println!(
        "\n## syncd's delivery delay ({paced} tickets at {rate}/s)\n\n\
         | path | tickets timed | p50 | p99 | max |\n|---|---|---|---|---|"
    );
    for (label, d) in [
        (
            "plain client: POST sent → simulator's answer (baseline)",
            &plain_d,
        ),
        ("syncd: ticket committed → simulator's answer", &d_sync),
    ] {
        println!(
            "| {label} | {} of {paced} | {:.1} ms | {:.1} ms | {:.1} ms |",
            d.len(),
            pct(d, 0.5),
            pct(d, 0.99),
            d.last().copied().unwrap_or(f64::NAN)
        );
    }

    // Catch-up: the outage's tickets written while the simulator answers 503.
    set_down(sim.addr, true);
    let t_down = Instant::now();
    let seen_before = tap.seen().len();
    let from = drain + paced;
    let commits = write_tickets(&mut store, from, from + outage, None);
    let written_s = t_down.elapsed().as_secs_f64();
    // Down `outage_seconds` more once the backlog is written: longer than
    // the breaker's 30 s, so syncd meets the return with its breaker open
    // and its probes' rows backed off, as after a long outage.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(outage_seconds) {
        syncd.restart_if_gone();
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = store.outbox_counts().unwrap();
    let probes = tap.seen().len() - seen_before;
    set_down(sim.addr, false);
    let t_back = Instant::now();
    syncd.restart_if_gone();
    let empty = drained(&store, t_back, &mut syncd);
    ok &= empty.is_some();
    let seen = tap.seen();
    let accepted = accepts(&seen);
    let mut at: Vec<Instant> = commits
        .keys()
        .filter_map(|n| accepted.get(n).copied())
        .collect();
    at.sort();
    let first = at
        .first()
        .map_or(f64::NAN, |a| a.duration_since(t_back).as_secs_f64());
    let p99 = at
        .get((at.len().max(1) - 1) * 99 / 100)
        .map_or(f64::NAN, |a| a.duration_since(t_back).as_secs_f64());
    let refused = seen[seen_before..]
        .iter()
        .filter(|s| s.status == 503)
        .count();
    println!(
        "\n## Catch-up after an outage ({outage} tickets written in {written_s:.1} s while the simulator answered 503, down {:.0} s in all)\n\n\
         | pending when back | requests during the outage | back → first accept | back → 99 % accepted | back → outbox empty | drain rate | accepted |\n|---|---|---|---|---|---|---|",
        t_back.duration_since(t_down).as_secs_f64()
    );
    let empty_s = empty.map_or(f64::NAN, |e| e.duration_since(t_back).as_secs_f64());
    println!(
        "| {} | {probes} ({refused} answered 503) | {first:.1} s | {p99:.1} s | {empty_s:.1} s | {:.0}/s | {} of {outage} |",
        c.pending,
        rate_of(&at),
        at.len()
    );
    ok &= at.len() == outage;
    for why in &syncd.exits {
        println!("\nsyncd exited on its own and was started again: {why}");
    }
    drop(syncd);

    // Exactly once: every ticket the box wrote is in the simulator once.
    let (_, all) = http(sim.addr, "GET", "/admin/tickets", "", "");
    let held = all["tickets"].as_array().cloned().unwrap_or_default();
    let local = store.tickets((from + outage + 10) as u32).unwrap();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut written_twice = 0;
    for h in &held {
        *by_ref
            .entry(h["external_ref"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
        written_twice += usize::from(h["writes"].as_i64() != Some(1));
    }
    let missing = local
        .iter()
        .filter(|t| !by_ref.contains_key(&t.number))
        .count();
    let twice = by_ref.values().filter(|n| **n > 1).count();
    let dead = store.outbox_counts().unwrap().dead;
    println!(
        "\nExactly once: the box wrote {} tickets, the simulator holds {} ({missing} missing, {twice} twice, {written_twice} written more than once), {dead} dead letters.",
        local.len(),
        held.len()
    );
    ok &= local.len() == from + outage
        && held.len() == local.len()
        && missing == 0
        && twice == 0
        && written_twice == 0
        && dead == 0;
    ok
}
