//! Calls in from a carrier's trunk on the core alone, in virtual time
//! (issue 13; TEL-10, ACD-5, ACD-6): the DID in every form a carrier
//! writes it reaches the one flow, the answer keeps the carrier's RFC 4733
//! payload type, the caller's number from P-Asserted-Identity is what the
//! block list and the priorities see, and a trunk has as many calls in as
//! it has lines. The same with sipp as the carrier is in
//! `hwtests/tests/trunk_in.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dering_sip::Message;
use pbxd::core::MediaCmd;
use sim::{Dialog, Phone, Sim};

/// The carrier's signalling address: an `ip` trunk with two lines.
const CARRIER: &str = "127.0.0.9:5060";

/// The demo box with the demo's flow published and the carrier's trunk.
fn trunk_box(edit: impl FnOnce(String) -> String) -> Sim {
    trunk_box_with(2, edit)
}

/// [`trunk_box`] with a trunk of `channels` lines.
fn trunk_box_with(channels: u32, edit: impl FnOnce(String) -> String) -> Sim {
    let mut s = Sim::new(|t| {
        edit(t)
            + &format!("\n[[trunk]]\nname = \"telkom\"\nkind = \"ip\"\nhost = \"127.0.0.9\"\naddresses = [\"127.0.0.9\"]\nchannels = {channels}\nkeepalive_seconds = 0\n")
    });
    let t = s.t();
    s.core
        .publish_flow(t, &dering_flow::Flow::demo().to_json())
        .unwrap();
    s
}

/// A carrier's offer: A-law, and telephone events on payload type 96.
fn offer() -> String {
    "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n".into()
}

/// The carrier sends INVITE `n` to `ruri` with `headers` (From, To and
/// any P-Asserted-Identity), as a carrier would: no credentials.
fn carrier_invite(s: &mut Sim, c: &mut Phone, n: u32, ruri: &str, headers: &str) -> Dialog {
    let body = offer();
    let branch = format!("z9hG4bKcarrier{n}");
    let call_id = format!("carrier-{n}");
    let msg = format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch={branch}\r\nMax-Forwards: 70\r\n{headers}Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@{CARRIER}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let from = header(&msg, "From");
    let to = header(&msg, "To");
    s.deliver(c.addr, &msg);
    Dialog {
        call_id,
        local: from,
        remote: to,
        target: ruri.to_string(),
        cseq: 1,
        invite: Some(msg),
        branch,
    }
}

fn header(msg: &str, name: &str) -> String {
    msg.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .to_string()
}

fn carrier() -> Phone {
    Phone::at("carrier", CARRIER.parse::<SocketAddr>().unwrap())
}

/// The callee (number, name) of every call record started so far.
fn callees(s: &Sim) -> Vec<(String, Option<String>)> {
    s.writes
        .iter()
        .filter_map(|op| match op {
            dering_store::Op::CallStart(p) => Some((p.callee.clone(), p.callee_name.clone())),
            _ => None,
        })
        .collect()
}

fn callers(s: &Sim) -> Vec<String> {
    s.writes
        .iter()
        .filter_map(|op| match op {
            dering_store::Op::CallStart(p) => Some(p.caller.clone()),
            _ => None,
        })
        .collect()
}

fn bye(s: &mut Sim, c: &mut Phone, d: &mut Dialog) {
    c.in_dialog(s, d, "BYE", "", "");
    c.expect_response(s, 200);
}

#[test]
fn a_did_in_every_carrier_form_reaches_the_flow() {
    let mut s = trunk_box(|t| t);
    let mut c = carrier();
    let from = "From: <sip:081234567890@127.0.0.9>;tag=c1\r\n";
    // The DID in the Request-URI in each written form, then only in To
    // (the Request-URI holds the carrier's idea of the box).
    let forms = [
        ("sip:1500137@127.0.0.1", "<sip:1500137@127.0.0.1>"),
        ("sip:0211500137@127.0.0.1", "<sip:0211500137@127.0.0.1>"),
        ("sip:62211500137@127.0.0.1", "<sip:62211500137@127.0.0.1>"),
        (
            "sip:+62211500137@127.0.0.1;user=phone",
            "<tel:+62-21-1500137>",
        ),
        ("sip:127.0.0.1", "<tel:+62-21-1500.137>"),
    ];
    for (n, (ruri, to)) in forms.iter().enumerate() {
        let mut d = carrier_invite(
            &mut s,
            &mut c,
            n as u32,
            ruri,
            &format!("{from}To: {to}\r\n"),
        );
        let ok = c.expect_response(&mut s, 200);
        // The answer keeps the carrier's event payload type (RFC 4733).
        assert!(
            String::from_utf8_lossy(&ok.body).contains("a=rtpmap:96 telephone-event/8000"),
            "{ruri}: {ok:?}"
        );
        c.ack_2xx(&mut s, &mut d, &ok);
        bye(&mut s, &mut c, &mut d);
    }
    let flow = Some("layanan-pengaduan".to_string());
    assert_eq!(
        callees(&s),
        vec![("+62211500137".to_string(), flow); forms.len()]
    );
    assert_eq!(callers(&s), vec!["+6281234567890"; forms.len()]);
    assert_eq!(s.call_events("trunk"), vec!["telkom"; forms.len()]);
    // The row keeps the numbers as sent beside their E.164 forms.
    let inbound: Vec<_> = s
        .writes
        .iter()
        .filter_map(|op| match op {
            dering_store::Op::CallInbound(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    let raw: Vec<_> = inbound.iter().map(|i| i.callee_raw.as_str()).collect();
    assert_eq!(
        raw,
        [
            "1500137",
            "0211500137",
            "62211500137",
            "+62211500137",
            "+62-21-1500.137"
        ]
    );
    for i in &inbound {
        assert_eq!(i.trunk.as_deref(), Some("telkom"));
        assert_eq!(i.callee_e164.as_deref(), Some("+62211500137"));
        assert_eq!(
            (i.caller_raw.as_str(), i.caller_e164.as_deref()),
            ("081234567890", Some("+6281234567890"))
        );
    }
    // The local endpoint decodes the carrier's events on 96.
    let pts: Vec<_> = s
        .media
        .iter()
        .filter_map(|m| match m {
            MediaCmd::Local { event_pt, .. } => Some(*event_pt),
            _ => None,
        })
        .collect();
    assert_eq!(pts, vec![Some(96); forms.len()]);
}

#[test]
fn a_trunks_lines_are_counted_in_and_strangers_are_challenged() {
    let mut s = trunk_box(|t| t);
    let mut c = carrier();
    let headers = "From: <sip:081234567890@127.0.0.9>;tag=c1\r\nTo: <sip:137@127.0.0.1>\r\n";
    let mut first = carrier_invite(&mut s, &mut c, 1, "sip:137@127.0.0.1", headers);
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut first, &ok);
    let mut second = carrier_invite(&mut s, &mut c, 2, "sip:137@127.0.0.1", headers);
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut second, &ok);
    assert_eq!(s.core.trunk_calls_in("telkom"), 2);
    // Both lines busy: the third is refused before anything is done.
    carrier_invite(&mut s, &mut c, 3, "sip:137@127.0.0.1", headers);
    let busy = c.expect_response(&mut s, 503);
    assert!(busy.get("To").unwrap_or_default().contains("tag="));
    // One hangs up: its line is free again.
    bye(&mut s, &mut c, &mut first);
    let mut fourth = carrier_invite(&mut s, &mut c, 4, "sip:137@127.0.0.1", headers);
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut fourth, &ok);
    assert_eq!(s.core.trunk_calls_in("telkom"), 2);
    // The same INVITE from an address of no trunk is challenged.
    let mut stranger = Phone::at("081234567890", "127.0.0.10:5060".parse().unwrap());
    stranger.invite(&mut s, "1500137");
    stranger.expect_response(&mut s, 407);
}

#[test]
fn a_caller_blocked_in_any_form_is_refused_on_the_trunk() {
    // The demo blocks +62899… with an announcement; 021-5555-0003 busy.
    let mut s = trunk_box(|t| {
        t.replace(
            "block = [{ prefix = \"+62899\", action = \"announcement\" }]",
            "block = [{ prefix = \"+62899\", action = \"announcement\" }, { number = \"021-5555-0003\", action = \"busy\" }]",
        )
    });
    let mut c = carrier();
    // The carrier's pilot number in From, the caller in P-Asserted-Identity.
    let pai = |n: &str| {
        format!("From: <sip:0215550000@127.0.0.9>;tag=c1\r\nTo: <sip:137@127.0.0.1>\r\nP-Asserted-Identity: <tel:{n}>\r\n")
    };
    carrier_invite(
        &mut s,
        &mut c,
        1,
        "sip:137@127.0.0.1",
        &pai("+622155550003"),
    );
    c.expect_response(&mut s, 486);
    let mut d = carrier_invite(
        &mut s,
        &mut c,
        2,
        "sip:137@127.0.0.1",
        &pai("+6289912345678"),
    );
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut d, &ok);
    // Answered for the announcement, recorded as blocked.
    assert_eq!(s.call_events("blocked").len(), 1);
    assert_eq!(callers(&s), ["+6289912345678"]);
    assert_eq!(callees(&s)[0].1.as_deref(), Some("blocked"));
}

/// A mobile caller from the trunk is served before a fixed-line caller
/// who waited longer (ACD-5): its number, in P-Asserted-Identity in the
/// carrier's national form, is classed as a mobile.
#[test]
fn priority_by_number_class_applies_to_a_trunk_caller() {
    let mut s = trunk_box(sim::with_queue_on_170);
    s.publish_queue_flow();
    let mut c = carrier();
    let call = |n: &str| {
        format!("From: <sip:0215550000@127.0.0.9>;tag=c{n}\r\nTo: <sip:0211700@127.0.0.1>\r\nP-Asserted-Identity: <sip:{n}@127.0.0.9;user=phone>\r\n")
    };
    let mut fixed = carrier_invite(&mut s, &mut c, 1, "sip:170@127.0.0.1", &call("0215550001"));
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut fixed, &ok);
    s.advance(Duration::from_secs(5));
    let mut mobile = carrier_invite(
        &mut s,
        &mut c,
        2,
        "sip:170@127.0.0.1",
        &call("081211110001"),
    );
    let ok = next_final(&mut s, &mut c);
    c.ack_2xx(&mut s, &mut mobile, &ok);
    s.advance(Duration::from_secs(1));
    // An agent logs in: the mobile caller is offered first.
    let mut desk = Phone::registered(&mut s, "1003");
    let t = s.t();
    s.core
        .agent_command(
            t,
            dering_control::AgentAction::Login {
                agent: "2001".into(),
                pin: "1234".into(),
                extension: "1003".into(),
            },
        )
        .unwrap();
    s.advance(Duration::from_secs(1));
    let offer = desk.expect_request(&mut s, "INVITE");
    let from = offer.get("From").unwrap_or_default();
    assert!(from.contains("+6281211110001"), "{from}");
}

/// The next final response to the carrier, skipping provisional ones and
/// the box's retransmissions of earlier 200s.
fn next_final(s: &mut Sim, c: &mut Phone) -> Message {
    loop {
        let m = c.next_msg(s);
        let cseq = m.get("Call-ID").unwrap_or_default().to_string();
        if m.status().is_some_and(|st| st >= 200) && cseq != "carrier-1" {
            return m;
        }
    }
}

/// A DID may ring an extension or a queue instead of a flow (TEL-10):
/// the carrier's call to the extension's DID rings that phone, and the
/// call to the queue's DID reaches the logged-in agent without a menu.
#[test]
fn a_did_rings_an_extension_or_a_queue() {
    let mut s = trunk_box(|t| {
        t + "\n[[did]]\nnumber = \"0215551002\"\nextension = \"1002\"\n\n[[did]]\nnumber = \"1500170\"\nqueue = \"pengaduan\"\n"
    });
    let mut phone = Phone::registered(&mut s, "1002");
    let mut c = carrier();
    let from = "From: <sip:081234567890@127.0.0.9>;tag=c1\r\n";
    let mut d = carrier_invite(
        &mut s,
        &mut c,
        1,
        "sip:+62215551002@127.0.0.1;user=phone",
        &format!("{from}To: <sip:+62215551002@127.0.0.1>\r\n"),
    );
    let (inv, _) = phone.answer(&mut s);
    assert!(
        inv.get("From")
            .unwrap_or_default()
            .contains("+6281234567890"),
        "{inv:?}"
    );
    c.expect_response(&mut s, 180);
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut d, &ok);
    assert_eq!(callees(&s)[0].0, "1002");

    let mut desk = Phone::registered(&mut s, "1003");
    let t = s.t();
    s.core
        .agent_command(
            t,
            dering_control::AgentAction::Login {
                agent: "2001".into(),
                pin: "1234".into(),
                extension: "1003".into(),
            },
        )
        .unwrap();
    s.advance(Duration::from_secs(1));
    let mut q = carrier_invite(
        &mut s,
        &mut c,
        2,
        "sip:62211500170@127.0.0.1",
        &format!("{from}To: <sip:62211500170@127.0.0.1>\r\n"),
    );
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut q, &ok);
    s.advance(Duration::from_millis(100));
    let offer = desk.expect_request(&mut s, "INVITE");
    assert!(
        offer.get("From").unwrap_or_default().contains("pengaduan"),
        "{offer:?}"
    );
    assert_eq!(
        callees(&s)[1],
        ("+62211500170".to_string(), Some("pengaduan".to_string()))
    );
}

/// One channel limit for both directions (TRK-3): a call out through the
/// trunk's only line leaves none for a call in, and a call in holds the
/// line against a call out.
#[test]
fn calls_in_and_out_share_the_trunks_lines() {
    let mut s = trunk_box_with(1, |t| {
        t + "\n[[route]]\nname = \"seluler\"\nclasses = [\"mobile\"]\ntrunks = [\"telkom\"]\n"
    });
    // The route above comes after the demo's, whose trunk is off.
    let mut a = Phone::registered(&mut s, "1001");
    let mut c = carrier();
    a.invite(&mut s, "081234567890");
    let out = c.expect_request(&mut s, "INVITE");
    c.respond(&mut s, &out, 180, "", "");
    let headers = "From: <sip:081299999999@127.0.0.9>;tag=c1\r\nTo: <sip:137@127.0.0.1>\r\n";
    carrier_invite(&mut s, &mut c, 1, "sip:137@127.0.0.1", headers);
    c.expect_response(&mut s, 503);
    assert_eq!(s.core.trunk_calls_in("telkom"), 0);

    // The other way: a call in on the only line, and 1001's call out
    // finds no line (nothing reaches the carrier).
    let mut s = trunk_box_with(1, |t| {
        t + "\n[[route]]\nname = \"seluler\"\nclasses = [\"mobile\"]\ntrunks = [\"telkom\"]\n"
    });
    let mut a = Phone::registered(&mut s, "1001");
    let mut c = carrier();
    let mut d = carrier_invite(&mut s, &mut c, 1, "sip:137@127.0.0.1", headers);
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut d, &ok);
    assert_eq!(s.core.trunk_calls_in("telkom"), 1);
    a.invite(&mut s, "081234567890");
    let refused = a.next_msg(&mut s);
    assert!(refused.status().is_some_and(|st| st >= 400), "{refused:?}");
    c.expect_quiet(&mut s);
}

/// The callers of the calls recorded so far.
fn recorded(s: &Sim) -> Vec<String> {
    s.media
        .iter()
        .filter_map(|m| match m {
            MediaCmd::Record { meta, .. } => Some(meta.caller.clone()),
            _ => None,
        })
        .collect()
}

/// REC-2 (issue 13): `[[recording.rule]] trunk = "telkom"` records the
/// calls that came in by that trunk, decided at answer, and not the same
/// extension's internal calls.
#[test]
fn a_trunk_recording_rule_records_the_calls_in_by_that_trunk() {
    let mut s = trunk_box(|t| {
        t.replace("percent = 100", "percent = 0")
            + "\n[[did]]\nnumber = \"0215551002\"\nextension = \"1002\"\n\n[[recording.rule]]\ntrunk = \"telkom\"\npercent = 100\n"
    });
    let mut phone = Phone::registered(&mut s, "1002");
    let mut inside = Phone::registered(&mut s, "1001");
    let mut d = inside.invite(&mut s, "1002");
    let (_, _) = phone.answer(&mut s);
    inside.expect_response(&mut s, 180);
    let ok = inside.expect_response(&mut s, 200);
    inside.ack_2xx(&mut s, &mut d, &ok);
    assert!(recorded(&s).is_empty(), "{:?}", recorded(&s));

    let mut c = carrier();
    let from = "From: <sip:081234567890@127.0.0.9>;tag=c1\r\n";
    let mut d = carrier_invite(
        &mut s,
        &mut c,
        1,
        "sip:+62215551002@127.0.0.1;user=phone",
        &format!("{from}To: <sip:+62215551002@127.0.0.1>\r\n"),
    );
    assert!(recorded(&s).is_empty(), "not before the answer");
    let (_, _) = phone.answer(&mut s);
    c.expect_response(&mut s, 180);
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut d, &ok);
    assert_eq!(recorded(&s), vec!["+6281234567890".to_string()]);
}

/// ACD-4 through the trunk (issue 13), in virtual time: a mobile caller
/// who came in by the carrier waits in the queue, presses 1, hears the
/// confirmation and is let go; when an agent logs in, the agent's phone
/// rings first and then the box calls the mobile back through the trunk,
/// under the queue's callback permission (national).
#[test]
fn a_queue_callback_reaches_the_callers_mobile_through_the_trunk() {
    let mut s = trunk_box(|t| {
        t.replace("trunks = [\"demo\"]", "trunks = [\"telkom\"]")
            .replace(
                "callback = true",
                "callback = true\ncallback_permission = \"national\"",
            )
            + "\n[[did]]\nnumber = \"1500170\"\nqueue = \"pengaduan\"\n"
    });
    // The agent is logged in but busy elsewhere: the caller waits.
    let mut desk = Phone::registered(&mut s, "1003");
    let t = s.t();
    s.core
        .agent_command(
            t,
            dering_control::AgentAction::Login {
                agent: "2001".into(),
                pin: "1234".into(),
                extension: "1003".into(),
            },
        )
        .unwrap();
    let t = s.t();
    s.core
        .agent_command(
            t,
            dering_control::AgentAction::NotReady {
                agent: "2001".into(),
                code: "2".into(),
            },
        )
        .unwrap();
    s.advance(Duration::from_secs(1));
    let mut c = carrier();
    let from = "From: <sip:081234567890@127.0.0.9>;tag=c1\r\n";
    let mut d = carrier_invite(
        &mut s,
        &mut c,
        2,
        "sip:62211500170@127.0.0.1",
        &format!("{from}To: <sip:62211500170@127.0.0.1>\r\n"),
    );
    let ok = next_final(&mut s, &mut c);
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack_2xx(&mut s, &mut d, &ok);
    s.advance(Duration::from_secs(2));
    let call = s
        .media
        .iter()
        .find_map(|m| match m {
            MediaCmd::Local { call, .. } => Some(*call),
            _ => None,
        })
        .expect("the queue's call is answered here");
    s.key(call, '1');
    s.advance(Duration::from_secs(15));
    let bye = c.expect_request(&mut s, "BYE");
    c.respond(&mut s, &bye, 200, "", "");

    let t = s.t();
    s.core
        .agent_command(
            t,
            dering_control::AgentAction::Ready {
                agent: "2001".into(),
            },
        )
        .unwrap();
    s.advance(Duration::from_secs(1));
    desk.answer(&mut s);
    // (Past the BYE's retransmissions from before it was answered.)
    let out = loop {
        let m = c.next_msg(&mut s);
        if m.method().is_some_and(|m| m.to_string() == "INVITE") {
            break m;
        }
    };
    let uri = out.request_uri().unwrap_or_default();
    assert!(uri.contains("81234567890@127.0.0.9"), "{uri}");
}
