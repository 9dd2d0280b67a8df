//! pbxd's side of trunkd's SIP, as the virtual-time tests of the E1
//! gateway (`gateway.rs`) and the analog lines (`analog.rs`) play it:
//! its address, its SDP, its answers and its in-dialog requests.

use dering_sip::build;
use dering_sip::Message;

/// Where pbxd listens for trunkd's SIP.
pub const PBX: &str = "127.0.0.1:5060";
/// pbxd's media address in [`sdp`].
pub const PBX_RTP: &str = "127.0.0.1:20000";

/// pbxd's SDP: PCMA on [`PBX_RTP`].
pub fn sdp() -> String {
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n".into()
}

/// pbxd's answer to `req` (with SDP for a 2xx to an INVITE).
pub fn answer(req: &Message, code: u16) -> Vec<u8> {
    let body = if code == 200 && req.method().is_some_and(|m| m.as_str() == "INVITE") {
        sdp().into_bytes()
    } else {
        Vec::new()
    };
    let mut extra = vec![build::header("Contact", format!("<sip:137@{PBX}>"))];
    if !body.is_empty() {
        extra.push(build::header("Content-Type", "application/sdp"));
    }
    build::response(req, code, Some("pbx"), extra, &body)
}

/// A request pbxd sends in the dialog `to_tagged` formed (trunkd's INVITE
/// answered by pbxd, or pbxd's INVITE answered by trunkd): its To and
/// From as the far end sees them, with a `Reason` when given.
pub fn in_dialog(method: &str, to_tagged: &Message, cseq: u32, reason: Option<&str>) -> Vec<u8> {
    let reason = reason.map_or(String::new(), |r| format!("Reason: {r}\r\n"));
    format!(
        "{method} sip:trunkd@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bK{method}{cseq}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n{reason}Content-Length: 0\r\n\r\n",
        from = to_tagged.get("From").unwrap_or_default(),
        to = to_tagged.get("To").unwrap_or_default(),
        cid = to_tagged.call_id().unwrap_or_default(),
    )
    .into_bytes()
}
