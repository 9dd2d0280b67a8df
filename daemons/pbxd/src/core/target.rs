//! Where a B leg is sent: a registered contact, or a static peer (an
//! extension configured with a `contact`, over UDP, TCP or TLS as its URI
//! says); trunks come next. A target carries what the box authenticates
//! with when the far side challenges its INVITE (registered phones never
//! do).

use std::collections::HashMap;

use dering_sip::transaction::Peer;
use dering_sip::uac::Credential;

use super::Core;
use crate::config::Config;
use crate::registrar::Contact;

/// What kind of thing a B leg rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetKind {
    /// A phone's registered contact.
    Registered,
    /// A fixed address from the configuration.
    Static,
}

/// A B leg's destination.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The Request-URI.
    pub uri: String,
    /// Where the INVITE is sent.
    pub peer: Peer,
    pub kind: TargetKind,
    /// The account for the far side's 401/407 challenges.
    pub credential: Option<Credential>,
}

impl Target {
    fn registered(c: &Contact) -> Target {
        Target {
            uri: c.uri.clone(),
            peer: c.peer,
            kind: TargetKind::Registered,
            credential: None,
        }
    }
}

/// The static peers of the configuration, by extension number.
#[derive(Debug, Default)]
pub(super) struct StaticPeers {
    by_ext: HashMap<String, Target>,
}

impl StaticPeers {
    pub fn new(cfg: &Config) -> StaticPeers {
        let by_ext = cfg
            .extensions
            .iter()
            .filter_map(|e| {
                let uri = e.contact.as_ref()?;
                // Validated when the configuration was read; the shell
                // opens the TCP or TLS connection when none is up.
                let peer = crate::config::static_contact(uri).ok()?;
                let credential = match (&e.auth_user, &e.auth_password) {
                    (Some(u), Some(p)) => Some(Credential {
                        username: u.clone(),
                        password: p.clone(),
                        realm: e.auth_realm.clone(),
                    }),
                    _ => None,
                };
                let target = Target {
                    uri: uri.clone(),
                    peer,
                    kind: TargetKind::Static,
                    credential,
                };
                Some((e.number.clone(), target))
            })
            .collect();
        StaticPeers { by_ext }
    }
}

impl Core {
    /// Where extension `ext` is rung: its freshest reachable
    /// registration, else its static contact.
    pub(super) fn target(&self, ext: &str) -> Option<Target> {
        self.bindings
            .route(ext)
            .map(Target::registered)
            .or_else(|| self.static_peers.by_ext.get(ext).cloned())
    }
}

#[cfg(test)]
mod tests {
    use dering_sip::transaction::Transport;

    use super::*;

    /// A static peer's contact URI picks the transport its B legs go out
    /// on (the shell opens the connection).
    #[test]
    fn a_static_peer_is_rung_over_its_contacts_transport() {
        let mut text = crate::config::DEFAULT_TOML.to_string();
        for (n, contact) in [
            ("7001", "sip:7001@127.0.0.1:5099"),
            ("7002", "sip:7002@127.0.0.1:5098;transport=tcp"),
            ("7003", "sips:7003@127.0.0.1"),
        ] {
            text.push_str(&format!(
                "\n[[extension]]\nnumber = \"{n}\"\nname = \"Peer\"\npassword = \"peer-pass-1\"\ncontact = \"{contact}\"\n"
            ));
        }
        let cfg = Config::parse(&text, "t.toml").expect("test configuration");
        let peers = StaticPeers::new(&cfg);
        let peer = |ext: &str| {
            peers
                .by_ext
                .get(ext)
                .map(|t| (t.peer.transport, t.peer.addr.port()))
        };
        assert_eq!(peer("7001"), Some((Transport::Udp, 5099)));
        assert_eq!(peer("7002"), Some((Transport::Tcp, 5098)));
        assert_eq!(peer("7003"), Some((Transport::Tls, 5061)));
        assert_eq!(
            peers.by_ext.get("7002").map(|t| t.uri.as_str()),
            Some("sip:7002@127.0.0.1:5098;transport=tcp")
        );
    }
}
