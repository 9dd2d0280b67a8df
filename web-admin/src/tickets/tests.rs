//! Router tests of `/api/v1/tickets` (oneshot, a real migrated database):
//! who sees which ticket, the audit entry and the outbox row written with
//! each ticket, and a stale change refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::auth::Role;
use crate::testing::{complaint, Reply, TestBox};

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

    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &agent, Some(complaint()))
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
        b.json_as(Method::GET, &path, &agent, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        b.json_as(Method::GET, &path, &other, None).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = b
        .json_as(Method::GET, "/api/v1/tickets", &other, None)
        .await
        .json();
    assert_eq!(listed["tickets"], json!([]));
    let listed = b
        .json_as(
            Method::GET,
            "/api/v1/tickets?phone=081234567890",
            &sup,
            None,
        )
        .await
        .json();
    assert_eq!(listed["tickets"][0]["id"], id);
    assert_eq!(
        b.json_as(Method::GET, "/api/v1/tickets", &qa, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Another agent cannot change it either.
    let change = json!({"version": 1, "status": "in_progress"});
    let r = b
        .json_as(Method::PATCH, &path, &other, Some(change.clone()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM outbox"), 1);
}

#[tokio::test]
async fn a_change_is_owed_audited_and_refused_when_stale() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &agent, Some(complaint()))
        .await;
    let id = r.json()["ticket"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    let r = b
        .json_as(
            Method::PATCH,
            &path,
            &sup,
            Some(json!({"version": 1, "status": "escalated", "escalation_level": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(r.json()["ticket"]["version"], 2);
    // The agent's form still holds version 1: refused, nothing owed.
    let r = b
        .json_as(
            Method::PATCH,
            &path,
            &agent,
            Some(json!({"version": 1, "description": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = b
        .json_as(
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
    let h = b.json_as(Method::GET, &path, &agent, None).await.json();
    assert_eq!(h["history"].as_array().unwrap().len(), 2);
    assert_eq!(h["ticket"]["status"], "escalated");
}

#[tokio::test]
async fn a_ticket_without_a_description_is_refused() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let mut t = complaint();
    t["description"] = json!("  ");
    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &agent, Some(t))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM tickets"), 0);
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
    let a2001 = b.login_named("2001", Role::Agent);
    let a2004 = b.login_named("2004", Role::Agent);
    let stranger = b.login_as(Role::Agent);
    let mut t = complaint();
    t["queue"] = json!("pengaduan");
    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &a2001, Some(t.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let id = r.json()["ticket"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(
        b.json_as(Method::GET, &path, &a2004, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        b.json_as(Method::GET, &path, &stranger, None).await.status,
        StatusCode::NOT_FOUND
    );
    // Nor may the stranger file a ticket in a queue it does not serve.
    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &stranger, Some(t))
        .await;
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
    b.json_as(Method::POST, "/api/v1/tickets", &agent, Some(complaint()))
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
    b.json_as(Method::POST, "/api/v1/tickets", &agent, Some(complaint()))
        .await;
    b.db()
        .execute(
            "UPDATE outbox SET state = 'dead', attempts = 1, last_error = 'HTTP 422: bad category'",
            [],
        )
        .unwrap();
    let r = b
        .json_as(Method::GET, "/api/v1/outbox/dead", &agent, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .json_as(Method::GET, "/api/v1/outbox/dead", &admin, None)
        .await
        .json();
    assert_eq!(r["dead"][0]["last_error"], "HTTP 422: bad category");
    let row = r["dead"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/outbox/{row}/retry");
    assert_eq!(
        b.json_as(Method::POST, &path, &agent, None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.json_as(Method::POST, &path, &admin, None).await.status,
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
        b.json_as(Method::POST, &path, &admin, None).await.status,
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
    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &agent, Some(complaint()))
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
    let r = b
        .json_as(Method::POST, "/api/v1/tickets", &agent, Some(complaint()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(deadlines(&r), (30 * 60_000, 4 * 3_600_000));
}

// ---- The ticket pages (issue 16: CTI-3, CTI-4, CTI-5) ----

/// Records `body` through the API as `s`; returns the ticket's id.
fn seed_config(b: &TestBox) {
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'seed', 'test', '', '', ?1)",
            [dering_config::DEFAULT_TOML],
        )
        .unwrap();
}

#[tokio::test]
async fn the_list_searches_and_an_agent_sees_only_its_own_and_its_queues() {
    let b = TestBox::new();
    seed_config(&b);
    let a2001 = b.login_named("2001", Role::Agent);
    let stranger = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let mut siti = complaint();
    siti["queue"] = json!("pengaduan");
    let id_siti = b.file_ticket(&a2001, siti).await;
    let mut budi = complaint();
    budi["reporter_name"] = json!("Budi Santoso");
    budi["reporter_phone"] = json!("+62 811 000 222");
    let id_budi = b.file_ticket(&stranger, budi).await;

    let page = b.get("/tickets", Some(&sup)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("DRG-0000001") && page.body.contains("DRG-0000002"));
    // By name, by ticket number, by number in another form, by status,
    // by date (WIB days around the test clock's).
    for (q, want, not) in [
        ("name=budi", id_budi, id_siti),
        ("ticket=0000001", id_siti, id_budi),
        ("phone=0811000222", id_budi, id_siti),
        ("phone=6281234567890", id_siti, id_budi),
    ] {
        let r = b.get(&format!("/tickets?{q}"), Some(&sup)).await;
        assert!(r.body.contains(&format!("data-id=\"{want}\"")), "{q}");
        assert!(!r.body.contains(&format!("data-id=\"{not}\"")), "{q}");
    }
    let r = b.get("/tickets?status=closed", Some(&sup)).await;
    assert!(!r.body.contains("data-id="), "no closed ticket");
    let day = crate::i18n::Zone::WIB
        .plain_time(b.clock.now())
        .unwrap_or_default()[..10]
        .to_owned();
    let r = b
        .get(&format!("/tickets?from={day}&to={day}"), Some(&sup))
        .await;
    assert!(r.body.contains(&format!("data-id=\"{id_budi}\"")));
    let r = b
        .get("/tickets?from=2020-01-01&to=2020-01-02", Some(&sup))
        .await;
    assert!(!r.body.contains("data-id="), "another day's search");
    assert_eq!(
        b.get("/tickets?from=yesterday", Some(&sup)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The stranger sees its own only; 2001 its queue's only.
    let r = b.get("/tickets", Some(&stranger)).await;
    assert!(r.body.contains(&format!("data-id=\"{id_budi}\"")));
    assert!(
        !r.body.contains(&format!("data-id=\"{id_siti}\"")),
        "another queue's ticket"
    );
    assert_eq!(
        b.get(&format!("/tickets/{id_siti}"), Some(&stranger))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = b.get("/tickets", Some(&a2001)).await;
    assert!(!r.body.contains(&format!("data-id=\"{id_budi}\"")));
    // Nor can the stranger change it through the page's form.
    let r = b
        .post_form(
            &format!("/tickets/{id_siti}/escalate"),
            Some(&stranger),
            "version=1",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM outbox"), 2);
}

#[tokio::test]
async fn the_ticket_pages_refuse_roles_without_tickets() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let id = b.file_ticket(&agent, complaint()).await;
    for role in [Role::Qa, Role::Admin] {
        let s = b.login_as(role);
        for path in [
            "/tickets".to_owned(),
            format!("/tickets/{id}"),
            "/tickets/citizen?phone=081234567890".into(),
            "/tickets/citizen.xlsx?phone=081234567890".into(),
            "/api/v1/citizens/history?phone=081234567890".into(),
        ] {
            assert_eq!(
                b.get(&path, Some(&s)).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
    for path in [
        "/tickets",
        "/tickets/citizen.csv?phone=081234567890",
        "/api/v1/citizens/history?phone=081234567890",
    ] {
        b.assert_anonymous_refused("GET", path, "").await;
    }
    b.assert_anonymous_refused("POST", &format!("/tickets/{id}/escalate"), "version=1")
        .await;
}

#[tokio::test]
async fn an_edit_on_the_page_is_owed_audited_and_shown_in_the_history() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let id = b.file_ticket(&agent, complaint()).await;
    let path = format!("/tickets/{id}");
    let form = "version=1&reporter_name=Siti&reporter_email=siti%40contoh.id&category=pengaduan\
                &description=izin+usaha+tertahan&status=in_progress&assignee=&unit=KU+Dumas";
    let r = b.post_form(&path, Some(&sup), form).await;
    assert_eq!(r.location(), Some(path.as_str()), "{}", r.body);
    // Only what changed is owed to SIMPEL.
    let payload: String = b
        .db()
        .query_row(
            "SELECT payload FROM outbox WHERE kind = 'update'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        payload["change"],
        json!({"reporter_email": "siti@contoh.id", "status": "in_progress"})
    );
    assert_eq!(b.audits("ticket.change"), 1);
    let page = b.get(&path, Some(&agent)).await;
    assert!(
        page.body.contains("status: open → in_progress"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Sedang diproses"));
    // The same form again (its version now stale) is refused.
    let r = b.post_form(&path, Some(&sup), form).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(count(&b, "SELECT COUNT(*) FROM outbox"), 2);
}

#[tokio::test]
async fn escalation_climbs_three_levels_each_audited_and_owed() {
    let b = TestBox::new();
    let sup = b.login_as(Role::Supervisor);
    let id = b.file_ticket(&sup, complaint()).await;
    let path = format!("/tickets/{id}");
    for level in 1..=3 {
        let page = b.get(&path, Some(&sup)).await;
        assert!(
            page.body.contains(&format!("L{level}</button>")),
            "{}",
            page.body
        );
        let r = b
            .post_form(
                &format!("{path}/escalate"),
                Some(&sup),
                &format!("version={level}"),
            )
            .await;
        assert_eq!(r.location(), Some(path.as_str()), "{}", r.body);
    }
    let t = b
        .json_as(Method::GET, &format!("/api/v1/tickets/{id}"), &sup, None)
        .await
        .json();
    assert_eq!(t["ticket"]["escalation_level"], 3);
    assert_eq!(t["ticket"]["status"], "escalated");
    assert_eq!(b.audits("ticket.escalate"), 3);
    assert_eq!(
        count(&b, "SELECT COUNT(*) FROM outbox WHERE kind = 'update'"),
        3
    );
    // No fourth level.
    assert!(!b
        .get(&path, Some(&sup))
        .await
        .body
        .contains("id=\"escalate\""));
    let r = b
        .post_form(&format!("{path}/escalate"), Some(&sup), "version=4")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The SLA alarm: a ticket left unanswered past its 15 minutes shows on
/// the supervisor's list and live page, counts in `/metrics`, is audited
/// once however often it is seen, and clears when answered.
#[tokio::test]
async fn a_breach_raises_the_alarm_once_and_clears_when_answered() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let id = b.file_ticket(&agent, complaint()).await;
    let metric = |body: &str, kind: &str| {
        let line = format!("dering_ticket_sla_breaches{{kind=\"{kind}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {line} in {body}"))
    };
    assert!(!b
        .get("/tickets", Some(&sup))
        .await
        .body
        .contains("sla-alarm"));
    assert_eq!(metric(&b.get("/metrics", None).await.body, "response"), "0");
    // At its deadline it is still in time.
    b.clock.advance_ms(15 * 60_000);
    assert!(!b
        .get("/tickets", Some(&sup))
        .await
        .body
        .contains("id=\"sla-alarm\""));
    b.clock.advance_ms(1);
    let list = b.get("/tickets", Some(&sup)).await;
    assert!(list.body.contains("id=\"sla-alarm\""), "{}", list.body);
    assert!(list.body.contains("class=\"breach\""));
    let live = b.get("/live", Some(&sup)).await;
    assert!(live.body.contains("id=\"sla-alarm\""), "{}", live.body);
    let m = b.get("/metrics", None).await.body;
    assert_eq!(metric(&m, "response"), "1");
    assert!(
        m.contains("dering_ticket_sla_breaches_total{kind=\"response\"} 1\n"),
        "{m}"
    );
    // Seen four times, audited once.
    assert_eq!(b.audits("ticket.breach"), 1);
    // The agent's own list marks the row but carries no supervisor banner.
    let mine = b.get("/tickets", Some(&agent)).await;
    assert!(mine.body.contains("class=\"breach\""));
    assert!(!mine.body.contains("id=\"sla-alarm\""));
    assert!(!b
        .get("/live", Some(&agent))
        .await
        .body
        .contains("sla-alarm"));
    // Answered (late): the alarm clears; the breach stays counted.
    let r = b
        .json_as(
            Method::PATCH,
            &format!("/api/v1/tickets/{id}"),
            &agent,
            Some(json!({"version": 1, "status": "in_progress"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!b
        .get("/tickets", Some(&sup))
        .await
        .body
        .contains("id=\"sla-alarm\""));
    let m = b.get("/metrics", None).await.body;
    assert_eq!(metric(&m, "response"), "0");
    assert!(m.contains("dering_ticket_sla_breaches_total{kind=\"response\"} 1\n"));
    // Past its 8 hours (critical), the resolution alarm.
    b.clock.advance_ms(8 * 3_600_000);
    let m = b.get("/metrics", None).await.body;
    assert_eq!(metric(&m, "resolution"), "1");
    assert_eq!(b.audits("ticket.breach"), 2);
}

#[tokio::test]
async fn an_escalation_level_overdue_is_a_breach_from_the_configured_timer() {
    let b = TestBox::new();
    let doc = format!(
        "{}\n[tickets]\nresolution_hours = {{ critical = 1000 }}\n[tickets.escalation_hours]\nlevel1 = 2\n",
        dering_config::DEFAULT_TOML
    );
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'test', 'file', 'SLA', '', ?1)",
            [&doc],
        )
        .unwrap();
    let sup = b.login_as(Role::Supervisor);
    let id = b.file_ticket(&sup, complaint()).await;
    b.clock.advance_ms(3_600_000);
    let sup = b.login_as(Role::Supervisor);
    let r = b
        .post_form(&format!("/tickets/{id}/escalate"), Some(&sup), "version=1")
        .await;
    assert_eq!(r.location(), Some(format!("/tickets/{id}").as_str()));
    // Two hours at level 1 from the escalation, not from the creation.
    b.clock.advance_ms(2 * 3_600_000);
    // A fresh session: the first one has idled out meanwhile.
    let sup = b.login_as(Role::Supervisor);
    assert!(!b
        .get("/tickets", Some(&sup))
        .await
        .body
        .contains("eskalasi L1"));
    b.clock.advance_ms(1);
    let page = b.get(&format!("/tickets/{id}"), Some(&sup)).await;
    assert!(
        page.body.contains("eskalasi L1"),
        "{} {}",
        page.status,
        page.body
    );
    let after: String = b
        .db()
        .query_row(
            "SELECT after FROM audit_log WHERE action = 'ticket.breach'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let after: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(after["kind"], "escalation");
    assert_eq!(after["level"], 1);
}

#[tokio::test]
async fn only_roles_that_may_play_get_the_recording_links() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let sup = b.login_as(Role::Supervisor);
    let mut t = complaint();
    t["recordings"] = json!(["17"]);
    let id = b.file_ticket(&agent, t).await;
    let path = format!("/tickets/{id}");
    let s = b.get(&path, Some(&sup)).await;
    assert!(
        s.body.contains("href=\"/history/recordings/17/audio\""),
        "{}",
        s.body
    );
    let a = b.get(&path, Some(&agent)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains("/history/recordings/"), "{}", a.body);
    // And the recording itself stays closed to the agent.
    assert_eq!(
        b.get("/history/recordings/17/audio", Some(&agent))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// The sheet's text: the workbook's shared strings and inline strings.
fn xlsx_text(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = String::new();
    for name in ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"] {
        if let Ok(mut f) = zip.by_name(name) {
            f.read_to_string(&mut out).unwrap();
        }
    }
    out
}

#[tokio::test]
async fn a_citizens_history_holds_calls_tickets_and_notes_and_exports() {
    let b = TestBox::new();
    let agent = b.login_as(Role::Agent);
    let mut db = crate::history::testdb::TestDb::open(b.state.data_dir());
    db.call(
        "call-1",
        "+6281234567890",
        "137",
        b.clock.now() - 60_000,
        dering_store::Disposition::Answered,
    );
    db.call(
        "call-other",
        "0899999999",
        "137",
        b.clock.now() - 60_000,
        dering_store::Disposition::Answered,
    );
    let id = b.file_ticket(&agent, complaint()).await;
    let r = b
        .post_form(
            "/tickets/citizen/note",
            Some(&agent),
            "phone=081234567890&text=%3Dminta+dihubungi+lagi",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(b.audits("citizen.note"), 1);
    let page = b
        .get("/tickets/citizen?phone=081234567890", Some(&agent))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let table = &page.body[page.body.find("id=\"interactions\"").unwrap()..];
    assert!(table.contains("+6281234567890"), "{table}");
    assert!(table.contains(&format!("href=\"/tickets/{id}\"")));
    assert!(table.contains("minta dihubungi lagi"));
    assert!(!table.contains("0899999999"), "another citizen's call");

    let x = b
        .get("/tickets/citizen.xlsx?phone=081234567890", Some(&agent))
        .await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(
        x.headers[header::CONTENT_TYPE],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    // Reply carries the body as lossy text; fetch the bytes again raw.
    let req = TestBox::request(
        Method::GET,
        "/tickets/citizen.xlsx?phone=081234567890",
        Some(&agent),
    )
    .body(Body::empty())
    .unwrap();
    let res = tower::ServiceExt::oneshot(b.router.clone(), req)
        .await
        .unwrap();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let sheet = xlsx_text(&bytes);
    assert!(sheet.contains("DRG-0000001"), "{sheet}");
    assert!(
        sheet.contains("Panggilan") && sheet.contains("Catatan"),
        "{sheet}"
    );
    // A note typed as a formula stays text: no formula cell.
    assert!(!sheet.contains("<f>"), "{sheet}");
    let csv = b
        .get("/tickets/citizen.csv?phone=081234567890", Some(&agent))
        .await;
    assert!(
        csv.body.starts_with("Waktu,Saluran,Isi\r\n"),
        "{}",
        csv.body
    );
    assert_eq!(
        csv.body.lines().count(),
        4,
        "header, call, ticket, note: {}",
        csv.body
    );
    assert_eq!(b.audits("ticket.export"), 3);

    // The same history for integrations, in JSON.
    let j = b
        .get(
            "/api/v1/citizens/history?phone=%2B6281234567890",
            Some(&agent),
        )
        .await;
    assert_eq!(j.status, StatusCode::OK, "{}", j.body);
    let v: serde_json::Value = serde_json::from_str(&j.body).unwrap();
    let lines = v["interactions"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{v}");
    let channels: Vec<&str> = lines
        .iter()
        .map(|l| l["channel"].as_str().unwrap())
        .collect();
    assert!(
        channels.contains(&"call") && channels.contains(&"ticket") && channels.contains(&"note"),
        "{channels:?}"
    );
    assert!(lines.iter().all(|l| l["reference"] != "call-other"));
    assert_eq!(v["time_zone"], "WIB");
    assert_eq!(b.audits("ticket.export"), 4);
    let short = b
        .get("/api/v1/citizens/history?phone=12", Some(&agent))
        .await;
    assert_eq!(
        short.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        short.body
    );
    assert!(short.body.contains("phone"), "{}", short.body);
}

#[tokio::test]
async fn the_pages_are_in_english_for_a_user_who_chose_it() {
    let b = TestBox::new();
    let sup = b.login_as(Role::Supervisor);
    let id = b.file_ticket(&sup, complaint()).await;
    let page = b.get(&format!("/tickets/{id}"), Some(&sup)).await;
    assert!(page.body.contains("Prioritas") && page.body.contains("Kritis"));
    b.db()
        .execute("UPDATE users SET lang = 'en' WHERE id = ?1", [sup.user_id])
        .unwrap();
    b.clock.advance_ms(16 * 60_000);
    let page = b.get(&format!("/tickets/{id}"), Some(&sup)).await;
    for text in [
        "Priority",
        "Critical",
        "Escalate to L1",
        "SLA alarm:",
        "first response",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    assert!(!page.body.contains("Kritis"));
}
