//! Calls in from a carrier's SIP trunk (issue 13; TEL-10, ACD-5, ACD-6)
//! with sipp as the carrier's UAC on its own loopback address
//! (127.0.0.2, an `ip` trunk's): the DID in each written form a carrier
//! uses reaches the 137 flow; RFC 4733 keys on payload type 96 drive the
//! menu to the queue and an agent's sipp phone, with media both ways and
//! the caller's mobile number (sent in P-Asserted-Identity) given the
//! mobile priority; a caller in the block list, sent as `+628…`, is
//! refused busy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hwtests::fragments::{caller_request, uac_answered_then, uac_final, uas_answer, wait_bye};
use hwtests::{free_udp_port, ok, phone, register, scenario, Dering, Sipp};

/// The carrier's signalling and media address.
const CARRIER_IP: &str = "127.0.0.2";

/// The demo box with the carrier's trunk, and a mobile number blocked
/// busy (written nationally, as an operator would).
fn trunk_box() -> Dering {
    Dering::start_with(|t| {
        t.replace(
            "block = [{ prefix = \"+62899\", action = \"announcement\" }]",
            "block = [{ prefix = \"+62899\", action = \"announcement\" }, { number = \"0812-0000-0003\", action = \"busy\" }]",
        ) + "\n[[trunk]]\nname = \"carrier\"\nkind = \"ip\"\nhost = \"127.0.0.2\"\naddresses = [\"127.0.0.2/32\"]\nkeepalive_seconds = 0\n"
    })
}

/// A carrier's INVITE, unauthenticated, to `[service]` with To `to`, the
/// caller `from` in From and `pai` (a whole header line, or nothing),
/// offering A-law and telephone events on payload type 96; `after` is
/// what the carrier does next.
fn carrier_scenario(d: &Dering, to: &str, from: &str, pai: &str, after: &str) -> PathBuf {
    // An empty line would end the headers: the header only when given.
    let pai = if pai.is_empty() {
        String::new()
    } else {
        format!("{pai}\n      ")
    };
    let text = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="carrier">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port];user=phone SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Caller [me]" <sip:{from}@[local_ip]>;tag=[pid]T[call_number]
      To: {to}
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:carrier@[local_ip]:[local_port]>
      {pai}Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 96
      a=rtpmap:8 PCMA/8000
      a=rtpmap:96 telephone-event/8000
      a=fmtp:96 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
{after}</scenario>
"#
    );
    let path = d.dir().join(format!("carrier-{}.xml", free_udp_port()));
    std::fs::write(&path, text).unwrap();
    path
}

/// The carrier calls `service` (the Request-URI's user) from
/// 127.0.0.2.
fn carrier(d: &Dering, sf: &Path, service: &str) -> Sipp {
    let port = free_udp_port();
    let args: Vec<String> = [
        "-sf",
        &sf.display().to_string(),
        &d.addr(),
        "-i",
        CARRIER_IP,
        "-p",
        &port.to_string(),
        "-mi",
        CARRIER_IP,
        "-mp",
        &(free_udp_port() & !1).to_string(),
        "-s",
        service,
        "-key",
        "me",
        "carrier",
        "-m",
        "1",
        "-timeout",
        "40",
    ]
    .map(String::from)
    .to_vec();
    Sipp::spawn(d.dir(), &args)
}

/// sip-tester's RFC 4733 key `key` with its payload type (101) changed
/// to `pt`, as a carrier that negotiated `pt` sends it.
fn key_on_pt(dir: &Path, key: &str, pt: u8) -> PathBuf {
    let mut pcap = std::fs::read(format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap")).unwrap();
    // pcap header, then per packet a 16-byte record header and an
    // Ethernet (14) + IPv4 (20) + UDP (8) frame before the RTP header.
    let mut at = 24;
    let mut changed = 0;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = at + 16;
        let udp = frame + 14 + 20;
        let rtp = udp + 8;
        assert_eq!(pcap[rtp] >> 6, 2, "an RTP version 2 header");
        assert_eq!(pcap[rtp + 1] & 0x7f, 101, "sip-tester's payload type");
        pcap[rtp + 1] = (pcap[rtp + 1] & 0x80) | pt;
        // No UDP checksum rather than a wrong one.
        pcap[udp + 6] = 0;
        pcap[udp + 7] = 0;
        changed += 1;
        at = frame + len;
    }
    assert!(changed > 0);
    let path = dir.join(format!("dtmf_{pt}_{key}.pcap"));
    std::fs::write(&path, pcap).unwrap();
    path
}

/// The carrier's caller stays `ms`, then hangs up.
fn stay_then_bye(ms: u32) -> String {
    uac_answered_then(&format!(
        "  <pause milliseconds=\"{ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ))
}

fn wait_until(d: &Dering, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_did_in_each_carrier_form_reaches_the_137_flow() {
    let d = trunk_box();
    let from = "0215551234";
    // (Request-URI user, To): the number as the carrier writes it; the
    // last puts the box's name in the Request-URI and the DID in To only.
    let forms = [
        ("137", "<sip:137@[remote_ip]>"),
        ("021137", "<sip:021137@[remote_ip]>"),
        ("6221137", "<sip:6221137@[remote_ip]>"),
        ("+6221137", "<sip:+6221137@[remote_ip];user=phone>"),
        ("dering", "<tel:+62-21-137>"),
    ];
    for (service, to) in forms {
        let sf = carrier_scenario(&d, to, from, "", &stay_then_bye(1_500));
        ok(carrier(&d, &sf, service), service, &d);
    }
    let calls = d.ended_calls(forms.len());
    assert_eq!(calls.len(), forms.len(), "{calls:?}");
    for c in &calls {
        assert_eq!(c["callee"], "+6221137", "{c}");
        assert_eq!(c["caller"], "+62215551234", "{c}");
        assert_eq!(c["disposition"], "answered", "{c}");
        let uuid = c["uuid"].as_str().unwrap();
        assert_eq!(d.call_events(uuid, "trunk"), ["carrier"], "{c}");
    }
    // The rows keep the numbers as the carrier sent them.
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let mut raw: Vec<String> = calls
        .iter()
        .filter_map(|c| store.call_inbound(c["uuid"].as_str().unwrap()).unwrap())
        .map(|i| i.callee_raw)
        .collect();
    raw.sort();
    assert_eq!(raw, ["+62-21-137", "+6221137", "021137", "137", "6221137"]);
    // The flow spoke to each caller (the greeting at least).
    let media = d.media_counts(calls[0]["uuid"].as_str().unwrap());
    assert!(media["rtp_to_caller"] > 50, "{media:?}");
}

#[test]
fn key_2_on_payload_type_96_reaches_an_agent_with_media_both_ways() {
    let d = trunk_box();
    // Agent 2001 at 1003, whose sipp phone answers and echoes media.
    let port = free_udp_port();
    register(&d, "1003", port, 300);
    let sf = scenario(
        d.dir(),
        "uas.xml",
        &[("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye()))],
    );
    let desk = phone(
        &d,
        &sf,
        port,
        &["-rtp_echo", "-timeout", "60"].map(String::from),
    );
    hwtests::wait_bound(port, Duration::from_secs(10));
    d.agent_login("2001", "1003");
    wait_until(&d, "agent ready", Duration::from_secs(5), || {
        d.agent("2001")["state"] == "ready"
    });
    // The greeting (not interruptible), key 2 on PT 96, "please hold",
    // the agent answers; then 5 s of speech and the caller hangs up.
    let key = key_on_pt(d.dir(), "2", 96);
    let after = uac_answered_then(&format!(
        r#"  <pause milliseconds="3500"/>
  <nop><action><exec play_pcap_audio="{}"/></action></nop>
  <pause milliseconds="6000"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>
  <pause milliseconds="5000"/>
{}  <recv response="200" crlf="true"/>
"#,
        key.display(),
        caller_request("BYE", 3)
    ));
    // A mobile caller, in P-Asserted-Identity in the country-code form;
    // From carries the carrier's pilot number.
    let sf = carrier_scenario(
        &d,
        "<sip:0211500137@[remote_ip]>",
        "0215550000",
        "P-Asserted-Identity: <sip:6281211110001@[local_ip];user=phone>",
        &after,
    );
    let call = carrier(&d, &sf, "0211500137");
    ok(call, "the carrier's caller", &d);
    ok(desk, "the agent's phone (got the caller's BYE)", &d);
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["caller"], "+6281211110001", "{c}");
    assert_eq!(c["callee"], "+62211500137", "{c}");
    let uuid = c["uuid"].as_str().unwrap();
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let entered: Vec<serde_json::Value> = store
        .acd_events(0)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "entered" && r.call_uuid.as_deref() == Some(uuid))
        .map(|r| serde_json::from_str(&r.detail).unwrap())
        .collect();
    assert_eq!(entered.len(), 1, "the caller entered the queue once");
    assert_eq!(
        entered[0]["priority"], 5,
        "a mobile's priority: {entered:?}"
    );
    let answered = store
        .acd_events(0)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "answered" && r.call_uuid.as_deref() == Some(uuid))
        .filter_map(|r| r.agent)
        .collect::<Vec<_>>();
    assert_eq!(answered, ["2001"]);
    // Media both ways through the bridge: the caller's speech to the
    // agent, and the agent's echo back.
    let media = d.media_counts(uuid);
    assert!(media["rtp_from_caller"] > 150, "{media:?}");
    assert!(media["rtp_to_callee"] > 150, "{media:?}");
    assert!(media["rtp_from_callee"] > 150, "{media:?}");
    assert!(media["rtp_to_caller"] > 150, "{media:?}");
}

#[test]
fn a_blocked_caller_sent_in_e164_is_refused_busy() {
    let d = trunk_box();
    // Blocked as 0812-0000-0003; the carrier sends +6281200000003.
    let sf = carrier_scenario(
        &d,
        "<sip:137@[remote_ip]>",
        "+6281200000003",
        "",
        &uac_final(486),
    );
    ok(carrier(&d, &sf, "137"), "the blocked caller", &d);
    // Another mobile is not blocked.
    let sf = carrier_scenario(
        &d,
        "<sip:137@[remote_ip]>",
        "+6281200000004",
        "",
        &stay_then_bye(500),
    );
    ok(carrier(&d, &sf, "137"), "a caller not blocked", &d);
    let calls = d.ended_calls(1);
    assert_eq!(
        calls.len(),
        1,
        "the blocked call was never answered: {calls:?}"
    );
    assert_eq!(calls[0]["caller"], "+6281200000004");
}
