//! N-party mixing (TEL-2, TEL-6, REC-3): conference rooms, three-way
//! calls and a supervisor listening, whispering or barging in are all one
//! mixer with members that differ only in who hears them and whether they
//! hear the mix.
//!
//! Sans-IO: each member's decoded frames go in as they arrive, through a
//! jitter buffer of their own; every 20 ms the owner calls [`Mixer::mix`]
//! and gets one frame per member that hears the mix. A member never hears
//! itself (mix-minus), so there is no echo of one's own voice.
//!
//! A room mixes at 8 kHz, or at 16 kHz once a member talks G.722
//! ([`Mixer::set_wideband`]): wideband phones then hear each other in
//! wideband, and G.711 members are resampled at their own edge.

use std::time::Instant;

use crate::jitter::{JitterBuffer, Playout};
use crate::{FRAME_16K, FRAME_8K};

/// Who hears a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<K> {
    /// Every other member who hears the mix (a conference party).
    Everyone,
    /// One member only (a supervisor whispering to an agent).
    Only(K),
    /// Nobody (a supervisor listening).
    Nobody,
}

/// A member's part in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role<K> {
    pub audience: Audience<K>,
    /// Whether the member is sent the mix. A monitored party that keeps
    /// its direct path to the other party does not.
    pub hears: bool,
}

impl<K> Role<K> {
    /// A conference party: heard by all, hears all.
    pub fn party() -> Role<K> {
        Role {
            audience: Audience::Everyone,
            hears: true,
        }
    }

    /// Heard by all (through the mix), sent nothing: the two parties of a
    /// call that is only listened to keep their direct path.
    pub fn tapped() -> Role<K> {
        Role {
            audience: Audience::Everyone,
            hears: false,
        }
    }
}

#[derive(Debug)]
struct Member<K> {
    key: K,
    role: Role<K>,
    jitter: JitterBuffer,
    /// This slot's frame, while mixing.
    frame: Vec<i16>,
}

/// One room's mixer.
#[derive(Debug)]
pub struct Mixer<K> {
    members: Vec<Member<K>>,
    /// Samples in a 20 ms frame: 160 (8 kHz) or 320 (16 kHz).
    frame_len: usize,
    sum: Vec<i32>,
}

impl<K> Default for Mixer<K> {
    fn default() -> Self {
        Mixer {
            members: Vec::new(),
            frame_len: FRAME_8K,
            sum: vec![0; FRAME_8K],
        }
    }
}

/// A member's jitter buffer for a room mixing `frame_len`-sample frames.
/// Live conversation: 2 frames at least, 8 at most (160 ms).
fn jitter_for(frame_len: usize) -> JitterBuffer {
    JitterBuffer::new(frame_len, (frame_len * 50) as u32, 2, 8)
}

impl<K: Copy + Eq> Mixer<K> {
    pub fn new() -> Mixer<K> {
        Mixer::default()
    }

    /// Adds `key`, or changes its role if it is already a member.
    pub fn join(&mut self, key: K, role: Role<K>) {
        if let Some(m) = self.members.iter_mut().find(|m| m.key == key) {
            m.role = role;
            return;
        }
        self.members.push(Member {
            key,
            role,
            jitter: jitter_for(self.frame_len),
            frame: vec![0; self.frame_len],
        });
    }

    /// Whether the room mixes at 16 kHz.
    pub fn is_wideband(&self) -> bool {
        self.frame_len == FRAME_16K
    }

    /// Mixes at 16 kHz (`true`) or 8 kHz from now on; members then push
    /// frames of that rate. A change starts every member's jitter buffer
    /// afresh (a 40 ms pause while they fill). Returns whether it changed.
    pub fn set_wideband(&mut self, wide: bool) -> bool {
        let len = if wide { FRAME_16K } else { FRAME_8K };
        if len == self.frame_len {
            return false;
        }
        self.frame_len = len;
        self.sum = vec![0; len];
        for m in &mut self.members {
            m.jitter = jitter_for(len);
            m.frame = vec![0; len];
        }
        true
    }

    /// Removes `key`; whispers to it are dropped too. Returns whether it
    /// was a member.
    pub fn leave(&mut self, key: K) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.key != key);
        for m in &mut self.members {
            if m.role.audience == Audience::Only(key) {
                m.role.audience = Audience::Nobody;
            }
        }
        self.members.len() != before
    }

    pub fn contains(&self, key: K) -> bool {
        self.members.iter().any(|m| m.key == key)
    }

    pub fn role(&self, key: K) -> Option<Role<K>> {
        self.members.iter().find(|m| m.key == key).map(|m| m.role)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether `key` is sent the mix (and so its partner's packets must
    /// not also reach it directly).
    pub fn hears(&self, key: K) -> bool {
        self.members.iter().any(|m| m.key == key && m.role.hears)
    }

    /// One decoded frame from `key` at the room's rate, arrived at `now`;
    /// `timestamp` is the RTP one, whose clock is 8 kHz for every codec the
    /// box talks (G.722's too, RFC 3551).
    pub fn push(&mut self, key: K, now: Instant, seq: u16, timestamp: u32, pcm: Vec<i16>) {
        // The jitter buffer counts time in samples at the room's rate.
        let timestamp = if self.is_wideband() {
            timestamp.wrapping_mul(2)
        } else {
            timestamp
        };
        if let Some(m) = self.members.iter_mut().find(|m| m.key == key) {
            if m.role.audience != Audience::Nobody || m.role.hears {
                m.jitter.push(now, seq, timestamp, pcm);
            }
        }
    }

    /// One 20 ms slot: a frame for each member that hears the mix, made of
    /// everyone it may hear but itself, saturated to 16 bits.
    pub fn mix(&mut self, out: &mut Vec<(K, Vec<i16>)>) {
        let len = self.frame_len;
        self.sum.fill(0);
        for m in &mut self.members {
            m.frame.fill(0);
            if let Playout::Audio(f) | Playout::Concealed(f) = m.jitter.pop() {
                for (d, s) in m.frame.iter_mut().zip(f) {
                    *d = s;
                }
            }
            if m.role.audience == Audience::Everyone {
                for (s, v) in self.sum.iter_mut().zip(&m.frame) {
                    *s += i32::from(*v);
                }
            }
        }
        for m in &self.members {
            if !m.role.hears {
                continue;
            }
            let mut acc = self.sum.clone();
            if m.role.audience == Audience::Everyone {
                for (s, v) in acc.iter_mut().zip(&m.frame) {
                    *s -= i32::from(*v);
                }
            }
            for w in &self.members {
                if w.role.audience == Audience::Only(m.key) && w.key != m.key {
                    for (s, v) in acc.iter_mut().zip(&w.frame) {
                        *s += i32::from(*v);
                    }
                }
            }
            let mut frame = Vec::with_capacity(len);
            frame.extend(
                acc.iter()
                    .map(|s| (*s).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16),
            );
            out.push((m.key, frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Feeds each member a constant level for ten slots and returns
    /// what each hears in the last one (first sample).
    /// Slots are numbered on from `from` (the streams go on).
    fn run(mixer: &mut Mixer<u8>, levels: &[(u8, i16)], from: u16) -> Vec<(u8, i16)> {
        let t0 = Instant::now();
        let mut last = Vec::new();
        for i in from..from + 10 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            for &(k, v) in levels {
                let len = if mixer.is_wideband() {
                    FRAME_16K
                } else {
                    FRAME_8K
                };
                mixer.push(k, now, i, 160 * u32::from(i), vec![v; len]);
            }
            last.clear();
            mixer.mix(&mut last);
        }
        let mut heard: Vec<(u8, i16)> = last.iter().map(|(k, f)| (*k, f[0])).collect();
        heard.sort_unstable();
        heard
    }

    #[test]
    fn a_wideband_room_carries_what_8_khz_cannot() {
        let mut m = Mixer::new();
        m.join(1, Role::party());
        m.join(2, Role::party());
        assert!(m.set_wideband(true));
        assert!(!m.set_wideband(true), "no change the second time");
        // Member 1 sends a 4–8 kHz pattern (alternating signs at 16 kHz),
        // which an 8 kHz room would lose entirely.
        let t0 = Instant::now();
        let wide: Vec<i16> = (0..FRAME_16K)
            .map(|i| if i % 2 == 0 { 1000 } else { -1000 })
            .collect();
        let mut out = Vec::new();
        for i in 0..10u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            // RTP timestamps advance 160 a frame in wideband too.
            m.push(1, now, i, 160 * u32::from(i), wide.clone());
            m.push(2, now, i, 160 * u32::from(i), vec![0; FRAME_16K]);
            out.clear();
            m.mix(&mut out);
        }
        let to_2 = out.iter().find(|(k, _)| *k == 2).map(|(_, f)| f.clone());
        assert_eq!(to_2, Some(wide), "member 2 hears member 1's upper band");
        assert!(out.iter().all(|(_, f)| f.len() == FRAME_16K));
        // Back to 8 kHz when the last wideband member leaves.
        assert!(m.set_wideband(false));
        let heard = run(&mut m, &[(1, 100), (2, 20)], 10);
        assert_eq!(heard, [(1, 20), (2, 100)]);
    }

    #[test]
    fn conference_parties_hear_everyone_but_themselves() {
        let mut m = Mixer::new();
        for k in 1..=3 {
            m.join(k, Role::party());
        }
        let heard = run(&mut m, &[(1, 100), (2, 20), (3, 3)], 0);
        assert_eq!(heard, [(1, 23), (2, 103), (3, 120)]);
    }

    #[test]
    fn listening_supervisor_hears_both_and_is_heard_by_none() {
        let mut m = Mixer::new();
        m.join(1, Role::tapped());
        m.join(2, Role::tapped());
        m.join(
            9,
            Role {
                audience: Audience::Nobody,
                hears: true,
            },
        );
        let heard = run(&mut m, &[(1, 100), (2, 20), (9, 7)], 0);
        // The parties are sent nothing: their direct path carries them.
        assert_eq!(heard, [(9, 120)]);
        assert!(!m.hears(1) && !m.hears(2) && m.hears(9));
    }

    #[test]
    fn whisper_reaches_the_agent_only() {
        let mut m = Mixer::new();
        m.join(1, Role::tapped()); // caller keeps the direct path
        m.join(2, Role::party()); // agent hears caller + supervisor
        m.join(
            9,
            Role {
                audience: Audience::Only(2),
                hears: true,
            },
        );
        let heard = run(&mut m, &[(1, 100), (2, 20), (9, 7)], 0);
        assert_eq!(heard, [(2, 107), (9, 120)]);
        // Barging: the supervisor becomes a party; the caller hears it too.
        m.join(1, Role::party());
        m.join(9, Role::party());
        let heard = run(&mut m, &[(1, 100), (2, 20), (9, 7)], 10);
        assert_eq!(heard, [(1, 27), (2, 107), (9, 120)]);
        // The agent leaves: the whisper target is gone, nothing dangles.
        m.join(
            9,
            Role {
                audience: Audience::Only(2),
                hears: true,
            },
        );
        assert!(m.leave(2));
        assert_eq!(m.role(9).map(|r| r.audience), Some(Audience::Nobody));
        assert!(!m.leave(2));
    }

    #[test]
    fn loud_rooms_saturate_instead_of_wrapping() {
        let mut m = Mixer::new();
        for k in 1..=4 {
            m.join(k, Role::party());
        }
        let heard = run(&mut m, &[(1, 30_000), (2, 30_000), (3, -5), (4, 30_000)], 0);
        assert_eq!(heard[0], (1, i16::MAX));
        assert_eq!(heard[2], (3, i16::MAX));
        let heard = run(&mut m, &[(1, -30_000), (2, -30_000), (3, 0), (4, 0)], 10);
        assert_eq!(heard[2], (3, i16::MIN));
    }

    #[test]
    fn a_silent_member_waits_without_stalling_the_room() {
        let mut m = Mixer::new();
        m.join(1, Role::party());
        m.join(2, Role::party());
        // Only 1 sends; 2 (never sent a packet) still hears it.
        let heard = run(&mut m, &[(1, 500)], 0);
        assert_eq!(heard, [(1, 0), (2, 500)]);
    }
}
