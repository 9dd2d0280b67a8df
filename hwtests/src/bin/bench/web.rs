//! `bench web`: what the live page costs (CMS-8). Fifty browsers, each
//! logged in with an API token, hold the live page's SSE stream while
//! calls run and agents change state; each records how long after pbxd's
//! event (its `at_ms`, wall clock on this same machine) the call's
//! ringing and answered pushes reached it. The same calls run once
//! without browsers, so the box's extra CPU and memory for them shows.
//!
//! The issue's scale is the default: 500 calls up at once (`--calls 500
//! --rate 50 --hold-seconds 15`: all started in 10 s, each held 15 s);
//! smaller runs take smaller numbers.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then};
use hwtests::{free_udp_port, scenario, Dering};

use super::{
    caller_args, clk_tck, cpu_ticks, kill, local_args, pid, registered_callee, rss_kb, sipp_run,
};

const BROWSERS: usize = 50;

/// How many calls, how fast, how long each: `--calls`, `--rate`,
/// `--hold-seconds` on the command line.
#[derive(Debug, Clone, Copy)]
struct Scale {
    calls: u64,
    rate: u64,
    hold_seconds: u64,
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
            calls: arg("--calls", 500),
            rate: arg("--rate", 50),
            hold_seconds: arg("--hold-seconds", 15),
        }
    }

    /// The most calls up at once.
    fn peak(self) -> u64 {
        self.calls.min(self.rate * self.hold_seconds)
    }
}

/// Agents logged in and out in turn while the calls run, so the live
/// page also carries agent changes (each is one push to every browser).
const AGENTS: [(&str, &str); 2] = [("2001", "1003"), ("2002", "1004")];

pub fn web() {
    let scale = Scale::from_args();
    let https = free_udp_port();
    // Each call holds two RTP ports a leg: the test boxes' 200 ports
    // would stop at 50 calls, so the box gets the bench range.
    let wide_rtp = |mut t: String| {
        if let Some(lo) = t.find("rtp_port_min = ") {
            let end = t[lo..].find("\n[").map_or(t.len(), |e| e + lo);
            t.replace_range(lo..end, "rtp_port_min = 48000\nrtp_port_max = 59999\n");
        }
        t
    };
    let d = Dering::start_with_args(wide_rtp, &["--https-port".into(), https.to_string()]);
    let token = token(&d);
    let cert = std::fs::read(d.dir().join("tls/cert.pem")).unwrap();
    let callee = registered_callee(&d);
    let base = calls(&d, "web-base", scale);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let clients: Vec<_> = (0..BROWSERS)
        .map(|_| {
            let (addr, cert, token) = (format!("127.0.0.1:{https}"), cert.clone(), token.clone());
            let (stop, tx) = (stop.clone(), tx.clone());
            std::thread::spawn(move || browser(&addr, &cert, &token, &stop, &tx))
        })
        .collect();
    drop(tx);
    // Every browser has its first view before the calls start.
    std::thread::sleep(Duration::from_secs(2));
    let agents_stop = Arc::new(AtomicBool::new(false));
    let changes = {
        let (dir, stop) = (d.dir().to_path_buf(), agents_stop.clone());
        std::thread::spawn(move || agent_changes(&dir, &stop))
    };
    let loaded = calls(&d, "web-sse", scale);
    agents_stop.store(true, Ordering::Relaxed);
    let agent_changes = changes.join().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    kill(callee);
    let mut lat: Vec<i64> = rx.iter().collect();
    lat.sort_unstable();
    let pct = |q: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(-1)
    };
    let expected = (loaded.ok * 2) as usize * BROWSERS;
    let Scale {
        calls,
        rate,
        hold_seconds,
    } = scale;
    println!(
        "\n## The live page: {BROWSERS} browsers on its SSE stream while calls run ({calls} calls at {rate}/s, {hold_seconds} s each, {} at once at the peak; {agent_changes} agent state changes meanwhile)\n\n\
         | run | calls ok | pushes timed (of ringing+answered × browsers) | event to browser p50 | p99 | max | box cores | box RSS |\n|---|---|---|---|---|---|---|---|",
        scale.peak()
    );
    println!(
        "| no browser | {} | — | — | — | — | {:.2} | {} MB |",
        base.ok,
        base.cores,
        base.rss_kb / 1024
    );
    println!(
        "| {BROWSERS} browsers | {} | {} of {expected} | {} ms | {} ms | {} ms | {:.2} | {} MB |",
        loaded.ok,
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(-1),
        loaded.cores,
        loaded.rss_kb / 1024
    );
}

struct Load {
    ok: u64,
    cores: f64,
    rss_kb: u64,
}

/// Logs the [`AGENTS`] in and out in turn (one change about every
/// 0.5 s) until `stop`; how many changes were made.
fn agent_changes(dir: &std::path::Path, stop: &AtomicBool) -> u64 {
    let mut n = 0;
    let mut logged_in = false;
    while !stop.load(Ordering::Relaxed) {
        for (agent, extension) in AGENTS {
            let args: Vec<&str> = if logged_in {
                vec!["agent", "logout", agent]
            } else {
                vec![
                    "agent",
                    "login",
                    agent,
                    "--pin",
                    "1234",
                    "--extension",
                    extension,
                ]
            };
            let ok = std::process::Command::new(hwtests::dering_bin())
                .args(&args)
                .arg("--data-dir")
                .arg(dir)
                .output()
                .is_ok_and(|o| o.status.success());
            n += u64::from(ok);
        }
        logged_in = !logged_in;
        std::thread::sleep(Duration::from_millis(500));
    }
    n
}

/// `scale.calls` calls from 1001 to 1002; the box's cores and RSS
/// meanwhile.
fn calls(d: &Dering, label: &str, scale: Scale) -> Load {
    let after = format!(
        "  <pause milliseconds=\"{}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        scale.hold_seconds * 1000,
        caller_request("BYE", 3)
    );
    let sf = scenario(
        d.dir(),
        "uac.xml",
        &[("AFTER_INVITE", &uac_answered_then(&after))],
    );
    let mut args = caller_args(d, &sf);
    args.extend(local_args());
    args.extend(
        [
            "-r",
            &scale.rate.to_string(),
            "-m",
            &scale.calls.to_string(),
            "-l",
            &(scale.peak() + 10).to_string(),
            "-timeout",
            "300",
        ]
        .map(String::from),
    );
    let p = pid(d);
    let (c0, t0) = (cpu_ticks(p), Instant::now());
    let r = sipp_run(d.dir(), label, &args, Duration::from_secs(360));
    Load {
        ok: r.ok,
        cores: (cpu_ticks(p) - c0) as f64 / clk_tck() / t0.elapsed().as_secs_f64(),
        rss_kb: rss_kb(p),
    }
}

/// An API token of the demo admin (read only the live page needs).
fn token(d: &Dering) -> String {
    hwtests::web::admin_api_token(d.dir(), &[webd::auth::Perm::ViewLive])
}

/// One browser on `/api/v1/live/events`: sends, for each call's ringing
/// and answered push, the milliseconds since pbxd's event.
fn browser(addr: &str, cert: &[u8], token: &str, stop: &AtomicBool, out: &mpsc::Sender<i64>) {
    let mut s = hwtests::web::connect(addr, cert, Duration::from_millis(500));
    write!(
        s,
        "GET /api/v1/live/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut rd = BufReader::new(s);
    let mut seen = HashSet::new();
    let (mut event, mut line) = (String::new(), String::new());
    while !stop.load(Ordering::Relaxed) {
        match rd.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            // A read timeout: the line so far stays in `line`.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        }
        let l = std::mem::take(&mut line);
        if let Some(n) = l.strip_prefix("event: ") {
            event = n.trim().to_owned();
        } else if let Some(data) = l.strip_prefix("data: ") {
            if event != "call" {
                continue;
            }
            let now = hwtests::wall_ms();
            let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            let c = &v["call"];
            let state = c["state"].as_str().unwrap_or("").to_owned();
            let at = match state.as_str() {
                "ringing" => c["start_ms"].as_i64(),
                "answered" => c["answer_ms"].as_i64(),
                _ => None,
            };
            let uuid = c["uuid"].as_str().unwrap_or("").to_owned();
            if let Some(at) = at {
                if seen.insert((uuid, state)) {
                    let _ = out.send(now - at);
                }
            }
        }
    }
}
