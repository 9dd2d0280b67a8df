//! The box answering a far side's digest challenge (RFC 3261 §22.2,
//! TEL-1, the seam for trunks): extension 7001 is a static peer, a sipp
//! callee that answers pbxd's first INVITE with 401 and checks the second
//! with `verifyauth` against the password, so a wrong hash fails the test.
//! A wrong password ends the call once (no loop), a peer without a
//! credential fails as before with the reason logged, and a CANCEL after
//! the challenge matches the authenticated INVITE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hwtests::fragments::*;
use hwtests::{caller, free_udp_port, ok, phone, scenario, Dering, Sipp};

const PASSWORD: &str = "s3cret-pw";

/// A box where extension 7001 is the static peer at 127.0.0.1:`port`,
/// with `auth` (TOML lines) as its credential.
fn box_with_peer(port: u16, auth: &str) -> Dering {
    Dering::start_with(|text| {
        format!(
            "{text}\n[[extension]]\nnumber = \"7001\"\nname = \"Far side\"\npassword = \"peer-pass-1\"\ncontact = \"sip:7001@127.0.0.1:{port}\"\n{auth}"
        )
    })
}

fn credential(password: &str) -> String {
    format!("auth_user = \"dering\"\nauth_password = \"{password}\"\n")
}

/// The challenging far side on `port`; `after_auth` runs once pbxd's
/// credentials check out.
fn far_side(d: &Dering, port: u16, after_auth: &str) -> Sipp {
    let sf = scenario(
        d.dir(),
        "uas_auth.xml",
        &[("PASSWORD", PASSWORD), ("AFTER_AUTH", after_auth)],
    );
    let s = phone(d, &sf, port, &["-rtp_echo".to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    s
}

/// A receive of `method` whose CSeq must be `cseq` (the dialog goes on
/// from the authenticated INVITE's CSeq 2).
fn recv_with_cseq(method: &str, cseq: u32) -> String {
    format!(
        "  <recv request=\"{method}\" crlf=\"true\">\n    <action>\n      <ereg regexp=\"(^|[^0-9]){cseq} {method}\" search_in=\"hdr\" header=\"CSeq:\" check_it=\"true\" assign_to=\"junk\"/>\n    </action>\n  </recv>\n"
    )
}

/// The far side answers the authenticated INVITE; its 2xx's ACK must
/// carry CSeq 2 and the BYE that follows CSeq 3 (RFC 3261 §13.2.2.4,
/// §12.2.1.1).
fn answer_checking_the_dialog_cseqs() -> String {
    format!(
        "{}{}{}{}{}",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        reply("200 OK", true, None, SDP_ANSWER).replacen("<send>", r#"<send retrans="500">"#, 1),
        recv_with_cseq("ACK", 2),
        recv_with_cseq("BYE", 3),
        reply("200 OK", false, None, ""),
    )
}

fn log_says(d: &Dering, what: &str) {
    let log = d.log();
    assert!(log.contains(what), "pbxd log lacks {what:?}:\n{log}");
}

#[test]
fn a_far_side_that_challenges_is_answered_and_the_call_connects() {
    let port = free_udp_port();
    let d = box_with_peer(port, &credential(PASSWORD));
    let uas = far_side(&d, port, &answer_checking_the_dialog_cseqs());
    ok(
        caller(&d, "1001", "7001", &uac_answered_then(&uac_media_and_bye())),
        "caller",
        &d,
    );
    ok(uas, "far side", &d);
    let calls = d.ended_calls(1);
    assert_eq!(calls[0]["disposition"], "answered", "{calls:?}");
    log_says(&d, "answered the callee's challenge");
}

#[test]
fn a_wrong_password_fails_the_call_once_without_a_loop() {
    let port = free_udp_port();
    let d = box_with_peer(port, &credential("not-the-password"));
    // The far side challenges again with the same nonce; a box that
    // answered again would get no answer (sipp has ended) and its caller
    // a 408 instead of the 480.
    let uas = far_side(&d, port, "");
    ok(caller(&d, "1001", "7001", &uac_final(480)), "caller", &d);
    ok(uas, "far side", &d);
    let calls = d.ended_calls(1);
    assert_eq!(calls[0]["sip_code"], 401, "{calls:?}");
    assert_eq!(calls[0]["disposition"], "failed", "{calls:?}");
    log_says(&d, "credentials rejected");
}

#[test]
fn a_peer_without_a_credential_fails_as_before_and_the_log_says_why() {
    let port = free_udp_port();
    let d = box_with_peer(port, "");
    let sf = scenario(
        d.dir(),
        "uas.xml",
        &[(
            "BEHAVIOUR",
            &format!(
                "{}  <recv request=\"ACK\"/>\n",
                reply(
                    "401 Unauthorized",
                    true,
                    None,
                    "WWW-Authenticate: Digest realm=\"far.example\", nonce=\"n1\", qop=\"auth\"\n      Content-Length: 0"
                )
            ),
        )],
    );
    let uas = phone(&d, &sf, port, &[]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    ok(caller(&d, "1001", "7001", &uac_final(480)), "caller", &d);
    ok(uas, "far side", &d);
    log_says(&d, "no credential is known for its target");
}

/// The callee rings after the challenge until the CANCEL, which must
/// carry the authenticated INVITE's CSeq number (RFC 3261 §9.1).
fn ring_until_cancel_of_cseq_2() -> String {
    format!(
        "{}  <recv request=\"CANCEL\">\n    <action>\n      <ereg regexp=\"(^|[^0-9])2 CANCEL\" search_in=\"hdr\" header=\"CSeq:\" check_it=\"true\" assign_to=\"junk\"/>\n    </action>\n  </recv>\n{}{}  <recv request=\"ACK\"/>\n",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        reply("200 OK", true, None, ""),
        reply("487 Request Terminated", true, Some("2 INVITE"), ""),
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

#[test]
fn a_cancel_after_the_challenge_matches_the_authenticated_invite() {
    let port = free_udp_port();
    let d = box_with_peer(port, &credential(PASSWORD));
    let uas = far_side(&d, port, &ring_until_cancel_of_cseq_2());
    ok(caller(&d, "1001", "7001", &uac_cancel()), "caller", &d);
    ok(uas, "far side", &d);
    let calls = d.ended_calls(1);
    assert_eq!(calls[0]["disposition"], "cancelled", "{calls:?}");
}

/// A proxy's challenge (407, Proxy-Authenticate) is answered with
/// Proxy-Authorization. (sipp's verifyauth reads only Authorization, and
/// its header search finds Authorization inside Proxy-Authorization: the
/// hash is the one the 401 test checks, the header names are checked by
/// the uac unit tests.)
#[test]
fn a_407_is_answered_with_proxy_authorization() {
    let port = free_udp_port();
    let d = box_with_peer(port, &credential(PASSWORD));
    let behaviour = format!(
        r#"{}  <recv request="ACK"/>
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="^ *Digest .*username=&quot;dering&quot;" search_in="hdr" header="Proxy-Authorization:" check_it="true" assign_to="junk"/>
      <ereg regexp="realm=&quot;far.example&quot;" search_in="hdr" header="Proxy-Authorization:" check_it="true" assign_to="junk"/>
    </action>
  </recv>
{}{}"#,
        reply(
            "407 Proxy Authentication Required",
            true,
            None,
            "Proxy-Authenticate: Digest realm=\"far.example\", nonce=\"p1\", algorithm=MD5, qop=\"auth\"\n      Content-Length: 0"
        ),
        uas_answer(),
        wait_bye(),
    );
    let sf = scenario(d.dir(), "uas.xml", &[("BEHAVIOUR", &behaviour)]);
    let uas = phone(&d, &sf, port, &["-rtp_echo".to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    ok(
        caller(&d, "1001", "7001", &uac_answered_then(&uac_media_and_bye())),
        "caller",
        &d,
    );
    ok(uas, "far side", &d);
}
