//! The HDLC frame check sequence (ISO/IEC 13239, ITU-T Q.921 §2.7): CRC-16
//! with the polynomial x^16 + x^12 + x^5 + 1, reflected, preset to ones and
//! complemented, sent low byte first. A card's HDLC controller computes and
//! checks it; the simulated line does the same so that a damaged frame is
//! caught where a card would catch it.

/// The FCS of `frame` (address, control, information).
pub fn fcs16(frame: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in frame {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `frame` followed by its FCS, as it goes on the line.
pub fn append(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 2);
    out.extend_from_slice(frame);
    out.extend_from_slice(&fcs16(frame).to_le_bytes());
    out
}

/// Whether `line` (a frame and its two FCS bytes) arrived intact: the CRC
/// over all of it leaves the "good FCS" residue.
pub fn check(line: &[u8]) -> bool {
    line.len() >= 2 && !fcs16(line) == 0xF0B8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-16/IBM-SDLC (X.25) catalogue check value: "123456789" → 0x906E.
    #[test]
    fn check_value_of_the_catalogue() {
        assert_eq!(fcs16(b"123456789"), 0x906E);
    }

    #[test]
    fn intact_frame_passes_and_one_flipped_bit_fails() {
        let line = append(&[0x02, 0x01, 0x7F]);
        assert!(check(&line));
        for bit in 0..line.len() * 8 {
            let mut bad = line.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(!check(&bad), "flip of bit {bit} not caught");
        }
    }
}
