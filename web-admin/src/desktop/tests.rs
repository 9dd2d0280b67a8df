//! The desktop through the whole router (a real migrated database, the
//! box's real control socket path with a scripted pbxd where one is
//! needed): who may open it, that an agent acts only for itself, that an
//! action reaches pbxd for the session's agent and is audited; and the
//! feed filter that keeps other agents' calls off an agent's page.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use axum::http::{Method, StatusCode};
use dering_control::{Reply, Response};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::events::Filter;
use crate::auth::Role;
use crate::live::feed::Push;
use crate::testing::TestBox;

/// The demo configuration as the running one: agents 2001..2004.
fn with_config(b: &TestBox) {
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'seed', 'test', '', '', ?1)",
            [dering_config::DEFAULT_TOML],
        )
        .unwrap();
}

fn desktop_audits(b: &TestBox) -> i64 {
    b.db()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'desktop.%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn agents_and_supervisors_open_it_others_are_refused_anonymous_goes_to_login() {
    let b = TestBox::new();
    with_config(&b);
    let a = b.login_named("2001", Role::Agent);
    let r = b.get("/desktop", Some(&a)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("data-agent=\"2001\""), "{}", r.body);
    assert!(r.body.contains("/assets/desktop.js"));
    assert!(!r.body.contains("<script>"), "inline script");
    // Indonesian by default, the configured reason codes offered.
    assert!(r.body.contains("Masuk antrean"));
    assert!(r.body.contains("sholat"));
    // A supervisor who is also an agent, in English.
    let sup = b.login_named("2002", Role::Supervisor);
    b.db()
        .execute("UPDATE users SET lang = 'en' WHERE login = '2002'", [])
        .unwrap();
    let r = b.get("/desktop", Some(&sup)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Log in to queues"), "{}", r.body);
    assert!(!r.body.contains("Masuk antrean"));
    // An agent account that is no configured agent is told so.
    let stranger = b.login_as(Role::Agent);
    let r = b.get("/desktop", Some(&stranger)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("id=\"not-agent\""));
    for role in [Role::Qa, Role::Admin] {
        let s = b.login_as(role);
        assert_eq!(
            b.get("/desktop", Some(&s)).await.status,
            StatusCode::FORBIDDEN,
            "{role:?}"
        );
        assert_eq!(
            b.get("/desktop/events", Some(&s)).await.status,
            StatusCode::FORBIDDEN
        );
    }
    for (method, path) in [
        ("GET", "/desktop"),
        ("GET", "/desktop/events"),
        ("GET", "/desktop/calls/u-1/pop"),
        ("POST", "/desktop/ready"),
        ("POST", "/desktop/login"),
        ("POST", "/desktop/calls/u-1/hangup"),
    ] {
        b.assert_anonymous_refused(method, path, "").await;
    }
}

#[tokio::test]
async fn agent_a_cannot_act_for_agent_b_nor_on_calls_not_its_own() {
    let b = TestBox::new();
    with_config(&b);
    let a = b.login_named("2001", Role::Agent);
    // No pbxd on this box: a request that got as far as pbxd would be 503.
    let r = b
        .json_as(
            Method::POST,
            "/desktop/login",
            &a,
            Some(json!({"agent": "2002", "pin": "1234", "extension": "1001"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    for path in [
        "/desktop/calls/u-9/hangup",
        "/desktop/calls/u-9/transfer",
        "/desktop/calls/u-9/hold",
        "/desktop/calls/u-9/resume",
        "/desktop/calls/u-9/consult",
        "/desktop/calls/u-9/conference",
        "/desktop/calls/u-9/complete",
        "/desktop/calls/u-9/cancel-consult",
    ] {
        let r = b
            .json_as(
                Method::POST,
                path,
                &a,
                Some(json!({"to": "1002", "consult": "u-8"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        b.get("/desktop/calls/u-9/pop", Some(&a)).await.status,
        StatusCode::NOT_FOUND
    );
    // A call the agent never had gets no wrap-up code.
    let r = b
        .json_as(
            Method::POST,
            "/desktop/wrapup",
            &a,
            Some(json!({"code": "informasi", "uuid": "u-9"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b
        .json_as(
            Method::POST,
            "/desktop/wrapup",
            &a,
            Some(json!({"code": "bogus"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = b
        .json_as(
            Method::POST,
            "/desktop/not-ready",
            &a,
            Some(json!({"code": "99"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Dialling needs the agent logged in at a phone.
    let r = b
        .json_as(
            Method::POST,
            "/desktop/dial",
            &a,
            Some(json!({"to": "1002"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // An account that is not an agent acts for no one.
    let stranger = b.login_as(Role::Agent);
    let r = b
        .json_as(Method::POST, "/desktop/ready", &stranger, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(desktop_audits(&b), 0);
}

#[tokio::test]
async fn ready_reaches_pbxd_for_the_session_s_agent_and_is_audited() {
    let b = TestBox::new();
    with_config(&b);
    let a = b.login_named("2003", Role::Agent);
    let pbxd = b.scripted_pbxd(Response::Done);
    let r = b
        .json_as(Method::POST, "/desktop/ready", &a, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        pbxd.await.unwrap(),
        r#"{"cmd":"agent","action":"ready","agent":"2003"}"#
    );
    assert_eq!(b.audits("desktop.ready"), 1);
}

#[tokio::test]
async fn login_sends_the_pin_to_pbxd_but_not_to_the_audit_log() {
    let b = TestBox::new();
    with_config(&b);
    let a = b.login_named("2001", Role::Agent);
    let pbxd = b.scripted_pbxd(Response::Done);
    let r = b
        .json_as(
            Method::POST,
            "/desktop/login",
            &a,
            Some(json!({"agent": "2001", "pin": "1234", "extension": "1003"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let asked: serde_json::Value = serde_json::from_str(&pbxd.await.unwrap()).unwrap();
    assert_eq!(
        asked,
        json!({"cmd": "agent", "action": "login", "agent": "2001", "pin": "1234", "extension": "1003"})
    );
    let after: String = b
        .db()
        .query_row(
            "SELECT after FROM audit_log WHERE action = 'desktop.login'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(after.contains("1003") && !after.contains("1234"), "{after}");
}

fn push(name: &'static str, v: serde_json::Value) -> Push {
    Push {
        name,
        json: v.to_string(),
    }
}

fn call(uuid: &str, agent: Option<&str>) -> serde_json::Value {
    json!({"type": "call", "call": {"uuid": uuid, "caller": "0812", "agent": agent, "state": "ringing"}})
}

#[test]
fn an_agent_s_page_gets_its_own_calls_and_state_only() {
    let mut f = Filter::new("2001");
    let snap = f
        .pass(&push(
            "snapshot",
            json!({
                "seq": 4,
                "calls": {"a": {"uuid": "a", "agent": "2001"}, "b": {"uuid": "b", "agent": "2002"}},
                "agents": {"2001": {"agent": "2001", "state": "ready"}, "2002": {"agent": "2002", "state": "ready"}},
                "connected": true
            }),
        ))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&snap.json).unwrap();
    assert_eq!(v["agent"]["agent"], "2001");
    assert_eq!(v["calls"].as_array().unwrap().len(), 1);
    assert_eq!(v["calls"][0]["uuid"], "a");
    assert!(!snap.json.contains("2002"), "{}", snap.json);

    // Another agent's offer and state stay off the page; its own pass.
    assert!(f.pass(&push("call", call("c", Some("2002")))).is_none());
    assert!(f
        .pass(&push(
            "agent",
            json!({"type": "agent", "agent": {"agent": "2002"}})
        ))
        .is_none());
    assert!(f
        .pass(&push(
            "agent",
            json!({"type": "agent", "agent": {"agent": "2001"}})
        ))
        .is_some());
    let offer = f.pass(&push("call", call("d", Some("2001")))).unwrap();
    assert_eq!(offer.name, "call");
    assert!(f
        .pass(&push(
            "call_ended",
            json!({"type": "call_ended", "uuid": "c"})
        ))
        .is_none());
    // A call handed to someone else leaves the page as ended.
    let gone = f.pass(&push("call", call("d", Some("2002")))).unwrap();
    assert_eq!(gone.name, "call_ended");
    assert!(gone.json.contains("\"d\""));
    assert!(f
        .pass(&push(
            "call_ended",
            json!({"type": "call_ended", "uuid": "d"})
        ))
        .is_none());
    assert!(f
        .pass(&push(
            "call_ended",
            json!({"type": "call_ended", "uuid": "a"})
        ))
        .is_some());
    assert!(f
        .pass(&push("queues", json!({"type": "queues", "queues": []})))
        .is_none());
}

#[test]
fn a_dialled_number_names_its_flow() {
    let c = dering_config::Config::parse(dering_config::DEFAULT_TOML, "default").unwrap();
    assert_eq!(
        super::pop::flow_of(&c, "137").as_deref(),
        Some("layanan-pengaduan")
    );
    assert_eq!(super::pop::flow_of(&c, "1002"), None);
}

/// A pbxd that lets the live feed in (hello, status, an empty snapshot,
/// no trunks), then streams an offer of `u-a` to agent 2001 and of `u-b`
/// to agent 2002 from 137 and keeps the stream open. Every later
/// connection (a desktop action) gets hello and `Done`; its request
/// line comes out of the returned channel.
fn pbxd_offering(b: &TestBox) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let listener =
        tokio::net::UnixListener::bind(dering_control::client::socket_path(b.dir.path())).unwrap();
    let (asked, asked_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (feed, _) = listener.accept().await.unwrap();
        tokio::spawn(offer_on(feed));
        loop {
            let (s, _) = listener.accept().await.unwrap();
            let last = crate::testing::answer_control(s, Response::Done).await;
            let _ = asked.send(last);
        }
    });
    asked_rx
}

/// The live feed's connection of [`pbxd_offering`].
async fn offer_on(s: tokio::net::UnixStream) {
    use dering_control::{CallEvent, CallEventKind, CallIdentity, Event, Snapshot, Stamped};
    {
        let (rd, mut wr) = s.into_split();
        let mut lines = BufReader::new(rd).lines();
        let replies = [
            Response::Hello {
                protocol: dering_control::PROTOCOL,
                pbxd: "test".into(),
            },
            Response::Status {
                status: dering_control::PbxStatus {
                    version: "test".into(),
                    active_calls: 2,
                    registrations: 0,
                    intake_open: true,
                    uptime_seconds: 100,
                    stream_cuts: Default::default(),
                    records_held: 0,
                },
            },
            Response::Snapshot {
                snapshot: Snapshot {
                    seq: 0,
                    calls: vec![],
                    agents: vec![],
                    queues: vec![],
                },
            },
            Response::Trunks { trunks: vec![] },
            Response::Subscribed { from_seq: 1 },
        ];
        for r in replies {
            lines.next_line().await.unwrap().unwrap();
            wr.write_all(format!("{}\n", Reply::new(Ok(r)).line()).as_bytes())
                .await
                .unwrap();
        }
        for (seq, uuid, agent) in [(1, "u-a", "2001"), (2, "u-b", "2002")] {
            let e = Stamped {
                seq,
                event: Event::Call(CallEvent {
                    at_ms: 1,
                    call: CallIdentity {
                        uuid: uuid.into(),
                        caller: "0812".into(),
                        dialled: "137".into(),
                        queue: Some("pengaduan".into()),
                        agent: Some(agent.into()),
                        extension: Some("1003".into()),
                        ..CallIdentity::default()
                    },
                    what: CallEventKind::Offered,
                }),
            };
            let line = serde_json::to_string(&e).unwrap();
            wr.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        }
        // The stream stays open for the rest of the test.
        std::future::pending::<()>().await;
        drop(wr);
    }
}

#[tokio::test]
async fn the_pop_shows_the_caller_s_history_with_recordings_only_for_a_role_that_may_play() {
    let b = TestBox::new();
    with_config(&b);
    b.db()
        .execute_batch(
            "INSERT INTO calls (uuid, caller, callee, start_ms, answer_ms, end_ms, state, disposition,
                                caller_key, callee_key)
               VALUES ('old-1', '+62812', '137', 10, 20, 30, 'ended', 'answered', '812', '137');
             INSERT INTO recordings (call_uuid, path, caller, callee, start_ms, state)
               VALUES ('old-1', '/tmp/old-1.wav', '0812', '137', 10, 'complete');",
        )
        .unwrap();
    let rec: i64 = b
        .db()
        .query_row("SELECT id FROM recordings", [], |r| r.get(0))
        .unwrap();
    // 2001 is a supervisor (may play recordings), 2002 an agent (may not).
    let sup = b.login_named("2001", Role::Supervisor);
    let agent = b.login_named("2002", Role::Agent);
    let _actions = pbxd_offering(&b);
    let t = std::time::Instant::now();
    let pop = loop {
        let r = b.get("/desktop/calls/u-a/pop", Some(&sup)).await;
        if r.status == StatusCode::OK {
            break r.json();
        }
        assert!(t.elapsed().as_secs() < 10, "no pop: {}", r.status);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(pop["caller"], "0812");
    assert_eq!(pop["flow"], "layanan-pengaduan");
    assert_eq!(pop["queue"], "pengaduan");
    assert_eq!(pop["history"][0]["uuid"], "old-1");
    assert_eq!(
        pop["history"][0]["recordings"],
        json!([format!("/history/recordings/{rec}/audio")])
    );
    let r = b.get("/desktop/calls/u-b/pop", Some(&agent)).await;
    assert_eq!(r.status, StatusCode::OK);
    let pop = r.json();
    assert_eq!(pop["history"][0]["uuid"], "old-1");
    assert_eq!(pop["history"][0]["recordings"], json!([]));
    // Each sees only its own offer.
    assert_eq!(
        b.get("/desktop/calls/u-a/pop", Some(&agent)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.get("/desktop/calls/u-b/pop", Some(&sup)).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Hold and resume from the desktop reach pbxd as `hold` / `resume` of
/// the agent's own call and are audited; another agent's call is 404
/// and never reaches pbxd.
#[tokio::test]
async fn hold_and_resume_reach_pbxd_for_the_agent_s_own_call_only() {
    let b = TestBox::new();
    with_config(&b);
    let a = b.login_named("2001", Role::Agent);
    let mut asked = pbxd_offering(&b);
    let t = std::time::Instant::now();
    loop {
        let r = b.get("/desktop/calls/u-a/pop", Some(&a)).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(t.elapsed().as_secs() < 10, "no offer: {}", r.status);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = b
        .json_as(Method::POST, "/desktop/calls/u-b/hold", &a, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another agent's call");
    for (path, line) in [
        ("/desktop/calls/u-a/hold", r#"{"cmd":"hold","uuid":"u-a"}"#),
        (
            "/desktop/calls/u-a/resume",
            r#"{"cmd":"resume","uuid":"u-a"}"#,
        ),
    ] {
        let r = b.json_as(Method::POST, path, &a, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(asked.recv().await.unwrap(), line);
    }
    assert_eq!(b.audits("desktop.hold"), 1);
    assert_eq!(b.audits("desktop.resume"), 1);
}

/// The attended transfer's three steps and the conference reach pbxd
/// for the agent's own call, the consultation named as the page was
/// given it, and are audited; another agent's call is 404.
#[tokio::test]
async fn consult_conference_complete_and_cancel_reach_pbxd_for_the_agent_s_own_call() {
    let b = TestBox::new();
    with_config(&b);
    let a = b.login_named("2001", Role::Agent);
    let mut asked = pbxd_offering(&b);
    let t = std::time::Instant::now();
    while b.get("/desktop/calls/u-a/pop", Some(&a)).await.status != StatusCode::OK {
        assert!(t.elapsed().as_secs() < 10, "no offer");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = b
        .json_as(
            Method::POST,
            "/desktop/calls/u-b/complete",
            &a,
            Some(json!({"consult": "u-c"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another agent's call");
    for (path, body, line) in [
        (
            "/desktop/calls/u-a/consult",
            json!({"to": "1004"}),
            r#"{"cmd":"consult","uuid":"u-a","to":"1004"}"#,
        ),
        (
            "/desktop/calls/u-a/conference",
            json!({"to": "1004"}),
            r#"{"cmd":"conference","uuid":"u-a","to":"1004"}"#,
        ),
        // With a consultation up, its party joins (not called again).
        (
            "/desktop/calls/u-a/conference",
            json!({"consult": "u-c"}),
            r#"{"cmd":"conference","uuid":"u-a","consult":"u-c"}"#,
        ),
        (
            "/desktop/calls/u-a/complete",
            json!({"consult": "u-c"}),
            r#"{"cmd":"complete_transfer","uuid":"u-a","consult":"u-c"}"#,
        ),
        (
            "/desktop/calls/u-a/cancel-consult",
            json!({"consult": "u-c"}),
            r#"{"cmd":"cancel_consult","uuid":"u-a","consult":"u-c"}"#,
        ),
    ] {
        let r = b.json_as(Method::POST, path, &a, Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(asked.recv().await.unwrap(), line);
    }
    for (action, n) in [
        ("desktop.consult", 1),
        ("desktop.conference", 2),
        ("desktop.complete_transfer", 1),
        ("desktop.cancel_consult", 1),
    ] {
        assert_eq!(b.audits(action), n, "{action}");
    }
}

/// The wrap-up codes come from `[acd] wrapup_codes`: the page offers the
/// configured ones, a code of the old fixed list no longer configured is
/// refused, and a configured one is written to the ACD journal with its
/// name, not only the audit log (issue 16). Fails with the fixed list.
#[tokio::test]
async fn wrapup_codes_come_from_the_configuration_and_reach_the_acd_journal() {
    let b = TestBox::new();
    let doc = dering_config::DEFAULT_TOML.replacen(
        "[acd]\n",
        "[acd]\nwrapup_codes = [{ code = \"iseng\", name = \"Panggilan iseng\" }]\n",
        1,
    );
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'seed', 'test', '', '', ?1)",
            [doc],
        )
        .unwrap();
    let a = b.login_named("2001", Role::Agent);
    let page = b.get("/desktop", Some(&a)).await;
    assert!(page.body.contains("Panggilan iseng"), "{}", page.body);
    // The wrap-up select holds the configured code only (the ticket
    // form's categories have options of their own).
    let wrapup = page.body.split("id=\"d-wrapup\"").nth(1).unwrap();
    let wrapup = wrapup.split("</select>").next().unwrap();
    assert!(wrapup.contains("value=\"iseng\""), "{wrapup}");
    assert!(!wrapup.contains("informasi"), "{wrapup}");
    let r = b
        .json_as(
            Method::POST,
            "/desktop/wrapup",
            &a,
            Some(json!({"code": "informasi"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = b
        .json_as(
            Method::POST,
            "/desktop/wrapup",
            &a,
            Some(json!({"code": "iseng"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (agent, detail): (String, String) = b
        .db()
        .query_row(
            "SELECT agent, detail FROM acd_events WHERE kind = 'wrapup_code'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(agent, "2001");
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail, json!({"code": "iseng", "name": "Panggilan iseng"}));
    assert_eq!(b.audits("desktop.wrapup"), 1);
}
