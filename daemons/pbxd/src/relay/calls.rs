//! The calls a relay thread owns, found three ways: by call id (commands),
//! by epoll token (a packet: no hashing on the packet path, the token is
//! the call's slot and the socket's index), and by the work they need
//! between packets (only the calls that play, hold, record or gate keys
//! are visited each turn, not every call).

use std::collections::{HashMap, HashSet};

use super::call::{CallMedia, HOLD, KEYS, LOCAL, RECORDING};

/// The kinds of [`CallMedia::work`], in the order of `Calls::working`.
const WORK: [u8; 4] = [LOCAL, HOLD, RECORDING, KEYS];

#[derive(Default)]
pub(super) struct Calls {
    slots: Vec<Option<CallMedia>>,
    /// Slots free for the next call.
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    /// Per kind of work (see [`WORK`]), the slots of the calls that need
    /// it; kept in step with the calls by [`Calls::update`].
    working: [HashSet<usize>; 4],
}

impl Calls {
    /// The epoll token of socket `i` of the call in `slot`.
    pub(super) fn token(slot: usize, i: usize) -> u64 {
        ((slot as u64) << 2) | i as u64
    }

    /// Takes `media` in; returns its slot and the call it replaces, if
    /// one of its id was open.
    pub(super) fn insert(&mut self, media: CallMedia) -> (usize, Option<CallMedia>) {
        let replaced = self.remove(media.id);
        let work = media.work();
        let id = media.id;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(media);
                slot
            }
            None => {
                self.slots.push(Some(media));
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id, slot);
        self.account(slot, 0, work);
        (slot, replaced)
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<CallMedia> {
        let slot = self.by_id.remove(&id)?;
        let media = self.slots.get_mut(slot)?.take()?;
        self.account(slot, media.work(), 0);
        self.free.push(slot);
        Some(media)
    }

    pub(super) fn get(&self, id: u64) -> Option<&CallMedia> {
        self.slots.get(*self.by_id.get(&id)?)?.as_ref()
    }

    pub(super) fn slot(&self, slot: usize) -> Option<&CallMedia> {
        self.slots.get(slot)?.as_ref()
    }

    /// Changes call `id` by `f`, keeping track of the work it needs.
    pub(super) fn update<R>(&mut self, id: u64, f: impl FnOnce(&mut CallMedia) -> R) -> Option<R> {
        let slot = *self.by_id.get(&id)?;
        let media = self.slots.get_mut(slot)?.as_mut()?;
        let before = media.work();
        let r = f(media);
        let after = media.work();
        self.account(slot, before, after);
        Some(r)
    }

    /// The call and socket index a packet's epoll token names. What the
    /// packet path changes of a call is never its work (only commands
    /// change that).
    pub(super) fn at_token(&mut self, token: u64) -> Option<(&mut CallMedia, usize)> {
        let slot = usize::try_from(token >> 2).ok()?;
        let media = self.slots.get_mut(slot)?.as_mut()?;
        Some((media, (token & 3) as usize))
    }

    /// Whether any call needs `work` (one bit of [`CallMedia::work`]).
    pub(super) fn any(&self, work: u8) -> bool {
        WORK.iter()
            .zip(&self.working)
            .any(|(w, slots)| *w & work != 0 && !slots.is_empty())
    }

    /// Visits each call that needs `work` (one bit of
    /// [`CallMedia::work`]); `f` must not change what work a call needs.
    pub(super) fn each(&mut self, work: u8, mut f: impl FnMut(&mut CallMedia)) {
        let Some(k) = WORK.iter().position(|w| *w == work) else {
            return;
        };
        for slot in &self.working[k] {
            if let Some(Some(media)) = self.slots.get_mut(*slot) {
                f(media);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    fn account(&mut self, slot: usize, before: u8, after: u8) {
        if before == after {
            return;
        }
        for (w, slots) in WORK.iter().zip(&mut self.working) {
            match (before & w != 0, after & w != 0) {
                (false, true) => {
                    slots.insert(slot);
                }
                (true, false) => {
                    slots.remove(&slot);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::sync::Arc;

    use super::*;
    use crate::endpoint::LocalMedia;
    use dering_media::codec::Codec;

    fn media(id: u64) -> CallMedia {
        let socks = std::array::from_fn(|_| UdpSocket::bind("127.0.0.1:0").unwrap());
        CallMedia::new(id, socks, &Default::default())
    }

    /// A call is visited for the work it needs while it needs it, its
    /// tokens name it, and a closed call's slot goes to the next call.
    #[test]
    fn calls_are_found_by_id_token_and_work() {
        let mut calls = Calls::default();
        let (a, _) = calls.insert(media(10));
        let (b, _) = calls.insert(media(11));
        assert!(!calls.any(LOCAL | HOLD | RECORDING | KEYS));
        let (m, i) = calls.at_token(Calls::token(b, 3)).unwrap();
        assert_eq!((m.id, i), (11, 3));
        calls.update(10, |m| {
            m.local = Some(Box::new(LocalMedia::new(10, Codec::Pcma, None, 1)))
        });
        assert!(calls.any(LOCAL) && !calls.any(HOLD));
        let mut seen = Vec::new();
        calls.each(LOCAL, |m| seen.push(m.id));
        assert_eq!(seen, [10]);
        calls.update(10, |m| m.local = None);
        assert!(!calls.any(LOCAL));
        calls.update(11, |m| m.watch_keys([None, Some(101)], &Arc::from([])));
        assert!(calls.any(KEYS));
        assert_eq!(calls.remove(11).map(|m| m.id), Some(11));
        assert!(!calls.any(KEYS), "a closed call needs no work");
        assert!(calls.at_token(Calls::token(b, 0)).is_none());
        let (c, _) = calls.insert(media(12));
        assert_eq!(c, b, "the slot is used again");
        assert_eq!(calls.at_token(Calls::token(c, 0)).unwrap().0.id, 12);
        assert_eq!(calls.get(10).map(|m| m.id), Some(10));
        assert_eq!(calls.slot(a).map(|m| m.id), Some(10));
        assert_eq!(calls.len(), 2);
    }
}
