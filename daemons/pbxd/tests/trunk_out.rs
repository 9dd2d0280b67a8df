//! Outside calls through carrier trunks, on the core alone in virtual time
//! (TEL-5, TRK-3; issue 13, see `sim/mod.rs`): who may call out, the
//! number and caller-ID as the carrier wants them, failover to the next
//! trunk on carrier trouble and never on the callee's answer, a trunk
//! marked down skipped, early media passed on, and the burst alarm. The
//! same calls against sipp as the carrier are in `hwtests/tests/trunk_out.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dering_media::speech::Lang;
use dering_store::Op;
use sim::{sdp, Phone, Sim};

const CARRIER: &str = "127.0.0.5:5060";
const BACKUP: &str = "127.0.0.6:5060";

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

/// The demo with its trunk on, quiet, at [`CARRIER`]: what every test
/// here calls out through.
fn demo_trunk_on(t: String) -> String {
    quiet_trunks(t)
        .replace("enabled = false", "enabled = true")
        .replace("host = \"sip.carrier.example\"", "host = \"127.0.0.5\"")
}

/// The demo trunk on, and a backup trunk at [`BACKUP`] (kind ip, E.164
/// numbers) after it in the demo's route, then `more` configuration.
fn with_trunks(more: &str) -> Sim {
    let more = more.to_string();
    Sim::new(move |t| {
        demo_trunk_on(t).replace("trunks = [\"demo\"]", "trunks = [\"demo\", \"cadangan\"]")
            + "\n[[trunk]]\nname = \"cadangan\"\nkind = \"ip\"\nhost = \"127.0.0.6\"\naddresses = [\"127.0.0.6\"]\nnumber_format = \"e164\"\ncaller_id_headers = [\"from\", \"remote-party-id\"]\nkeepalive_seconds = 0\n"
            + &more
    })
}

/// The box [`with_trunks`], extension `ext`'s phone registered, and the
/// first carrier: where most of these tests start.
fn calling_out(ext: &str) -> (Sim, Phone, Phone) {
    let mut s = with_trunks("");
    let a = Phone::registered(&mut s, ext);
    (s, a, carrier(CARRIER))
}

/// 1002 dials a forwarding feature `code` (with the number) and hangs up
/// once it is confirmed; its phone, for the tests that ring it next.
fn forward_1002(s: &mut Sim, code: &str) -> Phone {
    let mut b = Phone::registered(s, "1002");
    let mut set = b.invite(s, code);
    let ok = b.expect_response(s, 200);
    b.ack_2xx(s, &mut set, &ok);
    s.advance(Duration::from_secs(10));
    b.settle(s);
    b
}

/// `a` talks `minutes` to `number` through carrier `c`, then hangs up:
/// an outside call that uses up that much of the day's allowance.
fn talk_out(s: &mut Sim, a: &mut Phone, c: &mut Phone, number: &str, minutes: u64) {
    let mut da = a.invite(s, number);
    let inv = c.expect_request(s, "INVITE");
    c.respond(s, &inv, 200, "", &sdp(31_000, "sendrecv"));
    let ok = a.expect_response(s, 200);
    a.ack_2xx(s, &mut da, &ok);
    c.expect_request(s, "ACK");
    s.advance(Duration::from_secs(minutes * 60));
    a.in_dialog(s, &mut da, "BYE", "", "");
    c.settle(s);
    a.settle(s);
}

fn carrier(addr: &str) -> Phone {
    Phone::at("carrier", addr.parse::<SocketAddr>().unwrap())
}

fn user_of(m: &sim_msg::Msg) -> String {
    sim_msg::ruri_user(m)
}

/// Small readers of what the carrier received.
mod sim_msg {
    pub type Msg = dering_sip::Message;

    pub fn ruri_user(m: &Msg) -> String {
        let uri = dering_sip::uri::Uri::parse(m.request_uri().unwrap()).unwrap();
        uri.user_unescaped().unwrap()
    }
}

fn outside_rows(s: &Sim) -> Vec<dering_store::CallOutside> {
    s.writes
        .iter()
        .filter_map(|op| match op {
            Op::CallOutside(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

/// An extension allowed to call mobiles reaches the carrier with the
/// number in its national format, the trunk's presented number in From
/// and P-Asserted-Identity, A-law first; the carrier's 183 with SDP
/// reaches the caller as early media, and the record names trunk, route,
/// class and the E.164 number.
#[test]
fn an_allowed_call_leaves_in_the_carriers_format() {
    let (mut s, mut a, mut c) = calling_out("1001");
    let da = a.invite(&mut s, "0812-3456-7890");
    let inv = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv), "081234567890");
    assert!(
        inv.get("From").unwrap().contains("sip:0215550000@"),
        "{inv:?}"
    );
    assert_eq!(
        inv.get("P-Asserted-Identity"),
        Some("<sip:0215550000@dering.local>")
    );
    assert_eq!(inv.get("Remote-Party-ID"), None);
    let offer = dering_sip::sdp::AudioSdp::parse(&inv.body).unwrap();
    assert_eq!(offer.formats[0].name, "PCMA");
    c.respond(&mut s, &inv, 183, "", &sdp(31_000, "sendrecv"));
    let early = a.expect_response(&mut s, 183);
    assert!(
        !early.body.is_empty(),
        "early media's SDP reaches the caller"
    );
    c.respond(&mut s, &inv, 200, "", &sdp(31_000, "sendrecv"));
    let ok = a.expect_response(&mut s, 200);
    let mut da = da;
    a.ack_2xx(&mut s, &mut da, &ok);
    let row = &outside_rows(&s)[0];
    assert_eq!(row.number_class, "mobile");
    assert_eq!(row.callee_e164, "+6281234567890");
    assert_eq!(row.trunk.as_deref(), Some("demo"));
    assert_eq!(row.route.as_deref(), Some("keluar"));
    assert_eq!(row.refused, None);
}

/// An extension with the default permission (internal) dialling abroad
/// hears the refusal in early media, then gets 403; nothing reaches
/// either carrier, and the record says why. An emergency number still
/// goes out.
#[test]
fn a_call_without_permission_is_refused_and_never_leaves() {
    let (mut s, mut a, mut c) = calling_out("1010");
    let mut b = carrier(BACKUP);
    let da = a.invite(&mut s, "0016129998888");
    let early = a.expect_response(&mut s, 183);
    assert!(!early.body.is_empty(), "the refusal is heard");
    assert!(
        s.media
            .iter()
            .any(|m| matches!(m, pbxd::core::MediaCmd::Play { .. })),
        "a prompt is played"
    );
    assert!(
        a.try_msg(&mut s).is_none(),
        "no final answer before it is said"
    );
    s.advance(Duration::from_secs(10));
    let r = a.expect_response(&mut s, 403);
    a.ack_final(&mut s, &da, &r);
    assert!(c.try_msg(&mut s).is_none() && b.try_msg(&mut s).is_none());
    let row = &outside_rows(&s)[0];
    assert_eq!(row.refused.as_deref(), Some("permission"));
    assert_eq!(row.number_class, "international");
    assert_eq!(row.trunk, None);
    assert_eq!(s.ends()[0].1, "failed");

    // The 403's retransmissions from before the ACK.
    a.settle(&mut s);
    a.invite(&mut s, "112");
    let inv = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv), "112");
}

/// The refusal in the caller's language (issue 13): an extension set to
/// English hears the English prompt, the others the Indonesian one.
#[test]
fn the_refusal_is_said_in_the_extensions_language() {
    let mut s = with_trunks(
        "\n[[extension]]\nnumber = \"1020\"\nname = \"English\"\npassword = \"demo-1020\"\nlanguage = \"en\"\n",
    );
    let prompts = dering_media::prompts::Prompts::builtin().unwrap();
    let en = prompts.get(Lang::En, "outside_refused").unwrap();
    let id = prompts.get(Lang::Id, "outside_refused").unwrap();
    assert_ne!(en, id);
    let said = |s: &Sim| {
        s.media
            .iter()
            .rev()
            .find_map(|m| match m {
                pbxd::core::MediaCmd::Play { audio, .. } => audio.first().cloned(),
                _ => None,
            })
            .unwrap()
    };
    for (ext, want) in [("1020", &en), ("1010", &id)] {
        let mut a = Phone::registered(&mut s, ext);
        let d = a.invite(&mut s, "0016129998888");
        a.expect_response(&mut s, 183);
        assert!(&said(&s) == want, "{ext} hears the other language");
        s.advance(Duration::from_secs(10));
        let r = a.expect_response(&mut s, 403);
        a.ack_final(&mut s, &d, &r);
    }
}

/// A 503 from the first carrier sends the call to the backup trunk, in
/// that trunk's format and with its caller-ID headers; the record follows.
#[test]
fn a_carrier_answering_503_fails_over_to_the_next_trunk() {
    let (mut s, mut a, mut c) = calling_out("1001");
    let mut b = carrier(BACKUP);
    a.invite(&mut s, "081234567890");
    let inv = c.expect_request(&mut s, "INVITE");
    c.respond(&mut s, &inv, 503, "", "");
    let inv2 = b.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv2), "+6281234567890");
    assert!(inv2
        .get("Remote-Party-ID")
        .unwrap()
        .contains("party=calling"));
    assert_eq!(inv2.get("P-Asserted-Identity"), None);
    assert_eq!(s.call_events("trunk_failover"), ["demo -> cadangan (503)"]);
    assert_eq!(
        outside_rows(&s).last().unwrap().trunk.as_deref(),
        Some("cadangan")
    );
}

/// Busy is the callee's answer: the caller hears it, and no other trunk
/// rings the callee again.
#[test]
fn a_busy_callee_is_not_tried_through_another_trunk() {
    let (mut s, mut a, mut c) = calling_out("1001");
    let mut b = carrier(BACKUP);
    let da = a.invite(&mut s, "081234567890");
    let inv = c.expect_request(&mut s, "INVITE");
    c.respond(&mut s, &inv, 486, "", "");
    let r = a.expect_response(&mut s, 486);
    a.ack_final(&mut s, &da, &r);
    assert!(
        b.try_msg(&mut s).is_none(),
        "the backup carrier got nothing"
    );
    assert!(s.call_events("trunk_failover").is_empty());
}

/// A trunk the keep-alive marked down is skipped until marked up.
#[test]
fn a_trunk_marked_down_is_skipped() {
    let (mut s, mut a, mut c) = calling_out("1001");
    let mut b = carrier(BACKUP);
    s.core.trunk_down("demo");
    a.invite(&mut s, "081234567890");
    b.expect_request(&mut s, "INVITE");
    assert!(c.try_msg(&mut s).is_none());
    s.core.trunk_up("demo");
    a.invite(&mut s, "081234567891");
    c.expect_request(&mut s, "INVITE");
}

/// Outside calls from one extension in a burst raise the alarm once the
/// threshold is reached; an extension's limit of outside calls at once
/// answers the next one busy.
#[test]
fn a_burst_of_outside_calls_raises_the_alarm() {
    let mut s = with_trunks("[outbound]\nburst_calls = 2\nburst_seconds = 60\n");
    let mut a = Phone::registered(&mut s, "1001");
    let burst = |s: &Sim| {
        s.events
            .iter()
            .filter(|e| matches!(e, dering_control::Event::OutsideBurst { .. }))
            .count()
    };
    a.invite(&mut s, "081234567890");
    assert_eq!(burst(&s), 0);
    a.invite(&mut s, "081234567891");
    assert_eq!(burst(&s), 1);
    match s
        .events
        .iter()
        .find(|e| matches!(e, dering_control::Event::OutsideBurst { .. }))
    {
        Some(dering_control::Event::OutsideBurst {
            extension, calls, ..
        }) => assert_eq!((extension.as_str(), *calls), ("1001", 2)),
        other => panic!("{other:?}"),
    }
}

/// 1002 may have two outside calls at once; a third is answered busy
/// without reaching a carrier.
#[test]
fn an_extensions_limit_of_outside_calls() {
    let (mut s, mut a, mut c) = calling_out("1002");
    for n in ["081234567890", "081234567891"] {
        a.invite(&mut s, n);
        c.expect_request(&mut s, "INVITE");
    }
    let d = a.invite(&mut s, "081234567892");
    let r = a.expect_response(&mut s, 486);
    a.ack_final(&mut s, &d, &r);
    assert!(c.try_msg(&mut s).is_none());
    // An emergency call is never limited.
    a.invite(&mut s, "112");
    let inv = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv), "112");
}

/// 1002 forwards every call to a mobile: a call to it goes straight out
/// through the trunk, with a Diversion naming 1002; the record keeps the
/// number dialled.
#[test]
fn forwarding_every_call_to_an_outside_number() {
    let mut s = with_trunks("");
    let mut b = forward_1002(&mut s, "*21081234567890");
    let mut a = Phone::registered(&mut s, "1001");
    let mut c = carrier(CARRIER);
    a.invite(&mut s, "1002");
    let out = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&out), "081234567890");
    assert_eq!(
        out.get("Diversion"),
        Some("<sip:1002@dering.local>;reason=unconditional")
    );
    assert!(b.try_msg(&mut s).is_none(), "1002's phone does not ring");
    let started = s.writes.iter().rev().find_map(|op| match op {
        Op::CallStart(p) => Some(p.callee.clone()),
        _ => None,
    });
    assert_eq!(started.as_deref(), Some("1002"));
}

/// Click-to-dial to a citizen's mobile: the agent's phone answers, then
/// the number is rung through the trunk; an extension without permission
/// is refused before its phone rings.
#[test]
fn click_to_dial_reaches_an_outside_number_under_permission() {
    let (mut s, mut a, mut c) = calling_out("1001");
    let t = s.t();
    s.core.originate(t, "1001", "081234567890").unwrap();
    s.advance(Duration::from_millis(1));
    a.answer(&mut s);
    let inv = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv), "081234567890");
    assert_eq!(outside_rows(&s)[0].trunk.as_deref(), Some("demo"));

    let mut low = Phone::registered(&mut s, "1010");
    let t = s.t();
    let e = s.core.originate(t, "1010", "081234567890").unwrap_err();
    assert!(e.to_string().contains("may not call mobile"), "{e}");
    s.advance(Duration::from_millis(1));
    assert!(low.try_msg(&mut s).is_none(), "its phone was not rung");
}

/// 1002 forwards on busy to a mobile: a caller who finds it busy reaches
/// the mobile through the trunk, with a Diversion naming 1002.
#[test]
fn forwarding_to_an_outside_number_carries_a_diversion() {
    let mut s = with_trunks("");
    let mut b = forward_1002(&mut s, "*67081234567890");
    let mut a = Phone::registered(&mut s, "1001");
    let mut c = carrier(CARRIER);
    a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 486, "", "");
    let out = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&out), "081234567890");
    assert_eq!(
        out.get("Diversion"),
        Some("<sip:1002@dering.local>;reason=unconditional")
    );
    assert_eq!(s.call_events("forwarded"), ["busy 1002 -> 081234567890"]);
}

/// The redirect header is the trunk's choice (issue 13): the demo trunk
/// sends Diversion; the backup trunk, set to `history-info`, gets the same
/// forwarded call (after the first carrier's 503) with History-Info
/// (RFC 7044) naming 1002 and the number it was retargeted to, and no
/// Diversion.
#[test]
fn a_trunk_set_to_history_info_gets_it_instead_of_diversion() {
    let mut s = with_trunks("redirect_header = \"history-info\"\n");
    let mut b = forward_1002(&mut s, "*67081234567890");
    let mut a = Phone::registered(&mut s, "1001");
    let (mut c, mut backup) = (carrier(CARRIER), carrier(BACKUP));
    a.invite(&mut s, "1002");
    let inv = b.expect_request(&mut s, "INVITE");
    b.respond(&mut s, &inv, 486, "", "");
    let first = c.expect_request(&mut s, "INVITE");
    assert!(first.get("Diversion").is_some(), "{first:?}");
    assert_eq!(first.get("History-Info"), None);
    c.respond(&mut s, &first, 503, "", "");
    let out = backup.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&out), "+6281234567890");
    assert_eq!(out.get("Diversion"), None);
    assert_eq!(
        out.get("History-Info"),
        Some("<sip:1002@dering.local>;index=1, <sip:+6281234567890@127.0.0.6?Reason=SIP%3Bcause%3D302>;index=1.1;mp=1")
    );
}

/// Forwarding is no way around a permission: 1002 (national) cannot
/// forward its calls abroad.
#[test]
fn forwarding_abroad_needs_the_permission_to_call_abroad() {
    let mut s = with_trunks("");
    forward_1002(&mut s, "*210016129998888");
    assert!(
        !s.writes.iter().any(|op| matches!(op, Op::Forward { .. })),
        "no forwarding was set"
    );
}

/// 1002 may talk 240 outside minutes a day: once they are used, its next
/// outside call is refused until the next day (WIB).
#[test]
fn an_extensions_outside_minutes_per_day() {
    let (mut s, mut a, mut c) = calling_out("1002");
    talk_out(&mut s, &mut a, &mut c, "081234567890", 240);
    let d = a.invite(&mut s, "081234567891");
    let r = a.expect_response(&mut s, 403);
    a.ack_final(&mut s, &d, &r);
    assert!(c.try_msg(&mut s).is_none(), "nothing reached the carrier");
}

/// The minutes per day survive a restart (TEL-5, issue 13): the day's
/// outside calls, written to a real SQLite store by the first run, are
/// recounted by the next one, which refuses the extension whose minutes
/// are used up and still lets another call out.
#[test]
fn outside_minutes_per_day_are_recounted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = dering_store::Store::open(&dir.path().join("dering.db")).unwrap();
    let (mut s, mut a, mut c) = calling_out("1002");
    talk_out(&mut s, &mut a, &mut c, "081234567890", 240);
    store.apply(&s.writes).unwrap();

    // The box restarts: a new core, the same database.
    let mut s = with_trunks("");
    let t = s.t();
    let rows = store
        .outside_talk_since(t.wall_ms - 2 * 86_400_000)
        .unwrap();
    assert_eq!(s.core.restore_outside_minutes(t, &rows), 1);
    let mut a = Phone::registered(&mut s, "1002");
    let mut c = carrier(CARRIER);
    let d = a.invite(&mut s, "081234567891");
    let r = a.expect_response(&mut s, 403);
    a.ack_final(&mut s, &d, &r);
    assert!(c.try_msg(&mut s).is_none(), "nothing reached the carrier");
    // The next day the minutes are new.
    let next_day = dering_store::Store::open(&dir.path().join("dering.db")).unwrap();
    let rows = next_day.outside_talk_since(0).unwrap();
    let mut t = s.t();
    t.wall_ms += 86_400_000;
    assert_eq!(s.core.restore_outside_minutes(t, &rows), 0);
}

/// The hangup causes written to the call records so far.
fn causes(s: &Sim) -> Vec<String> {
    s.writes
        .iter()
        .filter_map(|op| match op {
            Op::CallEnd(e) => Some(e.hangup_cause.clone()),
            _ => None,
        })
        .collect()
}

/// The network's reason is kept (issue 13): a carrier's (or trunkd's)
/// `Reason: Q.850;cause=N` on its busy answer and on its BYE reaches the
/// call record's hangup cause.
#[test]
fn the_carriers_q850_cause_is_kept_in_the_record() {
    let (mut s, mut a, mut c) = calling_out("1001");
    let da = a.invite(&mut s, "081234567890");
    let inv = c.expect_request(&mut s, "INVITE");
    c.respond(
        &mut s,
        &inv,
        486,
        "Reason: Q.850;cause=17;text=\"User busy\"\r\n",
        "",
    );
    let r = a.expect_response(&mut s, 486);
    a.ack_final(&mut s, &da, &r);
    assert_eq!(causes(&s), ["callee answered 486, Q.850 cause 17"]);
    c.expect_request(&mut s, "ACK");

    let mut da = a.invite(&mut s, "081234567891");
    let inv = c.expect_request(&mut s, "INVITE");
    c.respond(&mut s, &inv, 200, "", &sdp(31_000, "sendrecv"));
    let ok = a.expect_response(&mut s, 200);
    a.ack_2xx(&mut s, &mut da, &ok);
    c.expect_request(&mut s, "ACK");
    let mut dc = c.dialog_of(&inv);
    c.in_dialog(&mut s, &mut dc, "BYE", "Reason: Q.850;cause=16\r\n", "");
    a.settle(&mut s);
    assert_eq!(causes(&s)[1], "BYE, Q.850 cause 16");
}

/// An extension whose number is withheld: From is anonymous, the
/// identity goes in P-Asserted-Identity with `Privacy: id`.
#[test]
fn a_withheld_number_is_asserted_with_privacy() {
    let mut s = Sim::new(|t| {
        demo_trunk_on(t).replacen(
            "password = \"demo-1001\"",
            "password = \"demo-1001\"\ncaller_id = \"withheld\"",
            1,
        )
    });
    let mut a = Phone::registered(&mut s, "1001");
    let mut c = carrier(CARRIER);
    a.invite(&mut s, "081234567890");
    let inv = c.expect_request(&mut s, "INVITE");
    assert!(
        inv.get("From").unwrap().contains("sip:anonymous@"),
        "{inv:?}"
    );
    assert_eq!(inv.get("Privacy"), Some("id"));
    assert_eq!(
        inv.get("P-Asserted-Identity"),
        Some("<sip:0215550000@dering.local>")
    );
}

/// A logged-in agent's own permission replaces its phone's: agent 2001
/// (national) at 1010 (internal) may call a mobile.
#[test]
fn a_logged_in_agent_carries_its_permission() {
    let (mut s, mut p, mut c) = calling_out("1010");
    let d = p.invite(&mut s, "081234567890");
    // The phone's own permission: refused, heard, then 403.
    p.expect_response(&mut s, 183);
    s.advance(Duration::from_secs(10));
    let r = p.expect_response(&mut s, 403);
    p.ack_final(&mut s, &d, &r);
    p.settle(&mut s);
    let mut login = p.invite(&mut s, "*712001*1234");
    let ok = p.expect_response(&mut s, 200);
    p.ack_2xx(&mut s, &mut login, &ok);
    s.advance(Duration::from_secs(10));
    p.settle(&mut s);
    p.invite(&mut s, "081234567890");
    let inv = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv), "081234567890");
}

/// A blind transfer to an outside number goes through the trunk under the
/// transferring extension's permission: 1002 (national) may hand its
/// caller to a mobile, 1010 (internal) may not.
#[test]
fn a_blind_transfer_to_an_outside_number() {
    let mut s = with_trunks("");
    let mut a = Phone::registered(&mut s, "1001");
    let mut b = Phone::registered(&mut s, "1002");
    let mut c = carrier(CARRIER);
    sim::answered_call(&mut s, &mut a, &mut b);
    let uuid = s.core.calls()[0].parties.uuid.clone();
    let t = s.t();
    s.core.transfer_uuid(t, &uuid, "081234567890").unwrap();
    s.advance(Duration::from_millis(1));
    let inv = c.expect_request(&mut s, "INVITE");
    assert_eq!(user_of(&inv), "081234567890");
    assert_eq!(outside_rows(&s)[0].trunk.as_deref(), Some("demo"));

    let mut low = Phone::registered(&mut s, "1010");
    let mut a2 = Phone::registered(&mut s, "1003");
    sim::answered_call(&mut s, &mut a2, &mut low);
    let uuid = s
        .core
        .calls()
        .into_iter()
        .find(|v| v.parties.callee == "1010")
        .unwrap()
        .parties
        .uuid;
    let t = s.t();
    let e = s.core.transfer_uuid(t, &uuid, "081234567891").unwrap_err();
    assert!(e.to_string().contains("not permitted"), "{e}");
}

/// A caller who hangs up while hearing the refusal: the CANCEL ends the
/// INVITE with 487 and closes the record; no 403 follows.
#[test]
fn a_caller_hanging_up_during_the_refusal() {
    let mut s = with_trunks("");
    let mut a = Phone::registered(&mut s, "1010");
    let d = a.invite(&mut s, "0016129998888");
    a.expect_response(&mut s, 183);
    a.cancel(&mut s, &d);
    a.expect_response(&mut s, 200);
    let r = a.expect_response(&mut s, 487);
    a.ack_final(&mut s, &d, &r);
    s.advance(Duration::from_secs(10));
    assert!(a.try_msg(&mut s).is_none(), "nothing after the 487");
    let ends = s.ends();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(
        (ends[0].1.as_str(), ends[0].2.as_str()),
        ("cancelled", "caller")
    );
}
