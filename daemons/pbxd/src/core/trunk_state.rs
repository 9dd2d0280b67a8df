//! Whether a trunk may take another outbound call now (TRK-3, OPS-3):
//! up or marked down (by the OPTIONS keep-alive, which drives
//! [`TrunkStates::trunk_down`] and [`TrunkStates::trunk_up`]), below its
//! channel limit, and below its calls-per-second cap. One small type so
//! the keep-alive and the outbound path share one truth.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// The live state of every trunk, by name.
#[derive(Debug, Default)]
pub(super) struct TrunkStates {
    /// Trunks marked down: skipped by routes until marked up again.
    down: HashSet<String>,
    /// When each trunk's recent outbound calls started (the last second).
    starts: HashMap<String, VecDeque<Instant>>,
}

/// Why a trunk cannot take a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unusable {
    Down,
    /// Every channel busy.
    Full,
    /// The calls-per-second cap reached.
    Rate,
}

impl TrunkStates {
    /// The keep-alive found the carrier gone: routes skip the trunk.
    pub(super) fn trunk_down(&mut self, name: &str) {
        self.down.insert(name.to_string());
    }

    /// The carrier answers again.
    pub(super) fn trunk_up(&mut self, name: &str) {
        self.down.remove(name);
    }

    pub(super) fn is_down(&self, name: &str) -> bool {
        self.down.contains(name)
    }

    /// Whether `name`, with `busy` of its `channels` in use and a cap of
    /// `cps` new calls a second, may take a call at `now`.
    pub(super) fn check(
        &mut self,
        name: &str,
        (busy, channels): (u32, u32),
        cps: u32,
        now: Instant,
    ) -> Result<(), Unusable> {
        if self.is_down(name) {
            return Err(Unusable::Down);
        }
        if busy >= channels {
            return Err(Unusable::Full);
        }
        let starts = self.starts.entry(name.to_string()).or_default();
        while starts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            starts.pop_front();
        }
        if starts.len() >= cps as usize {
            return Err(Unusable::Rate);
        }
        Ok(())
    }

    /// A call was sent to `name` at `now` (counted against its cap).
    pub(super) fn started(&mut self, name: &str, now: Instant) {
        self.starts
            .entry(name.to_string())
            .or_default()
            .push_back(now);
    }

    /// Forgets trunks no longer configured.
    pub(super) fn keep_only(&mut self, names: &HashSet<&str>) {
        self.down.retain(|n| names.contains(n.as_str()));
        self.starts.retain(|n, _| names.contains(n.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_full_and_rate_capped_trunks_are_refused() {
        let t0 = Instant::now();
        let mut s = TrunkStates::default();
        assert_eq!(s.check("a", (0, 2), 2, t0), Ok(()));
        s.trunk_down("a");
        assert_eq!(s.check("a", (0, 2), 2, t0), Err(Unusable::Down));
        s.trunk_up("a");
        assert_eq!(s.check("a", (2, 2), 2, t0), Err(Unusable::Full));
        s.started("a", t0);
        s.started("a", t0 + Duration::from_millis(500));
        assert_eq!(
            s.check("a", (0, 9), 2, t0 + Duration::from_millis(900)),
            Err(Unusable::Rate)
        );
        // A second after the first start, one place is free again.
        assert_eq!(s.check("a", (0, 9), 2, t0 + Duration::from_secs(1)), Ok(()));
    }
}
