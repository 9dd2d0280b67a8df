//! 1200 baud FSK reception for caller-ID spills: a non-coherent
//! demodulator and the asynchronous (start/stop bit) framing on it.
//!
//! The demodulator correlates the last baud's worth of samples with the
//! mark and the space frequency (a sliding DFT at each) and says "mark"
//! when the mark correlation is the stronger, as spandsp's `fsk_rx` and
//! most CPE decoders do: over one baud the two frequencies of either
//! modem are far enough apart to be told, and nothing longer fits inside
//! one bit. Below a minimum level there is no carrier, and no bits.

use std::f64::consts::PI;

/// The two FSK modems caller ID is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modem {
    /// ITU-T V.23 (ETSI EN 300 659): mark 1300 Hz, space 2100 Hz.
    V23,
    /// Bell 202 (Telcordia GR-30): mark 1200 Hz, space 2200 Hz.
    Bell202,
}

impl Modem {
    /// (mark, space) in Hz.
    pub fn frequencies(self) -> (f64, f64) {
        match self {
            Modem::V23 => (1300.0, 2100.0),
            Modem::Bell202 => (1200.0, 2200.0),
        }
    }
}

const RATE: f64 = 8000.0;
const BAUD: f64 = 1200.0;
/// Samples per bit (6⅔ at 8 kHz): bit times are kept fractional so 300
/// bits of seizure do not drift.
const BIT: f64 = RATE / BAUD;
/// The correlation span: one baud, rounded.
const SPAN: usize = 7;
/// The weakest carrier taken (about −40 dBm0), as the summed squared
/// magnitude of the two correlations of a sine of that amplitude.
const MIN_POWER: f64 = {
    let a = 100.0 * SPAN as f64 / 2.0;
    a * a
};

/// One sliding correlator at one frequency.
#[derive(Debug, Clone)]
struct Correlator {
    step: f64,
    phase: f64,
    ring: [(f64, f64); SPAN],
    sum: (f64, f64),
}

impl Correlator {
    fn new(freq: f64) -> Correlator {
        Correlator {
            step: 2.0 * PI * freq / RATE,
            phase: 0.0,
            ring: [(0.0, 0.0); SPAN],
            sum: (0.0, 0.0),
        }
    }

    /// Adds sample `x` at ring slot `i`; returns the squared magnitude of
    /// the correlation over the span.
    fn push(&mut self, i: usize, x: f64) -> f64 {
        let v = (x * self.phase.cos(), -x * self.phase.sin());
        self.phase = (self.phase + self.step) % (2.0 * PI);
        let old = self.ring[i];
        self.ring[i] = v;
        self.sum = (self.sum.0 + v.0 - old.0, self.sum.1 + v.1 - old.1);
        self.sum.0 * self.sum.0 + self.sum.1 * self.sum.1
    }
}

/// One byte the framing took, with the marking (idle) bits before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Byte {
    /// The data bits, least significant first on the line.
    pub value: u8,
    /// Whole bit times of steady mark since the previous byte (or since
    /// the carrier came): a message starts after a long run of them.
    pub idle_bits: u32,
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    /// Waiting for a start bit; `mark_samples` of steady mark so far.
    Idle { mark_samples: u32 },
    /// Inside a character: `t` samples since the start bit began, the
    /// bits taken so far.
    Char {
        t: f64,
        bits: u16,
        taken: u32,
        idle_bits: u32,
    },
}

/// A 1200 baud FSK receiver with 8-N-1 framing, fed 8 kHz samples.
#[derive(Debug, Clone)]
pub struct FskReceiver {
    modem: Modem,
    mark: Correlator,
    space: Correlator,
    slot: usize,
    framing: Framing,
    carrier: bool,
}

impl FskReceiver {
    /// A receiver for `modem`, idle.
    pub fn new(modem: Modem) -> FskReceiver {
        let (m, s) = modem.frequencies();
        FskReceiver {
            modem,
            mark: Correlator::new(m),
            space: Correlator::new(s),
            slot: 0,
            framing: Framing::Idle { mark_samples: 0 },
            carrier: false,
        }
    }

    /// The modem this receiver listens for.
    pub fn modem(&self) -> Modem {
        self.modem
    }

    /// Whether a carrier was present at the last sample.
    pub fn carrier(&self) -> bool {
        self.carrier
    }

    /// Takes samples; appends the characters framed in them to `out`.
    pub fn feed(&mut self, samples: &[i16], out: &mut Vec<Byte>) {
        for s in samples {
            let x = f64::from(*s);
            let pm = self.mark.push(self.slot, x);
            let ps = self.space.push(self.slot, x);
            self.slot = (self.slot + 1) % SPAN;
            self.carrier = pm + ps >= MIN_POWER;
            if !self.carrier {
                // No carrier, no framing: a character cut by the carrier
                // going is lost, and the idle count starts again.
                self.framing = Framing::Idle { mark_samples: 0 };
                continue;
            }
            let bit = pm > ps;
            self.framing = match self.framing {
                Framing::Idle { mark_samples } if bit => Framing::Idle {
                    mark_samples: mark_samples.saturating_add(1),
                },
                Framing::Idle { mark_samples } => Framing::Char {
                    t: 0.0,
                    bits: 0,
                    taken: 0,
                    idle_bits: (f64::from(mark_samples) / BIT) as u32,
                },
                Framing::Char {
                    t,
                    mut bits,
                    mut taken,
                    idle_bits,
                } => {
                    let t = t + 1.0;
                    // Sample each bit at its middle: bit k (0 = start)
                    // spans [k·BIT, (k+1)·BIT).
                    let middle = (f64::from(taken) + 0.5) * BIT;
                    if t < middle {
                        Framing::Char {
                            t,
                            bits,
                            taken,
                            idle_bits,
                        }
                    } else if taken == 0 && bit {
                        // The start bit did not hold: a glitch.
                        Framing::Idle { mark_samples: 0 }
                    } else {
                        if taken >= 1 && bit {
                            bits |= 1 << (taken - 1);
                        }
                        taken += 1;
                        if taken < 10 {
                            Framing::Char {
                                t,
                                bits,
                                taken,
                                idle_bits,
                            }
                        } else {
                            // The stop bit (bit 9 of bits) must be mark.
                            if bits & (1 << 8) != 0 {
                                out.push(Byte {
                                    value: (bits & 0xFF) as u8,
                                    idle_bits,
                                });
                            }
                            // The rest of the stop bit counts as idle.
                            let rest = (10.0 * BIT - t).max(0.0) as u32;
                            Framing::Idle { mark_samples: rest }
                        }
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phase-continuous FSK modulator for the unit tests (the real
    /// generator, spandsp's, is in the integration tests).
    fn modulate(modem: Modem, bits: &[bool]) -> Vec<i16> {
        let (m, s) = modem.frequencies();
        let mut phase = 0.0f64;
        let mut out = Vec::new();
        let mut t = 0.0;
        for (k, b) in bits.iter().enumerate() {
            let f = if *b { m } else { s };
            while t < (k as f64 + 1.0) * BIT {
                out.push((8000.0 * phase.sin()) as i16);
                phase += 2.0 * PI * f / RATE;
                t += 1.0;
            }
        }
        out
    }

    fn frame(bytes: &[u8]) -> Vec<bool> {
        let mut bits = vec![true; 40];
        for b in bytes {
            bits.push(false);
            bits.extend((0..8).map(|i| b & (1 << i) != 0));
            bits.push(true);
        }
        bits.extend([true; 10]);
        bits
    }

    #[test]
    fn frames_bytes_on_both_modems() {
        for modem in [Modem::V23, Modem::Bell202] {
            let mut rx = FskReceiver::new(modem);
            let mut out = Vec::new();
            rx.feed(
                &modulate(modem, &frame(&[0x80, 0x00, 0xFF, 0x55, 0x31])),
                &mut out,
            );
            let values: Vec<u8> = out.iter().map(|b| b.value).collect();
            assert_eq!(values, [0x80, 0x00, 0xFF, 0x55, 0x31], "{modem:?}");
            assert!(out[0].idle_bits >= 35, "{:?}", out[0]);
            assert_eq!(out[1].idle_bits, 0);
        }
    }

    #[test]
    fn silence_and_a_weak_signal_give_nothing() {
        let mut rx = FskReceiver::new(Modem::V23);
        let mut out = Vec::new();
        rx.feed(&[0; 8000], &mut out);
        let weak: Vec<i16> = modulate(Modem::V23, &frame(&[0x41]))
            .iter()
            .map(|s| s / 200)
            .collect();
        rx.feed(&weak, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
