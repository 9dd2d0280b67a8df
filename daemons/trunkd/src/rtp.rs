//! A B-channel's audio as RTP PCMA (RFC 3550, payload type 8): blocks of
//! 160 A-law bytes (20 ms) out, any packet size in, regrouped into
//! blocks for the channel.

use dering_board::{Block, BLOCK_LEN};

/// Payload type of PCMA.
pub const PT_PCMA: u8 = 8;

/// The sending side of one channel's stream.
#[derive(Debug)]
pub struct RtpOut {
    seq: u16,
    timestamp: u32,
    ssrc: u32,
}

impl RtpOut {
    /// A stream with its SSRC and first sequence number and timestamp
    /// from `seed` (randomness as input).
    pub fn new(seed: u64) -> RtpOut {
        RtpOut {
            seq: seed as u16,
            timestamp: (seed >> 16) as u32,
            ssrc: (seed >> 32) as u32 | 1,
        }
    }

    /// The packet carrying `block`.
    pub fn packet(&mut self, block: &Block) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + BLOCK_LEN);
        p.extend_from_slice(&[0x80, PT_PCMA]);
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(block);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(BLOCK_LEN as u32);
        p
    }
}

/// The PCMA payload of an RTP packet; `None` for anything else (another
/// payload type, RTCP, a packet too short for its header).
pub fn pcma_payload(p: &[u8]) -> Option<&[u8]> {
    if p.len() < 12 || p[0] >> 6 != 2 || p[1] & 0x7F != PT_PCMA {
        return None;
    }
    let csrc = usize::from(p[0] & 0x0F) * 4;
    let mut start = 12 + csrc;
    if p[0] & 0x10 != 0 {
        let ext = p.get(start + 2..start + 4)?;
        start += 4 + usize::from(u16::from_be_bytes([ext[0], ext[1]])) * 4;
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*p.last()?))?;
    }
    p.get(start..end)
}

/// Regroups received audio into whole blocks for the channel.
#[derive(Debug, Default)]
pub struct Regroup {
    pending: Vec<u8>,
}

impl Regroup {
    /// Adds a payload; the whole blocks it completes.
    pub fn push(&mut self, payload: &[u8]) -> Vec<Block> {
        self.pending.extend_from_slice(payload);
        let mut out = Vec::new();
        while self.pending.len() >= BLOCK_LEN {
            let mut b = [0u8; BLOCK_LEN];
            b.copy_from_slice(&self.pending[..BLOCK_LEN]);
            self.pending.drain(..BLOCK_LEN);
            out.push(b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_go_out_as_pcma_and_come_back_regrouped() {
        let mut out = RtpOut::new(0x1234_5678_9abc_def0);
        let a = out.packet(&[0x55; BLOCK_LEN]);
        let b = out.packet(&[0xD5; BLOCK_LEN]);
        assert_eq!(a.len(), 172);
        assert_eq!(
            u16::from_be_bytes([b[2], b[3]]),
            u16::from_be_bytes([a[2], a[3]]) + 1
        );
        let ts = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        assert_eq!(ts(&b).wrapping_sub(ts(&a)), 160);
        assert_eq!(pcma_payload(&a), Some(&[0x55; BLOCK_LEN][..]));

        // 30 ms packets from pbxd make a block and a half each.
        let mut pcmu = a.clone();
        pcmu[1] = 0;
        assert_eq!(pcma_payload(&pcmu), None);
        let mut r = Regroup::default();
        assert_eq!(r.push(&[1; 240]).len(), 1);
        assert_eq!(r.push(&[2; 240]).len(), 2);
    }
}
