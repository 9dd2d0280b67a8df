//! trunkd between an analog CO line and the box (TRK-2, issue 14), on the
//! simulated board: these machines have no cards, so the test plays the
//! CO on the simulated FXO port's line, with caller-ID spills and tones
//! made by spandsp (`hwtests/tools/spandsp-adsi.c`, an implementation
//! independent of ours).
//!
//! In: the CO reverses polarity, sends a V.23 spill, rings with
//! Indonesia's cadence; trunkd (its shell run here) offers the call to a
//! real `dering up` for the line's number, 137; the 137 flow answers and
//! trunkd takes the line off hook; audio flows both ways (A-law blocks
//! counted at the CO, RTP counted by pbxd's relay); the CO plays busy
//! tone and pbxd's record of the call ends with trunkd's BYE.
//!
//! Out: an extension dials a mobile number; pbxd routes it to trunkd as
//! an ip trunk; trunkd seizes the line, the CO gives dial tone and hears
//! the number dialled as DTMF; the call is up with audio both ways until
//! the caller's BYE puts the line back on hook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dering_board::sim::{Cadence, CoLine};
use dering_board::BLOCK_LEN;
use dering_config::{Hunting, LineAnswer, LineCallerId, LineConfig, LineDevice, LineStart, Trunkd};
use dering_media::dtmf::Detector;
use dering_media::g711::Law;
use hwtests::fragments::{caller_request, uac_media_and_bye};
use hwtests::shell_thread::ShellThread;
use hwtests::{caller, free_udp_port, ok, poll_until, workspace, Dering};

/// Builds the spandsp tool in `dir`.
fn spandsp_tool(dir: &Path) -> PathBuf {
    assert!(
        Path::new("/usr/include/spandsp/adsi.h").exists(),
        "libspandsp-dev is not installed: run `bash .ci/install-peers`"
    );
    let bin = dir.join("spandsp-adsi");
    let out = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&bin)
        .arg(workspace().join("hwtests/tools/spandsp-adsi.c"))
        .args(["-lspandsp", "-lm"])
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// spandsp's audio for `args`, A-law as the line carries it.
fn spandsp(tool: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(out.status.success(), "spandsp-adsi {args:?}");
    let pcm: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(!pcm.is_empty(), "spandsp-adsi {args:?}: no audio");
    let mut alaw = Vec::new();
    Law::Alaw.encode(&pcm, &mut alaw);
    alaw
}

/// trunkd's shell running in a thread on one simulated line, 137; stops
/// when dropped.
struct Trunk {
    co: CoLine,
    shell: ShellThread,
}

impl Trunk {
    fn start(d: &Dering, sip: SocketAddr) -> Trunk {
        let cfg = Trunkd {
            sip,
            pbx: format!("127.0.0.1:{}", d.sip_port).parse().unwrap(),
            rtp_port_min: free_udp_port(),
            spans: Vec::new(),
            lines: vec![LineConfig {
                name: "co-1".into(),
                device: LineDevice::Simulated,
                number: "137".into(),
                caller_id: LineCallerId::Auto,
                start: LineStart::Kewlstart,
                hangup_on_polarity: true,
                answer_guard_ms: 600,
                busy_count: 3,
                answer: LineAnswer::Dialled,
                group: "lines".into(),
                hunting: Hunting::Ascending,
                country_code: "62".into(),
            }],
        };
        let (line, co) = trunkd::shell::open_line(&cfg.lines[0]).unwrap();
        let shell = ShellThread::spawn(move |stop| {
            trunkd::shell::serve(&cfg, Vec::new(), vec![line], 1, stop, || {}, None)
        });
        Trunk {
            co: co.unwrap(),
            shell,
        }
    }

    /// Plays `audio` to the port a block every 20 ms (then a quiet block
    /// each 20 ms) until `over` (given what the CO just heard) or
    /// `limit`; returns the blocks sent and everything the CO heard.
    fn co_plays(
        &self,
        audio: &[u8],
        limit: Duration,
        mut over: impl FnMut(&[u8]) -> bool,
    ) -> (usize, Vec<u8>) {
        let mut spoken = 0;
        let mut heard = Vec::new();
        let mut blocks = audio.chunks(BLOCK_LEN);
        let end = Instant::now() + limit;
        let mut tick = Instant::now();
        while Instant::now() < end {
            match blocks.next() {
                Some(b) => self.co.send_audio(b),
                None => self.co.send_audio(&[0x55; BLOCK_LEN]),
            }
            spoken += 1;
            let new = self.co.take_audio();
            heard.extend_from_slice(&new);
            if over(&new) {
                break;
            }
            tick += Duration::from_millis(20);
            std::thread::sleep(tick.saturating_duration_since(Instant::now()));
        }
        (spoken, heard)
    }

    fn stop(self) {
        self.shell.stop().unwrap();
    }
}

#[test]
fn a_call_on_the_co_line_to_137_is_answered_and_ended_by_busy_tone() {
    eprintln!("trunkd: no DAHDI card is used here; the line is the simulated board's");
    let d = Dering::start_with(|text| {
        text + "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.1/32\"]\nroute_class = \"national\"\n"
    });
    let dir = tempfile::tempdir().unwrap();
    let tool = spandsp_tool(dir.path());
    let spill = spandsp(&tool, &["clip", "0x80", "0x01=12041620", "0x02=0215551234"]);
    let busy = spandsp(&tool, &["tone", "425", "-13", "500", "500", "5"]);
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let trunk = Trunk::start(&d, sip);

    // ETSI: a polarity reversal announces the spill before the first ring.
    trunk.co.reverse_polarity();
    let mut lead = vec![0xD5; BLOCK_LEN * 15];
    lead.extend(&spill);
    // The ring follows the spill closely: the port waits 5 s at most.
    let spill_time = Duration::from_millis(20 * (lead.len() / BLOCK_LEN + 10) as u64);
    trunk.co_plays(&lead, spill_time, |_| false);
    trunk.co.ring(&Cadence::indonesia(), 6);
    let answered = poll_until(Duration::from_secs(25), || trunk.co.is_off_hook());
    assert!(answered, "the line was never answered:\n{}", d.log());

    // Three seconds held: 150 blocks each way.
    let (spoken, heard) = trunk.co_plays(&[], Duration::from_secs(3), |_| false);
    // The far end hangs up: the exchange plays busy tone.
    let (_, after) = trunk.co_plays(&busy, Duration::from_secs(8), |_| !trunk.co.is_off_hook());
    assert!(!trunk.co.is_off_hook(), "busy tone did not hang up");
    trunk.stop();
    let blocks = (heard.len() + after.len()) / BLOCK_LEN;
    eprintln!("CO: {spoken} blocks spoken while held, {blocks} heard");
    assert!(blocks >= 100, "{blocks} A-law blocks from pbxd on the line");

    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    // The line's number as trusted peers' calls are recorded (TEL-10),
    // the caller from the V.23 spill.
    assert_eq!(c["callee"], "+6221137", "{c}");
    assert_eq!(c["caller"], "+62215551234", "{c}");
    let counts = d.media_counts(c["uuid"].as_str().unwrap());
    eprintln!("pbxd: {counts:?}; call {c}");
    assert!(
        counts["rtp_from_caller"] >= 100,
        "pbxd's relay counted {counts:?} for the line's audio"
    );
    assert_eq!(c["hangup_by"], "caller", "{c}");
    assert_eq!(c["hangup_cause"], "BYE, Q.850 cause 16", "{c}");
}

#[test]
fn an_extension_dials_out_through_the_line_and_the_co_hears_the_digits() {
    eprintln!("trunkd: no DAHDI card is used here; the line is the simulated board's");
    let dir = tempfile::tempdir().unwrap();
    let tool = spandsp_tool(dir.path());
    let dial_tone = spandsp(&tool, &["tone", "425", "-13", "1000", "0", "2"]);
    // trunkd speaks from 127.0.0.3, so the calling phone on 127.0.0.1 is
    // not taken for the trunk (an ip trunk is known by its address alone).
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
    let trunk = Trunk::start(&d, sip);
    let script = format!(
        "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"183\" optional=\"true\"/>\n  <recv response=\"200\" rtd=\"true\" rrs=\"true\"/>\n{}{}",
        caller_request("ACK", 2),
        uac_media_and_bye()
    );
    let uac = caller(&d, "1001", "081234567890", &script);
    let seized = poll_until(Duration::from_secs(10), || trunk.co.is_off_hook());
    assert!(seized, "the line was never seized:\n{}", d.log());
    // Dial tone, and the CO listens for the digits as an exchange does
    // (until the number is whole: the caller's audio follows).
    let mut detector = Detector::new();
    let mut digits = String::new();
    trunk.co_plays(&dial_tone, Duration::from_secs(8), |new| {
        let mut pcm = Vec::new();
        Law::Alaw.decode(new, &mut pcm);
        digits.extend(detector.feed(&pcm));
        digits.len() >= 12
    });
    assert_eq!(digits, "081234567890", "the CO heard other digits");
    let (spoken, heard) = trunk.co_plays(&[], Duration::from_secs(15), |_| !trunk.co.is_off_hook());
    ok(uac, "caller", &d);
    assert!(
        !trunk.co.is_off_hook(),
        "the caller's BYE left the line seized"
    );
    trunk.stop();
    let blocks = heard.len() / BLOCK_LEN;
    eprintln!("CO: {spoken} blocks spoken, {blocks} heard");
    assert!(
        blocks >= 100,
        "{blocks} A-law blocks from the caller on the line"
    );

    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    let counts = d.media_counts(c["uuid"].as_str().unwrap());
    eprintln!("pbxd: {counts:?}; call {c}");
    assert!(
        counts["rtp_from_callee"] >= 100,
        "pbxd's relay counted {counts:?} for the line's audio"
    );
}
