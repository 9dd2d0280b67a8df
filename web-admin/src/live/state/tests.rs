#![allow(clippy::unwrap_used)]

use dering_acd::AgentState;
use dering_control::{CallIdentity, CallView, Disposition, Party};

use super::*;

fn call_event(seq: u64, uuid: &str, what: CallEventKind) -> Stamped {
    Stamped {
        seq,
        event: Event::Call(CallEvent {
            at_ms: 1_000 + seq as i64,
            call: CallIdentity {
                uuid: uuid.into(),
                caller: "081234".into(),
                caller_name: Some("Budi".into()),
                dialled: "137".into(),
                queue: Some("pengaduan".into()),
                agent: Some("agent7".into()),
                extension: Some("1002".into()),
            },
            what,
        }),
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        seq: 4,
        calls: vec![CallView {
            uuid: "old".into(),
            caller: "1001".into(),
            caller_name: None,
            callee: "1003".into(),
            callee_name: None,
            start_ms: 500,
            answer_ms: Some(600),
            state: CallState::Answered,
            codec: Some("PCMA".into()),
            a_port: 1,
            b_port: 2,
        }],
        agents: vec![AgentView {
            agent: "agent7".into(),
            name: "Siti".into(),
            extension: Some("1002".into()),
            state: AgentState::Ready,
            since_ms: 0,
            calls: 0,
        }],
        queues: vec![],
    }
}

#[test]
fn a_call_appears_changes_state_and_goes() {
    let mut s = LiveState::from_snapshot(snapshot());
    assert_eq!(s.calls["old"].state, "answered");
    let a = s.apply(call_event(5, "new", CallEventKind::Offered));
    let Change::Call { call } = &a.changes[0] else {
        panic!("{a:?}")
    };
    assert_eq!(
        (call.state, call.caller.as_str(), call.queue.as_deref()),
        ("ringing", "081234", Some("pengaduan"))
    );
    s.apply(call_event(6, "new", CallEventKind::Answered));
    assert_eq!(s.calls["new"].answer_ms, Some(1_006));
    s.apply(call_event(
        7,
        "new",
        CallEventKind::Held { by: Party::Callee },
    ));
    assert_eq!(s.calls["new"].state, "held");
    s.apply(call_event(
        8,
        "new",
        CallEventKind::Resumed { by: Party::Callee },
    ));
    s.apply(call_event(9, "new", CallEventKind::Recorded));
    assert_eq!(
        (s.calls["new"].state, s.calls["new"].recorded),
        ("answered", true)
    );
    let end = CallEventKind::Ended {
        disposition: Disposition::Answered,
        by: "caller".into(),
        cause: "bye".into(),
        sip_code: None,
    };
    let a = s.apply(call_event(10, "new", end));
    assert_eq!(a.changes, [Change::CallEnded { uuid: "new".into() }]);
    assert!(!s.calls.contains_key("new"));
    assert_eq!((s.seq, s.calls.len()), (10, 1));
}

#[test]
fn agent_states_update_the_agent_and_queue_events_ask_for_the_queues() {
    let mut s = LiveState::from_snapshot(snapshot());
    let a = s.apply(Stamped {
        seq: 5,
        event: Event::Acd {
            at_ms: 2_000,
            uuid: None,
            detail: dering_acd::Event::AgentState {
                agent: "agent7".into(),
                extension: Some("1002".into()),
                state: AgentState::NotReady {
                    reason: "istirahat".into(),
                },
            },
        },
    });
    assert!(a.queues_stale);
    let Change::Agent { agent } = &a.changes[0] else {
        panic!("{a:?}")
    };
    assert_eq!((agent.name.as_str(), agent.since_ms), ("Siti", 2_000));
    assert!(matches!(agent.state, AgentState::NotReady { .. }));
    let a = s.apply(Stamped {
        seq: 6,
        event: Event::Acd {
            at_ms: 2_100,
            uuid: Some("x".into()),
            detail: dering_acd::Event::Entered {
                call: 1,
                queue: "pengaduan".into(),
                position: 1,
                priority: 0,
            },
        },
    });
    assert_eq!((a.changes.len(), a.queues_stale), (0, true));
    assert_eq!(s.set_queues(vec![]), None, "unchanged queues push nothing");
}

fn trunk_view(name: &str, registered: Option<bool>) -> TrunkView {
    TrunkView {
        name: name.into(),
        kind: TrunkKind::Register,
        enabled: true,
        registered,
        why: None,
        alarm: false,
        health: TrunkHealth::Up,
        channels_busy: 2,
        channels_limit: Some(30),
        calls_today: 17,
        since_ms: 0,
        target: Some("203.0.113.5:5060".into()),
    }
}

fn trunk_event(seq: u64, name: &str, registered: Option<bool>, why: Option<&str>) -> Stamped {
    Stamped {
        seq,
        event: Event::Trunk {
            at_ms: 3_000,
            trunk: name.into(),
            registered,
            health: TrunkHealth::Down,
            alarm: true,
            why: why.map(Into::into),
        },
    }
}

#[test]
fn trunk_events_update_the_trunks_taken_with_the_snapshot() {
    let mut s =
        LiveState::from_snapshot(snapshot()).with_trunks(vec![trunk_view("telkom", Some(true))]);
    assert_eq!(s.trunks["telkom"].registered, Some(true));
    let a = s.apply(trunk_event(5, "telkom", Some(false), Some("403 Forbidden")));
    assert_eq!(a.changes[0].name(), "trunk");
    let t = &s.trunks["telkom"];
    assert_eq!(
        (
            t.registered,
            t.health,
            t.alarm,
            t.why.as_deref(),
            t.since_ms
        ),
        (
            Some(false),
            TrunkHealth::Down,
            true,
            Some("403 Forbidden"),
            3_000
        )
    );
    assert_eq!(
        (t.channels_limit, t.calls_today),
        (Some(30), 17),
        "what the event does not carry is kept"
    );
    // A trunk added since the snapshot appears from its event.
    s.apply(trunk_event(6, "indosat", None, None));
    assert_eq!(s.trunks["indosat"].kind, TrunkKind::Ip);
    assert_eq!(s.trunks.len(), 2);
}

#[test]
fn burst_alarms_are_kept_for_late_browsers_but_bounded() {
    let mut s = LiveState::from_snapshot(snapshot());
    for i in 0..(BURSTS_KEPT as u64 + 5) {
        let a = s.apply(Stamped {
            seq: 5 + i,
            event: Event::OutsideBurst {
                at_ms: i as i64,
                extension: format!("10{i:02}"),
                calls: 12,
                seconds: 60,
            },
        });
        assert_eq!(a.changes[0].name(), "outside_burst");
    }
    assert_eq!(s.bursts.len(), BURSTS_KEPT);
    assert_eq!(s.bursts.front().map(|b| b.at_ms), Some(5), "oldest dropped");
    assert_eq!(s.bursts.back().map(|b| b.extension.as_str()), Some("1024"));
}
