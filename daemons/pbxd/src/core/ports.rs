//! The RTP ports calls are given. A port named in an SDP must already be
//! the box's: binding is the shell's (IO), so the core keeps a few ports
//! the shell has bound ahead ([`MediaCmd::Reserve`](super::MediaCmd)), and
//! hands out only those. A port another program holds fails its binding
//! and rests a while before it is tried again, so a taken port costs one
//! failed bind a minute instead of a call (decision 0011).
//!
//! Ports are even, RTCP on the next; "port" below means that pair.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many ports are kept bound ahead: a datagram starts at most a call
/// or two (two ports each), and the shell binds again after every input.
const AHEAD: usize = 32;

/// How long a port that could not be bound is left alone.
const REST: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(super) struct Ports {
    /// Not bound, oldest-released first: a port the relay has just closed
    /// goes to the back, so its old socket is gone before it is bound again.
    free: VecDeque<u16>,
    /// Bound by the shell, ready to be named in an SDP.
    ready: VecDeque<u16>,
    /// Asked to be bound, no answer yet.
    asked: usize,
    /// Could not be bound (another program has it), and since when.
    resting: VecDeque<(Instant, u16)>,
}

impl Ports {
    pub(super) fn new(ports: impl IntoIterator<Item = u16>) -> Ports {
        Ports {
            free: ports.into_iter().collect(),
            ..Ports::default()
        }
    }

    /// Two bound ports for a call's legs, or none if fewer are ready.
    pub(super) fn take_pair(&mut self) -> Option<(u16, u16)> {
        if self.ready.len() < 2 {
            return None;
        }
        Some((self.ready.pop_front()?, self.ready.pop_front()?))
    }

    /// Ports taken for a call that failed before its media opened: still
    /// bound, so ready again.
    pub(super) fn unused(&mut self, ports: [u16; 2]) {
        for p in ports.into_iter().rev() {
            self.ready.push_front(p);
        }
    }

    /// Ports of a call that ended: the relay closes their sockets.
    pub(super) fn release(&mut self, ports: [u16; 2]) {
        self.free.extend(ports);
    }

    /// The ports to bind now so that enough are ready; each is answered
    /// with [`Ports::bound`].
    pub(super) fn wanted(&mut self, now: Instant) -> Vec<u16> {
        while let Some(&(since, port)) = self.resting.front() {
            if now.duration_since(since) < REST {
                break;
            }
            self.resting.pop_front();
            self.free.push_back(port);
        }
        let want = AHEAD.saturating_sub(self.ready.len() + self.asked);
        let ports: Vec<u16> = (0..want).map_while(|_| self.free.pop_front()).collect();
        self.asked += ports.len();
        ports
    }

    /// The shell bound `port` (RTP and RTCP), or could not.
    pub(super) fn bound(&mut self, now: Instant, port: u16, ok: bool) {
        self.asked = self.asked.saturating_sub(1);
        if ok {
            self.ready.push_back(port);
        } else {
            self.resting.push_back((now, port));
        }
    }

    /// Ports given to no call: ready, being bound, free or resting.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.free.len() + self.ready.len() + self.asked + self.resting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every wanted port, failing those in `taken`.
    fn bind_all(p: &mut Ports, now: Instant, taken: &[u16]) -> Vec<u16> {
        let wanted = p.wanted(now);
        for port in &wanted {
            p.bound(now, *port, !taken.contains(port));
        }
        wanted
    }

    #[test]
    fn only_bound_ports_are_handed_out() {
        let mut p = Ports::new((20_000..20_100).step_by(2));
        assert_eq!(p.take_pair(), None, "nothing bound yet");
        let now = Instant::now();
        assert_eq!(bind_all(&mut p, now, &[]).len(), AHEAD);
        assert_eq!(p.take_pair(), Some((20_000, 20_002)));
        // Refilled to AHEAD, from the next free ports.
        assert_eq!(
            bind_all(&mut p, now, &[]),
            [20_000 + 2 * AHEAD as u16, 20_002 + 2 * AHEAD as u16]
        );
        assert_eq!(p.idle(), 48);
    }

    /// A port another program holds is skipped, not handed out, and tried
    /// again only after a rest.
    #[test]
    fn taken_ports_are_skipped_and_retried_later() {
        let mut p = Ports::new((20_000..20_010).step_by(2));
        let now = Instant::now();
        let taken = [20_000, 20_002, 20_006];
        bind_all(&mut p, now, &taken);
        assert_eq!(p.take_pair(), Some((20_004, 20_008)));
        assert_eq!(p.take_pair(), None);
        assert_eq!(bind_all(&mut p, now + REST / 2, &[]), Vec::<u16>::new());
        // Rested: tried again, and free now.
        assert_eq!(bind_all(&mut p, now + REST, &[]), [20_000, 20_002, 20_006]);
        assert_eq!(p.take_pair(), Some((20_000, 20_002)));
    }

    #[test]
    fn unused_ports_are_ready_again_and_released_ones_rebound_last() {
        let mut p = Ports::new((20_000..20_200).step_by(2));
        let now = Instant::now();
        bind_all(&mut p, now, &[]);
        let pair = p.take_pair().unwrap();
        p.unused([pair.0, pair.1]);
        assert_eq!(p.take_pair(), Some(pair));
        p.release([pair.0, pair.1]);
        let again = bind_all(&mut p, now, &[]);
        assert_eq!(
            again,
            [20_000 + 2 * AHEAD as u16, 20_002 + 2 * AHEAD as u16]
        );
        assert_eq!(p.idle(), 100);
    }
}
