//! In-band DTMF detection to ITU-T Q.24, for callers whose phones or
//! trunks send the keys as audio instead of RFC 4733 events.
//!
//! Every 10 ms the detector looks at the last 20 ms (160 samples at 8 kHz,
//! Hann window). For each frequency group it takes the strongest of the
//! four nominal frequencies (Goertzel), then finds where that tone really
//! is by searching ±4% around the nominal frequency, so it can tell a key
//! sent 1.5% off frequency (Q.24: must be accepted) from one 3.5% off
//! (must be rejected); the boundary is 2.5%. A window holds a key when:
//!
//! - each tone is within 2.5% of its nominal frequency,
//! - each tone is at least −30 dBm0,
//! - twist is within limits: the high-group tone at most 8 dB below the
//!   low-group tone (normal twist) and at most 4 dB above it (reverse),
//! - the two tones carry at least 80% of the window's energy (speech and
//!   music spread theirs: this is the talk-off guard).
//!
//! A key is reported once when three windows in a row hold it, each within
//! 3 dB of the strongest of them: a key of 40 ms or more is always
//! accepted, one of 23 ms or less never. A new key (or the same key again)
//! needs a window without it in between.

use std::collections::VecDeque;
use std::f64::consts::PI;

pub const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
pub const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

const RATE: f64 = 8000.0;
/// The analysis window: 20 ms.
const WINDOW: usize = 160;
/// A decision every 10 ms.
const HOP: usize = 80;
/// Frequency deviation accepted (Q.24: accept 1.5%, reject 3.5%).
const MAX_DEVIATION: f64 = 0.025;
/// The search around a nominal frequency.
const SEARCH: f64 = 0.04;
const SEARCH_STEP: f64 = 0.0025;
/// −30 dBm0 as a peak amplitude (G.711 full-scale sine is +3.14 dBm0).
const MIN_AMPLITUDE: f64 = 720.0;
const MAX_NORMAL_TWIST_DB: f64 = 8.0;
const MAX_REVERSE_TWIST_DB: f64 = 4.0;
const MIN_TONE_SHARE: f64 = 0.8;
/// Windows in a row that must hold the key.
const CONFIRM: usize = 3;

/// What one window holds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Hit {
    key: char,
    /// The weaker tone's amplitude, for the stability test.
    amplitude: f64,
}

/// Detects keys in 8 kHz audio fed in any chunk size.
#[derive(Debug)]
pub struct Detector {
    window: Vec<f64>,
    /// The last `WINDOW` samples.
    buf: VecDeque<f64>,
    since_decision: usize,
    run: Vec<Hit>,
    reported: bool,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new()
    }
}

impl Detector {
    pub fn new() -> Detector {
        Detector {
            window: (0..WINDOW)
                .map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / WINDOW as f64).cos())
                .collect(),
            buf: VecDeque::with_capacity(WINDOW + 1),
            since_decision: 0,
            run: Vec::new(),
            reported: false,
        }
    }

    /// Takes samples; returns the keys recognised in them, in order.
    pub fn feed(&mut self, samples: &[i16]) -> Vec<char> {
        let mut keys = Vec::new();
        for s in samples {
            if self.buf.len() == WINDOW {
                self.buf.pop_front();
            }
            self.buf.push_back(f64::from(*s));
            self.since_decision += 1;
            if self.buf.len() == WINDOW && self.since_decision >= HOP {
                self.since_decision = 0;
                let hit = self.analyse();
                if let Some(k) = self.decide(hit) {
                    keys.push(k);
                }
            }
        }
        keys
    }

    fn decide(&mut self, hit: Option<Hit>) -> Option<char> {
        match hit {
            Some(h) if self.run.last().is_none_or(|l| l.key == h.key) => self.run.push(h),
            Some(h) => {
                self.run = vec![h];
                self.reported = false;
            }
            None => {
                self.run.clear();
                self.reported = false;
            }
        }
        if self.reported || self.run.len() < CONFIRM {
            return None;
        }
        let max = self.run.iter().map(|h| h.amplitude).fold(0.0, f64::max);
        // Within 3 dB of the strongest: amplitude ratio 1/√2.
        let steady = self
            .run
            .iter()
            .filter(|h| h.amplitude >= max / std::f64::consts::SQRT_2)
            .count();
        if steady >= CONFIRM {
            self.reported = true;
            self.run.last().map(|h| h.key)
        } else {
            None
        }
    }

    fn magnitude(&self, x: &[f64], freq: f64) -> f64 {
        let (re, im) = dft(x, freq);
        (re * re + im * im).sqrt()
    }

    /// The peak near `nominal`: (frequency, DFT magnitude there).
    fn peak_near(&self, x: &[f64], nominal: f64) -> (f64, f64) {
        let steps = (SEARCH / SEARCH_STEP).round() as i32;
        let mut best = (nominal, self.magnitude(x, nominal));
        let mut mags = Vec::with_capacity((2 * steps + 1) as usize);
        for k in -steps..=steps {
            let f = nominal * (1.0 + f64::from(k) * SEARCH_STEP);
            let m = self.magnitude(x, f);
            mags.push((f, m));
            if m > best.1 {
                best = (f, m);
            }
        }
        // Refine between grid points with a parabola through the peak and
        // its neighbours.
        if let Some(i) = mags.iter().position(|(f, _)| *f == best.0) {
            if i > 0 && i + 1 < mags.len() {
                let (a, b, c) = (mags[i - 1].1, mags[i].1, mags[i + 1].1);
                let den = a - 2.0 * b + c;
                if den < 0.0 {
                    let p = 0.5 * (a - c) / den;
                    best.0 *= 1.0 + p * SEARCH_STEP;
                }
            }
        }
        best
    }

    fn analyse(&self) -> Option<Hit> {
        let x: Vec<f64> = self
            .buf
            .iter()
            .zip(&self.window)
            .map(|(s, w)| s * w)
            .collect();
        let energy: f64 = x.iter().map(|v| v * v).sum();
        if energy <= 0.0 {
            return None;
        }
        let strongest = |group: &[f64; 4]| {
            group
                .iter()
                .enumerate()
                .map(|(i, f)| (i, self.magnitude(&x, *f)))
                .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
        };
        let (row, m_row) = strongest(&LOW);
        let (col, m_col) = strongest(&HIGH);
        // Cheap rejections first: most windows are speech or silence. A
        // tone within the accepted deviation keeps more than 80% of its
        // amplitude at the nominal frequency (Hann main lobe at ½ bin).
        let amp = |m: f64| 4.0 * m / WINDOW as f64;
        if amp(m_row) < MIN_AMPLITUDE * 0.6 || amp(m_col) < MIN_AMPLITUDE * 0.6 {
            return None;
        }
        if 3.0 * (m_row * m_row + m_col * m_col) / (WINDOW as f64) < 0.3 * energy {
            return None;
        }
        let (f_row, m_row) = self.peak_near(&x, LOW[row]);
        let (f_col, m_col) = self.peak_near(&x, HIGH[col]);
        // A sine of amplitude A gives |X| = A·N/4 through a Hann window.
        let (a_row, a_col) = (amp(m_row), amp(m_col));
        if a_row < MIN_AMPLITUDE || a_col < MIN_AMPLITUDE {
            return None;
        }
        let deviation = |f: f64, nominal: f64| ((f - nominal) / nominal).abs();
        if deviation(f_row, LOW[row]) > MAX_DEVIATION || deviation(f_col, HIGH[col]) > MAX_DEVIATION
        {
            return None;
        }
        let twist_db = 20.0 * (a_row / a_col).log10();
        if twist_db > MAX_NORMAL_TWIST_DB || -twist_db > MAX_REVERSE_TWIST_DB {
            return None;
        }
        // A windowed sine carries 3·|X|²/N of the window's energy.
        let tones = 3.0 * (m_row * m_row + m_col * m_col) / WINDOW as f64;
        if tones < MIN_TONE_SHARE * energy {
            return None;
        }
        Some(Hit {
            key: KEYS[row][col],
            amplitude: a_row.min(a_col),
        })
    }
}

/// The two frequencies of `key`, if it is a DTMF key.
/// The DFT of 8 kHz samples `x` at `freq` (any frequency, not only a
/// bin's), as (re, im): Goertzel, then the complex value from the last two
/// states.
fn dft(x: &[f64], freq: f64) -> (f64, f64) {
    let w = 2.0 * PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 - s2 * w.cos(), s2 * w.sin())
}

/// The amplitude of the sine at `freq` in 8 kHz `samples` (a full-scale
/// sine gives about 32767): how tests and measurements tell what a party
/// hears.
pub fn tone_amplitude(samples: &[i16], freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let x: Vec<f64> = samples.iter().map(|s| f64::from(*s)).collect();
    let (re, im) = dft(&x, freq);
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

pub fn frequencies(key: char) -> Option<(f64, f64)> {
    let key = key.to_ascii_uppercase();
    KEYS.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|k| *k == key)
            .map(|c| (LOW[r], HIGH[c]))
    })
}

/// Generates `key` for `ms` milliseconds at 8 kHz with each tone at
/// `dbm0`, both frequencies scaled by `1 + deviation`, the high tone
/// `twist_db` below the low one. For prompts that send DTMF and for tests.
pub fn generate(key: char, ms: u32, dbm0: f64, deviation: f64, twist_db: f64) -> Vec<i16> {
    let Some((lo, hi)) = frequencies(key) else {
        return Vec::new();
    };
    let a = crate::tones::dbm0_to_amplitude(dbm0);
    let b = a * 10f64.powf(-twist_db / 20.0);
    let n = (ms as usize) * 8;
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE;
            let v = a * (2.0 * PI * lo * (1.0 + deviation) * t).sin()
                + b * (2.0 * PI * hi * (1.0 + deviation) * t).sin();
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_amplitude_finds_a_sine_and_not_its_neighbour() {
        let x: Vec<i16> = (0..8000)
            .map(|i| (10_000.0 * (2.0 * PI * 440.0 * f64::from(i) / RATE).sin()) as i16)
            .collect();
        let a = tone_amplitude(&x, 440.0);
        assert!((a - 10_000.0).abs() < 100.0, "{a}");
        assert!(tone_amplitude(&x, 1000.0) < 50.0);
        assert_eq!(tone_amplitude(&[], 440.0), 0.0);
    }

    fn detect(x: &[i16]) -> Vec<char> {
        let mut d = Detector::new();
        let mut keys = Vec::new();
        for frame in x.chunks(160) {
            keys.extend(d.feed(frame));
        }
        keys.extend(d.feed(&[0; 400]));
        keys
    }

    fn with_pause(parts: &[Vec<i16>], pause_ms: usize) -> Vec<i16> {
        let mut x = vec![0i16; 200];
        for p in parts {
            x.extend(p);
            x.extend(vec![0i16; pause_ms * 8]);
        }
        x
    }

    #[test]
    fn every_key_at_nominal_frequency() {
        let keys = "123A456B789C*0#D";
        let parts: Vec<_> = keys
            .chars()
            .map(|k| generate(k, 50, -10.0, 0.0, 0.0))
            .collect();
        let got: String = detect(&with_pause(&parts, 50)).into_iter().collect();
        assert_eq!(got, keys);
    }

    #[test]
    fn frequency_deviation_edges_of_q24() {
        for dev in [-0.015, 0.015] {
            let got = detect(&generate('5', 60, -10.0, dev, 0.0));
            assert_eq!(got, ['5'], "{dev}: accept");
        }
        for dev in [-0.035, 0.035, 0.05] {
            let got = detect(&generate('5', 60, -10.0, dev, 0.0));
            assert!(got.is_empty(), "{dev}: reject, got {got:?}");
        }
        // Both edges on every key.
        for k in "147*2580369#ABCD".chars() {
            assert_eq!(
                detect(&generate(k, 60, -10.0, 0.015, 0.0)),
                [k],
                "{k} +1.5%"
            );
            assert!(
                detect(&generate(k, 60, -10.0, 0.035, 0.0)).is_empty(),
                "{k} +3.5%"
            );
        }
    }

    #[test]
    fn duration_edges() {
        // 40 ms is accepted at any alignment with the 10 ms decisions;
        // 23 ms never.
        for offset in 0..10 {
            let mut x = vec![0i16; offset * 8 + 3];
            x.extend(generate('9', 40, -10.0, 0.0, 0.0));
            assert_eq!(detect(&x), ['9'], "40 ms at offset {offset} ms");
            let mut y = vec![0i16; offset * 8 + 3];
            y.extend(generate('9', 23, -10.0, 0.0, 0.0));
            assert!(detect(&y).is_empty(), "23 ms at offset {offset} ms");
        }
    }

    #[test]
    fn twist_and_level_limits() {
        assert_eq!(detect(&generate('1', 60, -10.0, 0.0, 6.0)), ['1']);
        assert_eq!(detect(&generate('1', 60, -10.0, 0.0, -3.0)), ['1']);
        assert!(detect(&generate('1', 60, -10.0, 0.0, 10.0)).is_empty());
        assert!(detect(&generate('1', 60, -10.0, 0.0, -6.0)).is_empty());
        assert_eq!(detect(&generate('D', 60, -25.0, 0.0, 0.0)), ['D']);
        assert!(detect(&generate('D', 60, -36.0, 0.0, 0.0)).is_empty());
    }

    #[test]
    fn a_held_key_is_one_key_and_a_repeat_needs_a_pause() {
        assert_eq!(detect(&generate('0', 2000, -10.0, 0.0, 0.0)), ['0']);
        let p = generate('0', 60, -10.0, 0.0, 0.0);
        assert_eq!(detect(&with_pause(&[p.clone(), p], 40)), ['0', '0']);
    }

    #[test]
    fn survives_noise_and_rejects_single_tones_and_dial_tone() {
        // White noise 20 dB under the tones.
        let mut seed = 12345u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((seed >> 16) as f64 / 32768.0 - 1.0) * 700.0
        };
        let x: Vec<i16> = generate('8', 60, -10.0, 0.0, 0.0)
            .into_iter()
            .map(|s| (f64::from(s) + noise()) as i16)
            .collect();
        assert_eq!(detect(&x), ['8']);
        let mut dial = vec![0i16; 8000];
        crate::tones::ToneGenerator::new(crate::tones::Tone::Dial, 8000, -10.0).fill(&mut dial);
        assert!(detect(&dial).is_empty());
        let single: Vec<i16> = (0..800)
            .map(|i| (7000.0 * (2.0 * PI * 770.0 * i as f64 / RATE).sin()) as i16)
            .collect();
        assert!(detect(&single).is_empty());
        assert_eq!(frequencies('#'), Some((941.0, 1477.0)));
        assert_eq!(frequencies('x'), None);
    }
}
