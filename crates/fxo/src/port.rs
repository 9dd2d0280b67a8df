//! One FXO port's call: the state machine from ringing or seizure to the
//! far end's disconnect, without I/O.
//!
//! The board's events and audio come in with the time they were read;
//! decisions come out as [`Action`]s for the board (seize, release, send
//! a block) and [`Event`]s for trunkd. Timers are explicit: the owner asks
//! [`FxoPort::poll_timeout`] when to call [`FxoPort::handle_timeout`], as
//! with str0m or quinn. Time is a `Duration` since an epoch the owner
//! picks (the simulated board's clock, or an `Instant` taken at start).
//!
//! Inbound: a ring (or a polarity reversal or a dual-tone alerting signal
//! announcing a spill, or a DTMF spill on the idle line) wakes the
//! caller-ID receiver; the call is offered once the spill has been read,
//! or when the second ring begins (the spill had its chance between the
//! first two), never before. Ringing that stops before the answer is the
//! caller giving up. Answered, the call ends on a polarity reversal after
//! the guard time, on busy or congestion tone by cadence, or on loss of
//! loop current (kewlstart).
//!
//! Outbound: seize, wait for dial tone, send the digits as DTMF, and the
//! call is up (an analog line says nothing of the far end's answer unless
//! the exchange reverses polarity, which `answer_on_polarity` reports).

use std::collections::VecDeque;
use std::time::Duration;

use dering_board::{Block, ChannelEvent, BLOCK_LEN};
use dering_media::dtmf;
use dering_media::g711::Law;

use crate::callerid::{is_alert_tone, CallerIdReceiver, CidSignalling};
use crate::message::Outcome;
use crate::progress::{Progress, ToneDetector};

/// The line's start signalling (the board reports loop-current loss only
/// on kewlstart, so only there is it a disconnect signal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartSignalling {
    LoopStart,
    Kewlstart,
}

/// A port's settings, with the defaults Asterisk users know.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub start: StartSignalling,
    /// The caller-ID signalling listened for.
    pub cid: CidSignalling,
    /// Polarity reversals this soon after our answer are the exchange's
    /// answer signal, not a disconnect (`polarityonanswerdelay`).
    pub polarity_guard: Duration,
    /// Whether a reversal during the call is the far end hanging up
    /// (`hanguponpolarityswitch`).
    pub hangup_on_polarity: bool,
    /// Whether, on an outbound call, a reversal is the far end answering
    /// (`answeronpolarityswitch`).
    pub answer_on_polarity: bool,
    /// Busy or congestion bursts needed to hang up (`busycount`).
    pub busy_count: u32,
    /// No ring for this long after the last one: the ringing stopped.
    pub ring_timeout: Duration,
    /// How long a spill announced by a polarity reversal may take to be
    /// followed by ringing.
    pub pre_ring_timeout: Duration,
    /// How long to wait for dial tone after seizing.
    pub dial_tone_timeout: Duration,
    /// DTMF digit and pause lengths when dialling.
    pub dtmf_on: Duration,
    pub dtmf_off: Duration,
    /// The level of each of a digit's two tones.
    pub dtmf_dbm0: f64,
    /// The law of the board's audio.
    pub law: Law,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            start: StartSignalling::Kewlstart,
            cid: CidSignalling::Auto,
            polarity_guard: Duration::from_millis(600),
            hangup_on_polarity: true,
            answer_on_polarity: false,
            busy_count: 3,
            // Indonesia's cadence is 1 s on, 4 s off: the next ring comes
            // 3.6 s after DAHDI reports the last.
            ring_timeout: Duration::from_secs(6),
            pre_ring_timeout: Duration::from_secs(5),
            dial_tone_timeout: Duration::from_secs(3),
            dtmf_on: Duration::from_millis(100),
            dtmf_off: Duration::from_millis(100),
            dtmf_dbm0: -10.0,
            law: Law::Alaw,
        }
    }
}

/// What the board must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Go off hook (answer, or seize the line).
    Seize,
    /// Go on hook.
    Release,
    /// Send one block of audio to the line.
    Send(Box<Block>),
}

/// Why a call ended from the line's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    /// The ringing stopped before the answer: the caller gave up.
    StoppedRinging,
    /// The exchange reversed the polarity after the guard time.
    PolarityReversal,
    /// Busy tone (0.5/0.5 s).
    BusyTone,
    /// Congestion tone (0.25/0.25 s).
    CongestionTone,
    /// The loop current went (kewlstart).
    LoopCurrentLost,
    /// Seized, but no dial tone came.
    NoDialTone,
}

/// What happened on the line, for trunkd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An inbound call, with its caller ID or why there is none.
    Offered(Outcome),
    /// We answered an inbound call, or the far end answered ours
    /// (polarity reversal, with `answer_on_polarity`).
    Answered,
    /// Our digits were sent: the outbound call is up as far as an analog
    /// line can tell.
    Dialled,
    /// The call is over from the line's side; the port is on hook.
    FarEndGone(GoneReason),
}

/// A command that does not fit the port's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("the port is not idle")]
    NotIdle,
    #[error("no call is ringing to answer")]
    NothingToAnswer,
    #[error("{0:?} is not a DTMF digit")]
    BadDigit(char),
}

#[derive(Debug)]
enum State {
    Idle,
    /// A reversal on an idle line: a spill may come before the ring.
    PreRing {
        cid: Box<CallerIdReceiver>,
        until: Duration,
    },
    Ringing {
        cid: Box<CallerIdReceiver>,
        bursts: u32,
        rings: u32,
        offered: bool,
        /// We declined (hung up) a call still ringing: stay quiet until
        /// the ringing stops.
        declined: bool,
        until: Duration,
    },
    Seized {
        tones: ToneDetector,
        digits: String,
        until: Duration,
    },
    Dialling {
        blocks: VecDeque<Box<Block>>,
        next: Duration,
    },
    Up {
        tones: ToneDetector,
        guard_until: Duration,
        outbound: bool,
        answered: bool,
    },
}

/// One FXO port's signalling.
#[derive(Debug)]
pub struct FxoPort {
    config: PortConfig,
    state: State,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    pcm: Vec<i16>,
    /// DTMF CLIP may come with no warning at all (no reversal, no ring
    /// before it, EN 300 659-1 Annex B): an idle line is listened to for
    /// DTMF, which costs little, though not for FSK.
    idle_dtmf: Option<Box<CallerIdReceiver>>,
}

/// The audio block period.
const BLOCK_TIME: Duration = Duration::from_millis(20);

impl FxoPort {
    /// An idle port, on hook.
    pub fn new(config: PortConfig) -> FxoPort {
        FxoPort {
            config,
            state: State::Idle,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            pcm: Vec::with_capacity(BLOCK_LEN),
            idle_dtmf: None,
        }
    }

    /// Whether the port has no call.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// The next thing the board must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`FxoPort::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match &self.state {
            State::Idle | State::Up { .. } => None,
            State::PreRing { until, .. }
            | State::Ringing { until, .. }
            | State::Seized { until, .. } => Some(*until),
            State::Dialling { next, .. } => Some(*next),
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        match &mut self.state {
            State::PreRing { until, .. } if now >= *until => self.state = State::Idle,
            State::Ringing {
                until,
                offered,
                declined,
                ..
            } if now >= *until => {
                if *offered && !*declined {
                    self.events
                        .push_back(Event::FarEndGone(GoneReason::StoppedRinging));
                }
                self.state = State::Idle;
            }
            State::Seized { until, .. } if now >= *until => {
                self.gone(GoneReason::NoDialTone);
            }
            State::Dialling { blocks, next } if now >= *next => {
                if let Some(b) = blocks.pop_front() {
                    self.actions.push_back(Action::Send(b));
                    *next += BLOCK_TIME;
                } else {
                    self.events.push_back(Event::Dialled);
                    self.state = self.up(now, true);
                }
            }
            _ => {}
        }
    }

    /// Takes an event the board reported at `now`.
    pub fn handle_event(&mut self, event: ChannelEvent, now: Duration) {
        let cfg = &self.config;
        match (&mut self.state, event) {
            (State::Idle, ChannelEvent::Polarity) if cfg.cid != CidSignalling::Off => {
                self.idle_dtmf = None;
                self.state = State::PreRing {
                    cid: Box::new(CallerIdReceiver::new(cfg.cid)),
                    until: now + cfg.pre_ring_timeout,
                };
            }
            (State::Idle, ChannelEvent::RingBegin | ChannelEvent::Ring) => {
                self.idle_dtmf = None;
                self.state = State::Ringing {
                    cid: Box::new(CallerIdReceiver::new(cfg.cid)),
                    bursts: 0,
                    rings: 0,
                    offered: false,
                    declined: false,
                    until: now,
                };
                self.handle_event(event, now);
            }
            (State::PreRing { .. }, ChannelEvent::RingBegin | ChannelEvent::Ring) => {
                let State::PreRing { cid, .. } = std::mem::replace(&mut self.state, State::Idle)
                else {
                    return;
                };
                self.state = State::Ringing {
                    cid,
                    bursts: 0,
                    rings: 0,
                    offered: false,
                    declined: false,
                    until: now,
                };
                self.handle_event(event, now);
            }
            (
                State::Ringing {
                    bursts,
                    rings,
                    until,
                    ..
                },
                ChannelEvent::RingBegin | ChannelEvent::Ring,
            ) => {
                if event == ChannelEvent::RingBegin {
                    *bursts += 1;
                } else {
                    *rings += 1;
                }
                *until = now + cfg.ring_timeout;
                self.maybe_offer();
            }
            (State::Up { guard_until, .. }, ChannelEvent::Polarity) if now < *guard_until => {
                // The exchange's answer signal, or a bounce: not a hangup.
            }
            (
                State::Up {
                    outbound, answered, ..
                },
                ChannelEvent::Polarity,
            ) => {
                if *outbound && !*answered && cfg.answer_on_polarity {
                    *answered = true;
                    self.events.push_back(Event::Answered);
                } else if cfg.hangup_on_polarity {
                    self.gone(GoneReason::PolarityReversal);
                }
            }
            // Only kewlstart makes loop-current loss a disconnect signal: on
            // a loop-start line the current dips at every polarity reversal.
            (
                State::Up { .. } | State::Seized { .. } | State::Dialling { .. },
                ChannelEvent::LoopCurrentLost,
            ) if cfg.start == StartSignalling::Kewlstart => self.gone(GoneReason::LoopCurrentLost),
            _ => {}
        }
    }

    /// Offers the ringing call when caller ID has had its chance.
    fn maybe_offer(&mut self) {
        let cid_off = self.config.cid == CidSignalling::Off;
        if let State::Ringing {
            cid,
            bursts,
            rings,
            offered,
            declined,
            ..
        } = &mut self.state
        {
            let heard = cid.done() && (*bursts >= 1 || *rings >= 1);
            let first_ring_done = cid_off && (*rings >= 1 || *bursts >= 1);
            if !*offered && !*declined && (heard || first_ring_done || *bursts >= 2) {
                *offered = true;
                self.events.push_back(Event::Offered(cid.outcome()));
            }
        }
    }

    /// Takes one block of the line's audio (in the board's law).
    pub fn handle_audio(&mut self, block: &[u8], now: Duration) {
        self.pcm.clear();
        self.config.law.decode(block, &mut self.pcm);
        let pcm = std::mem::take(&mut self.pcm);
        match &mut self.state {
            State::PreRing { cid, .. } => {
                cid.feed(&pcm);
            }
            State::Ringing {
                cid,
                offered: false,
                ..
            } => {
                if cid.feed(&pcm) {
                    self.maybe_offer();
                }
            }
            State::Seized { tones, digits, .. } => {
                if tones.feed(&pcm).contains(&Progress::DialTone) {
                    let blocks = dtmf_blocks(&self.config, &std::mem::take(digits));
                    self.state = State::Dialling { blocks, next: now };
                }
            }
            State::Up { tones, .. } => {
                for p in tones.feed(&pcm) {
                    match p {
                        Progress::Busy => self.gone(GoneReason::BusyTone),
                        Progress::Congestion => self.gone(GoneReason::CongestionTone),
                        Progress::DialTone => continue,
                    }
                    break;
                }
            }
            State::Idle if fsk_cid(self.config.cid) && is_alert_tone(&pcm) => {
                self.idle_dtmf = None;
                self.state = State::PreRing {
                    cid: Box::new(CallerIdReceiver::new(self.config.cid)),
                    until: now + self.config.pre_ring_timeout,
                };
            }
            State::Idle if matches!(self.config.cid, CidSignalling::Auto | CidSignalling::Dtmf) => {
                let rx = self
                    .idle_dtmf
                    .get_or_insert_with(|| Box::new(CallerIdReceiver::new(CidSignalling::Dtmf)));
                if rx.feed(&pcm) {
                    if let Some(cid) = self.idle_dtmf.take() {
                        self.state = State::PreRing {
                            cid,
                            until: now + self.config.pre_ring_timeout,
                        };
                    }
                }
            }
            State::Idle | State::Ringing { .. } | State::Dialling { .. } => {}
        }
        self.pcm = pcm;
    }

    /// Answers the offered call.
    pub fn answer(&mut self, now: Duration) -> Result<(), PortError> {
        match &self.state {
            State::Ringing {
                offered: true,
                declined: false,
                ..
            } => {
                self.actions.push_back(Action::Seize);
                self.events.push_back(Event::Answered);
                self.state = self.up(now, false);
                Ok(())
            }
            _ => Err(PortError::NothingToAnswer),
        }
    }

    /// Seizes the idle line to dial `number` once dial tone comes.
    pub fn dial(&mut self, number: &str, now: Duration) -> Result<(), PortError> {
        if !self.is_idle() {
            return Err(PortError::NotIdle);
        }
        if let Some(c) = number.chars().find(|c| dtmf::frequencies(*c).is_none()) {
            return Err(PortError::BadDigit(c));
        }
        self.actions.push_back(Action::Seize);
        self.idle_dtmf = None;
        self.state = State::Seized {
            tones: ToneDetector::new(self.config.busy_count),
            digits: number.to_owned(),
            until: now + self.config.dial_tone_timeout,
        };
        Ok(())
    }

    /// Our side hangs up (or declines a ringing call).
    pub fn hangup(&mut self) {
        match &mut self.state {
            State::Idle => {}
            State::Ringing { declined, .. } => *declined = true,
            State::PreRing { .. } => self.state = State::Idle,
            State::Seized { .. } | State::Dialling { .. } | State::Up { .. } => {
                self.actions.push_back(Action::Release);
                self.state = State::Idle;
            }
        }
    }

    fn up(&self, now: Duration, outbound: bool) -> State {
        State::Up {
            tones: ToneDetector::new(self.config.busy_count),
            guard_until: now + self.config.polarity_guard,
            outbound,
            answered: !outbound,
        }
    }

    fn gone(&mut self, why: GoneReason) {
        self.actions.push_back(Action::Release);
        self.events.push_back(Event::FarEndGone(why));
        self.state = State::Idle;
    }
}

/// Whether `cid` listens for an FSK spill (which a DT-AS announces).
fn fsk_cid(cid: CidSignalling) -> bool {
    matches!(
        cid,
        CidSignalling::Auto | CidSignalling::V23 | CidSignalling::Bell202
    )
}

/// The digits as 20 ms blocks of DTMF and pauses.
fn dtmf_blocks(config: &PortConfig, digits: &str) -> VecDeque<Box<Block>> {
    let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    let mut pcm = Vec::new();
    for d in digits.chars() {
        pcm.extend(dtmf::generate(
            d,
            ms(config.dtmf_on),
            config.dtmf_dbm0,
            0.0,
            0.0,
        ));
        pcm.extend(std::iter::repeat_n(0, ms(config.dtmf_off) as usize * 8));
    }
    let mut coded = Vec::with_capacity(pcm.len());
    config.law.encode(&pcm, &mut coded);
    coded
        .chunks(BLOCK_LEN)
        .map(|c| {
            let mut b = Box::new([config.law.silence(); BLOCK_LEN]);
            b[..c.len()].copy_from_slice(c);
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A port answered on a line with no caller ID, at 6 s.
    fn answered(start: StartSignalling) -> FxoPort {
        let mut p = FxoPort::new(PortConfig {
            start,
            cid: CidSignalling::Off,
            ..PortConfig::default()
        });
        p.handle_event(ChannelEvent::RingBegin, ms(0));
        p.handle_event(ChannelEvent::Ring, ms(1400));
        assert_eq!(
            p.poll_event(),
            Some(Event::Offered(Outcome::Unavailable(
                crate::message::Unavailable::NotSent
            )))
        );
        p.answer(ms(6000)).unwrap();
        assert_eq!(p.poll_action(), Some(Action::Seize));
        assert_eq!(p.poll_event(), Some(Event::Answered));
        p
    }

    #[test]
    fn loop_current_loss_ends_a_kewlstart_call_only() {
        let mut p = answered(StartSignalling::Kewlstart);
        p.handle_event(ChannelEvent::LoopCurrentLost, ms(9000));
        assert_eq!(p.poll_action(), Some(Action::Release));
        assert_eq!(
            p.poll_event(),
            Some(Event::FarEndGone(GoneReason::LoopCurrentLost))
        );
        assert!(p.is_idle());

        let mut p = answered(StartSignalling::LoopStart);
        p.handle_event(ChannelEvent::LoopCurrentLost, ms(9000));
        assert_eq!(p.poll_action(), None);
        assert_eq!(p.poll_event(), None);
        assert!(!p.is_idle());
    }

    #[test]
    fn commands_out_of_state_are_refused() {
        let mut p = FxoPort::new(PortConfig::default());
        assert_eq!(p.answer(ms(0)), Err(PortError::NothingToAnswer));
        assert_eq!(p.dial("12x", ms(0)), Err(PortError::BadDigit('x')));
        p.dial("137", ms(0)).unwrap();
        assert_eq!(p.dial("137", ms(0)), Err(PortError::NotIdle));
        assert_eq!(p.poll_timeout(), Some(ms(3000)));
    }
}
