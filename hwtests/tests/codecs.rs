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
