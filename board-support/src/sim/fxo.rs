//! A simulated FXO port on an analog CO line, on virtual time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{lock, SimClock};
use crate::{AnalogPort, Block, ChannelEvent, Hook, Incoming, Result, BLOCK_LEN};

/// How long after a ring burst ends DAHDI reports the ring (RINGOFFHOOK):
/// its debounce for an FXS-signalled channel.
pub const RING_DEBOUNCE: Duration = Duration::from_millis(400);

/// The port's start signalling, as `system.conf` names it for the far
/// end: loop start (`fxsls`) or kewlstart (`fxsks`), which also reports
/// the CO's disconnect by loop current loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FxoSignalling {
    /// Loop start: a drop of loop current is not reported.
    LoopStart,
    /// Kewlstart: a drop of loop current while off hook is ONHOOK.
    Kewlstart,
}

/// A ring cadence: bursts of ringing and the silences after them,
/// repeated in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence(pub Vec<(Duration, Duration)>);

impl Cadence {
    /// Indonesia's (and most of Europe's): 1 s on, 4 s off.
    pub fn indonesia() -> Cadence {
        Cadence(vec![(Duration::from_secs(1), Duration::from_secs(4))])
    }
}

#[derive(Debug)]
struct State {
    signalling: FxoSignalling,
    hook: Hook,
    /// Events not yet due: (when, event), in time order.
    scheduled: VecDeque<(Duration, ChannelEvent)>,
    /// Events due, not yet read.
    events: VecDeque<ChannelEvent>,
    rx: VecDeque<u8>,
    tx: VecDeque<u8>,
    /// Whether the CO feeds loop current (false after a drop or a cut).
    loop_current: bool,
    cut: bool,
    /// The line's polarity: flips with each reversal.
    reversed: bool,
}

impl State {
    /// Moves the events due at `now` to the queue.
    fn settle(&mut self, now: Duration) {
        while self.scheduled.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, e)) = self.scheduled.pop_front() {
                self.events.push_back(e);
            }
        }
    }

    /// Stops the ringing at `now`: bursts not yet begun are dropped. A
    /// burst under way ends now, and its ring is reported
    /// [`RING_DEBOUNCE`] later, as DAHDI sees the ringing voltage go,
    /// unless the port tripped the ring by going off hook (`trip`).
    fn stop_ringing(&mut self, now: Duration, trip: bool) {
        let is_ring = |e: &ChannelEvent| matches!(e, ChannelEvent::RingBegin | ChannelEvent::Ring);
        // Events due are settled: the first ring event left belongs to
        // the burst under way when it is a Ring, not a RingBegin.
        let under_way = self
            .scheduled
            .iter()
            .find(|(_, e)| is_ring(e))
            .and_then(|(t, e)| (*e == ChannelEvent::Ring).then_some(*t));
        self.scheduled.retain(|(_, e)| !is_ring(e));
        if let (Some(at), false) = (under_way, trip) {
            let at = at.min(now + RING_DEBOUNCE);
            let i = self.scheduled.partition_point(|(t, _)| *t <= at);
            self.scheduled.insert(i, (at, ChannelEvent::Ring));
        }
    }
}

type Shared = Arc<Mutex<State>>;

/// A simulated FXO port and its CO line.
#[derive(Debug)]
pub struct SimFxo {
    /// The port, as trunkd sees it.
    pub port: SimAnalogPort,
    /// The CO's handle.
    pub co: CoLine,
}

impl SimFxo {
    /// Port `channo` with `signalling`, idle and on hook, on `clock`.
    pub fn new(channo: u32, signalling: FxoSignalling, clock: SimClock) -> SimFxo {
        let state = Arc::new(Mutex::new(State {
            signalling,
            hook: Hook::On,
            scheduled: VecDeque::new(),
            events: VecDeque::new(),
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            loop_current: true,
            cut: false,
            reversed: false,
        }));
        SimFxo {
            port: SimAnalogPort {
                state: Arc::clone(&state),
                clock: clock.clone(),
                channo,
            },
            co: CoLine { state, clock },
        }
    }
}

/// The port of a [`SimFxo`].
#[derive(Debug)]
pub struct SimAnalogPort {
    state: Shared,
    clock: SimClock,
    channo: u32,
}

impl SimAnalogPort {
    fn set_hook(&mut self, hook: Hook) {
        let mut s = lock(&self.state);
        let now = self.clock.now();
        s.settle(now);
        if hook == Hook::Off {
            // Ring trip: the CO stops ringing when the loop closes.
            s.stop_ringing(now, true);
        }
        s.hook = hook;
    }
}

impl AnalogPort for SimAnalogPort {
    fn channo(&self) -> u32 {
        self.channo
    }

    fn hook(&self) -> Hook {
        lock(&self.state).hook
    }

    fn seize(&mut self) -> Result<()> {
        self.set_hook(Hook::Off);
        Ok(())
    }

    fn release(&mut self) -> Result<()> {
        self.set_hook(Hook::On);
        Ok(())
    }

    fn recv(&mut self) -> Result<Option<Incoming<Block>>> {
        let mut s = lock(&self.state);
        s.settle(self.clock.now());
        if let Some(e) = s.events.pop_front() {
            return Ok(Some(Incoming::Event(e)));
        }
        if s.rx.len() < BLOCK_LEN {
            return Ok(None);
        }
        let mut block = [0u8; BLOCK_LEN];
        for (d, b) in block.iter_mut().zip(s.rx.drain(..BLOCK_LEN)) {
            *d = b;
        }
        Ok(Some(Incoming::Data(block)))
    }

    fn send(&mut self, block: &Block) -> Result<()> {
        let mut s = lock(&self.state);
        // Only a closed loop with current carries our audio to the CO.
        if s.hook == Hook::Off && s.loop_current && !s.cut {
            s.tx.extend(block.iter().copied());
        }
        Ok(())
    }
}

/// The CO's end of a [`SimFxo`]'s line: what a test does to play the
/// exchange. Clones act on the same line.
#[derive(Debug, Clone)]
pub struct CoLine {
    state: Shared,
    clock: SimClock,
}

impl CoLine {
    fn with<T>(&self, f: impl FnOnce(&mut State, Duration) -> T) -> T {
        let now = self.clock.now();
        let mut s = lock(&self.state);
        s.settle(now);
        f(&mut s, now)
    }

    /// Rings the line from now: `bursts` bursts of `cadence`. The port
    /// sees RINGBEGIN as each burst starts and a ring (RINGOFFHOOK)
    /// [`RING_DEBOUNCE`] after it ends; answering stops it.
    pub fn ring(&self, cadence: &Cadence, bursts: usize) {
        self.with(|s, now| {
            if s.cut || cadence.0.is_empty() {
                return;
            }
            s.stop_ringing(now, true);
            let mut t = now;
            let mut new = Vec::new();
            for (on, off) in cadence.0.iter().cycle().take(bursts) {
                new.push((t, ChannelEvent::RingBegin));
                new.push((t + *on + RING_DEBOUNCE, ChannelEvent::Ring));
                t += *on + *off;
            }
            let mut all: Vec<_> = s.scheduled.drain(..).chain(new).collect();
            all.sort_by_key(|(t, _)| *t);
            s.scheduled = all.into();
            s.settle(now);
        });
    }

    /// Stops ringing: the caller gave up before the answer.
    pub fn stop_ringing(&self) {
        self.with(|s, now| s.stop_ringing(now, false));
    }

    /// Reverses the line's polarity (a CO's answer or disconnect signal,
    /// or the announcement of a caller-ID spill).
    pub fn reverse_polarity(&self) {
        self.with(|s, _| {
            if !s.cut {
                s.reversed = !s.reversed;
                s.events.push_back(ChannelEvent::Polarity);
            }
        });
    }

    /// Interrupts the loop current (the CO's disconnect on a kewlstart
    /// line); it comes back with [`CoLine::restore_loop_current`].
    pub fn drop_loop_current(&self) {
        self.with(|s, _| {
            if s.loop_current {
                s.loop_current = false;
                if s.hook == Hook::Off && s.signalling == FxoSignalling::Kewlstart {
                    s.events.push_back(ChannelEvent::LoopCurrentLost);
                }
            }
        });
    }

    /// Feeds loop current again.
    pub fn restore_loop_current(&self) {
        self.with(|s, _| s.loop_current = !s.cut);
    }

    /// Cuts the line mid-call or idle: ringing, audio and loop current
    /// stop (so a kewlstart port off hook sees ONHOOK).
    pub fn cut(&self) {
        self.drop_loop_current();
        self.with(|s, now| {
            s.cut = true;
            s.stop_ringing(now, false);
            s.rx.clear();
        });
    }

    /// Mends a cut line.
    pub fn restore(&self) {
        self.with(|s, _| {
            s.cut = false;
            s.loop_current = true;
        });
    }

    /// Whether the port holds the loop closed (answered or seized).
    pub fn is_off_hook(&self) -> bool {
        self.with(|s, _| s.hook == Hook::Off)
    }

    /// Whether the polarity is reversed from the idle state.
    pub fn is_reversed(&self) -> bool {
        self.with(|s, _| s.reversed)
    }

    /// The CO sends `audio` (tones, a caller-ID spill, speech); the port
    /// hears it on or off hook, as an FXO port's receive path does.
    pub fn send_audio(&self, audio: &[u8]) {
        self.with(|s, _| {
            if !s.cut {
                s.rx.extend(audio.iter().copied());
            }
        });
    }

    /// What the CO has heard from the port since the last call.
    pub fn take_audio(&self) -> Vec<u8> {
        self.with(|s, _| s.tx.drain(..).collect())
    }
}
