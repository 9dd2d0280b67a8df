//! The inbound message model: a framed, normalised SIP message.
//!
//! rsip rejects or mis-reads a third of RFC 4475 (see
//! `docs/decisions/0001-rsip-behind-own-parser.md`), so every byte from the
//! network goes through this parser first: it bounds the body by
//! Content-Length, unfolds continuation lines, trims whitespace around the
//! colon, expands compact header names and splits comma-joined Via, Route,
//! Record-Route and Contact values into one header each. Outgoing messages are
//! built and serialised with rsip (see [`crate::build`]).

use crate::error::ParseError;
use crate::method::Method;

/// Largest message accepted (UDP datagram or one framed TCP message).
pub const MAX_MESSAGE: usize = 65_535;

/// Request or status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// One header line after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Canonical spelling for known headers, the wire spelling otherwise.
    pub name: String,
    pub value: String,
}

/// A parsed SIP message with its headers in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// Headers whose comma-separated values are split into one header each.
const SPLIT_LISTS: &[&str] = &["Via", "Route", "Record-Route", "Contact", "Path"];

/// Known header names in canonical case, with compact forms (RFC 3261 §7.3.3
/// and the extensions that define one).
const CANONICAL: &[(&str, Option<&str>)] = &[
    ("Accept", None),
    ("Accept-Contact", Some("a")),
    ("Accept-Encoding", None),
    ("Accept-Language", None),
    ("Alert-Info", None),
    ("Allow", None),
    ("Allow-Events", Some("u")),
    ("Authentication-Info", None),
    ("Authorization", None),
    ("Call-ID", Some("i")),
    ("Call-Info", None),
    ("Contact", Some("m")),
    ("Content-Disposition", None),
    ("Content-Encoding", Some("e")),
    ("Content-Language", None),
    ("Content-Length", Some("l")),
    ("Content-Type", Some("c")),
    ("CSeq", None),
    ("Date", None),
    ("Error-Info", None),
    ("Event", Some("o")),
    ("Expires", None),
    ("From", Some("f")),
    ("Identity", Some("y")),
    ("In-Reply-To", None),
    ("Max-Forwards", None),
    ("Min-Expires", None),
    ("MIME-Version", None),
    ("Organization", None),
    ("Path", None),
    ("Priority", None),
    ("Proxy-Authenticate", None),
    ("Proxy-Authorization", None),
    ("Proxy-Require", None),
    ("Record-Route", None),
    ("Refer-To", Some("r")),
    ("Referred-By", Some("b")),
    ("Reject-Contact", Some("j")),
    ("Reply-To", None),
    ("Request-Disposition", Some("d")),
    ("Require", None),
    ("Retry-After", None),
    ("Route", None),
    ("Server", None),
    ("Session-Expires", Some("x")),
    ("Subject", Some("s")),
    ("Subscription-State", None),
    ("Supported", Some("k")),
    ("Timestamp", None),
    ("To", Some("t")),
    ("Unsupported", None),
    ("User-Agent", None),
    ("Via", Some("v")),
    ("Warning", None),
    ("WWW-Authenticate", None),
];

/// The canonical name of a header given as it appeared on the wire.
pub fn canonical_name(wire: &str) -> String {
    for (long, compact) in CANONICAL {
        if long.eq_ignore_ascii_case(wire) {
            return (*long).to_string();
        }
        if let Some(c) = compact {
            if c.eq_ignore_ascii_case(wire) {
                return (*long).to_string();
            }
        }
    }
    wire.to_string()
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// Whether `s` is a non-empty RFC 3261 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Where the header section ends: the offset of the first byte after the
/// blank line, accepting bare LF line ends from sloppy stacks.
pub(crate) fn end_of_headers(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

impl Message {
    /// Parses one message from a datagram. Octets after the body bounded by
    /// Content-Length are ignored (RFC 3261 §18.3); a datagram without
    /// Content-Length has the rest of the datagram as body.
    pub fn parse_datagram(buf: &[u8]) -> Result<Message, ParseError> {
        if buf.len() > MAX_MESSAGE {
            return Err(ParseError::TooLarge(buf.len()));
        }
        let head_end = end_of_headers(buf).ok_or(ParseError::Incomplete)?;
        let mut msg = Self::parse_head(&buf[..head_end])?;
        let rest = &buf[head_end..];
        let body_len = match msg.content_length()? {
            Some(n) if n > rest.len() => {
                return Err(ParseError::Truncated {
                    declared: n,
                    available: rest.len(),
                })
            }
            Some(n) => n,
            None => rest.len(),
        };
        msg.body = rest[..body_len].to_vec();
        Ok(msg)
    }

    /// Parses the start line and headers (everything before the body).
    pub(crate) fn parse_head(head: &[u8]) -> Result<Message, ParseError> {
        let text = String::from_utf8_lossy(head);
        let mut lines: Vec<String> = Vec::new();
        for raw in text.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with([' ', '\t']) && lines.len() > 1 {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                if let Some(last) = lines.last_mut() {
                    let joined = format!("{} {}", last.trim_end(), line.trim());
                    *last = joined;
                }
            } else if line.is_empty() {
                continue;
            } else {
                lines.push(line.to_string());
            }
        }
        let mut it = lines.into_iter();
        let start_line = it.next().ok_or(ParseError::StartLine("empty"))?;
        let start = parse_start_line(&start_line)?;
        let mut headers = Vec::new();
        for (n, line) in it.enumerate() {
            let colon = line.find(':').ok_or(ParseError::HeaderLine(n + 2))?;
            let name = line[..colon].trim_end();
            if !is_token(name) {
                return Err(ParseError::HeaderLine(n + 2));
            }
            let name = canonical_name(name);
            let value = line[colon + 1..].trim();
            if SPLIT_LISTS.contains(&name.as_str()) && value != "*" {
                for part in split_list(value) {
                    headers.push(Header {
                        name: name.clone(),
                        value: part,
                    });
                }
            } else {
                headers.push(Header {
                    name,
                    value: value.to_string(),
                });
            }
        }
        Ok(Message {
            start,
            headers,
            body: Vec::new(),
        })
    }

    /// The Content-Length, if exactly one well-formed one is present.
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        let mut values = self.all("Content-Length");
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ParseError::Repeated("Content-Length"));
        }
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::ContentLength);
        }
        first
            .parse::<usize>()
            .map(Some)
            .map_err(|_| ParseError::ContentLength)
    }

    /// The first value of header `name` (canonical spelling).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn call_id(&self) -> Option<&str> {
        self.get("Call-ID")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Result<(u32, Method), ParseError> {
        let v = self.get("CSeq").ok_or(ParseError::Missing("CSeq"))?;
        let mut parts = v.split_whitespace();
        let num = parts
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n < 1 << 31)
            .ok_or(ParseError::Header {
                header: "CSeq",
                why: "sequence number",
            })?;
        let method = parts
            .next()
            .filter(|m| is_token(m))
            .ok_or(ParseError::Header {
                header: "CSeq",
                why: "method",
            })?;
        if parts.next().is_some() {
            return Err(ParseError::Header {
                header: "CSeq",
                why: "trailing text",
            });
        }
        Ok((num, Method::from(method)))
    }

    /// Checks what RFC 3261 §8.1.1 requires of every request and what the
    /// RFC 4475 invalid and semantic cases demand (single-valued headers,
    /// bounded scalars, CSeq matching the method).
    pub fn validate_request(&self) -> Result<(), ParseError> {
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.get(name).is_none() {
                return Err(ParseError::Missing(match name {
                    "Via" => "Via",
                    "From" => "From",
                    "To" => "To",
                    "Call-ID" => "Call-ID",
                    _ => "CSeq",
                }));
            }
        }
        for name in [
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Max-Forwards",
            "Content-Type",
            "Expires",
        ] {
            if self.all(name).count() > 1 {
                return Err(ParseError::Repeated(match name {
                    "From" => "From",
                    "To" => "To",
                    "Call-ID" => "Call-ID",
                    "CSeq" => "CSeq",
                    "Max-Forwards" => "Max-Forwards",
                    "Content-Type" => "Content-Type",
                    _ => "Expires",
                }));
            }
        }
        let (_, cseq_method) = self.cseq()?;
        if let Some(m) = self.method() {
            if *m != cseq_method {
                return Err(ParseError::CSeqMismatch);
            }
        }
        if let Some(mf) = self.get("Max-Forwards") {
            match mf.parse::<u32>() {
                Ok(n) if n <= 255 => {}
                _ => {
                    return Err(ParseError::Header {
                        header: "Max-Forwards",
                        why: "not 0-255",
                    })
                }
            }
        }
        if let Some(e) = self.get("Expires") {
            if e.parse::<u32>().is_err() {
                return Err(ParseError::Header {
                    header: "Expires",
                    why: "not a 32-bit number",
                });
            }
        }
        for name in ["From", "To"] {
            let v = self.get(name).unwrap_or_default();
            crate::nameaddr::NameAddr::parse(v).map_err(|_| ParseError::Header {
                header: if name == "From" { "From" } else { "To" },
                why: "not a name-addr or addr-spec",
            })?;
        }
        for v in self.all("Contact") {
            if v != "*" {
                let c = crate::nameaddr::NameAddr::parse(v).map_err(|_| ParseError::Header {
                    header: "Contact",
                    why: "not a name-addr or addr-spec",
                })?;
                if let Some(exp) = c.param("expires") {
                    if exp.parse::<u32>().is_err() {
                        return Err(ParseError::Header {
                            header: "Contact",
                            why: "expires not a 32-bit number",
                        });
                    }
                }
            }
        }
        for v in self.all("Via") {
            crate::via::Via::parse(v).map_err(|_| ParseError::Header {
                header: "Via",
                why: "unparseable",
            })?;
        }
        if let Some(date) = self.get("Date") {
            // RFC 3261 §20.17: the only zone allowed is GMT.
            if !date.trim_end().ends_with("GMT") {
                return Err(ParseError::Header {
                    header: "Date",
                    why: "not in GMT",
                });
            }
        }
        let uri = self.request_uri().unwrap_or_default();
        match crate::uri::Uri::parse(uri) {
            Ok(u) if !u.headers.is_empty() => {
                return Err(ParseError::RequestUri("headers are not allowed"))
            }
            Ok(_) => {}
            Err(crate::uri::UriError::UnknownScheme) => {}
            Err(_) => return Err(ParseError::RequestUri("unparseable")),
        }
        Ok(())
    }
}

/// Splits a header value at commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut in_angle = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                let t = cur.trim();
                if !t.is_empty() {
                    out.push(t.to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    out
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = rest
            .split_once(' ')
            .ok_or(ParseError::StartLine("status line"))?;
        if version != "2.0" {
            return Err(ParseError::Version(format!("SIP/{version}")));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::StartLine("status code"));
        }
        let code: u16 = code
            .parse()
            .map_err(|_| ParseError::StartLine("status code"))?;
        if !(100..700).contains(&code) {
            return Err(ParseError::StartLine("status code"));
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_string(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF, single spaces.
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine(
            "request line is not METHOD SP URI SP VERSION",
        ));
    };
    if !is_token(method) {
        return Err(ParseError::StartLine("method"));
    }
    if uri.is_empty() || uri.starts_with('<') || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ParseError::StartLine("Request-URI"));
    }
    match version.strip_prefix("SIP/") {
        Some("2.0") => {}
        Some(v) if !v.is_empty() => return Err(ParseError::Version(version.to_string())),
        _ => return Err(ParseError::StartLine("version")),
    }
    Ok(StartLine::Request {
        method: Method::from(method),
        uri: uri.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_expands_compact_names() {
        let m = Message::parse_datagram(
            b"OPTIONS sip:a@b SIP/2.0\r\nv : SIP/2.0/UDP h;branch=z9hG4bK1,\r\n SIP/2.0/TCP g\r\ni:x\r\nl: 0\r\n\r\n",
        )
        .unwrap();
        let vias: Vec<_> = m.all("Via").collect();
        assert_eq!(vias, ["SIP/2.0/UDP h;branch=z9hG4bK1", "SIP/2.0/TCP g"]);
        assert_eq!(m.call_id(), Some("x"));
        assert_eq!(m.content_length(), Ok(Some(0)));
    }

    #[test]
    fn body_is_bounded_by_content_length() {
        let m =
            Message::parse_datagram(b"SIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nabcdef").unwrap();
        assert_eq!(m.body, b"ab");
        let e = Message::parse_datagram(b"SIP/2.0 200 OK\r\nContent-Length: 20\r\n\r\nabc");
        assert!(matches!(e, Err(ParseError::Truncated { .. })));
    }

    #[test]
    fn strict_request_line() {
        assert!(parse_start_line("INVITE  sip:a@b SIP/2.0").is_err());
        assert!(parse_start_line("INVITE sip:a@b SIP/2.0 ").is_err());
        assert!(parse_start_line("INVITE <sip:a@b> SIP/2.0").is_err());
        assert_eq!(
            parse_start_line("INVITE sip:a@b SIP/7.0"),
            Err(ParseError::Version("SIP/7.0".into()))
        );
        assert!(parse_start_line("SIP/2.0 4294967301 Big").is_err());
    }

    #[test]
    fn split_respects_quotes_and_brackets() {
        assert_eq!(
            split_list(r#""a, b" <sip:x@y;p=1,2>, <sip:z@w>"#),
            vec![
                r#""a, b" <sip:x@y;p=1,2>"#.to_string(),
                "<sip:z@w>".to_string()
            ]
        );
    }
}
