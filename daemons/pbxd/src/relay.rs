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
//!
//! The parts: [`leg`] holds what signalling and a relay thread share of a
//! leg, [`latch`] judges each packet's source, [`worker`] is a relay
//! thread, which keeps its calls in [`calls`], each call's media
//! (sockets, prompts, hold, recording, transcoding, key gates) in one
//! [`call::CallMedia`], and its mixing rooms in [`room`]. Whatever the
//! box sends a leg (relayed, a prompt, music, a mix) goes through the
//! leg's [`stream::OutStream`], so the leg hears one continuous stream.

mod call;
mod calls;
mod command;
mod latch;
mod leg;
mod recording;
mod room;
mod stream;
mod worker;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use nix::sys::epoll::{Epoll, EpollCreateFlags};

use dering_media::codec::Codec;
use dering_media::mix::Role;

use crate::core::Side;
use crate::endpoint::{LocalMedia, MediaEvent};
use crate::recorder::RecMsg;
use command::Command;
use leg::{rtcp_of, Leg};

/// Where the relay threads report keys and the end of playback.
pub type Notify = Arc<dyn Fn(MediaEvent) + Send + Sync>;

/// A packet time: mixing rooms send, and key gates are asked for held
/// keys, once per frame.
const FRAME: std::time::Duration = std::time::Duration::from_millis(20);

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

fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

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
                    .spawn(move || worker::run(epoll, rx, stop, notify))?,
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
    /// from [`crate::core::leg_key`]), or changes its role there.
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

    /// Keeps what `call`'s caller says at its local endpoint.
    pub fn capture(&mut self, call: u64, max_samples: usize) {
        self.send(call, Command::Capture { call, max_samples });
    }

    /// Ends the capture; the take comes back as `MediaEvent::Captured`.
    pub fn end_capture(&mut self, call: u64) {
        self.send(call, Command::EndCapture { call });
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

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;
    use std::time::{Duration, Instant};

    use super::latch::LATCH_PACKETS;
    use super::*;

    #[test]
    fn recording_directories_are_dated() {
        assert_eq!(date_dir(0), "1970/01/01");
        // 2026-11-23 is day 20,780.
        assert_eq!(date_dir(20_780), "2026/11/23");
        assert_eq!(date_dir(11_016), "2000/02/29");
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

    /// Call `call`'s counters once `done` holds of them; fails the test
    /// (saying `what` never happened) past 10 s.
    fn wait_stats(
        relay: &Relay,
        call: u64,
        what: &str,
        done: impl Fn(&MediaStats) -> bool,
    ) -> MediaStats {
        let t = Instant::now();
        loop {
            let s = relay.stats(call).unwrap();
            if done(&s) {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{what}: not within 10 s; counters {s:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Reads what `phone` receives into `got` until `until` holds of it;
    /// fails the test (saying `what` never came) past 5 s.
    fn take(
        phone: &UdpSocket,
        got: &mut Vec<Vec<u8>>,
        what: &str,
        until: impl Fn(&[Vec<u8>]) -> bool,
    ) {
        let t = Instant::now();
        let mut b = [0u8; 2048];
        while !until(got) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{what}: not within 5 s; {} packets",
                got.len()
            );
            // A read timeout is no reason to give up: read on.
            if let Ok((n, _)) = phone.recv_from(&mut b) {
                got.push(b[..n].to_vec());
            }
        }
    }

    /// Reads what `phone` receives into `got` until nothing has come for
    /// `gap`; fails the test (saying `what` never stopped) past 5 s.
    fn take_until_quiet(phone: &UdpSocket, got: &mut Vec<Vec<u8>>, what: &str, gap: Duration) {
        let before = phone.read_timeout().unwrap();
        phone.set_read_timeout(Some(gap)).unwrap();
        let t = Instant::now();
        let mut b = [0u8; 2048];
        loop {
            match phone.recv_from(&mut b) {
                Ok((n, _)) => got.push(b[..n].to_vec()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("{what}: reading: {e}"),
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{what}: never stopped within 5 s; {} packets",
                got.len()
            );
        }
        phone.set_read_timeout(before).unwrap();
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A callee's phone talks as soon as it answers, before its SDP has
    /// reached the relay: those first packets are held, then relayed in
    /// order once the leg has signalled and they prove to be from its
    /// source; a stranger's packet held with them is not, and is counted.
    /// (The old relay dropped them: the callee's first words were cut.)
    #[test]
    fn packets_before_the_legs_signalling_are_relayed_once_they_are_its() {
        let mut relay = Relay::new("127.0.0.1".parse().unwrap(), 1, Arc::new(|_| {})).unwrap();
        let (pa, pb) = (free_even_port(), free_even_port());
        relay.open(7, pa, pb, 7).unwrap();
        let [phone_a, phone_b, stranger] = phones();
        relay.set_remote(7, Side::A, phone_a.local_addr().unwrap());
        // The call is open on its relay thread once A's packet is read
        // (what reached the ports before is drained at the open).
        phone_a.send_to(b"a", ("127.0.0.1", pa)).unwrap();
        wait_stats(&relay, 7, "the call open", |s| s.from_a == 1);
        stranger.send_to(b"x", ("127.0.0.1", pb)).unwrap();
        // Back to back, so the test thread has no time to stall between
        // them and the release (held packets older than EARLY_AGE then
        // are not relayed).
        for tag in [b"b1", b"b2", b"b3"] {
            phone_b.send_to(tag, ("127.0.0.1", pb)).unwrap();
        }
        // All four held by the relay thread before the callee signals.
        let leg_b = relay.legs[&7][1].clone();
        let t = Instant::now();
        while leg_b.held.load(Ordering::Relaxed) < 4 {
            assert!(t.elapsed() < Duration::from_secs(10), "never held");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The callee's SDP reaches the relay; its next packet releases
        // the three held (sent within EARLY_AGE of it).
        relay.set_remote(7, Side::B, phone_b.local_addr().unwrap());
        phone_b.send_to(b"b4", ("127.0.0.1", pb)).unwrap();
        let mut got = Vec::new();
        take(&phone_a, &mut got, "B's four packets", |g| g.len() >= 4);
        assert_eq!(got, [b"b1", b"b2", b"b3", b"b4"]);
        let s = wait_stats(&relay, 7, "the stranger's packet counted", |s| {
            s.stray_b == 1 && s.to_a == 4
        });
        assert_eq!(s.from_b, 4, "{s:?}");
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
    /// The caller's leg is held (music from the box) and resumed: what
    /// its phone receives over it is one stream (the far party's SSRC,
    /// sequence numbers one after another, time going on), with the
    /// marker where the music starts and where the far party is heard
    /// again. The old relay sent the music under its own SSRC and
    /// numbering, and baresip dropped what followed (issue 16).
    #[test]
    fn a_held_and_resumed_leg_receives_one_stream() {
        let mut relay = Relay::new("127.0.0.1".parse().unwrap(), 1, Arc::new(|_| {})).unwrap();
        let (pa, pb) = (free_even_port(), free_even_port());
        relay.open(8, pa, pb, 8).unwrap();
        let [phone_a, phone_b] = phones();
        relay.set_remote(8, Side::A, phone_a.local_addr().unwrap());
        relay.set_remote(8, Side::B, phone_b.local_addr().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        // B's packets: its own numbering, a payload music never has.
        let (mut seq, mut ts) = (65_530u16, 4_000_000_000u32);
        let mut talk = |n: usize| {
            for _ in 0..n {
                let mut p = vec![0x80, 8];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&ts.to_be_bytes());
                p.extend_from_slice(&0xB0B0_B0B0u32.to_be_bytes());
                p.extend_from_slice(&[0x11; 160]);
                phone_b.send_to(&p, ("127.0.0.1", pb)).unwrap();
                (seq, ts) = (seq.wrapping_add(1), ts.wrapping_add(160));
                // Paced as a phone sends.
                std::thread::sleep(FRAME);
            }
        };
        let mut got = Vec::new();
        talk(5);
        take(&phone_a, &mut got, "B's first 5 packets", |g| g.len() >= 5);
        relay.hold(8, Side::A, Some(LocalMedia::new(8, Codec::Pcma, None, 42)));
        take(&phone_a, &mut got, "10 packets of music", |g| g.len() >= 15);
        relay.hold(8, Side::A, None);
        // The media thread has taken the resume once the music stops:
        // only then does B talk again. What came meanwhile is music, one
        // stream with the rest.
        take_until_quiet(
            &phone_a,
            &mut got,
            "the music to A after the resume",
            Duration::from_millis(100),
        );
        talk(5);
        take(&phone_a, &mut got, "B's next 5 packets", |g| {
            g.iter().filter(|p| p[12] == 0x11).count() >= 10
        });

        let relayed = |p: &Vec<u8>| p[12] == 0x11;
        assert_eq!(got.iter().filter(|p| relayed(p)).count(), 10, "B's packets");
        assert!(got[5..15].iter().all(|p| !relayed(p)), "music while held");
        let mut marked = Vec::new();
        for (i, w) in got.windows(2).enumerate() {
            let field = |p: &[u8], r: std::ops::Range<usize>| {
                p[r].iter().fold(0u32, |v, b| v << 8 | u32::from(*b))
            };
            let (a, b) = (&w[0], &w[1]);
            assert_eq!(field(b, 8..12), 0xB0B0_B0B0, "packet {}: B's SSRC", i + 1);
            assert_eq!(
                field(b, 2..4),
                (field(a, 2..4) + 1) & 0xFFFF,
                "packet {}: the next sequence number",
                i + 1
            );
            let step = field(b, 4..8).wrapping_sub(field(a, 4..8));
            assert!(
                (160..8000 * 2).contains(&step),
                "packet {}: time goes on, by {step}",
                i + 1
            );
            if b[1] & 0x80 != 0 {
                marked.push(i + 1);
            }
        }
        let resumed = got[5..].iter().position(relayed).map(|i| 5 + i);
        assert_eq!(marked, [Some(5), resumed].map(Option::unwrap_or_default));
        relay.close(8);
    }

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
        wait_stats(
            &relay,
            7,
            "the strangers' 30 packets and B's last one to A counted",
            |s| s.stray_a + s.stray_b >= 30 && s.to_a > n,
        );
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
        let s = wait_stats(&relay, 8, "B's 3 dropped packets counted", |s| {
            s.stray_b >= 3
        });
        assert_eq!((s.stray_a, s.stray_b), (0, 3));
    }
}
