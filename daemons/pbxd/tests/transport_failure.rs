//! A stream transport that fails (issue 12 §5): when the shell cannot
//! open the TCP or TLS connection a B leg's INVITE needs, the core is told
//! (`Core::transport_failed`) and the call fails at once with 503 (RFC 3261
//! §8.1.3.1) instead of 32 s later at timer B. Virtual time (see
//! `sim/mod.rs`) shows "at once": the caller has its 503 before the clock
//! has moved at all, which no timer can explain. The real connection
//! attempts are in `hwtests/tests/outbound_stream.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dering_sip::transaction::{Peer, Transport};
use sim::{Phone, Sim};

const PEER: &str = "127.0.0.1:5099";

/// A box whose extension 7001 is a static peer at [`PEER`] over TCP.
fn box_with_tcp_peer() -> Sim {
    Sim::new(|t| {
        format!(
            "{t}\n[[extension]]\nnumber = \"7001\"\nname = \"Far side\"\npassword = \"peer-pass-1\"\ncontact = \"sip:7001@{PEER};transport=tcp\"\n"
        )
    })
}

fn peer() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: PEER.parse().unwrap(),
    }
}

fn the_call_end(s: &Sim) -> dering_store::CallEnd {
    let ends: Vec<_> = s
        .writes
        .iter()
        .filter_map(|op| match op {
            dering_store::Op::CallEnd(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 1, "{ends:?}");
    ends[0].clone()
}

#[test]
fn a_refused_connection_fails_the_call_at_once_with_503() {
    let mut s = box_with_tcp_peer();
    let mut a = Phone::registered(&mut s, "1001");
    let mut far = Phone::at("7001", PEER.parse::<SocketAddr>().unwrap());
    let d = a.invite(&mut s, "7001");
    let inv = far.expect_request(&mut s, "INVITE");
    assert!(
        inv.get("Via").unwrap().starts_with("SIP/2.0/TCP "),
        "the INVITE goes out over TCP: {inv:?}"
    );
    assert_eq!(
        inv.request_uri().unwrap().to_ascii_lowercase(),
        format!("sip:7001@{PEER};transport=tcp")
    );
    // Nothing for the caller yet (past the 100): the call waits on the peer.
    assert!(a.try_msg(&mut s).is_none());

    let sent_at = s.now;
    s.core.transport_failed(
        s.t(),
        peer(),
        "TCP connect to 127.0.0.1:5099: Connection refused (os error 111)",
    );
    s.advance(Duration::ZERO);
    let r = a.expect_response(&mut s, 503);
    assert_eq!(s.now, sent_at, "the 503 came without any timer");
    a.ack_final(&mut s, &d, &r);
    assert_eq!(s.core.active_calls(), 0);
    let end = the_call_end(&s);
    assert_eq!(end.sip_code, Some(503));
    assert_eq!(end.disposition.as_str(), "failed");
    assert!(
        end.hangup_cause.contains("cannot reach callee")
            && end.hangup_cause.contains("Connection refused"),
        "{end:?}"
    );
    // The transaction is gone: timer B finds nothing to time out and the
    // caller hears nothing more (no 408 at 32 s).
    s.advance(Duration::from_secs(40));
    a.expect_quiet(&mut s);
    far.expect_quiet(&mut s);
    assert_eq!(the_call_end(&s).sip_code, Some(503));
}

/// A failure reported for another address, or over another transport to
/// the same one, leaves the call ringing.
#[test]
fn a_failure_elsewhere_leaves_the_call_alone() {
    let mut s = box_with_tcp_peer();
    let mut a = Phone::registered(&mut s, "1001");
    let mut far = Phone::at("7001", PEER.parse::<SocketAddr>().unwrap());
    let _d = a.invite(&mut s, "7001");
    let inv = far.expect_request(&mut s, "INVITE");
    let t = s.t();
    let elsewhere = Peer {
        addr: "127.0.0.1:5098".parse().unwrap(),
        ..peer()
    };
    s.core.transport_failed(t, elsewhere, "refused");
    let over_tls = Peer {
        transport: Transport::Tls,
        ..peer()
    };
    s.core.transport_failed(t, over_tls, "refused");
    s.advance(Duration::ZERO);
    assert!(a.try_msg(&mut s).is_none());
    assert_eq!(s.core.active_calls(), 1);
    far.respond(&mut s, &inv, 180, "", "");
    a.expect_response(&mut s, 180);
}
