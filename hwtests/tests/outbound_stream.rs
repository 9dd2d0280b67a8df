//! Connections the box opens itself (issue 12 §5, RFC 3261 §18.1.1): a
//! static peer whose contact says `;transport=tcp` or `sips:` is rung over
//! a TCP or TLS connection pbxd opens when none is up, reused for the rest
//! of the dialog in both directions; a peer that refuses the connection, or
//! whose certificate the box does not trust, fails the call with 503
//! rather than after timer B (the timing itself is pinned in virtual time
//! in `daemons/pbxd/tests/transport_failure.rs`). sipp plays the TCP far
//! side; its build here has no TLS, so the TLS far side is a rustls server
//! in the test with a CA made by rcgen (TEL-1, OPS-5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hwtests::fragments::*;
use hwtests::phone::StreamPhone;
use hwtests::{caller, free_udp_port, ok, phone, scenario, Dering};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// A box whose extension 7001 is the static peer at `contact`, with
/// `extra` (TOML lines) added to it.
fn box_with_peer(contact: &str, extra: &str) -> Dering {
    Dering::start_with(|text| {
        format!(
            "{text}\n[[extension]]\nnumber = \"7001\"\nname = \"Far side\"\npassword = \"peer-pass-1\"\ncontact = \"{contact}\"\n{extra}"
        )
    })
}

fn log_says(d: &Dering, what: &str) {
    let log = d.log();
    assert!(log.contains(what), "pbxd log lacks {what:?}:\n{log}");
}

#[test]
fn a_static_peer_over_tcp_is_called_on_a_connection_the_box_opens() {
    let port = free_udp_port();
    let d = box_with_peer(&format!("sip:7001@127.0.0.1:{port};transport=tcp"), "");
    let sf = scenario(
        d.dir(),
        "uas.xml",
        &[("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye()))],
    );
    let uas = phone(&d, &sf, port, &["-t", "t1", "-rtp_echo"].map(String::from));
    std::thread::sleep(Duration::from_millis(300));
    ok(
        caller(&d, "1001", "7001", &uac_answered_then(&uac_media_and_bye())),
        "caller",
        &d,
    );
    ok(uas, "far side over TCP", &d);
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "caller", "{c}");
    let media = d.media_counts(c["uuid"].as_str().unwrap());
    assert!(media["rtp_from_caller"] >= 100, "{media:?}");
    assert!(media["rtp_from_callee"] >= 100, "{media:?}");
}

#[test]
fn a_refused_connection_fails_the_call_with_503() {
    // Free, and nobody listens there.
    let port = free_udp_port();
    let d = box_with_peer(&format!("sip:7001@127.0.0.1:{port};transport=tcp"), "");
    ok(caller(&d, "1001", "7001", &uac_final(503)), "caller", &d);
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["sip_code"], 503, "{c}");
    assert_eq!(c["disposition"], "failed", "{c}");
    let cause = c["hangup_cause"].as_str().unwrap();
    assert!(
        cause.contains("cannot reach callee") && cause.contains("refused"),
        "{c}"
    );
    log_says(&d, "cannot reach the callee");
}

/// A certificate authority of the test's own, as a carrier's private CA.
struct Ca {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { key, cert }
    }

    /// Writes the CA certificate (PEM) into `dir`: a `tls_ca` file.
    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.cert.pem()).unwrap();
        path
    }

    /// A server configuration presenting a certificate for 127.0.0.1
    /// issued by this CA.
    fn server(&self) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let leaf = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let chain = vec![CertificateDer::from(leaf.der().to_vec())];
        let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Arc::new(config)
    }
}

/// The first connection to `listener` within `limit` (none: the box never
/// connected).
fn accept_within(listener: &TcpListener, limit: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let t = Instant::now();
    while t.elapsed() < limit {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    None
}

/// What the TLS far side saw of the call.
#[derive(Debug)]
struct FarSide {
    via: String,
    rtp: usize,
    bye_answer: Option<u16>,
    /// Connections made to it after the first.
    more_connections: bool,
}

/// The caller plays its audio and waits for the callee's BYE.
fn uac_plays_until_bye() -> String {
    uac_answered_then(&format!(
        "  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/></action></nop>\n{}",
        wait_bye()
    ))
}

#[test]
fn a_static_peer_over_tls_verified_by_its_private_ca() {
    let ca = Ca::new("Far side test CA");
    let keep = tempfile::tempdir().unwrap();
    let ca_file = ca.write(keep.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let d = box_with_peer(
        &format!("sips:7001@{addr}"),
        &format!("tls_ca = \"{}\"\n", ca_file.display()),
    );
    let server = ca.server();
    let far = std::thread::spawn(move || {
        let tcp = accept_within(&listener, Duration::from_secs(15)).expect("the box connects");
        let conn = rustls::ServerConnection::new(server).unwrap();
        let mut p = StreamPhone::accepted(rustls::StreamOwned::new(conn, tcp), "7001", "TLS", addr);
        let inv = p.answer();
        let rtp = p.count_rtp(Duration::from_secs(2));
        // The callee hangs up: a request on the connection the box opened.
        let mut dialog = p.dialog_of_answered(&inv);
        let bye = p.request(&mut dialog, "BYE", "", "");
        FarSide {
            via: inv.get("Via").unwrap_or_default().to_string(),
            rtp,
            bye_answer: bye.status(),
            more_connections: accept_within(&listener, Duration::from_millis(500)).is_some(),
        }
    });
    ok(
        caller(&d, "1001", "7001", &uac_plays_until_bye()),
        "caller",
        &d,
    );
    let seen = far.join().unwrap();
    assert!(seen.via.starts_with("SIP/2.0/TLS "), "{seen:?}");
    assert!(
        seen.rtp >= 50,
        "the caller's audio reached the far side: {seen:?}"
    );
    assert_eq!(seen.bye_answer, Some(200), "{seen:?}");
    assert!(
        !seen.more_connections,
        "one connection for the whole dialog: {seen:?}"
    );
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "callee", "{c}");
}

#[test]
fn a_certificate_from_another_ca_fails_the_call_with_503() {
    let trusted = Ca::new("The CA the box trusts");
    let other = Ca::new("Someone else's CA");
    let keep = tempfile::tempdir().unwrap();
    let ca_file = trusted.write(keep.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let d = box_with_peer(
        &format!("sip:7001@{addr};transport=tls"),
        &format!("tls_ca = \"{}\"\n", ca_file.display()),
    );
    let server = other.server();
    let far = std::thread::spawn(move || {
        let mut tcp = accept_within(&listener, Duration::from_secs(15)).expect("the box connects");
        let mut conn = rustls::ServerConnection::new(server).unwrap();
        let t = Instant::now();
        // The handshake until the box gives up on it.
        while t.elapsed() < Duration::from_secs(10) {
            match conn.complete_io(&mut tcp) {
                Ok((0, 0)) if !conn.is_handshaking() => return "handshake completed".to_string(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return e.to_string(),
            }
        }
        "no end to the handshake".to_string()
    });
    ok(caller(&d, "1001", "7001", &uac_final(503)), "caller", &d);
    let server_saw = far.join().unwrap();
    assert_ne!(server_saw, "handshake completed");
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["sip_code"], 503, "{c}");
    let cause = c["hangup_cause"].as_str().unwrap();
    assert!(
        cause.contains("TLS handshake") && cause.contains("invalid peer certificate"),
        "{c}"
    );
}
