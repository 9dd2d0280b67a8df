//! Strict latching (decision 0011): which source a leg's stream (its RTP
//! or its RTCP) is, judged packet by packet. Sans-IO: the clock is read
//! only through the closure it is given, and only while the window is
//! open.

use std::net::{IpAddr, SocketAddr};

/// How many packets after its first one a leg may still move, and for
/// how long: enough for a NAT or a phone that settles on its socket late,
/// short enough to leave a stranger little time.
pub(super) const LATCH_PACKETS: u32 = 10;
pub(super) const LATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Inside the window, a new source takes the stream over only from one
/// that has been silent this long (five packet times): a NAT's old mapping
/// stops when the new one starts, while a stranger racing a phone that
/// talks does not win by sending more.
pub(super) const HANDOVER: std::time::Duration = std::time::Duration::from_millis(100);

/// One stream's (a leg's RTP or its RTCP) latching state, kept by the relay
/// thread beside the socket the leg sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Latch {
    /// The [`Leg::generation`](super::leg::Leg::generation) this state
    /// belongs to.
    generation: u32,
    /// Whether the stream may still move to the source of its packets.
    open: bool,
    /// When the window's first packet came: the window lasts from there,
    /// so a leg that is silent for a while (a callee ringing) still latches.
    first: Option<std::time::Instant>,
    /// Packets passed in the window.
    packets: u32,
    /// When the stream's source was last heard in the window.
    heard: Option<std::time::Instant>,
}

/// What becomes of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// From the stream's address: relay it.
    Pass,
    /// Relay it, and send the stream's media to its source from now on.
    Latch,
    /// A stranger's: drop it.
    Drop,
    /// The leg has not signalled yet, so nothing can say whose it is; it
    /// may well be the leg's (a callee's phone talks as soon as it
    /// answers, before its SDP has reached the relay): the caller may
    /// hold it until the leg signals, and release it then only if it
    /// came from the source the leg turns out to be.
    Early,
}

impl Latch {
    pub(super) fn new(generation: u32) -> Latch {
        Latch {
            generation,
            open: true,
            first: None,
            packets: 0,
            heard: None,
        }
    }

    /// Judges a packet from `src` for a stream whose media goes to
    /// `current` and whose SDP gave `signalled`; `generation` is the leg's
    /// now and `now` is read only while the window is open. A stream may
    /// latch only once its leg has signalled (a leg that has sent no SDP
    /// has no media), and only to a source on `host` when that is given
    /// (RTCP comes from the host the leg's RTP goes to, so a stranger
    /// cannot take the RTCP of a phone that sends none).
    pub(super) fn judge(
        &mut self,
        src: SocketAddr,
        current: Option<SocketAddr>,
        signalled: Option<SocketAddr>,
        host: Option<IpAddr>,
        generation: u32,
        now: impl FnOnce() -> std::time::Instant,
    ) -> Verdict {
        if generation != self.generation {
            *self = Latch::new(generation);
        }
        let moved = |current: Option<SocketAddr>| {
            if current == Some(src) {
                Verdict::Pass
            } else {
                Verdict::Latch
            }
        };
        // The signalled address itself is the leg, whenever it speaks;
        // from then on nobody else may take the stream.
        if signalled == Some(src) {
            self.open = false;
            return moved(current);
        }
        // Port 0 is no one's (a packet claiming it cannot be answered):
        // latching to it would leave the leg deaf for the rest of the call.
        let may_latch =
            signalled.is_some() && src.port() != 0 && host.is_none_or(|h| h == src.ip());
        if self.open && may_latch {
            let now = now();
            let first = *self.first.get_or_insert(now);
            if self.packets >= LATCH_PACKETS || now.duration_since(first) > LATCH_WINDOW {
                self.open = false;
            } else if current == Some(src)
                || self.heard.is_none_or(|t| now.duration_since(t) >= HANDOVER)
            {
                self.packets += 1;
                self.heard = Some(now);
                return moved(current);
            } else {
                return Verdict::Drop;
            }
        }
        if current == Some(src) {
            Verdict::Pass
        } else if signalled.is_none() && current.is_none() && src.port() != 0 {
            Verdict::Early
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const T0: fn() -> Instant = Instant::now;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A phone behind a NAT: its SDP names a private address, its
    /// packets come from elsewhere. The stream follows them for the
    /// window's first packets, then holds: a stranger after that is
    /// dropped, however long it keeps sending.
    #[test]
    fn latch_follows_the_first_packets_then_holds() {
        let sdp = Some(addr("192.168.1.5:4000"));
        let (phone, nat, stranger) = (
            addr("10.0.0.1:4000"),
            addr("10.0.0.1:4002"),
            addr("6.6.6.6:9"),
        );
        let mut l = Latch::new(0);
        let now = Instant::now();
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || now), Verdict::Latch);
        assert_eq!(
            l.judge(phone, Some(phone), sdp, None, 0, || now),
            Verdict::Pass
        );
        // In the window, another source does not take a talking one over.
        let soon = now + HANDOVER / 2;
        assert_eq!(
            l.judge(stranger, Some(phone), sdp, None, 0, || soon),
            Verdict::Drop
        );
        // The phone falls silent and speaks from elsewhere (a NAT
        // settling): followed.
        let later = now + HANDOVER;
        assert_eq!(
            l.judge(nat, Some(phone), sdp, None, 0, || later),
            Verdict::Latch
        );
        for _ in 3..LATCH_PACKETS {
            assert_eq!(
                l.judge(nat, Some(nat), sdp, None, 0, || later),
                Verdict::Pass
            );
        }
        for _ in 0..100 {
            assert_eq!(
                l.judge(stranger, Some(nat), sdp, None, 0, || now),
                Verdict::Drop
            );
        }
        assert_eq!(l.judge(nat, Some(nat), sdp, None, 0, T0), Verdict::Pass);
        assert_eq!(l.judge(phone, Some(nat), sdp, None, 0, T0), Verdict::Drop);
        // The signalled address itself is the leg, window or not.
        let sdp_addr = addr("192.168.1.5:4000");
        assert_eq!(
            l.judge(sdp_addr, Some(nat), sdp, None, 0, T0),
            Verdict::Latch
        );
    }

    /// The window is timed from its first packet, not from when the leg
    /// opened: a callee that rings for a minute before it talks latches.
    #[test]
    fn latch_window_closes_by_time_after_the_first_packet() {
        let sdp = Some(addr("192.168.1.5:4000"));
        let (phone, stranger) = (addr("10.0.0.1:4000"), addr("6.6.6.6:9"));
        let mut l = Latch::new(0);
        let start = Instant::now() + Duration::from_secs(60);
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || start), Verdict::Latch);
        let late = start + LATCH_WINDOW + Duration::from_millis(1);
        assert_eq!(
            l.judge(stranger, Some(phone), sdp, None, 0, || late),
            Verdict::Drop
        );
        assert!(!l.open);
    }

    /// A packet from exactly the signalled address closes the window at
    /// once: a phone not behind a NAT cannot be taken over even in it.
    #[test]
    fn latch_on_the_signalled_address_closes_the_window() {
        let (phone, stranger) = (addr("10.0.0.1:4000"), addr("6.6.6.6:9"));
        let sdp = Some(phone);
        let mut l = Latch::new(0);
        let now = Instant::now();
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || now), Verdict::Pass);
        assert_eq!(l.judge(stranger, sdp, sdp, None, 0, || now), Verdict::Drop);
    }

    /// Nothing latches a leg that has not signalled (a callee still
    /// ringing), and RTCP latches only to the host its leg's RTP goes to.
    #[test]
    fn a_source_on_port_0_never_takes_the_stream() {
        let mut l = Latch::new(1);
        let signalled = Some(addr("192.0.2.7:4000"));
        let v = l.judge(addr("127.0.0.1:0"), signalled, signalled, None, 1, T0);
        assert_eq!(v, Verdict::Drop);
        // The real source still latches afterwards.
        let v = l.judge(addr("127.0.0.1:4002"), signalled, signalled, None, 1, T0);
        assert_eq!(v, Verdict::Latch);
    }

    #[test]
    fn latch_needs_signalling_and_rtcp_the_rtp_host() {
        let stranger = addr("6.6.6.6:9");
        let now = Instant::now();
        let mut l = Latch::new(0);
        assert_eq!(
            l.judge(stranger, None, None, None, 0, || now),
            Verdict::Early,
            "held, not passed, until the leg signals"
        );
        assert_eq!(
            l.judge(addr("6.6.6.6:0"), None, None, None, 0, || now),
            Verdict::Drop
        );
        let sdp = Some(addr("192.168.1.5:4001"));
        let rtp_host = Some(addr("10.0.0.1:4000").ip());
        assert_eq!(
            l.judge(stranger, sdp, sdp, rtp_host, 0, || now),
            Verdict::Drop
        );
        let rtcp = addr("10.0.0.1:4001");
        assert_eq!(l.judge(rtcp, sdp, sdp, rtp_host, 0, || now), Verdict::Latch);
    }

    /// New signalling (a generation further) opens the window again, and
    /// only then may the leg move.
    #[test]
    fn latch_reopens_on_new_signalling() {
        let (phone, moved) = (addr("10.0.0.1:4000"), addr("10.0.0.1:5000"));
        let sdp = Some(phone);
        let mut l = Latch::new(0);
        let now = Instant::now();
        assert_eq!(l.judge(phone, sdp, sdp, None, 0, || now), Verdict::Pass);
        assert_eq!(l.judge(moved, sdp, sdp, None, 0, || now), Verdict::Drop);
        assert_eq!(l.judge(moved, sdp, sdp, None, 1, || now), Verdict::Latch);
        assert_eq!(
            l.judge(moved, Some(moved), sdp, None, 1, || now),
            Verdict::Pass
        );
    }
}
