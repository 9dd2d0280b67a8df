//! G.722 (64 kbit/s, 16 kHz audio) through `ezk-g722`'s port of
//! spandsp's codec. Transcoding between a G.722 leg (desk phones default
//! to it) and a G.711 leg (E1 trunks are A-law) is in [`crate::codec`].
//!
//! RTP quirk (RFC 3551 §4.5.2): G.722's RTP clock is 8 kHz although it
//! samples at 16 kHz, so a 20 ms packet is 160 bytes and advances the
//! timestamp by 160, like G.711.

use ezk_g722::libg722::{decoder::Decoder, encoder::Encoder, Bitrate};

/// The static RTP payload type of G.722.
pub const PAYLOAD_TYPE: u8 = 9;

/// Encodes 16 kHz PCM to G.722.
///
/// 8 kHz audio (a G.711 leg's) is first upsampled here: the crate's own
/// 8 kHz input mode computes the code byte wrongly (a misplaced shift in
/// its port of spandsp's `g722_encode`) and sends a constant; see
/// docs/decisions/0006-media-library.md.
pub struct G722Encoder {
    inner: Encoder,
    up: Option<crate::resample::Upsampler2x>,
    wide: Vec<i16>,
    /// A sample held back so the codec always gets an even count.
    odd: Option<i16>,
}

impl std::fmt::Debug for G722Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("G722Encoder")
    }
}

impl G722Encoder {
    /// `from_8k`: the input is 8 kHz audio (upsampled to 16 kHz here).
    pub fn new(from_8k: bool) -> G722Encoder {
        G722Encoder {
            inner: Encoder::new(Bitrate::Mode1_64000, false, false),
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
        // The codec takes sample pairs (and asserts it).
        if self.wide.len() % 2 == 1 {
            self.odd = self.wide.pop();
        }
        self.inner.encode(&self.wide)
    }
}

/// Decodes G.722 to 16 kHz PCM (or to 8 kHz, for a G.711 leg: decoded at
/// 16 kHz, then low-passed and decimated, which keeps the gain and phase of
/// the band-split filters that the codec's own 8 kHz output mode skips).
pub struct G722Decoder {
    inner: Decoder,
    down: Option<crate::resample::Downsampler2x>,
}

impl std::fmt::Debug for G722Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("G722Decoder")
    }
}

impl G722Decoder {
    /// `to_8k`: produce 8 kHz audio.
    pub fn new(to_8k: bool) -> G722Decoder {
        G722Decoder {
            inner: Decoder::new(Bitrate::Mode1_64000, false, false),
            down: to_8k.then(crate::resample::Downsampler2x::new),
        }
    }

    pub fn decode(&mut self, data: &[u8]) -> Vec<i16> {
        let wide = self.inner.decode(data);
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
