//! The delivery machine: which due rows go now, and what an attempt's
//! outcome does to its row.
//!
//! Rows of one ticket go one at a time, in order (the store offers only
//! each ticket's first undelivered row, and a ticket in flight is not
//! admitted again); different tickets go in parallel up to
//! `max_in_flight`. A transient failure is retried after an exponential
//! backoff with jitter, or after SIMPEL's Retry-After when that is longer;
//! a 429 also pauses every row until then, as SIMPEL asked the client,
//! not the row. After `breaker_failures` transient failures in a row the
//! breaker opens: nothing is sent for `breaker_open_ms`, then one probe;
//! its success closes the breaker, its failure opens it again. So an
//! outage costs SIMPEL one request per period, not one per row.

use std::collections::BTreeMap;

use dering_config::SyncConfig;

use crate::answer::{Attempt, Verdict};

/// The numbers the machine follows (from `[sync]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub max_in_flight: usize,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub breaker_failures: u32,
    pub breaker_open_ms: u64,
}

impl From<&SyncConfig> for Policy {
    fn from(c: &SyncConfig) -> Self {
        Policy {
            max_in_flight: c.max_in_flight as usize,
            backoff_base_ms: c.backoff_base_ms,
            backoff_max_ms: c.backoff_max_ms,
            breaker_failures: c.breaker_failures,
            breaker_open_ms: c.breaker_open_ms,
        }
    }
}

/// The circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    /// Sending; this many transient failures in a row so far.
    Closed { failures: u32 },
    /// Not sending until then.
    Open { until_ms: u64 },
    /// One probe allowed; `probing` while it is in flight.
    HalfOpen { probing: bool },
}

/// What becomes of a row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered {
        upstream_id: Option<String>,
    },
    Retry {
        next_attempt_ms: u64,
        error: String,
    },
    /// A dead letter: kept, shown, and sent again only when a technician
    /// retries it.
    Dead {
        error: String,
    },
}

/// A row offered for sending: its id and its ticket's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub row: i64,
    pub ticket: i64,
}

#[derive(Debug)]
pub struct Delivery {
    policy: Policy,
    /// Ticket → row in flight.
    in_flight: BTreeMap<i64, i64>,
    breaker: Breaker,
    /// No row is sent before this (SIMPEL's 429).
    paused_until_ms: u64,
}

impl Delivery {
    pub fn new(policy: Policy) -> Delivery {
        Delivery {
            policy,
            in_flight: BTreeMap::new(),
            breaker: Breaker::Closed { failures: 0 },
            paused_until_ms: 0,
        }
    }

    pub fn breaker(&self) -> Breaker {
        self.breaker
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether row `row` is being sent.
    pub fn is_in_flight(&self, row: i64) -> bool {
        self.in_flight.values().any(|r| *r == row)
    }

    /// Whether [`Delivery::admit`] could take a row at `now_ms`: not
    /// paused by a Retry-After, a slot free, the breaker letting one
    /// through. The daemon reads the outbox only then, so a long backlog
    /// is not queried again on every answer while every slot is busy.
    pub fn has_room(&self, now_ms: u64) -> bool {
        if now_ms < self.paused_until_ms {
            return false;
        }
        match self.breaker {
            Breaker::Closed { .. } => self.in_flight.len() < self.policy.max_in_flight,
            Breaker::Open { until_ms } => now_ms >= until_ms && self.in_flight.is_empty(),
            Breaker::HalfOpen { probing } => !probing && self.in_flight.is_empty(),
        }
    }

    /// Picks from `due` (oldest first) the rows to send now and counts
    /// them in flight; each must later be given to [`Delivery::finish`].
    pub fn admit(&mut self, now_ms: u64, due: &[Due]) -> Vec<Due> {
        if now_ms < self.paused_until_ms {
            return Vec::new();
        }
        let room = match self.breaker {
            Breaker::Closed { .. } => self
                .policy
                .max_in_flight
                .saturating_sub(self.in_flight.len()),
            Breaker::Open { until_ms } if now_ms >= until_ms => {
                self.breaker = Breaker::HalfOpen { probing: false };
                usize::from(self.in_flight.is_empty())
            }
            Breaker::Open { .. } => 0,
            Breaker::HalfOpen { probing } => usize::from(!probing && self.in_flight.is_empty()),
        };
        let mut out = Vec::new();
        for d in due {
            if out.len() >= room {
                break;
            }
            if self.in_flight.contains_key(&d.ticket) {
                continue;
            }
            self.in_flight.insert(d.ticket, d.row);
            out.push(*d);
        }
        if !out.is_empty() {
            if let Breaker::HalfOpen { .. } = self.breaker {
                self.breaker = Breaker::HalfOpen { probing: true };
            }
        }
        out
    }

    /// The attempt at `due` (its `attempts` counting this one) ended with
    /// `attempt`; `random` is any uniformly random number (the jitter).
    pub fn finish(
        &mut self,
        due: Due,
        attempts: u32,
        attempt: &Attempt,
        now_ms: u64,
        random: u64,
    ) -> Decision {
        if self.in_flight.get(&due.ticket) == Some(&due.row) {
            self.in_flight.remove(&due.ticket);
        }
        match attempt.verdict() {
            Verdict::Delivered { upstream_id } => {
                self.breaker = Breaker::Closed { failures: 0 };
                Decision::Delivered { upstream_id }
            }
            Verdict::Permanent { error } => {
                // SIMPEL answered: the link works, whatever the row's fault.
                self.breaker = Breaker::Closed { failures: 0 };
                Decision::Dead { error }
            }
            Verdict::Transient { error, hint_ms } => {
                self.failed(now_ms);
                let backoff = self.backoff_ms(attempts, random);
                if let (Some(h), Attempt::Answered { status: 429, .. }) = (hint_ms, attempt) {
                    self.paused_until_ms = self.paused_until_ms.max(now_ms + h);
                }
                let wait = backoff.max(hint_ms.unwrap_or(0));
                Decision::Retry {
                    next_attempt_ms: now_ms + wait,
                    error,
                }
            }
        }
    }

    fn failed(&mut self, now_ms: u64) {
        let open = Breaker::Open {
            until_ms: now_ms + self.policy.breaker_open_ms,
        };
        self.breaker = match self.breaker {
            Breaker::Closed { failures } if failures + 1 >= self.policy.breaker_failures => open,
            Breaker::Closed { failures } => Breaker::Closed {
                failures: failures + 1,
            },
            // A late failure of a row sent before the breaker opened
            // does not extend it; a failed probe opens it again.
            Breaker::Open { until_ms } => Breaker::Open { until_ms },
            Breaker::HalfOpen { .. } => open,
        };
    }

    /// The delay before retry number `attempts`: the exponential cap
    /// `base × 2^(attempts-1)` (at most `backoff_max_ms`), of which half
    /// is fixed and half random ("equal jitter"), so rows that failed
    /// together do not come back together.
    pub fn backoff_ms(&self, attempts: u32, random: u64) -> u64 {
        let exp = attempts.saturating_sub(1).min(32);
        let cap = self
            .policy
            .backoff_base_ms
            .saturating_mul(1u64 << exp)
            .min(self.policy.backoff_max_ms);
        let half = cap / 2;
        half + random % (cap - half + 1)
    }

    /// When [`Delivery::admit`] could next say yes though nothing else
    /// changed (the breaker's or the pause's end), if later than `now_ms`.
    pub fn poll_timeout(&self, now_ms: u64) -> Option<u64> {
        let mut t = None;
        if self.paused_until_ms > now_ms {
            t = Some(self.paused_until_ms);
        }
        if let Breaker::Open { until_ms } = self.breaker {
            if until_ms > now_ms {
                t = Some(t.map_or(until_ms, |x: u64| x.max(until_ms)));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            max_in_flight: 2,
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
            breaker_failures: 3,
            breaker_open_ms: 30_000,
        }
    }

    fn due(row: i64, ticket: i64) -> Due {
        Due { row, ticket }
    }

    fn status(s: u16) -> Attempt {
        Attempt::Answered {
            status: s,
            retry_after_ms: None,
            upstream_id: Some("S-1".into()),
            body: String::new(),
        }
    }

    #[test]
    fn parallel_across_tickets_never_two_of_one() {
        let mut d = Delivery::new(policy());
        let sent = d.admit(0, &[due(1, 10), due(2, 10), due(3, 11), due(4, 12)]);
        assert_eq!(sent, [due(1, 10), due(3, 11)]);
        assert!(d.admit(0, &[due(4, 12)]).is_empty());
        assert_eq!(
            d.finish(due(1, 10), 1, &status(201), 5, 0),
            Decision::Delivered {
                upstream_id: Some("S-1".into())
            }
        );
        // Ticket 10's next row may go now, as may another ticket.
        assert_eq!(d.admit(5, &[due(2, 10), due(4, 12)]), [due(2, 10)]);
    }

    /// `has_room` says exactly when `admit` would take a row.
    #[test]
    fn room_follows_the_slots_and_the_breaker() {
        let mut d = Delivery::new(policy());
        assert!(d.has_room(0));
        d.admit(0, &[due(1, 10), due(2, 11)]);
        assert!(!d.has_room(0), "both slots busy");
        d.finish(due(1, 10), 1, &status(201), 1, 0);
        assert!(d.has_room(1));
        d.finish(due(2, 11), 1, &status(503), 2, 0);
        for (row, at) in [(3, 3), (4, 4)] {
            d.admit(at, &[due(row, 20 + row)]);
            d.finish(due(row, 20 + row), 1, &status(503), at, 0);
        }
        // Three failures open the breaker for 30 s.
        assert!(!d.has_room(10));
        assert!(d.has_room(4 + 30_000));
        assert_eq!(d.admit(4 + 30_000, &[due(5, 30)]).len(), 1);
        assert!(!d.has_room(4 + 30_000), "one probe at a time");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let d = Delivery::new(policy());
        for (attempts, lo, hi) in [
            (1, 500, 1_000),
            (2, 1_000, 2_000),
            (4, 4_000, 8_000),
            (30, 30_000, 60_000),
        ] {
            assert_eq!(d.backoff_ms(attempts, 0), lo);
            assert_eq!(
                d.backoff_ms(attempts, u64::MAX - 1),
                lo + (u64::MAX - 1) % (hi - lo + 1)
            );
            for r in [0, 7, 999_999, u64::MAX] {
                let b = d.backoff_ms(attempts, r);
                assert!((lo..=hi).contains(&b), "{attempts}: {b}");
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_and_429_pauses_everything() {
        let mut d = Delivery::new(policy());
        d.admit(0, &[due(1, 10)]);
        let a = Attempt::Answered {
            status: 429,
            retry_after_ms: Some(20_000),
            upstream_id: None,
            body: "slow down".into(),
        };
        let Decision::Retry {
            next_attempt_ms, ..
        } = d.finish(due(1, 10), 1, &a, 100, 0)
        else {
            panic!("429 is retried");
        };
        assert_eq!(next_attempt_ms, 20_100);
        assert!(d.admit(20_099, &[due(2, 11)]).is_empty());
        assert_eq!(d.poll_timeout(100), Some(20_100));
        assert_eq!(d.admit(20_100, &[due(2, 11)]), [due(2, 11)]);
    }

    #[test]
    fn permanent_failures_are_dead_letters_and_409_is_delivered() {
        let mut d = Delivery::new(policy());
        d.admit(0, &[due(1, 10), due(2, 11)]);
        assert!(matches!(
            d.finish(due(1, 10), 1, &status(422), 1, 0),
            Decision::Dead { .. }
        ));
        assert!(matches!(
            d.finish(due(2, 11), 1, &status(409), 1, 0),
            Decision::Delivered { .. }
        ));
        assert!(matches!(
            {
                d.admit(2, &[due(3, 12)]);
                d.finish(due(3, 12), 1, &Attempt::Unsendable("template".into()), 2, 0)
            },
            Decision::Dead { .. }
        ));
    }

    #[test]
    fn the_breaker_opens_probes_once_and_closes_on_success() {
        let rows: Vec<Due> = (1..=10).map(|i| due(i, 100 + i)).collect();
        let now = 1_000;
        let mut d = Delivery::new(policy());
        for i in 0..3 {
            let sent = d.admit(now, &rows[i..i + 1]);
            assert_eq!(sent.len(), 1);
            d.finish(sent[0], 1, &status(503), now, 0);
        }
        assert_eq!(
            d.breaker(),
            Breaker::Open {
                until_ms: now + 30_000
            }
        );
        assert!(d.admit(now + 29_999, &rows).is_empty());
        assert_eq!(d.poll_timeout(now), Some(now + 30_000));
        // Half-open: exactly one probe.
        let probe = d.admit(now + 30_000, &rows);
        assert_eq!(probe.len(), 1);
        assert!(d.admit(now + 30_000, &rows).is_empty());
        // It fails: open again for another period.
        d.finish(
            probe[0],
            2,
            &Attempt::Failed("timeout".into()),
            now + 30_500,
            0,
        );
        assert_eq!(
            d.breaker(),
            Breaker::Open {
                until_ms: now + 60_500
            }
        );
        let probe = d.admit(now + 60_500, &rows);
        assert_eq!(probe.len(), 1);
        d.finish(probe[0], 3, &status(201), now + 60_600, 0);
        assert_eq!(d.breaker(), Breaker::Closed { failures: 0 });
        assert_eq!(d.admit(now + 60_600, &rows).len(), 2);
    }

    /// Virtual time: rows of many tickets against an upstream that fails
    /// each first and second attempt; every row ends delivered, each
    /// ticket's rows in order, never two of one ticket at once.
    #[test]
    fn every_row_is_delivered_in_order_on_virtual_time() {
        let mut d = Delivery::new(Policy {
            max_in_flight: 4,
            ..policy()
        });
        // (row, ticket, attempts, next_attempt_ms, delivered)
        let mut rows: Vec<(i64, i64, u32, u64, bool)> =
            (0..60).map(|i| (i, i % 7, 0, 0, false)).collect();
        let mut delivered_order: Vec<(i64, i64)> = Vec::new();
        let mut now = 0u64;
        let mut random = 12345u64;
        while rows.iter().any(|r| !r.4) && now < 10_000_000 {
            // What the store offers: each ticket's first undelivered row, if due.
            let mut offered = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for r in &rows {
                if !r.4 && seen.insert(r.1) && r.3 <= now {
                    offered.push(due(r.0, r.1));
                }
            }
            let sent = d.admit(now, &offered);
            for s in sent {
                let r = rows.iter_mut().find(|r| r.0 == s.row).unwrap();
                r.2 += 1;
                random = random.wrapping_mul(6364136223846793005).wrapping_add(1);
                let a = if r.2 <= 2 { status(503) } else { status(201) };
                match d.finish(s, r.2, &a, now, random >> 11) {
                    Decision::Delivered { .. } => {
                        r.4 = true;
                        delivered_order.push((r.1, r.0));
                    }
                    Decision::Retry {
                        next_attempt_ms, ..
                    } => {
                        assert!(next_attempt_ms > now);
                        r.3 = next_attempt_ms;
                    }
                    Decision::Dead { error } => panic!("{error}"),
                }
            }
            now += 250;
        }
        assert!(rows.iter().all(|r| r.4), "undelivered after {now} ms");
        for t in 0..7 {
            let order: Vec<i64> = delivered_order
                .iter()
                .filter(|x| x.0 == t)
                .map(|x| x.1)
                .collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "ticket {t}");
        }
    }
}
