//! The web admin's configuration screens against the running box (issue
//! 15 §2, TEL-8, ACD-1): a supervisor creates agent 2010 through
//! `/api/v1/admin/agents` while `dering up` runs; pbxd takes the new
//! version live, without a restart; a sipp phone logs the agent in with
//! `*712010*4321`, and the agents screen shows it ready at that phone. A
//! refused PIN names the field and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use hwtests::fragments::{uac_answered_then, wait_bye};
use hwtests::{caller, free_udp_port, ok, register, Dering};
use webd::auth::Perm;

/// A supervisor account with an API token for the configuration screens.
fn supervisor_token(d: &Dering) -> String {
    hwtests::web::api_token(
        d.dir(),
        "sari",
        "supervisor",
        &[Perm::ViewConfig, Perm::EditAcd],
    )
}

/// One API call with curl: (HTTP status, JSON body).
fn api(
    d: &Dering,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut cmd = Command::new("curl");
    // Plain HTTP answers the admin with a redirect to HTTPS (the box's own
    // certificate): followed, with the token, to the same host.
    cmd.args([
        "-sS",
        "-k",
        "-L",
        "--location-trusted",
        "--max-time",
        "20",
        "-X",
        method,
    ])
    .args(["-H", &format!("Authorization: Bearer {token}")])
    .args(["-w", "\n%{http_code}"]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data", b]);
    }
    let out = cmd
        .arg(format!("http://{}{path}", d.http))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn an_agent_created_in_the_web_admin_logs_in_from_a_phone() {
    hwtests::require("curl");
    let d = Dering::start();
    let token = supervisor_token(&d);

    // A PIN too short is refused naming the field; nothing is stored.
    let (code, body) = api(
        &d,
        "POST",
        "/api/v1/admin/agents",
        &token,
        Some(r#"{"id": "2010", "name": "Petugas Baru", "pin": "12", "skills": {"pengaduan": 4}}"#),
    );
    assert_eq!((code, body["field"].as_str()), (422, Some("pin")), "{body}");

    let (code, body) = api(
        &d,
        "POST",
        "/api/v1/admin/agents",
        &token,
        Some(
            r#"{"id": "2010", "name": "Petugas Baru", "pin": "4321", "skills": {"pengaduan": 4}}"#,
        ),
    );
    assert_eq!(code, 201, "{body}\n{}", d.log());
    let applied = &body["applied"];
    assert_eq!(applied["live"], true, "{body}");
    assert_eq!(applied["version"], 2, "{body}");
    assert_eq!(applied["summary"], "agent 2010 added", "{body}");
    // pbxd knows the agent now, without a restart.
    assert_eq!(d.agent("2010")["state"], "logged_out");

    // The agent's desk phone is registered (an agent at a phone that is
    // not is logged out again at once: `[acd] phone_lost`).
    register(&d, "1003", free_udp_port(), 300);
    ok(
        caller(&d, "1003", "*712010*4321", &uac_answered_then(&wait_bye())),
        "agent 2010 login",
        &d,
    );
    let a = d.agent("2010");
    assert_eq!(
        (a["state"].as_str(), a["extension"].as_str()),
        (Some("ready"), Some("1003")),
        "{a}"
    );

    // The agents screen shows it logged in, and who created it.
    let (code, view) = api(&d, "GET", "/api/v1/admin/agents", &token, None);
    assert_eq!(code, 200, "{view}");
    let entry = view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "2010")
        .cloned()
        .unwrap_or_else(|| panic!("agent 2010 not listed: {view}"));
    assert_eq!(entry["live"]["state"], "ready", "{entry}");
    assert_eq!(entry["live"]["extension"], "1003", "{entry}");
    assert_eq!(entry["last_change"]["author"], "sari", "{entry}");
    assert_eq!(
        entry["values"]["pin"], "••••",
        "the PIN never leaves the box"
    );
}

/// In headless Chromium the demo admin creates an agent on the agents
/// screen: a short PIN is refused on the page with the field marked, the
/// corrected form is saved, the list shows the agent with who created it,
/// and pbxd knows the agent at once. Screenshots in
/// `target/browser-artefacts/`.
#[test]
fn an_admin_creates_an_agent_in_the_page() {
    use hwtests::browser::WebBox;
    let web = WebBox::start();
    hwtests::browser::block_on(async {
        let b = web.admin_browser("/admin").await;
        b.screenshot("admin").await;
        b.goto("/admin/agents/new").await;
        b.fill("f-id", "2011").await;
        b.fill("f-name", "Petugas Peramban").await;
        b.fill("f-pin", "12").await;
        b.fill("f-skills", "pengaduan=3").await;
        b.click("#save").await;
        let refusal = b.wait_text("label[for=f-pin] .error").await;
        assert!(
            refusal.contains("PIN"),
            "no refusal at the PIN: {}",
            b.text("main").await
        );
        b.screenshot("admin-agent-refused").await;
        // What was typed is still there; the PIN is typed again.
        b.fill("f-pin", "5678").await;
        b.click("#save").await;
        b.wait_path("/admin/agents").await;
        let t = std::time::Instant::now();
        while !b.text("main").await.contains("Petugas Peramban") {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{}",
                b.text("main").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let row = b.text("tr[data-key='2011']").await;
        assert!(row.contains(&web.login), "created by the admin: {row}");
        assert!(!b.text(".saved").await.is_empty(), "no saved note");
        b.screenshot("admin-agents").await;
        b.close().await;
    });
    let a = web.dering.agent("2011");
    assert_eq!(a["state"], "logged_out", "{a}");
    assert_eq!(a["name"], "Petugas Peramban", "{a}");
}
