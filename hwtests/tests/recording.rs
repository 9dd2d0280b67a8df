//! Call recording (REC-1, REC-2): a call between two sipp phones, each
//! playing its own tone, is recorded as two-channel WAV; the file is
//! decoded afterwards and each channel checked for its tone's frequency
//! and duration within 1%. A recording cut by `kill -9` is repaired at the
//! next start and plays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, ok, Dering};

const TONE_MS: u32 = 5000;

/// The callee answers, plays `pcap`, and waits for the BYE.
fn callee_playing(pcap: &std::path::Path) -> String {
    format!(
        "{}  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n{}",
        uas_answer(),
        pcap.display(),
        wait_bye()
    )
}

/// The caller plays `pcap`, stays `stay_ms`, hangs up.
fn caller_playing(pcap: &std::path::Path, stay_ms: u32) -> String {
    uac_answered_then(&format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{stay_ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        pcap.display(),
        caller_request("BYE", 3)
    ))
}

fn recordings(d: &Dering) -> Vec<serde_json::Value> {
    d.json_lines(&["recordings", "--json"])
}

/// A call from 1001 (440 Hz) to 1002 (1000 Hz), each playing its tone for
/// `TONE_MS`; returns the recording's row once it is closed.
fn tone_call(d: &Dering) -> serde_json::Value {
    let dir = d.dir().to_path_buf();
    let (low, high) = (dir.join("tone440.pcap"), dir.join("tone1000.pcap"));
    hwtests::pcap::tone(&low, 440.0, TONE_MS);
    hwtests::pcap::tone(&high, 1000.0, TONE_MS);
    let uas = callee(d, "1002", &callee_playing(&high));
    let uac = caller(d, "1001", "1002", &caller_playing(&low, TONE_MS + 1500));
    ok(uac, "caller", d);
    ok(uas, "callee", d);
    let t = std::time::Instant::now();
    loop {
        let r = recordings(d);
        if r.first().is_some_and(|r| r["state"] == "complete")
            || t.elapsed() > Duration::from_secs(20)
        {
            assert_eq!(r.len(), 1, "{r:?}");
            return r[0].clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One channel's tone: (frequency at the spectrum's peak, seconds present).
fn tone_in(samples: &[i16]) -> (f64, f64) {
    tone_above(samples, 0.7)
}

/// Like [`tone_in`], counting the tone present where its level is above
/// `share` of its peak.
fn tone_above(samples: &[i16], share: f64) -> (f64, f64) {
    let win = 40; // 5 ms
    let rms: Vec<f64> = samples
        .chunks(win)
        .map(|w| (w.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / w.len() as f64).sqrt())
        .collect();
    let peak = rms.iter().cloned().fold(0.0, f64::max);
    // Present: within 3 dB of the tone's level for a WAV (a lost-packet
    // fill fades at half the level and does not count).
    let on: Vec<usize> = (0..rms.len()).filter(|i| rms[*i] > peak * share).collect();
    let (first, last) = (on[0] * win, (on[on.len() - 1] + 1) * win);
    let active = &samples[first..last];
    // The frequency: the spectrum's peak over the tone, found on a 10 Hz
    // grid then to 0.1 Hz around it (zero crossings would count a lossy
    // codec's noise near zero).
    let amp = |f: f64| dering_media::dtmf::tone_amplitude(active, f);
    let coarse = (10..350)
        .map(|k| f64::from(k) * 10.0)
        .max_by(|a, b| amp(*a).total_cmp(&amp(*b)))
        .unwrap();
    let fine = (-100..=100)
        .map(|k| coarse + f64::from(k) / 10.0)
        .max_by(|a, b| amp(*a).total_cmp(&amp(*b)))
        .unwrap();
    (fine, on.len() as f64 * win as f64 / 8000.0)
}

#[test]
fn each_party_on_its_own_channel_with_frequency_and_duration_within_one_percent() {
    let d = Dering::start();
    let r = &tone_call(&d);
    assert_eq!(r["state"], "complete", "{r}");
    assert_eq!(r["agent"], "1002", "{r}");
    assert!(r["service"].is_null(), "{r}");
    assert_eq!(
        (r["caller"].as_str(), r["callee"].as_str()),
        (Some("1001"), Some("1002"))
    );
    let path = std::path::PathBuf::from(r["path"].as_str().unwrap());
    // The checksum and size in the database are the file's.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(r["bytes"], bytes.len());
    use sha2_check::hex_sha256;
    assert_eq!(r["sha256"], hex_sha256(&bytes));

    let mut wav = hound::WavReader::open(&path).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let all: Vec<i16> = wav.samples::<i16>().map(|s| s.unwrap()).collect();
    let caller_ch: Vec<i16> = all.iter().step_by(2).copied().collect();
    let callee_ch: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let want = f64::from(TONE_MS) / 1000.0;
    for (name, ch, freq) in [
        ("caller", &caller_ch, 440.0),
        ("callee", &callee_ch, 1000.0),
    ] {
        let (f, secs) = tone_in(ch);
        assert!(
            (f - freq).abs() / freq < 0.01,
            "{name}: {f:.1} Hz, want {freq}"
        );
        assert!(
            (secs - want).abs() / want < 0.01,
            "{name}: {secs:.3} s, want {want}"
        );
    }
}

#[test]
fn kill_dash_nine_while_recording_leaves_a_file_that_plays() {
    let mut d = Dering::start();
    let tone = d.dir().join("tone.pcap");
    hwtests::pcap::tone(&tone, 440.0, 8000);
    let _uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let _uac = caller(&d, "1001", "1002", &caller_playing(&tone, 9000));
    d.wait_answered(1);
    std::thread::sleep(Duration::from_millis(3000));
    d.kill9();
    let port = d.sip_port;
    d.launch(port);
    let rec = recordings(&d);
    assert_eq!(rec.len(), 1, "{rec:?}");
    let r = &rec[0];
    assert_eq!(r["state"], "repaired", "{r}");
    let ms = r["duration_ms"].as_i64().unwrap();
    // About three seconds were recorded; the last second may not have
    // reached the disk.
    assert!((1500..=3500).contains(&ms), "{ms} ms");
    let wav = hound::WavReader::open(r["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        i64::from(wav.duration()) * 1000 / 8000,
        ms,
        "the header covers the audio"
    );
    let peak = wav
        .into_samples::<i16>()
        .step_by(2)
        .map(|s| s.unwrap().unsigned_abs())
        .max()
        .unwrap();
    assert!(peak > 3000, "the caller's tone is in the file: peak {peak}");
}

/// SHA-256 without another dependency: sha256sum is in coreutils.
mod sha2_check {
    pub fn hex_sha256(bytes: &[u8]) -> String {
        use std::io::Write;
        let mut c = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = c.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

#[test]
fn mp3_by_policy_then_backed_up_with_a_manifest_that_checks() {
    hwtests::require("lame");
    let d = Dering::start_with(|t| {
        t.replace("retention_days = 400", "retention_days = 400\nmp3 = true")
    });
    let dir = d.dir().to_path_buf();
    let r = tone_call(&d);
    let mp3 = std::path::PathBuf::from(r["path"].as_str().unwrap());
    assert_eq!(mp3.extension().unwrap(), "mp3", "{r}");
    assert!(
        !mp3.with_extension("wav").exists(),
        "the WAV is gone once the MP3 is written"
    );
    assert_eq!(
        r["sha256"],
        sha2_check::hex_sha256(&std::fs::read(&mp3).unwrap())
    );
    mp3_holds_both_tones(&mp3, &dir);

    // The weekly backup, run by hand: copied, checked, manifest written.
    let backup = tempfile::tempdir().unwrap();
    let run = || {
        let out = std::process::Command::new(hwtests::dering_bin())
            .args(["backup-recordings", "--data-dir"])
            .arg(d.dir())
            .arg("--to")
            .arg(backup.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let rep = run();
    assert_eq!(
        (rep["copied"].as_u64(), rep["present"].as_u64()),
        (Some(1), Some(0)),
        "{rep}"
    );
    let manifest = rep["manifest"].as_str().unwrap().to_string();
    let check = std::process::Command::new("sha256sum")
        .args(["-c", &manifest])
        .current_dir(backup.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    // Again: nothing new. A damaged copy is found and copied again.
    let rep = run();
    assert_eq!(
        (rep["copied"].as_u64(), rep["present"].as_u64()),
        (Some(0), Some(1)),
        "{rep}"
    );
    let copy = walk(backup.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "mp3"))
        .unwrap();
    std::fs::write(&copy, b"damaged").unwrap();
    let rep = run();
    assert_eq!(rep["copied"].as_u64(), Some(1), "{rep}");
    assert_eq!(
        sha2_check::hex_sha256(&std::fs::read(&copy).unwrap()),
        r["sha256"].as_str().unwrap()
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// REC-2: a rule keeps 1002's calls unrecorded while the default (the
/// demo's 100%) records the others; the decision is per call.
#[test]
fn policy_rules_choose_the_calls_recorded() {
    use hwtests::fragments::{uac_media_and_bye, uas_answer};
    let d = Dering::start_with(|c| {
        format!("{c}\n[[recording.rule]]\nextension = \"1002\"\npercent = 0\n")
    });
    for ext in ["1002", "1003"] {
        let uas = callee(&d, ext, &format!("{}{}", uas_answer(), wait_bye()));
        let uac = caller(&d, "1001", ext, &uac_answered_then(&uac_media_and_bye()));
        ok(uac, "caller", &d);
        ok(uas, "callee", &d);
    }
    assert_eq!(d.ended_calls(2).len(), 2);
    let t = std::time::Instant::now();
    let rows = loop {
        let r = recordings(&d);
        if r.iter().any(|r| r["state"] == "complete") || t.elapsed() > Duration::from_secs(10) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["callee"], "1003", "{rows:?}");
}

/// Decoded by LAME, each channel of `mp3` still holds its party's tone
/// (as `tone_call` made them), in frequency and duration within 1%.
fn mp3_holds_both_tones(mp3: &std::path::Path, dir: &std::path::Path) {
    let decoded = dir.join(format!("decoded-{}.wav", std::process::id()));
    let st = std::process::Command::new("lame")
        .args(["--quiet", "--decode"])
        .arg(mp3)
        .arg(&decoded)
        .status()
        .unwrap();
    assert!(st.success());
    let mut wav = hound::WavReader::open(&decoded).unwrap();
    assert_eq!(wav.spec().channels, 2);
    let rate = f64::from(wav.spec().sample_rate);
    let all: Vec<i16> = wav.samples::<i16>().map(|s| s.unwrap()).collect();
    let want = f64::from(TONE_MS) / 1000.0;
    for (ch, freq) in [(0, 440.0), (1, 1000.0)] {
        let x: Vec<i16> = all.iter().skip(ch).step_by(2).copied().collect();
        // MP3 at 16 kbit/s a channel ripples the level by a few dB: present
        // is within 6 dB here.
        let (f, secs) = tone_above(&x, 0.5);
        // tone_above assumes 8 kHz.
        let (f, secs) = (f * rate / 8000.0, secs * 8000.0 / rate);
        assert!((f - freq).abs() / freq < 0.01, "channel {ch}: {f:.1} Hz");
        assert!(
            (secs - want).abs() / want < 0.01,
            "channel {ch}: {secs:.3} s"
        );
    }
}

/// REC-2: an MP3 on demand, beside the WAV that stays the master.
#[test]
fn mp3_on_demand_leaves_the_wav() {
    hwtests::require("lame");
    let d = Dering::start();
    let r = tone_call(&d);
    let wav = std::path::PathBuf::from(r["path"].as_str().unwrap());
    let out = d.dir().join("for-the-complainant.mp3");
    let o = std::process::Command::new(hwtests::dering_bin())
        .args([
            "recording-mp3",
            r["call_uuid"].as_str().unwrap(),
            "--data-dir",
        ])
        .arg(d.dir())
        .arg("--to")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["path"], out.display().to_string());
    assert_eq!(
        v["sha256"],
        sha2_check::hex_sha256(&std::fs::read(&out).unwrap())
    );
    assert!(wav.exists(), "the WAV stays");
    mp3_holds_both_tones(&out, d.dir());
    // A call with no recording is named in the error.
    let o = std::process::Command::new(hwtests::dering_bin())
        .args(["recording-mp3", "no-such-call", "--data-dir"])
        .arg(d.dir())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no-such-call"),
        "{o:?}"
    );
}
