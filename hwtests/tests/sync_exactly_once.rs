//! The exactly-once test (SYNC-1, SYNC-2, issue 16): 1,000 tickets (and a
//! change to every third) are written while simpel-sim fails a third of
//! the requests in every way it knows (500/502/503, 429 with Retry-After,
//! slow answers, timeouts, resets, answers lost after the write) and
//! syncd is killed with SIGKILL at seeded random moments and restarted.
//! Meanwhile status changes are made on the simulator's side. Afterwards
//! the simulator holds each ticket exactly once with its latest content,
//! written once per change, and every status change came back once.
//!
//! The tickets are written through webd's `/api/v1/tickets` on a running
//! box (`dering up`), with a supervisor's API token written into the
//! box's database as webd stores them (logging in is web-core's test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dering_store::tickets::TicketStatus;
use dering_store::Store;
use hwtests::{free_udp_port, Dering};
use serde_json::{json, Value};

const TICKETS: usize = 1_000;
const KILLS: usize = 10;
const SEED: u64 = 0x5157_1C0D;

fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| hwtests::workspace().join("target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{name} not built: run `cargo build -p syncd -p simpel-sim` first (.ci/run builds every binary)"
    );
    p
}

/// A small deterministic generator (xorshift64*), so a failing run can be
/// repeated with the same kills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A blocking HTTP/1.1 exchange with the simulator's admin side.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(rest).unwrap_or(Value::Null))
}

struct Sim {
    child: Child,
    addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(dir: &Path) -> Sim {
    let plan = serde_json::json!({
        "seed": SEED,
        "percent": 30,
        "faults": ["status500", "status502", "status503", "too_many", "slow", "timeout", "reset", "lost_answer"],
        "slow_ms": 300,
        "hang_ms": 2_000,
        "retry_after_s": 1
    });
    let plan_file = dir.join("faults.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let mut child = Command::new(bin("simpel-sim"))
        .args(["--listen", "127.0.0.1:0", "--api-key", "k3y", "--db"])
        .arg(dir.join("sim.db"))
        .arg("--faults")
        .arg(&plan_file)
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
        .to_string();
    Sim { child, addr }
}

fn start_syncd(config: &Path, data: &Path) -> Child {
    Command::new(bin("syncd"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn new_ticket(i: usize) -> Value {
    json!({
        "reporter_name": format!("Pelapor {i}"),
        "reporter_phone": format!("0812{i:08}"),
        "category": "pengaduan",
        "description": format!("laporan {i}"),
        "urgency": "medium",
        "impact": "high",
        "unit": "KU Dumas",
        "queue": "pengaduan",
        "call_ids": [format!("call-{i}")]
    })
}

/// A supervisor with an API token for tickets; returns the token.
fn token(data: &Path) -> String {
    use webd::auth::Perm;
    hwtests::web::api_token(
        data,
        "spv",
        "supervisor",
        &[Perm::Tickets, Perm::AllTickets],
    )
}

#[test]
fn every_ticket_reaches_simpel_once_through_faults_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path());
    let sync = format!(
        "\n[sync]\nendpoint = \"http://{}/api/v1\"\nauth = \"api_key\"\napi_key = \"k3y\"\ntimeout_ms = 1500\nmax_in_flight = 8\nbackoff_base_ms = 100\nbackoff_max_ms = 2000\nbreaker_failures = 10\nbreaker_open_ms = 500\npoll_interval_ms = 300\n",
        sim.addr
    );
    let port = free_udp_port();
    // The box without `[sync]`, or `dering up` would run a syncd of its
    // own, and this test's (killed and restarted below) would find the
    // database locked; syncd reads the box's configuration plus `[sync]`.
    let d = Dering::start_with_args(|t| t, &["--https-port".into(), port.to_string()]);
    let https = format!("127.0.0.1:{port}");
    let config = dir.path().join("syncd.toml");
    std::fs::write(&config, std::fs::read_to_string(&d.config).unwrap() + &sync).unwrap();
    let data = d.dir().to_path_buf();
    let token = token(&data);
    let store = Store::open(&data.join("dering.db")).unwrap();
    let syncd = Arc::new(Mutex::new(start_syncd(&config, &data)));
    let start = Instant::now();

    // The killer: SIGKILL at seeded random moments while tickets are
    // written (at least KILLS times), each followed by a restart.
    let drained = Arc::new(AtomicBool::new(false));
    let writing = Arc::new(AtomicBool::new(true));
    let killer = {
        let (syncd, config, data) = (syncd.clone(), config.clone(), data.clone());
        let writing = writing.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(SEED);
            let mut kills = 0;
            while kills < KILLS || writing.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(300 + rng.below(1_500)));
                let mut child = syncd.lock().unwrap();
                child.kill().unwrap();
                child.wait().unwrap();
                *child = start_syncd(&config, &data);
                kills += 1;
            }
            kills
        })
    };

    // Upstream status changes: made while tickets arrive and are
    // delivered, on tickets the simulator holds (up to 150 tickets); some
    // twice (in progress, then closed). It stops two rounds after the
    // outbox was first seen empty.
    let changes: Arc<Mutex<BTreeMap<i64, Vec<&'static str>>>> = Arc::default();
    let changer = {
        let (addr, changes, drained) = (sim.addr.clone(), changes.clone(), drained.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(SEED ^ 0xC4A6);
            let mut rounds_after = 0;
            while rounds_after < 4 {
                if drained.load(Ordering::Relaxed) {
                    rounds_after += 1;
                }
                std::thread::sleep(Duration::from_millis(300));
                let (_, all) = http(&addr, "GET", "/admin/tickets", None);
                let ids: Vec<i64> = all["tickets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_i64().unwrap())
                    .collect();
                let mut made = changes.lock().unwrap();
                for id in ids {
                    let next = match made.get(&id).map(Vec::len) {
                        None if made.len() < 150 && rng.below(100) < 3 => "in_progress",
                        Some(1) if rng.below(100) < 5 => "closed",
                        _ => continue,
                    };
                    let (status, _) = http(
                        &addr,
                        "POST",
                        &format!("/admin/tickets/{id}/status"),
                        Some(&format!("{{\"status\": \"{next}\"}}")),
                    );
                    assert_eq!(status, 200);
                    made.entry(id).or_default().push(next);
                }
            }
        })
    };

    // The tickets, and a change to every third, through webd.
    let mut updates: HashMap<i64, usize> = HashMap::new();
    let mut ids = Vec::with_capacity(TICKETS);
    for i in 0..TICKETS {
        let (status, t) = d.api(&https, &token, "POST", "/api/v1/tickets", &new_ticket(i));
        assert_eq!(status, 201, "{t}");
        ids.push(t["ticket"]["id"].as_i64().unwrap());
        if i % 3 == 2 {
            let earlier = ids[i - 1];
            let path = format!("/api/v1/tickets/{earlier}");
            // A status change that came back meanwhile moved the version on.
            loop {
                let (_, now) = d.api(&https, &token, "GET", &path, &Value::Null);
                let change = json!({
                    "version": now["ticket"]["version"],
                    "description": format!("laporan {} (dilengkapi)", i - 1),
                });
                let (status, t) = d.api(&https, &token, "PATCH", &path, &change);
                if status == 409 {
                    continue;
                }
                assert_eq!(status, 200, "{t}");
                break;
            }
            *updates.entry(earlier).or_default() += 1;
        }
    }
    writing.store(false, Ordering::Relaxed);
    let kills = killer.join().unwrap();

    // Wait (bounded) until the outbox is empty, then (bounded again) until
    // every status change is back: a change to a ticket the box does not
    // know (a duplicate upstream) never comes back, and the checks below
    // then say why.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let counts = store.outbox_counts().unwrap();
        assert_eq!(
            counts.dead,
            0,
            "dead letters: {:?}",
            store.outbox_dead().unwrap()
        );
        if counts.pending == 0 {
            drained.store(true, Ordering::Relaxed);
            if changer.is_finished() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "outbox not empty: {counts:?} after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let made = changes.lock().unwrap();
        let local: HashMap<String, TicketStatus> = store
            .tickets(TICKETS as u32 + 10)
            .unwrap()
            .into_iter()
            .filter_map(|t| t.upstream_id.map(|u| (u, t.status)))
            .collect();
        let back = made.iter().all(|(id, statuses)| {
            let want = TicketStatus::parse(statuses.last().unwrap()).unwrap();
            local.get(&id.to_string()) == Some(&want)
        });
        if back {
            break;
        }
        drop(made);
        std::thread::sleep(Duration::from_millis(250));
    }
    changer.join().unwrap();
    // One more feed period: a change applied twice would show now.
    std::thread::sleep(Duration::from_millis(1_000));
    {
        let mut child = syncd.lock().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // The simulator holds each ticket once, written once per change.
    let (_, all) = http(&sim.addr, "GET", "/admin/tickets", None);
    let held = all["tickets"].as_array().unwrap();
    assert_eq!(
        held.len(),
        TICKETS,
        "the simulator holds {} tickets",
        held.len()
    );
    let mut by_ref: HashMap<String, &Value> = HashMap::new();
    for h in held {
        let r = h["external_ref"].as_str().unwrap().to_string();
        assert!(by_ref.insert(r.clone(), h).is_none(), "{r} twice");
    }
    let local = store.tickets(TICKETS as u32 + 10).unwrap();
    assert_eq!(local.len(), TICKETS);
    let made = changes.lock().unwrap();
    assert!(
        made.len() >= 20,
        "only {} status changes were made",
        made.len()
    );
    for t in &local {
        let h = by_ref
            .get(&t.number)
            .unwrap_or_else(|| panic!("{} not upstream", t.number));
        assert_eq!(
            h["writes"].as_i64().unwrap(),
            1 + *updates.get(&t.id).unwrap_or(&0) as i64,
            "{}: written {} times",
            t.number,
            h["writes"]
        );
        assert_eq!(
            h["content"]["description"],
            t.description.as_str(),
            "{}",
            t.number
        );
        assert_eq!(h["content"]["calls"][0], t.call_ids[0].as_str());
        let upstream_id = h["id"].as_i64().unwrap();
        assert_eq!(
            t.upstream_id.as_deref(),
            Some(upstream_id.to_string().as_str())
        );
        // Every change made upstream came back, each once.
        let came_back: Vec<String> = store
            .ticket_history(t.id)
            .unwrap()
            .into_iter()
            .filter(|e| e.origin == "upstream")
            .map(|e| e.change)
            .collect();
        let sent = made.get(&upstream_id).cloned().unwrap_or_default();
        assert_eq!(
            came_back.len(),
            sent.len(),
            "{}: {came_back:?} for {sent:?}",
            t.number
        );
        for (back, status) in came_back.iter().zip(&sent) {
            assert!(back.contains(status), "{back} / {status}");
        }
        assert_eq!(
            h["status"].as_str().unwrap(),
            t.status.as_str(),
            "{}",
            t.number
        );
    }
    eprintln!(
        "{TICKETS} tickets, {} updates, {} upstream changes on {} tickets, {kills} kills, in {:?}",
        updates.values().sum::<usize>(),
        made.values().map(Vec::len).sum::<usize>(),
        made.len(),
        start.elapsed()
    );
}
