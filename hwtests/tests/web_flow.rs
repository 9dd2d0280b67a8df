//! The web admin's call-flow editor against a real box (ACD-3, issue 15
//! §3): the demo flow is loaded through `/api/v1/flows`, edited (key 1
//! now rings an officer, the information line moves to key 3), published
//! through webd, which goes to pbxd's `PublishFlow`; a sipp caller then
//! presses 1 and is bridged to the officer's phone, on version 2. A
//! rollback publishes version 1's document again as version 3.
//!
//! webd is reached as an integration would: an API token of the demo's
//! admin with the flow permissions, over HTTPS on 127.0.0.1 trusting the
//! box's own certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::Duration;

use hwtests::browser::{Browser, WebBox};
use hwtests::fragments::{caller_request, uac_answered_then, uas_answer, wait_bye};
use hwtests::{callee, caller, ok, Dering};
use serde_json::{json, Value};

const FLOW: &str = "layanan-pengaduan";

/// After the answer: wait `before_ms` (the greeting is not interruptible),
/// press `key` (RFC 4733), stay `after_ms`, hang up.
fn press_then_bye(key: &str, before_ms: u32, after_ms: u32) -> String {
    uac_answered_then(&format!(
        r#"  <pause milliseconds="{before_ms}"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{key}.pcap"/></action></nop>
  <pause milliseconds="{after_ms}"/>
{}  <recv response="200" crlf="true"/>
"#,
        caller_request("BYE", 3)
    ))
}

/// An API token of the demo's admin (made by `dering up`), scoped to
/// the flow editor, as the tokens page would have made it; its secret.
fn admin_token(d: &Dering) -> String {
    let db = rusqlite::Connection::open(d.dir().join("dering.db")).unwrap();
    let user: i64 = db
        .query_row("SELECT id FROM users WHERE login = 'admin'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let secret = webd::auth::session::new_secret();
    db.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_ms)
         VALUES (?1, 'flow test', ?2, 'view_flows edit_flows', 0)",
        rusqlite::params![user, webd::auth::session::digest(&secret)],
    )
    .unwrap();
    secret
}

/// A box whose web admin listens for HTTPS on a port this test knows
/// (plain HTTP only redirects the admin).
fn start_box() -> (Dering, u16) {
    // Below the ephemeral range, as peers' ports are (hwtests::ports).
    let port = hwtests::free_udp_port();
    let d = Dering::start_with_args(|t| t, &["--https-port".into(), port.to_string()]);
    (d, port)
}

/// One HTTPS request to webd, trusting only the box's own certificate:
/// (status, JSON body).
fn api(
    d: &(Dering, u16),
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let pem = std::fs::read(d.0.dir().join("tls/cert.pem")).unwrap();
    let mut s = hwtests::web::connect(("127.0.0.1", d.1), &pem, Duration::from_secs(10));
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        d.1,
        body.len()
    )
    .unwrap();
    // Read the head, then the body by its length: a server that closes
    // without TLS close_notify must not turn into a read error here.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let (head, length) = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            buf.drain(..end + 4);
            break (head, length);
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "webd closed before its reply's head");
        buf.extend_from_slice(&chunk[..n]);
    };
    while buf.len() < length {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "webd closed before its reply's body: {head}");
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_slice(&buf).unwrap_or(Value::Null))
}

/// (node, choice, count) of the demo flow's counters at `version`.
fn counters(d: &Dering, version: i64) -> Vec<(String, String, i64)> {
    d.json_lines(&["flow-counters", FLOW])
        .into_iter()
        .filter(|v| v["version"] == version)
        .map(|v| {
            (
                v["node"].as_str().unwrap().to_string(),
                v["choice"].as_str().unwrap().to_string(),
                v["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn count(rows: &[(String, String, i64)], node: &str, choice: &str) -> i64 {
    rows.iter()
        .find(|(n, c, _)| n == node && c == choice)
        .map_or(0, |r| r.2)
}

/// The next call follows version 2: key 1 rings the officers (1003 is the
/// one registered) and bridges the one who answers; on version 1 it
/// would have played the information line and rung no one.
fn key_1_rings_the_officer_on_version_2(d: &Dering) {
    let uas = callee(d, "1003", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(d, "1001", "137", &press_then_bye("1", 3500, 7000));
    ok(uac, "caller", d);
    ok(uas, "the officer at 1003, reached by key 1 of version 2", d);
    let c = &d.ended_calls(1)[0];
    let uuid = c["uuid"].as_str().unwrap();
    assert_eq!(d.call_events(uuid, "ring"), vec!["1003".to_string()]);
    let rows = counters(d, 2);
    assert_eq!(count(&rows, "menu", "1"), 1, "{rows:?}");
    assert_eq!(count(&rows, "officer", ""), 1, "{rows:?}");
    assert_eq!(count(&rows, "information", ""), 0, "{rows:?}");
}

#[test]
fn a_flow_published_through_the_web_api_is_the_one_the_next_call_follows() {
    let b = start_box();
    let d = &b.0;
    let token = admin_token(d);

    let (status, v1) = api(
        &b,
        &token,
        "GET",
        &format!("/api/v1/flows/{FLOW}/versions/1"),
        None,
    );
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1["checked"]["valid"], true, "{v1}");
    let mut doc = v1["document"].clone();
    assert_eq!(doc["nodes"]["menu"]["choices"]["1"], "information");

    // Half an edit first: key 1 to the officer leaves the information
    // line unreachable, and publish says so on that node, asking nothing
    // of pbxd.
    doc["nodes"]["menu"]["choices"]["1"] = json!("officer");
    let edit = json!({"document": doc, "layout": {"menu": [400, 60]}});
    let (status, refused) = api(
        &b,
        &token,
        "POST",
        &format!("/api/v1/flows/{FLOW}/publish"),
        Some(&edit),
    );
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["checked"]["nodes"]["information"],
        json!(["unreachable from `hours`: `information`"])
    );
    assert_eq!(d.query("flows")[0]["version"], 1);

    doc["nodes"]["menu"]["choices"]["3"] = json!("information");
    let edit = json!({"document": doc, "layout": {"menu": [400, 60]}});
    let (status, saved) = api(
        &b,
        &token,
        "POST",
        &format!("/api/v1/flows/{FLOW}/draft"),
        Some(&edit),
    );
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["checked"]["valid"], true, "{saved}");
    let (status, published) = api(
        &b,
        &token,
        "POST",
        &format!("/api/v1/flows/{FLOW}/publish"),
        Some(&edit),
    );
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["version"], 2);
    assert_eq!(d.query("flows")[0]["version"], 2, "pbxd runs version 2");
    let (_, v2) = api(
        &b,
        &token,
        "GET",
        &format!("/api/v1/flows/{FLOW}/versions/2"),
        None,
    );
    assert_eq!(v2["layout"]["menu"], json!([400.0, 60.0]), "{v2}");
    let (_, diff) = api(
        &b,
        &token,
        "GET",
        &format!("/api/v1/flows/{FLOW}/diff?from=1&to=2"),
        None,
    );
    assert_eq!(diff["changed"][0]["node"], "menu", "{diff}");

    key_1_rings_the_officer_on_version_2(d);

    // Rollback: version 1's document again, as version 3.
    let (status, back) = api(
        &b,
        &token,
        "POST",
        &format!("/api/v1/flows/{FLOW}/versions/1/rollback"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["version"], 3);
    let (_, v3) = api(
        &b,
        &token,
        "GET",
        &format!("/api/v1/flows/{FLOW}/versions/3"),
        None,
    );
    assert_eq!(v3["document"], v1["document"]);
    assert_eq!(d.query("flows")[0]["version"], 3);

    // Each change is in the audit log, with who.
    let db = rusqlite::Connection::open(d.dir().join("dering.db")).unwrap();
    let mut st = db
        .prepare("SELECT login, action FROM audit_log WHERE action LIKE 'flow.%' ORDER BY id")
        .unwrap();
    let audit: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want: Vec<(String, String)> = ["flow.draft", "flow.publish", "flow.rollback"]
        .iter()
        .map(|a| ("admin".to_string(), (*a).to_string()))
        .collect();
    assert_eq!(audit, want);
}

/// Waits (10 s at most) until `script` returns true in the page.
async fn wait_until(b: &Browser, what: &str, script: &str) {
    let t = std::time::Instant::now();
    loop {
        let v = b.client.execute(script, vec![]).await.unwrap();
        if v == Value::Bool(true) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what}: {}",
            b.text(".flow-status").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Drags with the mouse from the element `from` onto the element `to`.
async fn drag(b: &Browser, from: &str, to: &str) {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    use fantoccini::Locator;
    let from = b.client.find(Locator::Css(from)).await.unwrap();
    let to = b.client.find(Locator::Css(to)).await.unwrap();
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: from,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: to,
            duration: Some(Duration::from_millis(200)),
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    b.client.perform_actions(mouse).await.unwrap();
}

#[test]
fn the_demo_flow_edited_in_the_browser_is_the_one_the_next_call_follows() {
    let web = WebBox::start();
    let d = &web.dering;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = Browser::start(&web.base).await;
        let page = format!("/flows/{FLOW}");
        b.log_in(&web.login, &web.password, &web.totp_secret, &page)
            .await;
        wait_until(&b, "the editor loads", "return document.getElementById('flow-editor').dataset.ready === '1'").await;
        b.screenshot("flow-editor").await;

        // Key 1 dragged onto the officer: the information line is now
        // unreachable, and the validator says so on its node.
        drag(&b, r#"circle.port[data-node="menu"][data-port="choice:1"]"#, r#"g.node[data-node="officer"] rect.body"#).await;
        wait_until(&b, "the message on the node", "return !!document.querySelector('g.node.invalid[data-node=\"information\"]')").await;
        b.screenshot("flow-editor-invalid").await;

        // A new key 3 in the menu's panel, dragged onto the information
        // line: valid again.
        b.click(r#"g.node[data-node="menu"] rect.body"#).await;
        let key = b.client.find(fantoccini::Locator::Css("input.new-key")).await.unwrap();
        key.send_keys("3\u{E007}").await.unwrap();
        drag(&b, r#"circle.port[data-node="menu"][data-port="choice:3"]"#, r#"g.node[data-node="information"] rect.body"#).await;
        wait_until(
            &b,
            "valid again",
            "return !!document.querySelector('.edge[data-from=\"menu\"][data-port=\"choice:3\"][data-to=\"information\"]') \
             && !document.querySelector('g.node.invalid') \
             && !document.querySelector('.flow-status').classList.contains('bad')",
        )
        .await;

        b.click("button.publish").await;
        wait_until(&b, "published", "return document.querySelectorAll('.flow-versions li').length === 2").await;
        b.screenshot("flow-editor-published").await;
        b.close().await;
    });
    assert_eq!(d.query("flows")[0]["version"], 2, "pbxd runs version 2");
    key_1_rings_the_officer_on_version_2(d);
}
