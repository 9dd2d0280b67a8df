//! A virtual-time harness for pbxd's core, in the manner of quinn-proto's
//! `tests/util.rs`: simulated phones exchange SIP datagrams with a [`Core`]
//! held in memory; time moves only when a test says so, every timer due on
//! the way firing in order. No socket, no thread, no sleep: a whole call
//! flow with its retransmissions and time-outs runs in microseconds.
//!
//! The shell's other duties are played here the way the real shell plays
//! them: a database write that asks for its commit is committed at once
//! (the writer is tested on its own), and media commands are kept for the
//! test to inspect; a prompt played ends after its audio's length. The
//! real relay, sockets and peers are tested in `hwtests/`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dering_sip::auth::{parse_auth_params, Algorithm};
use dering_sip::transaction::{Peer, Transport};
use dering_sip::Message;
use pbxd::config::Config;
use pbxd::core::{Core, Listen, MediaCmd, Now, Output, Tokens};
use pbxd::endpoint::MediaEvent;

pub const BOX_PORT: u16 = 5060;
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The box, its clock and what it has asked of its shell.
pub struct Sim {
    pub core: Core,
    pub now: Instant,
    start: Instant,
    wall0: i64,
    /// Datagrams the box sent, by destination, parsed.
    inbox: HashMap<SocketAddr, VecDeque<Message>>,
    pub media: Vec<MediaCmd>,
    pub writes: Vec<dering_store::Op>,
    pub events: Vec<dering_control::Event>,
    /// Prompts playing: (call, ends at).
    playing: Vec<(u64, Instant)>,
    next_port: u16,
    /// RTP ports "another program" holds: the shell fails to bind them.
    pub taken: std::collections::HashSet<u16>,
}

/// Configuration text routing DID 170 to the flow
/// [`Sim::publish_queue_flow`] publishes, with the demo queue taking and
/// keeping callers while no agent is ready.
pub fn with_queue_on_170(t: String) -> String {
    t.replace(
        "join_empty = false\nleave_when_empty = true",
        "join_empty = true\nleave_when_empty = false",
    ) + "\n[[did]]\nnumber = \"170\"\nflow = \"antrian\"\n"
}

impl Sim {
    /// Publishes flow `antrian`: the caller waits in queue `pengaduan`,
    /// or hears goodbye if the queue turns it away.
    pub fn publish_queue_flow(&mut self) {
        let t = self.t();
        self.core
            .publish_flow(
                t,
                r#"{"name": "antrian", "language": "id", "start": "q",
                    "nodes": {
                      "q": {"type": "queue", "queue": "pengaduan", "on_fail": "bye"},
                      "bye": {"type": "play", "prompts": ["goodbye"], "next": "end"},
                      "end": {"type": "hangup"}}}"#,
            )
            .expect("the queue flow is valid");
    }

    /// A box on the embedded demo configuration, first passed through
    /// `edit`.
    pub fn new(edit: impl FnOnce(String) -> String) -> Sim {
        let text = edit(dering_config::DEFAULT_TOML.to_string());
        let cfg = Config::parse(&text, "sim.toml").expect("test configuration");
        let start = Instant::now();
        let now = Now {
            at: start,
            wall_ms: 1_780_000_000_000,
        };
        let mut core = Core::new(
            &cfg,
            Listen {
                ip: LOCAL,
                udp: BOX_PORT,
                tcp: BOX_PORT,
                tls: BOX_PORT + 1,
                // A fixed seed: every run of a scenario is the same run.
                tokens: Tokens::seeded(0x5eed),
            },
            now,
        );
        let prompts = dering_media::prompts::Prompts::builtin().expect("built-in prompts");
        core.set_media(Arc::new(prompts), vec![]);
        let mut sim = Sim {
            core,
            now: start,
            start,
            wall0: 1_780_000_000_000,
            inbox: HashMap::new(),
            media: Vec::new(),
            writes: Vec::new(),
            events: Vec::new(),
            playing: Vec::new(),
            next_port: 40_000,
            taken: Default::default(),
        };
        sim.core.handle_timeout(sim.t());
        sim.pump();
        sim
    }

    pub fn t(&self) -> Now {
        Now {
            at: self.now,
            wall_ms: self.wall0 + self.now.duration_since(self.start).as_millis() as i64,
        }
    }

    pub fn box_addr(&self) -> SocketAddr {
        SocketAddr::new(LOCAL, BOX_PORT)
    }

    /// A fresh phone address.
    pub fn addr(&mut self) -> SocketAddr {
        self.next_port += 2;
        SocketAddr::new(LOCAL, self.next_port)
    }

    /// A datagram from `from` to the box.
    pub fn deliver(&mut self, from: SocketAddr, data: &str) {
        self.deliver_over(
            Peer {
                transport: Transport::Udp,
                addr: from,
            },
            data,
        );
    }

    /// A message from `from` to the box, over its transport.
    pub fn deliver_over(&mut self, from: Peer, data: &str) {
        let t = self.t();
        self.core.handle_packet(t, from, data.as_bytes());
        self.pump();
    }

    /// A key pressed on `call`'s caller leg, as the relay reports it.
    pub fn key(&mut self, call: u64, key: char) {
        let t = self.t();
        self.core
            .handle_media_event(t, MediaEvent::Digit { call, key });
        self.pump();
    }

    /// An event from a call's local endpoint, as the relay reports it
    /// (e.g. the audio it captured).
    pub fn media_event(&mut self, e: MediaEvent) {
        let t = self.t();
        self.core.handle_media_event(t, e);
        self.pump();
    }

    /// Carries out everything the core asked for, until it asks nothing.
    fn pump(&mut self) {
        loop {
            let mut commits = Vec::new();
            while let Some(out) = self.core.poll_output() {
                match out {
                    Output::Transmit(t) => {
                        let msg =
                            Message::parse_datagram(&t.data).expect("the box sends valid SIP");
                        self.inbox.entry(t.peer.addr).or_default().push_back(msg);
                    }
                    Output::Store { op, token } => {
                        self.writes.push(op);
                        commits.extend(token);
                    }
                    Output::Media(MediaCmd::Reserve { port }) => {
                        // Bound at once, unless "another program" holds it.
                        let ok = !self.taken.contains(&port);
                        let t = self.t();
                        self.core.port_bound(t, port, ok);
                    }
                    Output::Media(cmd) => {
                        if let MediaCmd::Play { call, audio, .. } = &cmd {
                            let samples: usize = audio.iter().map(|a| a.len()).sum();
                            let ends = self.now + Duration::from_millis(samples as u64 / 8);
                            self.playing.push((*call, ends));
                        }
                        if let MediaCmd::StopPlay { call } | MediaCmd::Close { call, .. } = &cmd {
                            self.playing.retain(|(c, _)| c != call);
                        }
                        self.media.push(cmd);
                    }
                    Output::Publish(e) => self.events.push(e),
                }
            }
            if commits.is_empty() {
                return;
            }
            let t = self.t();
            for token in commits {
                self.core.handle_committed(t, token);
            }
        }
    }

    /// Moves time on by `d`, firing every timer (and every prompt's end)
    /// due on the way, in order.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            let timer = self.core.poll_timeout();
            let play = self.playing.iter().map(|(_, t)| *t).min();
            let next = [timer, play].into_iter().flatten().min();
            let Some(at) = next.filter(|t| *t <= until) else {
                break;
            };
            // A deadline already passed fires now; time never goes back.
            self.now = at.max(self.now);
            if let Some(i) = self.playing.iter().position(|(_, t)| *t <= self.now) {
                let (call, _) = self.playing.remove(i);
                let t = self.t();
                self.core
                    .handle_media_event(t, MediaEvent::PlayDone { call });
            } else {
                let t = self.t();
                self.core.handle_timeout(t);
                // A timer that stays due would spin: let a tick pass.
                if self.core.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.now += Duration::from_millis(1);
                }
            }
            self.pump();
        }
        self.now = until;
        let t = self.t();
        self.core.handle_timeout(t);
        self.pump();
    }

    /// The next datagram the box sent to `addr`, if any.
    pub fn recv(&mut self, addr: SocketAddr) -> Option<Message> {
        self.inbox.get_mut(&addr)?.pop_front()
    }

    pub fn unread(&mut self, addr: SocketAddr, m: Message) {
        self.inbox.entry(addr).or_default().push_front(m);
    }

    /// Whether the box sent `addr` anything not yet read.
    pub fn pending(&self, addr: SocketAddr) -> usize {
        self.inbox.get(&addr).map_or(0, VecDeque::len)
    }

    /// The call records' ends written so far: (uuid, disposition, by).
    pub fn ends(&self) -> Vec<(String, String, String)> {
        self.writes
            .iter()
            .filter_map(|op| match op {
                dering_store::Op::CallEnd(e) => Some((
                    e.uuid.clone(),
                    e.disposition.as_str().to_string(),
                    e.hangup_by.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    /// What the CTI feed said of calls so far, in order: each call
    /// event's kind (`offered`, `answered`, `recorded`, ...).
    pub fn feed(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                dering_control::Event::Call(c) => serde_json::to_value(&c.what).ok()?["kind"]
                    .as_str()
                    .map(str::to_string),
                _ => None,
            })
            .collect()
    }

    /// The call events of `kind` written so far (detail).
    pub fn call_events(&self, kind: &str) -> Vec<String> {
        self.writes
            .iter()
            .filter_map(|op| match op {
                dering_store::Op::CallEvent {
                    kind: k, detail, ..
                } if k == kind => Some(detail.clone().unwrap_or_default()),
                _ => None,
            })
            .collect()
    }
}

/// A SIP dialog as a phone sees it.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our header value with our tag (From in our requests).
    pub local: String,
    /// Theirs (To in our requests), with their tag once known.
    pub remote: String,
    /// Where in-dialog requests go (their Contact).
    pub target: String,
    pub cseq: u32,
    /// The INVITE that made the dialog, as we sent it (callers only).
    pub invite: Option<String>,
    pub branch: String,
}

/// A simulated phone: one extension at one address, speaking UDP (or,
/// after [`Phone::over`], a stream transport on one connection).
pub struct Phone {
    pub ext: String,
    pub addr: SocketAddr,
    transport: Transport,
    password: String,
    n: u32,
    /// Messages read from the box but not yet taken by the test.
    held: VecDeque<Message>,
}

fn header_value<'a>(m: &'a Message, name: &str) -> &'a str {
    m.get(name).unwrap_or_default()
}

fn tag_of(v: &str) -> Option<&str> {
    v.split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .map(|t| t.trim_end_matches('>'))
}

/// The URI inside a name-addr's angle brackets.
fn uri_of(v: &str) -> String {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v.split(';').next().unwrap_or_default().trim().to_string(),
    }
}

pub fn sdp(port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    )
}

impl Phone {
    /// Demo extension `ext` (password `demo-<ext>`) at a fresh address.
    pub fn new(sim: &mut Sim, ext: &str) -> Phone {
        Phone {
            ext: ext.to_string(),
            addr: sim.addr(),
            transport: Transport::Udp,
            password: format!("demo-{ext}"),
            n: 0,
            held: VecDeque::new(),
        }
    }

    /// A phone of `user` at `addr` (any address: nothing is bound), with
    /// no password the box knows: a gateway, a carrier, a stranger.
    pub fn at(user: &str, addr: SocketAddr) -> Phone {
        Phone {
            ext: user.to_string(),
            addr,
            transport: Transport::Udp,
            password: String::new(),
            n: 0,
            held: VecDeque::new(),
        }
    }

    /// [`Phone::new`], registered.
    pub fn registered(sim: &mut Sim, ext: &str) -> Phone {
        let mut p = Phone::new(sim, ext);
        p.register(sim, 300);
        p
    }

    fn next(&mut self) -> u32 {
        self.n += 1;
        self.n
    }

    fn via(&mut self) -> (String, String) {
        let branch = format!("z9hG4bK{}x{}", self.addr.port(), self.next());
        (
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.transport.via_name(),
                self.addr
            ),
            branch,
        )
    }

    fn contact(&self) -> String {
        match self.transport {
            Transport::Udp => format!("<sip:{}@{}>", self.ext, self.addr),
            t => format!(
                "<sip:{}@{};transport={}>",
                self.ext,
                self.addr,
                t.via_name().to_ascii_lowercase()
            ),
        }
    }

    /// The phone on a new connection over `transport`, from a new port of
    /// its address: a TCP or TLS phone whose connection went with the
    /// box, back to register again.
    pub fn reconnect(&mut self, sim: &mut Sim, transport: Transport) {
        self.transport = transport;
        // Odd ports: [`Sim::addr`] hands out even ones only, so the new
        // source port is no other phone's, even on a restarted box's sim.
        self.addr = SocketAddr::new(self.addr.ip(), sim.addr().port() + 1);
    }

    fn send(&mut self, sim: &mut Sim, text: &str) {
        sim.deliver_over(
            Peer {
                transport: self.transport,
                addr: self.addr,
            },
            text,
        );
    }

    /// The next message from the box, skipping `100 Trying`; panics if
    /// there is none.
    pub fn next_msg(&mut self, sim: &mut Sim) -> Message {
        self.try_msg(sim)
            .unwrap_or_else(|| panic!("{}: nothing from the box", self.ext))
    }

    pub fn try_msg(&mut self, sim: &mut Sim) -> Option<Message> {
        if let Some(m) = self.held.pop_front() {
            return Some(m);
        }
        while let Some(m) = sim.recv(self.addr) {
            if m.status() != Some(100) {
                return Some(m);
            }
        }
        None
    }

    /// Skips OPTIONS probes (answered) on the way.
    fn next_real(&mut self, sim: &mut Sim) -> Option<Message> {
        loop {
            let m = self.try_msg(sim)?;
            match m.method().map(|x| x.to_string()) {
                Some(ref x) if x == "OPTIONS" => {
                    self.respond(sim, &m, 200, "", "");
                }
                _ => return Some(m),
            }
        }
    }

    /// The next response, which must have status `code`.
    pub fn expect_response(&mut self, sim: &mut Sim, code: u16) -> Message {
        let m = self
            .next_real(sim)
            .unwrap_or_else(|| panic!("{}: no response (wanted {code})", self.ext));
        assert_eq!(m.status(), Some(code), "{}: {m:?}", self.ext);
        m
    }

    /// The next request, which must be `method`.
    pub fn expect_request(&mut self, sim: &mut Sim, method: &str) -> Message {
        let m = self
            .next_real(sim)
            .unwrap_or_else(|| panic!("{}: no request (wanted {method})", self.ext));
        assert_eq!(
            m.method().map(|x| x.to_string()).as_deref(),
            Some(method),
            "{}: {m:?}",
            self.ext
        );
        m
    }

    /// Nothing but probes and notifications waiting.
    pub fn expect_quiet(&mut self, sim: &mut Sim) {
        if let Some(m) = self.next_real(sim) {
            panic!("{}: unexpected {m:?}", self.ext);
        }
    }

    fn authorization(&self, challenge: &str, method: &str, uri: &str) -> String {
        let params = parse_auth_params(challenge.trim_start_matches("Digest "));
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (realm, nonce) = (get("realm"), get("nonce"));
        let alg = Algorithm::parse(&get("algorithm")).unwrap_or(Algorithm::Md5);
        let ha1 = alg.hash(&format!("{}:{realm}:{}", self.ext, self.password));
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let resp = alg.hash(&format!("{ha1}:{nonce}:00000001:5eed:auth:{ha2}"));
        format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"5eed\"",
            self.ext,
            alg.name()
        )
    }

    pub fn register(&mut self, sim: &mut Sim, expires: u32) {
        let call_id = format!("reg-{}-{}", self.ext, self.addr.port());
        let uri = format!("sip:{}", sim.box_addr());
        let mut auth = String::new();
        // One Call-ID per phone, so the CSeq grows across registrations:
        // a registrar ignores a REGISTER no newer than the binding's
        // (RFC 3261 §10.3 step 7).
        for _ in 0..2 {
            let cseq = self.next();
            let (via, _) = self.via();
            let msg = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:{ext}@{b}>;tag=r{port}\r\nTo: <sip:{ext}@{b}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n",
                ext = self.ext,
                b = sim.box_addr(),
                port = self.addr.port(),
                contact = self.contact(),
            );
            self.send(sim, &msg);
            // A request the box sends meanwhile (a BYE of a call a crash
            // cut, to a phone back on a new connection) waits for the test.
            let mut requests = VecDeque::new();
            let r = loop {
                let m = self.next_real(sim).expect("an answer to REGISTER");
                if m.status().is_some() {
                    break m;
                }
                requests.push_back(m);
            };
            self.held.extend(requests);
            match r.status() {
                Some(200) => return,
                Some(401) => {
                    let ch = header_value(&r, "WWW-Authenticate").to_string();
                    auth = format!(
                        "Authorization: {}\r\n",
                        self.authorization(&ch, "REGISTER", &uri)
                    );
                }
                other => panic!("REGISTER {}: {other:?}", self.ext),
            }
        }
        panic!("REGISTER {} refused after authenticating", self.ext);
    }

    /// Sends an INVITE to `to` (answering the box's 407), returning the
    /// dialog as far as it is known.
    pub fn invite(&mut self, sim: &mut Sim, to: &str) -> Dialog {
        let n = self.next();
        let call_id = format!("call-{}-{n}", self.ext);
        let ruri = format!("sip:{to}@{}", sim.box_addr());
        let local = format!(
            "<sip:{}@{}>;tag=t{}x{n}",
            self.ext,
            sim.box_addr(),
            self.addr.port()
        );
        let remote = format!("<sip:{to}@{}>", sim.box_addr());
        let body = sdp(self.addr.port() + 10_000, "sendrecv");
        let mut d = Dialog {
            call_id,
            local,
            remote,
            target: ruri.clone(),
            cseq: 1,
            invite: None,
            branch: String::new(),
        };
        let mut auth = String::new();
        loop {
            let (via, branch) = self.via();
            let msg = format!(
                "INVITE {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} INVITE\r\nContact: {}\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                d.local,
                d.remote,
                d.call_id,
                d.cseq,
                self.contact(),
                body.len()
            );
            d.invite = Some(msg.clone());
            d.branch = branch;
            self.send(sim, &msg);
            let Some(r) = self.next_real(sim) else {
                return d;
            };
            if r.status() == Some(407) && auth.is_empty() {
                self.ack_final(sim, &d, &r);
                let ch = header_value(&r, "Proxy-Authenticate").to_string();
                auth = format!(
                    "Proxy-Authorization: {}\r\n",
                    self.authorization(&ch, "INVITE", &ruri)
                );
                d.cseq += 1;
                continue;
            }
            self.held.push_front(r);
            return d;
        }
    }

    /// ACK of a non-2xx final answer (same branch as the INVITE).
    pub fn ack_final(&mut self, sim: &mut Sim, d: &Dialog, resp: &Message) {
        let to = header_value(resp, "To");
        let msg = format!(
            "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            d.target, self.addr, d.branch, d.local, d.call_id, d.cseq
        );
        self.send(sim, &msg);
    }

    /// Learns the callee's tag and Contact from a 2xx and ACKs it.
    pub fn ack_2xx(&mut self, sim: &mut Sim, d: &mut Dialog, resp: &Message) {
        d.remote = header_value(resp, "To").to_string();
        if let Some(c) = resp.get("Contact") {
            d.target = uri_of(c);
        }
        self.in_dialog(sim, d, "ACK", "", "");
    }

    /// A request inside `d` (`ACK` reuses the INVITE's CSeq).
    pub fn in_dialog(
        &mut self,
        sim: &mut Sim,
        d: &mut Dialog,
        method: &str,
        extra: &str,
        body: &str,
    ) {
        if method != "ACK" {
            d.cseq += 1;
        }
        let (via, branch) = self.via();
        d.branch = branch;
        let ctype = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_string()
        };
        let msg = format!(
            "{method} {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContact: {}\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
            d.target,
            d.local,
            d.remote,
            d.call_id,
            d.cseq,
            self.contact(),
            body.len()
        );
        self.send(sim, &msg);
    }

    /// CANCEL of the INVITE of `d` (same branch and CSeq number).
    pub fn cancel(&mut self, sim: &mut Sim, d: &Dialog) {
        let msg = format!(
            "CANCEL {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} CANCEL\r\nContent-Length: 0\r\n\r\n",
            d.target, self.addr, d.branch, d.local, d.remote, d.call_id, d.cseq
        );
        self.send(sim, &msg);
    }

    /// Answers `req` with `code`; a 1xx/2xx to an INVITE carries our tag
    /// (and `body`, SDP, when given).
    pub fn respond(&mut self, sim: &mut Sim, req: &Message, code: u16, extra: &str, body: &str) {
        let reason = match code {
            180 => "Ringing",
            200 => "OK",
            486 => "Busy Here",
            487 => "Request Terminated",
            491 => "Request Pending",
            _ => "Whatever",
        };
        let mut to = header_value(req, "To").to_string();
        if tag_of(&to).is_none() && code > 100 {
            to = format!("{to};tag=u{}", self.addr.port());
        }
        let vias: Vec<String> = req.all("Via").map(str::to_string).collect();
        let via_lines: String = vias.iter().map(|v| format!("Via: {v}\r\n")).collect();
        let ctype = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_string()
        };
        let msg = format!(
            "SIP/2.0 {code} {reason}\r\n{via_lines}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: {}\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
            header_value(req, "From"),
            header_value(req, "Call-ID"),
            header_value(req, "CSeq"),
            self.contact(),
            body.len()
        );
        self.send(sim, &msg);
    }

    /// The dialog an INVITE we received (and answered with our tag) made,
    /// for requests of ours in it.
    pub fn dialog_of(&self, invite: &Message) -> Dialog {
        let to = header_value(invite, "To");
        let local = if tag_of(to).is_some() {
            to.to_string()
        } else {
            format!("{to};tag=u{}", self.addr.port())
        };
        Dialog {
            call_id: header_value(invite, "Call-ID").to_string(),
            local,
            remote: header_value(invite, "From").to_string(),
            target: uri_of(header_value(invite, "Contact")),
            cseq: 100,
            invite: None,
            branch: String::new(),
        }
    }

    /// Rings and answers an incoming INVITE with SDP; returns its dialog.
    pub fn answer(&mut self, sim: &mut Sim) -> (Message, Dialog) {
        let inv = self.expect_request(sim, "INVITE");
        self.respond(sim, &inv, 180, "", "");
        let body = sdp(self.addr.port() + 10_000, "sendrecv");
        self.respond(sim, &inv, 200, "", &body);
        let d = self.dialog_of(&inv);
        // Retransmissions of the INVITE that came before our answer are
        // answered again, as a phone's transaction layer does.
        loop {
            let m = self
                .next_real(sim)
                .unwrap_or_else(|| panic!("{}: no ACK", self.ext));
            match m.method().map(|x| x.to_string()).as_deref() {
                Some("ACK") => break,
                Some("INVITE") if m.call_id() == inv.call_id() => {
                    self.respond(sim, &m, 200, "", &body);
                }
                _ => panic!("{}: {m:?} before the ACK", self.ext),
            }
        }
        (inv, d)
    }
}

/// A caller and a callee in an answered call; the caller's dialog and the
/// callee's.
pub fn answered_call(sim: &mut Sim, a: &mut Phone, b: &mut Phone) -> (Dialog, Dialog) {
    let mut da = a.invite(sim, &b.ext.clone());
    let (_, db) = b.answer(sim);
    a.expect_response(sim, 180);
    let ok = a.expect_response(sim, 200);
    a.ack_2xx(sim, &mut da, &ok);
    (da, db)
}

impl Phone {
    /// Everything waiting for this phone, answering what needs an answer
    /// the way a phone would: BYE, NOTIFY and CANCEL get 200, a re-INVITE
    /// gets 200 with SDP (then its ACK is read). Returns what came, as
    /// `METHOD` or the status code, in order.
    pub fn settle(&mut self, sim: &mut Sim) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(m) = self.next_real(sim) {
            match m.method().map(|x| x.to_string()) {
                Some(method) => {
                    match method.as_str() {
                        "BYE" | "NOTIFY" | "CANCEL" => self.respond(sim, &m, 200, "", ""),
                        "INVITE" => {
                            let body = sdp(self.addr.port() + 10_000, "sendrecv");
                            self.respond(sim, &m, 200, "", &body);
                        }
                        _ => {}
                    }
                    seen.push(method);
                }
                None => seen.push(m.status().unwrap_or_default().to_string()),
            }
        }
        seen
    }
}
