//! G.711 A-law and µ-law. The companding itself comes from
//! `audio-codec-algorithms` (checked bit-exact against sox over every
//! input by `tests/sox.rs`); decoding goes through 256-entry tables built
//! once, since the relay decodes far more often than it encodes.

use std::sync::OnceLock;

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};

/// Which G.711 law a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// PCMA, RTP payload type 8: Indonesia's E1 trunks and the default.
    Alaw,
    /// PCMU, RTP payload type 0.
    Ulaw,
}

impl Law {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Alaw => 8,
            Law::Ulaw => 0,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            8 => Some(Law::Alaw),
            0 => Some(Law::Ulaw),
            _ => None,
        }
    }

    /// The encoded value of digital silence.
    pub fn silence(self) -> u8 {
        self.encode_one(0)
    }

    pub fn encode_one(self, sample: i16) -> u8 {
        match self {
            Law::Alaw => encode_alaw(sample),
            Law::Ulaw => encode_ulaw(sample),
        }
    }

    pub fn decode_one(self, code: u8) -> i16 {
        self.table()[usize::from(code)]
    }

    /// Appends the encoding of `pcm` to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        out.extend(pcm.iter().map(|s| self.encode_one(*s)));
    }

    /// Appends the decoding of `data` to `out`.
    pub fn decode(self, data: &[u8], out: &mut Vec<i16>) {
        let t = self.table();
        out.extend(data.iter().map(|c| t[usize::from(*c)]));
    }

    fn table(self) -> &'static [i16; 256] {
        static A: OnceLock<[i16; 256]> = OnceLock::new();
        static U: OnceLock<[i16; 256]> = OnceLock::new();
        let (cell, f): (_, fn(u8) -> i16) = match self {
            Law::Alaw => (&A, decode_alaw),
            Law::Ulaw => (&U, decode_ulaw),
        };
        cell.get_or_init(|| std::array::from_fn(|i| f(i as u8)))
    }

    /// Converts one law to the other without going through a frame of PCM.
    pub fn transcode(self, to: Law, data: &[u8], out: &mut Vec<u8>) {
        if self == to {
            out.extend_from_slice(data);
        } else {
            out.extend(data.iter().map(|c| to.encode_one(self.decode_one(*c))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_from_the_recommendation() {
        // G.711 Table 1/2: the A-law code of 0 is 0xD5 (even bits
        // inverted), the µ-law code of 0 is 0xFF.
        assert_eq!(Law::Alaw.silence(), 0xD5);
        assert_eq!(Law::Ulaw.silence(), 0xFF);
        // The largest magnitudes.
        assert_eq!(Law::Alaw.encode_one(i16::MAX), 0xAA);
        assert_eq!(Law::Alaw.encode_one(i16::MIN), 0x2A);
        assert_eq!(Law::Ulaw.encode_one(i16::MAX), 0x80);
        assert_eq!(Law::Ulaw.encode_one(i16::MIN), 0x00);
        assert_eq!(Law::Alaw.decode_one(0xAA), 32256);
        assert_eq!(Law::Ulaw.decode_one(0x80), 32124);
    }

    #[test]
    fn decode_then_encode_is_the_identity_on_codes() {
        for law in [Law::Alaw, Law::Ulaw] {
            for c in 0..=255u8 {
                let back = law.encode_one(law.decode_one(c));
                // µ-law has two codes for zero (0x7F and 0xFF).
                if law == Law::Ulaw && c == 0x7F {
                    assert_eq!(back, 0xFF);
                } else {
                    assert_eq!(back, c, "{law:?} code {c:#x}");
                }
            }
        }
    }

    #[test]
    fn transcoding_keeps_the_signal() {
        let pcm: Vec<i16> = (0..160)
            .map(|n| (8000.0 * (n as f64 * 0.3).sin()) as i16)
            .collect();
        let mut a = Vec::new();
        Law::Alaw.encode(&pcm, &mut a);
        let mut u = Vec::new();
        Law::Alaw.transcode(Law::Ulaw, &a, &mut u);
        let mut back = Vec::new();
        Law::Ulaw.decode(&u, &mut back);
        for (x, y) in pcm.iter().zip(&back) {
            // Two quantisations: within 1/16 of the value, plus the step
            // at small values.
            assert!((i32::from(*x) - i32::from(*y)).abs() <= i32::from(x.unsigned_abs() / 16) + 32);
        }
        assert_eq!(Law::from_payload_type(8), Some(Law::Alaw));
        assert_eq!(Law::from_payload_type(18), None);
    }
}
