//! What a UAS does with a datagram before any call logic sees it
//! (RFC 3261 §8.2 and the RFC 4475 cases): frame and parse it, answer
//! malformed requests with 400/505 when an answer can be addressed, drop
//! malformed responses, and reject what we do not implement with the status
//! RFC 3261 prescribes (405/501, 416, 420, 415, 406).

use crate::build::ALLOW;
use crate::error::ParseError;
use crate::method::Method;
use crate::msg::{Message, StartLine};
use crate::uri::{Uri, UriError};

/// Option tags we implement (none beyond the base spec yet).
pub const SUPPORTED: &[&str] = &[];

/// The outcome for one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A well-formed request for the transaction user.
    Request(Message),
    /// A well-formed response for the transaction layer.
    Response(Message),
    /// Answer with `code` and these headers, addressed from `to`'s headers.
    Reject {
        code: u16,
        headers: Vec<(&'static str, String)>,
        to: Box<Message>,
        why: String,
    },
    /// Say nothing.
    Drop(String),
}

/// Classifies one datagram.
pub fn classify_datagram(buf: &[u8]) -> Verdict {
    match Message::parse_datagram(buf) {
        Ok(m) if m.is_request() => match precheck(&m) {
            Ok(()) => Verdict::Request(m),
            Err((code, headers, why)) => Verdict::Reject {
                code,
                headers,
                to: Box::new(m),
                why,
            },
        },
        Ok(m) => {
            if let Err(e) = check_response(&m) {
                return Verdict::Drop(e.to_string());
            }
            Verdict::Response(m)
        }
        Err(e) => match addressable(buf) {
            Some(m) => Verdict::Reject {
                code: e.status(),
                headers: vec![],
                to: Box::new(m),
                why: e.to_string(),
            },
            None => Verdict::Drop(e.to_string()),
        },
    }
}

type Rejection = (u16, Vec<(&'static str, String)>, String);

/// The checks of RFC 3261 §8.2.1–§8.2.3 on a parsed request.
pub fn precheck(req: &Message) -> Result<(), Rejection> {
    req.validate_request()
        .map_err(|e| (e.status(), vec![], e.to_string()))?;
    let method = req.method().cloned().unwrap_or(Method::Ack);
    match method {
        Method::Extension(ref m) => {
            return Err((501, vec![("Allow", ALLOW.into())], format!("method {m}")))
        }
        Method::Message | Method::Publish | Method::Prack => {
            return Err((
                405,
                vec![("Allow", ALLOW.into())],
                format!("method {method}"),
            ))
        }
        _ => {}
    }
    if let Err(UriError::UnknownScheme) = Uri::parse(req.request_uri().unwrap_or_default()) {
        return Err((416, vec![], "Request-URI scheme".into()));
    }
    if method != Method::Ack && method != Method::Cancel {
        let unsupported: Vec<String> = req
            .all("Require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .map(str::to_string)
            .collect();
        if !unsupported.is_empty() {
            return Err((
                420,
                vec![("Unsupported", unsupported.join(", "))],
                "Require".into(),
            ));
        }
    }
    if matches!(method, Method::Invite | Method::Update | Method::Ack) && !req.body.is_empty() {
        let ct = req.get("Content-Type").unwrap_or("application/sdp");
        let mime = ct.split(';').next().unwrap_or_default().trim();
        if !mime.eq_ignore_ascii_case("application/sdp") {
            return Err((
                415,
                vec![("Accept", "application/sdp".into())],
                format!("Content-Type {mime}"),
            ));
        }
    }
    if method == Method::Invite {
        let accepts: Vec<&str> = req
            .all("Accept")
            .flat_map(|v| v.split(','))
            .map(|t| t.split(';').next().unwrap_or_default().trim())
            .filter(|t| !t.is_empty())
            .collect();
        let ok = accepts.is_empty()
            || accepts.iter().any(|a| {
                ["application/sdp", "application/*", "*/*"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(a))
            });
        if !ok {
            return Err((
                406,
                vec![("Accept", "application/sdp".into())],
                "Accept".into(),
            ));
        }
    }
    Ok(())
}

/// Responses must carry what the transaction layer matches on.
fn check_response(m: &Message) -> Result<(), ParseError> {
    m.cseq()?;
    m.get("Via").ok_or(ParseError::Missing("Via"))?;
    m.call_id().ok_or(ParseError::Missing("Call-ID"))?;
    Ok(())
}

/// For a request too malformed to parse: its headers, read leniently, if
/// they are enough to address a 400 (Via, From, To, Call-ID, CSeq).
fn addressable(buf: &[u8]) -> Option<Message> {
    if buf.starts_with(b"SIP/") {
        return None; // a response: never answered
    }
    let head_end = crate::msg::end_of_headers(buf).unwrap_or(buf.len());
    let head = &buf[..head_end];
    let eol = head.iter().position(|&b| b == b'\n')?;
    let mut fake = b"BAD sip:invalid SIP/2.0\r\n".to_vec();
    fake.extend_from_slice(&head[eol + 1..]);
    if crate::msg::end_of_headers(&fake).is_none() {
        fake.extend_from_slice(b"\r\n\r\n");
    }
    let mut m = Message::parse_head(&fake).ok()?;
    m.start = StartLine::Request {
        method: Method::Extension("BAD".into()),
        uri: String::new(),
    };
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        m.get(h)?;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_dropped_not_answered() {
        assert!(matches!(
            classify_datagram(b"\x00\xff garbage"),
            Verdict::Drop(_)
        ));
        assert!(matches!(classify_datagram(b""), Verdict::Drop(_)));
    }

    #[test]
    fn bad_request_line_is_answered_from_the_headers() {
        let v = classify_datagram(
            b"INVITE  sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n",
        );
        assert!(matches!(v, Verdict::Reject { code: 400, .. }));
    }
}
