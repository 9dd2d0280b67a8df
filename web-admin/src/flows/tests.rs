//! Router tests of the editor's pages and API (oneshot, a real migrated
//! database). Publishing through a real pbxd is `hwtests/tests/web_flow.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use axum::http::{header, Method, StatusCode};
use dering_flow::Flow;
use rusqlite::params;
use serde_json::{json, Value};

use crate::auth::Role;
use crate::testing::TestBox;

const DEMO: &str = "layanan-pengaduan";

/// A box whose pbxd published the demo flow as version 1 (as its first
/// start does), and `extra` more versions from the given documents.
fn with_demo(extra: &[&str]) -> TestBox {
    let b = TestBox::new();
    let db = b.db();
    let mut docs = vec![Flow::demo().to_json()];
    docs.extend(extra.iter().map(|d| (*d).to_string()));
    for (i, d) in docs.iter().enumerate() {
        db.execute(
            "INSERT INTO flows (name, version, document, published_ms) VALUES (?1, ?2, ?3, ?4)",
            params![DEMO, i as i64 + 1, d, b.state.now_ms() - 1000 + i as i64],
        )
        .unwrap();
    }
    b
}

/// The demo flow with key 1 pointing at `target`.
fn demo_key_1(target: &str) -> Value {
    let mut v: Value = serde_json::from_str(&Flow::demo().to_json()).unwrap();
    v["nodes"]["menu"]["choices"]["1"] = json!(target);
    v
}

/// The demo flow where key 1 rings an officer and the information line
/// moved to key 3: valid.
fn demo_v2() -> Value {
    let mut v = demo_key_1("officer");
    v["nodes"]["menu"]["choices"]["3"] = json!("information");
    v
}

fn audit_actions(b: &TestBox) -> Vec<(String, String)> {
    let db = b.db();
    let mut st = db
        .prepare("SELECT action, target FROM audit_log ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn only_roles_with_the_permission_reach_the_editor() {
    let b = with_demo(&[]);
    b.assert_anonymous_refused("GET", "/api/v1/flows", "").await;
    b.assert_anonymous_refused("GET", "/flows", "").await;

    let agent = b.login_as(Role::Agent);
    for path in [
        "/flows",
        "/flows/layanan-pengaduan",
        "/api/v1/flows",
        "/api/v1/flows/prompts",
    ] {
        assert_eq!(
            b.get(path, Some(&agent)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // QA may look and compare, not change.
    let qa = b.login_as(Role::Qa);
    assert_eq!(
        b.get("/api/v1/flows", Some(&qa)).await.status,
        StatusCode::OK
    );
    for path in ["draft", "publish", "versions/1/rollback"] {
        let r = b
            .json_as(
                Method::POST,
                &format!("/api/v1/flows/{DEMO}/{path}"),
                &qa,
                Some(json!({"document": demo_key_1("officer")})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
    // A script without the session's CSRF token is refused.
    let admin = b.login_as(Role::Admin);
    let mut forged = admin.clone();
    forged.csrf = "0".repeat(64);
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/draft"),
            &forged,
            Some(json!({"document": demo_key_1("officer")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(audit_actions(&b).is_empty());
}

#[tokio::test]
async fn a_draft_round_trips_with_its_layout_and_the_validator_s_messages_by_node() {
    let b = with_demo(&[]);
    let admin = b.login_as(Role::Admin);
    let doc = demo_key_1("nowhere");
    let layout = json!({"menu": [300.0, 40.0], "hours": [10.0, 10.0]});
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/draft"),
            &admin,
            Some(json!({"document": doc, "layout": layout, "based_on": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let saved = r.json();
    assert_eq!(saved["checked"]["valid"], false);
    assert_eq!(
        saved["checked"]["nodes"]["menu"],
        json!(["node `menu` choice 1 → `nowhere`: no such node"])
    );
    // "information" was reached only through key 1.
    assert_eq!(
        saved["checked"]["nodes"]["information"],
        json!(["unreachable from `hours`: `information`"])
    );

    let d = b
        .get(&format!("/api/v1/flows/{DEMO}/draft"), Some(&admin))
        .await
        .json();
    assert_eq!(d["document"], doc);
    assert_eq!(d["layout"], layout);
    assert_eq!(d["author"], admin.login.as_str());
    assert_eq!(d["based_on"], 1);
    let info = b
        .get(&format!("/api/v1/flows/{DEMO}"), Some(&admin))
        .await
        .json();
    assert_eq!(info["draft"]["id"], saved["id"]);
    assert_eq!(info["versions"][0]["version"], 1);
    assert_eq!(
        audit_actions(&b),
        vec![("flow.draft".to_string(), format!("flow/{DEMO}"))]
    );
    let page = b.get("/flows", Some(&admin)).await;
    assert!(
        page.body.contains(&admin.login),
        "the list names the draft's author"
    );
}

#[tokio::test]
async fn publish_refuses_what_the_validator_refuses_before_asking_pbxd() {
    let b = with_demo(&[]);
    let admin = b.login_as(Role::Admin);
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/publish"),
            &admin,
            Some(json!({"document": demo_key_1("nowhere")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let j = r.json();
    assert_eq!(j["field"], "document");
    assert!(j["checked"]["nodes"]["menu"].is_array(), "{j}");

    // A document of another flow is refused with the field named.
    let mut other = demo_key_1("officer");
    other["name"] = json!("lain");
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/publish"),
            &admin,
            Some(json!({"document": other})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["field"], "name");

    // Valid, but no pbxd answers here: 503, nothing stored, nothing
    // audited as published.
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/publish"),
            &admin,
            Some(json!({"document": demo_v2()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let versions: i64 = b
        .db()
        .query_row("SELECT COUNT(*) FROM flows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 1);
    assert!(audit_actions(&b).is_empty());
}

#[tokio::test]
async fn versions_are_compared_node_by_node_and_checked_as_published() {
    let v2 = Flow::demo().to_json().replace(
        "\"1\": \"information\"",
        "\"1\": \"officer\", \"3\": \"information\"",
    );
    let b = with_demo(&[&v2]);
    let qa = b.login_as(Role::Qa);
    let d = b
        .get(&format!("/api/v1/flows/{DEMO}/diff?from=1&to=2"), Some(&qa))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let d = d.json();
    assert_eq!(d["added"], json!([]));
    assert_eq!(d["removed"], json!([]));
    assert_eq!(d["changed"][0]["node"], "menu");
    assert_eq!(d["changed"][0]["fields"][0]["field"], "choices");
    assert_eq!(d["changed"][0]["fields"][0]["after"]["3"], "information");
    let missing = b
        .get(&format!("/api/v1/flows/{DEMO}/diff?from=1&to=9"), Some(&qa))
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.json()["field"], "to");

    // Against the editor's document: the node it removed.
    let mut doc = demo_key_1("information");
    doc["nodes"]["closed"] = json!({"type": "hangup"});
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/diff"),
            &qa,
            Some(json!({"from": 2, "document": doc})),
        )
        .await
        .json();
    assert_eq!(r["changed"][0]["node"], "closed", "{r}");
    assert_eq!(r["changed"][1]["node"], "menu", "{r}");

    let v = b
        .get(&format!("/api/v1/flows/{DEMO}/versions/2"), Some(&qa))
        .await;
    assert_eq!(v.status, StatusCode::OK);
    let v = v.json();
    assert_eq!(
        v["document"]["nodes"]["menu"]["choices"]["3"],
        "information"
    );
    assert_eq!(v["checked"]["valid"], true);
    assert_eq!(
        b.get(&format!("/api/v1/flows/{DEMO}/versions/7"), Some(&qa))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_editor_page_loads_its_script_and_plays_the_box_s_prompts() {
    let b = with_demo(&[]);
    let sup = b.login_as(Role::Supervisor);
    let page = b.get(&format!("/flows/{DEMO}"), Some(&sup)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("src=\"/assets/flows.js\""),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("data-flow=\"{DEMO}\"")));
    assert!(
        !page.body.contains("class=\"publish\""),
        "a supervisor only looks"
    );
    assert!(!page.body.contains("<script>"), "no inline script (CSP)");
    assert_eq!(
        b.get("/flows/nope", Some(&sup)).await.status,
        StatusCode::NOT_FOUND
    );
    let js = b.get("/assets/flows.js", None).await;
    assert_eq!(js.status, StatusCode::OK);

    // The calendar picker's names: none before a configuration version,
    // then the running version's `[[calendar]]`s.
    let none = b.get("/api/v1/flows/calendars", Some(&sup)).await.json();
    assert_eq!(none["names"], json!([]), "{none}");
    b.db()
        .execute(
            "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
             VALUES (1, 0, 'seed', 'test', '', '', ?1)",
            [dering_config::DEFAULT_TOML],
        )
        .unwrap();
    let cals = b.get("/api/v1/flows/calendars", Some(&sup)).await.json();
    assert_eq!(cals["names"], json!(["kantor"]), "{cals}");
    let js = b.get("/assets/flows.js", None).await;
    assert!(
        js.body.contains("/api/v1/flows/calendars"),
        "the editor has no calendar picker"
    );

    let p = b.get("/api/v1/flows/prompts", Some(&sup)).await.json();
    let ids = p["names"]["id"].as_array().unwrap();
    assert!(ids.contains(&json!("greeting")), "{p}");
    let wav = b.get("/api/v1/flows/prompts/id/greeting", Some(&sup)).await;
    assert_eq!(wav.status, StatusCode::OK);
    assert_eq!(wav.headers[header::CONTENT_TYPE], "audio/wav");
    assert!(wav.body.starts_with("RIFF"));
    for bad in [
        "/api/v1/flows/prompts/id/nope",
        "/api/v1/flows/prompts/xx/greeting",
        "/api/v1/flows/prompts/id/..%2Fdering.db",
    ] {
        assert_eq!(
            b.get(bad, Some(&sup)).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_flow_api() {
    let b = TestBox::new();
    let doc = b.get("/api/v1/openapi.json", None).await.json();
    for (path, method) in [
        ("/api/v1/flows", "get"),
        ("/api/v1/flows/{name}/versions/{version}", "get"),
        ("/api/v1/flows/{name}/draft", "post"),
        ("/api/v1/flows/{name}/publish", "post"),
        ("/api/v1/flows/{name}/versions/{version}/rollback", "post"),
        ("/api/v1/flows/{name}/diff", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["Diff"].is_object());
}

#[tokio::test]
async fn an_edit_of_an_older_version_is_not_published_over_a_newer_one() {
    let v2 = Flow::demo()
        .to_json()
        .replace("\"9\": \"language\"", "\"9\": \"officer\"");
    let b = with_demo(&[&v2]);
    let admin = b.login_as(Role::Admin);
    let r = b
        .json_as(
            Method::POST,
            &format!("/api/v1/flows/{DEMO}/publish"),
            &admin,
            Some(json!({"document": demo_v2(), "based_on": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.json()["field"], "based_on");
    assert!(audit_actions(&b).is_empty());
}
