//! Where a B leg is sent: a registered contact, or a static peer (an
//! extension configured with a `contact`); trunks come next. A target
//! carries what the box authenticates with when the far side challenges
//! its INVITE (registered phones never do).

use std::collections::HashMap;

use dering_sip::transaction::{Peer, Transport};
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
                // Validated when the configuration was read.
                let addr = crate::config::static_contact(uri).ok()?;
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
                    peer: Peer {
                        transport: Transport::Udp,
                        addr,
                    },
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
