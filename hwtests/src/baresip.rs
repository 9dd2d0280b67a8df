//! baresip as a desk phone: started from the shared peer configuration
//! (`../shared/peers/baresip/a`) with its ports, paths and account
//! rewritten for one box, and driven over its `ctrl_tcp` interface
//! (netstring-framed JSON commands and events).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_udp_port, require, workspace, Dering};

/// One running baresip.
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    ctrl: TcpStream,
    buf: Vec<u8>,
    pub ext: String,
    pub dir: PathBuf,
    /// Events seen so far, in order.
    pub events: Vec<serde_json::Value>,
    /// Events before this index were already returned by `wait_event`.
    consumed: usize,
}

/// baresip's control port, below the ephemeral range like its others.
fn free_tcp_port() -> u16 {
    crate::ports::pair()
}

/// A mono 8 kHz WAV of a `secs`-second sine at `hz` (baresip's audio source;
/// a call ends when the file does, so make it longer than the call).
pub fn tone_wav(dir: &Path, hz: u32, secs: u32) -> PathBuf {
    tone_wav_at(dir, hz, secs, 8000)
}

/// [`tone_wav`] sampled at `rate` (16,000 for a tone above 4 kHz).
pub fn tone_wav_at(dir: &Path, hz: u32, secs: u32, rate: u32) -> PathBuf {
    require("sox");
    let path = dir.join(format!("tone{hz}-{rate}.wav"));
    let st = Command::new("sox")
        .args(["-n", "-r", &rate.to_string(), "-c", "1", "-b", "16"])
        .arg(&path)
        .args(["synth", &secs.to_string(), "sine", &hz.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "sox failed");
    path
}

/// The amplitudes of `tones` (Hz) in `samples[from..to]` (8 kHz sample
/// indices, clamped to the samples): what a phone heard of each.
pub fn tone_levels(samples: &[i16], from: usize, to: usize, tones: &[u32]) -> Vec<f64> {
    let to = to.min(samples.len());
    let from = from.min(to);
    assert!(to - from > 8000 / 2, "a window of {} samples", to - from);
    tones
        .iter()
        .map(|hz| dering_media::dtmf::tone_amplitude(&samples[from..to], f64::from(*hz)))
        .collect()
}

/// The sample index of moment `t` in what a phone heard since `start`.
pub fn sample_at(start: Instant, t: Instant) -> usize {
    (t.saturating_duration_since(start).as_secs_f64() * 8000.0) as usize
}

/// The sample index `secs` before the end of `samples`.
pub fn before_end(samples: &[i16], secs: f64) -> usize {
    samples.len().saturating_sub((secs * 8000.0) as usize)
}

/// The tones of [`Baresip::trio`]'s phones 1001, 1002 and 1003.
pub const TRIO_TONES: [u32; 3] = [440, 1000, 1700];

impl Baresip {
    /// Three registered phones for calls with a third party: 1001 (dials,
    /// no auto answer), 1002 and 1003 (answer by themselves), each playing
    /// its tone of [`TRIO_TONES`] for a minute.
    pub fn trio(d: &Dering) -> [Baresip; 3] {
        let [ta, tb, tc] = TRIO_TONES;
        let a = Baresip::start(d, "1001", false, &tone_wav(d.dir(), ta, 60));
        let b = Baresip::start(d, "1002", true, &tone_wav(d.dir(), tb, 60));
        let c = Baresip::start(d, "1003", true, &tone_wav(d.dir(), tc, 60));
        d.wait_registered(3);
        [a, b, c]
    }

    /// Starts baresip registered as `ext` on box `d`, playing `wav`, with
    /// G.711 (A-law first).
    pub fn start(d: &Dering, ext: &str, auto_answer: bool, wav: &Path) -> Baresip {
        Baresip::start_with_codecs(d, ext, auto_answer, wav, "PCMA,PCMU")
    }

    /// Like [`Baresip::start`], offering only `codecs` (e.g. `G722`, a
    /// desk phone's default).
    pub fn start_with_codecs(
        d: &Dering,
        ext: &str,
        auto_answer: bool,
        wav: &Path,
        codecs: &str,
    ) -> Baresip {
        require("baresip");
        let dir = d.dir().join(format!("baresip-{ext}"));
        std::fs::create_dir_all(dir.join("rec")).unwrap();
        let template =
            std::fs::read_to_string(workspace().join("../shared/peers/baresip/a/config")).unwrap();
        let sip_port = free_udp_port();
        let ctrl_port = free_tcp_port();
        let rtp = crate::ports::block(20);
        // baresip's file source takes only files at its source rate.
        let rate = hound::WavReader::open(wav).unwrap().spec().sample_rate;
        let mut config = String::new();
        for line in template.lines() {
            let key = line.split_whitespace().next().unwrap_or_default();
            let value = match key {
                "sip_listen" => format!("127.0.0.1:{sip_port}"),
                "audio_source" => format!("aufile,{}", wav.display()),
                "audio_player" | "audio_alert" => format!("aubridge,null_{sip_port}"),
                "rtp_ports" => format!("{rtp}-{}", rtp + 19),
                "ctrl_tcp_listen" => format!("127.0.0.1:{ctrl_port}"),
                "cons_listen" => format!("127.0.0.1:{}", free_udp_port()),
                "snd_path" => dir.join("rec").display().to_string(),
                "ausrc_srate" | "auplay_srate" => rate.to_string(),
                _ => {
                    config.push_str(line);
                    config.push('\n');
                    continue;
                }
            };
            config.push_str(&format!("{key}\t\t{value}\n"));
        }
        if codecs.contains("G722") {
            config.push_str("module\t\t\tg722.so\n");
        }
        std::fs::write(dir.join("config"), config).unwrap();
        let mode = if auto_answer { "auto" } else { "manual" };
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{ext}@127.0.0.1:{};transport=udp>;auth_pass=demo-{ext};regint=60;answermode={mode};audio_codecs={codecs}\n",
                d.sip_port
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .args(["-t", "120"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let t = Instant::now();
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if t.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("baresip ctrl_tcp did not come up: {e}"),
            }
        };
        ctrl.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Baresip {
            child,
            ctrl,
            buf: Vec::new(),
            ext: ext.to_string(),
            dir,
            events: Vec::new(),
            consumed: 0,
        }
    }

    pub fn command(&mut self, command: &str, params: &str) {
        let j = serde_json::json!({"command": command, "params": params, "token": "t"}).to_string();
        self.ctrl
            .write_all(format!("{}:{j},", j.len()).as_bytes())
            .unwrap();
    }

    fn pump(&mut self) {
        let mut tmp = [0u8; 8192];
        if let Ok(n) = self.ctrl.read(&mut tmp) {
            self.buf.extend_from_slice(&tmp[..n]);
        }
        while let Some(colon) = self.buf.iter().position(|&b| b == b':') {
            let Ok(len) = std::str::from_utf8(&self.buf[..colon])
                .unwrap_or("x")
                .parse::<usize>()
            else {
                panic!("bad netstring from baresip");
            };
            if self.buf.len() < colon + 1 + len + 1 {
                break;
            }
            let v: serde_json::Value =
                serde_json::from_slice(&self.buf[colon + 1..colon + 1 + len]).unwrap();
            self.buf.drain(..colon + 1 + len + 1);
            if v["event"] == true {
                self.events.push(v);
            }
        }
    }

    /// Calls `number` on box `d`.
    pub fn dial(&mut self, d: &Dering, number: &str) {
        self.command("dial", &format!("sip:{number}@127.0.0.1:{}", d.sip_port));
    }

    /// The keys this phone received as telephone events so far (baresip's
    /// `CALL_DTMF_START` events), in order.
    pub fn keys_received(&mut self) -> String {
        self.pump();
        self.events
            .iter()
            .filter(|e| e["type"] == "CALL_DTMF_START")
            .filter_map(|e| e["param"].as_str().and_then(|p| p.chars().next()))
            .collect()
    }

    /// How many events of `kind` (e.g. `CALL_ESTABLISHED`: once a call,
    /// not again for a re-INVITE) this phone has reported so far, read
    /// or not.
    pub fn count_events(&mut self, kind: &str) -> usize {
        self.pump();
        self.events.iter().filter(|e| e["type"] == kind).count()
    }

    /// Sends `keys` as telephone events, one after the other.
    pub fn keys(&mut self, keys: &str) {
        for k in keys.chars() {
            self.command("sndcode", &k.to_string());
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// What this phone heard in its last call (baresip's `sndfile` module
    /// writes the decoded audio as it plays it): the samples at 8 kHz,
    /// once the file is complete.
    pub fn heard(&self) -> Vec<i16> {
        let (rate, v) = self.heard_at_rate();
        // A G.722 call plays at 16 kHz: pairs averaged to 8 kHz (a low-pass
        // good enough for the tones tests use).
        if rate == 16_000 {
            return v
                .chunks(2)
                .map(|p| ((i32::from(p[0]) + i32::from(*p.last().unwrap_or(&p[0]))) / 2) as i16)
                .collect();
        }
        v
    }

    /// What the phone heard, at the rate it decoded it (16 kHz in a G.722
    /// call): the sample rate and the samples.
    pub fn heard_at_rate(&self) -> (u32, Vec<i16>) {
        let rec = self.dir.join("rec");
        let t = Instant::now();
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&rec)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|p| p.to_string_lossy().ends_with("-dec.wav"));
            files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
            if let Some(last) = files.last() {
                if let Ok(r) = hound::WavReader::open(last) {
                    let rate = r.spec().sample_rate;
                    let v: Vec<i16> = r.into_samples().filter_map(Result::ok).collect();
                    if !v.is_empty() {
                        return (rate, v);
                    }
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "baresip {}: no decoded recording in {}",
                self.ext,
                rec.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What baresip logged so far (its warnings about the media it
    /// received among them).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Waits for an event of `kind` (e.g. `REGISTER_OK`, `CALL_ESTABLISHED`).
    pub fn wait_event(&mut self, kind: &str, limit: Duration) -> serde_json::Value {
        let t = Instant::now();
        loop {
            self.pump();
            if let Some(i) = self.events[self.consumed..]
                .iter()
                .position(|e| e["type"] == kind)
            {
                self.consumed += i + 1;
                return self.events[self.consumed - 1].clone();
            }
            assert!(
                t.elapsed() < limit,
                "baresip {}: no {kind} within {limit:?}; events: {:?}\n{}",
                self.ext,
                self.events
                    .iter()
                    .map(|e| e["type"].as_str().unwrap_or("?"))
                    .collect::<Vec<_>>(),
                std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
            );
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
