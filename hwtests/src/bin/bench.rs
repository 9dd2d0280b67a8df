//! The performance bench of issue "call core", against the release build
//! and real peers, with every baseline measured in the same run:
//!
//! - `cps`: call set-up rate, sipp uac -> pbxd -> sipp uas (digest auth on
//!   every call) against sipp uac -> sipp uas direct;
//! - `rtp`: simultaneous calls with RTP relayed both ways at 20 ms; the bench
//!   generates and counts the media itself (learning each call's relay ports
//!   from `dering calls`), so loss is exact; pbxd's CPU and RSS from /proc;
//! - `reg`: challenged registrations/s against kamailio with digest auth and
//!   in-memory location; memory per registered phone;
//! - `media`: the media library's hot paths in process (DTMF detection,
//!   G.722 transcoding, conference mixing), each as CPU per channel-second
//!   beside G.711 coding measured in the same run;
//! - `acd`: the ACD engine's decision cost in process, from an agent
//!   becoming ready to the next caller's offer, small box beside large;
//! - `acd-load`: 10,000 calls an hour through a flow, a queue and 100
//!   agents for `BENCH_ACD_SECONDS` (600), every call's journal checked,
//!   against the same calls extension to extension;
//! - `rtpengine`: the relay against the anchor: the same calls and media
//!   through pbxd and through rtpengine's userspace relay (`--table=-1`,
//!   calls set up over its NG protocol), CPU per relayed call-second side
//!   by side (needs `rtpengine`, Debian's `rtpengine-daemon`);
//! - `config`: a configuration version imported (`dering config import`)
//!   while 1,000 relayed calls are up: time to apply, packets lost;
//! - `trunk-calls`, `trunk-acd`, `trunk-cps`: calls through carrier trunks
//!   (issue 13), see [`trunks`];
//! - `web`: fifty logged-in browsers on the live page's SSE stream while
//!   calls run (issue 15), see [`web`];
//! - `trunkd`: eight simulated E1 spans (240 B-channels) busy with calls
//!   from libpri through trunkd into pbxd, against the same calls over SIP
//!   (issue 14), see [`e1_spans`];
//! - `sync`: syncd's delivery to simpel-sim (throughput, commit-to-accept
//!   delay, catch-up after an outage, exactly once) against a plain HTTP
//!   client's POSTs to it (issue 16), see [`outbox`];
//! - `screenpop`: the SIP INVITE at an agent's phone to the agent
//!   desktop's push, 100 agents at 10,000 calls an hour (issue 16), see
//!   [`screenpop`];
//! - `history`: a citizen's calls among a million, by the calls' key
//!   indexes against the scan they replaced (issue 16), see [`history`].
//!
//! With `DERING_BIN_BASELINE=/path/to/old/dering`, the steps `cps`, `rtp`,
//! `rec` and `reg` run against that binary too, each row beside this
//! build's (labelled by `DERING_BASELINE_LABEL`, "baseline" by default):
//! the before-and-after of a change measured in one run.
//!
//! Run: `cargo build --release -p dering -p hwtests && target/release/bench all`
//! (each step is bounded in count and time; everything is on 127.0.0.1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then};
use hwtests::{credentials, free_udp_port, register, require, scenario, workspace, Dering, Sipp};

// The crate root is bench.rs: its modules live in bench/.
#[path = "bench/trunks.rs"]
mod trunks;

const BUF: &str = "4194304";

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if what == "history" {
        // The database alone: no peer, no box.
        history::history();
        return;
    }
    require("sipp");
    if std::env::var_os("DERING_BIN").is_none() {
        std::env::set_var("DERING_BIN", workspace().join("target/release/dering"));
    }
    std::env::set_var("DERING_LOG", "warn");
    println!(
        "# Dering bench, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let builds = builds();
    if what == "cps" || what == "all" {
        cps(&builds);
    }
    if what == "rtp" || what == "all" {
        println!(
            "\n## Simultaneous calls with RTP both ways (20 ms A-law, 10 s window)\n\n{RTP_HEAD}"
        );
        for n in rates_from_env("BENCH_RTP_CALLS", &[500, 1000, 2000]) {
            for b in &builds {
                b.enter();
                rtp_row(&b.label, n as usize, false);
            }
        }
        this_build(&builds).enter();
    }
    if what == "rec" || what == "all" {
        println!("\n## Simultaneous recorded calls (both legs to WAV; 20 ms A-law, 10 s window)\n\nThe same calls and media as above, every call recorded; then each file is read back.\n\n{RTP_HEAD}");
        for n in rates_from_env("BENCH_REC_CALLS", &[500, 1000]) {
            for b in &builds {
                b.enter();
                rtp_row(&b.label, n as usize, false);
                rtp_row(&b.label, n as usize, true);
            }
        }
        this_build(&builds).enter();
    }
    if what == "rtpengine" || what == "all" {
        anchor::versus_rtpengine();
    }
    if what == "config" || what == "all" {
        config_with_calls_up();
    }
    if what == "ivr" || what == "all" {
        println!("\n## Callers in the IVR menu (prompts out, audio in through the DTMF detector, 10 s window)\n\n| callers asked | in the flow | packets/s from callers | prompt packets/s per caller (50 = no underrun) | pbxd cores | cores per 100 callers |\n|---|---|---|---|---|---|");
        for n in rates_from_env("BENCH_IVR_CALLS", &[100, 200, 400]) {
            ivr(n as usize);
        }
    }
    if what == "reg" || what == "all" {
        reg(&builds);
    }
    if what == "media" || what == "all" {
        media();
    }
    if what == "acd" || what == "all" {
        acd();
    }
    if what == "acd-load" || what == "all" {
        acd_load();
    }
    if what == "web" || what == "all" {
        web::web();
    }
    // A lost or duplicated call fails the run (exit code 1).
    let mut lost = false;
    if what == "trunk-calls" || what == "all" {
        lost |= !trunks::trunk_calls();
    }
    if what == "trunk-acd" || what == "all" {
        lost |= !trunks::trunk_acd(trunks::minutes_arg().unwrap_or(10));
    }
    if what == "trunk-cps" || what == "all" {
        lost |= !trunks::trunk_cps();
    }
    if what == "trunkd" || what == "all" {
        lost |= !e1_spans::trunkd();
    }
    if what == "sync" || what == "all" {
        lost |= !outbox::sync();
    }
    if what == "screenpop" || what == "all" {
        lost |= !screenpop::screenpop(trunks::minutes_arg().unwrap_or(3));
    }
    if what == "all" {
        history::history();
    }
    if lost {
        eprintln!("bench: a call or ticket was lost or duplicated (see above)");
        std::process::exit(1);
    }
}

// One file per bench area from here on: this one is long enough.
#[path = "bench/web.rs"]
mod web;

#[path = "bench/history.rs"]
mod history;

// Not `mod trunkd`: that name is the trunkd crate the bench runs.
#[path = "bench/trunkd.rs"]
mod e1_spans;

// Not `mod sync`: beside `std::sync` that name reads as the standard one.
#[path = "bench/sync.rs"]
mod outbox;

#[path = "bench/screenpop.rs"]
mod screenpop;

// ---- this build and the one before -------------------------------------

/// A `dering` binary the regression steps run against.
struct Build {
    label: String,
    bin: PathBuf,
    /// The binary from before this bench's configuration template grew
    /// keys it refuses (see [`BASELINE_UNKNOWN_KEYS`]).
    baseline: bool,
}

impl Build {
    /// Makes this the binary every box, `dering` query and import of the
    /// harness runs from now on.
    fn enter(&self) {
        std::env::set_var("DERING_BIN", &self.bin);
        BASELINE.store(self.baseline, Ordering::Relaxed);
    }
}

/// The baseline first (`DERING_BIN_BASELINE`, if set), then this build
/// (or the other way round).
fn builds() -> Vec<Build> {
    let mut v = Vec::new();
    if let Some(bin) = std::env::var_os("DERING_BIN_BASELINE") {
        v.push(Build {
            label: std::env::var("DERING_BASELINE_LABEL").unwrap_or_else(|_| "baseline".into()),
            bin: PathBuf::from(bin),
            baseline: true,
        });
    }
    v.push(Build {
        label: "this build".into(),
        bin: std::env::var_os("DERING_BIN").map(PathBuf::from).unwrap(),
        baseline: false,
    });
    // BENCH_BASELINE_LAST=1: this build takes its turn first, to see
    // whether going second at a rate is what costs.
    if std::env::var_os("BENCH_BASELINE_LAST").is_some() {
        v.reverse();
    }
    v
}

/// This build among `builds`: the one the steps after a comparison run.
fn this_build(builds: &[Build]) -> &Build {
    builds.iter().find(|b| !b.baseline).unwrap()
}

/// Whether the box started next runs the baseline binary.
static BASELINE: AtomicBool = AtomicBool::new(false);

/// Settings the configuration template gained after the baseline commit
/// (d50cf83: TCP/TLS connection limits); the baseline refuses unknown keys,
/// and runs on its built-in limits without them.
const BASELINE_UNKNOWN_KEYS: &[&str] = &[
    "stream_connections_per_source",
    "stream_connections_total",
    "tls_handshake_seconds",
    "stream_message_seconds",
    "stream_idle_seconds",
];

/// `text` without the lines setting [`BASELINE_UNKNOWN_KEYS`].
fn for_baseline(text: String) -> String {
    text.lines()
        .filter(|l| {
            !BASELINE_UNKNOWN_KEYS
                .iter()
                .any(|k| l.trim_start().starts_with(&format!("{k} =")))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

// ---- IVR -> queue -> agent, sustained --------------------------------------

/// 10,000 calls an hour (the sources' peak) through a flow into queue
/// `pengaduan` and on to 100 agents (sipp answering for all of them from
/// one port), for `BENCH_ACD_SECONDS` (600 by default); every call's
/// journal is then checked: entered, answered and completed once each,
/// nothing abandoned, dropped or turned away. The baseline in the same
/// run: the same calls, same rate and length, straight to an extension.
fn acd_load() {
    let secs: u64 = std::env::var("BENCH_ACD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let agents: u32 = 100;
    let talk_ms = 15_000u64;
    // 25 calls every 9 s: 2.78 calls/s, 10,000 an hour.
    let (per, period_ms) = (25u64, 9_000u64);
    let calls = secs * 1000 * per / period_ms;
    let d = acd_box(agents, hwtests::DID_170_TO_QUEUE);
    d.publish_queue_flow();
    let desks = acd_desks(&d, agents);
    let p = pid(&d);
    let sf = hold_scenario(d.dir(), "uac.xml", talk_ms);
    let run = |number: &str, n: u64, label: &str| -> (Run, f64) {
        let mut args = caller_args(&d, &sf);
        if let Some(i) = args.iter().position(|a| a == "-s") {
            args[i + 1] = number.into();
        }
        args.extend(local_args());
        paced_run(d.dir(), label, args, p, (per, period_ms), n)
    };
    // Baseline: the same calls straight to extension 1002.
    let callee = registered_callee(&d);
    let base_n = calls.min(per * 60_000 / period_ms);
    let (base, base_cores) = run("1002", base_n, "acd-base");
    kill(callee);
    let (r, cores) = run("170", calls, "acd-load");
    kill(desks);
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let journal = store.acd_events(0).unwrap();
    let count = |k: &str| journal.iter().filter(|e| e.kind == k).count() as u64;
    let (p50, p99) = answer_waits(&journal);
    let lost = count("abandoned") + count("dropped") + count("exited");
    println!(
        "\n## IVR -> queue -> agent at 10,000 calls/hour ({secs} s, {agents} agents, {} s calls)\n",
        talk_ms / 1000
    );
    println!("| path | calls | ok | failed | entered | answered | completed | abandoned + dropped + turned away | answer wait p50 / p99 | pbxd cores | cores against the baseline |\n|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| extension to extension (baseline, {} s) | {base_n} | {} | {} | - | - | - | - | - | {base_cores:.3} | 1.0 |",
        base_n * period_ms / per / 1000,
        base.ok,
        base.failed
    );
    println!(
        "| 170: flow, queue, agent | {calls} | {} | {} | {} | {} | {} | {lost} | {} / {} ms | {cores:.3} | {:.2} |",
        r.ok,
        r.failed,
        count("entered"),
        count("answered"),
        count("completed"),
        p50,
        p99,
        cores / base_cores.max(1e-9)
    );
}

/// sipp's callers paced as the ACD loads are, `per` calls every
/// `period_ms` (25 every 9 s: 10,000 an hour), `calls` in all, with
/// `head` (scenario, target and local address): their outcome, and the
/// cores pbxd (`p`) used meanwhile. The IVR-to-agent load and the
/// carrier's calls through 137 start their callers alike.
fn paced_run(
    dir: &Path,
    label: &str,
    mut head: Vec<String>,
    p: u32,
    (per, period_ms): (u64, u64),
    calls: u64,
) -> (Run, f64) {
    let secs = calls * period_ms / per / 1000;
    head.extend(
        [
            "-r",
            &per.to_string(),
            "-rp",
            &period_ms.to_string(),
            "-m",
            &calls.to_string(),
            "-timeout",
            &(secs + 120).to_string(),
        ]
        .map(String::from),
    );
    let (c0, t0) = (cpu_ticks(p), Instant::now());
    let r = sipp_run(dir, label, &head, Duration::from_secs(secs + 180));
    let cores = (cpu_ticks(p) - c0) as f64 / clk_tck() / t0.elapsed().as_secs_f64();
    (r, cores)
}

/// The p50 and p99 of the answer waits (`wait_ms`) the ACD journal's
/// `answered` rows among `events` carry.
fn answer_waits<'a>(events: impl IntoIterator<Item = &'a dering_store::AcdEventRow>) -> (u64, u64) {
    let mut waits: Vec<u64> = events
        .into_iter()
        .filter(|e| e.kind == "answered")
        .filter_map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.detail)
                .ok()?
                .get("wait_ms")?
                .as_u64()
        })
        .collect();
    waits.sort_unstable();
    let pct = |q: f64| {
        waits
            .get(((waits.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    (pct(0.5), pct(0.99))
}

/// The box of the ACD load steps: no recording, no per-source limit, a
/// short wrap-up, callers let into the queue before agents log in, the
/// RTP range of [`bench_box`] (callers in the IVR each hold a port), and
/// `agents` extensions (3000…) with an agent each (5000…, skilled for
/// `pengaduan`); `extra` is appended to the configuration.
fn acd_box(agents: u32, extra: &str) -> Dering {
    acd_box_with(agents, extra, &[])
}

/// [`acd_box`] with further `dering up` arguments (`bench screenpop`'s
/// HTTPS port).
fn acd_box_with(agents: u32, extra: &str, args: &[String]) -> Dering {
    let extra = extra.to_string();
    Dering::start_with_args(
        move |mut t| {
            let lo = t.find("rtp_port_min = ").unwrap();
            let end = t[lo..].find("\n[").unwrap() + lo;
            t.replace_range(lo..end, "rtp_port_min = 48000\nrtp_port_max = 59999\n");
            let mut t = t
                .replace("percent = 100", "percent = 0")
                .replace(
                    "requests_per_second_per_source = 500",
                    "requests_per_second_per_source = 10000000",
                )
                .replace("wrapup_seconds = 15", "wrapup_seconds = 2")
                .replace(
                    "join_empty = false\nleave_when_empty = true",
                    "join_empty = true\nleave_when_empty = false",
                );
            t.push_str(&extra);
            for i in 0..agents {
                t.push_str(&format!(
                "\n[[extension]]\nnumber = \"{}\"\nname = \"Meja {i}\"\npassword = \"demo-{}\"\n\n[[agent]]\nid = \"{}\"\nname = \"Petugas {i}\"\npin = \"1234\"\nskills = {{ pengaduan = 3 }}\n",
                3000 + i,
                3000 + i,
                5000 + i
            ));
            }
            t
        },
        args,
    )
}

/// Every agent's phone of [`acd_box`] as one sipp UAS, registered under
/// each number, every agent logged in at its desk.
fn acd_desks(d: &Dering, agents: u32) -> Sipp {
    acd_desks_with(d, agents, &[])
}

/// [`acd_desks`] with further sipp arguments (`bench screenpop` traces
/// the phones' messages).
fn acd_desks_with(d: &Dering, agents: u32, sipp_extra: &[&str]) -> Sipp {
    let port = free_udp_port();
    for i in 0..agents {
        register(d, &(3000 + i).to_string(), port, 3600);
    }
    let desks_sf = scenario(d.dir(), "desks.xml", &[]);
    let mut extra = vec!["-timeout", "3600"];
    extra.extend(sipp_extra);
    let desks = sipp_uas(d.dir(), port, &["-sf", desks_sf.to_str().unwrap()], &extra);
    for i in 0..agents {
        d.agent_login(&(5000 + i).to_string(), &(3000 + i).to_string());
    }
    desks
}

// ---- ACD engine, in process ---------------------------------------------

/// ACD decision cost: the time from an agent's call completing (it is
/// ready at once) to the next waiting caller being offered to it, with
/// `agents` agents all busy and `waiting` callers queued, as the p50 and
/// p99 of `rounds` rounds. Each round the offer is answered and a new
/// caller enters, so the queue stays as long.
fn acd_round_trip(agents: usize, waiting: usize, rounds: usize) -> (f64, f64, f64) {
    use dering_acd::{Acd, Action, AgentConfig, QueueConfig};
    let t0 = Instant::now();
    let mut q = QueueConfig::new("q");
    q.wrapup = Duration::ZERO;
    q.skills = vec![("umum".into(), 1)];
    let cfgs = (0..agents)
        .map(|i| AgentConfig {
            id: format!("{}", 10_000 + i),
            name: format!("Agent {i}"),
            pin: "1".into(),
            skills: vec![("umum".into(), 1 + (i % 10) as u8)],
        })
        .collect();
    let mut acd = Acd::new(vec![q], cfgs, Duration::from_secs(5), 3, t0);
    let mut now = t0;
    let mut call = 0u64;
    let mut serving: Vec<u64> = Vec::new();
    // Every agent logs in and takes a call.
    for i in 0..agents {
        call += 1;
        acd.enqueue(call, "q", 0, now).unwrap();
        acd.login(
            &format!("{}", 10_000 + i),
            "1",
            &format!("{}", 1000 + i),
            now,
        )
        .unwrap();
        while let Some(a) = acd.poll_action() {
            if let Action::Offer { call, agent } = a {
                acd.answered(call, &agent, now);
                serving.push(call);
            }
        }
    }
    for _ in 0..waiting {
        call += 1;
        acd.enqueue(call, "q", (call % 3) as i32, now).unwrap();
    }
    while acd.poll_event().is_some() {}
    let mut times = Vec::with_capacity(rounds);
    for r in 0..rounds {
        now += Duration::from_millis(50);
        let slot = r % serving.len();
        let done = serving[slot];
        let t = Instant::now();
        acd.completed(done, now);
        let offered = loop {
            match acd.poll_action() {
                Some(Action::Offer { call, agent }) => break Some((call, agent)),
                Some(_) => continue,
                None => break None,
            }
        };
        times.push(t.elapsed().as_secs_f64() * 1e6);
        let (next, agent) = offered.expect("a waiting caller is offered");
        acd.answered(next, &agent, now);
        serving[slot] = next;
        call += 1;
        acd.enqueue(call, "q", (call % 3) as i32, now).unwrap();
        while acd.poll_event().is_some() {}
        while acd.poll_action().is_some() {}
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
    let enqueue = {
        let t = Instant::now();
        for i in 0..rounds {
            call += 1;
            acd.enqueue(call, "q", (i % 3) as i32, now).unwrap();
            acd.abandon(call, now);
        }
        t.elapsed().as_secs_f64() * 1e6 / rounds as f64
    };
    (pct(0.5), pct(0.99), enqueue)
}

fn acd() {
    println!("\n## ACD decisions (engine in process, skills-qualified agents, 3 priorities)\n\n| agents | waiting callers | ready-to-offer p50 µs | p99 µs | caller enters (and leaves) µs |\n|---|---|---|---|---|");
    for (agents, waiting) in [(10, 10), (500, 300), (2000, 1000)] {
        let (p50, p99, enq) = acd_round_trip(agents, waiting, 2000);
        println!("| {agents} | {waiting} | {p50:.1} | {p99:.1} | {enq:.1} |");
    }
}

// ---- media library, in process ----------------------------------------

/// The best of three runs of `f`, in seconds.
fn best_of_three(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn media() {
    use dering_media::codec::{Codec, Transcoder};
    use dering_media::g711::Law;
    use dering_media::mix::{Mixer, Role};
    const SECS: usize = 60;
    const FRAME: usize = 160;
    // Speech-like: two tones and a little noise, at a talking level.
    let mut seed = 12345u32;
    let pcm: Vec<i16> = (0..SECS * 8000)
        .map(|i| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let t = i as f64 / 8000.0;
            let v = 4000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()
                + 2000.0 * (2.0 * std::f64::consts::PI * 1300.0 * t).sin()
                + f64::from((seed >> 16) as i16 / 16);
            v as i16
        })
        .collect();
    let mut alaw = Vec::new();
    Law::Alaw.encode(&pcm, &mut alaw);
    let per_channel_second = |secs: f64, channels: usize| secs * 1e6 / (SECS * channels) as f64;

    let g711 = best_of_three(|| {
        let mut out = Vec::with_capacity(FRAME);
        let mut back = Vec::with_capacity(FRAME);
        for f in alaw.chunks(FRAME) {
            out.clear();
            Law::Alaw.decode(f, &mut out);
            back.clear();
            Law::Alaw.encode(&out, &mut back);
        }
        std::hint::black_box(&back);
    });
    let mut g722 = Vec::new();
    let mut up = Transcoder::new(Codec::Pcma, Codec::G722);
    up.transcode(&alaw, &mut g722);
    // One stream through a fresh transcoder, 20 ms at a time.
    let transcode_all = |from: Codec, to: Codec, data: &[u8]| {
        let mut t = Transcoder::new(from, to);
        let mut out = Vec::with_capacity(FRAME);
        for f in data.chunks(FRAME) {
            out.clear();
            t.transcode(f, &mut out);
        }
        std::hint::black_box(&out);
    };
    let to_g722 = best_of_three(|| transcode_all(Codec::Pcma, Codec::G722, &alaw));
    let from_g722 = best_of_three(|| transcode_all(Codec::G722, Codec::Pcma, &g722));
    let dtmf = best_of_three(|| {
        let mut d = dering_media::dtmf::Detector::new();
        let mut keys = 0;
        for f in pcm.chunks(FRAME) {
            keys += d.feed(f).len();
        }
        std::hint::black_box(keys);
    });
    let parties = 10;
    let t0 = Instant::now();
    // The same audio through a room mixing at 8 kHz and one at 16 kHz
    // (a G.722 member in it): 160- or 320-sample frames, 20 ms each.
    let mix_room = |wide: bool| {
        let frame = if wide { 2 * FRAME } else { FRAME };
        best_of_three(|| {
            let mut m = Mixer::new();
            m.set_wideband(wide);
            for k in 0..parties {
                m.join(k, Role::party());
            }
            let mut out = Vec::with_capacity(parties as usize);
            for (i, f) in pcm.chunks(frame).enumerate() {
                let at = t0 + Duration::from_millis(20 * i as u64);
                for k in 0..parties {
                    m.push(k, at, i as u16, (i * FRAME) as u32, f.to_vec());
                }
                out.clear();
                m.mix(&mut out);
            }
            std::hint::black_box(&out);
        })
    };
    let mixing = mix_room(false);
    // Half as many 20 ms slots in the same samples: scaled to the same
    // audio time.
    let mixing_wide = mix_room(true) * 2.0;
    let base = per_channel_second(g711, 1);
    println!("\n## Media library hot paths (in process, {SECS} s of audio, best of three)\n\n| path | µs of CPU per channel-second | against G.711 decode + encode |\n|---|---|---|");
    for (name, secs, channels) in [
        ("G.711 A-law decode + encode (baseline)", g711, 1),
        ("A-law → G.722 (decode, upsample, encode)", to_g722, 1),
        ("G.722 → A-law (decode, downsample, encode)", from_g722, 1),
        ("in-band DTMF detection (Q.24 detector)", dtmf, 1),
        (
            "10-party conference: jitter buffer + mix-minus, per party",
            mixing,
            parties as usize,
        ),
        (
            "10-party wideband (16 kHz) conference, per party",
            mixing_wide,
            parties as usize,
        ),
    ] {
        let us = per_channel_second(secs, channels);
        println!("| {name} | {us:.1} | {:.1}× |", us / base);
    }
}

// ---- measurement helpers ------------------------------------------------

fn clk_tck() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}

/// user+system CPU ticks of a process.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Datagrams the kernel dropped anywhere on the machine (InErrors of
/// /proc/net/snmp; RcvbufErrors are counted in it).
fn udp_drops() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap();
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(h), Some(v)) = (lines.next(), lines.next()) else {
        return 0;
    };
    let pairs: Vec<(&str, u64)> = h
        .split_whitespace()
        .zip(v.split_whitespace().map(|x| x.parse().unwrap_or(0)))
        .collect();
    pairs
        .iter()
        .filter(|(k, _)| *k == "InErrors")
        .map(|(_, v)| v)
        .sum()
}

fn pid(d: &Dering) -> u32 {
    d.child.as_ref().unwrap().id()
}

/// A box tuned for load: no per-source rate limit or auth block to trip,
/// and an RTP range for 3,000 calls.
fn bench_box(extra_extensions: std::ops::Range<u32>, record: bool) -> Dering {
    bench_box_with(extra_extensions, record, |t| t)
}

/// [`bench_box`], its configuration then changed by `edit`.
fn bench_box_with(
    extra_extensions: std::ops::Range<u32>,
    record: bool,
    edit: impl FnOnce(String) -> String,
) -> Dering {
    Dering::start_with(move |t| {
        let t = if record {
            t
        } else {
            t.replace("percent = 100", "percent = 0")
        };
        let mut t = t
            .replace(
                "requests_per_second_per_source = 500",
                "requests_per_second_per_source = 10000000",
            )
            .replace(
                "auth_failures_before_block = 10",
                "auth_failures_before_block = 1000000",
            )
            .replace("no_answer_seconds = 8", "no_answer_seconds = 120");
        // RTP ports of its own, clear of the peers' (20000 up to the
        // ephemeral range, `hwtests::ports`) and of the other build's box
        // when two are up at once: a baseline that fails a call on a taken
        // port must not be made to meet one.
        let range = if BASELINE.load(Ordering::Relaxed) {
            "rtp_port_min = 36000\nrtp_port_max = 47999\n"
        } else {
            "rtp_port_min = 48000\nrtp_port_max = 59999\n"
        };
        let lo = t.find("rtp_port_min = ").unwrap();
        let end = t[lo..].find("\n[").unwrap() + lo;
        t.replace_range(lo..end, range);
        for n in extra_extensions {
            t.push_str(&format!("\n[[extension]]\nnumber = \"{n}\"\nname = \"Bench {n}\"\npassword = \"demo-{n}\"\n"));
        }
        let t = edit(t);
        if BASELINE.load(Ordering::Relaxed) {
            for_baseline(t)
        } else {
            t
        }
    })
}

/// sipp arguments for extension 1001 calling 1002 on box `d` with the
/// scenario `sf`; the local address and the rates are added by the caller.
fn caller_args(d: &Dering, sf: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["-sf", &sf.display().to_string(), &d.addr()]
        .map(String::from)
        .to_vec();
    args.extend(["-s", "1002", "-key", "me", "1001"].map(String::from));
    args.extend(credentials("1001"));
    args
}

/// `-i`/`-p`: sipp on loopback, on a free port.
fn local_args() -> Vec<String> {
    vec![
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_udp_port().to_string(),
    ]
}

/// Extension 1002 as a sipp UAS (answers every call, waits for the BYE),
/// registered from the port it listens on.
fn registered_callee(d: &Dering) -> Sipp {
    let port = free_udp_port();
    register(d, "1002", port, 3600);
    sipp_uas(d.dir(), port, &["-sn", "uas"], &["-timeout", "300"])
}

/// One sweep step: `head` (scenario and target), then the local address and
/// the step's rate, count and limit.
fn run_step(dir: &Path, label: String, mut head: Vec<String>, rate: u64, limit: u64) -> Run {
    head.extend(local_args());
    head.extend(step_args(rate, limit));
    sipp_run(dir, &label, &head, Duration::from_secs(90))
}

/// sipp arguments of one sweep step: `rate` calls a second for 5 s, at most
/// `limit` open at once, 60 s per call at most.
fn step_args(rate: u64, limit: u64) -> Vec<String> {
    let (r, m) = (rate.to_string(), (rate * 5).to_string());
    [
        "-r",
        &r,
        "-m",
        &m,
        "-l",
        &limit.to_string(),
        "-timeout",
        "60",
    ]
    .map(String::from)
    .to_vec()
}

/// Outcome of one sipp run: successful and failed calls, retransmissions.
struct Run {
    ok: u64,
    failed: u64,
    retrans: u64,
    wall: f64,
}

fn sipp_run(dir: &Path, label: &str, args: &[String], limit: Duration) -> Run {
    let stf = dir.join(format!("{label}.csv"));
    let mut all: Vec<String> = args.to_vec();
    all.extend([
        "-buff_size".into(),
        BUF.into(),
        "-trace_stat".into(),
        "-stf".into(),
    ]);
    all.push(stf.display().to_string());
    let t = Instant::now();
    let (_, _) = Sipp::spawn(dir, &all).wait(limit);
    let wall = t.elapsed().as_secs_f64();
    let csv = std::fs::read_to_string(&stf).unwrap_or_default();
    let mut lines = csv.lines();
    let (Some(h), Some(last)) = (lines.next(), csv.lines().last()) else {
        return Run {
            ok: 0,
            failed: 0,
            retrans: 0,
            wall,
        };
    };
    let get = |k: &str| -> u64 {
        h.split(';')
            .zip(last.split(';'))
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    Run {
        ok: get("SuccessfulCall(C)"),
        failed: get("FailedCall(C)"),
        retrans: get("Retransmissions(C)"),
        wall,
    }
}

fn spawn_bg(dir: &Path, args: &[&str]) -> Sipp {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Sipp::spawn(dir, &args)
}

/// sipp answering on 127.0.0.1:`port`, its `scenario` (`-sn uas` or
/// `-sf` a file) then `extra` arguments: a bench's carrier, callee or
/// agents' desks, returned once its socket is bound, so the first call
/// finds it listening.
fn sipp_uas(dir: &Path, port: u16, scenario: &[&str], extra: &[&str]) -> Sipp {
    let port_s = port.to_string();
    let mut args = scenario.to_vec();
    args.extend(["-i", "127.0.0.1", "-p", &port_s, "-buff_size", BUF]);
    args.extend(extra);
    let s = spawn_bg(dir, &args);
    hwtests::wait_bound(port, Duration::from_secs(10));
    s
}

fn kill(mut s: Sipp) {
    let _ = s.child.kill();
    let _ = s.child.wait();
}

/// The sweep's rates: `default`, or a comma-separated list in `var`.
fn rates_from_env(var: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(var)
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|_| default.to_vec())
}

/// Whether a step of a before-and-after sweep failed more than 1 % of
/// its calls (or none succeeded): its build goes no higher.
fn overloaded(run: &Run) -> bool {
    run.ok == 0 || run.failed * 100 > run.ok + run.failed
}

/// A rate sweep: prints each step; returns the best rate with no failure.
fn sweep(name: &str, rates: &[u64], mut step: impl FnMut(u64) -> Run) -> f64 {
    let mut best = 0.0f64;
    for &r in rates {
        let run = step(r);
        let eff = run.ok as f64 / run.wall;
        println!(
            "| {name} | {r}/s | {} ok | {} failed | {} retrans | {:.1} s | {:.0}/s |",
            run.ok, run.failed, run.retrans, run.wall, eff
        );
        if run.failed == 0 && run.ok > 0 {
            best = best.max(eff.min(r as f64));
        } else {
            break;
        }
    }
    best
}

// ---- call set-up rate -------------------------------------------------

fn cps(builds: &[Build]) {
    println!("\n## Call set-up rate (5 s per step)\n\n| path | target | ok | failed | retrans | wall | effective |\n|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let uas_port = free_udp_port();
    let uas = sipp_uas(dir.path(), uas_port, &["-sn", "uas"], &[]);
    let direct = sweep("direct", &[5000, 10000, 19000], |r| {
        let head = vec!["-sn".into(), "uac".into(), format!("127.0.0.1:{uas_port}")];
        run_step(dir.path(), format!("direct{r}"), head, r, 50000)
    });
    kill(uas);

    // Every build's box is up at once and the builds take turns at each
    // rate, so a burst of load on the machine hits them alike. A build
    // leaves the sweep once overloaded; its best clean rate is the best
    // step without a failed call (a few calls failed in a burst of the
    // machine's load do not end its sweep, and are in the table).
    struct Through {
        label: String,
        d: Dering,
        uas: Sipp,
        sf: PathBuf,
        /// The best rate without a failed call so far.
        best: f64,
        failed: bool,
        cpu_s: f64,
        wall: f64,
    }
    let mut boxes: Vec<Through> = builds
        .iter()
        .map(|b| {
            b.enter();
            let d = bench_box(0..0, false);
            let uas = registered_callee(&d);
            let bye = format!(
                "{}  <recv response=\"200\" crlf=\"true\"/>\n",
                caller_request("BYE", 3)
            );
            let sf = scenario(
                d.dir(),
                "uac.xml",
                &[("AFTER_INVITE", &uac_answered_then(&bye))],
            );
            Through {
                label: b.label.clone(),
                d,
                uas,
                sf,
                best: 0.0,
                failed: false,
                cpu_s: 0.0,
                wall: 0.0,
            }
        })
        .collect();
    let rates = rates_from_env("BENCH_CPS_RATES", &[500, 1000, 2000, 3000, 4000]);
    for &r in &rates {
        for (i, t) in boxes.iter_mut().enumerate() {
            if t.failed {
                continue;
            }
            builds[i].enter();
            let c0 = cpu_ticks(pid(&t.d));
            let run = run_step(
                t.d.dir(),
                format!("pbxd{r}"),
                caller_args(&t.d, &t.sf),
                r,
                50000,
            );
            t.cpu_s += (cpu_ticks(pid(&t.d)) - c0) as f64 / clk_tck();
            t.wall += run.wall;
            let eff = run.ok as f64 / run.wall;
            println!(
                "| through pbxd ({}) | {r}/s | {} ok | {} failed | {} retrans | {:.1} s | {eff:.0}/s |",
                t.label, run.ok, run.failed, run.retrans, run.wall
            );
            if run.failed == 0 && run.ok > 0 {
                t.best = t.best.max(eff.min(r as f64));
            }
            t.failed = overloaded(&run);
        }
    }
    println!();
    for (i, t) in boxes.into_iter().enumerate() {
        builds[i].enter();
        let best = t.best;
        kill(t.uas);
        let ended = t.d.query("cdr").len();
        println!(
            "Best clean rate ({}): direct {direct:.0}/s, through pbxd {best:.0}/s (ratio {:.3}); pbxd averaged {:.2} cores while its steps ran; {ended} call records written.",
            t.label,
            best / direct.max(1.0),
            t.cpu_s / t.wall.max(f64::MIN_POSITIVE)
        );
    }
    this_build(builds).enter();
}

// ---- concurrent calls with RTP -------------------------------------------

/// A loopback UDP socket with 4 MiB buffers: the generator's own sockets
/// must not be where packets are lost.
fn gen_socket() -> Arc<UdpSocket> {
    gen_socket_at([127, 0, 0, 1])
}

/// [`gen_socket`] on loopback address `ip` (a carrier's is 127.0.0.2).
fn gen_socket_at(ip: [u8; 4]) -> Arc<UdpSocket> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_recv_buffer_size(4 << 20).unwrap();
    s.set_send_buffer_size(4 << 20).unwrap();
    let addr = std::net::SocketAddr::from((ip, 0));
    s.bind(&addr.into()).unwrap();
    Arc::new(s.into())
}

/// Generator sockets (and sender threads) per side.
const GEN_SOCKETS: usize = 4;

/// An RTP packet: 12-byte header, 160 bytes of A-law (20 ms).
fn rtp_packet(seq: u16, ssrc: u32) -> [u8; 172] {
    // A-law 0xA5: a constant, audible value, so a recording shows every
    // frame that arrived and every one that was filled in.
    let mut p = [0xa5u8; 172];
    p[0] = 0x80;
    p[1] = 8;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

/// Sends `packet(seq, ssrc)` to every port every 20 ms until `stop`;
/// returns how many it sent. Like real phones, the calls' packets are
/// spread over the 20 ms (each port has its own 1 ms slot), and each
/// slot's packets leave in one `sendmmsg`, so the generator's sending
/// costs little of the cores pbxd shares with it.
fn sender(
    sock: Arc<UdpSocket>,
    ports: Vec<u16>,
    base: u32,
    stop: Arc<AtomicBool>,
    packet: fn(u16, u32) -> [u8; 172],
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
        use std::os::fd::AsRawFd;
        const SLOTS: usize = 20;
        let addrs: Vec<Option<SockaddrIn>> = ports
            .iter()
            .map(|p| Some(SockaddrIn::new(127, 0, 0, 1, *p)))
            .collect();
        let per_slot = ports.len().div_ceil(SLOTS).max(1);
        let mut headers = MultiHeaders::<SockaddrIn>::preallocate(per_slot, None);
        let mut sent = 0u64;
        let mut seq = 1u16;
        let start = Instant::now();
        let mut tick = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let slot = tick as usize % SLOTS;
            let from = (slot * per_slot).min(ports.len());
            let to = ((slot + 1) * per_slot).min(ports.len());
            let pkts: Vec<[u8; 172]> = (from..to).map(|i| packet(seq, base + i as u32)).collect();
            let iovs: Vec<[std::io::IoSlice; 1]> =
                pkts.iter().map(|p| [std::io::IoSlice::new(p)]).collect();
            let mut done = 0;
            while done < iovs.len() {
                let n = match sendmmsg(
                    sock.as_raw_fd(),
                    &mut headers,
                    iovs[done..].iter(),
                    &addrs[from + done..to],
                    [],
                    MsgFlags::empty(),
                ) {
                    Ok(r) => r.count(),
                    Err(_) => 0,
                };
                if n == 0 {
                    break;
                }
                done += n;
            }
            sent += done as u64;
            tick += 1;
            if slot == SLOTS - 1 {
                seq = seq.wrapping_add(1);
            }
            let next = start + Duration::from_millis(1) * tick;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        sent
    })
}

/// An RTP packet of A-law noise (speech-like for the DTMF detector: it
/// is analysed in full, unlike silence).
fn noise_packet(seq: u16, ssrc: u32) -> [u8; 172] {
    let mut p = rtp_packet(seq, ssrc);
    let mut x = u32::from(seq).wrapping_mul(2_654_435_761) ^ ssrc;
    for b in p[12..].iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    p
}

fn receiver(
    sock: Arc<UdpSocket>,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let n = Arc::new(AtomicU64::new(0));
    let count = n.clone();
    // recvmmsg: up to 64 packets a system call, and never a blocking
    // wait: the thread polls every millisecond. On loopback, waking a
    // sleeping receiver is work done by the *sender* (pbxd), which a phone
    // on the network never causes; a receiver that never sleeps on the
    // socket keeps that cost out of pbxd's figures.
    let h = std::thread::spawn(move || {
        use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrIn};
        use std::os::fd::AsRawFd;
        const BATCH: usize = 64;
        let mut bufs = vec![[0u8; 256]; BATCH];
        let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
        while !stop.load(Ordering::Relaxed) {
            let mut slices: Vec<[std::io::IoSliceMut; 1]> = bufs
                .iter_mut()
                .map(|b| [std::io::IoSliceMut::new(&mut b[..])])
                .collect();
            let got = recvmmsg(
                sock.as_raw_fd(),
                &mut headers,
                slices.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map(|r| r.count())
            .unwrap_or(0);
            count.fetch_add(got as u64, Ordering::Relaxed);
            if got < BATCH {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    (n, h)
}

/// The table head of the `rtp` and `rec` steps.
const RTP_HEAD: &str = "| build | calls asked | calls up | packets/s into pbxd | caller->callee sent / received | callee->caller sent / received | lost | kernel UDP drops | pbxd cores | pbxd RSS MiB | KiB per call |\n|---|---|---|---|---|---|---|---|---|---|---|";

/// The generator's sockets: call `i`'s caller side sends and receives on
/// `a[i % GEN_SOCKETS]`, its callee side on `b[i % GEN_SOCKETS]`.
struct Gen {
    a: Vec<Arc<UdpSocket>>,
    b: Vec<Arc<UdpSocket>>,
}

impl Gen {
    fn new() -> Gen {
        Gen {
            a: (0..GEN_SOCKETS).map(|_| gen_socket()).collect(),
            b: (0..GEN_SOCKETS).map(|_| gen_socket()).collect(),
        }
    }

    /// The port call `i`'s caller (`side_a`) or callee side uses.
    fn port(&self, side_a: bool, i: usize) -> u16 {
        let socks = if side_a { &self.a } else { &self.b };
        socks[i % GEN_SOCKETS].local_addr().unwrap().port()
    }
}

/// What one media window measured, at one relay process.
struct Media {
    calls: usize,
    sent_a: u64,
    /// Caller packets that reached the callee side.
    got_b: u64,
    sent_b: u64,
    got_a: u64,
    lost: u64,
    drops: u64,
    /// The relay's CPU time over the window, and the window.
    cpu_s: f64,
    secs: f64,
    rss_kb: u64,
}

impl Media {
    fn cores(&self) -> f64 {
        self.cpu_s / self.secs
    }

    /// The columns every media table shares: packets a second into the
    /// relay, each direction's sent / received, lost, kernel drops and the
    /// relay's cores.
    fn cells(&self) -> String {
        format!(
            "{:.0} | {} / {} | {} / {} | {} | {} | {:.2}",
            (self.sent_a + self.sent_b) as f64 / self.secs,
            self.sent_a,
            self.got_b,
            self.sent_b,
            self.got_a,
            self.lost,
            self.drops,
            self.cores(),
        )
    }

    /// CPU per relayed call-second, in microseconds.
    fn us_per_call_second(&self) -> f64 {
        self.cpu_s * 1e6 / (self.calls.max(1) as f64 * self.secs)
    }
}

/// Drives 20 ms A-law both ways through every call of `legs` (the relay
/// port each side sends to: `(caller's, callee's)`) for `window`, and
/// measures relay process `pid` over it. One packet from each side first
/// latches every leg to the generator, 0.5 s before the stream: well
/// inside a strict relay's latching window, which opens with a leg's first
/// packet. `during` runs once the stream has started (the window lasts
/// `window` whatever it does).
fn drive(pid: u32, g: &Gen, legs: &[(u16, u16)], window: Duration, during: impl FnOnce()) -> Media {
    for (i, (a, b)) in legs.iter().enumerate() {
        let k = i % GEN_SOCKETS;
        g.a[k]
            .send_to(&rtp_packet(0, i as u32), ("127.0.0.1", *a))
            .unwrap();
        g.b[k]
            .send_to(&rtp_packet(0, i as u32 + 1_000_000), ("127.0.0.1", *b))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    // The latching packets relayed are not the stream's: only what the
    // senders send is counted at the other end.
    for sock in g.a.iter().chain(g.b.iter()) {
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        while sock.recv(&mut buf).is_ok() {}
        sock.set_nonblocking(false).unwrap();
    }
    let stop_rx = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> =
        g.a.iter()
            .chain(g.b.iter())
            .map(|s| receiver(s.clone(), stop_rx.clone()))
            .collect();
    let stop_tx = Arc::new(AtomicBool::new(false));
    let ports_on = |k: usize, side_a: bool| -> Vec<u16> {
        legs.iter()
            .enumerate()
            .filter(|(i, _)| i % GEN_SOCKETS == k)
            .map(|(_, c)| if side_a { c.0 } else { c.1 })
            .collect()
    };
    let drops0 = udp_drops();
    let (c0, t0) = (cpu_ticks(pid), Instant::now());
    let senders: Vec<_> = (0..GEN_SOCKETS)
        .flat_map(|k| {
            [
                sender(
                    g.a[k].clone(),
                    ports_on(k, true),
                    0,
                    stop_tx.clone(),
                    rtp_packet,
                ),
                sender(
                    g.b[k].clone(),
                    ports_on(k, false),
                    1_000_000,
                    stop_tx.clone(),
                    rtp_packet,
                ),
            ]
        })
        .collect();
    during();
    if let Some(rest) = window.checked_sub(t0.elapsed()) {
        std::thread::sleep(rest);
    }
    let rss_kb = rss_kb(pid);
    stop_tx.store(true, Ordering::Relaxed);
    let sent: Vec<u64> = senders.into_iter().map(|h| h.join().unwrap()).collect();
    let sent_a: u64 = sent.iter().step_by(2).sum();
    let sent_b: u64 = sent.iter().skip(1).step_by(2).sum();
    let (cpu_s, secs) = (
        (cpu_ticks(pid) - c0) as f64 / clk_tck(),
        t0.elapsed().as_secs_f64(),
    );
    std::thread::sleep(Duration::from_millis(500));
    stop_rx.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = receivers
        .into_iter()
        .map(|(n, h)| {
            h.join().unwrap();
            n.load(Ordering::Relaxed)
        })
        .collect();
    let drops = udp_drops() - drops0;
    // A's packets arrive on B's generator sockets, and the other way round.
    let got_a: u64 = counts[..GEN_SOCKETS].iter().sum();
    let got_b: u64 = counts[GEN_SOCKETS..].iter().sum();
    Media {
        calls: legs.len(),
        sent_a,
        got_b,
        sent_b,
        got_a,
        lost: (sent_a - got_b.min(sent_a)) + (sent_b - got_a.min(sent_b)),
        drops,
        cpu_s,
        secs,
        rss_kb,
    }
}

/// `n` calls from 1001 to 1002 on box `d`, answered and held up.
struct Held {
    uac: Sipp,
    uas: Sipp,
    /// Each answered call's relay ports: (caller's, callee's).
    legs: Vec<(u16, u16)>,
    /// How long sipp holds each call before its BYE.
    hold_ms: u64,
}

fn hold_calls(d: &Dering, n: usize, hold_ms: u64) -> Held {
    let uas = registered_callee(d);
    let uac = hold_callers(d, "uac.xml", hold_ms, n, |sf| {
        let mut args = caller_args(d, sf);
        args.extend(local_args());
        args.extend(["-buff_size".into(), BUF.into()]);
        args
    });
    Held {
        uac,
        uas,
        legs: calls_in(d, "answered", n, legs_of),
        hold_ms,
    }
}

/// sipp's callers holding `n` calls up at once: scenario `file` (the
/// phones' `uac.xml` or the carrier's `carrier_uac.xml`) answered, then
/// `hold_ms` with the call up, then the BYE; `head` gives the arguments
/// for the scenario's path (target, addresses), the rate and counts are
/// added here. Every held-calls bench starts its callers so.
fn hold_callers(
    d: &Dering,
    file: &str,
    hold_ms: u64,
    n: usize,
    head: impl FnOnce(&Path) -> Vec<String>,
) -> Sipp {
    let sf = hold_scenario(d.dir(), file, hold_ms);
    let mut args = head(&sf);
    let n = n.to_string();
    args.extend(["-r", "200", "-m", &n, "-l", &n, "-timeout", "300"].map(String::from));
    Sipp::spawn(d.dir(), &args)
}

/// Caller scenario `file` written to `dir` with the call, once answered,
/// held up for `hold_ms` and then ended by the caller's BYE.
fn hold_scenario(dir: &Path, file: &str, hold_ms: u64) -> PathBuf {
    let after = format!(
        "  <pause milliseconds=\"{hold_ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    );
    scenario(dir, file, &[("AFTER_INVITE", &uac_answered_then(&after))])
}

/// What `pick` reads from each of the box's calls in `state`, once `n`
/// calls are in it (or after a bound that grows with `n`).
fn calls_in<T>(
    d: &Dering,
    state: &str,
    n: usize,
    pick: impl Fn(&serde_json::Value) -> Option<T>,
) -> Vec<T> {
    let t = Instant::now();
    loop {
        let calls: Vec<T> = d
            .query("calls")
            .iter()
            .filter(|c| c["state"] == state)
            .filter_map(&pick)
            .collect();
        if calls.len() >= n || t.elapsed() > Duration::from_secs(n as u64 / 100 + 20) {
            return calls;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A call's relay ports: (caller's, callee's).
fn legs_of(c: &serde_json::Value) -> Option<(u16, u16)> {
    Some((
        u16::try_from(c["a_port"].as_u64()?).ok()?,
        u16::try_from(c["b_port"].as_u64()?).ok()?,
    ))
}

/// `n` calls through pbxd with media both ways for 10 s (recorded, with
/// `record`): what the window measured, handed with pbxd's memory per call
/// set up to `report` before the recordings are read back.
fn rtp(n: usize, record: bool, report: impl FnOnce(&Media, f64)) -> Media {
    let d = bench_box(0..0, record);
    let p = pid(&d);
    let rss_idle = rss_kb(p);
    let held = hold_calls(&d, n, (n as u64 / 200 + 25) * 1000);
    let rss_calls = rss_kb(p);
    let kib_per_call = (rss_calls.saturating_sub(rss_idle)) as f64 / held.legs.len().max(1) as f64;
    let window = Duration::from_secs(10);
    let m = drive(p, &Gen::new(), &held.legs, window, || {});
    report(&m, kib_per_call);
    if record {
        // Recordings close when their calls end: let sipp hang up.
        let _ = held
            .uac
            .wait(Duration::from_millis(held.hold_ms) + Duration::from_secs(60));
        kill(held.uas);
        check_recordings(&d, held.legs.len(), window);
    } else {
        kill(held.uac);
        kill(held.uas);
    }
    m
}

/// [`rtp`], printed as a row of [`RTP_HEAD`].
fn rtp_row(label: &str, n: usize, record: bool) {
    rtp(n, record, |m, kib| {
        println!(
            "| {label} | {n} | {} | {} | {:.1} | {kib:.0} |",
            m.calls,
            m.cells(),
            m.rss_kb as f64 / 1024.0,
        )
    });
}

/// Reads every recording back: frames carrying the bench's value on each
/// channel, and frames in the media window that did not (gaps: lost or
/// concealed).
fn check_recordings(d: &Dering, calls: usize, window: Duration) {
    let t = Instant::now();
    let rows = loop {
        let out = std::process::Command::new(hwtests::dering_bin())
            .args(["recordings", "--json", "--data-dir"])
            .arg(d.dir())
            .output()
            .unwrap();
        let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let done = rows.iter().filter(|r| r["state"] == "complete").count();
        if done >= calls || t.elapsed() > Duration::from_secs(120) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let v = dering_media::g711::Law::Alaw.decode_one(0xa5);
    let (mut min_frames, mut gaps, mut bytes, mut ms) = (usize::MAX, 0usize, 0u64, 0u64);
    let mut files = 0;
    for r in rows.iter().filter(|r| r["state"] == "complete") {
        let Some(path) = r["path"].as_str() else {
            continue;
        };
        let Ok(mut w) = hound::WavReader::open(path) else {
            continue;
        };
        files += 1;
        bytes += r["bytes"].as_u64().unwrap_or(0);
        ms += r["duration_ms"].as_u64().unwrap_or(0);
        let s: Vec<i16> = w.samples::<i16>().filter_map(Result::ok).collect();
        for ch in 0..2 {
            let frames: Vec<bool> = s
                .chunks(320)
                .map(|f| f.iter().skip(ch).step_by(2).all(|x| *x == v))
                .collect();
            let first = frames.iter().position(|x| *x);
            let last = frames.iter().rposition(|x| *x);
            let (Some(a), Some(b)) = (first, last) else {
                min_frames = 0;
                continue;
            };
            // The latching packet came 0.5 s before the stream: the
            // window starts with the stream, a second after it.
            let a = (a + 50).min(b);
            let good = frames[a..=b].iter().filter(|x| **x).count();
            min_frames = min_frames.min(good);
            gaps += (b + 1 - a) - good;
        }
    }
    let per_call_kib_s = bytes as f64 / 1024.0 / (ms as f64 / 1000.0).max(1.0);
    println!(
        "| | recorded | {files} of {calls} files complete | fewest full frames in a channel: {min_frames} of about {} | gap frames in all files: {gaps} | about {per_call_kib_s:.0} KiB/s written per call | | | | | |",
        window.as_millis() / 20 - 25
    );
}

// ---- callers in the IVR -------------------------------------------------

/// `n` callers on 137 listening to the menu (prompts from the box) and
/// sending audio that the DTMF detector analyses, for a 10 s window.
fn ivr(n: usize) {
    let d = bench_box(0..0, false);
    let p = pid(&d);
    let hold_ms = (n as u64 / 200 + 15) * 1000;
    let uac = hold_callers(&d, "uac.xml", hold_ms, n, |sf| {
        let mut args = caller_args(&d, sf);
        if let Some(i) = args.iter().position(|a| a == "-s") {
            args[i + 1] = "137".into();
        }
        args.extend(local_args());
        args.extend(["-buff_size".into(), BUF.into()]);
        args
    });
    let ports = calls_in(&d, "flow", n, |c| u16::try_from(c["a_port"].as_u64()?).ok());
    let gens: Vec<Arc<UdpSocket>> = (0..GEN_SOCKETS).map(|_| gen_socket()).collect();
    for (i, port) in ports.iter().enumerate() {
        gens[i % GEN_SOCKETS]
            .send_to(&noise_packet(0, i as u32), ("127.0.0.1", *port))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let stop_rx = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = gens
        .iter()
        .map(|s| receiver(s.clone(), stop_rx.clone()))
        .collect();
    let stop_tx = Arc::new(AtomicBool::new(false));
    let window = Duration::from_secs(10);
    let (c0, t0) = (cpu_ticks(p), Instant::now());
    let senders: Vec<_> = (0..GEN_SOCKETS)
        .map(|k| {
            let mine: Vec<u16> = ports
                .iter()
                .enumerate()
                .filter(|(i, _)| i % GEN_SOCKETS == k)
                .map(|(_, p)| *p)
                .collect();
            sender(gens[k].clone(), mine, 0, stop_tx.clone(), noise_packet)
        })
        .collect();
    std::thread::sleep(window);
    let cores = (cpu_ticks(p) - c0) as f64 / clk_tck() / t0.elapsed().as_secs_f64();
    stop_rx.store(true, Ordering::Relaxed);
    stop_tx.store(true, Ordering::Relaxed);
    let sent: u64 = senders.into_iter().map(|h| h.join().unwrap()).sum();
    let got: u64 = receivers
        .into_iter()
        .map(|(n, h)| {
            h.join().unwrap();
            n.load(Ordering::Relaxed)
        })
        .sum();
    let secs = window.as_secs_f64() + 0.5;
    println!(
        "| {n} | {} | {:.0} | {:.1} | {cores:.2} | {:.3} |",
        ports.len(),
        sent as f64 / window.as_secs_f64(),
        got as f64 / secs / ports.len().max(1) as f64,
        cores / ports.len().max(1) as f64 * 100.0
    );
    kill(uac);
}

// ---- registrations ---------------------------------------------------------

const REG_USERS: std::ops::Range<u32> = 20_000..30_000;

fn users_file(dir: &Path) -> PathBuf {
    let mut s = String::from("SEQUENTIAL\n");
    for u in REG_USERS {
        s.push_str(&format!(
            "{u};[authentication username={u} password=demo-{u}]\n"
        ));
    }
    let p = dir.join("users.csv");
    std::fs::write(&p, s).unwrap();
    p
}

fn kamailio(dir: &Path, port: u16) -> Child {
    require("kamailio");
    let cfg = std::fs::read_to_string(workspace().join("../shared/peers/kamailio-auth.cfg"))
        .unwrap()
        .replace("udp:127.0.0.1:5070", &format!("udp:127.0.0.1:{port}"))
        .replace(
            "/tmp/peers/kamailio/kamailio_auth_ctl",
            &dir.join("ctl").display().to_string(),
        );
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, cfg).unwrap();
    use std::os::unix::process::CommandExt;
    let child = Command::new("kamailio")
        // A group of its own: kamailio forks its workers, and stopping
        // the first process alone leaves them running (`stop_group`).
        .process_group(0)
        .arg("-f")
        .arg(&path)
        .arg("-P")
        .arg(dir.join("k.pid"))
        .arg("-Y")
        .arg(dir)
        .args(["-DD", "-E", "-m", "256", "-M", "16"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("kamailio.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    child
}

/// Stops `child` and every process of its group (started with
/// `process_group(0)`), then reaps it.
fn stop_group(mut child: Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    let t = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}

fn reg(builds: &[Build]) {
    println!("\n## Challenged registrations/s (5 s per step, 10,000 users)\n\n| registrar | target | ok | failed | retrans | wall | effective |\n|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let sf = scenario(dir.path(), "register_many.xml", &[]);
    let step = |target: String, label: String, r: u64| {
        let args: Vec<String> = [
            "-sf",
            &sf.display().to_string(),
            "-inf",
            &users.display().to_string(),
            &target,
        ]
        .map(String::from)
        .to_vec();
        run_step(dir.path(), format!("{label}{r}"), args, r, 20000)
    };
    let kport = free_udp_port();
    let k = kamailio(dir.path(), kport);
    let rates = rates_from_env("BENCH_REG_RATES", &[2000, 4000, 6000, 8000, 10000]);
    let kam = sweep("kamailio (auth, in memory)", &rates, |r| {
        step(format!("127.0.0.1:{kport}"), "kam".into(), r)
    });
    stop_group(k);

    // As in `cps`: every build's box up at once, the builds taking turns
    // at each rate, each leaving the sweep once overloaded.
    let boxes: Vec<(Dering, u64)> = builds
        .iter()
        .map(|b| {
            b.enter();
            let d = bench_box(REG_USERS, false);
            let rss = rss_kb(pid(&d));
            (d, rss)
        })
        .collect();
    let mut best = vec![0.0f64; builds.len()];
    let mut failed = vec![false; builds.len()];
    for &r in &rates {
        for (i, (d, _)) in boxes.iter().enumerate() {
            if failed[i] {
                continue;
            }
            builds[i].enter();
            let c0 = cpu_ticks(pid(d));
            let run = step(d.addr(), format!("pbxd{i}-"), r);
            let cpu_s = (cpu_ticks(pid(d)) - c0) as f64 / clk_tck();
            let eff = run.ok as f64 / run.wall;
            println!(
                "| pbxd (auth, persisted; {}) | {r}/s | {} ok | {} failed | {} retrans | {:.1} s | {eff:.0}/s; pbxd {:.2} cores, {:.0} µs CPU per registration |",
                builds[i].label,
                run.ok,
                run.failed,
                run.retrans,
                run.wall,
                cpu_s / run.wall,
                cpu_s * 1e6 / run.ok.max(1) as f64
            );
            if run.failed == 0 && run.ok > 0 {
                best[i] = best[i].max(eff.min(r as f64));
            }
            failed[i] = overloaded(&run);
        }
    }
    println!();
    for (i, (d, rss_before)) in boxes.iter().enumerate() {
        builds[i].enter();
        let regs = d.query("registrations").len();
        let rss_after = rss_kb(pid(d));
        println!(
            "Best clean rate ({}): kamailio {kam:.0}/s, pbxd {:.0}/s (ratio {:.3}). {regs} phones registered; pbxd RSS {:.1} MiB -> {:.1} MiB, {:.2} KiB per registered phone.",
            builds[i].label,
            best[i],
            best[i] / kam.max(1.0),
            *rss_before as f64 / 1024.0,
            rss_after as f64 / 1024.0,
            (rss_after.saturating_sub(*rss_before)) as f64 / regs.max(1) as f64
        );
    }
    this_build(builds).enter();
    // DERING_KEEP=1 keeps the sweep's sipp statistics and error files too.
    if std::env::var_os("DERING_KEEP").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
}

// ---- a configuration change with calls up ----------------------------------

/// `n` relayed calls (1,000) held up with media both ways through two 10 s
/// windows on the same box and generator: the first unchanged (the
/// baseline), the second with a new configuration version imported 3 s in
/// (`dering config import`: one extension added, the queue's strategy
/// changed). Reports the import's time from start to reply and each
/// window's loss; no packet may be lost to a change.
fn config_with_calls_up() {
    println!("\n## A configuration version imported with calls up (20 ms A-law both ways, 10 s windows)\n\n| window | calls up | caller->callee sent / received | callee->caller sent / received | lost | kernel UDP drops | pbxd cores | import: start to reply | reply |\n|---|---|---|---|---|---|---|---|---|");
    for n in rates_from_env("BENCH_CONFIG_CALLS", &[1000]) {
        let n = n as usize;
        let d = bench_box(0..0, false);
        let p = pid(&d);
        let held = hold_calls(&d, n, (n as u64 / 200 + 45) * 1000);
        let g = Gen::new();
        let window = Duration::from_secs(10);
        let row = |what: &str, m: &Media, took: &str, reply: &str| {
            println!(
                "| {what} | {} | {} / {} | {} / {} | {} | {} | {:.2} | {took} | {reply} |",
                m.calls,
                m.sent_a,
                m.got_b,
                m.sent_b,
                m.got_a,
                m.lost,
                m.drops,
                m.cores()
            );
        };
        let m = drive(p, &g, &held.legs, window, || {});
        row("unchanged (baseline)", &m, "-", "-");
        let text = std::fs::read_to_string(&d.config).unwrap();
        assert!(text.contains("strategy = \"longest-idle\""));
        let changed = text.replace("strategy = \"longest-idle\"", "strategy = \"round-robin\"")
            + "\n[[extension]]\nnumber = \"1888\"\nname = \"Added live\"\npassword = \"demo-1888\"\n";
        let file = d.dir().join("changed.toml");
        std::fs::write(&file, changed).unwrap();
        let mut outcome = (Duration::ZERO, String::new());
        let m = drive(p, &g, &held.legs, window, || {
            std::thread::sleep(Duration::from_secs(3));
            let t = Instant::now();
            let out = Command::new(hwtests::dering_bin())
                .args(["config", "import"])
                .arg(&file)
                .args(["--author", "bench", "--data-dir"])
                .arg(d.dir())
                .output()
                .unwrap();
            outcome = (
                t.elapsed(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
        });
        row(
            "configuration imported 3 s in",
            &m,
            &format!("{:.1} ms", outcome.0.as_secs_f64() * 1000.0),
            &format!("`{}`", outcome.1.replace('|', "/")),
        );
        kill(held.uac);
        kill(held.uas);
    }
}

// ---- the relay against the anchor: rtpengine ----------------------------

/// The same calls and media through rtpengine's userspace relay, set up
/// over its NG protocol, beside pbxd's relay in the same run.
mod anchor {
    use super::*;

    /// A bencoded value (BitTorrent's BEP 3), what rtpengine's NG control
    /// protocol carries over UDP after a cookie and a space.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Bv {
        Int(i64),
        Str(Vec<u8>),
        List(Vec<Bv>),
        Dict(Vec<(Vec<u8>, Bv)>),
    }

    impl Bv {
        pub fn s(x: &str) -> Bv {
            Bv::Str(x.as_bytes().to_vec())
        }

        /// A dictionary, its keys sorted as bencoding requires.
        pub fn dict(pairs: &[(&str, Bv)]) -> Bv {
            let mut v: Vec<(Vec<u8>, Bv)> = pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Bv::Dict(v)
        }

        pub fn encode(&self, out: &mut Vec<u8>) {
            match self {
                Bv::Int(n) => out.extend(format!("i{n}e").bytes()),
                Bv::Str(s) => {
                    out.extend(format!("{}:", s.len()).bytes());
                    out.extend(s);
                }
                Bv::List(l) => {
                    out.push(b'l');
                    l.iter().for_each(|x| x.encode(out));
                    out.push(b'e');
                }
                Bv::Dict(d) => {
                    out.push(b'd');
                    for (k, v) in d {
                        Bv::Str(k.clone()).encode(out);
                        v.encode(out);
                    }
                    out.push(b'e');
                }
            }
        }

        /// One value from the front of `b`, and what follows it; `None` if
        /// `b` does not start with a whole, well-formed value.
        pub fn decode(b: &[u8]) -> Option<(Bv, &[u8])> {
            let number = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<i64>().ok();
            match *b.first()? {
                b'i' => {
                    let end = b.iter().position(|&c| c == b'e')?;
                    Some((Bv::Int(number(&b[1..end])?), &b[end + 1..]))
                }
                b'l' => {
                    let (mut rest, mut v) = (&b[1..], Vec::new());
                    while *rest.first()? != b'e' {
                        let (x, r) = Bv::decode(rest)?;
                        v.push(x);
                        rest = r;
                    }
                    Some((Bv::List(v), &rest[1..]))
                }
                b'd' => {
                    let (mut rest, mut v) = (&b[1..], Vec::new());
                    while *rest.first()? != b'e' {
                        let (Bv::Str(k), r) = Bv::decode(rest)? else {
                            return None;
                        };
                        let (x, r) = Bv::decode(r)?;
                        v.push((k, x));
                        rest = r;
                    }
                    Some((Bv::Dict(v), &rest[1..]))
                }
                b'0'..=b'9' => {
                    let colon = b.iter().position(|&c| c == b':')?;
                    let len = usize::try_from(number(&b[..colon])?).ok()?;
                    let end = (colon + 1).checked_add(len)?;
                    let s = b.get(colon + 1..end)?;
                    Some((Bv::Str(s.to_vec()), &b[end..]))
                }
                _ => None,
            }
        }

        pub fn get(&self, key: &str) -> Option<&Bv> {
            match self {
                Bv::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn text(&self) -> Option<&str> {
            match self {
                Bv::Str(s) => std::str::from_utf8(s).ok(),
                _ => None,
            }
        }
    }

    /// A client of rtpengine's NG protocol: one request at a time, sent
    /// again after a second without an answer.
    struct Ng {
        sock: UdpSocket,
        to: std::net::SocketAddr,
    }

    impl Ng {
        fn new(port: u16) -> Ng {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            Ng {
                sock,
                to: ([127, 0, 0, 1], port).into(),
            }
        }

        fn ask(&self, req: &Bv) -> Option<Bv> {
            // rtpengine answers a cookie it has seen from its cache of
            // replies: every request of the run gets its own.
            static COOKIES: AtomicU64 = AtomicU64::new(0);
            let cookie = format!(
                "b{}-{} ",
                std::process::id(),
                COOKIES.fetch_add(1, Ordering::Relaxed)
            );
            let mut msg = cookie.clone().into_bytes();
            req.encode(&mut msg);
            let mut buf = vec![0u8; 65536];
            for _ in 0..5 {
                self.sock.send_to(&msg, self.to).ok()?;
                while let Ok(len) = self.sock.recv(&mut buf) {
                    if let Some(body) = buf[..len].strip_prefix(cookie.as_bytes()) {
                        return Bv::decode(body).map(|(v, _)| v);
                    }
                }
            }
            None
        }

        /// `command` with `args`; the answer if rtpengine said `ok`.
        fn command(&self, command: &str, args: &[(&str, Bv)]) -> Option<Bv> {
            let mut all = vec![("command", Bv::s(command))];
            all.extend(args.iter().cloned());
            let r = self.ask(&Bv::dict(&all))?;
            (r.get("result")?.text()? == "ok" || r.get("result")?.text()? == "pong").then_some(r)
        }
    }

    /// The SDP of a phone at the generator's `port`, A-law only.
    fn sdp(port: u16) -> String {
        format!("v=0\r\no=- {port} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")
    }

    /// The audio port an SDP names.
    fn audio_port(sdp: &str) -> Option<u16> {
        sdp.lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// rtpengine in the foreground, userspace only (`--table=-1`), on
    /// 127.0.0.1 with NG on `ng` and media ports of its own (50000-65000,
    /// above the harness's boxes and peers); warnings only, as pbxd runs.
    fn start(dir: &Path, ng: u16) -> Child {
        let child = Command::new("rtpengine")
            .args([
                "--config-file=none",
                "--table=-1",
                "--foreground",
                "--log-stderr",
                "--log-level=4",
                "--interface=127.0.0.1",
                &format!("--listen-ng=127.0.0.1:{ng}"),
                "--port-min=50000",
                "--port-max=65000",
                "--delete-delay=0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("rtpengine.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let ng = Ng::new(ng);
        let t = Instant::now();
        while ng.command("ping", &[]).is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "rtpengine did not answer NG pings; see {}",
                dir.join("rtpengine.log").display()
            );
        }
        child
    }

    /// `n` calls through rtpengine, each offered and answered over NG with
    /// the generator's ports in the SDP, media for 10 s, then deleted.
    fn rtpengine(n: usize) -> Media {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let mut child = start(dir.path(), port);
        let ng = Ng::new(port);
        let g = Gen::new();
        let mut legs = Vec::with_capacity(n);
        for i in 0..n {
            let (call, from, to) = (format!("bench-{i}"), format!("a{i}"), format!("b{i}"));
            let Some(offer) = ng.command(
                "offer",
                &[
                    ("call-id", Bv::s(&call)),
                    ("from-tag", Bv::s(&from)),
                    ("sdp", Bv::s(&sdp(g.port(true, i)))),
                ],
            ) else {
                break;
            };
            let Some(answer) = ng.command(
                "answer",
                &[
                    ("call-id", Bv::s(&call)),
                    ("from-tag", Bv::s(&from)),
                    ("to-tag", Bv::s(&to)),
                    ("sdp", Bv::s(&sdp(g.port(false, i)))),
                ],
            ) else {
                break;
            };
            // The offer's rewritten SDP goes to the callee: where it sends;
            // the answer's to the caller.
            let port_of = |r: &Bv| r.get("sdp").and_then(Bv::text).and_then(audio_port);
            let (Some(callee_to), Some(caller_to)) = (port_of(&offer), port_of(&answer)) else {
                break;
            };
            legs.push((caller_to, callee_to));
        }
        let m = drive(child.id(), &g, &legs, Duration::from_secs(10), || {});
        for i in 0..legs.len() {
            let _ = ng.command(
                "delete",
                &[
                    ("call-id", Bv::s(&format!("bench-{i}"))),
                    ("from-tag", Bv::s(&format!("a{i}"))),
                ],
            );
        }
        let _ = child.kill();
        let _ = child.wait();
        m
    }

    /// The `rtpengine` step: for each N, rtpengine's relay, then pbxd's,
    /// the same generator and window; CPU per relayed call-second and the
    /// ratio to rtpengine's.
    pub fn versus_rtpengine() {
        require("rtpengine");
        println!("\n## The relay against the anchor: rtpengine, userspace (20 ms A-law both ways, 10 s window)\n\n| relay | calls asked | calls up | packets/s in | caller->callee sent / received | callee->caller sent / received | lost | kernel UDP drops | relay cores | CPU µs per relayed call-second | against rtpengine |\n|---|---|---|---|---|---|---|---|---|---|---|");
        for n in rates_from_env("BENCH_ANCHOR_CALLS", &[500, 1000]) {
            let n = n as usize;
            let theirs = rtpengine(n);
            let ours = rtp(n, false, |_, _| {});
            let base = theirs.us_per_call_second();
            for (name, m) in [("rtpengine (--table=-1)", &theirs), ("pbxd", &ours)] {
                println!(
                    "| {name} | {n} | {} | {} | {:.1} | {:.2} |",
                    m.calls,
                    m.cells(),
                    m.us_per_call_second(),
                    m.us_per_call_second() / base.max(f64::MIN_POSITIVE),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::anchor::Bv;

    /// What rtpengine answers an offer with decodes, and a request
    /// encodes with its keys sorted, as bencoding requires.
    #[test]
    fn bencode_round_trips_an_ng_exchange() {
        let req = Bv::dict(&[
            ("sdp", Bv::s("v=0\r\n")),
            ("command", Bv::s("offer")),
            ("flags", Bv::List(vec![Bv::s("x"), Bv::Int(-3)])),
        ]);
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(
            out,
            b"d7:command5:offer5:flagsl1:xi-3ee3:sdp5:v=0\r\ne".to_vec()
        );
        let (back, rest) = Bv::decode(&out).unwrap();
        assert_eq!((back, rest), (req, &b""[..]));
        let answer = b"d3:sdp4:m=au6:result2:oke";
        let (v, _) = Bv::decode(answer).unwrap();
        assert_eq!(v.get("result").and_then(Bv::text), Some("ok"));
        assert_eq!(v.get("sdp").and_then(Bv::text), Some("m=au"));
        // Truncated or lying lengths are refused, not read past.
        assert_eq!(Bv::decode(b"d3:sdp40:m=aue"), None);
        assert_eq!(Bv::decode(b"l1:x"), None);
    }
}
