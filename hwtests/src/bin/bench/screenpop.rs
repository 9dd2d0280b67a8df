//! `bench screenpop`: how long after the agent's phone gets the offer
//! (the SIP INVITE) the agent's desktop shows it (CTI-1, issue 16), with
//! 100 agents logged in and their phones registered (one sipp UAS under
//! the 100 numbers) while a carrier's callers arrive at 10,000 an hour
//! (25 every 9 s) on DID 170, a flow straight to the queue.
//!
//! Every agent has a desktop client: an SSE connection to
//! `/desktop/events` with an API token of the agent's own account (the
//! desktop filters the shared live feed to that agent on the server). A
//! client notes the wall-clock instant a call's first event reaches it,
//! then fetches the pop's data (`/desktop/calls/{uuid}/pop`, caller,
//! service and history) as the page does, and notes when that is in.
//! The phones' sipp traces its messages (`-trace_msg`): the INVITE's
//! arrival instant, on the same machine's clock. Each of the carrier's
//! calls has its own caller number, which both sides carry, so each
//! INVITE is paired with its own push.
//!
//! The baseline, in the same run: one client on the live page's SSE
//! stream (`/api/v1/live/events`, the supervisor's view of every call),
//! timing the same calls' first event naming the agent.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use hwtests::fragments::{caller_request, uac_answered_then};
use hwtests::{free_udp_port, scenario, Dering};
use webd::auth::Perm;

use super::trunks::{carrier_args, carrier_trunk};
use super::{acd_box_with, acd_desks_with, kill, paced_run, pid};

const AGENTS: u32 = 100;
/// 25 calls every 9 s: 2.78 calls/s, 10,000 an hour.
const PACE: (u64, u64) = (25, 9_000);
/// Each caller talks this long once answered (100 agents keep up with
/// 2.78 calls/s up to about 34 s a call with the box's 2 s wrap-up).
const TALK_MS: u64 = 15_000;

/// One call's first event as a client saw it.
#[derive(Debug)]
struct Popped {
    caller: String,
    agent: String,
    /// When the event arrived (µs since the epoch).
    event_us: i64,
    /// When the pop's data was in, for a desktop client.
    data_us: Option<i64>,
}

fn wall_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A TLS connection to webd trusting only the box's certificate; long
/// enough a read timeout for a handshake while a hundred others are made.
fn tls(addr: &str, cert: &[u8]) -> hwtests::web::Https {
    hwtests::web::connect(addr, cert, Duration::from_secs(15))
}

/// GET `path` on a connection of its own; whether it answered 200.
fn get_ok(addr: &str, cert: &[u8], token: &str, path: &str) -> bool {
    let mut s = tls(addr, cert);
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut raw = Vec::new();
    // A peer that closes without close_notify is an error to rustls; the
    // answer is whole by then.
    let _ = s.read_to_end(&mut raw);
    raw.starts_with(b"HTTP/1.1 200")
}

/// Where a client listens and who it is.
#[derive(Clone)]
struct Client {
    addr: String,
    cert: Vec<u8>,
    token: String,
    /// The agent whose desktop this is; None: the live page.
    agent: Option<String>,
}

/// One client on its SSE stream until `stop`: each call's first event
/// naming an agent (for a desktop, its own), then for a desktop the
/// pop's data.
fn client(c: &Client, ready: &AtomicUsize, stop: &AtomicBool, out: &mpsc::Sender<Popped>) {
    let path = if c.agent.is_some() {
        "/desktop/events"
    } else {
        "/api/v1/live/events"
    };
    let mut s = tls(&c.addr, &c.cert);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
        c.token
    )
    .unwrap();
    // Handshake done: short reads from here, so `stop` is seen.
    s.sock
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut rd = BufReader::new(s);
    let mut seen = HashSet::new();
    let (mut event, mut line) = (String::new(), String::new());
    let mut first = true;
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
            continue;
        }
        let Some(data) = l.strip_prefix("data: ") else {
            continue;
        };
        if first {
            // The first view (the snapshot) is in: this client is up.
            first = false;
            ready.fetch_add(1, Ordering::Relaxed);
        }
        if event != "call" {
            continue;
        }
        let event_us = wall_us();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        let call = &v["call"];
        let (Some(uuid), Some(agent), Some(caller)) = (
            call["uuid"].as_str(),
            call["agent"].as_str(),
            call["caller"].as_str(),
        ) else {
            continue;
        };
        if !seen.insert(uuid.to_owned()) {
            continue;
        }
        let data_us = c.agent.as_ref().map(|_| {
            let ok = get_ok(
                &c.addr,
                &c.cert,
                &c.token,
                &format!("/desktop/calls/{uuid}/pop"),
            );
            if ok {
                wall_us()
            } else {
                -1
            }
        });
        let _ = out.send(Popped {
            caller: caller.to_owned(),
            agent: agent.to_owned(),
            event_us,
            data_us,
        });
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// sipp's trace stamp `2026-12-04 22:04:39.075228` (local time, `utc_off_s`
/// east of UTC) in µs since the epoch.
fn stamp_us(s: &str, utc_off_s: i64) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.')?;
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let us: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se - utc_off_s;
    Some(secs * 1_000_000 + us)
}

/// This machine's offset from UTC (`date +%z`), in seconds.
fn utc_offset_s() -> i64 {
    let out = std::process::Command::new("date")
        .arg("+%z")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let (sign, digits) = match out.split_at_checked(1) {
        Some(("-", d)) => (-1, d),
        Some((_, d)) => (1, d),
        None => return 0,
    };
    let h: i64 = digits.get(..2).and_then(|x| x.parse().ok()).unwrap_or(0);
    let m: i64 = digits.get(2..4).and_then(|x| x.parse().ok()).unwrap_or(0);
    sign * (h * 3600 + m * 60)
}

/// The first INVITE of each call in sipp's message trace: caller number
/// (the From's user) → (extension rung, arrival µs).
fn invites(trace: &Path) -> HashMap<String, (String, i64)> {
    let off = utc_offset_s();
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let mut out = HashMap::new();
    let mut calls = HashSet::new();
    for entry in text
        .split("----------------------------------------------- ")
        .skip(1)
    {
        let mut lines = entry.lines();
        let Some(at) = lines.next().and_then(|l| stamp_us(l, off)) else {
            continue;
        };
        if !lines.next().is_some_and(|l| l.contains("message received")) {
            continue;
        }
        let mut lines = lines.skip_while(|l| l.trim().is_empty());
        let Some(ext) = lines
            .next()
            .and_then(|l| l.strip_prefix("INVITE sip:"))
            .and_then(|l| l.split('@').next())
        else {
            continue;
        };
        let (mut from, mut call_id) = (None, None);
        for l in lines.take_while(|l| !l.trim().is_empty()) {
            let lower = l.to_ascii_lowercase();
            if lower.starts_with("from:") || lower.starts_with("f:") {
                from = l
                    .split("sip:")
                    .nth(1)
                    .and_then(|x| x.split('@').next())
                    .map(str::to_owned);
            } else if lower.starts_with("call-id:") || lower.starts_with("i:") {
                call_id = l.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
        }
        let (Some(from), Some(call_id)) = (from, call_id) else {
            continue;
        };
        // A retransmission repeats the Call-ID: the first one counts.
        if calls.insert(call_id) {
            out.entry(from).or_insert((ext.to_owned(), at));
        }
    }
    out
}

/// Sorted latencies' p50, p99 and max as "a / b / c ms".
fn summary(ms: &mut [f64]) -> String {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| {
        ms.get(((ms.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    format!(
        "{:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms",
        p(0.0),
        p(0.5),
        p(0.99),
        p(1.0)
    )
}

/// Runs the load with every desktop open; false when a call failed, was
/// not offered, or an agent's desktop missed its call.
pub fn screenpop(minutes: u64) -> bool {
    let (per, period_ms) = PACE;
    let calls = minutes * 60_000 * per / period_ms;
    let https = free_udp_port();
    let d: Dering = acd_box_with(
        AGENTS,
        // TRK-3's 200 lines; DID 170 is a flow straight to the queue.
        &(carrier_trunk(200) + hwtests::DID_170_TO_QUEUE),
        &["--https-port".into(), https.to_string()],
    );
    d.publish_queue_flow();
    let trace = d.dir().join("desks-messages.log");
    let desks = acd_desks_with(
        &d,
        AGENTS,
        &["-trace_msg", "-message_file", trace.to_str().unwrap()],
    );
    let cert = std::fs::read(d.dir().join("tls/cert.pem")).unwrap();
    let addr = format!("127.0.0.1:{https}");
    let mut clients: Vec<Client> = (0..AGENTS)
        .map(|i| {
            let agent = (5000 + i).to_string();
            Client {
                addr: addr.clone(),
                cert: cert.clone(),
                token: hwtests::web::api_token(d.dir(), &agent, "agent", &[Perm::Tickets]),
                agent: Some(agent),
            }
        })
        .collect();
    clients.push(Client {
        addr: addr.clone(),
        cert: cert.clone(),
        token: hwtests::web::admin_api_token(d.dir(), &[Perm::ViewLive]),
        agent: None,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let (desk_tx, desk_rx) = mpsc::channel();
    let (live_tx, live_rx) = mpsc::channel();
    let threads: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let (stop, ready) = (stop.clone(), ready.clone());
            let tx = if c.agent.is_some() {
                desk_tx.clone()
            } else {
                live_tx.clone()
            };
            std::thread::spawn(move || client(&c, &ready, &stop, &tx))
        })
        .collect();
    drop((desk_tx, live_tx));
    // Every client has its first view before the calls start (bounded:
    // a client that never connects shows as calls not timed).
    let clients = threads.len();
    let t = std::time::Instant::now();
    while ready.load(Ordering::Relaxed) < clients && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }

    let after = uac_answered_then(&format!(
        "  <pause milliseconds=\"{TALK_MS}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ));
    let sf = scenario(d.dir(), "carrier_uac.xml", &[("AFTER_INVITE", &after)]);
    let args = carrier_args(&d, &sf, "170");
    let (run, cores) = paced_run(d.dir(), "screenpop", args, pid(&d), PACE, calls);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    kill(desks);
    let invited = invites(&trace);
    let desk: Vec<Popped> = desk_rx.iter().collect();
    let live: Vec<Popped> = live_rx.iter().collect();
    // Latencies from the INVITE's arrival at the agent's phone; a push
    // for another agent than the phone rung is counted, not timed.
    let mut wrong = 0;
    let mut timed = |pops: &[Popped], data: bool| -> Vec<f64> {
        pops.iter()
            .filter_map(|p| {
                let (ext, at) = invited.get(&p.caller)?;
                if ext.parse::<u32>().ok().map(|e| e + 2000) != p.agent.parse().ok() {
                    wrong += 1;
                    return None;
                }
                let to = if data { p.data_us? } else { p.event_us };
                (to > 0).then(|| (to - at) as f64 / 1e3)
            })
            .collect()
    };
    let mut live_ms = timed(&live, false);
    let mut event_ms = timed(&desk, false);
    let mut data_ms = timed(&desk, true);
    let n = invited.len();
    println!(
        "\n## Screen pop: the INVITE at the agent's phone to the agent's desktop ({AGENTS} agents logged in, each with its desktop's SSE stream open; {calls} calls at 10,000 an hour, {minutes} min)\n\n\
         | client | calls timed (of INVITEs at the phones) | min | p50 | p99 | max |\n|---|---|---|---|---|---|"
    );
    println!(
        "| live page, all calls (baseline): first event naming the agent | {} of {n} | {} |",
        live_ms.len(),
        summary(&mut live_ms)
    );
    println!(
        "| agent's desktop: the call's event on its own stream | {} of {n} | {} |",
        event_ms.len(),
        summary(&mut event_ms)
    );
    println!(
        "| agent's desktop: the pop's data fetched after it (`/desktop/calls/{{uuid}}/pop`) | {} of {n} | {} |",
        data_ms.len(),
        summary(&mut data_ms)
    );
    println!(
        "\nsipp: {} calls ok, {} failed; pbxd (with webd) {cores:.3} cores; {wrong} pushes named another agent than the phone rung.",
        run.ok, run.failed
    );
    let good = run.ok == calls
        && run.failed == 0
        && n as u64 == calls
        && event_ms.len() == n
        && data_ms.len() == n
        && wrong == 0;
    if !good {
        eprintln!("screenpop: a call was not offered or a desktop missed its pop (see above)");
        let got: HashSet<&str> = desk.iter().map(|p| p.caller.as_str()).collect();
        for (caller, (ext, _)) in invited
            .iter()
            .filter(|(c, _)| !got.contains(c.as_str()))
            .take(10)
        {
            eprintln!("  no pop for {caller}, offered to extension {ext}");
        }
    }
    good
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipp_stamps_read_as_utc_microseconds() {
        // 2026-12-04 22:04:39 UTC is 1796421879 s since the epoch.
        assert_eq!(
            stamp_us("2026-12-04 22:04:39.075228", 0),
            Some(1_796_421_879_075_228)
        );
        assert_eq!(
            stamp_us("2026-12-05 05:04:39.5", 7 * 3600),
            Some(1_796_421_879_500_000)
        );
    }
}
