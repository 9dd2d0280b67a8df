//! G.722 desk phones and G.711 legs (TEL-1, IVR-1, REC-1): a baresip phone
//! that talks only G.722 calls one that talks only A-law; the box
//! transcodes both ways and each hears the other's tone, and the call is
//! recorded with each tone on its channel. A G.722 caller is answered by
//! the 137 flow in G.722, chooses with RFC 4733 keys (`sndcode`) and is
//! connected to an A-law officer of the ring group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hwtests::baresip::{before_end, tone_levels, tone_wav, Baresip};
use hwtests::Dering;

/// Amplitudes of `tones` over the last `secs` seconds but the final half.
fn tail_levels(samples: &[i16], secs: f64, tones: &[u32]) -> Vec<f64> {
    tone_levels(
        samples,
        before_end(samples, secs + 0.5),
        before_end(samples, 0.5),
        tones,
    )
}

fn wait_recording(d: &Dering) -> serde_json::Value {
    let t = std::time::Instant::now();
    loop {
        let r = d.json_lines(&["recordings", "--json"]);
        if let Some(row) = r.iter().find(|r| r["state"] == "complete") {
            return row.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn g722_phone_and_alaw_phone_hear_each_other_through_the_transcoder() {
    let d = Dering::start();
    let mut wide = Baresip::start_with_codecs(
        &d,
        "1001",
        false,
        &tone_wav(d.dir(), 440, 60),
        "G722/16000/1",
    );
    let mut narrow =
        Baresip::start_with_codecs(&d, "1002", true, &tone_wav(d.dir(), 1000, 60), "PCMA");
    d.wait_registered(2);
    wide.dial(&d, "1002");
    wide.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    narrow.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let live = d.query("calls");
    assert_eq!(live[0]["codec"], "G722/PCMA", "{live:?}");
    std::thread::sleep(Duration::from_secs(4));
    wide.command("hangup", "");
    wide.wait_event("CALL_CLOSED", Duration::from_secs(10));
    narrow.wait_event("CALL_CLOSED", Duration::from_secs(10));

    let l = tail_levels(&wide.heard(), 2.5, &[440, 1000]);
    assert!(
        l[1] > 2000.0 && l[0] < 1000.0,
        "the G.722 phone heard {l:?}"
    );
    let l = tail_levels(&narrow.heard(), 2.5, &[440, 1000]);
    assert!(
        l[0] > 2000.0 && l[1] < 1000.0,
        "the A-law phone heard {l:?}"
    );
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["codec"], "G722/PCMA", "{c}");

    // The recording decodes each leg in its own codec.
    let row = wait_recording(&d);
    let r = hound::WavReader::open(row["path"].as_str().unwrap()).unwrap();
    let s: Vec<i16> = r.into_samples().map(Result::unwrap).collect();
    let caller: Vec<i16> = s.iter().step_by(2).copied().collect();
    let callee: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let (c0, c1) = (
        tail_levels(&caller, 2.5, &[440, 1000]),
        tail_levels(&callee, 2.5, &[440, 1000]),
    );
    assert!(c0[0] > 2000.0 && c0[1] < 1000.0, "caller channel {c0:?}");
    assert!(c1[1] > 2000.0 && c1[0] < 1000.0, "callee channel {c1:?}");
}

#[test]
fn g722_caller_drives_the_137_flow_with_keys_and_reaches_an_alaw_officer() {
    let d = Dering::start();
    let mut caller = Baresip::start_with_codecs(
        &d,
        "1005",
        false,
        &tone_wav(d.dir(), 440, 60),
        "G722/16000/1",
    );
    // 1001 and 1002 of the ring group are not registered: 1003 rings.
    let mut officer =
        Baresip::start_with_codecs(&d, "1003", true, &tone_wav(d.dir(), 1000, 60), "PCMA");
    d.wait_registered(2);
    caller.dial(&d, "137");
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let live = d.query("calls");
    assert_eq!(live[0]["codec"], "G722", "answered in G.722: {live:?}");
    // The greeting plays; "2" (an officer) during the menu.
    std::thread::sleep(Duration::from_secs(4));
    caller.keys("2");
    officer.wait_event("CALL_ESTABLISHED", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(4));
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(10));
    officer.wait_event("CALL_CLOSED", Duration::from_secs(10));

    let heard = caller.heard();
    // The prompts reached the G.722 phone: speech in the first seconds.
    let first = &heard[..(3 * 8000).min(heard.len())];
    let rms =
        (first.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / first.len() as f64).sqrt();
    assert!(rms > 300.0, "greeting RMS {rms}");
    let l = tail_levels(&heard, 2.5, &[440, 1000]);
    assert!(l[1] > 2000.0, "the caller hears the officer: {l:?}");
    let l = tail_levels(&officer.heard(), 2.5, &[440, 1000]);
    assert!(l[0] > 2000.0, "the officer hears the caller: {l:?}");

    let counters = d.json_lines(&["flow-counters", "layanan-pengaduan"]);
    assert!(
        counters
            .iter()
            .any(|c| c["node"] == "menu" && c["choice"] == "2" && c["count"] == 1),
        "{counters:?}"
    );
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["callee"], "137", "{c}");
    assert_eq!(
        c["codec"], "G722",
        "the caller's codec is what the record keeps: {c}"
    );
    // The recording names the officer and the service (REC-2).
    let row = wait_recording(&d);
    assert_eq!(row["agent"], "1003", "{row}");
    assert_eq!(row["service"], "layanan-pengaduan", "{row}");
    assert_eq!(row["callee"], "137", "{row}");
}

/// 20 s of 16 kHz audio that walks G.722 through its range: logarithmic
/// sweeps across both sub-bands at three levels, white noise loud and
/// quiet, a full-scale square wave (both extremes of `i16`), impulses and
/// silence.
fn g722_test_signal() -> Vec<i16> {
    let rate = 16_000.0;
    let mut x = Vec::new();
    let (f0, f1, secs) = (50.0f64, 7_900.0f64, 4.0);
    let k = f1 / f0;
    for amp in [300.0, 6_000.0, 30_000.0] {
        for i in 0..(secs * rate) as usize {
            let t = i as f64 / rate;
            let phase = 2.0 * std::f64::consts::PI * f0 * secs / k.ln() * (k.powf(t / secs) - 1.0);
            x.push((amp * phase.sin()) as i16);
        }
    }
    let mut r = 0x2545_f491u32;
    for amp in [32_767i32, 200] {
        for _ in 0..32_000 {
            r ^= r << 13;
            r ^= r >> 17;
            r ^= r << 5;
            x.push(((r >> 16) as i32 - 32_768).clamp(-amp, amp) as i16);
        }
    }
    for i in 0..16_000 {
        x.push(if (i / 8) % 2 == 0 { i16::MAX } else { i16::MIN });
    }
    for i in 0..16_000 {
        x.push(if i % 800 == 0 { 20_000 } else { 0 });
    }
    x.extend(std::iter::repeat_n(0, 16_000));
    x
}

/// Runs `hwtests/tools/spandsp-g722 MODE` on `input`; returns its output.
fn spandsp_g722(mode: &str, input: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (i, o) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&i, input).unwrap();
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/spandsp-g722");
    let st = std::process::Command::new(tool)
        .arg(mode)
        .args([&i, &o])
        .status()
        .unwrap();
    assert!(st.success(), "spandsp-g722 {mode}: {st}");
    std::fs::read(o).unwrap()
}

/// The box's G.722 codec (media library, 64 kbit/s) gives the same code
/// bytes and the same decoded samples as spandsp's, whose own test suite
/// runs the ITU-T G.722 test sequences (not redistributable, so not here),
/// over a signal that reaches every part of both sub-band coders (TEL-1).
#[test]
fn g722_encodes_and_decodes_bit_for_bit_like_spandsp() {
    use dering_media::g722::{G722Decoder, G722Encoder};
    let x = g722_test_signal();
    let pcm: Vec<u8> = x.iter().flat_map(|s| s.to_le_bytes()).collect();
    let want = spandsp_g722("encode", &pcm);
    assert_eq!(want.len(), x.len() / 2, "one code byte per sample pair");
    let mut enc = G722Encoder::new(false);
    let ours: Vec<u8> = x
        .chunks(dering_media::FRAME_16K)
        .flat_map(|f| enc.encode(f))
        .collect();
    assert_eq!(ours.len(), want.len());
    if let Some(i) = (0..want.len()).find(|&i| ours[i] != want[i]) {
        panic!(
            "code byte {i} of {} ({:.3} s) differs: ours {:#04x}, spandsp {:#04x}",
            want.len(),
            i as f64 / 8_000.0,
            ours[i],
            want[i]
        );
    }
    let want_pcm: Vec<i16> = spandsp_g722("decode", &want)
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(want_pcm.len(), x.len());
    let mut dec = G722Decoder::new(false);
    let ours: Vec<i16> = want.chunks(160).flat_map(|f| dec.decode(f)).collect();
    assert_eq!(ours.len(), want_pcm.len());
    // One deliberate difference: where the receive filter's output goes
    // past 16 bits (full-scale noise), spandsp 0.0.6 wraps it round to the
    // other sign (a loud click) and ours saturates, as later spandsp does.
    let wrapped = |o: i16, w: i16| (o == i16::MAX && w < 0) || (o == i16::MIN && w > 0);
    let mut clipped = 0;
    for i in 0..ours.len() {
        if ours[i] == want_pcm[i] {
            continue;
        }
        assert!(
            wrapped(ours[i], want_pcm[i]),
            "decoded sample {i} ({:.3} s) differs: ours {}, spandsp {}",
            i as f64 / 16_000.0,
            ours[i],
            want_pcm[i]
        );
        clipped += 1;
    }
    assert!(clipped < 100, "{clipped} samples saturated");
    // And the codec is not trivially silent: the loud sweep comes back.
    let loud = &want_pcm[8 * 16_000..12 * 16_000];
    assert!(loud.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0) > 20_000);
}
