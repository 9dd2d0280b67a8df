//! Outside calls through carrier trunks against sipp as the carrier's UAS
//! (TEL-5, TRK-3, issue 13): the real binary, real sockets on loopback.
//! An extension with permission reaches the carrier with the number in
//! the carrier's format and the configured caller-ID headers (read from
//! sipp's own message trace) and hears the carrier's early media; one
//! without permission hears why in early media, gets 403 and the
//! carriers' sockets stay empty; a
//! carrier answering 503 fails the call over to the second trunk, a 486
//! does not. The decisions are pinned down in virtual time in
//! `daemons/pbxd/tests/trunk_out.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::path::PathBuf;

use hwtests::fragments::*;
use hwtests::{caller, free_udp_port, ok, sipp_carrier, Dering};

/// The demo trunk known by its address and neither trunk probed: these
/// tests are about calls (registration and keep-alive are in
/// trunk_scenarios.rs and hwtests' trunk_register.rs), so only calls
/// reach the carriers.
fn quiet_trunks(t: String) -> String {
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
}

/// A box whose demo trunk is on, at 127.0.0.1:`first` (national numbers,
/// From and P-Asserted-Identity), with a second trunk `cadangan` at
/// 127.0.0.1:`second` (E.164 numbers) after it in the demo's route.
fn box_with_trunks(first: u16, second: u16) -> Dering {
    Dering::start_with(|text| {
        quiet_trunks(text)
            .replace("enabled = false", "enabled = true")
            .replace(
                "host = \"sip.carrier.example\"",
                &format!("host = \"127.0.0.1\"\nport = {first}"),
            )
            .replace("trunks = [\"demo\"]", "trunks = [\"demo\", \"cadangan\"]")
            + &format!(
                "\n[[trunk]]\nname = \"cadangan\"\nkind = \"ip\"\nhost = \"127.0.0.1\"\nport = {second}\naddresses = [\"192.0.2.250\"]\nnumber_format = \"e164\"\nkeepalive_seconds = 0\n"
            )
    })
}

/// The INVITE the carrier received, as sipp traced it.
fn received_invite(trace: &PathBuf) -> String {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let start = text
        .find("INVITE sip:")
        .unwrap_or_else(|| panic!("no INVITE in the carrier's trace:\n{text}"));
    // sipp separates the messages it traces with a line of dashes.
    text[start..]
        .split("\n-----")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A socket standing for a carrier that must receive nothing.
fn silent_carrier(port: u16) -> UdpSocket {
    let s = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// Whatever reached `s` so far. The box sends to a trunk before it
/// answers its caller, so once the caller has its final answer anything
/// sent is already queued on loopback.
fn nothing_arrived(s: &UdpSocket) {
    let mut buf = [0u8; 4096];
    match s.recv_from(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((n, from)) => panic!(
            "the carrier received from {from}: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("{e}"),
    }
}

/// The outbound columns of the only call in the box's record.
fn outside_record(d: &Dering) -> dering_store::CallOutside {
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let calls = store.calls().unwrap();
    store
        .call_outside(&calls[0].parties.uuid)
        .unwrap()
        .expect("an outside call's columns")
}

/// The caller must see the carrier's 183 (early media) before the 200.
fn uac_early_media_then_answered() -> String {
    format!(
        "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"183\"/>\n  <recv response=\"200\" rtd=\"true\" rrs=\"true\"/>\n{}{}",
        caller_request("ACK", 2),
        uac_media_and_bye()
    )
}

#[test]
fn an_allowed_call_leaves_in_the_carriers_format_with_early_media() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let d = box_with_trunks(first, second);
    let behaviour = format!(
        "{}{}  <recv request=\"ACK\" crlf=\"true\"/>\n{}",
        reply("183 Session Progress", true, None, SDP_ANSWER),
        reply("200 OK", true, None, SDP_ANSWER).replacen("<send>", r#"<send retrans="500">"#, 1),
        wait_bye()
    );
    let (uas, trace) = sipp_carrier(&d, first, &behaviour);
    ok(
        caller(&d, "1001", "081234567890", &uac_early_media_then_answered()),
        "caller",
        &d,
    );
    ok(uas, "carrier", &d);
    let invite = received_invite(&trace);
    assert!(
        invite.starts_with("INVITE sip:081234567890@127.0.0.1:"),
        "{invite}"
    );
    assert!(
        invite.contains("P-Asserted-Identity: <sip:0215550000@"),
        "{invite}"
    );
    assert!(
        invite.contains("sip:0215550000@dering.local>;tag="),
        "From: {invite}"
    );
    assert!(
        invite.contains(" RTP/AVP 8 0 101\r\n"),
        "A-law first: {invite}"
    );
    assert!(
        !invite.contains("Remote-Party-ID"),
        "not configured: {invite}"
    );
    let calls = d.ended_calls(1);
    assert_eq!(calls[0]["disposition"], "answered", "{calls:?}");
    let row = outside_record(&d);
    assert_eq!(
        (
            row.trunk.as_deref(),
            row.route.as_deref(),
            row.number_class.as_str()
        ),
        (Some("demo"), Some("keluar"), "mobile")
    );
    assert_eq!(row.callee_e164, "+6281234567890");
}

#[test]
fn an_extension_without_permission_gets_403_and_nothing_leaves() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let d = box_with_trunks(first, second);
    let (c1, c2) = (silent_carrier(first), silent_carrier(second));
    // 1010 has the default permission: internal only. It hears the
    // refusal in early media (183), then gets the 403.
    let refused = format!("  <recv response=\"183\"/>\n  <recv response=\"403\"/>\n{ACK_FINAL}");
    ok(caller(&d, "1010", "0016129998888", &refused), "caller", &d);
    nothing_arrived(&c1);
    nothing_arrived(&c2);
    let row = outside_record(&d);
    assert_eq!(row.refused.as_deref(), Some("permission"));
    assert_eq!(row.number_class, "international");
    assert_eq!(row.trunk, None);
}

#[test]
fn a_carrier_answering_503_fails_over_to_the_second_trunk() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let d = box_with_trunks(first, second);
    let refusing = format!(
        "{}  <recv request=\"ACK\"/>\n",
        reply("503 Service Unavailable", true, None, "")
    );
    let (uas1, _) = sipp_carrier(&d, first, &refusing);
    let (uas2, trace2) = sipp_carrier(&d, second, &format!("{}{}", uas_answer(), wait_bye()));
    ok(
        caller(
            &d,
            "1001",
            "081234567890",
            &uac_answered_then(&uac_media_and_bye()),
        ),
        "caller",
        &d,
    );
    ok(uas1, "first carrier", &d);
    ok(uas2, "second carrier", &d);
    let invite = received_invite(&trace2);
    assert!(
        invite.starts_with("INVITE sip:+6281234567890@127.0.0.1:"),
        "the second trunk's format: {invite}"
    );
    assert_eq!(outside_record(&d).trunk.as_deref(), Some("cadangan"));
}

#[test]
fn a_busy_callee_is_not_tried_through_the_second_trunk() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let d = box_with_trunks(first, second);
    let c2 = silent_carrier(second);
    let (uas1, _) = sipp_carrier(&d, first, &uas_busy());
    ok(
        caller(&d, "1001", "081234567890", &uac_final(486)),
        "caller",
        &d,
    );
    ok(uas1, "first carrier", &d);
    nothing_arrived(&c2);
    let calls = d.ended_calls(1);
    assert_eq!(calls[0]["sip_code"], 486, "{calls:?}");
}
