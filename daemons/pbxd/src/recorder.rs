//! Call recording (REC-1, REC-2, REC-5): two-channel WAV files (caller
//! left, callee right, 8 kHz 16-bit) written on a thread of their own, so a
//! slow or full disk never stalls the relay.
//!
//! Crash safety: the WAV header is brought up to date every second
//! (`hound`'s flush), so after a `kill -9` or a power cut a file plays up
//! to its last second; [`repair`] at the next start fixes the header to
//! cover everything that reached the disk and records the file as
//! `repaired`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;

use dering_store::writer::Writer;
use dering_store::{Op, RecordingRow};
use sha2::{Digest, Sha256};

/// Frames (20 ms) between header updates: one second.
const FLUSH_EVERY: u64 = 50;
/// Samples per second per channel.
const RATE: u32 = 8000;

/// Recordings a failed write stopped or kept from starting since pbxd
/// started (a full disk, issue 17 §6), and when the last was (ms since
/// 1970): pbxd's heartbeat turns a recent one into a warning.
pub static STOPPED: AtomicU64 = AtomicU64::new(0);
pub static LAST_STOPPED_MS: AtomicI64 = AtomicI64::new(0);

/// How long after the last stopped recording the warning stays.
pub const STOPPED_WARNING_MS: i64 = 15 * 60 * 1000;

fn note_stopped() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    STOPPED.fetch_add(1, Ordering::Relaxed);
    LAST_STOPPED_MS.store(now, Ordering::Relaxed);
}

/// The heartbeat's warning about recordings a full disk stopped, if one
/// stopped within [`STOPPED_WARNING_MS`] of `now_ms`.
pub fn stopped_warning(now_ms: i64) -> Option<String> {
    let n = STOPPED.load(Ordering::Relaxed);
    let last = LAST_STOPPED_MS.load(Ordering::Relaxed);
    (n > 0 && now_ms - last < STOPPED_WARNING_MS).then(|| {
        format!(
            "recording stopped: {n} recordings cut or not started by a failed write (disk full?)"
        )
    })
}

/// Messages to the recorder thread.
#[derive(Debug)]
pub enum RecMsg {
    Open {
        call: u64,
        row: Box<RecordingRow>,
    },
    /// 20 ms of interleaved stereo (caller, callee) for each of some
    /// calls, in order: what a relay thread had due at one moment.
    Frames(Vec<(u64, Vec<i16>)>),
    Close {
        call: u64,
        end_ms: i64,
    },
}

struct Open {
    path: PathBuf,
    wav: Option<hound::WavWriter<BufWriter<File>>>,
    frames: u64,
    /// A write failed: the file holds the audio up to then.
    cut: bool,
}

/// A closed WAV file waiting for its conversion to MP3.
struct Closed {
    path: PathBuf,
    end_ms: i64,
    duration_ms: i64,
}

/// Starts the recorder thread (and, with `mp3`, the converter thread that
/// runs LAME on each closed recording); they report to the database
/// through `writer`.
pub fn spawn(writer: Writer, mp3: bool) -> std::io::Result<mpsc::SyncSender<RecMsg>> {
    // Batches of frames (one per relay thread every few milliseconds):
    // about ten seconds of them.
    let (tx, rx) = mpsc::sync_channel(10_000);
    let convert = if mp3 {
        let (ctx, crx) = mpsc::channel::<Closed>();
        let w = writer.clone();
        std::thread::Builder::new()
            .name("recorder-mp3".into())
            .spawn(move || convert_all(crx, w))?;
        Some(ctx)
    } else {
        None
    };
    std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || run(rx, writer, convert))?;
    Ok(tx)
}

fn convert_all(rx: mpsc::Receiver<Closed>, writer: Writer) {
    while let Ok(c) = rx.recv() {
        let final_path = match to_mp3(&c.path) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(path = %c.path.display(), error = %e, "MP3 conversion failed; the WAV is kept");
                c.path.clone()
            }
        };
        let (bytes, sha256) = checksum(&final_path).unwrap_or((0, String::new()));
        let _ = writer.submit(
            Op::RecordingEnd {
                path: c.path.display().to_string(),
                final_path: final_path.display().to_string(),
                end_ms: c.end_ms,
                duration_ms: c.duration_ms,
                bytes,
                sha256,
                state: "complete".into(),
            },
            None,
        );
    }
}

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn run(rx: mpsc::Receiver<RecMsg>, writer: Writer, convert: Option<mpsc::Sender<Closed>>) {
    let mut open: HashMap<u64, Open> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            RecMsg::Open { call, row } => {
                let path = PathBuf::from(&row.path);
                let wav = match create(&path) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "cannot open a recording; the call goes on unrecorded");
                        note_stopped();
                        None
                    }
                };
                if wav.is_some() {
                    let _ = writer.submit(Op::RecordingStart(*row), None);
                }
                open.insert(
                    call,
                    Open {
                        path,
                        wav,
                        frames: 0,
                        cut: false,
                    },
                );
            }
            RecMsg::Frames(frames) => {
                for (call, frame) in frames {
                    if let Some(o) = open.get_mut(&call) {
                        write_frame(o, &frame);
                    }
                }
            }
            RecMsg::Close { call, end_ms } => {
                let Some(o) = open.remove(&call) else {
                    continue;
                };
                let Some(w) = o.wav else {
                    if o.cut {
                        end_cut(&o.path, end_ms, &writer);
                    }
                    continue;
                };
                let state = match w.finalize() {
                    Ok(()) => "complete",
                    Err(e) => {
                        tracing::error!(path = %o.path.display(), error = %e, "recording not finalised");
                        "damaged"
                    }
                };
                let duration_ms = (o.frames * 20) as i64;
                if let (Some(c), "complete") = (&convert, state) {
                    let closed = Closed {
                        path: o.path.clone(),
                        end_ms,
                        duration_ms,
                    };
                    if c.send(closed).is_ok() {
                        continue;
                    }
                }
                let (bytes, sha256) = checksum(&o.path).unwrap_or((0, String::new()));
                let _ = writer.submit(
                    Op::RecordingEnd {
                        path: o.path.display().to_string(),
                        final_path: o.path.display().to_string(),
                        end_ms,
                        duration_ms,
                        bytes,
                        sha256,
                        state: state.into(),
                    },
                    None,
                );
            }
        }
    }
}

/// A new recording's file, its header already on disk: the row that
/// says it is recording is committed right after, so a crash before the
/// first second's flush must still leave a WAV the next start can mend
/// (an empty file, its header still in the writer's buffer, could not
/// be, and the recording was lost as `missing`).
fn create(path: &Path) -> std::io::Result<hound::WavWriter<BufWriter<File>>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut w = hound::WavWriter::create(path, spec()).map_err(std::io::Error::other)?;
    w.flush().map_err(std::io::Error::other)?;
    Ok(w)
}

/// Appends one stereo frame to an open recording; a write error (a full
/// disk) stops this recording, said once, and the call goes on.
fn write_frame(o: &mut Open, frame: &[i16]) {
    let Some(w) = o.wav.as_mut() else {
        return;
    };
    // The fixed-size sample writer: one bounds check a frame, not one
    // call per sample.
    let mut w16 = w.get_i16_writer(frame.len() as u32);
    for s in frame {
        w16.write_sample(*s);
    }
    let mut ok = w16.flush().is_ok();
    o.frames += 1;
    if ok && o.frames.is_multiple_of(FLUSH_EVERY) {
        ok = w.flush().is_ok();
    }
    if !ok {
        tracing::error!(path = %o.path.display(), "recording write failed (disk full?); stopped for this call");
        // Dropping the writer writes its header in place (no new block);
        // the call's end mends it to what reached the disk.
        o.wav = None;
        o.cut = true;
        note_stopped();
    }
}

/// Closes a recording a failed write stopped: its header is mended to
/// cover the whole frames on disk, as after a crash, and the row says
/// `repaired` with the file's size and checksum, so what was written is
/// kept, backed up and deleted at retention like any recording.
fn end_cut(path: &Path, end_ms: i64, writer: &Writer) {
    let (state, duration_ms) = match repair(path) {
        Ok(ms) => ("repaired", ms),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "a cut recording could not be mended");
            ("damaged", 0)
        }
    };
    let (bytes, sha256) = checksum(path).unwrap_or((0, String::new()));
    let _ = writer.submit(
        Op::RecordingEnd {
            path: path.display().to_string(),
            final_path: path.display().to_string(),
            end_ms,
            duration_ms,
            bytes,
            sha256,
            state: state.into(),
        },
        None,
    );
}

/// Size and SHA-256 (hex) of a file.
pub fn checksum(path: &Path) -> std::io::Result<(i64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0i64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as i64;
        h.update(&buf[..k]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((n, hex))
}

/// Mends a WAV file cut off mid-recording: the RIFF and data sizes are
/// set to cover every whole frame on disk. Returns the audio's duration
/// in milliseconds.
pub fn repair(path: &Path) -> std::io::Result<i64> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut head = vec![0u8; len.min(4096) as usize];
    f.read_exact(&mut head)?;
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(std::io::Error::other("not a WAV file"));
    }
    // Walk the chunks to the data chunk, taking the frame size from fmt.
    let mut at = 12usize;
    let mut block_align = 4u64;
    let mut byte_rate = u64::from(RATE) * 4;
    loop {
        let Some(id) = head.get(at..at + 4) else {
            return Err(std::io::Error::other("no data chunk"));
        };
        let size_bytes = head
            .get(at + 4..at + 8)
            .ok_or_else(|| std::io::Error::other("truncated chunk header"))?;
        let size = u32::from_le_bytes([size_bytes[0], size_bytes[1], size_bytes[2], size_bytes[3]]);
        if id == b"fmt " {
            if let Some(fmt) = head.get(at + 8..at + 24) {
                byte_rate = u64::from(u32::from_le_bytes([fmt[8], fmt[9], fmt[10], fmt[11]]));
                block_align = u64::from(u16::from_le_bytes([fmt[12], fmt[13]])).max(1);
            }
        }
        if id == b"data" {
            let data_start = (at + 8) as u64;
            let data_len = (len.saturating_sub(data_start) / block_align) * block_align;
            let riff = (data_start + data_len - 8).min(u64::from(u32::MAX)) as u32;
            f.seek(SeekFrom::Start(4))?;
            f.write_all(&riff.to_le_bytes())?;
            f.seek(SeekFrom::Start((at + 4) as u64))?;
            f.write_all(&(data_len.min(u64::from(u32::MAX)) as u32).to_le_bytes())?;
            f.set_len(data_start + data_len)?;
            f.sync_all()?;
            return Ok((data_len * 1000 / byte_rate.max(1)) as i64);
        }
        at += 8 + size as usize + (size as usize & 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by hwtests' durability test: a kill in a recording's first
    /// second left an empty file that could not be mended.
    #[test]
    fn a_recording_cut_before_its_first_second_is_mended_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026/12/04/r.wav");
        let w = create(&path).unwrap();
        // A crash: nothing after the creation reaches the disk.
        std::mem::forget(w);
        assert_eq!(repair(&path).unwrap(), 0);
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!((r.spec().channels, r.len()), (2, 0));
    }

    #[test]
    fn a_file_cut_mid_write_is_repaired_and_plays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.wav");
        let mut w = hound::WavWriter::create(&path, spec()).unwrap();
        for i in 0..16_000 {
            w.write_sample((i % 1000) as i16).unwrap();
        }
        w.flush().unwrap();
        // A crash: the writer never finalises, and more audio reached the
        // disk after the last header update, ending in half a frame.
        std::mem::forget(w);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let more: Vec<u8> = (0..8_000i16)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        f.write_all(&more).unwrap();
        f.write_all(&[1, 2]).unwrap();
        drop(f);
        let ms = repair(&path).unwrap();
        assert_eq!(ms, 1500, "24,000 samples of two channels at 8 kHz");
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().channels, 2);
        assert_eq!(r.len(), 24_000);
        assert!(repair(&dir.path().join("none.wav")).is_err());
        std::fs::write(dir.path().join("bad.wav"), b"hello").unwrap();
        assert!(repair(&dir.path().join("bad.wav")).is_err());
    }
}

/// What a backup run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackupReport {
    pub copied: usize,
    /// Already in the backup with the right checksum.
    pub present: usize,
    /// Copies whose checksum did not match (copied again, then checked).
    pub failed: Vec<String>,
    pub manifest: Option<String>,
}

/// Copies every closed recording not yet in `to` (a removable disk),
/// checks each copy's SHA-256 against the database, and writes a manifest
/// (`sha256sum -c` can check it) of what this run copied (REC-5).
pub fn backup(
    rows: &[RecordingRow],
    recordings_root: &Path,
    to: &Path,
    now_ms: i64,
) -> std::io::Result<BackupReport> {
    let mut report = BackupReport::default();
    let mut manifest = String::new();
    for r in rows
        .iter()
        .filter(|r| r.state == "complete" || r.state == "repaired")
    {
        let Some(sha) = r.sha256.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let src = Path::new(&r.path);
        // Keep the YYYY/MM/DD layout under the backup root.
        let rel = src
            .strip_prefix(recordings_root)
            .unwrap_or_else(|_| Path::new(src.file_name().unwrap_or_default()));
        let dst = to.join(rel);
        if dst.exists() && checksum(&dst).map(|(_, h)| h == sha).unwrap_or(false) {
            report.present += 1;
            continue;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = dst.with_extension("part");
        std::fs::copy(src, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        match checksum(&tmp) {
            Ok((_, h)) if h == sha => {
                std::fs::rename(&tmp, &dst)?;
                report.copied += 1;
                manifest.push_str(&format!("{sha}  {}\n", rel.display()));
            }
            _ => {
                let _ = std::fs::remove_file(&tmp);
                report.failed.push(r.path.clone());
            }
        }
    }
    if !manifest.is_empty() {
        let name = format!("MANIFEST-{now_ms}.sha256");
        let path = to.join(&name);
        std::fs::write(&path, manifest)?;
        File::open(&path)?.sync_all()?;
        report.manifest = Some(name);
    }
    Ok(report)
}

/// Converts a closed WAV recording to MP3 with the system's LAME, run as
/// a separate process (LAME is LGPL: it is never linked into the box).
/// Returns the MP3's path; the WAV is removed once the MP3 is written.
pub fn to_mp3(wav: &Path) -> std::io::Result<PathBuf> {
    let mp3 = encode_mp3(wav, &wav.with_extension("mp3"))?;
    std::fs::remove_file(wav)?;
    Ok(mp3)
}

/// Writes an MP3 of `wav` to `mp3` (32 kbit/s stereo: caller and agent
/// stay apart), leaving the WAV as it is: MP3 on demand, e.g. for a
/// complainant who asks for the call.
pub fn encode_mp3(wav: &Path, mp3: &Path) -> std::io::Result<PathBuf> {
    let status = std::process::Command::new("lame")
        .args(["--quiet", "-b", "32", "-m", "s"])
        .arg(wav)
        .arg(mp3)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("lame: {status}")));
    }
    Ok(mp3.to_path_buf())
}
