//! The box's own end of a call's media (IVR-1, IVR-2): while a call is in
//! a flow, the caller's leg ends here instead of being relayed. Sans-IO:
//! the relay thread hands it every packet from the caller and asks it
//! every few milliseconds for what is due; it returns packets to send and
//! events (keys, end of playback) for signalling.
//!
//! Prompts are shared PCM (`Arc<[i16]>`): playing is encoding 160 samples
//! every 20 ms, so playback never blocks the relay thread. Keys come as
//! RFC 4733 events when the caller's phone offered them, and are also
//! listened for in the audio (Q.24 detector) for phones and trunks that
//! send them in-band.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dering_media::codec::{Codec, Encoder, StreamDecoder};
use dering_media::dtmf::Detector;
use dering_media::rfc4733::{KeyEvent, Receiver, Report};
pub(crate) use dering_media::rtp::parse_rtp;
use dering_media::FRAME_8K;

/// What a local endpoint reports to signalling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Digit {
        call: u64,
        key: char,
    },
    /// Everything queued has been played.
    PlayDone {
        call: u64,
    },
    /// A key pressed by one party of a relayed call (RFC 4733), for
    /// in-call feature codes; the key still reaches the other party.
    InCallKey {
        call: u64,
        side: crate::core::Side,
        key: char,
    },
    /// What the caller said since `Capture`, 8 kHz PCM: ended by
    /// `EndCapture` or by reaching its most samples (a prompt recorded
    /// from a phone).
    Captured {
        call: u64,
        audio: Arc<[i16]>,
    },
}

const FRAME: Duration = Duration::from_millis(20);

/// One call's local media state.
#[derive(Debug)]
pub struct LocalMedia {
    call: u64,
    encoder: Encoder,
    decoder: StreamDecoder,
    /// The caller's payload type for telephone-event, if it offered one.
    event_pt: Option<u8>,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    next_send: Option<Instant>,
    queue: VecDeque<Arc<[i16]>>,
    /// Position in the front prompt.
    pos: usize,
    playing: bool,
    interruptible: bool,
    /// Played again each time the queue runs out (music on hold).
    looped: Vec<Arc<[i16]>>,
    events: Receiver,
    detector: Detector,
    /// The last key reported, and when: a key sent both as an RFC 4733
    /// event and in the audio (some phones do) is reported once.
    last_key: Option<(char, Instant)>,
    pcm: Vec<i16>,
    /// The caller's audio being kept, and the most samples to keep.
    capture: Option<(Vec<i16>, usize)>,
}

impl LocalMedia {
    pub fn new(call: u64, codec: Codec, event_pt: Option<u8>, seed: u32) -> LocalMedia {
        LocalMedia {
            call,
            encoder: Encoder::new(codec),
            decoder: StreamDecoder::default(),
            event_pt,
            ssrc: seed ^ 0x5EED_D1E6,
            seq: (seed >> 7) as u16,
            timestamp: seed.rotate_left(11),
            next_send: None,
            queue: VecDeque::new(),
            pos: 0,
            playing: false,
            interruptible: false,
            looped: Vec::new(),
            events: Receiver::new(),
            detector: Detector::new(),
            last_key: None,
            pcm: Vec::with_capacity(FRAME_8K),
            capture: None,
        }
    }

    /// Queues prompts, replacing what was playing.
    pub fn play(&mut self, audio: Vec<Arc<[i16]>>, interruptible: bool) {
        self.queue = audio.into();
        self.pos = 0;
        self.playing = true;
        self.interruptible = interruptible;
    }

    /// Plays `audio` over and over (music on hold).
    pub fn play_loop(&mut self, audio: Vec<Arc<[i16]>>) {
        self.looped = audio;
        self.queue = self.looped.iter().cloned().collect();
        self.pos = 0;
    }

    /// Keeps the caller's decoded audio from now on, at most
    /// `max_samples` (then reported as [`MediaEvent::Captured`] by itself).
    pub fn start_capture(&mut self, max_samples: usize) {
        self.capture = Some((Vec::with_capacity(max_samples.min(8000 * 30)), max_samples));
    }

    /// Ends a capture: what was kept, as the event signalling gets.
    pub fn end_capture(&mut self) -> Option<MediaEvent> {
        let (audio, _) = self.capture.take()?;
        Some(MediaEvent::Captured {
            call: self.call,
            audio: audio.into(),
        })
    }

    pub fn stop(&mut self) {
        self.queue.clear();
        self.pos = 0;
        self.playing = false;
    }

    /// The next frame's samples: the prompt, or silence between prompts.
    fn next_frame(&mut self, out: &mut [i16; FRAME_8K]) -> bool {
        let mut filled = 0;
        while filled < FRAME_8K {
            if self.queue.is_empty() && !self.looped.is_empty() {
                self.queue = self.looped.iter().cloned().collect();
            }
            let Some(front) = self.queue.front() else {
                break;
            };
            let n = (front.len() - self.pos).min(FRAME_8K - filled);
            out[filled..filled + n].copy_from_slice(&front[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
            if self.pos >= front.len() {
                self.queue.pop_front();
                self.pos = 0;
            }
        }
        out[filled..].fill(0);
        let finished = self.playing && self.queue.is_empty();
        if finished {
            self.playing = false;
        }
        finished
    }

    /// Packets due by `now` (one per 20 ms; media keeps flowing in silence
    /// so the caller's phone and any NAT stay latched) and the events.
    pub fn poll(&mut self, now: Instant, packets: &mut Vec<Vec<u8>>, events: &mut Vec<MediaEvent>) {
        let due = *self.next_send.get_or_insert(now);
        if now < due {
            return;
        }
        // After a stall, restart the clock rather than send a burst.
        let mut at = if now.duration_since(due) > FRAME * 5 {
            now
        } else {
            due
        };
        while at <= now {
            let mut frame = [0i16; FRAME_8K];
            if self.next_frame(&mut frame) {
                events.push(MediaEvent::PlayDone { call: self.call });
            }
            let mut pkt = Vec::with_capacity(12 + FRAME_8K);
            pkt.extend_from_slice(&[0x80, self.encoder.codec().payload_type()]);
            pkt.extend_from_slice(&self.seq.to_be_bytes());
            pkt.extend_from_slice(&self.timestamp.to_be_bytes());
            pkt.extend_from_slice(&self.ssrc.to_be_bytes());
            self.encoder.encode(&frame, &mut pkt);
            packets.push(pkt);
            self.seq = self.seq.wrapping_add(1);
            self.timestamp = self.timestamp.wrapping_add(FRAME_8K as u32);
            at += FRAME;
        }
        self.next_send = Some(at);
    }

    /// A packet from the caller.
    pub fn on_rtp(&mut self, now: Instant, pkt: &[u8], events: &mut Vec<MediaEvent>) {
        let Some(rtp) = parse_rtp(pkt) else {
            return;
        };
        let mut keys = Vec::new();
        if Some(rtp.pt) == self.event_pt {
            if let Some(r) = Report::parse(rtp.payload) {
                for e in self.events.on_report(rtp.timestamp, r) {
                    if let KeyEvent::Down { digit, .. } = e {
                        keys.push(digit);
                    }
                }
            }
        } else {
            self.pcm.clear();
            if self.decoder.decode(rtp.pt, rtp.payload, &mut self.pcm) {
                keys.extend(self.detector.feed(&self.pcm));
                if let Some((kept, max)) = &mut self.capture {
                    let room = max.saturating_sub(kept.len());
                    kept.extend_from_slice(&self.pcm[..self.pcm.len().min(room)]);
                    if kept.len() >= *max {
                        events.extend(self.end_capture());
                    }
                }
            }
        }
        for key in keys {
            let repeat = self.last_key.is_some_and(|(k, at)| {
                k == key && now.duration_since(at) < Duration::from_millis(120)
            });
            self.last_key = Some((key, now));
            if repeat {
                continue;
            }
            if self.interruptible && self.playing {
                self.stop();
            }
            events.push(MediaEvent::Digit {
                call: self.call,
                key,
            });
        }
    }
}

/// An RTP packet carrying one telephone-event report, for tests.
#[cfg(test)]
fn event_packet(pt: u8, seq: u16, ts: u32, r: Report) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1]);
    p.extend_from_slice(&r.to_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use dering_media::g711::Law;

    #[test]
    fn plays_prompts_paced_then_silence_and_says_when_done() {
        let t0 = Instant::now();
        let mut m = LocalMedia::new(1, Codec::Pcma, Some(101), 42);
        let prompt: Arc<[i16]> = vec![1000i16; 400].into();
        m.play(vec![prompt.clone(), prompt], false);
        let (mut pkts, mut ev) = (Vec::new(), Vec::new());
        // 100 ms: five packets, the prompts (800 samples) end in the 5th.
        for ms in (0..100).step_by(5) {
            m.poll(t0 + Duration::from_millis(ms), &mut pkts, &mut ev);
        }
        assert_eq!(pkts.len(), 5);
        assert_eq!(ev, [MediaEvent::PlayDone { call: 1 }]);
        let first = parse_rtp(&pkts[0]).unwrap();
        assert_eq!(first.pt, 8);
        assert_eq!(first.payload.len(), 160);
        assert!(first
            .payload
            .iter()
            .all(|b| *b == Law::Alaw.encode_one(1000)));
        // Sequence and timestamp advance by one frame.
        let s = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
        let ts = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        assert_eq!(s(&pkts[1]), s(&pkts[0]).wrapping_add(1));
        assert_eq!(ts(&pkts[1]), ts(&pkts[0]).wrapping_add(160));
        // Then silence, still paced.
        m.poll(t0 + Duration::from_millis(120), &mut pkts, &mut ev);
        assert_eq!(pkts.len(), 7);
        assert!(parse_rtp(&pkts[6])
            .unwrap()
            .payload
            .iter()
            .all(|b| *b == Law::Alaw.silence()));
        assert_eq!(ev.len(), 1);
    }

    #[test]
    fn keys_by_rfc4733_and_in_band_each_reported_once() {
        let t0 = Instant::now();
        let mut m = LocalMedia::new(9, Codec::Pcmu, Some(101), 1);
        let prompt: Arc<[i16]> = vec![0i16; 8000].into();
        m.play(vec![prompt], true);
        let mut ev = Vec::new();
        for (i, p) in dering_media::rfc4733::press(2, 5000, 800, 400, 10)
            .into_iter()
            .enumerate()
        {
            let pkt = event_packet(101, i as u16, p.timestamp, p.report);
            m.on_rtp(t0, &pkt, &mut ev);
        }
        assert_eq!(ev, [MediaEvent::Digit { call: 9, key: '2' }]);
        assert!(!m.playing, "a key interrupts an interruptible prompt");

        // The same key in the audio right after: not reported again.
        let mut ev = Vec::new();
        let audio = dering_media::dtmf::generate('2', 80, -10.0, 0.0, 0.0);
        for (i, chunk) in audio.chunks(160).enumerate() {
            let mut pkt = vec![0x80, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 1];
            Law::Ulaw.encode(chunk, &mut pkt);
            m.on_rtp(t0 + Duration::from_millis(20 * i as u64), &pkt, &mut ev);
        }
        assert!(ev.is_empty(), "{ev:?}");
        // A different key in the audio later is heard.
        let audio = dering_media::dtmf::generate('7', 80, -10.0, 0.0, 0.0);
        let later = t0 + Duration::from_secs(1);
        for (i, chunk) in audio.chunks(160).enumerate() {
            let mut pkt = vec![0x80, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 1];
            Law::Ulaw.encode(chunk, &mut pkt);
            m.on_rtp(later, &pkt, &mut ev);
        }
        assert_eq!(ev, [MediaEvent::Digit { call: 9, key: '7' }]);
    }

    #[test]
    fn music_loops_without_end() {
        let t0 = Instant::now();
        let mut m = LocalMedia::new(1, Codec::Pcma, None, 7);
        let tune: Arc<[i16]> = (0..240).map(|i| i as i16 * 10).collect::<Vec<_>>().into();
        m.play_loop(vec![tune]);
        let (mut pkts, mut ev) = (Vec::new(), Vec::new());
        for ms in (0..=200).step_by(5) {
            m.poll(t0 + Duration::from_millis(ms), &mut pkts, &mut ev);
        }
        assert_eq!(pkts.len(), 11);
        assert!(ev.is_empty(), "music never ends: {ev:?}");
        // Frame 3 (samples 480..640) is the tune's start again twice over.
        let p = parse_rtp(&pkts[3]).unwrap().payload.to_vec();
        assert_eq!(p[0], Law::Alaw.encode_one(0));
        assert!(pkts.iter().all(|p| parse_rtp(p)
            .unwrap()
            .payload
            .iter()
            .any(|b| *b != Law::Alaw.silence())));
    }

    #[test]
    fn a_capture_keeps_the_callers_audio_not_its_key_events() {
        let t0 = Instant::now();
        let mut m = LocalMedia::new(4, Codec::Pcma, Some(101), 3);
        let mut ev = Vec::new();
        let audio_pkt = |i: u16, level: i16| {
            let mut pkt = vec![0x80, 8];
            pkt.extend_from_slice(&i.to_be_bytes());
            pkt.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
            Law::Alaw.encode(&[level; 160], &mut pkt);
            pkt
        };
        // Before the capture: not kept.
        m.on_rtp(t0, &audio_pkt(0, 500), &mut ev);
        m.start_capture(400);
        m.on_rtp(t0, &audio_pkt(1, 1000), &mut ev);
        let key = event_packet(101, 2, 0, Report::parse(&[1, 0x0a, 0, 160]).unwrap());
        m.on_rtp(t0, &key, &mut ev);
        m.on_rtp(t0, &audio_pkt(3, 2000), &mut ev);
        assert!(ev.iter().all(|e| !matches!(e, MediaEvent::Captured { .. })));
        let Some(MediaEvent::Captured { call, audio }) = m.end_capture() else {
            panic!("a capture was running");
        };
        assert_eq!((call, audio.len()), (4, 320));
        let one = |s: i16| Law::Alaw.decode_one(Law::Alaw.encode_one(s));
        assert!(audio[..160].iter().all(|s| *s == one(1000)));
        assert!(audio[160..].iter().all(|s| *s == one(2000)));
        assert_eq!(m.end_capture(), None, "ended once");

        // The most samples end it by themselves.
        m.start_capture(200);
        m.on_rtp(t0, &audio_pkt(4, 700), &mut ev);
        m.on_rtp(t0, &audio_pkt(5, 700), &mut ev);
        let lens: Vec<usize> = ev
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Captured { audio, .. } => Some(audio.len()),
                _ => None,
            })
            .collect();
        assert_eq!(lens, [200]);
    }

    #[test]
    fn garbage_is_ignored() {
        let mut m = LocalMedia::new(1, Codec::Pcma, Some(101), 1);
        let mut ev = Vec::new();
        for p in [
            &b""[..],
            &[0x80, 8, 0],
            &[0x40; 20],
            &[0xB0, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
            &[0xA0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200],
        ] {
            m.on_rtp(Instant::now(), p, &mut ev);
        }
        assert!(ev.is_empty());
    }
}
