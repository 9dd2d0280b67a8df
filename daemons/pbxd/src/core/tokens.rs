//! Where the core's randomness comes from (issue 12 §2: time and
//! randomness are inputs). Tags, branches, Call-IDs and call UUIDs must be
//! unguessable, or a stranger who saw one could forge a BYE for the next
//! call; so they come from a cryptographic generator (ChaCha, `StdRng`),
//! which the shell seeds from the operating system and a test seeds with a
//! number, to replay a run exactly. Nothing in the core draws from a
//! thread-local generator.

use std::cell::RefCell;

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The core's generator: `&self` is enough to draw (the core is one
/// task's, never shared across threads at once).
#[derive(Debug)]
pub struct Tokens(RefCell<StdRng>);

impl Tokens {
    /// A generator from a 256-bit seed (the shell's, from the OS).
    pub fn new(seed: [u8; 32]) -> Tokens {
        Tokens(RefCell::new(StdRng::from_seed(seed)))
    }

    /// A reproducible generator, for tests and benches.
    pub fn seeded(seed: u64) -> Tokens {
        Tokens(RefCell::new(StdRng::seed_from_u64(seed)))
    }

    /// `len` random letters and digits (tags, branches, Call-IDs).
    pub fn token(&self, len: usize) -> String {
        let mut rng = self.0.borrow_mut();
        (0..len)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect()
    }

    /// 32 random bytes (the nonce key).
    /// Runs `f` with the generator (a weighted route's draw).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        f(&mut self.0.borrow_mut())
    }

    pub fn bytes32(&self) -> [u8; 32] {
        self.0.borrow_mut().gen()
    }

    /// A number in `0..100` (a recording share's draw).
    pub fn percent(&self) -> u8 {
        self.0.borrow_mut().gen_range(0..100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_and_different_seeds_differ() {
        let (a, b, c) = (Tokens::seeded(7), Tokens::seeded(7), Tokens::seeded(8));
        let (x, y, z) = (a.token(16), b.token(16), c.token(16));
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_eq!(x.len(), 16);
        assert!(x.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!((0..1000).all(|_| a.percent() < 100));
    }
}
