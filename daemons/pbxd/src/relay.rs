//! The RTP/RTCP relay. Media is anchored: each call has a socket pair per
//! leg, and what arrives on one leg's socket leaves from the other leg's
//! socket.
//!
//! Latching is strict (rtpengine's strict-source semantics, see decision
//! 0011): a leg's media goes to the address its SDP gives until the leg's
//! own packets say otherwise, and they may say so only inside a short
//! window, the first packets after the leg opened or after its signalling
//! announced new media (a re-INVITE, an answer). Within it the leg
//! follows where its packets come from (symmetric RTP, so phones behind
//! NAT work), a new source taking over only from one fallen silent; a
//! packet from exactly the signalled address closes it at once. After
//! that, packets from any other source are dropped and counted: whoever
//! sends to a relay port (they are predictable) neither takes the leg's
//! media over nor is heard (the RTP bleed, CVE-2017-14099). RTP and RTCP
//! latch independently.
//!
//! The relay runs on threads of its own, each waiting with epoll on the
//! sockets of the calls it owns: a packet costs one wake-up shared by every
//! socket ready at that moment, a `recvfrom` and a `sendto`, with no
//! per-packet task scheduling and no lock. Signalling talks to the threads
//! through a command queue and never waits for them; they never wait for
//! signalling or the database.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use dering_media::codec::{Codec, Encoder, StreamDecoder, Transcoder};
use dering_media::mix::{Mixer, Role};

use crate::core::{leg_key, Side};
use crate::endpoint::{parse_rtp, LocalMedia, MediaEvent};
use crate::keygate::KeyGate;
use crate::recorder::RecMsg;

/// Where the relay threads report keys and the end of playback.
pub type Notify = Arc<dyn Fn(MediaEvent) + Send + Sync>;

/// A socket address that can be read and replaced without a lock. IPv4
/// addresses are packed in one word (the bind address of the relay is IPv4
/// on every box we ship); IPv6 ones use the slower lock-protected slot.
#[derive(Debug, Default)]
struct AddrCell {
    /// bit 63: set; bits 32..48: port; bits 0..32: IPv4 address.
    v4: AtomicU64,
    v6: std::sync::Mutex<Option<SocketAddr>>,
}

const SET: u64 = 1 << 63;

impl AddrCell {
    fn get(&self) -> Option<SocketAddr> {
        let w = self.v4.load(Ordering::Acquire);
        if w & SET != 0 {
            let ip = Ipv4Addr::from((w & 0xffff_ffff) as u32);
            return Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                ((w >> 32) & 0xffff) as u16,
            )));
        }
        match self.v6.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    fn set(&self, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(a) => {
                let w = SET | (u64::from(a.port()) << 32) | u64::from(u32::from(*a.ip()));
                self.v4.store(w, Ordering::Release);
            }
            SocketAddr::V6(_) => {
                self.v4.store(0, Ordering::Release);
                match self.v6.lock() {
                    Ok(mut g) => *g = Some(addr),
                    Err(p) => *p.into_inner() = Some(addr),
                }
            }
        }
    }
}

/// One leg's addresses and counters, shared by the relay thread and
/// signalling.
#[derive(Debug, Default)]
struct Leg {
    /// Where this leg's packets go (the phone), latched or from SDP.
    rtp_to: AddrCell,
    rtcp_to: AddrCell,
    /// The RTP address the leg's SDP gave last (RTCP: the port after).
    signalled: AddrCell,
    /// Raised by signalling each time the leg's SDP comes (again): the
    /// relay thread then re-opens the leg's latching window.
    generation: AtomicU32,
    /// RTP packets received from this leg.
    received: AtomicU64,
    /// RTP packets from the other leg delivered to this one.
    delivered: AtomicU64,
    /// Packets (RTP or RTCP) that reached this leg's ports from a source
    /// other than the leg's, dropped.
    stray: AtomicU64,
}

/// How many packets after its first one a leg may still move, and for
/// how long: enough for a NAT or a phone that settles on its socket late,
/// short enough to leave a stranger little time.
const LATCH_PACKETS: u32 = 10;
const LATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Inside the window, a new source takes the stream over only from one
/// that has been silent this long (five packet times): a NAT's old mapping
/// stops when the new one starts, while a stranger racing a phone that
/// talks does not win by sending more.
const HANDOVER: std::time::Duration = std::time::Duration::from_millis(100);

/// One stream's (a leg's RTP or its RTCP) latching state, kept by the relay
/// thread beside the socket the leg sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Latch {
    /// The [`Leg::generation`] this state belongs to.
    generation: u32,
    /// Whether the stream may still move to the source of its packets.
    open: bool,
    /// When the window's first packet came: the window lasts from there,
    /// so a leg that is silent for a while (a callee ringing) still latches.
    first: Option<std::time::Instant>,
    /// Packets passed in the window.
    packets: u32,
    /// When the stream's source was last heard in the window.
    heard: Option<std::time::Instant>,
}

/// What becomes of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// From the stream's address: relay it.
    Pass,
    /// Relay it, and send the stream's media to its source from now on.
    Latch,
    /// A stranger's: drop it.
    Drop,
}

impl Latch {
    fn new(generation: u32) -> Latch {
        Latch {
            generation,
            open: true,
            first: None,
            packets: 0,
            heard: None,
        }
    }

    /// Judges a packet from `src` for a stream whose media goes to
    /// `current` and whose SDP gave `signalled`; `generation` is the leg's
    /// now and `now` is read only while the window is open. A stream may
    /// latch only once its leg has signalled (a leg that has sent no SDP
    /// has no media), and only to a source on `host` when that is given
    /// (RTCP comes from the host the leg's RTP goes to, so a stranger
    /// cannot take the RTCP of a phone that sends none).
    fn judge(
        &mut self,
        src: SocketAddr,
        current: Option<SocketAddr>,
        signalled: Option<SocketAddr>,
        host: Option<IpAddr>,
        generation: u32,
        now: impl FnOnce() -> std::time::Instant,
    ) -> Verdict {
        if generation != self.generation {
            *self = Latch::new(generation);
        }
        let moved = |current: Option<SocketAddr>| {
            if current == Some(src) {
                Verdict::Pass
            } else {
                Verdict::Latch
            }
        };
        // The signalled address itself is the leg, whenever it speaks;
        // from then on nobody else may take the stream.
        if signalled == Some(src) {
            self.open = false;
            return moved(current);
        }
        let may_latch = signalled.is_some() && host.is_none_or(|h| h == src.ip());
        if self.open && may_latch {
            let now = now();
            let first = *self.first.get_or_insert(now);
            if self.packets >= LATCH_PACKETS || now.duration_since(first) > LATCH_WINDOW {
                self.open = false;
            } else if current == Some(src)
                || self.heard.is_none_or(|t| now.duration_since(t) >= HANDOVER)
            {
                self.packets += 1;
                self.heard = Some(now);
                return moved(current);
            } else {
                return Verdict::Drop;
            }
        }
        if current == Some(src) {
            Verdict::Pass
        } else {
            Verdict::Drop
        }
    }
}

/// Packet counters of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MediaStats {
    /// RTP received from the caller / the callee.
    pub from_a: u64,
    pub from_b: u64,
    /// RTP sent on to the callee / the caller.
    pub to_b: u64,
    pub to_a: u64,
    /// Packets from strangers dropped at the caller's / the callee's ports.
    pub stray_a: u64,
    pub stray_b: u64,
}

/// One socket of a call, as its relay thread sees it.
#[derive(Debug)]
struct Endpoint {
    call: u64,
    /// The caller's RTP socket (the one a local endpoint answers on).
    a_rtp: bool,
    /// Which leg's packets arrive here: 0 caller, 1 callee.
    side: usize,
    sock: UdpSocket,
    /// Index in the owning call's `socks` of where its packets leave from.
    out: usize,
    /// The leg whose packets arrive here, and the leg they go to.
    from: Arc<Leg>,
    to: Arc<Leg>,
    rtcp: bool,
    /// Whether packets here come from the leg (see [`Latch`]).
    latch: std::cell::Cell<Latch>,
}

enum Command {
    Open {
        call: u64,
        socks: [UdpSocket; 4],
        legs: [Arc<Leg>; 2],
    },
    Close {
        call: u64,
    },
    /// The caller's leg ends at a local endpoint (a flow) until `Bridge`.
    Local {
        call: u64,
        media: Box<LocalMedia>,
    },
    Play {
        call: u64,
        audio: Vec<Arc<[i16]>>,
        interruptible: bool,
    },
    Stop {
        call: u64,
    },
    /// Music under the local endpoint's prompts, looped (empty: none).
    Music {
        call: u64,
        audio: Vec<Arc<[i16]>>,
    },
    /// Relay the caller to the callee from now on.
    Bridge {
        call: u64,
    },
    /// Music on hold to leg `side` (`None`: stop it and relay again).
    Hold {
        call: u64,
        side: usize,
        music: Option<Box<LocalMedia>>,
    },
    /// Record both legs into `sink` (the recorder thread).
    Record {
        call: u64,
        sink: mpsc::SyncSender<RecMsg>,
    },
    /// Leg `side` of `call` joins (or changes its role in) mixing room
    /// `room`, talking `law`.
    Join {
        room: u64,
        call: u64,
        side: usize,
        codec: Codec,
        role: Role<u64>,
    },
    /// The legs talk different codecs (caller's, callee's).
    Transcode {
        call: u64,
        codecs: [Codec; 2],
    },
    /// Both legs of `call` leave whatever room they are in.
    Leave {
        call: u64,
    },
    /// Report the keys each leg sends as telephone-events with these
    /// payload types (caller's, callee's).
    WatchKeys {
        call: u64,
        pts: [Option<u8>; 2],
        codes: Arc<[String]>,
    },
}

/// A mixing room on its relay thread: the mixer and, for each leg that
/// hears the mix, its own outgoing RTP stream.
#[derive(Default)]
struct Room {
    mixer: Mixer<u64>,
    /// Per leg: its codec, its decoder in, its stream out (when it hears
    /// the mix).
    codecs: HashMap<u64, Codec>,
    decoders: HashMap<u64, StreamDecoder>,
    outs: HashMap<u64, MixOut>,
    next: Option<std::time::Instant>,
}

impl Room {
    /// Mixes at 16 kHz while a member talks G.722, at 8 kHz otherwise;
    /// on a change every member's decoder and encoder follow.
    fn pick_rate(&mut self) {
        let wide = self.codecs.values().any(|c| *c == Codec::G722);
        if self.mixer.set_wideband(wide) {
            tracing::debug!(wide, members = self.codecs.len(), "room mixing rate");
            self.decoders.clear();
            for (key, out) in self.outs.iter_mut() {
                if let Some(codec) = self.codecs.get(key) {
                    out.encoder = Encoder::at(*codec, wide);
                }
            }
        }
    }
}

/// The RTP stream the box sends a leg that hears a mix.
struct MixOut {
    encoder: Encoder,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
}

impl MixOut {
    fn new(codec: Codec, wide: bool) -> MixOut {
        let seed: u32 = rand::random();
        MixOut {
            encoder: Encoder::at(codec, wide),
            ssrc: seed,
            seq: (seed >> 16) as u16,
            timestamp: seed.rotate_left(7),
        }
    }

    fn packet(&mut self, frame: &[i16]) -> Vec<u8> {
        let mut pkt = Vec::with_capacity(12 + frame.len());
        pkt.extend_from_slice(&[0x80, self.encoder.codec().payload_type()]);
        pkt.extend_from_slice(&self.seq.to_be_bytes());
        pkt.extend_from_slice(&self.timestamp.to_be_bytes());
        pkt.extend_from_slice(&self.ssrc.to_be_bytes());
        self.encoder.encode(frame, &mut pkt);
        self.seq = self.seq.wrapping_add(1);
        // 20 ms on the 8 kHz RTP clock, whatever the mixing rate (G.722's
        // clock is 8 kHz too, RFC 3551).
        self.timestamp = self.timestamp.wrapping_add(dering_media::FRAME_8K as u32);
        pkt
    }
}

/// A recorded call on its relay thread: each leg through a jitter buffer,
/// a stereo frame out every 20 ms.
struct Recording {
    sink: mpsc::SyncSender<RecMsg>,
    legs: [dering_media::jitter::JitterBuffer; 2],
    decoders: [StreamDecoder; 2],
    next: Option<std::time::Instant>,
    dropped: u64,
}

impl Recording {
    fn new(sink: mpsc::SyncSender<RecMsg>) -> Recording {
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

    fn on_rtp(&mut self, side: usize, now: std::time::Instant, pkt: &[u8]) {
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
    fn tick(&mut self, call: u64, now: std::time::Instant, out: &mut Vec<(u64, Vec<i16>)>) {
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
}

/// Handle to the relay threads.
#[derive(Debug)]
pub struct Relay {
    ip: IpAddr,
    workers: Vec<mpsc::Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    legs: HashMap<u64, [Arc<Leg>; 2]>,
    /// Ports bound ahead for calls to come (RTP, RTCP), by RTP port.
    reserved: HashMap<u16, [UdpSocket; 2]>,
    /// The thread each call is on: calls that mix together share one.
    worker_of: HashMap<u64, usize>,
    recorder: Option<RecorderCtx>,
}

/// Where recordings go.
#[derive(Debug, Clone)]
pub struct RecorderCtx {
    pub sink: mpsc::SyncSender<RecMsg>,
    /// `<dir>/YYYY/MM/DD/<call uuid>.wav`, the date in local time.
    pub dir: std::path::PathBuf,
    pub utc_offset_minutes: i32,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("relay command")
    }
}

fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// How long a relay thread waits for packets before looking at commands.
const POLL_MS: u16 = 5;

impl Relay {
    /// Starts `threads` relay threads binding on `ip`; local endpoints
    /// report through `notify`.
    pub fn new(ip: IpAddr, threads: usize, notify: Notify) -> std::io::Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        let mut handles = Vec::new();
        for n in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel();
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            let stop = stop.clone();
            let notify = notify.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("media-{n}"))
                    .spawn(move || worker(epoll, rx, stop, notify))?,
            );
            workers.push(tx);
        }
        Ok(Relay {
            ip,
            workers,
            threads: handles,
            stop,
            legs: HashMap::new(),
            reserved: HashMap::new(),
            worker_of: HashMap::new(),
            recorder: None,
        })
    }

    fn bind(&self, port: u16) -> std::io::Result<UdpSocket> {
        let s = UdpSocket::bind(SocketAddr::new(self.ip, port))?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    /// Binds RTP port `port` and RTCP port `port + 1` for a call to come,
    /// so that signalling names in an SDP only ports the box holds. Fails
    /// if another program has either.
    pub fn reserve(&mut self, port: u16) -> std::io::Result<()> {
        if !self.reserved.contains_key(&port) {
            let rtcp = port
                .checked_add(1)
                .ok_or_else(|| std::io::Error::other("no RTCP port after 65535"))?;
            let pair = [self.bind(port)?, self.bind(rtcp)?];
            self.reserved.insert(port, pair);
        }
        Ok(())
    }

    /// A reserved port's sockets, or new ones. What was sent to a reserved
    /// port before its call is nobody's and is dropped, lest it take the
    /// call's latching window.
    fn sockets(&mut self, port: u16) -> std::io::Result<[UdpSocket; 2]> {
        self.reserve(port)?;
        let pair = self
            .reserved
            .remove(&port)
            .ok_or_else(|| std::io::Error::other("reserved port vanished"))?;
        let mut buf = [0u8; 64];
        for s in &pair {
            while s.recv_from(&mut buf).is_ok() {}
        }
        Ok(pair)
    }

    /// Hands the four sockets of a call (RTP and RTCP per leg, reserved
    /// before or bound now) to a relay thread: the thread of `group`, so
    /// that calls that will mix together (a conference room, a call and
    /// its supervisor) are on one thread and mixing needs no lock.
    pub fn open(&mut self, call: u64, a_port: u16, b_port: u16, group: u64) -> std::io::Result<()> {
        let [a_rtp, a_rtcp] = self.sockets(a_port)?;
        let [b_rtp, b_rtcp] = match self.sockets(b_port) {
            Ok(b) => b,
            Err(e) => {
                self.reserved.insert(a_port, [a_rtp, a_rtcp]);
                return Err(e);
            }
        };
        let socks = [a_rtp, b_rtp, a_rtcp, b_rtcp];
        let legs = [Arc::new(Leg::default()), Arc::new(Leg::default())];
        self.legs.insert(call, legs.clone());
        let n = (group as usize) % self.workers.len();
        self.worker_of.insert(call, n);
        self.workers[n]
            .send(Command::Open { call, socks, legs })
            .map_err(|_| std::io::Error::other("relay thread stopped"))
    }

    /// The address from a leg's SDP (its offer or answer, first or
    /// again): the far end may have moved, so the leg's latching window
    /// opens again. A new address is used at once; the same one leaves
    /// the leg where it latched (a NAT's address for a phone behind one).
    pub fn set_remote(&mut self, call: u64, side: Side, addr: SocketAddr) {
        if let Some(legs) = self.legs.get(&call) {
            let leg = &legs[idx(side)];
            if leg.signalled.get() != Some(addr) {
                leg.signalled.set(addr);
                leg.rtp_to.set(addr);
                leg.rtcp_to.set(rtcp_of(addr));
            }
            leg.generation.fetch_add(1, Ordering::Release);
        }
    }

    pub fn stats(&self, call: u64) -> Option<MediaStats> {
        let [a, b] = self.legs.get(&call)?;
        Some(MediaStats {
            from_a: a.received.load(Ordering::Relaxed),
            from_b: b.received.load(Ordering::Relaxed),
            to_b: b.delivered.load(Ordering::Relaxed),
            to_a: a.delivered.load(Ordering::Relaxed),
            stray_a: a.stray.load(Ordering::Relaxed),
            stray_b: b.stray.load(Ordering::Relaxed),
        })
    }

    fn send(&self, call: u64, cmd: Command) {
        if let Some(w) = self.worker_of.get(&call).and_then(|n| self.workers.get(*n)) {
            let _ = w.send(cmd);
        }
    }

    /// Leg `side` of `call` joins mixing room `room` with `role` (leg keys
    /// from [`leg_key`]), or changes its role there.
    pub fn join(&mut self, room: u64, call: u64, side: Side, codec: Codec, role: Role<u64>) {
        self.send(
            call,
            Command::Join {
                room,
                call,
                side: idx(side),
                codec,
                role,
            },
        );
    }

    /// The caller's leg talks `a`, the callee's `b`: re-encode between.
    pub fn transcode(&mut self, call: u64, a: Codec, b: Codec) {
        self.send(
            call,
            Command::Transcode {
                call,
                codecs: [a, b],
            },
        );
    }

    /// Both legs of `call` leave their room and relay directly again.
    pub fn leave(&mut self, call: u64) {
        self.send(call, Command::Leave { call });
    }

    /// Reports keys the parties of `call` send (telephone-event payload
    /// types of the caller's and the callee's leg).
    /// The keys of in-call feature `codes` are kept from the other party
    /// (see [`crate::keygate`]).
    pub fn watch_keys(&mut self, call: u64, a: Option<u8>, b: Option<u8>, codes: Arc<[String]>) {
        self.send(
            call,
            Command::WatchKeys {
                call,
                pts: [a, b],
                codes,
            },
        );
    }

    /// Ends the caller's leg at a local endpoint (a flow).
    pub fn local(&mut self, call: u64, media: LocalMedia) {
        self.send(
            call,
            Command::Local {
                call,
                media: Box::new(media),
            },
        );
    }

    pub fn play(&mut self, call: u64, audio: Vec<Arc<[i16]>>, interruptible: bool) {
        self.send(
            call,
            Command::Play {
                call,
                audio,
                interruptible,
            },
        );
    }

    /// Loops `audio` at `call`'s local endpoint between prompts (a
    /// queue's music on hold); empty stops it.
    pub fn music(&mut self, call: u64, audio: Vec<Arc<[i16]>>) {
        self.send(call, Command::Music { call, audio });
    }

    pub fn stop_playing(&mut self, call: u64) {
        self.send(call, Command::Stop { call });
    }

    /// From now on, relay the caller to the callee.
    pub fn bridge(&mut self, call: u64) {
        self.send(call, Command::Bridge { call });
    }

    /// Plays `music` to leg `held` of `call` (the other leg put it on
    /// hold), or stops it and relays again when `music` is `None`.
    pub fn hold(&mut self, call: u64, held: Side, music: Option<LocalMedia>) {
        self.send(
            call,
            Command::Hold {
                call,
                side: idx(held),
                music: music.map(Box::new),
            },
        );
    }

    pub fn set_recorder(&mut self, ctx: RecorderCtx) {
        self.recorder = Some(ctx);
    }

    /// Starts recording `call` (both legs) into a new file.
    pub fn record(&mut self, call: u64, meta: &crate::core::RecordMeta) {
        let (uuid, at_ms) = (&meta.uuid, meta.at_ms);
        let Some(ctx) = self.recorder.clone() else {
            return;
        };
        let t = dering_flow::LocalTime::from_wall_ms(at_ms, ctx.utc_offset_minutes);
        let path = ctx.dir.join(date_dir(t.day)).join(format!("{uuid}.wav"));
        let row = dering_store::RecordingRow {
            call_uuid: uuid.to_string(),
            path: path.display().to_string(),
            caller: meta.caller.clone(),
            callee: meta.callee.clone(),
            agent: meta.agent.clone(),
            service: meta.service.clone(),
            start_ms: at_ms,
            end_ms: None,
            duration_ms: None,
            bytes: None,
            sha256: None,
            state: "recording".into(),
        };
        if ctx
            .sink
            .send(RecMsg::Open {
                call,
                row: Box::new(row),
            })
            .is_ok()
        {
            self.send(
                call,
                Command::Record {
                    call,
                    sink: ctx.sink,
                },
            );
        }
    }

    /// Stops relaying a call; its sockets close on the relay thread.
    pub fn close(&mut self, call: u64) -> Option<MediaStats> {
        let stats = self.stats(call);
        self.legs.remove(&call);
        self.send(call, Command::Close { call });
        self.worker_of.remove(&call);
        stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `YYYY/MM/DD` of a day number (days since 1970-01-01).
fn date_dir(day: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}/{m:02}/{d:02}")
}

const FRAME: std::time::Duration = std::time::Duration::from_millis(20);

/// The RTCP address that goes with an RTP one (RFC 3550: the next port).
fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
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

/// Takes both legs of `call` out of their room; an empty room goes.
fn leave_room(
    rooms: &mut HashMap<u64, Room>,
    leg_room: &mut HashMap<u64, u64>,
    listeners: &mut HashMap<u64, Box<LocalMedia>>,
    call: u64,
) {
    listeners.remove(&call);
    for side in [Side::A, Side::B] {
        let key = leg_key(call, side);
        let Some(id) = leg_room.remove(&key) else {
            continue;
        };
        if let Some(room) = rooms.get_mut(&id) {
            room.mixer.leave(key);
            room.outs.remove(&key);
            room.codecs.remove(&key);
            room.decoders.remove(&key);
            if room.mixer.is_empty() {
                rooms.remove(&id);
            } else {
                room.pick_rate();
            }
        }
    }
}

/// One relay thread: waits on its sockets, forwards, applies commands.
fn worker(epoll: Epoll, rx: mpsc::Receiver<Command>, stop: Arc<AtomicBool>, notify: Notify) {
    // Endpoints by epoll token; calls by id with their tokens.
    let mut endpoints: HashMap<u64, Endpoint> = HashMap::new();
    let mut calls: HashMap<u64, [u64; 4]> = HashMap::new();
    // Calls whose caller is in a flow, answered here.
    let mut locals: HashMap<u64, Box<LocalMedia>> = HashMap::new();
    let mut recordings: HashMap<u64, Recording> = HashMap::new();
    // Held legs hearing music: call → (leg index, player).
    let mut held: HashMap<u64, (usize, Box<LocalMedia>)> = HashMap::new();
    // Mixing rooms, the room of each leg in one (by leg key), and the key
    // listeners of calls whose caller mixes but still uses keys.
    let mut rooms: HashMap<u64, Room> = HashMap::new();
    let mut leg_room: HashMap<u64, u64> = HashMap::new();
    let mut listeners: HashMap<u64, Box<LocalMedia>> = HashMap::new();
    // Packets from a leg (by leg key) re-encoded for the other.
    let mut transcoders: HashMap<u64, Transcoder> = HashMap::new();
    let mut transcoded: Vec<u8> = Vec::with_capacity(1500);
    // Relayed calls whose keys are reported: per leg, the event payload
    // type and a receiver.
    let mut key_watch: HashMap<u64, [(Option<u8>, dering_media::rfc4733::Receiver); 2]> =
        HashMap::new();
    let mut mixed: Vec<(u64, Vec<i16>)> = Vec::new();
    let mut pcm: Vec<i16> = Vec::with_capacity(dering_media::FRAME_16K);
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut media_events: Vec<MediaEvent> = Vec::new();
    // Per watched call and leg: the gate keeping feature codes from the
    // other party, the packets it sends on, and when gates were last
    // asked for keys held too long.
    let mut gates: HashMap<u64, [Option<Box<KeyGate>>; 2]> = HashMap::new();
    let mut released: Vec<Vec<u8>> = Vec::new();
    let mut gates_polled = std::time::Instant::now();
    let mut next_token = 1u64;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                Command::Open { call, socks, legs } => {
                    let base = next_token;
                    next_token += 4;
                    let tokens = [base, base + 1, base + 2, base + 3];
                    // socks: a RTP, b RTP, a RTCP, b RTCP; each leaves from
                    // its counterpart on the other leg.
                    for (i, sock) in socks.into_iter().enumerate() {
                        let (from, to) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
                        let out = i ^ 1;
                        if let Err(e) = epoll.add(
                            sock.as_fd(),
                            EpollEvent::new(EpollFlags::EPOLLIN, tokens[i]),
                        ) {
                            tracing::error!(error = %e, call, "relay cannot watch a media socket");
                        }
                        endpoints.insert(
                            tokens[i],
                            Endpoint {
                                call,
                                a_rtp: i == 0,
                                side: i % 2,
                                sock,
                                out,
                                latch: std::cell::Cell::new(Latch::new(
                                    legs[from].generation.load(Ordering::Acquire),
                                )),
                                from: legs[from].clone(),
                                to: legs[to].clone(),
                                rtcp: i >= 2,
                            },
                        );
                    }
                    // `out` is an index within the call; resolve to tokens.
                    for t in tokens {
                        if let Some(e) = endpoints.get_mut(&t) {
                            e.out = tokens[e.out] as usize;
                        }
                    }
                    calls.insert(call, tokens);
                }
                Command::Close { call } => {
                    locals.remove(&call);
                    held.remove(&call);
                    leave_room(&mut rooms, &mut leg_room, &mut listeners, call);
                    key_watch.remove(&call);
                    gates.remove(&call);
                    transcoders.remove(&leg_key(call, Side::A));
                    transcoders.remove(&leg_key(call, Side::B));
                    if let Some(mut r) = recordings.remove(&call) {
                        let mut last = Vec::new();
                        r.tick(call, std::time::Instant::now(), &mut last);
                        r.flush(call, &mut last);
                        if r.sink.try_send(RecMsg::Frames(last)).is_err() {
                            r.dropped += 1;
                        }
                        if r.dropped > 0 {
                            tracing::warn!(
                                call,
                                frames = r.dropped,
                                "recording lost frames: the recorder fell behind"
                            );
                        }
                        let end_ms = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_millis() as i64)
                            .unwrap_or(0);
                        let _ = r.sink.send(RecMsg::Close { call, end_ms });
                    }
                    for t in calls.remove(&call).unwrap_or_default() {
                        if let Some(e) = endpoints.remove(&t) {
                            let _ = epoll.delete(e.sock.as_fd());
                        }
                    }
                }
                Command::Local { call, media } => {
                    locals.insert(call, media);
                }
                Command::Play {
                    call,
                    audio,
                    interruptible,
                } => {
                    if let Some(m) = locals.get_mut(&call) {
                        m.play(audio, interruptible);
                    }
                }
                Command::Stop { call } => {
                    if let Some(m) = locals.get_mut(&call) {
                        m.stop();
                    }
                }
                Command::Music { call, audio } => {
                    if let Some(m) = locals.get_mut(&call) {
                        m.play_loop(audio);
                    }
                }
                Command::Bridge { call } => {
                    locals.remove(&call);
                }
                Command::Hold { call, side, music } => match music {
                    Some(m) => {
                        held.insert(call, (side, m));
                    }
                    None => {
                        held.remove(&call);
                    }
                },
                Command::Record { call, sink } => {
                    recordings.insert(call, Recording::new(sink));
                }
                Command::Transcode { call, codecs } => {
                    let [a, b] = codecs;
                    if a == b {
                        // The legs talk one codec again (a transfer):
                        // packets pass as they are.
                        transcoders.remove(&leg_key(call, Side::A));
                        transcoders.remove(&leg_key(call, Side::B));
                    } else {
                        transcoders.insert(leg_key(call, Side::A), Transcoder::new(a, b));
                        transcoders.insert(leg_key(call, Side::B), Transcoder::new(b, a));
                    }
                }
                Command::Join {
                    room,
                    call,
                    side,
                    codec,
                    role,
                } => {
                    let key = leg_key(call, if side == 0 { Side::A } else { Side::B });
                    if leg_room.get(&key).is_some_and(|r| *r != room) {
                        leave_room(&mut rooms, &mut leg_room, &mut listeners, call);
                    }
                    // A caller the box answered stops hearing prompts; its
                    // keys are still listened for.
                    if let Some(m) = locals.remove(&call) {
                        listeners.insert(call, m);
                    }
                    let r = rooms.entry(room).or_default();
                    r.mixer.join(key, role);
                    if r.codecs.insert(key, codec) != Some(codec) {
                        r.decoders.remove(&key);
                        r.outs.remove(&key);
                    }
                    r.pick_rate();
                    if role.hears {
                        let wide = r.mixer.is_wideband();
                        r.outs
                            .entry(key)
                            .or_insert_with(|| MixOut::new(codec, wide));
                    } else {
                        r.outs.remove(&key);
                    }
                    leg_room.insert(key, room);
                }
                Command::Leave { call } => {
                    leave_room(&mut rooms, &mut leg_room, &mut listeners, call);
                }
                Command::WatchKeys { call, pts, codes } => {
                    key_watch.insert(call, pts.map(|pt| (pt, Default::default())));
                    gates.insert(
                        call,
                        pts.map(|pt| pt.map(|pt| Box::new(KeyGate::new(pt, codes.clone())))),
                    );
                }
            }
        }
        // Local endpoints: what is due now leaves from the caller's socket.
        if !locals.is_empty() {
            let now = std::time::Instant::now();
            for (call, m) in locals.iter_mut() {
                m.poll(now, &mut packets, &mut media_events);
                let a = calls.get(call).and_then(|t| endpoints.get(&t[0]));
                if let Some(ep) = a {
                    if let Some(dst) = ep.from.rtp_to.get() {
                        for p in &packets {
                            if ep.sock.send_to(p, dst).is_ok() {
                                ep.from.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                packets.clear();
            }
        }
        if !held.is_empty() {
            let now = std::time::Instant::now();
            let mut ignored = Vec::new();
            for (call, (side, m)) in held.iter_mut() {
                m.poll(now, &mut packets, &mut ignored);
                let ep = calls.get(call).and_then(|t| endpoints.get(&t[*side]));
                if let Some(ep) = ep {
                    if let Some(dst) = ep.from.rtp_to.get() {
                        for p in &packets {
                            if ep.sock.send_to(p, dst).is_ok() {
                                ep.from.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                packets.clear();
            }
        }
        if !rooms.is_empty() {
            let now = std::time::Instant::now();
            for room in rooms.values_mut() {
                let due = *room.next.get_or_insert(now);
                // After a stall, restart the clock rather than send a burst.
                let mut at = if now.duration_since(due) > FRAME * 5 {
                    now
                } else {
                    due
                };
                while at <= now {
                    mixed.clear();
                    room.mixer.mix(&mut mixed);
                    for (key, frame) in &mixed {
                        let (Some(out), Some(ep)) = (
                            room.outs.get_mut(key),
                            calls
                                .get(&(key >> 1))
                                .and_then(|t| endpoints.get(&t[(key & 1) as usize])),
                        ) else {
                            continue;
                        };
                        let pkt = out.packet(frame);
                        if let Some(dst) = ep.from.rtp_to.get() {
                            if ep.sock.send_to(&pkt, dst).is_ok() {
                                ep.from.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    at += FRAME;
                }
                room.next = Some(at);
            }
        }
        // Keys held back too long as a possible feature code go on.
        if !gates.is_empty() && gates_polled.elapsed() >= FRAME {
            let now = std::time::Instant::now();
            gates_polled = now;
            for (call, legs) in gates.iter_mut() {
                for (side, gate) in legs.iter_mut().enumerate() {
                    let Some(gate) = gate else {
                        continue;
                    };
                    released.clear();
                    gate.poll(now, &mut released);
                    let ep = calls.get(call).and_then(|t| endpoints.get(&t[side]));
                    let Some(ep) = ep.filter(|_| !released.is_empty()) else {
                        continue;
                    };
                    let to = (ep.to.rtp_to.get(), endpoints.get(&(ep.out as u64)));
                    if let (Some(dst), Some(out)) = to {
                        for p in &released {
                            let _ = out.sock.send_to(p, dst);
                        }
                    }
                }
            }
        }
        for e in media_events.drain(..) {
            notify(e);
        }
        if !recordings.is_empty() {
            // One message for every call's frames: the recorder's channel
            // is crossed a few hundred times a second, not once a frame.
            let now = std::time::Instant::now();
            let mut batch = Vec::new();
            for (call, r) in recordings.iter_mut() {
                r.tick(*call, now, &mut batch);
            }
            let sink = recordings.values().next().map(|r| r.sink.clone());
            if let (Some(sink), false) = (sink, batch.is_empty()) {
                let calls: Vec<u64> = batch.iter().map(|(c, _)| *c).collect();
                if sink.try_send(RecMsg::Frames(batch)).is_err() {
                    for call in calls {
                        if let Some(r) = recordings.get_mut(&call) {
                            r.dropped += 1;
                        }
                    }
                }
            }
        }
        let n = match epoll.wait(&mut events, POLL_MS) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "relay epoll failed");
                return;
            }
        };
        for ev in &events[..n] {
            let token = ev.data();
            let Some(ep) = endpoints.get(&token) else {
                continue;
            };
            // Level-triggered: one read per event. A media socket holds one
            // packet per 20 ms, so reading on to EAGAIN would cost a second,
            // empty recvfrom per packet; epoll reports the socket again if
            // more is queued.
            let (len, src) = match ep.sock.recv_from(&mut buf) {
                Ok(r) => r,
                Err(_) => continue,
            };
            // Latch: the leg's packets go back to where they come from, if
            // they may (see `Latch`); a stranger's go nowhere.
            let (back, dest) = if ep.rtcp {
                (&ep.from.rtcp_to, &ep.to.rtcp_to)
            } else {
                (&ep.from.rtp_to, &ep.to.rtp_to)
            };
            let signalled = ep.from.signalled.get();
            let signalled = if ep.rtcp {
                signalled.map(rtcp_of)
            } else {
                signalled
            };
            let host = if ep.rtcp {
                ep.from.rtp_to.get().map(|a| a.ip())
            } else {
                None
            };
            let mut latch = ep.latch.get();
            let verdict = latch.judge(
                src,
                back.get(),
                signalled,
                host,
                ep.from.generation.load(Ordering::Acquire),
                std::time::Instant::now,
            );
            ep.latch.set(latch);
            match verdict {
                Verdict::Pass => {}
                Verdict::Latch => back.set(src),
                Verdict::Drop => {
                    let before = ep.from.stray.fetch_add(1, Ordering::Relaxed);
                    if before == 0 && ep.to.stray.load(Ordering::Relaxed) == 0 {
                        tracing::warn!(
                            call = ep.call,
                            leg = if ep.side == 0 { "caller" } else { "callee" },
                            rtcp = ep.rtcp,
                            from = %src,
                            latched = ?back.get(),
                            "media from a stranger dropped (counted until the call ends)"
                        );
                    }
                    continue;
                }
            }
            if !ep.rtcp {
                ep.from.received.fetch_add(1, Ordering::Relaxed);
            }
            // A leg in a room is heard through the mixer.
            let key = leg_key(ep.call, if ep.side == 0 { Side::A } else { Side::B });
            let partner = key ^ 1;
            let mut partner_hears_mix = false;
            if let Some(room) = leg_room.get(&key).and_then(|r| rooms.get_mut(r)) {
                partner_hears_mix = room.mixer.hears(partner);
                if !ep.rtcp {
                    let now = std::time::Instant::now();
                    if let Some(rtp) = parse_rtp(&buf[..len]) {
                        pcm.clear();
                        let wide = room.mixer.is_wideband();
                        let d = room
                            .decoders
                            .entry(key)
                            .or_insert_with(|| StreamDecoder::at(wide));
                        if d.decode(rtp.pt, rtp.payload, &mut pcm) {
                            room.mixer
                                .push(key, now, rtp.seq, rtp.timestamp, pcm.clone());
                        }
                    }
                    if let Some(m) = listeners.get_mut(&ep.call).filter(|_| ep.a_rtp) {
                        m.on_rtp(now, &buf[..len], &mut media_events);
                    }
                }
            } else if let Some(room) = leg_room.get(&partner).and_then(|r| rooms.get(r)) {
                partner_hears_mix = room.mixer.hears(partner);
            }
            if let Some(w) = key_watch.get_mut(&ep.call).filter(|_| !ep.rtcp) {
                let (pt, receiver) = &mut w[ep.side];
                if let Some(rtp) = parse_rtp(&buf[..len]).filter(|r| Some(r.pt) == *pt) {
                    if let Some(r) = dering_media::rfc4733::Report::parse(rtp.payload) {
                        for e in receiver.on_report(rtp.timestamp, r) {
                            if let dering_media::rfc4733::KeyEvent::Down { digit, .. } = e {
                                media_events.push(MediaEvent::InCallKey {
                                    call: ep.call,
                                    side: if ep.side == 0 { Side::A } else { Side::B },
                                    key: digit,
                                });
                            }
                        }
                    }
                }
            }
            // A caller in a flow talks to the box, not to a callee.
            if let Some(m) = locals.get_mut(&ep.call) {
                if ep.a_rtp {
                    m.on_rtp(std::time::Instant::now(), &buf[..len], &mut media_events);
                }
                continue;
            }
            if !ep.rtcp {
                if let Some(r) = recordings.get_mut(&ep.call) {
                    r.on_rtp(ep.side, std::time::Instant::now(), &buf[..len]);
                }
            }
            // The holder's packets do not reach a leg hearing music, nor a
            // leg hearing a mix (the mix carries them).
            if held.get(&ep.call).is_some_and(|(side, _)| *side != ep.side) || partner_hears_mix {
                continue;
            }
            let (Some(dst), Some(out)) = (dest.get(), endpoints.get(&(ep.out as u64))) else {
                continue;
            };
            released.clear();
            let gated = gates
                .get_mut(&ep.call)
                .and_then(|g| g[ep.side].as_mut())
                .filter(|_| !ep.rtcp);
            if let Some(g) = gated {
                let send = g.on_packet(std::time::Instant::now(), &mut buf[..len], &mut released);
                for p in &released {
                    let _ = out.sock.send_to(p, dst);
                }
                if !send {
                    continue;
                }
            }
            let mut packet = &buf[..len];
            if let Some(t) = transcoders.get_mut(&key).filter(|_| !ep.rtcp) {
                if transcode_packet(t, packet, &mut transcoded) {
                    packet = &transcoded;
                }
            }
            if out.sock.send_to(packet, dst).is_ok() && !ep.rtcp {
                ep.to.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn recording_directories_are_dated() {
        assert_eq!(date_dir(0), "1970/01/01");
        // 2026-11-23 is day 20,780.
        assert_eq!(date_dir(20_780), "2026/11/23");
        assert_eq!(date_dir(11_016), "2000/02/29");
    }

    #[test]
    fn addr_cell_holds_v4_and_v6() {
        let c = AddrCell::default();
        assert_eq!(c.get(), None);
        let v4: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        c.set(v4);
        assert_eq!(c.get(), Some(v4));
        let v6: SocketAddr = "[2001:db8::1]:5004".parse().unwrap();
        c.set(v6);
        assert_eq!(c.get(), Some(v6));
        c.set(v4);
        assert_eq!(c.get(), Some(v4));
    }

    /// An even port with its odd neighbour free, never the same twice in
    /// this process: taken from a counter below the ephemeral range, so
    /// tests running side by side (and the kernel's own choices) never
    /// hand two of them the same port.
    fn free_even_port() -> u16 {
        use std::sync::atomic::AtomicU16;
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 21_000 + (std::process::id() % 500) as u16 * 8;
        loop {
            let p = base + NEXT.fetch_add(2, Ordering::Relaxed) % 6_000;
            if UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
            {
                return p;
            }
        }
    }

    fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
        let mut b = [0u8; 64];
        s.recv_from(&mut b).ok().map(|(n, a)| (b[..n].to_vec(), a))
    }

    /// Sends `n` packets tagged `tag` from `from` to relay port `port`
    /// and returns the tags and relay ports of what `to` received of them.
    fn pass(
        from: &UdpSocket,
        port: u16,
        to: &UdpSocket,
        tag: &[u8],
        n: usize,
    ) -> Vec<(Vec<u8>, u16)> {
        let mut got = Vec::new();
        for _ in 0..n {
            from.send_to(tag, ("127.0.0.1", port)).unwrap();
            if let Some((data, src)) = recv(to) {
                got.push((data, src.port()));
            }
        }
        got
    }

    fn phones<const N: usize>() -> [UdpSocket; N] {
        std::array::from_fn(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s
        })
    }

    fn wait_stats(relay: &Relay, call: u64, done: impl Fn(&MediaStats) -> bool) -> MediaStats {
        let t = Instant::now();
        loop {
            let s = relay.stats(call).unwrap();
            if done(&s) || t.elapsed() > Duration::from_secs(2) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    const T0: fn() -> Instant = Instant::now;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A phone behind a NAT: its SDP names a private address, its
    /// packets come from elsewhere. The stream follows them for the
    /// window's first packets, then holds: a stranger after that is
    /// dropped, however long it keeps sending.
    #[test]
    fn latch_follows_the_first_packets_then_holds() {
        let sdp = Some(addr("192.168.1.5:4000"));
        let (phone, nat, stranger) = (
            addr("10.0.0.1:4000"),
            addr("10.0.0.1:4002"),
            addr("6.6.6.6:9"),
        );
        let mut l = Latch::new(0);
        let now = Instant::now();
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || now), Verdict::Latch);
        assert_eq!(
            l.judge(phone, Some(phone), sdp, None, 0, || now),
            Verdict::Pass
        );
        // In the window, another source does not take a talking one over.
        let soon = now + HANDOVER / 2;
        assert_eq!(
            l.judge(stranger, Some(phone), sdp, None, 0, || soon),
            Verdict::Drop
        );
        // The phone falls silent and speaks from elsewhere (a NAT
        // settling): followed.
        let later = now + HANDOVER;
        assert_eq!(
            l.judge(nat, Some(phone), sdp, None, 0, || later),
            Verdict::Latch
        );
        for _ in 3..LATCH_PACKETS {
            assert_eq!(
                l.judge(nat, Some(nat), sdp, None, 0, || later),
                Verdict::Pass
            );
        }
        for _ in 0..100 {
            assert_eq!(
                l.judge(stranger, Some(nat), sdp, None, 0, || now),
                Verdict::Drop
            );
        }
        assert_eq!(l.judge(nat, Some(nat), sdp, None, 0, T0), Verdict::Pass);
        assert_eq!(l.judge(phone, Some(nat), sdp, None, 0, T0), Verdict::Drop);
        // The signalled address itself is the leg, window or not.
        let sdp_addr = addr("192.168.1.5:4000");
        assert_eq!(
            l.judge(sdp_addr, Some(nat), sdp, None, 0, T0),
            Verdict::Latch
        );
    }

    /// The window is timed from its first packet, not from when the leg
    /// opened: a callee that rings for a minute before it talks latches.
    #[test]
    fn latch_window_closes_by_time_after_the_first_packet() {
        let sdp = Some(addr("192.168.1.5:4000"));
        let (phone, stranger) = (addr("10.0.0.1:4000"), addr("6.6.6.6:9"));
        let mut l = Latch::new(0);
        let start = Instant::now() + Duration::from_secs(60);
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || start), Verdict::Latch);
        let late = start + LATCH_WINDOW + Duration::from_millis(1);
        assert_eq!(
            l.judge(stranger, Some(phone), sdp, None, 0, || late),
            Verdict::Drop
        );
        assert!(!l.open);
    }

    /// A packet from exactly the signalled address closes the window at
    /// once: a phone not behind a NAT cannot be taken over even in it.
    #[test]
    fn latch_on_the_signalled_address_closes_the_window() {
        let (phone, stranger) = (addr("10.0.0.1:4000"), addr("6.6.6.6:9"));
        let sdp = Some(phone);
        let mut l = Latch::new(0);
        let now = Instant::now();
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || now), Verdict::Pass);
        assert_eq!(l.judge(stranger, sdp, sdp, None, 0, || now), Verdict::Drop);
    }

    /// Nothing latches a leg that has not signalled (a callee still
    /// ringing), and RTCP latches only to the host its leg's RTP goes to.
    #[test]
    fn latch_needs_signalling_and_rtcp_the_rtp_host() {
        let stranger = addr("6.6.6.6:9");
        let now = Instant::now();
        let mut l = Latch::new(0);
        assert_eq!(
            l.judge(stranger, None, None, None, 0, || now),
            Verdict::Drop
        );
        let sdp = Some(addr("192.168.1.5:4001"));
        let rtp_host = Some(addr("10.0.0.1:4000").ip());
        assert_eq!(
            l.judge(stranger, sdp, sdp, rtp_host, 0, || now),
            Verdict::Drop
        );
        let rtcp = addr("10.0.0.1:4001");
        assert_eq!(l.judge(rtcp, sdp, sdp, rtp_host, 0, || now), Verdict::Latch);
    }

    /// New signalling (a generation further) opens the window again, and
    /// only then may the leg move.
    #[test]
    fn latch_reopens_on_new_signalling() {
        let (phone, moved) = (addr("10.0.0.1:4000"), addr("10.0.0.1:5000"));
        let sdp = Some(phone);
        let mut l = Latch::new(0);
        let now = Instant::now();
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || now), Verdict::Pass);
        assert_eq!(l.judge(moved, sdp, sdp, None, 0, || now), Verdict::Drop);
        assert_eq!(l.judge(moved, sdp, sdp, None, 1, || now), Verdict::Latch);
        assert_eq!(
            l.judge(moved, Some(moved), sdp, None, 1, || now),
            Verdict::Pass
        );
    }

    /// A port another program holds cannot be reserved; a reserved one
    /// is what the call then relays on, without what was sent to it before.
    #[test]
    fn reserved_ports_are_the_calls_and_start_empty() {
        let mut relay = Relay::new("127.0.0.1".parse().unwrap(), 1, Arc::new(|_| {})).unwrap();
        let (pa, pb, taken) = (free_even_port(), free_even_port(), free_even_port());
        let holder = UdpSocket::bind(("127.0.0.1", taken + 1)).unwrap();
        assert!(relay.reserve(taken).is_err(), "RTCP port held elsewhere");
        drop(holder);
        relay.reserve(pa).unwrap();
        relay.reserve(pb).unwrap();
        assert!(
            UdpSocket::bind(("127.0.0.1", pa)).is_err(),
            "the box holds it"
        );
        let [phone_a, phone_b, stranger] = phones();
        // Enough to fill a latching window, were they read in the call.
        for _ in 0..=LATCH_PACKETS {
            stranger.send_to(b"s", ("127.0.0.1", pa)).unwrap();
        }
        relay.open(9, pa, pb, 9).unwrap();
        // A is behind a NAT: it latches by its packets.
        relay.set_remote(9, Side::A, addr("127.0.0.1:9"));
        relay.set_remote(9, Side::B, phone_b.local_addr().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pass(&phone_a, pa, &phone_b, b"a", 1), [(b"a".to_vec(), pb)]);
        assert_eq!(pass(&phone_b, pb, &phone_a, b"b", 1), [(b"b".to_vec(), pa)]);
        assert_eq!(relay.close(9).map(|s| s.stray_a), Some(0));
    }

    /// Packets go A -> relay -> B (to B's SDP address until B speaks, then
    /// to where B speaks from, within its latching window) and back,
    /// counted on the way; once the legs have latched, a stranger sending
    /// to either relay port reaches nobody and is counted.
    #[test]
    fn forwards_both_ways_latches_and_drops_strangers() {
        let mut relay = Relay::new("127.0.0.1".parse().unwrap(), 1, Arc::new(|_| {})).unwrap();
        let (pa, pb) = (free_even_port(), free_even_port());
        relay.open(7, pa, pb, 7).unwrap();
        let [phone_a, sdp_b, phone_b, stranger] = phones();
        // A's SDP names an address it does not send from (a NAT's inside).
        relay.set_remote(7, Side::A, addr("127.0.0.1:9"));
        relay.set_remote(7, Side::B, sdp_b.local_addr().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        let got = pass(&phone_a, pa, &sdp_b, b"a", 1);
        assert_eq!(got, [(b"a".to_vec(), pb)], "A's packet at B's SDP address");
        // B speaks from another address (a NAT): the relay latches to it.
        let got = pass(&phone_b, pb, &phone_a, b"b", LATCH_PACKETS as usize);
        assert_eq!(got.len(), LATCH_PACKETS as usize, "B's packets back at A");
        assert!(got.iter().all(|(d, p)| d == b"b" && *p == pa));
        let got = pass(&phone_a, pa, &phone_b, b"a", LATCH_PACKETS as usize - 1);
        assert_eq!(
            got.len(),
            LATCH_PACKETS as usize - 1,
            "A's packets at B's latched address"
        );
        // Both windows are closed: a stranger reaches nobody, on the
        // phones' host (RTP) or another one (RTP and RTCP; RTCP may latch
        // from the host the leg's RTP comes from, and these phones send
        // none).
        let far = UdpSocket::bind("127.0.0.2:0").unwrap();
        for port in [pa, pb] {
            for _ in 0..5 {
                stranger.send_to(b"s", ("127.0.0.1", port)).unwrap();
                far.send_to(b"s", ("127.0.0.1", port)).unwrap();
                far.send_to(b"s", ("127.0.0.1", port + 1)).unwrap();
            }
        }
        // The legs go on talking, to each other only.
        assert_eq!(pass(&phone_a, pa, &phone_b, b"a", 1), [(b"a".to_vec(), pb)]);
        assert_eq!(pass(&phone_b, pb, &phone_a, b"b", 1), [(b"b".to_vec(), pa)]);
        for s in [&phone_a, &phone_b, &sdp_b, &stranger, &far] {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            assert_eq!(recv(s), None, "nothing else arrives anywhere");
        }
        let n = LATCH_PACKETS as u64;
        wait_stats(&relay, 7, |s| s.stray_a + s.stray_b >= 30 && s.to_a > n);
        let s = relay.close(7).unwrap();
        assert_eq!(
            s,
            MediaStats {
                from_a: n + 1,
                from_b: n + 1,
                to_b: n + 1,
                to_a: n + 1,
                stray_a: 15,
                stray_b: 15,
            }
        );
    }

    /// A leg that moves without signalling is not followed; after its SDP
    /// comes again (a re-INVITE) it is, from the same SDP (a NAT's new
    /// mapping) or from a new one (used at once, before it speaks).
    #[test]
    fn a_leg_is_followed_only_after_new_signalling() {
        let mut relay = Relay::new("127.0.0.1".parse().unwrap(), 1, Arc::new(|_| {})).unwrap();
        let (pa, pb) = (free_even_port(), free_even_port());
        relay.open(8, pa, pb, 8).unwrap();
        let [phone_a, phone_b, nat_b, new_b] = phones();
        relay.set_remote(8, Side::A, phone_a.local_addr().unwrap());
        relay.set_remote(8, Side::B, phone_b.local_addr().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pass(&phone_b, pb, &phone_a, b"b", 1).len(), 1);
        assert_eq!(pass(&phone_a, pa, &phone_b, b"a", 1).len(), 1);
        // B's NAT maps it anew, no signalling: dropped, media stays.
        assert_eq!(pass(&nat_b, pb, &phone_a, b"n", 3), []);
        assert_eq!(pass(&phone_a, pa, &phone_b, b"a", 1).len(), 1);
        // A re-INVITE with the same SDP: B may move, and is followed.
        relay.set_remote(8, Side::B, phone_b.local_addr().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pass(&nat_b, pb, &phone_a, b"n", 1), [(b"n".to_vec(), pa)]);
        assert_eq!(pass(&phone_a, pa, &nat_b, b"a", 1), [(b"a".to_vec(), pb)]);
        // A new SDP address: B's media goes there before B speaks.
        relay.set_remote(8, Side::B, new_b.local_addr().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pass(&phone_a, pa, &new_b, b"a", 1), [(b"a".to_vec(), pb)]);
        let s = wait_stats(&relay, 8, |s| s.stray_b >= 3);
        assert_eq!((s.stray_a, s.stray_b), (0, 3));
    }
}
