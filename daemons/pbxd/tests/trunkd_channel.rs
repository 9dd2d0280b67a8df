//! The span and channel of a call through trunkd, on the core alone in
//! virtual time (issue 14, decision 0024): trunkd's `X-Dering-Channel`
//! on its INVITE and on its answers to the box's INVITE lands in the
//! call's record, and the same header from any other source is ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::net::SocketAddr;

use dering_store::Op;
use sim::{sdp, Phone, Sim};

/// trunkd's SIP address: `[trunkd] sip`, a trusted peer for its calls in
/// and the demo's trunk (kind ip) for calls out.
const TRUNKD: &str = "127.0.0.5:5060";

fn trunkd_box() -> Sim {
    let mut s = Sim::new(|t| {
        t.replacen(
            "kind = \"register\"",
            "kind = \"ip\"\naddresses = [\"192.0.2.251\"]",
            1,
        )
        .replacen(
            "username = \"0215550000\"\npassword = \"change-me\"\n",
            "",
            1,
        )
        .replacen("\nexpires = 600", "", 1)
        .replace("keepalive_seconds = 30", "keepalive_seconds = 0")
        .replace("enabled = false", "enabled = true")
        .replace("host = \"sip.carrier.example\"", "host = \"127.0.0.5\"")
            + "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.5/32\"]\nroute_class = \"national\"\n"
            + &format!("\n[trunkd]\nsip = \"{TRUNKD}\"\n\n[[span]]\nname = \"telkom\"\nspan = 1\n")
    });
    let t = s.t();
    s.core
        .publish_flow(t, &dering_flow::Flow::demo().to_json())
        .unwrap();
    s
}

fn channels(s: &Sim) -> Vec<(String, String, u32)> {
    s.writes
        .iter()
        .filter_map(|op| match op {
            Op::CallChannel {
                uuid,
                span,
                channel,
            } => Some((uuid.clone(), span.clone(), *channel)),
            _ => None,
        })
        .collect()
}

fn uuids(s: &Sim) -> Vec<String> {
    s.writes
        .iter()
        .filter_map(|op| match op {
            Op::CallStart(p) => Some(p.uuid.clone()),
            _ => None,
        })
        .collect()
}

/// An INVITE to 137 from `from` naming span telkom, channel 5.
fn invite_137(s: &mut Sim, from: SocketAddr, n: u32) {
    let body = sdp(30_000 + 2 * n as u16, "sendrecv");
    let msg = format!(
        "INVITE sip:137@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKtrunkd{n}\r\nMax-Forwards: 70\r\nFrom: <sip:+6281234567890@{from}>;tag=t{n}\r\nTo: <sip:137@127.0.0.1>\r\nCall-ID: trunkd-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:trunkd@{from}>\r\nX-Dering-Channel: span=telkom;channel=5\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.deliver(from, &msg);
}

#[test]
fn a_call_from_trunkd_names_its_span_and_channel_and_no_one_else_can() {
    let mut s = trunkd_box();
    let trunkd = Phone::at("trunkd", TRUNKD.parse::<SocketAddr>().unwrap());
    invite_137(&mut s, trunkd.addr, 1);
    let first = uuids(&s);
    assert_eq!(first.len(), 1, "the call was taken: {:?}", s.writes);
    assert_eq!(channels(&s), [(first[0].clone(), "telkom".to_string(), 5)]);

    // The same trusted network, not trunkd's address: its call is taken
    // but its header is not believed.
    let other: SocketAddr = "127.0.0.5:5071".parse().unwrap();
    invite_137(&mut s, other, 2);
    assert_eq!(uuids(&s).len(), 2, "the peer's call was taken too");
    assert_eq!(channels(&s).len(), 1, "{:?}", channels(&s));
}

#[test]
fn a_call_out_through_trunkd_names_the_channel_trunkd_took() {
    let mut s = trunkd_box();
    let mut a = Phone::registered(&mut s, "1001");
    let mut t = Phone::at("trunkd", TRUNKD.parse::<SocketAddr>().unwrap());
    let mut da = a.invite(&mut s, "081234567890");
    let inv = t.expect_request(&mut s, "INVITE");
    let header = "X-Dering-Channel: span=telkom;channel=31\r\n";
    t.respond(&mut s, &inv, 180, header, "");
    a.expect_response(&mut s, 180);
    t.respond(&mut s, &inv, 200, header, &sdp(31_000, "sendrecv"));
    let ok = a.expect_response(&mut s, 200);
    a.ack_2xx(&mut s, &mut da, &ok);
    let uuid = uuids(&s)[0].clone();
    let seen = channels(&s);
    assert!(!seen.is_empty(), "no channel recorded");
    assert!(
        seen.iter()
            .all(|c| *c == (uuid.clone(), "telkom".into(), 31)),
        "{seen:?}"
    );
    assert!(seen.len() <= 2, "once per answer kind: {seen:?}");
}
