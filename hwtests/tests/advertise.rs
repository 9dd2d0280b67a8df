//! A box bound to the wildcard address (`[sip] bind = "0.0.0.0"`) never
//! writes 0.0.0.0 where a peer reads an address to send to (issue #12's
//! seam for trunks): a sipp callee, the static peer 7001, checks the Via,
//! Contact and SDP c= line of the INVITE the box sends it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use hwtests::fragments::*;
use hwtests::{free_udp_port, ok, phone, scenario, Dering};

/// A box bound to 0.0.0.0 (with `sip` further [sip] lines) whose
/// extension 7001 is the static peer at 127.0.0.1:`port`.
fn wildcard_box(port: u16, sip: &str) -> Dering {
    Dering::start_with(|text| {
        let text = text.replacen(
            "[sip]\nbind = \"127.0.0.1\"\n",
            &format!("[sip]\nbind = \"0.0.0.0\"\n{sip}"),
            1,
        );
        assert!(text.contains("bind = \"0.0.0.0\""));
        // The box refuses a wildcard bind while demo passwords are in force.
        let text = text.replace("password = \"demo-", "password = \"changed-");
        format!(
            "{text}\n[[extension]]\nnumber = \"7001\"\nname = \"Peer\"\npassword = \"peer-pass-1\"\ncontact = \"sip:7001@127.0.0.1:{port}\"\n"
        )
    })
}

/// 1001 calls 7001, which checks the INVITE carries `addr` in Via,
/// Contact and c=, and no 0.0.0.0, then answers; the caller hangs up.
fn call_checks(d: &Dering, port: u16, addr: IpAddr) {
    let re = addr.to_string().replace('.', "\\.");
    let sf = scenario(
        d.dir(),
        "uas_addresses.xml",
        &[
            ("VIA", &re),
            ("CONTACT", &re),
            ("SDP", &re),
            ("BEHAVIOUR", &format!("{}{}", uas_answer(), wait_bye())),
        ],
    );
    let uas = phone(d, &sf, port, &[]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // No media: the caller's RTP would go to the advertised address.
    let after = uac_answered_then(&format!(
        "{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ));
    let sf = scenario(d.dir(), "uac.xml", &[("AFTER_INVITE", &after)]);
    let args = [
        &d.addr(),
        "-s",
        "7001",
        "-key",
        "me",
        "1001",
        "-au",
        "1001",
        "-ap",
        "changed-1001",
    ]
    .map(String::from);
    ok(phone(d, &sf, free_udp_port(), &args), "caller", d);
    ok(uas, "callee checking the addresses", d);
}

#[test]
fn a_wildcard_bind_advertises_the_configured_address() {
    let port = free_udp_port();
    let d = wildcard_box(port, "advertise = \"127.0.0.1\"\n");
    call_checks(&d, port, IpAddr::V4(Ipv4Addr::LOCALHOST));
}

/// Without `advertise`, the address of the interface the default route
/// leaves by, as the kernel picks it for a remote destination.
#[test]
fn a_wildcard_bind_without_advertise_uses_the_outgoing_interface() {
    let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
    let expected = match probe.connect("203.0.113.1:9") {
        Ok(()) => probe.local_addr().unwrap().ip(),
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let port = free_udp_port();
    let d = wildcard_box(port, "");
    call_checks(&d, port, expected);
}
