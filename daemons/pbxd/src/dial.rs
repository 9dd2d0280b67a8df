//! Opening the connections the box needs itself (RFC 3261 §18.1.1): a
//! request to a peer reached over TCP or TLS (a static peer's
//! `;transport=tcp`, `;transport=tls` or `sips:` contact, a trunk later)
//! with no connection up. This module knows which peers the box connects
//! to and how, TCP or TLS with the server's certificate verified;
//! [`crate::transport`] runs the attempt under its caps and deadline and
//! serves the connection like an accepted one.
//!
//! Phones are not connected to: a phone on TCP or TLS connected to the box
//! and is reached on that connection, from a source port it does not
//! listen on (behind NAT, a port nobody answers). Attempts there would
//! only fail, slowly, and take the connection slots of the phones' own
//! address; a request to a phone whose connection is gone fails at once
//! instead (as RFC 5626 §5.3 has a proxy do when a flow is gone).
//!
//! A TLS peer's certificate must chain to the CA certificates of its
//! extension's `tls_ca` (a carrier's private CA), or else to the system's
//! roots, and name the peer's `tls_name` or, without one, its IP address
//! (also the SNI, when a name).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use dering_sip::transaction::{Peer, Transport};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::Config;
use crate::shell::Input;

/// A TLS client configuration, or why there is none (a CA file that
/// cannot be read): every connection that needs it fails with that reason.
type Client = Result<Arc<rustls::ClientConfig>, String>;

/// How the box opens connections: the peers it connects to, with their
/// TLS settings, and where failures are reported.
#[derive(Debug)]
pub struct Dialer {
    pub(crate) tx: mpsc::Sender<Input>,
    /// The static peers over TCP (`None`) and TLS.
    peers: HashMap<Peer, Option<TlsPeer>>,
    /// Trusting the system's roots, loaded at the first connection that
    /// needs it.
    system: OnceLock<Client>,
}

/// A TLS peer's settings from its extension.
#[derive(Debug, Clone)]
struct TlsPeer {
    /// The name its certificate must carry.
    name: String,
    /// Its `tls_ca`'s configuration (the system's roots without one).
    client: Option<Client>,
}

impl Dialer {
    pub(crate) fn new(tx: mpsc::Sender<Input>, cfg: &Config) -> Dialer {
        let mut d = Dialer {
            tx,
            peers: HashMap::new(),
            system: OnceLock::new(),
        };
        d.configure(cfg);
        d
    }

    /// Takes `cfg`'s static peers over TCP and TLS. A CA file is read
    /// here, so a bad one is logged when the configuration is taken, not
    /// first at a call.
    pub fn configure(&mut self, cfg: &Config) {
        let mut clients: HashMap<PathBuf, Client> = HashMap::new();
        self.peers = cfg
            .extensions
            .iter()
            .filter_map(|e| {
                let peer = crate::config::static_contact(e.contact.as_deref()?).ok()?;
                match peer.transport {
                    Transport::Udp => return None,
                    Transport::Tcp => return Some((peer, None)),
                    Transport::Tls => {}
                }
                let client = e.tls_ca.as_ref().map(|ca| {
                    clients
                        .entry(ca.clone())
                        .or_insert_with(|| {
                            crate::tls::client_config(Some(ca)).map_err(|err| {
                                tracing::error!(extension = %e.number, error = %format!("{err:#}"),
                                    "cannot take the extension's tls_ca: its TLS connections will fail");
                                format!("tls_ca unusable: {err:#}")
                            })
                        })
                        .clone()
                });
                let name = e.tls_name.clone().unwrap_or_else(|| peer.addr.ip().to_string());
                Some((peer, Some(TlsPeer { name, client })))
            })
            .collect();
        // Carrier trunks over TCP or TLS at an address (issue 13): the box
        // opens their connections too, TLS checked against the system's
        // roots by the trunk's host. A host name's addresses come later,
        // resolved ([`Dialer::allow_trunk`]).
        for t in cfg.trunks.iter().filter(|t| t.enabled) {
            if let Ok(ip) = t.host.parse::<std::net::IpAddr>() {
                let peer = Peer {
                    transport: t.transport,
                    addr: std::net::SocketAddr::new(ip, t.default_port()),
                };
                self.allow_trunk(peer, &t.host);
            }
        }
    }

    /// Lets the box connect to a trunk's carrier at `peer` (TCP or TLS;
    /// UDP needs no connection), TLS checked by `host`.
    pub fn allow_trunk(&mut self, peer: Peer, host: &str) {
        let tls = match peer.transport {
            Transport::Udp => return,
            Transport::Tcp => None,
            Transport::Tls => Some(TlsPeer {
                name: host.to_string(),
                client: None,
            }),
        };
        self.peers.entry(peer).or_insert(tls);
    }

    /// How to reach `peer`, if the box connects to it: TCP, or TLS with
    /// its static peer's settings.
    pub(crate) fn opener(&self, peer: Peer) -> Option<Open> {
        Some(match self.peers.get(&peer)? {
            None => Open::Tcp,
            Some(tls) => Open::Tls {
                name: tls.name.clone(),
                client: tls.client.clone().unwrap_or_else(|| self.system().clone()),
            },
        })
    }

    fn system(&self) -> &Client {
        self.system.get_or_init(|| {
            crate::tls::client_config(None).map_err(|err| {
                tracing::error!(error = %format!("{err:#}"), "cannot load the system's TLS roots");
                format!("no system TLS roots: {err:#}")
            })
        })
    }
}

/// One connection attempt's recipe, carried into its task.
pub(crate) enum Open {
    Tcp,
    Tls { name: String, client: Client },
}

/// A connection up, ready to be served.
pub(crate) enum Opened {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Open {
    /// Connects to `addr` (and shakes hands); the caller bounds the time.
    /// The error says why in words for the log and the call's cause.
    pub(crate) async fn open(self, addr: SocketAddr) -> Result<Opened, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("TCP connect to {addr}: {e}"))?;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, %addr, "cannot set TCP_NODELAY");
        }
        match self {
            Open::Tcp => Ok(Opened::Tcp(tcp)),
            Open::Tls { name, client } => {
                let client = client?;
                let server = ServerName::try_from(name.clone())
                    .map_err(|_| format!("{name:?} is not a TLS server name"))?;
                let tls = TlsConnector::from(client)
                    .connect(server, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {addr} ({name}): {e}"))?;
                Ok(Opened::Tls(Box::new(tls)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "{}\n[[extension]]\nnumber = \"7001\"\nname = \"Peer\"\npassword = \"peer-pass-1\"\n{extra}",
            crate::config::DEFAULT_TOML
        );
        Config::parse(&text, "t.toml").expect("test configuration")
    }

    fn tls_peer(addr: &str) -> Peer {
        Peer {
            transport: Transport::Tls,
            addr: addr.parse().expect("address"),
        }
    }

    /// A static peer's `tls_name` is the name checked; an unreadable
    /// `tls_ca` fails its connections with the reason instead of falling
    /// back to other roots; only configured peers are connected to, over
    /// the transport configured.
    #[test]
    fn the_static_peers_are_connected_to_as_configured() {
        let (tx, _rx) = mpsc::channel(1);
        let named = config(
            "contact = \"sips:7001@192.0.2.7\"\ntls_name = \"sip.far.example\"\ntls_ca = \"/nonexistent/ca.pem\"\n",
        );
        let d = Dialer::new(tx.clone(), &named);
        match d.opener(tls_peer("192.0.2.7:5061")) {
            Some(Open::Tls { name, client }) => {
                assert_eq!(name, "sip.far.example");
                let err = client.expect_err("an unreadable CA file");
                assert!(err.contains("/nonexistent/ca.pem"), "{err}");
            }
            _ => panic!("the TLS peer is not opened over TLS"),
        }
        // A phone registered over TLS, and the peer over another transport.
        assert!(d.opener(tls_peer("192.0.2.8:5061")).is_none());
        let tcp = Peer {
            transport: Transport::Tcp,
            addr: "192.0.2.7:5061".parse().expect("address"),
        };
        assert!(d.opener(tcp).is_none());

        let by_ip = config("contact = \"sip:7001@192.0.2.9:5070;transport=tls\"\n");
        match Dialer::new(tx.clone(), &by_ip).opener(tls_peer("192.0.2.9:5070")) {
            Some(Open::Tls { name, .. }) => assert_eq!(name, "192.0.2.9"),
            _ => panic!("the TLS peer is not opened over TLS"),
        }
        let over_tcp = config("contact = \"sip:7001@192.0.2.9:5070;transport=tcp\"\n");
        let tcp = Peer {
            transport: Transport::Tcp,
            addr: "192.0.2.9:5070".parse().expect("address"),
        };
        assert!(matches!(
            Dialer::new(tx, &over_tcp).opener(tcp),
            Some(Open::Tcp)
        ));
    }

    /// A refused connection is an error naming the address, not a panic
    /// or a hang.
    #[tokio::test]
    async fn a_refused_connection_says_so() {
        // A port just released: nothing listens there.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let err = match Open::Tcp.open(addr).await {
            Err(e) => e,
            Ok(_) => panic!("connected to a closed port"),
        };
        assert!(err.contains(&addr.to_string()), "{err}");
        assert!(err.to_lowercase().contains("refused"), "{err}");
    }
}
