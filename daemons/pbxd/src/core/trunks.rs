//! The core's carrier trunks (issue 13): one row per `[[trunk]]` with its
//! `dering_trunk::Registration` (a `register` trunk) and `Keepalive`
//! (OPTIONS), driven like every other machine of the core. Their REGISTERs
//! and OPTIONS are client transactions of their own purpose
//! (`ClientPurpose::TrunkRegister`, `TrunkOptions`), their deadlines one
//! `Timer::Trunk` each in the timer table, and every change of what
//! `dering trunks` shows is an `Event::Trunk` on the feed.
//!
//! Where the carrier is comes in from the shell, which resolves the
//! trunk's host per RFC 3263 (`crate::resolve`, decision 0016): the core
//! never waits on DNS. A trunk whose host is an address needs no lookup.

use std::collections::BTreeMap;
use std::time::Duration;

use dering_config::{Config, Trunk, TrunkKind};
use dering_control::{Event, TrunkHealth, TrunkView};
use dering_sip::build::{self, RequestSpec};
use dering_sip::transaction::{Peer, Transport};
use dering_sip::uac::Credential;
use dering_sip::Message;
use dering_trunk::keepalive::{Change, Health};
use dering_trunk::registration::{Event as RegEvent, Policy, Status};
use dering_trunk::resolve::{self, Query, Step, Target};
use dering_trunk::{Keepalive, Registration, RegistrationSpec};

use super::timers::Timer;
use super::{ClientPurpose, Core, Now, Output};

/// OPTIONS unanswered this many times in a row mark a trunk down.
const DOWN_AFTER: u32 = 2;

/// What a trunk needs resolved: the shell looks this up and answers with
/// [`Core::trunk_resolved`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRequest {
    pub trunk: String,
    pub query: Query,
}

/// One trunk's live state.
#[derive(Debug)]
pub(super) struct TrunkState {
    pub(super) config: Trunk,
    /// Where the carrier is, best first (empty until resolved).
    targets: Vec<Target>,
    /// The target in use: the next one after a try that got no answer.
    current: usize,
    /// Why the host has no address, when resolving failed.
    unresolved: Option<String>,
    registration: Option<Registration>,
    keepalive: Option<Keepalive>,
    /// The trunk was removed from the configuration and is unregistering.
    leaving: bool,
    /// Wall time of the last change shown.
    since_ms: i64,
    /// The last state published, so an event goes out only on a change.
    shown: Option<(Option<bool>, TrunkHealth, bool)>,
    /// Calls sent through the trunk today (each try of a route counts).
    calls_today: u64,
    /// The WIB day `calls_today` counts.
    day_ms: i64,
}

/// The trunks by id; ids are never reused, so a late answer to a removed
/// trunk's request finds nothing.
#[derive(Debug, Default)]
pub(super) struct Trunks {
    by_id: BTreeMap<u32, TrunkState>,
    next_id: u32,
    /// Lookups the shell has yet to do.
    wanted: Vec<ResolveRequest>,
}

impl Trunks {
    fn id_of(&self, name: &str) -> Option<u32> {
        self.by_id
            .iter()
            .find(|(_, t)| !t.leaving && t.config.name == name)
            .map(|(id, _)| *id)
    }
}

fn to_sip(t: resolve::Transport) -> Transport {
    match t {
        resolve::Transport::Udp => Transport::Udp,
        resolve::Transport::Tcp => Transport::Tcp,
        resolve::Transport::Tls => Transport::Tls,
    }
}

fn from_sip(t: Transport) -> resolve::Transport {
    match t {
        Transport::Udp => resolve::Transport::Udp,
        Transport::Tcp => resolve::Transport::Tcp,
        Transport::Tls => resolve::Transport::Tls,
    }
}

/// The RFC 3263 question for a trunk: its configured transport is used
/// (so NAPTR is not asked), SRV for a name without a port.
pub fn query_of(t: &Trunk) -> Query {
    Query {
        host: t.host.clone(),
        port: t.port,
        transport: Some(from_sip(t.transport)),
        allowed: vec![from_sip(t.transport)],
    }
}

trait Username {
    fn username(&self) -> Option<&str>;
}

impl Username for TrunkKind {
    /// The account registered, if the trunk registers.
    fn username(&self) -> Option<&str> {
        match self {
            TrunkKind::Register(a) => Some(&a.username),
            TrunkKind::Ip => None,
        }
    }
}

/// `sip:host[:port]`, the registrar's and the probe's Request-URI.
fn host_uri(t: &Trunk) -> String {
    match t.port {
        Some(p) => format!("sip:{}:{p}", t.host),
        None => format!("sip:{}", t.host),
    }
}

fn wib_day(wall_ms: i64) -> i64 {
    const DAY: i64 = 24 * 3600 * 1000;
    const WIB: i64 = 7 * 3600 * 1000;
    (wall_ms + WIB).div_euclid(DAY) * DAY - WIB
}

impl Core {
    /// Takes the configuration's trunks: new ones start (resolved, then
    /// registered and probed), removed ones unregister, changed ones start
    /// over; unchanged ones go on untouched, so a configuration import
    /// does not re-register every trunk.
    pub(super) fn reconfigure_trunks(&mut self, now: Now, cfg: &Config) {
        let mut keep = Vec::new();
        for t in cfg.trunks.iter() {
            match self.trunks.id_of(&t.name) {
                Some(id) if self.trunks.by_id.get(&id).is_some_and(|s| &s.config == t) => {
                    keep.push(id);
                }
                Some(id) => {
                    // The same binding (registrar, account) re-registered
                    // by the new machine replaces the old one: an
                    // unregistration racing the new REGISTER could remove
                    // it at the carrier.
                    let same_binding = self.trunks.by_id.get(&id).is_some_and(|old| {
                        t.enabled
                            && old.config.host == t.host
                            && old.config.port == t.port
                            && old.config.kind.username() == t.kind.username()
                    });
                    if same_binding {
                        self.trunks.by_id.remove(&id);
                        self.timers.disarm(Timer::Trunk(id));
                    } else {
                        self.trunk_leave(now, id);
                    }
                    keep.push(self.trunk_add(now, t.clone()));
                }
                None => keep.push(self.trunk_add(now, t.clone())),
            }
        }
        let gone: Vec<u32> = self
            .trunks
            .by_id
            .iter()
            .filter(|(id, t)| !t.leaving && !keep.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.trunk_leave(now, id);
        }
        // Config order, for `dering trunks` and the MIB's rows.
        self.trunk_order = keep;
    }

    fn trunk_add(&mut self, now: Now, config: Trunk) -> u32 {
        let id = self.trunks.next_id;
        self.trunks.next_id += 1;
        let mut state = TrunkState {
            targets: Vec::new(),
            current: 0,
            unresolved: None,
            registration: None,
            keepalive: None,
            leaving: false,
            since_ms: now.wall_ms,
            shown: None,
            calls_today: 0,
            day_ms: wib_day(now.wall_ms),
            config,
        };
        if state.config.enabled {
            match resolve::first_step(&query_of(&state.config)) {
                Step::Done(targets) => state.targets = targets,
                _ => self.trunks.wanted.push(ResolveRequest {
                    trunk: state.config.name.clone(),
                    query: query_of(&state.config),
                }),
            }
        }
        // A new keep-alive has not probed yet: routes try the trunk.
        self.outside.states.trunk_up(&state.config.name);
        self.trunks.by_id.insert(id, state);
        self.trunk_start(now, id);
        id
    }

    /// Creates the machines once the trunk has somewhere to send.
    fn trunk_start(&mut self, now: Now, id: u32) {
        let contact_host = self.listen.host();
        let seed = u64::from_le_bytes(
            self.listen.tokens.bytes32()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let Some(t) = self.trunks.by_id.get_mut(&id) else {
            return;
        };
        if !t.config.enabled || t.leaving || t.targets.is_empty() {
            return;
        }
        if t.registration.is_none() {
            if let TrunkKind::Register(account) = &t.config.kind {
                let tp = t.config.transport;
                let param = match tp {
                    Transport::Udp => "",
                    Transport::Tcp => ";transport=tcp",
                    Transport::Tls => ";transport=tls",
                };
                let spec = RegistrationSpec {
                    registrar: host_uri(&t.config),
                    aor: format!("sip:{}@{}", account.username, t.config.host),
                    contact: format!(
                        "sip:{}@{contact_host}:{}{param}",
                        account.username,
                        self.listen.port(tp)
                    ),
                    credential: Credential {
                        username: account
                            .auth_username
                            .clone()
                            .unwrap_or_else(|| account.username.clone()),
                        password: account.password.clone(),
                        realm: account.realm.clone(),
                    },
                    expires: account.expires,
                };
                t.registration = Some(Registration::new(spec, Policy::default(), now.at, seed));
            }
        }
        if t.keepalive.is_none() {
            if let Some(secs) = t.config.keepalive_seconds.filter(|s| *s > 0) {
                t.keepalive = Some(Keepalive::new(
                    Duration::from_secs(u64::from(secs)),
                    DOWN_AFTER,
                    now.at,
                ));
            }
        }
        self.trunk_drive(now, id);
    }

    /// Removed or replaced: unregister if registered, then forget.
    fn trunk_leave(&mut self, now: Now, id: u32) {
        let Some(t) = self.trunks.by_id.get_mut(&id) else {
            return;
        };
        t.leaving = true;
        t.keepalive = None;
        match t.registration.as_mut() {
            Some(r) => r.stop(now.at),
            None => {
                self.trunks.by_id.remove(&id);
                return;
            }
        }
        self.trunk_drive(now, id);
    }

    /// The shell's answer to a [`ResolveRequest`].
    pub fn trunk_resolved(&mut self, now: Now, trunk: &str, found: Result<Vec<Target>, String>) {
        let Some(id) = self.trunks.id_of(trunk) else {
            return;
        };
        let mut sources = None;
        if let Some(t) = self.trunks.by_id.get_mut(&id) {
            match found {
                Ok(targets) if !targets.is_empty() => {
                    tracing::info!(trunk, first = %targets[0].addr, count = targets.len(), "trunk resolved");
                    // Calls in from these addresses are the trunk's too.
                    sources = Some(targets.iter().map(|t| t.addr).collect());
                    t.targets = targets;
                    t.current = 0;
                    t.unresolved = None;
                }
                Ok(_) => t.unresolved = Some("no address".into()),
                Err(e) => {
                    tracing::warn!(trunk, error = %e, "trunk host does not resolve");
                    t.unresolved = Some(e);
                }
            }
        }
        if let Some(addrs) = sources {
            self.trunk_sources_resolved(trunk, addrs);
        }
        self.trunk_start(now, id);
        self.trunk_publish(now, id);
        self.drain_tx(now);
    }

    /// Lookups the shell should do now.
    pub fn take_resolve_requests(&mut self) -> Vec<ResolveRequest> {
        std::mem::take(&mut self.trunks.wanted)
    }

    /// Whether routes may try `trunk` now: enabled, and not marked down by
    /// its OPTIONS (an unprobed trunk is tried). The outbound path's hook.
    pub fn trunk_usable(&self, trunk: &str) -> bool {
        self.trunks.id_of(trunk).is_some_and(|id| {
            self.trunks
                .by_id
                .get(&id)
                .is_some_and(|t| t.config.enabled && !self.outside.states.is_down(trunk))
        })
    }

    /// The carrier address `trunk` uses now (resolved, or its address):
    /// where the outbound path sends its calls.
    pub(super) fn trunk_target(&self, trunk: &str) -> Option<Target> {
        let t = self.trunks.by_id.get(&self.trunks.id_of(trunk)?)?;
        t.targets.get(t.current).copied()
    }

    /// A call was sent through `trunk`: counted in today's calls.
    pub(super) fn trunk_call_started(&mut self, now: Now, trunk: &str) {
        if let Some(t) = self
            .trunks
            .id_of(trunk)
            .and_then(|id| self.trunks.by_id.get_mut(&id))
        {
            let day = wib_day(now.wall_ms);
            if day != t.day_ms {
                t.day_ms = day;
                t.calls_today = 0;
            }
            t.calls_today += 1;
        }
    }

    pub fn trunk_views(&self, now: Now) -> Vec<TrunkView> {
        self.trunk_order
            .iter()
            .filter_map(|id| self.trunks.by_id.get(id))
            .map(|t| view(t, now, self.trunk_busy(&t.config.name)))
            .collect()
    }

    /// `Timer::Trunk(id)` is due.
    pub(super) fn trunk_due(&mut self, now: Now, id: u32) {
        if let Some(t) = self.trunks.by_id.get_mut(&id) {
            if let Some(r) = t.registration.as_mut() {
                r.handle_timeout(now.at);
            }
        }
        self.trunk_drive(now, id);
    }

    /// A final answer to one of the trunk's requests.
    pub(super) fn trunk_answered(&mut self, now: Now, purpose: ClientPurpose, msg: &Message) {
        let code = msg.status().unwrap_or(500);
        match purpose {
            ClientPurpose::TrunkRegister(id) => {
                if let Some(r) = self
                    .trunks
                    .by_id
                    .get_mut(&id)
                    .and_then(|t| t.registration.as_mut())
                {
                    r.handle_response(now.at, msg);
                }
                self.trunk_drive(now, id);
            }
            ClientPurpose::TrunkOptions(id) if code >= 200 => {
                let change = self
                    .trunks
                    .by_id
                    .get_mut(&id)
                    .and_then(|t| t.keepalive.as_mut())
                    .and_then(|k| k.answered(now.at, code));
                self.trunk_health_changed(now, id, change);
            }
            _ => {}
        }
    }

    /// The trunk's request got no answer (`transport`: could not be sent).
    pub(super) fn trunk_unanswered(&mut self, now: Now, purpose: ClientPurpose, transport: bool) {
        match purpose {
            ClientPurpose::TrunkRegister(id) => {
                if let Some(t) = self.trunks.by_id.get_mut(&id) {
                    if let Some(r) = t.registration.as_mut() {
                        r.handle_failure(now.at, transport);
                    }
                    // The next try goes to the next address the DNS gave;
                    // when every one has failed, the DNS is asked again (the
                    // carrier may have moved its SBCs).
                    if !t.targets.is_empty() {
                        t.current = (t.current + 1) % t.targets.len();
                        let by_name =
                            !matches!(resolve::first_step(&query_of(&t.config)), Step::Done(_));
                        if t.current == 0 && by_name {
                            self.trunks.wanted.push(ResolveRequest {
                                trunk: t.config.name.clone(),
                                query: query_of(&t.config),
                            });
                        }
                    }
                }
                self.trunk_drive(now, id);
            }
            ClientPurpose::TrunkOptions(id) => {
                let change = self
                    .trunks
                    .by_id
                    .get_mut(&id)
                    .and_then(|t| t.keepalive.as_mut())
                    .and_then(|k| k.failed(now.at));
                self.trunk_health_changed(now, id, change);
            }
            _ => {}
        }
    }

    /// Tells the outbound path (`trunk_state.rs`) when the keep-alive
    /// marks the trunk down or up: routes skip it while down.
    fn trunk_health_changed(&mut self, now: Now, id: u32, change: Option<Change>) {
        if let (Some(Change::Health { from, to }), Some(t)) = (change, self.trunks.by_id.get(&id)) {
            let name = t.config.name.clone();
            match to {
                Health::Down => {
                    tracing::warn!(trunk = %name, ?from, "trunk stopped answering OPTIONS; marked down");
                    self.outside.states.trunk_down(&name);
                }
                _ => {
                    tracing::info!(trunk = %name, ?from, "trunk answers OPTIONS; up");
                    self.outside.states.trunk_up(&name);
                }
            }
        }
        self.trunk_drive(now, id);
    }

    /// Sends what the trunk's machines ask for, logs and publishes their
    /// events, and arms the trunk's next deadline.
    fn trunk_drive(&mut self, now: Now, id: u32) {
        let realm = self.realm.clone();
        let mut sends = Vec::new();
        let mut forget = false;
        {
            let Some(t) = self.trunks.by_id.get_mut(&id) else {
                return;
            };
            let Some(target) = t.targets.get(t.current).copied() else {
                return;
            };
            let peer = Peer {
                transport: to_sip(target.transport),
                addr: target.addr,
            };
            if let Some(r) = t.registration.as_mut() {
                while let Some(req) = r.poll_request() {
                    let via = self.listen.via(peer.transport);
                    match req.encode(via) {
                        Ok(data) => sends.push((peer, data, ClientPurpose::TrunkRegister(id))),
                        Err(e) => {
                            tracing::warn!(trunk = %t.config.name, error = %e, "REGISTER not built")
                        }
                    }
                }
                while let Some(ev) = r.poll_event() {
                    let name = &t.config.name;
                    match ev {
                        RegEvent::Registered { expires } => {
                            tracing::info!(trunk = %name, expires, "trunk registered")
                        }
                        RegEvent::Failed { failure, .. } => {
                            tracing::warn!(trunk = %name, %failure, "trunk registration failed; retrying")
                        }
                        RegEvent::Expired => {
                            tracing::warn!(trunk = %name, "trunk registration expired")
                        }
                        RegEvent::GaveUp { failure } => tracing::error!(trunk = %name, %failure,
                            "trunk registration refused repeatedly: alarm raised, no more tries until reconfigured"),
                        RegEvent::Unregistered => forget = t.leaving,
                    }
                }
            }
            if let Some(k) = t.keepalive.as_mut() {
                if k.handle_timeout(now.at) {
                    let data = build::request(RequestSpec {
                        method: rsip::Method::Options,
                        uri: &host_uri(&t.config),
                        via: self.listen.via(peer.transport),
                        from: format!("<sip:dering@{realm}>;tag={}", self.listen.tokens.token(8)),
                        to: format!("<{}>", host_uri(&t.config)),
                        call_id: &format!("{}@dering", self.listen.tokens.token(16)),
                        cseq: 1,
                        contact: None,
                        extra: vec![],
                        content_type: None,
                        body: b"",
                    });
                    match data {
                        Ok(data) => sends.push((peer, data, ClientPurpose::TrunkOptions(id))),
                        Err(e) => {
                            tracing::warn!(trunk = %t.config.name, error = %e, "OPTIONS not built")
                        }
                    }
                }
            }
        }
        for (peer, data, purpose) in sends {
            let sent = Message::parse_datagram(&data)
                .ok()
                .and_then(|m| self.tx.send_request(now.at, peer, m, data));
            match sent {
                Some(key) => {
                    self.clients.insert(key, purpose);
                }
                None => self.trunk_unanswered(now, purpose, true),
            }
        }
        if forget {
            self.trunks.by_id.remove(&id);
            return;
        }
        self.trunk_publish(now, id);
        let next = self.trunks.by_id.get(&id).and_then(|t| {
            [
                t.registration.as_ref().and_then(Registration::poll_timeout),
                t.keepalive.as_ref().and_then(Keepalive::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min()
        });
        match next {
            Some(at) => self.timers.arm(Timer::Trunk(id), at.max(now.at)),
            None => {
                self.timers.disarm(Timer::Trunk(id));
            }
        }
    }

    /// An `Event::Trunk` when what `dering trunks` shows of it changed.
    fn trunk_publish(&mut self, now: Now, id: u32) {
        let Some(t) = self.trunks.by_id.get_mut(&id) else {
            return;
        };
        if t.leaving {
            return;
        }
        let v = view(t, now, 0);
        let shown = (v.registered, v.health, v.alarm);
        if t.shown == Some(shown) {
            return;
        }
        let first = t.shown.is_none();
        t.shown = Some(shown);
        t.since_ms = now.wall_ms;
        if first && v.registered != Some(true) && !v.alarm && v.health == TrunkHealth::Unknown {
            // A trunk just configured: nothing happened yet.
            return;
        }
        self.out.push_back(Output::Publish(Event::Trunk {
            at_ms: now.wall_ms,
            trunk: v.name,
            registered: v.registered,
            health: v.health,
            alarm: v.alarm,
            why: v.why,
        }));
    }
}

/// What `dering trunks` shows of `t`, with `busy` of its channels in use.
fn view(t: &TrunkState, now: Now, busy: u32) -> TrunkView {
    let status: Option<Status> = t.registration.as_ref().map(|r| r.status(now.at));
    let health = match t.keepalive.as_ref().map(Keepalive::health) {
        Some(Health::Up) => TrunkHealth::Up,
        Some(Health::Down) => TrunkHealth::Down,
        Some(Health::Unknown) | None => TrunkHealth::Unknown,
    };
    let registers = matches!(t.config.kind, TrunkKind::Register(_));
    let alarm = status.as_ref().is_some_and(|s| s.gave_up);
    let why = if !t.config.enabled {
        Some("disabled".to_string())
    } else if let Some(e) = &t.unresolved {
        Some(format!("host not resolved: {e}"))
    } else if let Some(f) = status
        .as_ref()
        .filter(|s| !s.registered)
        .and_then(|s| s.last_failure.as_ref())
    {
        Some(f.to_string())
    } else if health == TrunkHealth::Down {
        Some("no answer to OPTIONS".to_string())
    } else {
        None
    };
    let day_ok = wib_day(now.wall_ms) == t.day_ms;
    TrunkView {
        name: t.config.name.clone(),
        kind: if registers {
            dering_control::TrunkKind::Register
        } else {
            dering_control::TrunkKind::Ip
        },
        enabled: t.config.enabled,
        registered: registers.then(|| status.as_ref().is_some_and(|s| s.registered)),
        why,
        alarm,
        health,
        channels_busy: busy,
        channels_limit: Some(t.config.channels),
        calls_today: if day_ok { t.calls_today } else { 0 },
        since_ms: t.since_ms,
        target: t
            .targets
            .get(t.current)
            .map(|x| format!("{}:{}", x.transport.name(), x.addr)),
    }
}
