//! Prompts changed on a running box (issue 15 §2, decision 0025), with
//! `dering up` and sipp phones:
//!
//! - a prompt uploaded through the web API (`PUT /api/v1/admin/prompts/
//!   id/greeting`) is what the next caller of 137 hears, without a
//!   restart: the RTP the box sends carries the upload's samples as A-law,
//!   byte for byte;
//! - extension 1001 records prompt 05 by the feature code (`*9705`): sipp
//!   plays a known tone after the beep, presses `#` and `1` as RFC 4733
//!   events (`hwtests::pcap::key`), and `<data>/prompts/id/rec_05.wav` holds that tone, listed by
//!   the web API as made by 1001 from the phone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use dering_media::g711::Law;
use hwtests::fragments::{caller_request, uac_answered_then, wait_bye};
use hwtests::{caller, credentials, free_udp_port, ok, phone, scenario, Dering};
use webd::auth::Perm;

/// An administrator's API token for the prompt screen.
fn admin_token(d: &Dering) -> String {
    hwtests::web::api_token(
        d.dir(),
        "budi",
        "admin",
        &[Perm::ViewConfig, Perm::EditConfig],
    )
}

/// One API call with curl (`file`: the body, sent as audio): (HTTP
/// status, JSON body).
fn api(
    d: &Dering,
    method: &str,
    path: &str,
    token: &str,
    file: Option<&std::path::Path>,
) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-k",
        "-L",
        "--location-trusted",
        "--max-time",
        "20",
        "-X",
        method,
    ])
    .args(["-H", &format!("Authorization: Bearer {token}")])
    .args(["-w", "\n%{http_code}"]);
    if let Some(f) = file {
        cmd.args(["-H", "Content-Type: audio/wav", "--data-binary"])
            .arg(format!("@{}", f.display()));
    }
    let out = cmd
        .arg(format!("http://{}{path}", d.http))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

/// A second of a two-tone chord at 8 kHz, mono, 16-bit: the box's own
/// format, so its conversion keeps every sample.
fn chord() -> Vec<i16> {
    (0..8000)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            let s = (std::f64::consts::TAU * 523.0 * t).sin()
                + (std::f64::consts::TAU * 659.0 * t).sin();
            (s * 6000.0) as i16
        })
        .collect()
}

fn write_wav(path: &std::path::Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_uploaded_prompt_is_heard_by_the_next_caller_without_a_restart() {
    hwtests::require("curl");
    let d = Dering::start();
    let token = admin_token(&d);
    let upload = d.dir().join("chord.wav");
    let samples = chord();
    write_wav(&upload, &samples);
    let (code, body) = api(
        &d,
        "PUT",
        "/api/v1/admin/prompts/id/greeting",
        &token,
        Some(&upload),
    );
    assert_eq!(code, 200, "{body}\n{}", d.log());
    assert_eq!(body["reloaded"]["pbxd"], "live", "{body}");

    // A caller of 137 whose SDP names our socket: what the box plays
    // first is the uploaded greeting.
    let ear = UdpSocket::bind("127.0.0.1:0").unwrap();
    ear.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let sf = scenario(
        d.dir(),
        "uac.xml",
        &[(
            "AFTER_INVITE",
            &uac_answered_then(&format!(
                "  <pause milliseconds=\"2500\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
                caller_request("BYE", 3)
            )),
        )],
    );
    let text = std::fs::read_to_string(&sf).unwrap().replace(
        "m=audio [media_port]",
        &format!("m=audio {}", ear.local_addr().unwrap().port()),
    );
    std::fs::write(&sf, text).unwrap();
    let mut extra = vec![d.addr()];
    extra.extend(["-s", "137", "-key", "me", "1002"].map(String::from));
    extra.extend(credentials("1002"));
    let sipp = phone(&d, &sf, free_udp_port(), &extra);
    let mut heard = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        if let Ok(n) = ear.recv(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 8 {
                heard.extend_from_slice(&buf[12..n]);
            }
        }
    }
    ok(sipp, "the caller of 137", &d);
    let mut expected = Vec::new();
    Law::Alaw.encode(&samples[..1600], &mut expected);
    assert!(
        contains(&heard, &expected),
        "the uploaded greeting's first 200 ms are not in the {} bytes heard\n{}",
        heard.len(),
        d.log()
    );
}

#[test]
fn a_phone_records_a_prompt_by_the_feature_code() {
    hwtests::require("curl");
    let d = Dering::start();
    let token = admin_token(&d);
    let tone = d.dir().join("tone.pcap");
    hwtests::pcap::tone(&tone, 700.0, 2000);
    // Keys as RFC 4733 events, each later in RTP time than the one
    // before (see `hwtests::pcap::key`).
    let press = |name: &str, event: u8, timestamp: u32| {
        let file = d.dir().join(format!("key-{name}.pcap"));
        hwtests::pcap::key(&file, event, timestamp);
        format!(
            "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
            file.display()
        )
    };
    // "Speak after the tone" and the beep (6 s), the tone, # ends the
    // take, the playback starts, 1 keeps it; "saved", goodbye, the box
    // hangs up.
    let after = format!(
        "  <pause milliseconds=\"8000\"/>\n  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"2600\"/>\n{}  <pause milliseconds=\"1500\"/>\n{}{}",
        tone.display(),
        press("pound", 11, 100_000),
        press("1", 1, 200_000),
        wait_bye()
    );
    ok(
        caller(&d, "1001", "*9705", &uac_answered_then(&after)),
        "1001 recording prompt 05",
        &d,
    );

    let path = d.dir().join("prompts/id/rec_05.wav");
    let mut r = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16)
    );
    let kept: Vec<i16> = r.samples::<i16>().collect::<Result<_, _>>().unwrap();
    // What sipp sent, as the box decodes it: the pcap's tone through A-law.
    let amp = dering_media::tones::dbm0_to_amplitude(-10.0);
    let sent: Vec<i16> = (0..16_000)
        .map(|n| {
            let s =
                (amp * (2.0 * std::f64::consts::PI * 700.0 * f64::from(n) / 8000.0).sin()) as i16;
            Law::Alaw.decode_one(Law::Alaw.encode_one(s))
        })
        .collect();
    assert!(
        kept.windows(800).any(|w| w == &sent[1600..2400]),
        "the recorded tone is not in the {} samples kept\n{}",
        kept.len(),
        d.log()
    );
    assert!(kept.len() < 8000 * 4, "the take ends at #: {}", kept.len());

    // The prompt screen lists it as made by 1001 from the phone.
    let (code, list) = api(&d, "GET", "/api/v1/admin/prompts", &token, None);
    assert_eq!(code, 200, "{list}");
    let entry = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "rec_05")
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["made"]["by"], "1001", "{list}");
    assert_eq!(entry["made"]["source"], "phone", "{list}");
}
