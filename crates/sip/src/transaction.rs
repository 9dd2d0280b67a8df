//! The transaction layer (RFC 3261 §17, with the Accepted states of
//! RFC 6026) as a sans-IO state machine in the style of quinn-proto: input
//! through `on_request`/`on_response`/`handle_timeout` with an explicit
//! `now`, output drained with `poll_transmit` and `poll_event`, and the next
//! wake-up from `poll_timeout`. It never reads the clock.
//!
//! Timers: A, B, D (client INVITE); E, F, K (client non-INVITE); G, H, I
//! (server INVITE); J (server non-INVITE); L and M (RFC 6026 Accepted).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::build::{self, RequestSpec};
use crate::method::Method;
use crate::msg::Message;
use crate::via::Via;

/// The transport a message came over or goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// Where a message came from / goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: Peer,
    pub data: Vec<u8>,
}

/// RFC 3261 §17.1.1.1 timer values.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// What the layer tells the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A response for a client transaction (each 2xx retransmission of an
    /// INVITE too, so the TU can repeat its ACK).
    Response { key: String, msg: Message },
    /// Timer B or F fired: no final response.
    Timeout { key: String },
    /// Timer L fired on a server INVITE: our 2xx was never acknowledged.
    NoAck { key: String },
}

/// How an incoming request was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new server transaction with this key; the TU must answer it
    /// (ACK for a 2xx has no transaction: `key` is empty).
    New(String),
    /// A retransmission, answered from the transaction's last response.
    Retransmission,
    /// An ACK for a non-2xx final response, absorbed.
    AckAbsorbed,
    /// The request has no usable top Via: it cannot be answered.
    Unroutable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug)]
struct ServerTx {
    peer: Peer,
    invite: bool,
    /// An INVITE's Call-ID, From tag and CSeq number: what its 2xx's ACK
    /// (a transaction of its own, RFC 3261 §17.1.1.3) is matched by.
    ack_match: Option<(String, String, u32)>,
    state: State,
    last: Option<Vec<u8>>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    end_at: Option<Instant>,
}

#[derive(Debug)]
struct ClientTx {
    peer: Peer,
    invite: bool,
    state: State,
    request: Vec<u8>,
    req: Message,
    retransmit_at: Option<Instant>,
    interval: Duration,
    timeout_at: Option<Instant>,
    end_at: Option<Instant>,
    ack: Option<Vec<u8>>,
}

/// All transactions of one endpoint.
#[derive(Debug, Default)]
pub struct TransactionLayer {
    timers: Timers,
    server: HashMap<String, ServerTx>,
    client: HashMap<String, ClientTx>,
    heap: BinaryHeap<Reverse<(Instant, bool, String)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

/// What ties an ACK for a 2xx to its INVITE: Call-ID, From tag, CSeq
/// number.
fn ack_match(msg: &Message) -> Option<(String, String, u32)> {
    let from = crate::nameaddr::NameAddr::parse(msg.get("From")?).ok()?;
    let (n, _) = msg.cseq().ok()?;
    Some((msg.call_id()?.to_string(), from.tag()?.to_string(), n))
}

/// The server transaction key of a request (RFC 3261 §17.2.3), with ACK
/// mapped to INVITE so it finds the transaction it acknowledges.
pub fn server_key(msg: &Message) -> Option<String> {
    let via = Via::parse(msg.get("Via")?).ok()?;
    let method = match msg.method()? {
        Method::Ack => "INVITE".to_string(),
        m => m.to_string(),
    };
    if via.has_rfc3261_branch() {
        Some(format!(
            "{}|{}:{}|{}",
            via.branch().unwrap_or_default(),
            via.host,
            via.port.unwrap_or(0),
            method
        ))
    } else {
        // RFC 2543 matching: Request-URI, To tag, From tag, Call-ID, CSeq and
        // top Via. The To tag is left out so an ACK matches its INVITE.
        let from = crate::nameaddr::NameAddr::parse(msg.get("From")?).ok()?;
        let (cseq, _) = msg.cseq().ok()?;
        Some(format!(
            "2543|{}|{}|{}|{}|{}|{}",
            msg.request_uri()?,
            from.tag().unwrap_or_default(),
            msg.call_id()?,
            cseq,
            msg.get("Via")?,
            method
        ))
    }
}

/// The key of the INVITE server transaction a CANCEL targets (§9.2).
pub fn invite_key_for_cancel(cancel_key: &str) -> String {
    match cancel_key.strip_suffix("|CANCEL") {
        Some(base) => format!("{base}|INVITE"),
        None => cancel_key.to_string(),
    }
}

/// The client transaction key of a response: branch and CSeq method.
pub fn client_key(msg: &Message) -> Option<String> {
    let via = Via::parse(msg.get("Via")?).ok()?;
    let (_, method) = msg.cseq().ok()?;
    let method = if method == Method::Ack {
        Method::Invite
    } else {
        method
    };
    Some(format!("{}|{}", via.branch()?, method))
}

impl TransactionLayer {
    pub fn new(timers: Timers) -> Self {
        TransactionLayer {
            timers,
            ..Default::default()
        }
    }

    pub fn server_count(&self) -> usize {
        self.server.len()
    }

    pub fn client_count(&self) -> usize {
        self.client.len()
    }

    fn arm(&mut self, server: bool, key: &str, at: Option<Instant>) {
        if let Some(at) = at {
            self.heap.push(Reverse((at, server, key.to_string())));
        }
    }

    // ---- server side -------------------------------------------------

    /// Classifies a request that arrived from `peer`.
    pub fn on_request(&mut self, now: Instant, peer: Peer, msg: &Message) -> Incoming {
        let Some(key) = server_key(msg) else {
            return Incoming::Unroutable;
        };
        let is_ack = msg.method() == Some(&Method::Ack);
        if let Some(tx) = self.server.get_mut(&key) {
            if is_ack {
                if tx.state == State::Completed {
                    tx.state = State::Confirmed;
                    tx.retransmit_at = None;
                    tx.end_at = Some(if peer.transport.reliable() {
                        now
                    } else {
                        now + self.timers.t4
                    });
                    let at = tx.end_at;
                    self.arm(true, &key, at);
                    return Incoming::AckAbsorbed;
                }
                if tx.state == State::Confirmed {
                    return Incoming::AckAbsorbed;
                }
                // An ACK for a 2xx reusing the INVITE's branch (RFC 2543
                // style): hand it to the TU.
                return Incoming::New(String::new());
            }
            if let Some(last) = &tx.last {
                self.transmits.push_back(Transmit {
                    peer: tx.peer,
                    data: last.clone(),
                });
            }
            return Incoming::Retransmission;
        }
        if is_ack {
            return Incoming::New(String::new());
        }
        let invite = msg.method() == Some(&Method::Invite);
        self.server.insert(
            key.clone(),
            ServerTx {
                peer,
                invite,
                ack_match: invite.then(|| ack_match(msg)).flatten(),
                state: if invite {
                    State::Proceeding
                } else {
                    State::Trying
                },
                last: None,
                retransmit_at: None,
                interval: self.timers.t1,
                end_at: None,
            },
        );
        Incoming::New(key)
    }

    /// Whether a server transaction exists and has not sent a final answer.
    pub fn server_pending(&self, key: &str) -> bool {
        self.server
            .get(key)
            .is_some_and(|t| matches!(t.state, State::Trying | State::Proceeding))
    }

    /// Sends a response on server transaction `key`.
    pub fn respond(&mut self, now: Instant, key: &str, code: u16, data: Vec<u8>) {
        let t = self.timers;
        let Some(tx) = self.server.get_mut(key) else {
            return;
        };
        self.transmits.push_back(Transmit {
            peer: tx.peer,
            data: data.clone(),
        });
        tx.last = Some(data);
        let reliable = tx.peer.transport.reliable();
        if code < 200 {
            tx.state = State::Proceeding;
            return;
        }
        if tx.invite {
            if code < 300 {
                // RFC 6026 Accepted; the 2xx is retransmitted until the TU
                // reports the ACK (RFC 3261 §13.3.1.4), timer L bounds it.
                tx.state = State::Accepted;
            } else {
                tx.state = State::Completed; // timers G and H
            }
            tx.retransmit_at = (!reliable).then_some(now + t.t1);
            tx.interval = t.t1;
            tx.end_at = Some(now + 64 * t.t1);
        } else {
            tx.state = State::Completed; // timer J
            tx.end_at = Some(if reliable { now } else { now + 64 * t.t1 });
        }
        let (r, e) = (tx.retransmit_at, tx.end_at);
        self.arm(true, key, r);
        self.arm(true, key, e);
    }

    /// The TU saw the ACK for the 2xx sent on INVITE transaction `key`.
    pub fn acked(&mut self, key: &str) {
        if self
            .server
            .get(key)
            .is_some_and(|tx| tx.state == State::Accepted)
        {
            self.server.remove(key);
        }
    }

    /// An ACK for a 2xx, matched to the INVITE transaction it
    /// acknowledges by Call-ID, From tag and CSeq number (the ACK has a
    /// branch of its own): that transaction stops retransmitting its 2xx.
    /// Whether one was found.
    pub fn ack_2xx(&mut self, ack: &Message) -> bool {
        let Some(id) = ack_match(ack) else {
            return false;
        };
        let found = self
            .server
            .iter()
            .find(|(_, tx)| tx.state == State::Accepted && tx.ack_match.as_ref() == Some(&id))
            .map(|(k, _)| k.clone());
        match found {
            Some(k) => {
                self.server.remove(&k);
                true
            }
            None => false,
        }
    }

    // ---- client side -------------------------------------------------

    /// Starts a client transaction. `req` is the parsed form of `data`
    /// (kept to build the ACK of a non-2xx final response).
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        req: Message,
        data: Vec<u8>,
    ) -> Option<String> {
        let via = Via::parse(req.get("Via")?).ok()?;
        let method = req.method()?.clone();
        let key = format!("{}|{}", via.branch()?, method);
        let invite = method == Method::Invite;
        let reliable = peer.transport.reliable();
        self.transmits.push_back(Transmit {
            peer,
            data: data.clone(),
        });
        let tx = ClientTx {
            peer,
            invite,
            state: State::Trying,
            request: data,
            req,
            retransmit_at: (!reliable).then_some(now + self.timers.t1), // A or E
            interval: self.timers.t1,
            timeout_at: Some(now + 64 * self.timers.t1), // B or F
            end_at: None,
            ack: None,
        };
        let (r, t) = (tx.retransmit_at, tx.timeout_at);
        self.client.insert(key.clone(), tx);
        self.arm(false, &key, r);
        self.arm(false, &key, t);
        Some(key)
    }

    /// Matches a response to its client transaction. Strays are dropped.
    pub fn on_response(&mut self, now: Instant, msg: Message) {
        let Some(key) = client_key(&msg) else {
            return;
        };
        let Some(code) = msg.status() else { return };
        let t = self.timers;
        let Some(tx) = self.client.get_mut(&key) else {
            return;
        };
        let reliable = tx.peer.transport.reliable();
        if code < 200 {
            if matches!(tx.state, State::Trying | State::Proceeding) {
                tx.state = State::Proceeding;
                if tx.invite {
                    tx.retransmit_at = None;
                    tx.timeout_at = None;
                } else if !reliable {
                    tx.retransmit_at = Some(now + t.t2);
                    tx.interval = t.t2;
                }
                self.events.push_back(TxEvent::Response { key, msg });
            }
            return;
        }
        if tx.invite && code < 300 {
            if tx.state != State::Accepted {
                tx.state = State::Accepted;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                tx.end_at = Some(now + 64 * t.t1); // timer M
                let at = tx.end_at;
                self.arm(false, &key, at);
            }
            self.events.push_back(TxEvent::Response { key, msg });
            return;
        }
        match tx.state {
            State::Trying | State::Proceeding => {
                tx.state = State::Completed;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                if tx.invite {
                    let ack = ack_for(&tx.req, &msg);
                    if let Some(a) = &ack {
                        self.transmits.push_back(Transmit {
                            peer: tx.peer,
                            data: a.clone(),
                        });
                    }
                    tx.ack = ack;
                    // timer D
                    tx.end_at = Some(if reliable {
                        now
                    } else {
                        now + Duration::from_secs(32)
                    });
                } else {
                    // timer K
                    tx.end_at = Some(if reliable { now } else { now + t.t4 });
                }
                let at = tx.end_at;
                self.arm(false, &key, at);
                self.events.push_back(TxEvent::Response { key, msg });
            }
            State::Completed if tx.invite => {
                if let Some(a) = &tx.ack {
                    self.transmits.push_back(Transmit {
                        peer: tx.peer,
                        data: a.clone(),
                    });
                }
            }
            _ => {}
        }
    }

    /// Drops a client transaction the TU no longer cares about.
    pub fn forget_client(&mut self, key: &str) {
        self.client.remove(key);
    }

    /// The transport to `peer` failed (a connection refused or timed out,
    /// a TLS handshake failed): the client transactions still waiting for
    /// a final answer from it end now, and their keys are returned for the
    /// TU to treat as 503 (RFC 3261 §17.1.4, §8.1.3.1) instead of waiting
    /// for timer B or F. Those already answered keep their timers.
    pub fn transport_failed(&mut self, peer: Peer) -> Vec<String> {
        let mut keys: Vec<String> = self
            .client
            .iter()
            .filter(|(_, tx)| {
                tx.peer == peer && matches!(tx.state, State::Trying | State::Proceeding)
            })
            .map(|(k, _)| k.clone())
            .collect();
        // In the order they were sent would be nicer; sorted is at least
        // the same order on every run.
        keys.sort();
        for k in &keys {
            self.client.remove(k);
        }
        keys
    }

    // ---- time and output ---------------------------------------------

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, server, key))) = self.heap.peek().cloned() {
            if at > now {
                break;
            }
            self.heap.pop();
            if server {
                self.server_timer(now, &key);
            } else {
                self.client_timer(now, &key);
            }
        }
    }

    fn server_timer(&mut self, now: Instant, key: &str) {
        let t2 = self.timers.t2;
        let Some(tx) = self.server.get_mut(key) else {
            return;
        };
        if tx.end_at.is_some_and(|e| e <= now) {
            let tx_state = tx.state;
            self.server.remove(key);
            if tx_state == State::Accepted {
                self.events.push_back(TxEvent::NoAck {
                    key: key.to_string(),
                });
            }
            return;
        }
        if let Some(r) = tx.retransmit_at.filter(|r| *r <= now) {
            if let Some(last) = &tx.last {
                self.transmits.push_back(Transmit {
                    peer: tx.peer,
                    data: last.clone(),
                });
            }
            tx.interval = (tx.interval * 2).min(t2); // timer G
            tx.retransmit_at = Some(r.max(now) + tx.interval);
            let at = tx.retransmit_at;
            self.arm(true, key, at);
        }
    }

    fn client_timer(&mut self, now: Instant, key: &str) {
        let t2 = self.timers.t2;
        let Some(tx) = self.client.get_mut(key) else {
            return;
        };
        if tx.end_at.is_some_and(|e| e <= now) {
            self.client.remove(key);
            return;
        }
        if tx.timeout_at.is_some_and(|e| e <= now) {
            self.client.remove(key);
            self.events.push_back(TxEvent::Timeout {
                key: key.to_string(),
            });
            return;
        }
        if let Some(r) = tx.retransmit_at.filter(|r| *r <= now) {
            self.transmits.push_back(Transmit {
                peer: tx.peer,
                data: tx.request.clone(),
            });
            tx.interval = if tx.invite {
                tx.interval * 2 // timer A doubles without cap
            } else {
                (tx.interval * 2).min(t2) // timer E
            };
            tx.retransmit_at = Some(r.max(now) + tx.interval);
            let at = tx.retransmit_at;
            self.arm(false, key, at);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
}

/// The ACK of a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's
/// Request-URI, top Via, From, Call-ID and Route, the response's To.
pub fn ack_for(invite: &Message, resp: &Message) -> Option<Vec<u8>> {
    let (cseq, _) = invite.cseq().ok()?;
    let extra = invite
        .all("Route")
        .map(|r| build::header("Route", r))
        .collect();
    build::request(RequestSpec {
        method: rsip::Method::Ack,
        uri: invite.request_uri()?,
        via: invite.get("Via")?.to_string(),
        from: invite.get("From")?.to_string(),
        to: resp.get("To")?.to_string(),
        call_id: invite.call_id()?,
        cseq,
        contact: None,
        extra,
        content_type: None,
        body: b"",
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: "127.0.0.1:5070".parse().unwrap(),
        }
    }

    fn invite(branch: &str) -> Message {
        Message::parse_datagram(
            format!("INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\nFrom: <sip:1001@x>;tag=a\r\nTo: <sip:1002@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        )
        .unwrap()
    }

    fn resp(code: u16, method: &str) -> Message {
        Message::parse_datagram(
            format!("SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\nFrom: <sip:1001@x>;tag=a\r\nTo: <sip:1002@x>;tag=b\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        )
        .unwrap()
    }

    fn drain(l: &mut TransactionLayer) -> usize {
        std::iter::from_fn(|| l.poll_transmit()).count()
    }

    /// A failed transport ends the transactions still waiting on that
    /// peer at once, and only those: timer B never fires for them.
    #[test]
    fn a_transport_failure_ends_the_waiting_client_transactions() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let tcp = Peer {
            transport: Transport::Tcp,
            ..peer()
        };
        let waiting = l
            .send_request(t0, tcp, invite("z9hG4bKw1"), b"I".to_vec())
            .unwrap();
        let answered = l
            .send_request(t0, tcp, invite("z9hG4bKc1"), b"I".to_vec())
            .unwrap();
        let elsewhere = Peer {
            transport: Transport::Tcp,
            addr: "127.0.0.1:5071".parse().unwrap(),
        };
        let other = l
            .send_request(t0, elsewhere, invite("z9hG4bKo1"), b"I".to_vec())
            .unwrap();
        l.on_response(t0, resp(200, "INVITE"));
        assert_eq!(l.transport_failed(tcp), vec![waiting]);
        assert_eq!(l.transport_failed(tcp), Vec::<String>::new());
        l.handle_timeout(t0 + Duration::from_secs(64));
        let timeouts: Vec<_> = std::iter::from_fn(|| l.poll_event())
            .filter_map(|e| match e {
                TxEvent::Timeout { key } => Some(key),
                _ => None,
            })
            .collect();
        assert_eq!(timeouts, vec![other]);
        assert!(!timeouts.contains(&answered));
    }

    /// Timer A doubles from T1, timer B ends the transaction at 64*T1.
    #[test]
    fn client_invite_timers_a_and_b() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let req = invite("z9hG4bKc1");
        let key = l.send_request(t0, peer(), req, b"INVITE".to_vec()).unwrap();
        assert_eq!(drain(&mut l), 1);
        let mut sends = vec![];
        let mut now = t0;
        while l.client_count() > 0 {
            now = l.poll_timeout().unwrap();
            l.handle_timeout(now);
            if drain(&mut l) > 0 {
                sends.push((now - t0).as_millis());
            }
        }
        assert_eq!(sends, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now - t0, Duration::from_secs(32));
        assert_eq!(l.poll_event(), Some(TxEvent::Timeout { key }));
    }

    /// A non-2xx final is ACKed by the transaction, retransmissions of it
    /// re-ACKed, and timer D frees the transaction.
    #[test]
    fn client_invite_non2xx_acks_and_timer_d() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        l.send_request(t0, peer(), invite("z9hG4bKc1"), b"INVITE".to_vec());
        drain(&mut l);
        l.on_response(t0, resp(180, "INVITE"));
        l.on_response(t0, resp(486, "INVITE"));
        let ack = l.poll_transmit().unwrap();
        assert!(ack.data.starts_with(b"ACK sip:1002@127.0.0.1 SIP/2.0"));
        assert!(String::from_utf8_lossy(&ack.data).contains(";tag=b"));
        assert!(matches!(l.poll_event(), Some(TxEvent::Response { .. })));
        assert!(matches!(l.poll_event(), Some(TxEvent::Response { .. })));
        l.on_response(t0, resp(486, "INVITE"));
        assert_eq!(drain(&mut l), 1, "re-ACK");
        assert_eq!(l.poll_event(), None, "retransmission absorbed");
        l.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(l.client_count(), 0);
    }

    /// Timer E caps at T2 and F fires at 64*T1 for non-INVITE.
    #[test]
    fn client_non_invite_timers_e_and_f() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let mut m = invite("z9hG4bKc1");
        m.start = crate::StartLine::Request {
            method: Method::Options,
            uri: "sip:x".into(),
        };
        l.send_request(t0, peer(), m, b"OPTIONS".to_vec()).unwrap();
        drain(&mut l);
        let mut gaps = vec![];
        let mut last = t0;
        while let Some(at) = l.poll_timeout() {
            l.handle_timeout(at);
            if drain(&mut l) > 0 {
                gaps.push((at - last).as_millis());
                last = at;
            }
        }
        assert_eq!(&gaps[..5], [500, 1000, 2000, 4000, 4000]);
        assert!(matches!(l.poll_event(), Some(TxEvent::Timeout { .. })));
    }

    /// Server INVITE: retransmitted request gets the last response again; a
    /// non-2xx final is retransmitted on timer G until the ACK (absorbed),
    /// then timer I ends the transaction.
    #[test]
    fn server_invite_g_h_i() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let inv = invite("z9hG4bKs1");
        let Incoming::New(key) = l.on_request(t0, peer(), &inv) else {
            panic!()
        };
        l.respond(t0, &key, 100, b"100".to_vec());
        assert_eq!(l.on_request(t0, peer(), &inv), Incoming::Retransmission);
        assert_eq!(drain(&mut l), 2);
        l.respond(t0, &key, 486, b"486".to_vec());
        drain(&mut l);
        l.handle_timeout(t0 + Duration::from_millis(500));
        l.handle_timeout(t0 + Duration::from_millis(1500));
        assert_eq!(drain(&mut l), 2, "timer G");
        let mut ack = inv.clone();
        ack.start = crate::StartLine::Request {
            method: Method::Ack,
            uri: "sip:1002@127.0.0.1".into(),
        };
        ack.headers.retain(|h| h.name != "CSeq");
        ack.headers.push(crate::Header {
            name: "CSeq".into(),
            value: "1 ACK".into(),
        });
        assert_eq!(l.on_request(t0, peer(), &ack), Incoming::AckAbsorbed);
        l.handle_timeout(t0 + Duration::from_secs(7));
        assert_eq!(l.server_count(), 0, "timer I");
    }

    /// A 2xx with no ACK within 64*T1 is reported (RFC 6026 timer L).
    #[test]
    fn server_2xx_without_ack() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let Incoming::New(key) = l.on_request(t0, peer(), &invite("z9hG4bKs2")) else {
            panic!()
        };
        l.respond(t0, &key, 200, b"200".to_vec());
        while let Some(at) = l.poll_timeout() {
            l.handle_timeout(at);
        }
        assert!(drain(&mut l) >= 7);
        assert_eq!(l.poll_event(), Some(TxEvent::NoAck { key }));
    }

    #[test]
    fn rfc2543_branch_matches_ack_to_invite() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let inv = invite("oldstyle");
        let Incoming::New(key) = l.on_request(t0, peer(), &inv) else {
            panic!()
        };
        assert!(key.starts_with("2543|"));
        l.respond(t0, &key, 404, b"404".to_vec());
        let mut ack = inv.clone();
        ack.start = crate::StartLine::Request {
            method: Method::Ack,
            uri: "sip:1002@127.0.0.1".into(),
        };
        assert_eq!(l.on_request(t0, peer(), &ack), Incoming::AckAbsorbed);
    }

    /// The ACK of a 2xx (a re-INVITE's too) has a branch of its own: it is
    /// matched by Call-ID, From tag and CSeq, and the 2xx stops going out.
    #[test]
    fn the_ack_of_a_2xx_stops_its_retransmissions() {
        let mut l = TransactionLayer::new(Timers::default());
        let t0 = Instant::now();
        let Incoming::New(key) = l.on_request(t0, peer(), &invite("z9hG4bKs3")) else {
            panic!()
        };
        l.respond(t0, &key, 200, b"200".to_vec());
        assert_eq!(drain(&mut l), 1);
        let ack = |branch: &str, cseq: u32| {
            Message::parse_datagram(
                format!("ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\nFrom: <sip:1001@x>;tag=a\r\nTo: <sip:1002@x>;tag=b\r\nCall-ID: c\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n").as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            l.on_request(t0, peer(), &ack("z9hG4bKa1", 1)),
            Incoming::New(String::new())
        );
        // Another CSeq is another INVITE's ACK.
        assert!(!l.ack_2xx(&ack("z9hG4bKa1", 2)));
        assert!(l.ack_2xx(&ack("z9hG4bKa1", 1)));
        while let Some(at) = l.poll_timeout() {
            l.handle_timeout(at);
        }
        assert_eq!(drain(&mut l), 0);
        assert_eq!(l.poll_event(), None);
    }
}
