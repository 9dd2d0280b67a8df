//! Router tests of `/api/v1/tickets` (oneshot, a real migrated database):
//! who sees which ticket, the audit entry and the outbox row written with
//! each ticket, and a stale change refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::auth::Role;
use crate::testing::{Reply, Session, TestBox};

async fn call(b: &TestBox, method: Method, path: &str, s: &Session, body: Option<Value>) -> Reply {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "box.test")
        .header(header::COOKIE, s.cookie())
        .header(header::ORIGIN, "http://box.test")
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf-token", &s.csrf);
    let body = match body {
        Some(v) => {
            r = r.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    b.send(r.body(body).unwrap()).await
}

fn complaint() -> Value {
    json!({
        "reporter_name": "Siti",
        "reporter_phone": "081234567890",
        "category": "pengaduan",
        "description": "izin usaha tertahan",
        "urgency": "high",
        "impact": "high",
        "unit": "KU Dumas",
        "call_ids": ["c-1"]
    })
}

fn count(b: &TestBox, sql: &str) -> i64 {
    b.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn an_agent_records_and_sees_its_own_a_supervisor_sees_all() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let other = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let qa = b.login_as(Role::Qa);

    let r = call(
        &b,
        Method::POST,
        "/api/v1/tickets",
        &agent,
        Some(complaint()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let t = r.json()["ticket"].clone();
    assert_eq!(t["priority"], "critical");
    assert_eq!(t["created_by"], agent.login.as_str());
    let id = t["id"].as_i64().unwrap();
    // The outbox row and the audit entry were written with it.
    assert_eq!(
        count(&b, "SELECT COUNT(*) FROM outbox WHERE kind = 'create'"),
        1
    );
    assert_eq!(
        count(
            &b,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket.create'"
        ),
        1
    );

    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(
        call(&b, Method::GET, &path, &agent, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&b, Method::GET, &path, &other, None).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = call(&b, Method::GET, "/api/v1/tickets", &other, None)
        .await
        .json();
    assert_eq!(listed["tickets"], json!([]));
    let listed = call(
        &b,
        Method::GET,
        "/api/v1/tickets?phone=081234567890",
        &sup,
        None,
    )
    .await
    .json();
    assert_eq!(listed["tickets"][0]["id"], id);
    assert_eq!(
        call(&b, Method::GET, "/api/v1/tickets", &qa, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Another agent cannot change it either.
    let change = json!({"version": 1, "status": "in_progress"});
    let r = call(&b, Method::PATCH, &path, &other, Some(change.clone())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM outbox"), 1);
}

#[tokio::test]
async fn a_change_is_owed_audited_and_refused_when_stale() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let r = call(
        &b,
        Method::POST,
        "/api/v1/tickets",
        &agent,
        Some(complaint()),
    )
    .await;
    let id = r.json()["ticket"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    let r = call(
        &b,
        Method::PATCH,
        &path,
        &sup,
        Some(json!({"version": 1, "status": "escalated", "escalation_level": 2})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["ticket"]["version"], 2);
    // The agent's form still holds version 1: refused, nothing owed.
    let r = call(
        &b,
        Method::PATCH,
        &path,
        &agent,
        Some(json!({"version": 1, "description": "x"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(
        &b,
        Method::PATCH,
        &path,
        &agent,
        Some(json!({"version": 2, "status": "lost"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM outbox"), 2);
    assert_eq!(
        count(
            &b,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'ticket.change'"
        ),
        1
    );
    let h = call(&b, Method::GET, &path, &agent, None).await.json();
    assert_eq!(h["history"].as_array().unwrap().len(), 2);
    assert_eq!(h["ticket"]["status"], "escalated");
}

#[tokio::test]
async fn a_ticket_without_a_description_is_refused() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let mut t = complaint();
    t["description"] = json!("  ");
    let r = call(&b, Method::POST, "/api/v1/tickets", &agent, Some(t)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM tickets"), 0);
}

/// A session of an agent account whose login is agent `id` of the
/// running configuration.
fn agent_session(b: &TestBox, id: &str) -> Session {
    let (user_id, _) = b.add_user(id, Role::Agent);
    let mut db = b.db();
    let tx = db.transaction().unwrap();
    let secret =
        crate::auth::session::create(&tx, user_id, b.state.now_ms(), "127.0.0.1", "test").unwrap();
    tx.commit().unwrap();
    Session {
        user_id,
        login: id.into(),
        csrf: crate::auth::session::csrf_token(&secret),
        secret,
        totp_secret: None,
    }
}

#[tokio::test]
async fn an_agent_sees_the_tickets_of_the_queues_it_serves() {
    let b = TestBox::new();
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'seed', 'test', '', '', ?1)",
            [dering_config::DEFAULT_TOML],
        )
        .unwrap();
    // 2001 and 2004 both have the skill the demo's `pengaduan` queue needs.
    let a2001 = agent_session(&b, "2001");
    let a2004 = agent_session(&b, "2004");
    let stranger = b.login_as(Role::Agent);
    let mut t = complaint();
    t["queue"] = json!("pengaduan");
    let r = call(&b, Method::POST, "/api/v1/tickets", &a2001, Some(t.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["ticket"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(
        call(&b, Method::GET, &path, &a2004, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&b, Method::GET, &path, &stranger, None).await.status,
        StatusCode::NOT_FOUND
    );
    // Nor may the stranger file a ticket in a queue it does not serve.
    let r = call(&b, Method::POST, "/api/v1/tickets", &stranger, Some(t)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// SYNC-3: what is owed to SIMPEL shows in `/metrics` and `/health`.
#[tokio::test]
async fn the_outbox_counts_are_in_metrics_and_health() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let r = b.get("/metrics", None).await;
    assert!(
        r.body
            .contains("dering_sync_outbox_rows{state=\"pending\"} 0\n"),
        "{}",
        r.body
    );
    call(
        &b,
        Method::POST,
        "/api/v1/tickets",
        &agent,
        Some(complaint()),
    )
    .await;
    let r = b.get("/metrics", None).await;
    assert!(
        r.body
            .contains("dering_sync_outbox_rows{state=\"pending\"} 1\n"),
        "{}",
        r.body
    );
    let h = b.get("/health", None).await.json();
    assert_eq!(h["outbox"]["pending"], 1, "{h}");
}

/// SYNC-3: a technician sees a dead letter and sends it again; others
/// may not.
#[tokio::test]
async fn a_technician_retries_a_dead_letter() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let admin = b.login_as(Role::Admin);
    call(
        &b,
        Method::POST,
        "/api/v1/tickets",
        &agent,
        Some(complaint()),
    )
    .await;
    b.db()
        .execute(
            "UPDATE outbox SET state = 'dead', attempts = 1, last_error = 'HTTP 422: bad category'",
            [],
        )
        .unwrap();
    let r = call(&b, Method::GET, "/api/v1/outbox/dead", &agent, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(&b, Method::GET, "/api/v1/outbox/dead", &admin, None)
        .await
        .json();
    assert_eq!(r["dead"][0]["last_error"], "HTTP 422: bad category");
    let row = r["dead"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/outbox/{row}/retry");
    assert_eq!(
        call(&b, Method::POST, &path, &agent, None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&b, Method::POST, &path, &admin, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        count(
            &b,
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND attempts = 0"
        ),
        1
    );
    assert_eq!(
        count(
            &b,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'outbox.retry'"
        ),
        1
    );
    // It is no dead letter now.
    assert_eq!(
        call(&b, Method::POST, &path, &admin, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_new_tickets_deadlines_come_from_the_running_configuration() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let deadlines = |r: &Reply| {
        let t = &r.json()["ticket"];
        let at = t["created_ms"].as_i64().unwrap();
        (
            t["respond_by_ms"].as_i64().unwrap() - at,
            t["resolve_by_ms"].as_i64().unwrap() - at,
        )
    };
    // No configuration version yet: Peruri's 15 min and 8 h (critical).
    let r = call(
        &b,
        Method::POST,
        "/api/v1/tickets",
        &agent,
        Some(complaint()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["ticket"]["priority"], "critical");
    assert_eq!(deadlines(&r), (15 * 60_000, 8 * 3_600_000));
    // A version with its own charter: the next ticket follows it.
    let doc = format!(
        "{}\n[tickets]\nfirst_response_minutes = 30\nresolution_hours = {{ critical = 4 }}\n",
        dering_config::DEFAULT_TOML
    );
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'test', 'file', 'SLA', '', ?1)",
            [&doc],
        )
        .unwrap();
    let r = call(
        &b,
        Method::POST,
        "/api/v1/tickets",
        &agent,
        Some(complaint()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(deadlines(&r), (30 * 60_000, 4 * 3_600_000));
}
