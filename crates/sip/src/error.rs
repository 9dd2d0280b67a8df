//! Errors of the SIP layer. Each parse error knows the status a UAS answers
//! with (RFC 3261 §8.2, §21.4) or that the message is to be dropped.

/// What went wrong reading a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
    #[error("no end of headers")]
    Incomplete,
    #[error("bad start line: {0}")]
    StartLine(&'static str),
    #[error("SIP version {0} not supported")]
    Version(String),
    #[error("bad header line {0}")]
    HeaderLine(usize),
    #[error("bad Content-Length")]
    ContentLength,
    #[error("Content-Length {declared} larger than the {available} body bytes")]
    Truncated { declared: usize, available: usize },
    #[error("bad {header}: {why}")]
    Header {
        header: &'static str,
        why: &'static str,
    },
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("header {0} appears more than once")]
    Repeated(&'static str),
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    #[error("bad Request-URI: {0}")]
    RequestUri(&'static str),
}

impl ParseError {
    /// The status code a UAS answers a request that failed this way with, or
    /// `None` when the request cannot be answered at all (we could not find
    /// where to send the answer, or the message was not a request).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Version(_) => 505,
            ParseError::TooLarge(_) => 513,
            _ => 400,
        }
    }
}
