//! RTP capture files for sipp's `play_pcap_audio`: a known tone as A-law
//! packets every 20 ms, so a test can tell afterwards which party said
//! what, and for how long.

use std::path::Path;

use dering_media::g711::Law;

/// Writes `path`: `ms` milliseconds of a `freq` Hz tone at about
/// −10 dBm0 in 20 ms A-law RTP packets (payload type 8).
pub fn tone(path: &Path, freq: f64, ms: u32) {
    let amp = dering_media::tones::dbm0_to_amplitude(-10.0);
    let frames = ms / 20;
    let mut packets = Vec::new();
    for f in 0..frames {
        let pcm: Vec<i16> = (0..160)
            .map(|i| {
                let n = f64::from(f * 160 + i);
                (amp * (2.0 * std::f64::consts::PI * freq * n / 8000.0).sin()) as i16
            })
            .collect();
        let mut rtp = vec![0x80, if f == 0 { 0x88 } else { 0x08 }];
        rtp.extend_from_slice(&(f as u16).to_be_bytes());
        rtp.extend_from_slice(&(f * 160).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        Law::Alaw.encode(&pcm, &mut rtp);
        packets.push(rtp);
    }
    write(path, &packets);
}

/// Writes `path`: one key press (RFC 4733 event `event`, 0-9, 10 for *,
/// 11 for #) as telephone-event packets (payload type 101) every 20 ms,
/// at RTP timestamp `timestamp`. sip-tester's own key files share one
/// stream whose timestamps go back and forth, so a receiver takes a
/// second key from them as a late packet of the first; a test pressing
/// several keys gives each a later timestamp.
pub fn key(path: &Path, event: u8, timestamp: u32) {
    let presses = dering_media::rfc4733::press(event, timestamp, 1600, 160, 10);
    let packets: Vec<Vec<u8>> = presses
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut rtp = vec![0x80, if p.marker { 0x80 | 101 } else { 101 }];
            rtp.extend_from_slice(
                &(i as u16)
                    .wrapping_add((timestamp >> 4) as u16)
                    .to_be_bytes(),
            );
            rtp.extend_from_slice(&p.timestamp.to_be_bytes());
            rtp.extend_from_slice(&0x1234_5679u32.to_be_bytes());
            rtp.extend_from_slice(&p.report.to_bytes());
            rtp
        })
        .collect();
    write(path, &packets);
}

/// A pcap of `packets` (RTP), one every 20 ms, from 127.0.0.1:6000 to
/// :6002 (sipp sends them from its own media port).
fn write(path: &Path, packets: &[Vec<u8>]) {
    let mut out = Vec::new();
    // pcap global header: microsecond timestamps, Ethernet.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (f, rtp) in packets.iter().enumerate() {
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0]);
        frame.extend_from_slice(&(ip_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(rtp);
        let usec = f as u64 * 20_000;
        out.extend_from_slice(&((usec / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((usec % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}
