//! The history routes through the whole router (`oneshot`): who may open
//! what, recordings played by byte range and downloaded with an audit
//! entry each, the CSV export audited, a bad field named.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use dering_store::Disposition;

use super::testdb::{TestDb, HOUR};
use crate::auth::Role;
use crate::testing::{Session, TestBox, T0};

/// A box with one recorded queue call (a WAV of 1,000 bytes) an hour
/// before the clock, and one power event.
fn box_with_history() -> (TestBox, i64) {
    let b = TestBox::new();
    let mut db = TestDb::open(b.dir.path());
    let start = T0 - HOUR;
    db.call("u-1", "081234", "137", start, Disposition::Answered);
    db.queued("u-1", "pengaduan", "agent7", start);
    let wav = b.dir.path().join("u-1.wav");
    // ASCII, so the test client's text body counts bytes.
    let data: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&wav, &data).unwrap();
    db.recording(
        "u-1",
        &wav,
        "081234",
        "137",
        Some("1002"),
        None,
        start,
        60_000,
    );
    db.power(start, "on_battery", true);
    let id = b
        .db()
        .query_row("SELECT id FROM recordings", [], |r| r.get(0))
        .unwrap();
    (b, id)
}

async fn get_range(
    b: &TestBox,
    path: &str,
    s: &Session,
    range: Option<&str>,
) -> crate::testing::Reply {
    let mut req = TestBox::request(Method::GET, path, Some(s));
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    b.send(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn each_route_answers_each_role_as_the_matrix_says() {
    let (b, id) = box_with_history();
    let audio = format!("/history/recordings/{id}/audio");
    let routes: Vec<(&str, [bool; 4])> = vec![
        // agent, supervisor, qa, admin
        ("/history/calls", [false, true, true, true]),
        ("/history/calls/u-1", [false, true, true, true]),
        ("/history/calls.csv", [false, true, true, true]),
        ("/history/power", [false, true, true, true]),
        ("/history/recordings", [false, true, true, false]),
        (&audio, [false, true, true, false]),
        ("/api/v1/history/calls", [false, true, true, true]),
        ("/api/v1/history/recordings", [false, true, true, false]),
        ("/api/v1/history/power", [false, true, true, true]),
    ];
    let roles = [Role::Agent, Role::Supervisor, Role::Qa, Role::Admin];
    let sessions: Vec<Session> = roles.iter().map(|r| b.login_as(*r)).collect();
    for (path, allowed) in &routes {
        for (i, s) in sessions.iter().enumerate() {
            let r = b.get(path, Some(s)).await;
            let want = if allowed[i] {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(r.status, want, "{path} as {:?}: {}", roles[i], r.body);
        }
        b.assert_anonymous_refused("GET", path, "").await;
    }
}

#[tokio::test]
async fn the_call_records_page_finds_the_call_and_its_detail_shows_the_queue() {
    let (b, _) = box_with_history();
    let s = b.login_as(Role::Supervisor);
    let r = b.get("/history/calls?number=0812", Some(&s)).await;
    assert!(r.body.contains("data-uuid=\"u-1\""), "{}", r.body);
    assert!(r.body.contains("pengaduan"));
    let r = b.get("/history/calls?number=999", Some(&s)).await;
    assert!(!r.body.contains("data-uuid"));
    let r = b.get("/api/v1/history/calls/u-1", Some(&s)).await;
    assert_eq!(r.json()["call"]["agent"], "agent7");
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 3);
    assert_eq!(
        b.get("/history/calls/nope", Some(&s)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_bad_search_field_is_refused_by_name() {
    let (b, _) = box_with_history();
    let s = b.login_as(Role::Qa);
    let r = b.get("/api/v1/history/calls?from=kemarin", Some(&s)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["field"], "from");
    let r = b
        .get("/api/v1/history/recordings?min_seconds=lama", Some(&s))
        .await;
    assert_eq!(r.json()["field"], "min_seconds");
    let r = b.get("/history/calls?disposition=x", Some(&s)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("data-field=\"disposition\""), "{}", r.body);
    // A search form's empty inputs are no filter.
    let r = b
        .get(
            "/history/recordings?number=&min_seconds=&max_seconds=",
            Some(&s),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<audio"), "{}", r.body);
}

#[tokio::test]
async fn a_recording_plays_by_range_and_each_playback_and_download_is_audited() {
    let (b, id) = box_with_history();
    let s = b.login_as(Role::Supervisor);
    let audio = format!("/history/recordings/{id}/audio");
    let r = get_range(&b, &audio, &s, Some("bytes=0-")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers[header::CONTENT_RANGE], "bytes 0-999/1000");
    assert_eq!(r.headers[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(b.audits("recording.play"), 1);
    // Seeking is the same playback: served, not audited again.
    let r = get_range(&b, &audio, &s, Some("bytes=500-509")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers[header::CONTENT_RANGE], "bytes 500-509/1000");
    assert_eq!(r.body, "ghijklmnop");
    assert_eq!(b.audits("recording.play"), 1);
    // A second listener at the same time gets the file too.
    let other = b.login_as(Role::Qa);
    let r = get_range(&b, &audio, &other, None).await;
    assert_eq!(
        (
            r.status,
            r.headers[header::CONTENT_LENGTH].to_str().unwrap()
        ),
        (StatusCode::OK, "1000")
    );
    assert_eq!(b.audits("recording.play"), 2);
    let r = b
        .get(
            &format!("/history/recordings/{id}/download?format=wav"),
            Some(&s),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .contains("rekaman-"));
    assert_eq!(b.audits("recording.download"), 1);
    // No MP3 of it: refused by naming the field, nothing audited.
    let r = b
        .get(
            &format!("/api/v1/history/recordings/{id}/download?format=mp3"),
            Some(&s),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("format"))
    );
    assert_eq!(b.audits("recording.download"), 1);
    // The audit entry names who and what.
    let (login, target): (String, String) = b
        .db()
        .query_row(
            "SELECT login, target FROM audit_log WHERE action = 'recording.download'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(login, s.login);
    assert!(target.contains("u-1"), "{target}");
    // An agent cannot play it, and nothing is audited for the attempt.
    let agent = b.login_as(Role::Agent);
    let r = get_range(&b, &audio, &agent, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(b.audits("recording.play"), 2);
}

#[tokio::test]
async fn the_csv_export_holds_the_calls_and_is_audited() {
    let (b, _) = box_with_history();
    let s = b.login_as(Role::Qa);
    let r = b.get("/history/calls.csv?queue=pengaduan", Some(&s)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let lines: Vec<&str> = r.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{}", r.body);
    assert!(lines[0].starts_with("uuid,start_wib"));
    assert!(lines[1].starts_with("u-1,"));
    assert!(lines[1].contains("pengaduan,agent7"));
    assert_eq!(b.audits("calls.export"), 1);
}

/// Every `$ref` in the document names a schema it has: a dangling one
/// leaves clients (and Schemathesis, which found `Format` missing from
/// the recording download) unable to use that part of the API.
#[test]
fn every_reference_in_the_openapi_document_resolves() {
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = serde_json::to_value(crate::openapi::document()).unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_history_and_live_api() {
    let b = TestBox::new();
    let doc = b.get("/api/v1/openapi.json", None).await.json();
    for path in [
        "/api/v1/history/calls",
        "/api/v1/history/calls.csv",
        "/api/v1/history/calls/{uuid}",
        "/api/v1/history/recordings",
        "/api/v1/history/recordings/{id}/audio",
        "/api/v1/history/recordings/{id}/download",
        "/api/v1/history/power",
        "/api/v1/live",
        "/api/v1/live/events",
        "/api/v1/live/calls/{uuid}/hangup",
        "/api/v1/live/calls/{uuid}/transfer",
        "/api/v1/live/listen",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let params = &doc["paths"]["/api/v1/history/calls"]["get"]["parameters"];
    let names: Vec<&str> = params
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for n in [
        "number",
        "from",
        "to",
        "agent",
        "queue",
        "trunk",
        "disposition",
    ] {
        assert!(names.contains(&n), "{n} not documented: {names:?}");
    }
}
