//! A call's recording on its relay thread: both legs decoded into jitter
//! buffers, a stereo frame (caller left, callee right) out every 20 ms to
//! the recorder thread, which writes the file.

use std::sync::mpsc;
use std::time::Instant;

use dering_media::codec::StreamDecoder;

use crate::endpoint::parse_rtp;
use crate::recorder::RecMsg;

/// A recorded call on its relay thread: each leg through a jitter buffer,
/// a stereo frame out every 20 ms.
pub(super) struct Recording {
    pub(super) sink: mpsc::SyncSender<RecMsg>,
    legs: [dering_media::jitter::JitterBuffer; 2],
    decoders: [StreamDecoder; 2],
    next: Option<Instant>,
    pub(super) dropped: u64,
}

impl Recording {
    pub(super) fn new(sink: mpsc::SyncSender<RecMsg>) -> Recording {
        // A second deep, fixed: latency costs nothing in a recording (the
        // buffer is flushed when the call ends), and on a loaded box
        // packets arrive in late bursts that a shallow buffer would fill
        // in. 50 frames × 320 bytes × 2 legs: 32 KiB a call.
        let jb = || dering_media::jitter::JitterBuffer::new(160, 8000, 50, 50);
        Recording {
            sink,
            legs: [jb(), jb()],
            decoders: Default::default(),
            next: None,
            dropped: 0,
        }
    }

    pub(super) fn on_rtp(&mut self, side: usize, now: Instant, pkt: &[u8]) {
        let Some(rtp) = parse_rtp(pkt) else {
            return;
        };
        let mut pcm = Vec::with_capacity(160);
        if self.decoders[side].decode(rtp.pt, rtp.payload, &mut pcm) {
            self.legs[side].push(now, rtp.seq, rtp.timestamp, pcm);
        }
    }

    /// The call ended: what the buffers hold goes to the file.
    fn flush(&mut self, call: u64, out: &mut Vec<(u64, Vec<i16>)>) {
        let [a, b] = [self.legs[0].flush(), self.legs[1].flush()];
        for i in 0..a.len().max(b.len()) {
            let mut frame = vec![0i16; 320];
            for (side, leg) in [&a, &b].into_iter().enumerate() {
                if let Some(s) = leg.get(i) {
                    for (j, v) in s.iter().take(160).enumerate() {
                        frame[2 * j + side] = *v;
                    }
                }
            }
            out.push((call, frame));
        }
    }

    /// The stereo frames due by `now`, appended to `out`.
    pub(super) fn tick(&mut self, call: u64, now: Instant, out: &mut Vec<(u64, Vec<i16>)>) {
        use dering_media::jitter::Playout;
        let due = *self.next.get_or_insert(now);
        let mut at = due;
        while at <= now {
            let mut frame = vec![0i16; 320];
            for (side, jb) in self.legs.iter_mut().enumerate() {
                if let Playout::Audio(s) | Playout::Concealed(s) = jb.pop() {
                    for (i, v) in s.iter().take(160).enumerate() {
                        frame[2 * i + side] = *v;
                    }
                }
            }
            out.push((call, frame));
            at += std::time::Duration::from_millis(20);
        }
        self.next = Some(at);
    }

    /// The call ended: the frames still due and what the buffers hold go
    /// to the file, which is then closed.
    pub(super) fn finish(mut self, call: u64) {
        let mut last = Vec::new();
        self.tick(call, Instant::now(), &mut last);
        self.flush(call, &mut last);
        if self.sink.try_send(RecMsg::Frames(last)).is_err() {
            self.dropped += 1;
        }
        if self.dropped > 0 {
            tracing::warn!(
                call,
                frames = self.dropped,
                "recording lost frames: the recorder fell behind"
            );
        }
        let end_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let _ = self.sink.send(RecMsg::Close { call, end_ms });
    }
}
