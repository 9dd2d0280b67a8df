//! G.722 at 64 kbit/s (16 kHz audio): sub-band ADPCM as ITU-T G.722
//! specifies it, block by block, in the standard's fixed-point arithmetic,
//! so that the code bytes and the decoded samples are the reference's bit
//! for bit (checked against spandsp, which runs the ITU test sequences, in
//! `hwtests/tests/codecs.rs`). Transcoding between a G.722 leg (desk
//! phones default to it) and a G.711 leg (E1 trunks are A-law) is in
//! [`crate::codec`].
//!
//! Written here rather than taken from a crate: the Rust ports on the
//! registry start from a zeroed scale factor (the standard starts the
//! lower band at 32 and the upper at 8), so their output drifts from the
//! reference's from the first byte on; see decision 0006.
//!
//! RTP quirk (RFC 3551 §4.5.2): G.722's RTP clock is 8 kHz although it
//! samples at 16 kHz, so a 20 ms packet is 160 bytes and advances the
//! timestamp by 160, like G.711.

/// The static RTP payload type of G.722.
pub const PAYLOAD_TYPE: u8 = 9;

/// QMF coefficients (G.722 table 11), in the order the transmit filter
/// applies them to the older of each sample pair; the other half of the
/// pair uses them reversed.
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
const QMF_REV: [i32; 12] = [-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3];

/// Lower band: quantizer decision levels (QUANTL), inverse quantizer
/// outputs for 6 bits (INVQBL) and 4 bits (INVQAL), codes for negative and
/// positive differences, log-scale steps (LOGSCL).
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
const ILN: [u8; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
const ILP: [u8; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];

/// Upper band: inverse quantizer (INVQAH), codes, log-scale steps.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const IHN: [u8; 3] = [0, 1, 0];
const IHP: [u8; 3] = [0, 3, 2];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [usize; 4] = [2, 1, 2, 1];

/// Scale factor antilog table (SCALEL, SCALEH).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

fn sat16(x: i32) -> i16 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

fn add16(a: i16, b: i16) -> i16 {
    a.saturating_add(b)
}

/// `(a * b) >> 15` truncated to 16 bits, as the standard's multiplier does.
fn mul15(a: i32, b: i32) -> i16 {
    ((a * b) >> 15) as i16
}

/// The 12-tap dot product over a ring buffer whose oldest entry is at
/// `start`.
fn ring_dot(ring: &[i16; 12], coeffs: &[i32; 12], start: usize) -> i32 {
    (0..12)
        .map(|i| i32::from(ring[(start + i) % 12]) * coeffs[i])
        .sum()
}

/// One sub-band's ADPCM state: the adaptive predictor (two poles, six
/// zeros) and the quantizer scale factor.
#[derive(Debug, Clone)]
struct Band {
    /// Signal estimate.
    s: i16,
    /// Zero-section output.
    sz: i16,
    /// Last reconstructed signal.
    r: i16,
    /// Pole coefficients.
    a: [i16; 2],
    /// Zero coefficients.
    b: [i16; 6],
    /// Last two partially reconstructed signals.
    p: [i16; 2],
    /// Quantized differences, newest first.
    d: [i16; 7],
    /// Log scale factor.
    nb: i16,
    /// Scale factor.
    det: i16,
}

impl Band {
    fn new(det: i16) -> Band {
        Band {
            s: 0,
            sz: 0,
            r: 0,
            a: [0; 2],
            b: [0; 6],
            p: [0; 2],
            d: [0; 7],
            nb: 0,
            det,
        }
    }

    /// LOGSCL/LOGSCH then SCALEL/SCALEH: the next scale factor after a
    /// step of `w` in the log domain, with `limit` the ceiling of the log
    /// factor and `shift` its scale (8 lower band, 10 upper).
    fn adapt_scale(&mut self, w: i32, limit: i32, shift: i32) {
        let nb = ((i32::from(self.nb) * 127) >> 7) + w;
        self.nb = nb.clamp(0, limit) as i16;
        let nb = i32::from(self.nb);
        let wd1 = ((nb >> 6) & 31) as usize;
        let wd2 = shift - (nb >> 11);
        let wd3 = if wd2 < 0 {
            ILB[wd1] << -wd2
        } else {
            ILB[wd1] >> wd2
        };
        self.det = (wd3 << 2) as i16;
    }

    /// Block 4: reconstruction, predictor adaptation (UPPOL2, UPPOL1,
    /// UPZERO), delays and the next estimate (FILTEP, FILTEZ, PREDIC) from
    /// the quantized difference `dx`.
    fn predict(&mut self, dx: i16) {
        // RECONS, PARREC
        let r = add16(self.s, dx);
        let p = add16(self.sz, dx);
        // UPPOL2
        let wd1 = i32::from(sat16(i32::from(self.a[0]) << 2));
        let wd32 = if (p ^ self.p[0]) < 0 { wd1 } else { -wd1 }.min(32767);
        let sign2 = if (p ^ self.p[1]) < 0 { -128 } else { 128 };
        let a1 =
            (sign2 + (wd32 >> 7) + ((i32::from(self.a[1]) * 32512) >> 15)).clamp(-12288, 12288);
        let a1 = a1 as i16;
        // UPPOL1
        let wd1: i16 = if (p ^ self.p[0]) < 0 { -192 } else { 192 };
        let mut a0 = add16(wd1, mul15(i32::from(self.a[0]), 32640));
        let lim = 15360i16.saturating_sub(a1);
        if i32::from(a0).abs() > i32::from(lim) {
            a0 = if a0 < 0 { -lim } else { lim };
        }
        // FILTEP
        let wd1 = mul15(i32::from(a0), i32::from(add16(r, r)));
        let wd2 = mul15(i32::from(a1), i32::from(add16(self.r, self.r)));
        let sp = add16(wd1, wd2);
        self.r = r;
        self.a = [a0, a1];
        self.p = [p, self.p[0]];
        // UPZERO, DELAYA, FILTEZ
        let step: i16 = if dx == 0 { 0 } else { 128 };
        self.d[0] = dx;
        let mut sz = 0i32;
        for i in (0..6).rev() {
            let wd2 = if (self.d[i + 1] ^ dx) < 0 {
                -step
            } else {
                step
            };
            self.b[i] = add16(wd2, mul15(i32::from(self.b[i]), 32640));
            let wd3 = add16(self.d[i], self.d[i]);
            sz += (i32::from(self.b[i]) * i32::from(wd3)) >> 15;
            self.d[i + 1] = self.d[i];
        }
        self.sz = sat16(sz);
        // PREDIC
        self.s = add16(sp, self.sz);
    }
}

/// The G.722 encoder proper: 16 kHz PCM in, one code byte per sample pair.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// Transmit QMF history: the older and the newer sample of each pair.
    x: [i16; 12],
    y: [i16; 12],
    ptr: usize,
    band: [Band; 2],
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            x: [0; 12],
            y: [0; 12],
            ptr: 0,
            band: [Band::new(32), Band::new(8)],
        }
    }
}

impl Encoder {
    /// Encodes one sample pair.
    pub fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        // Transmit QMF: split into the lower and upper band.
        self.x[self.ptr] = first;
        self.y[self.ptr] = second;
        self.ptr = (self.ptr + 1) % 12;
        let odd = ring_dot(&self.x, &QMF, self.ptr);
        let even = ring_dot(&self.y, &QMF_REV, self.ptr);
        let xlow = ((even + odd) >> 14) as i16;
        let xhigh = ((even - odd) >> 14) as i16;

        // Lower band: SUBTRA, QUANTL, INVQAL, scale, predictor.
        let lo = &mut self.band[0];
        let el = i32::from(xlow.saturating_sub(lo.s));
        let wd = if el >= 0 { el } else { !el };
        let det = i32::from(lo.det);
        let i = (1..30).find(|&i| wd < (Q6[i] * det) >> 12).unwrap_or(30);
        let ilow = if el < 0 { ILN[i] } else { ILP[i] };
        let ril = usize::from(ilow >> 2);
        let dlow = mul15(det, QM4[ril]);
        lo.adapt_scale(WL[RL42[ril]], 18432, 8);
        lo.predict(dlow);

        // Upper band: SUBTRA, QUANTH, INVQAH, scale, predictor.
        let hi = &mut self.band[1];
        let eh = i32::from(xhigh.saturating_sub(hi.s));
        let wd = if eh >= 0 { eh } else { !eh };
        let det = i32::from(hi.det);
        let mih = if wd >= (564 * det) >> 12 { 2 } else { 1 };
        let ihigh = if eh < 0 { IHN[mih] } else { IHP[mih] };
        let dhigh = mul15(det, QM2[usize::from(ihigh)]);
        hi.adapt_scale(WH[RH2[usize::from(ihigh)]], 22528, 10);
        hi.predict(dhigh);

        (ihigh << 6) | ilow
    }
}

/// The G.722 decoder proper: one code byte in, two 16 kHz samples out.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// Receive QMF history: sum and difference of the bands.
    x: [i16; 12],
    y: [i16; 12],
    ptr: usize,
    band: [Band; 2],
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            x: [0; 12],
            y: [0; 12],
            ptr: 0,
            band: [Band::new(32), Band::new(8)],
        }
    }
}

impl Decoder {
    /// Decodes one code byte into a sample pair.
    pub fn decode_byte(&mut self, code: u8) -> [i16; 2] {
        let ilow = usize::from(code & 0x3f);
        let ihigh = usize::from(code >> 6);

        // Lower band: INVQBL for the output, INVQAL for the predictor.
        let lo = &mut self.band[0];
        let det = i32::from(lo.det);
        let rlow = (i32::from(lo.s) + ((det * QM6[ilow]) >> 15)).clamp(-16384, 16383);
        let ril = ilow >> 2;
        let dlow = mul15(det, QM4[ril]);
        lo.adapt_scale(WL[RL42[ril]], 18432, 8);
        lo.predict(dlow);

        // Upper band.
        let hi = &mut self.band[1];
        let dhigh = mul15(i32::from(hi.det), QM2[ihigh]);
        let rhigh = (i32::from(dhigh) + i32::from(hi.s)).clamp(-16384, 16383);
        hi.adapt_scale(WH[RH2[ihigh]], 22528, 10);
        hi.predict(dhigh);

        // Receive QMF: back to one 16 kHz signal.
        self.x[self.ptr] = sat16(rlow + rhigh);
        self.y[self.ptr] = sat16(rlow - rhigh);
        self.ptr = (self.ptr + 1) % 12;
        [
            sat16(ring_dot(&self.y, &QMF_REV, self.ptr) >> 11),
            sat16(ring_dot(&self.x, &QMF, self.ptr) >> 11),
        ]
    }
}

/// Encodes 16 kHz PCM to G.722, 20 ms frames at a time.
///
/// 8 kHz audio (a G.711 leg's) is first upsampled here (the standard's
/// own 8 kHz mode leaves the upper band empty and skips the QMF, whose
/// gain and delay the decoder then does not match).
#[derive(Debug)]
pub struct G722Encoder {
    inner: Encoder,
    up: Option<crate::resample::Upsampler2x>,
    wide: Vec<i16>,
    /// A sample held back so the codec always gets whole pairs.
    odd: Option<i16>,
}

impl G722Encoder {
    /// `from_8k`: the input is 8 kHz audio (upsampled to 16 kHz here).
    pub fn new(from_8k: bool) -> G722Encoder {
        G722Encoder {
            inner: Encoder::default(),
            up: from_8k.then(crate::resample::Upsampler2x::new),
            wide: Vec::new(),
            odd: None,
        }
    }

    pub fn encode(&mut self, pcm: &[i16]) -> Vec<u8> {
        self.wide.clear();
        self.wide.extend(self.odd.take());
        match self.up.as_mut() {
            Some(up) => up.process(pcm, &mut self.wide),
            None => self.wide.extend_from_slice(pcm),
        }
        if self.wide.len() % 2 == 1 {
            self.odd = self.wide.pop();
        }
        self.wide
            .chunks_exact(2)
            .map(|p| self.inner.encode_pair(p[0], p[1]))
            .collect()
    }
}

/// Decodes G.722 to 16 kHz PCM (or to 8 kHz, for a G.711 leg: decoded at
/// 16 kHz, then low-passed and decimated, which keeps the gain and phase of
/// the band-split filters that the standard's 8 kHz output mode skips).
#[derive(Debug)]
pub struct G722Decoder {
    inner: Decoder,
    down: Option<crate::resample::Downsampler2x>,
}

impl G722Decoder {
    /// `to_8k`: produce 8 kHz audio.
    pub fn new(to_8k: bool) -> G722Decoder {
        G722Decoder {
            inner: Decoder::default(),
            down: to_8k.then(crate::resample::Downsampler2x::new),
        }
    }

    pub fn decode(&mut self, data: &[u8]) -> Vec<i16> {
        let wide: Vec<i16> = data
            .iter()
            .flat_map(|c| self.inner.decode_byte(*c))
            .collect();
        match self.down.as_mut() {
            Some(d) => {
                let mut out = Vec::with_capacity(wide.len() / 2);
                d.process(&wide, &mut out);
                out
            }
            None => wide,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sine(freq: f64, rate: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as i16)
            .collect()
    }

    /// Signal-to-noise ratio (dB) of `got` against `want`, after finding
    /// the codec's delay.
    pub(crate) fn snr(want: &[i16], got: &[i16]) -> f64 {
        (0..64)
            .map(|d| {
                let (mut s, mut e) = (0.0, 0.0);
                for i in 400..want.len().min(got.len() - d) {
                    let w = f64::from(want[i]);
                    let g = f64::from(got[i + d]);
                    s += w * w;
                    e += (w - g) * (w - g);
                }
                10.0 * (s / e.max(1.0)).log10()
            })
            .fold(f64::MIN, f64::max)
    }

    #[test]
    fn wideband_round_trip_keeps_a_tone_in_each_band() {
        for freq in [1000.0, 5000.0] {
            let x = sine(freq, 16000.0, 16000, 8000.0);
            let mut enc = G722Encoder::new(false);
            let mut dec = G722Decoder::new(false);
            let mut y = Vec::new();
            for frame in x.chunks(crate::FRAME_16K) {
                let bytes = enc.encode(frame);
                assert_eq!(bytes.len(), 160, "64 kbit/s: 160 bytes a 20 ms frame");
                y.extend(dec.decode(&bytes));
            }
            assert_eq!(y.len(), x.len());
            let r = snr(&x, &y);
            // The upper band has 2 bits a sample, the lower 6.
            let want = if freq < 4000.0 { 25.0 } else { 20.0 };
            assert!(r > want, "{freq} Hz: SNR {r:.1} dB");
        }
    }
}
