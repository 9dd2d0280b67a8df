//! The web admin's live page and call history against a real box
//! (`dering up`) and a real sipp call: webd's SSE stream, fed by pbxd's
//! event stream through webd's one shared subscription, shows the call
//! answered and then ended; afterwards the call record and its recording
//! (the demo records every call) are found through `/api/v1/history`, and
//! the recording plays by byte range. The test signs in with an API token
//! it writes into the box's database (its SHA-256, as webd stores them):
//! logging in is web-core's test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use hwtests::fragments::*;
use hwtests::{callee, caller, free_udp_port, ok, Dering};

/// A supervisor with an API token scoped to the live page, call records
/// and recordings; returns the token.
fn token(d: &Dering) -> String {
    use webd::auth::Perm;
    let scopes = [Perm::ViewLive, Perm::ViewCallRecords, Perm::Recordings];
    hwtests::web::api_token(d.dir(), "spv", "supervisor", &scopes)
}

/// A box whose web admin listens for HTTPS on a port of our choosing
/// (the ready line's harness knows only the plain HTTP one).
fn start() -> (Dering, String) {
    let port = free_udp_port();
    let d = Dering::start_with_args(|t| t, &["--https-port".into(), port.to_string()]);
    (d, format!("127.0.0.1:{port}"))
}

use hwtests::web::Https;

/// An HTTPS connection to `https`, trusting only the box's certificate.
fn connect(d: &Dering, https: &str) -> Https {
    let pem = std::fs::read(d.dir().join("tls/cert.pem")).unwrap();
    // A stuck stream fails the test instead of hanging it.
    hwtests::web::connect(https, &pem, Duration::from_secs(30))
}

fn request(d: &(Dering, String), path: &str, token: &str, extra: &str) -> Https {
    let mut s = connect(&d.0, &d.1);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    s
}

/// A whole response: status, head, body bytes (de-chunked).
fn get(d: &(Dering, String), path: &str, token: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    match request(d, path, token, extra).read_to_end(&mut buf) {
        Ok(_) => {}
        // A server closing without TLS close_notify after the whole
        // response (Connection: close) is the end here.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("{path}: {e}"),
    }
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + len]);
            rest = &rest[nl + 2 + len + 2..];
        }
        body = out;
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, body)
}

fn json(d: &(Dering, String), path: &str, token: &str) -> serde_json::Value {
    let (status, _, body) = get(d, path, token, "");
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// An SSE stream being read: its events as (name, JSON data).
struct Sse {
    rd: BufReader<Https>,
}

impl Sse {
    fn open(d: &(Dering, String), token: &str) -> Sse {
        let mut rd = BufReader::new(request(d, "/api/v1/live/events", token, ""));
        let mut head = String::new();
        loop {
            let mut l = String::new();
            rd.read_line(&mut l).unwrap();
            if l == "\r\n" {
                break;
            }
            head.push_str(&l);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        Sse { rd }
    }

    /// The next event (skipping keep-alive comments and chunk sizes).
    fn next(&mut self) -> (String, serde_json::Value) {
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            let mut l = String::new();
            assert!(
                self.rd.read_line(&mut l).unwrap() > 0,
                "the SSE stream ended"
            );
            let l = l.trim_end_matches(['\r', '\n']);
            if let Some(n) = l.strip_prefix("event: ") {
                name = n.to_string();
            } else if let Some(v) = l.strip_prefix("data: ") {
                data.push_str(v);
            } else if l.is_empty() && !name.is_empty() {
                return (name, serde_json::from_str(&data).unwrap());
            }
        }
    }

    /// Reads events until `want` says yes to one; returns it.
    fn until(
        &mut self,
        mut want: impl FnMut(&str, &serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            let (name, data) = self.next();
            if want(&name, &data) {
                return data;
            }
        }
    }
}

#[test]
fn the_live_stream_shows_a_sipp_call_answered_then_gone_and_history_finds_it() {
    let web = start();
    let d = &web.0;
    let token = token(d);
    let mut sse = Sse::open(&web, &token);
    let first = sse.until(|n, _| n == "snapshot");
    assert!(first["calls"].as_object().is_some(), "{first}");

    let uas = callee(d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(
        d,
        "1001",
        "1002",
        &uac_answered_then(&format!(
            "  <pause milliseconds=\"1500\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
            caller_request("BYE", 3)
        )),
    );
    let answered = sse.until(|n, v| {
        n == "call" && v["call"]["caller"] == "1001" && v["call"]["state"] == "answered"
    });
    let uuid = answered["call"]["uuid"].as_str().unwrap().to_string();
    assert_eq!(answered["call"]["dialled"], "1002");
    sse.until(|n, v| n == "call_ended" && v["uuid"] == uuid.as_str());
    ok(uac, "caller", d);
    ok(uas, "callee", d);

    // The call record, with the same UUID.
    let calls = json(&web, "/api/v1/history/calls?number=1001", &token);
    let found = &calls["items"][0];
    assert_eq!(found["uuid"], uuid.as_str(), "{calls}");
    assert_eq!(found["disposition"], "answered");
    let detail = json(&web, &format!("/api/v1/history/calls/{uuid}"), &token);
    assert_eq!(detail["call"]["callee"], "1002");

    // Its recording, once the recorder has closed it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let rec = loop {
        let r = json(&web, "/api/v1/history/recordings?number=1001", &token);
        let item = r["items"][0].clone();
        if item["state"] != "recording" && !item.is_null() {
            break item;
        }
        assert!(Instant::now() < deadline, "no closed recording: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(rec["call_uuid"], uuid.as_str());
    let id = rec["id"].as_i64().unwrap();
    let (status, head, body) = get(
        &web,
        &format!("/api/v1/history/recordings/{id}/audio"),
        &token,
        "Range: bytes=0-43\r\n",
    );
    assert_eq!(status, 206, "{head}");
    assert!(head.contains("content-range: bytes 0-43/"), "{head}");
    assert_eq!(&body[..4], b"RIFF", "a WAV's header");
}
