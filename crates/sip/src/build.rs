//! Outgoing messages, built with rsip's message model and serialised by it.
//! Header values are carried through rsip's untyped headers verbatim, so
//! nothing we received is re-parsed by rsip on the way out.

use rsip::headers::UntypedHeader as _;
use rsip::Header as H;

use crate::error::ParseError;
use crate::msg::Message;

/// Standard reason phrases for the codes we send.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// Methods pbxd implements, for Allow headers.
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, NOTIFY, REFER, SUBSCRIBE";

/// A header to add to an outgoing message.
pub fn header(name: &str, value: impl Into<String>) -> H {
    let value = value.into();
    match name {
        "Via" => H::Via(rsip::headers::Via::new(value)),
        "From" => H::From(rsip::headers::From::new(value)),
        "To" => H::To(rsip::headers::To::new(value)),
        "Call-ID" => H::CallId(rsip::headers::CallId::new(value)),
        "CSeq" => H::CSeq(rsip::headers::CSeq::new(value)),
        "Contact" => H::Contact(rsip::headers::Contact::new(value)),
        "Content-Type" => H::ContentType(rsip::headers::ContentType::new(value)),
        "Max-Forwards" => H::MaxForwards(rsip::headers::MaxForwards::new(value)),
        _ => H::Other(name.to_string(), value),
    }
}

/// Serialises with rsip, appending Content-Length for the body.
fn finish(mut headers: Vec<H>, body: &[u8]) -> rsip::Headers {
    headers.push(H::ContentLength(rsip::headers::ContentLength::new(
        body.len().to_string(),
    )));
    headers.push(H::Other("Server".into(), "Dering".into()));
    rsip::Headers::from(headers)
}

/// A response to `req`: Via, From, To, Call-ID and CSeq copied (RFC 3261
/// §8.2.6.2), a To tag added when given and absent.
pub fn response(
    req: &Message,
    code: u16,
    to_tag: Option<&str>,
    extra: Vec<H>,
    body: &[u8],
) -> Vec<u8> {
    let mut headers = Vec::with_capacity(8 + extra.len());
    for v in req.all("Via") {
        headers.push(header("Via", v));
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        if let Some(v) = req.get(name) {
            let v = match (name, to_tag) {
                ("To", Some(tag)) if code > 100 && !has_tag(v) => format!("{v};tag={tag}"),
                _ => v.to_string(),
            };
            headers.push(header(name, v));
        }
    }
    headers.extend(extra);
    let resp = rsip::Response {
        status_code: rsip::StatusCode::from(code),
        version: rsip::Version::V2,
        headers: finish(headers, body),
        body: body.to_vec(),
    };
    let mut out = resp.to_string().into_bytes();
    fix_reason(&mut out, code);
    out
}

/// rsip writes "Other" or its own wording as the reason phrase; the status
/// line is rewritten with the phrase we document.
fn fix_reason(out: &mut Vec<u8>, code: u16) {
    if let Some(eol) = out.windows(2).position(|w| w == b"\r\n") {
        let good = format!("SIP/2.0 {code} {}", reason(code));
        out.splice(..eol, good.into_bytes());
    }
}

fn has_tag(v: &str) -> bool {
    crate::nameaddr::NameAddr::parse(v).is_ok_and(|n| n.tag().is_some())
}

/// A request we originate.
#[derive(Debug, Clone)]
pub struct RequestSpec<'a> {
    pub method: rsip::Method,
    pub uri: &'a str,
    pub via: String,
    pub from: String,
    pub to: String,
    pub call_id: &'a str,
    pub cseq: u32,
    pub contact: Option<String>,
    pub extra: Vec<H>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Serialises a request through rsip. Fails when rsip cannot represent the
/// Request-URI (it cannot hold IPv6 literals; see the decision record).
pub fn request(spec: RequestSpec<'_>) -> Result<Vec<u8>, ParseError> {
    let uri =
        rsip::Uri::try_from(spec.uri).map_err(|_| ParseError::RequestUri("not representable"))?;
    let mut headers = vec![
        header("Via", spec.via),
        header("Max-Forwards", "70"),
        header("From", spec.from),
        header("To", spec.to),
        header("Call-ID", spec.call_id),
        header("CSeq", format!("{} {}", spec.cseq, spec.method)),
    ];
    if let Some(c) = spec.contact {
        headers.push(header("Contact", c));
    }
    if let Some(ct) = spec.content_type {
        headers.push(header("Content-Type", ct));
    }
    headers.extend(spec.extra);
    let req = rsip::Request {
        method: spec.method,
        uri,
        version: rsip::Version::V2,
        headers: finish(headers, spec.body),
        body: spec.body.to_vec(),
    };
    Ok(req.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_fixture() -> Message {
        Message::parse_datagram(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP g;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
    }

    #[test]
    fn contact_header_is_written() {
        let contact = header("Contact", "<sip:dering@127.0.0.1:5060>");
        let out = response(&request_fixture(), 200, Some("t"), vec![contact], b"");
        let m = Message::parse_datagram(&out).unwrap();
        assert_eq!(m.get("Contact"), Some("<sip:dering@127.0.0.1:5060>"));
    }

    #[test]
    fn response_copies_dialog_headers_and_parses_back() {
        let req = request_fixture();
        let out = response(
            &req,
            420,
            Some("t9"),
            vec![header("Unsupported", "foo")],
            b"",
        );
        let resp = Message::parse_datagram(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        assert_eq!(resp.status(), Some(420));
        assert!(out.starts_with(b"SIP/2.0 420 Bad Extension\r\n"));
        assert_eq!(resp.all("Via").count(), 2);
        assert_eq!(resp.get("To"), Some("<sip:a@b>;tag=t9"));
        assert_eq!(resp.get("Unsupported"), Some("foo"));
        assert_eq!(resp.content_length(), Ok(Some(0)));
    }

    #[test]
    fn request_roundtrip() {
        let out = request(RequestSpec {
            method: rsip::Method::Invite,
            uri: "sip:1002@127.0.0.1:5072;transport=udp",
            via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport".into(),
            from: "\"1001\" <sip:1001@dering>;tag=a".into(),
            to: "<sip:1002@dering>".into(),
            call_id: "cid",
            cseq: 1,
            contact: Some("<sip:pbx@127.0.0.1:5060>".into()),
            extra: vec![],
            content_type: Some("application/sdp"),
            body: b"v=0\r\n",
        })
        .unwrap();
        let m = Message::parse_datagram(&out).unwrap();
        // rsip upper-cases the transport value; URI comparison ignores case.
        assert!(m
            .request_uri()
            .unwrap()
            .eq_ignore_ascii_case("sip:1002@127.0.0.1:5072;transport=udp"));
        assert_eq!(m.body, b"v=0\r\n");
        assert_eq!(m.cseq().unwrap().0, 1);
    }
}
