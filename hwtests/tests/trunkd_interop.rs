//! trunkd against libpri beyond the basic calls of `trunkd.rs` (TRK-1,
//! issue 14), on the simulated board: these machines have no cards, so
//! libpri sits on the far end of the simulated span's D-channel and the
//! test plays the far end of its B-channel.
//!
//! - 137 reaches an agent: libpri (the carrier's exchange) calls 137,
//!   which this box routes straight to queue `pengaduan`; the call is
//!   offered to a logged-in agent's sipp phone, which answers and echoes
//!   its RTP, so the A-law the B-channel's far end speaks comes back to it
//!   through trunkd, pbxd and the agent's phone.
//! - An agent dials out: desk phone 1003 may not call a mobile number,
//!   agent 2001 logged in there may; libpri answers, audio both ways.
//! - Causes both ways (RFC 3398): a call out that libpri refuses with
//!   cause 17 or 1, or alerts and never answers, ends for the caller with
//!   486, 404 or (pbxd's no-answer timer) 480; a call in to a busy, an
//!   unknown or an unanswered extension ends on the span with cause 17, 1
//!   or 18 (pbxd's 486, 404 and 480).
//!
//! libpri's log must show no protocol error in any of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod trunkd_peer;

use std::net::SocketAddr;
use std::time::Duration;

use dering_board::BLOCK_LEN;
use dering_config::SpanSide;
use hwtests::fragments::{
    uac_answered_then, uac_final, uac_media_and_bye, uas_answer, uas_busy, uas_ring_until_cancel,
    wait_bye,
};
use hwtests::{callee, caller, free_udp_port, ok, phone, register, scenario};
use trunkd_peer::{
    box_trunking_to_trunkd, box_trusting_trunkd, libpri_mode, start_carrier, wait_in_service,
    Carrier, Trunk,
};

const SIMULATED: &str = "trunkd: no DAHDI card is used here; the span is the simulated board's";

fn no_protocol_error(carrier: &Carrier) {
    let log = carrier.log();
    assert!(!log.contains("libpri ERROR"), "protocol error:\n{log}");
}

#[test]
fn a_call_to_137_from_the_span_reaches_an_agent_with_audio_both_ways() {
    eprintln!("{SIMULATED}");
    let d = box_trusting_trunkd(|text| {
        text.replace(
            "number = \"137\"\nflow = \"layanan-pengaduan\"",
            "number = \"137\"\nqueue = \"pengaduan\"",
        )
    });
    // Agent 2001 at desk phone 1003, which answers one call, echoes its
    // RTP and waits for the caller's side to hang up.
    let port = free_udp_port();
    register(&d, "1003", port, 300);
    let sf = scenario(
        d.dir(),
        "uas.xml",
        &[("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye()))],
    );
    let desk = phone(&d, &sf, port, &["-rtp_echo".to_string()]);
    hwtests::wait_bound(port, Duration::from_secs(10));
    d.agent_login("2001", "1003");
    assert_eq!(d.agent("2001")["state"], "ready");

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(
        dir.path(),
        &sock,
        libpri_mode(SpanSide::User),
        &["-d", "137", "-a", "6"],
    );
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let trunk = Trunk::start(&d, &sock, &carrier, sip, SpanSide::User);
    let far = trunk.far_end(Duration::from_secs(30), || {
        carrier.log().contains("-> hangup (normal clearing)")
    });
    ok(desk, "the agent's phone", &d);
    trunk.stop();

    let log = carrier.log();
    assert!(
        log.contains("EVENT PRI_EVENT_ANSWER"),
        "libpri saw no CONNECT:\n{log}"
    );
    no_protocol_error(&carrier);
    eprintln!(
        "far end: {} blocks spoken, {} heard, {} of its bytes echoed",
        far.spoken, far.heard, far.echoed
    );
    // The agent's phone echoes what it receives: the far end's own A-law
    // comes back unchanged (PCMA end to end, relayed as is), a second at
    // least of the six the call is held.
    assert!(
        far.echoed >= 50 * BLOCK_LEN,
        "{} bytes of the far end's A-law came back ({} blocks heard of {} spoken)",
        far.echoed,
        far.heard,
        far.spoken
    );

    let calls = d.ended_calls(1);
    let c = &calls[0];
    eprintln!("pbxd: call {c}");
    assert_eq!(c["caller"], "+62212000", "{c}");
    assert_eq!(c["disposition"], "answered", "{c}");
    let counts = d.media_counts(c["uuid"].as_str().unwrap());
    eprintln!("pbxd: {counts:?}");
    assert!(
        counts["rtp_from_caller"] >= 50 && counts["rtp_from_callee"] >= 50,
        "pbxd's relay counted {counts:?} between the B-channel and the agent"
    );
}

#[test]
fn an_agent_dials_out_through_the_span_with_the_agents_permission() {
    eprintln!("{SIMULATED}");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(dir.path(), &sock, libpri_mode(SpanSide::User), &[]);
    let (d, sip) = box_trunking_to_trunkd();
    let trunk = Trunk::start(&d, &sock, &carrier, sip, SpanSide::User);
    wait_in_service(&carrier);
    // Desk phone 1003's own permission does not reach a mobile number...
    register(&d, "1003", free_udp_port(), 300);
    ok(
        caller(&d, "1003", "081234567890", &uac_final(403)),
        "1003 with no agent",
        &d,
    );
    // ...agent 2001's, logged in there, does (ACD-1, TEL-10).
    d.agent_login("2001", "1003");
    assert_eq!(d.agent("2001")["state"], "ready");
    let uac = caller(
        &d,
        "1003",
        "081234567890",
        &uac_answered_then(&uac_media_and_bye()),
    );
    let far = trunk.far_end(Duration::from_secs(25), || {
        carrier.log().contains("EVENT PRI_EVENT_HANGUP")
    });
    ok(uac, "the agent's call", &d);
    trunk.stop();

    let log = carrier.log();
    assert!(
        log.contains("RING chan=1") && log.contains("called=081234567890"),
        "libpri got no SETUP for the number on channel 1:\n{log}"
    );
    assert!(log.contains("cause=16"), "not cleared normally:\n{log}");
    no_protocol_error(&carrier);
    eprintln!("far end: {} blocks spoken, {} heard", far.spoken, far.heard);
    assert!(
        far.heard >= 100,
        "{} A-law blocks from the agent on the B-channel ({} sent)",
        far.heard,
        far.spoken
    );
    // The refused call is recorded too; the agent's is the answered one.
    let calls = d.ended_calls(2);
    let c = calls
        .iter()
        .find(|c| c["disposition"] == "answered")
        .unwrap_or_else(|| panic!("no answered call: {calls:?}"));
    eprintln!("pbxd: call {c}");
    assert_eq!(c["callee"], "081234567890", "{c}");
    let counts = d.media_counts(c["uuid"].as_str().unwrap());
    assert!(
        counts["rtp_from_callee"] >= 100,
        "pbxd's relay counted {counts:?} for the B-channel's audio"
    );
}

/// Extension 1001 calls a mobile number out through the span, where
/// libpri (the network side) runs with `libpri_args`; the caller expects
/// final response `code`, and the call is over on the span once libpri's
/// log shows `cleared`. Returns libpri's log.
fn call_out_refused(libpri_args: &[&str], code: u16, cleared: &str) -> String {
    eprintln!("{SIMULATED}");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(dir.path(), &sock, libpri_mode(SpanSide::User), libpri_args);
    let (d, sip) = box_trunking_to_trunkd();
    let trunk = Trunk::start(&d, &sock, &carrier, sip, SpanSide::User);
    wait_in_service(&carrier);
    ok(
        caller(&d, "1001", "081234567890", &uac_final(code)),
        "caller",
        &d,
    );
    assert!(
        carrier.wait_log(cleared, Duration::from_secs(10)),
        "the call never ended on the span:\n{}",
        carrier.log()
    );
    trunk.stop();
    let log = carrier.log();
    assert!(
        log.contains("RING chan=1") && log.contains("called=081234567890"),
        "libpri got no SETUP for the number on channel 1:\n{log}"
    );
    no_protocol_error(&carrier);
    log
}

#[test]
fn a_call_out_refused_busy_by_the_network_gets_486() {
    // libpri sends DISCONNECT; trunkd's RELEASE ends it there.
    let log = call_out_refused(&["-r", "17"], 486, "EVENT PRI_EVENT_HANGUP");
    assert!(log.contains("-> refuse (cause 17)"), "{log}");
}

#[test]
fn a_call_out_to_an_unallocated_number_gets_404() {
    // libpri refuses an unallocated number with RELEASE COMPLETE at once.
    let log = call_out_refused(&["-r", "1"], 404, "> Message Type: RELEASE COMPLETE");
    assert!(log.contains("-> refuse (cause 1)"), "{log}");
}

#[test]
fn a_call_out_never_answered_gets_480_and_is_cleared_on_the_span() {
    // pbxd's no-answer timer (8 s in the test box) gives up: 480 for the
    // caller, a CANCEL for trunkd, which clears the call with cause 16.
    let log = call_out_refused(&["-w"], 480, "cause=");
    assert!(log.contains("-> alerting, never answering"), "{log}");
    assert!(log.contains("cause=16"), "not cleared normally:\n{log}");
}

/// libpri (the network side) calls `number`, a DID of extension 1002 on
/// this box or not, whose phone does `behaviour` (none: no phone); the
/// cause libpri's DISCONNECT carried.
fn call_in_cleared(number: &str, behaviour: Option<String>) -> u8 {
    eprintln!("{SIMULATED}");
    let d = box_trusting_trunkd(|text| {
        text + "\n[[did]]\nnumber = \"0215551002\"\nextension = \"1002\"\n"
    });
    let phone = behaviour.map(|b| callee(&d, "1002", &b));
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = start_carrier(
        dir.path(),
        &sock,
        libpri_mode(SpanSide::User),
        &["-d", number],
    );
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let trunk = Trunk::start(&d, &sock, &carrier, sip, SpanSide::User);
    assert!(
        carrier.wait_log("cause=", Duration::from_secs(25)),
        "the call was never cleared:\n{}",
        carrier.log()
    );
    if let Some(p) = phone {
        ok(p, "1002", &d);
    }
    trunk.stop();
    no_protocol_error(&carrier);
    let log = carrier.log();
    assert!(
        !log.contains("EVENT PRI_EVENT_ANSWER"),
        "the call was answered:\n{log}"
    );
    first_cause(&log)
}

/// The cause of the first clearing libpri reported (`  cause=N`).
fn first_cause(log: &str) -> u8 {
    log.lines()
        .find_map(|l| l.trim().strip_prefix("cause="))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no cause in libpri's log:\n{log}"))
}

#[test]
fn a_call_in_to_a_busy_extension_is_cleared_with_cause_17() {
    assert_eq!(call_in_cleared("0215551002", Some(uas_busy())), 17);
}

#[test]
fn a_call_in_to_an_unknown_number_is_cleared_with_cause_1() {
    assert_eq!(call_in_cleared("0215559999", None), 1);
}

#[test]
fn a_call_in_never_answered_is_cleared_with_cause_18() {
    // pbxd's no-answer timer ends it with 480: no user responding (RFC
    // 3398 section 7.2.4.1).
    assert_eq!(
        call_in_cleared("0215551002", Some(uas_ring_until_cancel())),
        18
    );
}
