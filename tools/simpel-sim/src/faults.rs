//! The fault plan: which requests fail and how, decided by the request's
//! number and a seed, so a run is repeatable.

use serde::{Deserialize, Serialize};

/// One way to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 500 Internal Server Error, before any write.
    Status500,
    Status502,
    Status503,
    /// 429 with `Retry-After: retry_after_s`.
    TooMany,
    /// The answer comes `slow_ms` late, otherwise normal.
    Slow,
    /// No answer for `hang_ms`, then the connection is reset; nothing written.
    Timeout,
    /// The connection is reset before anything is written.
    Reset,
    /// The write is committed, then the connection is reset: the client
    /// never learns it succeeded.
    LostAnswer,
}

/// `--faults FILE` or `PUT /admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default)]
    pub seed: u64,
    /// Share of API requests that fail, in percent.
    #[serde(default)]
    pub percent: u8,
    /// The faults drawn from, evenly.
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default = "default_slow")]
    pub slow_ms: u64,
    #[serde(default = "default_hang")]
    pub hang_ms: u64,
    #[serde(default = "default_retry_after")]
    pub retry_after_s: u64,
}

fn default_slow() -> u64 {
    1_500
}
fn default_hang() -> u64 {
    15_000
}
fn default_retry_after() -> u64 {
    1
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            seed: 0,
            percent: 0,
            faults: Vec::new(),
            slow_ms: default_slow(),
            hang_ms: default_hang(),
            retry_after_s: default_retry_after(),
        }
    }
}

/// splitmix64: a good spread from consecutive inputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Plan {
    /// The fault of API request number `n`, if it fails.
    pub fn fault(&self, n: u64) -> Option<Fault> {
        if self.faults.is_empty() || self.percent == 0 {
            return None;
        }
        let r = mix(self.seed ^ mix(n));
        ((r % 100) < u64::from(self.percent))
            .then(|| self.faults[((r >> 32) % self.faults.len() as u64) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_and_the_mix_follow_the_plan() {
        let plan = Plan {
            seed: 7,
            percent: 30,
            faults: vec![Fault::Status503, Fault::LostAnswer],
            ..Plan::default()
        };
        let drawn: Vec<Option<Fault>> = (0..10_000).map(|n| plan.fault(n)).collect();
        let failed = drawn.iter().filter(|f| f.is_some()).count();
        assert!((2_700..3_300).contains(&failed), "{failed}");
        let lost = drawn
            .iter()
            .filter(|f| **f == Some(Fault::LostAnswer))
            .count();
        assert!((1_200..1_800).contains(&lost), "{lost}");
        // The same seed gives the same run.
        assert_eq!(
            drawn,
            (0..10_000).map(|n| plan.fault(n)).collect::<Vec<_>>()
        );
        assert_eq!(Plan::default().fault(3), None);
    }
}
