//! The B-channels of one span (or the lines of one line group) and their
//! states, and the hunting of an idle one for an outbound call
//! (ascending, descending, round robin) under the span's limit of calls.

use dering_config::Hunting;

/// What a B-channel is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Idle,
    /// An analog line rings (or hears a caller-ID spill): a call in, not
    /// answered yet.
    Ringing,
    InUse,
    /// The span is in alarm: nothing can be placed on it.
    Blocked,
    /// RESTART sent, not acknowledged yet.
    Restarting,
}

/// The channels of a span.
#[derive(Debug)]
pub struct Channels {
    /// Timeslots in service, ascending, with their states.
    slots: Vec<(u8, ChannelState)>,
    hunting: Hunting,
    max_calls: u32,
    /// The timeslot taken last (round robin starts after it).
    last: Option<u8>,
}

impl Channels {
    pub fn new(timeslots: &[u8], hunting: Hunting, max_calls: u32) -> Channels {
        Channels {
            slots: timeslots.iter().map(|&t| (t, ChannelState::Idle)).collect(),
            hunting,
            max_calls,
            last: None,
        }
    }

    pub fn state(&self, ts: u8) -> Option<ChannelState> {
        self.slots.iter().find(|(t, _)| *t == ts).map(|(_, s)| *s)
    }

    /// Calls on the span now.
    pub fn in_use(&self) -> u32 {
        self.slots
            .iter()
            .filter(|(_, s)| *s == ChannelState::InUse)
            .count() as u32
    }

    /// Whether another call fits under the span's limit.
    pub fn below_limit(&self) -> bool {
        self.in_use() < self.max_calls
    }

    /// Takes `ts` for a call when it is in service and idle.
    pub fn take(&mut self, ts: u8) -> bool {
        match self.slots.iter_mut().find(|(t, _)| *t == ts) {
            Some((_, s)) if *s == ChannelState::Idle && self.max_calls > 0 => {
                *s = ChannelState::InUse;
                self.last = Some(ts);
                true
            }
            _ => false,
        }
    }

    /// An idle channel for an outbound call, in the span's hunting order,
    /// taken; `None` when there is none or the span is at its limit.
    pub fn hunt(&mut self) -> Option<u8> {
        if !self.below_limit() {
            return None;
        }
        let idle = |s: &&(u8, ChannelState)| s.1 == ChannelState::Idle;
        let ts = match self.hunting {
            Hunting::Ascending => self.slots.iter().find(idle).map(|s| s.0),
            Hunting::Descending => self.slots.iter().rev().find(idle).map(|s| s.0),
            Hunting::RoundRobin => {
                let after = self.last.unwrap_or(0);
                let later = self.slots.iter().filter(|s| s.0 > after).find(idle);
                later.or_else(|| self.slots.iter().find(idle)).map(|s| s.0)
            }
        }?;
        self.take(ts).then_some(ts)
    }

    /// Whether a channel waits for its RESTART to be acknowledged.
    pub fn restarting(&self) -> bool {
        self.slots
            .iter()
            .any(|(_, s)| *s == ChannelState::Restarting)
    }

    /// Sets `ts` (every channel with `None`) to `state`.
    pub fn set(&mut self, ts: Option<u8>, state: ChannelState) {
        for (t, s) in &mut self.slots {
            if ts.is_none_or(|n| n == *t) {
                *s = state;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(mut c: Channels, n: usize) -> Vec<Option<u8>> {
        (0..n).map(|_| c.hunt()).collect()
    }

    #[test]
    fn hunting_takes_channels_in_the_configured_order_under_the_limit() {
        let ts = [1, 2, 3, 17];
        let asc = Channels::new(&ts, Hunting::Ascending, 4);
        assert_eq!(taken(asc, 5), [Some(1), Some(2), Some(3), Some(17), None]);
        let desc = Channels::new(&ts, Hunting::Descending, 2);
        assert_eq!(taken(desc, 3), [Some(17), Some(3), None]);

        let mut rr = Channels::new(&ts, Hunting::RoundRobin, 4);
        assert_eq!(rr.hunt(), Some(1));
        rr.set(Some(1), ChannelState::Idle);
        assert_eq!(rr.hunt(), Some(2), "round robin moves on after a call ends");
        rr.set(Some(2), ChannelState::Idle);
        assert_eq!(rr.hunt(), Some(3));
        assert_eq!(rr.hunt(), Some(17));
        rr.set(None, ChannelState::Idle);
        assert_eq!(rr.hunt(), Some(1), "and wraps");

        let mut blocked = Channels::new(&ts, Hunting::Ascending, 4);
        blocked.set(None, ChannelState::Blocked);
        assert_eq!(blocked.hunt(), None);
        assert!(!blocked.take(2));
    }
}
