//! The shell around the gateway: the spans opened through the board
//! traits (a DAHDI card, or the simulated board whose D-channel's far end
//! is a socket), each D-channel's Q.921 data link, the SIP socket towards
//! pbxd, and each B-channel's RTP socket on loopback.
//!
//! One thread runs it all: it waits on the D-channels and the sockets for
//! at most one 20 ms block, so audio moves every block time and
//! signalling at once. A span's alarm is read from the span each round
//! (and a D-channel's ALARM/NOALARM wakes the loop).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dering_board::sim::{connect_seqpacket, E1Line, SimE1};
use dering_board::{Alarms, BChannel, ChannelEvent, DChannel, Incoming, Span};
use dering_config::{SpanConfig, SpanDevice, SpanSide, Trunkd};
use dering_isdn::q921::{self, Link, Role};
use dering_isdn::q931::Timers;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::gateway::{Gateway, Output};
use crate::rtp::{pcma_payload, Regroup, RtpOut};
use crate::status::Reporter;

/// A D-channel the loop can wait on.
pub trait WaitableDChannel: DChannel + AsFd + Send {}
impl<T: DChannel + AsFd + Send> WaitableDChannel for T {}

/// One opened span, as the loop drives it.
pub struct SpanIo {
    pub span: Box<dyn Span + Send>,
    pub dchannel: Box<dyn WaitableDChannel>,
    /// The B-channels in service, by timeslot.
    pub bchannels: Vec<(u8, Box<dyn BChannel + Send>)>,
}

impl std::fmt::Debug for SpanIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanIo")
            .field("span", &self.span.number())
            .field("dchannel", &self.dchannel.channo())
            .field("bchannels", &self.bchannels.len())
            .finish()
    }
}

/// Opens the span `cfg` describes. A simulated span also gives its line,
/// the far end's handle (B-channel audio, faults), for tests.
pub fn open_span(cfg: &SpanConfig) -> anyhow::Result<(SpanIo, Option<E1Line>)> {
    match &cfg.device {
        SpanDevice::Simulated { socket } => {
            let far = connect_seqpacket(socket)
                .with_context(|| format!("span {}: far end {}", cfg.name, socket.display()))?;
            let e1 = SimE1::new(cfg.span, far)?;
            Ok(sim_span(e1, &cfg.channels))
        }
        SpanDevice::Dahdi => {
            use dering_board::dahdi::{DahdiBChannel, DahdiSpan};
            let span = DahdiSpan::open(cfg.span)?;
            let base = cfg.span.saturating_sub(1).saturating_mul(31);
            let dchannel = span.open_dchannel(base.saturating_add(16))?;
            let mut bchannels: Vec<(u8, Box<dyn BChannel + Send>)> = Vec::new();
            for &ts in &cfg.channels {
                let b = DahdiBChannel::open(base.saturating_add(u32::from(ts)))
                    .with_context(|| format!("span {} channel {ts}", cfg.name))?;
                bchannels.push((ts, Box::new(b)));
            }
            Ok((
                SpanIo {
                    span: Box::new(span),
                    dchannel: Box::new(dchannel),
                    bchannels,
                },
                None,
            ))
        }
    }
}

/// A simulated span's parts for the loop, its B-channels limited to
/// `channels`, with its line.
pub fn sim_span(e1: SimE1, channels: &[u8]) -> (SpanIo, Option<E1Line>) {
    let SimE1 {
        span,
        dchannel,
        bchannels,
        line,
    } = e1;
    let bchannels = bchannels
        .into_iter()
        .filter_map(|b| {
            let ts = u8::try_from(b.timeslot()).ok()?;
            channels
                .contains(&ts)
                .then(|| (ts, Box::new(b) as Box<dyn BChannel + Send>))
        })
        .collect();
    (
        SpanIo {
            span: Box::new(span),
            dchannel: Box::new(dchannel),
            bchannels,
        },
        Some(line),
    )
}

/// A B-channel's stream while a call uses it.
#[derive(Debug)]
struct Media {
    sock: UdpSocket,
    remote: Option<SocketAddr>,
    out: RtpOut,
    regroup: Regroup,
}

struct SpanLive {
    name: String,
    io: SpanIo,
    link: Link,
    up: bool,
    alarm: bool,
    /// The board's alarm bits, for the status report.
    alarms: Alarms,
    /// The D-channel failed (the far end of a simulated one went away):
    /// the span is left alone.
    dead: bool,
    next_establish: Instant,
    media: HashMap<u8, Media>,
}

/// How often a span whose link is down tries to bring it up.
const ESTABLISH_EVERY: Duration = Duration::from_secs(2);
/// One B-channel block.
const BLOCK_TIME: Duration = Duration::from_millis(20);

/// Runs trunkd on `spans` (in the order of `cfg.spans`) until `stop`.
/// `ready` is called once every socket is bound.
pub fn run(
    cfg: &Trunkd,
    spans: Vec<SpanIo>,
    seed: u64,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    run_with(cfg, spans, seed, stop, ready, None)
}

/// [`run`], telling pbxd of the spans through `status` each round it
/// changes (decision 0024).
pub fn run_with(
    cfg: &Trunkd,
    spans: Vec<SpanIo>,
    seed: u64,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(),
    status: Option<Reporter>,
) -> anyhow::Result<()> {
    let sip = UdpSocket::bind(cfg.sip).with_context(|| format!("bind SIP {}", cfg.sip))?;
    sip.set_nonblocking(true)?;
    let now = Instant::now();
    let mut gw = Gateway::new(cfg, Timers::default(), seed);
    let mut live = Vec::with_capacity(spans.len());
    for (i, (io, sc)) in spans.into_iter().zip(&cfg.spans).enumerate() {
        let mut media = HashMap::new();
        for &ts in &sc.channels {
            let port = gw.rtp_port(i, ts).unwrap_or(0);
            let addr = SocketAddr::new(cfg.sip.ip(), port);
            let sock = UdpSocket::bind(addr).with_context(|| format!("bind RTP {addr}"))?;
            sock.set_nonblocking(true)?;
            let stream = seed ^ (u64::from(port) << 40);
            media.insert(
                ts,
                Media {
                    sock,
                    remote: None,
                    out: RtpOut::new(stream),
                    regroup: Regroup::default(),
                },
            );
        }
        let role = match sc.side {
            SpanSide::User => Role::User,
            SpanSide::Network => Role::Network,
        };
        let mut link = Link::new(role, q921::Config::default(), now);
        link.establish(now);
        live.push(SpanLive {
            name: sc.name.clone(),
            io,
            link,
            up: false,
            alarm: false,
            alarms: Alarms::NONE,
            dead: false,
            next_establish: now + ESTABLISH_EVERY,
            media,
        });
    }
    tracing::info!(sip = %cfg.sip, pbx = %cfg.pbx, spans = live.len(), "trunkd serving");
    ready();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        dering_daemon::notify::pulse();
        let now = Instant::now();
        for (i, s) in live.iter_mut().enumerate() {
            drive_span(now, i, s, &mut gw);
        }
        loop {
            match sip.recv_from(&mut buf) {
                Ok((n, from)) => gw.handle_sip(now, from, &buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // An ICMP error for an earlier datagram: not fatal.
                Err(e) => {
                    tracing::debug!(error = %e, "SIP socket");
                    break;
                }
            }
        }
        if gw.poll_timeout().is_some_and(|t| t <= now) {
            gw.handle_timeout(now);
        }
        while let Some(o) = gw.poll_output() {
            carry(now, o, &mut live, &sip);
        }
        for s in live.iter_mut().filter(|s| !s.dead) {
            while let Some(f) = s.link.poll_transmit() {
                if let Err(e) = s.io.dchannel.send(&f) {
                    tracing::warn!(span = s.name, error = %e, "D-channel send");
                }
            }
            move_audio(s, &mut buf);
        }
        if let Some(r) = &status {
            r.offer(reports(cfg, &live, &gw));
        }
        wait(now, &live, &sip, &mut gw);
    }
    dering_daemon::notify::stopping();
    Ok(())
}

/// One round of a span: its alarms, the D-channel's frames and events,
/// the link's timers and what it delivered.
fn drive_span(now: Instant, i: usize, s: &mut SpanLive, gw: &mut Gateway) {
    if s.dead {
        return;
    }
    match s.io.span.status() {
        Ok(st) => {
            s.alarms = st.alarms;
            let alarm = !st.alarms.is_clear();
            if alarm != s.alarm {
                s.alarm = alarm;
                tracing::warn!(span = s.name, alarms = ?st.alarms, "span alarm changed");
                gw.span_alarm(now, i, alarm);
            }
        }
        Err(e) => tracing::warn!(span = s.name, error = %e, "span status"),
    }
    loop {
        match s.io.dchannel.recv() {
            Ok(Some(Incoming::Data(f))) => s.link.handle_frame(now, &f),
            Ok(Some(Incoming::Event(e))) => {
                tracing::debug!(span = s.name, event = ?e, "D-channel event");
                if e == ChannelEvent::NoAlarm {
                    s.next_establish = now;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!(span = s.name, error = %e, "D-channel failed; span out of service");
                s.dead = true;
                gw.span_alarm(now, i, true);
                return;
            }
        }
    }
    if s.link.poll_timeout().is_some_and(|t| t <= now) {
        s.link.handle_timeout(now);
    }
    let mut reestablished = false;
    while let Some(e) = s.link.poll_event() {
        match e {
            q921::Event::Data(d) => gw.handle_q931(now, i, &d),
            q921::Event::Established => reestablished = true,
            q921::Event::Error(err) => tracing::debug!(span = s.name, %err, "Q.921"),
            _ => {}
        }
    }
    let up = s.link.is_established();
    if up != s.up {
        s.up = up;
        tracing::info!(span = s.name, up, "D-channel link");
        if up {
            gw.link_up(now, i);
        } else {
            gw.link_down(now, i);
        }
    } else if up && reestablished {
        // The peer reset the link (its SABME): I-frames in flight may be
        // lost, a RESTART among them.
        gw.link_up(now, i);
    }
    if !up && !s.alarm && now >= s.next_establish {
        s.next_establish = now + ESTABLISH_EVERY;
        s.link.establish(now);
    }
}

/// Every span's status report, in the configuration's order.
fn reports(cfg: &Trunkd, live: &[SpanLive], gw: &Gateway) -> Vec<dering_control::SpanReport> {
    live.iter()
        .zip(&cfg.spans)
        .enumerate()
        .map(|(i, (s, sc))| {
            let states = sc.channels.iter().filter_map(|&ts| gw.channel_state(i, ts));
            crate::status::span_report(&s.name, sc.side, s.alarms, s.up && !s.dead, states)
        })
        .collect()
}

/// Carries one output of the gateway.
fn carry(now: Instant, o: Output, live: &mut [SpanLive], sip: &UdpSocket) {
    match o {
        Output::Q931 { span, message } => {
            if let Some(s) = live.get_mut(span) {
                if let Err(e) = s.link.send(now, message.encode()) {
                    tracing::warn!(span = s.name, error = %e, "Q.931 message not sent");
                }
            }
        }
        Output::Sip { to, data } => {
            if let Err(e) = sip.send_to(&data, to) {
                tracing::warn!(%to, error = %e, "SIP send");
            }
        }
        Output::MediaStart {
            span,
            channel,
            remote,
            ..
        } => {
            if let Some(m) = live.get_mut(span).and_then(|s| s.media.get_mut(&channel)) {
                m.remote = Some(remote);
            }
        }
        Output::MediaStop { span, channel } => {
            if let Some(m) = live.get_mut(span).and_then(|s| s.media.get_mut(&channel)) {
                m.remote = None;
                m.regroup = Regroup::default();
            }
        }
    }
}

/// B-channel blocks to RTP and RTP to blocks, for every channel; audio of
/// a channel without a call is read and dropped, so nothing piles up.
fn move_audio(s: &mut SpanLive, buf: &mut [u8]) {
    for (ts, b) in &mut s.io.bchannels {
        let Some(m) = s.media.get_mut(ts) else {
            continue;
        };
        loop {
            match b.recv() {
                Ok(Some(Incoming::Data(block))) => {
                    if let Some(r) = m.remote {
                        let _ = m.sock.send_to(&m.out.packet(&block), r);
                    }
                }
                Ok(Some(Incoming::Event(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(span = s.name, channel = *ts, error = %e, "B-channel read");
                    break;
                }
            }
        }
        loop {
            match m.sock.recv_from(buf) {
                Ok((n, from)) => {
                    if m.remote.is_none_or(|r| r.ip() != from.ip()) {
                        continue;
                    }
                    if let Some(p) = pcma_payload(&buf[..n]) {
                        for block in m.regroup.push(p) {
                            let _ = b.send(&block);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }
}

/// Waits for a D-channel, the SIP socket or an active RTP socket, at most
/// one block time and never past the next timer.
fn wait(now: Instant, live: &[SpanLive], sip: &UdpSocket, gw: &mut Gateway) {
    let mut until = now + BLOCK_TIME;
    if let Some(t) = gw.poll_timeout() {
        until = until.min(t);
    }
    for s in live {
        if let Some(t) = s.link.poll_timeout() {
            until = until.min(t);
        }
    }
    let mut fds: Vec<BorrowedFd<'_>> = vec![sip.as_fd()];
    for s in live.iter().filter(|s| !s.dead) {
        fds.push(s.io.dchannel.as_fd());
        fds.extend(
            s.media
                .values()
                .filter(|m| m.remote.is_some())
                .map(|m| m.sock.as_fd()),
        );
    }
    let mut polls: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let ms = until.saturating_duration_since(Instant::now()).as_millis();
    let timeout = PollTimeout::from(ms.min(20) as u16);
    if let Err(e) = poll(&mut polls, timeout) {
        tracing::debug!(error = %e, fds = fds.len(), "poll");
    }
}
