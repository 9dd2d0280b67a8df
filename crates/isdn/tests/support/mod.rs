//! A whole D-channel in virtual time: on each end a Q.921 link carrying a
//! Q.931 call control, wired as trunkd wires them (data to call control,
//! the link going up or down to `link_up`/`link_down`), joined by an
//! in-memory wire that records every frame and can lose the ones a test
//! picks. Shared by the stack and capture tests.
// Helpers outside #[test] functions fail the test on a broken setup;
// clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dering_isdn::q921::{self, Config, Link, Role};
use dering_isdn::q931::{
    CallControl, CallId, ChannelId, ChannelSel, Event, PartyNumber, SetupRequest, Side, Timers,
    TypeOfNumber,
};

/// One end: the data link and the call control above it.
pub struct End {
    pub link: Link,
    pub cc: CallControl,
    pub events: Vec<Event>,
    up: bool,
}

impl End {
    fn new(side: Side, now: Instant) -> Self {
        let role = match side {
            Side::User => Role::User,
            Side::Network => Role::Network,
        };
        End {
            link: Link::new(role, Config::default(), now),
            cc: CallControl::new(side, Timers::default()),
            events: Vec::new(),
            up: false,
        }
    }

    /// Moves everything that is ready between the layers; the frames to
    /// write come out.
    fn step(&mut self, now: Instant) -> Vec<Vec<u8>> {
        while let Some(e) = self.link.poll_event() {
            if let q921::Event::Data(d) = e {
                self.cc.handle_bytes(now, &d);
            }
        }
        if self.link.is_established() != self.up {
            self.up = self.link.is_established();
            if self.up {
                self.cc.link_up(now);
            } else {
                self.cc.link_down(now);
            }
        }
        while let Some(m) = self.cc.poll_message() {
            // Messages while the link is down are lost, as on a real
            // D-channel.
            let _ = self.link.send(now, m.encode());
        }
        self.events
            .extend(std::iter::from_fn(|| self.cc.poll_event()));
        std::iter::from_fn(|| self.link.poll_transmit()).collect()
    }

    fn deadline(&self) -> Option<Instant> {
        [self.link.poll_timeout(), self.cc.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// A frame written to the wire.
#[derive(Debug, Clone)]
pub struct Frame {
    pub from_user: bool,
    pub bytes: Vec<u8>,
    pub at: Instant,
    pub lost: bool,
}

impl Frame {
    /// The Q.931 message type an I-frame carries: after 2 address and 2
    /// control octets (modulo 128) come the discriminator, the call
    /// reference's length and its 2 octets on a PRI, then the type.
    pub fn q931_type(&self) -> Option<u8> {
        let b = &self.bytes;
        (b.len() > 8 && b[2] & 0x01 == 0).then(|| b[8])
    }
}

/// Decides whether the wire loses a frame: (sent by the user, bytes).
pub type Loss = Box<dyn FnMut(bool, &[u8]) -> bool>;

/// The two ends and the wire between them.
pub struct Stack {
    pub now: Instant,
    pub user: End,
    pub net: End,
    pub frames: Vec<Frame>,
    pub lose: Loss,
    to_user: VecDeque<Vec<u8>>,
    to_net: VecDeque<Vec<u8>>,
}

impl Stack {
    /// Both ends, the link established by the network side.
    pub fn up() -> Self {
        let now = Instant::now();
        let mut s = Stack {
            now,
            user: End::new(Side::User, now),
            net: End::new(Side::Network, now),
            frames: Vec::new(),
            lose: Box::new(|_, _| false),
            to_user: VecDeque::new(),
            to_net: VecDeque::new(),
        };
        s.net.link.establish(now);
        s.pump();
        assert!(s.user.link.is_established() && s.net.link.is_established());
        s
    }

    /// Carries frames until both ends are quiet.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            for (from_user, frames) in [
                (true, self.user.step(self.now)),
                (false, self.net.step(self.now)),
            ] {
                for bytes in frames {
                    moved = true;
                    let lost = (self.lose)(from_user, &bytes);
                    self.frames.push(Frame {
                        from_user,
                        bytes: bytes.clone(),
                        at: self.now,
                        lost,
                    });
                    if !lost {
                        let q = if from_user {
                            &mut self.to_net
                        } else {
                            &mut self.to_user
                        };
                        q.push_back(bytes);
                    }
                }
            }
            while let Some(f) = self.to_net.pop_front() {
                moved = true;
                self.net.link.handle_frame(self.now, &f);
            }
            while let Some(f) = self.to_user.pop_front() {
                moved = true;
                self.user.link.handle_frame(self.now, &f);
            }
            if !moved {
                return;
            }
        }
    }

    /// Jumps to the next deadline of either end (at most `limit` ahead)
    /// and runs the timers; false when nothing was due within `limit`.
    pub fn advance(&mut self, limit: Duration) -> bool {
        let next = [self.user.deadline(), self.net.deadline()]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next.filter(|at| *at <= self.now + limit) else {
            self.now += limit;
            return false;
        };
        self.now = self.now.max(at);
        for end in [&mut self.user, &mut self.net] {
            end.link.handle_timeout(self.now);
            end.cc.handle_timeout(self.now);
        }
        self.pump();
        true
    }

    /// Runs the clock until `done` or `limit` of virtual time; whether
    /// `done` held.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Stack) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            if self.now >= end {
                return false;
            }
            let left = end - self.now;
            self.advance(left);
        }
        true
    }

    /// The network offers a call to 137 on timeslot 1 and the user
    /// answers it: both active.
    pub fn active_call(&mut self) -> (CallId, CallId) {
        let n = self.net.cc.setup(self.now, setup_137()).unwrap();
        self.pump();
        let u = self
            .user
            .events
            .iter()
            .find_map(|e| match e {
                Event::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("the user is offered the call");
        self.user.cc.proceeding(self.now, u, None).unwrap();
        self.user.cc.alerting(self.now, u).unwrap();
        self.user.cc.connect(self.now, u).unwrap();
        self.pump();
        (n, u)
    }
}

/// A SETUP to 137 from 215550 on timeslot 1, en bloc.
pub fn setup_137() -> SetupRequest {
    SetupRequest {
        called: PartyNumber::e164(TypeOfNumber::National, "137"),
        calling: Some(PartyNumber::e164(TypeOfNumber::National, "215550")),
        channel: ChannelId {
            exclusive: true,
            channel: ChannelSel::BChannel(1),
        },
        sending_complete: true,
    }
}
