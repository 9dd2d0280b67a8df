//! RTP as pbxd's relay takes it from a leg's port: each packet parsed
//! (`parse_rtp`), then handed to whatever the leg is part of: the
//! recorder (decode, jitter buffer, a 20 ms tick, the flush at the call's
//! end), a mixing room at 8 and at 16 kHz, and a transcoder to every other
//! codec. RTCP is not parsed by the box (the relay forwards it as opaque
//! bytes), so parsing RTP is the whole of it.
//!
//! The input is a run of packets, each preceded by its length in one byte;
//! each arrives 20 ms after the one before.
#![no_main]

use std::time::{Duration, Instant};

use dering_media::codec::{Codec, StreamDecoder, Transcoder};
use dering_media::jitter::JitterBuffer;
use dering_media::mix::{Mixer, Role};
use dering_media::rtp::parse_rtp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    // The recorder's buffer (pbxd relay.rs `Recording::new`).
    let mut recorder = JitterBuffer::new(160, 8000, 50, 50);
    let mut decoder = StreamDecoder::default();
    let mut rooms = [Mixer::new(), Mixer::new()];
    rooms[1].set_wideband(true);
    let mut room_decoders = [StreamDecoder::at(false), StreamDecoder::at(true)];
    for room in &mut rooms {
        room.join(0u64, Role::party());
        room.join(1u64, Role::party());
    }
    let mut transcoders: Vec<Transcoder> = Codec::ALL
        .into_iter()
        .flat_map(|from| {
            Codec::ALL
                .into_iter()
                .filter(move |to| *to != from)
                .map(move |to| Transcoder::new(from, to))
        })
        .collect();
    let mut rest = data;
    let mut n = 0u32;
    while let Some((&len, tail)) = rest.split_first() {
        let (pkt, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let now = t0 + Duration::from_millis(20 * u64::from(n));
        n += 1;
        let Some(rtp) = parse_rtp(pkt) else {
            continue;
        };
        let mut pcm = Vec::new();
        if decoder.decode(rtp.pt, rtp.payload, &mut pcm) {
            recorder.push(now, rtp.seq, rtp.timestamp, pcm);
        }
        let _ = recorder.pop();
        for (room, d) in rooms.iter_mut().zip(&mut room_decoders) {
            let mut pcm = Vec::new();
            if d.decode(rtp.pt, rtp.payload, &mut pcm) {
                room.push(0, now, rtp.seq, rtp.timestamp, pcm);
            }
            let mut out = Vec::new();
            room.mix(&mut out);
        }
        let mut out = Vec::new();
        for t in transcoders
            .iter_mut()
            .filter(|t| t.from().payload_type() == rtp.pt)
        {
            out.clear();
            t.transcode(rtp.payload, &mut out);
        }
    }
    // The call ended: what the recorder's buffer holds goes to the file.
    let _ = recorder.flush();
});
