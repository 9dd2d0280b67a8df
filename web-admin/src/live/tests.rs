//! The live routes through the whole router: everyone logged in watches,
//! only supervisors act; an action reaches pbxd (a scripted one on the
//! box's real control socket) and is audited; bad input is named; the
//! SSE stream starts with the whole view.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use dering_control::Response;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::auth::Role;
use crate::testing::TestBox;

#[tokio::test]
async fn everyone_watches_only_supervisors_act() {
    let b = TestBox::new();
    for role in [Role::Agent, Role::Supervisor, Role::Qa, Role::Admin] {
        let s = b.login_as(role);
        let r = b.get("/live", Some(&s)).await;
        assert_eq!(r.status, StatusCode::OK, "{role:?}");
        assert!(r.body.contains("/assets/live.js"));
        assert!(!r.body.contains("<script>"), "inline script");
        assert_eq!(
            r.body.contains("data-supervise=\"true\""),
            role == Role::Supervisor
        );
        assert_eq!(b.get("/api/v1/live", Some(&s)).await.status, StatusCode::OK);
        let r = b.post_form("/live/calls/u-1/hangup", Some(&s), "").await;
        if role == Role::Supervisor {
            // No pbxd on this box: refused, not pretended.
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{role:?}");
        }
    }
    assert_eq!(b.audits("call.hangup"), 0);
    b.assert_anonymous_refused("GET", "/api/v1/live", "").await;
    b.assert_anonymous_refused("GET", "/live", "").await;
}

#[tokio::test]
async fn a_supervisor_s_hangup_reaches_pbxd_and_is_audited() {
    let b = TestBox::new();
    let s = b.login_as(Role::Supervisor);
    let pbxd = b.scripted_pbxd(Response::Done);
    let r = b.post_form("/live/calls/u-7/hangup", Some(&s), "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), Some("/live"));
    let asked = pbxd.await.unwrap();
    assert_eq!(asked, r#"{"cmd":"hangup","uuid":"u-7"}"#);
    assert_eq!(b.audits("call.hangup"), 1);
    let (login, target): (String, String) = b
        .db()
        .query_row(
            "SELECT login, target FROM audit_log WHERE action = 'call.hangup'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((login, target), (s.login.clone(), "call u-7".to_string()));
}

#[tokio::test]
async fn a_supervisor_listens_from_the_phone_they_name() {
    let b = TestBox::new();
    let s = b.login_as(Role::Supervisor);
    let pbxd = b.scripted_pbxd(Response::CallPlaced { uuid: "m-1".into() });
    let r = b
        .post_form(
            "/live/listen",
            Some(&s),
            "extension=1002&mode=whisper&phone=1009",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let asked: serde_json::Value = serde_json::from_str(&pbxd.await.unwrap()).unwrap();
    assert_eq!(
        asked,
        serde_json::json!({"cmd":"listen","supervisor":"1009","extension":"1002","mode":"whisper"})
    );
    assert_eq!(b.audits("call.whisper"), 1);
}

#[tokio::test]
async fn bad_action_input_is_refused_by_name() {
    let b = TestBox::new();
    let s = b.login_as(Role::Supervisor);
    let field = |r: &crate::testing::Reply| {
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        r.body.clone()
    };
    let r = b
        .post_form("/live/calls/u-1/transfer", Some(&s), "to=abc")
        .await;
    assert!(field(&r).contains("data-field=\"to\""));
    let r = b
        .post_form(
            "/live/listen",
            Some(&s),
            "extension=1002&mode=shout&phone=1009",
        )
        .await;
    assert!(field(&r).contains("data-field=\"mode\""));
    let r = b
        .post_form("/live/listen", Some(&s), "extension=1002&mode=barge&phone=")
        .await;
    assert!(field(&r).contains("data-field=\"phone\""));
}

#[tokio::test]
async fn the_event_stream_starts_with_the_whole_view() {
    let b = TestBox::new();
    let s = b.login_as(Role::Agent);
    let req = TestBox::request(Method::GET, "/live/events", Some(&s))
        .body(Body::empty())
        .unwrap();
    let res = b.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = res.into_body();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("no first event")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("event: snapshot\ndata: {"), "{text}");
    assert!(text.contains("\"connected\":false"), "{text}");
}

/// SYNC-3: the health panel's reading carries what is owed to SIMPEL,
/// and the page tells its script to link the outbox page for
/// technicians only.
#[tokio::test]
async fn the_health_reading_carries_the_outbox_linked_for_technicians() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    b.file_ticket(&agent, crate::testing::complaint()).await;
    for role in Role::ALL {
        let s = b.login_as(role);
        let r = b.get("/live", Some(&s)).await;
        assert_eq!(
            r.body.contains("data-outbox=\"true\""),
            role == Role::Admin,
            "{role:?}"
        );
    }
    let req = TestBox::request(Method::GET, "/live/events", Some(&agent))
        .body(Body::empty())
        .unwrap();
    let mut body = b.router.clone().oneshot(req).await.unwrap().into_body();
    let mut seen = String::new();
    while !seen.contains("event: health\n") || !seen.ends_with("\n\n") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("no health reading")
            .unwrap()
            .unwrap();
        seen.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
    }
    let health = seen
        .split("event: health\ndata: ")
        .nth(1)
        .and_then(|s| s.lines().next())
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(health).unwrap();
    assert_eq!(health["outbox"]["pending"], 1, "{health}");
    assert_eq!(health["outbox"]["dead"], 0, "{health}");
}
