//! trunkd between a carrier's E1 and the box (TRK-1, issue 14), on the
//! simulated board: these machines have no cards, so libpri plays the
//! carrier's exchange (network side) on the far end of the simulated
//! span's D-channel, and the test plays the far end of its B-channel.
//!
//! libpri places a call to 137; trunkd (its shell run here, on the
//! simulated span) offers it to a real `dering up` that trusts it as a
//! gateway on loopback; the 137 flow answers; libpri sees CONNECT; audio
//! flows on the B-channel both ways (A-law blocks counted at the far end
//! and RTP counted by pbxd's relay); libpri hangs up, and pbxd's record of
//! the call ends with trunkd's BYE.
//!
//! The other way: an extension dials a mobile number; pbxd routes it to
//! trunkd as an ip trunk (issue 13's routing); trunkd places it on a
//! hunted B-channel; libpri answers; audio flows both ways; the caller's
//! BYE clears the call on the span with cause 16.
//!
//! Both run twice: trunkd as the user side against libpri as the network
//! side (a carrier's span), and trunkd as the network side against libpri
//! as the user side (`-m cpe`: a PBX behind the box).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod trunkd_peer;

use std::net::SocketAddr;
use std::time::Duration;

use dering_config::SpanSide;
use hwtests::fragments::{caller_request, uac_media_and_bye};
use hwtests::{caller, free_udp_port, ok};
use trunkd_peer::{
    box_trunking_to_trunkd, box_trusting_trunkd, libpri_mode, start_carrier, wait_in_service, Trunk,
};

#[test]
fn a_call_from_the_carrier_to_137_is_answered_with_audio_both_ways() {
    call_to_137(SpanSide::User);
}

#[test]
fn a_call_from_a_user_side_pbx_to_137_is_answered_with_audio_both_ways() {
    call_to_137(SpanSide::Network);
}

#[test]
fn an_extension_dials_out_through_the_span_with_audio_both_ways() {
    dial_out(SpanSide::User);
}

#[test]
fn an_extension_dials_out_through_a_network_side_span_with_audio_both_ways() {
    dial_out(SpanSide::Network);
}

/// libpri calls 137 over a span where trunkd is `side`.
fn call_to_137(side: SpanSide) {
    eprintln!("trunkd: no DAHDI card is used here; the span is the simulated board's");
    let d = box_trusting_trunkd(|text| text);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(
        dir.path(),
        &sock,
        libpri_mode(side),
        &["-d", "137", "-a", "3"],
    );
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let trunk = Trunk::start(&d, &sock, &carrier, sip, side);
    let far = trunk.far_end(Duration::from_secs(25), || {
        carrier.log().contains("EVENT PRI_EVENT_HANGUP")
    });
    trunk.stop();

    let log = carrier.log();
    assert!(
        log.contains("EVENT PRI_EVENT_ANSWER"),
        "libpri saw no CONNECT:\n{log}"
    );
    assert!(
        log.contains("-> hangup (normal clearing)"),
        "libpri did not hang up:\n{log}"
    );
    assert!(!log.contains("libpri ERROR"), "protocol error:\n{log}");
    let (spoken, blocks) = (far.spoken, far.heard);
    eprintln!(
        "far end: {spoken} blocks spoken, {blocks} heard ({} bytes its own)",
        far.echoed
    );
    // Three seconds held: 150 blocks each way; most must arrive.
    assert!(
        blocks >= 100,
        "{blocks} A-law blocks from pbxd on the B-channel ({spoken} sent)"
    );

    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    // The numbers as a trusted peer's calls are recorded since calls in
    // came (TEL-10): in E.164, Jakarta's area code before local ones.
    assert_eq!(c["callee"], "+6221137", "{c}");
    assert_eq!(c["caller"], "+62212000", "{c}");
    let uuid = c["uuid"].as_str().unwrap();
    let counts = d.media_counts(uuid);
    eprintln!("pbxd: {counts:?}; call {c}");
    assert!(
        counts["rtp_from_caller"] >= 100,
        "pbxd's relay counted {counts:?} for the B-channel's audio"
    );
    assert_eq!(c["hangup_by"], "caller", "{c}");
    // trunkd's BYE says why the network cleared it (normal clearing).
    assert_eq!(c["hangup_cause"], "BYE, Q.850 cause 16", "{c}");
}

/// Extension 1001 calls a mobile number out through a span where
/// trunkd is `side`; libpri answers.
fn dial_out(side: SpanSide) {
    eprintln!("trunkd: no DAHDI card is used here; the span is the simulated board's");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(dir.path(), &sock, libpri_mode(side), &[]);
    let (d, sip) = box_trunking_to_trunkd();
    let trunk = Trunk::start(&d, &sock, &carrier, sip, side);
    wait_in_service(&carrier);
    let script = format!(
        "  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"200\" rtd=\"true\" rrs=\"true\"/>\n{}{}",
        caller_request("ACK", 2),
        uac_media_and_bye()
    );
    let uac = caller(&d, "1001", "081234567890", &script);
    let far = trunk.far_end(Duration::from_secs(25), || {
        carrier.log().contains("EVENT PRI_EVENT_HANGUP")
    });
    ok(uac, "caller", &d);
    trunk.stop();

    let log = carrier.log();
    assert!(
        log.contains("RING chan=1") && log.contains("called=081234567890"),
        "libpri got no SETUP for the number on channel 1:\n{log}"
    );
    assert!(log.contains("cause=16"), "not cleared normally:\n{log}");
    assert!(!log.contains("libpri ERROR"), "protocol error:\n{log}");
    let (spoken, blocks) = (far.spoken, far.heard);
    eprintln!(
        "far end: {spoken} blocks spoken, {blocks} heard ({} bytes its own)",
        far.echoed
    );
    assert!(
        blocks >= 100,
        "{blocks} A-law blocks from the caller on the B-channel ({spoken} sent)"
    );
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    let counts = d.media_counts(c["uuid"].as_str().unwrap());
    eprintln!("pbxd: {counts:?}; call {c}");
    assert!(
        counts["rtp_from_callee"] >= 100,
        "pbxd's relay counted {counts:?} for the B-channel's audio"
    );
}
