//! One view of the whole box, collected the same way for `/health`,
//! `/metrics` (webd) and the SNMP agent, so the three never disagree.
//!
//! Sources: pbxd's control socket (live counters; pbxd answering is the
//! proof it lives), each daemon's heartbeat row in SQLite (a daemon that
//! cannot answer still has its last word there), call records for
//! "today" (in WIB), powerd's last UPS reading and the system (`sysinfo`).

mod system;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dering_control::{client, PbxStatus, Request, Response};
/// The trunk, span, queue and agent views as pbxd gives them, for the
/// snapshot's readers.
pub use dering_control::{
    AgentView, QueueView, SpanAlarm, SpanView, TrunkHealth, TrunkKind, TrunkView,
};
use dering_store::Store;
use serde::Serialize;

pub use system::{SystemProbe, SystemStats};

/// Sample views for the tests of the snapshot's readers.
#[cfg(feature = "testing")]
pub mod testing {
    use dering_acd::{AgentState, QueueStats, Strategy};
    use dering_control::{AgentView, QueueView};

    /// Queue `name` with `waiting` callers, who has waited longest 42.7 s,
    /// 3 agents logged in and 1 ready; today `offered` calls, `within`
    /// of them answered within the threshold and the rest abandoned.
    pub fn queue(name: &str, waiting: usize, offered: u64, within: u64) -> QueueView {
        let today = QueueStats {
            offered,
            answered: within,
            answered_within_threshold: within,
            abandoned: offered.saturating_sub(within),
            ..QueueStats::default()
        };
        QueueView {
            queue: name.into(),
            strategy: Strategy::LongestIdle,
            waiting,
            longest_wait_ms: 42_700,
            agents_logged_in: 3,
            agents_ready: 1,
            service_level: today.service_level(),
            today,
        }
    }

    /// Agent `id` (named the same, at no phone) in `state`.
    pub fn agent(id: &str, state: AgentState) -> AgentView {
        AgentView {
            agent: id.into(),
            name: id.into(),
            extension: None,
            state,
            since_ms: 0,
            calls: 0,
        }
    }
}

/// How pbxd's heartbeat reason starts when a failed write (a full disk)
/// stopped recordings: `/health` lists it among the warnings.
pub const RECORDING_STOPPED: &str = "recording stopped:";

/// A heartbeat older than this means the daemon is gone.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// Western Indonesia Time (UTC+7, no daylight saving): "today" for the box.
pub const WIB_OFFSET_MS: i64 = 7 * 3600 * 1000;

/// The start of the WIB day that contains `ms` (milliseconds since 1970).
pub fn wib_day_start_ms(ms: i64) -> i64 {
    let day = 24 * 3600 * 1000;
    (ms + WIB_OFFSET_MS).div_euclid(day) * day - WIB_OFFSET_MS
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One daemon's health.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DaemonHealth {
    pub name: String,
    /// Answering (pbxd: its control socket; others: a fresh heartbeat).
    pub live: bool,
    /// Live and doing its job.
    pub ready: bool,
    pub reasons: Vec<String>,
    pub pid: Option<u32>,
    pub uptime_seconds: Option<u64>,
}

/// The UPS as powerd last saw it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UpsView {
    pub reachable: bool,
    pub status: String,
    pub on_battery: bool,
    pub low_battery: bool,
    pub charge_percent: Option<f64>,
    pub runtime_seconds: Option<f64>,
    pub input_voltage: Option<f64>,
    pub load_percent: Option<f64>,
    pub on_battery_seconds: Option<u64>,
    pub full_runtime_estimate_seconds: Option<u64>,
    pub phase: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub at_ms: i64,
    pub version: String,
    pub daemons: Vec<DaemonHealth>,
    pub pbx: Option<PbxStatus>,
    /// Calls that started today (WIB), by disposition (`active` for calls
    /// still up).
    pub calls_today: Vec<(String, u64)>,
    pub ups: Option<UpsView>,
    pub system: SystemStats,
    pub recordings_bytes: u64,
    pub recordings_files: u64,
    /// pbxd's carrier trunks (empty when pbxd does not answer).
    pub trunks: Vec<TrunkView>,
    /// trunkd's spans and lines as pbxd has them (issue 14; empty when
    /// pbxd does not answer).
    pub spans: Vec<SpanView>,
    /// The ACD's queues and agents as pbxd has them now (MON-1; empty
    /// when pbxd does not answer).
    pub queues: Vec<QueueView>,
    pub agents: Vec<AgentView>,
    /// The ticket outbox (SYNC-3); `None` when the database is unreadable.
    pub outbox: Option<OutboxView>,
    /// The daily backup's runs (OPS-4); `None` when the database is
    /// unreadable.
    pub backup: Option<dering_store::backup::Status>,
}

/// How long the oldest pending outbox row may wait before it is an alarm
/// when syncd has not said otherwise (`[sync] alarm_after_minutes`).
pub const OUTBOX_ALARM_AFTER_DEFAULT_MS: u64 = 15 * 60 * 1000;

/// What is owed to SIMPEL (SYNC-3), read from the outbox itself so the
/// counts hold even while syncd is down, with syncd's threshold.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OutboxView {
    pub pending: u64,
    /// Pending rows that failed at least once (retrying).
    pub failing: u64,
    pub dead: u64,
    pub oldest_pending_seconds: Option<u64>,
    /// `None` when the box runs no syncd: rows then wait by design
    /// (tickets kept only on the box), which is no alarm.
    pub alarm_after_seconds: Option<u64>,
    /// syncd's link to SIMPEL (its breaker, failures in a row) while its
    /// heartbeat is fresh; `None` when syncd is quiet, stopped or absent.
    pub link: Option<dering_store::tickets::SyncLink>,
}

impl OutboxView {
    /// The counts at `at_ms`, against syncd's threshold if it runs.
    pub fn new(
        c: &dering_store::tickets::OutboxCounts,
        at_ms: i64,
        alarm_after_ms: Option<u64>,
    ) -> OutboxView {
        OutboxView {
            pending: c.pending,
            failing: c.failing,
            dead: c.dead,
            oldest_pending_seconds: c
                .oldest_pending_ms
                .map(|t| ((at_ms - t).max(0) / 1000) as u64),
            alarm_after_seconds: alarm_after_ms.map(|ms| ms / 1000),
            link: None,
        }
    }

    /// The oldest pending row has waited longer than the threshold: SIMPEL
    /// has not had a ticket for that long (the alarm trap and `/health`'s
    /// warning).
    pub fn late(&self) -> bool {
        match (self.oldest_pending_seconds, self.alarm_after_seconds) {
            (Some(age), Some(limit)) => age > limit,
            _ => false,
        }
    }

    fn warning(&self) -> Option<String> {
        let age = self.oldest_pending_seconds?;
        self.late().then(|| {
            format!(
                "outbox: {} tickets owed to SIMPEL, the oldest for {} min",
                self.pending,
                age / 60
            )
        })
    }
}

impl Snapshot {
    /// A snapshot at `at_ms` with nothing in it: no daemon, no pbxd, no
    /// outbox, version "0". The readers' tests fill in what they are
    /// about.
    pub fn empty(at_ms: i64) -> Snapshot {
        Snapshot {
            at_ms,
            version: "0".into(),
            daemons: vec![],
            pbx: None,
            calls_today: vec![],
            ups: None,
            system: SystemStats::default(),
            recordings_bytes: 0,
            recordings_files: 0,
            trunks: vec![],
            spans: vec![],
            queues: vec![],
            agents: vec![],
            outbox: None,
            backup: None,
        }
    }

    pub fn calls_today_total(&self) -> u64 {
        self.calls_today.iter().map(|(_, n)| n).sum()
    }

    /// Healthy: every daemon live and ready.
    pub fn healthy(&self) -> bool {
        self.daemons.iter().all(|d| d.live && d.ready)
    }

    /// What is wrong outside the box but an operator should see: a span
    /// in alarm, its D-channel down, or unreported (issue 14). The box
    /// itself stays healthy: a carrier's fault is not a daemon's.
    /// So is an outbox that has not reached SIMPEL for longer than
    /// `[sync] alarm_after_minutes` (SYNC-3).
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = self.spans.iter().filter_map(SpanView::warning).collect();
        w.extend(self.outbox.as_ref().and_then(OutboxView::warning));
        w.extend(self.backup_warning());
        // A full disk: pbxd keeps the calls' records in memory until the
        // database takes them again (issue 17 §6).
        w.extend(self.pbx.as_ref().filter(|p| p.records_held > 0).map(|p| {
            format!(
                "database not writable (disk full?): {} records held in memory",
                p.records_held
            )
        }));
        // pbxd goes on with calls when a full disk stops recordings
        // (issue 17 §6): its heartbeat says so, and it is a warning.
        w.extend(
            self.daemons
                .iter()
                .filter(|d| d.name == "pbxd")
                .flat_map(|d| d.reasons.iter())
                .filter(|r| r.starts_with(RECORDING_STOPPED))
                .cloned(),
        );
        w
    }

    /// The daily backup failed, or none succeeded for 26 h (OPS-4): the
    /// box keeps working, so a warning, not a failure.
    pub fn backup_warning(&self) -> Option<String> {
        self.backup.as_ref()?.warning(self.at_ms)
    }

    pub fn daemon(&self, name: &str) -> Option<&DaemonHealth> {
        self.daemons.iter().find(|d| d.name == name)
    }
}

/// What to look at.
#[derive(Debug, Clone)]
pub struct Scope {
    pub data_dir: PathBuf,
    /// The daemons this box runs (`Config::daemons`); the collector itself
    /// (`self_name`) is reported live by definition.
    pub expected: Vec<String>,
    pub self_name: String,
}

/// Collects a snapshot. Never fails: what cannot be read is reported as a
/// reason on the daemon concerned.
pub async fn collect(scope: &Scope, probe: &mut SystemProbe) -> Snapshot {
    let at_ms = now_ms();
    let pbx = tokio::time::timeout(Duration::from_secs(2), client::status(&scope.data_dir))
        .await
        .map_err(|_| "control socket timed out".to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let (trunks, spans, acd) = if pbx.is_ok() {
        (
            trunks(&scope.data_dir).await,
            spans(&scope.data_dir).await,
            acd(&scope.data_dir).await,
        )
    } else {
        (Vec::new(), Vec::new(), None)
    };
    let (queues, agents) = acd.map(|s| (s.queues, s.agents)).unwrap_or_default();
    let data_dir = scope.data_dir.clone();
    let db = tokio::task::spawn_blocking(move || read_db(&data_dir, at_ms))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let (rows, calls_today, outbox, backup) = match db {
        Ok((rows, today, outbox, backup)) => (rows, today, Some(outbox), Some(backup)),
        Err(e) => {
            tracing::warn!(error = %e, "health: database unreadable");
            (Vec::new(), Vec::new(), None, None)
        }
    };
    let mut daemons = Vec::new();
    for name in scope.expected.iter().filter(|n| **n != scope.self_name) {
        let row = rows.iter().find(|r| &r.daemon == name);
        let fresh = row
            .is_some_and(|r| !r.stopped && at_ms - r.heartbeat_ms < STALE_AFTER.as_millis() as i64);
        let mut reasons: Vec<String> = row.map(|r| r.reasons.clone()).unwrap_or_default();
        let live = if name == "pbxd" {
            if let Err(e) = &pbx {
                reasons.insert(0, format!("control socket: {e}"));
            }
            pbx.is_ok()
        } else {
            if !fresh {
                reasons.insert(
                    0,
                    match row {
                        None => "never started".to_string(),
                        Some(r) if r.stopped => "stopped".to_string(),
                        Some(r) => format!(
                            "no heartbeat for {} s",
                            (at_ms - r.heartbeat_ms).max(0) / 1000
                        ),
                    },
                );
            }
            fresh
        };
        let ready = live
            && match (name.as_str(), &pbx) {
                ("pbxd", Ok(s)) => s.intake_open,
                _ => row.is_some_and(|r| r.ready),
            };
        daemons.push(DaemonHealth {
            name: name.clone(),
            live,
            ready,
            reasons,
            pid: row.map(|r| r.pid),
            uptime_seconds: row
                .filter(|_| live)
                .map(|r| ((at_ms - r.started_ms).max(0) / 1000) as u64),
        });
    }
    daemons.push(DaemonHealth {
        name: scope.self_name.clone(),
        live: true,
        ready: true,
        reasons: vec![],
        pid: Some(std::process::id()),
        uptime_seconds: None,
    });
    let ups = rows
        .iter()
        .find(|r| r.daemon == "powerd")
        .and_then(|r| ups_view(&r.state));
    let system = probe.read(&scope.data_dir);
    let (recordings_bytes, recordings_files) = dir_usage(&scope.data_dir.join("recordings"));
    let alarm_after_ms = scope
        .expected
        .iter()
        .any(|n| n == "syncd")
        .then(|| syncd_alarm_after_ms(rows.iter().find(|r| r.daemon == "syncd")));
    let link = rows
        .iter()
        .find(|r| r.daemon == "syncd")
        .filter(|r| !r.stopped && at_ms - r.heartbeat_ms < STALE_AFTER.as_millis() as i64)
        .and_then(|r| dering_store::tickets::SyncLink::from_state(&r.state));
    let outbox = outbox.map(|c| OutboxView {
        link,
        ..OutboxView::new(&c, at_ms, alarm_after_ms)
    });
    Snapshot {
        at_ms,
        version: env!("CARGO_PKG_VERSION").into(),
        daemons,
        pbx: pbx.ok(),
        calls_today,
        ups,
        system,
        recordings_bytes,
        recordings_files,
        trunks,
        spans,
        queues,
        agents,
        outbox,
        backup,
    }
}

/// pbxd's live queues and agents (its snapshot; the calls in it are not
/// kept), or `None` when it does not answer in time.
async fn acd(data_dir: &Path) -> Option<dering_control::Snapshot> {
    let asked = tokio::time::timeout(Duration::from_secs(2), async {
        client::Client::connect(data_dir).await?.snapshot().await
    })
    .await;
    match asked {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: pbxd's queues and agents unreadable");
            None
        }
        Err(_) => {
            tracing::warn!("health: pbxd's queues and agents timed out");
            None
        }
    }
}

/// syncd's threshold as its heartbeat state says (`alarm_after_ms`, from
/// `[sync] alarm_after_minutes`): the setting is syncd's, and the
/// collectors (webd, the SNMP agent) do not read its table.
fn syncd_alarm_after_ms(row: Option<&dering_store::DaemonStatus>) -> u64 {
    row.and_then(|r| serde_json::from_str::<serde_json::Value>(&r.state).ok())
        .and_then(|v| v["alarm_after_ms"].as_u64())
        .unwrap_or(OUTBOX_ALARM_AFTER_DEFAULT_MS)
}

/// pbxd's trunks; none when it cannot say (an older pbxd, a timeout):
/// the rest of the snapshot does not wait on them.
async fn trunks(data_dir: &Path) -> Vec<TrunkView> {
    let asked = tokio::time::timeout(
        Duration::from_secs(2),
        client::request(data_dir, &Request::Trunks),
    )
    .await;
    match asked {
        Ok(Ok(Response::Trunks { trunks })) => trunks,
        Ok(Ok(other)) => {
            tracing::warn!(
                got = other.kind(),
                "health: pbxd answered trunks with something else"
            );
            Vec::new()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: pbxd's trunks unreadable");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("health: pbxd's trunks timed out");
            Vec::new()
        }
    }
}

/// pbxd's spans, as [`trunks`] asks for its trunks.
async fn spans(data_dir: &Path) -> Vec<SpanView> {
    let asked = tokio::time::timeout(
        Duration::from_secs(2),
        client::request(data_dir, &Request::Spans),
    )
    .await;
    match asked {
        Ok(Ok(Response::Spans { spans })) => spans,
        Ok(Ok(other)) => {
            tracing::warn!(
                got = other.kind(),
                "health: pbxd answered spans with something else"
            );
            Vec::new()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: pbxd's spans unreadable");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("health: pbxd's spans timed out");
            Vec::new()
        }
    }
}

type DbView = (
    Vec<dering_store::DaemonStatus>,
    Vec<(String, u64)>,
    dering_store::tickets::OutboxCounts,
    dering_store::backup::Status,
);

fn read_db(data_dir: &Path, at_ms: i64) -> Result<DbView, String> {
    let path = data_dir.join("dering.db");
    if !path.exists() {
        return Err(format!("no database at {}", path.display()));
    }
    let store = Store::open(&path).map_err(|e| e.to_string())?;
    let rows = store.daemon_statuses().map_err(|e| e.to_string())?;
    let today = store
        .call_counts_since(wib_day_start_ms(at_ms))
        .map_err(|e| e.to_string())?;
    let outbox = store.outbox_counts().map_err(|e| e.to_string())?;
    let backup = store.backup_status().map_err(|e| e.to_string())?;
    Ok((rows, today, outbox, backup))
}

/// powerd's heartbeat state (a `dering_power::Snapshot` as JSON).
fn ups_view(state: &str) -> Option<UpsView> {
    let v: serde_json::Value = serde_json::from_str(state).ok()?;
    let r = &v["reading"];
    let status = r["status"].as_str().unwrap_or_default().to_string();
    let has = |flag: &str| status.split_whitespace().any(|t| t == flag);
    Some(UpsView {
        reachable: v["reachable"].as_bool().unwrap_or(false),
        on_battery: has("OB"),
        low_battery: has("LB"),
        charge_percent: r["charge"].as_f64(),
        runtime_seconds: r["runtime"].as_f64(),
        input_voltage: r["input_voltage"].as_f64(),
        load_percent: r["load"].as_f64(),
        on_battery_seconds: v["on_battery_seconds"].as_u64(),
        full_runtime_estimate_seconds: v["full_runtime_estimate_seconds"].as_u64(),
        phase: v["phase"].as_str().unwrap_or_default().to_string(),
        status,
    })
}

/// Bytes and files under `dir` (recursively); nothing when it is absent.
fn dir_usage(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    files += 1;
                    bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                }
                _ => {}
            }
        }
    }
    (bytes, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wib_day_starts_at_17_utc() {
        // 2026-11-22T16:59:59Z is 23:59:59 WIB on the 22nd; a second later
        // the 23rd begins in Jakarta.
        let before = 1_795_366_799_000; // 2026-11-22T16:59:59Z
        let after = before + 1_000;
        assert_eq!(wib_day_start_ms(after), after);
        assert_eq!(wib_day_start_ms(before), after - 24 * 3600 * 1000);
        assert_eq!(wib_day_start_ms(after + 3_600_000), after);
    }

    #[test]
    fn ups_view_reads_powerds_snapshot() {
        let v = ups_view(
            r#"{"phase":"draining","reachable":true,"reading":{"status":"OB LB DISCHRG","charge":8.0,"runtime":60,"input_voltage":0.0,"load":25.0},"on_battery_seconds":12,"full_runtime_estimate_seconds":750,"problems":[]}"#,
        )
        .unwrap();
        assert!(v.on_battery && v.low_battery && v.reachable);
        assert_eq!(v.runtime_seconds, Some(60.0));
        assert_eq!(v.on_battery_seconds, Some(12));
        assert_eq!(v.phase, "draining");
    }

    fn bare(at_ms: i64) -> Snapshot {
        Snapshot::empty(at_ms)
    }

    #[test]
    fn records_a_full_disk_holds_are_a_warning() {
        let s = |held| Snapshot {
            pbx: Some(PbxStatus {
                version: "0".into(),
                active_calls: 2,
                registrations: 1,
                intake_open: true,
                uptime_seconds: 60,
                stream_cuts: Default::default(),
                records_held: held,
            }),
            ..bare(0)
        };
        assert_eq!(
            s(12).warnings(),
            ["database not writable (disk full?): 12 records held in memory"]
        );
        assert!(s(0).warnings().is_empty());
    }

    #[test]
    fn an_outbox_older_than_syncds_threshold_is_a_warning() {
        let c = dering_store::tickets::OutboxCounts {
            pending: 3,
            failing: 1,
            dead: 0,
            delivered: 9,
            oldest_pending_ms: Some(1_000),
        };
        let at = 1_000 + 16 * 60_000;
        let late = OutboxView::new(&c, at, Some(15 * 60_000));
        assert_eq!(late.oldest_pending_seconds, Some(16 * 60));
        assert!(late.late());
        let on_time = OutboxView::new(&c, at, Some(20 * 60_000));
        assert!(!on_time.late());
        assert!(
            !OutboxView::new(&c, at, None).late(),
            "no syncd on this box: tickets wait by design"
        );
        let empty = dering_store::tickets::OutboxCounts::default();
        assert!(!OutboxView::new(&empty, at, Some(0)).late());
        let s = |outbox| Snapshot {
            outbox: Some(outbox),
            ..bare(at)
        };
        assert_eq!(
            s(late).warnings(),
            ["outbox: 3 tickets owed to SIMPEL, the oldest for 16 min"]
        );
        assert!(s(on_time).warnings().is_empty());
    }

    #[tokio::test]
    async fn a_failed_or_stale_backup_is_a_warning_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("dering.db")).unwrap();
        let scope = Scope {
            data_dir: dir.path().into(),
            expected: vec![],
            self_name: "webd".into(),
        };
        let s = collect(&scope, &mut SystemProbe::new()).await;
        assert!(s.warnings().is_empty(), "no backup set up: no warning");
        let run = |finished_ms: i64, ok: bool| dering_store::backup::Run {
            started_ms: finished_ms - 1_000,
            finished_ms,
            ok,
            destination: "/media/usb".into(),
            name: None,
            bytes: None,
            error: (!ok).then(|| "backup destination /media/usb does not exist".into()),
        };
        let now = now_ms();
        store
            .record_backup_run(&run(now - 27 * 3_600_000, true))
            .unwrap();
        let s = collect(&scope, &mut SystemProbe::new()).await;
        assert_eq!(s.warnings(), ["backup: none succeeded for 27 h"]);
        assert!(s.healthy());
        store.record_backup_run(&run(now, false)).unwrap();
        let s = collect(&scope, &mut SystemProbe::new()).await;
        assert!(s.warnings()[0].contains("failed: backup destination /media/usb"));
        store.record_backup_run(&run(now, true)).unwrap();
        let s = collect(&scope, &mut SystemProbe::new()).await;
        assert!(s.warnings().is_empty());
        assert_eq!(s.backup.unwrap().failures_total, 1);
    }

    #[test]
    fn syncds_heartbeat_carries_its_threshold() {
        let row = |state: &str| dering_store::DaemonStatus {
            daemon: "syncd".into(),
            pid: 1,
            started_ms: 0,
            heartbeat_ms: 0,
            ready: true,
            reasons: vec![],
            state: state.into(),
            stopped: false,
        };
        assert_eq!(
            syncd_alarm_after_ms(Some(&row(r#"{"pending":0,"alarm_after_ms":60000}"#))),
            60_000
        );
        assert_eq!(
            syncd_alarm_after_ms(Some(&row("{}"))),
            OUTBOX_ALARM_AFTER_DEFAULT_MS
        );
        assert_eq!(syncd_alarm_after_ms(None), OUTBOX_ALARM_AFTER_DEFAULT_MS);
    }

    #[tokio::test]
    async fn a_missing_daemon_is_reported_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("dering.db")).unwrap();
        let now = now_ms();
        let hb = |name: &str, at: i64, stopped: bool| {
            dering_store::Op::Heartbeat(dering_store::DaemonStatus {
                daemon: name.into(),
                pid: 1,
                started_ms: now - 60_000,
                heartbeat_ms: at,
                ready: true,
                reasons: vec![],
                state: "{}".into(),
                stopped,
            })
        };
        store
            .apply(&[
                hb("powerd", now, false),
                hb("snmp-agent", now - 60_000, false),
                hb("old", now, true),
            ])
            .unwrap();
        std::fs::create_dir_all(dir.path().join("recordings/2026")).unwrap();
        std::fs::write(dir.path().join("recordings/2026/a.wav"), [0u8; 100]).unwrap();
        let scope = Scope {
            data_dir: dir.path().into(),
            expected: ["pbxd", "powerd", "snmp-agent", "old"]
                .map(String::from)
                .to_vec(),
            self_name: "webd".into(),
        };
        let s = collect(&scope, &mut SystemProbe::new()).await;
        let pbxd = s.daemon("pbxd").unwrap();
        assert!(
            !pbxd.live && pbxd.reasons[0].starts_with("control socket"),
            "{pbxd:?}"
        );
        assert!(s.daemon("powerd").unwrap().ready);
        let snmp = s.daemon("snmp-agent").unwrap();
        // 60 s, or a little more if this machine stalled since `now`.
        let silent: Option<u64> = snmp.reasons[0]
            .strip_prefix("no heartbeat for ")
            .and_then(|r| r.strip_suffix(" s"))
            .and_then(|n| n.parse().ok());
        assert!(
            !snmp.live && silent.is_some_and(|n| (60..75).contains(&n)),
            "{snmp:?}"
        );
        assert_eq!(s.daemon("old").unwrap().reasons[0], "stopped");
        assert!(s.daemon("webd").unwrap().live);
        assert!(!s.healthy());
        assert_eq!((s.recordings_bytes, s.recordings_files), (100, 1));
        assert!(s.system.memory_total_bytes > 0);
        assert!(s.system.disk_total_bytes > 0);
    }
}
