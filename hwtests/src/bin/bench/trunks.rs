//! Calls through carrier trunks (issue 13, Performance), sipp standing for
//! the carrier on loopback:
//!
//! - `trunk-calls`: 200 calls at once (TRK-3's 200 lines) in from a
//!   carrier on an `ip` trunk (127.0.0.2) to an extension, media both ways
//!   from the bench's generator, beside the same 200 calls extension to
//!   extension on the same box in the same run: loss, and pbxd's CPU per
//!   call-second as a ratio;
//! - `trunk-acd`: 10,000 calls an hour from the carrier through the 137
//!   flow (key 2 as RFC 4733), the queue and 100 agents for `--minutes`
//!   (10 by default): every call entered, answered and completed once;
//! - `trunk-cps`: extension 1001's outside calls through a trunk with a
//!   `cps` cap (`BENCH_TRUNK_CPS`, 50 by default) to sipp as the
//!   carrier's UAS, at rates below and above the cap.
//!
//! Each returns false when a call was lost or duplicated (or refused below
//! the cap, or let through above it): `main` then exits with 1. Nothing is
//! timed as an assertion; the counts come from sipp and the box's records.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then, ACK_FINAL, UAC_RINGING};
use hwtests::{free_udp_port, scenario, Dering, Sipp};

use super::{
    acd_box, acd_desks, answer_waits, bench_box_with, caller_args, calls_in, clk_tck, cpu_ticks,
    drive, gen_socket_at, hold_callers, hold_calls, kill, legs_of, local_args, paced_run, pid,
    sipp_run, sipp_uas, Gen, Held, Media, BUF, GEN_SOCKETS,
};

/// The carrier's signalling and media address (an `ip` trunk's).
const CARRIER_IP: &str = "127.0.0.2";

/// A trunk's lines (TRK-3: the sources' 200).
const LINES: usize = 200;

/// The DID the carrier calls in `trunk-calls`, ringing extension 1002.
const DID: &str = "0215550200";

/// How long each held call stays up: set-up, latching and the window.
const HOLD_MS: u64 = 25_000;

/// The media window of `trunk-calls`.
const WINDOW: Duration = Duration::from_secs(10);

/// `--minutes N` on the command line.
pub fn minutes_arg() -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--minutes")?;
    args.get(i + 1)?.parse().ok()
}

/// The `ip` trunk `carrier`, known by 127.0.0.2, with `channels` lines
/// and no keep-alive (only calls reach the carrier).
pub(super) fn carrier_trunk(channels: usize) -> String {
    format!(
        "\n[[trunk]]\nname = \"carrier\"\nkind = \"ip\"\nhost = \"{CARRIER_IP}\"\naddresses = [\"{CARRIER_IP}/32\"]\nchannels = {channels}\nkeepalive_seconds = 0\n"
    )
}

/// sipp as the carrier's callers on 127.0.0.2, calling `service` on box
/// `d` with scenario `sf` (`carrier_uac.xml`); rates are added by the
/// caller.
pub(super) fn carrier_args(d: &Dering, sf: &Path, service: &str) -> Vec<String> {
    [
        "-sf",
        &sf.display().to_string(),
        &d.addr(),
        "-i",
        CARRIER_IP,
        "-p",
        &free_udp_port().to_string(),
        "-mi",
        CARRIER_IP,
        "-mp",
        &(free_udp_port() & !1).to_string(),
        "-s",
        service,
        "-key",
        "me",
        "carrier",
        "-buff_size",
        BUF,
    ]
    .map(String::from)
    .to_vec()
}

/// The calls the box recorded as in from trunk `carrier`, by the caller's
/// number as sent (each of the bench's calls has its own): dispositions
/// and uuids, once all `expected` have ended or 60 s have passed.
fn carrier_records(d: &Dering, expected: usize) -> HashMap<String, Vec<(String, String)>> {
    let t = Instant::now();
    loop {
        let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
        let mut by_caller: HashMap<String, Vec<(String, String)>> = HashMap::new();
        let mut ended = 0;
        for r in store.calls().unwrap() {
            let Some(i) = store.call_inbound(&r.parties.uuid).unwrap() else {
                continue;
            };
            if i.trunk.as_deref() != Some("carrier") {
                continue;
            }
            if r.state == "ended" {
                ended += 1;
            }
            by_caller
                .entry(i.caller_raw)
                .or_default()
                .push((r.disposition.unwrap_or_default(), r.parties.uuid));
        }
        if ended >= expected || t.elapsed() > Duration::from_secs(60) {
            return by_caller;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Calls of `records` answered and recorded exactly once.
fn answered_once(records: &HashMap<String, Vec<(String, String)>>) -> usize {
    records
        .values()
        .filter(|v| v.len() == 1 && v[0].0 == "answered")
        .count()
}

// ---- 200 calls in from a carrier, media both ways -------------------------

/// `n` calls from the carrier to [`DID`] (extension 1002, `uas`),
/// answered and held up for [`HOLD_MS`].
fn hold_carrier_calls(d: &Dering, n: usize, uas: Sipp) -> Held {
    let uac = hold_callers(d, "carrier_uac.xml", HOLD_MS, n, |sf| {
        carrier_args(d, sf, DID)
    });
    Held {
        uac,
        uas,
        legs: calls_in(d, "answered", n, legs_of),
        hold_ms: HOLD_MS,
    }
}

/// The generator with the callers' side on the carrier's address, as a
/// carrier's media gateway sends from it.
fn carrier_gen() -> Gen {
    Gen {
        a: (0..GEN_SOCKETS)
            .map(|_| gen_socket_at([127, 0, 0, 2]))
            .collect(),
        b: (0..GEN_SOCKETS)
            .map(|_| gen_socket_at([127, 0, 0, 1]))
            .collect(),
    }
}

/// Lets the held calls' caller hang up: whether sipp counted every call
/// a success, and the callee, still up.
fn hang_up(held: Held) -> (bool, Sipp) {
    let (ok, _) = held
        .uac
        .wait(Duration::from_millis(held.hold_ms) + Duration::from_secs(60));
    (ok, held.uas)
}

/// The box's answered calls, once `n` are recorded (or after a bound).
fn answered_records(d: &Dering, n: usize) -> usize {
    let t = Instant::now();
    loop {
        let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
        let answered = store
            .calls()
            .unwrap()
            .iter()
            .filter(|r| r.state == "ended" && r.disposition.as_deref() == Some("answered"))
            .count();
        if answered >= n || t.elapsed() > Duration::from_secs(60) {
            return answered;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One row of the `trunk-calls` table.
fn media_row(path: &str, n: usize, m: &Media, records: usize, base_us: f64) {
    println!(
        "| {path} | {n} | {} | {records} | {} | {:.0} | {:.2} |",
        m.calls,
        m.cells(),
        m.us_per_call_second(),
        m.us_per_call_second() / base_us.max(f64::MIN_POSITIVE),
    );
}

/// 200 calls extension to extension, then the same 200 in from the
/// carrier, on one box: each held up while 10 s of media flow both ways.
pub fn trunk_calls() -> bool {
    let n = LINES;
    println!("\n## {n} simultaneous calls in from a carrier's ip trunk, media both ways (20 ms A-law, 10 s window)\n\n| path | calls asked | calls up | answered and recorded once | packets/s into pbxd | caller->callee sent / received | callee->caller sent / received | lost | kernel UDP drops | pbxd cores | pbxd µs CPU per call-second | against extension to extension |\n|---|---|---|---|---|---|---|---|---|---|---|---|");
    let d = bench_box_with(0..0, false, |t| {
        t + &carrier_trunk(LINES)
            + &format!("\n[[did]]\nnumber = \"{DID}\"\nextension = \"1002\"\n")
    });
    let p = pid(&d);

    // Extension to extension: 1001 calls 1002. The callee's sipp stays
    // up for the carrier's calls (its registration with it).
    let held = hold_calls(&d, n, HOLD_MS);
    let ext = drive(p, &Gen::new(), &held.legs, WINDOW, || {});
    let (ext_sipp_ok, uas) = hang_up(held);
    let ext_records = answered_records(&d, n);
    let base_us = ext.us_per_call_second();
    media_row(
        "extension to extension (baseline)",
        n,
        &ext,
        ext_records,
        base_us,
    );

    // The same calls in from the carrier.
    let held = hold_carrier_calls(&d, n, uas);
    let trunk = drive(p, &carrier_gen(), &held.legs, WINDOW, || {});
    let (trunk_sipp_ok, uas) = hang_up(held);
    kill(uas);
    let records = carrier_records(&d, n);
    let once = answered_once(&records);
    media_row("carrier -> ip trunk -> extension", n, &trunk, once, base_us);

    let total: usize = records.values().map(Vec::len).sum();
    let good = ext_sipp_ok
        && trunk_sipp_ok
        && ext.calls == n
        && ext_records == n
        && trunk.calls == n
        && once == n
        && total == n;
    if !good {
        eprintln!(
            "trunk-calls: calls lost or duplicated: extension to extension {} up, {ext_records} answered records (sipp ok: {ext_sipp_ok}); from the carrier {} up, {once} answered once of {total} records for {} callers (sipp ok: {trunk_sipp_ok})",
            ext.calls,
            trunk.calls,
            records.len()
        );
    }
    good
}

// ---- 10,000 calls an hour from a carrier through 137 ----------------------

/// 10,000 calls an hour for `minutes` from the carrier to 137: the flow's
/// greeting, key 2 (RFC 4733 on 101), "please hold", the queue and one of
/// 100 agents (one sipp answering for all), 15 s or so with the agent,
/// then the caller hangs up. Every call must be in the records once,
/// answered, and in the ACD journal entered, answered and completed once.
pub fn trunk_acd(minutes: u64) -> bool {
    let agents: u32 = 100;
    // 25 calls every 9 s: 2.78 calls/s, 10,000 an hour.
    let (per, period_ms) = (25u64, 9_000u64);
    let calls = minutes * 60_000 * per / period_ms;
    let d = acd_box(agents, &carrier_trunk(LINES));
    let desks = acd_desks(&d, agents);
    let p = pid(&d);
    // The greeting is not interruptible: the key comes in the menu.
    let after = uac_answered_then(&format!(
        r#"  <pause milliseconds="4000"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_2.pcap"/></action></nop>
  <pause milliseconds="20000"/>
{}  <recv response="200" crlf="true"/>
"#,
        caller_request("BYE", 3)
    ));
    let sf = scenario(d.dir(), "carrier_uac.xml", &[("AFTER_INVITE", &after)]);
    let args = carrier_args(&d, &sf, "137");
    let (r, cores) = paced_run(d.dir(), "trunk-acd", args, p, (per, period_ms), calls);
    let n = usize::try_from(calls).unwrap_or(usize::MAX);
    let records = carrier_records(&d, n);
    kill(desks);
    let once = answered_once(&records);
    let total: usize = records.values().map(Vec::len).sum();
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let journal = store.acd_events(0).unwrap();
    // Per call of the carrier: how often it entered and was answered.
    let mut per_call: HashMap<&str, [u32; 2]> = records
        .values()
        .flatten()
        .map(|(_, uuid)| (uuid.as_str(), [0; 2]))
        .collect();
    let mut lost = 0;
    for e in &journal {
        let Some(c) = e.call_uuid.as_deref().and_then(|u| per_call.get_mut(u)) else {
            continue;
        };
        match e.kind.as_str() {
            "entered" => c[0] += 1,
            "answered" => c[1] += 1,
            "abandoned" | "dropped" | "exited" => lost += 1,
            _ => {}
        }
    }
    // The journal's `completed` rows carry no call (the call has ended
    // when it is written): they are counted in all.
    let completed = journal.iter().filter(|e| e.kind == "completed").count();
    let sum = |k: usize| per_call.values().map(|c| c[k]).sum::<u32>();
    let not_once = per_call.values().filter(|c| c[..2] != [1, 1]).count();
    let (p50, p99) = answer_waits(journal.iter().filter(|e| e.call_uuid.is_some()));
    println!("\n## Carrier -> 137 flow (key 2) -> queue -> agent at 10,000 calls/hour ({minutes} min, {agents} agents)\n");
    println!("| calls | sipp ok / failed | recorded from the trunk, answered once | entered / answered / completed | calls not entered and answered exactly once | abandoned + dropped + turned away | answer wait p50 / p99 | pbxd cores |\n|---|---|---|---|---|---|---|---|");
    println!(
        "| {calls} | {} / {} | {once} of {total} records | {} / {} / {completed} | {not_once} | {lost} | {} / {} ms | {cores:.3} |",
        r.ok,
        r.failed,
        sum(0),
        sum(1),
        p50,
        p99,
    );
    let good = r.ok == calls
        && r.failed == 0
        && once == n
        && total == n
        && per_call.len() == n
        && not_once == 0
        && completed == n
        && lost == 0;
    if !good {
        eprintln!("trunk-acd: calls lost or duplicated (see the table)");
    }
    good
}

// ---- outbound calls per second through a capped trunk --------------------

/// The demo trunk made an `ip` trunk to sipp at 127.0.0.1:`port` with
/// `cap` calls a second and 500 lines, known by an address nothing sends
/// from (so the callers on loopback are not taken for the carrier), with
/// no registration or keep-alive: only calls reach the carrier.
fn capped_trunk(t: String, port: u16, cap: u64) -> String {
    t.replacen(
        "kind = \"register\"",
        "kind = \"ip\"\naddresses = [\"192.0.2.251\"]",
        1,
    )
    .replacen(
        "username = \"0215550000\"\npassword = \"change-me\"\n",
        "",
        1,
    )
    .replacen("\nexpires = 600", "", 1)
    .replace("keepalive_seconds = 30", "keepalive_seconds = 0")
    .replacen("enabled = false", "enabled = true", 1)
    .replace(
        "host = \"sip.carrier.example\"",
        &format!("host = \"127.0.0.1\"\nport = {port}"),
    )
    .replacen("channels = 30 ", "channels = 500 ", 1)
    .replacen("cps = 5 ", &format!("cps = {cap} "), 1)
}

/// The caller's answer to its outside call: the carrier's 200 (ACK, BYE
/// at once), or the box's 503 (ACKed): both end the call as a success in
/// sipp's count, anything else fails it.
fn answered_or_refused() -> String {
    format!(
        "{UAC_RINGING}  <recv response=\"503\" optional=\"true\" next=\"refused\"/>\n  <recv response=\"200\" rtd=\"true\" rrs=\"true\"/>\n{}{}  <recv response=\"200\" crlf=\"true\" next=\"done\"/>\n  <label id=\"refused\"/>\n{ACK_FINAL}  <label id=\"done\"/>\n  <pause milliseconds=\"0\"/>\n",
        caller_request("ACK", 2),
        caller_request("BYE", 3)
    )
}

/// The last line of a sipp statistics file: `IncomingCall(C)`, the
/// INVITEs a UAS received. (Not its successful calls: the caller's BYE
/// follows its ACK at once, and sipp's built-in UAS may see the BYE
/// first and keep such a call open.)
fn incoming(csv: &Path) -> u64 {
    let text = std::fs::read_to_string(csv).unwrap_or_default();
    let (Some(h), Some(last)) = (text.lines().next(), text.lines().last()) else {
        return 0;
    };
    h.split(';')
        .zip(last.split(';'))
        .find(|(k, _)| *k == "IncomingCall(C)")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// 1001 calls 081234567890 through the capped trunk at rates below and
/// above the cap, 5 s a step: below it no call may fail or be refused;
/// above it the excess must be refused (503) and what the carrier gets
/// must stay within the cap.
pub fn trunk_cps() -> bool {
    let cap: u64 = std::env::var("BENCH_TRUNK_CPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let port = free_udp_port();
    let d = bench_box_with(0..0, false, move |t| capped_trunk(t, port, cap));
    let sf = scenario(
        d.dir(),
        "uac.xml",
        &[("AFTER_INVITE", &answered_or_refused())],
    );
    println!("\n## Outside calls through a trunk capped at {cap} calls/s (5 s per step)\n\n| rate asked | calls | carried to the carrier (200) | refused by the box (503) | other failures | wall | carried per second | cap held |\n|---|---|---|---|---|---|---|---|");
    let mut good = true;
    let p = pid(&d);
    let (c0, t0) = (cpu_ticks(p), Instant::now());
    for rate in [cap / 5, cap / 2, cap * 4 / 5, cap * 2, cap * 4] {
        let rate = rate.max(1);
        // The carrier: a fresh sipp UAS per step, its counts dumped every
        // second.
        let stf = d.dir().join(format!("carrier-{rate}.csv"));
        let uas = sipp_uas(
            d.dir(),
            port,
            &["-sn", "uas"],
            &["-trace_stat", "-fd", "1", "-stf", stf.to_str().unwrap()],
        );
        let mut args = caller_args(&d, &sf);
        if let Some(i) = args.iter().position(|a| a == "-s") {
            args[i + 1] = "081234567890".into();
        }
        args.extend(local_args());
        let m = rate * 5;
        args.extend(
            [
                "-r",
                &rate.to_string(),
                "-m",
                &m.to_string(),
                "-l",
                "5000",
                "-timeout",
                "60",
            ]
            .map(String::from),
        );
        let run = sipp_run(
            d.dir(),
            &format!("out{rate}"),
            &args,
            Duration::from_secs(90),
        );
        // Every call was ended on both sides before the caller finished:
        // the carrier's next dump has them all.
        std::thread::sleep(Duration::from_millis(1500));
        kill(uas);
        let carried = incoming(&stf);
        let refused = run.ok.saturating_sub(carried);
        // The carrier may get `cap` in any second: over the step's wall
        // time, rounded up, at most that many.
        let within = carried <= cap * (run.wall.ceil() as u64 + 1);
        let row_good = run.failed == 0
            && run.ok == m
            && within
            && if rate < cap {
                refused == 0
            } else {
                refused > 0
            };
        println!(
            "| {rate}/s | {m} | {carried} | {refused} | {} | {:.1} s | {:.1}/s | {} |",
            run.failed,
            run.wall,
            carried as f64 / run.wall,
            if row_good { "yes" } else { "NO" }
        );
        good &= row_good;
    }
    let cores = (cpu_ticks(p) - c0) as f64 / clk_tck() / t0.elapsed().as_secs_f64();
    println!("\npbxd averaged {cores:.2} cores over the steps.");
    if !good {
        eprintln!("trunk-cps: a call failed below the cap, was lost, or the cap did not hold");
    }
    good
}
