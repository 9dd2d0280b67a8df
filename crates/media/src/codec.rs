//! The audio codecs a Dering leg can talk (G.711 A-law and µ-law, G.722)
//! behind one interface: a [`Decoder`] gives 8 kHz PCM, an [`Encoder`]
//! takes it, and a [`Transcoder`] joins two legs that chose different
//! codecs (a G.722 desk phone and an A-law E1 trunk).
//!
//! Recording and DTMF work at 8 kHz: G.722 is decoded at 16 kHz and
//! decimated. Wideband is kept end to end where the box passes audio on:
//! two G.722 phones are relayed packet for packet, and a mixing room with a
//! G.722 member mixes at 16 kHz ([`Decoder::at`], [`Encoder::at`]), its
//! G.711 members resampled at their edge.

use crate::g711::Law;
use crate::g722::{G722Decoder, G722Encoder, PAYLOAD_TYPE as G722_PT};
use crate::resample::{Downsampler2x, Upsampler2x};

/// One codec, as SDP names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcma,
    Pcmu,
    G722,
}

impl Codec {
    /// The codecs the box talks, in the order it prefers them when it
    /// chooses: G.722 for sound, then A-law (Indonesia's trunks).
    pub const ALL: [Codec; 3] = [Codec::G722, Codec::Pcma, Codec::Pcmu];

    /// From an SDP encoding name (`rtpmap`, upper-cased by the parser).
    pub fn from_name(name: &str) -> Option<Codec> {
        match name.to_ascii_uppercase().as_str() {
            "PCMA" => Some(Codec::Pcma),
            "PCMU" => Some(Codec::Pcmu),
            "G722" => Some(Codec::G722),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::G722 => "G722",
        }
    }

    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcma => 8,
            Codec::Pcmu => 0,
            Codec::G722 => G722_PT,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            8 => Some(Codec::Pcma),
            0 => Some(Codec::Pcmu),
            G722_PT => Some(Codec::G722),
            _ => None,
        }
    }

    /// The G.711 law, for the two G.711 codecs.
    pub fn law(self) -> Option<Law> {
        match self {
            Codec::Pcma => Some(Law::Alaw),
            Codec::Pcmu => Some(Law::Ulaw),
            Codec::G722 => None,
        }
    }
}

impl From<Law> for Codec {
    fn from(law: Law) -> Codec {
        match law {
            Law::Alaw => Codec::Pcma,
            Law::Ulaw => Codec::Pcmu,
        }
    }
}

/// Decodes one stream to 8 kHz PCM. G.722 keeps its adaptive state, so
/// each stream needs a decoder of its own.
#[derive(Debug)]
pub enum Decoder {
    G711(Law),
    /// G.711 brought up to 16 kHz (for a wideband room).
    G711Up(Law, Box<Upsampler2x>, Vec<i16>),
    G722(Box<G722Decoder>),
}

impl Decoder {
    /// A decoder to 8 kHz PCM.
    pub fn new(codec: Codec) -> Decoder {
        Decoder::at(codec, false)
    }

    /// A decoder to 16 kHz PCM (`wide`) or to 8 kHz.
    pub fn at(codec: Codec, wide: bool) -> Decoder {
        match (codec.law(), wide) {
            (Some(law), false) => Decoder::G711(law),
            (Some(law), true) => Decoder::G711Up(law, Box::default(), Vec::new()),
            (None, wide) => Decoder::G722(Box::new(G722Decoder::new(!wide))),
        }
    }

    pub fn codec(&self) -> Codec {
        match self {
            Decoder::G711(law) | Decoder::G711Up(law, ..) => Codec::from(*law),
            Decoder::G722(_) => Codec::G722,
        }
    }

    /// Appends the decoding of `payload` to `out`.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        match self {
            Decoder::G711(law) => law.decode(payload, out),
            Decoder::G711Up(law, up, narrow) => {
                narrow.clear();
                law.decode(payload, narrow);
                up.process(narrow, out);
            }
            Decoder::G722(d) => out.extend(d.decode(payload)),
        }
    }
}

/// The decoder of whatever audio payload type a stream sends: a phone may
/// switch codecs within its answer's list, so the decoder follows the
/// packets (and starts afresh when the codec changes).
#[derive(Debug, Default)]
pub struct StreamDecoder {
    current: Option<Decoder>,
    /// Decode to 16 kHz rather than 8 kHz.
    wide: bool,
}

impl StreamDecoder {
    /// A decoder to 16 kHz PCM (`wide`) or to 8 kHz (as `default()`).
    pub fn at(wide: bool) -> StreamDecoder {
        StreamDecoder {
            current: None,
            wide,
        }
    }

    /// Decodes an RTP payload of type `pt` to PCM appended to `out`;
    /// false (and nothing appended) for a type that is not audio we know
    /// (telephone-event, comfort noise).
    pub fn decode(&mut self, pt: u8, payload: &[u8], out: &mut Vec<i16>) -> bool {
        let Some(codec) = Codec::from_payload_type(pt) else {
            return false;
        };
        let d = match &mut self.current {
            Some(d) if d.codec() == codec => d,
            slot => slot.insert(Decoder::at(codec, self.wide)),
        };
        d.decode(payload, out);
        true
    }
}

/// Encodes PCM (8 kHz unless made with [`Encoder::at`]) for one stream.
#[derive(Debug)]
pub enum Encoder {
    G711(Law),
    /// G.711 from 16 kHz PCM (a wideband room's), decimated first.
    G711Down(Law, Box<Downsampler2x>, Vec<i16>),
    G722(Box<G722Encoder>),
}

impl Encoder {
    /// An encoder from 8 kHz PCM.
    pub fn new(codec: Codec) -> Encoder {
        Encoder::at(codec, false)
    }

    /// An encoder from 16 kHz PCM (`wide`) or from 8 kHz.
    pub fn at(codec: Codec, wide: bool) -> Encoder {
        match (codec.law(), wide) {
            (Some(law), false) => Encoder::G711(law),
            (Some(law), true) => Encoder::G711Down(law, Box::default(), Vec::new()),
            (None, wide) => Encoder::G722(Box::new(G722Encoder::new(!wide))),
        }
    }

    pub fn codec(&self) -> Codec {
        match self {
            Encoder::G711(law) | Encoder::G711Down(law, ..) => Codec::from(*law),
            Encoder::G722(_) => Codec::G722,
        }
    }

    /// Appends the encoding of `pcm` to `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            Encoder::G711(law) => law.encode(pcm, out),
            Encoder::G711Down(law, down, narrow) => {
                narrow.clear();
                down.process(pcm, narrow);
                law.encode(narrow, out);
            }
            Encoder::G722(e) => out.extend(e.encode(pcm)),
        }
    }
}

/// One direction of a call whose legs talk different codecs.
#[derive(Debug)]
pub struct Transcoder {
    from: Codec,
    to: Codec,
    dec: Decoder,
    enc: Encoder,
    pcm: Vec<i16>,
}

impl Transcoder {
    pub fn new(from: Codec, to: Codec) -> Transcoder {
        Transcoder {
            from,
            to,
            dec: Decoder::new(from),
            enc: Encoder::new(to),
            pcm: Vec::with_capacity(crate::FRAME_8K),
        }
    }

    pub fn from(&self) -> Codec {
        self.from
    }

    pub fn to(&self) -> Codec {
        self.to
    }

    /// Appends `payload` (in `from`) re-encoded in `to` to `out`. Between
    /// the two G.711 laws this is a table lookup per byte.
    pub fn transcode(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if let (Some(a), Some(b)) = (self.from.law(), self.to.law()) {
            a.transcode(b, payload, out);
            return;
        }
        self.pcm.clear();
        self.dec.decode(payload, &mut self.pcm);
        self.enc.encode(&self.pcm, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g722::tests::{sine, snr};

    #[test]
    fn names_and_payload_types() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
            assert_eq!(Codec::from_payload_type(c.payload_type()), Some(c));
        }
        assert_eq!(Codec::from_name("g722"), Some(Codec::G722));
        assert_eq!(Codec::from_name("opus"), None);
        assert_eq!(Codec::from_payload_type(101), None);
    }

    /// A tone from an A-law leg to a G.722 leg and back, through each
    /// direction's own state as a call does, keeps speech-band audio.
    #[test]
    fn alaw_to_g722_and_back_keeps_speech_band_audio() {
        let x = sine(800.0, 8000.0, 8000, 8000.0);
        let mut alaw = Vec::new();
        Law::Alaw.encode(&x, &mut alaw);
        let mut up = Transcoder::new(Codec::Pcma, Codec::G722);
        let mut down = Transcoder::new(Codec::G722, Codec::Pcma);
        let mut back = Vec::new();
        for frame in alaw.chunks(crate::FRAME_8K) {
            let mut g722 = Vec::new();
            up.transcode(frame, &mut g722);
            assert_eq!(g722.len(), 160, "same bytes and clock as G.711");
            down.transcode(&g722, &mut back);
        }
        let mut y = Vec::new();
        Law::Alaw.decode(&back, &mut y);
        let r = snr(&x, &y);
        assert!(r > 20.0, "SNR {r:.1} dB");
    }

    #[test]
    fn between_the_laws_is_exact_where_both_can_say_it() {
        let mut t = Transcoder::new(Codec::Pcmu, Codec::Pcma);
        let mut out = Vec::new();
        t.transcode(&[Law::Ulaw.encode_one(1000)], &mut out);
        let back = Law::Alaw.decode_one(out[0]);
        assert!((i32::from(back) - 1000).abs() < 40, "{back}");
    }

    #[test]
    fn a_stream_decoder_follows_the_payload_type() {
        let mut d = StreamDecoder::default();
        let mut pcm = Vec::new();
        assert!(d.decode(8, &[Law::Alaw.encode_one(500); 160], &mut pcm));
        assert_eq!(pcm.len(), 160);
        let mut enc = Encoder::new(Codec::G722);
        let mut g = Vec::new();
        enc.encode(&sine(1000.0, 8000.0, 160, 5000.0), &mut g);
        assert!(d.decode(9, &g, &mut pcm));
        assert_eq!(pcm.len(), 320, "G.722 decodes to 8 kHz here");
        assert!(!d.decode(101, &[1, 2, 3, 4], &mut pcm));
        assert_eq!(pcm.len(), 320);
    }
}
