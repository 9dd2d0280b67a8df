//! One leg's outgoing RTP stream, kept continuous whoever produces it.
//!
//! Over a call the box sends a leg packets from several producers: the far
//! party's packets relayed, prompts, music on hold, a room's mix. Each
//! producer numbers its own packets (its SSRC, sequence number and
//! timestamp start anywhere), and a phone that sees its stream's time jump
//! back on one SSRC discards what follows (baresip: "rtp timestamp wraps
//! backwards -- discard") or stalls its jitter buffer. So every packet to
//! a leg goes through the leg's [`OutStream`]: one SSRC for the whole
//! call, sequence numbers that go on by one across a switch of producer,
//! timestamps that go on by the wall time that passed, and the marker bit
//! on the first audio packet after a switch (see decision 0036).
//!
//! Within one producer's stream the mapping is a fixed offset: the
//! producer's own gaps, reordering and RFC 4733 timestamp rules (every
//! packet of a key event carries the event's start) pass unchanged. A
//! packet is rewritten in place, ten header bytes, with no copy: the plain
//! relay stays cheap. Sans-IO: the time is an input.

use std::time::{Duration, Instant};

/// The RTP clock of every codec the box talks (G.711, and G.722 whose
/// clock is 8 kHz too, RFC 3551).
const CLOCK_HZ: u64 = 8000;

/// The least a switch advances the timestamp: one packet time, so the new
/// producer's first packet does not overlap the last one sent.
const MIN_STEP: u32 = dering_media::FRAME_8K as u32;

/// Who produced a packet the box sends a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Producer {
    /// The far party's packets (as they came, transcoded, or keys released
    /// by a key gate).
    Relay,
    /// The local endpoint: prompts, a queue's music.
    Local,
    /// Music on hold.
    Hold,
    /// A mixing room.
    Mix,
}

/// What the last packet sent said, in the leg's numbering.
#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    ts: u32,
    at: Instant,
}

/// One leg's outgoing RTP stream (see the module).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct OutStream {
    /// The leg's SSRC: the first producer's, so that a call that is only
    /// ever relayed passes through unchanged.
    ssrc: u32,
    /// The producer now sending, with its SSRC.
    current: Option<(Producer, u32)>,
    /// Added to the producer's sequence numbers and timestamps.
    seq_delta: u16,
    ts_delta: u32,
    /// The newest packet sent.
    last: Option<Sent>,
    /// A switch happened and no audio packet has carried the marker yet.
    mark: bool,
}

impl OutStream {
    /// Renumbers an RTP packet from `producer`, sent at `now`, into the
    /// leg's stream. Anything that is not RTP version 2 is left alone:
    /// returns false.
    pub(super) fn rewrite(&mut self, producer: Producer, now: Instant, pkt: &mut [u8]) -> bool {
        if pkt.len() < 12 || pkt[0] >> 6 != 2 {
            return false;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        if self.current != Some((producer, ssrc)) {
            self.switch(producer, ssrc, seq, ts, now);
        }
        let out_seq = seq.wrapping_add(self.seq_delta);
        let out_ts = ts.wrapping_add(self.ts_delta);
        pkt[2..4].copy_from_slice(&out_seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&out_ts.to_be_bytes());
        pkt[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        // A telephone-event's marker means a new key: it is never set
        // here, the switch is marked on the next audio packet instead.
        // Every codec the box talks has a static payload type, so a
        // dynamic one is an event (or nothing a phone plays).
        if self.mark && pkt[1] & 0x7F < 96 {
            pkt[1] |= 0x80;
            self.mark = false;
        }
        self.note(out_seq, out_ts, now);
        true
    }

    /// A new producer (or the same one under a new SSRC) takes over: its
    /// packets follow on from the last one sent.
    fn switch(&mut self, producer: Producer, ssrc: u32, seq: u16, ts: u32, now: Instant) {
        self.current = Some((producer, ssrc));
        let Some(last) = self.last else {
            // The first producer: its numbering is the leg's.
            self.ssrc = ssrc;
            self.seq_delta = 0;
            self.ts_delta = 0;
            return;
        };
        let step = samples(now.saturating_duration_since(last.at)).max(MIN_STEP);
        self.seq_delta = last.seq.wrapping_add(1).wrapping_sub(seq);
        self.ts_delta = last.ts.wrapping_add(step).wrapping_sub(ts);
        self.mark = true;
    }

    /// Keeps the newest packet sent: a late, reordered one of the same
    /// producer does not move the stream back.
    fn note(&mut self, seq: u16, ts: u32, at: Instant) {
        let ts = match self.last {
            Some(l) if (seq.wrapping_sub(l.seq) as i16) <= 0 => return,
            // An event's packets repeat its start: the stream's time is
            // the later one.
            Some(l) if (ts.wrapping_sub(l.ts) as i32) < 0 => l.ts,
            _ => ts,
        };
        self.last = Some(Sent { seq, ts, at });
    }
}

/// `d` on the RTP clock, wrapping as RTP timestamps do.
fn samples(d: Duration) -> u32 {
    (d.as_micros() as u64 * CLOCK_HZ / 1_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const PCMA: u8 = 8;
    const EVENT: u8 = 101;

    /// An RTP packet with 160 bytes of payload.
    fn packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.resize(12 + 160, 0xD5);
        p
    }

    /// Marker, sequence number, timestamp, SSRC.
    fn header(p: &[u8]) -> (bool, u16, u32, u32) {
        (
            p[1] & 0x80 != 0,
            u16::from_be_bytes([p[2], p[3]]),
            u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        )
    }

    /// A producer's stream of 20 ms audio packets, numbered its own way.
    struct Source {
        producer: Producer,
        ssrc: u32,
        seq: u16,
        ts: u32,
    }

    impl Source {
        fn new(producer: Producer, ssrc: u32, seq: u16, ts: u32) -> Source {
            Source {
                producer,
                ssrc,
                seq,
                ts,
            }
        }

        /// Its next packet, through `out` at virtual time `ms`.
        fn send(&mut self, out: &mut OutStream, t0: Instant, ms: u64) -> Vec<u8> {
            let mut p = packet(PCMA, false, self.seq, self.ts, self.ssrc);
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(160);
            assert!(out.rewrite(self.producer, t0 + Duration::from_millis(ms), &mut p));
            p
        }
    }

    /// What a strict receiver (baresip, a desk phone's jitter buffer)
    /// demands of a stream: one SSRC, sequence numbers one after another,
    /// timestamps going on by the wall time between packets. Returns the
    /// indices of the packets with the marker set.
    fn check_continuous(sent: &[(u64, Vec<u8>)]) -> Vec<usize> {
        let mut marked = Vec::new();
        for (i, w) in sent.windows(2).enumerate() {
            let ((t1, a), (t2, b)) = (&w[0], &w[1]);
            let (_, seq1, ts1, ssrc1) = header(a);
            let (m, seq2, ts2, ssrc2) = header(b);
            assert_eq!(ssrc1, ssrc2, "packet {}: one SSRC", i + 1);
            assert_eq!(seq2, seq1.wrapping_add(1), "packet {}: next seq", i + 1);
            let step = ts2.wrapping_sub(ts1);
            let wall = ((t2 - t1) * 8) as u32;
            assert_eq!(step, wall.max(160), "packet {}: timestamp step", i + 1);
            if m {
                marked.push(i + 1);
            }
        }
        marked
    }

    #[test]
    fn a_call_only_relayed_passes_unchanged() {
        let (t0, mut out) = (Instant::now(), OutStream::default());
        let mut far = Source::new(Producer::Relay, 0xABCD_0001, 65_500, 7);
        for n in 0..100 {
            let before = packet(PCMA, false, far.seq, far.ts, far.ssrc);
            let after = far.send(&mut out, t0, 20 * n);
            assert_eq!(before, after, "packet {n} left as it came");
        }
    }

    /// Relayed audio, music on hold, relayed again, a room's mix and a
    /// prompt: each producer starts its numbering anywhere (wrapping the
    /// 16-bit sequence number and the 32-bit timestamp on the way), the
    /// leg sees one stream, marked at each switch.
    #[test]
    fn hold_resume_mix_and_prompt_make_one_stream() {
        let (t0, mut out) = (Instant::now(), OutStream::default());
        let mut far = Source::new(Producer::Relay, 0x1111_1111, 65_530, u32::MAX - 800);
        let mut hold = Source::new(Producer::Hold, 0x2222_2222, 3, 40);
        let mut mix = Source::new(Producer::Mix, 0x3333_3333, 65_535, u32::MAX);
        let mut local = Source::new(Producer::Local, 0x4444_4444, 100, 9);
        let mut sent = Vec::new();
        let mut ms = 0;
        // A producer's `n` packets, the first `gap` ms after the last one.
        let mut run = |s: &mut Source, n: u64, gap: u64, sent: &mut Vec<(u64, Vec<u8>)>| {
            ms += gap;
            for _ in 0..n {
                sent.push((ms, s.send(&mut out, t0, ms)));
                ms += 20;
            }
            ms -= 20;
        };
        run(&mut far, 20, 0, &mut sent);
        // The far party keeps sending while held: its clock runs on.
        far.seq = far.seq.wrapping_add(150);
        far.ts = far.ts.wrapping_add(150 * 160);
        run(&mut hold, 100, 35, &mut sent);
        run(&mut far, 20, 20, &mut sent);
        run(&mut mix, 20, 5, &mut sent);
        run(&mut local, 20, 60, &mut sent);
        assert_eq!(check_continuous(&sent), [20, 120, 140, 160]);
        assert_eq!(
            header(&sent[0].1).3,
            0x1111_1111,
            "the first producer's SSRC"
        );
    }

    #[test]
    fn a_far_party_changing_its_ssrc_goes_on_in_the_same_stream() {
        let (t0, mut out) = (Instant::now(), OutStream::default());
        let mut first = Source::new(Producer::Relay, 1, 1000, 50_000);
        // The far party's media moved (a transfer behind it): a new SSRC,
        // its numbering started again, lower.
        let mut second = Source::new(Producer::Relay, 2, 10, 0);
        let mut sent = Vec::new();
        for n in 0..10 {
            sent.push((20 * n, first.send(&mut out, t0, 20 * n)));
        }
        for n in 10..20 {
            sent.push((20 * n, second.send(&mut out, t0, 20 * n)));
        }
        assert_eq!(check_continuous(&sent), [10]);
    }

    /// A key event that began before a switch goes on after it: its
    /// packets keep one timestamp, the event's start, and no marker (that
    /// would be a new key); the switch is marked on the next audio packet,
    /// which follows the event in time.
    #[test]
    fn a_key_event_spanning_a_switch_keeps_its_timestamp_rules() {
        let (t0, mut out) = (Instant::now(), OutStream::default());
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut hold = Source::new(Producer::Hold, 9, 500, 1_000_000);
        let mut last_music = Vec::new();
        for n in 0..10 {
            last_music = hold.send(&mut out, t0, 20 * n);
        }
        // Resumed: the far party is in the middle of a key, started at its
        // timestamp 8000; three more event packets, then audio.
        let (far, start) = (77, 8000);
        let mut events = Vec::new();
        for (n, duration) in [(0u16, 800u16), (1, 960), (2, 1120)] {
            let mut p = packet(EVENT, false, 40 + n, start, far);
            p[12..16].copy_from_slice(&[5, 0x0A, (duration >> 8) as u8, duration as u8]);
            assert!(out.rewrite(Producer::Relay, at(200 + 20 * u64::from(n)), &mut p));
            events.push(p);
        }
        let mut audio = packet(PCMA, false, 43, start + 1120, far);
        assert!(out.rewrite(Producer::Relay, at(260), &mut audio));

        let (_, music_seq, music_ts, ssrc) = header(&last_music);
        let event_ts = header(&events[0]).2;
        // 20 ms after the last music packet.
        assert_eq!(event_ts, music_ts + 160, "the event goes on from the music");
        for (n, p) in events.iter().enumerate() {
            let (m, seq, ts, s) = header(p);
            assert_eq!((m, ts, s), (false, event_ts, ssrc), "event packet {n}");
            assert_eq!(seq, music_seq + 1 + n as u16);
            let duration = 800 + 160 * n as u16;
            let report = [5, 0x0A, (duration >> 8) as u8, duration as u8];
            assert_eq!(p[12..16], report, "event packet {n}'s report untouched");
        }
        let (m, seq, ts, _) = header(&audio);
        assert!(m, "the switch is marked on the first audio packet");
        assert_eq!((seq, ts), (music_seq + 4, event_ts + 1120));
    }

    /// A late packet of the producer sending does not set the stream back:
    /// the next switch follows on from the newest packet sent.
    #[test]
    fn a_late_packet_does_not_set_the_stream_back() {
        let (t0, mut out) = (Instant::now(), OutStream::default());
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for (seq, ms) in [(10u16, 0u64), (12, 40), (11, 45)] {
            let mut p = packet(PCMA, false, seq, u32::from(seq) * 160, 5);
            assert!(out.rewrite(Producer::Relay, at(ms), &mut p));
            assert_eq!(header(&p).1, seq, "relayed as it came");
        }
        let mut p = packet(PCMA, false, 0, 0, 6);
        assert!(out.rewrite(Producer::Mix, at(60), &mut p));
        let (m, seq, ts, ssrc) = header(&p);
        assert_eq!((m, seq, ts, ssrc), (true, 13, 12 * 160 + 160, 5));
    }

    #[test]
    fn what_is_not_rtp_is_left_alone() {
        let mut out = OutStream::default();
        let mut short = vec![0x80, 8, 0, 1];
        let mut v1 = packet(PCMA, false, 1, 2, 3);
        v1[0] = 0x40;
        let v1_before = v1.clone();
        assert!(!out.rewrite(Producer::Relay, Instant::now(), &mut short));
        assert!(!out.rewrite(Producer::Relay, Instant::now(), &mut v1));
        assert_eq!((short, v1), (vec![0x80, 8, 0, 1], v1_before));
    }
}
