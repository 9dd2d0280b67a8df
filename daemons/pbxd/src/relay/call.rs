//! One call's media on its relay thread: its four sockets and everything
//! that decides what becomes of its packets (a local endpoint answering
//! the caller, music to a held leg, a recording, transcoding, RFC 4733 key
//! reports and gates, the rooms its legs mix in). Whatever the call holds
//! goes with it when it is closed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dering_media::codec::{Codec, Transcoder};
use dering_media::rfc4733;

use super::latch::{Latch, Verdict};
use super::leg::{rtcp_of, Leg};
use super::recording::Recording;
use super::stream::{OutStream, Producer};
use crate::core::{leg_key, Side};
use crate::endpoint::{parse_rtp, LocalMedia, MediaEvent};
use crate::keygate::KeyGate;

/// The leg of a side index: 0 the caller, anything else the callee.
pub(super) fn side_of(side: usize) -> Side {
    if side == 0 {
        Side::A
    } else {
        Side::B
    }
}

/// The most RTP packets held for a leg that has not signalled yet
/// ([`Verdict::Early`]): 160 ms of 20 ms packets, more than signalling
/// takes to reach the relay.
pub(super) const EARLY_MAX: usize = 8;
/// A held packet older than this when the leg signals is not released:
/// late audio is worse than none.
pub(super) const EARLY_AGE: Duration = Duration::from_millis(300);

/// A packet held until its leg signals.
#[derive(Debug)]
struct Held {
    at: Instant,
    src: SocketAddr,
    pkt: Vec<u8>,
}

/// One socket of a call, as its relay thread sees it.
#[derive(Debug)]
pub(super) struct Socket {
    pub(super) sock: UdpSocket,
    /// Which leg's packets arrive here: 0 caller, 1 callee.
    pub(super) side: usize,
    pub(super) rtcp: bool,
    /// The leg whose packets arrive here, and the leg they go to.
    pub(super) from: Arc<Leg>,
    pub(super) to: Arc<Leg>,
    /// Whether packets here come from the leg (see [`Latch`]).
    latch: Cell<Latch>,
    /// The RTP stream this socket sends its leg, whoever produces it.
    out: Cell<OutStream>,
    /// RTP that came before the leg signalled, oldest first.
    early: RefCell<VecDeque<Held>>,
}

impl Socket {
    /// Socket `i` of a call (caller's RTP, callee's RTP, caller's RTCP,
    /// callee's RTCP).
    fn new(i: usize, sock: UdpSocket, legs: &[Arc<Leg>; 2]) -> Socket {
        let (from, to) = (i % 2, (i % 2) ^ 1);
        Socket {
            sock,
            side: from,
            rtcp: i >= 2,
            latch: Cell::new(Latch::new(legs[from].generation.load(Ordering::Acquire))),
            out: Cell::new(OutStream::default()),
            early: RefCell::new(VecDeque::new()),
            from: legs[from].clone(),
            to: legs[to].clone(),
        }
    }

    /// Whether packet `pkt` from `src` is the leg's. The leg's packets go
    /// back to where they come from, if they may (see [`Latch`]); a
    /// stranger's go nowhere and are counted, the first one of the call
    /// logged. RTP that comes before the leg has signalled is held (see
    /// [`Socket::take_early`]).
    pub(super) fn admit(&self, call: u64, src: SocketAddr, pkt: &[u8]) -> bool {
        let back = if self.rtcp {
            &self.from.rtcp_to
        } else {
            &self.from.rtp_to
        };
        let signalled = self.from.signalled.get();
        let signalled = if self.rtcp {
            signalled.map(rtcp_of)
        } else {
            signalled
        };
        let host = if self.rtcp {
            self.from.rtp_to.get().map(|a| a.ip())
        } else {
            None
        };
        let mut latch = self.latch.get();
        let verdict = latch.judge(
            src,
            back.get(),
            signalled,
            host,
            self.from.generation.load(Ordering::Acquire),
            Instant::now,
        );
        self.latch.set(latch);
        match verdict {
            Verdict::Pass => true,
            Verdict::Latch => {
                back.set(src);
                true
            }
            Verdict::Early if !self.rtcp => {
                let mut early = self.early.borrow_mut();
                if early.len() == EARLY_MAX {
                    early.pop_front();
                    self.from.stray.fetch_add(1, Ordering::Relaxed);
                }
                early.push_back(Held {
                    at: Instant::now(),
                    src,
                    pkt: pkt.to_vec(),
                });
                self.from.held.store(early.len() as u32, Ordering::Relaxed);
                false
            }
            Verdict::Drop | Verdict::Early => {
                let before = self.from.stray.fetch_add(1, Ordering::Relaxed);
                if before == 0 && self.to.stray.load(Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        call,
                        leg = if self.side == 0 { "caller" } else { "callee" },
                        rtcp = self.rtcp,
                        from = %src,
                        latched = ?back.get(),
                        "media from a stranger dropped (counted until the call ends)"
                    );
                }
                false
            }
        }
    }

    /// The packets held before the leg signalled that are the leg's, now
    /// that a packet from `src` has been admitted as the leg's: those from
    /// `src` and fresh enough, oldest first, to be relayed before it. The
    /// rest are counted as strays. Nothing is allocated when none is held
    /// (every packet but a call's first few).
    pub(super) fn take_early(&self, src: SocketAddr) -> Vec<Vec<u8>> {
        let mut early = self.early.borrow_mut();
        if early.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        self.from.held.store(0, Ordering::Relaxed);
        let mut out = Vec::with_capacity(early.len());
        for h in early.drain(..) {
            if h.src == src && now.duration_since(h.at) <= EARLY_AGE {
                out.push(h.pkt);
            } else {
                self.from.stray.fetch_add(1, Ordering::Relaxed);
            }
        }
        out
    }

    /// Renumbers an RTP packet from `producer` into the stream this
    /// socket sends its leg (see [`OutStream`]).
    pub(super) fn stamp(&self, producer: Producer, pkt: &mut [u8]) {
        let mut out = self.out.get();
        out.rewrite(producer, Instant::now(), pkt);
        self.out.set(out);
    }

    /// Sends the box's own RTP (prompts, music, a mix) to this socket's
    /// leg, counted as delivered to it.
    pub(super) fn play(&self, producer: Producer, pkt: &mut [u8]) {
        if let Some(dst) = self.from.rtp_to.get() {
            self.stamp(producer, pkt);
            if self.sock.send_to(pkt, dst).is_ok() {
                self.from.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Music on hold to one leg (the other put it on hold).
pub(super) struct Hold {
    /// The held leg: 0 caller, 1 callee.
    pub(super) side: usize,
    pub(super) music: Box<LocalMedia>,
}

/// One leg's RFC 4733 keys: reported, and gated so that in-call feature
/// codes do not reach the other party (see [`crate::keygate`]).
struct Keys {
    /// The leg's telephone-event payload type.
    pt: u8,
    receiver: rfc4733::Receiver,
    gate: Box<KeyGate>,
}

/// Bits of [`CallMedia::work`]: what of a call needs the relay thread's
/// attention between packets.
pub(super) const LOCAL: u8 = 1;
pub(super) const HOLD: u8 = 2;
pub(super) const RECORDING: u8 = 4;
pub(super) const KEYS: u8 = 8;

/// One call's media on its relay thread.
pub(super) struct CallMedia {
    pub(super) id: u64,
    /// Caller's RTP, callee's RTP, caller's RTCP, callee's RTCP: what
    /// arrives on `socks[i]` leaves from `socks[i ^ 1]`.
    pub(super) socks: [Socket; 4],
    /// The caller talks to the box (a flow) until bridged: prompts out,
    /// keys in.
    pub(super) local: Option<Box<LocalMedia>>,
    /// A caller the box answered that now mixes in a room: its keys are
    /// still listened for.
    pub(super) listener: Option<Box<LocalMedia>>,
    pub(super) hold: Option<Hold>,
    pub(super) recording: Option<Box<Recording>>,
    /// Per leg: its packets re-encoded for the other leg.
    transcoders: [Option<Transcoder>; 2],
    /// Per leg: its keys, when watched.
    keys: [Option<Keys>; 2],
    /// Per leg: the room it mixes in.
    pub(super) rooms: [Option<u64>; 2],
}

impl CallMedia {
    pub(super) fn new(id: u64, socks: [UdpSocket; 4], legs: &[Arc<Leg>; 2]) -> CallMedia {
        let mut i = 0;
        let socks = socks.map(|sock| {
            let s = Socket::new(i, sock, legs);
            i += 1;
            s
        });
        CallMedia {
            id,
            socks,
            local: None,
            listener: None,
            hold: None,
            recording: None,
            transcoders: [None, None],
            keys: [None, None],
            rooms: [None, None],
        }
    }

    /// The key of leg `side` in rooms.
    pub(super) fn leg_key(&self, side: usize) -> u64 {
        leg_key(self.id, side_of(side))
    }

    /// What of the call the relay thread must poll (bits [`LOCAL`],
    /// [`HOLD`], [`RECORDING`], [`KEYS`]).
    pub(super) fn work(&self) -> u8 {
        let mut w = 0;
        if self.local.is_some() {
            w |= LOCAL;
        }
        if self.hold.is_some() {
            w |= HOLD;
        }
        if self.recording.is_some() {
            w |= RECORDING;
        }
        if self.keys.iter().any(Option::is_some) {
            w |= KEYS;
        }
        w
    }

    /// The legs talk `codecs` (caller's, callee's): each leg's packets are
    /// re-encoded for the other, or pass as they are when the codecs are
    /// one again (after a transfer).
    pub(super) fn transcode(&mut self, codecs: [Codec; 2]) {
        let [a, b] = codecs;
        self.transcoders = if a == b {
            [None, None]
        } else {
            [Some(Transcoder::new(a, b)), Some(Transcoder::new(b, a))]
        };
    }

    /// Keys sent as telephone-events with payload types `pts` (caller's,
    /// callee's) are reported, and in-call feature `codes` kept from the
    /// other party.
    pub(super) fn watch_keys(&mut self, pts: [Option<u8>; 2], codes: &Arc<[String]>) {
        self.keys = pts.map(|pt| {
            pt.map(|pt| Keys {
                pt,
                receiver: Default::default(),
                gate: Box::new(KeyGate::new(pt, codes.clone())),
            })
        });
    }

    /// The local endpoint's packets due by `now` go to the caller.
    pub(super) fn play_local(
        &mut self,
        now: Instant,
        packets: &mut Vec<Vec<u8>>,
        events: &mut Vec<MediaEvent>,
    ) {
        if let Some(m) = &mut self.local {
            m.poll(now, packets, events);
            for p in packets.iter_mut() {
                self.socks[0].play(Producer::Local, p);
            }
            packets.clear();
        }
    }

    /// The music due by `now` goes to the held leg.
    pub(super) fn play_hold(
        &mut self,
        now: Instant,
        packets: &mut Vec<Vec<u8>>,
        ignored: &mut Vec<MediaEvent>,
    ) {
        if let Some(h) = &mut self.hold {
            h.music.poll(now, packets, ignored);
            if let Some(ep) = self.socks.get(h.side) {
                for p in packets.iter_mut() {
                    ep.play(Producer::Hold, p);
                }
            }
            packets.clear();
        }
    }

    /// Keys held back too long as a possible feature code go on to the
    /// other leg; `released` is scratch.
    pub(super) fn release_keys(&mut self, now: Instant, released: &mut Vec<Vec<u8>>) {
        for (side, keys) in self.keys.iter_mut().enumerate() {
            let Some(keys) = keys else {
                continue;
            };
            released.clear();
            keys.gate.poll(now, released);
            if released.is_empty() {
                continue;
            }
            let (ep, out) = (&self.socks[side], &self.socks[side ^ 1]);
            if let Some(dst) = ep.to.rtp_to.get() {
                for p in released.iter_mut() {
                    out.stamp(Producer::Relay, p);
                    let _ = out.sock.send_to(p, dst);
                }
            }
        }
    }

    /// Reports the keys in an RTP packet from leg `side`.
    pub(super) fn report_keys(&mut self, side: usize, pkt: &[u8], events: &mut Vec<MediaEvent>) {
        let Some(keys) = &mut self.keys[side] else {
            return;
        };
        let Some(rtp) = parse_rtp(pkt).filter(|r| r.pt == keys.pt) else {
            return;
        };
        if let Some(r) = rfc4733::Report::parse(rtp.payload) {
            for e in keys.receiver.on_report(rtp.timestamp, r) {
                if let rfc4733::KeyEvent::Down { digit, .. } = e {
                    events.push(MediaEvent::InCallKey {
                        call: self.id,
                        side: side_of(side),
                        key: digit,
                    });
                }
            }
        }
    }

    /// A packet that arrived on socket `i` while the caller talks to the
    /// box: the caller's RTP goes to the local endpoint, nothing goes to
    /// the callee. False when the call is relayed.
    pub(super) fn answer_locally(
        &mut self,
        i: usize,
        pkt: &[u8],
        events: &mut Vec<MediaEvent>,
    ) -> bool {
        let Some(m) = &mut self.local else {
            return false;
        };
        if i == 0 {
            m.on_rtp(Instant::now(), pkt, events);
        }
        true
    }

    /// Records an RTP packet from leg `side`.
    pub(super) fn record(&mut self, side: usize, pkt: &[u8]) {
        if let Some(r) = &mut self.recording {
            r.on_rtp(side, Instant::now(), pkt);
        }
    }

    /// Whether leg `side`'s packets are kept from the other leg because
    /// that one hears music on hold.
    pub(super) fn holds_back(&self, side: usize) -> bool {
        self.hold.as_ref().is_some_and(|h| h.side != side)
    }

    /// Relays a packet that arrived on socket `i` to the other leg, through
    /// the leg's key gate and transcoder (RTP only); `released` and
    /// `transcoded` are scratch.
    pub(super) fn forward(
        &mut self,
        i: usize,
        pkt: &mut [u8],
        released: &mut Vec<Vec<u8>>,
        transcoded: &mut Vec<u8>,
    ) {
        let (ep, out) = (&self.socks[i], &self.socks[i ^ 1]);
        let dest = if ep.rtcp {
            &ep.to.rtcp_to
        } else {
            &ep.to.rtp_to
        };
        let Some(dst) = dest.get() else {
            return;
        };
        if ep.rtcp {
            let _ = out.sock.send_to(pkt, dst);
            return;
        }
        if let Some(keys) = &mut self.keys[ep.side] {
            released.clear();
            let send = keys.gate.on_packet(Instant::now(), pkt, released);
            for p in released.iter_mut() {
                out.stamp(Producer::Relay, p);
                let _ = out.sock.send_to(p, dst);
            }
            if !send {
                return;
            }
        }
        let mut packet: &mut [u8] = pkt;
        if let Some(t) = &mut self.transcoders[ep.side] {
            if transcode_packet(t, packet, transcoded) {
                packet = transcoded;
            }
        }
        // In place: the plain relay copies nothing.
        out.stamp(Producer::Relay, packet);
        if out.sock.send_to(packet, dst).is_ok() {
            ep.to.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The call ended: its recording is finished. Its sockets close when
    /// it is dropped.
    pub(super) fn finish(mut self) {
        if let Some(r) = self.recording.take() {
            r.finish(self.id);
        }
    }
}

/// Re-encodes an RTP packet in the transcoder's source codec into `out`:
/// the same sequence number, timestamp (G.722's RTP clock is 8 kHz, like
/// G.711's), SSRC and marker, the other payload type. Other packets
/// (telephone-event) are left alone: returns false.
fn transcode_packet(t: &mut Transcoder, pkt: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(rtp) = parse_rtp(pkt) else {
        return false;
    };
    if rtp.pt != t.from().payload_type() {
        return false;
    }
    out.clear();
    // Version 2, no padding, extension or CSRCs: those described the
    // other codec's packet.
    out.push(0x80);
    out.push((pkt[1] & 0x80) | t.to().payload_type());
    out.extend_from_slice(&pkt[2..12]);
    t.transcode(rtp.payload, out);
    true
}
