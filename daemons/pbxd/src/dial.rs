//! Opening the connections the box needs itself (RFC 3261 §18.1.1): a
//! request to a peer reached over TCP or TLS (a static peer's
//! `;transport=tcp`, `;transport=tls` or `sips:` contact, a trunk later)
//! with no connection up. This module knows how to reach an address, TCP
//! or TLS with the server's certificate verified; [`crate::transport`]
//! runs the attempt under its caps and deadline and serves the connection
//! like an accepted one.
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

/// How the box opens connections: the TLS settings of each configured
/// peer, and where failures are reported.
#[derive(Debug)]
pub struct Dialer {
    pub(crate) tx: mpsc::Sender<Input>,
    peers: HashMap<SocketAddr, TlsPeer>,
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

    /// Takes the TLS settings of `cfg`'s static peers. A CA file is read
    /// here, so a bad one is logged when the configuration is taken, not
    /// first at a call.
    pub fn configure(&mut self, cfg: &Config) {
        let mut clients: HashMap<PathBuf, Client> = HashMap::new();
        self.peers = cfg
            .extensions
            .iter()
            .filter_map(|e| {
                let peer = crate::config::static_contact(e.contact.as_ref()?.get_ref()).ok()?;
                if peer.transport != Transport::Tls {
                    return None;
                }
                let client = e.tls_ca.as_ref().map(|ca| {
                    clients
                        .entry(ca.clone())
                        .or_insert_with(|| {
                            crate::tls::client_config(Some(ca)).map_err(|err| {
                                tracing::error!(extension = %e.number.get_ref(), error = %format!("{err:#}"),
                                    "cannot take the extension's tls_ca: its TLS connections will fail");
                                format!("tls_ca unusable: {err:#}")
                            })
                        })
                        .clone()
                });
                let name = e.tls_name.clone().unwrap_or_else(|| peer.addr.ip().to_string());
                Some((peer.addr, TlsPeer { name, client }))
            })
            .collect();
    }

    /// How to reach `peer`: TCP, or TLS with the settings of the static
    /// peer at its address (the system's roots and its IP address for any
    /// other, such as a phone registered over TLS).
    pub(crate) fn opener(&self, peer: Peer) -> Open {
        match peer.transport {
            Transport::Udp | Transport::Tcp => Open::Tcp,
            Transport::Tls => {
                let (name, client) = match self.peers.get(&peer.addr) {
                    Some(p) => (p.name.clone(), p.client.clone()),
                    None => (peer.addr.ip().to_string(), None),
                };
                let client = client.unwrap_or_else(|| self.system().clone());
                Open::Tls { name, client }
            }
        }
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

    /// A static peer's `tls_name` is the name checked; without one its IP
    /// address; an address nobody configured gets its IP address and the
    /// system's roots; an unreadable `tls_ca` fails its connections with
    /// the reason instead of falling back to other roots.
    #[test]
    fn tls_settings_follow_the_static_peers() {
        let (tx, _rx) = mpsc::channel(1);
        let named = config(
            "contact = \"sips:7001@192.0.2.7\"\ntls_name = \"sip.far.example\"\ntls_ca = \"/nonexistent/ca.pem\"\n",
        );
        let d = Dialer::new(tx.clone(), &named);
        match d.opener(tls_peer("192.0.2.7:5061")) {
            Open::Tls { name, client } => {
                assert_eq!(name, "sip.far.example");
                let err = client.expect_err("an unreadable CA file");
                assert!(err.contains("/nonexistent/ca.pem"), "{err}");
            }
            Open::Tcp => panic!("a TLS peer opened over TCP"),
        }
        match d.opener(tls_peer("192.0.2.8:5061")) {
            Open::Tls { name, .. } => assert_eq!(name, "192.0.2.8"),
            Open::Tcp => panic!("a TLS peer opened over TCP"),
        }
        let tcp = Peer {
            transport: Transport::Tcp,
            addr: "192.0.2.7:5060".parse().expect("address"),
        };
        assert!(matches!(d.opener(tcp), Open::Tcp));
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
