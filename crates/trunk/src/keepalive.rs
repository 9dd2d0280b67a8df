//! The OPTIONS keep-alive that tells whether a trunk's carrier answers
//! (TRK-4, OPS-3): a route skips a trunk marked down until an OPTIONS is
//! answered again. Sans-IO: the owner sends a probe when
//! [`Keepalive::handle_timeout`] asks for one and reports its outcome.
//!
//! Any final answer, even 404 or 405, proves the carrier's SIP stack is
//! there; only silence, a transport failure or 503 (overloaded, RFC 3261
//! §21.5.4) count against it. One miss is not an outage on a lossy
//! network: `down_after` misses in a row are.

use std::time::{Duration, Instant};

/// Whether the trunk answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not probed yet: routes try it.
    Unknown,
    Up,
    Down,
}

/// What the owner is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The trunk went from `from` to `to`.
    Health { from: Health, to: Health },
}

#[derive(Debug, Clone)]
pub struct Keepalive {
    interval: Duration,
    /// While down, probe this often, to notice the return quickly.
    down_interval: Duration,
    down_after: u32,
    health: Health,
    misses: u32,
    next_at: Option<Instant>,
    probing: bool,
}

impl Keepalive {
    /// Probes every `interval` (30–60 s is what carriers expect), the
    /// first one at `now`.
    pub fn new(interval: Duration, down_after: u32, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            down_interval: (interval / 4).max(Duration::from_secs(5)).min(interval),
            down_after: down_after.max(1),
            health: Health::Unknown,
            misses: 0,
            next_at: Some(now),
            probing: false,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Whether routes may try the trunk now.
    pub fn usable(&self) -> bool {
        self.health != Health::Down
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_at
    }

    /// `true` when a probe is due: the owner sends an OPTIONS and later
    /// calls [`Keepalive::answered`] or [`Keepalive::failed`].
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.probing || self.next_at.is_none_or(|t| t > now) {
            return false;
        }
        self.probing = true;
        self.next_at = None;
        true
    }

    /// The probe got final answer `code`.
    pub fn answered(&mut self, now: Instant, code: u16) -> Option<Change> {
        if code == 503 {
            return self.failed(now);
        }
        self.probing = false;
        self.misses = 0;
        self.next_at = Some(now + self.interval);
        self.set(Health::Up)
    }

    /// The probe timed out or could not be sent.
    pub fn failed(&mut self, now: Instant) -> Option<Change> {
        self.probing = false;
        self.misses = self.misses.saturating_add(1);
        let down = self.misses >= self.down_after;
        self.next_at = Some(
            now + if down || self.health == Health::Down {
                self.down_interval
            } else {
                self.interval
            },
        );
        if down {
            self.set(Health::Down)
        } else {
            None
        }
    }

    fn set(&mut self, to: Health) -> Option<Change> {
        let from = std::mem::replace(&mut self.health, to);
        (from != to).then_some(Change::Health { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn an_answer_marks_up_and_probes_again_after_the_interval() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(MINUTE, 2, t0);
        assert!(k.usable(), "an unprobed trunk is tried");
        assert!(k.handle_timeout(t0));
        assert!(!k.handle_timeout(t0), "one probe at a time");
        let c = k.answered(t0, 405);
        assert_eq!(
            c,
            Some(Change::Health {
                from: Health::Unknown,
                to: Health::Up
            })
        );
        assert_eq!(k.poll_timeout(), Some(t0 + MINUTE));
        assert!(!k.handle_timeout(t0 + MINUTE - Duration::from_millis(1)));
        assert!(k.handle_timeout(t0 + MINUTE));
        assert_eq!(k.answered(t0 + MINUTE, 200), None, "no change, no event");
    }

    #[test]
    fn down_after_consecutive_misses_probed_faster_and_back_on_an_answer() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(MINUTE, 2, t0);
        k.handle_timeout(t0);
        k.answered(t0, 200);
        let t1 = t0 + MINUTE;
        k.handle_timeout(t1);
        assert_eq!(k.failed(t1), None, "one miss is not an outage");
        assert!(k.usable());
        let t2 = t1 + MINUTE;
        k.handle_timeout(t2);
        assert_eq!(
            k.answered(t2, 503),
            Some(Change::Health {
                from: Health::Up,
                to: Health::Down
            }),
            "503 counts as a miss"
        );
        assert!(!k.usable());
        assert_eq!(k.poll_timeout(), Some(t2 + Duration::from_secs(15)));
        let t3 = t2 + Duration::from_secs(15);
        assert!(k.handle_timeout(t3));
        assert_eq!(
            k.answered(t3, 200),
            Some(Change::Health {
                from: Health::Down,
                to: Health::Up
            })
        );
        assert!(k.usable());
    }
}
