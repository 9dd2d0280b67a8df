//! Mixing rooms on a relay thread (conferences, three-way calls, a
//! supervisor listening, whispering or barging in): each room's mixer and,
//! per member leg, its decoder in and, when it hears the mix, its RTP
//! stream out. Members are legs, by [`crate::core::leg_key`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dering_media::codec::{Codec, Encoder, StreamDecoder};
use dering_media::mix::{Mixer, Role};

use crate::endpoint::parse_rtp;

const FRAME: Duration = Duration::from_millis(20);

/// The rooms of one relay thread, by room id.
#[derive(Default)]
pub(super) struct Rooms {
    rooms: HashMap<u64, Room>,
}

impl Rooms {
    /// Leg `key` joins `room` (made if new) talking `codec`, or changes
    /// its role or codec there.
    pub(super) fn join(&mut self, room: u64, key: u64, codec: Codec, role: Role<u64>) {
        self.rooms.entry(room).or_default().join(key, codec, role);
    }

    /// Leg `key` leaves `room`; a room left empty goes.
    pub(super) fn leave(&mut self, room: u64, key: u64) {
        if let Some(r) = self.rooms.get_mut(&room) {
            if r.leave(key) {
                self.rooms.remove(&room);
            }
        }
    }

    pub(super) fn get(&self, room: u64) -> Option<&Room> {
        self.rooms.get(&room)
    }

    pub(super) fn get_mut(&mut self, room: u64) -> Option<&mut Room> {
        self.rooms.get_mut(&room)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Mixes every room's frames due by `now`; `send` gets each packet
    /// with the leg it is for.
    pub(super) fn mix(
        &mut self,
        now: Instant,
        mixed: &mut Vec<(u64, Vec<i16>)>,
        mut send: impl FnMut(u64, &mut [u8]),
    ) {
        for room in self.rooms.values_mut() {
            room.mix(now, mixed, &mut send);
        }
    }
}

/// One leg in a room.
struct Member {
    codec: Codec,
    /// Made at the leg's first packet, at the room's rate.
    decoder: Option<StreamDecoder>,
    /// When the leg hears the mix.
    out: Option<MixOut>,
}

/// A mixing room: the mixer and its members.
#[derive(Default)]
pub(super) struct Room {
    mixer: Mixer<u64>,
    members: HashMap<u64, Member>,
    next: Option<Instant>,
}

impl Room {
    fn join(&mut self, key: u64, codec: Codec, role: Role<u64>) {
        self.mixer.join(key, role);
        let member = self.members.entry(key).or_insert(Member {
            codec,
            decoder: None,
            out: None,
        });
        if member.codec != codec {
            *member = Member {
                codec,
                decoder: None,
                out: None,
            };
        }
        self.pick_rate();
        let wide = self.mixer.is_wideband();
        if let Some(member) = self.members.get_mut(&key) {
            if role.hears {
                member.out.get_or_insert_with(|| MixOut::new(codec, wide));
            } else {
                member.out = None;
            }
        }
    }

    /// Takes leg `key` out; true when the room is left empty.
    fn leave(&mut self, key: u64) -> bool {
        self.mixer.leave(key);
        self.members.remove(&key);
        if self.mixer.is_empty() {
            return true;
        }
        self.pick_rate();
        false
    }

    /// Mixes at 16 kHz while a member talks G.722, at 8 kHz otherwise;
    /// on a change every member's decoder and encoder follow.
    fn pick_rate(&mut self) {
        let wide = self.members.values().any(|m| m.codec == Codec::G722);
        if self.mixer.set_wideband(wide) {
            tracing::debug!(wide, members = self.members.len(), "room mixing rate");
            for m in self.members.values_mut() {
                m.decoder = None;
                if let Some(out) = &mut m.out {
                    out.encoder = Encoder::at(m.codec, wide);
                }
            }
        }
    }

    /// Whether leg `key` is sent the mix (then it does not also hear its
    /// partner directly: the mix carries the partner).
    pub(super) fn hears(&self, key: u64) -> bool {
        self.mixer.hears(key)
    }

    /// An RTP packet from member `key` goes into the mix; `pcm` is scratch.
    pub(super) fn push(&mut self, key: u64, now: Instant, pkt: &[u8], pcm: &mut Vec<i16>) {
        let Some(rtp) = parse_rtp(pkt) else {
            return;
        };
        let Some(member) = self.members.get_mut(&key) else {
            return;
        };
        pcm.clear();
        let wide = self.mixer.is_wideband();
        let d = member
            .decoder
            .get_or_insert_with(|| StreamDecoder::at(wide));
        if d.decode(rtp.pt, rtp.payload, pcm) {
            self.mixer
                .push(key, now, rtp.seq, rtp.timestamp, pcm.clone());
        }
    }

    /// The frames due by `now`, one packet per member that hears the mix.
    fn mix(
        &mut self,
        now: Instant,
        mixed: &mut Vec<(u64, Vec<i16>)>,
        send: &mut impl FnMut(u64, &mut [u8]),
    ) {
        let due = *self.next.get_or_insert(now);
        // After a stall, restart the clock rather than send a burst.
        let mut at = if now.duration_since(due) > FRAME * 5 {
            now
        } else {
            due
        };
        while at <= now {
            mixed.clear();
            self.mixer.mix(mixed);
            for (key, frame) in mixed.iter() {
                if let Some(out) = self.members.get_mut(key).and_then(|m| m.out.as_mut()) {
                    send(*key, &mut out.packet(frame));
                }
            }
            at += FRAME;
        }
        self.next = Some(at);
    }
}

/// The RTP stream the box sends a leg that hears a mix.
struct MixOut {
    encoder: Encoder,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
}

impl MixOut {
    fn new(codec: Codec, wide: bool) -> MixOut {
        let seed: u32 = rand::random();
        MixOut {
            encoder: Encoder::at(codec, wide),
            ssrc: seed,
            seq: (seed >> 16) as u16,
            timestamp: seed.rotate_left(7),
        }
    }

    fn packet(&mut self, frame: &[i16]) -> Vec<u8> {
        let mut pkt = Vec::with_capacity(12 + frame.len());
        pkt.extend_from_slice(&[0x80, self.encoder.codec().payload_type()]);
        pkt.extend_from_slice(&self.seq.to_be_bytes());
        pkt.extend_from_slice(&self.timestamp.to_be_bytes());
        pkt.extend_from_slice(&self.ssrc.to_be_bytes());
        self.encoder.encode(frame, &mut pkt);
        self.seq = self.seq.wrapping_add(1);
        // 20 ms on the 8 kHz RTP clock, whatever the mixing rate (G.722's
        // clock is 8 kHz too, RFC 3551).
        self.timestamp = self.timestamp.wrapping_add(dering_media::FRAME_8K as u32);
        pkt
    }
}
