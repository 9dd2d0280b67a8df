//! Call-progress tones of the Indonesian tone plan, all on 425 Hz:
//!
//! | tone | cadence |
//! |---|---|
//! | dial | continuous |
//! | ringback | 1 s on, 4 s off |
//! | busy | 0.5 s on, 0.5 s off |
//! | congestion | 0.25 s on, 0.25 s off |
//! | call waiting | 0.15 s on, 0.15 s off, 0.15 s on, 10 s off |
//!
//! A generator is phase-continuous across frames and exact to the sample:
//! cadences are counted in samples, not in frames.

/// The frequency of every Indonesian call-progress tone.
pub const FREQUENCY_HZ: f64 = 425.0;

/// The tones a caller may hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Dial,
    Ringback,
    Busy,
    Congestion,
    CallWaiting,
}

impl Tone {
    /// (on, off) pairs in milliseconds, repeated; an empty off means
    /// continuous.
    pub fn cadence_ms(self) -> &'static [(u32, u32)] {
        match self {
            Tone::Dial => &[(1000, 0)],
            Tone::Ringback => &[(1000, 4000)],
            Tone::Busy => &[(500, 500)],
            Tone::Congestion => &[(250, 250)],
            Tone::CallWaiting => &[(150, 150), (150, 10_000)],
        }
    }
}

/// Generates a tone at `rate` samples a second.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    /// The cadence as (on, off) sample counts.
    steps: Vec<(u64, u64)>,
    period: u64,
    /// Samples produced so far.
    n: u64,
    rate: f64,
    amplitude: f64,
}

impl ToneGenerator {
    /// `level_dbm0`: the tone's level; call-progress tones are sent at
    /// about −10 dBm0.
    pub fn new(tone: Tone, rate: u32, level_dbm0: f64) -> ToneGenerator {
        let per_ms = u64::from(rate) / 1000;
        let steps: Vec<(u64, u64)> = tone
            .cadence_ms()
            .iter()
            .map(|(on, off)| (u64::from(*on) * per_ms, u64::from(*off) * per_ms))
            .collect();
        let period = steps.iter().map(|(a, b)| a + b).sum();
        ToneGenerator {
            steps,
            period,
            n: 0,
            rate: f64::from(rate),
            amplitude: dbm0_to_amplitude(level_dbm0),
        }
    }

    fn is_on(&self, n: u64) -> bool {
        let mut t = n % self.period.max(1);
        for (on, off) in &self.steps {
            if t < *on {
                return true;
            }
            t -= on;
            if t < *off {
                return false;
            }
            t -= off;
        }
        false
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        let w = 2.0 * std::f64::consts::PI * FREQUENCY_HZ / self.rate;
        for s in out.iter_mut() {
            *s = if self.is_on(self.n) {
                (self.amplitude * (w * self.n as f64).sin()).round() as i16
            } else {
                0
            };
            self.n += 1;
        }
    }
}

/// The peak amplitude (16-bit linear) of a sine at `dbm0`: G.711's
/// full-scale sine is +3.14 dBm0.
pub fn dbm0_to_amplitude(dbm0: f64) -> f64 {
    32767.0 * 10f64.powf((dbm0 - FULL_SCALE_DBM0) / 20.0)
}

/// The level of G.711's largest sine (G.711 §4: +3.14 dBm0; not π).
#[allow(clippy::approx_constant)]
pub const FULL_SCALE_DBM0: f64 = 3.14;

#[cfg(test)]
mod tests {
    use super::*;

    /// (on?, length in samples) runs of the generator's cadence, checking
    /// on the way that the samples of every off run are silent and that
    /// every on run carries the tone.
    fn runs(g: &ToneGenerator, x: &[i16]) -> Vec<(bool, usize)> {
        let mut out: Vec<(bool, usize)> = Vec::new();
        for (n, s) in x.iter().enumerate() {
            let on = g.is_on(n as u64);
            if !on {
                assert_eq!(*s, 0, "sample {n} must be silent");
            }
            match out.last_mut() {
                Some((o, l)) if *o == on => *l += 1,
                _ => out.push((on, 1)),
            }
        }
        for (i, (on, len)) in out.iter().enumerate() {
            let start: usize = out[..i].iter().map(|r| r.1).sum();
            let peak = x[start..start + len]
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap_or(0);
            assert_eq!(*on, peak > 1000, "run {i} at {start}");
        }
        out
    }

    #[test]
    fn cadences_are_exact_to_the_sample() {
        let cases = [
            (
                Tone::Ringback,
                vec![(true, 8000), (false, 32000), (true, 8000)],
            ),
            (Tone::Busy, vec![(true, 4000), (false, 4000), (true, 4000)]),
            (
                Tone::Congestion,
                vec![(true, 2000), (false, 2000), (true, 2000)],
            ),
            (
                Tone::CallWaiting,
                vec![
                    (true, 1200),
                    (false, 1200),
                    (true, 1200),
                    (false, 80_000),
                    (true, 1200),
                ],
            ),
        ];
        for (tone, want) in cases {
            let mut g = ToneGenerator::new(tone, 8000, -10.0);
            let total: usize = want.iter().map(|(_, l)| l).sum();
            let mut x = vec![0i16; total];
            // In 20 ms frames, as the relay asks.
            for f in x.chunks_mut(160) {
                g.fill(f);
            }
            assert_eq!(runs(&g, &x), want, "{tone:?}");
        }
    }

    #[test]
    fn dial_tone_is_continuous_425_hz_at_the_level_asked() {
        let mut g = ToneGenerator::new(Tone::Dial, 8000, -10.0);
        let mut x = vec![0i16; 8000];
        g.fill(&mut x);
        // 425 zero crossings up and down in a second: 850 sign changes.
        let changes = x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((849..=851).contains(&changes), "{changes}");
        let peak = x.iter().map(|s| s.unsigned_abs()).max().unwrap();
        let want = dbm0_to_amplitude(-10.0);
        assert!(
            (f64::from(peak) - want).abs() < want * 0.01,
            "{peak} vs {want}"
        );
    }
}
