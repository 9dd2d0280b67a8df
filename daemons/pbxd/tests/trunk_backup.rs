//! A queue's backup number when its agents are gone (OPS-3, issue 13),
//! on the core alone in virtual time (see `sim/mod.rs`): a citizen who
//! calls in by a carrier finds no agent logged in and is put through to
//! the backup number (another site, mobile agents) through the outbound
//! route, whose first trunk is down or answers 503, so the second carries
//! the call, and the call record says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dering_store::Op;
use pbxd::core::MediaCmd;
use sim::{Dialog, Phone, Sim};

/// The route's first trunk (the demo's).
const CARRIER: &str = "127.0.0.5:5060";
/// The route's second trunk.
const BACKUP: &str = "127.0.0.6:5060";
/// The carrier the citizens call in by, in no route.
const INCOMING: &str = "127.0.0.9:5060";

/// The demo box: its queue `pengaduan` (no agent may join an empty queue)
/// answers DID 1500170 and has the backup number 081298765432; the route
/// `keluar` tries the demo trunk, then `cadangan`. Neither trunk is
/// probed (keep-alive is in trunk_scenarios.rs): the tests mark them.
fn backup_box() -> Sim {
    Sim::new(|t| {
        t.replacen(
            "kind = \"register\"",
            "kind = \"ip\"\naddresses = [\"127.0.0.5\"]",
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
        .replace("trunks = [\"demo\"]", "trunks = [\"demo\", \"cadangan\"]")
        .replace(
            "callback = true",
            "callback = true\nbackup_number = \"081298765432\"",
        )
            + "\n[[trunk]]\nname = \"cadangan\"\nkind = \"ip\"\nhost = \"127.0.0.6\"\naddresses = [\"127.0.0.6\"]\nnumber_format = \"e164\"\nkeepalive_seconds = 0\n"
            + "\n[[trunk]]\nname = \"masuk\"\nkind = \"ip\"\nhost = \"127.0.0.9\"\naddresses = [\"127.0.0.9\"]\nkeepalive_seconds = 0\n"
            + "\n[[did]]\nnumber = \"1500170\"\nqueue = \"pengaduan\"\n"
            + "\n[[did]]\nnumber = \"1500180\"\nflow = \"cadangan\"\n"
    })
}

/// A flow `cadangan` that puts its callers through to 081298765432 (with
/// `permission`, if any, as its `outside_permission`), and says goodbye
/// when it cannot.
fn publish_backup_flow(s: &mut Sim, permission: Option<&str>) {
    let permission = permission
        .map(|p| format!(r#","outside_permission":"{p}""#))
        .unwrap_or_default();
    let json = format!(
        r#"{{"name":"cadangan","start":"keluar"{permission},"nodes":{{"keluar":{{"type":"extension","number":"081298765432","on_fail":"bye"}},"bye":{{"type":"play","prompts":["goodbye"],"next":"end"}},"end":{{"type":"hangup"}}}}}}"#
    );
    let t = s.t();
    s.core.publish_flow(t, &json).unwrap();
}

fn carrier(addr: &str) -> Phone {
    Phone::at("carrier", addr.parse::<SocketAddr>().unwrap())
}

/// A citizen's call to the queue's DID from the incoming carrier,
/// answered by the box.
fn citizen_calls(s: &mut Sim, c: &mut Phone) -> Dialog {
    citizen_dials(s, c, "1500170")
}

/// A citizen's call to `did` (of the 021 area) from the incoming carrier,
/// answered by the box.
fn citizen_dials(s: &mut Sim, c: &mut Phone, did: &str) -> Dialog {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let ruri = format!("sip:6221{did}@127.0.0.1");
    let msg = format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {INCOMING};branch=z9hG4bKcitizen1\r\nMax-Forwards: 70\r\nFrom: <sip:081234567890@127.0.0.9>;tag=c1\r\nTo: <sip:6221{did}@127.0.0.1>\r\nCall-ID: citizen-1\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@{INCOMING}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.deliver(c.addr, &msg);
    let mut d = Dialog {
        call_id: "citizen-1".into(),
        local: "<sip:081234567890@127.0.0.9>;tag=c1".into(),
        remote: format!("<sip:6221{did}@127.0.0.1>"),
        target: ruri,
        cseq: 1,
        invite: Some(msg),
        branch: "z9hG4bKcitizen1".into(),
    };
    let ok = loop {
        let m = c.next_msg(s);
        if m.status().is_some_and(|st| st >= 200) {
            break m;
        }
    };
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    c.ack_2xx(s, &mut d, &ok);
    d
}

/// The trunk of the last outside record written.
fn last_outside_trunk(s: &Sim) -> Option<String> {
    s.writes.iter().rev().find_map(|op| match op {
        Op::CallOutside(o) => o.trunk.clone(),
        _ => None,
    })
}

fn bridged(s: &Sim) -> bool {
    s.media.iter().any(|m| matches!(m, MediaCmd::Bridge { .. }))
}

/// The first trunk is down (its keep-alive said so): the citizen, finding
/// no agent, reaches the backup number through the second trunk, in that
/// trunk's format, and is bridged to it; the record names the trunk and
/// the backup.
#[test]
fn callers_of_a_queue_without_agents_reach_the_backup_through_the_second_trunk() {
    let mut s = backup_box();
    let (mut first, mut second, mut c) = (carrier(CARRIER), carrier(BACKUP), carrier(INCOMING));
    s.core.trunk_down("demo");
    citizen_calls(&mut s, &mut c);
    s.advance(Duration::from_millis(100));
    let (inv, _) = second.answer(&mut s);
    let uri = inv.request_uri().unwrap_or_default();
    assert!(uri.contains("+6281298765432@127.0.0.6"), "{uri}");
    assert!(
        first.try_msg(&mut s).is_none(),
        "the trunk down got nothing"
    );
    assert!(bridged(&s), "the citizen is bridged to the backup");
    assert_eq!(s.call_events("backup"), ["pengaduan -> 081298765432"]);
    assert_eq!(last_outside_trunk(&s).as_deref(), Some("cadangan"));
}

/// The first trunk answers the backup call 503: the second carries it,
/// and the record says the call failed over.
#[test]
fn a_503_on_the_backup_call_fails_over_to_the_second_trunk() {
    let mut s = backup_box();
    let (mut first, mut second, mut c) = (carrier(CARRIER), carrier(BACKUP), carrier(INCOMING));
    citizen_calls(&mut s, &mut c);
    s.advance(Duration::from_millis(100));
    let inv = first.expect_request(&mut s, "INVITE");
    first.respond(&mut s, &inv, 503, "", "");
    s.advance(Duration::from_millis(100));
    second.answer(&mut s);
    assert!(bridged(&s), "the citizen is bridged to the backup");
    assert_eq!(s.call_events("trunk_failover"), ["demo -> cadangan (503)"]);
    assert_eq!(last_outside_trunk(&s).as_deref(), Some("cadangan"));
}

/// Both trunks fail: the citizen is not left in silence but hears
/// goodbye and is hung up on.
#[test]
fn a_backup_no_trunk_carries_ends_the_call() {
    let mut s = backup_box();
    let (mut first, mut second, mut c) = (carrier(CARRIER), carrier(BACKUP), carrier(INCOMING));
    citizen_calls(&mut s, &mut c);
    s.advance(Duration::from_millis(100));
    let inv = first.expect_request(&mut s, "INVITE");
    first.respond(&mut s, &inv, 503, "", "");
    s.advance(Duration::from_millis(100));
    let inv = second.expect_request(&mut s, "INVITE");
    second.respond(&mut s, &inv, 503, "", "");
    s.advance(Duration::from_secs(10));
    let bye = loop {
        let m = c.next_msg(&mut s);
        if m.method().is_some_and(|m| m.to_string() == "BYE") {
            break m;
        }
    };
    c.respond(&mut s, &bye, 200, "", "");
    assert!(!bridged(&s));
}

/// A flow's extension node dials an outside number under the flow's own
/// outside permission, through the route's second trunk when the first is
/// down; a flow without that permission never dials out and takes its
/// fallback (goodbye).
#[test]
fn a_flow_puts_callers_through_to_an_outside_number_under_its_permission() {
    let mut s = backup_box();
    let (mut first, mut second, mut c) = (carrier(CARRIER), carrier(BACKUP), carrier(INCOMING));
    publish_backup_flow(&mut s, Some("national"));
    s.core.trunk_down("demo");
    citizen_dials(&mut s, &mut c, "1500180");
    s.advance(Duration::from_millis(100));
    let (inv, _) = second.answer(&mut s);
    let uri = inv.request_uri().unwrap_or_default();
    assert!(uri.contains("+6281298765432@127.0.0.6"), "{uri}");
    assert!(
        first.try_msg(&mut s).is_none(),
        "the trunk down got nothing"
    );
    assert!(bridged(&s), "the citizen is bridged to the number");
    assert_eq!(last_outside_trunk(&s).as_deref(), Some("cadangan"));

    let mut s = backup_box();
    let (mut first, mut second, mut c) = (carrier(CARRIER), carrier(BACKUP), carrier(INCOMING));
    publish_backup_flow(&mut s, None);
    citizen_dials(&mut s, &mut c, "1500180");
    s.advance(Duration::from_secs(10));
    assert!(first.try_msg(&mut s).is_none());
    assert!(second.try_msg(&mut s).is_none());
    assert!(last_outside_trunk(&s).is_none());
    let bye = loop {
        let m = c.next_msg(&mut s);
        if m.method().is_some_and(|m| m.to_string() == "BYE") {
            break m;
        }
    };
    c.respond(&mut s, &bye, 200, "", "");
}
