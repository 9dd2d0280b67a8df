//! An adaptive jitter buffer with loss concealment, for the streams pbxd
//! decodes (recording, mixing, DTMF detection): packets go in as they
//! arrive, 20 ms frames come out at the consumer's steady pace.
//!
//! The target depth follows the interarrival jitter (RFC 3550 §6.4.1):
//! about twice the jitter plus a frame, between 1 and `max_frames`. A
//! missing frame is concealed by repeating the last one at half the level
//! each time, then silence; a packet older than what was already played is
//! dropped and counted. When the buffer holds more than two frames over
//! its target, one frame is dropped to bring latency back down.

use std::collections::BTreeMap;
use std::time::Instant;

/// What the consumer gets for one frame slot.
#[derive(Debug, Clone, PartialEq)]
pub enum Playout {
    /// Nothing received yet (or the buffer is filling): silence.
    Waiting,
    Audio(Vec<i16>),
    /// A lost frame, concealed.
    Concealed(Vec<i16>),
}

/// Counters for the call's quality record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub played: u64,
    pub concealed: u64,
    pub late: u64,
    pub duplicates: u64,
    /// Frames dropped to shrink latency.
    pub dropped: u64,
}

#[derive(Debug)]
pub struct JitterBuffer {
    frame_samples: usize,
    clock_rate: f64,
    min_frames: usize,
    max_frames: usize,
    frames: BTreeMap<u64, Vec<i16>>,
    /// The extended sequence number of the next frame to play.
    next: Option<u64>,
    /// The highest extended sequence number seen.
    highest: Option<u64>,
    playing: bool,
    last: Vec<i16>,
    concealed_run: u32,
    /// RFC 3550 jitter, in clock units.
    jitter: f64,
    transit: Option<f64>,
    epoch: Option<Instant>,
    stats: Stats,
}

impl JitterBuffer {
    /// `frame_samples`: samples per frame (160 at 8 kHz for 20 ms);
    /// `clock_rate`: the RTP clock; the depth stays between `min_frames`
    /// (a recorder can afford more than a live conversation) and
    /// `max_frames`.
    pub fn new(
        frame_samples: usize,
        clock_rate: u32,
        min_frames: usize,
        max_frames: usize,
    ) -> JitterBuffer {
        let min_frames = min_frames.max(1);
        JitterBuffer {
            frame_samples,
            clock_rate: f64::from(clock_rate),
            min_frames,
            max_frames: max_frames.max(min_frames),
            frames: BTreeMap::new(),
            next: None,
            highest: None,
            playing: false,
            last: vec![0; frame_samples],
            concealed_run: 0,
            jitter: 0.0,
            transit: None,
            epoch: None,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The depth the buffer aims for, in frames.
    pub fn target_frames(&self) -> usize {
        let frame = self.frame_samples as f64;
        let want = ((2.0 * self.jitter + frame) / frame).ceil() as usize;
        want.clamp(self.min_frames, self.max_frames)
    }

    /// The interarrival jitter, in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / self.clock_rate
    }

    /// Extends a 16-bit sequence number to the one nearest the highest.
    fn extend(&self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            // Start well above zero so earlier packets still fit.
            return (1u64 << 32) + u64::from(seq);
        };
        let base = h & !0xFFFF;
        let candidates = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000];
        candidates
            .into_iter()
            .map(|c| c + u64::from(seq))
            .min_by_key(|c| c.abs_diff(h))
            .unwrap_or(h)
    }

    /// A packet arrived at `now` with RTP `seq` and `timestamp`, decoded to
    /// `samples` (one frame).
    pub fn push(&mut self, now: Instant, seq: u16, timestamp: u32, samples: Vec<i16>) {
        let ext = self.extend(seq);
        self.stats.received += 1;
        // Jitter: how the transit time (arrival − timestamp) varies.
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = now.duration_since(epoch).as_secs_f64() * self.clock_rate;
        let transit = arrival - f64::from(timestamp);
        if let Some(prev) = self.transit {
            // Timestamps wrap at 2^32: take the difference modulo that.
            let mut d = (transit - prev).abs();
            if d > f64::from(u32::MAX) / 2.0 {
                d = f64::from(u32::MAX) - d;
            }
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
        if self.next.is_some_and(|n| ext < n) {
            self.stats.late += 1;
            return;
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        let mut samples = samples;
        samples.resize(self.frame_samples, 0);
        self.frames.insert(ext, samples);
    }

    /// Everything still buffered, in order, with holes concealed, at the
    /// end of a stream: a recording keeps its last words instead of
    /// losing the buffer's depth. Only a hole the buffer's depth could
    /// have covered is a loss to conceal; a longer one is a jump in the
    /// sender's numbering, and concealing it would cost memory and file
    /// length in proportion to the sequence numbers a peer chose (six
    /// packets made 55 minutes of concealment).
    pub fn flush(&mut self) -> Vec<Vec<i16>> {
        let mut out = Vec::new();
        let Some(&first) = self.frames.keys().next() else {
            return out;
        };
        let mut expected = self.next.unwrap_or(first).min(first);
        for (seq, f) in std::mem::take(&mut self.frames) {
            let hole = seq - expected;
            if hole <= self.max_frames as u64 {
                for _ in 0..hole {
                    self.stats.concealed += 1;
                    for s in self.last.iter_mut() {
                        *s /= 2;
                    }
                    out.push(self.last.clone());
                }
            }
            self.stats.played += 1;
            self.last.clone_from(&f);
            out.push(f);
            expected = seq + 1;
        }
        self.next = Some(expected);
        out
    }

    /// The next frame, called once per frame time.
    pub fn pop(&mut self) -> Playout {
        if !self.playing {
            if self.frames.len() < self.target_frames() {
                return Playout::Waiting;
            }
            self.playing = true;
            self.next = self.frames.keys().next().copied();
        }
        let Some(next) = self.next else {
            return Playout::Waiting;
        };
        // Too deep: skip the oldest frame.
        if self.frames.len() > self.target_frames() + 2 {
            if let Some((&k, _)) = self.frames.iter().next() {
                self.frames.remove(&k);
                self.stats.dropped += 1;
                self.next = Some(k + 1);
            }
        }
        let next = self.next.unwrap_or(next);
        self.next = Some(next + 1);
        match self.frames.remove(&next) {
            Some(f) => {
                self.stats.played += 1;
                self.concealed_run = 0;
                self.last.clone_from(&f);
                Playout::Audio(f)
            }
            None => {
                self.stats.concealed += 1;
                self.concealed_run += 1;
                // Half the level each time: after a few frames, silence.
                for s in self.last.iter_mut() {
                    *s /= 2;
                }
                if self.concealed_run > 5 && self.frames.is_empty() {
                    // The stream stopped (hold, end of talk spurt): refill
                    // before playing again.
                    self.playing = false;
                }
                Playout::Concealed(self.last.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(v: i16) -> Vec<i16> {
        vec![v; 160]
    }

    fn value(p: &Playout) -> Option<i16> {
        match p {
            Playout::Audio(f) => Some(f[0]),
            _ => None,
        }
    }

    #[test]
    fn flush_returns_what_is_left_in_order_with_holes_filled() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(160, 8000, 10, 10);
        for i in [0u16, 1, 2, 4, 3, 6] {
            jb.push(t0, 100 + i, 160 * u32::from(i), frame(i as i16 + 1));
        }
        // Still filling (10 frames wanted): nothing played yet.
        assert_eq!(jb.pop(), Playout::Waiting);
        let rest = jb.flush();
        let firsts: Vec<i16> = rest.iter().map(|f| f[0]).collect();
        assert_eq!(firsts, [1, 2, 3, 4, 5, 2, 7], "frame 5 was lost: 5 / 2");
        assert!(jb.flush().is_empty());
    }

    /// Found by fuzzing (fuzz/fuzz_targets/rtp.rs): sequence numbers
    /// jumping by half their range made the recorder's flush conceal every
    /// number in between, 65,535 frames (22 minutes, 21 MB) for 3 packets.
    #[test]
    fn flush_does_not_fill_a_jump_in_the_numbering() {
        let t0 = Instant::now();
        // The recorder's buffer (pbxd relay.rs).
        let mut jb = JitterBuffer::new(160, 8000, 50, 50);
        for (i, seq) in [0u16, 32_767, 65_534, 0].into_iter().enumerate() {
            jb.push(t0, seq, 0, frame(i as i16 + 1));
        }
        let rest = jb.flush();
        let firsts: Vec<i16> = rest.iter().map(|f| f[0]).collect();
        assert_eq!(
            firsts,
            [1, 2, 3, 1, 4],
            "one lost frame between the last two"
        );
        assert_eq!(jb.stats().concealed, 1);
    }

    #[test]
    fn steady_stream_plays_in_order_with_one_frame_of_delay() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(160, 8000, 1, 10);
        let mut out = Vec::new();
        for i in 0..50u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            jb.push(now, 1000 + i, 160 * u32::from(i), frame(i as i16));
            out.push(jb.pop());
        }
        assert_eq!(jb.target_frames(), 1);
        let played: Vec<i16> = out.iter().filter_map(value).collect();
        assert_eq!(played, (0..50).collect::<Vec<i16>>());
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn reordered_packets_come_out_in_order_and_losses_are_concealed() {
        let t0 = Instant::now();
        // Two frames deep: a packet one slot out of order still plays.
        let mut jb = JitterBuffer::new(160, 8000, 2, 10);
        let mut out = Vec::new();
        // Arrival order 0, 2, 1, 3, 5, 6, 7 (4 is lost), a pop per arrival.
        for (k, seq) in [0u16, 2, 1, 3, 5, 6, 7].into_iter().enumerate() {
            let now = t0 + Duration::from_millis(20 * k as u64);
            jb.push(now, seq, 160 * u32::from(seq), frame(100 + seq as i16));
            out.push(jb.pop());
        }
        out.push(jb.pop());
        out.push(jb.pop());
        assert_eq!(out[0], Playout::Waiting);
        let vals: Vec<Option<i16>> = out[1..].iter().map(value).collect();
        assert_eq!(
            vals,
            [
                Some(100),
                Some(101),
                Some(102),
                Some(103),
                None,
                Some(105),
                Some(106),
                Some(107)
            ]
        );
        // The lost frame repeats the last one at half its level.
        assert_eq!(out[5], Playout::Concealed(frame(51)));
        assert_eq!(jb.stats().concealed, 1);
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn late_and_duplicate_packets_are_counted_not_played() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(160, 8000, 1, 10);
        for seq in 0..4u16 {
            jb.push(
                t0 + Duration::from_millis(20 * u64::from(seq)),
                seq,
                160 * u32::from(seq),
                frame(seq as i16),
            );
        }
        jb.push(t0, 3, 480, frame(3));
        assert_eq!(jb.stats().duplicates, 1);
        assert_eq!(value(&jb.pop()), Some(0));
        assert_eq!(value(&jb.pop()), Some(1));
        jb.push(t0, 0, 0, frame(0));
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn jitter_raises_the_target_and_wraps_are_followed() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(160, 8000, 1, 10);
        // Arrivals ±30 ms around their due time, sequence numbers wrapping.
        let mut played = Vec::new();
        for i in 0..200u32 {
            let wobble = if i % 2 == 0 { 0 } else { 60 };
            let now = t0 + Duration::from_millis(u64::from(20 * i + wobble));
            let seq = (65_500 + i) as u16;
            jb.push(now, seq, 160 * i, frame((i % 1000) as i16));
            if let Some(v) = value(&jb.pop()) {
                played.push(v);
            }
        }
        assert!(jb.jitter_ms() > 20.0, "{}", jb.jitter_ms());
        assert!(jb.target_frames() >= 3, "{}", jb.target_frames());
        // In order across the wrap, nothing late.
        assert!(played.windows(2).all(|w| w[0] < w[1]), "{played:?}");
        assert_eq!(jb.stats().late, 0);
    }
}
