//! Which notifications to send: edges in the box's state between two
//! snapshots, and new power events. Sans-IO: snapshots in, notifications
//! out, so every trap is tested without snmpd.

use std::collections::HashMap;
use std::time::Duration;

use dering_health::Snapshot;
use dering_store::PowerEventRow;

use crate::mib::{
    self, oid, Oid, Val, BACKUP, DAEMONS, DAEMON_ENTRY, QUEUE_ENTRY, STORAGE, SYNC, TRUNK_ENTRY,
    UPS,
};

/// deringNotifications members (DERING-MIB).
pub const UPS_ON_BATTERY: u32 = 1;
pub const UPS_LOW_BATTERY: u32 = 2;
pub const UPS_ON_LINE: u32 = 3;
pub const DAEMON_DOWN: u32 = 4;
pub const DAEMON_UP: u32 = 5;
pub const DISK_FULL: u32 = 6;
pub const SERVICE_LEVEL_LOW: u32 = 7;
pub const TRUNK_ALARM: u32 = 8;
pub const OUTBOX_LATE: u32 = 9;
pub const OUTBOX_CAUGHT_UP: u32 = 10;
pub const BACKUP_FAILED: u32 = 11;
pub const BACKUP_OK: u32 = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The notification's OID.
    pub oid: Oid,
    pub objects: Vec<(Oid, Val)>,
}

fn note(n: u32, objects: Vec<(Oid, Val)>) -> Notification {
    let mut o = oid(mib::NOTIFICATIONS);
    o.push(n);
    Notification { oid: o, objects }
}

fn instance(group: &[u32], n: u32) -> Oid {
    let mut o = oid(group);
    o.extend([n, 0]);
    o
}

/// How long after the agent starts a daemon may take to come up before
/// its absence is an alarm (a heartbeat is stale after 15 s).
pub const STARTUP_GRACE: Duration = Duration::from_secs(30);

/// The calls a queue must have been offered today before its service
/// level can raise an alarm: the morning's first abandoned call is not
/// yet a trend worth a page.
pub const SERVICE_LEVEL_MIN_OFFERED: u64 = 10;

#[derive(Debug)]
pub struct Alarms {
    disk_threshold: f64,
    /// `[snmp] service_level_threshold`, percent.
    service_level_threshold: f64,
    /// The queues whose service level was under the threshold at the
    /// last look.
    service_low: std::collections::HashSet<String>,
    daemons: HashMap<String, bool>,
    /// Each enabled trunk's last deringTrunkState.
    trunks: HashMap<String, i32>,
    disk_over: bool,
    /// The oldest pending outbox row was past its threshold at the last
    /// look.
    outbox_late: bool,
    /// The daily backup failed or went stale at the last look.
    backup_alarm: bool,
}

impl Alarms {
    pub fn new(disk_threshold_percent: u32, service_level_threshold_percent: u32) -> Alarms {
        Alarms {
            disk_threshold: f64::from(disk_threshold_percent),
            service_level_threshold: f64::from(service_level_threshold_percent),
            service_low: Default::default(),
            daemons: HashMap::new(),
            trunks: HashMap::new(),
            disk_over: false,
            outbox_late: false,
            backup_alarm: false,
        }
    }

    /// Notifications for what changed since the last snapshot. A daemon
    /// seen for the first time raises nothing unless it is down.
    /// `running` is how long the agent has run: during the first
    /// [`STARTUP_GRACE`] a daemon that is down has not been seen yet (the
    /// box is still starting), so only its coming up is news.
    pub fn update(
        &mut self,
        s: &Snapshot,
        power: &[PowerEventRow],
        running: Duration,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        for ev in power {
            let n = match ev.kind.as_str() {
                "on_battery" => UPS_ON_BATTERY,
                "low_battery" => UPS_LOW_BATTERY,
                "on_line" => UPS_ON_LINE,
                _ => continue,
            };
            let mut objects = vec![(instance(UPS, 1), Val::Str(status_of(ev)))];
            if let Some(u) = &s.ups {
                objects.push((
                    instance(UPS, 3),
                    Val::Gauge(u.charge_percent.unwrap_or(0.0).max(0.0) as u32),
                ));
                objects.push((
                    instance(UPS, 4),
                    Val::Gauge(u.runtime_seconds.unwrap_or(0.0).max(0.0) as u32),
                ));
            }
            out.push(note(n, objects));
        }
        for d in &s.daemons {
            let Some(i) = DAEMONS.iter().position(|n| *n == d.name) else {
                continue;
            };
            let index = i as u32 + 1;
            let up = d.live;
            if !up && running < STARTUP_GRACE && !self.daemons.contains_key(&d.name) {
                continue;
            }
            let before = self.daemons.insert(d.name.clone(), up);
            let changed = match before {
                Some(b) => b != up,
                None => !up,
            };
            if changed {
                let mut name = oid(DAEMON_ENTRY);
                name.extend([2, index]);
                let mut reason = oid(DAEMON_ENTRY);
                reason.extend([4, index]);
                out.push(note(
                    if up { DAEMON_UP } else { DAEMON_DOWN },
                    vec![
                        (name, Val::Str(d.name.clone())),
                        (reason, Val::Str(d.reasons.join("; "))),
                    ],
                ));
            }
        }
        self.trunk_edges(s, running, &mut out);
        let used = s.system.disk_used_percent();
        let over = used > self.disk_threshold;
        if over && !self.disk_over {
            out.push(note(
                DISK_FULL,
                vec![(instance(STORAGE, 3), Val::Gauge(used.round() as u32))],
            ));
        }
        self.disk_over = over;
        self.outbox_edges(s, &mut out);
        self.backup_edges(s, &mut out);
        self.service_level_edges(s, &mut out);
        out
    }
}

impl Alarms {
    /// deringNotifyServiceLevelLow when a queue's service level today
    /// falls under `[snmp] service_level_threshold` (CMS-4, CMS-10), once
    /// it has been offered [`SERVICE_LEVEL_MIN_OFFERED`] calls; once per
    /// fall: it is raised again only after the level has climbed back to
    /// the threshold (a new day starts the count afresh). When pbxd does
    /// not answer (no queues in the snapshot) the last state is kept: a
    /// daemon-down trap says that already.
    fn service_level_edges(&mut self, s: &Snapshot, out: &mut Vec<Notification>) {
        if s.pbx.is_none() {
            return;
        }
        let mut low = std::collections::HashSet::new();
        for (i, q) in s.queues.iter().enumerate().take(65_535) {
            let Some(sl) = q.service_level else {
                continue;
            };
            if q.today.offered < SERVICE_LEVEL_MIN_OFFERED || sl >= self.service_level_threshold {
                continue;
            }
            low.insert(q.queue.clone());
            if !self.service_low.contains(&q.queue) {
                let index = i as u32 + 1;
                let mut name = oid(QUEUE_ENTRY);
                name.extend([2, index]);
                let mut level = oid(QUEUE_ENTRY);
                level.extend([5, index]);
                out.push(note(
                    SERVICE_LEVEL_LOW,
                    vec![
                        (name, Val::Str(q.queue.clone())),
                        (level, Val::Gauge(sl.round().max(0.0) as u32)),
                    ],
                ));
            }
        }
        self.service_low = low;
    }
}

impl Alarms {
    /// deringNotifyBackupFailed when the daily backup's last run failed
    /// or none succeeded for 26 h (OPS-4), deringNotifyBackupOk when a
    /// run succeeds again: a pair, like the outbox's, since a missing
    /// backup disk needs a person and its end says the data is safe
    /// again. An unreadable database keeps the last state.
    fn backup_edges(&mut self, s: &Snapshot, out: &mut Vec<Notification>) {
        if s.backup.is_none() {
            return;
        }
        let alarm = s.backup_warning().is_some();
        if alarm != self.backup_alarm {
            let m = mib::Mib::from_snapshot(s);
            let objects = [1, 4]
                .into_iter()
                .filter_map(|n| {
                    let o = instance(BACKUP, n);
                    m.get(&o).cloned().map(|v| (o, v))
                })
                .collect();
            out.push(note(if alarm { BACKUP_FAILED } else { BACKUP_OK }, objects));
        }
        self.backup_alarm = alarm;
    }
}

impl Alarms {
    /// deringNotifyOutboxLate when the oldest row owed to SIMPEL passes
    /// `[sync] alarm_after_minutes`, deringNotifyOutboxCaughtUp when no
    /// row is that old any more (SYNC-3): the pair clears the alarm in a
    /// manager, unlike a trunk's, because a late outbox needs a person
    /// (SIMPEL down for long) and its end says the tickets are through.
    /// An unreadable database keeps the last state: no false all-clear.
    fn outbox_edges(&mut self, s: &Snapshot, out: &mut Vec<Notification>) {
        let Some(o) = &s.outbox else {
            return;
        };
        let late = o.late();
        if late != self.outbox_late {
            let g = |n: u64| Val::Gauge(n.min(u64::from(u32::MAX)) as u32);
            out.push(note(
                if late { OUTBOX_LATE } else { OUTBOX_CAUGHT_UP },
                vec![
                    (instance(SYNC, 1), g(o.pending)),
                    (instance(SYNC, 4), g(o.oldest_pending_seconds.unwrap_or(0))),
                ],
            ));
        }
        self.outbox_late = late;
    }
}

impl Alarms {
    /// deringNotifyTrunkAlarm when an enabled trunk goes down or into
    /// alarm (or is first seen so after the start-up grace: a trunk is
    /// still registering while the box starts). A trunk switched off is
    /// not an outage; one coming back is visible in the table, and a trap
    /// on every recovery would page at night for nothing.
    fn trunk_edges(&mut self, s: &Snapshot, running: Duration, out: &mut Vec<Notification>) {
        let mut seen = HashMap::new();
        for (i, t) in s.trunks.iter().enumerate().filter(|(_, t)| t.enabled) {
            let state = mib::trunk_state(t);
            let before = self.trunks.get(&t.name).copied();
            if before.is_none() && running < STARTUP_GRACE && state != mib::TRUNK_ALARM {
                continue;
            }
            seen.insert(t.name.clone(), state);
            let worse = state != mib::TRUNK_UP && before != Some(state);
            if worse {
                out.push(trunk_note(mib::trunk_index(i), &t.name, state));
            }
        }
        // trunkd's spans and lines (issue 14): the same edges, from a red,
        // yellow or blue alarm or a D-channel going down; keyed apart
        // from the SIP trunks, which may share a name.
        for (index, v) in mib::span_rows(s) {
            let state = mib::span_state(v);
            let key = format!("span:{}", v.report.name);
            let before = self.trunks.get(&key).copied();
            if before.is_none() && running < STARTUP_GRACE && state != mib::TRUNK_ALARM {
                continue;
            }
            seen.insert(key, state);
            if state != mib::TRUNK_UP && before != Some(state) {
                out.push(trunk_note(index, &v.report.name, state));
            }
        }
        self.trunks = seen;
    }
}

/// deringNotifyTrunkAlarm for row `index`.
fn trunk_note(index: u32, trunk: &str, state: i32) -> Notification {
    let mut name = oid(TRUNK_ENTRY);
    name.extend([2, index]);
    let mut st = oid(TRUNK_ENTRY);
    st.extend([3, index]);
    note(
        TRUNK_ALARM,
        vec![(name, Val::Str(trunk.to_string())), (st, Val::Int(state))],
    )
}

/// The UPS status stored with the event (`{"status": "OB DISCHRG", ...}`).
fn status_of(ev: &PowerEventRow) -> String {
    ev.status
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v["status"].as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dering_health::DaemonHealth;

    fn snap(pbxd_live: bool, disk_used: u64) -> Snapshot {
        Snapshot {
            daemons: vec![DaemonHealth {
                name: "pbxd".into(),
                live: pbxd_live,
                ready: pbxd_live,
                reasons: if pbxd_live {
                    vec![]
                } else {
                    vec!["control socket: refused".into()]
                },
                pid: None,
                uptime_seconds: None,
            }],
            system: dering_health::SystemStats {
                disk_used_bytes: disk_used,
                disk_total_bytes: 100,
                ..Default::default()
            },
            ..Snapshot::empty(0)
        }
    }

    fn ev(kind: &str) -> PowerEventRow {
        PowerEventRow {
            at_ms: 1,
            kind: kind.into(),
            alarm: true,
            detail: String::new(),
            status: Some(r#"{"status":"OB DISCHRG"}"#.into()),
        }
    }

    /// Long after start.
    const T: Duration = Duration::from_secs(600);

    fn tails(v: &[Notification]) -> Vec<u32> {
        v.iter().map(|n| *n.oid.last().unwrap()).collect()
    }

    #[test]
    fn edges_only() {
        let mut a = Alarms::new(90, 80);
        assert!(
            a.update(&snap(true, 50), &[], T).is_empty(),
            "healthy start is quiet"
        );
        let down = a.update(&snap(false, 50), &[], T);
        assert_eq!(tails(&down), [DAEMON_DOWN]);
        assert_eq!(
            down[0].objects[1].1,
            Val::Str("control socket: refused".into())
        );
        assert!(
            a.update(&snap(false, 50), &[], T).is_empty(),
            "no repeat while down"
        );
        assert_eq!(
            tails(&a.update(&snap(true, 95), &[], T)),
            [DAEMON_UP, DISK_FULL]
        );
        assert!(a.update(&snap(true, 96), &[], T).is_empty());
        let p = a.update(
            &snap(true, 10),
            &[
                ev("on_battery"),
                ev("shutdown_started"),
                ev("low_battery"),
                ev("on_line"),
            ],
            T,
        );
        assert_eq!(tails(&p), [UPS_ON_BATTERY, UPS_LOW_BATTERY, UPS_ON_LINE]);
        assert_eq!(p[0].objects[0].1, Val::Str("OB DISCHRG".into()));
        assert_eq!(p[0].oid, oid(&[0, UPS_ON_BATTERY]));
    }

    #[test]
    fn a_trunk_going_down_or_into_alarm_traps_once() {
        use dering_control::TrunkHealth;
        let with = |registered, health, alarm| Snapshot {
            trunks: vec![crate::mib::tests::trunk(
                "telkom", registered, health, alarm,
            )],
            ..snap(true, 0)
        };
        let mut a = Alarms::new(90, 80);
        assert!(
            a.update(
                &with(Some(false), TrunkHealth::Unknown, false),
                &[],
                Duration::ZERO
            )
            .is_empty(),
            "still registering at start"
        );
        assert!(a
            .update(&with(Some(true), TrunkHealth::Up, false), &[], T)
            .is_empty());
        let down = a.update(&with(Some(true), TrunkHealth::Down, false), &[], T);
        assert_eq!(tails(&down), [TRUNK_ALARM]);
        assert_eq!(down[0].objects[0].1, Val::Str("telkom".into()));
        assert_eq!(down[0].objects[1].1, Val::Int(mib::TRUNK_DOWN));
        assert!(
            a.update(&with(Some(true), TrunkHealth::Down, false), &[], T)
                .is_empty(),
            "no repeat while down"
        );
        let alarm = a.update(&with(Some(false), TrunkHealth::Down, true), &[], T);
        assert_eq!(tails(&alarm), [TRUNK_ALARM], "down to alarm is news");
        assert_eq!(alarm[0].objects[1].1, Val::Int(mib::TRUNK_ALARM));
        let mut off = with(Some(false), TrunkHealth::Down, false);
        off.trunks[0].enabled = false;
        assert!(
            a.update(&off, &[], T).is_empty(),
            "switching a trunk off is not an outage"
        );
    }

    #[test]
    fn a_span_in_alarm_or_losing_its_dchannel_traps_once() {
        use dering_control::SpanAlarm;
        let with = |alarm, up| Snapshot {
            spans: vec![crate::mib::tests::span("telkom", alarm, up)],
            ..snap(true, 0)
        };
        let mut a = Alarms::new(90, 80);
        assert!(
            a.update(&with(SpanAlarm::None, false), &[], Duration::ZERO)
                .is_empty(),
            "the D-channel still coming up at start"
        );
        assert!(a.update(&with(SpanAlarm::None, true), &[], T).is_empty());
        let red = a.update(&with(SpanAlarm::Red, false), &[], T);
        assert_eq!(tails(&red), [TRUNK_ALARM]);
        assert_eq!(red[0].objects[0].1, Val::Str("telkom".into()));
        assert_eq!(red[0].objects[1].1, Val::Int(mib::TRUNK_ALARM));
        assert_eq!(
            red[0].objects[0].0,
            oid(&[1, 6, 1, 1, 2, 1]),
            "row 1: no SIP trunk"
        );
        assert!(
            a.update(&with(SpanAlarm::Red, false), &[], T).is_empty(),
            "no repeat while red"
        );
        assert!(
            a.update(&with(SpanAlarm::None, true), &[], T).is_empty(),
            "back up"
        );
        let down = a.update(&with(SpanAlarm::None, false), &[], T);
        assert_eq!(tails(&down), [TRUNK_ALARM], "the D-channel lost");
        assert_eq!(down[0].objects[1].1, Val::Int(mib::TRUNK_DOWN));
    }

    #[test]
    fn a_queue_under_its_service_level_traps_once_per_fall() {
        use crate::mib::tests::queue;
        let mut a = Alarms::new(90, 80);
        let with = |queues| Snapshot {
            pbx: Some(dering_control::PbxStatus {
                version: "0".into(),
                active_calls: 0,
                registrations: 0,
                intake_open: true,
                uptime_seconds: 60,
                stream_cuts: Default::default(),
                records_held: 0,
            }),
            queues,
            ..snap(true, 10)
        };
        let run = Duration::from_secs(60);
        // 50 % but only 4 calls offered: too early to page.
        let early = with(vec![queue("pengaduan", 1, 4, 2)]);
        assert!(a.update(&early, &[], run).is_empty());
        // 50 % of 12: the queue's name and level, once.
        let low = with(vec![
            queue("informasi", 0, 20, 20),
            queue("pengaduan", 3, 12, 6),
        ]);
        let out = a.update(&low, &[], run);
        assert_eq!(tails(&out), vec![SERVICE_LEVEL_LOW]);
        assert_eq!(
            out[0].objects,
            vec![
                (oid(&[1, 4, 1, 1, 2, 2]), Val::Str("pengaduan".into())),
                (oid(&[1, 4, 1, 1, 5, 2]), Val::Gauge(50)),
            ]
        );
        assert!(a.update(&low, &[], run).is_empty(), "still low: no repeat");
        // pbxd not answering keeps the state (no repeat when it returns).
        let down = a.update(&snap(false, 10), &[], run);
        assert!(!tails(&down).contains(&SERVICE_LEVEL_LOW), "{down:?}");
        let up = a.update(&low, &[], run);
        assert_eq!(tails(&up), vec![DAEMON_UP], "{up:?}");
        // Back at the threshold, then under it again: a new trap.
        let back = with(vec![
            queue("informasi", 0, 20, 20),
            queue("pengaduan", 0, 20, 16),
        ]);
        assert!(a.update(&back, &[], run).is_empty());
        assert_eq!(tails(&a.update(&low, &[], run)), vec![SERVICE_LEVEL_LOW]);
    }

    #[test]
    fn a_late_outbox_traps_once_and_clears_when_caught_up() {
        let with = |pending, oldest: Option<u64>| Snapshot {
            outbox: Some(dering_health::OutboxView {
                pending,
                failing: pending,
                dead: 0,
                oldest_pending_seconds: oldest,
                alarm_after_seconds: Some(900),
                link: None,
            }),
            ..snap(true, 0)
        };
        let mut a = Alarms::new(90, 80);
        assert!(a.update(&with(2, Some(60)), &[], T).is_empty());
        let late = a.update(&with(5, Some(901)), &[], T);
        assert_eq!(tails(&late), [OUTBOX_LATE]);
        assert_eq!(late[0].objects[0], (oid(&[1, 9, 1, 0]), Val::Gauge(5)));
        assert_eq!(late[0].objects[1], (oid(&[1, 9, 4, 0]), Val::Gauge(901)));
        assert!(
            a.update(&with(6, Some(2_000)), &[], T).is_empty(),
            "no repeat while late"
        );
        assert!(
            a.update(&snap(true, 0), &[], T).is_empty(),
            "an unreadable database is no all-clear"
        );
        let done = a.update(&with(0, None), &[], T);
        assert_eq!(tails(&done), [OUTBOX_CAUGHT_UP]);
        assert!(a.update(&with(0, None), &[], T).is_empty());
    }

    #[test]
    fn a_failed_backup_traps_once_and_clears_when_one_succeeds() {
        let with = |ok: bool| Snapshot {
            at_ms: 10_000,
            backup: Some(dering_store::backup::Status {
                last_run: Some(dering_store::backup::Run {
                    started_ms: 9_000,
                    finished_ms: 9_500,
                    ok,
                    destination: "/media/usb".into(),
                    name: None,
                    bytes: None,
                    error: (!ok).then(|| "disk gone".into()),
                }),
                last_success_ms: Some(5_000),
                failures_total: 1,
            }),
            ..snap(true, 0)
        };
        let mut a = Alarms::new(90, 80);
        assert!(a.update(&with(true), &[], T).is_empty());
        let failed = a.update(&with(false), &[], T);
        assert_eq!(tails(&failed), [BACKUP_FAILED]);
        assert_eq!(
            failed[0].objects[1],
            (oid(&[1, 10, 4, 0]), Val::Str("disk gone".into()))
        );
        assert!(a.update(&with(false), &[], T).is_empty(), "no repeat");
        assert!(
            a.update(&snap(true, 0), &[], T).is_empty(),
            "an unreadable database is no all-clear"
        );
        assert_eq!(tails(&a.update(&with(true), &[], T)), [BACKUP_OK]);
    }

    #[test]
    fn a_daemon_down_at_start_is_reported_after_the_grace() {
        let mut a = Alarms::new(90, 80);
        assert!(
            a.update(&snap(false, 0), &[], Duration::from_secs(2))
                .is_empty(),
            "still starting"
        );
        assert_eq!(
            tails(&a.update(&snap(false, 0), &[], STARTUP_GRACE)),
            [DAEMON_DOWN]
        );
        let mut b = Alarms::new(90, 80);
        assert!(b.update(&snap(false, 0), &[], Duration::ZERO).is_empty());
        assert!(
            b.update(&snap(true, 0), &[], Duration::from_secs(4))
                .is_empty(),
            "coming up within the grace is quiet: it was never reported down"
        );
    }
}
