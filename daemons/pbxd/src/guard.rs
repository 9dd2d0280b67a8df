//! Defences against hostile traffic (OPS-5): a token bucket of requests per
//! source address, and a block on addresses that fail authentication too
//! often. Time is an input.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    first: Option<Instant>,
    blocked_until: Option<Instant>,
}

/// Per-source limits.
#[derive(Debug)]
pub struct Guard {
    rate: f64,
    max_failures: u32,
    block_for: Duration,
    buckets: HashMap<IpAddr, Bucket>,
    failures: HashMap<IpAddr, Failures>,
}

/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

impl Guard {
    pub fn new(requests_per_second: u32, max_failures: u32, block_seconds: u32) -> Guard {
        Guard {
            rate: f64::from(requests_per_second.max(1)),
            max_failures: max_failures.max(1),
            block_for: Duration::from_secs(u64::from(block_seconds)),
            buckets: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// New limits (TEL-8); the buckets and the failures counted so far
    /// are kept, so a change never unblocks an attacker by accident.
    pub fn set_limits(&mut self, requests_per_second: u32, max_failures: u32, block_seconds: u32) {
        let fresh = Guard::new(requests_per_second, max_failures, block_seconds);
        self.rate = fresh.rate;
        self.max_failures = fresh.max_failures;
        self.block_for = fresh.block_for;
    }

    /// Whether a request from `ip` may be processed now.
    pub fn admit(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.is_blocked(now, ip) {
            return false;
        }
        let burst = self.rate * 2.0;
        let b = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn is_blocked(&self, now: Instant, ip: IpAddr) -> bool {
        self.failures
            .get(&ip)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| until > now)
    }

    /// Records a failed authentication; returns true when this blocks `ip`.
    pub fn auth_failed(&mut self, now: Instant, ip: IpAddr) -> bool {
        let f = self.failures.entry(ip).or_default();
        if f.first
            .is_none_or(|t| now.saturating_duration_since(t) > FAILURE_WINDOW)
        {
            f.first = Some(now);
            f.count = 0;
        }
        f.count += 1;
        if f.count >= self.max_failures && f.blocked_until.is_none_or(|u| u <= now) {
            f.blocked_until = Some(now + self.block_for);
            return true;
        }
        false
    }

    pub fn auth_succeeded(&mut self, ip: IpAddr) {
        self.failures.remove(&ip);
    }

    /// Lifts a block (admin CLI). Returns whether `ip` was blocked.
    pub fn unblock(&mut self, ip: IpAddr) -> bool {
        self.failures
            .remove(&ip)
            .is_some_and(|f| f.blocked_until.is_some())
    }

    /// Addresses blocked now, with seconds left.
    pub fn blocked(&self, now: Instant) -> Vec<(IpAddr, u64)> {
        self.failures
            .iter()
            .filter_map(|(ip, f)| {
                let until = f.blocked_until?;
                (until > now).then(|| (*ip, until.duration_since(now).as_secs()))
            })
            .collect()
    }

    /// Forgets idle state.
    pub fn sweep(&mut self, now: Instant) {
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.at) < Duration::from_secs(10));
        self.failures.retain(|_, f| {
            f.blocked_until.is_some_and(|u| u > now)
                || f.first
                    .is_some_and(|t| now.saturating_duration_since(t) < FAILURE_WINDOW)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_refills() {
        let mut g = Guard::new(10, 3, 60);
        let t = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let admitted = (0..100).filter(|_| g.admit(t, ip)).count();
        assert_eq!(admitted, 20, "burst is twice the rate");
        assert!(!g.admit(t, ip));
        assert!(g.admit(t + Duration::from_millis(200), ip));
    }

    #[test]
    fn repeated_failures_block_then_unblock() {
        let mut g = Guard::new(100, 3, 60);
        let t = Instant::now();
        let ip: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!g.auth_failed(t, ip));
        assert!(!g.auth_failed(t, ip));
        assert!(g.auth_failed(t, ip));
        assert!(!g.admit(t, ip));
        assert_eq!(g.blocked(t), vec![(ip, 60)]);
        assert!(g.admit(t + Duration::from_secs(61), ip), "block expires");
        g.auth_failed(t, ip);
        g.auth_failed(t, ip);
        g.auth_failed(t, ip);
        assert!(g.unblock(ip));
        assert!(g.admit(t, ip));
    }
}
