//! One relay thread: applies signalling's commands, does what is due
//! between packets (prompts, music on hold, mixing, keys held back,
//! recordings), then waits on its calls' sockets and relays what arrives.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use dering_media::codec::Codec;
use dering_media::mix::Role;
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};

use super::call::{CallMedia, Hold, HOLD, KEYS, LOCAL, RECORDING};
use super::calls::Calls;
use super::command::Command;
use super::recording::Recording;
use super::room::Rooms;
use super::stream::Producer;
use super::{Notify, FRAME};
use crate::endpoint::MediaEvent;
use crate::recorder::RecMsg;

/// How long a relay thread waits for packets before looking at commands.
const POLL_MS: u16 = 5;

/// Runs a relay thread until `stop`.
pub(super) fn run(
    epoll: Epoll,
    rx: mpsc::Receiver<Command>,
    stop: Arc<AtomicBool>,
    notify: Notify,
) {
    let mut worker = Worker::new(epoll, notify);
    let mut events = vec![EpollEvent::empty(); 256];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(cmd) = rx.try_recv() {
            worker.apply(cmd);
        }
        worker.tick();
        let n = match worker.epoll.wait(&mut events, POLL_MS) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "relay epoll failed");
                return;
            }
        };
        for ev in &events[..n] {
            worker.on_readable(ev.data());
        }
    }
}

/// A relay thread's state: its calls, its rooms, and scratch space the
/// packet path reuses.
pub(super) struct Worker {
    epoll: Epoll,
    notify: Notify,
    calls: Calls,
    rooms: Rooms,
    /// Key events and the end of prompts, reported at the next turn.
    events: Vec<MediaEvent>,
    /// When key gates were last asked for keys held too long.
    gates_polled: Instant,
    packets: Vec<Vec<u8>>,
    released: Vec<Vec<u8>>,
    mixed: Vec<(u64, Vec<i16>)>,
    pcm: Vec<i16>,
    transcoded: Vec<u8>,
    buf: [u8; 2048],
}

impl Worker {
    pub(super) fn new(epoll: Epoll, notify: Notify) -> Worker {
        Worker {
            epoll,
            notify,
            calls: Calls::default(),
            rooms: Rooms::default(),
            events: Vec::new(),
            gates_polled: Instant::now(),
            packets: Vec::new(),
            released: Vec::new(),
            mixed: Vec::new(),
            pcm: Vec::with_capacity(dering_media::FRAME_16K),
            transcoded: Vec::with_capacity(1500),
            buf: [0; 2048],
        }
    }

    /// Applies one command. A command for a call this thread does not
    /// hold (none is sent before its `Open` or after its `Close`) is
    /// ignored.
    pub(super) fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Open { call, socks, legs } => self.open(CallMedia::new(call, socks, &legs)),
            Command::Close { call } => self.close(call),
            Command::Local { call, media } => {
                self.calls.update(call, |c| c.local = Some(media));
            }
            Command::Play {
                call,
                audio,
                interruptible,
            } => {
                self.calls.update(call, |c| {
                    if let Some(m) = &mut c.local {
                        m.play(audio, interruptible);
                    }
                });
            }
            Command::Stop { call } => {
                self.calls.update(call, |c| {
                    if let Some(m) = &mut c.local {
                        m.stop();
                    }
                });
            }
            Command::Capture { call, max_samples } => {
                self.calls.update(call, |c| {
                    if let Some(m) = &mut c.local {
                        m.start_capture(max_samples);
                    }
                });
            }
            Command::EndCapture { call } => {
                let events = &mut self.events;
                self.calls.update(call, |c| {
                    events.extend(c.local.as_mut().and_then(|m| m.end_capture()));
                });
            }
            Command::Music { call, audio } => {
                self.calls.update(call, |c| {
                    if let Some(m) = &mut c.local {
                        m.play_loop(audio);
                    }
                });
            }
            Command::Bridge { call } => {
                self.calls.update(call, |c| c.local = None);
            }
            Command::Hold { call, side, music } => {
                self.calls
                    .update(call, |c| c.hold = music.map(|music| Hold { side, music }));
            }
            Command::Record { call, sink } => {
                self.calls.update(call, |c| {
                    c.recording = Some(Box::new(Recording::new(sink)));
                });
            }
            Command::Transcode { call, codecs } => {
                self.calls.update(call, |c| c.transcode(codecs));
            }
            Command::Join {
                room,
                call,
                side,
                codec,
                role,
            } => self.join(room, call, side, codec, role),
            Command::Leave { call } => {
                let rooms = &mut self.rooms;
                self.calls.update(call, |c| leave_rooms(rooms, c));
            }
            Command::WatchKeys { call, pts, codes } => {
                self.calls.update(call, |c| c.watch_keys(pts, &codes));
            }
        }
    }

    /// Takes a call in and watches its sockets.
    fn open(&mut self, media: CallMedia) {
        let call = media.id;
        let (slot, replaced) = self.calls.insert(media);
        if let Some(old) = replaced {
            // Signalling opens a call once; should it open one twice, the
            // first one's resources are not left behind.
            tracing::warn!(call, "relay call opened twice: the first one closed");
            self.finish(old);
        }
        let Some(media) = self.calls.slot(slot) else {
            return;
        };
        for (i, s) in media.socks.iter().enumerate() {
            let ev = EpollEvent::new(EpollFlags::EPOLLIN, Calls::token(slot, i));
            if let Err(e) = self.epoll.add(s.sock.as_fd(), ev) {
                tracing::error!(error = %e, call, "relay cannot watch a media socket");
            }
        }
    }

    /// Closes a call: it leaves its rooms, its recording is finished and
    /// its sockets are closed.
    fn close(&mut self, call: u64) {
        if let Some(media) = self.calls.remove(call) {
            self.finish(media);
        }
    }

    fn finish(&mut self, mut media: CallMedia) {
        leave_rooms(&mut self.rooms, &mut media);
        for s in &media.socks {
            let _ = self.epoll.delete(s.sock.as_fd());
        }
        media.finish();
    }

    /// Leg `side` of `call` joins (or changes its role in) `room`; a leg
    /// moving from another room takes its call's legs out of theirs first.
    fn join(&mut self, room: u64, call: u64, side: usize, codec: Codec, role: Role<u64>) {
        let side = usize::from(side != 0);
        let rooms = &mut self.rooms;
        self.calls.update(call, |c| {
            if c.rooms[side].is_some_and(|r| r != room) {
                leave_rooms(rooms, c);
            }
            // A caller the box answered stops hearing prompts; its keys
            // are still listened for.
            if let Some(m) = c.local.take() {
                c.listener = Some(m);
            }
            rooms.join(room, c.leg_key(side), codec, role);
            c.rooms[side] = Some(room);
        });
    }

    /// What is due between packets.
    pub(super) fn tick(&mut self) {
        self.play_locals();
        self.play_holds();
        self.mix_rooms();
        self.release_keys();
        for e in self.events.drain(..) {
            (self.notify)(e);
        }
        self.record();
    }

    /// Local endpoints: what is due now leaves from the caller's socket.
    fn play_locals(&mut self) {
        if !self.calls.any(LOCAL) {
            return;
        }
        let now = Instant::now();
        let (packets, events) = (&mut self.packets, &mut self.events);
        self.calls
            .each(LOCAL, |c| c.play_local(now, packets, events));
    }

    fn play_holds(&mut self) {
        if !self.calls.any(HOLD) {
            return;
        }
        let now = Instant::now();
        let mut ignored = Vec::new();
        let packets = &mut self.packets;
        self.calls
            .each(HOLD, |c| c.play_hold(now, packets, &mut ignored));
    }

    fn mix_rooms(&mut self) {
        if self.rooms.is_empty() {
            return;
        }
        let calls = &self.calls;
        self.rooms.mix(Instant::now(), &mut self.mixed, |key, pkt| {
            if let Some(c) = calls.get(key >> 1) {
                c.socks[(key & 1) as usize].play(Producer::Mix, pkt);
            }
        });
    }

    /// Keys held back too long as a possible feature code go on.
    fn release_keys(&mut self) {
        if !self.calls.any(KEYS) || self.gates_polled.elapsed() < FRAME {
            return;
        }
        let now = Instant::now();
        self.gates_polled = now;
        let released = &mut self.released;
        self.calls.each(KEYS, |c| c.release_keys(now, released));
    }

    /// One message for every call's frames due: the recorder's channel is
    /// crossed a few hundred times a second, not once a frame.
    fn record(&mut self) {
        if !self.calls.any(RECORDING) {
            return;
        }
        let now = Instant::now();
        let mut batch = Vec::new();
        let mut sink = None;
        self.calls.each(RECORDING, |c| {
            if let Some(r) = &mut c.recording {
                r.tick(c.id, now, &mut batch);
                sink.get_or_insert_with(|| r.sink.clone());
            }
        });
        let Some(sink) = sink.filter(|_| !batch.is_empty()) else {
            return;
        };
        let lost = match sink.try_send(RecMsg::Frames(batch)) {
            Ok(()) => return,
            Err(mpsc::TrySendError::Full(m) | mpsc::TrySendError::Disconnected(m)) => m,
        };
        if let RecMsg::Frames(lost) = lost {
            for (call, _) in lost {
                self.calls.update(call, |c| {
                    if let Some(r) = &mut c.recording {
                        r.dropped += 1;
                    }
                });
            }
        }
    }

    /// A socket is readable: one packet is read and goes where the call's
    /// state says, after any of the leg's own packets held while it had
    /// not signalled.
    pub(super) fn on_readable(&mut self, token: u64) {
        let Some((call, i)) = self.calls.at_token(token) else {
            return;
        };
        let ep = &call.socks[i];
        // Level-triggered: one read per event. A media socket holds one
        // packet per 20 ms, so reading on to EAGAIN would cost a second,
        // empty recvfrom per packet; epoll reports the socket again if
        // more is queued.
        let Ok((len, src)) = ep.sock.recv_from(&mut self.buf) else {
            return;
        };
        if !ep.admit(call.id, src, &self.buf[..len]) {
            return;
        }
        let early = ep.take_early(src);
        let mut to = Sinks {
            rooms: &mut self.rooms,
            pcm: &mut self.pcm,
            events: &mut self.events,
            released: &mut self.released,
            transcoded: &mut self.transcoded,
        };
        for mut pkt in early {
            deliver(call, i, &mut pkt, &mut to);
        }
        deliver(call, i, &mut self.buf[..len], &mut to);
    }
}

/// Where a relayed packet's effects go, borrowed from the [`Worker`].
struct Sinks<'a> {
    rooms: &'a mut Rooms,
    pcm: &'a mut Vec<i16>,
    events: &'a mut Vec<MediaEvent>,
    released: &'a mut Vec<Vec<u8>>,
    transcoded: &'a mut Vec<u8>,
}

/// An admitted packet from socket `i` of `call`, taken where the call's
/// state says: a room, the box's own endpoint, the recording, the other
/// leg.
fn deliver(call: &mut CallMedia, i: usize, pkt: &mut [u8], to: &mut Sinks<'_>) {
    let (side, rtcp) = (call.socks[i].side, call.socks[i].rtcp);
    if !rtcp {
        call.socks[i].from.received.fetch_add(1, Ordering::Relaxed);
    }
    let partner_hears_mix = mix_in(to.rooms, call, i, pkt, to.pcm, to.events);
    if !rtcp {
        call.report_keys(side, pkt, to.events);
    }
    // A caller in a flow talks to the box, not to a callee.
    if call.answer_locally(i, pkt, to.events) {
        return;
    }
    if !rtcp {
        call.record(side, pkt);
    }
    // The holder's packets do not reach a leg hearing music, nor a leg
    // hearing a mix (the mix carries them).
    if call.holds_back(side) || partner_hears_mix {
        return;
    }
    call.forward(i, pkt, to.released, to.transcoded);
}

/// A packet that arrived on socket `i` of `call`: a leg in a room is heard
/// through the mixer (and a caller that mixes still has its keys listened
/// for). Returns whether the leg's partner hears the mix, and so not the
/// leg directly.
fn mix_in(
    rooms: &mut Rooms,
    call: &mut CallMedia,
    i: usize,
    pkt: &[u8],
    pcm: &mut Vec<i16>,
    events: &mut Vec<MediaEvent>,
) -> bool {
    let side = i % 2;
    let key = call.leg_key(side);
    let partner = key ^ 1;
    if let Some(room) = call.rooms[side].and_then(|r| rooms.get_mut(r)) {
        let partner_hears_mix = room.hears(partner);
        if i < 2 {
            let now = Instant::now();
            room.push(key, now, pkt, pcm);
            if let Some(m) = call.listener.as_mut().filter(|_| i == 0) {
                m.on_rtp(now, pkt, events);
            }
        }
        return partner_hears_mix;
    }
    call.rooms[side ^ 1]
        .and_then(|r| rooms.get(r))
        .is_some_and(|room| room.hears(partner))
}

/// Takes both legs of a call out of their rooms (an emptied room goes);
/// the caller's keys are no longer listened for.
fn leave_rooms(rooms: &mut Rooms, call: &mut CallMedia) {
    call.listener = None;
    for side in 0..2 {
        if let Some(room) = call.rooms[side].take() {
            rooms.leave(room, call.leg_key(side));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use nix::sys::epoll::EpollCreateFlags;

    use super::*;
    use crate::endpoint::LocalMedia;

    fn worker() -> Worker {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
        Worker::new(epoll, Arc::new(|_| {}))
    }

    /// Closing a call frees everything it held: its ports can be bound
    /// again, its room (emptied) is gone, its recording is finished (the
    /// recorder told to close the file), and nothing of it is visited.
    #[test]
    fn a_closed_call_frees_its_ports_room_and_recording() {
        let mut w = worker();
        let socks: [UdpSocket; 4] =
            std::array::from_fn(|_| UdpSocket::bind("127.0.0.1:0").unwrap());
        let addrs = socks.each_ref().map(|s| s.local_addr().unwrap());
        w.apply(Command::Open {
            call: 3,
            socks,
            legs: Default::default(),
        });
        let (sink, recorder) = mpsc::sync_channel(64);
        w.apply(Command::Record { call: 3, sink });
        w.apply(Command::Local {
            call: 3,
            media: Box::new(LocalMedia::new(3, Codec::Pcma, None, 1)),
        });
        w.apply(Command::Join {
            room: 77,
            call: 3,
            side: 0,
            codec: Codec::Pcma,
            role: Role::party(),
        });
        w.apply(Command::WatchKeys {
            call: 3,
            pts: [Some(101), None],
            codes: Arc::from([]),
        });
        w.tick();
        assert_eq!((w.calls.len(), w.rooms.len()), (1, 1));
        assert!(w.calls.any(RECORDING | KEYS));
        assert!(!w.calls.any(LOCAL), "joining a room ends the prompts");
        for a in addrs {
            assert!(UdpSocket::bind(a).is_err(), "the call holds {a}");
        }

        w.apply(Command::Close { call: 3 });
        assert_eq!((w.calls.len(), w.rooms.len()), (0, 0));
        assert!(!w.calls.any(LOCAL | HOLD | RECORDING | KEYS));
        for a in addrs {
            assert!(UdpSocket::bind(a).is_ok(), "{a} is free again");
        }
        let closed = recorder
            .try_iter()
            .any(|m| matches!(m, RecMsg::Close { call: 3, .. }));
        assert!(closed, "the recording was finished");
        // Commands for the closed call change nothing.
        w.apply(Command::Bridge { call: 3 });
        w.tick();
        assert_eq!(w.calls.len(), 0);
    }
}
