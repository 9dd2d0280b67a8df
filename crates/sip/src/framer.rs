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
}

impl StreamFramer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
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
        } else if lead > 0 {
            // Only line ends so far: a ping in progress, or stray CRLFs.
            if lead > 4 {
                self.buf.clear();
            }
            return Ok(None);
        }
        let Some(head_end) = end_of_headers(&self.buf) else {
            if self.buf.len() > MAX_MESSAGE {
                return Err(ParseError::TooLarge(self.buf.len()));
            }
            return Ok(None);
        };
        let mut msg = Message::parse_head(&self.buf[..head_end])?;
        let len = msg.content_length()?.unwrap_or(0);
        if head_end + len > MAX_MESSAGE {
            return Err(ParseError::TooLarge(head_end + len));
        }
        if self.buf.len() < head_end + len {
            return Ok(None);
        }
        msg.body = self.buf[head_end..head_end + len].to_vec();
        let raw: Vec<u8> = self.buf.drain(..head_end + len).collect();
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
    }
}
