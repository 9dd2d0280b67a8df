//! sipp scenario fragments shared by the system tests and the bench: a
//! UAS's replies, a caller's in-dialog requests, and the common call shapes.
//! They fill the `@AFTER_INVITE@` / `@BEHAVIOUR@` slots of `uac.xml` and
//! `uas.xml`.

/// A response to the last request received. `tag` adds our To tag, `cseq`
/// replaces the copied CSeq, `rest` is further headers and the body.
pub fn reply(status: &str, tag: bool, cseq: Option<&str>, rest: &str) -> String {
    let to_tag = if tag { ";tag=[pid]U[call_number]" } else { "" };
    let cseq = cseq.map_or("[last_CSeq:]".to_string(), |c| format!("CSeq: {c}"));
    let rest = if rest.is_empty() {
        "Content-Length: 0"
    } else {
        rest
    };
    format!(
        r#"  <send><![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]{to_tag}
      [last_Call-ID:]
      {cseq}
      {rest}
  ]]></send>
"#
    )
}

/// A request of the caller's inside the dialog it set up.
pub fn caller_request(method: &str, cseq: u32) -> String {
    let retrans = if method == "ACK" {
        ""
    } else {
        r#" retrans="500""#
    };
    format!(
        r#"  <send{retrans}><![CDATA[
      {method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Caller [me]" <sip:[me]@[remote_ip]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
"#
    )
}

/// Headers and body of an answer with G.711 A-law and telephone-event.
pub const SDP_ANSWER: &str = "Contact: <sip:[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000";

/// Headers of a provisional answer.
pub const RINGING_CONTACT: &str = "Contact: <sip:[local_ip]:[local_port]>
      Content-Length: 0";

/// The callee rings, answers with SDP and takes the ACK.
pub fn uas_answer() -> String {
    format!(
        "{}{}  <recv request=\"ACK\" crlf=\"true\"/>\n",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        // The 2xx to an INVITE is retransmitted until the ACK (RFC 3261
        // §13.3.1.4).
        reply("200 OK", true, None, SDP_ANSWER).replacen("<send>", r#"<send retrans="500">"#, 1)
    )
}

/// Either phone waits for the other side's BYE and confirms it.
pub fn wait_bye() -> String {
    format!(
        "  <recv request=\"BYE\"/>\n{}",
        reply("200 OK", false, None, "")
    )
}

/// Provisional answers a caller may see before the final one.
pub const UAC_RINGING: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"#;

/// The caller takes the 200, ACKs it, then does `after`.
pub fn uac_answered_then(after: &str) -> String {
    format!(
        "{UAC_RINGING}  <recv response=\"200\" rtd=\"true\" rrs=\"true\"/>\n{}{after}",
        caller_request("ACK", 2)
    )
}

/// The caller plays sip-tester's G.711 A-law pcap for 3 s, then hangs up.
pub fn uac_media_and_bye() -> String {
    format!(
        r#"  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>
  <pause milliseconds="3000"/>
{}  <recv response="200" crlf="true"/>
"#,
        caller_request("BYE", 3)
    )
}

/// The caller's ACK of a non-2xx final answer (same transaction as the INVITE).
pub const ACK_FINAL: &str = r#"  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
"#;

/// The caller expects final answer `code` and ACKs it.
pub fn uac_final(code: u16) -> String {
    format!("{UAC_RINGING}  <recv response=\"{code}\"/>\n{ACK_FINAL}")
}

/// The callee answers 486 Busy Here and takes the ACK.
pub fn uas_busy() -> String {
    format!(
        "{}  <recv request=\"ACK\"/>\n",
        reply("486 Busy Here", true, None, "")
    )
}

/// The callee rings and never answers: it takes the CANCEL (200) and ends
/// its INVITE with 487, which the caller's side ACKs.
pub fn uas_ring_until_cancel() -> String {
    format!(
        "{}  <recv request=\"CANCEL\"/>\n{}{}  <recv request=\"ACK\"/>\n",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        reply("200 OK", false, None, ""),
        reply("487 Request Terminated", true, Some("1 INVITE"), ""),
    )
}
