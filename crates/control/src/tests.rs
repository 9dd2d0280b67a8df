//! The wire format, pinned: requests, replies, errors and events as
//! `socat` users and other clients see them, and their round trips.

use super::*;

fn round_trip<T>(v: &T) -> String
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let s = serde_json::to_string(v).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&s).unwrap(), v, "{s}");
    assert!(!s.contains('\n'), "one line: {s}");
    s
}

fn call_event(what: CallEventKind) -> Stamped {
    Stamped {
        seq: 7,
        event: Event::Call(CallEvent {
            at_ms: 1_700_000_000_000,
            call: CallIdentity {
                uuid: "18c-abc".into(),
                caller: "081211110001".into(),
                caller_name: Some("Siti".into()),
                dialled: "170".into(),
                queue: Some("pengaduan".into()),
                agent: Some("2001".into()),
                extension: Some("1001".into()),
            },
            what,
        }),
    }
}

#[test]
fn requests_are_tagged_json() {
    let r = Request::CloseIntake {
        retry_after_seconds: 120,
    };
    assert_eq!(
        round_trip(&r),
        r#"{"cmd":"close_intake","retry_after_seconds":120}"#
    );
    let e = Event::Power {
        at_ms: 1,
        kind: "on_battery".into(),
        alarm: true,
        detail: "d".into(),
    };
    let s = round_trip(&Request::Publish { event: e });
    assert!(s.contains(r#""event":{"event":"power""#), "{s}");
    assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    let r = Request::Agent {
        action: AgentAction::NotReady {
            agent: "2001".into(),
            code: "2".into(),
        },
    };
    assert_eq!(
        round_trip(&r),
        r#"{"cmd":"agent","action":"not_ready","agent":"2001","code":"2"}"#
    );
}

#[test]
fn subscribe_without_a_seq_is_what_socat_users_type() {
    assert_eq!(
        serde_json::from_str::<Request>(r#"{"cmd":"subscribe"}"#).unwrap(),
        Request::Subscribe { from_seq: None }
    );
    assert_eq!(
        round_trip(&Request::Subscribe { from_seq: Some(42) }),
        r#"{"cmd":"subscribe","from_seq":42}"#
    );
    assert_eq!(round_trip(&Request::Snapshot), r#"{"cmd":"snapshot"}"#);
}

/// The desktop's conference (issue 16): an older client's line (no
/// consultation) reads and is written exactly as before; a conference of
/// an answered consultation names it, and may leave `to` out.
#[test]
fn a_conference_may_name_the_consultation_it_joins() {
    let old = r#"{"cmd":"conference","uuid":"u-a","to":"1004"}"#;
    let r = serde_json::from_str::<Request>(old).unwrap();
    assert_eq!(
        r,
        Request::Conference {
            uuid: "u-a".into(),
            to: "1004".into(),
            consult: None
        }
    );
    assert_eq!(round_trip(&r), old);
    let line = r#"{"cmd":"conference","uuid":"u-a","consult":"u-c"}"#;
    let joined = serde_json::from_str::<Request>(line).unwrap();
    assert_eq!(
        joined,
        Request::Conference {
            uuid: "u-a".into(),
            to: String::new(),
            consult: Some("u-c".into())
        }
    );
    assert_eq!(round_trip(&joined), line);
}

#[test]
fn replies_carry_the_version_and_a_typed_outcome() {
    let ok = Reply::new(Ok(Response::CallPlaced { uuid: "u1".into() }));
    assert_eq!(
        round_trip(&ok),
        r#"{"v":2,"ok":{"type":"call_placed","uuid":"u1"}}"#
    );
    assert_eq!(ok.line(), serde_json::to_string(&ok).unwrap());
    let done = Reply::new(Ok(Response::Done));
    assert_eq!(round_trip(&done), r#"{"v":2,"ok":{"type":"done"}}"#);
    let err = Reply::new(Err(ControlError::BadPin {
        agent: "2001".into(),
    }));
    assert_eq!(
        round_trip(&err),
        r#"{"v":2,"error":{"code":"bad_pin","agent":"2001"}}"#
    );
    assert_eq!(
        err.into_result(),
        Err(ControlError::BadPin {
            agent: "2001".into()
        })
    );
    let status = Reply::new(Ok(Response::Status {
        status: PbxStatus {
            version: "0.1.0".into(),
            active_calls: 3,
            registrations: 4,
            intake_open: true,
            uptime_seconds: 5,
            stream_cuts: [("per_source_cap".to_string(), 2)].into(),
            records_held: 0,
        },
    }));
    round_trip(&status);
    round_trip(&Reply::new(Ok(Response::ConfigApplied {
        version: 2,
        changed: true,
        summary: "extension 1011 added".into(),
        restart_needed: vec!["http".into()],
    })));
    round_trip(&Reply::new(Err(ControlError::BadConfig {
        message: "baru.toml:3: key `x`".into(),
    })));
    let reloaded = round_trip(&Reply::new(Ok(Response::PromptsReloaded {
        prompts: 58,
        music: 1,
    })));
    assert!(
        reloaded.contains(r#""type":"prompts_reloaded","prompts":58"#),
        "{reloaded}"
    );
    round_trip(&Reply::new(Err(ControlError::BadPrompts {
        message: "/p/id/menu.wav: not a WAV".into(),
    })));
    let snap = Reply::new(Ok(Response::Snapshot {
        snapshot: Snapshot {
            seq: 9,
            calls: vec![CallView {
                uuid: "u".into(),
                caller: "1001".into(),
                caller_name: None,
                callee: "1002".into(),
                callee_name: Some("B".into()),
                start_ms: 1,
                answer_ms: Some(2),
                state: CallState::Answered,
                codec: Some("PCMA".into()),
                a_port: 20000,
                b_port: 20002,
            }],
            agents: vec![],
            queues: vec![],
        },
    }));
    let s = round_trip(&snap);
    assert!(
        s.contains(r#""type":"snapshot","snapshot":{"seq":9"#),
        "{s}"
    );
}

#[test]
fn every_error_code_round_trips_and_reads_as_a_sentence() {
    let all = [
        ControlError::BadRequest {
            message: "x".into(),
        },
        ControlError::IncompatibleVersion { pbxd: 2, client: 3 },
        ControlError::UnknownAgent { agent: "9".into() },
        ControlError::BadPin { agent: "9".into() },
        ControlError::NotLoggedIn { agent: "9".into() },
        ControlError::LoggedInElsewhere {
            agent: "9".into(),
            extension: "1001".into(),
        },
        ControlError::UnknownQueue { queue: "q".into() },
        ControlError::NoSuchCall { uuid: "u".into() },
        ControlError::NoSuchExtension {
            extension: "4444".into(),
        },
        ControlError::NotAnAddress { ip: "x".into() },
        ControlError::BadFlow {
            message: "m".into(),
        },
        ControlError::BadPrompts {
            message: "m".into(),
        },
        ControlError::SeqUnavailable {
            from_seq: 1,
            oldest: 5,
            next: 9,
        },
        ControlError::TooSlow,
        ControlError::Refused {
            message: "m".into(),
        },
    ];
    for e in all {
        let s = round_trip(&e);
        assert!(s.starts_with(r#"{"code":""#), "{s}");
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(
        ControlError::NoSuchExtension {
            extension: "4444".into()
        }
        .to_string(),
        "no extension 4444"
    );
}

#[test]
fn an_error_code_from_a_newer_pbxd_is_still_an_error() {
    let r: Reply = serde_json::from_str(r#"{"v":2,"error":{"code":"trunk_down"}}"#).unwrap();
    assert_eq!(r.into_result(), Err(ControlError::Unknown));
}

#[test]
fn acd_refusals_keep_their_meaning() {
    use dering_acd::AcdError;
    assert_eq!(
        ControlError::from(AcdError::WrongPin("2001".into())),
        ControlError::BadPin {
            agent: "2001".into()
        }
    );
    assert_eq!(
        ControlError::from(AcdError::NoAgent("2009".into())),
        ControlError::UnknownAgent {
            agent: "2009".into()
        }
    );
}

#[test]
fn call_events_are_flat_lines_with_identity_and_seq() {
    let e = call_event(CallEventKind::Ended {
        disposition: Disposition::NoAnswer,
        by: "system".into(),
        cause: "no answer".into(),
        sip_code: Some(480),
    });
    let s = round_trip(&e);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["seq"], 7);
    assert_eq!(v["event"], "call");
    assert_eq!(v["kind"], "ended");
    assert_eq!(v["uuid"], "18c-abc");
    assert_eq!(v["caller"], "081211110001");
    assert_eq!(v["caller_name"], "Siti");
    assert_eq!(v["dialled"], "170");
    assert_eq!(v["queue"], "pengaduan");
    assert_eq!(v["agent"], "2001");
    assert_eq!(v["extension"], "1001");
    assert_eq!(v["disposition"], "no_answer");
    for what in [
        CallEventKind::Offered,
        CallEventKind::Ringing,
        CallEventKind::Answered,
        CallEventKind::Held { by: Party::Caller },
        CallEventKind::Resumed { by: Party::Callee },
        CallEventKind::Transferred { to: "1003".into() },
        CallEventKind::Recorded,
    ] {
        let name = what.name();
        let s = round_trip(&call_event(what));
        assert!(s.contains(&format!(r#""kind":"{name}""#)), "{s}");
    }
}

#[test]
fn an_event_without_the_optional_identity_reads() {
    let s = r#"{"seq":1,"event":"call","at_ms":5,"uuid":"u","caller":"1001","dialled":"1002","kind":"offered"}"#;
    let e: Stamped = serde_json::from_str(s).unwrap();
    let Event::Call(c) = e.event else {
        panic!("{e:?}")
    };
    assert_eq!(
        (c.call.queue, c.call.agent, c.what),
        (None, None, CallEventKind::Offered)
    );
}

#[test]
fn older_events_keep_their_shape_with_a_seq() {
    let s = round_trip(&Stamped {
        seq: 1,
        event: Event::Intake { open: false },
    });
    assert_eq!(s, r#"{"seq":1,"event":"intake","open":false}"#);
}

#[test]
fn trunks_view_and_trunk_events_are_pinned() {
    assert_eq!(round_trip(&Request::Trunks), r#"{"cmd":"trunks"}"#);
    let view = TrunkView {
        name: "telkom".into(),
        kind: TrunkKind::Register,
        enabled: true,
        registered: Some(false),
        why: Some("forbidden (403)".into()),
        alarm: true,
        health: TrunkHealth::Down,
        channels_busy: 3,
        channels_limit: Some(30),
        calls_today: 120,
        since_ms: 1_700_000_000_000,
        target: Some("udp:192.0.2.5:5060".into()),
    };
    let reply = Reply::new(Ok(Response::Trunks {
        trunks: vec![view.clone()],
    }));
    let s = round_trip(&reply);
    assert!(
        s.starts_with(r#"{"v":2,"ok":{"type":"trunks","trunks":[{"name":"telkom","kind":"register","enabled":true,"registered":false"#),
        "{s}"
    );
    assert!(s.contains(r#""health":"down""#), "{s}");
    let ev = Stamped {
        seq: 9,
        event: Event::Trunk {
            at_ms: 5,
            trunk: "telkom".into(),
            registered: Some(false),
            health: TrunkHealth::Unknown,
            alarm: true,
            why: Some("forbidden (403)".into()),
        },
    };
    assert_eq!(
        round_trip(&ev),
        r#"{"seq":9,"event":"trunk","at_ms":5,"trunk":"telkom","registered":false,"health":"unknown","alarm":true,"why":"forbidden (403)"}"#
    );
}

fn span_report(name: &str) -> SpanReport {
    SpanReport {
        name: name.into(),
        kind: SpanKind::E1,
        side: SpanSide::User,
        alarm: SpanAlarm::None,
        dchannel_up: Some(true),
        channels: ChannelCounts {
            idle: 28,
            in_use: 2,
            ..ChannelCounts::default()
        },
    }
}

#[test]
fn span_reports_and_views_are_pinned() {
    let report = Request::ReportSpans {
        reporter: "trunkd".into(),
        spans: vec![span_report("telkom")],
    };
    assert_eq!(
        round_trip(&report),
        r#"{"cmd":"report_spans","reporter":"trunkd","spans":[{"name":"telkom","kind":"e1","side":"user","alarm":"none","dchannel_up":true,"channels":{"idle":28,"in_use":2,"blocked":0,"restarting":0,"ringing":0}}]}"#
    );
    assert_eq!(round_trip(&Request::Spans), r#"{"cmd":"spans"}"#);

    // An analog line: no D-channel, one channel, and the counts a socat
    // user leaves out read as zero.
    let line: Request = serde_json::from_str(
        r#"{"cmd":"report_spans","reporter":"trunkd","spans":[{"name":"co-1","kind":"analog","side":"fxo","alarm":"none","channels":{"ringing":1}}]}"#,
    )
    .unwrap();
    let Request::ReportSpans { spans, .. } = line else {
        panic!("{line:?}")
    };
    assert_eq!(spans[0].dchannel_up, None);
    assert_eq!(spans[0].channels.total(), 1);
    assert_eq!(spans[0].channels.busy(), 1);

    let view = SpanView {
        reporter: "trunkd".into(),
        report: SpanReport {
            alarm: SpanAlarm::Red,
            dchannel_up: Some(false),
            ..span_report("telkom")
        },
        reporting: true,
        since_ms: 5,
    };
    let ev = Stamped {
        seq: 3,
        event: Event::Span {
            at_ms: 5,
            span: view.clone(),
        },
    };
    assert_eq!(
        round_trip(&ev),
        r#"{"seq":3,"event":"span","at_ms":5,"span":{"reporter":"trunkd","name":"telkom","kind":"e1","side":"user","alarm":"red","dchannel_up":false,"channels":{"idle":28,"in_use":2,"blocked":0,"restarting":0,"ringing":0},"reporting":true,"since_ms":5}}"#
    );
    let reply = round_trip(&Reply::new(Ok(Response::Spans {
        spans: vec![view.clone()],
    })));
    assert!(
        reply.starts_with(r#"{"v":2,"ok":{"type":"spans","spans":[{"reporter":"trunkd""#),
        "{reply}"
    );
    assert_eq!(view.warning().as_deref(), Some("span telkom: red alarm"));
}

#[test]
fn a_span_warns_in_alarm_with_its_dchannel_down_or_unreported() {
    let view = |alarm, dchannel_up, reporting| SpanView {
        reporter: "trunkd".into(),
        report: SpanReport {
            alarm,
            dchannel_up,
            ..span_report("telkom")
        },
        reporting,
        since_ms: 0,
    };
    assert_eq!(view(SpanAlarm::None, Some(true), true).warning(), None);
    assert_eq!(view(SpanAlarm::None, None, true).warning(), None, "a line");
    assert_eq!(
        view(SpanAlarm::None, Some(false), true)
            .warning()
            .as_deref(),
        Some("span telkom: D-channel down")
    );
    assert_eq!(
        view(SpanAlarm::Blue, Some(false), true)
            .warning()
            .as_deref(),
        Some("span telkom: blue alarm")
    );
    assert_eq!(
        view(SpanAlarm::Unknown, Some(false), false)
            .warning()
            .as_deref(),
        Some("span telkom: trunkd not reporting")
    );
}
