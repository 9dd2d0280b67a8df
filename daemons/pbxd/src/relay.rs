//! The RTP/RTCP relay. Media is anchored: each call has a socket pair per
//! leg, and what arrives on one leg's socket leaves from the other leg's
//! socket. Each leg latches to the address its packets actually come from
//! (symmetric RTP, so phones behind NAT work); until then the address from
//! the SDP is used. The relay runs on its own runtime threads and shares
//! nothing with signalling but this handle: it never waits on signalling or
//! the database.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::core::Side;

#[derive(Debug, Default)]
struct Leg {
    /// Where this leg's packets go (the phone), latched or from SDP.
    rtp_to: Mutex<Option<SocketAddr>>,
    rtcp_to: Mutex<Option<SocketAddr>>,
    /// Packets received from this leg.
    received: AtomicU64,
}

#[derive(Debug)]
struct CallMedia {
    legs: [Arc<Leg>; 2],
    tasks: Vec<JoinHandle<()>>,
}

/// Packet counters of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MediaStats {
    pub from_a: u64,
    pub from_b: u64,
}

/// Handle to the relay.
#[derive(Debug)]
pub struct Relay {
    ip: IpAddr,
    rt: tokio::runtime::Handle,
    calls: HashMap<u64, CallMedia>,
}

fn idx(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

fn lock(m: &Mutex<Option<SocketAddr>>) -> Option<SocketAddr> {
    match m.lock() {
        Ok(g) => *g,
        Err(p) => *p.into_inner(),
    }
}

fn set(m: &Mutex<Option<SocketAddr>>, v: SocketAddr) {
    match m.lock() {
        Ok(mut g) => *g = Some(v),
        Err(p) => *p.into_inner() = Some(v),
    }
}

impl Relay {
    /// A relay binding on `ip`, running on `rt` (a runtime of its own).
    pub fn new(ip: IpAddr, rt: tokio::runtime::Handle) -> Relay {
        Relay {
            ip,
            rt,
            calls: HashMap::new(),
        }
    }

    /// Binds the four sockets of a call and starts forwarding.
    pub fn open(&mut self, call: u64, a_port: u16, b_port: u16) -> std::io::Result<()> {
        let bind = |port: u16| -> std::io::Result<UdpSocket> {
            let s = std::net::UdpSocket::bind(SocketAddr::new(self.ip, port))?;
            s.set_nonblocking(true)?;
            let _guard = self.rt.enter();
            UdpSocket::from_std(s)
        };
        let a_rtp = Arc::new(bind(a_port)?);
        let a_rtcp = Arc::new(bind(a_port + 1)?);
        let b_rtp = Arc::new(bind(b_port)?);
        let b_rtcp = Arc::new(bind(b_port + 1)?);
        let legs = [Arc::new(Leg::default()), Arc::new(Leg::default())];
        let mut tasks = Vec::with_capacity(4);
        for (from_sock, to_sock, from, to, rtcp) in [
            (
                a_rtp.clone(),
                b_rtp.clone(),
                legs[0].clone(),
                legs[1].clone(),
                false,
            ),
            (b_rtp, a_rtp, legs[1].clone(), legs[0].clone(), false),
            (
                a_rtcp.clone(),
                b_rtcp.clone(),
                legs[0].clone(),
                legs[1].clone(),
                true,
            ),
            (b_rtcp, a_rtcp, legs[1].clone(), legs[0].clone(), true),
        ] {
            tasks.push(self.rt.spawn(forward(from_sock, to_sock, from, to, rtcp)));
        }
        self.calls.insert(call, CallMedia { legs, tasks });
        Ok(())
    }

    /// The address from a leg's SDP, used until packets from it arrive.
    pub fn set_remote(&mut self, call: u64, side: Side, addr: SocketAddr) {
        if let Some(c) = self.calls.get(&call) {
            let leg = &c.legs[idx(side)];
            set(&leg.rtp_to, addr);
            set(
                &leg.rtcp_to,
                SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)),
            );
        }
    }

    pub fn close(&mut self, call: u64) -> Option<MediaStats> {
        let c = self.calls.remove(&call)?;
        for t in &c.tasks {
            t.abort();
        }
        Some(MediaStats {
            from_a: c.legs[0].received.load(Ordering::Relaxed),
            from_b: c.legs[1].received.load(Ordering::Relaxed),
        })
    }

    pub fn stats(&self, call: u64) -> Option<MediaStats> {
        let c = self.calls.get(&call)?;
        Some(MediaStats {
            from_a: c.legs[0].received.load(Ordering::Relaxed),
            from_b: c.legs[1].received.load(Ordering::Relaxed),
        })
    }
}

async fn forward(
    from_sock: Arc<UdpSocket>,
    to_sock: Arc<UdpSocket>,
    from: Arc<Leg>,
    to: Arc<Leg>,
    rtcp: bool,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((n, src)) = from_sock.recv_from(&mut buf).await else {
            continue;
        };
        // Latch: the leg's packets go back to where they come from.
        let (latch, dest) = if rtcp {
            (&from.rtcp_to, &to.rtcp_to)
        } else {
            (&from.rtp_to, &to.rtp_to)
        };
        if lock(latch) != Some(src) {
            set(latch, src);
        }
        if !rtcp {
            from.received.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(dst) = lock(dest) {
            let _ = to_sock.send_to(&buf[..n], dst).await;
        }
    }
}
