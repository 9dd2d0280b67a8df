//! A new configuration taken while calls are up (TEL-8, issue 12 §3).
//!
//! Each part of the core takes what is its own: the registrar its users,
//! expiries and guard limits, the dial plan its flows, rooms and codes, the
//! ACD its queues and agents, the recorder its policy. Calls in progress
//! keep what they started with (their legs, dialogs, timers, flow version
//! and recording decision are theirs); new calls follow the new
//! configuration. What only a restart can change (addresses, ports) is
//! named back so the caller can say so.

use std::collections::HashMap;
use std::time::Duration;

use super::{record_policy, Core, Now, User};
use crate::config::Config;

/// The users (extensions) of `cfg`, by number.
pub(super) fn users_of(cfg: &Config) -> HashMap<String, User> {
    cfg.extensions
        .iter()
        .map(|e| {
            (
                e.number.clone(),
                User {
                    name: e.name.clone(),
                    password: e.password.clone(),
                    algorithms: cfg.digest_algorithms(Some(e)),
                },
            )
        })
        .collect()
}

/// The settings of `new` that differ from `old` and take effect only at
/// the next start (sockets are bound once).
pub fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut v = Vec::new();
    if old.bind() != new.bind()
        || old.sip.advertise != new.sip.advertise
        || (old.sip.udp_port, old.sip.tcp_port, old.sip.tls_port)
            != (new.sip.udp_port, new.sip.tcp_port, new.sip.tls_port)
    {
        v.push("sip addresses and ports");
    }
    if old.rtp_ports() != new.rtp_ports() {
        v.push("media.rtp_port_min/max");
    }
    let stream = |c: &Config| {
        let s = &c.security;
        (
            s.stream_connections_per_source,
            s.stream_connections_total,
            s.tls_handshake_seconds,
            s.stream_message_seconds,
            s.stream_idle_seconds,
        )
    };
    if stream(old) != stream(new) {
        v.push("security.stream_* and tls_handshake_seconds");
    }
    if old.flows.prompts != new.flows.prompts {
        v.push("flows.prompts");
    }
    if (old.http.bind, old.http.port) != (new.http.bind, new.http.port) {
        v.push("http");
    }
    if old.power.is_some() != new.power.is_some() || old.snmp.is_some() != new.snmp.is_some() {
        v.push("power/snmp daemons");
    }
    v
}

impl Core {
    /// Takes `cfg` for everything from now on; calls in progress go on.
    pub fn apply_config(&mut self, now: Now, cfg: &Config) {
        self.realm = cfg.sip.domain.clone();
        self.min_expires = cfg.registrar.min_expires;
        self.default_expires = cfg.registrar.default_expires;
        self.max_expires = cfg.registrar.max_expires;
        self.qualify_every = Duration::from_secs(u64::from(cfg.registrar.qualify_seconds.max(5)));
        self.no_answer = Duration::from_secs(u64::from(cfg.calls.no_answer_seconds));
        self.users = users_of(cfg);
        self.default_algorithms = cfg.digest_algorithms(None);
        self.guard.set_limits(
            cfg.security.requests_per_second_per_source,
            cfg.security.auth_failures_before_block,
            cfg.security.block_seconds,
        );
        self.flows.reconfigure(cfg);
        self.rooms.reconfigure(cfg);
        self.pickups = super::pickup::Pickups::new(cfg);
        self.static_peers = super::target::StaticPeers::new(cfg);
        self.trusted = super::trusted::TrustedPeers::new(cfg);
        self.outside.reconfigure(cfg);
        self.record_policy = record_policy::RecordPolicy::new(&cfg.recording);
        self.queues.reconfigure(cfg, now.at);
        // Removed agents logged out, new queue settings: tell the journal,
        // the lamps and the distribution.
        self.drive_acd(now);
        tracing::info!(
            extensions = self.users.len(),
            "configuration applied to the running engine"
        );
    }
}
