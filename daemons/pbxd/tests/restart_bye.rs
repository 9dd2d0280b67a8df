//! A box restarted after a crash hangs up the phones of the calls it cut
//! (issue 17 §6, decision 0028), in virtual time: the dialogs the core
//! wrote to the store while a call was up are given to a new core, which
//! sends each leg a BYE in its dialog.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::collections::BTreeMap;
use std::time::Duration;

use dering_sip::transaction::{Peer, Transport};
use dering_sip::Message;
use dering_store::{DialogRow, Op};
use sim::{answered_call, sdp, Dialog, Phone, Sim};

/// The dialog rows the store holds after `writes`, applied in order.
fn stored(writes: &[Op]) -> Vec<DialogRow> {
    let mut rows: BTreeMap<(String, String), DialogRow> = BTreeMap::new();
    for op in writes {
        match op {
            Op::DialogSaved(r) => {
                rows.insert((r.uuid.clone(), r.leg.clone()), r.clone());
            }
            Op::DialogGone { uuid, leg } => {
                rows.retain(|(u, l), _| !(u == uuid && leg.as_ref().is_none_or(|x| x == l)));
            }
            _ => {}
        }
    }
    rows.into_values().collect()
}

fn tag(v: &str) -> String {
    v.split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_default()
        .trim_end_matches('>')
        .to_string()
}

/// `bye` is a request in the phone's dialog `d`: its Call-ID, the box's
/// tag in From and the phone's in To, and the phone's contact `target`
/// as Request-URI.
fn in_dialog(bye: &Message, d: &Dialog, target: &str) {
    assert_eq!(bye.call_id(), Some(d.call_id.as_str()));
    assert_eq!(tag(bye.get("From").unwrap()), tag(&d.remote));
    assert_eq!(tag(bye.get("To").unwrap()), tag(&d.local));
    assert_eq!(bye.request_uri(), Some(target));
    assert!(bye.get("Reason").unwrap().starts_with("Q.850;cause=41"));
}

/// A call answered, then held and resumed by the caller (two re-INVITEs
/// the box sends the callee: its CSeq moves on to 3).
fn held_and_resumed() -> (Sim, Phone, Phone, Dialog, Dialog) {
    let mut s = Sim::new(|t| t);
    let mut a = Phone::registered(&mut s, "1001");
    let mut b = Phone::registered(&mut s, "1002");
    let (mut da, db) = answered_call(&mut s, &mut a, &mut b);
    for direction in ["sendonly", "sendrecv"] {
        a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, direction));
        let re = b.expect_request(&mut s, "INVITE");
        let answer = if direction == "sendonly" {
            "recvonly"
        } else {
            "sendrecv"
        };
        b.respond(&mut s, &re, 200, "", &sdp(31_000, answer));
        b.expect_request(&mut s, "ACK");
        let ok = a.expect_response(&mut s, 200);
        a.ack_2xx(&mut s, &mut da, &ok);
    }
    (s, a, b, da, db)
}

#[test]
fn a_restarted_box_sends_both_legs_of_a_cut_call_a_bye_in_their_dialogs() {
    let (s, mut a, mut b, da, db) = held_and_resumed();
    let rows = stored(&s.writes);
    assert_eq!(
        rows.iter().map(|r| r.leg.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let uuid = rows[0].uuid.clone();
    // The box dies here; a new one starts with what the store holds.
    drop(s);
    let mut s = Sim::new(|t| t);
    let t = s.t();
    assert_eq!(s.core.bye_interrupted(t, &rows), 2);
    s.advance(Duration::ZERO);

    let bye_a = a.expect_request(&mut s, "BYE");
    in_dialog(&bye_a, &da, &format!("sip:1001@{}", a.addr));
    // The box never sent a request to the caller: its INVITE's dialog
    // starts at 1.
    assert_eq!(bye_a.get("CSeq"), Some("2 BYE"));
    let bye_b = b.expect_request(&mut s, "BYE");
    in_dialog(&bye_b, &db, &format!("sip:1002@{}", b.addr));
    // INVITE 1, the two re-INVITEs 2 and 3.
    assert_eq!(bye_b.get("CSeq"), Some("4 BYE"));

    a.respond(&mut s, &bye_a, 200, "", "");
    // The callee had hung up already: 481 ends its BYE just as well.
    b.respond(&mut s, &bye_b, 481, "", "");
    let notes = s.call_events("bye_after_restart");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("\"leg\":\"a\"") && notes[0].contains("\"answer\":200"));
    assert!(notes[1].contains("\"leg\":\"b\"") && notes[1].contains("\"answer\":481"));
    // Both rows are gone: a second restart sends nothing.
    let mut after = rows
        .iter()
        .cloned()
        .map(Op::DialogSaved)
        .collect::<Vec<_>>();
    after.append(&mut s.writes);
    assert!(stored(&after).is_empty());
    assert!(rows.iter().all(|r| r.uuid == uuid));
}

#[test]
fn a_bye_no_phone_answers_is_retransmitted_then_noted_as_unanswered() {
    let (s, mut a, _b, _da, _db) = held_and_resumed();
    let rows: Vec<DialogRow> = stored(&s.writes)
        .into_iter()
        .filter(|r| r.leg == "a")
        .collect();
    drop(s);
    let mut s = Sim::new(|t| t);
    let t = s.t();
    s.core.bye_interrupted(t, &rows);
    s.advance(Duration::ZERO);
    let first = a.expect_request(&mut s, "BYE");
    // Timer E: sent again at 500 ms.
    s.advance(Duration::from_millis(600));
    let again = a.expect_request(&mut s, "BYE");
    assert_eq!(again.get("CSeq"), first.get("CSeq"));
    assert!(s.call_events("bye_after_restart").is_empty());
    // Timer F: given up at 32 s, and said so.
    s.advance(Duration::from_secs(33));
    let notes = s.call_events("bye_after_restart");
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("\"answer\":null"), "{notes:?}");
}

#[test]
fn a_call_that_ends_leaves_no_dialog_behind() {
    let (mut s, mut a, mut b, mut da, _db) = held_and_resumed();
    assert_eq!(stored(&s.writes).len(), 2);
    a.in_dialog(&mut s, &mut da, "BYE", "", "");
    let bye = b.expect_request(&mut s, "BYE");
    b.respond(&mut s, &bye, 200, "", "");
    a.expect_response(&mut s, 200);
    assert!(stored(&s.writes).is_empty());
    // The rows went before the record's end, so no crash in between
    // leaves a row of an ended call.
    let gone = s
        .writes
        .iter()
        .position(|w| matches!(w, Op::DialogGone { .. }))
        .unwrap();
    let end = s
        .writes
        .iter()
        .position(|w| matches!(w, Op::CallEnd(_)))
        .unwrap();
    assert!(gone < end);
}

/// The rows of [`held_and_resumed`] as if the caller had called over
/// TCP, a new box that sent both BYEs, and the shell's word that the
/// caller's connection is gone (the box does not dial phones).
fn restarted_with_the_caller_on_tcp() -> (Sim, Phone, Phone, Dialog, Vec<DialogRow>) {
    let (s, a, b, da, _db) = held_and_resumed();
    let mut rows = stored(&s.writes);
    drop(s);
    rows[0].transport = "TCP".into();
    let peer = Peer {
        transport: Transport::Tcp,
        addr: rows[0].peer.parse().unwrap(),
    };
    let mut s = Sim::new(|t| t);
    let t = s.t();
    assert_eq!(s.core.bye_interrupted(t, &rows), 2);
    s.advance(Duration::ZERO);
    let t = s.t();
    s.core.transport_failed(t, peer, "its connection is gone");
    s.advance(Duration::ZERO);
    (s, a, b, da, rows)
}

#[test]
fn a_tcp_phone_gets_its_bye_on_its_new_connection_once_it_registers_again() {
    let (mut s, mut a, mut b, da, rows) = restarted_with_the_caller_on_tcp();
    // The UDP leg's BYE goes on regardless; the TCP leg waits, unnoted.
    let bye = b.expect_request(&mut s, "BYE");
    b.respond(&mut s, &bye, 200, "", "");
    assert_eq!(s.call_events("bye_after_restart").len(), 1);
    s.advance(Duration::from_secs(60));
    assert_eq!(s.call_events("bye_after_restart").len(), 1);

    // Another phone coming back over TCP is not sent it.
    let mut other = Phone::new(&mut s, "1003");
    other.reconnect(&mut s, Transport::Tcp);
    other.register(&mut s, 300);
    other.expect_quiet(&mut s);

    // The caller's phone reconnects from a new port and registers: the
    // BYE, in the dialog as it was, goes on that connection.
    a.reconnect(&mut s, Transport::Tcp);
    a.register(&mut s, 300);
    let bye = a.expect_request(&mut s, "BYE");
    in_dialog(&bye, &da, &rows[0].target);
    assert!(bye.get("Via").unwrap().starts_with("SIP/2.0/TCP"));
    a.respond(&mut s, &bye, 200, "", "");
    let notes = s.call_events("bye_after_restart");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[1].contains("\"leg\":\"a\"") && notes[1].contains("\"answer\":200"));
    // Registering again sends nothing more.
    a.register(&mut s, 300);
    a.expect_quiet(&mut s);
}

#[test]
fn a_tcp_phone_that_hangs_up_the_dead_call_itself_is_answered_and_noted() {
    let (mut s, mut a, _b, mut da, _rows) = restarted_with_the_caller_on_tcp();
    a.reconnect(&mut s, Transport::Tcp);
    a.in_dialog(&mut s, &mut da, "BYE", "", "");
    a.expect_response(&mut s, 200);
    let notes = s.call_events("bye_after_restart");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("the phone hung up itself"), "{notes:?}");
    // Nothing is left to send it.
    a.register(&mut s, 300);
    a.expect_quiet(&mut s);
}

#[test]
fn a_tcp_phone_that_never_comes_back_is_noted_after_the_longest_registration() {
    let (mut s, _a, _b, _da, _rows) = restarted_with_the_caller_on_tcp();
    let waiting = |s: &Sim| {
        s.call_events("bye_after_restart")
            .iter()
            .filter(|n| n.contains("\"leg\":\"a\""))
            .count()
    };
    s.advance(Duration::from_secs(3500));
    assert_eq!(waiting(&s), 0);
    s.advance(Duration::from_secs(200));
    assert_eq!(waiting(&s), 1);
    let notes = s.call_events("bye_after_restart");
    assert!(
        notes.iter().any(|n| n.contains("did not register again")),
        "{notes:?}"
    );
}

#[test]
fn a_blind_transfer_moves_the_stored_leg_to_the_target_which_a_restart_hangs_up() {
    let mut s = Sim::new(|t| t);
    let mut a = Phone::registered(&mut s, "1001");
    let mut b = Phone::registered(&mut s, "1002");
    let mut c = Phone::registered(&mut s, "1003");
    let (_da, mut db) = answered_call(&mut s, &mut a, &mut b);
    let refer_to = format!(
        "Refer-To: <sip:1003@{}>\r\nReferred-By: <sip:1002@{}>\r\n",
        s.box_addr(),
        s.box_addr()
    );
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    let (_, dc) = c.answer(&mut s);
    let _ = b.settle(&mut s);
    let _ = a.settle(&mut s);
    assert_eq!(s.core.active_calls(), 1);
    let rows = stored(&s.writes);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].call_id, dc.call_id, "the B leg is the target's now");
    drop(s);
    let mut s = Sim::new(|t| t);
    let t = s.t();
    s.core.bye_interrupted(t, &rows);
    s.advance(Duration::ZERO);
    let bye = c.expect_request(&mut s, "BYE");
    in_dialog(&bye, &dc, &format!("sip:1003@{}", c.addr));
    b.expect_quiet(&mut s);
}
