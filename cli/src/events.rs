//! `dering events`: the event stream, one line per event for a person
//! (the default) or as the stream's JSON lines (`--json`).

use dering_control::{CallEvent, CallEventKind, Event, Party, Stamped};

/// One event as a line a technician reads: sequence number, time (WIB),
/// what happened, to whom.
pub fn describe(e: &Stamped) -> String {
    let (at_ms, what) = match &e.event {
        Event::Power {
            at_ms,
            kind,
            alarm,
            detail,
        } => (
            Some(*at_ms),
            format!(
                "power {kind}{} {detail}",
                if *alarm { " (alarm)" } else { "" }
            ),
        ),
        Event::Intake { open } => (
            None,
            format!("intake {}", if *open { "open" } else { "closed" }),
        ),
        Event::Acd {
            at_ms,
            uuid,
            detail,
        } => (
            Some(*at_ms),
            format!(
                "acd {}{}",
                serde_json::to_string(detail).unwrap_or_default(),
                uuid.as_deref()
                    .map(|u| format!(" call {u}"))
                    .unwrap_or_default()
            ),
        ),
        Event::Call(c) => (Some(c.at_ms), call(c)),
        Event::OutsideBurst {
            at_ms,
            extension,
            calls,
            seconds,
        } => (
            Some(*at_ms),
            format!("alarm {extension} made {calls} outside calls in {seconds} s"),
        ),
        Event::Phone {
            at_ms,
            extension,
            reachable,
            why,
        } => (
            Some(*at_ms),
            match (reachable, why) {
                (true, _) => format!("phone {extension} back"),
                (false, Some(why)) => format!("phone {extension} lost ({why})"),
                (false, None) => format!("phone {extension} lost"),
            },
        ),
        Event::Trunk {
            at_ms,
            trunk,
            registered,
            health,
            alarm,
            why,
        } => (Some(*at_ms), {
            let mut s = format!("trunk {trunk}");
            match registered {
                Some(true) => s.push_str(" registered"),
                Some(false) => s.push_str(" not registered"),
                None => {}
            }
            s.push_str(&format!(", options {}", health.name()));
            if *alarm {
                s.push_str(" (alarm)");
            }
            if let Some(why) = why {
                s.push_str(&format!(": {why}"));
            }
            s
        }),
        Event::Span { at_ms, span } => (Some(*at_ms), super::span_summary(span)),
    };
    let at = at_ms.map_or_else(|| "-".to_string(), super::wib);
    format!("#{} {at} {what}", e.seq)
}

fn call(c: &CallEvent) -> String {
    let id = &c.call;
    let caller = match &id.caller_name {
        Some(n) => format!("{} \"{n}\"", id.caller),
        None => id.caller.clone(),
    };
    let mut s = format!(
        "call {} {} {caller} -> {}",
        c.what.name(),
        id.uuid,
        id.dialled
    );
    for (k, v) in [
        ("queue", &id.queue),
        ("agent", &id.agent),
        ("at", &id.extension),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {k} {v}"));
        }
    }
    let party = |p: &Party| match p {
        Party::Caller => "caller",
        Party::Callee => "callee",
    };
    match &c.what {
        CallEventKind::Held { by } | CallEventKind::Resumed { by } => {
            s.push_str(&format!(" by {}", party(by)));
        }
        CallEventKind::Transferred { to } => s.push_str(&format!(" to {to}")),
        CallEventKind::Ended {
            disposition,
            by,
            cause,
            sip_code,
        } => {
            let d = serde_json::to_value(disposition).unwrap_or_default();
            s.push_str(&format!(
                ": {} by {by} ({cause}{})",
                d.as_str().unwrap_or("?"),
                sip_code.map(|c| format!(", {c}")).unwrap_or_default()
            ));
        }
        _ => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use dering_control::{CallIdentity, Disposition};

    #[test]
    fn a_call_event_reads_as_a_sentence() {
        let e = Stamped {
            seq: 12,
            event: Event::Call(CallEvent {
                at_ms: 0,
                call: CallIdentity {
                    uuid: "u1".into(),
                    caller: "1001".into(),
                    caller_name: Some("Ani".into()),
                    dialled: "170".into(),
                    queue: Some("pengaduan".into()),
                    agent: Some("2001".into()),
                    extension: Some("1002".into()),
                },
                what: CallEventKind::Ended {
                    disposition: Disposition::Answered,
                    by: "caller".into(),
                    cause: "hung up".into(),
                    sip_code: None,
                },
            }),
        };
        assert_eq!(
            describe(&e),
            "#12 1970-01-01 07:00:00 call ended u1 1001 \"Ani\" -> 170 queue pengaduan agent 2001 at 1002: answered by caller (hung up)"
        );
    }
    #[test]
    fn a_phone_event_says_lost_with_why_or_back() {
        let phone = |reachable, why: Option<&str>| Stamped {
            seq: 3,
            event: Event::Phone {
                at_ms: 0,
                extension: "1003".into(),
                reachable,
                why: why.map(str::to_string),
            },
        };
        assert_eq!(
            describe(&phone(false, Some("unanswered"))),
            "#3 1970-01-01 07:00:00 phone 1003 lost (unanswered)"
        );
        assert_eq!(
            describe(&phone(true, None)),
            "#3 1970-01-01 07:00:00 phone 1003 back"
        );
    }

    #[test]
    fn a_trunk_event_says_registration_health_and_alarm() {
        let e = Stamped {
            seq: 4,
            event: Event::Trunk {
                at_ms: 0,
                trunk: "telkom".into(),
                registered: Some(false),
                health: dering_control::TrunkHealth::Up,
                alarm: true,
                why: Some("forbidden (403)".into()),
            },
        };
        assert_eq!(
            describe(&e),
            "#4 1970-01-01 07:00:00 trunk telkom not registered, options up (alarm): forbidden (403)"
        );
    }

    #[test]
    fn a_span_event_says_alarm_dchannel_and_channels() {
        use dering_control::{ChannelCounts, SpanAlarm, SpanKind, SpanReport, SpanSide, SpanView};
        let e = Stamped {
            seq: 5,
            event: Event::Span {
                at_ms: 0,
                span: SpanView {
                    reporter: "trunkd".into(),
                    report: SpanReport {
                        name: "telkom".into(),
                        kind: SpanKind::E1,
                        side: SpanSide::User,
                        alarm: SpanAlarm::Red,
                        dchannel_up: Some(false),
                        channels: ChannelCounts {
                            blocked: 30,
                            ..ChannelCounts::default()
                        },
                    },
                    reporting: true,
                    since_ms: 0,
                },
            },
        };
        assert_eq!(
            describe(&e),
            "#5 1970-01-01 07:00:00 span telkom (e1) alarm red, D-channel down, channels 0 idle 0 in use 30 blocked 0 restarting"
        );
    }
}
