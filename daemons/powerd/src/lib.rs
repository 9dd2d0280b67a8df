//! powerd: follows the UPS through upsd (NUT) and carries out the shutdown
//! order that [`dering_power::Policy`] decides. This crate is the shell:
//! the upsd connection, pbxd's control socket, the database, the commands.

mod steps;
mod ups;

use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dering_config::Power;
use dering_power::{Output, Phase, Policy, Settings, Step};
use dering_store::writer::Writer;
use dering_store::{DaemonStatus, Op, PowerEventRow, Store};
use tokio::sync::mpsc;

pub use steps::{stop_command, StopOthers};

/// How powerd is started.
#[derive(Debug, Clone)]
pub struct Options {
    pub power: Power,
    pub data_dir: PathBuf,
}

/// How often powerd writes its heartbeat row.
const HEARTBEAT: Duration = Duration::from_secs(5);

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The settings the policy takes from `[power]`.
pub fn settings(p: &Power) -> Settings {
    Settings {
        shutdown_runtime: Duration::from_secs(u64::from(p.shutdown_runtime_seconds)),
        grace: Duration::from_secs(u64::from(p.grace_seconds)),
        required_runtime: Duration::from_secs(u64::from(p.required_runtime_hours) * 3600),
        step_timeout: Duration::from_secs(30),
    }
}

/// Runs until `shutdown` resolves or the power-off step has run. Returns
/// the phase it ended in ([`Phase::Off`] after a power-off).
pub async fn run(
    opts: Options,
    stop_others: StopOthers,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Phase> {
    std::fs::create_dir_all(&opts.data_dir)?;
    let store = Store::open(&opts.data_dir.join("dering.db"))?;
    let (writer, _thread) = Writer::spawn(store)?;
    let mut policy = Policy::new(settings(&opts.power));
    let mut ups = ups::Ups::new(&opts.power);
    let started_ms = wall_ms();
    let poll = Duration::from_secs(u64::from(opts.power.poll_seconds.max(1)));
    let mut poll_tick = tokio::time::interval(poll);
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let (done_tx, mut done_rx) = mpsc::channel::<(Step, Result<(), String>)>(16);
    let runner = steps::Runner::new(opts.data_dir.clone(), opts.power.clone(), stop_others);
    tokio::pin!(shutdown);
    dering_daemon::notify::ready("powerd watching the UPS");
    let mut ready_logged = false;
    let mut last_key = None;
    loop {
        dering_daemon::notify::pulse();
        let deadline = policy.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep: Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match deadline {
            Some(d) => Box::pin(tokio::time::sleep_until(d)),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = sleep => policy.handle_timeout(Instant::now()),
            _ = poll_tick.tick() => {
                match ups.read().await {
                    Ok(r) => {
                        if !ready_logged {
                            tracing::info!(ups = %opts.power.ups, status = %r.status, "UPS watched");
                            ready_logged = true;
                        }
                        policy.handle_reading(Instant::now(), r)
                    }
                    Err(e) => policy.handle_unreachable(Instant::now(), &e.to_string()),
                }
                if policy.phase() == Phase::Draining {
                    if let Some(n) = steps::active_calls(&opts.data_dir).await {
                        policy.handle_active_calls(Instant::now(), n);
                    }
                }
            }
            _ = heartbeat.tick() => {
                let _ = writer.submit(heartbeat_op(&policy, started_ms, false), None);
            }
            Some((step, result)) = done_rx.recv() => {
                policy.handle_step_done(Instant::now(), step, result);
            }
        }
        // Whether readiness or the UPS status moved since the last row.
        let key = {
            let snap = policy.snapshot(Instant::now());
            (
                snap.reachable,
                snap.reading.map(|r| r.status).unwrap_or_default(),
                snap.problems,
            )
        };
        let mut changed = last_key.as_ref() != Some(&key);
        last_key = Some(key);
        while let Some(out) = policy.poll_output() {
            match out {
                Output::Event(e) => {
                    changed = true;
                    let snap = policy.snapshot(Instant::now());
                    let row = PowerEventRow {
                        at_ms: wall_ms(),
                        kind: e.kind.as_str().into(),
                        alarm: e.kind.is_alarm(),
                        detail: e.detail,
                        status: snap
                            .reading
                            .as_ref()
                            .and_then(|r| serde_json::to_string(r).ok()),
                    };
                    if row.alarm {
                        tracing::warn!(kind = %row.kind, detail = %row.detail, "power alarm");
                    } else {
                        tracing::info!(kind = %row.kind, detail = %row.detail, "power event");
                    }
                    // Stored first (durably), then published.
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let done = Box::new(move |r: Result<(), String>| {
                        let _ = tx.send(r);
                    });
                    if writer
                        .submit(Op::PowerEvent(row.clone()), Some(done))
                        .is_ok()
                    {
                        if let Ok(Err(e)) = rx.await {
                            tracing::error!(error = %e, "power event not stored");
                        }
                    }
                    steps::publish(&opts.data_dir, row).await;
                }
                Output::Step(step) => runner.spawn(step, done_tx.clone()),
            }
        }
        // /health and the SNMP agent read the UPS from this row: a change
        // shows there at once, not at the next heartbeat.
        if changed {
            let _ = writer.submit(heartbeat_op(&policy, started_ms, false), None);
        }
        if policy.phase() == Phase::Off {
            break;
        }
    }
    let phase = policy.phase();
    dering_daemon::notify::stopping();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done = Box::new(move |_r: Result<(), String>| {
        let _ = tx.send(());
    });
    if writer
        .submit(heartbeat_op(&policy, started_ms, true), Some(done))
        .is_ok()
    {
        let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
    }
    Ok(phase)
}

fn heartbeat_op(policy: &Policy, started_ms: i64, stopped: bool) -> Op {
    let snap = policy.snapshot(Instant::now());
    Op::Heartbeat(DaemonStatus {
        daemon: "powerd".into(),
        pid: std::process::id(),
        started_ms,
        heartbeat_ms: wall_ms(),
        ready: snap.reachable == Some(true) && !stopped,
        reasons: snap.problems.clone(),
        state: serde_json::to_string(&snap).unwrap_or_default(),
        stopped,
    })
}
