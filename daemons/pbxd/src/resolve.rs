//! A trunk's host resolved per RFC 3263 (NAPTR, SRV, A/AAAA) through
//! hickory's resolver: the I/O half of `dering_trunk::resolve`, which
//! decides what to ask next and in what order the answers are tried.
//! The shell resolves a trunk when its configuration arrives and hands
//! the core the targets (decision 0016).

use std::net::{IpAddr, SocketAddr};

use dering_trunk::resolve::{self, Naptr, Query, Srv, Step, Target, Transport};
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use rand::Rng;

/// Why a trunk's host has no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("the system's resolver configuration: {0}")]
    Config(NetError),
    #[error("DNS lookup of {name}: {source}")]
    Lookup { name: String, source: NetError },
    #[error("{0} has no address")]
    NoAddress(String),
}

/// The resolver pbxd uses for trunks.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// The system's resolver (`/etc/resolv.conf`).
    pub fn system() -> Result<Resolver, ResolveError> {
        let builder = TokioResolver::builder_tokio().map_err(ResolveError::Config)?;
        Ok(Resolver {
            inner: builder.build().map_err(ResolveError::Config)?,
        })
    }

    /// A resolver asking one DNS server over UDP (and TCP for truncated
    /// answers): tests point it at their own server on loopback.
    pub fn with_server(server: SocketAddr) -> Result<Resolver, ResolveError> {
        let mut ns = NameServerConfig::udp_and_tcp(server.ip());
        for c in &mut ns.connections {
            c.port = server.port();
        }
        let config = ResolverConfig::from_name_servers(vec![ns]);
        let builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        Ok(Resolver {
            inner: builder.build().map_err(ResolveError::Config)?,
        })
    }

    /// Every address to try for `q`, best first: NAPTR, then SRV, then
    /// A/AAAA as RFC 3263 §4 says. A name without records is not an error
    /// until nothing at all is left.
    pub async fn resolve(
        &self,
        q: &Query,
        rng: &mut impl Rng,
    ) -> Result<Vec<Target>, ResolveError> {
        let srv_names = match resolve::first_step(q) {
            Step::Done(targets) => return Ok(targets),
            Step::Address { port, transport } => {
                return self.addresses(&q.host, port, transport).await;
            }
            Step::Srv(names) => names,
            Step::Naptr => {
                let naptrs = self.naptr(&q.host).await?;
                let names = resolve::srv_names_from_naptr(&naptrs, &q.allowed);
                if names.is_empty() {
                    resolve::srv_names_without_naptr(q)
                } else {
                    names
                }
            }
        };
        // A name that fails (a server refusing, a timeout) costs only its
        // own targets: the next SRV name may still answer.
        let mut targets = Vec::new();
        let mut failed = None;
        for (transport, name) in &srv_names {
            let records = match self.srv(name).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "trunk SRV lookup failed");
                    failed = Some(e);
                    continue;
                }
            };
            for srv in resolve::order_srv(&records, rng) {
                match self.addresses(&srv.target, srv.port, *transport).await {
                    Ok(found) => targets.extend(found),
                    Err(e) => {
                        tracing::debug!(error = %e, "trunk SRV target has no address");
                        failed = Some(e);
                    }
                }
            }
        }
        if !targets.is_empty() {
            return Ok(targets);
        }
        // No SRV at all (§4.2): the host itself, on the first transport's
        // default port.
        let transport = srv_names
            .first()
            .map(|(t, _)| *t)
            .or(q.transport)
            .unwrap_or(Transport::Udp);
        match self
            .addresses(&q.host, transport.default_port(), transport)
            .await
        {
            Err(ResolveError::NoAddress(host)) => Err(match failed {
                Some(e @ ResolveError::Lookup { .. }) => e,
                _ => ResolveError::NoAddress(host),
            }),
            other => other,
        }
    }

    async fn naptr(&self, host: &str) -> Result<Vec<Naptr>, ResolveError> {
        let lookup = match self.inner.lookup(fqdn(host), RecordType::NAPTR).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(source) => {
                return Err(ResolveError::Lookup {
                    name: host.to_string(),
                    source,
                })
            }
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::NAPTR(n) => Some(Naptr {
                    order: n.order,
                    preference: n.preference,
                    flags: String::from_utf8_lossy(&n.flags).into_owned(),
                    service: String::from_utf8_lossy(&n.services).into_owned(),
                    replacement: n.replacement.to_utf8(),
                }),
                _ => None,
            })
            .collect())
    }

    async fn srv(&self, name: &str) -> Result<Vec<Srv>, ResolveError> {
        let lookup = match self.inner.lookup(fqdn(name), RecordType::SRV).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(source) => {
                return Err(ResolveError::Lookup {
                    name: name.to_string(),
                    source,
                })
            }
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(Srv {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: s.target.to_utf8().trim_end_matches('.').to_string(),
                }),
                _ => None,
            })
            .collect())
    }

    async fn addresses(
        &self,
        host: &str,
        port: u16,
        transport: Transport,
    ) -> Result<Vec<Target>, ResolveError> {
        let ips: Vec<IpAddr> = match self.inner.lookup_ip(fqdn(host)).await {
            Ok(found) => found.iter().collect(),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(source) => {
                return Err(ResolveError::Lookup {
                    name: host.to_string(),
                    source,
                })
            }
        };
        if ips.is_empty() {
            return Err(ResolveError::NoAddress(host.to_string()));
        }
        Ok(ips
            .into_iter()
            .map(|ip| Target {
                addr: SocketAddr::new(ip, port),
                transport,
            })
            .collect())
    }
}

/// The name as an absolute one: a carrier's host is never meant to be
/// completed with the box's search domains.
fn fqdn(host: &str) -> String {
    if host.ends_with('.') {
        host.to_string()
    } else {
        format!("{host}.")
    }
}
