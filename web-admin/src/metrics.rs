//! `/metrics` in the Prometheus text format (exposition format 0.0.4).
//! Names follow Prometheus conventions: `dering_` prefix, base units
//! (seconds, bytes, volts, ratios 0–1), `_total` only on counters.

use std::fmt::Write as _;

use dering_health::Snapshot;

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// A gauge family with one series per item `each` gives a value for,
    /// labelled `label` with the name `each` gives it (a trunk, a span, a
    /// queue, a daemon).
    fn gauge_per<T>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        items: &[T],
        each: impl Fn(&T) -> Option<(&str, f64)>,
    ) {
        self.family(name, "gauge", help);
        for (item, value) in items.iter().filter_map(each) {
            self.sample(name, &[(label, item)], value);
        }
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// One series per trunk and state, so an alert rule reads
/// `dering_trunk_up == 0` or `dering_trunk_alarm == 1` (issue 13).
fn trunks(o: &mut Out, s: &Snapshot) {
    if s.trunks.is_empty() {
        return;
    }
    fn per(t: &dering_health::TrunkView, v: f64) -> Option<(&str, f64)> {
        Some((&t.name, v))
    }
    o.gauge_per(
        "dering_trunk_registered",
        "Whether a registering trunk is registered with its carrier.",
        "trunk",
        &s.trunks,
        |t| per(t, flag(t.registered?)),
    );
    o.gauge_per(
        "dering_trunk_up",
        "Whether the trunk's carrier answers OPTIONS (unknown until probed counts as up).",
        "trunk",
        &s.trunks,
        |t| per(t, flag(t.health != dering_health::TrunkHealth::Down)),
    );
    o.gauge_per(
        "dering_trunk_alarm",
        "Whether the trunk's registration gave up after the carrier's refusals.",
        "trunk",
        &s.trunks,
        |t| per(t, flag(t.alarm)),
    );
    o.gauge_per(
        "dering_trunk_channels_busy",
        "Calls on the trunk now.",
        "trunk",
        &s.trunks,
        |t| per(t, f64::from(t.channels_busy)),
    );
    o.gauge_per(
        "dering_trunk_channels_limit",
        "The trunk's configured channel limit.",
        "trunk",
        &s.trunks,
        |t| per(t, f64::from(t.channels_limit?)),
    );
    o.gauge_per(
        "dering_trunk_calls_today",
        "Calls through the trunk today (Asia/Jakarta).",
        "trunk",
        &s.trunks,
        |t| per(t, t.calls_today as f64),
    );
}

/// trunkd's spans and lines (issue 14): one series per span and alarm
/// colour, D-channel and channel state, so an alert reads
/// `dering_span_alarm == 1` or `dering_span_dchannel_up == 0`.
fn spans(o: &mut Out, s: &Snapshot) {
    use dering_health::SpanAlarm;
    if s.spans.is_empty() {
        return;
    }
    o.family(
        "dering_span_alarm",
        "gauge",
        "Whether the span is in the red, yellow or blue alarm (label alarm).",
    );
    for v in &s.spans {
        for a in [SpanAlarm::Red, SpanAlarm::Yellow, SpanAlarm::Blue] {
            o.sample(
                "dering_span_alarm",
                &[("span", &v.report.name), ("alarm", a.name())],
                flag(v.report.alarm == a),
            );
        }
    }
    o.gauge_per(
        "dering_span_dchannel_up",
        "Whether the E1 span's D-channel data link is established.",
        "span",
        &s.spans,
        |v| Some((v.report.name.as_str(), flag(v.report.dchannel_up?))),
    );
    o.gauge_per(
        "dering_span_reporting",
        "Whether trunkd still reports the span (0: its state is unknown).",
        "span",
        &s.spans,
        |v| Some((v.report.name.as_str(), flag(v.reporting))),
    );
    o.family(
        "dering_span_channels",
        "gauge",
        "The span's channels in each state (idle, in_use, blocked, restarting, ringing).",
    );
    for v in &s.spans {
        for (state, n) in v.report.channels.by_state() {
            o.sample(
                "dering_span_channels",
                &[("span", &v.report.name), ("state", state)],
                f64::from(n),
            );
        }
    }
}

/// The ACD's queues and agents (MON-1, CMS-2): what a NOC alerts on is
/// callers waiting too long and a service level falling, so those are
/// per-queue gauges; agents are counted by state, not listed (names do
/// not belong in a time series). Absent while pbxd does not answer.
fn acd(o: &mut Out, s: &Snapshot) {
    if s.pbx.is_none() {
        return;
    }
    fn per(q: &dering_control::QueueView, v: f64) -> Option<(&str, f64)> {
        Some((&q.queue, v))
    }
    o.gauge_per(
        "dering_queue_waiting",
        "Callers waiting in the queue now.",
        "queue",
        &s.queues,
        |q| per(q, q.waiting as f64),
    );
    o.gauge_per(
        "dering_queue_longest_wait_seconds",
        "How long the caller waiting longest in the queue has waited.",
        "queue",
        &s.queues,
        |q| per(q, q.longest_wait_ms as f64 / 1000.0),
    );
    o.gauge_per(
        "dering_queue_service_level_ratio",
        "Calls answered within the queue's threshold today (Asia/Jakarta) over calls offered less short abandons (docs/metrics.md); absent before the day's first call.",
        "queue",
        &s.queues,
        |q| per(q, q.service_level? / 100.0),
    );
    o.family(
        "dering_queue_calls_today",
        "gauge",
        "The queue's calls today (Asia/Jakarta), by outcome.",
    );
    for q in &s.queues {
        let t = &q.today;
        for (outcome, n) in [
            ("offered", t.offered),
            ("answered", t.answered),
            ("abandoned", t.abandoned),
            ("overflowed", t.overflowed),
            ("timed_out", t.timed_out),
        ] {
            o.sample(
                "dering_queue_calls_today",
                &[("queue", &q.queue), ("outcome", outcome)],
                n as f64,
            );
        }
    }
    o.family("dering_agents", "gauge", "Agents logged in, by state.");
    // Every state has its series, 0 included, so a rule on one state
    // never sees it vanish.
    for state in dering_acd::AgentState::NAMES {
        if state == "logged_out" {
            continue;
        }
        let n = s.agents.iter().filter(|a| a.state.name() == state).count();
        o.sample("dering_agents", &[("state", state)], n as f64);
    }
}

pub fn render(s: &Snapshot) -> String {
    let mut o = Out(String::new());
    o.family("dering_build_info", "gauge", "Software version of the box.");
    o.sample("dering_build_info", &[("version", &s.version)], 1.0);

    o.gauge_per(
        "dering_daemon_up",
        "Whether the daemon answers (1) or not (0).",
        "daemon",
        &s.daemons,
        |d| Some((d.name.as_str(), flag(d.live))),
    );
    o.gauge_per(
        "dering_daemon_ready",
        "Whether the daemon is live and doing its job.",
        "daemon",
        &s.daemons,
        |d| Some((d.name.as_str(), flag(d.ready))),
    );

    if let Some(p) = &s.pbx {
        o.gauge(
            "dering_calls_active",
            "Calls in progress.",
            p.active_calls as f64,
        );
        o.gauge(
            "dering_sip_registrations",
            "Registered SIP contacts.",
            p.registrations as f64,
        );
        o.gauge(
            "dering_intake_open",
            "Whether new calls are taken (0 while shutting down on battery).",
            flag(p.intake_open),
        );
        o.gauge(
            "dering_pbxd_uptime_seconds",
            "Seconds since pbxd started.",
            p.uptime_seconds as f64,
        );
        o.gauge(
            "dering_records_held",
            "Records pbxd holds in memory because the database cannot take them (disk full); 0 normally.",
            p.records_held as f64,
        );
        o.family(
            "dering_sip_stream_cuts_total",
            "counter",
            "SIP connections over TCP and TLS refused or closed by pbxd, by reason.",
        );
        for (reason, n) in &p.stream_cuts {
            o.sample(
                "dering_sip_stream_cuts_total",
                &[("reason", reason)],
                *n as f64,
            );
        }
    }
    trunks(&mut o, s);
    spans(&mut o, s);
    acd(&mut o, s);
    o.family(
        "dering_calls_today",
        "gauge",
        "Calls that started today (Asia/Jakarta), by disposition.",
    );
    for (disp, n) in &s.calls_today {
        o.sample("dering_calls_today", &[("disposition", disp)], *n as f64);
    }

    if let Some(u) = &s.ups {
        o.gauge(
            "dering_ups_reachable",
            "Whether upsd answers.",
            flag(u.reachable),
        );
        o.gauge(
            "dering_ups_on_battery",
            "Whether the UPS runs on battery.",
            flag(u.on_battery),
        );
        o.gauge(
            "dering_ups_low_battery",
            "Whether the UPS reports low battery.",
            flag(u.low_battery),
        );
        if let Some(c) = u.charge_percent {
            o.gauge(
                "dering_ups_battery_charge_ratio",
                "Battery charge, 0 to 1.",
                c / 100.0,
            );
        }
        if let Some(r) = u.runtime_seconds {
            o.gauge(
                "dering_ups_battery_runtime_seconds",
                "Runtime left at the current load.",
                r,
            );
        }
        if let Some(r) = u.full_runtime_estimate_seconds {
            o.gauge(
                "dering_ups_full_runtime_estimate_seconds",
                "Runtime a full battery would give at the current load.",
                r as f64,
            );
        }
        if let Some(v) = u.input_voltage {
            o.gauge(
                "dering_ups_input_voltage_volts",
                "Mains voltage at the UPS input.",
                v,
            );
        }
        if let Some(l) = u.load_percent {
            o.gauge(
                "dering_ups_load_ratio",
                "UPS load, 0 to 1 of its rating.",
                l / 100.0,
            );
        }
        o.gauge(
            "dering_ups_on_battery_duration_seconds",
            "Seconds on battery so far (0 on mains).",
            u.on_battery_seconds.unwrap_or(0) as f64,
        );
    }

    let sys = &s.system;
    o.gauge(
        "dering_cpu_usage_ratio",
        "CPU in use, 0 to 1, all cores.",
        sys.cpu_percent / 100.0,
    );
    o.gauge(
        "dering_memory_used_bytes",
        "Memory in use.",
        sys.memory_used_bytes as f64,
    );
    o.gauge(
        "dering_memory_total_bytes",
        "Memory installed.",
        sys.memory_total_bytes as f64,
    );
    o.gauge(
        "dering_data_disk_used_bytes",
        "Bytes used on the file system of the data directory.",
        sys.disk_used_bytes as f64,
    );
    o.gauge(
        "dering_data_disk_total_bytes",
        "Size of the file system of the data directory.",
        sys.disk_total_bytes as f64,
    );
    if let Some(t) = sys.temperature_celsius {
        o.gauge(
            "dering_temperature_celsius",
            "Hottest temperature sensor.",
            t,
        );
    }
    o.gauge(
        "dering_recordings_bytes",
        "Bytes of call recordings stored.",
        s.recordings_bytes as f64,
    );
    o.gauge(
        "dering_recordings_files",
        "Call recordings stored.",
        s.recordings_files as f64,
    );
    if let Some(b) = &s.backup {
        backup(&mut o, b);
    }
    o.0
}

/// The daily backup (OPS-4), so an alert rule reads
/// `time() - dering_backup_last_success_timestamp_seconds > 93600` or
/// `increase(dering_backup_failures_total[1d]) > 0`. A box that never
/// took a backup has the failures and no timestamp.
fn backup(o: &mut Out, b: &dering_store::backup::Status) {
    if let Some(ms) = b.last_success_ms {
        o.gauge(
            "dering_backup_last_success_timestamp_seconds",
            "When the last good daily backup finished (Unix time).",
            ms as f64 / 1000.0,
        );
    }
    o.family(
        "dering_backup_failures_total",
        "counter",
        "Daily backup runs that failed.",
    );
    o.sample("dering_backup_failures_total", &[], b.failures_total as f64);
    o.gauge(
        "dering_backup_last_run_ok",
        "Whether the last backup run succeeded (1) or failed (0); 1 before the first.",
        flag(b.last_run.as_ref().is_none_or(|r| r.ok)),
    );
}

/// The ticket outbox (SYNC-3): rows by state and the age of the oldest
/// pending row, so an alert rule reads
/// `dering_sync_oldest_pending_seconds > 900`.
pub fn outbox(c: &dering_store::tickets::OutboxCounts, now_ms: i64) -> String {
    let mut o = Out(String::new());
    o.family(
        "dering_sync_outbox_rows",
        "gauge",
        "Ticket outbox rows owed to SIMPEL: pending (failing: pending after a failure) or dead letters.",
    );
    for (state, n) in [
        ("pending", c.pending),
        ("failing", c.failing),
        ("dead", c.dead),
    ] {
        o.sample("dering_sync_outbox_rows", &[("state", state)], n as f64);
    }
    let age = c
        .oldest_pending_ms
        .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
    o.gauge(
        "dering_sync_oldest_pending_seconds",
        "Age of the oldest row not yet delivered to SIMPEL (0 when none).",
        age,
    );
    o.0
}

/// syncd's link to SIMPEL from its heartbeat (SYNC-3), while the
/// heartbeat is fresh: the breaker as a state set (an alert rule reads
/// `dering_sync_breaker{state="open"} == 1`) and when SIMPEL last
/// accepted a row. Nothing when syncd is quiet, stopped or never ran:
/// the daemon's own health says that.
pub fn sync_link(beat: Option<&dering_store::tickets::SyncdBeat>, now_ms: i64) -> String {
    use dering_store::tickets::BreakerState;
    let fresh = beat.filter(|b| {
        !b.stopped && now_ms - b.heartbeat_ms < dering_health::STALE_AFTER.as_millis() as i64
    });
    let Some(link) = fresh.and_then(|b| b.link.as_ref()) else {
        return String::new();
    };
    let mut o = Out(String::new());
    o.family(
        "dering_sync_breaker",
        "gauge",
        "syncd's circuit breaker toward SIMPEL: 1 for its state (closed: sending; open: holding back after failures in a row; half_open: one probe).",
    );
    for (state, is) in [
        ("closed", BreakerState::Closed),
        ("open", BreakerState::Open),
        ("half_open", BreakerState::HalfOpen),
    ] {
        o.sample(
            "dering_sync_breaker",
            &[("state", state)],
            flag(link.breaker == is),
        );
    }
    if let Some(at) = link.last_delivered_ms {
        o.gauge(
            "dering_sync_last_accepted_timestamp_seconds",
            "When SIMPEL last accepted a row from syncd (Unix time).",
            at as f64 / 1000.0,
        );
    }
    o.0
}

/// Ticket SLA alarms (CTI-3): breaches open now and raised so far, by
/// kind (response, resolution, escalation), so an alert rule reads
/// `dering_ticket_sla_breaches > 0`.
pub fn ticket_sla(open: &[u64; 3], raised: &[u64; 3]) -> String {
    const KINDS: [&str; 3] = ["response", "resolution", "escalation"];
    let mut o = Out(String::new());
    o.family(
        "dering_ticket_sla_breaches",
        "gauge",
        "Tickets past a deadline they still owe, by kind.",
    );
    for (kind, n) in KINDS.iter().zip(open) {
        o.sample("dering_ticket_sla_breaches", &[("kind", kind)], *n as f64);
    }
    o.family(
        "dering_ticket_sla_breaches_total",
        "counter",
        "Ticket SLA breaches raised (each once), by kind.",
    );
    for (kind, n) in KINDS.iter().zip(raised) {
        o.sample(
            "dering_ticket_sla_breaches_total",
            &[("kind", kind)],
            *n as f64,
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backups_last_success_and_failures_are_series() {
        let mut o = Out(String::new());
        let run = dering_store::backup::Run {
            started_ms: 1_000,
            finished_ms: 2_000,
            ok: false,
            destination: "/media/usb".into(),
            name: None,
            bytes: None,
            error: Some("gone".into()),
        };
        backup(
            &mut o,
            &dering_store::backup::Status {
                last_run: Some(run),
                last_success_ms: Some(1_796_421_000_000),
                failures_total: 2,
            },
        );
        for line in [
            "dering_backup_last_success_timestamp_seconds 1796421000",
            "# TYPE dering_backup_failures_total counter",
            "dering_backup_failures_total 2",
            "dering_backup_last_run_ok 0",
        ] {
            assert!(o.0.lines().any(|l| l == line), "missing {line} in\n{}", o.0);
        }
    }

    #[test]
    fn the_breaker_is_a_state_set_while_syncd_beats() {
        use dering_store::tickets::{BreakerState, SyncLink, SyncdBeat};
        let beat = SyncdBeat {
            heartbeat_ms: 100_000,
            stopped: false,
            link: Some(SyncLink {
                breaker: BreakerState::Open,
                last_delivered_ms: Some(90_500),
                ..SyncLink::default()
            }),
        };
        let text = sync_link(Some(&beat), 101_000);
        for line in [
            "dering_sync_breaker{state=\"closed\"} 0\n",
            "dering_sync_breaker{state=\"open\"} 1\n",
            "dering_sync_breaker{state=\"half_open\"} 0\n",
            "dering_sync_last_accepted_timestamp_seconds 90.5\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        // A quiet or stopped syncd vouches for nothing.
        assert_eq!(sync_link(Some(&beat), 116_000), "");
        let stopped = SyncdBeat {
            stopped: true,
            ..beat
        };
        assert_eq!(sync_link(Some(&stopped), 101_000), "");
        assert_eq!(sync_link(None, 101_000), "");
    }

    #[test]
    fn outbox_counts_are_series_by_state() {
        let c = dering_store::tickets::OutboxCounts {
            pending: 3,
            failing: 1,
            dead: 2,
            delivered: 9,
            oldest_pending_ms: Some(1_000),
        };
        let text = outbox(&c, 61_000);
        assert!(
            text.contains("dering_sync_outbox_rows{state=\"pending\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("dering_sync_outbox_rows{state=\"dead\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("dering_sync_oldest_pending_seconds 60\n"),
            "{text}"
        );
    }
    use dering_health::{TrunkHealth, TrunkKind, TrunkView};

    #[test]
    fn trunks_are_series_labelled_by_name() {
        let trunk = |name: &str, registered, health, alarm| TrunkView {
            name: name.into(),
            kind: TrunkKind::Register,
            enabled: true,
            registered,
            why: None,
            alarm,
            health,
            channels_busy: 4,
            channels_limit: Some(30),
            calls_today: 17,
            since_ms: 0,
            target: None,
        };
        let s = Snapshot {
            trunks: vec![
                trunk("telkom", Some(true), TrunkHealth::Up, false),
                trunk("backup", Some(false), TrunkHealth::Down, true),
                TrunkView {
                    kind: TrunkKind::Ip,
                    channels_limit: None,
                    ..trunk("carrier-ip", None, TrunkHealth::Unknown, false)
                },
            ],
            ..Snapshot::empty(0)
        };
        let text = render(&s);
        for line in [
            "dering_trunk_registered{trunk=\"telkom\"} 1",
            "dering_trunk_registered{trunk=\"backup\"} 0",
            "dering_trunk_up{trunk=\"backup\"} 0",
            "dering_trunk_up{trunk=\"carrier-ip\"} 1",
            "dering_trunk_alarm{trunk=\"backup\"} 1",
            "dering_trunk_channels_busy{trunk=\"telkom\"} 4",
            "dering_trunk_channels_limit{trunk=\"telkom\"} 30",
            "dering_trunk_calls_today{trunk=\"telkom\"} 17",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(
            !text.contains("dering_trunk_registered{trunk=\"carrier-ip\"}"),
            "an IP trunk does not register"
        );
        assert!(!text.contains("dering_trunk_channels_limit{trunk=\"carrier-ip\"}"));
        assert!(!text.contains("dering_span_"), "no span, no span series");
    }

    #[test]
    fn queues_are_series_by_name_and_agents_by_state() {
        use dering_acd::AgentState;
        use dering_control::PbxStatus;
        use dering_health::testing::{agent, queue};
        let s = Snapshot {
            pbx: Some(PbxStatus {
                version: "0".into(),
                active_calls: 5,
                registrations: 3,
                intake_open: true,
                uptime_seconds: 9,
                stream_cuts: Default::default(),
                records_held: 0,
            }),
            queues: vec![queue("pengaduan", 2, 20, 15), queue("informasi", 0, 0, 0)],
            agents: vec![
                agent("2001", AgentState::OnCall { call: 1 }),
                agent(
                    "2002",
                    AgentState::NotReady {
                        reason: "istirahat".into(),
                    },
                ),
                agent("2003", AgentState::LoggedOut),
            ],
            ..Snapshot::empty(0)
        };
        let text = render(&s);
        for line in [
            "dering_queue_waiting{queue=\"pengaduan\"} 2",
            "dering_queue_waiting{queue=\"informasi\"} 0",
            "dering_queue_longest_wait_seconds{queue=\"pengaduan\"} 42.7",
            "dering_queue_service_level_ratio{queue=\"pengaduan\"} 0.75",
            "dering_queue_calls_today{queue=\"pengaduan\",outcome=\"abandoned\"} 5",
            "dering_agents{state=\"on_call\"} 1",
            "dering_agents{state=\"not_ready\"} 1",
            "dering_agents{state=\"ready\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(
            !text.contains("dering_queue_service_level_ratio{queue=\"informasi\"}"),
            "no call yet: no service level"
        );
        assert!(!text.contains("logged_out"), "{text}");
        // pbxd silent: no ACD series at all, rather than zeros.
        let silent = render(&Snapshot { pbx: None, ..s });
        assert!(!silent.contains("dering_queue_"), "{silent}");
        assert!(!silent.contains("dering_agents"), "{silent}");
    }

    #[test]
    fn spans_are_series_by_alarm_dchannel_and_channel_state() {
        use dering_control::{ChannelCounts, SpanAlarm, SpanKind, SpanReport, SpanSide, SpanView};
        let span = |name: &str, alarm, dchannel_up| SpanView {
            reporter: "trunkd".into(),
            report: SpanReport {
                name: name.into(),
                kind: SpanKind::E1,
                side: SpanSide::User,
                alarm,
                dchannel_up,
                channels: ChannelCounts {
                    idle: 28,
                    in_use: 2,
                    ..ChannelCounts::default()
                },
            },
            reporting: true,
            since_ms: 0,
        };
        let s = Snapshot {
            spans: vec![
                span("telkom", SpanAlarm::Red, Some(false)),
                span("co-1", SpanAlarm::None, None),
            ],
            ..Snapshot::empty(0)
        };
        let text = render(&s);
        for line in [
            "dering_span_alarm{span=\"telkom\",alarm=\"red\"} 1",
            "dering_span_alarm{span=\"telkom\",alarm=\"blue\"} 0",
            "dering_span_alarm{span=\"co-1\",alarm=\"red\"} 0",
            "dering_span_dchannel_up{span=\"telkom\"} 0",
            "dering_span_reporting{span=\"telkom\"} 1",
            "dering_span_channels{span=\"telkom\",state=\"idle\"} 28",
            "dering_span_channels{span=\"telkom\",state=\"in_use\"} 2",
            "dering_span_channels{span=\"co-1\",state=\"ringing\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(
            !text.contains("dering_span_dchannel_up{span=\"co-1\"}"),
            "a line has no D-channel"
        );
    }
}
