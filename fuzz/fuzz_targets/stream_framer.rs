//! The TCP/TLS read loop of pbxd's shell: bytes pushed into the
//! `StreamFramer` in whatever chunks the socket gives, frames drained after
//! each push, every message then classified as a datagram would be. The
//! first byte seeds the chunk sizes, so the corpus explores the splits a
//! network can make; the rest is the stream.
//!
//! Besides not panicking, the framer must not depend on the split: the
//! messages framed chunk by chunk are the messages framed from the whole
//! stream at once (pings and stray line ends may differ, messages may not).
#![no_main]

use dering_sip::framer::{Frame, StreamFramer};
use dering_sip::uas::classify_datagram;
use libfuzzer_sys::fuzz_target;

/// Frames `chunks` as the shell does: push one, drain until more bytes
/// are needed. Returns the messages and whether the stream failed.
fn frame<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<Vec<u8>>, bool) {
    let mut framer = StreamFramer::default();
    let mut messages = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => {}
                Ok(Some(Frame::Message(raw, msg))) => {
                    assert!(raw.ends_with(&msg.body), "the body is the frame's tail");
                    let _ = classify_datagram(&raw);
                    messages.push(raw);
                }
                Err(_) => return (messages, true),
            }
        }
    }
    (messages, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    // Chunk sizes from 1 to 64 bytes, varying along the stream.
    let mut state = u32::from(seed) | 1;
    let mut rest = stream;
    let chunks = std::iter::from_fn(|| {
        if rest.is_empty() {
            return None;
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 64 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    });
    let (split, split_failed) = frame(chunks);
    let (whole, whole_failed) = frame(std::iter::once(stream));
    if !split_failed && !whole_failed {
        assert_eq!(split, whole, "framing depends on how the stream was split");
    }
});
