//! SIP over byte streams (TCP and TLS, RFC 3261 §18.3): the acceptors, the
//! connections the box opens itself when it sends a request to a peer it
//! has none with (RFC 3261 §18.1.1, see [`crate::dial`]), one task per
//! connection framing reads into the core and writing what the core sends,
//! and the limits that keep hostile peers from holding the box (OPS-5):
//! connections per address and in all, a deadline for the TCP connect and
//! the TLS handshake, one for a message begun to complete (slowloris), and
//! an idle timeout. A connection the box opened is used like an accepted
//! one: requests arriving on it reach the core, and later messages to the
//! same address reuse it (as RFC 5923 has it for TLS).
//!
//! Every connection task ends through a [`Guard`], however it ends (a
//! framing error, a deadline, the peer leaving, a panic): the shell is told
//! the connection is gone, its writer stops and the socket is closed, and
//! its place under the caps is given back. Before the guard, a panic in the
//! framer left sockets in CLOSE-WAIT, one file descriptor each, forever.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dering_sip::framer::{Frame, StreamFramer};
use dering_sip::transaction::{Peer, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::Security;
use crate::dial::{Dialer, Opened};
use crate::shell::Input;

/// Messages queued for one connection's writer. A peer that lets this many
/// pile up has stopped reading: see [`Conns::send`].
pub const QUEUE: usize = 256;

/// How long a connection closing on its own terms (the peer left, a
/// framing error answered with 400, a deadline) may take to write what is
/// still queued before its socket is closed regardless.
const LINGER: Duration = Duration::from_secs(2);

/// A failed `accept` (out of file descriptors, mostly) is retried after
/// this pause rather than at once, which would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The limits, from `[security]`. Zero values are raised to one: a cap of
/// nothing or a deadline of no time would refuse every phone.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_source: usize,
    pub total: usize,
    pub handshake: Duration,
    pub message: Duration,
    pub idle: Duration,
}

impl From<&Security> for Limits {
    fn from(s: &Security) -> Limits {
        let secs = |n: u32| Duration::from_secs(u64::from(n.max(1)));
        Limits {
            per_source: s.stream_connections_per_source.max(1) as usize,
            total: s.stream_connections_total.max(1) as usize,
            handshake: secs(s.tls_handshake_seconds),
            message: secs(s.stream_message_seconds),
            idle: secs(s.stream_idle_seconds),
        }
    }
}

/// Why pbxd refused or closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Refused: the source already holds its share of connections.
    PerSource,
    /// Refused: the box holds as many connections as it takes.
    Total,
    /// The TLS handshake did not finish in time.
    Handshake,
    /// A message begun was not complete in time.
    SlowMessage,
    /// Nothing received for the idle timeout.
    Idle,
    /// Bytes that cannot be framed (too large, a bad head): the stream
    /// cannot be resynchronised.
    Framing,
    /// The peer stopped reading and its write queue filled.
    QueueFull,
    /// A connection the box opened did not come up: refused, no answer
    /// in time, a TLS handshake that failed or a certificate not trusted.
    Connect,
}

impl Cut {
    pub const ALL: [Cut; 8] = [
        Cut::PerSource,
        Cut::Total,
        Cut::Handshake,
        Cut::SlowMessage,
        Cut::Idle,
        Cut::Framing,
        Cut::QueueFull,
        Cut::Connect,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cut::PerSource => "per_source_cap",
            Cut::Total => "total_cap",
            Cut::Handshake => "tls_handshake_timeout",
            Cut::SlowMessage => "message_timeout",
            Cut::Idle => "idle_timeout",
            Cut::Framing => "framing_error",
            Cut::QueueFull => "write_queue_full",
            Cut::Connect => "connect_failed",
        }
    }
}

/// Connections refused or closed by pbxd, by [`Cut`], since start.
#[derive(Debug, Default)]
pub struct Stats {
    counts: [AtomicU64; Cut::ALL.len()],
}

impl Stats {
    /// Counts one cut and logs it: every cut at debug, and at warn the
    /// first and then each power of two, so a flood is seen in the log
    /// without flooding it.
    fn cut(&self, why: Cut, addr: SocketAddr) {
        let n = self.counts[why as usize].fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(reason = why.name(), %addr, total = n, "SIP stream connection cut");
        } else {
            tracing::debug!(reason = why.name(), %addr, total = n, "SIP stream connection cut");
        }
    }

    /// Each reason and its count.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        Cut::ALL
            .iter()
            .map(|c| (c.name(), self.counts[*c as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// The connections held, per source and in all, against the caps.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    held: Mutex<Held>,
    pub stats: Stats,
}

#[derive(Debug, Default)]
struct Held {
    per_source: HashMap<IpAddr, usize>,
    total: usize,
}

impl Gate {
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            held: Mutex::new(Held::default()),
            stats: Stats::default(),
        })
    }

    /// A place for a new connection from `ip`, or the cap that refuses it.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Cut> {
        // The counts stay consistent whatever panicked while holding the
        // lock: each update is a single step.
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.total >= self.limits.total {
            return Err(Cut::Total);
        }
        let n = held.per_source.entry(ip).or_default();
        if *n >= self.limits.per_source {
            return Err(Cut::PerSource);
        }
        *n += 1;
        held.total += 1;
        Ok(Slot {
            gate: self.clone(),
            ip,
        })
    }

    /// Connections held now (from `ip`, and in all).
    pub fn held(&self, ip: IpAddr) -> (usize, usize) {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        (held.per_source.get(&ip).copied().unwrap_or(0), held.total)
    }
}

/// One connection's place under the caps, given back when dropped.
#[derive(Debug)]
struct Slot {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self
            .gate
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.total = held.total.saturating_sub(1);
        if let Some(n) = held.per_source.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.per_source.remove(&self.ip);
            }
        }
    }
}

/// The shell's side of one connection: its write queue, and the way to
/// close it.
#[derive(Debug)]
pub struct Handle {
    id: u64,
    tx: mpsc::Sender<Vec<u8>>,
    close: Arc<Notify>,
    closing: Arc<AtomicBool>,
}

impl Handle {
    /// A connection's queue, made before its socket is: what the core
    /// sends while a connection the box opens comes up waits in it.
    fn new() -> (Handle, Queue) {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let close = Arc::new(Notify::new());
        let handle = Handle {
            id,
            tx: tx.clone(),
            close: close.clone(),
            closing: Arc::new(AtomicBool::new(false)),
        };
        (handle, Queue { id, tx, rx, close })
    }
}

/// The connection task's side of a [`Handle`].
struct Queue {
    id: u64,
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
    close: Arc<Notify>,
}

/// The open connections by peer address, as the core loop knows them.
#[derive(Debug)]
pub struct Conns {
    by_addr: HashMap<SocketAddr, Handle>,
    gate: Arc<Gate>,
    /// Opens connections for requests to peers with none up; without
    /// one (unit tests), such requests are dropped.
    dialer: Option<Dialer>,
}

impl Conns {
    pub fn new(gate: Arc<Gate>, dialer: Option<Dialer>) -> Conns {
        Conns {
            by_addr: HashMap::new(),
            gate,
            dialer,
        }
    }

    /// A new configuration version: the TLS settings of the static peers
    /// for the connections opened from now on.
    pub fn configure(&mut self, cfg: &crate::config::Config) {
        if let Some(d) = &mut self.dialer {
            d.configure(cfg);
        }
    }

    /// Lets the box connect to a trunk's resolved carrier address.
    pub fn allow_trunk(&mut self, peer: Peer, host: &str) {
        if let Some(d) = &mut self.dialer {
            d.allow_trunk(peer, host);
        }
    }

    /// The caps and counters the connections are held under.
    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    pub fn connected(&mut self, addr: SocketAddr, handle: Handle) {
        self.by_addr.insert(addr, handle);
    }

    /// Forgets connection `id`, unless a newer connection from the same
    /// address has already taken its place.
    pub fn disconnected(&mut self, addr: SocketAddr, id: u64) {
        if self.by_addr.get(&addr).is_some_and(|h| h.id == id) {
            self.by_addr.remove(&addr);
        }
    }

    /// Queues `data` for `peer`'s connection, opening one for a request
    /// when none is up (RFC 3261 §18.1.1). A response whose connection is
    /// gone is dropped: the phone's source port it would go to is not one
    /// it listens on, and the phone retransmits its request on a new
    /// connection anyway.
    ///
    /// A full queue means the peer has not read [`QUEUE`] messages: it is
    /// stuck or hostile, and dropping messages silently would leave the
    /// core believing transactions and dialogs are progressing over it.
    /// The connection is closed instead (logged, counted as
    /// `write_queue_full`): the core sees it disconnect, and a working phone
    /// reconnects and re-registers, whereas dropping would only delay the
    /// same outcome. Waiting for room is not an option, it would stall the
    /// core for every other call.
    pub fn send(&mut self, peer: Peer, data: Vec<u8>) {
        let addr = peer.addr;
        if !self.by_addr.contains_key(&addr) && !data.starts_with(b"SIP/") {
            if let Some(handle) = self.dial(peer) {
                self.by_addr.insert(addr, handle);
            }
        }
        let Some(h) = self.by_addr.get(&addr) else {
            tracing::debug!(to = %addr, "no connection to send on");
            return;
        };
        match h.tx.try_send(data) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !h.closing.swap(true, Ordering::Relaxed) {
                    self.gate.stats.cut(Cut::QueueFull, addr);
                    h.close.notify_one();
                }
            }
            // The connection is ending; its Disconnected is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Starts a connection to `peer` under the same caps as accepted
    /// ones, returning its handle at once: messages queue until it is up.
    /// A peer the box does not connect to (a phone, see [`crate::dial`])
    /// or a refusal by the caps is reported to the core like any failure
    /// to connect ([`Input::ConnectFailed`]).
    fn dial(&self, peer: Peer) -> Option<Handle> {
        let dialer = self.dialer.as_ref()?;
        let Some(open) = dialer.opener(peer) else {
            let failed = Input::ConnectFailed {
                peer,
                id: 0,
                why: "its connection is gone (the box does not connect to phones)".into(),
            };
            tell(&dialer.tx, failed);
            return None;
        };
        let slot = match self.gate.admit(peer.addr.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                self.gate.stats.cut(why, peer.addr);
                let failed = Input::ConnectFailed {
                    peer,
                    id: 0,
                    why: format!("connection cap reached ({})", why.name()),
                };
                tell(&dialer.tx, failed);
                return None;
            }
        };
        let (handle, queue) = Handle::new();
        let tx = dialer.tx.clone();
        tokio::spawn(async move {
            // Whatever way the attempt ends short of a connection (a
            // panic too), the core hears of it.
            let mut failed = Failed {
                peer,
                id: queue.id,
                tx: tx.clone(),
                why: Some("connection attempt abandoned".into()),
            };
            let limit = slot.gate.limits.handshake;
            let opened = tokio::select! {
                // Counted as `write_queue_full` by `Conns::send`.
                () = queue.close.notified() => {
                    failed.why = Some("write queue full while connecting".into());
                    return;
                }
                r = tokio::time::timeout(limit, open.open(peer.addr)) => match r {
                    Ok(r) => r,
                    Err(_) => Err(format!("not connected within {} s", limit.as_secs())),
                },
            };
            match opened {
                Err(why) => {
                    slot.gate.stats.cut(Cut::Connect, peer.addr);
                    failed.why = Some(why);
                    // The slot is back before the core hears of the
                    // failure (from `failed`, dropped next).
                    drop(slot);
                }
                Ok(stream) => {
                    failed.why = None;
                    drop(failed);
                    tracing::debug!(to = %peer.addr, transport = peer.transport.via_name(), "SIP connection opened");
                    match stream {
                        Opened::Tcp(s) => serve(s, peer, tx, slot, queue).await,
                        Opened::Tls(s) => serve(*s, peer, tx, slot, queue).await,
                    }
                }
            }
        });
        Some(handle)
    }
}

/// Tells the core loop `input` from where waiting is not possible (a
/// `Drop`): a full input queue gets it from a task of its own.
fn tell(tx: &mpsc::Sender<Input>, input: Input) {
    if let Err(mpsc::error::TrySendError::Full(input)) = tx.try_send(input) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let tx = tx.clone();
            rt.spawn(async move {
                let _ = tx.send(input).await;
            });
        }
    }
}

/// A connection attempt's notice of failure, sent when dropped unless
/// the connection came up (`why` taken).
struct Failed {
    peer: Peer,
    id: u64,
    tx: mpsc::Sender<Input>,
    why: Option<String>,
}

impl Drop for Failed {
    fn drop(&mut self) {
        if let Some(why) = self.why.take() {
            tracing::debug!(to = %self.peer.addr, error = %why, "SIP connection not opened");
            let failed = Input::ConnectFailed {
                peer: self.peer,
                id: self.id,
                why,
            };
            tell(&self.tx, failed);
        }
    }
}

/// Accepts connections on `listener` (TLS when `tls` is given) for as long
/// as the daemon runs.
pub(crate) async fn acceptor(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<Input>,
    gate: Arc<Gate>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a SIP stream connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let slot = match gate.admit(addr.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                gate.stats.cut(why, addr);
                drop(stream);
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %addr, "cannot set TCP_NODELAY");
        }
        let tx = tx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection(stream, addr, Transport::Tcp, tx, slot).await,
                Some(acc) => {
                    let limit = slot.gate.limits.handshake;
                    match tokio::time::timeout(limit, acc.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, addr, Transport::Tls, tx, slot).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, %addr, "TLS handshake failed"),
                        Err(_) => slot.gate.stats.cut(Cut::Handshake, addr),
                    }
                }
            }
        });
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What every connection task leaves behind when it ends, panics included:
/// the shell forgets the connection, the writer stops (and with it the
/// last half of the socket, so the descriptor is closed), and the slot
/// goes back to the gate.
struct Guard {
    addr: SocketAddr,
    id: u64,
    tx: mpsc::Sender<Input>,
    writer: AbortHandle,
    _slot: Slot,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.writer.abort();
        let gone = Input::Disconnected {
            addr: self.addr,
            id: self.id,
        };
        // Connection ids make a late notice harmless.
        tell(&self.tx, gone);
    }
}

/// How the reading side of a connection ended.
enum End {
    /// The peer closed or the socket failed.
    Gone,
    /// The core loop is gone (the daemon stops).
    Stopping,
    /// Cut by us; a framing error may owe the peer a 400.
    Cut(Cut, Option<Vec<u8>>),
}

/// One accepted TCP or TLS connection: made known to the core loop, then
/// served.
async fn connection<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    stream: S,
    addr: SocketAddr,
    transport: Transport,
    tx: mpsc::Sender<Input>,
    slot: Slot,
) {
    let (handle, queue) = Handle::new();
    if tx.send(Input::Connected { addr, handle }).await.is_err() {
        return;
    }
    serve(stream, Peer { transport, addr }, tx, slot, queue).await;
}

/// One connection, accepted or opened: framed reads into the core, writes
/// from its queue.
async fn serve<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    stream: S,
    peer: Peer,
    tx: mpsc::Sender<Input>,
    slot: Slot,
    queue: Queue,
) {
    let gate = slot.gate.clone();
    let addr = peer.addr;
    let Queue {
        id,
        tx: out_tx,
        rx: out_rx,
        close,
    } = queue;
    let (mut rd, wr) = tokio::io::split(stream);
    let (finish, finished) = oneshot::channel();
    let writer = tokio::spawn(write_loop(wr, out_rx, finished));
    let _guard = Guard {
        addr,
        id,
        tx: tx.clone(),
        writer: writer.abort_handle(),
        _slot: slot,
    };
    let end = read_loop(&mut rd, peer, &tx, &out_tx, &close, gate.limits).await;
    match end {
        // The writer is stuck on a peer that does not read: the guard
        // aborts it, nothing more would get through.
        End::Cut(Cut::QueueFull, _) => return,
        End::Cut(why, answer) => {
            gate.stats.cut(why, addr);
            if let Some(answer) = answer {
                let _ = out_tx.try_send(answer);
            }
        }
        End::Gone | End::Stopping => {}
    }
    // Let the writer send what is queued (a 400, say) and close its half.
    let _ = finish.send(());
    drop(out_tx);
    let _ = tokio::time::timeout(LINGER, writer).await;
}

/// Reads and frames until the connection ends, applying the deadlines: a
/// message begun must complete within `limits.message`, and a connection
/// silent for `limits.idle` is closed.
async fn read_loop<R: AsyncRead + Unpin>(
    rd: &mut R,
    peer: Peer,
    tx: &mpsc::Sender<Input>,
    out_tx: &mpsc::Sender<Vec<u8>>,
    close: &Notify,
    limits: Limits,
) -> End {
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16_384];
    let mut heard = Instant::now();
    // When the message now buffered in part began to arrive.
    let mut begun: Option<Instant> = None;
    loop {
        let (deadline, why) = match begun {
            Some(t) => (t + limits.message, Cut::SlowMessage),
            None => (heard + limits.idle, Cut::Idle),
        };
        let n = tokio::select! {
            () = close.notified() => return End::Cut(Cut::QueueFull, None),
            () = tokio::time::sleep_until(deadline) => return End::Cut(why, None),
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => return End::Gone,
                Ok(n) => n,
            },
        };
        heard = Instant::now();
        framer.push(&buf[..n]);
        let mut framed = false;
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => {
                    // A pong lost to a full queue is no loss: that queue
                    // is about to close the connection.
                    let _ = out_tx.try_send(b"\r\n".to_vec());
                }
                Ok(Some(Frame::Message(data, _))) => {
                    framed = true;
                    if tx.send(Input::Packet { peer, data }).await.is_err() {
                        return End::Stopping;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, addr = %peer.addr, "closing stream after a framing error");
                    return End::Cut(Cut::Framing, framer.rejection());
                }
            }
        }
        begun = match begun {
            Some(t) if framer.pending() && !framed => Some(t),
            _ if framer.pending() => Some(heard),
            _ => None,
        };
    }
}

/// Writes what the core queues, until told to finish (then what is still
/// queued is written and the write side shut down: FIN, or TLS
/// close_notify first) or aborted by the guard.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut finish: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            biased;
            data = rx.recv() => match data {
                Some(data) => {
                    if wr.write_all(&data).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            _ = &mut finish => {
                while let Ok(data) = rx.try_recv() {
                    if wr.write_all(&data).await.is_err() {
                        return;
                    }
                }
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_source: usize, total: usize) -> Limits {
        Limits {
            per_source,
            total,
            handshake: Duration::from_secs(1),
            message: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        }
    }

    #[test]
    fn caps_per_source_and_in_all_and_slots_come_back() {
        let gate = Gate::new(limits(2, 3));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).unwrap_err(), Cut::PerSource);
        let _b1 = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).unwrap_err(), Cut::Total);
        drop(a1);
        assert_eq!(gate.held(a), (1, 2));
        let _b2 = gate.admit(b).unwrap();
        assert_eq!(gate.held(b), (2, 3));
    }

    /// A connection task that panics still tells the shell and gives its
    /// slot back.
    #[tokio::test]
    async fn a_panicking_connection_task_still_disconnects() {
        let gate = Gate::new(limits(4, 4));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let addr = SocketAddr::new(ip, 5060);
        let (tx, mut rx) = mpsc::channel::<Input>(4);
        let slot = gate.admit(ip).unwrap();
        let writer = tokio::spawn(std::future::pending::<()>());
        let writer_abort = writer.abort_handle();
        let task = tokio::spawn(async move {
            let _guard = Guard {
                addr,
                id: 7,
                tx,
                writer: writer_abort,
                _slot: slot,
            };
            panic!("a bug in the framer");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(matches!(
            rx.recv().await,
            Some(Input::Disconnected { id: 7, .. })
        ));
        assert_eq!(gate.held(ip), (0, 0));
        assert!(writer.await.unwrap_err().is_cancelled());
    }

    /// The box connects to its configured stream peers only: a request to
    /// any other address without a connection (a phone whose connection
    /// is gone) fails at once, a response is dropped, and a refused
    /// connection to a static peer is reported, counted and its slot
    /// given back.
    #[tokio::test]
    async fn requests_without_a_connection_dial_a_static_peer_or_fail() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let text = format!(
            "{}\n[[extension]]\nnumber = \"7001\"\nname = \"Peer\"\npassword = \"peer-pass-1\"\ncontact = \"sip:7001@{closed};transport=tcp\"\n",
            crate::config::DEFAULT_TOML
        );
        let cfg = crate::config::Config::parse(&text, "t.toml").unwrap();
        let gate = Gate::new(limits(4, 4));
        let (tx, mut rx) = mpsc::channel::<Input>(8);
        let mut conns = Conns::new(gate.clone(), Some(Dialer::new(tx, &cfg)));
        let phone = Peer {
            transport: Transport::Tcp,
            addr: "127.0.0.1:40000".parse().unwrap(),
        };
        conns.send(phone, b"SIP/2.0 200 OK\r\n\r\n".to_vec());
        assert!(rx.try_recv().is_err(), "a response opens nothing");
        conns.send(phone, b"OPTIONS sip:x SIP/2.0\r\n\r\n".to_vec());
        match rx.try_recv() {
            Ok(Input::ConnectFailed { peer, .. }) => assert_eq!(peer, phone),
            _ => panic!("no failure for the phone"),
        }
        assert!(conns.by_addr.is_empty());

        let far = Peer {
            transport: Transport::Tcp,
            addr: closed,
        };
        conns.send(far, b"INVITE sip:7001 SIP/2.0\r\n\r\n".to_vec());
        assert!(
            conns.by_addr.contains_key(&closed),
            "queued while connecting"
        );
        match rx.recv().await {
            Some(Input::ConnectFailed { peer, id, why }) => {
                assert_eq!(peer, far);
                assert!(why.contains("refused"), "{why}");
                conns.disconnected(closed, id);
            }
            _ => panic!("no failure for the static peer"),
        }
        assert!(conns.by_addr.is_empty());
        assert!(gate.stats.counts().contains(&("connect_failed", 1)));
        assert_eq!(gate.held(closed.ip()), (0, 0));
    }

    /// A full queue closes the connection once, counted once.
    #[tokio::test]
    async fn a_full_write_queue_closes_the_connection() {
        let gate = Gate::new(limits(1, 1));
        let addr: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let (qtx, _qrx) = mpsc::channel(1);
        let close = Arc::new(Notify::new());
        let mut conns = Conns::new(gate.clone(), None);
        conns.connected(
            addr,
            Handle {
                id: 1,
                tx: qtx,
                close: close.clone(),
                closing: Arc::new(AtomicBool::new(false)),
            },
        );
        let peer = Peer {
            transport: Transport::Tcp,
            addr,
        };
        for _ in 0..3 {
            conns.send(peer, b"x".to_vec());
        }
        // The stored permit: the connection's reader sees it at once.
        close.notified().await;
        assert!(gate.stats.counts().contains(&("write_queue_full", 1)));
        // A late notice from an older connection leaves the newer alone.
        conns.disconnected(addr, 0);
        assert!(conns.by_addr.contains_key(&addr));
        conns.disconnected(addr, 1);
        assert!(conns.by_addr.is_empty());
    }
}
