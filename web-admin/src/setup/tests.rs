//! The setup wizard through the router: the link's admin step leads
//! here logged in, each step refuses anonymous visitors and non-admins,
//! bad input names its field, saves are configuration versions with an
//! audit row, and "Selesai" ends setup for good.

use axum::http::StatusCode;

use super::*;
use crate::auth::{session, setup, totp, Role};
use crate::testing::{Session, TestBox};

async fn seeded() -> TestBox {
    let b = TestBox::new();
    apply::import(b.dir.path(), dering_config::DEFAULT_TOML.into(), "seed", 1)
        .await
        .expect("seed");
    b
}

/// The admin step with the one-time link, as a visitor does it: the
/// session it sets is the one the next steps use.
async fn admin_through_the_link(b: &TestBox) -> Session {
    let token = setup::setup_token(b.dir.path())
        .expect("token")
        .expect("no accounts yet");
    let page = b.get(&format!("/setup?token={token}"), None).await;
    let secret = page
        .body
        .split("name=\"totp_secret\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("secret on the page")
        .to_owned();
    let code = totp::code_at(&secret, b.clock.now()).expect("code");
    let r = b
        .post_form(
            "/setup",
            None,
            &format!("token={token}&totp_secret={secret}&login=admin&full_name=Admin&password=Rahasia123&code={code}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), Some(SETTINGS_PATH), "the admin step leads on");
    let cookie = r.headers["set-cookie"].to_str().expect("cookie").to_owned();
    let secret = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("session cookie");
    Session {
        user_id: 1,
        login: "admin".into(),
        csrf: session::csrf_token(&secret),
        secret,
        totp_secret: None,
    }
}

const GOOD: &str = "port=enp1s0&mode=static&address=192.0.2.10%2F24&gateway=192.0.2.1&dns=192.0.2.53\
    &host_name=pbx-jkt&time_zone=Asia%2FMakassar&ntp=ntp.bmkg.go.id&agency=Ombudsman+RI\
    &numbers=137%2C+1500137&snmp=community&community=rahasia&ups=ups%40127.0.0.1&backup=%2Fmedia%2Fcadangan";

#[tokio::test]
async fn anonymous_visitors_and_other_roles_are_refused_every_step() {
    let b = seeded().await;
    b.assert_anonymous_refused("GET", SETTINGS_PATH, "").await;
    b.assert_anonymous_refused("POST", SETTINGS_PATH, GOOD)
        .await;
    b.assert_anonymous_refused("POST", "/setup/finish", "")
        .await;
    let sup = b.login_as(Role::Supervisor);
    assert_eq!(
        b.get(SETTINGS_PATH, Some(&sup)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post_form(SETTINGS_PATH, Some(&sup), GOOD).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post_form("/setup/finish", Some(&sup), "").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(b.audits("setup.settings") + b.audits("setup.done"), 0);
    assert!(apply::current(b.dir.path()).expect("current").version == 1);
}

#[tokio::test]
async fn bad_settings_name_their_field_and_store_nothing() {
    let b = seeded().await;
    let admin = admin_through_the_link(&b).await;
    let page = b.get(SETTINGS_PATH, Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"finish\""), "{}", page.body);
    for (from, to, field) in [
        (
            "address=192.0.2.10%2F24",
            "address=192.0.2.300%2F24",
            "address",
        ),
        ("gateway=192.0.2.1", "gateway=gerbang", "gateway"),
        ("host_name=pbx-jkt", "host_name=pbx+jkt", "host_name"),
        (
            "time_zone=Asia%2FMakassar",
            "time_zone=Europe%2FParis",
            "time_zone",
        ),
        ("ntp=ntp.bmkg.go.id", "ntp=-x", "ntp"),
        ("numbers=137%2C+1500137", "numbers=13x", "numbers"),
        ("community=rahasia", "community=a%22b", "community"),
        ("ups=ups%40127.0.0.1", "ups=ups", "ups"),
        ("backup=%2Fmedia%2Fcadangan", "backup=cadangan", "backup"),
    ] {
        let r = b
            .post_form(SETTINGS_PATH, Some(&admin), &GOOD.replace(from, to))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{to}: {}",
            r.body
        );
        assert!(
            r.body.contains(&format!("data-field=\"{field}\"")),
            "{to}: {}",
            r.body
        );
        // The form again, with what was typed.
        assert!(
            r.body.contains("value=\"Ombudsman RI\""),
            "{to}: {}",
            r.body
        );
    }
    assert_eq!(apply::current(b.dir.path()).expect("current").version, 1);
    assert_eq!(b.audits("setup.settings"), 0);
}

#[tokio::test]
async fn saved_settings_are_the_next_version_and_finish_ends_setup_for_good() {
    let b = seeded().await;
    let admin = admin_through_the_link(&b).await;
    let r = b.post_form(SETTINGS_PATH, Some(&admin), GOOD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let v = apply::current(b.dir.path()).expect("current");
    assert_eq!((v.version, v.author.as_str()), (2, "admin"));
    let cfg = dering_config::Config::parse(&v.document, "v2").expect("valid");
    assert_eq!(cfg.system.host_name.as_deref(), Some("pbx-jkt"));
    assert_eq!(cfg.system.time_zone, "Asia/Makassar");
    assert_eq!(
        cfg.system.network[0]
            .gateway
            .map(|g| g.to_string())
            .as_deref(),
        Some("192.0.2.1")
    );
    assert_eq!(b.audits("setup.settings"), 1);
    let after: String = b
        .db()
        .query_row(
            "SELECT after FROM audit_log WHERE action = 'setup.settings'",
            [],
            |r| r.get(0),
        )
        .expect("audit row");
    assert!(
        after.contains("pbx-jkt") && !after.contains("rahasia"),
        "{after}"
    );
    assert_eq!(
        std::fs::read_to_string(b.dir.path().join(APPLY_REQUEST)).expect("apply asked for"),
        "2\n"
    );
    // The page shows what was saved.
    let page = b.get(SETTINGS_PATH, Some(&admin)).await;
    assert!(page.body.contains("value=\"pbx-jkt\""), "{}", page.body);

    let r = b.post_form("/setup/finish", Some(&admin), "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(b.audits("setup.done"), 1);
    let done = dering_store::setup::setup_done(&b.db())
        .expect("read")
        .expect("done");
    assert_eq!(done.by, "admin");
    // Done: the pages are gone, the link too.
    assert_eq!(
        b.get(SETTINGS_PATH, Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.post_form("/setup/finish", Some(&admin), "").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(setup::setup_token(b.dir.path()).expect("token"), None);
    assert_eq!(b.audits("setup.done"), 1);
}
