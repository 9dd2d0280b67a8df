//! A leg's addresses and packet counters: written by signalling (the SDP's
//! address) and by the leg's relay thread (latching, counting), read by
//! both, without a lock on the packet path.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A socket address that can be read and replaced without a lock. IPv4
/// addresses are packed in one word (the bind address of the relay is IPv4
/// on every box we ship); IPv6 ones use the slower lock-protected slot.
#[derive(Debug, Default)]
pub(super) struct AddrCell {
    /// bit 63: set; bits 32..48: port; bits 0..32: IPv4 address.
    v4: AtomicU64,
    v6: std::sync::Mutex<Option<SocketAddr>>,
}

const SET: u64 = 1 << 63;

impl AddrCell {
    pub(super) fn get(&self) -> Option<SocketAddr> {
        let w = self.v4.load(Ordering::Acquire);
        if w & SET != 0 {
            let ip = Ipv4Addr::from((w & 0xffff_ffff) as u32);
            return Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                ((w >> 32) & 0xffff) as u16,
            )));
        }
        match self.v6.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    pub(super) fn set(&self, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(a) => {
                let w = SET | (u64::from(a.port()) << 32) | u64::from(u32::from(*a.ip()));
                self.v4.store(w, Ordering::Release);
            }
            SocketAddr::V6(_) => {
                self.v4.store(0, Ordering::Release);
                match self.v6.lock() {
                    Ok(mut g) => *g = Some(addr),
                    Err(p) => *p.into_inner() = Some(addr),
                }
            }
        }
    }
}

/// One leg's addresses and counters, shared by the relay thread and
/// signalling.
#[derive(Debug, Default)]
pub(super) struct Leg {
    /// Where this leg's packets go (the phone), latched or from SDP.
    pub(super) rtp_to: AddrCell,
    pub(super) rtcp_to: AddrCell,
    /// The RTP address the leg's SDP gave last (RTCP: the port after).
    pub(super) signalled: AddrCell,
    /// Raised by signalling each time the leg's SDP comes (again): the
    /// relay thread then re-opens the leg's latching window.
    pub(super) generation: AtomicU32,
    /// RTP packets received from this leg.
    pub(super) received: AtomicU64,
    /// RTP packets from the other leg delivered to this one.
    pub(super) delivered: AtomicU64,
    /// Packets (RTP or RTCP) that reached this leg's ports from a source
    /// other than the leg's, dropped.
    pub(super) stray: AtomicU64,
    /// RTP packets held now because they came before the leg signalled
    /// (see `Socket::take_early`).
    pub(super) held: AtomicU32,
}

/// The RTCP address that goes with an RTP one (RFC 3550: the next port).
pub(super) fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_cell_holds_v4_and_v6() {
        let c = AddrCell::default();
        assert_eq!(c.get(), None);
        let v4: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        c.set(v4);
        assert_eq!(c.get(), Some(v4));
        let v6: SocketAddr = "[2001:db8::1]:5004".parse().unwrap();
        c.set(v6);
        assert_eq!(c.get(), Some(v6));
        c.set(v4);
        assert_eq!(c.get(), Some(v4));
    }
}
