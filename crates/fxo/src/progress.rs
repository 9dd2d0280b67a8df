//! Call-progress tones on the line, told apart by their cadence: every
//! Indonesian tone is 425 Hz, so only the rhythm says dial, busy or
//! congestion.
//!
//! Each 20 ms is "tone" when 425 Hz is above −40 dBm0 and holds most of
//! the energy (speech spreads its energy; a tone does not). The runs of
//! tone and silence are timed; busy (0.5/0.5 s) and congestion
//! (0.25/0.25 s) are reported once `count` bursts in a row and the gaps
//! between them fit the cadence, so one word of speech near 425 Hz never
//! hangs up a call. Dial tone is a burst longer than either.

use dering_media::dtmf::tone_amplitude;
use dering_media::tones::FREQUENCY_HZ;

/// A tone recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// 425 Hz, continuous.
    DialTone,
    /// 425 Hz, 0.5 s on, 0.5 s off.
    Busy,
    /// 425 Hz, 0.25 s on, 0.25 s off.
    Congestion,
}

/// Samples per analysis block: 20 ms.
const BLOCK: usize = 160;
/// −40 dBm0 as a peak amplitude.
const MIN_AMPLITUDE: f64 = 72.0;
/// The share of a block's energy the tone must hold.
const MIN_SHARE: f64 = 0.7;
/// Continuous tone this long is dial tone (busy's bursts are 500 ms).
const DIAL_MS: u32 = 800;
/// Tolerance on each run of a cadence: a run is counted in 20 ms
/// blocks, and a real exchange's timing wanders by a few percent.
const SLACK_MS: u32 = 60;

fn fits(ms: u32, nominal: u32) -> bool {
    ms.abs_diff(nominal) <= SLACK_MS
}

/// The cadence a run of `ms` fits, if any: busy 500, congestion 250.
fn cadence_of(ms: u32) -> Option<Progress> {
    if fits(ms, 500) {
        Some(Progress::Busy)
    } else if fits(ms, 250) {
        Some(Progress::Congestion)
    } else {
        None
    }
}

/// Recognises call-progress tones in 8 kHz audio fed in any chunk size.
#[derive(Debug)]
pub struct ToneDetector {
    count: u32,
    buf: Vec<i16>,
    /// Whether the current run is tone, and its length in ms.
    on: bool,
    run_ms: u32,
    /// The cadence the runs so far fit, and how many runs in a row.
    cadence: Option<Progress>,
    runs: u32,
    dial_reported: bool,
}

impl ToneDetector {
    /// A detector that wants `count` bursts of busy or congestion tone
    /// (Asterisk's `busycount`; 3 at least).
    pub fn new(count: u32) -> ToneDetector {
        ToneDetector {
            count: count.max(2),
            buf: Vec::with_capacity(BLOCK),
            on: false,
            run_ms: 0,
            cadence: None,
            runs: 0,
            dial_reported: false,
        }
    }

    /// Takes samples; returns the tones recognised in them.
    pub fn feed(&mut self, samples: &[i16]) -> Vec<Progress> {
        let mut found = Vec::new();
        for s in samples {
            self.buf.push(*s);
            if self.buf.len() == BLOCK {
                let on = is_tone(&self.buf);
                self.buf.clear();
                found.extend(self.block(on));
            }
        }
        found
    }

    fn block(&mut self, on: bool) -> Option<Progress> {
        if on == self.on {
            self.run_ms += 20;
            if on && self.run_ms >= DIAL_MS && !self.dial_reported {
                self.dial_reported = true;
                self.cadence = None;
                self.runs = 0;
                return Some(Progress::DialTone);
            }
            return None;
        }
        // A run ended: does it continue the cadence?
        let ended = self.run_ms;
        let was_on = self.on;
        self.on = on;
        self.run_ms = 20;
        if !was_on {
            self.dial_reported = false;
        }
        match cadence_of(ended) {
            Some(c) if self.cadence == Some(c) => self.runs += 1,
            // The first burst starts a cadence; a gap cannot.
            Some(c) if was_on => {
                self.cadence = Some(c);
                self.runs = 1;
            }
            _ => {
                self.cadence = None;
                self.runs = 0;
            }
        }
        // `count` bursts and the gaps between them, ending on a burst.
        if was_on && self.runs >= 2 * self.count - 1 {
            let c = self.cadence;
            self.cadence = None;
            self.runs = 0;
            return c;
        }
        None
    }
}

fn is_tone(block: &[i16]) -> bool {
    let a = tone_amplitude(block, FREQUENCY_HZ);
    if a < MIN_AMPLITUDE {
        return false;
    }
    let mean_square = block.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / block.len() as f64;
    a * a / 2.0 >= MIN_SHARE * mean_square
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cadence(on_ms: usize, off_ms: usize, total_ms: usize) -> Vec<i16> {
        (0..total_ms * 8)
            .map(|i| {
                let t = i % ((on_ms + off_ms) * 8);
                if t < on_ms * 8 {
                    let x = 2.0 * std::f64::consts::PI * 425.0 * i as f64 / 8000.0;
                    (3000.0 * x.sin()) as i16
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn each_cadence_is_itself() {
        let mut d = ToneDetector::new(3);
        assert_eq!(d.feed(&cadence(500, 500, 4000)), [Progress::Busy]);
        let mut d = ToneDetector::new(3);
        assert_eq!(d.feed(&cadence(250, 250, 2000)), [Progress::Congestion]);
        let mut d = ToneDetector::new(3);
        assert_eq!(d.feed(&cadence(1000, 0, 3000)), [Progress::DialTone]);
        // Ringback (1 s on, 4 s off) is none of them.
        let mut d = ToneDetector::new(3);
        assert!(d
            .feed(&cadence(1000, 4000, 20_000))
            .iter()
            .all(|p| *p == Progress::DialTone));
    }
}
