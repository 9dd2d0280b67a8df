//! Ports handed to peers (sipp, baresip, snmpd): taken below the kernel's
//! ephemeral range, as decision 0003 says for RTP. A port found free by
//! binding port 0 comes from the ephemeral range, where any socket another
//! test opens meanwhile may take it before the peer binds it (EADDRINUSE
//! flakes); below that range only ports chosen on purpose are taken.
//!
//! Boxes started by the harness put their RTP ranges in
//! 10000..[`PEER_START`] (`Dering::start_with_args`); peers get the ports
//! from there to the ephemeral range, from a per-process counter that starts
//! at a random offset (so test binaries running side by side rarely meet),
//! each port checked free by binding it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Where the harness's boxes' RTP ranges end and peers' ports begin.
pub const PEER_START: u16 = 20_000;

/// The first port the kernel hands out on its own
/// (`/proc/sys/net/ipv4/ip_local_port_range`), at most 32768.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768u16)
        .min(32_768)
}

struct Span {
    start: u16,
    /// Even ports in the span.
    pairs: u32,
    offset: u32,
}

fn span() -> &'static Span {
    static SPAN: OnceLock<Span> = OnceLock::new();
    SPAN.get_or_init(|| {
        let end = ephemeral_start();
        assert!(
            end > PEER_START + 1_000,
            "the ephemeral range starts at {end}: no room for peer ports above {PEER_START}"
        );
        let pairs = u32::from(end - PEER_START) / 2;
        // Randomness from the standard library's hasher keys.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let offset = (h.finish() % u64::from(pairs)) as u32;
        Span {
            start: PEER_START,
            pairs,
            offset,
        }
    })
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn udp_free(port: u16) -> bool {
    UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
}

fn tcp_free(port: u16) -> bool {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
}

/// The next `n` consecutive ports from an even one, every one free now
/// for UDP (and the first for TCP too).
pub fn block(n: u16) -> u16 {
    let s = span();
    let step = u32::from(n.div_ceil(2));
    for _ in 0..s.pairs {
        let i = NEXT.fetch_add(step, Ordering::Relaxed);
        let pair = (s.offset + i) % s.pairs;
        if pair + step > s.pairs {
            continue;
        }
        let port = s.start + (pair * 2) as u16;
        if tcp_free(port) && (0..n).all(|k| udp_free(port + k)) {
            return port;
        }
    }
    panic!(
        "no {n} free ports between {} and the ephemeral range",
        s.start
    );
}

/// An even port free now for UDP and TCP, with the next three free for
/// UDP: a media port for sipp binds audio RTP and RTCP there and video
/// RTP and RTCP on the two after (`-mp`), so every port handed out keeps
/// four apart from the next.
pub fn pair() -> u16 {
    block(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test moves the shared counter: the tests take turns.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn ports_are_even_free_and_below_the_ephemeral_range() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let end = ephemeral_start();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let p = pair();
            assert!(p.is_multiple_of(2) && p >= PEER_START && p + 3 < end, "{p}");
            assert!((0..4).all(|k| udp_free(p + k)) && tcp_free(p));
            // Four apart: sipp's audio and video ports never overlap.
            assert!(
                seen.iter().all(|q: &u16| q.abs_diff(p) >= 4),
                "{p} near {seen:?}"
            );
            seen.insert(p);
        }
        let b = block(20);
        assert!((0..20).all(|k| udp_free(b + k)) && b + 19 < end);
    }

    #[test]
    fn a_taken_port_is_skipped() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let p = pair();
        let held = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p + 3))).unwrap();
        // Start the counter again just before the held pair.
        let s = span();
        let pair_index = u32::from(p - s.start) / 2;
        NEXT.store(
            (pair_index + s.pairs - s.offset) % s.pairs,
            Ordering::Relaxed,
        );
        let q = pair();
        assert_ne!(q, p, "{p} has its video RTCP port taken");
        drop(held);
    }
}
