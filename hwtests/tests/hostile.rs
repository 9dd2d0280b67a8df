//! Hostile and malformed traffic against a running box (OPS-5, TEL-1): the
//! RFC 4475 torture messages as datagrams, answered as
//! `crates/sip/tests/rfc4475-expect.tsv` says; garbage and oversized
//! packets; and brute force, which gets the same answer for unknown users and
//! wrong passwords and then a block that the admin CLI lifts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hwtests::phone::digest_authorization;
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
