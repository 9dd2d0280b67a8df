//! Two links (user and network) joined by an in-memory wire. The clock is
//! virtual: `advance` jumps to the earliest deadline either link asked for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::q921::{Config, Event, Link, Role};

/// SplitMix64: a seeded generator small enough to keep here, so a seed
/// gives the same faults on every machine and every `rand` version.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// What the wire does to each frame, in percent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    pub drop: u64,
    pub duplicate: u64,
    pub reorder: u64,
    /// Every frame is lost (a cut line).
    pub cut: bool,
}

/// A frame that crossed (or was lost on) the wire, for assertions.
#[derive(Debug, Clone)]
pub struct Sent {
    pub from: Role,
    pub bytes: Vec<u8>,
    pub at: Instant,
    /// Whether the wire lost it.
    pub lost: bool,
}

#[derive(Debug)]
pub struct Pair {
    pub user: Link,
    pub net: Link,
    pub now: Instant,
    pub faults: Faults,
    rng: Rng,
    to_user: VecDeque<Vec<u8>>,
    to_net: VecDeque<Vec<u8>>,
    pub user_events: Vec<Event>,
    pub net_events: Vec<Event>,
    /// Every frame either link wrote, in order.
    pub log: Vec<Sent>,
}

impl Pair {
    pub fn new(seed: u64) -> Self {
        let now = Instant::now();
        Self {
            user: Link::new(Role::User, Config::default(), now),
            net: Link::new(Role::Network, Config::default(), now),
            now,
            faults: Faults::default(),
            rng: Rng::new(seed),
            to_user: VecDeque::new(),
            to_net: VecDeque::new(),
            user_events: Vec::new(),
            net_events: Vec::new(),
            log: Vec::new(),
        }
    }

    /// A pair already in multiple-frame operation, events cleared.
    pub fn established(seed: u64) -> Self {
        let mut p = Self::new(seed);
        p.net.establish(p.now);
        p.deliver();
        assert_eq!(p.user_events, vec![Event::Established]);
        assert_eq!(p.net_events, vec![Event::Established]);
        p.user_events.clear();
        p.net_events.clear();
        p.log.clear();
        p
    }

    fn put(rng: &mut Rng, faults: Faults, queue: &mut VecDeque<Vec<u8>>, frame: Vec<u8>) -> bool {
        if faults.cut || rng.chance(faults.drop) {
            return false;
        }
        if rng.chance(faults.duplicate) {
            queue.push_back(frame.clone());
        }
        if !queue.is_empty() && rng.chance(faults.reorder) {
            let at = queue.len() - 1;
            queue.insert(at, frame);
        } else {
            queue.push_back(frame);
        }
        true
    }

    /// Moves the links' output onto the wire (with faults).
    fn collect(&mut self) -> bool {
        let mut any = false;
        while let Some(f) = self.user.poll_transmit() {
            any = true;
            let bytes = f.clone();
            let lost = !Self::put(&mut self.rng, self.faults, &mut self.to_net, f);
            self.log.push(Sent {
                from: Role::User,
                bytes,
                at: self.now,
                lost,
            });
        }
        while let Some(f) = self.net.poll_transmit() {
            any = true;
            let bytes = f.clone();
            let lost = !Self::put(&mut self.rng, self.faults, &mut self.to_user, f);
            self.log.push(Sent {
                from: Role::Network,
                bytes,
                at: self.now,
                lost,
            });
        }
        while let Some(e) = self.user.poll_event() {
            self.user_events.push(e);
        }
        while let Some(e) = self.net.poll_event() {
            self.net_events.push(e);
        }
        any
    }

    /// Delivers frames at the current instant until the wire is quiet.
    pub fn deliver(&mut self) {
        for _ in 0..100_000 {
            let wrote = self.collect();
            let to_net = self.to_net.pop_front();
            let to_user = self.to_user.pop_front();
            if let Some(f) = &to_net {
                self.net.handle_frame(self.now, f);
            }
            if let Some(f) = &to_user {
                self.user.handle_frame(self.now, f);
            }
            if !wrote && to_net.is_none() && to_user.is_none() {
                return;
            }
        }
        panic!("the wire never went quiet");
    }

    /// Jumps to the next deadline, runs the timers and delivers.
    pub fn advance(&mut self) {
        let next = [self.user.poll_timeout(), self.net.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        // With no timer running, time still passes (the wire is idle).
        self.now = next.map_or(self.now + Duration::from_secs(1), |t| self.now.max(t));
        self.user.handle_timeout(self.now);
        self.net.handle_timeout(self.now);
        self.deliver();
    }

    /// Advances until `done` holds or `limit` of virtual time passed.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let end = self.now + limit;
        self.deliver();
        while !done(self) {
            if self.now >= end {
                return false;
            }
            self.advance();
        }
        true
    }

    pub fn data(events: &[Event]) -> Vec<Vec<u8>> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn errors(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::Error(_)))
            .count()
    }
}
