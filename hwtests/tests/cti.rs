//! The CTI feed over the control socket (CTI-1), spoken line by line as
//! `socat` would: a subscriber sees a sipp call offered, ringing,
//! answered, recorded (the demo records every call), held, resumed and
//! ended with its identity and no gap in the sequence numbers; a late
//! subscriber takes a snapshot mid-call and follows on from it without a
//! gap; a subscriber that does not read is cut off (and told) while calls
//! go on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use dering_control::{
    CallEvent, CallEventKind, CallState, ControlError, Disposition, Event, Party, Reply, Request,
    Response, Stamped, PROTOCOL,
};
use hwtests::fragments::*;
use hwtests::{callee, caller, ok, Dering};

/// One control connection, past the hello.
struct Conn {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
}

impl Conn {
    fn open(d: &Dering) -> Conn {
        let s = UnixStream::connect(d.dir().join(dering_control::SOCKET_NAME)).unwrap();
        // A stuck box fails the test instead of hanging it.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Conn {
            rd: BufReader::new(s.try_clone().unwrap()),
            wr: s,
        };
        match c.request(&Request::Hello { protocol: PROTOCOL }) {
            Ok(Response::Hello { protocol, .. }) => assert_eq!(protocol, PROTOCOL),
            other => panic!("hello: {other:?}"),
        }
        c
    }

    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        (self.rd.read_line(&mut l).unwrap() > 0).then_some(l)
    }

    fn request(&mut self, req: &Request) -> Result<Response, ControlError> {
        writeln!(self.wr, "{}", serde_json::to_string(req).unwrap()).unwrap();
        let l = self.line().expect("pbxd closed the connection");
        let r: Reply = serde_json::from_str(&l).unwrap();
        assert_eq!(r.v, PROTOCOL, "{l}");
        r.into_result()
    }

    /// Turns the connection into the event stream from `from_seq`: the
    /// first seq it will carry.
    fn subscribe(&mut self, from_seq: Option<u64>) -> u64 {
        match self.request(&Request::Subscribe { from_seq }) {
            Ok(Response::Subscribed { from_seq }) => from_seq,
            other => panic!("subscribe: {other:?}"),
        }
    }

    fn event(&mut self) -> Stamped {
        let l = self.line().expect("the event stream ended");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"))
    }
}

/// Reads events (checking each seq follows the last) until call `uuid`
/// ends; returns the call's events and the next seq.
fn follow_call(c: &mut Conn, mut seq: u64, uuid: Option<&str>) -> (Vec<CallEvent>, u64) {
    let mut mine = Vec::new();
    loop {
        let e = c.event();
        assert_eq!(e.seq, seq, "gap in the stream: {e:?}");
        seq += 1;
        let Event::Call(ce) = e.event else { continue };
        if uuid.is_some_and(|u| u != ce.call.uuid)
            || mine
                .first()
                .is_some_and(|f: &CallEvent| f.call.uuid != ce.call.uuid)
        {
            continue;
        }
        let end = matches!(ce.what, CallEventKind::Ended { .. });
        mine.push(ce);
        if end {
            return (mine, seq);
        }
    }
}

/// The caller holds (sendonly), resumes (sendrecv) and hangs up.
fn uac_hold_resume_bye() -> String {
    let reinvite = |cseq: u32, dir: &str| {
        format!(
            r#"  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[
      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Caller [me]" <sip:[me]@[remote_ip]>;tag=[pid]T[call_number]
      To: <sip:[service]@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:[me]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a={dir}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
"#
        )
    };
    format!(
        "{}{}{}{}{}  <recv response=\"200\" crlf=\"true\"/>\n",
        reinvite(3, "sendonly"),
        caller_request("ACK", 3),
        reinvite(4, "sendrecv"),
        caller_request("ACK", 4),
        caller_request("BYE", 5)
    )
}

/// The callee answers a re-INVITE with `answer`'s direction.
fn uas_take_reinvite(answer: &str) -> String {
    let sdp = SDP_ANSWER.replace(
        "a=rtpmap:101 telephone-event/8000",
        &format!("a=rtpmap:101 telephone-event/8000\n      a={answer}"),
    );
    format!(
        "  <recv request=\"INVITE\"/>\n{}  <recv request=\"ACK\"/>\n",
        reply("200 OK", false, None, &sdp).replacen("<send>", r#"<send retrans="500">"#, 1)
    )
}

/// The caller talks `ms`, then hangs up.
fn stay_then_bye(ms: u32) -> String {
    uac_answered_then(&format!(
        "  <pause milliseconds=\"{ms}\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
        caller_request("BYE", 3)
    ))
}

#[test]
fn a_call_is_offered_rings_is_answered_held_resumed_and_ends_on_the_feed() {
    let d = Dering::start();
    let mut sub = Conn::open(&d);
    let from = sub.subscribe(None);
    assert_eq!(from, 1, "a fresh box has published nothing yet");
    let uas = callee(
        &d,
        "1002",
        &format!(
            "{}{}{}{}",
            uas_answer(),
            uas_take_reinvite("recvonly"),
            uas_take_reinvite("sendrecv"),
            wait_bye()
        ),
    );
    let uac = caller(
        &d,
        "1001",
        "1002",
        &uac_answered_then(&uac_hold_resume_bye()),
    );
    let (events, _) = follow_call(&mut sub, from, None);
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let kinds: Vec<&str> = events.iter().map(|e| e.what.name()).collect();
    assert_eq!(
        kinds,
        ["offered", "ringing", "answered", "recorded", "held", "resumed", "ended"],
        "{events:#?}"
    );
    let record = &d.ended_calls(1)[0];
    for e in &events {
        assert_eq!(e.call.uuid, record["uuid"].as_str().unwrap(), "{e:?}");
        assert_eq!(e.call.caller, "1001");
        assert_eq!(e.call.caller_name.as_deref(), Some("Demo 1001"));
        assert_eq!(e.call.dialled, "1002");
        assert_eq!(e.call.extension.as_deref(), Some("1002"), "{e:?}");
    }
    assert_eq!(events[4].what, CallEventKind::Held { by: Party::Caller });
    assert_eq!(events[5].what, CallEventKind::Resumed { by: Party::Caller });
    let CallEventKind::Ended {
        disposition, by, ..
    } = &events[6].what
    else {
        unreachable!()
    };
    assert_eq!(
        (*disposition, by.as_str()),
        (Disposition::Answered, "caller")
    );
    assert_eq!(record["disposition"], "answered");

    // `dering events` shows the same call to a person, replayed from the
    // first event the box still keeps.
    let mut cli = std::process::Command::new(hwtests::dering_bin())
        .args(["events", "--from-seq", "1", "--data-dir"])
        .arg(d.dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let uuid = record["uuid"].as_str().unwrap();
    let mut shown = Vec::new();
    for line in BufReader::new(cli.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let end = line.contains(" call ended ");
        shown.push(line);
        if end {
            break;
        }
    }
    let _ = cli.kill();
    let _ = cli.wait();
    assert!(shown[0].starts_with("#1 "), "{shown:?}");
    let answered = format!("call answered {uuid} 1001 \"Demo 1001\" -> 1002 at 1002");
    assert!(shown.iter().any(|l| l.ends_with(&answered)), "{shown:?}");
    assert!(
        shown
            .last()
            .unwrap()
            .ends_with(": answered by caller (BYE)"),
        "{shown:?}"
    );
}

#[test]
fn a_late_subscriber_snapshots_mid_call_and_follows_on_without_a_gap() {
    let d = Dering::start();
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(&d, "1001", "1002", &stay_then_bye(3_000));
    d.wait_answered(1);
    let mut c = Conn::open(&d);
    let Ok(Response::Snapshot { snapshot }) = c.request(&Request::Snapshot) else {
        panic!("no snapshot")
    };
    assert_eq!(snapshot.calls.len(), 1, "{snapshot:?}");
    assert_eq!(snapshot.calls[0].state, CallState::Answered);
    let uuid = snapshot.calls[0].uuid.clone();
    assert!(
        snapshot.seq >= 3,
        "offered, ringing, answered: {snapshot:?}"
    );
    // Events published between the snapshot and the subscription are
    // replayed, not lost.
    c.request(&Request::CloseIntake {
        retry_after_seconds: 5,
    })
    .unwrap();
    c.request(&Request::OpenIntake).unwrap();
    // Events the box no longer keeps are refused, not skipped.
    assert!(matches!(
        Conn::open(&d).request(&Request::Subscribe { from_seq: Some(0) }),
        Err(ControlError::SeqUnavailable { .. })
    ));
    let from = c.subscribe(Some(snapshot.seq + 1));
    assert_eq!(from, snapshot.seq + 1);
    let first = c.event();
    assert_eq!(
        (first.seq, &first.event),
        (from, &Event::Intake { open: false })
    );
    let second = c.event();
    assert_eq!(
        (second.seq, &second.event),
        (from + 1, &Event::Intake { open: true })
    );
    let (events, _) = follow_call(&mut c, from + 2, Some(&uuid));
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let kinds: Vec<&str> = events.iter().map(|e| e.what.name()).collect();
    assert_eq!(kinds, ["ended"], "{events:#?}");
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off_while_calls_go_on() {
    let d = Dering::start();
    let mut stuck = Conn::open(&d);
    let stuck_from = stuck.subscribe(None);
    let mut reader = Conn::open(&d);
    let reader_from = reader.subscribe(None);
    // More events than a subscriber's queue and its socket buffer hold.
    const N: u64 = 20_000;
    let follower = std::thread::spawn(move || {
        let mut seq = reader_from;
        while seq < reader_from + N {
            let e = reader.event();
            assert_eq!(e.seq, seq, "the reading subscriber missed an event");
            seq += 1;
        }
        seq
    });
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(&d, "1001", "1002", &stay_then_bye(2_000));
    d.wait_answered(1);
    let mut publisher = Conn::open(&d);
    let power = |i: u64| Event::Power {
        at_ms: i as i64,
        kind: "test".into(),
        alarm: false,
        detail: format!("flood {i}"),
    };
    for i in 0..N {
        let r = publisher.request(&Request::Publish { event: power(i) });
        assert_eq!(r, Ok(Response::Done));
    }
    // The call went on and ended normally meanwhile.
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    assert_eq!(d.ended_calls(1)[0]["disposition"], "answered");
    assert!(follower.join().unwrap() >= reader_from + N);
    // The stuck subscriber got what was queued for it, without a gap,
    // then the reason it was cut off, then the end of the stream.
    let mut seq = stuck_from;
    let last = loop {
        let l = stuck.line().expect("cut off without a reason");
        match serde_json::from_str::<Stamped>(&l) {
            Ok(e) => {
                assert_eq!(e.seq, seq);
                seq += 1;
            }
            Err(_) => break serde_json::from_str::<Reply>(&l).unwrap(),
        }
    };
    assert_eq!(last.into_result(), Err(ControlError::TooSlow));
    assert!(seq < stuck_from + N, "it was cut off before the end");
    assert_eq!(stuck.line(), None);
}
