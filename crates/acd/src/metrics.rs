//! Queue statistics from the journal (CMS-1, CMS-2), with the definitions
//! `docs/metrics.md` states once:
//!
//! - **offered**: callers who entered the queue (callers turned away full
//!   or empty are *exited*, never offered);
//! - **answered**: an agent took the call;
//! - **abandoned**: the caller hung up while waiting or ringing; a
//!   **short abandon** hung up within the short-abandon threshold
//!   (default 5 s) and is counted apart;
//! - **dropped**: the system lost the call while it waited;
//! - **exited**: left for another destination (overflow, maximum wait,
//!   queue full or empty), by the queue's rules;
//! - **service level**: answered within the threshold (default 20 s) over
//!   offered minus short abandons: a caller who hung up in the first
//!   seconds was never really waiting, so neither side of the ratio counts
//!   them.
//!
//! Everything is derived from stored events, so a restart changes nothing
//! (pitfall 4).

use serde::{Deserialize, Serialize};

use crate::engine::{Event, ExitReason};

/// One queue's counters over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub dropped: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    pub turned_away: u64,
    pub callbacks: u64,
    pub wait_answered_ms: u64,
    pub wait_abandoned_ms: u64,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub completed: u64,
    pub transferred: u64,
}

impl QueueStats {
    /// Counts `e` if it is this queue's; `threshold_ms` is the service
    /// level's answer time.
    pub fn apply(&mut self, queue: &str, threshold_ms: u64, e: &Event) {
        match e {
            Event::Entered { queue: q, .. } if q == queue => self.offered += 1,
            Event::Answered {
                queue: q, wait_ms, ..
            } if q == queue => {
                self.answered += 1;
                self.wait_answered_ms += wait_ms;
                if *wait_ms <= threshold_ms {
                    self.answered_within_threshold += 1;
                }
            }
            Event::Abandoned {
                queue: q,
                wait_ms,
                short,
                ..
            } if q == queue => {
                if *short {
                    self.short_abandoned += 1;
                } else {
                    self.abandoned += 1;
                    self.wait_abandoned_ms += wait_ms;
                }
            }
            Event::Dropped { queue: q, .. } if q == queue => self.dropped += 1,
            Event::Exited {
                queue: q, reason, ..
            } if q == queue => match reason {
                ExitReason::Overflow => self.overflowed += 1,
                ExitReason::Timeout => self.timed_out += 1,
                ExitReason::Full | ExitReason::Empty => self.turned_away += 1,
            },
            Event::CallbackRequested { queue: q, .. } if q == queue => self.callbacks += 1,
            Event::Transferred { queue: q, .. } if q == queue => self.transferred += 1,
            Event::Completed {
                queue: q,
                talk_ms,
                hold_ms,
                ..
            } if q == queue => {
                self.completed += 1;
                self.talk_ms += talk_ms;
                self.hold_ms += hold_ms;
            }
            _ => {}
        }
    }

    /// Service level in percent, `None` before any counted call.
    pub fn service_level(&self) -> Option<f64> {
        let base = self.offered.saturating_sub(self.short_abandoned);
        (base > 0).then(|| 100.0 * self.answered_within_threshold as f64 / base as f64)
    }

    /// Average handling (talk + hold) of completed calls, in ms.
    pub fn average_handle_ms(&self) -> Option<u64> {
        (self.completed > 0).then(|| (self.talk_ms + self.hold_ms) / self.completed)
    }
}
