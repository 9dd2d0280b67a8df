//! trunkd between a carrier's E1 and the box (TRK-1, issue 14), on the
//! simulated board: these machines have no cards, so libpri plays the
//! carrier's exchange (network side) on the far end of the simulated
//! span's D-channel, and the test plays the far end of its B-channel.
//!
//! libpri places a call to 137; trunkd (its shell run here, on the
//! simulated span) offers it to a real `dering up` that trusts it as a
//! gateway on loopback; the 137 flow answers; libpri sees CONNECT; audio
//! flows on the B-channel both ways (A-law blocks counted at the far end
//! and RTP counted by pbxd's relay); libpri hangs up, and pbxd's record of
//! the call ends with trunkd's BYE.
//!
//! The other way: an extension dials a mobile number; pbxd routes it to
//! trunkd as an ip trunk (issue 13's routing); trunkd places it on a
//! hunted B-channel; libpri answers; audio flows both ways; the caller's
//! BYE clears the call on the span with cause 16.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dering_board::sim::E1Line;
use dering_board::sim::{connect_seqpacket, SimE1};
use dering_board::BLOCK_LEN;
use dering_config::{Hunting, SpanConfig, SpanDevice, SpanSide, Trunkd};
use hwtests::fragments::{caller_request, uac_media_and_bye};
use hwtests::{caller, free_udp_port, ok, workspace, Dering};

/// The libpri carrier, killed when the test ends however it ends.
struct Carrier(Child, PathBuf);

impl Drop for Carrier {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Carrier {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

/// Builds the one libpri harness (`crates/isdn/tests/libpri/
/// pri_harness.c`) and starts it listening on `sock` as the network
/// side, with `args` (`-d 137 -a 3`: call 137 once the data link is up,
/// hang up 3 s after the answer; none: answer every call).
fn start_carrier(dir: &Path, sock: &Path, args: &[&str]) -> Carrier {
    assert!(
        Path::new("/usr/include/libpri.h").exists(),
        "libpri-dev is not installed: run `bash .ci/install-peers` (the README's test command does)"
    );
    let bin = dir.join("pri_harness");
    let out = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&bin)
        .arg(workspace().join("crates/isdn/tests/libpri/pri_harness.c"))
        .arg("-lpri")
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.join("carrier.log");
    let child = Command::new(&bin)
        .args(["-m", "net", "-l", "-t", "40"])
        .args(args)
        .arg("-s")
        .arg(sock)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Carrier(child, log)
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// trunkd's shell running in a thread on a simulated span whose
/// D-channel's far end is the carrier; stops when dropped.
struct Trunk {
    line: E1Line,
    stop: Arc<AtomicBool>,
    shell: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Drop for Trunk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.shell.take() {
            let _ = s.join();
        }
    }
}

impl Trunk {
    /// trunkd serving SIP on `sip_port`, towards the box `d`.
    fn start(d: &Dering, sock: &Path, carrier: &Carrier, sip: SocketAddr) -> Trunk {
        let mut far = None;
        let connected = wait_for(Duration::from_secs(10), || {
            far = connect_seqpacket(sock).ok();
            far.is_some()
        });
        assert!(connected, "carrier never listened:\n{}", carrier.log());
        let e1 = SimE1::new(1, far.unwrap()).unwrap();
        let cfg = Trunkd {
            sip,
            pbx: format!("127.0.0.1:{}", d.sip_port).parse().unwrap(),
            rtp_port_min: free_udp_port(),
            spans: vec![SpanConfig {
                name: "telkom".into(),
                span: 1,
                device: SpanDevice::Simulated {
                    socket: sock.to_path_buf(),
                },
                side: SpanSide::User,
                // The carrier offers its call on timeslot 1, exclusive.
                channels: vec![1],
                hunting: Hunting::Ascending,
                digit_timeout_ms: 4000,
                max_calls: 1,
                country_code: "62".into(),
            }],
            lines: Vec::new(),
        };
        let (span, line) = trunkd::shell::sim_span(e1, &cfg.spans[0].channels);
        let stop = Arc::new(AtomicBool::new(false));
        let shell = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                trunkd::shell::run(&cfg, vec![span], 1, stop, || {}).map_err(|e| format!("{e:#}"))
            })
        };
        Trunk {
            line: line.unwrap(),
            stop,
            shell: Some(shell),
        }
    }

    /// Plays the far end of timeslot 1 until `over`: a block every 20 ms
    /// spoken, everything heard counted. Returns (spoken, heard) blocks.
    fn far_end(&self, limit: Duration, over: impl Fn() -> bool) -> (usize, usize) {
        let (mut spoken, mut heard) = (0, 0);
        let end = Instant::now() + limit;
        let mut tick = Instant::now();
        while Instant::now() < end && !over() {
            self.line.send_audio(1, &[0x55; BLOCK_LEN]);
            spoken += 1;
            heard += self.line.take_audio(1).len();
            tick += Duration::from_millis(20);
            std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        }
        (spoken, heard / BLOCK_LEN)
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.shell.take() {
            s.join().unwrap().unwrap();
        }
    }
}

#[test]
fn a_call_from_the_carrier_to_137_is_answered_with_audio_both_ways() {
    eprintln!("trunkd: no DAHDI card is used here; the span is the simulated board's");
    let d = Dering::start_with(|text| {
        text + "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.1/32\"]\nroute_class = \"national\"\n"
    });
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(dir.path(), &sock, &["-d", "137", "-a", "3"]);
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let trunk = Trunk::start(&d, &sock, &carrier, sip);
    let (spoken, blocks) = trunk.far_end(Duration::from_secs(25), || {
        carrier.log().contains("EVENT PRI_EVENT_HANGUP")
    });
    trunk.stop();

    let log = carrier.log();
    assert!(
        log.contains("EVENT PRI_EVENT_ANSWER"),
        "libpri saw no CONNECT:\n{log}"
    );
    assert!(
        log.contains("-> hangup (normal clearing)"),
        "libpri did not hang up:\n{log}"
    );
    assert!(!log.contains("libpri ERROR"), "protocol error:\n{log}");
    eprintln!("far end: {spoken} blocks spoken, {blocks} heard");
    // Three seconds held: 150 blocks each way; most must arrive.
    assert!(
        blocks >= 100,
        "{blocks} A-law blocks from pbxd on the B-channel ({spoken} sent)"
    );

    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    // The numbers as a trusted peer's calls are recorded since calls in
    // came (TEL-10): in E.164, Jakarta's area code before local ones.
    assert_eq!(c["callee"], "+6221137", "{c}");
    assert_eq!(c["caller"], "+62212000", "{c}");
    let uuid = c["uuid"].as_str().unwrap();
    let counts = d.media_counts(uuid);
    eprintln!("pbxd: {counts:?}; call {c}");
    assert!(
        counts["rtp_from_caller"] >= 100,
        "pbxd's relay counted {counts:?} for the B-channel's audio"
    );
    assert_eq!(c["hangup_by"], "caller", "{c}");
    // trunkd's BYE says why the network cleared it (normal clearing).
    assert_eq!(c["hangup_cause"], "BYE, Q.850 cause 16", "{c}");
}

#[test]
fn an_extension_dials_out_through_the_span_with_audio_both_ways() {
    eprintln!("trunkd: no DAHDI card is used here; the span is the simulated board's");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(dir.path(), &sock, &[]);
    // The box's trunk is trunkd, an ip trunk on loopback; its port is
    // known once trunkd is configured, so the box starts after it. trunkd
    // speaks from 127.0.0.3, so the calling phone on 127.0.0.1 is not
    // taken for the trunk (an ip trunk is known by its address alone).
    let port = free_udp_port();
    let sip = SocketAddr::from(([127, 0, 0, 3], port));
    let d = Dering::start_with(|text| {
        text.replace("enabled = false", "enabled = true")
            .replace("kind = \"register\"", "kind = \"ip\"")
            .replace("username = \"0215550000\"\npassword = \"change-me\"\n", "")
            .replace(
                "host = \"sip.carrier.example\"",
                &format!("host = \"127.0.0.3\"\nport = {port}\naddresses = [\"127.0.0.3/32\"]"),
            )
    });
    let trunk = Trunk::start(&d, &sock, &carrier, sip);
    // The span is in service once the carrier acknowledged trunkd's
    // RESTART of the interface.
    let restarted = wait_for(Duration::from_secs(15), || {
        carrier.log().contains("RESTART ACKNOWLEDGE")
    });
    assert!(restarted, "no RESTART ACK:\n{}", carrier.log());
    let script = format!(
        "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"200\" rtd=\"true\" rrs=\"true\"/>\n{}{}",
        caller_request("ACK", 2),
        uac_media_and_bye()
    );
    let uac = caller(&d, "1001", "081234567890", &script);
    let (spoken, blocks) = trunk.far_end(Duration::from_secs(25), || {
        carrier.log().contains("EVENT PRI_EVENT_HANGUP")
    });
    ok(uac, "caller", &d);
    trunk.stop();

    let log = carrier.log();
    assert!(
        log.contains("RING chan=1") && log.contains("called=081234567890"),
        "libpri got no SETUP for the number on channel 1:\n{log}"
    );
    assert!(log.contains("cause=16"), "not cleared normally:\n{log}");
    assert!(!log.contains("libpri ERROR"), "protocol error:\n{log}");
    eprintln!("far end: {spoken} blocks spoken, {blocks} heard");
    assert!(
        blocks >= 100,
        "{blocks} A-law blocks from the caller on the B-channel ({spoken} sent)"
    );
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    let counts = d.media_counts(c["uuid"].as_str().unwrap());
    eprintln!("pbxd: {counts:?}; call {c}");
    assert!(
        counts["rtp_from_callee"] >= 100,
        "pbxd's relay counted {counts:?} for the B-channel's audio"
    );
}
