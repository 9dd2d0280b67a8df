//! The core's deadlines in one table (issue 12 §2): the call code arms a
//! timer when it sets a deadline, and the loop asks the table for the
//! next one and fires only those due, instead of scanning every call for
//! every kind of deadline on every turn.
//!
//! A deadline's truth stays with its owner (the call's no-answer time,
//! its flow's or feature's timer, its queue announcement): a timer that
//! fires checks it, so a timer left armed for a call that has ended, or
//! whose deadline was cleared, fires harmlessly (lazy cancellation), and
//! nothing but arming has to be remembered where deadlines change.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use dering_store::Disposition;

use super::{forward, CallState, Core, Ending, Now};

/// How often the registrar and the guard are swept: registrations
/// expired, phones due a qualify probe, idle guard and subscription state.
pub(super) const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// What a deadline is for; at most one of each is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Timer {
    /// The periodic sweep ([`SWEEP_EVERY`]).
    Sweep,
    /// A call's ringing B leg (a callee, a flow's member, the agent's
    /// own phone of a click-to-dial) has rung long enough.
    NoAnswer(u64),
    /// A call flow's step waited long enough (for a key, a pause).
    FlowStep(u64),
    /// A conference or monitoring caller stopped typing their PIN.
    Feature(u64),
    /// A caller waiting in a queue is due to hear their place again.
    QueueAnnounce(u64),
    /// A blind transfer's target has rung long enough.
    TransferNoAnswer(u64),
    /// A trunk's registration or OPTIONS keep-alive is due (its id in
    /// the trunk table, `core/trunks.rs`).
    Trunk(u32),
}

/// Armed timers by deadline, and each armed timer's slot, so arming
/// again moves it and disarming finds it: O(log n) each, and the next
/// deadline is the first key.
#[derive(Debug, Default)]
pub(super) struct TimerTable {
    /// (deadline, arming order) -> timer: timers due at the same instant
    /// fire in the order they were armed.
    by_due: BTreeMap<(Instant, u64), Timer>,
    armed: HashMap<Timer, (Instant, u64)>,
    next_seq: u64,
}

impl TimerTable {
    /// A table with only the sweep armed, due at `at`.
    pub(super) fn with_sweep(at: Instant) -> TimerTable {
        let mut t = TimerTable::default();
        t.arm(Timer::Sweep, at);
        t
    }

    /// Arms `timer` for `at`, replacing its earlier deadline if armed.
    pub(super) fn arm(&mut self, timer: Timer, at: Instant) {
        self.disarm(timer);
        let slot = (at, self.next_seq);
        self.next_seq += 1;
        self.by_due.insert(slot, timer);
        self.armed.insert(timer, slot);
    }

    /// Disarms `timer`; returns whether it was armed.
    pub(super) fn disarm(&mut self, timer: Timer) -> bool {
        match self.armed.remove(&timer) {
            Some(slot) => self.by_due.remove(&slot).is_some(),
            None => false,
        }
    }

    /// The earliest deadline armed.
    pub(super) fn next(&self) -> Option<Instant> {
        self.by_due.keys().next().map(|(at, _)| *at)
    }

    /// Takes the timers due at `now`, earliest first. Timers armed while
    /// these fire wait for the next call, even if already due, so a
    /// handler that re-arms for `now` cannot spin.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(entry) = self.by_due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.armed.remove(&timer);
            due.push(timer);
        }
        due
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_due.len()
    }
}

impl Core {
    /// Fires the timers due at `now`.
    pub(super) fn fire_timers(&mut self, now: Now) {
        for timer in self.timers.take_due(now.at) {
            match timer {
                Timer::Sweep => {
                    self.timers.arm(Timer::Sweep, now.at + SWEEP_EVERY);
                    self.sweep(now);
                }
                Timer::NoAnswer(call) => self.no_answer_due(now, call),
                Timer::FlowStep(call) => self.flow_timer(now, call),
                Timer::Feature(call) => self.feature_timer(now, call),
                Timer::QueueAnnounce(call) => self.announce_due(now, call),
                Timer::TransferNoAnswer(call) => self.transfer_no_answer(now, call),
                Timer::Trunk(id) => self.trunk_due(now, id),
            }
        }
    }

    /// Call `call` rang until its no-answer time: the agent's own phone
    /// of a click-to-dial gives up, a flow tries its next member, and a
    /// callee is cancelled (forwarded on no answer, where set).
    fn no_answer_due(&mut self, now: Now, call: u64) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.no_answer_at > now.at {
            return;
        }
        if c.origin().is_some() {
            self.originate_timeout(now, call);
        } else if c.state() == CallState::Ringing {
            self.send_cancel(now, call);
            self.forward_or_end(
                now,
                call,
                forward::Condition::NoAnswer,
                Ending::new(Disposition::NoAnswer, "system", "no answer", Some(480)),
                480,
            );
        } else if c.state() == CallState::Flow && c.b.is_live() {
            self.send_cancel(now, call);
            self.flow_member_failed(now, call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_then_arming_order() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = TimerTable::default();
        t.arm(Timer::FlowStep(1), t0 + 3 * s);
        t.arm(Timer::NoAnswer(2), t0 + s);
        t.arm(Timer::Feature(3), t0 + 2 * s);
        t.arm(Timer::QueueAnnounce(4), t0 + 2 * s);
        assert_eq!(t.next(), Some(t0 + s));
        assert_eq!(t.take_due(t0), vec![], "nothing due before its time");
        assert_eq!(
            t.take_due(t0 + 2 * s),
            vec![
                Timer::NoAnswer(2),
                Timer::Feature(3),
                Timer::QueueAnnounce(4)
            ]
        );
        assert_eq!(t.next(), Some(t0 + 3 * s));
        assert_eq!(t.take_due(t0 + 10 * s), vec![Timer::FlowStep(1)]);
        assert_eq!((t.next(), t.len()), (None, 0));
    }

    #[test]
    fn a_disarmed_timer_never_fires() {
        let t0 = Instant::now();
        let mut t = TimerTable::with_sweep(t0);
        t.arm(Timer::NoAnswer(7), t0 + Duration::from_secs(30));
        assert!(t.disarm(Timer::NoAnswer(7)));
        assert!(!t.disarm(Timer::NoAnswer(7)), "disarmed once");
        assert!(!t.disarm(Timer::FlowStep(7)), "never armed");
        assert_eq!(t.take_due(t0 + Duration::from_secs(60)), vec![Timer::Sweep]);
        assert_eq!(t.len(), 0);
    }

    /// Arming an armed timer moves it (a call rung again gets a fresh
    /// no-answer time): one entry, at the new deadline, earlier or later.
    #[test]
    fn arming_again_moves_the_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = TimerTable::default();
        t.arm(Timer::NoAnswer(1), t0 + 30 * s);
        t.arm(Timer::NoAnswer(1), t0 + 50 * s);
        assert_eq!(t.len(), 1);
        assert_eq!(t.take_due(t0 + 40 * s), vec![]);
        assert_eq!(t.next(), Some(t0 + 50 * s));
        t.arm(Timer::NoAnswer(1), t0 + 20 * s);
        assert_eq!(t.take_due(t0 + 40 * s), vec![Timer::NoAnswer(1)]);
        // Fired timers are no longer armed: arming again is a new timer.
        assert!(!t.disarm(Timer::NoAnswer(1)));
        t.arm(Timer::NoAnswer(1), t0 + 45 * s);
        assert_eq!(t.take_due(t0 + 45 * s), vec![Timer::NoAnswer(1)]);
    }

    #[test]
    fn timers_of_different_calls_and_kinds_are_apart() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.arm(Timer::NoAnswer(1), t0);
        t.arm(Timer::NoAnswer(2), t0);
        t.arm(Timer::FlowStep(1), t0);
        assert!(t.disarm(Timer::NoAnswer(1)));
        assert_eq!(t.take_due(t0), vec![Timer::NoAnswer(2), Timer::FlowStep(1)]);
    }
}
