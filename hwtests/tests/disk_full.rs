//! A full disk under the recordings (issue 17 §6, OPS-1): the recordings
//! directory is a small tmpfs, mounted for the test (the data partition
//! of the appliance filling up, without a loop device). Calls go on to
//! their end, the recording a full disk cuts keeps what was written (its
//! header mended, the row `repaired` with the file's checksum), earlier
//! recordings are untouched, and `/health` warns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, ok, Dering};
use serde_json::Value;

/// A tmpfs of `kib` KiB at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, kib: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "disk_full mounts a small tmpfs and needs the right to (root or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn callee_playing(pcap: &Path) -> String {
    format!(
        "{}  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n{}",
        uas_answer(),
        pcap.display(),
        wait_bye()
    )
}

fn caller_playing(pcap: &Path, stay_ms: u32) -> String {
    uac_answered_then(&format!(
        "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{stay_ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        pcap.display(),
        caller_request("BYE", 3)
    ))
}

fn health(d: &Dering) -> Value {
    let mut s = TcpStream::connect(&d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}

fn recordings(d: &Dering) -> Vec<Value> {
    d.json_lines(&["recordings", "--json"])
}

/// Waits until `n` recordings are closed (any final state).
fn closed(d: &Dering, n: usize) -> Vec<Value> {
    let t = Instant::now();
    loop {
        let r = recordings(d);
        if r.iter().filter(|r| r["state"] != "recording").count() >= n {
            return r;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn call(d: &Dering, tone: &Path, stay_ms: u32) {
    let uas = callee(d, "1002", &callee_playing(tone));
    let uac = caller(d, "1001", "1002", &caller_playing(tone, stay_ms));
    ok(uac, "caller", d);
    ok(uas, "callee", d);
}

#[test]
fn a_full_recordings_disk_stops_recording_not_calls_and_keeps_what_was_written() {
    let work = tempfile::tempdir().unwrap();
    // 8 kHz stereo 16-bit WAV is 32 KB a second: room for the first call
    // (about 1.5 s) and part of the second.
    let rec = work.path().join("recordings");
    let _fs = Tmpfs::mount(&rec, 128);
    let rec_s = rec.display().to_string();
    let mut d = Dering::start_with(|t| {
        t.replace(
            "[recording]\npercent = 100",
            &format!("[recording]\npercent = 100\ndirectory = \"{rec_s}\""),
        )
    });
    let tone = work.path().join("440.pcap");
    hwtests::pcap::tone(&tone, 440.0, 1000);

    call(&d, &tone, 1500);
    let first = closed(&d, 1)[0].clone();
    assert_eq!(first["state"], "complete", "{first}");
    let first_path = PathBuf::from(first["path"].as_str().unwrap());
    assert!(first_path.starts_with(&rec));
    let first_sha = dering_store::backup::sha256_file(&first_path).unwrap();
    assert_eq!(first["sha256"], first_sha.as_str());

    // The second call outlasts the room left: it goes on to its BYE.
    call(&d, &tone, 6000);
    let rows = closed(&d, 2);
    let second = rows
        .iter()
        .find(|r| r["call_uuid"] != first["call_uuid"])
        .unwrap();
    assert_eq!(second["state"], "repaired", "{second}");
    let second_path = PathBuf::from(second["path"].as_str().unwrap());
    let sha = dering_store::backup::sha256_file(&second_path).unwrap();
    assert_eq!(
        second["sha256"],
        sha.as_str(),
        "the row has the file's checksum"
    );
    // What reached the disk plays: a well-formed WAV of whole frames,
    // shorter than the call.
    let wav = hound::WavReader::open(&second_path).unwrap();
    let frames = wav.len() / 2;
    assert!(frames > 8000 && frames < 6 * 8000, "{frames} frames");
    let ms = second["duration_ms"].as_i64().unwrap();
    assert_eq!(ms, i64::from(frames) * 1000 / 8000, "{second}");
    // The earlier recording is untouched.
    assert_eq!(
        dering_store::backup::sha256_file(&first_path).unwrap(),
        first_sha
    );

    // With the disk full, calls still connect and end.
    call(&d, &tone, 500);
    let cdr = d.ended_calls(3);
    assert_eq!(cdr.len(), 3, "{cdr:?}");
    assert!(
        cdr.iter().all(|c| c["disposition"] == "answered"),
        "{cdr:?}"
    );

    // And the box says so.
    let t = Instant::now();
    loop {
        let h = health(&d);
        let w = h["warnings"].to_string();
        if w.contains("recording stopped: 2 recordings") {
            assert_eq!(h["status"], "warning", "{h}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{h}");
        std::thread::sleep(Duration::from_millis(250));
    }
    d.stop();
}
