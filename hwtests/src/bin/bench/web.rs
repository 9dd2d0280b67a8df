//! `bench web`: what the live page costs (CMS-8). Fifty browsers, each
//! logged in with an API token, hold the live page's SSE stream while
//! calls run; each records how long after pbxd's event (its `at_ms`,
//! wall clock on this same machine) the call's ringing and answered
//! pushes reached it. The same calls run once without browsers, so the
//! box's extra CPU and memory for them shows.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then};
use hwtests::{free_udp_port, scenario, Dering};

use super::{
    caller_args, clk_tck, cpu_ticks, kill, local_args, pid, registered_callee, rss_kb, sipp_run,
};

const BROWSERS: usize = 50;
/// Calls per run, started at [`RATE`] a second, each talking 3 s.
const CALLS: u64 = 100;
const RATE: u64 = 5;

pub fn web() {
    let https = free_udp_port();
    let d = Dering::start_with_args(|t| t, &["--https-port".into(), https.to_string()]);
    let token = token(&d);
    let cert = std::fs::read(d.dir().join("tls/cert.pem")).unwrap();
    let callee = registered_callee(&d);
    let base = calls(&d, "web-base");
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
    let loaded = calls(&d, "web-sse");
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
    println!(
        "\n## The live page: {BROWSERS} browsers on its SSE stream while calls run ({CALLS} calls at {RATE}/s, 3 s each)\n\n\
         | run | calls ok | pushes timed (of ringing+answered × browsers) | event to browser p50 | p99 | max | box cores | box RSS |\n|---|---|---|---|---|---|---|---|"
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

/// [`CALLS`] calls from 1001 to 1002; the box's cores and RSS meanwhile.
fn calls(d: &Dering, label: &str) -> Load {
    let after = format!(
        "  <pause milliseconds=\"3000\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
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
            &RATE.to_string(),
            "-m",
            &CALLS.to_string(),
            "-timeout",
            "120",
        ]
        .map(String::from),
    );
    let p = pid(d);
    let (c0, t0) = (cpu_ticks(p), Instant::now());
    let r = sipp_run(d.dir(), label, &args, Duration::from_secs(180));
    Load {
        ok: r.ok,
        cores: (cpu_ticks(p) - c0) as f64 / clk_tck() / t0.elapsed().as_secs_f64(),
        rss_kb: rss_kb(p),
    }
}

/// An API token of the demo admin (read only the live page needs).
fn token(d: &Dering) -> String {
    let mut db = rusqlite::Connection::open(d.dir().join("dering.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let id: i64 = db
        .query_row(
            "SELECT id FROM users WHERE role = 'admin' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let tx = db.transaction().unwrap();
    let actor = webd::audit::Actor {
        user_id: Some(id),
        login: "bench".into(),
        source: "bench".into(),
    };
    let (_, token) = webd::auth::account::create_token_row(
        &tx,
        actor,
        0,
        id,
        "bench",
        &[webd::auth::Perm::ViewLive],
    )
    .unwrap();
    tx.commit().unwrap();
    token
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One browser on `/api/v1/live/events`: sends, for each call's ringing
/// and answered push, the milliseconds since pbxd's event.
fn browser(addr: &str, cert: &[u8], token: &str, stop: &AtomicBool, out: &mpsc::Sender<i64>) {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(cert) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
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
            let now = wall_ms();
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
