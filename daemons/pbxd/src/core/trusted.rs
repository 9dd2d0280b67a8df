//! SIP peers trusted by their source address (issue 12 §5): the trunk
//! gateway on loopback, a carrier's signalling addresses. Their INVITEs
//! reach the dial plan without a digest challenge, which a gateway or a
//! carrier cannot answer; the caller is who their From says, and the call
//! carries the peer's name and route class for records and, later,
//! outbound routing (issue 13).

use std::net::IpAddr;

use crate::config::Config;

/// One trusted peer, as the dial plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Trusted {
    pub name: String,
    pub route_class: String,
}

/// The trusted peers of the configuration.
#[derive(Debug, Default)]
pub(super) struct TrustedPeers {
    networks: Vec<(ipnet::IpNet, Trusted)>,
}

impl TrustedPeers {
    pub(super) fn new(cfg: &Config) -> TrustedPeers {
        let networks = cfg
            .trusted_peers
            .iter()
            .flat_map(|p| {
                let t = Trusted {
                    name: p.name.clone(),
                    route_class: p.route_class.clone(),
                };
                p.addresses.iter().map(move |n| (*n, t.clone()))
            })
            .collect();
        TrustedPeers { networks }
    }

    /// The peer `ip` belongs to; the most specific network wins.
    pub(super) fn find(&self, ip: IpAddr) -> Option<&Trusted> {
        self.networks
            .iter()
            .filter(|(n, _)| n.contains(&ip))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_network_wins_and_strangers_are_not_trusted() {
        let cfg = Config::parse(
            &format!(
                "{}\n[[trusted_peer]]\nname = \"carrier\"\naddresses = [\"203.0.113.0/24\"]\nroute_class = \"national\"\n\n[[trusted_peer]]\nname = \"gateway\"\naddresses = [\"203.0.113.7\", \"::1\"]\n",
                crate::config::DEFAULT_TOML
            ),
            "t.toml",
        )
        .unwrap();
        let t = TrustedPeers::new(&cfg);
        let name = |ip: &str| t.find(ip.parse().unwrap()).map(|t| t.name.as_str());
        assert_eq!(name("203.0.113.9"), Some("carrier"));
        assert_eq!(name("203.0.113.7"), Some("gateway"));
        assert_eq!(name("::1"), Some("gateway"));
        assert_eq!(name("198.51.100.1"), None);
        assert_eq!(
            t.find("203.0.113.9".parse().unwrap())
                .map(|t| t.route_class.as_str()),
            Some("national")
        );
    }

    #[test]
    fn a_bad_address_names_its_line() {
        let text = format!(
            "{}\n[[trusted_peer]]\nname = \"x\"\naddresses = [\"10.0.0.300\"]\n",
            crate::config::DEFAULT_TOML
        );
        let e = Config::parse(&text, "t.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let line = text.lines().count();
        assert!(e.starts_with(&format!("t.toml:{line}:")), "{e}");
        assert!(e.contains("trusted_peer.addresses"), "{e}");
    }
}
