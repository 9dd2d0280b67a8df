//! The daemon shell around [`Core`]: sockets (UDP here, TCP and TLS in
//! [`crate::transport`]), the clock, the database writer, the media relay
//! and the control socket. One task owns the core; everything else talks to
//! it through a channel.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use dering_control::{
    BlockedView, CallState, CallView, ControlError, Event, FlowView, PbxStatus, RegistrationView,
    Reply, Request, Response, Snapshot, Stopped, PROTOCOL, SOCKET_NAME,
};
use dering_sip::transaction::{Peer, Transport};
use dering_store::writer::Writer;
use dering_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket, UnixListener};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::config_versions::{self, Seed};
use crate::core::{Core, Listen, MediaCmd, Now, Output};
use crate::feed::{Feed, Subscribed};
use crate::relay::Relay;
use crate::transport::{self, Conns, Gate};

/// How the daemon is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration as given at start (file and command line).
    pub config: Config,
    /// The document `config` was parsed from: the first boot's seed, and
    /// imported again when it changed (see [`crate::config_versions`]).
    pub seed: Seed,
    pub data_dir: PathBuf,
}

/// Where the daemon ended up listening.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub tls: SocketAddr,
}

pub(crate) enum Input {
    Packet {
        peer: Peer,
        data: Vec<u8>,
    },
    Committed(u64),
    /// A TCP or TLS connection is up ([`transport`]).
    Connected {
        addr: SocketAddr,
        handle: transport::Handle,
    },
    /// Connection `id` from `addr` is gone (sent by its guard, however the
    /// connection task ended).
    Disconnected {
        addr: SocketAddr,
        id: u64,
    },
    /// A connection the box was opening to `peer` (connection `id`) did
    /// not come up, for reason `why`: the requests waiting on it fail.
    ConnectFailed {
        peer: Peer,
        id: u64,
        why: String,
    },
    Control(Request, oneshot::Sender<Result<Response, ControlError>>),
    Subscribe {
        from_seq: Option<u64>,
        reply: oneshot::Sender<Result<Subscribed, ControlError>>,
    },
    Checkpointed(Result<(), String>),
    /// The import waiting in [`Live::pending`] is stored (or not).
    ConfigStored(Result<(), String>),
    /// A key or the end of playback from a local endpoint (a flow).
    Media(crate::endpoint::MediaEvent),
    /// A write or reload of the prompts directory finished
    /// ([`crate::prompt_store`]): load number `generation`, its library
    /// or why not, and the control request waiting for it, if one is.
    PromptsLoaded {
        generation: u64,
        result: Result<dering_media::prompts::Prompts, String>,
        reply: Option<oneshot::Sender<Result<Response, ControlError>>>,
    },
    /// A prompt recorded from a phone, to write and then load.
    SavePrompt {
        lang: dering_media::speech::Lang,
        name: String,
        audio: Arc<[i16]>,
        meta: crate::prompt_store::Meta,
    },
    /// A trunk's host resolved per RFC 3263 (or why not).
    TrunkResolved {
        trunk: String,
        host: String,
        found: Result<Vec<dering_trunk::Target>, String>,
    },
}

/// How often pbxd writes its heartbeat row (MON-2).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn now() -> Now {
    Now {
        at: Instant::now(),
        wall_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    }
}

/// A running pbxd.
#[derive(Debug)]
pub struct Running {
    pub bound: Bound,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Set when pbxd stopped because first-boot setup got done: started
    /// again, it binds the configured address ([`crate::setup_gate`]).
    pub restart_for_setup: Arc<std::sync::atomic::AtomicBool>,
}

impl Running {
    /// Waits for the signalling task (which stops the relay threads when
    /// it ends).
    pub async fn join(self) -> anyhow::Result<()> {
        self.task.await.context("pbxd task")?
    }
}

/// Opens the database, binds every socket and starts serving. Returns once
/// SIP is accepted; `shutdown` resolving stops the daemon.
pub async fn start(
    mut opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating data directory {}", opts.data_dir.display()))?;
    let db_path = opts.data_dir.join("dering.db");
    let t = now();
    let store = Store::open(&db_path)?;
    // The legs of calls the last stop cut, each to be sent a BYE before
    // the box serves (decision 0028).
    let cut_legs = store.stored_dialogs()?;
    let interrupted = store.close_interrupted(t.wall_ms)?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "calls cut by the last stop closed as interrupted"
        );
    }
    let bindings = store.live_bindings(t.wall_ms)?;
    let mut store = store;
    // The configuration's system of record is the database: run its newest
    // version (the seed's, on a first boot). Addresses and ports stay as
    // given at start: they are bound once.
    let (mut administered, version) = config_versions::at_start(&mut store, &opts.seed, t.wall_ms)
        .context("taking the configuration")?;
    tracing::info!(version = version.version, author = %version.author, "configuration version");
    administered.sip = opts.config.sip.clone();
    administered.http = opts.config.http.clone();
    opts.config = administered;
    // Loopback only until first-boot setup is done (decision 0034).
    let configured = opts.config.bind();
    let gated = store.setup_done()?.is_none()
        && crate::setup_gate::address(configured, false) != configured;
    if gated {
        opts.config.sip.bind = crate::setup_gate::address(configured, false);
        tracing::error!(
            %configured,
            bound = %opts.config.sip.bind,
            "first-boot setup is not done: SIP is served on loopback only until the setup page's last step (its link is on the console)"
        );
    }
    let live = Live {
        version,
        data_dir: opts.data_dir.clone(),
        prompt_loads: 0,
        prompts_applied: 0,
        running: opts.config.clone(),
        pending: None,
    };
    store.sync_extensions(
        &opts
            .config
            .extensions
            .iter()
            .map(|e| (e.number.clone(), e.name.clone()))
            .collect::<Vec<_>>(),
    )?;
    // The demo's flow, the first time a box answers a number with it.
    let demo = dering_flow::Flow::demo();
    let stored = store.latest_flows()?;
    if opts
        .config
        .dids
        .iter()
        .any(|d| d.flow() == Some(&demo.name))
        && !stored.iter().any(|(name, _, _)| *name == demo.name)
    {
        store.apply(&[dering_store::Op::FlowVersion {
            name: demo.name.clone(),
            version: 1,
            document: demo.to_json(),
            at_ms: t.wall_ms,
        }])?;
        tracing::info!(flow = %demo.name, "demo flow installed");
    }
    crate::jobs::repair_recordings(&mut store, t.wall_ms);
    let flows = store.latest_flows()?;
    let forwards = store.forwards()?;
    // Today's ACD journal (two days back covers any time zone's "today").
    let journal = store.acd_events(t.wall_ms - 2 * 86_400_000)?;
    let agent_states = store.last_agent_states()?;
    // Today's outside calls, for each extension's minutes per day (TEL-5).
    let outside_talk = store.outside_talk_since(t.wall_ms - 2 * 86_400_000)?;
    let prompts = crate::prompt_store::load(&opts.config, &opts.data_dir)?;
    let (writer, _writer_thread) = Writer::spawn(store)?;

    let ip = opts.config.bind();
    let cfg = &opts.config.sip;
    let (udp, tcp) = bind_sip_udp_tcp(ip, cfg.udp_port, cfg.tcp_port).await?;
    let udp = Arc::new(udp);
    let udp_addr = udp.local_addr()?;
    let tls_port = if cfg.tls_port == 0 { 0 } else { cfg.tls_port };
    let tls = TcpListener::bind(SocketAddr::new(ip, tls_port))
        .await
        .with_context(|| format!("binding TLS {ip}:{tls_port}"))?;
    let bound = Bound {
        udp: udp_addr,
        tcp: tcp.local_addr()?,
        tls: tls.local_addr()?,
    };
    let acceptor = crate::tls::acceptor(&opts.data_dir.join("tls"))?;

    let sock_path = opts.data_dir.join(SOCKET_NAME);
    let _ = std::fs::remove_file(&sock_path);
    let control = UnixListener::bind(&sock_path)
        .with_context(|| format!("binding {}", sock_path.display()))?;

    let (in_tx, in_rx) = mpsc::channel::<Input>(65_536);
    let media_tx = in_tx.clone();
    let relay = Relay::new(
        ip,
        2,
        Arc::new(move |e| {
            let _ = media_tx.try_send(Input::Media(e));
        }),
    )
    .context("starting the media relay threads")?;
    let mut relay = relay;
    relay.set_recorder(crate::relay::RecorderCtx {
        sink: crate::recorder::spawn(writer.clone(), opts.config.recording.mp3)
            .context("starting the recorder thread")?,
        dir: crate::jobs::recordings_dir(&opts),
        utc_offset_minutes: opts.config.flows.utc_offset_minutes,
    });

    let listen = Listen {
        ip: crate::advertise::address(&opts.config),
        udp: bound.udp.port(),
        tcp: bound.tcp.port(),
        tls: bound.tls.port(),
        // The shell is where randomness comes from: the OS's.
        tokens: crate::core::Tokens::new(rand::random()),
    };
    let mut core = Core::new(&opts.config, listen, t);
    let restored = core.restore_bindings(t, &bindings);
    tracing::info!(restored, "registrations restored");
    if !cut_legs.is_empty() {
        let sent = core.bye_interrupted(t, &cut_legs);
        tracing::warn!(
            legs = cut_legs.len(),
            sent,
            "BYE sent to the phones of calls the last stop cut"
        );
    }
    core.set_media(Arc::new(prompts), flows);
    core.set_forwards(forwards);
    let counted = core.restore_acd_journal(t, &journal);
    let agents = core.restore_agents(t, &agent_states);
    let calls = core.restore_outside_minutes(t, &outside_talk);
    tracing::info!(calls, "today's outside minutes recounted");
    tracing::info!(
        counted,
        agents,
        "today's ACD journal counted; agents back at their phones"
    );

    let probe_tx = in_tx.clone();
    dering_daemon::notify::spawn_watchdog(move || {
        let tx = probe_tx.clone();
        async move {
            let (otx, orx) = oneshot::channel();
            tx.send(Input::Control(Request::Status, otx)).await.is_ok() && orx.await.is_ok()
        }
    });
    tokio::spawn(udp_reader(udp.clone(), in_tx.clone()));
    let gate = Gate::new(transport::Limits::from(&opts.config.security));
    tokio::spawn(transport::acceptor(tcp, None, in_tx.clone(), gate.clone()));
    tokio::spawn(transport::acceptor(
        tls,
        Some(acceptor),
        in_tx.clone(),
        gate.clone(),
    ));
    tokio::spawn(control_acceptor(control, in_tx.clone()));

    tokio::spawn(crate::jobs::retention(
        db_path.clone(),
        writer.clone(),
        opts.config.recording.retention_days,
    ));
    if let Some(to) = opts.config.recording.backup_directory.clone() {
        tokio::spawn(crate::jobs::backup_job(
            db_path.clone(),
            crate::jobs::recordings_dir(&opts),
            to,
            opts.config.recording.backup_every_hours,
        ));
    }
    let restart_for_setup = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shutdown = {
        let flag = restart_for_setup.clone();
        let db = db_path.clone();
        async move {
            if !gated {
                return shutdown.await;
            }
            tokio::select! {
                _ = shutdown => {}
                _ = crate::setup_gate::setup_finished(db) => {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    };
    let task = tokio::spawn(run(
        core,
        relay,
        writer,
        udp,
        Conns::new(
            gate,
            Some(crate::dial::Dialer::new(in_tx.clone(), &opts.config)),
        ),
        in_tx,
        in_rx,
        shutdown,
        sock_path,
        live,
    ));
    Ok(Running {
        bound,
        task,
        restart_for_setup,
    })
}

/// Socket buffers for SIP over UDP: bursts of thousands of requests a
/// second overflow the kernel's default (about 208 KiB) before the core reads
/// them, and every lost datagram costs a 500 ms retransmission. The kernel
/// caps the request at `net.core.rmem_max`/`wmem_max`.
const SIP_SOCKET_BUFFER: usize = 4 << 20;

/// How often "any port" is tried again when the system's pick for UDP
/// is already taken for TCP by someone else.
const ANY_PORT_TRIES: usize = 16;

/// Binds SIP's UDP socket and TCP listener. With both on "any port" (0)
/// they share the number the system picks for UDP, as phones expect; that
/// number may already be held by an unrelated TCP socket, so the pair is
/// tried again with a fresh pick rather than failing the start.
async fn bind_sip_udp_tcp(
    ip: std::net::IpAddr,
    udp_port: u16,
    tcp_port: u16,
) -> anyhow::Result<(UdpSocket, TcpListener)> {
    let mut tries = if udp_port == 0 && tcp_port == 0 {
        ANY_PORT_TRIES
    } else {
        1
    };
    loop {
        tries -= 1;
        let udp = bind_sip_udp(SocketAddr::new(ip, udp_port))
            .with_context(|| format!("binding UDP {ip}:{udp_port}"))?;
        let port = if tcp_port == 0 {
            udp.local_addr()?.port()
        } else {
            tcp_port
        };
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries > 0 => {
                tracing::debug!(port, "TCP port of the UDP pick is taken, picking again");
            }
            Err(e) => return Err(e).with_context(|| format!("binding TCP {ip}:{port}")),
        }
    }
}

fn bind_sip_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    if let Err(e) = sock
        .set_recv_buffer_size(SIP_SOCKET_BUFFER)
        .and_then(|()| sock.set_send_buffer_size(SIP_SOCKET_BUFFER))
    {
        tracing::warn!(error = %e, "cannot enlarge the SIP socket buffers");
    }
    sock.bind(&addr.into())?;
    sock.set_nonblocking(true)?;
    let got = sock.recv_buffer_size().unwrap_or(0);
    if got < SIP_SOCKET_BUFFER {
        tracing::warn!(
            requested = SIP_SOCKET_BUFFER,
            got,
            "SIP receive buffer capped by net.core.rmem_max"
        );
    }
    UdpSocket::from_std(sock.into())
}

// The loop owns every part of the shell; bundling them in a struct would
// only move the list.
#[allow(clippy::too_many_arguments)]
async fn run(
    mut core: Core,
    mut relay: Relay,
    writer: Writer,
    udp: Arc<UdpSocket>,
    mut conns: Conns,
    in_tx: mpsc::Sender<Input>,
    mut in_rx: mpsc::Receiver<Input>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    sock_path: PathBuf,
    mut live: Live,
) -> anyhow::Result<()> {
    let mut feed = Feed::default();
    let mut spans = crate::spans::Spans::default();
    let mut stopping: Option<(oneshot::Sender<Result<Response, ControlError>>, usize)> = None;
    let mut life = Life {
        started: Instant::now(),
        started_ms: now().wall_ms,
        streams: conns.gate(),
        writer: writer.clone(),
    };
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    tokio::pin!(shutdown);
    core.handle_timeout(now());
    dering_daemon::notify::ready("pbxd serving SIP");
    loop {
        flush(
            &mut core, &mut relay, &writer, &udp, &mut conns, &in_tx, &mut feed,
        )
        .await;
        let deadline = core.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = heartbeat.tick() => {
                let _ = writer.submit(life.heartbeat(&core, false), None);
                let t = now();
                for e in spans.expire(t.at, t.wall_ms) {
                    feed.publish(e);
                }
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                core.handle_timeout(now());
            }
            input = in_rx.recv() => {
                let Some(input) = input else { break };
                match input {
                    Input::Packet { peer, data } => core.handle_packet(now(), peer, &data),
                    Input::Committed(token) => core.handle_committed(now(), token),
                    Input::Connected { addr, handle } => conns.connected(addr, handle),
                    Input::Disconnected { addr, id } => conns.disconnected(addr, id),
                    Input::ConnectFailed { peer, id, why } => {
                        conns.disconnected(peer.addr, id);
                        core.transport_failed(now(), peer, &why);
                    }
                    Input::Control(Request::Shutdown { cause }, reply) => {
                        if stopping.is_none() {
                            tracing::warn!(%cause, calls = core.active_calls(), "shutdown ordered: hanging up and checkpointing");
                            core.close_intake(60);
                            let n = core.hang_up_all(now(), &cause);
                            flush(&mut core, &mut relay, &writer, &udp, &mut conns, &in_tx, &mut feed).await;
                            let tx = in_tx.clone();
                            let done = Box::new(move |r: Result<(), String>| {
                                let _ = tx.blocking_send(Input::Checkpointed(r));
                            });
                            if writer.submit(dering_store::Op::Checkpoint, Some(done)).is_err() {
                                let _ = in_tx.try_send(Input::Checkpointed(Err("database writer gone".into())));
                            }
                            stopping = Some((reply, n));
                        }
                    }
                    Input::Checkpointed(r) => {
                        if let Some((reply, n)) = stopping.take() {
                            if let Err(e) = &r {
                                tracing::error!(error = %e, "checkpoint before shutdown failed");
                            }
                            let stopped = Stopped { calls_ended: n, checkpointed: r.is_ok() };
                            let _ = reply.send(Ok(Response::Stopped { stopped }));
                            break;
                        }
                    }
                    Input::Control(Request::ConfigImport { document, source, author }, reply) => {
                        live.import(&writer, &in_tx, &document, &source, &author, reply);
                    }
                    Input::ConfigStored(r) => {
                        live.stored(&mut core, r);
                        conns.configure(&live.running);
                    }
                    Input::Subscribe { from_seq, reply } => {
                        let _ = reply.send(feed.subscribe(from_seq));
                    }
                    Input::Media(e) => core.handle_media_event(now(), e),
                    Input::Control(Request::ReloadPrompts, reply) => {
                        live.load_prompts(&in_tx, None, Some(reply));
                    }
                    Input::SavePrompt { lang, name, audio, meta } => {
                        live.load_prompts(&in_tx, Some((lang, name, audio, meta)), None);
                    }
                    Input::PromptsLoaded { generation, result, reply } => {
                        live.prompts_loaded(&mut core, generation, result, reply);
                    }
                    Input::TrunkResolved { trunk, host, found } => {
                        for t in found.iter().flatten() {
                            let transport = match t.transport {
                                dering_trunk::Transport::Udp => Transport::Udp,
                                dering_trunk::Transport::Tcp => Transport::Tcp,
                                dering_trunk::Transport::Tls => Transport::Tls,
                            };
                            conns.allow_trunk(Peer { transport, addr: t.addr }, &host);
                        }
                        core.trunk_resolved(now(), &trunk, found);
                    }
                    Input::Control(Request::ReportSpans { reporter, spans: report }, reply) => {
                        let t = now();
                        let r = spans.report(t.at, t.wall_ms, &reporter, report);
                        let r = match r {
                            Ok(events) => {
                                events.into_iter().for_each(|e| feed.publish(e));
                                Ok(Response::Done)
                            }
                            Err(e) => Err(ControlError::Refused { message: e.to_string() }),
                        };
                        let _ = reply.send(r);
                    }
                    Input::Control(Request::Spans, reply) => {
                        let _ = reply.send(Ok(Response::Spans { spans: spans.views() }));
                    }
                    Input::Control(Request::Publish { event }, reply) => {
                        feed.publish(event);
                        let _ = reply.send(Ok(Response::Done));
                    }
                    Input::Control(req, reply) => {
                        let was_open = core.intake_open();
                        let _ = reply.send(control(&mut core, &life, feed.last_seq(), req));
                        if core.intake_open() != was_open {
                            feed.publish(Event::Intake { open: core.intake_open() });
                        }
                    }
                }
            }
        }
    }
    tracing::info!(active_calls = core.active_calls(), "pbxd stopping");
    dering_daemon::notify::stopping();
    let _ = std::fs::remove_file(sock_path);
    let (tx, rx) = oneshot::channel();
    let done = Box::new(move |_r: Result<(), String>| {
        let _ = tx.send(());
    });
    if writer
        .submit(life.heartbeat(&core, true), Some(done))
        .is_ok()
    {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
    }
    Ok(())
}

/// The configuration the engine runs, and an import on its way to disk.
struct Live {
    version: dering_store::ConfigVersion,
    /// Where the prompts directory is by default (`<data>/prompts`).
    data_dir: PathBuf,
    /// Prompt loads started, and the newest one the core took: an older
    /// load finishing late never replaces a newer library.
    prompt_loads: u64,
    prompts_applied: u64,
    running: Config,
    pending: Option<PendingImport>,
}

/// The reply to a control request, sent when it is ready.
type ReplyTx = oneshot::Sender<Result<Response, ControlError>>;

/// An import validated and submitted to the writer, taken by the engine
/// once it is committed: a configuration is never running that the
/// database does not hold.
struct PendingImport {
    config: Config,
    version: dering_store::ConfigVersion,
    restart_needed: Vec<String>,
    reply: ReplyTx,
}

impl Live {
    /// Writes `save` (a prompt recorded from a phone) if given, then reads
    /// the prompts directory again, on a blocking thread: the result comes
    /// back as [`Input::PromptsLoaded`].
    fn load_prompts(
        &mut self,
        in_tx: &mpsc::Sender<Input>,
        save: Option<(
            dering_media::speech::Lang,
            String,
            Arc<[i16]>,
            crate::prompt_store::Meta,
        )>,
        reply: Option<ReplyTx>,
    ) {
        self.prompt_loads += 1;
        let generation = self.prompt_loads;
        let (config, data_dir, tx) = (self.running.clone(), self.data_dir.clone(), in_tx.clone());
        tokio::task::spawn_blocking(move || {
            let dir = crate::prompt_store::directory(&config, &data_dir);
            if let Some((lang, name, audio, meta)) = save {
                match crate::prompt_store::save(&dir, lang, &name, &audio, &meta) {
                    Ok(path) => {
                        tracing::info!(path = %path.display(), by = %meta.by, "prompt written")
                    }
                    Err(e) => tracing::error!(error = %e, prompt = %name, "prompt not written"),
                }
            }
            let result = crate::prompt_store::load(&config, &data_dir).map_err(|e| e.to_string());
            let _ = tx.blocking_send(Input::PromptsLoaded {
                generation,
                result,
                reply,
            });
        });
    }

    /// A load finished: the core takes the library unless a newer one is
    /// in already; a refused directory leaves the prompts in use alone.
    fn prompts_loaded(
        &mut self,
        core: &mut Core,
        generation: u64,
        result: Result<dering_media::prompts::Prompts, String>,
        reply: Option<ReplyTx>,
    ) {
        let answer = match result {
            Ok(prompts) => {
                let counts = (prompts.len(), prompts.music_classes());
                if generation > self.prompts_applied {
                    self.prompts_applied = generation;
                    core.set_prompts(Arc::new(prompts));
                    tracing::info!(prompts = counts.0, music = counts.1, "prompts reloaded");
                }
                Ok(Response::PromptsReloaded {
                    prompts: counts.0,
                    music: counts.1,
                })
            }
            Err(message) => {
                tracing::error!(error = %message, "prompts directory refused: the prompts in use stay");
                Err(ControlError::BadPrompts { message })
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
    }

    fn import(
        &mut self,
        writer: &Writer,
        in_tx: &mpsc::Sender<Input>,
        document: &str,
        source: &str,
        author: &str,
        reply: ReplyTx,
    ) {
        if self.pending.is_some() {
            let _ = reply.send(Err(ControlError::ConfigBusy));
            return;
        }
        let prepared =
            config_versions::prepare(Some(&self.version), document, source, author, now().wall_ms);
        let (mut config, version) = match prepared {
            Err(e) => {
                let _ = reply.send(Err(ControlError::BadConfig {
                    message: e.to_string(),
                }));
                return;
            }
            Ok(None) => {
                let _ = reply.send(Ok(Response::ConfigApplied {
                    version: self.version.version,
                    changed: false,
                    summary: "same document as the running version".into(),
                    restart_needed: vec![],
                }));
                return;
            }
            Ok(Some(p)) => p,
        };
        let restart_needed = crate::core::restart_needed(&self.running, &config)
            .into_iter()
            .map(str::to_string)
            .collect();
        config.sip = self.running.sip.clone();
        config.http = self.running.http.clone();
        let extensions = config
            .extensions
            .iter()
            .map(|e| (e.number.clone(), e.name.clone()))
            .collect();
        let tx = in_tx.clone();
        let done = Box::new(move |r: Result<(), String>| {
            let _ = tx.blocking_send(Input::ConfigStored(r));
        });
        let submitted = writer
            .submit(dering_store::Op::Extensions(extensions), None)
            .and_then(|()| {
                writer.submit(dering_store::Op::ConfigVersion(version.clone()), Some(done))
            });
        if let Err(e) = submitted {
            let _ = reply.send(Err(ControlError::Refused {
                message: format!("configuration not stored: {e}"),
            }));
            return;
        }
        self.pending = Some(PendingImport {
            config,
            version,
            restart_needed,
            reply,
        });
    }

    fn stored(&mut self, core: &mut Core, r: Result<(), String>) {
        let Some(p) = self.pending.take() else {
            return;
        };
        if let Err(e) = r {
            tracing::error!(error = %e, version = p.version.version, "configuration version not stored; the engine keeps the running one");
            let _ = p.reply.send(Err(ControlError::Refused {
                message: format!("configuration not stored: {e}"),
            }));
            return;
        }
        core.apply_config(now(), &p.config);
        tracing::info!(version = p.version.version, author = %p.version.author,
            summary = %p.version.summary, "configuration version running");
        let _ = p.reply.send(Ok(Response::ConfigApplied {
            version: p.version.version,
            changed: true,
            summary: p.version.summary.clone(),
            restart_needed: p.restart_needed,
        }));
        self.running = p.config;
        self.version = p.version;
    }
}

/// When this pbxd started, for its status and heartbeat.
struct Life {
    started: Instant,
    started_ms: i64,
    /// The stream connections' caps and counters.
    streams: Arc<Gate>,
    /// For the records a full disk holds back.
    writer: Writer,
}

impl Life {
    fn status(&self, core: &Core) -> PbxStatus {
        PbxStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            active_calls: core.active_calls(),
            registrations: core.registrations(now()).len(),
            intake_open: core.intake_open(),
            uptime_seconds: self.started.elapsed().as_secs(),
            stream_cuts: self
                .streams
                .stats
                .counts()
                .into_iter()
                .map(|(why, n)| (why.to_string(), n))
                .collect(),
            records_held: self.writer.held() as u64,
        }
    }

    fn heartbeat(&mut self, core: &Core, stopped: bool) -> dering_store::Op {
        let status = self.status(core);
        let mut reasons = Vec::new();
        if !status.intake_open {
            reasons.push("intake closed: new calls get 503 (power shutdown)".to_string());
        }
        // Calls go on; the warning is /health's (issue 17 §6).
        reasons.extend(crate::recorder::stopped_warning(now().wall_ms));
        dering_store::Op::Heartbeat(dering_store::DaemonStatus {
            daemon: "pbxd".into(),
            pid: std::process::id(),
            started_ms: self.started_ms,
            heartbeat_ms: now().wall_ms,
            ready: status.intake_open && !stopped,
            reasons,
            state: serde_json::to_string(&status).unwrap_or_default(),
            stopped,
        })
    }
}

/// Resolves a trunk's host on a task of its own (the loop never waits on
/// DNS) and hands the targets to the core (decision 0016).
fn resolve_trunk(req: crate::core::ResolveRequest, tx: mpsc::Sender<Input>) {
    static RESOLVER: std::sync::OnceLock<Result<crate::resolve::Resolver, String>> =
        std::sync::OnceLock::new();
    let resolver =
        RESOLVER.get_or_init(|| crate::resolve::Resolver::system().map_err(|e| e.to_string()));
    let resolver = resolver.clone();
    tokio::spawn(async move {
        let found = match resolver {
            Ok(r) => {
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
                r.resolve(&req.query, &mut rng)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        let _ = tx
            .send(Input::TrunkResolved {
                trunk: req.trunk,
                host: req.query.host,
                found,
            })
            .await;
    });
}

async fn flush(
    core: &mut Core,
    relay: &mut Relay,
    writer: &Writer,
    udp: &UdpSocket,
    conns: &mut Conns,
    in_tx: &mpsc::Sender<Input>,
    feed: &mut Feed,
) {
    for req in core.take_resolve_requests() {
        resolve_trunk(req, in_tx.clone());
    }
    while let Some(out) = core.poll_output() {
        match out {
            Output::Transmit(t) => match t.peer.transport {
                Transport::Udp => {
                    if let Err(e) = udp.send_to(&t.data, t.peer.addr).await {
                        tracing::debug!(error = %e, to = %t.peer.addr, "UDP send failed");
                    }
                }
                // A full queue closes the connection; a request to a peer
                // with none opens one (see `Conns::send`).
                Transport::Tcp | Transport::Tls => conns.send(t.peer, t.data),
            },
            Output::Store { op, token } => {
                let done = token.map(|token| committed(in_tx.clone(), token));
                if let Err(e) = writer.submit(op, done) {
                    tracing::error!(error = %e, "database writer gone");
                }
            }
            Output::Publish(event) => feed.publish(event),
            Output::Media(cmd) => match cmd {
                MediaCmd::Reserve { port } => {
                    let bound = relay.reserve(port);
                    if let Err(e) = &bound {
                        tracing::warn!(error = %e, port, "RTP port taken by another program: skipped for a while");
                    }
                    core.port_bound(now(), port, bound.is_ok());
                }
                MediaCmd::Open {
                    call,
                    a_port,
                    b_port,
                    group,
                } => {
                    if let Err(e) = relay.open(call, a_port, b_port, group) {
                        tracing::error!(error = %e, call, "cannot bind media ports");
                        core.media_failed(now(), call);
                    }
                }
                MediaCmd::Remote { call, side, addr } => relay.set_remote(call, side, addr),
                MediaCmd::Local {
                    call,
                    codec,
                    event_pt,
                } => relay.local(
                    call,
                    crate::endpoint::LocalMedia::new(call, codec, event_pt, rand::random()),
                ),
                MediaCmd::Play {
                    call,
                    audio,
                    interruptible,
                } => relay.play(call, audio, interruptible),
                MediaCmd::StopPlay { call } => relay.stop_playing(call),
                MediaCmd::Music { call, music } => relay.music(call, music),
                MediaCmd::Join {
                    room,
                    call,
                    side,
                    codec,
                    role,
                } => relay.join(room, call, side, codec, role),
                MediaCmd::Transcode { call, a, b } => relay.transcode(call, a, b),
                MediaCmd::Leave { call } => relay.leave(call),
                MediaCmd::WatchKeys { call, a, b, codes } => relay.watch_keys(call, a, b, codes),
                MediaCmd::Bridge { call } => relay.bridge(call),
                MediaCmd::Hold {
                    call,
                    held,
                    codec,
                    music,
                } => {
                    let player = (!music.is_empty()).then(|| {
                        let mut m =
                            crate::endpoint::LocalMedia::new(call, codec, None, rand::random());
                        m.play_loop(music);
                        m
                    });
                    relay.hold(call, held, player);
                }
                MediaCmd::Record { call, meta } => relay.record(call, &meta),
                MediaCmd::Capture { call, max_samples } => relay.capture(call, max_samples),
                MediaCmd::EndCapture { call } => relay.end_capture(call),
                MediaCmd::SavePrompt {
                    lang,
                    name,
                    audio,
                    by,
                    at_ms,
                } => {
                    let meta = crate::prompt_store::Meta {
                        by,
                        source: "phone".into(),
                        at_ms,
                    };
                    let save = Input::SavePrompt {
                        lang,
                        name,
                        audio,
                        meta,
                    };
                    if in_tx.try_send(save).is_err() {
                        tracing::error!("input queue full: a prompt recorded from a phone is lost");
                    }
                }
                MediaCmd::Close { call, uuid } => {
                    if let Some(s) = relay.close(call) {
                        tracing::debug!(call, from_a = s.from_a, from_b = s.from_b, "media closed");
                        let op = dering_store::Op::CallEvent {
                            uuid,
                            at_ms: now().wall_ms,
                            kind: "media".into(),
                            detail: Some(format!(
                                "rtp_from_caller={} rtp_from_callee={} rtp_to_callee={} rtp_to_caller={} stray_at_caller={} stray_at_callee={}",
                                s.from_a, s.from_b, s.to_b, s.to_a, s.stray_a, s.stray_b
                            )),
                        };
                        let _ = writer.submit(op, None);
                    }
                }
            },
        }
    }
}

/// Answers one control request (CTI-1: typed, one reply each). `last_seq`
/// is the event stream's: a snapshot is consistent with it because the
/// loop publishes every output before it takes the next input.
fn control(
    core: &mut Core,
    life: &Life,
    last_seq: u64,
    req: Request,
) -> Result<Response, ControlError> {
    let t = now();
    Ok(match req {
        Request::Hello { protocol } => hello(protocol)?,
        Request::Calls => Response::Calls { calls: calls(core) },
        Request::Trunks => Response::Trunks {
            trunks: core.trunk_views(t),
        },
        Request::Registrations => Response::Registrations {
            registrations: core
                .registrations(t)
                .into_iter()
                .map(|r| RegistrationView {
                    extension: r.extension,
                    contact: r.contact,
                    transport: r.transport,
                    source: r.source,
                    expires_in: r.expires_in,
                    reachable: r.reachable,
                    user_agent: r.user_agent,
                })
                .collect(),
        },
        Request::Blocked => Response::Blocked {
            blocked: core
                .blocked(t)
                .into_iter()
                .map(|(ip, seconds_left)| BlockedView {
                    ip: ip.to_string(),
                    seconds_left,
                })
                .collect(),
        },
        Request::Unblock { ip } => {
            let addr = ip
                .parse::<IpAddr>()
                .map_err(|_| ControlError::NotAnAddress { ip })?;
            Response::Unblocked {
                ip: addr.to_string(),
                was_blocked: core.unblock(addr),
            }
        }
        Request::Status => Response::Status {
            status: life.status(core),
        },
        Request::CloseIntake {
            retry_after_seconds,
        } => {
            core.close_intake(retry_after_seconds);
            Response::Done
        }
        Request::OpenIntake => {
            core.open_intake();
            Response::Done
        }
        // Handled by the loop, which owns the feed and the exit, and by
        // the acceptor, which owns the connection.
        Request::Shutdown { .. }
        | Request::Publish { .. }
        | Request::Subscribe { .. }
        | Request::ConfigImport { .. }
        | Request::ReloadPrompts
        | Request::ReportSpans { .. }
        | Request::Spans => {
            return Err(ControlError::Refused {
                message: "not handled here".into(),
            })
        }
        Request::Snapshot => Response::Snapshot {
            snapshot: Snapshot {
                seq: last_seq,
                calls: calls(core),
                agents: core.agents(t),
                queues: core.queue_views(t),
            },
        },
        Request::Flows => Response::Flows {
            flows: core
                .flows()
                .into_iter()
                .map(|f| FlowView {
                    name: f.name,
                    version: f.version,
                    numbers: f.numbers,
                })
                .collect(),
        },
        Request::PublishFlow { document } => {
            let (flow, version) =
                core.publish_flow(t, &document)
                    .map_err(|e| ControlError::BadFlow {
                        message: e.to_string(),
                    })?;
            Response::FlowPublished { flow, version }
        }
        Request::Agents => Response::Agents {
            agents: core.agents(t),
        },
        Request::Queues => Response::Queues {
            queues: core.queue_views(t),
        },
        Request::Agent { action } => {
            core.agent_command(t, action)?;
            Response::Done
        }
        Request::Hangup { uuid } => {
            core.hang_up_uuid(t, &uuid)?;
            Response::Done
        }
        Request::Transfer { uuid, to } => {
            core.transfer_uuid(t, &uuid, &to)?;
            Response::Done
        }
        Request::Hold { uuid } => {
            core.hold_uuid(t, &uuid, true)?;
            Response::Done
        }
        Request::Resume { uuid } => {
            core.hold_uuid(t, &uuid, false)?;
            Response::Done
        }
        Request::Consult { uuid, to } => Response::CallPlaced {
            uuid: core.consult_uuid(t, &uuid, &to)?,
        },
        Request::CompleteTransfer { uuid, consult } => {
            core.complete_transfer_uuid(t, &uuid, &consult)?;
            Response::Done
        }
        Request::CancelConsult { uuid, consult } => {
            core.cancel_consult_uuid(t, &uuid, &consult)?;
            Response::Done
        }
        Request::Conference { uuid, to, consult } => {
            match consult {
                Some(consult) => core.conference_consult_uuid(t, &uuid, &consult, &to)?,
                None => core.conference_uuid(t, &uuid, &to)?,
            }
            Response::Done
        }
        Request::Originate { from, to } => Response::CallPlaced {
            uuid: core.originate(t, &from, &to)?,
        },
        Request::Listen {
            supervisor,
            extension,
            mode,
        } => Response::CallPlaced {
            uuid: core.listen(t, &supervisor, &extension, &mode)?,
        },
    })
}

/// The answer to a client's hello: the same protocol version, or a
/// refusal it can show ("upgrade dering").
fn hello(protocol: u32) -> Result<Response, ControlError> {
    if protocol != PROTOCOL {
        return Err(ControlError::IncompatibleVersion {
            pbxd: PROTOCOL,
            client: protocol,
        });
    }
    Ok(Response::Hello {
        protocol,
        pbxd: env!("CARGO_PKG_VERSION").into(),
    })
}

fn calls(core: &Core) -> Vec<CallView> {
    core.calls()
        .into_iter()
        .map(|c| CallView {
            uuid: c.parties.uuid,
            caller: c.parties.caller,
            caller_name: c.parties.caller_name,
            callee: c.parties.callee,
            callee_name: c.parties.callee_name,
            start_ms: c.parties.start_ms,
            answer_ms: c.parties.answer_ms,
            state: match c.state {
                crate::core::CallState::Ringing => CallState::Ringing,
                crate::core::CallState::Answered => CallState::Answered,
                crate::core::CallState::Ending => CallState::Ending,
                crate::core::CallState::Flow => CallState::Flow,
            },
            codec: c.codec,
            a_port: c.a_port,
            b_port: c.b_port,
        })
        .collect()
}

async fn udp_reader(sock: Arc<UdpSocket>, tx: mpsc::Sender<Input>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, addr)) => {
                let peer = Peer {
                    transport: Transport::Udp,
                    addr,
                };
                if tx
                    .send(Input::Packet {
                        peer,
                        data: buf[..n].to_vec(),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "UDP receive error"),
        }
    }
}

/// How long a write to a control client may take: a client that stops
/// reading its event stream loses it rather than holding a task forever.
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

async fn control_acceptor(listener: UnixListener, tx: mpsc::Sender<Input>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(control_connection(stream, tx.clone()));
    }
}

/// One control client: a request a line, one [`Reply`] line each, until
/// it subscribes (the connection then carries the event stream).
async fn control_connection(stream: tokio::net::UnixStream, tx: mpsc::Sender<Input>) {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Hello { protocol }) => hello(protocol),
            Ok(Request::Subscribe { from_seq }) => {
                let (otx, orx) = oneshot::channel();
                if tx
                    .send(Input::Subscribe {
                        from_seq,
                        reply: otx,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                match orx.await {
                    Ok(Ok(sub)) => {
                        stream_events(&mut wr, sub).await;
                        return;
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_) => return,
                }
            }
            Ok(req) => {
                let (otx, orx) = oneshot::channel();
                if tx.send(Input::Control(req, otx)).await.is_err() {
                    return;
                }
                let Ok(r) = orx.await else { return };
                r
            }
            Err(e) => Err(ControlError::BadRequest {
                message: e.to_string(),
            }),
        };
        if !write_line(&mut wr, &Reply::new(reply).line()).await {
            return;
        }
    }
}

/// Writes the subscription's reply, then its events until pbxd stops or
/// cuts the subscriber off (which it is told, if it still reads).
async fn stream_events(wr: &mut tokio::net::unix::OwnedWriteHalf, mut sub: Subscribed) {
    let first = Reply::new(Ok(Response::Subscribed {
        from_seq: sub.from_seq,
    }));
    if !write_line(wr, &first.line()).await {
        return;
    }
    while let Some(line) = sub.lines.recv().await {
        if !write_line(wr, &line).await {
            return;
        }
    }
    if sub.cut.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = write_line(wr, &Reply::new(Err(ControlError::TooSlow)).line()).await;
    }
}

async fn write_line(wr: &mut tokio::net::unix::OwnedWriteHalf, line: &str) -> bool {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    matches!(
        tokio::time::timeout(CONTROL_WRITE_TIMEOUT, wr.write_all(&buf)).await,
        Ok(Ok(()))
    )
}

/// The writer's callback for a record a response waits on: the core is
/// told the record is done with whatever the outcome, so the phone gets
/// its answer even when the database cannot take the record now (a full
/// disk: the writer holds it and commits it later, and says so in the
/// logs and the health reading; issue 17 §6).
fn committed(tx: mpsc::Sender<Input>, token: u64) -> dering_store::writer::Done {
    Box::new(move |r: Result<(), String>| {
        if let Err(e) = r {
            tracing::warn!(error = %e, token, "answering before the record is stored");
        }
        let _ = tx.blocking_send(Input::Committed(token));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record the database could not take (held by a full disk, or
    /// refused) still lets the response waiting on it go: the caller of
    /// an answered call hears the answer (issue 17 §6).
    #[test]
    fn the_response_goes_once_its_record_is_written_held_or_refused() {
        let (tx, mut rx) = mpsc::channel::<Input>(4);
        committed(tx.clone(), 7)(Ok(()));
        committed(tx.clone(), 8)(Err("held: database or disk is full".into()));
        committed(tx, 9)(Err("UNIQUE constraint failed".into()));
        for token in [7, 8, 9] {
            match rx.try_recv() {
                Ok(Input::Committed(t)) => assert_eq!(t, token),
                other => panic!("expected Committed({token}), got {:?}", other.is_ok()),
            }
        }
    }

    #[tokio::test]
    async fn any_port_pairs_udp_and_tcp_on_one_number() {
        let ip: std::net::IpAddr = [127, 0, 0, 1].into();
        for _ in 0..32 {
            let (udp, tcp) = bind_sip_udp_tcp(ip, 0, 0).await.unwrap();
            assert_eq!(
                udp.local_addr().unwrap().port(),
                tcp.local_addr().unwrap().port()
            );
        }
    }

    #[tokio::test]
    async fn a_configured_tcp_port_in_use_is_named_in_the_error() {
        let ip: std::net::IpAddr = [127, 0, 0, 1].into();
        let taken = std::net::TcpListener::bind((ip, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = bind_sip_udp_tcp(ip, 0, port).await.unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("binding TCP 127.0.0.1:{port}")),
            "{err:#}"
        );
    }
}
