//! A queue's backup number against sipp as three carriers (OPS-3, issue
//! 13): a citizen calls the queue's DID from the incoming carrier
//! (127.0.0.2, an `ip` trunk's), no agent is logged in, and the box puts
//! the call through to the backup number over the outbound route, whose
//! first trunk answers 503 so the second carries it; the call record names
//! the second trunk. The decisions are pinned down in virtual time in
//! `daemons/pbxd/tests/trunk_backup.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hwtests::fragments::{caller_request, reply, uac_answered_then, uas_answer, wait_bye};
use hwtests::{free_udp_port, ok, sipp_carrier, Dering, Sipp};

/// The incoming carrier's signalling and media address.
const INCOMING_IP: &str = "127.0.0.2";

/// The demo box: its queue `pengaduan` (no caller joins it empty) answers
/// DID 1500170 and has the backup number 081298765432; the route `keluar`
/// tries the demo trunk at 127.0.0.1:`first`, then `cadangan` at
/// 127.0.0.1:`second` (E.164 numbers). No trunk is probed.
fn backup_box(first: u16, second: u16) -> Dering {
    Dering::start_with(|t| {
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
        .replace(
            "host = \"sip.carrier.example\"",
            &format!("host = \"127.0.0.1\"\nport = {first}"),
        )
        .replace("trunks = [\"demo\"]", "trunks = [\"demo\", \"cadangan\"]")
        .replace(
            "callback = true",
            "callback = true\nbackup_number = \"081298765432\"",
        )
            + &format!(
                "\n[[trunk]]\nname = \"cadangan\"\nkind = \"ip\"\nhost = \"127.0.0.1\"\nport = {second}\naddresses = [\"192.0.2.250\"]\nnumber_format = \"e164\"\nkeepalive_seconds = 0\n"
            )
            + "\n[[trunk]]\nname = \"masuk\"\nkind = \"ip\"\nhost = \"127.0.0.2\"\naddresses = [\"127.0.0.2/32\"]\nkeepalive_seconds = 0\n"
            + "\n[[did]]\nnumber = \"1500170\"\nqueue = \"pengaduan\"\n"
    })
}

/// The citizen's call from the incoming carrier to DID 1500170: answered
/// by the box, it stays 3 s (put through meanwhile), then hangs up.
fn citizen(d: &Dering) -> Sipp {
    let after = uac_answered_then(&format!(
        "  <pause milliseconds=\"3000\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ));
    let text = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="citizen">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port];user=phone SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Caller [me]" <sip:081234567890@[local_ip]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
{after}</scenario>
"#
    );
    let sf = d.dir().join("citizen.xml");
    std::fs::write(&sf, text).unwrap();
    incoming(d, &sf, "62211500170")
}

/// sipp runs `sf` from the incoming carrier's address, calling `service`.
fn incoming(d: &Dering, sf: &Path, service: &str) -> Sipp {
    let args: Vec<String> = [
        "-sf",
        &sf.display().to_string(),
        &d.addr(),
        "-i",
        INCOMING_IP,
        "-p",
        &free_udp_port().to_string(),
        "-mi",
        INCOMING_IP,
        "-mp",
        &(free_udp_port() & !1).to_string(),
        "-s",
        service,
        "-key",
        "me",
        "citizen",
        "-m",
        "1",
        "-timeout",
        "40",
    ]
    .map(String::from)
    .to_vec();
    Sipp::spawn(d.dir(), &args)
}

/// The INVITE a carrier received, as sipp traced it.
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

#[test]
fn a_queue_without_agents_sends_the_caller_to_the_backup_through_the_second_trunk() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let d = backup_box(first, second);
    let refusing = format!(
        "{}  <recv request=\"ACK\"/>\n",
        reply("503 Service Unavailable", true, None, "")
    );
    let (uas1, _) = sipp_carrier(&d, first, &refusing);
    let (uas2, trace2) = sipp_carrier(&d, second, &format!("{}{}", uas_answer(), wait_bye()));
    ok(citizen(&d), "citizen", &d);
    ok(uas1, "first carrier", &d);
    ok(uas2, "second carrier", &d);
    let invite = received_invite(&trace2);
    assert!(
        invite.starts_with("INVITE sip:+6281298765432@127.0.0.1:"),
        "the backup number in the second trunk's format: {invite}"
    );
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let calls = store.calls().unwrap();
    let outside = store
        .call_outside(&calls[0].parties.uuid)
        .unwrap()
        .expect("the backup call's outside columns");
    assert_eq!(outside.trunk.as_deref(), Some("cadangan"));
    assert_eq!(outside.callee_e164, "+6281298765432");
}
