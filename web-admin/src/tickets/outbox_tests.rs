//! Router tests of the technicians' outbox page `/outbox` (SYNC-3), on a
//! real migrated database holding outbox rows in every state: who may
//! open it, its counts and lists, its retry (the API's, audited) and
//! the CSRF check on its buttons.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use axum::body::Body;
use axum::http::{header, Method, StatusCode};

use crate::auth::{Perm, Role};
use crate::testing::{complaint, ApiAuth, TestBox, T0};

/// Files a ticket through the API and returns its outbox row's id.
async fn owed(b: &TestBox, phone: &str) -> i64 {
    let agent = b.login_as(Role::Agent);
    let mut ticket = complaint();
    ticket["reporter_phone"] = phone.into();
    let ticket = b.file_ticket(&agent, ticket).await;
    b.db()
        .query_row(
            "SELECT id FROM outbox WHERE ticket_id = ?1",
            [ticket],
            |r| r.get(0),
        )
        .unwrap()
}

fn set(b: &TestBox, row: i64, sql: &str) {
    b.db()
        .execute(&format!("UPDATE outbox SET {sql} WHERE id = ?1"), [row])
        .unwrap();
}

fn state_of(b: &TestBox, row: i64) -> (String, i64) {
    b.db()
        .query_row(
            "SELECT state, attempts FROM outbox WHERE id = ?1",
            [row],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// One row in each state, written at T0 (08:00 UTC) on a box set to
/// Asia/Makassar: fresh pending, failing (next attempt 08:01:30 UTC),
/// dead (refused with 422), delivered. Returns (failing, dead) rows.
async fn every_state(b: &TestBox) -> (i64, i64) {
    let makassar = dering_config::DEFAULT_TOML.replace(
        "time_zone = \"Asia/Jakarta\"",
        "time_zone = \"Asia/Makassar\"",
    );
    crate::admin::apply::import(b.dir.path(), makassar, "test", 1)
        .await
        .expect("Makassar stored");
    owed(b, "081100000001").await;
    let failing = owed(b, "081100000002").await;
    set(
        b,
        failing,
        &format!(
            "attempts = 3, next_attempt_ms = {}, last_error = 'HTTP 503 from SIMPEL'",
            T0 + 90_000
        ),
    );
    let dead = owed(b, "081100000003").await;
    set(
        b,
        dead,
        "state = 'dead', attempts = 1, last_error = 'HTTP 422: category unknown'",
    );
    let delivered = owed(b, "081100000004").await;
    set(
        b,
        delivered,
        &format!("state = 'delivered', attempts = 1, delivered_ms = {T0}"),
    );
    (failing, dead)
}

#[tokio::test]
async fn only_technicians_open_the_outbox_page_and_its_buttons() {
    let b = TestBox::new();
    b.assert_role_matrix(
        &[
            ("GET", "/outbox", "", Perm::SyncOutbox),
            ("POST", "/outbox/retry", "", Perm::SyncOutbox),
            ("POST", "/outbox/1/retry", "", Perm::SyncOutbox),
        ],
        ApiAuth::Session,
    )
    .await;
    // The navigation links the page for technicians only.
    let admin = b.login_as(Role::Admin);
    let agent = b.login_as(Role::Agent);
    let r = b.get("/outbox", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("<a href=\"/outbox\">"), "{}", r.body);
    let r = b.get("/desktop", Some(&agent)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("href=\"/outbox\""), "{}", r.body);
}

#[tokio::test]
async fn the_page_counts_and_lists_every_state_in_the_box_s_zone() {
    let b = TestBox::new();
    let (failing, dead) = every_state(&b).await;
    b.clock.advance_ms(5 * 60_000);
    let admin = b.login_as(Role::Admin);
    let r = b.get("/outbox", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = &r.body;
    // Pending counts the fresh row and the failing one; the delivered
    // one is in no count and no list.
    assert!(body.contains("<dd id=\"count-pending\">2</dd>"), "{body}");
    assert!(body.contains("<dd id=\"count-failing\">1</dd>"), "{body}");
    assert!(body.contains("<dd id=\"count-dead\">1</dd>"), "{body}");
    assert!(
        body.contains("<dd id=\"count-oldest\">5 menit (sejak 2026-12-04 16:00:00 WITA)</dd>"),
        "{body}"
    );
    assert!(!body.contains("081100000004"), "{body}");
    let section = |id: &str| {
        let start = body.find(&format!("<table id=\"{id}\"")).unwrap();
        let end = start + body[start..].find("</table>").unwrap();
        body[start..end].to_owned()
    };
    let f = section("failing");
    assert!(f.contains(&format!("data-row=\"{failing}\"")), "{f}");
    assert!(f.contains("HTTP 503 from SIMPEL"), "{f}");
    assert!(f.contains("2026-12-04 16:01:30 WITA"), "{f}");
    assert!(!f.contains(&format!("data-row=\"{dead}\"")), "{f}");
    assert!(!f.contains("retry"), "a retrying row has no button: {f}");
    let d = section("dead");
    assert!(d.contains(&format!("data-row=\"{dead}\"")), "{d}");
    assert!(d.contains("HTTP 422: category unknown"), "{d}");
    assert!(d.contains("buat #1"), "{d}");
    assert!(
        d.contains(&format!("action=\"/outbox/{dead}/retry\"")),
        "{d}"
    );
    assert!(!d.contains(&format!("data-row=\"{failing}\"")), "{d}");
    assert!(body.contains("id=\"retry-all\""), "{body}");
}

#[tokio::test]
async fn a_retry_from_the_page_revives_the_dead_letter_with_an_audit_entry() {
    let b = TestBox::new();
    let (failing, dead) = every_state(&b).await;
    let admin = b.login_as(Role::Admin);
    let r = b
        .post_form(&format!("/outbox/{dead}/retry"), Some(&admin), "")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), Some("/outbox"));
    assert_eq!(state_of(&b, dead), ("pending".into(), 0));
    assert_eq!(b.audits("outbox.retry"), 1);
    let target: String = b
        .db()
        .query_row(
            "SELECT target FROM audit_log WHERE action = 'outbox.retry'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(target, format!("outbox row {dead}"));
    // The failing row is no dead letter: untouched, and refused.
    let r = b
        .post_form(&format!("/outbox/{failing}/retry"), Some(&admin), "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(state_of(&b, failing), ("pending".into(), 3));
    assert_eq!(b.audits("outbox.retry"), 1);
    let page = b.get("/outbox", Some(&admin)).await;
    assert!(
        page.body.contains("<dd id=\"count-dead\">0</dd>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn retry_all_revives_every_dead_letter_each_audited() {
    let b = TestBox::new();
    let (_, dead) = every_state(&b).await;
    let second = owed(&b, "081100000005").await;
    set(
        &b,
        second,
        "state = 'dead', attempts = 2, last_error = 'HTTP 400'",
    );
    let admin = b.login_as(Role::Admin);
    let r = b.post_form("/outbox/retry", Some(&admin), "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state_of(&b, dead), ("pending".into(), 0));
    assert_eq!(state_of(&b, second), ("pending".into(), 0));
    assert_eq!(b.audits("outbox.retry"), 2);
}

#[tokio::test]
async fn a_retry_without_the_csrf_token_is_refused() {
    let b = TestBox::new();
    let (_, dead) = every_state(&b).await;
    let admin = b.login_as(Role::Admin);
    for path in [format!("/outbox/{dead}/retry"), "/outbox/retry".into()] {
        let req = TestBox::request(Method::POST, &path, Some(&admin))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://box.test")
            .header("sec-fetch-site", "same-origin")
            .body(Body::empty())
            .unwrap();
        let r = b.send(req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    assert_eq!(state_of(&b, dead), ("dead".into(), 1));
    assert_eq!(b.audits("outbox.retry"), 0);
}

/// syncd's heartbeat at `at_ms` as syncd writes it, with `link`.
fn syncd_heartbeat(b: &TestBox, at_ms: i64, stopped: bool, link: serde_json::Value) {
    let state = serde_json::json!({"pending": 1, "alarm_after_ms": 900_000, "link": link});
    b.db()
        .execute(
            "INSERT OR REPLACE INTO daemon_status
                 (daemon, pid, started_ms, heartbeat_ms, ready, reasons, state, stopped)
             VALUES ('syncd', 7, ?1, ?1, 1, '[]', ?2, ?3)",
            rusqlite::params![at_ms, state.to_string(), stopped],
        )
        .unwrap();
}

fn dd(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!("<dd id=\"{id}\">"))? + id.len() + 10;
    Some(body[start..start + body[start..].find("</dd>")?].to_owned())
}

#[tokio::test]
async fn the_page_shows_the_open_breaker_and_its_error_from_syncds_heartbeat() {
    let b = TestBox::new();
    let admin = b.login_as(Role::Admin);
    owed(&b, "081100000001").await;
    // No syncd has ever run here: the page says so, and has no breaker.
    let r = b.get("/outbox", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        dd(&r.body, "link-syncd").as_deref(),
        Some("belum pernah berjalan di kotak ini"),
        "{}",
        r.body
    );
    assert_eq!(dd(&r.body, "link-breaker"), None);

    syncd_heartbeat(
        &b,
        T0,
        false,
        serde_json::json!({
            "breaker": "open", "failures": 5, "open_until_ms": T0 + 30_000,
            "last_error": "connection refused", "last_error_ms": T0 - 1_000,
            "last_delivered_ms": null,
        }),
    );
    let r = b.get("/outbox", Some(&admin)).await;
    let body = &r.body;
    assert_eq!(
        dd(body, "link-syncd").as_deref(),
        Some("berjalan"),
        "{body}"
    );
    assert_eq!(
        dd(body, "link-breaker").as_deref(),
        Some("terbuka: tidak mengirim sampai 2026-12-04 15:00:30 WIB (5 kegagalan berturut-turut)"),
        "{body}"
    );
    assert_eq!(
        dd(body, "link-last-error").as_deref(),
        Some("connection refused (2026-12-04 14:59:59 WIB)"),
        "{body}"
    );
    assert_eq!(dd(body, "link-last-delivered").as_deref(), Some("—"));
    // The NOC reads the same from /metrics.
    let m = b.get("/metrics", None).await;
    assert!(
        m.body.contains("dering_sync_breaker{state=\"open\"} 1\n"),
        "{}",
        m.body
    );

    // syncd has gone quiet past the health's stale limit: the page says
    // since when, and no longer vouches for the breaker.
    b.clock.advance_ms(20_000);
    let r = b.get("/outbox", Some(&admin)).await;
    assert_eq!(
        dd(&r.body, "link-syncd").as_deref(),
        Some("tidak menjawab sejak 2026-12-04 15:00:00 WIB"),
        "{}",
        r.body
    );
    assert_eq!(dd(&r.body, "link-breaker"), None, "{}", r.body);
    assert!(dd(&r.body, "link-last-error").is_some());
    let m = b.get("/metrics", None).await;
    assert!(!m.body.contains("dering_sync_breaker"), "{}", m.body);
}

#[tokio::test]
async fn the_link_is_in_english_for_a_user_who_chose_it() {
    let b = TestBox::new();
    let admin = b.login_as(Role::Admin);
    b.db()
        .execute(
            "UPDATE users SET lang = 'en' WHERE id = ?1",
            [admin.user_id],
        )
        .unwrap();
    syncd_heartbeat(
        &b,
        T0,
        false,
        serde_json::json!({
            "breaker": "closed", "failures": 0, "open_until_ms": null,
            "last_error": "HTTP 503", "last_error_ms": T0 - 60_000,
            "last_delivered_ms": T0 - 2_000,
        }),
    );
    let r = b.get("/outbox", Some(&admin)).await;
    let body = &r.body;
    assert!(body.contains("Link to SIMPEL"), "{body}");
    assert_eq!(dd(body, "link-syncd").as_deref(), Some("running"));
    assert_eq!(dd(body, "link-breaker").as_deref(), Some("closed: sending"));
    assert_eq!(
        dd(body, "link-last-delivered").as_deref(),
        Some("2026-12-04 14:59:58 WIB")
    );
    // A clean stop is said as such.
    syncd_heartbeat(&b, T0, true, serde_json::json!({}));
    let r = b.get("/outbox", Some(&admin)).await;
    assert_eq!(
        dd(&r.body, "link-syncd").as_deref(),
        Some("stopped (since 2026-12-04 15:00:00 WIB)"),
        "{}",
        r.body
    );
}
