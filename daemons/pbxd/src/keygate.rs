//! Keeps in-call feature codes out of what the other party hears.
//!
//! A party who types `##1002#` to transfer, or `*31003#` to add a third
//! party, talks to the box, not to the far end: the far end's phone or IVR
//! must not hear (or act on) those keys. For every leg whose keys the box
//! watches, a [`KeyGate`] sits on the relay path. It withholds the RFC 4733
//! packets of keys while what was typed can still become a feature code,
//! swallows them when a code is complete, and when the keys turn out not to
//! be a code (or the party stops typing) sends them on after all, as fresh
//! events. Packets it withholds or inserts shift the leg's sequence
//! numbers; every later packet of the leg is renumbered by that offset, so
//! the far end sees one gapless stream (a gap reads as loss, and phones
//! fill loss with concealed audio).
//!
//! Sans-IO like the rest of the media path: packets and `now` in, packets
//! out. Keys sent as in-band tones cannot be taken out of the audio; only
//! RFC 4733 keys are gated (the demo phones and every desk phone we know
//! send RFC 4733 by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dering_media::rfc4733::{self, Report};

/// How long a key that might start a feature code is held back before it
/// is sent on after all (a lone `#` to a far-end IVR is delayed this much).
pub const PREFIX_WAIT: Duration = Duration::from_millis(1500);

/// How long the digits after a complete code are held: the party is
/// clearly typing for the box (the core gives up on a code after the same
/// gap between keys).
pub const CODE_WAIT: Duration = Duration::from_secs(5);

/// What the keys typed so far make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    /// Code `n` of the list, then one or more digits and `#`.
    Complete(usize),
    /// A code, or a code and digits, is still possible; `true` once a
    /// whole code has been typed.
    Possible { code_typed: bool },
    /// Not a feature code.
    No,
}

/// Classifies `typed` against the in-call `codes` (e.g. `##`, `*3`): each
/// code is followed by an extension and `#`.
pub fn classify(codes: &[String], typed: &str) -> CodeMatch {
    let mut possible = None;
    for (n, code) in codes.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
        if let Some(rest) = typed.strip_prefix(code.as_str()) {
            if let Some(ext) = rest.strip_suffix('#') {
                if !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()) {
                    return CodeMatch::Complete(n);
                }
            }
            if rest.bytes().all(|b| b.is_ascii_digit()) {
                possible = Some(possible.unwrap_or(false) | true);
            }
        } else if code.starts_with(typed) {
            possible = Some(possible.unwrap_or(false));
        }
    }
    match possible {
        Some(code_typed) => CodeMatch::Possible { code_typed },
        None => CodeMatch::No,
    }
}

/// The gate of one leg's packets.
#[derive(Debug)]
pub struct KeyGate {
    codes: Arc<[String]>,
    /// The leg's telephone-event payload type.
    pt: u8,
    /// Keys withheld so far, in order.
    typed: String,
    /// When the first withheld key came, and whether a whole code is in.
    since: Option<Instant>,
    code_typed: bool,
    /// The key being reported now: its RTP timestamp and whether its
    /// packets are withheld.
    current: Option<(u32, bool)>,
    /// Added to the sequence number of every packet of the leg.
    offset: u16,
    /// From the last packet seen: sequence number (as sent), timestamp
    /// and SSRC, which inserted packets continue.
    last_seq: Option<u16>,
    last_ts: u32,
    ssrc: u32,
}

impl KeyGate {
    pub fn new(pt: u8, codes: Arc<[String]>) -> KeyGate {
        KeyGate {
            codes,
            pt,
            typed: String::new(),
            since: None,
            code_typed: false,
            current: None,
            offset: 0,
            last_seq: None,
            last_ts: 0,
            ssrc: 0,
        }
    }

    /// A packet from the leg, arrived at `now`. Packets to send before it
    /// (keys released after all) are appended to `before`; the packet is
    /// renumbered in place. Returns whether to send the packet itself.
    pub fn on_packet(&mut self, now: Instant, pkt: &mut [u8], before: &mut Vec<Vec<u8>>) -> bool {
        let Some(rtp) = crate::endpoint::parse_rtp(pkt) else {
            return true;
        };
        let (pt, seq, ts) = (rtp.pt, rtp.seq, rtp.timestamp);
        let report = (pt == self.pt)
            .then(|| Report::parse(rtp.payload))
            .flatten();
        self.ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let mut send = true;
        if let Some(r) = report {
            match self.current {
                Some((at, held)) if at == ts => send = !held,
                _ => {
                    let digit = rfc4733::digit_of(r.event);
                    let held = digit.is_some_and(|d| self.key(now, d, seq, before));
                    self.current = Some((ts, held));
                    send = !held;
                }
            }
        } else {
            self.last_ts = ts;
        }
        let out = seq.wrapping_add(self.offset);
        pkt[2..4].copy_from_slice(&out.to_be_bytes());
        if send {
            self.last_seq = Some(out);
        } else {
            // The next packet takes this one's number: a gap would read as
            // loss, which phones fill with concealed audio and so fall
            // behind by 20 ms a withheld packet.
            self.offset = self.offset.wrapping_sub(1);
        }
        send
    }

    /// A new key `d` (the packet carrying it has sequence number `seq`);
    /// returns whether to withhold it.
    fn key(&mut self, now: Instant, d: char, seq: u16, before: &mut Vec<Vec<u8>>) -> bool {
        let mut typed = std::mem::take(&mut self.typed);
        typed.push(d);
        match classify(&self.codes, &typed) {
            CodeMatch::Complete(_) => {
                // The box acts on it; the far end never hears it.
                self.since = None;
                self.code_typed = false;
                true
            }
            CodeMatch::Possible { code_typed } => {
                self.typed = typed;
                self.since.get_or_insert(now);
                self.code_typed = code_typed;
                true
            }
            CodeMatch::No => {
                typed.pop();
                // What was held goes on, in front of this key's packets.
                self.release(&typed, seq.wrapping_add(self.offset), before);
                self.since = None;
                self.code_typed = false;
                // The key itself may start a code.
                let alone = d.to_string();
                match classify(&self.codes, &alone) {
                    CodeMatch::Possible { code_typed } => {
                        self.typed = alone;
                        self.since = Some(now);
                        self.code_typed = code_typed;
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    /// Sends on the keys held longer than their wait; appends their
    /// packets to `out`.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let Some(since) = self.since else {
            return;
        };
        let wait = if self.code_typed {
            CODE_WAIT
        } else {
            PREFIX_WAIT
        };
        if now.duration_since(since) < wait {
            return;
        }
        let typed = std::mem::take(&mut self.typed);
        let first = self.last_seq.map_or(0, |s| s.wrapping_add(1));
        self.release(&typed, first, out);
        self.last_seq = Some(first.wrapping_add(self.inserted(&typed)).wrapping_sub(1));
        self.since = None;
        self.code_typed = false;
        // Later reports of the key being typed now go through.
        if let Some((_, held)) = self.current.as_mut() {
            *held = false;
        }
    }

    /// Packets one released key takes.
    fn packets_of(key: char) -> Vec<rfc4733::OutPacket> {
        let event = rfc4733::event_of(key).unwrap_or(0);
        // 100 ms keys, a report every 50 ms, at volume -10 dBm0.
        rfc4733::press(event, 0, 800, 400, 10)
    }

    fn inserted(&self, keys: &str) -> u16 {
        keys.chars().map(|k| Self::packets_of(k).len() as u16).sum()
    }

    /// Appends `keys` as fresh events numbered from `first`, after the
    /// leg's latest audio; later packets are renumbered past them.
    fn release(&mut self, keys: &str, first: u16, out: &mut Vec<Vec<u8>>) {
        let mut seq = first;
        for (i, key) in keys.chars().enumerate() {
            // Each key its own event: timestamps apart by more than a key.
            let ts = self.last_ts.wrapping_add(160).wrapping_add(1200 * i as u32);
            for p in Self::packets_of(key) {
                let mut pkt = Vec::with_capacity(16);
                pkt.push(0x80);
                pkt.push(if p.marker { 0x80 | self.pt } else { self.pt });
                pkt.extend_from_slice(&seq.to_be_bytes());
                pkt.extend_from_slice(&ts.wrapping_add(p.timestamp).to_be_bytes());
                pkt.extend_from_slice(&self.ssrc.to_be_bytes());
                pkt.extend_from_slice(&p.report.to_bytes());
                out.push(pkt);
                seq = seq.wrapping_add(1);
                self.offset = self.offset.wrapping_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT: u8 = 101;

    fn codes() -> Arc<[String]> {
        Arc::from(vec!["*3".to_string(), "##".to_string()])
    }

    fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn audio(seq: u16, ts: u32) -> Vec<u8> {
        rtp(8, seq, ts, &[0xd5; 160])
    }

    fn event(seq: u16, ts: u32, key: char, end: bool) -> Vec<u8> {
        let r = Report {
            event: rfc4733::event_of(key).unwrap_or(0),
            end,
            volume: 10,
            duration: 400,
        };
        rtp(PT, seq, ts, &r.to_bytes())
    }

    /// Runs packets through a gate; returns what leaves, in order, as
    /// (sequence number, key or None for audio).
    fn run(gate: &mut KeyGate, t0: Instant, pkts: Vec<(u64, Vec<u8>)>) -> Vec<(u16, Option<char>)> {
        let mut sent = Vec::new();
        for (ms, mut p) in pkts {
            let now = t0 + Duration::from_millis(ms);
            let mut out = Vec::new();
            gate.poll(now, &mut out);
            if gate.on_packet(now, &mut p, &mut out) {
                out.push(p);
            }
            for p in out {
                let rtp = crate::endpoint::parse_rtp(&p).expect("RTP");
                let key = (rtp.pt == PT)
                    .then(|| Report::parse(rtp.payload))
                    .flatten()
                    .and_then(|r| rfc4733::digit_of(r.event));
                sent.push((rtp.seq, key));
            }
        }
        sent
    }

    /// The packets that left are numbered one after the other.
    fn assert_gapless(sent: &[(u16, Option<char>)]) {
        let seqs: Vec<u16> = sent.iter().map(|(s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "gapless: {seqs:?}"
        );
    }

    /// One key pressed at `ms`, seq `seq` and timestamp `ts`: a report
    /// and an end report.
    fn press(ms: u64, seq: u16, ts: u32, key: char) -> Vec<(u64, Vec<u8>)> {
        vec![
            (ms, event(seq, ts, key, false)),
            (ms + 20, event(seq + 1, ts, key, true)),
        ]
    }

    #[test]
    fn codes_are_classified_like_the_core_acts_on_them() {
        let c = codes();
        assert_eq!(classify(&c, "#"), CodeMatch::Possible { code_typed: false });
        assert_eq!(classify(&c, "##"), CodeMatch::Possible { code_typed: true });
        assert_eq!(
            classify(&c, "##10"),
            CodeMatch::Possible { code_typed: true }
        );
        assert_eq!(classify(&c, "##1002#"), CodeMatch::Complete(1));
        assert_eq!(classify(&c, "*31003#"), CodeMatch::Complete(0));
        assert_eq!(
            classify(&c, "###"),
            CodeMatch::No,
            "a code needs an extension"
        );
        assert_eq!(classify(&c, "5"), CodeMatch::No);
        assert_eq!(classify(&c, "*4"), CodeMatch::No);
    }

    #[test]
    fn a_transfer_code_never_reaches_the_far_end() {
        let t0 = Instant::now();
        let mut g = KeyGate::new(PT, codes());
        let mut pkts = vec![(0, audio(1, 0))];
        let mut seq = 2;
        for (i, k) in "##12#".chars().enumerate() {
            pkts.extend(press(100 + 200 * i as u64, seq, 1000 * (i as u32 + 1), k));
            seq += 2;
        }
        pkts.push((2000, audio(seq, 20_000)));
        let sent = run(&mut g, t0, pkts);
        assert_eq!(sent, [(1, None), (2, None)], "only audio, without a gap");
    }

    #[test]
    fn keys_that_are_no_code_go_on_and_the_stream_is_renumbered() {
        let t0 = Instant::now();
        let mut g = KeyGate::new(PT, codes());
        let mut pkts = vec![(0, audio(1, 0))];
        pkts.extend(press(100, 2, 800, '#'));
        pkts.extend(press(300, 4, 1600, '5'));
        pkts.push((400, audio(6, 3200)));
        let sent = run(&mut g, t0, pkts);
        // '#' was held, then '5' showed it was no code: '#' goes on as a
        // fresh event (n packets) before '5', and later packets move up.
        let n = KeyGate::packets_of('#').len();
        let keys: Vec<Option<char>> = sent.iter().map(|(_, k)| *k).collect();
        assert_eq!(keys[0], None);
        assert!(keys[1..=n].iter().all(|k| *k == Some('#')), "{sent:?}");
        assert_eq!(&keys[n + 1..], [Some('5'), Some('5'), None]);
        assert_gapless(&sent);
    }

    #[test]
    fn a_lone_hash_is_sent_on_after_the_wait() {
        let t0 = Instant::now();
        let mut g = KeyGate::new(PT, codes());
        let mut pkts = vec![(0, audio(1, 0))];
        pkts.extend(press(100, 2, 800, '#'));
        pkts.push((1000, audio(4, 8000)));
        pkts.push((1700, audio(5, 13_600)));
        let sent = run(&mut g, t0, pkts);
        let keys: Vec<Option<char>> = sent.iter().map(|(_, k)| *k).collect();
        // Held through 1 s, released before the packet at 1.7 s.
        let n = KeyGate::packets_of('#').len();
        assert_eq!(keys[..2], [None, None]);
        assert!(keys[2..2 + n].iter().all(|k| *k == Some('#')), "{sent:?}");
        assert_eq!(keys[2 + n..], [None]);
        assert_gapless(&sent);
    }
}
