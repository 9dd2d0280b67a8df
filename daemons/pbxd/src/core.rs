//! The call engine's signalling core, sans-IO: datagrams, commit
//! confirmations and timeouts go in with the time; transmissions, database
//! writes and media commands come out. The daemon shell (`shell.rs`) wires
//! sockets, the database writer and the relay to it.
//!
//! A B2BUA: every call is two dialogs, A (caller to us) and B (us to the
//! callee), with media anchored on our relay. Records that must precede a
//! final response are committed first: the response waits in `deferred`
//! until the writer confirms the commit.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dering_control::{CallEventKind, ControlError, Party};
use dering_media::codec::Codec;
use dering_sip::auth::{self, Algorithm, Credentials, NonceCheck, NonceKey};
use dering_sip::build::{self, header, RequestSpec, ALLOW};
use dering_sip::nameaddr::NameAddr;
use dering_sip::sdp::{AudioSdp, Direction, Format};
use dering_sip::session::{self, Refusal};
use dering_sip::transaction::{
    invite_key_for_cancel, Incoming, Peer, Timers, TransactionLayer, Transmit, Transport, TxEvent,
};
use dering_sip::uas::{classify_datagram, Verdict};
use dering_sip::uri::Uri;
use dering_sip::{Message, Method};
use dering_store::{Binding, CallEnd, CallParties, Disposition, Op};
use serde::Serialize;

use crate::config::Config;

mod call;
mod challenge;
mod cti;
mod desk;
mod dialplan;
mod forward;
mod ivr;
mod live_config;
mod originate;
mod outbound;
mod pickup;
mod ports;
mod presence;
pub mod prompt_rec;
mod queue;
mod record_policy;
mod restart;
mod rooms;
mod target;
mod timers;
mod tokens;
mod transfer;
mod trunk_state;
mod trunks;
mod trusted;

pub use call::CallState;
pub use live_config::restart_needed;
pub use tokens::Tokens;
pub use trunks::ResolveRequest;

use crate::guard::Guard;
use crate::registrar::{Bindings, Contact};
use call::{Call, CallKind, Life, Originated};
pub use ivr::FlowView;
use target::Target;

/// The time, twice: monotonic for timers, wall clock (ms since the epoch)
/// for records.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub wall_ms: i64,
}

/// Which leg of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Commands for the media relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCmd {
    /// Bind `port` and the next one (RTP, RTCP) now, to be named in an
    /// SDP later; answered with [`Core::port_bound`].
    Reserve {
        port: u16,
    },
    /// Relay between `a_port`/`b_port` (RTP, +1 for RTCP), reserved
    /// before, on the relay thread of `group` (calls that mix share a group).
    Open {
        call: u64,
        a_port: u16,
        b_port: u16,
        group: u64,
    },
    /// Leg `side` of `call` joins mixing room `room` (or changes its role
    /// there); roles name legs by [`leg_key`].
    Join {
        room: u64,
        call: u64,
        side: Side,
        codec: Codec,
        role: dering_media::mix::Role<u64>,
    },
    /// Both legs of `call` leave their room.
    Leave {
        call: u64,
    },
    /// Report the keys the parties send as telephone-events with these
    /// payload types (caller's leg, callee's leg), and keep the in-call
    /// feature `codes` they type from the other party.
    WatchKeys {
        call: u64,
        a: Option<u8>,
        b: Option<u8>,
        codes: std::sync::Arc<[String]>,
    },
    /// Where a leg's media goes until packets from it are seen (latching).
    Remote {
        call: u64,
        side: Side,
        addr: SocketAddr,
    },
    Close {
        call: u64,
        uuid: String,
    },
    /// The caller's leg ends at the box (a flow): `codec` out, keys in.
    Local {
        call: u64,
        codec: Codec,
        event_pt: Option<u8>,
    },
    Play {
        call: u64,
        audio: Vec<std::sync::Arc<[i16]>>,
        interruptible: bool,
    },
    StopPlay {
        call: u64,
    },
    /// Music looped under the prompts of `call`'s local endpoint (a
    /// queue's caller); empty: none.
    Music {
        call: u64,
        music: Vec<std::sync::Arc<[i16]>>,
    },
    /// Relay the caller to the callee from now on.
    Bridge {
        call: u64,
    },
    /// Music on hold to leg `held` (`music` empty: stop it).
    Hold {
        call: u64,
        held: Side,
        codec: Codec,
        music: Vec<std::sync::Arc<[i16]>>,
    },
    /// The legs talk different codecs: transcode between them.
    Transcode {
        call: u64,
        a: Codec,
        b: Codec,
    },
    /// Record the call from now on (both legs).
    Record {
        call: u64,
        meta: RecordMeta,
    },
    /// Keep what the caller of `call` says at its local endpoint (up to
    /// `max_samples`), for a prompt recorded from a phone.
    Capture {
        call: u64,
        max_samples: usize,
    },
    /// End the capture: the endpoint reports it as `Captured`.
    EndCapture {
        call: u64,
    },
    /// Write `audio` as prompt `<lang>/<name>.wav` of the prompts
    /// directory (recorded from a phone by extension `by`) and use it from
    /// the next call on.
    SavePrompt {
        lang: dering_media::speech::Lang,
        name: String,
        audio: std::sync::Arc<[i16]>,
        by: String,
        at_ms: i64,
    },
}

/// What a recording's row says of its call (REC-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub uuid: String,
    pub caller: String,
    /// The number dialed.
    pub callee: String,
    /// The extension that took the call.
    pub agent: Option<String>,
    /// The flow the call came through.
    pub service: Option<String>,
    pub at_ms: i64,
}

/// One number for one leg of one call, as mixing rooms name their members.
pub fn leg_key(call: u64, side: Side) -> u64 {
    (call << 1)
        | match side {
            Side::A => 0,
            Side::B => 1,
        }
}

/// What the core asks of its shell.
#[derive(Debug)]
pub enum Output {
    Transmit(Transmit),
    /// Write `op`; when `token` is set, report the commit with
    /// [`Core::handle_committed`].
    Store {
        op: Op,
        token: Option<u64>,
    },
    Media(MediaCmd),
    /// An event for control-socket subscribers.
    Publish(dering_control::Event),
}

/// One side's dialog (RFC 3261 §12): ids, target, CSeqs, route set,
/// credential and its re-INVITE state, with the peer it is reached at.
type Dialog = dering_sip::dialog::Dialog;

/// A re-INVITE passed on from one leg to the other.
#[derive(Debug)]
struct ReInvite {
    from: Side,
    server_key: String,
    client_key: String,
    /// The offer passed on, to send again if the far side challenges it.
    body: Vec<u8>,
}

/// The dialog of leg `side` of call `c`.
fn leg(c: &mut Call, side: Side) -> &mut Dialog {
    match side {
        Side::A => &mut c.a,
        Side::B => &mut c.b,
    }
}

/// The format of `codec` at its static payload type.
fn codec_format(codec: Codec) -> Format {
    Format {
        pt: codec.payload_type(),
        name: codec.name().to_string(),
        rate: 8000,
        fmtp: None,
    }
}

/// The formats of `sdp` in a codec the box talks, in the sender's order.
fn known_formats(sdp: &AudioSdp) -> Vec<(Codec, Format)> {
    sdp.formats
        .iter()
        .filter_map(|f| Some((Codec::from_name(&f.name)?, f.clone())))
        .collect()
}

/// What the box offers a callee for a caller who offered `offer`: the
/// caller's codecs in its order (no transcoding if the callee takes one),
/// then the others the box can transcode to, and the caller's
/// telephone-event.
fn callee_offer(offer: &AudioSdp) -> Vec<Format> {
    let mut formats: Vec<Format> = known_formats(offer).into_iter().map(|(_, f)| f).collect();
    for c in Codec::ALL {
        if !formats.iter().any(|f| Codec::from_name(&f.name) == Some(c)) {
            formats.push(codec_format(c));
        }
    }
    formats.extend(offer.telephone_event().cloned());
    formats
}

/// `cause` with the Q.850 cause of `msg`'s `Reason: Q.850;cause=N`
/// header (RFC 3326) when it has one: trunkd and carriers say why the
/// network cleared a call (16 normal, 17 busy, 34 no circuit…), which
/// the record keeps for reports by cause.
fn with_q850(cause: String, msg: &Message) -> String {
    let q850 = msg.all("Reason").find_map(|r| {
        let (proto, params) = r.split_once(';')?;
        if !proto.trim().eq_ignore_ascii_case("Q.850") {
            return None;
        }
        params.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("cause")
                .then(|| v.trim().parse::<u8>().ok())
                .flatten()
        })
    });
    match q850 {
        Some(n) => format!("{cause}, Q.850 cause {n}"),
        None => cause,
    }
}

/// How a call ended, for its record.
#[derive(Debug, Clone)]
struct Ending {
    disposition: Disposition,
    /// "caller", "callee" or "system".
    by: &'static str,
    cause: String,
    code: Option<u16>,
}

impl Ending {
    fn new(
        disposition: Disposition,
        by: &'static str,
        cause: impl Into<String>,
        code: Option<u16>,
    ) -> Ending {
        Ending {
            disposition,
            by,
            cause: cause.into(),
            code,
        }
    }
}

/// An authenticated caller's INVITE to a number the box answers itself.
#[derive(Debug)]
struct Inbound {
    peer: Peer,
    /// The INVITE's server transaction.
    key: String,
    req: Message,
    caller: String,
    /// The number dialled.
    number: String,
    /// A trusted peer or trunk the call came from, with its numbers as
    /// sent and in E.164 (TEL-10), for the record.
    source: Option<Box<trusted::Source>>,
}

/// What a B leg is built from.
struct BLegSpec<'a> {
    call: u64,
    caller: &'a str,
    display: &'a str,
    callee: &'a str,
    target: &'a Target,
    formats: Vec<Format>,
    direction: Direction,
    ptime: Option<u32>,
    b_port: u16,
    /// Headers beyond the usual (auto-answer for agents).
    extra: Vec<rsip::Header>,
}

/// Sends leg `side`'s media to the address its SDP gives, until the
/// relay latches to where its packets really come from. A function of the
/// output queue alone, so it can be called while a call is borrowed.
fn media_to(out: &mut VecDeque<Output>, call: u64, side: Side, sdp: &AudioSdp) {
    if let Ok(addr) = sdp.addr_port() {
        out.push_back(Output::Media(MediaCmd::Remote { call, side, addr }));
    }
}

/// A response to one of the box's own requests, as its handler gets it:
/// the client transaction's key, the status code and the message. The
/// transaction is already forgotten when the code is final.
#[derive(Clone, Copy)]
struct Reply<'a> {
    key: &'a str,
    code: u16,
    msg: &'a Message,
}

#[derive(Debug, Clone, Copy)]
enum ClientPurpose {
    BInvite(u64),
    /// An ACD offer's INVITE to an agent's phone.
    Offer(u64),
    /// A blind transfer's INVITE to its target.
    Transfer(u64),
    /// A re-INVITE of the box's own (moving or resuming a leg).
    Rebind(u64, Side),
    /// The INVITE of a B leg the call gave up (see `Call::stale_b`).
    Stale(u64),
    /// Click-to-dial's INVITE to the agent's own phone.
    Originate(u64),
    /// The INVITE of a B leg whose call ended before its final answer
    /// (the caller cancelled, the call gave up): a 2xx that crosses our
    /// CANCEL is ACKed and hung up (RFC 3261 §15; see `Core::orphans`).
    Orphan,
    InDialog,
    ReInvite(u64),
    Qualify,
    /// A trunk's REGISTER (its id in the trunk table).
    TrunkRegister(u32),
    /// A trunk's OPTIONS keep-alive probe.
    TrunkOptions(u32),
    /// A BYE sent at start to a leg of a call a crash cut (`restart.rs`).
    RestartBye,
}

#[derive(Debug)]
enum Deferred {
    Respond {
        key: String,
        code: u16,
        data: Vec<u8>,
    },
}

/// A live call, as `dering calls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    #[serde(flatten)]
    pub parties: CallParties,
    pub state: CallState,
    pub codec: Option<String>,
    pub a_port: u16,
    pub b_port: u16,
}

/// A registration, as `dering registrations` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationView {
    pub extension: String,
    pub contact: String,
    pub transport: String,
    pub source: String,
    pub expires_in: u64,
    pub reachable: bool,
    pub user_agent: Option<String>,
}

#[derive(Debug)]
struct User {
    name: String,
    password: String,
    /// Digest algorithms offered to this user, in order.
    algorithms: Vec<Algorithm>,
}

/// The box as it writes itself on the wire: its addresses per transport
/// (Via, Contact) and the generator of the tags, branches and Call-IDs it
/// makes up ([`Tokens`], seeded by whoever starts the core).
#[derive(Debug)]
pub struct Listen {
    pub ip: IpAddr,
    pub udp: u16,
    pub tcp: u16,
    pub tls: u16,
    pub tokens: Tokens,
}

impl Listen {
    fn port(&self, t: Transport) -> u16 {
        match t {
            Transport::Udp => self.udp,
            Transport::Tcp => self.tcp,
            Transport::Tls => self.tls,
        }
    }

    fn host(&self) -> String {
        match self.ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        }
    }

    /// A Via for a new request of ours, with a fresh branch.
    fn via(&self, t: Transport) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch=z9hG4bK{};rport",
            t.via_name(),
            self.host(),
            self.port(t),
            self.tokens.token(16)
        )
    }

    fn contact(&self, t: Transport) -> String {
        let tp = match t {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        format!("<sip:dering@{}:{}{tp}>", self.host(), self.port(t))
    }
}

impl dering_sip::dialog::Local for Listen {
    fn via(&self, t: Transport) -> String {
        Listen::via(self, t)
    }

    fn contact(&self, t: Transport) -> String {
        Listen::contact(self, t)
    }
}

impl Listen {
    /// Answers a 2xx to our INVITE in dialog `d`: learns from it and
    /// queues the ACK on `out` (RFC 3261 §13.2.2.4). The ACK's bytes, to
    /// send again for a retransmitted 2xx.
    fn ack_2xx(
        &self,
        d: &mut Dialog,
        msg: &Message,
        out: &mut VecDeque<Output>,
    ) -> Option<Vec<u8>> {
        let ack = d.ack_2xx(self, msg).ok()?;
        out.push_back(Output::Transmit(Transmit {
            peer: d.peer,
            data: ack.clone(),
        }));
        Some(ack)
    }
}

/// The signalling core.
#[derive(Debug)]
pub struct Core {
    listen: Listen,
    realm: String,
    min_expires: u32,
    default_expires: u32,
    max_expires: u32,
    qualify_every: Duration,
    no_answer: Duration,
    users: HashMap<String, User>,
    default_algorithms: Vec<Algorithm>,
    tx: TransactionLayer,
    nonces: NonceKey,
    guard: Guard,
    bindings: Bindings,
    calls: HashMap<u64, Call>,
    by_call_id: HashMap<String, (u64, Side)>,
    by_a_key: HashMap<String, u64>,
    clients: HashMap<String, ClientPurpose>,
    deferred: HashMap<u64, Vec<Deferred>>,
    /// Qualify OPTIONS in flight: client transaction key -> (extension,
    /// contact URI); a contact with one in flight is not probed again.
    probes: HashMap<String, (String, String)>,
    /// INVITEs we answer later (A legs, pending re-INVITEs), by server key.
    a_invites: HashMap<String, Message>,
    next_token: u64,
    next_call: u64,
    /// B legs' INVITEs whose call has ended, by client transaction, until
    /// their final answer.
    orphans: HashMap<String, Dialog>,
    /// RTP ports (even; RTCP on the next): those bound ahead for new
    /// calls, the free ones and those another program holds.
    ports: ports::Ports,
    /// Every deadline of the calls, and the periodic sweep.
    timers: timers::TimerTable,
    /// Carrier trunks (`core/trunks.rs`), and their ids in configuration
    /// order.
    trunks: trunks::Trunks,
    trunk_order: Vec<u32>,
    /// `Some(retry_after)` while new calls are refused (power shutdown).
    intake_closed: Option<u32>,
    /// Call flows and the numbers they answer (IVR).
    flows: ivr::Flows,
    /// Conference rooms and live monitoring.
    rooms: rooms::Rooms,
    /// Call forwarding set from the phones.
    forwards: forward::Forwards,
    /// Share of answered calls recorded (REC-1).
    record_policy: record_policy::RecordPolicy,
    /// The ACD (queues and agents).
    queues: queue::Queues,
    /// BLF and presence subscriptions.
    subscriptions: presence::Subscriptions,
    /// Call pickup codes and groups.
    pickups: pickup::Pickups,
    /// Extensions reached at a configured address.
    static_peers: target::StaticPeers,
    /// Peers whose INVITEs need no digest authentication.
    trusted: trusted::TrustedPeers,
    /// Outbound routes, trunks and the outside calls up.
    outside: outbound::Outside,
    /// The answered legs' dialogs as stored, and the BYEs of a restart.
    durable: restart::Durable,
    out: VecDeque<Output>,
}

fn disposition_for(code: u16) -> Disposition {
    match code {
        486 | 600 | 603 => Disposition::Busy,
        408 | 480 => Disposition::NoAnswer,
        487 => Disposition::Cancelled,
        _ => Disposition::Failed,
    }
}

impl Core {
    /// A core on `cfg`, writing itself as `listen` says, started at `now`.
    pub fn new(cfg: &Config, listen: Listen, now: Now) -> Core {
        let users = live_config::users_of(cfg);
        let nonces = NonceKey::new(listen.tokens.bytes32());
        // Even ports, RTP on the even one and RTCP on the next.
        let ports = ports::Ports::new(cfg.rtp_ports().step_by(2));
        let mut core = Core {
            listen,
            realm: cfg.sip.domain.clone(),
            min_expires: cfg.registrar.min_expires,
            default_expires: cfg.registrar.default_expires,
            max_expires: cfg.registrar.max_expires,
            qualify_every: Duration::from_secs(u64::from(cfg.registrar.qualify_seconds.max(5))),
            no_answer: Duration::from_secs(u64::from(cfg.calls.no_answer_seconds)),
            users,
            default_algorithms: cfg.digest_algorithms(None),
            tx: TransactionLayer::new(Timers::default()),
            nonces,
            guard: Guard::new(
                cfg.security.requests_per_second_per_source,
                cfg.security.auth_failures_before_block,
                cfg.security.block_seconds,
            ),
            bindings: Bindings::default(),
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            by_a_key: HashMap::new(),
            clients: HashMap::new(),
            deferred: HashMap::new(),
            a_invites: HashMap::new(),
            probes: HashMap::new(),
            orphans: HashMap::new(),
            next_token: 1,
            next_call: 1,
            ports,
            timers: timers::TimerTable::with_sweep(now.at),
            intake_closed: None,
            flows: ivr::Flows::new(cfg),
            rooms: rooms::Rooms::new(cfg),
            forwards: forward::Forwards::default(),
            record_policy: record_policy::RecordPolicy::new(&cfg.recording),
            queues: queue::Queues::new(cfg, now.at),
            subscriptions: presence::Subscriptions::default(),
            pickups: pickup::Pickups::new(cfg),
            static_peers: target::StaticPeers::new(cfg),
            trusted: trusted::TrustedPeers::new(cfg),
            outside: outbound::Outside::new(cfg),
            trunks: trunks::Trunks::default(),
            trunk_order: Vec::new(),
            durable: restart::Durable::default(),
            out: VecDeque::new(),
        };
        core.reconfigure_trunks(now, cfg);
        core
    }

    /// Loads bindings persisted by an earlier run.
    pub fn restore_bindings(&mut self, now: Now, rows: &[Binding]) -> usize {
        let mut n = 0;
        for b in rows {
            if let Some((ext, c)) = crate::registrar::restore(b, now.at, now.wall_ms) {
                if self.users.contains_key(&ext) {
                    self.bindings.upsert(&ext, c);
                    n += 1;
                }
            }
        }
        n
    }

    // ---- getters -----------------------------------------------------

    pub fn calls(&self) -> Vec<CallView> {
        let mut v: Vec<CallView> = self
            .calls
            .values()
            .map(|c| CallView {
                parties: c.parties.clone(),
                state: c.state(),
                codec: c.codec_label(),
                a_port: c.a.port,
                b_port: c.b.port,
            })
            .collect();
        v.sort_by_key(|c| c.parties.start_ms);
        v
    }

    pub fn registrations(&self, now: Now) -> Vec<RegistrationView> {
        let mut v: Vec<RegistrationView> = self
            .bindings
            .iter()
            .map(|(ext, c)| RegistrationView {
                extension: ext.clone(),
                contact: c.uri.clone(),
                transport: c.peer.transport.via_name().to_string(),
                source: c.peer.addr.to_string(),
                expires_in: c.expires_at.saturating_duration_since(now.at).as_secs(),
                reachable: c.reachable,
                user_agent: c.user_agent.clone(),
            })
            .collect();
        v.sort_by(|a, b| {
            a.extension
                .cmp(&b.extension)
                .then(a.contact.cmp(&b.contact))
        });
        v
    }

    pub fn blocked(&self, now: Now) -> Vec<(IpAddr, u64)> {
        self.guard.blocked(now.at)
    }

    pub fn unblock(&mut self, ip: IpAddr) -> bool {
        self.guard.unblock(ip)
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// New calls get 503 with `Retry-After: retry_after` until
    /// [`Core::open_intake`]; calls in progress go on (PWR-3).
    pub fn close_intake(&mut self, retry_after: u32) {
        tracing::warn!(retry_after, "intake closed: new calls are refused");
        self.intake_closed = Some(retry_after);
    }

    pub fn open_intake(&mut self) {
        if self.intake_closed.take().is_some() {
            tracing::info!("intake open: new calls are taken again");
        }
    }

    pub fn intake_open(&self) -> bool {
        self.intake_closed.is_none()
    }

    /// Ends every call: BYE to both sides of answered calls, CANCEL and a
    /// 503 for ringing ones; each is recorded as ended by the system with
    /// `cause`. Returns how many calls were ended.
    pub fn hang_up_all(&mut self, now: Now, cause: &str) -> usize {
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        for &call in &ids {
            self.hang_up_call(now, call, cause);
        }
        self.drain_tx(now);
        ids.len()
    }

    /// Ends `call` from the box, whatever its state: a ringing call is
    /// cancelled and failed with 503, an answered one is hung up on both
    /// sides.
    fn hang_up_call(&mut self, now: Now, call: u64, cause: &str) {
        let Some(state) = self.calls.get(&call).map(|c| c.state()) else {
            return;
        };
        match state {
            CallState::Ringing => {
                self.send_cancel(now, call);
                self.system_failure(now, call, cause, 503);
            }
            CallState::Flow => {
                self.send_cancel(now, call);
                self.hang_up_here(now, call, cause);
            }
            CallState::Answered | CallState::Ending => {
                self.send_in_dialog(now, call, Side::B, rsip::Method::Bye);
                self.hang_up_here(now, call, cause);
            }
        }
    }

    /// The box hangs up the caller's leg (of a call it answered, or after
    /// the callee's) and records the call as answered, ended by the
    /// system for `cause`.
    fn hang_up_here(&mut self, now: Now, call: u64, cause: &str) {
        if self.refusal_said(now, call) {
            return;
        }
        self.send_in_dialog(now, call, Side::A, rsip::Method::Bye);
        self.close(
            now,
            call,
            Ending::new(Disposition::Answered, "system", cause, None),
        );
    }

    fn call_by_uuid(&self, uuid: &str) -> Option<u64> {
        self.calls
            .values()
            .find(|c| c.parties.uuid == uuid)
            .map(|c| c.id)
    }

    /// The control socket's hang-up (an agent desktop, a supervisor).
    pub fn hang_up_uuid(&mut self, now: Now, uuid: &str) -> Result<(), ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        tracing::info!(call, %uuid, "hung up from the control socket");
        self.hang_up_call(now, call, "hung up by control");
        self.drain_tx(now);
        Ok(())
    }

    /// The control socket's transfer: the callee (the agent) of live call
    /// `uuid` hands the caller to extension `to` (blind).
    pub fn transfer_uuid(&mut self, now: Now, uuid: &str, to: &str) -> Result<(), ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        let r = self.blind_transfer(now, call, Side::B, to, false);
        self.drain_tx(now);
        r.map_err(|e| ControlError::Refused { message: e.into() })
    }

    // ---- input -------------------------------------------------------

    /// One datagram or one framed stream message from `peer`.
    pub fn handle_packet(&mut self, now: Now, peer: Peer, data: &[u8]) {
        let is_response = data.starts_with(b"SIP/");
        if !is_response && !self.guard.admit(now.at, peer.addr.ip()) {
            return;
        }
        if is_response && self.guard.is_blocked(now.at, peer.addr.ip()) {
            return;
        }
        match classify_datagram(data) {
            Verdict::Request(req) => self.on_request(now, peer, req),
            Verdict::Response(resp) => {
                self.tx.on_response(now.at, resp);
                self.drain_tx(now);
            }
            Verdict::Reject {
                code,
                headers,
                to,
                why,
            } => {
                let line =
                    String::from_utf8_lossy(data.split(|&b| b == b'\n').next().unwrap_or_default())
                        .trim_end()
                        .to_string();
                tracing::debug!(%code, %why, from = %peer.addr, %line, "request rejected");
                if to.method() == Some(&Method::Ack) {
                    return;
                }
                let extra = headers.into_iter().map(|(n, v)| header(n, v)).collect();
                let data =
                    build::response(&to, code, Some(&self.listen.tokens.token(10)), extra, b"");
                self.out
                    .push_back(Output::Transmit(Transmit { peer, data }));
            }
            Verdict::Drop(why) => {
                tracing::debug!(%why, from = %peer.addr, "message dropped");
            }
        }
    }

    /// The writer committed the operation submitted with `token`.
    pub fn handle_committed(&mut self, now: Now, token: u64) {
        for d in self.deferred.remove(&token).unwrap_or_default() {
            match d {
                Deferred::Respond { key, code, data } => self.tx.respond(now.at, &key, code, data),
            }
        }
        self.drain_tx(now);
    }

    /// The relay could not bind the ports of `call`.
    pub fn media_failed(&mut self, now: Now, call: u64) {
        if let Some(c) = self.calls.get(&call) {
            if c.state() == CallState::Ringing {
                let invite = c.b.invite_key.clone();
                self.send_cancel(now, call);
                self.tx.forget_client(&invite);
                self.system_failure(now, call, "media ports unavailable", 503);
            }
        }
    }

    /// The shell could not reach `peer` over its stream (`why`: the
    /// connection refused or timed out, the TLS handshake failed, a
    /// phone's own connection gone). The
    /// requests waiting on it fail now as a 503 would fail them (RFC 3261
    /// §8.1.3.1) instead of at timer B 32 s later: a B leg's call is
    /// forwarded on no answer or ended with 503, a qualify probe marks the
    /// phone unreachable.
    pub fn transport_failed(&mut self, now: Now, peer: Peer, why: &str) {
        let keys = self.tx.transport_failed(peer);
        if !keys.is_empty() {
            tracing::debug!(to = %peer.addr, transport = peer.transport.via_name(), error = %why,
                requests = keys.len(), "cannot reach peer: its requests fail with 503");
        }
        for key in keys {
            match self.clients.get(&key).copied() {
                Some(ClientPurpose::Qualify) => {
                    self.clients.remove(&key);
                    self.qualified(&key, false);
                }
                Some(p @ (ClientPurpose::TrunkRegister(_) | ClientPurpose::TrunkOptions(_))) => {
                    self.clients.remove(&key);
                    self.trunk_unanswered(now, p, true);
                }
                Some(ClientPurpose::RestartBye) => {
                    self.clients.remove(&key);
                    self.restart_bye_unsent(now, &key, why);
                }
                Some(ClientPurpose::BInvite(call))
                    if self
                        .calls
                        .get(&call)
                        .is_some_and(|c| c.state() == CallState::Ringing) =>
                {
                    self.clients.remove(&key);
                    tracing::warn!(call, to = %peer.addr, transport = peer.transport.via_name(),
                        error = %why, "cannot reach the callee: the call fails with 503 unless forwarded");
                    let ending = Ending::new(
                        Disposition::Failed,
                        "system",
                        format!("cannot reach callee: {why}"),
                        Some(503),
                    );
                    self.forward_or_end(now, call, forward::Condition::NoAnswer, ending, 503);
                }
                Some(_) => {
                    let failed = Message {
                        start: dering_sip::StartLine::Response {
                            code: 503,
                            reason: why.to_string(),
                        },
                        headers: vec![],
                        body: vec![],
                    };
                    self.on_response(now, &key, failed);
                }
                None => {}
            }
        }
        self.drain_tx(now);
    }

    /// The shell bound RTP port `port` and the next (`ok`), or could
    /// not: another program holds one of them, so it is skipped for a
    /// while and another port bound in its place.
    pub fn port_bound(&mut self, now: Now, port: u16, ok: bool) {
        self.ports.bound(now.at, port, ok);
        if !ok {
            self.top_up_ports(now);
        }
    }

    /// Asks the shell to bind ports until enough are ready for new calls.
    fn top_up_ports(&mut self, now: Now) {
        for port in self.ports.wanted(now.at) {
            self.out
                .push_back(Output::Media(MediaCmd::Reserve { port }));
        }
    }

    /// Two bound RTP ports for a new call's legs (none: the range is
    /// exhausted), with more asked for in their place.
    fn take_ports(&mut self, now: Now) -> Option<(u16, u16)> {
        let pair = self.ports.take_pair();
        self.top_up_ports(now);
        pair
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.tx.poll_timeout(),
            self.timers.next(),
            self.queues.acd.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Now) {
        self.top_up_ports(now);
        self.tx.handle_timeout(now.at);
        self.drain_tx(now);
        self.acd_timers(now);
        self.fire_timers(now);
        self.drain_tx(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ---- internals ---------------------------------------------------

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn store(&mut self, op: Op) {
        if matches!(op, Op::CallAnswered { .. } | Op::CallEnd(_)) {
            // A call's dialogs are stored before its answer and removed
            // before its end (decision 0028).
            self.save_dialogs();
        }
        self.out.push_back(Output::Store { op, token: None });
    }

    /// Commits `op`, then sends `code` on server transaction `key`.
    fn respond_after(&mut self, op: Op, key: String, code: u16, data: Vec<u8>) {
        // An answer's dialogs are stored no later than its record, so a
        // crash after the phone hears the answer finds them (decision 0028).
        self.save_dialogs();
        let token = self.token();
        self.deferred
            .entry(token)
            .or_default()
            .push(Deferred::Respond { key, code, data });
        self.out.push_back(Output::Store {
            op,
            token: Some(token),
        });
    }

    fn respond(&mut self, now: Now, key: &str, req: &Message, code: u16, extra: Vec<rsip::Header>) {
        let data = build::response(req, code, Some(&self.listen.tokens.token(10)), extra, b"");
        self.tx.respond(now.at, key, code, data);
    }

    fn drain_tx(&mut self, now: Now) {
        // Every input ends here: agents follow their phones, lamps follow
        // what it changed.
        self.phone_events(now);
        self.notify_changes(now);
        self.save_dialogs();
        loop {
            while let Some(t) = self.tx.poll_transmit() {
                self.out.push_back(Output::Transmit(t));
            }
            let Some(ev) = self.tx.poll_event() else {
                break;
            };
            match ev {
                TxEvent::Response { key, msg } => self.on_response(now, &key, msg),
                TxEvent::Timeout { key } => self.on_client_timeout(now, &key),
                TxEvent::NoAck { key } => {
                    if let Some(&call) = self.by_a_key.get(&key) {
                        tracing::warn!(call, "caller never acknowledged the answer; hanging up");
                        self.hangup_both(now, call, Side::A, "no ACK");
                    }
                }
            }
        }
    }

    fn on_request(&mut self, now: Now, peer: Peer, mut req: Message) {
        mark_received(&mut req, peer.addr);
        let key = match self.tx.on_request(now.at, peer, &req) {
            Incoming::New(k) => k,
            Incoming::Retransmission | Incoming::AckAbsorbed | Incoming::Unroutable => {
                self.drain_tx(now);
                return;
            }
        };
        let method = req.method().cloned().unwrap_or(Method::Ack);
        let to_tag = req
            .get("To")
            .and_then(|t| NameAddr::parse(t).ok())
            .and_then(|n| n.tag().map(str::to_string));
        if to_tag.is_some() && !self.in_order(now, &key, &req) {
            self.drain_tx(now);
            return;
        }
        match method {
            Method::Register => self.on_register(now, peer, &key, &req),
            Method::Options => {
                let extra = vec![header("Allow", ALLOW), header("Accept", "application/sdp")];
                self.respond(now, &key, &req, 200, extra);
            }
            Method::Invite if to_tag.is_none() => match self.intake_closed {
                // RFC 3261 §21.5.4: 503 with Retry-After; phones and trunks
                // try again later or elsewhere.
                Some(secs) => {
                    let extra = vec![header("Retry-After", secs.to_string())];
                    self.respond(now, &key, &req, 503, extra);
                }
                None => self.on_invite(now, peer, &key, req),
            },
            Method::Invite => self.on_reinvite(now, &key, req),
            Method::Ack => self.on_ack(&req),
            Method::Cancel => self.on_cancel(now, &key, &req),
            Method::Bye => self.on_bye(now, &key, &req),
            Method::Refer => self.on_refer(now, &key, &req),
            Method::Subscribe => self.on_subscribe(now, peer, &key, &req),
            Method::Info | Method::Update | Method::Notify => {
                let code = if self.dialog_of(&req).is_some() {
                    200
                } else {
                    481
                };
                self.respond(now, &key, &req, code, vec![]);
            }
            _ => self.respond(now, &key, &req, 405, vec![header("Allow", ALLOW)]),
        }
        self.drain_tx(now);
    }

    fn dialog_of(&self, req: &Message) -> Option<(u64, Side)> {
        self.by_call_id.get(req.call_id()?).copied()
    }

    /// Whether a request in a call's dialog comes in order (RFC 3261
    /// §12.2.2); one that does not is answered here (500: a CSeq not
    /// above the dialog's last, a stale or replayed request).
    fn in_order(&mut self, now: Now, key: &str, req: &Message) -> bool {
        let Some((call, side)) = self.dialog_of(req) else {
            return true;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return true;
        };
        match leg(c, side).check_request(req) {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(call, ?side, error = %e, "request in a dialog refused");
                self.respond(now, key, req, e.status(), vec![]);
                false
            }
        }
    }

    // ---- authentication ----------------------------------------------

    /// Checks digest credentials; on failure answers the challenge and
    /// returns `None`. Unknown users and wrong passwords get the same answer.
    fn authenticate(
        &mut self,
        now: Now,
        peer: Peer,
        key: &str,
        req: &Message,
        proxy: bool,
    ) -> Option<String> {
        let (hdr, code, chal) = if proxy {
            ("Proxy-Authorization", 407, "Proxy-Authenticate")
        } else {
            ("Authorization", 401, "WWW-Authenticate")
        };
        let ip = peer.addr.ip().to_string();
        let mut stale = false;
        if let Some(creds) = req.all(hdr).find_map(|v| Credentials::parse(v).ok()) {
            let method = req
                .method()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            match self
                .nonces
                .check(&creds.nonce, (now.wall_ms / 1000) as u64, &ip)
            {
                NonceCheck::Fresh => {
                    let ok = creds.realm == self.realm
                        && self.users.get(&creds.username).is_some_and(|u| {
                            creds.algorithm().is_some_and(|a| u.algorithms.contains(&a))
                                && creds.verify(&method, &u.password)
                        });
                    if ok {
                        self.guard.auth_succeeded(peer.addr.ip());
                        return Some(creds.username);
                    }
                    if self.guard.auth_failed(now.at, peer.addr.ip()) {
                        tracing::warn!(source = %peer.addr.ip(), "address blocked after repeated authentication failures");
                    }
                }
                NonceCheck::Stale => stale = true,
                NonceCheck::Forged => {}
            }
        }
        let nonce = self.nonces.issue((now.wall_ms / 1000) as u64, &ip);
        // One challenge per algorithm offered to the user the request claims
        // to come from (To of a REGISTER, From otherwise); names that are no
        // extension get the global list, like extensions without their own.
        let claimed = req
            .get(if req.method() == Some(&Method::Register) {
                "To"
            } else {
                "From"
            })
            .and_then(|v| NameAddr::parse(v).ok())
            .and_then(|n| Uri::parse(&n.uri).ok())
            .and_then(|u| u.user_unescaped());
        let algorithms = claimed
            .and_then(|u| self.users.get(&u))
            .map_or(&self.default_algorithms, |u| &u.algorithms);
        let extra = algorithms
            .iter()
            .map(|a| header(chal, auth::challenge(&self.realm, &nonce, *a, stale)))
            .collect();
        self.respond(now, key, req, code, extra);
        None
    }

    // ---- registrar ---------------------------------------------------

    fn on_register(&mut self, now: Now, peer: Peer, key: &str, req: &Message) {
        let Some(user) = self.authenticate(now, peer, key, req, false) else {
            return;
        };
        let Some(ext) = req
            .get("To")
            .and_then(|t| NameAddr::parse(t).ok())
            .and_then(|n| Uri::parse(&n.uri).ok())
            .and_then(|u| u.user_unescaped())
        else {
            self.respond(now, key, req, 400, vec![]);
            return;
        };
        if ext != user {
            self.respond(now, key, req, 403, vec![]);
            return;
        }
        let call_id = req.call_id().unwrap_or_default().to_string();
        let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
        let default_exp: u32 = req
            .get("Expires")
            .and_then(|e| e.parse().ok())
            .unwrap_or(self.default_expires);
        let aor = format!("sip:{ext}@{}", self.realm);
        let mut ops = Vec::new();
        let contacts: Vec<&str> = req.all("Contact").collect();
        if contacts == ["*"] {
            if default_exp != 0 {
                self.respond(now, key, req, 400, vec![]);
                return;
            }
            for c in self.bindings.remove_all(&ext) {
                ops.push(Op::Unbind {
                    aor: aor.clone(),
                    contact: c.value,
                });
            }
        } else {
            let mut parsed = Vec::new();
            for v in &contacts {
                let Ok(na) = NameAddr::parse(v) else {
                    self.respond(now, key, req, 400, vec![]);
                    return;
                };
                let exp = na
                    .param("expires")
                    .and_then(|e| e.parse::<u32>().ok())
                    .unwrap_or(default_exp);
                if exp != 0 && exp < self.min_expires {
                    let extra = vec![header("Min-Expires", self.min_expires.to_string())];
                    self.respond(now, key, req, 423, extra);
                    return;
                }
                parsed.push((v.to_string(), na, exp.min(self.max_expires)));
            }
            for (value, na, exp) in parsed {
                if let Some(old) = self
                    .bindings
                    .contacts(&ext)
                    .iter()
                    .find(|c| c.uri == na.uri)
                {
                    // §10.3 step 7: an older request of the same Call-ID is ignored.
                    if old.call_id == call_id && old.cseq >= cseq {
                        continue;
                    }
                }
                if exp == 0 {
                    if let Some(c) = self.bindings.remove(&ext, &na.uri) {
                        ops.push(Op::Unbind {
                            aor: aor.clone(),
                            contact: c.value,
                        });
                    }
                    continue;
                }
                let expires_at_ms = now.wall_ms + i64::from(exp) * 1000;
                let contact = Contact {
                    value: value.clone(),
                    uri: na.uri.clone(),
                    peer,
                    expires_at: now.at + Duration::from_secs(u64::from(exp)),
                    expires_at_ms,
                    call_id: call_id.clone(),
                    cseq,
                    user_agent: req.get("User-Agent").map(str::to_string),
                    reachable: true,
                    next_qualify: now.at + self.qualify_every,
                };
                ops.push(Op::Bind(Binding {
                    aor: aor.clone(),
                    contact: value,
                    transport: peer.transport.via_name().into(),
                    source: peer.addr.to_string(),
                    expires_at_ms,
                    call_id: call_id.clone(),
                    cseq,
                    user_agent: contact.user_agent.clone(),
                }));
                self.bindings.upsert(&ext, contact);
            }
        }
        if self.bindings.contacts(&ext).iter().any(|c| c.peer == peer) {
            // Back on a new connection after a crash: the BYEs of the
            // calls the crash cut go out on it (decision 0028).
            self.phone_back(now, &ext, peer);
        }
        let extra: Vec<rsip::Header> = self
            .bindings
            .contacts(&ext)
            .iter()
            .map(|c| {
                let left = c.expires_at.saturating_duration_since(now.at).as_secs();
                header("Contact", format!("<{}>;expires={left}", c.uri))
            })
            .chain(std::iter::once(header("Date", httpdate(now.wall_ms))))
            .collect();
        let data = build::response(req, 200, Some(&self.listen.tokens.token(10)), extra, b"");
        if ops.is_empty() {
            self.tx.respond(now.at, key, 200, data);
            return;
        }
        // The binding is on disk before the phone is told it is registered.
        let last = ops.pop();
        for op in ops {
            self.store(op);
        }
        if let Some(op) = last {
            self.respond_after(op, key.to_string(), 200, data);
        }
    }

    // ---- calls ---------------------------------------------------------

    fn on_invite(&mut self, now: Now, peer: Peer, key: &str, req: Message) {
        if let Some(&(call, _)) = self.by_call_id.get(req.call_id().unwrap_or_default()) {
            // A merged request (§8.2.2.2) or a fork we do not handle.
            let _ = call;
            self.respond(now, key, &req, 482, vec![]);
            return;
        }
        let source = self.trusted_source(peer, &req);
        let caller = match &source {
            // The caller is who the peer says (P-Asserted-Identity or
            // From), in E.164.
            Some(s) => s.numbers.caller(),
            None => match self.authenticate(now, peer, key, &req, true) {
                Some(c) => c,
                None => return,
            },
        };
        if let Some(s) = &source {
            if !self.take_trunk_line(&s.peer, &req) {
                self.respond(now, key, &req, 503, vec![]);
                return;
            }
        }
        self.respond(now, key, &req, 100, vec![]);
        let callee = match &source {
            Some(s) => s.numbers.called_raw.clone(),
            None => Uri::parse(req.request_uri().unwrap_or_default())
                .ok()
                .and_then(|u| u.user_unescaped())
                .unwrap_or_default(),
        };
        let plan = dialplan::Plan {
            pickups: &self.pickups,
            rooms: &self.rooms,
            flows: &self.flows,
            users: &self.users,
            outside: &self.outside.plan,
            caller: self.dial_caller(now, &caller, source.as_ref().map(|s| &s.peer)),
        };
        let route = dialplan::route(&plan, &callee);
        let inbound = |req, caller, number| Inbound {
            peer,
            key: key.to_string(),
            req,
            caller,
            number,
            source: source.clone(),
        };
        // A carrier's call to a DID is recorded to the DID's E.164 form.
        let did = |callee: String| {
            source
                .as_ref()
                .and_then(|s| s.numbers.called.clone())
                .unwrap_or(callee)
        };
        let callee = match route {
            // Numbers the box answers or acts on itself.
            dialplan::Route::Pickup(what) => {
                return self.pick_up(now, inbound(req, caller, callee), what)
            }
            dialplan::Route::Feature(f) => {
                return self.start_feature_call(now, inbound(req, caller, callee), f)
            }
            dialplan::Route::Flow => {
                return self.start_flow_call(now, inbound(req, caller, did(callee)));
            }
            dialplan::Route::Queue(q) => {
                return self.start_queue_call(now, inbound(req, caller, did(callee)), &q);
            }
            dialplan::Route::Trunk(out) => {
                return self.start_trunk_call(now, inbound(req, caller, callee), out)
            }
            dialplan::Route::Deny(why) => {
                return self.refuse_outside(now, inbound(req, caller, callee), why)
            }
            // The extension dialled, or the one a DID rings.
            dialplan::Route::Extension(ext) => ext,
        };
        let Some(callee_user) = self.users.get(&callee) else {
            self.respond(now, key, &req, 404, vec![]);
            return;
        };
        let callee_name = callee_user.name.clone();
        // Forwarded everywhere, or forwarded when the phone is away.
        let mut forwarded = Vec::new();
        let mut routed = self.forwards.follow_all(&callee, &mut forwarded);
        let mut why = forward::Condition::All;
        if self.target(&routed).is_none() {
            if let Some(t) = self
                .forwards
                .target(&routed, forward::Condition::NoAnswer)
                .filter(|t| *t != callee && !forwarded.iter().any(|f| f == t))
                .map(str::to_string)
            {
                forwarded.push(routed);
                routed = self.forwards.follow_all(&t, &mut forwarded);
                why = forward::Condition::NoAnswer;
            }
        }
        if routed != callee && !self.users.contains_key(&routed) {
            // Forwarded to an outside number (TEL-5): through a trunk.
            let from = forwarded.last().cloned().unwrap_or_else(|| callee.clone());
            let Some(back) =
                self.forward_out(now, inbound(req, caller, callee.clone()), &from, &routed)
            else {
                return;
            };
            self.respond(now, key, &back.req, 480, vec![]);
            return;
        }
        let Some(target) = self.target(&routed) else {
            self.respond(now, key, &req, 480, vec![]);
            return;
        };
        let Ok(offer) = AudioSdp::parse(&req.body) else {
            self.respond(now, key, &req, 488, vec![]);
            return;
        };
        if known_formats(&offer).is_empty() {
            self.respond(
                now,
                key,
                &req,
                488,
                vec![header("Warning", "304 dering \"no G.711 or G.722\"")],
            );
            return;
        }
        let formats = callee_offer(&offer);
        let Some((a_port, b_port)) = self.take_ports(now) else {
            tracing::error!("RTP port range exhausted");
            self.respond(now, key, &req, 503, vec![]);
            return;
        };
        let id = self.next_call;
        self.next_call += 1;
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let from = NameAddr::parse(req.get("From").unwrap_or_default()).ok();
        let caller_name = self
            .users
            .get(&caller)
            .map(|u| u.name.clone())
            .or_else(|| from.as_ref().and_then(|f| f.display.clone()));
        let a = Dialog::from_invite(&req, peer, self.listen.tokens.token(10));
        let display = caller_name.clone().unwrap_or_else(|| caller.clone());
        let Ok(a_sock) = offer.addr_port() else {
            self.ports.unused([a_port, b_port]);
            self.respond(now, key, &req, 480, vec![]);
            return;
        };
        let leg = BLegSpec {
            call: id,
            caller: &caller,
            display: &display,
            callee: &routed,
            target: &target,
            formats,
            direction: offer.direction,
            ptime: offer.ptime,
            b_port,
            extra: vec![],
        };
        let Some((b, b_key, b_msg)) = self.invite_b(now, leg) else {
            self.ports.unused([a_port, b_port]);
            self.respond(now, key, &req, 500, vec![]);
            return;
        };
        self.open_media(id, a_port, b_port, a_sock, id);
        let parties = CallParties {
            uuid: uuid.clone(),
            caller,
            caller_name,
            callee: callee.clone(),
            callee_name: Some(callee_name),
            start_ms: now.wall_ms,
            answer_ms: None,
        };
        self.store(Op::CallStart(parties.clone()));
        if let Some(s) = &source {
            self.tag_source(now, &uuid, s);
        }
        if routed != callee {
            self.store(Op::CallEvent {
                uuid: uuid.clone(),
                at_ms: now.wall_ms,
                kind: "forwarded".into(),
                detail: Some(format!(
                    "{} {} -> {routed}",
                    why.name(),
                    forwarded.join(" -> ")
                )),
            });
        }
        // Numbers are personal data: redacted at info, whole at debug.
        tracing::info!(
            call = id,
            %uuid,
            from = %dering_daemon::redact::number(&parties.caller),
            to = %dering_daemon::redact::number(&parties.callee),
            "call started"
        );
        tracing::debug!(call = id, from = %parties.caller, to = %parties.callee, "call parties");
        self.by_call_id.insert(a.call_id.clone(), (id, Side::A));
        self.by_a_key.insert(key.to_string(), id);
        self.a_invites.insert(key.to_string(), req);
        let connected = (routed != callee).then(|| routed.clone());
        let mut c = self.ringing(
            now,
            id,
            parties,
            (a, offer),
            (b, b_key, b_msg),
            (a_port, b_port),
        );
        c.a.invite_key = key.to_string();
        c.connected = connected;
        c.forwarded = forwarded;
        self.calls.insert(id, c);
        self.call_started(now, id);
        self.drive_acd(now);
    }

    /// A call whose B leg was just invited (its dialog, client
    /// transaction and INVITE, from [`Core::invite_b`]; the A side is the
    /// caller's dialog and offer): the B leg's
    /// Call-ID and transaction are tracked, and it rings until the
    /// no-answer time.
    fn ringing(
        &mut self,
        now: Now,
        id: u64,
        parties: CallParties,
        (a, offer): (Dialog, AudioSdp),
        (b, b_key, b_msg): (Dialog, String, Message),
        ports: (u16, u16),
    ) -> Call {
        self.by_call_id.insert(b.call_id.clone(), (id, Side::B));
        self.clients
            .insert(b_key.clone(), ClientPurpose::BInvite(id));
        let mut c = Call::new(
            id,
            parties,
            (a, b),
            b_msg,
            offer,
            ports,
            now.at + self.no_answer,
        );
        self.timers.arm(timers::Timer::NoAnswer(id), c.no_answer_at);
        c.b.invite_key = b_key;
        c
    }

    /// Builds the B leg of call `leg.call` to `leg.callee` at `leg.target`
    /// and sends its INVITE, offering our relay's B port.
    /// Makes an INVITE that [`Core::invite_b`] sent the B leg of `call`:
    /// its dialog, its transaction and a fresh no-answer timer. Returns the
    /// call for whatever else the caller sets.
    fn ring_b(
        &mut self,
        now: Now,
        call: u64,
        invite: (Dialog, String, Message),
    ) -> Option<&mut Call> {
        if !self.calls.contains_key(&call) {
            return None;
        }
        let (b, key, msg) = invite;
        let no_answer = self.no_answer;
        self.by_call_id.insert(b.call_id.clone(), (call, Side::B));
        self.clients
            .insert(key.clone(), ClientPurpose::BInvite(call));
        let c = self.calls.get_mut(&call)?;
        c.b.dialog = b;
        c.b.invite_key = key;
        c.b.invite = Some(msg);
        c.b.got_provisional = false;
        c.b.ack = None;
        c.b.life = Life::Live;
        c.no_answer_at = now.at + no_answer;
        self.timers
            .arm(timers::Timer::NoAnswer(call), c.no_answer_at);
        self.call_event(now, call, CallEventKind::Offered);
        self.calls.get_mut(&call)
    }

    fn invite_b(&mut self, now: Now, leg: BLegSpec<'_>) -> Option<(Dialog, String, Message)> {
        let mut b = Dialog::uac(
            format!("{}@dering", self.listen.tokens.token(20)),
            format!(
                "\"{}\" <sip:{}@{}>;tag={}",
                leg.display.replace('"', ""),
                leg.caller,
                self.realm,
                self.listen.tokens.token(10)
            ),
            format!("<sip:{}@{}>", leg.callee, self.realm),
            leg.target.uri.clone(),
            leg.target.peer,
        );
        b.auth = leg
            .target
            .credential
            .clone()
            .map(|c| Box::new(dering_sip::uac::DigestClient::new(c)));
        let b_sdp = AudioSdp {
            addr: self.listen.ip,
            port: leg.b_port,
            formats: leg.formats,
            direction: leg.direction,
            ptime: leg.ptime,
        };
        let body = b_sdp.to_body(leg.call, 1);
        let spec = RequestSpec {
            method: rsip::Method::Invite,
            uri: &b.target,
            via: self.listen.via(b.peer.transport),
            from: b.local.clone(),
            to: b.remote.clone(),
            call_id: &b.call_id,
            cseq: b.cseq,
            contact: Some(self.listen.contact(b.peer.transport)),
            extra: std::iter::once(header("Allow", ALLOW))
                .chain(leg.extra)
                .collect(),
            content_type: Some("application/sdp"),
            body: &body,
        };
        let data = build::request(spec).ok()?;
        let b_msg = Message::parse_datagram(&data).ok()?;
        tracing::debug!(call = leg.call, kind = ?leg.target.kind, uri = %b.target, "B leg invited");
        let b_key = self.tx.send_request(now.at, b.peer, b_msg.clone(), data)?;
        Some((b, b_key, b_msg))
    }

    /// Binds a call's relay ports; the caller's media goes to `a_sock`
    /// until it is seen coming from elsewhere.
    fn open_media(&mut self, call: u64, a_port: u16, b_port: u16, a_sock: SocketAddr, group: u64) {
        self.out.push_back(Output::Media(MediaCmd::Open {
            call,
            a_port,
            b_port,
            group,
        }));
        self.out.push_back(Output::Media(MediaCmd::Remote {
            call,
            side: Side::A,
            addr: a_sock,
        }));
    }

    /// Settles each leg's codec from the callee's answer: the callee's
    /// first codec; the caller's is the same when it offered it, or else
    /// its own first, and the relay transcodes. Returns the formats for
    /// the caller's answer, or `None` when the callee chose nothing the
    /// box talks.
    ///
    /// A caller the box answered itself (a flow) already has its codec:
    /// only the callee's is settled then.
    fn settle_codecs(&mut self, call: u64, b_answer: &[Format]) -> Option<Vec<Format>> {
        let (b_codec, b_fmt) = b_answer
            .iter()
            .find_map(|f| Some((Codec::from_name(&f.name)?, f.clone())))?;
        let c = self.calls.get_mut(&call)?;
        let offered = known_formats(&c.offer);
        let answered_here = c.flow().is_some() || c.feature().is_some();
        let a_formats = match c.a.codec {
            Some(_) if answered_here => c.a.formats.clone(),
            _ => {
                let (_, a_fmt) = offered
                    .iter()
                    .find(|(k, _)| *k == b_codec)
                    .or(offered.first())
                    .cloned()?;
                let mut f = vec![a_fmt];
                f.extend(c.offer.telephone_event().cloned());
                f
            }
        };
        let a_codec = a_formats.first().and_then(|f| Codec::from_name(&f.name))?;
        let mut b_formats = vec![b_fmt];
        b_formats.extend(
            b_answer
                .iter()
                .find(|f| f.name == "TELEPHONE-EVENT")
                .cloned(),
        );
        let changed = c.a.codec != Some(a_codec) || c.b.codec != Some(b_codec);
        c.a.codec = Some(a_codec);
        c.b.codec = Some(b_codec);
        c.a.formats.clone_from(&a_formats);
        c.b.formats = b_formats;
        if changed && a_codec != b_codec {
            tracing::debug!(call, a = a_codec.name(), b = b_codec.name(), "transcoding");
            self.out.push_back(Output::Media(MediaCmd::Transcode {
                call,
                a: a_codec,
                b: b_codec,
            }));
        }
        Some(a_formats)
    }

    /// An answer to the A leg carrying our relay address for `formats`.
    fn a_sdp(&mut self, call: u64, formats: Vec<Format>, direction: Direction) -> Vec<u8> {
        let Some((port, ptime)) = self.calls.get(&call).map(|c| (c.a.port, c.offer.ptime)) else {
            return Vec::new();
        };
        self.sdp_body(call, (port, ptime), formats, direction)
    }

    /// An SDP body of ours for `call`: media at relay port `port`, the
    /// session version moved on (RFC 3264 §8: each new offer or answer of
    /// the same session has a higher version).
    fn sdp_body(
        &mut self,
        call: u64,
        (port, ptime): (u16, Option<u32>),
        formats: Vec<Format>,
        direction: Direction,
    ) -> Vec<u8> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Vec::new();
        };
        c.sdp_version += 1;
        AudioSdp {
            addr: self.listen.ip,
            port,
            formats,
            direction,
            ptime,
        }
        .to_body(call, c.sdp_version)
    }

    fn response_to_a(
        &mut self,
        call: u64,
        code: u16,
        body: &[u8],
        extra: Vec<rsip::Header>,
    ) -> Option<(String, Vec<u8>)> {
        let c = self.calls.get(&call).filter(|c| c.a.is_live())?;
        let a_key = c.a.invite_key.clone();
        let tag = NameAddr::parse(&c.a.local).ok()?.tag()?.to_string();
        let mut extra = extra;
        extra.push(header("Contact", self.listen.contact(c.a.peer.transport)));
        if !body.is_empty() {
            extra.push(header("Content-Type", "application/sdp"));
        }
        // Rebuild from the stored INVITE view: the A dialog's headers.
        let invite = self.a_request_view(call)?;
        Some((
            a_key,
            build::response(&invite, code, Some(&tag), extra, body),
        ))
    }

    /// A message with the A-leg INVITE's Via/From/To/Call-ID/CSeq, for
    /// building responses to it.
    fn a_request_view(&self, call: u64) -> Option<Message> {
        let c = self.calls.get(&call)?;
        self.a_invites.get(&c.a.invite_key).cloned()
    }

    fn on_response(&mut self, now: Now, key: &str, msg: Message) {
        let Some(purpose) = self.clients.get(key).copied() else {
            return;
        };
        let code = msg.status().unwrap_or(500);
        // A final answer ends the client transaction, whatever the
        // handler below makes of it.
        if code >= 200 {
            self.clients.remove(key);
        }
        let r = Reply {
            key,
            code,
            msg: &msg,
        };
        match purpose {
            ClientPurpose::Qualify => self.qualified(key, true),
            ClientPurpose::TrunkRegister(_) | ClientPurpose::TrunkOptions(_) => {
                if code >= 200 {
                    self.trunk_answered(now, purpose, &msg);
                }
            }
            ClientPurpose::InDialog => {}
            ClientPurpose::RestartBye => {
                if code >= 200 {
                    self.restart_bye_ended(now, key, Some(code));
                }
            }
            ClientPurpose::ReInvite(call) => self.on_reinvite_response(now, call, code, &msg),
            ClientPurpose::BInvite(call) => self.on_b_response(now, call, r),
            ClientPurpose::Offer(call) => self.offer_response(now, call, r),
            ClientPurpose::Transfer(call) => self.transfer_response(now, call, r),
            ClientPurpose::Rebind(call, side) => self.rebind_response(call, side, code, &msg),
            ClientPurpose::Stale(call) => self.stale_response(now, call, r),
            ClientPurpose::Originate(call) => self.originate_response(now, call, r),
            ClientPurpose::Orphan => {
                if let Some(mut d) = self.orphans.remove(key) {
                    if (200..300).contains(&code) {
                        self.ack_and_bye(now, &mut d, &msg);
                    }
                }
            }
        }
    }

    fn on_b_response(&mut self, now: Now, call: u64, r: Reply<'_>) {
        self.note_trunkd_channel(call, r.code, r.msg);
        if matches!(r.code, 401 | 407) && self.answer_b_challenge(now, call, r) {
            return;
        }
        if self
            .calls
            .get(&call)
            .is_some_and(|c| c.state() == CallState::Flow)
        {
            self.flow_b_response(now, call, r);
            return;
        }
        let Reply { key: _, code, msg } = r;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if code < 200 {
            if code == 100 {
                return;
            }
            let first = !c.b.got_provisional;
            c.b.got_provisional = true;
            if let Some(to) = msg.get("To") {
                c.b.remote = to.to_string();
            }
            if c.state() != CallState::Ringing {
                return;
            }
            if first {
                self.call_event(now, call, CallEventKind::Ringing);
            }
            let mut body = Vec::new();
            if code == 183 {
                if let Ok(sdp) = AudioSdp::parse(&msg.body) {
                    media_to(&mut self.out, call, Side::B, &sdp);
                    if let Some(formats) = self.settle_codecs(call, &sdp.formats) {
                        body = self.a_sdp(call, formats, sdp.direction);
                    }
                }
            }
            let code = if code == 183 && body.is_empty() {
                180
            } else {
                code
            };
            if let Some((a_key, data)) = self.response_to_a(call, code, &body, vec![]) {
                self.tx.respond(now.at, &a_key, code, data);
            }
            return;
        }
        if (200..300).contains(&code) {
            // Every 2xx (retransmissions too) gets the ACK (§13.2.2.4).
            if let Some(ack) = c.b.ack.clone() {
                self.out.push_back(Output::Transmit(Transmit {
                    peer: c.b.peer,
                    data: ack,
                }));
                return;
            }
            c.b.ack = self.listen.ack_2xx(&mut c.b, msg, &mut self.out);
            if c.state() != CallState::Ringing {
                // Answered after we gave up: hang the callee up.
                self.send_in_dialog(now, call, Side::B, rsip::Method::Bye);
                return;
            }
            let answer = AudioSdp::parse(&msg.body);
            let (formats, direction) = match &answer {
                Ok(sdp) => {
                    media_to(&mut self.out, call, Side::B, sdp);
                    (sdp.formats.clone(), sdp.direction)
                }
                Err(_) => (Vec::new(), Direction::SendRecv),
            };
            let Some(formats) = self.settle_codecs(call, &formats) else {
                tracing::warn!(call, "callee answered without a codec we talk");
                self.send_in_dialog(now, call, Side::B, rsip::Method::Bye);
                self.end_call(
                    now,
                    call,
                    Ending::new(Disposition::Failed, "callee", "no common codec", Some(488)),
                    488,
                );
                return;
            };
            let body = self.a_sdp(call, formats, direction);
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            c.parties.answer_ms = Some(now.wall_ms);
            let codec = c.codec_label().unwrap_or_default();
            let uuid = c.parties.uuid.clone();
            let originated = c.originated();
            tracing::info!(call, %uuid, %codec, "call answered");
            self.set_state(now, call, CallState::Answered);
            self.watch_keys(call);
            let answered = Op::CallAnswered {
                uuid,
                at_ms: now.wall_ms,
                codec,
            };
            match self.response_to_a(call, 200, &body, vec![]) {
                Some((a_key, data)) => self.respond_after(answered, a_key, 200, data),
                None if originated => self.store(answered),
                None => {
                    // A call the box placed: its callee joins a call.
                    self.store(answered);
                    self.three_way_answered(now, call);
                }
            }
            return;
        }
        // Non-2xx final: the transaction already ACKed it.
        if c.state() != CallState::Ringing {
            return;
        }
        let (disposition, cause) = match code {
            487 => (Disposition::Cancelled, "cancelled".to_string()),
            _ => (
                disposition_for(code),
                with_q850(format!("callee answered {code}"), msg),
            ),
        };
        let a_code = match code {
            401 | 407 => 480,
            c => c,
        };
        let ending = Ending::new(disposition, "callee", cause, Some(code));
        if self.trunk_failed(now, call, Some(code)) {
            return;
        }
        match code {
            486 | 600 => self.forward_or_end(now, call, forward::Condition::Busy, ending, a_code),
            408 | 480 => {
                self.forward_or_end(now, call, forward::Condition::NoAnswer, ending, a_code)
            }
            _ => self.end_call(now, call, ending, a_code),
        }
    }

    /// A qualify probe was answered (any response) or timed out; the
    /// registrar reports a phone lost or back (see `phone_events`).
    fn qualified(&mut self, key: &str, answered: bool) {
        let Some((ext, uri)) = self.probes.remove(key) else {
            return;
        };
        if self.bindings.set_reachable(&ext, &uri, answered) {
            if answered {
                tracing::info!(extension = %ext, "phone answers OPTIONS again; reachable");
            } else {
                tracing::warn!(extension = %ext, "phone stopped answering OPTIONS; marked unreachable");
            }
        }
    }

    fn on_client_timeout(&mut self, now: Now, key: &str) {
        let Some(purpose) = self.clients.remove(key) else {
            return;
        };
        match purpose {
            ClientPurpose::Qualify => self.qualified(key, false),
            ClientPurpose::TrunkRegister(_) | ClientPurpose::TrunkOptions(_) => {
                self.trunk_unanswered(now, purpose, false)
            }
            ClientPurpose::BInvite(call) => {
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state() == CallState::Flow)
                {
                    self.flow_member_failed(now, call);
                } else if self.trunk_failed(now, call, None) {
                    // Another trunk of the route is ringing.
                } else if self.calls.contains_key(&call) {
                    self.system_failure(now, call, "callee did not respond", 408);
                }
            }
            ClientPurpose::ReInvite(call) => self.on_reinvite_response(
                now,
                call,
                408,
                &Message {
                    start: dering_sip::StartLine::Response {
                        code: 408,
                        reason: String::new(),
                    },
                    headers: vec![],
                    body: vec![],
                },
            ),
            ClientPurpose::Offer(call) => self.offer_timed_out(now, key, call),
            ClientPurpose::Transfer(call) => self.transfer_failed(now, call, "no response"),
            ClientPurpose::Originate(call) => {
                self.callback_leg(now, call, false);
                self.close(
                    now,
                    call,
                    Ending::new(
                        Disposition::Failed,
                        "system",
                        "agent's phone did not respond",
                        Some(408),
                    ),
                );
            }
            ClientPurpose::InDialog | ClientPurpose::Rebind(..) | ClientPurpose::Stale(_) => {}
            ClientPurpose::RestartBye => self.restart_bye_ended(now, key, None),
            ClientPurpose::Orphan => {
                self.orphans.remove(key);
            }
        }
    }

    fn on_ack(&mut self, req: &Message) {
        // A re-INVITE's 2xx, found by the dialog (RFC 3261 §13.3.1.4).
        if self.tx.ack_2xx(req) {
            return;
        }
        let Some((call, side)) = self.dialog_of(req) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let k = match side {
            Side::A => c.a.invite_key.clone(),
            // A B leg that came in as an INVITE (a pickup).
            Side::B => match &c.b.key_in {
                Some(k) => k.clone(),
                None => return,
            },
        };
        self.tx.acked(&k);
    }

    fn on_cancel(&mut self, now: Now, key: &str, req: &Message) {
        let invite_key = invite_key_for_cancel(key);
        let call = self.by_a_key.get(&invite_key).copied();
        let pending = self.tx.server_pending(&invite_key);
        self.respond(now, key, req, if pending { 200 } else { 481 }, vec![]);
        let Some(call) = call.filter(|_| pending) else {
            return;
        };
        // A refused outside call hearing why is not answered either.
        if self
            .calls
            .get(&call)
            .is_some_and(|c| c.state() == CallState::Ringing)
            || self.outside.is_refusing(call)
        {
            self.caller_gave_up(now, call, "caller cancelled");
        }
    }

    /// The system could not complete a ringing call: record it as failed,
    /// then answer the caller with `code`.
    fn system_failure(&mut self, now: Now, call: u64, cause: &str, code: u16) {
        let ending = Ending::new(Disposition::Failed, "system", cause, Some(code));
        self.end_call(now, call, ending, code);
    }

    /// The caller left a ringing call: cancel the callee, record the call,
    /// then answer the caller's INVITE with 487.
    fn caller_gave_up(&mut self, now: Now, call: u64, cause: &str) {
        self.send_cancel(now, call);
        let ending = Ending::new(Disposition::Cancelled, "caller", cause, Some(487));
        self.end_call(now, call, ending, 487);
    }

    fn on_bye(&mut self, now: Now, key: &str, req: &Message) {
        let Some((call, side)) = self.dialog_of(req) else {
            let code = if self.phone_left(now, req) { 200 } else { 481 };
            self.respond(now, key, req, code, vec![]);
            return;
        };
        let data = build::response(req, 200, None, vec![], b"");
        let Some(c) = self.calls.get_mut(&call) else {
            self.respond(now, key, req, 481, vec![]);
            return;
        };
        if c.state() == CallState::Ringing && side == Side::A {
            if c.originated() {
                // The agent hung up its click-to-dial call: no BYE back.
                c.a.life = Life::Absent;
            }
            // BYE before the answer reached the caller: treat as CANCEL.
            self.caller_gave_up(now, call, "BYE before answer");
            self.tx.respond(now.at, key, 200, data);
            return;
        }
        if c.transfer.as_ref().is_some_and(|t| t.side() == side) {
            // The transferor leaving after its REFER: the call goes on.
            self.tx.respond(now.at, key, 200, data);
            return;
        }
        let in_flow = c.state() == CallState::Flow;
        self.set_state(now, call, CallState::Ending);
        if in_flow {
            // A callee may be ringing for the flow: cancel it.
            self.send_cancel(now, call);
        } else {
            self.send_in_dialog(now, call, side.other(), rsip::Method::Bye);
        }
        let who = match side {
            Side::A => "caller",
            Side::B => "callee",
        };
        let op = self.finish(
            now,
            call,
            Ending::new(
                Disposition::Answered,
                who,
                with_q850("BYE".into(), req),
                None,
            ),
        );
        if let Some(op) = op {
            self.respond_after(op, key.to_string(), 200, data);
        }
    }

    /// Ends `call` and writes its record now (no answer waits on the
    /// write).
    fn close(&mut self, now: Now, call: u64, ending: Ending) {
        if let Some(op) = self.finish(now, call, ending) {
            self.store(op);
        }
    }

    /// Removes the call and returns its closing record.
    fn finish(&mut self, now: Now, call: u64, ending: Ending) -> Option<Op> {
        let c = self.calls.remove(&call)?;
        // B legs still ringing outlive the call until their final answer.
        let mut pending: Vec<(&String, &Dialog)> = c.stale_b.iter().map(|(k, d)| (k, d)).collect();
        if c.b.is_live() && c.b.ack.is_none() {
            pending.push((&c.b.invite_key, &c.b));
        }
        for (key, d) in pending {
            if let Some(p) = self.clients.get_mut(key) {
                *p = ClientPurpose::Orphan;
                self.orphans.insert(key.clone(), d.clone());
            }
        }
        self.call_ended(now, &c, &ending);
        self.by_call_id.remove(&c.a.call_id);
        self.by_call_id.remove(&c.b.call_id);
        self.by_a_key.remove(&c.a.invite_key);
        self.a_invites.remove(&c.a.invite_key);
        self.ports.release([c.a.port, c.b.port]);
        self.out.push_back(Output::Media(MediaCmd::Close {
            call,
            uuid: c.parties.uuid.clone(),
        }));
        tracing::info!(call, uuid = %c.parties.uuid, disposition = ending.disposition.as_str(), by = ending.by, "call ended");
        Some(Op::CallEnd(CallEnd {
            uuid: c.parties.uuid,
            end_ms: now.wall_ms,
            disposition: ending.disposition,
            hangup_by: ending.by.to_string(),
            hangup_cause: ending.cause,
            sip_code: ending.code,
        }))
    }

    /// Ends an unanswered call: record first, then `a_code` to the caller.
    fn end_call(&mut self, now: Now, call: u64, ending: Ending, a_code: u16) {
        if self.calls.get(&call).is_some_and(|c| c.originated()) {
            // Click-to-dial: the agent's phone answered the box; it is
            // hung up rather than answered.
            self.send_in_dialog(now, call, Side::A, rsip::Method::Bye);
        }
        let response = self.response_to_a(call, a_code, b"", vec![]);
        let Some(op) = self.finish(now, call, ending) else {
            return;
        };
        match response {
            Some((key, data)) => self.respond_after(op, key, a_code, data),
            None => self.store(op),
        }
    }

    fn send_cancel(&mut self, now: Now, call: u64) {
        let Some(c) = self.calls.get(&call).filter(|c| c.b.is_live()) else {
            return;
        };
        let Some(inv) = c.b.invite.clone() else {
            return;
        };
        let peer = c.b.peer;
        self.send_cancel_of(now, &inv, peer);
    }

    /// Sends a body-less in-dialog request (BYE) to one side.
    fn send_in_dialog(&mut self, now: Now, call: u64, side: Side, method: rsip::Method) {
        self.send_in_dialog_with(now, call, side, method, None);
    }

    fn send_in_dialog_with(
        &mut self,
        now: Now,
        call: u64,
        side: Side,
        method: rsip::Method,
        sdp: Option<Vec<u8>>,
    ) -> Option<String> {
        let listen = &self.listen;
        let c = self.calls.get_mut(&call)?;
        if (side == Side::B && !c.b.is_live()) || (side == Side::A && !c.a.is_live()) {
            return None;
        }
        let d = match side {
            Side::A => &mut c.a,
            Side::B => &mut c.b,
        };
        d.cseq += 1;
        let data = d.request(listen, method, &sdp.unwrap_or_default()).ok()?;
        let peer = d.peer;
        self.send_request_data(now, peer, data)
    }

    /// Sends a request of ours whose responses need nothing more than the
    /// transaction's (a BYE, a NOTIFY): its client transaction's key.
    fn send_request_data(&mut self, now: Now, peer: Peer, data: Vec<u8>) -> Option<String> {
        let m = Message::parse_datagram(&data).ok()?;
        let k = self.tx.send_request(now.at, peer, m, data)?;
        self.clients.insert(k.clone(), ClientPurpose::InDialog);
        Some(k)
    }

    /// A NOTIFY in dialog `d` (whose CSeq the caller has moved on).
    fn send_notify(
        &mut self,
        now: Now,
        d: &Dialog,
        (event, state): (&str, &str),
        content_type: &str,
        body: &[u8],
    ) {
        let extra = vec![header("Event", event), header("Subscription-State", state)];
        if let Ok(data) = d.request_with(
            &self.listen,
            rsip::Method::Notify,
            extra,
            Some(content_type),
            body,
        ) {
            self.send_request_data(now, d.peer, data);
        }
    }

    fn hangup_both(&mut self, now: Now, call: u64, failed_side: Side, cause: &str) {
        self.send_in_dialog(now, call, Side::A, rsip::Method::Bye);
        self.send_in_dialog(now, call, Side::B, rsip::Method::Bye);
        let by = match failed_side {
            Side::A => "caller",
            Side::B => "callee",
        };
        self.close(
            now,
            call,
            Ending::new(Disposition::Answered, by, cause, None),
        );
    }

    // ---- re-INVITE (hold / resume) -------------------------------------

    fn on_reinvite(&mut self, now: Now, key: &str, req: Message) {
        let Some((call, side)) = self.dialog_of(&req) else {
            self.respond(now, key, &req, 481, vec![]);
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            self.respond(now, key, &req, 481, vec![]);
            return;
        };
        let answered = c.state() == CallState::Answered;
        // A blind transfer's target is ringing: the leg this re-INVITE
        // would go to is about to be replaced, and its answer would come
        // back on a dialog no longer in the call. 491: asked again after
        // the back-off, it finds the call settled.
        let transferring = c.transfer.is_some();
        let (d, other) = match side {
            Side::A => (&mut c.a.dialog, &c.b.dialog),
            Side::B => (&mut c.b.dialog, &c.a.dialog),
        };
        // RFC 3261 §14.2: ours to this side pending, 491; its previous
        // one unanswered, 500 with a Retry-After; then the other side
        // must be free to take it on. (Its CSeq was checked on the way in.)
        let refused = match d.invite.receive(req.cseq().map_or(0, |(n, _)| n)) {
            Err(Refusal::Pending) => {
                let secs = session::retry_after_secs(self.listen.tokens.percent().into());
                Some((500, vec![header("Retry-After", secs.to_string())]))
            }
            Err(r) => Some((r.status(), vec![])),
            Ok(()) if !answered || transferring || other.invite.may_send(now.at).is_err() => {
                d.invite.answered();
                Some((491, vec![]))
            }
            Ok(()) => None,
        };
        if let Some((code, extra)) = refused {
            tracing::debug!(call, ?side, code, "re-INVITE refused");
            self.respond(now, key, &req, code, extra);
            return;
        }
        let (other_port, formats, direction) = match AudioSdp::parse(&req.body) {
            Ok(sdp) => {
                media_to(&mut self.out, call, side, &sdp);
                let port = match side {
                    Side::A => c.b.port,
                    Side::B => c.a.port,
                };
                // The other leg is offered what it already talks.
                let formats = c.settled_formats(side.other(), sdp.formats);
                (port, formats, sdp.direction)
            }
            Err(_) => {
                leg(c, side).invite.answered();
                self.respond(now, key, &req, 488, vec![]);
                return;
            }
        };
        leg(c, side).refresh_target(&req);
        let dir = direction;
        self.respond(now, key, &req, 100, vec![]);
        let body = self.sdp_body(call, (other_port, None), formats, dir);
        self.a_invites
            .insert(format!("reinvite|{key}"), req.clone());
        let Some(client_key) = self.send_in_dialog_with(
            now,
            call,
            side.other(),
            rsip::Method::Invite,
            Some(body.clone()),
        ) else {
            if let Some(c) = self.calls.get_mut(&call) {
                leg(c, side).invite.answered();
            }
            self.respond(now, key, &req, 500, vec![]);
            return;
        };
        self.clients
            .insert(client_key.clone(), ClientPurpose::ReInvite(call));
        let kind = match dir {
            Direction::SendRecv => "resume",
            _ => "hold",
        };
        if let Some(c) = self.calls.get_mut(&call) {
            let to = leg(c, side.other());
            to.invite.sent(to.cseq);
            c.reinvite = Some(ReInvite {
                from: side,
                server_key: key.to_string(),
                client_key,
                body,
            });
            let uuid = c.parties.uuid.clone();
            self.store(Op::CallEvent {
                uuid,
                at_ms: now.wall_ms,
                kind: kind.into(),
                detail: Some(format!(
                    "{} by {}",
                    dir.attr(),
                    if side == Side::A { "caller" } else { "callee" }
                )),
            });
        }
    }

    fn on_reinvite_response(&mut self, now: Now, call: u64, code: u16, msg: &Message) {
        if code < 200 {
            return;
        }
        if matches!(code, 401 | 407) && self.answer_reinvite_challenge(now, call, msg) {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(ri) = c.reinvite.take() else { return };
        // A 491 is passed back: the requester backs off (RFC 3261 §14.1).
        let outcome = leg(c, ri.from.other()).invite.response(code);
        leg(c, ri.from).invite.answered();
        tracing::debug!(call, from = ?ri.from, ?outcome, "re-INVITE answered");
        let from = ri.from;
        let server_key = ri.server_key;
        let _ = ri.client_key;
        let Some(req) = self.a_invites.remove(&format!("reinvite|{server_key}")) else {
            return;
        };
        if (200..300).contains(&code) {
            // The hold took effect: the held party hears music until the
            // holder resumes (TEL-2).
            let holding = AudioSdp::parse(&req.body)
                .map(|s| s.direction != Direction::SendRecv)
                .unwrap_or(false);
            let codec = match from.other() {
                Side::A => c.a.codec,
                Side::B => c.b.codec,
            }
            .unwrap_or(Codec::Pcma);
            let music = if holding {
                self.flows.music()
            } else {
                Vec::new()
            };
            self.out.push_back(Output::Media(MediaCmd::Hold {
                call,
                held: from.other(),
                codec,
                music,
            }));
            self.queue_hold(now, call, holding);
            let by = match from {
                Side::A => Party::Caller,
                Side::B => Party::Callee,
            };
            let what = if holding {
                CallEventKind::Held { by }
            } else {
                CallEventKind::Resumed { by }
            };
            self.call_event(now, call, what);
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            // The ACK; the 2xx's Contact refreshes the target (§12.2.1.2).
            self.listen
                .ack_2xx(leg(c, from.other()), msg, &mut self.out);
            let port = match from {
                Side::A => c.a.port,
                Side::B => c.b.port,
            };
            c.sdp_version += 1;
            let version = c.sdp_version;
            let (formats, direction) = match AudioSdp::parse(&msg.body) {
                Ok(sdp) => {
                    media_to(&mut self.out, call, from.other(), &sdp);
                    // The requester gets back what it already talks.
                    (c.settled_formats(from, sdp.formats), sdp.direction)
                }
                Err(_) => (Vec::new(), Direction::SendRecv),
            };
            let body = AudioSdp {
                addr: self.listen.ip,
                port,
                formats,
                direction,
                ptime: None,
            }
            .to_body(call, version);
            let tag = NameAddr::parse(req.get("To").unwrap_or_default())
                .ok()
                .and_then(|n| n.tag().map(str::to_string));
            let contact = self.listen.contact(req_transport(&req));
            let data = build::response(
                &req,
                200,
                tag.as_deref(),
                vec![
                    header("Contact", contact),
                    header("Content-Type", "application/sdp"),
                ],
                &body,
            );
            self.tx.respond(now.at, &server_key, 200, data);
        } else {
            let data = build::response(&req, code, None, vec![], b"");
            self.tx.respond(now.at, &server_key, code, data);
        }
    }

    /// Answers a 401/407 to a re-INVITE passed on to a far side that
    /// wants the credential its dialog has (a trunk): the re-INVITE goes
    /// again with it and stays pending. False when it cannot be answered
    /// (no credential, a wrong password): the challenge is passed back.
    fn answer_reinvite_challenge(&mut self, now: Now, call: u64, msg: &Message) -> bool {
        let listen = &self.listen;
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some(ri) = c.reinvite.as_mut() else {
            return false;
        };
        let d = match ri.from.other() {
            Side::A => &mut c.a.dialog,
            Side::B => &mut c.b.dialog,
        };
        if d.auth.is_none() {
            return false;
        }
        let Some(sent) = d
            .request(listen, rsip::Method::Invite, &ri.body)
            .ok()
            .and_then(|data| Message::parse_datagram(&data).ok())
        else {
            return false;
        };
        let via = listen.via(d.peer.transport);
        let data = match d.answer_challenge(&sent, msg, via, &listen.tokens.token(16)) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(call, error = %e, "re-INVITE's challenge not answered");
                return false;
            }
        };
        let Ok(m) = Message::parse_datagram(&data) else {
            return false;
        };
        let Some(key) = self.tx.send_request(now.at, d.peer, m, data) else {
            return false;
        };
        d.invite.sent(d.cseq);
        ri.client_key.clone_from(&key);
        self.clients.insert(key, ClientPurpose::ReInvite(call));
        true
    }

    // ---- periodic work -------------------------------------------------

    /// The registrar's and the guard's periodic work (a [`timers::Timer::Sweep`]);
    /// calls' deadlines are timers of their own.
    fn sweep(&mut self, now: Now) {
        self.guard.sweep(now.at);
        self.expire_waiting_byes(now);
        self.expire_subscriptions(now);
        for (ext, c) in self.bindings.expire(now.at) {
            tracing::info!(extension = %ext, "registration expired");
            self.store(Op::Unbind {
                aor: format!("sip:{ext}@{}", self.realm),
                contact: c.value,
            });
        }
        let probing: std::collections::HashSet<&(String, String)> = self.probes.values().collect();
        let mut due = Vec::new();
        for (ext, c) in self.bindings.iter() {
            if c.next_qualify <= now.at && !probing.contains(&(ext.clone(), c.uri.clone())) {
                due.push((ext.clone(), c.uri.clone(), c.peer));
            }
        }
        for (ext, uri, peer) in due {
            self.bindings
                .probed(&ext, &uri, now.at + self.qualify_every);
            let data = build::request(RequestSpec {
                method: rsip::Method::Options,
                uri: &uri,
                via: self.listen.via(peer.transport),
                from: format!(
                    "<sip:dering@{}>;tag={}",
                    self.realm,
                    self.listen.tokens.token(8)
                ),
                to: format!("<{uri}>"),
                call_id: &format!("{}@dering", self.listen.tokens.token(16)),
                cseq: 1,
                contact: None,
                extra: vec![],
                content_type: None,
                body: b"",
            });
            if let Ok(data) = data {
                if let Ok(m) = Message::parse_datagram(&data) {
                    if let Some(k) = self.tx.send_request(now.at, peer, m, data) {
                        self.clients.insert(k.clone(), ClientPurpose::Qualify);
                        self.probes.insert(k, (ext, uri));
                    }
                }
            }
        }
        self.drain_tx(now);
    }
}

/// RFC 3261 §18.2.1 and RFC 3581: the top Via learns where the request
/// really came from, so responses (sent there) can be matched by the phone.
fn mark_received(req: &mut Message, from: SocketAddr) {
    let Some(h) = req.headers.iter_mut().find(|h| h.name == "Via") else {
        return;
    };
    let Ok(via) = dering_sip::via::Via::parse(&h.value) else {
        return;
    };
    let mut value = h.value.clone();
    if via.param("rport") == Some(None) {
        value = value.replacen(";rport", &format!(";rport={}", from.port()), 1);
    }
    if via.host != from.ip().to_string() && via.param("received").is_none() {
        value.push_str(&format!(";received={}", from.ip()));
    }
    h.value = value;
}

fn req_transport(req: &Message) -> Transport {
    match req
        .get("Via")
        .and_then(|v| dering_sip::via::Via::parse(v).ok())
        .map(|v| v.transport)
        .as_deref()
    {
        Some("TCP") => Transport::Tcp,
        Some("TLS") => Transport::Tls,
        _ => Transport::Udp,
    }
}

/// RFC 7231 IMF-fixdate for the Date header of REGISTER answers.
fn httpdate(wall_ms: i64) -> String {
    let secs = wall_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mn = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{wd}, {d:02} {mn} {y} {h:02}:{m:02}:{s:02} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdate() {
        assert_eq!(httpdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // RFC 7231 §7.1.1.1 example.
        assert_eq!(httpdate(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
