//! A simulated E1 span: 31 timeslots, the D-channel on 16.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use super::lock;
use crate::{
    fcs, Alarms, BChannel, Block, BoardError, ChannelEvent, DChannel, Incoming, Result, Span,
    SpanStatus, BLOCK_LEN,
};

/// The D-channel's timeslot on an E1.
const DCHANNEL_TS: u32 = 16;
/// Largest far-end message read (N201 260 plus headers, with room).
const MAX_MESSAGE: usize = 1100;

/// Which way a frame slip went: the receiver's elastic store either
/// repeated a 125 µs frame (our clock faster) or deleted one (slower).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slip {
    /// One frame played twice: each B-channel hears one byte twice.
    Repeated,
    /// One frame lost: each B-channel loses one byte.
    Deleted,
}

#[derive(Debug, Default)]
struct Timeslot {
    /// Far end to us, bytes not yet read.
    rx: VecDeque<u8>,
    /// Us to the far end, bytes it has not taken.
    tx: VecDeque<u8>,
    events: VecDeque<ChannelEvent>,
}

#[derive(Debug)]
struct State {
    spanno: u32,
    alarms: Alarms,
    cut: bool,
    bad_fcs: u64,
    slips: u64,
    /// Far-end frames still to be damaged on the line.
    corrupt: u32,
    /// Index 0 is timeslot 1.
    ts: Vec<Timeslot>,
    /// Readable while the D-channel has events queued, so that waiting on
    /// the D-channel wakes for an alarm as it does for a frame.
    doorbell: EventFd,
}

impl State {
    fn slot(&mut self, ts: u32) -> &mut Timeslot {
        let i = ts.saturating_sub(1) as usize;
        &mut self.ts[i]
    }

    /// The far end reaches us: no cut, no red, blue or loss of signal.
    fn rx_ok(&self) -> bool {
        !self.cut && self.alarms.0 & (Alarms::RED | Alarms::BLUE | Alarms::LOS).0 == 0
    }

    /// We reach the far end: no cut, and the far end does not report
    /// that it hears nothing (yellow).
    fn tx_ok(&self) -> bool {
        !self.cut && !self.alarms.contains(Alarms::YELLOW)
    }

    /// Sets the alarms; on a change between none and some, every channel
    /// gets ALARM or NOALARM (DAHDI's `dahdi_alarm_notify`).
    fn set_alarms(&mut self, alarms: Alarms) {
        let was = self.alarms;
        self.alarms = alarms;
        if (was.0 == 0) != (alarms.0 == 0) {
            let e = if alarms.0 == 0 {
                ChannelEvent::NoAlarm
            } else {
                ChannelEvent::Alarm
            };
            for t in &mut self.ts {
                t.events.push_back(e);
            }
            // An eventfd counter cannot overflow from one write.
            let _ = self.doorbell.write(1);
        }
        if !self.rx_ok() {
            // What was on its way is lost with the signal.
            for t in &mut self.ts {
                t.rx.clear();
            }
        }
    }
}

type Shared = Arc<Mutex<State>>;

/// A simulated E1 span with its channels and its far end.
#[derive(Debug)]
pub struct SimE1 {
    /// The span (alarms, counters).
    pub span: SimSpan,
    /// The D-channel, timeslot 16.
    pub dchannel: SimDChannel,
    /// The B-channels, timeslots 1–15 and 17–31 in order.
    pub bchannels: Vec<SimBChannel>,
    /// The far end's handle: faults and the B-channels' far side.
    pub line: E1Line,
}

impl SimE1 {
    /// Span `spanno` (from 1; its channels are numbered as DAHDI numbers
    /// them, 31 per E1) whose D-channel's far end is `far`, a connected
    /// `SOCK_SEQPACKET` socket.
    pub fn new(spanno: u32, far: OwnedFd) -> Result<SimE1> {
        let spanno = spanno.max(1);
        let doorbell = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| BoardError::errno("eventfd", e))?;
        // One descriptor to wait on, readable for a frame or an event, as
        // a DAHDI channel's is.
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| BoardError::errno("epoll_create", e))?;
        for fd in [far.as_fd(), doorbell.as_fd()] {
            epoll
                .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, 0))
                .map_err(|e| BoardError::errno("epoll_ctl", e))?;
        }
        let state = Arc::new(Mutex::new(State {
            spanno,
            alarms: Alarms::NONE,
            cut: false,
            bad_fcs: 0,
            slips: 0,
            corrupt: 0,
            ts: (0..31).map(|_| Timeslot::default()).collect(),
            doorbell,
        }));
        let base = (spanno - 1).saturating_mul(31);
        let bchannels = (1..=31)
            .filter(|&ts| ts != DCHANNEL_TS)
            .map(|ts| SimBChannel {
                state: Arc::clone(&state),
                ts,
                channo: base.saturating_add(ts),
            })
            .collect();
        Ok(SimE1 {
            span: SimSpan {
                state: Arc::clone(&state),
            },
            dchannel: SimDChannel {
                state: Arc::clone(&state),
                far,
                epoll,
                channo: base.saturating_add(DCHANNEL_TS),
            },
            bchannels,
            line: E1Line { state },
        })
    }

    /// A span whose D-channel's far end is the other socket of a pair,
    /// returned with it.
    pub fn with_socketpair(spanno: u32) -> Result<(SimE1, OwnedFd)> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| BoardError::errno("socketpair", e))?;
        Ok((SimE1::new(spanno, ours)?, theirs))
    }
}

/// The span of a [`SimE1`].
#[derive(Debug, Clone)]
pub struct SimSpan {
    state: Shared,
}

impl Span for SimSpan {
    fn number(&self) -> u32 {
        lock(&self.state).spanno
    }

    fn status(&mut self) -> Result<SpanStatus> {
        let s = lock(&self.state);
        Ok(SpanStatus {
            alarms: s.alarms,
            bad_fcs: s.bad_fcs,
            slips: s.slips,
        })
    }
}

/// The D-channel of a [`SimE1`]. Its descriptor ([`AsFd`]) is readable
/// when a frame from the far end or an event is waiting.
#[derive(Debug)]
pub struct SimDChannel {
    state: Shared,
    far: OwnedFd,
    /// Watches `far` and the state's doorbell.
    epoll: Epoll,
    channo: u32,
}

impl AsFd for SimDChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

impl DChannel for SimDChannel {
    fn channo(&self) -> u32 {
        self.channo
    }

    fn recv(&mut self) -> Result<Option<Incoming<Vec<u8>>>> {
        loop {
            let mut s = lock(&self.state);
            if let Some(e) = s.slot(DCHANNEL_TS).events.pop_front() {
                if s.slot(DCHANNEL_TS).events.is_empty() {
                    // Silence the doorbell; EAGAIN means it was already.
                    let _ = s.doorbell.read();
                }
                return Ok(Some(Incoming::Event(e)));
            }
            let mut buf = [0u8; MAX_MESSAGE];
            let n = match recv(self.far.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    return Err(BoardError::FarEndClosed {
                        channo: self.channo,
                    })
                }
                Ok(n) => n,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    return Err(BoardError::errno(
                        format!("recv D-channel {}", self.channo),
                        e,
                    ))
                }
            };
            if !s.rx_ok() {
                continue; // lost on the line
            }
            // The far end's framer computes the FCS in place of the two
            // bytes its stack left (libpri writes placeholders) ...
            let frame = &buf[..n.saturating_sub(2)];
            let mut line = fcs::append(frame);
            // ... the line may damage the frame ...
            if s.corrupt > 0 {
                s.corrupt -= 1;
                let i = line.len() / 2;
                line[i] ^= 0x10;
            }
            // ... and our receiver checks it: a bad frame never reaches
            // the stack, only its event and the counter do.
            if !fcs::check(&line) {
                s.bad_fcs += 1;
                return Ok(Some(Incoming::Event(ChannelEvent::BadFcs)));
            }
            line.truncate(line.len() - 2);
            return Ok(Some(Incoming::Data(line)));
        }
    }

    fn send(&mut self, frame: &[u8]) -> Result<()> {
        if frame.len() > MAX_MESSAGE - 2 {
            return Err(BoardError::FrameTooLong {
                len: frame.len(),
                max: MAX_MESSAGE - 2,
            });
        }
        if !lock(&self.state).tx_ok() {
            return Ok(()); // lost on the line, as on a card
        }
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match send(self.far.as_raw_fd(), &fcs::append(frame), flags) {
            Ok(_) => Ok(()),
            Err(Errno::EPIPE | Errno::ECONNRESET) => Err(BoardError::FarEndClosed {
                channo: self.channo,
            }),
            Err(e) => Err(BoardError::errno(
                format!("send D-channel {}", self.channo),
                e,
            )),
        }
    }
}

/// A B-channel of a [`SimE1`].
#[derive(Debug)]
pub struct SimBChannel {
    state: Shared,
    ts: u32,
    channo: u32,
}

impl SimBChannel {
    /// The timeslot, which is the Q.931 channel number.
    pub fn timeslot(&self) -> u32 {
        self.ts
    }
}

impl BChannel for SimBChannel {
    fn channo(&self) -> u32 {
        self.channo
    }

    fn recv(&mut self) -> Result<Option<Incoming<Block>>> {
        let mut s = lock(&self.state);
        let slot = s.slot(self.ts);
        if let Some(e) = slot.events.pop_front() {
            return Ok(Some(Incoming::Event(e)));
        }
        if slot.rx.len() < BLOCK_LEN {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK_LEN];
        for (d, s) in block.iter_mut().zip(slot.rx.drain(..BLOCK_LEN)) {
            *d = s;
        }
        Ok(Some(Incoming::Data(block)))
    }

    fn send(&mut self, block: &Block) -> Result<()> {
        let mut s = lock(&self.state);
        if s.tx_ok() {
            s.slot(self.ts).tx.extend(block.iter().copied());
        }
        Ok(())
    }
}

/// The far end of a [`SimE1`] and the line between: what a test does to
/// play the carrier. Clones act on the same line.
#[derive(Debug, Clone)]
pub struct E1Line {
    state: Shared,
}

impl E1Line {
    /// Raises `alarms` (added to those already up).
    pub fn raise(&self, alarms: Alarms) {
        let mut s = lock(&self.state);
        let now = s.alarms | alarms;
        s.set_alarms(now);
    }

    /// Clears `alarms` (others stay up).
    pub fn clear(&self, alarms: Alarms) {
        let mut s = lock(&self.state);
        let now = Alarms(s.alarms.0 & !alarms.0);
        s.set_alarms(now);
    }

    /// Cuts the line: nothing passes either way, the span goes red with
    /// loss of signal, audio in flight is lost.
    pub fn cut(&self) {
        let mut s = lock(&self.state);
        s.cut = true;
        let now = s.alarms | Alarms::RED | Alarms::LOS;
        s.set_alarms(now);
    }

    /// Mends a cut line: red and loss of signal clear.
    pub fn restore(&self) {
        let mut s = lock(&self.state);
        s.cut = false;
        let now = Alarms(s.alarms.0 & !(Alarms::RED | Alarms::LOS).0);
        s.set_alarms(now);
    }

    /// Damages the next `n` frames from the far end on the line (a burst
    /// of bit errors): our receiver drops them for their FCS.
    pub fn corrupt_next_frames(&self, n: u32) {
        lock(&self.state).corrupt += n;
    }

    /// One frame slip: counted on the span, and every B-channel's
    /// received audio repeats or loses its next byte.
    pub fn slip(&self, kind: Slip) {
        let mut s = lock(&self.state);
        s.slips += 1;
        for t in &mut s.ts {
            match kind {
                Slip::Repeated => {
                    if let Some(&b) = t.rx.front() {
                        t.rx.push_front(b);
                    }
                }
                Slip::Deleted => {
                    t.rx.pop_front();
                }
            }
        }
    }

    /// The far end sends `audio` on timeslot `ts` (1–31, not 16); it is
    /// lost while the far end does not reach us.
    pub fn send_audio(&self, ts: u32, audio: &[u8]) {
        let mut s = lock(&self.state);
        if s.rx_ok() && (1..=31).contains(&ts) && ts != DCHANNEL_TS {
            s.slot(ts).rx.extend(audio.iter().copied());
        }
    }

    /// What the far end has heard on timeslot `ts` since the last call.
    pub fn take_audio(&self, ts: u32) -> Vec<u8> {
        let mut s = lock(&self.state);
        if !(1..=31).contains(&ts) {
            return Vec::new();
        }
        s.slot(ts).tx.drain(..).collect()
    }
}
