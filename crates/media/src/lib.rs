//! Dering's media library (IVR-1..3, REC-1, TEL-2): codecs, telephone
//! events, DTMF detection, tones and a jitter buffer. Everything here is
//! sans-IO and works on 20 ms frames of 16-bit linear PCM; pbxd's relay
//! threads and the recorder call it, nothing here touches a socket or a
//! clock.

pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod jitter;
pub mod mix;
pub mod prompts;
pub mod resample;
pub mod rfc4733;
pub mod rtp;
pub mod speech;
pub mod tones;

/// Samples in a 20 ms frame at 8 kHz, the packet time every Dering leg
/// uses.
pub const FRAME_8K: usize = 160;
/// Samples in a 20 ms frame at 16 kHz (G.722's audio rate).
pub const FRAME_16K: usize = 320;
