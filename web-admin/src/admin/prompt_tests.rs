//! Prompts changed from the web admin reach a running pbxd without a
//! restart (issue 15 §2, decision 0025): router tests against a real pbxd
//! (`pbxd::shell::start` on the test box's data directory, its control
//! socket, SIP on ports the system picks).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use dering_control::{ControlError, Request as Ctl, Response as CtlResponse};

use super::apply;
use crate::auth::Role;
use crate::testing::TestBox;

/// A running pbxd on `b`'s data directory (the demo, SIP on free ports,
/// RTP below the hwtests' boxes and peers, which start at 10000);
/// dropping the sender stops it.
async fn pbxd_on(b: &TestBox) -> tokio::sync::oneshot::Sender<()> {
    let text = dering_config::DEFAULT_TOML
        .replace("udp_port = 5060", "udp_port = 0")
        .replace("tcp_port = 5060", "tcp_port = 0")
        .replace("tls_port = 5061", "tls_port = 0")
        .replace("rtp_port_min = 20000", "rtp_port_min = 9400")
        .replace("rtp_port_max = 29999", "rtp_port_max = 9599");
    let config = dering_config::Config::parse(&text, "test.toml").expect("test configuration");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    pbxd::shell::start(
        pbxd::shell::Options {
            config,
            seed: pbxd::config_versions::Seed {
                source: "test.toml".into(),
                text,
            },
            data_dir: b.dir.path().to_path_buf(),
        },
        async {
            let _ = stopped.await;
        },
    )
    .await
    .expect("pbxd starts");
    stop
}

/// A WAV tone of `hz` made by sox.
fn tone(b: &TestBox, hz: u32) -> Vec<u8> {
    let path = b.dir.path().join(format!("tone{hz}.wav"));
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1", "-b", "16"])
        .arg(&path)
        .args(["synth", "0.5", "sine", &hz.to_string()])
        .status()
        .expect("sox runs");
    assert!(made.success());
    std::fs::read(&path).expect("tone")
}

fn request(method: Method, path: &str, token: &str, body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "box.test")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "audio/wav")
        .body(Body::from(body))
        .expect("request")
}

/// Whether the running pbxd plays prompt `name`: its flow validator
/// accepts a flow that plays it only when its live library has it.
async fn pbxd_plays(b: &TestBox, name: &str) -> bool {
    let demo = dering_flow::Flow::demo().to_json();
    assert!(demo.contains("\"greeting\""), "the demo flow greets");
    let document = demo.replace("\"greeting\"", &format!("\"{name}\""));
    match dering_control::client::request(b.dir.path(), &Ctl::PublishFlow { document }).await {
        Ok(CtlResponse::FlowPublished { .. }) => true,
        Err(dering_control::client::ClientError::Refused(ControlError::BadFlow { message })) => {
            assert!(message.contains(name), "{message}");
            false
        }
        other => panic!("{other:?}"),
    }
}

fn audit_actions(b: &TestBox) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(b.dir.path().join("dering.db")).expect("db");
    let mut q = db
        .prepare(
            "SELECT action, target FROM audit_log WHERE action LIKE 'config.prompts.%' ORDER BY id",
        )
        .expect("query");
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_live_in_pbxd_and_a_bad_one_keeps_the_old_prompt() {
    let b = TestBox::new();
    apply::import(b.dir.path(), dering_config::DEFAULT_TOML.into(), "seed", 1)
        .await
        .expect("demo configuration stored");
    let _pbxd = pbxd_on(&b).await;
    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_config", "edit_config"]);
    assert!(!pbxd_plays(&b, "salam").await, "no such prompt yet");

    // The upload triggers the reload: pbxd plays it without a restart (a
    // flow's prompt needs both languages).
    let r = b
        .send(request(
            Method::PUT,
            "/api/v1/admin/prompts/en/salam",
            &token,
            tone(&b, 440),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        !pbxd_plays(&b, "salam").await,
        "not yet in Bahasa Indonesia"
    );
    let r = b
        .send(request(
            Method::PUT,
            "/api/v1/admin/prompts/id/salam",
            &token,
            tone(&b, 440),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["reloaded"]["pbxd"], "live", "{}", r.body);
    assert!(pbxd_plays(&b, "salam").await, "live after the upload");
    // The flow editor's validator knows it too (pbxd's directory rule).
    let editor = b.login_as(Role::Admin);
    let catalogue = b.get("/api/v1/flows/prompts", Some(&editor)).await;
    assert!(
        catalogue.json()["names"]["id"]
            .as_array()
            .is_some_and(|n| n.iter().any(|p| p == "salam")),
        "{}",
        catalogue.body
    );
    let target = b.dir.path().join("prompts/id/salam.wav");
    let first = std::fs::read(&target).expect("stored");
    let listed = b
        .api(Method::GET, "/api/v1/admin/prompts", Some(&token), None)
        .await;
    let made = &listed.json()["prompts"][1];
    assert_eq!(made["folder"], "id", "{}", listed.body);
    assert_eq!(made["made"]["by"], admin.login.as_str(), "{}", listed.body);
    assert_eq!(made["made"]["source"], "web");

    // The prompt screen shows who made it, and a delete button to those
    // who may change prompts.
    let page = b.get("/admin/prompts", Some(&admin)).await;
    assert!(
        page.body.contains(&format!("{} (web, ", admin.login)),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("class=\"prompt-delete\" data-url=\"/api/v1/admin/prompts/id/salam\""),
        "{}",
        page.body
    );
    let qa = b.login_as(Role::Qa);
    let page = b.get("/admin/prompts", Some(&qa)).await;
    assert!(page.body.contains("salam.wav") && !page.body.contains("prompt-delete"));

    // Not audio: refused naming the file, the old prompt stays.
    let r = b
        .send(request(
            Method::PUT,
            "/api/v1/admin/prompts/id/salam",
            &token,
            b"RIFF....WAVEjunk".to_vec(),
        ))
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("file")),
        "{}",
        r.body
    );
    assert_eq!(std::fs::read(&target).expect("kept"), first);

    // pbxd refuses the directory (another file it cannot play): the
    // upload is refused naming the file, the old prompt comes back and
    // pbxd keeps playing it.
    std::fs::write(b.dir.path().join("prompts/id/rusak.wav"), b"not a wav").expect("broken file");
    let r = b
        .send(request(
            Method::PUT,
            "/api/v1/admin/prompts/id/salam",
            &token,
            tone(&b, 880),
        ))
        .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("file")),
        "{}",
        r.body
    );
    assert!(r.body.contains("rusak.wav"), "{}", r.body);
    assert_eq!(std::fs::read(&target).expect("old prompt back"), first);
    assert!(
        pbxd_plays(&b, "salam").await,
        "the old library still plays it"
    );
    std::fs::remove_file(b.dir.path().join("prompts/id/rusak.wav")).expect("removed");

    // A delete is live too.
    let r = b
        .send(request(
            Method::DELETE,
            "/api/v1/admin/prompts/id/salam",
            &token,
            vec![],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!target.exists());
    assert!(!pbxd_plays(&b, "salam").await, "gone from pbxd");
    let r = b
        .send(request(
            Method::DELETE,
            "/api/v1/admin/prompts/id/salam",
            &token,
            vec![],
        ))
        .await;
    assert_eq!(r.json()["field"], "name", "{}", r.body);

    assert_eq!(
        audit_actions(&b),
        [
            ("config.prompts.upload".to_string(), "en/salam".to_string()),
            ("config.prompts.upload".to_string(), "id/salam".to_string()),
            ("config.prompts.delete".to_string(), "id/salam".to_string())
        ]
    );
}
