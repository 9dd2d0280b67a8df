//! The DERING-MIB (`mibs/DERING-MIB.txt`) as values: a sorted map from
//! instance OID to value, rebuilt from a health snapshot. Get and GetNext
//! are lookups in it. Numbers here must match the MIB text (a test reads
//! the MIB file and checks every name used here).

use std::collections::BTreeMap;

use dering_health::Snapshot;

/// Placeholder enterprise number (see docs/decisions/0004): the subtree
/// under which every Dering object lives.
pub const DERING: &[u32] = &[1, 3, 6, 1, 4, 1, 99999];

pub type Oid = Vec<u32>;

/// An SNMP value as the MIB types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i32),
    Str(String),
    Gauge(u32),
    Truth(bool),
}

pub fn oid(tail: &[u32]) -> Oid {
    let mut v = DERING.to_vec();
    v.extend_from_slice(tail);
    v
}

// deringObjects (1)
pub const SYSTEM: &[u32] = &[1, 1];
/// A table's entry is its table's `.1` (deringDaemonTable is
/// deringDaemons.1, deringDaemonEntry deringDaemonTable.1); a column's
/// instance is the entry, the column, the row's index.
pub const DAEMON_ENTRY: &[u32] = &[1, 2, 1, 1];
pub const CALLS: &[u32] = &[1, 3];
pub const QUEUE_ENTRY: &[u32] = &[1, 4, 1, 1];
pub const AGENTS: &[u32] = &[1, 5];
pub const TRUNK_ENTRY: &[u32] = &[1, 6, 1, 1];
pub const UPS: &[u32] = &[1, 7];
pub const STORAGE: &[u32] = &[1, 8];
/// deringSync: the ticket outbox to SIMPEL (SYNC-3).
pub const SYNC: &[u32] = &[1, 9];
/// deringBackup: the daily backup of the database and configuration
/// (OPS-4).
pub const BACKUP: &[u32] = &[1, 10];
/// deringNotifications (0): notification n is `DERING.0.n`.
pub const NOTIFICATIONS: &[u32] = &[0];

/// deringDaemonState values.
pub const DAEMON_UP: i32 = 1;
pub const DAEMON_DOWN: i32 = 2;
pub const DAEMON_DEGRADED: i32 = 3;

/// The values of the whole subtree.
#[derive(Debug, Clone, Default)]
pub struct Mib {
    pub values: BTreeMap<Oid, Val>,
}

fn clamp(x: f64) -> u32 {
    if x.is_finite() && x > 0.0 {
        x.min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

fn scalar(m: &mut BTreeMap<Oid, Val>, group: &[u32], n: u32, v: Val) {
    let mut o = oid(group);
    o.push(n);
    o.push(0);
    m.insert(o, v);
}

fn column(m: &mut BTreeMap<Oid, Val>, entry: &[u32], col: u32, index: u32, v: Val) {
    let mut o = oid(entry);
    o.push(col);
    o.push(index);
    m.insert(o, v);
}

/// Daemons in a fixed order, so a daemon keeps its row index.
pub const DAEMONS: &[&str] = &["pbxd", "powerd", "webd", "snmp-agent", "trunkd", "syncd"];

/// deringTrunkState values.
pub const TRUNK_UP: i32 = 1;
pub const TRUNK_DOWN: i32 = 2;
pub const TRUNK_ALARM: i32 = 3;

/// A SIP trunk in the MIB's terms: `alarm` when its registration gave up
/// (the carrier refuses the box), `down` when it is off, unregistered or
/// its carrier does not answer OPTIONS, else `up`.
pub fn trunk_state(t: &dering_control::TrunkView) -> i32 {
    use dering_control::TrunkHealth;
    if t.alarm {
        TRUNK_ALARM
    } else if !t.enabled || t.registered == Some(false) || t.health == TrunkHealth::Down {
        TRUNK_DOWN
    } else {
        TRUNK_UP
    }
}

/// A trunk's row: its place in pbxd's list (the configuration's order),
/// from 1.
pub fn trunk_index(position: usize) -> u32 {
    position as u32 + 1
}

/// deringTrunkType values.
pub const TYPE_SIP: i32 = 1;
pub const TYPE_E1: i32 = 2;
pub const TYPE_ANALOG: i32 = 3;

/// A trunkd span or line in the MIB's terms (issue 14): `alarm` while
/// red, yellow or blue; `down` while its D-channel is down or nobody
/// reports it; else `up`.
pub fn span_state(v: &dering_control::SpanView) -> i32 {
    if v.report.alarm.raised() {
        TRUNK_ALARM
    } else if !v.reporting || v.report.dchannel_up == Some(false) {
        TRUNK_DOWN
    } else {
        TRUNK_UP
    }
}

/// deringTrunkAlarm's value for a span.
pub fn span_alarm(a: dering_control::SpanAlarm) -> i32 {
    use dering_control::SpanAlarm as A;
    match a {
        A::None => 1,
        A::Red => 2,
        A::Yellow => 3,
        A::Blue => 4,
        A::Unknown => 5,
    }
}

/// The rows of the trunk table past the SIP trunks: each span's index
/// (after the `sip` trunks' rows) and view, at most 255 rows in all.
pub fn span_rows(s: &Snapshot) -> impl Iterator<Item = (u32, &dering_control::SpanView)> {
    let first = s.trunks.len().min(255);
    s.spans
        .iter()
        .enumerate()
        .take(255 - first)
        .map(move |(j, v)| (trunk_index(first + j), v))
}

/// The deringAgents counts: agents logged in, and of them those in each
/// state the MIB names (an agent on a call that is not a queue's counts
/// as on a call).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AgentCounts {
    pub logged_in: u32,
    pub ready: u32,
    pub on_call: u32,
    pub not_ready: u32,
    pub wrap_up: u32,
}

impl AgentCounts {
    pub fn of(agents: &[dering_control::AgentView]) -> AgentCounts {
        use dering_acd::AgentState as S;
        let mut c = AgentCounts::default();
        for a in agents {
            let slot = match a.state {
                S::LoggedOut => continue,
                S::Ready => &mut c.ready,
                S::Offered { .. } | S::OnCall { .. } | S::OnHold { .. } | S::Busy => &mut c.on_call,
                S::Wrapup { .. } => &mut c.wrap_up,
                S::NotReady { .. } => &mut c.not_ready,
            };
            *slot += 1;
            c.logged_in += 1;
        }
        c
    }
}

pub fn daemon_state(d: &dering_health::DaemonHealth) -> i32 {
    match (d.live, d.ready) {
        (true, true) => DAEMON_UP,
        (true, false) => DAEMON_DEGRADED,
        _ => DAEMON_DOWN,
    }
}

impl Mib {
    pub fn from_snapshot(s: &Snapshot) -> Mib {
        let mut m = BTreeMap::new();
        let sys = &s.system;
        scalar(
            &mut m,
            SYSTEM,
            1,
            Val::Str("Dering contact-center PBX".into()),
        );
        scalar(&mut m, SYSTEM, 2, Val::Str(s.version.clone()));
        scalar(&mut m, SYSTEM, 3, Val::Gauge(clamp(sys.cpu_percent)));
        scalar(
            &mut m,
            SYSTEM,
            4,
            Val::Gauge(clamp(sys.memory_used_bytes as f64 / 1024.0)),
        );
        scalar(
            &mut m,
            SYSTEM,
            5,
            Val::Gauge(clamp(sys.memory_total_bytes as f64 / 1024.0)),
        );
        scalar(
            &mut m,
            SYSTEM,
            6,
            Val::Gauge(clamp(sys.disk_used_percent())),
        );
        if let Some(t) = sys.temperature_celsius {
            scalar(&mut m, SYSTEM, 7, Val::Int(t.round() as i32));
        }

        for d in &s.daemons {
            let Some(i) = DAEMONS.iter().position(|n| *n == d.name) else {
                continue;
            };
            let i = i as u32 + 1;
            column(&mut m, DAEMON_ENTRY, 2, i, Val::Str(d.name.clone()));
            column(&mut m, DAEMON_ENTRY, 3, i, Val::Int(daemon_state(d)));
            column(&mut m, DAEMON_ENTRY, 4, i, Val::Str(d.reasons.join("; ")));
        }

        let (regs, active, intake) = s
            .pbx
            .as_ref()
            .map(|p| (p.registrations, p.active_calls, p.intake_open))
            .unwrap_or((0, 0, false));
        scalar(&mut m, CALLS, 1, Val::Gauge(regs as u32));
        scalar(&mut m, CALLS, 2, Val::Gauge(active as u32));
        scalar(&mut m, CALLS, 3, Val::Gauge(s.calls_today_total() as u32));
        scalar(&mut m, CALLS, 4, Val::Truth(intake));

        for (i, t) in s.trunks.iter().enumerate().take(255) {
            let i = trunk_index(i);
            column(&mut m, TRUNK_ENTRY, 2, i, Val::Str(t.name.clone()));
            column(&mut m, TRUNK_ENTRY, 3, i, Val::Int(trunk_state(t)));
            column(&mut m, TRUNK_ENTRY, 4, i, Val::Gauge(t.channels_busy));
            column(
                &mut m,
                TRUNK_ENTRY,
                5,
                i,
                Val::Gauge(t.channels_limit.unwrap_or(0)),
            );
            column(&mut m, TRUNK_ENTRY, 6, i, Val::Int(TYPE_SIP));
        }
        for (i, v) in span_rows(s) {
            let r = &v.report;
            let kind = match r.kind {
                dering_control::SpanKind::E1 => TYPE_E1,
                dering_control::SpanKind::Analog => TYPE_ANALOG,
            };
            column(&mut m, TRUNK_ENTRY, 2, i, Val::Str(r.name.clone()));
            column(&mut m, TRUNK_ENTRY, 3, i, Val::Int(span_state(v)));
            column(&mut m, TRUNK_ENTRY, 4, i, Val::Gauge(r.channels.busy()));
            column(&mut m, TRUNK_ENTRY, 5, i, Val::Gauge(r.channels.total()));
            column(&mut m, TRUNK_ENTRY, 6, i, Val::Int(kind));
            column(&mut m, TRUNK_ENTRY, 7, i, Val::Int(span_alarm(r.alarm)));
            if let Some(up) = r.dchannel_up {
                column(&mut m, TRUNK_ENTRY, 8, i, Val::Truth(up));
            }
        }

        for (i, q) in s.queues.iter().enumerate().take(65_535) {
            let i = i as u32 + 1;
            let g = |n: u64| Val::Gauge(n.min(u64::from(u32::MAX)) as u32);
            column(&mut m, QUEUE_ENTRY, 2, i, Val::Str(q.queue.clone()));
            column(&mut m, QUEUE_ENTRY, 3, i, g(q.waiting as u64));
            column(&mut m, QUEUE_ENTRY, 4, i, g(q.longest_wait_ms / 1000));
            // No call counted yet today: no service level, so no value
            // (rather than a 0 % or 100 % nobody measured).
            if let Some(sl) = q.service_level {
                column(&mut m, QUEUE_ENTRY, 5, i, Val::Gauge(clamp(sl.round())));
            }
            column(&mut m, QUEUE_ENTRY, 6, i, g(q.today.abandoned));
            column(&mut m, QUEUE_ENTRY, 7, i, g(q.agents_ready as u64));
        }
        let agents = AgentCounts::of(&s.agents);
        for (n, v) in [
            (1, agents.logged_in),
            (2, agents.ready),
            (3, agents.on_call),
            (4, agents.not_ready),
            (5, agents.wrap_up),
        ] {
            scalar(&mut m, AGENTS, n, Val::Gauge(v));
        }

        if let Some(u) = &s.ups {
            scalar(&mut m, UPS, 1, Val::Str(u.status.clone()));
            scalar(&mut m, UPS, 2, Val::Truth(u.on_battery));
            scalar(
                &mut m,
                UPS,
                3,
                Val::Gauge(clamp(u.charge_percent.unwrap_or(0.0))),
            );
            scalar(
                &mut m,
                UPS,
                4,
                Val::Gauge(clamp(u.runtime_seconds.unwrap_or(0.0))),
            );
            scalar(
                &mut m,
                UPS,
                5,
                Val::Gauge(u.on_battery_seconds.unwrap_or(0) as u32),
            );
            scalar(&mut m, UPS, 6, Val::Truth(u.reachable));
            scalar(
                &mut m,
                UPS,
                7,
                Val::Gauge(clamp(u.input_voltage.unwrap_or(0.0))),
            );
        }

        scalar(
            &mut m,
            STORAGE,
            1,
            Val::Gauge(clamp(s.recordings_bytes as f64 / 1024.0)),
        );
        scalar(&mut m, STORAGE, 2, Val::Gauge(s.recordings_files as u32));
        scalar(
            &mut m,
            STORAGE,
            3,
            Val::Gauge(clamp(sys.disk_used_percent())),
        );
        if let Some(p) = &s.pbx {
            let held = p.records_held.min(u64::from(u32::MAX)) as u32;
            scalar(&mut m, STORAGE, 4, Val::Gauge(held));
        }

        if let Some(o) = &s.outbox {
            let g = |n: u64| Val::Gauge(n.min(u64::from(u32::MAX)) as u32);
            scalar(&mut m, SYNC, 1, g(o.pending));
            scalar(&mut m, SYNC, 2, g(o.failing));
            scalar(&mut m, SYNC, 3, g(o.dead));
            scalar(&mut m, SYNC, 4, g(o.oldest_pending_seconds.unwrap_or(0)));
            scalar(&mut m, SYNC, 5, Val::Truth(o.late()));
            if let Some(link) = &o.link {
                use dering_store::tickets::BreakerState;
                let breaker = match link.breaker {
                    BreakerState::Closed => 1,
                    BreakerState::Open => 2,
                    BreakerState::HalfOpen => 3,
                };
                scalar(&mut m, SYNC, 6, Val::Int(breaker));
                scalar(&mut m, SYNC, 7, Val::Gauge(link.failures));
            }
        }
        if let Some(b) = &s.backup {
            let age = b
                .last_success_ms
                .map_or(0, |t| ((s.at_ms - t).max(0) / 1000) as u64);
            let g = |n: u64| Val::Gauge(n.min(u64::from(u32::MAX)) as u32);
            scalar(&mut m, BACKUP, 1, g(age));
            scalar(&mut m, BACKUP, 2, g(b.failures_total));
            scalar(&mut m, BACKUP, 3, Val::Truth(s.backup_warning().is_some()));
            let error = b
                .last_run
                .as_ref()
                .filter(|r| !r.ok)
                .and_then(|r| r.error.clone())
                .unwrap_or_default();
            scalar(&mut m, BACKUP, 4, Val::Str(error));
        }
        Mib { values: m }
    }

    pub fn get(&self, o: &[u32]) -> Option<&Val> {
        self.values.get(o)
    }

    /// The first instance after `start` (or at it, when `include`), before
    /// `end` when `end` is not empty (RFC 2741 §5.2 search ranges).
    pub fn next(&self, start: &[u32], include: bool, end: &[u32]) -> Option<(&Oid, &Val)> {
        use std::ops::Bound;
        let lower = if include {
            Bound::Included(start.to_vec())
        } else {
            Bound::Excluded(start.to_vec())
        };
        self.values
            .range((lower, Bound::Unbounded))
            .next()
            .filter(|(o, _)| end.is_empty() || o.as_slice() < end)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            at_ms: 0,
            version: "0.1.0".into(),
            daemons: vec![
                dering_health::DaemonHealth {
                    name: "pbxd".into(),
                    live: true,
                    ready: true,
                    reasons: vec![],
                    pid: Some(1),
                    uptime_seconds: Some(5),
                },
                dering_health::DaemonHealth {
                    name: "powerd".into(),
                    live: true,
                    ready: false,
                    reasons: vec!["upsd unreachable".into()],
                    pid: Some(2),
                    uptime_seconds: Some(5),
                },
            ],
            pbx: Some(dering_control::PbxStatus {
                version: "0.1.0".into(),
                active_calls: 3,
                registrations: 7,
                intake_open: true,
                uptime_seconds: 5,
                stream_cuts: Default::default(),
                records_held: 0,
            }),
            calls_today: vec![("active".into(), 3), ("answered".into(), 10)],
            ups: None,
            system: Default::default(),
            recordings_bytes: 2048,
            recordings_files: 1,
            outbox: None,
            backup: None,
            trunks: vec![
                trunk("telkom", Some(true), dering_control::TrunkHealth::Up, false),
                trunk(
                    "indosat",
                    Some(false),
                    dering_control::TrunkHealth::Up,
                    true,
                ),
            ],
            spans: vec![],
            queues: vec![],
            agents: vec![],
        }
    }

    pub(crate) fn trunk(
        name: &str,
        registered: Option<bool>,
        health: dering_control::TrunkHealth,
        alarm: bool,
    ) -> dering_control::TrunkView {
        dering_control::TrunkView {
            name: name.into(),
            kind: dering_control::TrunkKind::Register,
            enabled: true,
            registered,
            why: None,
            alarm,
            health,
            channels_busy: 2,
            channels_limit: Some(30),
            calls_today: 5,
            since_ms: 0,
            target: None,
        }
    }

    pub(crate) fn span(
        name: &str,
        alarm: dering_control::SpanAlarm,
        dchannel_up: bool,
    ) -> dering_control::SpanView {
        dering_control::SpanView {
            reporter: "trunkd".into(),
            report: dering_control::SpanReport {
                name: name.into(),
                kind: dering_control::SpanKind::E1,
                side: dering_control::SpanSide::User,
                alarm,
                dchannel_up: Some(dchannel_up),
                channels: dering_control::ChannelCounts {
                    idle: 27,
                    in_use: 3,
                    ..Default::default()
                },
            },
            reporting: true,
            since_ms: 0,
        }
    }

    pub(crate) use dering_health::testing::{agent, queue};

    #[test]
    fn queues_are_rows_and_agents_are_counted_by_state() {
        use dering_acd::AgentState as S;
        let s = Snapshot {
            queues: vec![queue("pengaduan", 4, 20, 15), queue("informasi", 0, 0, 0)],
            agents: vec![
                agent("a1", S::Ready),
                agent("a2", S::OnCall { call: 1 }),
                agent("a3", S::Offered { call: 2 }),
                agent("a4", S::Busy),
                agent("a5", S::Wrapup { call: 3 }),
                agent(
                    "a6",
                    S::NotReady {
                        reason: "sholat".into(),
                    },
                ),
                agent("a7", S::LoggedOut),
            ],
            ..snapshot()
        };
        let m = Mib::from_snapshot(&s);
        let q = |col, row| m.get(&oid(&[1, 4, 1, 1, col, row])).cloned();
        assert_eq!(q(2, 1), Some(Val::Str("pengaduan".into())));
        assert_eq!(q(3, 1), Some(Val::Gauge(4)));
        assert_eq!(q(4, 1), Some(Val::Gauge(42)), "seconds");
        assert_eq!(
            q(5, 1),
            Some(Val::Gauge(75)),
            "15 of 20 within the threshold"
        );
        assert_eq!(q(6, 1), Some(Val::Gauge(5)));
        assert_eq!(q(7, 1), Some(Val::Gauge(1)));
        assert_eq!(q(2, 2), Some(Val::Str("informasi".into())));
        assert_eq!(q(5, 2), None, "no call yet: no service level");
        let a = |n| m.get(&oid(&[1, 5, n, 0])).cloned();
        assert_eq!(a(1), Some(Val::Gauge(6)), "logged in");
        assert_eq!(a(2), Some(Val::Gauge(1)), "ready");
        assert_eq!(a(3), Some(Val::Gauge(3)), "offered, on a call or busy");
        assert_eq!(a(4), Some(Val::Gauge(1)), "not ready");
        assert_eq!(a(5), Some(Val::Gauge(1)), "wrap-up");
    }

    #[test]
    fn spans_are_rows_after_the_sip_trunks() {
        use dering_control::SpanAlarm;
        let s = Snapshot {
            spans: vec![
                span("e1-a", SpanAlarm::None, true),
                span("e1-b", SpanAlarm::Red, false),
            ],
            ..snapshot()
        };
        let m = Mib::from_snapshot(&s);
        // Rows 1 and 2 are the SIP trunks.
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 6, 1])), Some(&Val::Int(TYPE_SIP)));
        assert_eq!(
            m.get(&oid(&[1, 6, 1, 1, 7, 1])),
            None,
            "no span alarm on a SIP trunk"
        );
        assert_eq!(
            m.get(&oid(&[1, 6, 1, 1, 2, 3])),
            Some(&Val::Str("e1-a".into()))
        );
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 3, 3])), Some(&Val::Int(TRUNK_UP)));
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 4, 3])), Some(&Val::Gauge(3)));
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 5, 3])), Some(&Val::Gauge(30)));
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 6, 3])), Some(&Val::Int(TYPE_E1)));
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 8, 3])), Some(&Val::Truth(true)));
        assert_eq!(
            m.get(&oid(&[1, 6, 1, 1, 3, 4])),
            Some(&Val::Int(TRUNK_ALARM))
        );
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 7, 4])), Some(&Val::Int(2)), "red");
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 8, 4])), Some(&Val::Truth(false)));
        let mut silent = span("e1-a", SpanAlarm::Unknown, false);
        silent.reporting = false;
        assert_eq!(span_state(&silent), TRUNK_DOWN);
        assert_eq!(span_state(&span("x", SpanAlarm::None, false)), TRUNK_DOWN);
    }

    #[test]
    fn trunk_rows_say_up_down_or_alarm() {
        use dering_control::TrunkHealth;
        let m = Mib::from_snapshot(&snapshot());
        assert_eq!(
            m.get(&oid(&[1, 6, 1, 1, 2, 1])),
            Some(&Val::Str("telkom".into()))
        );
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 3, 1])), Some(&Val::Int(TRUNK_UP)));
        assert_eq!(
            m.get(&oid(&[1, 6, 1, 1, 3, 2])),
            Some(&Val::Int(TRUNK_ALARM))
        );
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 4, 1])), Some(&Val::Gauge(2)));
        assert_eq!(m.get(&oid(&[1, 6, 1, 1, 5, 2])), Some(&Val::Gauge(30)));
        assert_eq!(
            trunk_state(&trunk("t", Some(true), TrunkHealth::Down, false)),
            TRUNK_DOWN,
            "registered but not answering OPTIONS is down"
        );
        assert_eq!(
            trunk_state(&trunk("t", None, TrunkHealth::Unknown, false)),
            TRUNK_UP,
            "an IP trunk not probed yet is tried"
        );
    }

    #[test]
    fn values_and_walk_order() {
        let m = Mib::from_snapshot(&snapshot());
        assert_eq!(m.get(&oid(&[1, 3, 2, 0])), Some(&Val::Gauge(3)));
        assert_eq!(m.get(&oid(&[1, 3, 3, 0])), Some(&Val::Gauge(13)));
        assert_eq!(
            m.get(&oid(&[1, 2, 1, 1, 3, 2])),
            Some(&Val::Int(DAEMON_DEGRADED))
        );
        assert_eq!(
            m.get(&oid(&[1, 2, 1, 1, 4, 2])),
            Some(&Val::Str("upsd unreachable".into()))
        );
        assert_eq!(m.get(&oid(&[1, 8, 1, 0])), Some(&Val::Gauge(2)));
        // GetNext from the subtree root finds the first object.
        let (first, _) = m.next(DERING, false, &[]).unwrap();
        assert_eq!(first, &oid(&[1, 1, 1, 0]));
        // The table is walked column by column.
        let (n, _) = m.next(&oid(&[1, 2, 1, 1, 2, 1]), false, &[]).unwrap();
        assert_eq!(n, &oid(&[1, 2, 1, 1, 2, 2]));
        let (n, _) = m.next(&oid(&[1, 2, 1, 1, 2, 2]), false, &[]).unwrap();
        assert_eq!(n, &oid(&[1, 2, 1, 1, 3, 1]));
        // Include and end bounds.
        let at = oid(&[1, 3, 2, 0]);
        assert_eq!(m.next(&at, true, &[]).unwrap().0, &at);
        assert!(m.next(&at, false, &oid(&[1, 3, 3])).is_none());
        // Past the last object: nothing (endOfMibView for the master).
        let last = m.values.keys().last().unwrap().clone();
        assert!(m.next(&last, false, &[]).is_none());
        // No UPS configured: no UPS objects.
        assert!(m.get(&oid(&[1, 7, 1, 0])).is_none());
    }

    #[test]
    fn the_backups_age_failures_and_alarm() {
        let s = Snapshot {
            at_ms: 100 * 3_600_000,
            backup: Some(dering_store::backup::Status {
                last_run: Some(dering_store::backup::Run {
                    started_ms: 0,
                    finished_ms: 0,
                    ok: false,
                    destination: "/media/usb".into(),
                    name: None,
                    bytes: None,
                    error: Some("backup destination /media/usb does not exist".into()),
                }),
                last_success_ms: Some(73 * 3_600_000),
                failures_total: 3,
            }),
            ..snapshot()
        };
        let m = Mib::from_snapshot(&s);
        assert_eq!(m.get(&oid(&[1, 10, 1, 0])), Some(&Val::Gauge(27 * 3600)));
        assert_eq!(m.get(&oid(&[1, 10, 2, 0])), Some(&Val::Gauge(3)));
        assert_eq!(m.get(&oid(&[1, 10, 3, 0])), Some(&Val::Truth(true)));
        assert_eq!(
            m.get(&oid(&[1, 10, 4, 0])),
            Some(&Val::Str(
                "backup destination /media/usb does not exist".into()
            ))
        );
        assert!(Mib::from_snapshot(&snapshot())
            .get(&oid(&[1, 10, 1, 0]))
            .is_none());
    }

    #[test]
    fn the_outbox_counts_and_its_lateness() {
        let s = Snapshot {
            outbox: Some(dering_health::OutboxView {
                pending: 4,
                failing: 3,
                dead: 1,
                oldest_pending_seconds: Some(1_200),
                alarm_after_seconds: Some(900),
                link: Some(dering_store::tickets::SyncLink {
                    breaker: dering_store::tickets::BreakerState::Open,
                    failures: 6,
                    ..Default::default()
                }),
            }),
            ..snapshot()
        };
        let m = Mib::from_snapshot(&s);
        assert_eq!(m.get(&oid(&[1, 9, 6, 0])), Some(&Val::Int(2)), "open");
        assert_eq!(m.get(&oid(&[1, 9, 7, 0])), Some(&Val::Gauge(6)));
        assert_eq!(m.get(&oid(&[1, 9, 1, 0])), Some(&Val::Gauge(4)));
        assert_eq!(m.get(&oid(&[1, 9, 2, 0])), Some(&Val::Gauge(3)));
        assert_eq!(m.get(&oid(&[1, 9, 3, 0])), Some(&Val::Gauge(1)));
        assert_eq!(m.get(&oid(&[1, 9, 4, 0])), Some(&Val::Gauge(1_200)));
        assert_eq!(m.get(&oid(&[1, 9, 5, 0])), Some(&Val::Truth(true)));
        assert!(
            Mib::from_snapshot(&snapshot())
                .get(&oid(&[1, 9, 1, 0]))
                .is_none(),
            "no database read: no outbox objects"
        );
    }

    /// Every object in `mibs/DERING-MIB.txt` by OID: its name and SYNTAX
    /// (the first word), from the text's `name OBJECT-TYPE ... ::= {
    /// parent n }` and `name OBJECT IDENTIFIER ::= { parent n }`.
    fn objects_of_the_mib_text() -> BTreeMap<Oid, (String, String)> {
        let text = include_str!("../mibs/DERING-MIB.txt");
        let mut parent: BTreeMap<String, (String, u32)> = BTreeMap::new();
        let mut syntax: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() >= 2 && words[1] == "OBJECT-TYPE" {
                current = Some(words[0].to_string());
            }
            if let (Some(name), Some(rest)) = (&current, line.strip_prefix("SYNTAX")) {
                let first = rest.split_whitespace().next().unwrap_or_default();
                syntax.insert(name.clone(), first.to_string());
            }
            let Some(at) = line.find("::= {") else {
                continue;
            };
            let inner: Vec<&str> = line[at + 5..]
                .trim_end_matches('}')
                .split_whitespace()
                .collect();
            let [p, n] = inner[..] else { continue };
            let Ok(n) = n.parse::<u32>() else { continue };
            let name = if words.get(1) == Some(&"OBJECT") {
                words[0].to_string()
            } else if let Some(c) = current.take() {
                c
            } else {
                continue;
            };
            parent.insert(name, (p.to_string(), n));
        }
        let resolve = |name: &str| -> Option<Oid> {
            let mut tail = vec![];
            let mut at = name.to_string();
            while at != "dering" {
                let (p, n) = parent.get(&at)?;
                tail.push(*n);
                at = p.clone();
            }
            tail.reverse();
            Some(oid(&tail))
        };
        syntax
            .iter()
            .filter_map(|(name, syn)| Some((resolve(name)?, (name.clone(), syn.clone()))))
            .collect()
    }

    /// Every value the agent serves is an instance of an object the MIB
    /// text defines, of the SYNTAX it declares: a number here out of step
    /// with the text would serve a value no manager can name.
    #[test]
    fn every_value_is_an_instance_of_an_object_in_the_mib_text() {
        let objects = objects_of_the_mib_text();
        assert!(objects.len() > 50, "{objects:?}");
        let s = Snapshot {
            queues: vec![queue("pengaduan", 1, 12, 9)],
            agents: vec![agent("a1", dering_acd::AgentState::Ready)],
            spans: vec![span("e1", dering_control::SpanAlarm::None, true)],
            ups: Some(dering_health::UpsView {
                reachable: true,
                status: "OL".into(),
                charge_percent: Some(100.0),
                runtime_seconds: Some(3600.0),
                input_voltage: Some(220.0),
                ..Default::default()
            }),
            outbox: Some(dering_health::OutboxView {
                pending: 1,
                alarm_after_seconds: Some(900),
                link: Some(Default::default()),
                ..Default::default()
            }),
            backup: Some(dering_store::backup::Status {
                last_run: None,
                last_success_ms: Some(0),
                failures_total: 0,
            }),
            system: dering_health::SystemStats {
                temperature_celsius: Some(41.0),
                ..Default::default()
            },
            ..snapshot()
        };
        let m = Mib::from_snapshot(&s);
        let mut served = std::collections::BTreeSet::new();
        for (o, v) in &m.values {
            let object = &o[..o.len() - 1];
            let Some((name, syntax)) = objects.get(object) else {
                panic!("{o:?} is no instance of an object in the MIB text");
            };
            let fits = match v {
                Val::Int(_) => syntax == "INTEGER" || syntax == "Integer32",
                Val::Str(_) => syntax == "DisplayString",
                Val::Gauge(_) => syntax == "Gauge32",
                Val::Truth(_) => syntax == "TruthValue",
            };
            assert!(fits, "{name} is {syntax} but served as {v:?}");
            served.insert(name.clone());
        }
        // And every readable scalar or column is served by a full box.
        for (name, syntax) in objects.values() {
            let index = name.ends_with("Index")
                || syntax.starts_with("SEQUENCE")
                || syntax.starts_with("Dering");
            assert!(index || served.contains(name), "{name} is never served");
        }
    }
}
