//! The feed against a scripted pbxd on a real Unix socket: the stream
//! drops after two events and the feed resumes from the third, without a
//! new snapshot, and the browsers see every change once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use dering_control::{
    CallEvent, CallEventKind, CallIdentity, Disposition, Event, Reply, Request, Response, Snapshot,
    Stamped,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use super::*;

fn ev(seq: u64, what: CallEventKind) -> String {
    serde_json::to_string(&Stamped {
        seq,
        event: Event::Call(CallEvent {
            at_ms: seq as i64,
            call: CallIdentity {
                uuid: "u1".into(),
                caller: "1001".into(),
                dialled: "1002".into(),
                ..CallIdentity::default()
            },
            what,
        }),
    })
    .unwrap()
}

/// A scripted reply, made when it is sent.
type Scripted = Box<dyn FnOnce() -> Response + Send>;

/// Serves one connection: answers each request line with the next of
/// `replies`, then writes `events` and closes; returns the requests it read.
async fn serve(
    listener: &UnixListener,
    replies: Vec<Response>,
    events: Vec<String>,
) -> Vec<Request> {
    let replies = replies
        .into_iter()
        .map(|r| Box::new(move || r) as Scripted)
        .collect();
    serve_made(listener, replies, events).await
}

/// [`serve`] with each reply made as it is sent.
async fn serve_made(
    listener: &UnixListener,
    replies: Vec<Scripted>,
    events: Vec<String>,
) -> Vec<Request> {
    let (s, _) = listener.accept().await.unwrap();
    let (rd, mut wr) = s.into_split();
    let mut lines = BufReader::new(rd).lines();
    let mut asked = Vec::new();
    for r in replies {
        let l = lines.next_line().await.unwrap().unwrap();
        asked.push(serde_json::from_str(&l).unwrap());
        wr.write_all(format!("{}\n", Reply::new(Ok(r())).line()).as_bytes())
            .await
            .unwrap();
    }
    for e in events {
        wr.write_all(format!("{e}\n").as_bytes()).await.unwrap();
    }
    asked
}

fn hello() -> Response {
    Response::Hello {
        protocol: dering_control::PROTOCOL,
        pbxd: "test".into(),
    }
}

fn status(uptime_seconds: u64) -> Response {
    Response::Status {
        status: dering_control::PbxStatus {
            version: "test".into(),
            active_calls: 0,
            registrations: 0,
            intake_open: true,
            uptime_seconds,
            stream_cuts: Default::default(),
            records_held: 0,
        },
    }
}

fn snapshot(seq: u64) -> Response {
    Response::Snapshot {
        snapshot: Snapshot {
            seq,
            calls: vec![],
            agents: vec![],
            queues: vec![],
        },
    }
}

fn trunks() -> Response {
    Response::Trunks {
        trunks: vec![dering_control::TrunkView {
            name: "telkom".into(),
            kind: dering_control::TrunkKind::Register,
            enabled: true,
            registered: Some(true),
            why: None,
            alarm: false,
            health: dering_control::TrunkHealth::Up,
            channels_busy: 0,
            channels_limit: Some(30),
            calls_today: 0,
            since_ms: 0,
            target: None,
        }],
    }
}

#[tokio::test]
async fn a_dropped_stream_resumes_from_the_last_seq_without_a_new_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dering_control::client::socket_path(dir.path())).unwrap();
    let hub = LiveHub::new(dir.path().to_path_buf());
    let mut watch = hub.watch();
    assert_eq!(watch.first.name, "snapshot");
    tokio::spawn(hub.clone().run_feed());
    // The same pbxd's uptime goes on with the clock from its first status
    // on: the start the feed estimates from it stays the same however long
    // the feed takes to come back.
    let first_status: Arc<OnceLock<Instant>> = Arc::default();
    let uptime = move || status(1000 + first_status.get_or_init(Instant::now).elapsed().as_secs());
    let first = serve_made(
        &listener,
        vec![
            Box::new(hello),
            Box::new(uptime.clone()),
            Box::new(|| snapshot(4)),
            Box::new(trunks),
            Box::new(|| Response::Subscribed { from_seq: 5 }),
        ],
        vec![
            ev(5, CallEventKind::Offered),
            ev(6, CallEventKind::Answered),
        ],
    )
    .await;
    assert_eq!(first[3], Request::Trunks, "trunks asked with the snapshot");
    assert_eq!(first[4], Request::Subscribe { from_seq: Some(5) });
    let end = CallEventKind::Ended {
        disposition: Disposition::Answered,
        by: "caller".into(),
        cause: "bye".into(),
        sip_code: None,
    };
    let second = tokio::spawn(async move {
        serve_made(
            &listener,
            vec![
                Box::new(hello),
                Box::new(uptime),
                Box::new(|| Response::Subscribed { from_seq: 7 }),
            ],
            vec![ev(7, end)],
        )
        .await
    });
    let mut names = Vec::new();
    let pushes = async {
        loop {
            let p = watch.rx.recv().await.unwrap();
            names.push(p.name);
            if p.name == "call_ended" {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), pushes)
        .await
        .expect("the call's end never came");
    assert_eq!(
        names,
        ["snapshot", "call", "call", "feed", "feed", "call_ended"],
        "one snapshot, then each change once (feed: disconnected, connected)"
    );
    assert_eq!(hub.state().0.seq, 7);
    assert_eq!(
        hub.state().0.trunks["telkom"].registered,
        Some(true),
        "the trunks taken at snapshot time stay in the view"
    );
    assert!(hub.state().0.calls.is_empty());
    let asked = second.await.unwrap();
    assert_eq!(asked[2], Request::Subscribe { from_seq: Some(7) });
}

/// pbxd restarted while the feed was away: its numbers began again, so
/// the feed takes a new snapshot instead of resuming (the old state's
/// calls are gone with the old process).
#[tokio::test]
async fn a_restarted_pbxd_is_snapshotted_again_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dering_control::client::socket_path(dir.path())).unwrap();
    let hub = LiveHub::new(dir.path().to_path_buf());
    tokio::spawn(hub.clone().run_feed());
    serve(
        &listener,
        vec![
            hello(),
            status(1000),
            snapshot(4),
            trunks(),
            Response::Subscribed { from_seq: 5 },
        ],
        vec![ev(5, CallEventKind::Answered)],
    )
    .await;
    let asked = serve(
        &listener,
        vec![
            hello(),
            status(0),
            snapshot(9),
            trunks(),
            Response::Subscribed { from_seq: 10 },
        ],
        vec![],
    )
    .await;
    assert_eq!(asked[2], Request::Snapshot);
    assert_eq!(asked[3], Request::Trunks);
    assert_eq!(asked[4], Request::Subscribe { from_seq: Some(10) });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while hub.state().0.seq != 9 {
        assert!(tokio::time::Instant::now() < deadline, "never reset");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        hub.state().0.calls.is_empty(),
        "the old pbxd's call is gone"
    );
}
