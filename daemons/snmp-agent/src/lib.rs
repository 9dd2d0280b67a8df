//! The SNMP subagent (MON-1): serves the DERING-MIB through the system's
//! snmpd over AgentX (RFC 2741) and sends its notifications. snmpd owns
//! SNMP itself (v2c communities, v3 users, trap sinks); see
//! docs/snmp.md.
//!
//! The values come from [`dering_health`], like `/health` and `/metrics`.
//! The session is reopened whenever snmpd goes away.

pub mod alarms;
pub mod mib;
pub mod pdu;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentx::pdu::Type;
use dering_config::{AgentxAddr, Snmp};
use dering_health::{Scope, Snapshot, SystemProbe};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::alarms::Alarms;
use crate::mib::Mib;

/// How the agent is started.
#[derive(Debug, Clone)]
pub struct Options {
    pub snmp: Snmp,
    pub data_dir: PathBuf,
    /// The daemons this box runs (the agent adds webd and drops itself).
    pub expected: Vec<String>,
}

const SELF: &str = "snmp-agent";
/// How old a snapshot may be when a request comes.
const FRESH: Duration = Duration::from_secs(1);
/// How often alarms are looked for.
const WATCH: Duration = Duration::from_secs(2);

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(addr: &AgentxAddr) -> std::io::Result<Box<dyn Stream>> {
    Ok(match addr {
        AgentxAddr::Tcp(h, p) => Box::new(tokio::net::TcpStream::connect((h.as_str(), *p)).await?),
        AgentxAddr::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
    })
}

async fn read_pdu(s: &mut (impl AsyncRead + Unpin)) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; pdu::HEADER_LEN];
    s.read_exact(&mut buf).await?;
    let len = pdu::frame_len(&buf)?;
    anyhow::ensure!(len <= 1 << 20, "AgentX PDU of {len} bytes refused");
    buf.resize(len, 0);
    s.read_exact(&mut buf[pdu::HEADER_LEN..]).await?;
    Ok(buf)
}

struct Agent {
    scope: Scope,
    probe: SystemProbe,
    snapshot: Option<(Instant, Snapshot)>,
    alarms: Alarms,
    started: Instant,
    started_ms: i64,
    /// Power events after this one are still to be notified.
    power_seen: i64,
    writer: dering_store::writer::Writer,
    store: dering_store::Store,
}

impl Agent {
    async fn snapshot(&mut self) -> &Snapshot {
        let stale = self
            .snapshot
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= FRESH);
        if stale {
            let s = dering_health::collect(&self.scope, &mut self.probe).await;
            self.snapshot = Some((Instant::now(), s));
        }
        match &self.snapshot {
            Some((_, s)) => s,
            None => unreachable!("just filled"),
        }
    }

    /// The notifications due now: new power events and edges since the
    /// last look.
    async fn watch(&mut self) -> Vec<alarms::Notification> {
        let power = match self.store.power_events(self.power_seen) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "power events unreadable");
                Vec::new()
            }
        };
        if let Some((id, _)) = power.last() {
            self.power_seen = *id;
        }
        let power: Vec<_> = power.into_iter().map(|(_, e)| e).collect();
        self.snapshot = None;
        let snap = self.snapshot().await.clone();
        self.alarms.update(&snap, &power, self.started.elapsed())
    }

    fn heartbeat(&self, ready: bool, reason: Option<String>, stopped: bool) {
        let _ = self.writer.submit(
            dering_store::Op::Heartbeat(dering_store::DaemonStatus {
                daemon: SELF.into(),
                pid: std::process::id(),
                started_ms: self.started_ms,
                heartbeat_ms: dering_health::now_ms(),
                ready,
                reasons: reason.into_iter().collect(),
                state: "{}".into(),
                stopped,
            }),
            None,
        );
    }
}

/// Runs until `shutdown` resolves, reconnecting to snmpd as needed.
pub async fn run(
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = AgentxAddr::parse(&opts.snmp.agentx).ok_or_else(|| {
        anyhow::anyhow!(
            "snmp.agentx {:?} is not an AgentX address",
            opts.snmp.agentx
        )
    })?;
    std::fs::create_dir_all(&opts.data_dir)?;
    let db = opts.data_dir.join("dering.db");
    let (writer, _t) = dering_store::writer::Writer::spawn(dering_store::Store::open(&db)?)?;
    let expected = opts.expected;
    let now_ms = dering_health::now_ms();
    let mut agent = Agent {
        scope: Scope {
            data_dir: opts.data_dir.clone(),
            expected,
            self_name: SELF.into(),
        },
        probe: SystemProbe::new(),
        snapshot: None,
        alarms: Alarms::new(
            opts.snmp.disk_alarm_percent,
            opts.snmp.service_level_threshold,
        ),
        started: Instant::now(),
        started_ms: now_ms,
        power_seen: 0,
        writer,
        store: dering_store::Store::open(&db)?,
    };
    // Events from before this start were the previous run's to send.
    agent.power_seen = agent.store.last_power_event_id()?;
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_secs(1);
    dering_daemon::notify::ready("snmp-agent started");
    loop {
        dering_daemon::notify::pulse();
        agent.heartbeat(false, Some("connecting to snmpd".into()), false);
        match session(&addr, &mut agent, &mut shutdown).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, agentx = %opts.snmp.agentx, "AgentX session ended; retrying");
                agent.heartbeat(false, Some(format!("AgentX: {e}")), false);
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
    agent.heartbeat(false, None, true);
    Ok(())
}

/// One AgentX session: open, register, then serve until snmpd closes it
/// (an error) or we are told to stop (Ok).
async fn session(
    addr: &AgentxAddr,
    agent: &mut Agent,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> anyhow::Result<()> {
    let mut s = tokio::select! {
        _ = &mut *shutdown => return Ok(()),
        s = tokio::time::timeout(Duration::from_secs(5), connect(addr)) => s??,
    };
    let mut packet = 1u32;
    s.write_all(&pdu::open(
        "Dering PBX appliance",
        Duration::from_secs(5),
        packet,
    )?)
    .await?;
    let buf = tokio::time::timeout(Duration::from_secs(5), read_pdu(&mut s)).await??;
    let (h, ok) = pdu::response(&buf)?;
    anyhow::ensure!(ok, "snmpd refused the AgentX session");
    let sid = h.session_id;
    packet += 1;
    s.write_all(&pdu::register(sid, packet, mib::DERING)?)
        .await?;
    let buf = tokio::time::timeout(Duration::from_secs(5), read_pdu(&mut s)).await??;
    let (_, ok) = pdu::response(&buf)?;
    anyhow::ensure!(ok, "snmpd refused to register the Dering subtree");
    tracing::info!(
        session = sid,
        "DERING-MIB registered with snmpd over AgentX"
    );
    agent.heartbeat(true, None, false);
    let mut watch = tokio::time::interval(WATCH);
    let mut beat = tokio::time::interval(Duration::from_secs(5));
    let (mut rd, mut wr) = tokio::io::split(s);
    loop {
        dering_daemon::notify::pulse();
        tokio::select! {
            _ = &mut *shutdown => {
                // What happened just before the stop (the power events of
                // a shutdown) still leaves.
                for n in agent.watch().await {
                    packet += 1;
                    let _ = wr.write_all(&pdu::notify(sid, packet, agent.started.elapsed(), &n.oid, &n.objects)?).await;
                }
                packet += 1;
                let _ = wr.write_all(&pdu::close(sid, packet)?).await;
                return Ok(());
            }
            _ = beat.tick() => agent.heartbeat(true, None, false),
            _ = watch.tick() => {
                for n in agent.watch().await {
                    packet += 1;
                    tracing::info!(oid = ?n.oid, "sending notification");
                    wr.write_all(&pdu::notify(sid, packet, agent.started.elapsed(), &n.oid, &n.objects)?).await?;
                }
            }
            buf = read_pdu(&mut rd) => {
                let buf = buf?;
                match pdu::pdu_type(&buf)? {
                    Type::Response => {
                        let (h, ok) = pdu::response(&buf)?;
                        if !ok {
                            tracing::warn!(packet = h.packet_id, "snmpd refused a PDU");
                        }
                    }
                    Type::Close => anyhow::bail!("snmpd closed the session"),
                    _ => {
                        let uptime = agent.started.elapsed();
                        let mib = Mib::from_snapshot(agent.snapshot().await);
                        if let Some(reply) = pdu::answer(&buf, &mib, uptime)? {
                            wr.write_all(&reply).await?;
                        }
                    }
                }
            }
        }
    }
}
