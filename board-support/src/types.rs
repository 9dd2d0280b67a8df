//! The vocabulary shared by the DAHDI binding and the simulated board:
//! span alarms and counters, channel events, and the four traits.
//!
//! The values of [`Alarms`] and [`ChannelEvent`] are DAHDI's own
//! (`include/dahdi/user.h`), so the binding passes them through unchanged
//! and a log line reads the same as `dahdi_tool` would show.

use std::fmt;

use crate::Result;

/// Bytes in one B-channel block: 20 ms of 8 kHz A-law.
pub const BLOCK_LEN: usize = 160;

/// One B-channel block (A-law, one byte per sample).
pub type Block = [u8; BLOCK_LEN];

/// The alarms of a span, DAHDI's bits (`DAHDI_ALARM_*`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Alarms(pub u32);

impl Alarms {
    /// No alarm: the span is up.
    pub const NONE: Alarms = Alarms(0);
    /// Recovering from an alarm (some drivers hold it a few seconds).
    pub const RECOVER: Alarms = Alarms(1 << 0);
    /// Yellow (remote alarm indication): the far end does not receive us.
    pub const YELLOW: Alarms = Alarms(1 << 2);
    /// Red: we do not receive the far end (no signal or no framing).
    pub const RED: Alarms = Alarms(1 << 3);
    /// Blue (AIS): the far end sends all ones, something upstream failed.
    pub const BLUE: Alarms = Alarms(1 << 4);
    /// Loss of signal on the receive pair (comes with red).
    pub const LOS: Alarms = Alarms(1 << 8);

    /// Whether every one of `other`'s bits is set.
    pub fn contains(self, other: Alarms) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Whether the span carries traffic: no red, yellow, blue or loss of
    /// signal (RECOVER alone still does).
    pub fn is_clear(self) -> bool {
        self.0 & (Self::YELLOW.0 | Self::RED.0 | Self::BLUE.0 | Self::LOS.0) == 0
    }
}

impl std::ops::BitOr for Alarms {
    type Output = Alarms;
    fn bitor(self, rhs: Alarms) -> Alarms {
        Alarms(self.0 | rhs.0)
    }
}

impl fmt::Debug for Alarms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("Alarms(OK)");
        }
        let names = [
            (Self::RECOVER, "RECOVER"),
            (Self::YELLOW, "YELLOW"),
            (Self::RED, "RED"),
            (Self::BLUE, "BLUE"),
            (Self::LOS, "LOS"),
        ];
        let mut rest = self.0;
        f.write_str("Alarms(")?;
        let mut first = true;
        for (a, name) in names {
            if self.contains(a) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !a.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "0x{rest:x}")?;
        }
        f.write_str(")")
    }
}

/// A span's state as trunkd reports it (status, MIB, `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanStatus {
    /// The alarms now.
    pub alarms: Alarms,
    /// D-channel frames dropped for a bad FCS since the span was opened.
    pub bad_fcs: u64,
    /// Frame slips (a 125 µs frame repeated or deleted because the two
    /// ends' clocks differ) since the driver started counting.
    pub slips: u64,
}

/// An event on a channel, with DAHDI's numbers (`DAHDI_EVENT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// FXO: loop current lost, the CO hung up (kewlstart only) — DAHDI's
    /// ONHOOK (1).
    LoopCurrentLost,
    /// FXO: one ring, queued after a ring burst ends — RINGOFFHOOK (2).
    Ring,
    /// The span went into alarm — ALARM (4).
    Alarm,
    /// The span's alarm cleared — NOALARM (5).
    NoAlarm,
    /// D-channel: a frame was aborted — ABORT (6).
    Abort,
    /// D-channel: the receive buffer overran — OVERRUN (7).
    Overrun,
    /// D-channel: a frame with a bad FCS was dropped — BADFCS (8).
    BadFcs,
    /// The dial string was sent — DIALCOMPLETE (9).
    DialComplete,
    /// A hook change (seize, flash) completed — HOOKCOMPLETE (12).
    HookComplete,
    /// FXO: the CO reversed the line's polarity — POLARITY (17).
    Polarity,
    /// FXO: a ring burst began — RINGBEGIN (18).
    RingBegin,
    /// A DTMF digit began (with tone detection on).
    DtmfDown(char),
    /// A DTMF digit ended.
    DtmfUp(char),
    /// Anything else, as DAHDI numbered it.
    Other(i32),
}

const DTMF_DOWN: i32 = 1 << 17;
const DTMF_UP: i32 = 1 << 18;

impl ChannelEvent {
    /// The event DAHDI's `DAHDI_GETEVENT` returned.
    pub fn from_dahdi(code: i32) -> ChannelEvent {
        let digit = || char::from_u32((code & 0xFFFF) as u32).unwrap_or('?');
        match code {
            1 => ChannelEvent::LoopCurrentLost,
            2 => ChannelEvent::Ring,
            4 => ChannelEvent::Alarm,
            5 => ChannelEvent::NoAlarm,
            6 => ChannelEvent::Abort,
            7 => ChannelEvent::Overrun,
            8 => ChannelEvent::BadFcs,
            9 => ChannelEvent::DialComplete,
            12 => ChannelEvent::HookComplete,
            17 => ChannelEvent::Polarity,
            18 => ChannelEvent::RingBegin,
            c if c & DTMF_DOWN != 0 => ChannelEvent::DtmfDown(digit()),
            c if c & DTMF_UP != 0 => ChannelEvent::DtmfUp(digit()),
            c => ChannelEvent::Other(c),
        }
    }

    /// DAHDI's number for the event.
    pub fn to_dahdi(self) -> i32 {
        match self {
            ChannelEvent::LoopCurrentLost => 1,
            ChannelEvent::Ring => 2,
            ChannelEvent::Alarm => 4,
            ChannelEvent::NoAlarm => 5,
            ChannelEvent::Abort => 6,
            ChannelEvent::Overrun => 7,
            ChannelEvent::BadFcs => 8,
            ChannelEvent::DialComplete => 9,
            ChannelEvent::HookComplete => 12,
            ChannelEvent::Polarity => 17,
            ChannelEvent::RingBegin => 18,
            ChannelEvent::DtmfDown(d) => DTMF_DOWN | d as i32,
            ChannelEvent::DtmfUp(d) => DTMF_UP | d as i32,
            ChannelEvent::Other(c) => c,
        }
    }
}

/// What one `recv` gives: data, or an event that came before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<T> {
    /// A D-channel frame or an audio block.
    Data(T),
    /// An event; data that follows it is read by the next `recv`.
    Event(ChannelEvent),
}

/// An FXO port's own hook state (what we present to the CO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// The loop is open: idle, or ringing.
    On,
    /// The loop is closed: the line is seized or answered.
    Off,
}

/// An E1 span: its alarms and error counters.
pub trait Span {
    /// The span's number (DAHDI's, from 1).
    fn number(&self) -> u32;
    /// The alarms and counters now.
    fn status(&mut self) -> Result<SpanStatus>;
}

/// A D-channel: whole HDLC frames, without their FCS, both ways. Frames
/// with a bad FCS never come out; they show as [`ChannelEvent::BadFcs`]
/// and in the span's counter.
pub trait DChannel {
    /// The DAHDI channel number (16 on the first E1).
    fn channo(&self) -> u32;
    /// The next frame or event, `None` when there is none now.
    fn recv(&mut self) -> Result<Option<Incoming<Vec<u8>>>>;
    /// Sends one frame (address, control, information; the FCS is added
    /// on the way).
    fn send(&mut self, frame: &[u8]) -> Result<()>;
}

/// A B-channel: 20 ms blocks of A-law each way.
pub trait BChannel {
    /// The DAHDI channel number.
    fn channo(&self) -> u32;
    /// The next block or event, `None` when there is none now.
    fn recv(&mut self) -> Result<Option<Incoming<Block>>>;
    /// Sends one block.
    fn send(&mut self, block: &Block) -> Result<()>;
}

/// An FXO port on an analog CO line: the CO's ringing, polarity and loop
/// current come as events, the port seizes and releases the line, and
/// audio flows as on a B-channel.
pub trait AnalogPort {
    /// The DAHDI channel number.
    fn channo(&self) -> u32;
    /// Our hook state.
    fn hook(&self) -> Hook;
    /// Goes off hook: answers a ringing line or seizes an idle one.
    fn seize(&mut self) -> Result<()>;
    /// Goes on hook: hangs up.
    fn release(&mut self) -> Result<()>;
    /// The next audio block or event, `None` when there is none now.
    fn recv(&mut self) -> Result<Option<Incoming<Block>>>;
    /// Sends one block of audio to the line (heard only off hook).
    fn send(&mut self, block: &Block) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DAHDI's numbers (`user.h`) both ways, DTMF digits included.
    #[test]
    fn events_keep_dahdis_numbers() {
        let table = [
            (1, ChannelEvent::LoopCurrentLost),
            (2, ChannelEvent::Ring),
            (4, ChannelEvent::Alarm),
            (5, ChannelEvent::NoAlarm),
            (8, ChannelEvent::BadFcs),
            (12, ChannelEvent::HookComplete),
            (17, ChannelEvent::Polarity),
            (18, ChannelEvent::RingBegin),
            ((1 << 17) | '5' as i32, ChannelEvent::DtmfDown('5')),
            ((1 << 18) | '#' as i32, ChannelEvent::DtmfUp('#')),
            (20, ChannelEvent::Other(20)),
        ];
        for (code, event) in table {
            assert_eq!(ChannelEvent::from_dahdi(code), event, "{code}");
            assert_eq!(event.to_dahdi(), code, "{event:?}");
        }
    }

    #[test]
    fn alarms_read_as_dahdi_tool_names_them() {
        let a = Alarms(8 | 256);
        assert!(a.contains(Alarms::RED) && a.contains(Alarms::LOS));
        assert!(!a.contains(Alarms::YELLOW));
        assert!(!a.is_clear());
        assert!(Alarms::RECOVER.is_clear());
        assert_eq!(format!("{a:?}"), "Alarms(RED|LOS)");
        assert_eq!(format!("{:?}", Alarms(1 << 9)), "Alarms(0x200)");
    }
}
