//! Where a trunk's carrier is, per RFC 3263 §4, without I/O: which DNS
//! names to ask for next and in what order the answers are tried. pbxd's
//! shell does the lookups with a real resolver and feeds the records in;
//! the core gets the resulting [`Target`]s (decision 0016).
//!
//! The steps, because carriers publish their SBCs this way:
//! - a numeric host, or a name with an explicit port, is not looked up in
//!   SRV: A/AAAA only (§4.2), on the port given or the transport's default;
//! - with no transport configured, NAPTR picks it (`SIP+D2U`, `SIP+D2T`,
//!   `SIPS+D2T`, ordered by order then preference, §4.1), and without
//!   NAPTRs the SRV names of every transport the box speaks are tried;
//! - SRV answers are tried by priority, and by weight within a priority
//!   (RFC 2782's weighted draw, the randomness an input);
//! - without any SRV, the host's own A/AAAA on the default port.

use std::net::{IpAddr, SocketAddr};

use rand::Rng;

/// A SIP transport a trunk can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The port when neither the configuration nor an SRV names one.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Udp | Transport::Tcp => 5060,
            Transport::Tls => 5061,
        }
    }

    /// The NAPTR service field that names it (RFC 3263 §4.1).
    pub fn naptr_service(self) -> &'static str {
        match self {
            Transport::Udp => "SIP+D2U",
            Transport::Tcp => "SIP+D2T",
            Transport::Tls => "SIPS+D2T",
        }
    }

    /// The SRV name's prefix (RFC 3263 §4.1, without NAPTR).
    pub fn srv_prefix(self) -> &'static str {
        match self {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// A NAPTR record as the resolver returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    /// The SRV name to ask for next (flag `s`).
    pub replacement: String,
}

/// An SRV record as the resolver returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// One address to send a trunk's requests to, in the order to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// What the trunk's configuration says about where the carrier is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub host: String,
    /// An explicit port: no SRV (§4.2).
    pub port: Option<u16>,
    /// An explicit transport: no NAPTR (§4.1).
    pub transport: Option<Transport>,
    /// The transports the box may use, in its preference, when DNS picks.
    pub allowed: Vec<Transport>,
}

/// The first step for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The host is an address: nothing to look up.
    Done(Vec<Target>),
    /// Look up the host's A/AAAA, then use this port and transport.
    Address { port: u16, transport: Transport },
    /// Look up the host's NAPTR, then [`srv_names_from_naptr`].
    Naptr,
    /// Look up these SRV names in turn, then, if none answers, the host's
    /// A/AAAA on the transport's default port.
    Srv(Vec<(Transport, String)>),
}

/// Where resolving `q` starts.
pub fn first_step(q: &Query) -> Step {
    let transport = q
        .transport
        .or_else(|| q.allowed.first().copied())
        .unwrap_or(Transport::Udp);
    if let Ok(ip) = q
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        let port = q.port.unwrap_or(transport.default_port());
        return Step::Done(vec![Target {
            addr: SocketAddr::new(ip, port),
            transport,
        }]);
    }
    if let Some(port) = q.port {
        return Step::Address { port, transport };
    }
    match q.transport {
        Some(t) => Step::Srv(vec![(t, srv_name(t, &q.host))]),
        None => Step::Naptr,
    }
}

/// The SRV names to try when the host has no NAPTR: one per allowed
/// transport, in the box's preference.
pub fn srv_names_without_naptr(q: &Query) -> Vec<(Transport, String)> {
    q.allowed
        .iter()
        .map(|t| (*t, srv_name(*t, &q.host)))
        .collect()
}

/// The SRV names the NAPTRs point to, for transports the box speaks, in
/// order then preference. Records with other flags or services (an ENUM
/// `u` record, a `SIPS+D2U` nobody implements) are skipped; an empty list
/// means "as if there were no NAPTR".
pub fn srv_names_from_naptr(records: &[Naptr], allowed: &[Transport]) -> Vec<(Transport, String)> {
    let mut sip: Vec<&Naptr> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .collect();
    sip.sort_by_key(|r| (r.order, r.preference));
    sip.into_iter()
        .filter_map(|r| {
            let t = allowed
                .iter()
                .find(|t| r.service.eq_ignore_ascii_case(t.naptr_service()))?;
            Some((*t, r.replacement.trim_end_matches('.').to_string()))
        })
        .collect()
}

/// The order to try SRV targets in: lowest priority first, and within a
/// priority by RFC 2782's draw, where a target's chance of coming next is
/// its weight's share (weight 0 rarely first).
pub fn order_srv(records: &[Srv], rng: &mut impl Rng) -> Vec<Srv> {
    let mut rest: Vec<Srv> = records
        .iter()
        .filter(|r| r.target != "." && !r.target.is_empty())
        .cloned()
        .collect();
    rest.sort_by_key(|r| (r.priority, r.weight));
    let mut out = Vec::with_capacity(rest.len());
    while let Some(first) = rest.first() {
        let prio = first.priority;
        let mut group: Vec<Srv> = rest
            .iter()
            .filter(|r| r.priority == prio)
            .cloned()
            .collect();
        rest.retain(|r| r.priority != prio);
        while !group.is_empty() {
            // RFC 2782: weight 0 first (the sort put them there), a draw in
            // 0..=total, the first whose running sum reaches it.
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let draw = rng.gen_range(0..=total);
            let mut sum = 0u32;
            let pick = group
                .iter()
                .position(|r| {
                    sum += u32::from(r.weight);
                    sum >= draw
                })
                .unwrap_or(0);
            out.push(group.remove(pick));
        }
    }
    out
}

/// `_sip._udp.example.net` and the like.
pub fn srv_name(t: Transport, host: &str) -> String {
    format!("{}.{}", t.srv_prefix(), host.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn q(host: &str, port: Option<u16>, transport: Option<Transport>) -> Query {
        Query {
            host: host.into(),
            port,
            transport,
            allowed: vec![Transport::Udp, Transport::Tcp, Transport::Tls],
        }
    }

    #[test]
    fn an_address_or_an_explicit_port_skips_naptr_and_srv() {
        assert_eq!(
            first_step(&q("192.0.2.7", None, Some(Transport::Tls))),
            Step::Done(vec![Target {
                addr: "192.0.2.7:5061".parse().unwrap(),
                transport: Transport::Tls
            }])
        );
        assert_eq!(
            first_step(&q("sbc.example.net", Some(5080), None)),
            Step::Address {
                port: 5080,
                transport: Transport::Udp
            }
        );
        assert_eq!(
            first_step(&q("example.net", None, Some(Transport::Tcp))),
            Step::Srv(vec![(Transport::Tcp, "_sip._tcp.example.net".into())])
        );
        assert_eq!(first_step(&q("example.net", None, None)), Step::Naptr);
    }

    #[test]
    fn naptr_ordered_by_order_then_preference_and_foreign_services_skipped() {
        let n = |order, preference, flags: &str, service: &str, to: &str| Naptr {
            order,
            preference,
            flags: flags.into(),
            service: service.into(),
            replacement: to.into(),
        };
        let records = vec![
            n(20, 10, "s", "SIP+D2U", "_sip._udp.example.net."),
            n(10, 20, "s", "SIPS+D2T", "_sips._tcp.example.net."),
            n(10, 10, "s", "SIP+D2T", "_sip._tcp.example.net."),
            n(5, 10, "u", "E2U+sip", "!^.*$!sip:x@y!"),
            n(1, 10, "s", "SIP+D2S", "_sip._sctp.example.net."),
        ];
        assert_eq!(
            srv_names_from_naptr(&records, &[Transport::Udp, Transport::Tcp, Transport::Tls]),
            vec![
                (Transport::Tcp, "_sip._tcp.example.net".to_string()),
                (Transport::Tls, "_sips._tcp.example.net".to_string()),
                (Transport::Udp, "_sip._udp.example.net".to_string()),
            ]
        );
        assert_eq!(
            srv_names_from_naptr(&records, &[Transport::Udp]),
            vec![(Transport::Udp, "_sip._udp.example.net".to_string())],
            "a transport the trunk may not use is not chosen"
        );
    }

    #[test]
    fn srv_by_priority_then_weight_share() {
        let s = |priority, weight, target: &str| Srv {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        };
        let records = vec![s(20, 0, "backup"), s(10, 90, "heavy"), s(10, 10, "light")];
        let mut rng = StdRng::seed_from_u64(7);
        let mut heavy_first = 0;
        for _ in 0..1000 {
            let order = order_srv(&records, &mut rng);
            assert_eq!(order.len(), 3);
            assert_eq!(order[2].target, "backup", "a lower priority comes last");
            if order[0].target == "heavy" {
                heavy_first += 1;
            }
        }
        assert!(
            (800..=980).contains(&heavy_first),
            "weight 90 of 100 comes first about 90 % of the time, got {heavy_first}"
        );
        assert!(
            order_srv(&[s(0, 0, ".")], &mut rng).is_empty(),
            "target `.`: the service is not offered"
        );
    }
}
