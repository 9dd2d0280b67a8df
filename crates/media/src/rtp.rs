//! The RTP fixed header (RFC 3550 §5.1) as pbxd's relay, recorder, mixer
//! and local endpoints read it from the network. Here rather than in pbxd
//! so the parser can be fuzzed (fuzz/fuzz_targets/rtp.rs) on its own.

/// The fields of an RTP packet the box uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtp<'a> {
    pub pt: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub payload: &'a [u8],
}

/// The fields of an RTP packet (RFC 3550 §5.1) we need, or `None` for
/// anything that is not RTP version 2.
pub fn parse_rtp(p: &[u8]) -> Option<Rtp<'_>> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(p[0] & 0x0F);
    let mut off = 12 + 4 * cc;
    if p[0] & 0x10 != 0 {
        let ext = p.get(off + 2..off + 4)?;
        off += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        let pad = usize::from(*p.last()?);
        end = end.checked_sub(pad)?;
    }
    Some(Rtp {
        pt: p[1] & 0x7F,
        seq: u16::from_be_bytes([p[2], p[3]]),
        timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        payload: p.get(off..end)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_csrcs_extension_and_padding() {
        // V=2, P, X, CC=1; PT 8; seq 0x0102; ts 0x03040506; SSRC; one
        // CSRC; a one-word extension; payload "ab"; 2 bytes of padding.
        let mut p = vec![0xB1, 0x88, 1, 2, 3, 4, 5, 6, 0, 0, 0, 9];
        p.extend_from_slice(&[0, 0, 0, 7]);
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xFF, 0, 0]);
        p.extend_from_slice(b"ab");
        p.extend_from_slice(&[0, 2]);
        let r = parse_rtp(&p).expect("RTP");
        assert_eq!((r.pt, r.seq, r.timestamp), (8, 0x0102, 0x0304_0506));
        assert_eq!(r.payload, b"ab");
    }

    #[test]
    fn what_does_not_add_up_is_not_rtp() {
        let header = |b0: u8| vec![b0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert!(parse_rtp(&header(0x80)[..11]).is_none(), "short");
        assert!(parse_rtp(&header(0x40)).is_none(), "version 1");
        assert!(parse_rtp(&header(0x81)).is_none(), "a CSRC missing");
        assert!(parse_rtp(&header(0x90)).is_none(), "no extension header");
        let mut padded = header(0xA0);
        padded.push(14);
        assert!(parse_rtp(&padded).is_none(), "padding past the header");
        assert_eq!(parse_rtp(&header(0x80)).map(|r| r.payload.len()), Some(0));
    }
}
