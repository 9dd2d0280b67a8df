//! The caller-ID receiver: listens for a spill in one signalling or in
//! all of them at once, and says what it gave.
//!
//! In automatic mode the V.23 and Bell 202 receivers and the DTMF
//! detector all hear the line. The two FSK receivers can both frame the
//! same spill (1200 baud both, the mark and space frequencies only
//! 100 Hz apart, too close to tell within one bit), so which modem sent
//! it is told by the spill's steady mark signal (80 to 180 bits before
//! the message): 20 ms blocks that are one pure tone vote for 1300 Hz
//! (V.23) or 1200 Hz (Bell 202).

use dering_media::dtmf::{tone_amplitude, Detector};

use crate::fsk::{Byte, FskReceiver, Modem};
use crate::message::{
    fsk_message_len, is_fsk_message_type, parse_dtmf, parse_fsk, Outcome, Signal, Unavailable,
};

/// Which caller-ID signalling a port listens for (Asterisk's
/// `cidsignalling`), or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidSignalling {
    /// V.23, Bell 202 and DTMF at once: the line's practice is unknown.
    Auto,
    V23,
    Bell202,
    Dtmf,
    /// The line sends no caller ID: the call is offered at the first ring.
    Off,
}

/// Marking bits before a character that start a message: the spill's
/// mark signal is 80 bits or more, the gaps inside a message at most 10.
const MESSAGE_IDLE_BITS: u32 = 20;
/// The longest DTMF spill read (start code, number, terminator).
const MAX_DTMF_SPILL: usize = 40;
/// The share of a block's energy one tone holds in a steady mark.
const PURE_TONE_SHARE: f64 = 0.8;

/// The dual-tone alerting signal (DT-AS, EN 300 659-1 §6.1.1.2):
/// 2130 Hz and 2750 Hz together for 80 to 100 ms, announcing an FSK
/// spill where the exchange reverses no polarity.
pub const ALERT_TONE: (f64, f64) = (2130.0, 2750.0);
/// Each alerting tone's weakest level taken (about −30 dBm0, peak).
const ALERT_MIN_AMPLITUDE: f64 = 700.0;

/// Whether `block` (20 ms) is the dual-tone alerting signal: both tones
/// present and holding most of the energy (speech does not).
pub fn is_alert_tone(block: &[i16]) -> bool {
    if block.len() < 80 {
        return false;
    }
    let (a, b) = (
        tone_amplitude(block, ALERT_TONE.0),
        tone_amplitude(block, ALERT_TONE.1),
    );
    if a < ALERT_MIN_AMPLITUDE || b < ALERT_MIN_AMPLITUDE {
        return false;
    }
    let energy = block.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / block.len() as f64;
    (a * a + b * b) / 2.0 >= PURE_TONE_SHARE * energy
}

/// One FSK receiver and the message it is assembling.
#[derive(Debug)]
struct FskPath {
    rx: FskReceiver,
    msg: Vec<u8>,
    bytes: Vec<Byte>,
}

impl FskPath {
    fn new(modem: Modem) -> FskPath {
        FskPath {
            rx: FskReceiver::new(modem),
            msg: Vec::new(),
            bytes: Vec::new(),
        }
    }

    fn signal(&self) -> Signal {
        match self.rx.modem() {
            Modem::V23 => Signal::V23,
            Modem::Bell202 => Signal::Bell202,
        }
    }

    fn feed(&mut self, samples: &[i16]) -> Option<Outcome> {
        self.bytes.clear();
        self.rx.feed(samples, &mut self.bytes);
        let mut outcome = None;
        for b in std::mem::take(&mut self.bytes) {
            if !self.msg.is_empty() && b.idle_bits > MESSAGE_IDLE_BITS {
                // A long pause inside a message: it was cut short.
                self.msg.clear();
                outcome = Some(Outcome::Unavailable(Unavailable::Malformed));
            }
            if self.msg.is_empty() {
                if b.idle_bits >= MESSAGE_IDLE_BITS && is_fsk_message_type(b.value) {
                    self.msg.push(b.value);
                }
                continue;
            }
            self.msg.push(b.value);
            if fsk_message_len(&self.msg) == Some(self.msg.len()) {
                let msg = std::mem::take(&mut self.msg);
                if let Some(o) = parse_fsk(&msg, self.signal()) {
                    outcome = Some(o);
                }
            }
        }
        if !self.msg.is_empty() && !self.rx.carrier() {
            self.msg.clear();
            outcome = Some(Outcome::Unavailable(Unavailable::Malformed));
        }
        outcome
    }
}

/// The DTMF detector and the spill it is collecting.
#[derive(Debug, Default)]
struct DtmfPath {
    detector: Detector,
    spill: String,
}

impl DtmfPath {
    fn feed(&mut self, samples: &[i16]) -> Option<Outcome> {
        let mut outcome = None;
        for key in self.detector.feed(samples) {
            if self.spill.is_empty() && !matches!(key, 'A' | 'B' | 'D') {
                continue;
            }
            self.spill.push(key);
            if matches!(key, 'C' | '#') && self.spill.len() > 1 {
                outcome = Some(parse_dtmf(&std::mem::take(&mut self.spill)));
            } else if self.spill.len() > MAX_DTMF_SPILL {
                self.spill.clear();
                outcome = Some(Outcome::Unavailable(Unavailable::Malformed));
            }
        }
        outcome
    }
}

/// Listens for one spill.
#[derive(Debug)]
pub struct CallerIdReceiver {
    fsk: Vec<FskPath>,
    dtmf: Option<DtmfPath>,
    /// Blocks of steady mark at V.23's and at Bell 202's frequency.
    votes: (u32, u32),
    /// A caller ID read, final.
    received: Option<Outcome>,
    /// A spill that failed, kept unless a good one follows.
    failed: Option<Unavailable>,
}

impl CallerIdReceiver {
    /// A receiver for `signalling`, nothing heard yet.
    pub fn new(signalling: CidSignalling) -> CallerIdReceiver {
        use CidSignalling as S;
        let fsk = match signalling {
            S::Auto => vec![FskPath::new(Modem::V23), FskPath::new(Modem::Bell202)],
            S::V23 => vec![FskPath::new(Modem::V23)],
            S::Bell202 => vec![FskPath::new(Modem::Bell202)],
            S::Dtmf | S::Off => Vec::new(),
        };
        let dtmf = matches!(signalling, S::Auto | S::Dtmf).then(DtmfPath::default);
        CallerIdReceiver {
            fsk,
            dtmf,
            votes: (0, 0),
            received: None,
            failed: None,
        }
    }

    /// Takes 8 kHz samples. True once a good caller ID has been read
    /// (further samples are ignored) or a spill has failed.
    pub fn feed(&mut self, samples: &[i16]) -> bool {
        if self.received.is_some() {
            return true;
        }
        if self.fsk.len() > 1 {
            self.vote(samples);
        }
        let mut got = Vec::new();
        for path in &mut self.fsk {
            got.extend(path.feed(samples));
        }
        if let Some(d) = &mut self.dtmf {
            got.extend(d.feed(samples));
        }
        for o in got {
            match o {
                Outcome::Received(mut id) => {
                    if id.signal != Signal::Dtmf && self.fsk.len() > 1 {
                        id.signal = self.fsk_signal(id.signal);
                    }
                    self.received = Some(Outcome::Received(id));
                    return true;
                }
                Outcome::Unavailable(u) => self.failed = Some(u),
            }
        }
        self.failed.is_some()
    }

    /// Counts `samples` (a 20 ms block) as a steady mark of one modem
    /// when a single tone at its mark frequency holds them.
    fn vote(&mut self, samples: &[i16]) {
        if samples.len() < 80 {
            return;
        }
        let energy: f64 =
            samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64;
        let pure = |f: f64| {
            let a = tone_amplitude(samples, f);
            a * a / 2.0 >= PURE_TONE_SHARE * energy && energy > 0.0
        };
        if pure(Modem::V23.frequencies().0) {
            self.votes.0 += 1;
        } else if pure(Modem::Bell202.frequencies().0) {
            self.votes.1 += 1;
        }
    }

    /// Which FSK modem the spill just read used, by the votes; the
    /// receiver that framed it when they tie.
    fn fsk_signal(&self, framed_by: Signal) -> Signal {
        match self.votes.0.cmp(&self.votes.1) {
            std::cmp::Ordering::Greater => Signal::V23,
            std::cmp::Ordering::Less => Signal::Bell202,
            std::cmp::Ordering::Equal => framed_by,
        }
    }

    /// What the line gave so far: a caller ID, the failure of a spill,
    /// or nothing.
    pub fn outcome(&self) -> Outcome {
        match (&self.received, self.failed) {
            (Some(o), _) => o.clone(),
            (None, Some(u)) => Outcome::Unavailable(u),
            (None, None) => Outcome::Unavailable(Unavailable::NotSent),
        }
    }

    /// Whether a spill has been heard, good or bad.
    pub fn done(&self) -> bool {
        self.received.is_some() || self.failed.is_some()
    }
}
