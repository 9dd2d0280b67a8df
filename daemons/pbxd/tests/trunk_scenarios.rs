//! A carrier trunk's registration and keep-alive in the core (issue 13),
//! in virtual time (see `sim/mod.rs`): the carrier is a simulated peer at
//! 127.0.0.1:5090 that challenges, grants, refuses or stays silent, and
//! the tests read what `dering trunks` and the event feed say of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use dering_control::{Event, TrunkHealth};
use dering_sip::Message;
use sim::{Phone, Sim};

const CARRIER: &str = "127.0.0.1:5090";

fn carrier_addr() -> SocketAddr {
    CARRIER.parse().unwrap()
}

/// The demo box with its trunk on, pointed at [`CARRIER`], with OPTIONS
/// every `keepalive` seconds (0: none).
fn box_with_trunk(keepalive: u32) -> Sim {
    Sim::new(|t| {
        t.replacen(
            "name = \"demo\"\nenabled = false",
            "name = \"demo\"\nenabled = true",
            1,
        )
        .replacen(
            "host = \"sip.carrier.example\"",
            "host = \"127.0.0.1\"\nport = 5090",
            1,
        )
        .replacen(
            "keepalive_seconds = 30",
            &format!("keepalive_seconds = {keepalive}"),
            1,
        )
    })
}

const CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"carrier.test\", nonce=\"n0nce1\", algorithm=SHA-256, qop=\"auth\"\r\n";

fn trunk_view(s: &Sim) -> dering_control::TrunkView {
    let t = s.t();
    s.core
        .trunk_views(t)
        .into_iter()
        .find(|v| v.name == "demo")
        .expect("the demo trunk is shown")
}

fn trunk_events(s: &Sim) -> Vec<(Option<bool>, TrunkHealth, bool)> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Trunk {
                registered,
                health,
                alarm,
                ..
            } => Some((*registered, *health, *alarm)),
            _ => None,
        })
        .collect()
}

/// Every new REGISTER the carrier has been sent so far, retransmissions
/// left out (OPTIONS answered 200 on the way).
fn registers(s: &mut Sim, carrier: &mut Phone) -> Vec<Message> {
    let mut v: Vec<Message> = Vec::new();
    while let Some(m) = carrier.try_msg(s) {
        match m.method().map(|x| x.to_string()).as_deref() {
            Some("REGISTER") => {
                let cseq = m.cseq().ok().map(|(n, _)| n);
                let seen = v.iter().any(|r| r.cseq().ok().map(|(n, _)| n) == cseq);
                if !seen {
                    v.push(m);
                }
            }
            Some("OPTIONS") => carrier.respond(s, &m, 200, "", ""),
            _ => {}
        }
    }
    v
}

#[test]
fn the_box_registers_with_digest_and_refreshes_before_expiry() {
    let mut s = box_with_trunk(0);
    let mut carrier = Phone::at("carrier", carrier_addr());
    let first = carrier.expect_request(&mut s, "REGISTER");
    assert_eq!(first.get("Expires"), Some("600"));
    assert!(
        first
            .get("Contact")
            .unwrap()
            .contains("sip:0215550000@127.0.0.1:5060"),
        "{first:?}"
    );
    carrier.respond(&mut s, &first, 401, CHALLENGE, "");
    let answered = carrier.expect_request(&mut s, "REGISTER");
    let auth = answered
        .get("Authorization")
        .expect("the challenge is answered");
    assert!(
        auth.contains("algorithm=SHA-256") && auth.contains("username=\"0215550000\""),
        "{auth}"
    );
    assert!(!trunk_view(&s).registered.unwrap());
    carrier.respond(&mut s, &answered, 200, "Expires: 120\r\n", "");
    let v = trunk_view(&s);
    assert_eq!(
        (v.registered, v.alarm, v.why.as_deref()),
        (Some(true), false, None)
    );
    assert_eq!(
        trunk_events(&s),
        vec![(Some(true), TrunkHealth::Unknown, false)]
    );

    // Refreshed at four fifths of the 120 s granted, not before.
    s.advance(Duration::from_secs(95));
    assert!(registers(&mut s, &mut carrier).is_empty(), "too early");
    s.advance(Duration::from_secs(2));
    let refresh = registers(&mut s, &mut carrier);
    assert_eq!(refresh.len(), 1, "one refresh");
    assert_eq!(
        refresh[0].call_id(),
        first.call_id(),
        "same Call-ID (RFC 3261 §10.2)"
    );
    carrier.respond(&mut s, &refresh[0], 200, "Expires: 120\r\n", "");
    assert_eq!(trunk_view(&s).registered, Some(true));
}

#[test]
fn a_wrong_password_raises_the_alarm_and_stops_trying() {
    let mut s = box_with_trunk(0);
    let mut carrier = Phone::at("carrier", carrier_addr());
    let mut sent = 0;
    // Two hours of a carrier that refuses every answer to its challenge.
    for _ in 0..(2 * 3600 / 5) {
        for r in registers(&mut s, &mut carrier) {
            sent += 1;
            carrier.respond(&mut s, &r, 401, CHALLENGE, "");
        }
        s.advance(Duration::from_secs(5));
    }
    assert!(
        sent <= 6,
        "a refused password is tried a bounded number of times, sent {sent} REGISTERs"
    );
    let v = trunk_view(&s);
    assert!(v.alarm, "{v:?}");
    assert_eq!(v.registered, Some(false));
    assert!(
        v.why.as_deref().unwrap().contains("authentication failed"),
        "{v:?}"
    );
    assert_eq!(
        trunk_events(&s).last(),
        Some(&(Some(false), TrunkHealth::Unknown, true)),
        "the alarm is on the feed"
    );
}

#[test]
fn unanswered_options_mark_the_trunk_down_and_an_answer_up_again() {
    let mut s = Sim::new(|t| {
        t.replacen(
            "name = \"demo\"\nenabled = false\nkind = \"register\"",
            "name = \"demo\"\nenabled = true\nkind = \"ip\"\naddresses = [\"127.0.0.1/32\"]",
            1,
        )
        .replacen(
            "host = \"sip.carrier.example\"",
            "host = \"127.0.0.1\"\nport = 5090",
            1,
        )
        .replace("username = \"0215550000\"\npassword = \"change-me\"\n", "")
        .replacen("\nexpires = 600\n", "\n", 1)
    });
    let mut carrier = Phone::at("carrier", carrier_addr());
    let probe = carrier.next_msg(&mut s);
    assert_eq!(
        probe.method().map(|m| m.to_string()).as_deref(),
        Some("OPTIONS")
    );
    carrier.respond(&mut s, &probe, 200, "", "");
    assert_eq!(trunk_view(&s).health, TrunkHealth::Up);
    assert_eq!(
        trunk_view(&s).registered,
        None,
        "an IP trunk does not register"
    );
    assert!(s.core.trunk_usable("demo"));

    // Silence from now on: two probes time out (32 s each, after 30 s).
    s.advance(Duration::from_secs(200));
    let v = trunk_view(&s);
    assert_eq!(v.health, TrunkHealth::Down, "{v:?}");
    assert_eq!(v.why.as_deref(), Some("no answer to OPTIONS"));
    assert!(
        !s.core.trunk_usable("demo"),
        "routes skip a trunk marked down"
    );
    assert!(trunk_events(&s).contains(&(None, TrunkHealth::Down, false)));

    // It answers again, as soon as asked: up within the faster probing
    // of a trunk that is down (a quarter of the interval, at least 5 s)
    // plus the probe in flight.
    for _ in 0..40 {
        s.advance(Duration::from_secs(1));
        while let Some(m) = carrier.try_msg(&mut s) {
            carrier.respond(&mut s, &m, 200, "", "");
        }
    }
    assert_eq!(trunk_view(&s).health, TrunkHealth::Up);
    assert!(s.core.trunk_usable("demo"));
}

#[test]
fn a_trunk_removed_by_a_new_configuration_unregisters() {
    let mut s = box_with_trunk(0);
    let mut carrier = Phone::at("carrier", carrier_addr());
    let r = carrier.expect_request(&mut s, "REGISTER");
    carrier.respond(&mut s, &r, 200, "Expires: 600\r\n", "");
    assert_eq!(trunk_view(&s).registered, Some(true));

    let text = dering_config::DEFAULT_TOML.replacen(
        "name = \"demo\"\nenabled = false",
        "name = \"other\"\nenabled = false",
        1,
    );
    let text = text.replacen("trunks = [\"demo\"]", "trunks = [\"other\"]", 1);
    let cfg = pbxd::config::Config::parse(&text, "new.toml").expect("configuration");
    let t = s.t();
    s.core.apply_config(t, &cfg);
    s.advance(Duration::from_millis(600));
    let bye = carrier.expect_request(&mut s, "REGISTER");
    assert_eq!(bye.get("Expires"), Some("0"), "unregistered on removal");
    let t = s.t();
    let names: Vec<String> = s.core.trunk_views(t).into_iter().map(|v| v.name).collect();
    assert_eq!(names, vec!["other".to_string()]);
}

#[test]
fn a_host_name_waits_for_the_resolver_then_registers_where_it_points() {
    let mut s = Sim::new(|t| {
        t.replacen(
            "name = \"demo\"\nenabled = false",
            "name = \"demo\"\nenabled = true",
            1,
        )
        .replacen(
            "host = \"sip.carrier.example\"",
            "host = \"carrier.test\"",
            1,
        )
        .replacen("keepalive_seconds = 30", "keepalive_seconds = 0", 1)
    });
    let asked = s.core.take_resolve_requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].trunk, "demo");
    assert_eq!(asked[0].query.host, "carrier.test");
    assert_eq!(asked[0].query.port, None, "SRV is asked for a name");
    assert!(s.core.take_resolve_requests().is_empty(), "asked once");
    s.advance(Duration::from_secs(5));
    assert_eq!(s.pending(carrier_addr()), 0, "nothing sent before resolved");
    let v = trunk_view(&s);
    assert_eq!((v.registered, v.target), (Some(false), None));

    let t = s.t();
    s.core.trunk_resolved(
        t,
        "demo",
        Ok(vec![dering_trunk::Target {
            addr: carrier_addr(),
            transport: dering_trunk::Transport::Udp,
        }]),
    );
    s.advance(Duration::from_millis(10));
    let mut carrier = Phone::at("carrier", carrier_addr());
    let r = carrier.expect_request(&mut s, "REGISTER");
    assert_eq!(r.request_uri(), Some("sip:carrier.test"));
    carrier.respond(&mut s, &r, 200, "Expires: 600\r\n", "");
    let v = trunk_view(&s);
    assert_eq!(v.registered, Some(true));
    assert_eq!(v.target.as_deref(), Some("udp:127.0.0.1:5090"));

    // Outside calls go where the resolver pointed, the carrier's name in
    // the Request-URI.
    let mut a = Phone::registered(&mut s, "1001");
    a.invite(&mut s, "081234567890");
    let inv = carrier.expect_request(&mut s, "INVITE");
    assert!(
        inv.request_uri().unwrap().contains("@carrier.test"),
        "{inv:?}"
    );
}

#[test]
fn a_new_password_after_the_alarm_registers_again() {
    let edit = |t: String, password: &str| {
        t.replacen(
            "name = \"demo\"\nenabled = false",
            "name = \"demo\"\nenabled = true",
            1,
        )
        .replacen(
            "host = \"sip.carrier.example\"",
            "host = \"127.0.0.1\"\nport = 5090",
            1,
        )
        .replacen(
            "password = \"change-me\"",
            &format!("password = \"{password}\""),
            1,
        )
        .replacen("keepalive_seconds = 30", "keepalive_seconds = 0", 1)
    };
    let mut s = Sim::new(|t| edit(t, "revoked"));
    let mut carrier = Phone::at("carrier", carrier_addr());
    for _ in 0..(3600 / 5) {
        for r in registers(&mut s, &mut carrier) {
            carrier.respond(&mut s, &r, 401, CHALLENGE, "");
        }
        s.advance(Duration::from_secs(5));
    }
    assert!(trunk_view(&s).alarm, "gave up on the revoked password");

    // The administrator imports the new password: the trunk starts over.
    let text = edit(dering_config::DEFAULT_TOML.to_string(), "the-new-one");
    let cfg = pbxd::config::Config::parse(&text, "new.toml").expect("configuration");
    let t = s.t();
    s.core.apply_config(t, &cfg);
    s.advance(Duration::from_millis(600));
    let r = carrier.expect_request(&mut s, "REGISTER");
    assert_eq!(
        r.get("Expires"),
        Some("600"),
        "a registration, not a removal"
    );
    carrier.respond(&mut s, &r, 200, "Expires: 600\r\n", "");
    let v = trunk_view(&s);
    assert_eq!((v.registered, v.alarm), (Some(true), false), "{v:?}");
    assert_eq!(
        trunk_events(&s).last(),
        Some(&(Some(true), TrunkHealth::Unknown, false)),
        "the alarm's end is on the feed"
    );
}
