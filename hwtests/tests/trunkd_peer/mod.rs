//! The far end of a simulated E1 span, shared by `trunkd.rs`,
//! `trunkd_interop.rs`, `trunkd_status.rs` and `live_spans_browser.rs`: the libpri harness on its D-channel, trunkd's
//! shell in a thread on the span, and the test playing its B-channel.
//! These machines have no cards, so every test here says it used the
//! simulated board.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dering_board::sim::E1Line;
use dering_board::sim::{connect_seqpacket, SimE1};
use dering_board::BLOCK_LEN;
use dering_config::{Hunting, SpanConfig, SpanDevice, SpanSide, Trunkd};
use hwtests::shell_thread::ShellThread;
use hwtests::{free_udp_port, poll_until, workspace, Dering};

/// The A-law byte the far end speaks on the B-channel: a test that has
/// the call's other end echo finds it again in what it hears. Not one of
/// A-law's two silences (0x55, 0xD5), which a silent path could yield.
pub const SPOKEN: u8 = 0xA7;

/// The libpri peer, killed when the test ends however it ends.
pub struct Carrier(Child, PathBuf);

impl Drop for Carrier {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Carrier {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }

    /// Waits (`limit` at most) until libpri's log contains `what`.
    pub fn wait_log(&self, what: &str, limit: Duration) -> bool {
        poll_until(limit, || self.log().contains(what))
    }
}

/// Builds the one libpri harness (`crates/isdn/tests/libpri/
/// pri_harness.c`) and starts it listening on `sock` as side `mode`
/// (`net`: the carrier's exchange, `cpe`: a PBX behind a network-side
/// trunkd), with `args` (`-d 137 -a 3`: call 137 once the data link is
/// up, hang up 3 s after the answer; none: answer every call; `-r 17`:
/// refuse every call with cause 17; `-w`: alert and never answer).
pub fn start_carrier(dir: &Path, sock: &Path, mode: &str, args: &[&str]) -> Carrier {
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
        .args(["-m", mode, "-l", "-t", "40"])
        .args(args)
        .arg("-s")
        .arg(sock)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Carrier(child, log)
}

/// What the far end of timeslot 1 did: blocks spoken, blocks heard, and
/// the bytes heard that were its own [`SPOKEN`] byte coming back.
pub struct FarEnd {
    pub spoken: usize,
    pub heard: usize,
    pub echoed: usize,
}

/// trunkd's shell running in a thread on a simulated span whose
/// D-channel's far end is the libpri harness; stops when dropped.
pub struct Trunk {
    line: E1Line,
    shell: ShellThread,
}

impl Trunk {
    /// trunkd serving SIP on `sip`, towards the box `d`, as side `side`
    /// of the span (libpri being the other).
    pub fn start(
        d: &Dering,
        sock: &Path,
        carrier: &Carrier,
        sip: SocketAddr,
        side: SpanSide,
    ) -> Trunk {
        // libpri offers its calls on timeslot 1, exclusive.
        Trunk::start_with(d, sock, carrier, sip, side, vec![1], false)
    }

    /// As [`Trunk::start`], on `channels`, and with `report` trunkd tells
    /// the box of the span's state as the daemon does (`ReportSpans` on
    /// the control socket): what `dering trunks`, `/health` and the live
    /// page show.
    pub fn start_with(
        d: &Dering,
        sock: &Path,
        carrier: &Carrier,
        sip: SocketAddr,
        side: SpanSide,
        channels: Vec<u8>,
        report: bool,
    ) -> Trunk {
        let mut far = None;
        let connected = poll_until(Duration::from_secs(10), || {
            far = connect_seqpacket(sock).ok();
            far.is_some()
        });
        assert!(connected, "libpri never listened:\n{}", carrier.log());
        let e1 = SimE1::new(1, far.unwrap()).unwrap();
        let cfg = Trunkd {
            sip,
            pbx: format!("127.0.0.1:{}", d.sip_port).parse().unwrap(),
            // An RTP pair for each channel.
            rtp_port_min: hwtests::ports::block(2 * channels.len() as u16),
            spans: vec![SpanConfig {
                name: "telkom".into(),
                span: 1,
                device: SpanDevice::Simulated {
                    socket: sock.to_path_buf(),
                },
                side,
                max_calls: channels.len() as u32,
                channels,
                hunting: Hunting::Ascending,
                digit_timeout_ms: 4000,
                country_code: "62".into(),
            }],
            lines: Vec::new(),
        };
        let (span, line) = trunkd::shell::sim_span(e1, &cfg.spans[0].channels);
        let reporter =
            report.then(|| trunkd::status::Reporter::start(d.dir().to_path_buf()).unwrap());
        let shell = ShellThread::spawn(move |stop| {
            trunkd::shell::serve(&cfg, vec![span], Vec::new(), 1, stop, || {}, reporter)
        });
        Trunk {
            line: line.unwrap(),
            shell,
        }
    }

    /// The simulated board raises (or, with none, clears) `alarms` on
    /// the span.
    #[allow(dead_code)] // the files that include this module without alarms
    pub fn raise(&self, alarms: dering_board::Alarms) {
        self.line.raise(alarms);
    }

    /// Plays the far end of timeslot 1 until `over`: a block of
    /// [`SPOKEN`] every 20 ms, everything heard counted.
    pub fn far_end(&self, limit: Duration, over: impl Fn() -> bool) -> FarEnd {
        let (mut spoken, mut heard, mut echoed) = (0, 0, 0);
        let end = Instant::now() + limit;
        let mut tick = Instant::now();
        while Instant::now() < end && !over() {
            self.line.send_audio(1, &[SPOKEN; BLOCK_LEN]);
            spoken += 1;
            let got = self.line.take_audio(1);
            heard += got.len();
            echoed += got.iter().filter(|b| **b == SPOKEN).count();
            tick += Duration::from_millis(20);
            std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        }
        FarEnd {
            spoken,
            heard: heard / BLOCK_LEN,
            echoed,
        }
    }

    pub fn stop(self) {
        self.shell.stop().unwrap();
    }
}

/// libpri's mode on the far side of a span where trunkd is `side`.
pub fn libpri_mode(side: SpanSide) -> &'static str {
    match side {
        SpanSide::User => "net",
        SpanSide::Network => "cpe",
    }
}

/// A box that takes trunkd on 127.0.0.1 as a trusted peer (calls from
/// the span), its configuration first passed through `edit`.
pub fn box_trusting_trunkd(edit: impl FnOnce(String) -> String) -> Dering {
    Dering::start_with(|text| {
        edit(text) + "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.1/32\"]\nroute_class = \"national\"\n"
    })
}

/// A box whose trunk is trunkd, an ip trunk on loopback, and the address
/// trunkd is to serve SIP on: its port is known once trunkd is
/// configured, so the box starts after it. trunkd speaks from
/// 127.0.0.3, so a calling phone on 127.0.0.1 is not taken for the trunk
/// (an ip trunk is known by its address alone).
pub fn box_trunking_to_trunkd() -> (Dering, SocketAddr) {
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
    (d, sip)
}

/// The span is in service once libpri acknowledged trunkd's RESTART of
/// the interface.
pub fn wait_in_service(carrier: &Carrier) {
    assert!(
        carrier.wait_log("RESTART ACKNOWLEDGE", Duration::from_secs(15)),
        "no RESTART ACK:\n{}",
        carrier.log()
    );
}
