//! The shell around the gateway: the spans opened through the board
//! traits (a DAHDI card, or the simulated board whose D-channel's far end
//! is a socket), each D-channel's Q.921 data link, the analog lines' FXO
//! ports, the SIP socket towards pbxd, and each B-channel's and line's
//! RTP socket on loopback.
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
use dering_board::sim::{
    connect_seqpacket, CoLine, E1Line, FxoSignalling, SimClock, SimE1, SimFxo,
};
use dering_board::{Alarms, AnalogPort, BChannel, ChannelEvent, DChannel, Incoming, Span};
use dering_config::{LineConfig, LineDevice, LineStart, SpanConfig, SpanDevice, SpanSide, Trunkd};
use dering_fxo::Action;
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

/// One opened analog line, as the loop drives it.
pub struct LineIo {
    pub port: Box<dyn AnalogPort + Send>,
    /// A simulated port's clock, which the loop keeps at its own time so
    /// the CO's ring cadences run in real time.
    pub clock: Option<SimClock>,
}

impl std::fmt::Debug for LineIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineIo")
            .field("channo", &self.port.channo())
            .field("simulated", &self.clock.is_some())
            .finish()
    }
}

/// Opens the line `cfg` describes. A simulated line also gives its CO's
/// end, on which a test plays the exchange.
pub fn open_line(cfg: &LineConfig) -> anyhow::Result<(LineIo, Option<CoLine>)> {
    match cfg.device {
        LineDevice::Simulated => {
            let signalling = match cfg.start {
                LineStart::Kewlstart => FxoSignalling::Kewlstart,
                LineStart::LoopStart => FxoSignalling::LoopStart,
            };
            let clock = SimClock::new();
            let SimFxo { port, co } = SimFxo::new(0, signalling, clock.clone());
            let io = LineIo {
                port: Box::new(port),
                clock: Some(clock),
            };
            Ok((io, Some(co)))
        }
        LineDevice::Dahdi { channel } => {
            let port = dering_board::dahdi::DahdiAnalogPort::open(channel)
                .with_context(|| format!("line {}: channel {channel}", cfg.name))?;
            let io = LineIo {
                port: Box::new(port),
                clock: None,
            };
            Ok((io, None))
        }
    }
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

struct LineLive {
    name: String,
    io: LineIo,
    media: Media,
    /// The port failed: the line is left alone (and blocked).
    dead: bool,
}

/// How often a span whose link is down tries to bring it up.
const ESTABLISH_EVERY: Duration = Duration::from_secs(2);
/// One B-channel block.
const BLOCK_TIME: Duration = Duration::from_millis(20);

/// Runs trunkd on `spans` (in the order of `cfg.spans`) and no line
/// until `stop`. `ready` is called once every socket is bound.
pub fn run(
    cfg: &Trunkd,
    spans: Vec<SpanIo>,
    seed: u64,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    serve(cfg, spans, Vec::new(), seed, stop, ready, None)
}

/// Runs trunkd on `spans` and `lines` (in the order of `cfg.spans` and
/// `cfg.lines`) until `stop`. `ready` is called once every socket is
/// bound; `status`, when given, is told of the spans and lines each round
/// they change (decision 0024).
pub fn serve(
    cfg: &Trunkd,
    spans: Vec<SpanIo>,
    lines: Vec<LineIo>,
    seed: u64,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(),
    status: Option<Reporter>,
) -> anyhow::Result<()> {
    let sip = UdpSocket::bind(cfg.sip).with_context(|| format!("bind SIP {}", cfg.sip))?;
    sip.set_nonblocking(true)?;
    let now = Instant::now();
    let start = now;
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
    let mut lines_live = Vec::with_capacity(lines.len());
    for (i, (io, lc)) in lines.into_iter().zip(&cfg.lines).enumerate() {
        let port = gw.line_rtp_port(i).unwrap_or(0);
        let addr = SocketAddr::new(cfg.sip.ip(), port);
        let sock = UdpSocket::bind(addr).with_context(|| format!("bind RTP {addr}"))?;
        sock.set_nonblocking(true)?;
        lines_live.push(LineLive {
            name: lc.name.clone(),
            io,
            media: Media {
                sock,
                remote: None,
                out: RtpOut::new(seed ^ (u64::from(port) << 40)),
                regroup: Regroup::default(),
            },
            dead: false,
        });
    }
    tracing::info!(
        sip = %cfg.sip,
        pbx = %cfg.pbx,
        spans = live.len(),
        lines = lines_live.len(),
        "trunkd serving"
    );
    ready();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        dering_daemon::notify::pulse();
        let now = Instant::now();
        for (i, s) in live.iter_mut().enumerate() {
            drive_span(now, i, s, &mut gw);
        }
        for (i, l) in lines_live.iter_mut().enumerate() {
            drive_line(now, now - start, i, l, &mut gw);
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
            carry(now, o, &mut live, &mut lines_live, &sip);
        }
        for s in live.iter_mut().filter(|s| !s.dead) {
            while let Some(f) = s.link.poll_transmit() {
                if let Err(e) = s.io.dchannel.send(&f) {
                    tracing::warn!(span = s.name, error = %e, "D-channel send");
                }
            }
            move_audio(s, &mut buf);
        }
        for l in lines_live.iter_mut().filter(|l| !l.dead) {
            line_rtp_in(l, &mut buf);
        }
        if let Some(r) = &status {
            r.offer(reports(cfg, &live, &lines_live, &gw));
        }
        wait(now, &live, &lines_live, &sip, &mut gw);
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

/// One round of a line: a simulated port's clock moved to `elapsed`, the
/// port's events and audio to the gateway, its audio to pbxd while a call
/// has media.
fn drive_line(now: Instant, elapsed: Duration, i: usize, l: &mut LineLive, gw: &mut Gateway) {
    if l.dead {
        return;
    }
    if let Some(c) = &l.io.clock {
        c.advance(elapsed.saturating_sub(c.now()));
    }
    loop {
        match l.io.port.recv() {
            Ok(Some(Incoming::Event(e))) => {
                tracing::debug!(line = l.name, event = ?e, "FXO event");
                gw.line_event(now, i, e);
            }
            Ok(Some(Incoming::Data(block))) => {
                gw.line_audio(now, i, &block);
                if let Some(r) = l.media.remote {
                    let _ = l.media.sock.send_to(&l.media.out.packet(&block), r);
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!(line = l.name, error = %e, "FXO port failed; line out of service");
                l.dead = true;
                gw.line_event(now, i, ChannelEvent::Alarm);
                return;
            }
        }
    }
}

/// pbxd's RTP for a line, regrouped into blocks for its port.
fn line_rtp_in(l: &mut LineLive, buf: &mut [u8]) {
    loop {
        match l.media.sock.recv_from(buf) {
            Ok((n, from)) => {
                if l.media.remote.is_none_or(|r| r.ip() != from.ip()) {
                    continue;
                }
                if let Some(p) = pcma_payload(&buf[..n]) {
                    for block in l.media.regroup.push(p) {
                        if let Err(e) = l.io.port.send(&block) {
                            tracing::debug!(line = l.name, error = %e, "FXO write");
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Every span's and line's status report, in the configuration's order.
fn reports(
    cfg: &Trunkd,
    live: &[SpanLive],
    lines: &[LineLive],
    gw: &Gateway,
) -> Vec<dering_control::SpanReport> {
    let spans = live.iter().zip(&cfg.spans).enumerate().map(|(i, (s, sc))| {
        let states = sc.channels.iter().filter_map(|&ts| gw.channel_state(i, ts));
        crate::status::span_report(&s.name, sc.side, s.alarms, s.up && !s.dead, states)
    });
    let lines = lines
        .iter()
        .enumerate()
        .map(|(i, l)| crate::status::line_report(&l.name, l.dead, gw.line_state(i)));
    spans.chain(lines).collect()
}

/// Carries one output of the gateway.
fn carry(now: Instant, o: Output, live: &mut [SpanLive], lines: &mut [LineLive], sip: &UdpSocket) {
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
        Output::Line { line, action } => {
            let Some(l) = lines.get_mut(line).filter(|l| !l.dead) else {
                return;
            };
            let r = match action {
                Action::Seize => l.io.port.seize(),
                Action::Release => l.io.port.release(),
                Action::Send(block) => l.io.port.send(&block),
            };
            if let Err(e) = r {
                tracing::warn!(line = l.name, error = %e, "FXO port");
            }
        }
        Output::LineMediaStart { line, remote, .. } => {
            if let Some(l) = lines.get_mut(line) {
                l.media.remote = Some(remote);
            }
        }
        Output::LineMediaStop { line } => {
            if let Some(l) = lines.get_mut(line) {
                l.media.remote = None;
                l.media.regroup = Regroup::default();
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
fn wait(now: Instant, live: &[SpanLive], lines: &[LineLive], sip: &UdpSocket, gw: &mut Gateway) {
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
    fds.extend(
        lines
            .iter()
            .filter(|l| !l.dead && l.media.remote.is_some())
            .map(|l| l.media.sock.as_fd()),
    );
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
