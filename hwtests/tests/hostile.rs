//! Hostile and malformed traffic against a running box (OPS-5, TEL-1): the
//! RFC 4475 torture messages as datagrams, answered as
//! `crates/sip/tests/rfc4475-expect.tsv` says; garbage and oversized
//! packets; brute force, which gets the same answer for unknown users and
//! wrong passwords and then a block that the admin CLI lifts; and over TCP
//! and TLS, hostile streams (an overflowing Content-Length, huge heads,
//! heads and bodies that never end, silence) and connection floods, which
//! cost the box no file descriptor once they are gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use dering_sip::Message;
use hwtests::peers::http_get;
use hwtests::phone::{digest_authorization, StreamPhone};
use hwtests::raw::{client, options, rand_id, reply};
use hwtests::{dering_bin, workspace, Dering};

#[test]
fn rfc4475_messages_against_a_running_pbxd() {
    let d = Dering::start();
    let dir = workspace().join("../shared/conformance/sip-rfc4475");
    let expect =
        std::fs::read_to_string(workspace().join("crates/sip/tests/rfc4475-expect.tsv")).unwrap();
    let mut failures = vec![];
    let mut n = 0;
    for line in expect
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, want) = (cols[0], cols[2]);
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let s = client();
        s.send_to(&bytes, d.addr()).unwrap();
        // The first final answer (or silence); provisional answers skipped.
        let mut got = "none".to_string();
        while let Some(m) = reply(&s) {
            let code = m.status().unwrap_or(0);
            if code >= 200 {
                got = code.to_string();
                break;
            }
        }
        if !want.split('|').any(|w| w == got) {
            failures.push(format!("{file}: want {want}, got {got}"));
        }
        n += 1;
    }
    assert_eq!(n, 49);
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), d.log());
    // And pbxd still serves.
    assert_eq!(options(&d, &client()), Some(200));
}

#[test]
fn garbage_and_oversized_packets_do_not_stop_pbxd() {
    let d = Dering::start();
    let s = client();
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0; 1],
        vec![0xff; 1400],
        b"\r\n\r\n".to_vec(),
        b"INVITE sip:x SIP/2.0\r\n".to_vec(),
        vec![b'A'; 65_000],
    ];
    let mut big =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n".to_vec();
    big.extend(
        std::iter::repeat_n(
            b"X-Pad: 0123456789012345678901234567890123456789\r\n".to_vec(),
            1200,
        )
        .flatten(),
    );
    big.extend(b"\r\n");
    junk.push(big);
    for j in &junk {
        let _ = s.send_to(j, d.addr());
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(options(&d, &client()), Some(200));
}

/// Sends a REGISTER for `user` answering the last challenge with `password`.
fn register_attempt(
    d: &Dering,
    s: &UdpSocket,
    user: &str,
    password: &str,
) -> (u16, Option<String>) {
    let port = s.local_addr().unwrap().port();
    let call_id = rand_id();
    let base = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:dering.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{}\r\nFrom: <sip:{user}@dering.local>;tag=a\r\nTo: <sip:{user}@dering.local>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            rand_id()
        )
    };
    s.send_to(base(1, "").as_bytes(), d.addr()).unwrap();
    let chal = reply(s).expect("challenge");
    assert_eq!(chal.status(), Some(401));
    let www = chal.get("WWW-Authenticate").unwrap();
    let auth = format!(
        "Authorization: {}\r\n",
        digest_authorization(www, user, password, "REGISTER", "sip:dering.local")
    );
    s.send_to(base(2, &auth).as_bytes(), d.addr()).unwrap();
    match reply(s) {
        Some(m) => (
            m.status().unwrap(),
            m.get("WWW-Authenticate")
                .map(|v| v.split("nonce").next().unwrap_or_default().to_string()),
        ),
        None => (0, None),
    }
}

#[test]
fn brute_force_is_answered_alike_then_blocked_until_unblocked() {
    let d = Dering::start();
    let s = client();
    // Right password: registered.
    assert_eq!(register_attempt(&d, &s, "1001", "demo-1001").0, 200);
    // Unknown user and wrong password: the same answer, a fresh challenge.
    let unknown = register_attempt(&d, &s, "9999", "whatever");
    let wrong = register_attempt(&d, &s, "1001", "wrong-password");
    assert_eq!(unknown.0, 401);
    assert_eq!(
        unknown, wrong,
        "unknown users and wrong passwords must look the same"
    );
    // The default threshold is 10 failures: 8 more to reach it.
    for _ in 0..8 {
        let (code, _) = register_attempt(&d, &s, "1002", "guess");
        assert_eq!(code, 401);
    }
    // Now blocked: silence, even for OPTIONS.
    assert_eq!(
        options(&d, &client()),
        None,
        "blocked address must be ignored"
    );
    let blocked = d.query("blocked");
    assert_eq!(blocked[0]["ip"], "127.0.0.1", "{blocked:?}");
    let out = Command::new(dering_bin())
        .args(["unblock", "127.0.0.1", "--data-dir"])
        .arg(PathBuf::from(d.dir()))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"was_blocked\":true"));
    assert_eq!(options(&d, &client()), Some(200));
}

/// RFC 8760: an extension configured for SHA-256 is challenged with SHA-256
/// only and registers with it; the others keep MD5.
#[test]
fn sha256_digest_for_the_extensions_configured_for_it() {
    let d = Dering::start_with(|t| {
        t.replacen(
            "password = \"demo-1003\"",
            "password = \"demo-1003\"\ndigest_algorithms = [\"SHA-256\"]",
            1,
        )
    });
    let s = client();
    let challenge_of = |user: &str| {
        let port = s.local_addr().unwrap().port();
        let msg = format!(
            "REGISTER sip:dering.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{}\r\nFrom: <sip:{user}@dering.local>;tag=a\r\nTo: <sip:{user}@dering.local>\r\nCall-ID: {}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n",
            rand_id(),
            rand_id()
        );
        s.send_to(msg.as_bytes(), d.addr()).unwrap();
        let m = reply(&s).unwrap();
        m.all("WWW-Authenticate")
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let sha = challenge_of("1003");
    assert_eq!(sha.len(), 1, "{sha:?}");
    assert!(sha[0].contains("algorithm=SHA-256"), "{sha:?}");
    let md5 = challenge_of("1001");
    assert_eq!(md5.len(), 1, "{md5:?}");
    assert!(md5[0].contains("algorithm=MD5"), "{md5:?}");
    assert_eq!(register_attempt(&d, &s, "1003", "demo-1003").0, 200);
    assert_eq!(register_attempt(&d, &s, "1003", "wrong").0, 401);
}

/// A byte stream to the box: plain TCP or TLS.
trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// A TCP connection to the box's SIP port whose reads give up after 200 ms.
fn tcp_to(d: &Dering) -> TcpStream {
    let s = TcpStream::connect(d.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// A TLS connection to the box, handshake done, verifying its certificate.
fn tls_to(d: &Dering) -> hwtests::tls::Stream {
    let mut s = hwtests::tls::to_sip(d, Duration::from_secs(5));
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Opens a connection over one transport; `via` is its Via transport name.
struct Opener<'a> {
    via: &'static str,
    open: Box<dyn Fn() -> Box<dyn Conn> + 'a>,
}

fn transports(d: &Dering) -> [Opener<'_>; 2] {
    [
        Opener {
            via: "TCP",
            open: Box::new(|| Box::new(tcp_to(d))),
        },
        Opener {
            via: "TLS",
            open: Box::new(|| Box::new(tls_to(d))),
        },
    ]
}

/// An OPTIONS head over transport `via`, declaring `length` body bytes.
fn options_head(via: &str, length: &str) -> String {
    format!(
        "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{via} 127.0.0.1:9;branch=z9hG4bK{}\r\nFrom: <sip:probe@x>;tag=1\r\nTo: <sip:ping@x>\r\nCall-ID: {}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: {length}\r\n\r\n",
        rand_id(),
        rand_id()
    )
}

/// Reads until the box closes the connection or `limit` passes: what came,
/// and whether the box closed it.
fn drain(s: &mut dyn Read, limit: Duration) -> (Vec<u8>, bool) {
    let t = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // Reset, or TLS cut without close_notify: closed all the same.
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// The status of the one response in `bytes`.
fn status_of(bytes: &[u8]) -> Option<u16> {
    Message::parse_datagram(bytes).ok()?.status()
}

/// The status of the first response read from `s` within 5 s.
fn answer(s: &mut dyn Read) -> Option<u16> {
    let t = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < Duration::from_secs(5) {
        if let Some(code) = status_of(&got) {
            return Some(code);
        }
        match s.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    None
}

/// An OPTIONS over a fresh connection: the status answered.
fn options_over(o: &Opener<'_>) -> Option<u16> {
    let mut s = (o.open)();
    s.write_all(options_head(o.via, "0").as_bytes()).unwrap();
    answer(&mut s)
}

/// Open file descriptors of the `dering` process (pbxd runs in it).
fn fds(d: &Dering) -> usize {
    let pid = d.child.as_ref().unwrap().id();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The box's descriptors once connections just closed are gone: the same
/// count twice 300 ms apart (5 s at most).
fn settled_fds(d: &Dering) -> usize {
    let mut last = fds(d);
    for _ in 0..16 {
        std::thread::sleep(Duration::from_millis(300));
        let now = fds(d);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Descriptors the box's own background work (a job opening the database,
/// webd answering) may hold for a moment: well below the one per
/// connection that a leak costs.
const SLACK: usize = 2;

/// Waits (10 s at most) until the box holds at most `n` descriptors.
fn wait_fds_at_most(d: &Dering, n: usize) -> usize {
    let t = Instant::now();
    loop {
        let now = fds(d);
        if now <= n || t.elapsed() > Duration::from_secs(10) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `Content-Length: 18446744073709551615` overflowed the framer's sum and
/// panicked the connection task, which never reported the disconnect: each
/// such connection left a descriptor in CLOSE-WAIT. Now each is answered
/// 400 and closed, and the box's descriptors come back to where they were.
#[test]
fn an_overflowing_content_length_is_answered_400_and_leaks_no_descriptor() {
    let d = Dering::start();
    let ts = transports(&d);
    // One of each first, so lazily opened descriptors are in the baseline.
    for o in &ts {
        assert_eq!(options_over(o), Some(200), "{} before", o.via);
    }
    let before = settled_fds(&d);
    let mut answers = Vec::new();
    for o in &ts {
        let mut conns: Vec<Box<dyn Conn>> = (0..30).map(|_| (o.open)()).collect();
        for c in &mut conns {
            c.write_all(options_head(o.via, "18446744073709551615").as_bytes())
                .unwrap();
        }
        for c in &mut conns {
            let (got, closed) = drain(c, Duration::from_secs(2));
            answers.push((o.via, status_of(&got), closed));
        }
    }
    let after = wait_fds_at_most(&d, before + SLACK);
    assert!(
        after <= before + SLACK,
        "pbxd holds {after} descriptors after 60 hostile connections ended, {before} before\n{}",
        d.log()
    );
    for (via, status, closed) in answers {
        assert_eq!((status, closed), (Some(400), true), "over {via}");
    }
    for o in &ts {
        assert_eq!(options_over(o), Some(200), "{} after", o.via);
    }
    StreamPhone::tcp(&d, "1001").register();
    StreamPhone::tls(&d)("1002").register();
}

/// Limits short enough for a quick test: a second for a handshake or a
/// message begun, three of silence.
fn short_limits(text: String) -> String {
    text.replace("tls_handshake_seconds = 10", "tls_handshake_seconds = 1")
        .replace("stream_message_seconds = 10", "stream_message_seconds = 1")
        .replace("stream_idle_seconds = 900", "stream_idle_seconds = 3")
}

/// Huge heads, heads and bodies that never end and silence are cut over
/// TCP and TLS; the box serves on.
#[test]
fn hostile_streams_are_cut_over_tcp_and_tls() {
    let d = Dering::start_with(short_limits);
    let ts = transports(&d);
    let before = {
        for o in &ts {
            assert_eq!(options_over(o), Some(200));
        }
        settled_fds(&d)
    };
    for o in &ts {
        let via = o.via;
        let head = options_head(via, "0");
        // Headers past the 64 KiB limit, never ending: closed unanswered.
        let mut c = (o.open)();
        let mut huge = head.trim_end().to_string();
        while huge.len() < 70_000 {
            huge.push_str("\r\nX-Pad: 0123456789012345678901234567890123456789");
        }
        let _ = c.write_all(huge.as_bytes());
        let (got, closed) = drain(&mut c, Duration::from_secs(5));
        assert!(closed && got.is_empty(), "huge head over {via}: {got:?}");
        // A Content-Length past the limit: 400, closed.
        let mut c = (o.open)();
        c.write_all(options_head(via, "70000").as_bytes()).unwrap();
        let (got, closed) = drain(&mut c, Duration::from_secs(5));
        assert_eq!((status_of(&got), closed), (Some(400), true), "{via}");
        // Partial head, then nothing: closed by the message deadline.
        let mut c = (o.open)();
        c.write_all(&head.as_bytes()[..40]).unwrap();
        let (got, closed) = drain(&mut c, Duration::from_secs(5));
        assert!(closed && got.is_empty(), "partial head over {via}");
        // A body that never completes.
        let mut c = (o.open)();
        c.write_all(options_head(via, "60000").as_bytes()).unwrap();
        c.write_all(b"a few bytes of it").unwrap();
        let (got, closed) = drain(&mut c, Duration::from_secs(5));
        assert!(closed && got.is_empty(), "endless body over {via}");
        // Slowloris: a byte of head every 200 ms (the read timeout paces
        // it) keeps coming, the message never completes; cut while still
        // trickling (20 s at most).
        let mut c = (o.open)();
        let mut closed = false;
        for b in head.as_bytes().iter().take(100) {
            if c.write_all(&[*b]).and_then(|()| c.flush()).is_err() {
                closed = true;
                break;
            }
            let (_, gone) = drain(&mut c, Duration::from_millis(1));
            if gone {
                closed = true;
                break;
            }
        }
        assert!(closed, "slowloris over {via} was never cut");
        // Silence: closed by the idle timeout.
        let mut c = (o.open)();
        let (_, closed) = drain(&mut c, Duration::from_secs(8));
        assert!(closed, "silent connection over {via} kept");
    }
    // A TLS connection that never starts its handshake: abandoned.
    let mut raw = TcpStream::connect(d.tls_addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (_, closed) = drain(&mut raw, Duration::from_secs(5));
    assert!(closed, "a TLS handshake that never began is kept");
    // CRLF keep-alives (RFC 5626) keep a connection past the idle timeout.
    let mut c = tcp_to(&d);
    for _ in 0..5 {
        c.write_all(b"\r\n\r\n").unwrap();
        let (pong, closed) = drain(&mut c, Duration::from_secs(1));
        assert_eq!((pong.as_slice(), closed), (&b"\r\n"[..], false));
    }
    c.write_all(options_head("TCP", "0").as_bytes()).unwrap();
    assert_eq!(answer(&mut c), Some(200), "after keep-alives");
    drop(c);
    for o in &ts {
        assert_eq!(options_over(o), Some(200), "{} after", o.via);
    }
    let after = wait_fds_at_most(&d, before + SLACK);
    assert!(
        after <= before + SLACK,
        "{after} descriptors, {before} before"
    );
    // Each cut counted under its reason: two transports each.
    for (reason, n) in [
        ("framing_error", 4.0),
        ("message_timeout", 6.0),
        ("idle_timeout", 2.0),
        ("tls_handshake_timeout", 1.0),
    ] {
        assert_eq!(cuts(&d, reason), n, "{reason}");
    }
}

/// pbxd's count of stream connections cut for `reason`, from `/metrics`.
fn cuts(d: &Dering, reason: &str) -> f64 {
    let (code, text) = http_get(&d.http, "/metrics");
    assert_eq!(code, 200);
    let name = format!("dering_sip_stream_cuts_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Whether the box has closed `s`, without waiting.
fn closed_by_box(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let r = s.peek(&mut b);
    s.set_nonblocking(false).unwrap();
    !matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Connects from source address `from` to the box's SIP TCP port.
fn tcp_from(d: &Dering, from: [u8; 4]) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    let to: SocketAddr = d.addr().parse().unwrap();
    sock.connect(&to.into()).unwrap();
    sock.into()
}

/// Waits (10 s at most) until `want` of `conns` are closed by the box.
fn wait_closed(conns: &[TcpStream], want: usize) -> usize {
    let t = Instant::now();
    loop {
        let n = conns.iter().filter(|c| closed_by_box(c)).count();
        if n >= want || t.elapsed() > Duration::from_secs(10) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A thousand idle connections from one address get the per-source cap,
/// another address the rest of the global cap; the extra ones are closed
/// at once, and once the flood goes a phone registers as usual.
#[test]
fn a_connection_flood_is_bounded_by_the_caps() {
    let d = Dering::start_with(|t| {
        t.replace(
            "stream_connections_per_source = 128",
            "stream_connections_per_source = 40",
        )
        .replace(
            "stream_connections_total = 4096",
            "stream_connections_total = 60",
        )
    });
    let before = {
        assert_eq!(options_over(&transports(&d)[0]), Some(200));
        settled_fds(&d)
    };
    let flood: Vec<TcpStream> = (0..1000).map(|_| tcp_from(&d, [127, 0, 0, 1])).collect();
    let closed = wait_closed(&flood, 960);
    assert_eq!(closed, 960, "per-source cap of 40 out of 1000\n{}", d.log());
    let others: Vec<TcpStream> = (0..40).map(|_| tcp_from(&d, [127, 0, 0, 2])).collect();
    let closed = wait_closed(&others, 20);
    assert_eq!(closed, 20, "global cap of 60, 40 already held");
    // The held ones are still served.
    let mut held = flood.iter().find(|c| !closed_by_box(c)).unwrap();
    held.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    held.write_all(options_head("TCP", "0").as_bytes()).unwrap();
    assert_eq!(answer(&mut held), Some(200));
    // While full, a newcomer from a third address is refused too.
    let late = tcp_from(&d, [127, 0, 0, 3]);
    assert_eq!(wait_closed(std::slice::from_ref(&late), 1), 1);
    drop((flood, others, late));
    let after = wait_fds_at_most(&d, before + SLACK);
    assert!(
        after <= before + SLACK,
        "{after} descriptors, {before} before"
    );
    assert_eq!(cuts(&d, "per_source_cap"), 960.0);
    assert_eq!(cuts(&d, "total_cap"), 21.0);
    StreamPhone::tcp(&d, "1001").register();
    assert_eq!(options_over(&transports(&d)[0]), Some(200));
}
