//! End-to-end calls through a running box with sipp phones (TEL-1, TEL-2,
//! TEL-7, OPS-1, OPS-2): registration with digest auth, calls with RTP both
//! ways, busy, unregistered and unknown callees, CANCEL, BYE from each
//! side, hold and resume with music on hold, phones on TCP and TLS, restart with phones
//! registered, kill -9 mid-call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hwtests::fragments::*;
use hwtests::phone::StreamPhone;
use hwtests::{callee, callee_on, caller, caller_over, free_udp_port, ok, register, Dering};

const UAS_SEND_BYE: &str = r#"
  <pause milliseconds="1500"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:callee@[local_ip]>;tag=[pid]U[call_number]
      To: <sip:caller@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
"#;

fn uas_ring_until_cancel() -> String {
    format!(
        "{}  <recv request=\"CANCEL\"/>\n{}{}  <recv request=\"ACK\"/>\n",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        reply("200 OK", true, None, ""),
        reply("487 Request Terminated", true, Some("1 INVITE"), "")
    )
}

fn uac_cancel() -> String {
    format!(
        r#"  <recv response="180"/>
  <pause milliseconds="300"/>
  <send><![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "Caller [me]" <sip:[me]@[remote_ip]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 CANCEL
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"/>
  <recv response="487"/>
{ACK_FINAL}"#
    )
}

/// The caller puts the call on hold (sendonly) and expects the callee's
/// recvonly back through pbxd, then resumes (sendrecv) and hangs up.
fn uac_hold_resume_bye() -> String {
    let reinvite = |cseq: u32, dir: &str| {
        format!(
            r#"  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Caller [me]" <sip:[me]@[remote_ip]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:[me]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a={dir}
  ]]></send>
  <recv response="100" optional="true"/>
"#
        )
    };
    // On hold for two seconds: the callee hears music meanwhile.
    let held_ack = format!(
        "{}  <pause milliseconds=\"2000\"/>\n",
        caller_request("ACK", 3)
    );
    format!(
        r#"{}  <recv response="200">
    <action><ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="held"/></action>
  </recv>
  <Reference variables="held"/>
{}{}  <recv response="200">
    <action><ereg regexp="a=sendrecv" search_in="body" check_it="true" assign_to="resumed"/></action>
  </recv>
  <Reference variables="resumed"/>
{}{}  <recv response="200" crlf="true"/>
"#,
        reinvite(3, "sendonly"),
        held_ack,
        reinvite(4, "sendrecv"),
        caller_request("ACK", 4),
        caller_request("BYE", 5)
    )
}

/// The callee answers each re-INVITE, checking the direction it was asked
/// for and answering with the mirror of it (RFC 3264 §6.1).
fn uas_take_reinvite(asked: &str, answer: &str, var: &str) -> String {
    let sdp = SDP_ANSWER.replace(
        "a=rtpmap:101 telephone-event/8000",
        &format!("a=rtpmap:101 telephone-event/8000\n      a={answer}"),
    );
    format!(
        r#"  <recv request="INVITE">
    <action><ereg regexp="a={asked}" search_in="body" check_it="true" assign_to="{var}"/></action>
  </recv>
  <Reference variables="{var}"/>
{}  <recv request="ACK"/>
"#,
        reply("200 OK", false, None, &sdp).replacen("<send>", r#"<send retrans="500">"#, 1)
    )
}

/// A callee phone: registers from a free port, then answers as `behaviour`
/// says.
#[test]
fn register_with_digest_auth_is_listed_and_persisted() {
    let d = Dering::start();
    let port = free_udp_port();
    register(&d, "1001", port, 120);
    let regs = d.query("registrations");
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0]["extension"], "1001");
    assert_eq!(regs[0]["source"], format!("127.0.0.1:{port}"));
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    assert_eq!(store.live_bindings(0).unwrap().len(), 1);
}

#[test]
fn call_with_rtp_both_ways_and_caller_hangs_up() {
    let d = Dering::start();
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(&d, "1001", "1002", &uac_answered_then(&uac_media_and_bye()));
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let calls = d.ended_calls(1);
    let c = &calls[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["caller"], "1001");
    assert_eq!(c["callee"], "1002");
    assert_eq!(c["caller_name"], "Demo 1001");
    assert_eq!(c["hangup_by"], "caller");
    assert_eq!(c["codec"], "PCMA");
    let billable = c["billable_seconds"].as_f64().unwrap();
    assert!((2.5..10.0).contains(&billable), "billable {billable}");
    assert!(c["answer_ms"].as_i64().unwrap() >= c["start_ms"].as_i64().unwrap());
    // RTP went both ways through the relay: the caller's pcap out, the
    // callee's echo back.
    let media = d.media_counts(c["uuid"].as_str().unwrap());
    assert!(media["rtp_from_caller"] >= 100, "{media:?}");
    assert!(media["rtp_from_callee"] >= 100, "{media:?}");
}

#[test]
fn callee_hangs_up() {
    let d = Dering::start();
    let uas = callee(&d, "1003", &format!("{}{UAS_SEND_BYE}", uas_answer()));
    let uac = caller(&d, "1004", "1003", &uac_answered_then(&wait_bye()));
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "callee");
}

#[test]
fn busy_callee() {
    let d = Dering::start();
    let uas = callee(&d, "1005", &uas_busy());
    let uac = caller(&d, "1006", "1005", &uac_final(486));
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "busy", "{c}");
    assert_eq!(c["sip_code"], 486);
    assert_eq!(c["billable_seconds"], 0.0);
}

#[test]
fn caller_cancels_while_ringing() {
    let d = Dering::start();
    let uas = callee(&d, "1007", &uas_ring_until_cancel());
    let uac = caller(&d, "1008", "1007", &uac_cancel());
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "cancelled", "{c}");
    assert_eq!(c["hangup_by"], "caller");
}

#[test]
fn unregistered_and_unknown_callees() {
    let d = Dering::start();
    ok(
        caller(&d, "1001", "1009", &uac_final(480)),
        "call to unregistered 1009",
        &d,
    );
    ok(
        caller(&d, "1001", "4321", &uac_final(404)),
        "call to unknown 4321",
        &d,
    );
    assert!(d.query("cdr").is_empty(), "refused before a call existed");
}

#[test]
fn restart_keeps_phones_registered() {
    let mut d = Dering::start();
    let port = free_udp_port();
    register(&d, "1010", port, 300);
    let sip_port = d.sip_port;
    d.stop();
    d.launch(sip_port);
    let regs = d.query("registrations");
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0]["source"], format!("127.0.0.1:{port}"));
    // The restored binding routes calls.
    let uas = callee_on(&d, port, &format!("{}{}", uas_answer(), wait_bye()));
    ok(
        caller(&d, "1001", "1010", &uac_answered_then(&uac_media_and_bye())),
        "caller after restart",
        &d,
    );
    ok(uas, "callee after restart", &d);
}

#[test]
fn kill_dash_nine_mid_call_closes_it_as_interrupted() {
    let mut d = Dering::start();
    // One finished call first: it must survive the crash.
    let uas = callee(&d, "1002", &uas_busy());
    ok(caller(&d, "1001", "1002", &uac_final(486)), "busy call", &d);
    ok(uas, "callee", &d);
    let _uas = callee(&d, "1003", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(&d, "1001", "1003", &uac_answered_then(&wait_bye()));
    d.wait_answered(1);
    d.wait_answers_stored(2);
    d.kill9();
    drop(uac);
    let port = d.sip_port;
    d.launch(port);
    let calls = d.query("cdr");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["disposition"], "busy");
    assert_eq!(calls[1]["disposition"], "interrupted");
    assert!(
        calls[1]["answer_ms"].is_i64(),
        "the answer was recorded before the 200 OK"
    );
}

#[test]
fn hold_and_resume_pass_through_with_directions() {
    let d = Dering::start();
    let behaviour = format!(
        "{}{}{}{}",
        uas_answer(),
        uas_take_reinvite("sendonly", "recvonly", "hold"),
        uas_take_reinvite("sendrecv", "sendrecv", "resume"),
        wait_bye()
    );
    let uas = callee(&d, "1002", &behaviour);
    let uac = caller(
        &d,
        "1001",
        "1002",
        &uac_answered_then(&uac_hold_resume_bye()),
    );
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let kinds: Vec<String> = store
        .call_events(c["uuid"].as_str().unwrap())
        .unwrap()
        .into_iter()
        .map(|e| e.1)
        .filter(|k| k != "media")
        .collect();
    assert_eq!(kinds, ["hold", "resume"]);
    // The caller sent no audio at all; what reached the callee was the
    // music on hold: about 50 packets a second for the 2 s on hold.
    let media = d.media_counts(c["uuid"].as_str().unwrap());
    assert_eq!(media["rtp_from_caller"], 0, "{media:?}");
    assert!((70..=130).contains(&media["rtp_to_callee"]), "{media:?}");
}

/// A callee on a stream transport, called by a sipp phone on UDP: the
/// INVITE must arrive on the phone's own registration connection, and the
/// caller's RTP must reach the phone through the relay.
fn stream_callee(d: &Dering, mut phone: StreamPhone) {
    phone.register();
    assert_eq!(
        d.query("registrations")[0]["transport"],
        phone_transport(&phone)
    );
    let uac = caller(d, "1001", "1002", &uac_answered_then(&uac_media_and_bye()));
    phone.answer();
    // The caller plays 3 s of audio: at least a second of it must arrive
    // (a loaded machine may start sipp's playback late).
    let rtp = phone.count_rtp(Duration::from_millis(2800));
    phone.take_bye();
    ok(uac, "caller", d);
    assert!(rtp >= 50, "callee received {rtp} RTP packets in 2.8 s");
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "caller");
}

fn phone_transport(p: &StreamPhone) -> &'static str {
    if format!("{p:?}").ends_with("TLS)") {
        "TLS"
    } else {
        "TCP"
    }
}

#[test]
fn callee_on_tcp() {
    let d = Dering::start();
    stream_callee(&d, StreamPhone::tcp(&d, "1002"));
}

#[test]
fn callee_on_tls_verifying_the_box_certificate() {
    let d = Dering::start();
    let phone = StreamPhone::tls(&d)("1002");
    stream_callee(&d, phone);
}

#[test]
fn caller_on_tcp() {
    let d = Dering::start();
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller_over(
        &d,
        "t1",
        "1001",
        "1002",
        &uac_answered_then(&uac_media_and_bye()),
    );
    ok(uac, "caller over TCP", &d);
    ok(uas, "callee", &d);
    assert_eq!(d.ended_calls(1)[0]["disposition"], "answered");
}

/// A phone that registered and then died (TEL-1, OPS-2): the INVITE to it
/// gets no answer at all, so timer B ends the call with 408 and the record
/// says the callee did not respond; meanwhile qualify OPTIONS go unanswered,
/// the registration is marked unreachable, and the next call is refused at
/// once with 480 instead of ringing a dead phone.
#[test]
fn dead_phone_408_then_unreachable_480() {
    let d = Dering::start_with(|t| {
        t.replace("no_answer_seconds = 8", "no_answer_seconds = 60")
            .replace("qualify_seconds = 30", "qualify_seconds = 5")
    });
    // sipp registers from this port and exits: nobody listens there after.
    register(&d, "1002", free_udp_port(), 300);
    let t = std::time::Instant::now();
    ok(
        caller(&d, "1001", "1002", &uac_final(408)),
        "call to a dead phone",
        &d,
    );
    assert!(
        t.elapsed() >= Duration::from_secs(30),
        "timer B is 64*T1 = 32 s"
    );
    let c = &d.ended_calls(1)[0];
    assert_eq!(c["disposition"], "failed", "{c}");
    assert_eq!(c["sip_code"], 408);
    assert_eq!(c["hangup_cause"], "callee did not respond");
    // Qualify started 5 s after the REGISTER and times out after 32 s more.
    while d.query("registrations")[0]["reachable"] == true {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "never marked unreachable"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let t = std::time::Instant::now();
    ok(
        caller(&d, "1001", "1002", &uac_final(480)),
        "call to an unreachable phone",
        &d,
    );
    assert!(t.elapsed() < Duration::from_secs(5), "refused at once");
    assert_eq!(d.query("cdr").len(), 1, "refused before a call existed");
}
