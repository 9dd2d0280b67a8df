//! Framing of SIP over a byte stream (TCP, TLS; RFC 3261 §18.3): headers end
//! at the blank line, the body is exactly Content-Length (compact `l`
//! included, absent means 0), and CRLF keep-alives (RFC 5626 §3.5.1) between
//! messages are reported apart.

use crate::error::ParseError;
use crate::msg::{end_of_headers, Message, MAX_MESSAGE};

/// What the framer found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A double-CRLF ping: answer with a single CRLF pong.
    Ping,
    /// One complete message: its bytes, and the parse of its head.
    Message(Vec<u8>, Box<Message>),
}

/// Accumulates stream bytes and yields complete messages.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// How far `buf` is known to hold no end of headers: the search resumes
    /// there, so a head trickled in one byte at a time costs linear time,
    /// not quadratic.
    scanned: usize,
}

impl StreamFramer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether part of a message is buffered (line ends alone, a ping in
    /// progress, do not count): the stream owes the rest of it, and a peer
    /// that never sends it holds the connection (slowloris).
    pub fn pending(&self) -> bool {
        self.buf.iter().any(|b| !matches!(b, b'\r' | b'\n'))
    }

    /// The answer owed when [`StreamFramer::next_frame`] failed: a `400 Bad
    /// Request` to the request whose head is buffered, when that head
    /// parses and carries what a response is addressed with (Via, From, To,
    /// Call-ID, CSeq; RFC 3261 §8.2.6). `None` for a response, a head that
    /// never ended or one too broken to answer: the stream is just closed.
    pub fn rejection(&self) -> Option<Vec<u8>> {
        let head_end = end_of_headers(&self.buf)?;
        let msg = Message::parse_head(&self.buf[..head_end]).ok()?;
        if !msg.is_request() {
            return None;
        }
        for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
            msg.get(h)?;
        }
        Some(crate::build::response(&msg, 400, None, vec![], b""))
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed. An
    /// error means the stream cannot be resynchronised: close it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Frame::Ping));
        }
        let lead = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if lead > 0 && lead < self.buf.len() {
            self.buf.drain(..lead);
            self.scanned = 0;
        } else if lead > 0 {
            // Only line ends so far: a ping in progress, or stray CRLFs.
            if lead > 4 {
                self.buf.clear();
                self.scanned = 0;
            }
            return Ok(None);
        }
        // The end of headers is at most 3 bytes long: resume just before
        // where the last search stopped.
        let from = self.scanned.min(self.buf.len()).saturating_sub(3);
        let Some(head_end) = end_of_headers(&self.buf[from..]).map(|e| from + e) else {
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_MESSAGE {
                return Err(ParseError::TooLarge(self.buf.len()));
            }
            return Ok(None);
        };
        let mut msg = Message::parse_head(&self.buf[..head_end])?;
        let len = msg.content_length()?.unwrap_or(0);
        // Checked: a Content-Length near usize::MAX would wrap the sum
        // (a panic in debug builds, a bogus slice in release ones).
        let end = match head_end.checked_add(len) {
            Some(end) if end <= MAX_MESSAGE => end,
            _ => return Err(ParseError::TooLarge(head_end.saturating_add(len))),
        };
        if self.buf.len() < end {
            return Ok(None);
        }
        msg.body = self.buf[head_end..end].to_vec();
        let raw: Vec<u8> = self.buf.drain(..end).collect();
        self.scanned = 0;
        Ok(Some(Frame::Message(raw, Box::new(msg))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_split_messages_and_pings() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabc";
        let mut f = StreamFramer::default();
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        for chunk in msg.chunks(7) {
            assert_eq!(f.next_frame(), Ok(None));
            f.push(chunk);
        }
        f.push(msg);
        let Ok(Some(Frame::Message(raw, m))) = f.next_frame() else {
            panic!("no message")
        };
        assert_eq!(m.body, b"abc");
        assert_eq!(raw, msg);
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(..)))));
        assert_eq!(f.next_frame(), Ok(None));
    }

    #[test]
    fn oversized_headers_are_an_error() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\n");
        f.push(&vec![b'a'; MAX_MESSAGE + 1]);
        assert!(matches!(f.next_frame(), Err(ParseError::TooLarge(_))));
        assert_eq!(
            f.rejection(),
            None,
            "a head that never ended is not answered"
        );
    }

    /// `head_end + len` used to overflow on this length and panic the
    /// connection task that called the framer.
    #[test]
    fn overflowing_content_length_is_too_large_and_answered_400() {
        for len in [u64::MAX.to_string(), (u64::MAX - 10).to_string()] {
            let mut f = StreamFramer::default();
            f.push(
                format!(
                    "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n\
                     From: <sip:x@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n\
                     CSeq: 1 OPTIONS\r\nContent-Length: {len}\r\n\r\nabc"
                )
                .as_bytes(),
            );
            assert!(matches!(f.next_frame(), Err(ParseError::TooLarge(_))));
            let answer = f.rejection().expect("an addressable request is answered");
            let m = Message::parse_datagram(&answer).expect("a well-formed answer");
            assert_eq!(m.status(), Some(400));
            assert_eq!(m.call_id(), Some("c"));
        }
    }

    #[test]
    fn content_length_past_the_limit_is_too_large() {
        let mut f = StreamFramer::default();
        f.push(format!("OPTIONS sip:a@b SIP/2.0\r\nl: {}\r\n\r\n", MAX_MESSAGE).as_bytes());
        assert!(matches!(f.next_frame(), Err(ParseError::TooLarge(_))));
        // Without Via and the rest, there is no one to answer.
        assert_eq!(f.rejection(), None);
    }

    #[test]
    fn a_head_trickled_byte_by_byte_is_found_once_complete() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi";
        let mut f = StreamFramer::default();
        for (i, b) in msg.iter().enumerate() {
            assert_eq!(f.next_frame(), Ok(None), "complete too early at byte {i}");
            assert_eq!(f.pending(), i > 0);
            f.push(&[*b]);
        }
        let Ok(Some(Frame::Message(raw, m))) = f.next_frame() else {
            panic!("no message")
        };
        assert_eq!((raw.as_slice(), m.body.as_slice()), (&msg[..], &b"hi"[..]));
        assert!(!f.pending());
        f.push(b"\r\n");
        assert!(
            !f.pending(),
            "a CRLF keep-alive is not a message in progress"
        );
    }

    #[test]
    fn a_response_is_not_answered() {
        let mut f = StreamFramer::default();
        f.push(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nFrom: <sip:x@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert!(f.next_frame().is_err());
        assert_eq!(f.rejection(), None);
    }
}
