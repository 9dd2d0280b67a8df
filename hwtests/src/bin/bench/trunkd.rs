//! `bench trunkd` (issue 14, Performance): eight simulated E1 spans, 240
//! B-channels, fully busy with calls through trunkd into pbxd, beside the
//! same 240 calls placed over SIP by sipp straight to pbxd, in one run on
//! one box.
//!
//! - Baseline: extension 1001 calls 1002 (a sipp UAS) 240 times; the
//!   bench's generator sends 20 ms A-law both ways for the window.
//! - E1: on each span libpri (the project's one harness,
//!   `crates/isdn/tests/libpri/pri_harness.c`) is the carrier's exchange
//!   and places 30 calls to the DID of extension 1002; trunkd's shell runs
//!   in this process on the eight simulated spans (as `tests/trunkd.rs`
//!   runs it on one), so the bench holds each B-channel's far end: a block
//!   of A-law every 20 ms on every timeslot, and everything heard counted.
//!   The generator plays the callee's side.
//!
//! Measured over the same window: pbxd's CPU (its process), trunkd's (its
//! one thread, `/proc/self/task/TID`), per call or channel-second; the
//! board's counters (D-channel frames dropped for a bad FCS, frame slips:
//! they must stay 0), libpri's protocol errors (must be none), and the
//! audio each way. It returns false when a call was not answered, a frame
//! was lost or libpri logged an error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dering_board::sim::{connect_seqpacket, E1Line, SimE1};
use dering_board::{Span, BLOCK_LEN};
use dering_config::{Hunting, SpanConfig, SpanDevice, SpanSide, Trunkd};
use hwtests::shell_thread::ShellThread;
use hwtests::{workspace, Dering};

use super::{
    bench_box_with, clk_tck, cpu_ticks, drive, hold_calls, kill, pid, receiver, rtp_packet, sender,
    Gen, Media, GEN_SOCKETS,
};

/// Spans (`BENCH_E1_SPANS`, 1 to 8, for a quick look; 8 by default) and
/// B-channels per span (an E1's 30).
fn span_count() -> usize {
    std::env::var("BENCH_E1_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(8, |n: usize| n.clamp(1, 8))
}
const PER_SPAN: usize = 30;
/// The DID the carrier calls, ringing extension 1002.
const DID: &str = "0215550200";
/// trunkd's address (the box's trusted gateway; the phones are on
/// 127.0.0.1) and its first RTP port.
const TRUNKD_IP: [u8; 4] = [127, 0, 0, 3];
const TRUNKD_RTP: u16 = 30_000;
/// The media window, and how long every call is held: set-up, latching
/// and the window, with room.
const WINDOW: Duration = Duration::from_secs(15);
const HOLD_S: u64 = 35;

/// The E1 timeslots of B-channels: 1–15 and 17–31.
fn timeslots() -> Vec<u8> {
    (1..=31).filter(|t| *t != 16).collect()
}

/// libpri carriers, killed when the bench ends however it ends.
struct Carriers(Vec<(Child, PathBuf)>);

impl Drop for Carriers {
    fn drop(&mut self) {
        for (c, _) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Carriers {
    /// Builds the harness in `dir` and starts one per span, listening on
    /// `dir/spanN.sock`, each placing 30 calls to [`DID`] once its data
    /// link is up and hanging each up [`HOLD_S`] after its answer.
    fn start(dir: &Path) -> Carriers {
        let bin = dir.join("pri_harness");
        let out = Command::new("gcc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&bin)
            .arg(workspace().join("crates/isdn/tests/libpri/pri_harness.c"))
            .arg("-lpri")
            .output()
            .expect("gcc runs (libpri-dev: bash .ci/install-peers)");
        assert!(
            out.status.success(),
            "gcc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hold = HOLD_S.to_string();
        let per_span = PER_SPAN.to_string();
        Carriers(
            (1..=span_count())
                .map(|n| {
                    let log = dir.join(format!("carrier{n}.log"));
                    let child = Command::new(&bin)
                        .args(["-m", "net", "-l", "-q", "-t", "150", "-d", DID])
                        .args(["-n", &per_span, "-a", &hold, "-g", "0.05", "-s"])
                        .arg(dir.join(format!("span{n}.sock")))
                        .stdout(std::fs::File::create(&log).unwrap())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    (child, log)
                })
                .collect(),
        )
    }

    /// How many lines of every carrier's log contain `what`.
    fn count(&self, what: &str) -> usize {
        self.0
            .iter()
            .map(|(_, log)| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .matches(what)
                    .count()
            })
            .sum()
    }
}

/// trunkd's shell on the eight spans, in a thread of this process.
struct Trunk {
    lines: Vec<E1Line>,
    spans: Vec<Box<dyn Span + Send>>,
    /// `/proc/self/task/TID/stat` of the shell's thread.
    stat: Arc<Mutex<Option<PathBuf>>>,
    shell: ShellThread,
}

impl Trunk {
    fn start(dir: &Path, pbx_port: u16) -> Trunk {
        let ip = std::net::IpAddr::from(TRUNKD_IP);
        let mut spans = Vec::new();
        let mut ios = Vec::new();
        let mut lines = Vec::new();
        let mut cfgs = Vec::new();
        for n in 1..=span_count() {
            let sock = dir.join(format!("span{n}.sock"));
            let t = Instant::now();
            let far = loop {
                match connect_seqpacket(&sock) {
                    Ok(f) => break f,
                    Err(e) if t.elapsed() > Duration::from_secs(10) => {
                        panic!("carrier {n} never listened: {e}")
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            let e1 = SimE1::new(n as u32, far).unwrap();
            spans.push(Box::new(e1.span.clone()) as Box<dyn Span + Send>);
            let (io, line) = ::trunkd::shell::sim_span(e1, &timeslots());
            ios.push(io);
            lines.push(line.unwrap());
            cfgs.push(SpanConfig {
                name: format!("e1-{n}"),
                span: n as u32,
                device: SpanDevice::Simulated { socket: sock },
                side: SpanSide::User,
                channels: timeslots(),
                hunting: Hunting::Ascending,
                digit_timeout_ms: 4000,
                max_calls: PER_SPAN as u32,
                country_code: "62".into(),
            });
        }
        let cfg = Trunkd {
            sip: std::net::SocketAddr::new(ip, hwtests::free_udp_port()),
            pbx: std::net::SocketAddr::from(([127, 0, 0, 1], pbx_port)),
            rtp_port_min: TRUNKD_RTP,
            spans: cfgs,
            lines: Vec::new(),
        };
        let stat = Arc::new(Mutex::new(None));
        let shell = {
            let stat = Arc::clone(&stat);
            ShellThread::spawn(move |stop| {
                // "/proc/thread-self" names this thread: PID/task/TID.
                let me = std::fs::read_link("/proc/thread-self").ok();
                *stat.lock().unwrap() = me.map(|p| Path::new("/proc").join(p).join("stat"));
                ::trunkd::shell::run(&cfg, ios, 1, stop, || {})
            })
        };
        Trunk {
            lines,
            spans,
            stat,
            shell,
        }
    }

    /// user+system CPU ticks of the shell's thread.
    fn cpu_ticks(&self) -> u64 {
        let path = self.stat.lock().unwrap().clone().expect("shell started");
        let stat = std::fs::read_to_string(path).unwrap_or_default();
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            return 0;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)
    }

    /// D-channel frames dropped for their FCS and frame slips, all spans.
    fn lost_frames(&mut self) -> u64 {
        self.spans
            .iter_mut()
            .map(|s| s.status().map_or(u64::MAX / 16, |st| st.bad_fcs + st.slips))
            .sum()
    }

    fn stop(self) {
        if let Err(e) = self.shell.stop() {
            eprintln!("trunkd: {e}");
        }
    }
}

/// The far ends of every B-channel for `window`: a block every 20 ms on
/// each, everything heard counted. Returns (blocks sent, blocks heard).
fn far_ends(lines: &[E1Line], window: Duration) -> (u64, u64) {
    let (mut sent, mut heard) = (0u64, 0u64);
    let end = Instant::now() + window;
    let mut tick = Instant::now();
    while Instant::now() < end {
        for line in lines {
            for ts in timeslots() {
                line.send_audio(u32::from(ts), &[0x55; BLOCK_LEN]);
                sent += 1;
                heard += line.take_audio(u32::from(ts)).len() as u64;
            }
        }
        tick += Duration::from_millis(20);
        std::thread::sleep(tick.saturating_duration_since(Instant::now()));
    }
    (sent, heard / BLOCK_LEN as u64)
}

/// The answered calls' relay ports (caller's, callee's), once `n` are up
/// or after a bound.
fn answered_legs(d: &Dering, n: usize, limit: Duration) -> Vec<(u16, u16)> {
    let t = Instant::now();
    loop {
        let legs: Vec<(u16, u16)> = d
            .query("calls")
            .iter()
            .filter(|c| c["state"] == "answered")
            .filter_map(|c| {
                Some((
                    u16::try_from(c["a_port"].as_u64()?).ok()?,
                    u16::try_from(c["b_port"].as_u64()?).ok()?,
                ))
            })
            .collect();
        if legs.len() >= n || t.elapsed() > limit {
            return legs;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The E1 window: the generator on the callee legs (`b` ports), the far
/// ends on the B-channels; pbxd's and trunkd's CPU over it.
struct E1Window {
    calls: usize,
    far_sent: u64,
    /// Far-end blocks that reached the callee side as RTP.
    callee_got: u64,
    callee_sent: u64,
    /// Callee packets heard at the far ends as blocks.
    far_heard: u64,
    pbxd_s: f64,
    trunkd_s: f64,
    secs: f64,
}

fn e1_window(pbxd: u32, trunk: &Trunk, legs: &[(u16, u16)]) -> E1Window {
    let g = Gen::new();
    // Latch every callee leg to the generator first.
    for (i, (_, b)) in legs.iter().enumerate() {
        g.b[i % GEN_SOCKETS]
            .send_to(&rtp_packet(0, i as u32), ("127.0.0.1", *b))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let stop_rx = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> =
        g.b.iter()
            .map(|s| receiver(s.clone(), stop_rx.clone()))
            .collect();
    let stop_tx = Arc::new(AtomicBool::new(false));
    let (p0, t0, c0) = (cpu_ticks(pbxd), trunk.cpu_ticks(), Instant::now());
    let senders: Vec<_> = (0..GEN_SOCKETS)
        .map(|k| {
            let ports = legs
                .iter()
                .enumerate()
                .filter(|(i, _)| i % GEN_SOCKETS == k)
                .map(|(_, c)| c.1)
                .collect();
            sender(g.b[k].clone(), ports, 0, stop_tx.clone(), rtp_packet)
        })
        .collect();
    let (far_sent, far_heard) = far_ends(&trunk.lines, WINDOW);
    stop_tx.store(true, Ordering::Relaxed);
    let callee_sent: u64 = senders.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = c0.elapsed().as_secs_f64();
    let (pbxd_s, trunkd_s) = (
        (cpu_ticks(pbxd) - p0) as f64 / clk_tck(),
        (trunk.cpu_ticks() - t0) as f64 / clk_tck(),
    );
    std::thread::sleep(Duration::from_millis(300));
    stop_rx.store(true, Ordering::Relaxed);
    let callee_got = receivers
        .into_iter()
        .map(|(n, h)| {
            h.join().unwrap();
            n.load(Ordering::Relaxed)
        })
        .sum();
    E1Window {
        calls: legs.len(),
        far_sent,
        callee_got,
        callee_sent,
        far_heard,
        pbxd_s,
        trunkd_s,
        secs,
    }
}

/// The bench: SIP baseline, then the eight spans.
pub fn trunkd() -> bool {
    let n = span_count() * PER_SPAN;
    let d = bench_box_with(0..0, false, |t| {
        t + &format!(
            "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.3/32\"]\nroute_class = \"national\"\n\n[[did]]\nnumber = \"{DID}\"\nextension = \"1002\"\n"
        )
    });
    let p = pid(&d);

    // The same number of calls over SIP, extension to extension.
    let held = hold_calls(&d, n, HOLD_S * 1000);
    let sip = drive(p, &Gen::new(), &held.legs, WINDOW, || {});
    let (sip_ok, _) = held.uac.wait(Duration::from_secs(HOLD_S + 60));
    let uas = held.uas;
    let t = Instant::now();
    while !d.query("calls").is_empty() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(250));
    }

    // The eight spans.
    let dir = tempfile::tempdir().unwrap();
    let carriers = Carriers::start(dir.path());
    let mut trunk = Trunk::start(dir.path(), d.sip_port);
    let legs = answered_legs(&d, n, Duration::from_secs(40));
    let e1 = e1_window(p, &trunk, &legs);
    let answered = carriers.count("EVENT PRI_EVENT_ANSWER");
    let t = Instant::now();
    while carriers.count("-> hangup (normal clearing)") < answered
        && t.elapsed() < Duration::from_secs(HOLD_S + 20)
    {
        std::thread::sleep(Duration::from_millis(250));
    }
    let lost_frames = trunk.lost_frames();
    let errors = carriers.count("libpri ERROR");
    trunk.stop();
    kill(uas);
    drop(carriers);

    report(n, &sip, &e1, answered, lost_frames, errors);
    let good = sip_ok && sip.calls == n && answered == n && lost_frames == 0 && errors == 0;
    if !good {
        eprintln!(
            "trunkd: SIP {} of {n} up (sipp ok: {sip_ok}); E1 {answered} of {n} answered, {lost_frames} frames lost, {errors} libpri errors; logs in {}",
            sip.calls,
            dir.keep().display()
        );
    }
    good
}

fn report(n: usize, sip: &Media, e1: &E1Window, answered: usize, lost_frames: u64, errors: usize) {
    let sip_us = sip.us_per_call_second();
    let per = |cpu: f64, calls: usize| cpu * 1e6 / (calls.max(1) as f64 * e1.secs);
    let (pbxd_us, trunkd_us) = (per(e1.pbxd_s, e1.calls), per(e1.trunkd_s, e1.calls));
    println!(
        "\n## {} E1 spans ({n} B-channels) busy through trunkd, against the same calls over SIP (20 ms A-law both ways, {} s window)\n",
        n / PER_SPAN,
        WINDOW.as_secs()
    );
    println!("| path | calls up | audio to callee sent / received | audio to caller sent / received | pbxd cores | pbxd µs per call-second | trunkd cores | trunkd µs per channel-second | (pbxd + trunkd) against SIP |\n|---|---|---|---|---|---|---|---|---|");
    println!(
        "| sipp -> pbxd -> sipp (baseline) | {} | {} / {} | {} / {} | {:.2} | {sip_us:.0} | – | – | 1.00× |",
        sip.calls,
        sip.sent_a,
        sip.got_b,
        sip.sent_b,
        sip.got_a,
        sip.cores(),
    );
    println!(
        "| libpri -> E1 (sim) -> trunkd -> pbxd -> sipp | {} | {} / {} | {} / {} | {:.2} | {pbxd_us:.0} | {:.2} | {trunkd_us:.0} | {:.2}× |",
        e1.calls,
        e1.far_sent,
        e1.callee_got,
        e1.callee_sent,
        e1.far_heard,
        e1.pbxd_s / e1.secs,
        e1.trunkd_s / e1.secs,
        (pbxd_us + trunkd_us) / sip_us.max(f64::MIN_POSITIVE),
    );
    println!(
        "\nCalls answered at libpri: {answered} of {n}; D-channel frames lost (bad FCS) and frame slips on the spans: {lost_frames}; libpri protocol errors: {errors}."
    );
}
