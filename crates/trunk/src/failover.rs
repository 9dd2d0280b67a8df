//! Which failures of a trunk call send it on to the route's next trunk
//! (TRK-3, OPS-3), and the order in which a route tries its trunks.
//!
//! A failure that says something about the called number or person
//! (busy 486, no such number 404, incomplete 484, declined 603) is the
//! same through any carrier: trying another would ring the callee twice
//! or pay for a second failure. A failure that says something about the
//! carrier (no answer, 408, 5xx) is worth another trunk; 6xx other than
//! 603 only where the route's configuration says so.

use rand::Rng;

/// How a try through one trunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No final answer (Timer B) or no provisional answer in time.
    Timeout,
    /// The carrier could not be reached (connection refused, ICMP).
    Transport,
    /// A final answer.
    Status(u16),
}

/// A route's failover setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailoverPolicy {
    /// Fail over on 6xx other than 603 too (some carriers answer 600 or
    /// 604 for what is their own trouble).
    pub on_global_failure: bool,
}

impl FailoverPolicy {
    /// Whether `outcome` sends the call to the next trunk.
    pub fn fails_over(self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Timeout | Outcome::Transport => true,
            Outcome::Status(408) => true,
            Outcome::Status(500..=599) => true,
            Outcome::Status(603) => false,
            Outcome::Status(600..=699) => self.on_global_failure,
            Outcome::Status(_) => false,
        }
    }
}

/// One trunk of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTrunk<T> {
    pub trunk: T,
    /// For weighted routes: its share of first tries.
    pub weight: u32,
    /// Whether it may be tried now (up, or not probed; below its channel
    /// and call-rate limits).
    pub usable: bool,
}

/// How a route orders its trunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// As listed: the first is the primary.
    #[default]
    InOrder,
    /// Drawn by weight for each call, the rest following by weight too.
    Weighted,
}

/// The trunks a call tries, in order, unusable ones left out.
pub fn try_order<T: Clone, R: Rng>(trunks: &[RouteTrunk<T>], order: Order, rng: &mut R) -> Vec<T> {
    let mut left: Vec<&RouteTrunk<T>> = trunks.iter().filter(|t| t.usable).collect();
    match order {
        Order::InOrder => left.into_iter().map(|t| t.trunk.clone()).collect(),
        Order::Weighted => {
            let mut out = Vec::with_capacity(left.len());
            while !left.is_empty() {
                let total: u64 = left.iter().map(|t| u64::from(t.weight)).sum();
                let pick = if total == 0 {
                    0
                } else {
                    let mut x = rng.gen_range(0..total);
                    left.iter()
                        .position(|t| {
                            let w = u64::from(t.weight);
                            if x < w {
                                true
                            } else {
                                x -= w;
                                false
                            }
                        })
                        .unwrap_or(0)
                };
                out.push(left.remove(pick).trunk.clone());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn carrier_trouble_fails_over_the_callees_answer_does_not() {
        let p = FailoverPolicy::default();
        for code in [408, 500, 502, 503, 504] {
            assert!(p.fails_over(Outcome::Status(code)), "{code}");
        }
        assert!(p.fails_over(Outcome::Timeout));
        assert!(p.fails_over(Outcome::Transport));
        for code in [404, 480, 484, 486, 487, 403, 603, 600, 604] {
            assert!(!p.fails_over(Outcome::Status(code)), "{code}");
        }
        let global = FailoverPolicy {
            on_global_failure: true,
        };
        assert!(global.fails_over(Outcome::Status(600)));
        assert!(global.fails_over(Outcome::Status(604)));
        assert!(
            !global.fails_over(Outcome::Status(603)),
            "a decline is never retried"
        );
        assert!(!global.fails_over(Outcome::Status(486)));
    }

    fn trunk(name: &'static str, weight: u32, usable: bool) -> RouteTrunk<&'static str> {
        RouteTrunk {
            trunk: name,
            weight,
            usable,
        }
    }

    #[test]
    fn in_order_skips_trunks_that_are_down() {
        let mut rng = StdRng::seed_from_u64(1);
        let trunks = [
            trunk("a", 1, true),
            trunk("b", 1, false),
            trunk("c", 1, true),
        ];
        assert_eq!(try_order(&trunks, Order::InOrder, &mut rng), vec!["a", "c"]);
    }

    #[test]
    fn weighted_order_follows_the_weights() {
        let mut rng = StdRng::seed_from_u64(42);
        let trunks = [
            trunk("big", 3, true),
            trunk("small", 1, true),
            trunk("off", 5, false),
        ];
        let mut first_big = 0;
        for _ in 0..4000 {
            let order = try_order(&trunks, Order::Weighted, &mut rng);
            assert_eq!(order.len(), 2, "every usable trunk, each once");
            if order[0] == "big" {
                first_big += 1;
            }
        }
        // 3:1 → three quarters first; generous bounds for a seeded draw.
        assert!((2800..=3200).contains(&first_big), "{first_big}");
    }
}
