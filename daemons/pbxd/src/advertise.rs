//! The address the box writes into Via, Contact and SDP. A wildcard bind
//! (`0.0.0.0`, `::`) is no address a peer can send to, so it never goes
//! on the wire: `[sip] advertise` when set, else the bind address, else
//! the address of the interface the default route leaves by.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::config::Config;

/// Documentation addresses (RFC 5737, RFC 3849): never answered, but
/// routed like any remote address, so the kernel's choice of source
/// address for them is the default route's.
const PROBE_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The address to advertise for `cfg`.
pub fn address(cfg: &Config) -> IpAddr {
    if let Some(ip) = cfg.advertise() {
        return ip;
    }
    let bind = cfg.bind();
    match outgoing(bind) {
        Some(ip) => {
            tracing::info!(%ip, %bind, "advertising the default route's address; set [sip] advertise to choose another");
            ip
        }
        None => {
            let lo = if bind.is_ipv4() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            };
            tracing::warn!(%lo, %bind, "no default route: advertising loopback; set [sip] advertise");
            lo
        }
    }
}

/// The source address the kernel picks towards a remote address of
/// `bind`'s family: a UDP socket is connected (which sends nothing) and
/// asked for its local address.
fn outgoing(bind: IpAddr) -> Option<IpAddr> {
    let (any, probe) = match bind {
        IpAddr::V4(_) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(PROBE_V4)),
        IpAddr::V6(_) => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), IpAddr::V6(PROBE_V6)),
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    s.connect(SocketAddr::new(probe, 9)).ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(sip: &str) -> Config {
        let text = crate::config::DEFAULT_TOML.replacen("bind = \"127.0.0.1\"\n", sip, 1);
        Config::parse(&text, "t.toml").unwrap()
    }

    #[test]
    fn a_wildcard_bind_is_never_advertised() {
        assert_eq!(
            address(&cfg("bind = \"127.0.0.1\"\n")),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            address(&cfg("bind = \"0.0.0.0\"\nadvertise = \"192.0.2.9\"\n")),
            IpAddr::from([192, 0, 2, 9])
        );
        let chosen = address(&cfg("bind = \"0.0.0.0\"\n"));
        assert!(!chosen.is_unspecified() && chosen.is_ipv4(), "{chosen}");
    }
}
