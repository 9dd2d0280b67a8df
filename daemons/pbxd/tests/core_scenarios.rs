//! The call-control scenarios on the core alone, in virtual time (issue 12
//! §2): simulated phones, no sockets, no sleeps (see `sim/mod.rs`). The
//! same scenarios run against the real binary with sipp and baresip in
//! `hwtests/` for interop; these pin down the state machine and its
//! timers and run in milliseconds (TEL-1, TEL-2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::time::Duration;

use dering_acd::AgentState;
use dering_sip::Message;
use sim::{answered_call, sdp, Dialog, Phone, Sim};

fn demo() -> Sim {
    // The demo rings for 30 s before giving up.
    Sim::new(|t| t)
}

/// The callee `b` of `a`'s call (`inv`, `a`'s dialog `da`) is cancelled
/// for no answer, and the caller told 480; the record says no answer.
fn rang_out(s: &mut Sim, a: &mut Phone, b: &mut Phone, inv: &Message, da: &Dialog) {
    let cancel = b.expect_request(s, "CANCEL");
    b.respond(s, &cancel, 200, "", "");
    b.respond(s, inv, 487, "", "");
    let r = a.expect_response(s, 480);
    a.ack_final(s, da, &r);
    assert_eq!(s.ends()[0].1, "no_answer");
}

/// The demo box with phones registered at `exts`, in that order.
fn demo_with<const N: usize>(exts: [&str; N]) -> (Sim, [Phone; N]) {
    let mut s = demo();
    let phones = exts.map(|e| Phone::registered(&mut s, e));
    (s, phones)
}

#[test]
fn a_call_is_answered_and_hung_up_by_the_caller() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (mut da, _db) = answered_call(&mut s, &mut a, &mut b);
    assert_eq!(s.core.active_calls(), 1);
    s.advance(Duration::from_secs(60));
    a.in_dialog(&mut s, &mut da, "BYE", "", "");
    let bye = b.expect_request(&mut s, "BYE");
    b.respond(&mut s, &bye, 200, "", "");
    a.expect_response(&mut s, 200);
    s.advance(Duration::from_secs(1));
    assert_eq!(s.core.active_calls(), 0);
    let ends = s.ends();
    assert_eq!(ends.len(), 1);
    assert_eq!(
        (ends[0].1.as_str(), ends[0].2.as_str()),
        ("answered", "caller")
    );
    // The demo records every call; the feed tells each step once.
    assert_eq!(
        s.feed(),
        ["offered", "ringing", "answered", "recorded", "ended"]
    );
}

#[test]
fn the_callee_hangs_up() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (_da, mut db) = answered_call(&mut s, &mut a, &mut b);
    b.in_dialog(&mut s, &mut db, "BYE", "", "");
    let bye = a.expect_request(&mut s, "BYE");
    a.respond(&mut s, &bye, 200, "", "");
    b.expect_response(&mut s, 200);
    assert_eq!(s.ends()[0].2, "callee");
}

#[test]
fn the_caller_cancels_while_it_rings() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let da = a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 180, "", "");
    a.expect_response(&mut s, 180);
    a.cancel(&mut s, &da);
    a.expect_response(&mut s, 200); // to the CANCEL
    let cancel = b.expect_request(&mut s, "CANCEL");
    b.respond(&mut s, &cancel, 200, "", "");
    b.respond(&mut s, &inv, 487, "", "");
    b.expect_request(&mut s, "ACK");
    let r = a.expect_response(&mut s, 487);
    a.ack_final(&mut s, &da, &r);
    s.advance(Duration::from_secs(40));
    a.expect_quiet(&mut s);
    assert_eq!(s.ends()[0].1, "cancelled");
    assert_eq!(s.core.active_calls(), 0);
}

#[test]
fn a_busy_callee_is_busy_for_the_caller() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let da = a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 486, "", "");
    b.expect_request(&mut s, "ACK");
    let r = a.expect_response(&mut s, 486);
    a.ack_final(&mut s, &da, &r);
    assert_eq!(s.ends()[0].1, "busy");
}

#[test]
fn an_unanswered_call_gives_up_at_the_no_answer_time() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let da = a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 180, "", "");
    a.expect_response(&mut s, 180);
    // Not yet at 29 s...
    s.advance(Duration::from_secs(29));
    a.expect_quiet(&mut s);
    // ...given up by 31 s: the callee is cancelled, the caller told.
    s.advance(Duration::from_secs(2));
    rang_out(&mut s, &mut a, &mut b, &inv, &da);
}

#[test]
fn an_unregistered_extension_is_unavailable_and_an_unknown_one_not_found() {
    let mut s = demo();
    let mut a = Phone::registered(&mut s, "1001");
    let da = a.invite(&mut s, "1002");
    let r = a.expect_response(&mut s, 480);
    a.ack_final(&mut s, &da, &r);
    let da = a.invite(&mut s, "1999");
    let r = a.expect_response(&mut s, 404);
    a.ack_final(&mut s, &da, &r);
}

#[test]
fn hold_and_resume_pass_through_as_re_invites() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (mut da, _db) = answered_call(&mut s, &mut a, &mut b);
    for direction in ["sendonly", "sendrecv"] {
        a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, direction));
        let re = b.expect_request(&mut s, "INVITE");
        assert!(
            String::from_utf8_lossy(&re.body).contains(&format!("a={direction}")),
            "{direction}: {:?}",
            String::from_utf8_lossy(&re.body)
        );
        let answer = if direction == "sendonly" {
            "recvonly"
        } else {
            "sendrecv"
        };
        b.respond(&mut s, &re, 200, "", &sdp(31_000, answer));
        b.expect_request(&mut s, "ACK");
        let ok = a.expect_response(&mut s, 200);
        assert!(String::from_utf8_lossy(&ok.body).contains(&format!("a={answer}")));
        a.ack_2xx(&mut s, &mut da, &ok);
    }
    assert_eq!(s.core.active_calls(), 1);
}

/// The music-on-hold commands the box gave for `call`'s caller so far:
/// whether each one plays music.
fn caller_holds(s: &Sim) -> Vec<bool> {
    s.media
        .iter()
        .filter_map(|m| match m {
            pbxd::core::MediaCmd::Hold { held, music, .. } if *held == pbxd::core::Side::A => {
                Some(!music.is_empty())
            }
            _ => None,
        })
        .collect()
}

/// The agent desktop's hold (issue 16): the control socket's hold of the
/// callee's call re-INVITEs the caller `sendonly`, plays it music and
/// says `held` on the feed and in the record, as the phone's own hold
/// does; resume takes it back to `sendrecv` and stops the music. An
/// unknown call is refused as no such call.
#[test]
fn the_desktop_holds_and_resumes_the_caller() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (_da, _db) = answered_call(&mut s, &mut a, &mut b);
    let uuid = s.core.calls()[0].parties.uuid.clone();
    for (held, direction) in [(true, "sendonly"), (false, "sendrecv")] {
        let t = s.t();
        s.core.hold_uuid(t, &uuid, held).unwrap();
        s.advance(Duration::from_millis(1));
        let re = a.expect_request(&mut s, "INVITE");
        let body = String::from_utf8_lossy(&re.body).to_string();
        assert!(body.contains(&format!("a={direction}")), "{body}");
        let answer = if held { "recvonly" } else { "sendrecv" };
        a.respond(&mut s, &re, 200, "", &sdp(30_000, answer));
        a.expect_request(&mut s, "ACK");
        assert!(
            b.try_msg(&mut s).is_none(),
            "the agent's phone is left alone"
        );
    }
    assert_eq!(caller_holds(&s), [true, false]);
    let feed = s.feed();
    assert!(
        feed.iter().any(|k| k == "held") && feed.iter().any(|k| k == "resumed"),
        "{feed:?}"
    );
    assert_eq!(s.call_events("hold"), ["sendonly by callee (desktop)"]);
    assert_eq!(s.call_events("resume"), ["sendrecv by callee (desktop)"]);
    assert_eq!(s.core.active_calls(), 1);
    let t = s.t();
    let e = s.core.hold_uuid(t, "no-such-call", true).unwrap_err();
    assert!(
        matches!(e, dering_control::ControlError::NoSuchCall { .. }),
        "{e}"
    );
}

/// An agent's call (1001 calling agent phone 1002) and its consultation
/// of 1003 from the desktop: the caller held (and its re-INVITE
/// answered), the agent's phone and 1003 answered. The call's UUID and
/// the consultation's.
fn consulting(s: &mut Sim, a: &mut Phone, b: &mut Phone, c: &mut Phone) -> (String, String) {
    answered_call(s, a, b);
    let uuid = s.core.calls()[0].parties.uuid.clone();
    let t = s.t();
    let consult = s.core.consult_uuid(t, &uuid, "1003").unwrap();
    s.advance(Duration::from_millis(1));
    let re = a.expect_request(s, "INVITE");
    assert!(String::from_utf8_lossy(&re.body).contains("a=sendonly"));
    a.respond(s, &re, 200, "", &sdp(30_000, "recvonly"));
    a.expect_request(s, "ACK");
    b.answer(s);
    c.answer(s);
    assert_eq!(s.core.active_calls(), 2);
    (uuid, consult)
}

/// The desktop's attended transfer (issue 16): consult holds the caller
/// and calls the target from the agent's phone; complete joins caller
/// and target in the first call (the target re-INVITEd onto it, the
/// caller taken off hold) and lets the agent go on both calls, one
/// record saying attended. Another agent's consultation is refused.
#[test]
fn the_desktop_consults_then_completes_an_attended_transfer() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (uuid, consult) = consulting(&mut s, &mut a, &mut b, &mut c);
    // A call not placed from the agent's phone (here the caller's own)
    // is no consultation of it.
    let t = s.t();
    let e = s.core.complete_transfer_uuid(t, &uuid, &uuid).unwrap_err();
    assert!(e.to_string().contains("not a consultation"), "{e}");
    let t = s.t();
    s.core.complete_transfer_uuid(t, &uuid, &consult).unwrap();
    s.advance(Duration::from_millis(1));
    let seen_c = c.settle(&mut s);
    assert!(seen_c.contains(&"INVITE".to_string()), "{seen_c:?}");
    let seen_b = b.settle(&mut s);
    assert_eq!(
        seen_b.iter().filter(|m| *m == "BYE").count(),
        2,
        "{seen_b:?}"
    );
    let seen_a = a.settle(&mut s);
    assert!(
        seen_a.contains(&"INVITE".to_string()),
        "taken off hold: {seen_a:?}"
    );
    s.advance(Duration::from_secs(1));
    assert_eq!(s.call_events("transferred"), ["attended by 1002 to 1003"]);
    assert_eq!(caller_holds(&s), [true, false]);
}

/// Cancelling a consultation hangs it up and takes the caller off hold;
/// the agent and the caller go on talking.
#[test]
fn the_desktop_cancels_a_consultation_back_to_the_caller() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (uuid, consult) = consulting(&mut s, &mut a, &mut b, &mut c);
    let t = s.t();
    s.core.cancel_consult_uuid(t, &uuid, &consult).unwrap();
    s.advance(Duration::from_millis(1));
    assert_eq!(c.settle(&mut s), ["BYE"]);
    assert_eq!(b.settle(&mut s), ["BYE"]);
    let re = a.expect_request(&mut s, "INVITE");
    assert!(String::from_utf8_lossy(&re.body).contains("a=sendrecv"));
    s.advance(Duration::from_secs(1));
    assert_eq!(s.core.active_calls(), 1);
    assert_eq!(caller_holds(&s), [true, false]);
}

/// The desktop's conference (issue 16): the box calls the third party
/// from the agent's side and, once it answers, mixes caller, agent and
/// it in one room, as the phone's `*3` does; a second one is refused.
#[test]
fn the_desktop_adds_a_third_party_into_a_conference() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    answered_call(&mut s, &mut a, &mut b);
    let uuid = s.core.calls()[0].parties.uuid.clone();
    let t = s.t();
    s.core.conference_uuid(t, &uuid, "1003").unwrap();
    s.advance(Duration::from_millis(1));
    c.answer(&mut s);
    s.advance(Duration::from_millis(1));
    let rooms: Vec<u64> = s
        .media
        .iter()
        .filter_map(|m| match m {
            pbxd::core::MediaCmd::Join { room, .. } => Some(*room),
            _ => None,
        })
        .collect();
    assert_eq!(rooms.len(), 3, "{rooms:?}");
    assert!(rooms.iter().all(|r| *r == rooms[0]), "one room: {rooms:?}");
    assert_eq!(s.call_events("three_way"), ["calling 1003", "joined 1003"]);
    let t = s.t();
    let e = s.core.conference_uuid(t, &uuid, "1003").unwrap_err();
    assert!(e.to_string().contains("already three"), "{e}");
}

/// The desktop's conference with a consultation up (issue 16): the
/// party consulted is not called again but moved into a three-way with
/// the caller (off hold) and the agent: one in-dialog re-INVITE to it
/// (onto a port of the call's relay thread group), the agent's
/// consultation leg hung up and the consultation ended, the three legs
/// in one room, and the record saying three-way as for `*3`. A wrong
/// number is refused first, changing nothing. When the added party
/// hangs up, caller and agent go on as two.
#[test]
fn the_desktop_conferences_the_party_it_consulted_without_calling_it_again() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (uuid, consult) = consulting(&mut s, &mut a, &mut b, &mut c);
    let t = s.t();
    let e = s
        .core
        .conference_consult_uuid(t, &uuid, &consult, "1004")
        .unwrap_err();
    assert!(e.to_string().contains("not the number consulted"), "{e}");
    s.advance(Duration::from_millis(1));
    assert_eq!(c.settle(&mut s), Vec::<String>::new());
    let host_group = s
        .media
        .iter()
        .find_map(|m| match m {
            pbxd::core::MediaCmd::Open { group, .. } => Some(*group),
            _ => None,
        })
        .unwrap();
    s.media.clear();

    let t = s.t();
    s.core
        .conference_consult_uuid(t, &uuid, &consult, "1003")
        .unwrap();
    s.advance(Duration::from_millis(1));
    // The target: a re-INVITE in its dialog (a To tag: not a new call).
    let re = c.expect_request(&mut s, "INVITE");
    assert!(re.get("To").unwrap_or_default().contains("tag="), "{re:?}");
    let moved_to = String::from_utf8_lossy(&re.body).to_string();
    c.respond(&mut s, &re, 200, "", &sdp(31_000, "sendrecv"));
    c.expect_request(&mut s, "ACK");
    assert_eq!(c.settle(&mut s), Vec::<String>::new(), "nothing else");
    // The agent: its consultation leg only.
    assert_eq!(b.settle(&mut s), ["BYE"]);
    // The caller: off hold.
    let seen_a = a.settle(&mut s);
    assert_eq!(seen_a, ["INVITE", "ACK"], "taken off hold");
    // (The consult's music was before the media log was cleared.)
    assert_eq!(caller_holds(&s), [false], "its music stopped");
    s.advance(Duration::from_secs(1));

    let opened: Vec<(u64, u16, u64)> = s
        .media
        .iter()
        .filter_map(|m| match m {
            pbxd::core::MediaCmd::Open {
                call,
                b_port,
                group,
                ..
            } => Some((*call, *b_port, *group)),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let (added, b_port, group) = opened[0];
    assert_eq!(group, host_group, "mixed on the call's relay thread");
    assert!(
        moved_to.contains(&format!("m=audio {b_port} ")),
        "{moved_to}"
    );
    let joins: Vec<(u64, u64, pbxd::core::Side)> = s
        .media
        .iter()
        .filter_map(|m| match m {
            pbxd::core::MediaCmd::Join {
                room, call, side, ..
            } => Some((*room, *call, *side)),
            _ => None,
        })
        .collect();
    assert_eq!(joins.len(), 3, "{joins:?}");
    assert!(
        joins.iter().all(|j| j.0 == joins[0].0),
        "one room: {joins:?}"
    );
    assert!(joins
        .iter()
        .any(|j| j.1 == added && j.2 == pbxd::core::Side::B));
    assert_eq!(
        s.call_events("three_way"),
        [format!("consulted 1003 in {consult}"), "joined 1003".into()]
    );
    let ends = s.ends();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(
        ends[0],
        (consult.clone(), "answered".into(), "system".into())
    );
    assert_eq!(s.core.active_calls(), 2);
    let t = s.t();
    let e = s
        .core
        .conference_consult_uuid(t, &uuid, &consult, "")
        .unwrap_err();
    assert!(
        matches!(e, dering_control::ControlError::NoSuchCall { .. }),
        "the consultation is over: {e}"
    );

    // The added party leaves: back to two.
    let mut dc = c.dialog_of(&re);
    c.in_dialog(&mut s, &mut dc, "BYE", "", "");
    c.expect_response(&mut s, 200);
    s.advance(Duration::from_millis(1));
    assert!(s
        .media
        .iter()
        .any(|m| matches!(m, pbxd::core::MediaCmd::Leave { .. })));
    assert_eq!(s.core.active_calls(), 1);
    assert_eq!(a.settle(&mut s), Vec::<String>::new());
}

#[test]
fn a_200_crossing_the_cancel_is_acked_and_hung_up() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let da = a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 180, "", "");
    a.expect_response(&mut s, 180);
    a.cancel(&mut s, &da);
    a.expect_response(&mut s, 200);
    let cancel = b.expect_request(&mut s, "CANCEL");
    // The callee had already answered: its 200 crosses the CANCEL.
    b.respond(&mut s, &inv, 200, "", &sdp(31_000, "sendrecv"));
    b.respond(&mut s, &cancel, 200, "", "");
    b.expect_request(&mut s, "ACK");
    b.expect_request(&mut s, "BYE");
    let r = a.expect_response(&mut s, 487);
    a.ack_final(&mut s, &da, &r);
    assert_eq!(s.ends()[0].1, "cancelled");
}

#[test]
fn a_bye_while_a_re_invite_is_pending_ends_the_call() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (mut da, _db) = answered_call(&mut s, &mut a, &mut b);
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "sendonly"));
    let re = b.expect_request(&mut s, "INVITE");
    // The callee hangs up instead of answering the re-INVITE.
    let mut db = b.dialog_of(&re);
    b.in_dialog(&mut s, &mut db, "BYE", "", "");
    b.expect_response(&mut s, 200);
    // The caller hears the end of the call, whatever became of its
    // re-INVITE.
    let mut saw_bye = false;
    while let Some(m) = a.try_msg(&mut s) {
        if m.method().map(|x| x.to_string()).as_deref() == Some("BYE") {
            a.respond(&mut s, &m, 200, "", "");
            saw_bye = true;
        }
    }
    assert!(saw_bye);
    s.advance(Duration::from_secs(40));
    assert_eq!(s.core.active_calls(), 0);
}

/// Both parties re-INVITE at once (RFC 3261 §14.1 glare): the box, with
/// the caller's re-INVITE on its way to the callee, answers the callee's
/// 491; the callee, whose own was pending, answers the box's 491 too, and
/// the box passes that back to the caller. Each retries after its back-off
/// (the callee first: it does not own its dialog's Call-ID) and both
/// re-INVITEs go through.
#[test]
fn crossing_re_invites_get_491_and_both_go_through_on_retry() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (mut da, mut db) = answered_call(&mut s, &mut a, &mut b);
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "sendonly"));
    let from_a = b.expect_request(&mut s, "INVITE");
    b.in_dialog(&mut s, &mut db, "INVITE", "", &sdp(31_000, "sendonly"));
    let r = b.expect_response(&mut s, 491);
    b.ack_final(&mut s, &db, &r);
    b.respond(&mut s, &from_a, 491, "", "");
    b.expect_request(&mut s, "ACK");
    let r = a.expect_response(&mut s, 491);
    a.ack_final(&mut s, &da, &r);

    // The callee's retry, within its 0-2 s.
    s.advance(Duration::from_millis(1_500));
    b.in_dialog(&mut s, &mut db, "INVITE", "", &sdp(31_000, "sendonly"));
    let re = a.expect_request(&mut s, "INVITE");
    assert!(String::from_utf8_lossy(&re.body).contains("a=sendonly"));
    a.respond(&mut s, &re, 200, "", &sdp(30_000, "recvonly"));
    a.expect_request(&mut s, "ACK");
    let ok = b.expect_response(&mut s, 200);
    b.ack_2xx(&mut s, &mut db, &ok);

    // The caller's, within its 2.1-4 s.
    s.advance(Duration::from_millis(1_500));
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "sendonly"));
    let re = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &re, 200, "", &sdp(31_000, "recvonly"));
    b.expect_request(&mut s, "ACK");
    let ok = a.expect_response(&mut s, 200);
    a.ack_2xx(&mut s, &mut da, &ok);

    assert_eq!(s.core.active_calls(), 1);
    // Each re-INVITE passed on is recorded (the one answered 491 too);
    // the callee's refused by the box never was.
    let holds = s.call_events("hold");
    assert_eq!(
        holds,
        [
            "sendonly by caller",
            "sendonly by callee",
            "sendonly by caller"
        ],
        "{holds:?}"
    );
    a.expect_quiet(&mut s);
    b.expect_quiet(&mut s);
}

/// A re-INVITE whose CSeq is not above the last request of its dialog is
/// out of order (RFC 3261 §12.2.2): 500, and nothing reaches the other
/// party. A second re-INVITE before the first is answered gets 500 with a
/// Retry-After (§14.2). Before the dialog moved into `dering-sip`, both
/// were passed on (or answered 491).
#[test]
fn an_out_of_order_or_overlapping_re_invite_gets_500() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (mut da, _db) = answered_call(&mut s, &mut a, &mut b);
    a.in_dialog(&mut s, &mut da, "INFO", "", "");
    a.expect_response(&mut s, 200);
    // The same CSeq as the INFO: a replay.
    da.cseq -= 1;
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "sendonly"));
    let r = a.expect_response(&mut s, 500);
    a.ack_final(&mut s, &da, &r);
    b.expect_quiet(&mut s);

    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "sendonly"));
    let first = b.expect_request(&mut s, "INVITE");
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "inactive"));
    let r = a.expect_response(&mut s, 500);
    let secs: u32 = r.get("Retry-After").unwrap().parse().unwrap();
    assert!(secs <= 10, "{secs}");
    a.ack_final(&mut s, &da, &r);
    b.expect_quiet(&mut s);
    // The first goes on.
    b.respond(&mut s, &first, 200, "", &sdp(31_000, "recvonly"));
    b.expect_request(&mut s, "ACK");
    a.expect_response(&mut s, 200);
}

/// A re-INVITE and the 2xx to one refresh the remote target (RFC 3261
/// §12.2): a phone that comes back with a new Contact gets the later BYE
/// there. Before the dialog moved into `dering-sip`, the box kept sending
/// to the Contact of the call's first INVITE.
#[test]
fn a_re_invite_and_its_answer_move_the_target_of_later_requests() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    let (mut da, mut db) = answered_call(&mut s, &mut a, &mut b);
    // Both phones answer with a new Contact (their user part changed).
    a.ext = "1001-moved".into();
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(30_000, "sendonly"));
    let re = b.expect_request(&mut s, "INVITE");
    b.ext = "1002-moved".into();
    b.respond(&mut s, &re, 200, "", &sdp(31_000, "recvonly"));
    let ack = b.expect_request(&mut s, "ACK");
    assert_eq!(
        ack.request_uri(),
        Some(format!("sip:1002-moved@{}", b.addr).as_str())
    );
    let ok = a.expect_response(&mut s, 200);
    a.ack_2xx(&mut s, &mut da, &ok);
    // The callee hangs up: the caller's BYE goes to its new target.
    b.in_dialog(&mut s, &mut db, "BYE", "", "");
    let bye = a.expect_request(&mut s, "BYE");
    assert_eq!(
        bye.request_uri(),
        Some(format!("sip:1001-moved@{}", a.addr).as_str())
    );
    a.respond(&mut s, &bye, 200, "", "");
    b.expect_response(&mut s, 200);
    assert_eq!(s.core.active_calls(), 0);
}

/// Many whole calls one after the other, with the registrations'
/// qualify probes crossing them: nothing is left behind.
#[test]
fn two_hundred_calls_leave_nothing_behind() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    for _ in 0..200 {
        let (mut da, _) = answered_call(&mut s, &mut a, &mut b);
        a.in_dialog(&mut s, &mut da, "BYE", "", "");
        let bye = b.expect_request(&mut s, "BYE");
        b.respond(&mut s, &bye, 200, "", "");
        a.expect_response(&mut s, 200);
        s.advance(Duration::from_millis(100));
    }
    s.advance(Duration::from_secs(60));
    assert_eq!(s.core.active_calls(), 0);
    assert_eq!(s.ends().len(), 200);
}

#[test]
fn a_blind_transfer_by_refer_hands_the_caller_to_the_target() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (mut da, mut db) = answered_call(&mut s, &mut a, &mut b);
    let refer_to = format!(
        "Refer-To: <sip:1003@{}>\r\nReferred-By: <sip:1002@{}>\r\n",
        s.box_addr(),
        s.box_addr()
    );
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    let (_, mut dc) = c.answer(&mut s);
    // The transferor is told and let go; the caller stays in the call.
    let seen = b.settle(&mut s);
    assert!(
        seen.contains(&"NOTIFY".to_string()) && seen.contains(&"BYE".to_string()),
        "{seen:?}"
    );
    let _ = a.settle(&mut s);
    assert_eq!(s.core.active_calls(), 1);
    // The caller and the target now hang up on each other.
    c.in_dialog(&mut s, &mut dc, "BYE", "", "");
    c.expect_response(&mut s, 200);
    let seen = a.settle(&mut s);
    assert!(seen.contains(&"BYE".to_string()), "{seen:?}");
    let _ = &mut da;
    assert_eq!(s.core.active_calls(), 0);
    let ends = s.ends();
    assert_eq!(ends.len(), 1, "one record through the transfer");
    assert_eq!(ends[0].1, "answered");
    assert_eq!(s.call_events("transferred").len(), 1);
}

#[test]
fn an_attended_transfer_joins_the_kept_party_with_the_consulted_one() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (_da, mut db) = answered_call(&mut s, &mut a, &mut b);
    // B consults C in a second call.
    let (consult, _dc) = answered_call(&mut s, &mut b, &mut c);
    let callee_tag = consult
        .remote
        .split("tag=")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let caller_tag = consult
        .local
        .split("tag=")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let refer_to = format!(
        "Refer-To: <sip:1003@{}?Replaces={}%3Bto-tag%3D{}%3Bfrom-tag%3D{}>\r\n",
        s.box_addr(),
        consult.call_id,
        callee_tag,
        caller_tag
    );
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    // The box moves C onto the first call and lets B go on both calls.
    let seen_c = c.settle(&mut s);
    assert!(
        seen_c.contains(&"INVITE".to_string()),
        "C is re-INVITEd: {seen_c:?}"
    );
    let seen_b = b.settle(&mut s);
    assert_eq!(
        seen_b.iter().filter(|m| *m == "BYE").count(),
        2,
        "{seen_b:?}"
    );
    let _ = a.settle(&mut s);
    s.advance(Duration::from_secs(1));
    assert_eq!(s.core.active_calls(), 1);
}

#[test]
fn a_directed_pickup_answers_a_ringing_call() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let mut da = a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 180, "", "");
    a.expect_response(&mut s, 180);
    // C dials **1002: its INVITE is answered and becomes the B leg.
    let mut dc = c.invite(&mut s, "**1002");
    let ok = c.expect_response(&mut s, 200);
    c.ack_2xx(&mut s, &mut dc, &ok);
    let ok = a.expect_response(&mut s, 200);
    a.ack_2xx(&mut s, &mut da, &ok);
    // The phone that rang is cancelled.
    let cancel = b.expect_request(&mut s, "CANCEL");
    b.respond(&mut s, &cancel, 200, "", "");
    b.respond(&mut s, &inv, 487, "", "");
    b.expect_request(&mut s, "ACK");
    a.in_dialog(&mut s, &mut da, "BYE", "", "");
    a.expect_response(&mut s, 200);
    let seen = c.settle(&mut s);
    assert_eq!(seen, ["BYE"]);
    assert_eq!(s.ends()[0].1, "answered");
}

/// A queue call on virtual time (ACD-2, ACD-6): the longest-idle agent's
/// phone rings, rings out after the queue's ring time, and the call moves
/// on to the next agent, who answers and is bridged to the caller.
#[test]
fn a_queue_offer_rings_out_and_moves_to_the_next_agent() {
    let mut s = Sim::new(|t| {
        sim::with_queue_on_170(t.replace(
            "ring_seconds = 15\nwrapup_seconds = 15",
            "ring_seconds = 4\nwrapup_seconds = 1",
        ))
    });
    s.publish_queue_flow();
    let mut first = Phone::registered(&mut s, "1003");
    let mut second = Phone::registered(&mut s, "1004");
    for (agent, ext) in [("2001", "1003"), ("2002", "1004")] {
        let t = s.t();
        s.core
            .agent_command(
                t,
                dering_control::AgentAction::Login {
                    agent: agent.into(),
                    pin: "1234".into(),
                    extension: ext.into(),
                },
            )
            .unwrap();
        s.advance(Duration::from_secs(1));
    }
    let mut caller = Phone::registered(&mut s, "1001");
    let mut dcall = caller.invite(&mut s, "170");
    let ok = caller.expect_response(&mut s, 200);
    caller.ack_2xx(&mut s, &mut dcall, &ok);
    s.advance(Duration::from_millis(100));
    // 2001 (idle longest) rings and lets it ring out.
    let offer = first.expect_request(&mut s, "INVITE");
    first.respond(&mut s, &offer, 180, "", "");
    s.advance(Duration::from_secs(3));
    first.expect_quiet(&mut s);
    s.advance(Duration::from_secs(2));
    // The CANCEL (with its retransmissions while nobody read them).
    let seen = first.settle(&mut s);
    assert!(
        !seen.is_empty() && seen.iter().all(|m| m == "CANCEL"),
        "{seen:?}"
    );
    first.respond(&mut s, &offer, 487, "", "");
    first.expect_request(&mut s, "ACK");
    // 2002 answers and is the caller's.
    let (_, mut dagent) = second.answer(&mut s);
    let _ = caller.settle(&mut s);
    let agents = s.core.agents(s.t());
    let state = |id: &str| {
        serde_json::to_value(&agents.iter().find(|a| a.agent == id).unwrap().state).unwrap()
            ["state"]
            .clone()
    };
    assert_eq!(state("2002"), "on_call");
    assert_ne!(state("2001"), "on_call");
    // The feed tells the agent's answer once, then the recording, as on
    // any call (CTI-1).
    let feed = s.feed();
    let told: Vec<&str> = feed
        .iter()
        .map(String::as_str)
        .filter(|k| ["answered", "recorded"].contains(k))
        .collect();
    assert_eq!(told, ["answered", "recorded"], "{feed:?}");
    second.in_dialog(&mut s, &mut dagent, "BYE", "", "");
    second.expect_response(&mut s, 200);
    let seen = caller.settle(&mut s);
    assert!(seen.contains(&"BYE".to_string()), "{seen:?}");
    s.advance(Duration::from_secs(2));
    assert_eq!(s.core.active_calls(), 0);
}

/// ACD-3 on the call events: an agent's phone that calls out directly is
/// busy for the queues from the moment its call starts until it ends (the
/// ACD hears of both from the call's start and end, not by looking).
#[test]
fn an_agent_calling_out_is_busy_for_the_queues_until_the_call_ends() {
    let mut s = demo();
    let mut desk = Phone::registered(&mut s, "1003");
    let mut other = Phone::registered(&mut s, "1002");
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
    let state = |s: &Sim| {
        let agents = s.core.agents(s.t());
        let a = agents.iter().find(|a| a.agent == "2001").unwrap();
        serde_json::to_value(&a.state).unwrap()["state"].clone()
    };
    assert_eq!(state(&s), "ready");
    let (mut dcall, _) = answered_call(&mut s, &mut desk, &mut other);
    assert_eq!(state(&s), "busy");
    desk.in_dialog(&mut s, &mut dcall, "BYE", "", "");
    let bye = other.expect_request(&mut s, "BYE");
    other.respond(&mut s, &bye, 200, "", "");
    desk.expect_response(&mut s, 200);
    assert_eq!(state(&s), "ready");
}

/// A trusted peer (the trunk gateway, a carrier; issue 12 §5) reaches an
/// extension without a challenge, and its call is marked with its name and
/// route class; the same INVITE from elsewhere is challenged.
#[test]
fn a_trusted_peer_reaches_the_dial_plan_without_a_challenge() {
    let mut s = Sim::new(|t| {
        t + "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.2\"]\nroute_class = \"national\"\n"
    });
    let mut b = Phone::registered(&mut s, "1002");
    let mut gw = Phone::at("+6281234567890", "127.0.0.2:5070".parse().unwrap());
    let mut d = gw.invite(&mut s, "1002");
    let (inv, _) = b.answer(&mut s);
    assert!(
        inv.get("From")
            .unwrap_or_default()
            .contains("+6281234567890"),
        "{inv:?}"
    );
    gw.expect_response(&mut s, 180);
    let ok = gw.expect_response(&mut s, 200);
    gw.ack_2xx(&mut s, &mut d, &ok);
    assert_eq!(
        s.call_events("trusted_peer"),
        ["trunkd route_class=national"]
    );
    let mut stranger = Phone::at("+6281299999999", "127.0.0.3:5070".parse().unwrap());
    stranger.invite(&mut s, "1002");
    stranger.expect_response(&mut s, 407);
}

/// The box with `[acd] phone_lost = "unreachable"`: an agent whose phone
/// is gone is made not ready, and ready again when it is back.
fn unreachable_policy() -> Sim {
    Sim::new(|t| t.replace("phone_lost = \"logout\"", "phone_lost = \"unreachable\""))
}

fn login(s: &mut Sim, agent: &str, extension: &str) {
    let t = s.t();
    s.core
        .agent_command(
            t,
            dering_control::AgentAction::Login {
                agent: agent.into(),
                pin: "1234".into(),
                extension: extension.into(),
            },
        )
        .unwrap();
}

fn agent_state(s: &Sim, agent: &str) -> AgentState {
    s.core
        .agents(s.t())
        .into_iter()
        .find(|a| a.agent == agent)
        .unwrap()
        .state
}

fn unreachable() -> AgentState {
    AgentState::NotReady {
        reason: "unreachable".into(),
    }
}

/// ACD-3: the registrar reports the agent's phone lost when its
/// registration runs out, and the agent is made unreachable then (not a
/// sweep later); registering again brings the agent back ready.
#[test]
fn an_agent_whose_registration_expires_is_unreachable_until_it_registers_again() {
    let mut s = unreachable_policy();
    let mut p = Phone::new(&mut s, "1003");
    p.register(&mut s, 60);
    let registered = s.now;
    login(&mut s, "2001", "1003");
    assert_eq!(agent_state(&s, "2001"), AgentState::Ready);
    // The phone answers its qualify probe on the way; just before the
    // registration runs out the agent is still ready.
    s.advance(Duration::from_secs(60) - Duration::from_millis(1));
    p.expect_quiet(&mut s);
    assert_eq!(agent_state(&s, "2001"), AgentState::Ready);
    s.advance(Duration::from_millis(1));
    assert_eq!(s.now - registered, Duration::from_secs(60));
    assert_eq!(agent_state(&s, "2001"), unreachable());
    // Minutes later, still unreachable; then the phone registers again.
    s.advance(Duration::from_secs(120));
    assert_eq!(agent_state(&s, "2001"), unreachable());
    p.register(&mut s, 300);
    assert_eq!(agent_state(&s, "2001"), AgentState::Ready);
    // Lost and back are in the journal and on the event feed.
    let states: Vec<_> = s
        .events
        .iter()
        .filter_map(|e| match e {
            dering_control::Event::Acd {
                detail: dering_acd::Event::AgentState { agent, state, .. },
                ..
            } if agent == "2001" => Some(state.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [AgentState::Ready, unreachable(), AgentState::Ready]
    );
    // The phone itself: reachable at its first registration, lost with
    // its reason, back; for a supervisor's wall.
    let phone: Vec<_> = s
        .events
        .iter()
        .filter_map(|e| match e {
            dering_control::Event::Phone {
                extension,
                reachable,
                why,
                ..
            } if extension == "1003" => Some((*reachable, why.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        phone,
        [
            (true, None),
            (false, Some("expired".to_string())),
            (true, None)
        ],
        "CTI-1"
    );
}

/// A phone that stops answering OPTIONS is lost when its probe times out
/// (RFC 3261 Timer F, 32 s after the probe), and back when it answers the
/// next one.
#[test]
fn an_agent_whose_phone_stops_answering_options_is_unreachable_until_it_answers() {
    let mut s = unreachable_policy();
    let mut p = Phone::registered(&mut s, "1003");
    login(&mut s, "2001", "1003");
    // The first probe goes at 30 s; nobody answers it.
    s.advance(Duration::from_secs(61));
    assert_eq!(agent_state(&s, "2001"), AgentState::Ready);
    s.advance(Duration::from_secs(2));
    assert_eq!(agent_state(&s, "2001"), unreachable());
    // The phone reads what came (the probes, retransmitted) and answers;
    // the probe sent after the timeout is the one that counts.
    s.advance(Duration::from_secs(1));
    p.expect_quiet(&mut s);
    assert_eq!(agent_state(&s, "2001"), AgentState::Ready);
}

/// With the default policy, an agent whose phone unregisters is logged
/// out, and one who logs in at a phone that is not registered is logged
/// out at once (the registrar reports changes; login finds a phone gone).
#[test]
fn an_agent_whose_phone_unregisters_is_logged_out() {
    let mut s = demo();
    let mut p = Phone::registered(&mut s, "1003");
    login(&mut s, "2001", "1003");
    assert_eq!(agent_state(&s, "2001"), AgentState::Ready);
    p.register(&mut s, 0);
    assert_eq!(agent_state(&s, "2001"), AgentState::LoggedOut);
    login(&mut s, "2002", "1004");
    assert_eq!(agent_state(&s, "2002"), AgentState::LoggedOut);
    // A phone of the same extension registering again does not log the
    // agent back in.
    p.register(&mut s, 300);
    assert_eq!(agent_state(&s, "2001"), AgentState::LoggedOut);
}

/// TEL-1: the no-answer time is a timer of the call's own: the callee is
/// cancelled exactly 30 s after the INVITE, in virtual time, and not a
/// moment before (nor at the next half-second sweep).
#[test]
fn a_ringing_call_is_cancelled_exactly_at_its_no_answer_time() {
    let (mut s, [mut a, mut b]) = demo_with(["1001", "1002"]);
    // Off the sweep's half-second beat.
    s.advance(Duration::from_millis(217));
    let da = a.invite(&mut s, "1002");
    let invited = s.now;
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 180, "", "");
    a.expect_response(&mut s, 180);
    s.advance(Duration::from_secs(30) - Duration::from_millis(1));
    b.expect_quiet(&mut s);
    a.expect_quiet(&mut s);
    s.advance(Duration::from_millis(1));
    assert_eq!(s.now - invited, Duration::from_secs(30));
    rang_out(&mut s, &mut a, &mut b, &inv, &da);
}

/// B holds C (its consultation) and sends the REFER with Replaces before
/// C has answered the hold: the transfer is refused with 491 (the hold's
/// re-INVITE belongs to the consultation call), and the REFER sent again
/// once the hold is answered joins A and C, whose later re-INVITEs pass
/// (found in review: the moved leg used to keep the pending re-INVITE and
/// refuse every later one with 491).
#[test]
fn an_attended_transfer_waits_for_a_pending_hold_and_then_leaves_the_target_usable() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (_da, mut db) = answered_call(&mut s, &mut a, &mut b);
    let (mut consult, mut dc) = answered_call(&mut s, &mut b, &mut c);
    b.in_dialog(&mut s, &mut consult, "INVITE", "", &sdp(32_000, "sendonly"));
    let hold = c.expect_request(&mut s, "INVITE");
    let tag = |v: &str| v.split("tag=").nth(1).unwrap_or_default().to_string();
    let refer_to = format!(
        "Refer-To: <sip:1003@{}?Replaces={}%3Bto-tag%3D{}%3Bfrom-tag%3D{}>\r\n",
        s.box_addr(),
        consult.call_id,
        tag(&consult.remote),
        tag(&consult.local)
    );
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    let notify = b.expect_request(&mut s, "NOTIFY");
    assert!(
        String::from_utf8_lossy(&notify.body).contains("491"),
        "{:?}",
        String::from_utf8_lossy(&notify.body)
    );
    b.respond(&mut s, &notify, 200, "", "");
    assert_eq!(s.core.active_calls(), 2, "nothing moved");

    // C answers the hold; B gets it and acknowledges; then asks again.
    c.respond(&mut s, &hold, 200, "", &sdp(33_000, "recvonly"));
    let ok = b.expect_response(&mut s, 200);
    b.ack_2xx(&mut s, &mut consult, &ok);
    let _ = c.settle(&mut s);
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    let _ = (b.settle(&mut s), c.settle(&mut s), a.settle(&mut s));
    assert_eq!(s.core.active_calls(), 1, "A and C joined");

    // C, now talking to A, holds A: the re-INVITE reaches A.
    s.advance(Duration::from_secs(30));
    let _ = (c.settle(&mut s), a.settle(&mut s));
    c.in_dialog(&mut s, &mut dc, "INVITE", "", &sdp(33_000, "sendonly"));
    let got = a.try_msg(&mut s).map(|m| format!("{:?}", m.start));
    assert!(
        got.as_deref().is_some_and(|m| m.contains("Invite")),
        "A got {got:?}"
    );
}

/// While a blind transfer's target rings, the kept party's re-INVITE is
/// refused with 491 (the leg it would go to is about to be replaced, and
/// the answer would come back on a dialog no longer in the call); asked
/// again once the target answered, it reaches the target (found in
/// review: the late 2xx was acknowledged on the target's dialog and
/// moved its target to the transferor's Contact).
#[test]
fn a_re_invite_while_a_blind_transfer_rings_is_refused_then_reaches_the_target() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (mut da, mut db) = answered_call(&mut s, &mut a, &mut b);
    let refer_to = format!("Refer-To: <sip:1003@{}>\r\n", s.box_addr());
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    // C rings; A holds meanwhile.
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(31_000, "sendonly"));
    a.expect_response(&mut s, 491);
    let (_, dc) = c.answer(&mut s);
    let _ = (b.settle(&mut s), a.settle(&mut s));
    assert_eq!(s.core.active_calls(), 1, "A and C talk");
    s.advance(Duration::from_secs(3));
    a.in_dialog(&mut s, &mut da, "INVITE", "", &sdp(31_000, "sendonly"));
    let hold = c.expect_request(&mut s, "INVITE");
    assert_eq!(hold.call_id(), Some(dc.call_id.as_str()), "on C's dialog");
}

/// A blind transfer's target that never answers is cancelled at the
/// no-answer time like any callee, and the kept party is let go with the
/// reason in the record (before, the target rang and the caller heard
/// music for ever: found in review).
#[test]
fn a_blind_transfer_target_that_never_answers_is_cancelled_at_the_no_answer_time() {
    let (mut s, [mut a, mut b, mut c]) = demo_with(["1001", "1002", "1003"]);
    let (_da, mut db) = answered_call(&mut s, &mut a, &mut b);
    let refer_to = format!("Refer-To: <sip:1003@{}>\r\n", s.box_addr());
    b.in_dialog(&mut s, &mut db, "REFER", &refer_to, "");
    b.expect_response(&mut s, 202);
    let inv = c.expect_request(&mut s, "INVITE");
    c.respond(&mut s, &inv, 180, "", "");
    let _ = b.settle(&mut s);
    s.advance(Duration::from_millis(29_900));
    assert_eq!(s.core.active_calls(), 1, "still ringing before 30 s");
    let seen = c.settle(&mut s);
    assert!(!seen.contains(&"CANCEL".to_string()), "{seen:?}");
    s.advance(Duration::from_millis(100));
    let seen = c.settle(&mut s);
    assert!(seen.contains(&"CANCEL".to_string()), "{seen:?}");
    let seen = a.settle(&mut s);
    assert!(seen.contains(&"BYE".to_string()), "{seen:?}");
    assert_eq!(s.core.active_calls(), 0);
    let ends = s.ends();
    assert_eq!(ends.len(), 1);
}

/// A box whose number 171 runs flow `jam`: its time node names calendar
/// `layanan` (open round the clock), which has `holiday` as a holiday
/// when given; open rings 1003, closed plays the closed message.
fn calendar_box(holiday: Option<&str>) -> Sim {
    let holidays = holiday
        .map(|d| format!("holidays = [{{ date = \"{d}\", name = \"Hari libur uji\" }}]\n"))
        .unwrap_or_default();
    let mut s = Sim::new(|t| {
        t + "\n[[did]]\nnumber = \"171\"\nflow = \"jam\"\n\
             \n[[calendar]]\nname = \"layanan\"\n\
             hours = [{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], from = \"00:00\", to = \"24:00\" }]\n"
            + &holidays
    });
    let flow = r#"{"name": "jam", "start": "hours", "nodes": {
        "hours": {"type": "time", "calendar": "layanan", "open": "agent", "closed": "shut"},
        "agent": {"type": "extension", "number": "1003", "on_fail": "end"},
        "shut": {"type": "play", "prompts": ["closed"], "next": "end"},
        "end": {"type": "hangup"}}}"#;
    let t = s.t();
    s.core.publish_flow(t, flow).unwrap();
    // A flow naming a calendar the configuration lacks is refused.
    let t = s.t();
    let e = s
        .core
        .publish_flow(t, &flow.replace("\"layanan\"", "\"tidak-ada\""))
        .unwrap_err();
    assert!(e.to_string().contains("calendar `tidak-ada`"), "{e}");
    s
}

/// ACD-9: on a holiday of the calendar the flow names, the call takes
/// the closed branch at an hour the calendar is open; the day before the
/// holiday is written, the same call rings the extension. The sim's
/// clock stands at Friday 2026-05-29 03:26 WIB.
#[test]
fn a_holiday_of_the_flow_s_calendar_routes_the_call_to_the_closed_branch() {
    for holiday in [None, Some("2026-05-29")] {
        let mut s = calendar_box(holiday);
        let mut agent = Phone::registered(&mut s, "1003");
        let mut caller = Phone::registered(&mut s, "1001");
        let mut d = caller.invite(&mut s, "171");
        let ok = caller.expect_response(&mut s, 200);
        caller.ack_2xx(&mut s, &mut d, &ok);
        s.advance(Duration::from_millis(100));
        if holiday.is_none() {
            agent.expect_request(&mut s, "INVITE");
            continue;
        }
        s.advance(Duration::from_secs(20));
        agent.expect_quiet(&mut s);
        let seen = caller.settle(&mut s);
        assert!(seen.contains(&"BYE".to_string()), "{seen:?}");
    }
}
