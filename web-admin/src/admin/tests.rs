//! Router tests of the configuration screens without a port: who may read
//! and change what, every screen's refusal naming its field, the page
//! form marking it, and the audit entry of a change.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::apply;
use super::screens::SCREENS;
use crate::auth::Role;
use crate::testing::{ApiAuth, Route, TestBox};

/// A box whose configuration is the demo (version 1), pbxd not running.
async fn demo_box() -> TestBox {
    let b = TestBox::new();
    apply::import(b.dir.path(), dering_config::DEFAULT_TOML.into(), "seed", 1)
        .await
        .expect("demo configuration stored");
    b
}

#[tokio::test]
async fn who_may_read_and_change_the_configuration() {
    let b = demo_box().await;
    let anonymous = b.api(Method::GET, "/api/v1/admin/agents", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let page = b.get("/admin/agents", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "anonymous page: login");

    let agent = b.login_as(Role::Agent);
    assert_eq!(
        b.get("/admin", Some(&agent)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.get("/admin/agents", Some(&agent)).await.status,
        StatusCode::FORBIDDEN
    );

    let qa = b.login_as(Role::Qa);
    assert_eq!(
        b.get("/admin/agents", Some(&qa)).await.status,
        StatusCode::OK
    );
    let r = b
        .post_form("/admin/agents", Some(&qa), "id=2010&name=Baru&pin=4321")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "QA reads only");

    // A supervisor keeps agents, queues and the VIP and block lists …
    let sup = b.login_as(Role::Supervisor);
    let r = b
        .post_form("/admin/agents", Some(&sup), "id=2010&name=Baru&pin=4321")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // … not extensions.
    let r = b
        .post_form(
            "/admin/extensions",
            Some(&sup),
            "number=1099&name=Baru&password=panjang-sekali",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_config", "edit_config"]);
    let r = b
        .api(
            Method::POST,
            "/api/v1/admin/extensions",
            Some(&token),
            Some(json!({"number": "1099", "name": "Baru", "password": "panjang-sekali"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["applied"]["version"], 3);
    // A token without edit_acd cannot do what the admin's role could.
    let r = b
        .api(
            Method::DELETE,
            "/api/v1/admin/agents/2010",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// For every screen, one refused value and the field the refusal names,
/// whether the form checks it or the configuration loader does.
#[tokio::test]
async fn every_screen_refuses_bad_input_naming_the_field() {
    let b = demo_box().await;
    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_config", "edit_config", "edit_acd"]);
    let cases = [
        (
            "extensions",
            json!({"number": "1099", "name": "x", "password": "pendek"}),
            "password",
        ),
        (
            "extensions",
            json!({"number": "10a", "name": "x", "password": "panjang-sekali"}),
            "number",
        ),
        (
            "agents",
            json!({"id": "2010", "name": "x", "pin": "12"}),
            "pin",
        ),
        (
            "agents",
            json!({"id": "2010", "name": "x", "pin": "1234", "skills": {"pengaduan": 11}}),
            "skills",
        ),
        (
            "queues",
            json!({"name": "q2", "strategy": "fastest"}),
            "strategy",
        ),
        (
            "queues",
            json!({"name": "q2", "strategy": "random", "overflow_to": "queue:nowhere"}),
            "overflow_to",
        ),
        (
            "vip",
            json!({"number": "0811", "priority": "tinggi"}),
            "priority",
        ),
        (
            "blocklist",
            json!({"number": "0811", "action": "ignore"}),
            "action",
        ),
        (
            "priority",
            json!({"acd.phone_lost": "never"}),
            "acd.phone_lost",
        ),
        (
            "numbers",
            json!({"number": "1500abc", "flow": "layanan-pengaduan"}),
            "number",
        ),
        (
            "trunks",
            json!({"name": "telkom", "kind": "ip", "host": "192.0.2.1", "addresses": "192.0.2.1/32", "codecs": "PCMA, GSM"}),
            "codecs",
        ),
        (
            "routes",
            json!({"name": "lokal", "classes": "local, moon", "trunks": "demo"}),
            "classes",
        ),
        (
            "recording-rules",
            json!({"extension": "1001", "flow": "layanan-pengaduan", "percent": 50}),
            "extension",
        ),
        (
            "conferences",
            json!({"number": "8002", "name": "x", "pin": "12"}),
            "pin",
        ),
        ("supervisors", json!({"name": "x", "pin": "1357"}), "pin"),
        (
            "features",
            json!({"monitoring.listen_code": "90"}),
            "monitoring.listen_code",
        ),
        (
            "recording",
            json!({"recording.percent": 150}),
            "recording.percent",
        ),
        (
            "moh",
            json!({"calls.music_on_hold": "a\u{7}b"}),
            "calls.music_on_hold",
        ),
        (
            "system",
            json!({"system.ntp": "ntp.bmkg.go.id, pool ntp"}),
            "system.ntp",
        ),
        ("ups", json!({"power.upsd": "no-port"}), "power.upsd"),
        (
            "calendars",
            json!({"name": "lebaran", "holidays": "2027-13-01 Idul Fitri"}),
            "holidays",
        ),
    ];
    let covered: std::collections::BTreeSet<&str> = cases.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(covered.len(), SCREENS.len(), "a case for every screen");
    for (slug, body, field) in cases {
        let r = b
            .api(
                Method::POST,
                &format!("/api/v1/admin/{slug}"),
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{slug} {body}: {}",
            r.body
        );
        assert_eq!(r.json()["field"], field, "{slug} {body}: {}", r.body);
    }
    // Nothing was stored.
    assert_eq!(apply::current(b.dir.path()).expect("current").version, 1);
}

#[tokio::test]
async fn a_refused_page_form_comes_back_with_the_field_marked() {
    let b = demo_box().await;
    let sup = b.login_as(Role::Supervisor);
    let r = b
        .post_form(
            "/admin/agents",
            Some(&sup),
            "_version=1&id=2010&name=Baru&pin=12",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("id=\"f-pin\" name=\"pin\" type=\"password\" autocomplete=\"new-password\" placeholder=\"\" aria-invalid=\"true\""),
        "{}",
        r.body
    );
    // In the page's Indonesian, and the PIN typed is not repeated.
    assert!(r.body.contains("bukan PIN 4 sampai 12 angka"), "{}", r.body);
    assert!(!r.body.contains("\"12\""), "{}", r.body);
    // What was typed is kept (but never a secret).
    assert!(r.body.contains("value=\"Baru\""));
}

#[tokio::test]
async fn a_change_is_audited_with_before_and_after_and_secrets_hidden() {
    let b = demo_box().await;
    let sup = b.login_as(Role::Supervisor);
    let r = b
        .post_form(
            "/admin/agents/entry/2002",
            Some(&sup),
            "_version=1&id=2002&name=Bu+Sari&pin=9876&skills=pengaduan%3D5",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), Some("/admin/agents?saved=2&live=0"));
    let (action, target, before, after): (String, String, String, String) = b
        .db()
        .query_row(
            "SELECT action, target, before, after FROM audit_log WHERE action LIKE 'config.%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("audit row");
    assert_eq!(
        (action.as_str(), target.as_str()),
        ("config.agents.update", "agents 2002")
    );
    assert!(before.contains("Petugas 2002"), "{before}");
    assert!(after.contains("Bu Sari"), "{after}");
    assert!(
        !after.contains("9876") && !before.contains("1234"),
        "secrets leaked: {before} {after}"
    );
    // The list shows who changed it.
    let page = b.get("/admin/agents", Some(&sup)).await;
    assert!(page.body.contains(&sup.login), "{}", page.body);

    // A form loaded on version 1 cannot undo version 2.
    let r = b
        .post_form(
            "/admin/agents/entry/2002",
            Some(&sup),
            "_version=1&id=2002&name=Lama",
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_uploaded_prompt_is_converted_listed_and_played_and_needs_edit_config() {
    use axum::body::Body;
    use axum::http::{header, Request};
    let b = demo_box().await;
    let tone = b.dir.path().join("tone.wav");
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "2", "-b", "16"])
        .arg(&tone)
        .args(["synth", "0.5", "sine", "440"])
        .status()
        .expect("sox runs");
    assert!(made.success());
    let wav = std::fs::read(&tone).expect("tone");
    let put = |path: &str, token: &str| {
        Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(header::HOST, "box.test")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "audio/wav")
            .body(Body::from(wav.clone()))
            .expect("request")
    };
    let qa = b.login_as(Role::Qa);
    let qa_token = b.token_for(&qa, &["view_config"]);
    let r = b
        .send(put("/api/v1/admin/prompts/id/salam", &qa_token))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_config", "edit_config"]);
    let r = b.send(put("/api/v1/admin/prompts/id/Salam!", &token)).await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    let r = b.send(put("/api/v1/admin/prompts/id/salam", &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let r = b
        .api(Method::GET, "/api/v1/admin/prompts", Some(&token), None)
        .await;
    assert_eq!(r.json()["prompts"][0]["name"], "salam", "{}", r.body);
    let page = b.get("/admin/prompts", Some(&admin)).await;
    assert!(
        page.body.contains("src=\"/admin/prompts/id/salam.wav\""),
        "{}",
        page.body
    );
    let audio = b.get("/admin/prompts/id/salam.wav", Some(&admin)).await;
    assert_eq!(audio.status, StatusCode::OK);
    assert_eq!(audio.headers[header::CONTENT_TYPE], "audio/wav");
    let stored = std::fs::read(b.dir.path().join("prompts/id/salam.wav")).expect("stored");
    assert_eq!(u16::from_le_bytes([stored[22], stored[23]]), 1, "mono");
    assert_eq!(
        u32::from_le_bytes([stored[24], stored[25], stored[26], stored[27]]),
        8000
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_configuration_api() {
    let b = TestBox::new();
    let doc = b.get("/api/v1/openapi.json", None).await.json();
    for (path, method) in [
        ("/api/v1/admin/{slug}", "post"),
        ("/api/v1/admin/{slug}/{key}", "put"),
        ("/api/v1/admin/{slug}/{key}", "delete"),
        ("/api/v1/admin/versions/{version}", "get"),
        ("/api/v1/admin/prompts/{folder}/{name}", "put"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
}

#[tokio::test]
async fn the_system_screen_shows_the_network_read_only() {
    let b = demo_box().await;
    let qa = b.login_as(Role::Qa);
    let page = b.get("/admin/system", Some(&qa)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<table class=\"network\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("127.0.0.1 udp/tcp 5060/5060 tls 5061"),
        "{}",
        page.body
    );
    // QA sees the settings but no way to change them.
    assert!(page.body.contains(" disabled>") && !page.body.contains("id=\"save\""));
}

/// Every route of the configuration screens with the permission it
/// needs: each role reaches it or gets 403 (whatever the body); anonymous
/// visitors get the login page or 401. Changes the API makes go through a
/// token of the role's own permissions.
const ROUTES: &[Route] = {
    use crate::auth::Perm::*;
    &[
        ("GET", "/admin", "", ViewConfig),
        ("GET", "/admin/agents", "", ViewConfig),
        ("GET", "/admin/agents/new", "", EditAcd),
        ("GET", "/admin/agents/entry/2001", "", ViewConfig),
        (
            "POST",
            "/admin/agents",
            "id=2011&name=Baru&pin=4321",
            EditAcd,
        ),
        (
            "POST",
            "/admin/agents/entry/2001",
            "id=2001&name=Ubah",
            EditAcd,
        ),
        ("POST", "/admin/vip/entry/02135221234/delete", "", EditAcd),
        ("GET", "/admin/extensions/new", "", EditConfig),
        (
            "POST",
            "/admin/extensions",
            "number=1099&name=B&password=panjang-sekali",
            EditConfig,
        ),
        (
            "POST",
            "/admin/system",
            "calls.no_answer_seconds=25",
            EditConfig,
        ),
        ("GET", "/admin/versions", "", ViewConfig),
        ("POST", "/admin/versions/1/restore", "", EditConfig),
        ("GET", "/admin/blocked", "", ViewConfig),
        ("POST", "/admin/blocked/192.0.2.9/unblock", "", EditAcd),
        ("GET", "/admin/prompts", "", ViewConfig),
        ("GET", "/admin/prompts/id/none.wav", "", ViewConfig),
        ("GET", "/api/v1/admin/agents", "", ViewConfig),
        ("GET", "/api/v1/admin/agents/2001", "", ViewConfig),
        (
            "POST",
            "/api/v1/admin/queues",
            "{\"name\": \"q9\", \"strategy\": \"random\"}",
            EditAcd,
        ),
        (
            "PUT",
            "/api/v1/admin/queues/pengaduan",
            "{\"name\": \"pengaduan\", \"strategy\": \"random\"}",
            EditAcd,
        ),
        ("DELETE", "/api/v1/admin/agents/2003", "", EditAcd),
        ("POST", "/api/v1/admin/numbers", "not json", EditConfig),
        ("GET", "/api/v1/admin/versions", "", ViewConfig),
        ("GET", "/api/v1/admin/versions/1", "", EditConfig),
        (
            "POST",
            "/api/v1/admin/restore",
            "{\"version\": 1}",
            EditConfig,
        ),
        ("GET", "/api/v1/admin/blocked", "", ViewConfig),
        (
            "POST",
            "/api/v1/admin/blocked/192.0.2.9/unblock",
            "",
            EditAcd,
        ),
        ("GET", "/api/v1/admin/prompts", "", ViewConfig),
        ("PUT", "/api/v1/admin/prompts/id/salam", "RIFF", EditConfig),
        ("DELETE", "/api/v1/admin/prompts/id/salam", "", EditConfig),
    ]
};

#[tokio::test]
async fn every_admin_route_answers_403_to_a_role_without_its_permission() {
    demo_box()
        .await
        .assert_role_matrix(ROUTES, ApiAuth::Token)
        .await;
}

/// Business hours and holidays are their own screen (ACD-9): an admin
/// enters a calendar with weekly hours and named holidays, the next
/// version holds it as the loader reads it, the list shows it with who
/// changed it, a line that does not read is refused naming its field,
/// and a supervisor may not change it.
#[tokio::test]
async fn the_business_hours_screen_keeps_named_calendars() {
    let b = demo_box().await;
    let admin = b.login_as(Role::Admin);
    let r = b
        .post_form(
            "/admin/calendars",
            Some(&admin),
            "_version=1&name=layanan-darurat&hours=mon-sat+07%3A00-19%3A00%0D%0Asun+08%3A00-12%3A00\
             &holidays=2027-03-10+Hari+Raya+Nyepi%0D%0A2027-03-20+Idul+Fitri",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let current = apply::current(b.dir.path()).expect("current");
    assert_eq!(current.version, 2);
    let cfg = dering_config::Config::parse(&current.document, "v2").expect("valid");
    let cal = cfg
        .calendars
        .iter()
        .find(|c| c.name == "layanan-darurat")
        .expect("stored");
    assert_eq!(cal.hours.len(), 2);
    assert_eq!(cal.hours[0].days.len(), 6);
    assert_eq!(cal.holidays[0].name, "Hari Raya Nyepi");
    assert!(dering_config::calendars(&cfg.calendars)["layanan-darurat"]
        .holidays
        .contains(&"2027-03-20".to_string()));

    let page = b.get("/admin/calendars", Some(&admin)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("layanan-darurat"), "{}", page.body);
    assert!(
        page.body.contains(&admin.login),
        "changed last by: {}",
        page.body
    );
    let form = b
        .get("/admin/calendars/entry/layanan-darurat", Some(&admin))
        .await;
    assert!(
        form.body.contains("mon-sat 07:00-19:00\nsun 08:00-12:00"),
        "{}",
        form.body
    );
    assert!(
        form.body.contains("2027-03-10 Hari Raya Nyepi"),
        "{}",
        form.body
    );

    let r = b
        .post_form(
            "/admin/calendars",
            Some(&admin),
            "_version=2&name=x&hours=senin+08%3A00-16%3A00",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains(
            "name=\"hours\" rows=\"4\" placeholder=\"mon-fri 08:00-16:00\" aria-invalid=\"true\""
        ),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("&quot;senin&quot; is not a day"),
        "{}",
        r.body
    );

    let sup = b.login_as(Role::Supervisor);
    let r = b
        .post_form("/admin/calendars", Some(&sup), "_version=2&name=y")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(apply::current(b.dir.path()).expect("current").version, 2);
}

/// The system screen (issue 15 §2): the time zone and NTP servers are
/// stored as the next version and the servers written as chrony's
/// sources file (in the data directory here; `chronyc` absent, the page
/// says the sync state is not available); the backup holds every
/// version and is audited; restoring it (the JSON as uploaded) is
/// checked by the loader and applied as the next version, and a bad
/// document is refused naming `document`.
#[tokio::test]
async fn the_system_screen_sets_time_and_ntp_and_backs_up_and_restores() {
    let b = demo_box().await;
    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_config", "edit_config"]);
    let r = b
        .post_form(
            "/admin/system",
            Some(&admin),
            "_version=1&system.time_zone=Asia%2FMakassar&system.ntp=ntp.bmkg.go.id%2C+192.0.2.123\
             &recording.backup_directory=%2Fsrv%2Fcadangan&recording.backup_every_hours=12",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let current = apply::current(b.dir.path()).expect("current");
    let cfg = dering_config::Config::parse(&current.document, "v2").expect("valid");
    assert_eq!(cfg.system.time_zone, "Asia/Makassar");
    assert_eq!(cfg.flows.utc_offset_minutes, 480);
    assert_eq!(cfg.recording.backup_every_hours, 12);
    let sources = std::fs::read_to_string(b.dir.path().join("dering.sources")).expect("written");
    assert!(
        sources.contains("server ntp.bmkg.go.id iburst\nserver 192.0.2.123 iburst\n"),
        "{sources}"
    );

    let page = b.get("/admin/system", Some(&admin)).await;
    assert!(page.body.contains("not available") || page.body.contains("tidak tersedia"));
    assert!(page.body.contains("id=\"config-restore\""), "{}", page.body);
    assert!(page.body.contains("dering.sources"), "{}", page.body);

    let backup = b
        .api(Method::GET, "/api/v1/admin/backup", Some(&token), None)
        .await;
    assert_eq!(backup.status, StatusCode::OK, "{}", backup.body);
    let json = backup.json();
    assert_eq!(json["current_version"], 2);
    assert_eq!(json["versions"].as_array().map(Vec::len), Some(2));
    assert!(json["versions"][0]["document"]
        .as_str()
        .is_some_and(|d| d.contains("Asia/Jakarta")));

    // Back to version 1's zone by restoring a backup's JSON whose
    // document is version 1.
    let mut old = json.clone();
    old["document"] = json["versions"][0]["document"].clone();
    let r = b
        .api(
            Method::POST,
            "/api/v1/admin/restore",
            Some(&token),
            Some(json!({"document": old.to_string()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let current = apply::current(b.dir.path()).expect("current");
    assert_eq!(current.version, 3);
    assert!(current.document.contains("time_zone = \"Asia/Jakarta\""));
    // No servers any more: the file says so.
    let sources = std::fs::read_to_string(b.dir.path().join("dering.sources")).expect("written");
    assert!(!sources.contains("server "), "{sources}");

    let r = b
        .api(
            Method::POST,
            "/api/v1/admin/restore",
            Some(&token),
            Some(json!({"document": "[sip]\nudp_port = 70000\n"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["field"], "document");
    assert_eq!(apply::current(b.dir.path()).expect("current").version, 3);

    let backups: i64 = b
        .db()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'config.backup'",
            [],
            |r| r.get(0),
        )
        .expect("audit");
    assert_eq!(backups, 1, "the backup is audited");
    let qa = b.login_as(Role::Qa);
    let qa_token = b.token_for(&qa, &["view_config"]);
    let r = b
        .api(Method::GET, "/api/v1/admin/backup", Some(&qa_token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// The loader's refusals are shown in the viewer's language (issue 15
/// §6): the same refused form reads in Bahasa Indonesia for a user whose
/// language is `id` and in English for `en`, and a refused restore names
/// file, line and key in Indonesian.
#[tokio::test]
async fn loader_refusals_are_shown_in_the_viewer_s_language() {
    let b = demo_box().await;
    let admin = b.login_as(Role::Admin);
    let form = "_version=1&recording.percent=150";
    let r = b.post_form("/admin/recording", Some(&admin), form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("harus 0 sampai 100"), "{}", r.body);
    let token = b.token_for(&admin, &["view_config", "edit_config"]);
    let r = b
        .api(
            Method::POST,
            "/api/v1/admin/restore",
            Some(&token),
            Some(json!({"document": dering_config::DEFAULT_TOML.replace("[sip]\n", "[sip]\nport_udp = 1\n")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("baris") && message.contains("kunci `port_udp` tidak dikenal"),
        "{}",
        r.body
    );

    b.db()
        .execute(
            "UPDATE users SET lang = 'en' WHERE login = ?1",
            [&admin.login],
        )
        .expect("language");
    let r = b.post_form("/admin/recording", Some(&admin), form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains(">0 to 100<"), "{}", r.body);
    assert!(!r.body.contains("harus"), "{}", r.body);
    assert_eq!(apply::current(b.dir.path()).expect("current").version, 1);
}

/// Refusals of kinds typed after the first ones (issue 15 §2, §6): a
/// malformed feature code, a malformed address and a value not among
/// those allowed come back in Bahasa Indonesia for an `id` user and in
/// the loader's English words for an `en` user, the field named in both.
#[tokio::test]
async fn typed_loader_refusals_read_in_indonesian_and_english() {
    let b = demo_box().await;
    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_config", "edit_config", "edit_acd"]);
    let cases = [
        (
            "features",
            json!({"monitoring.listen_code": "90"}),
            "monitoring.listen_code",
            "\"90\" bukan kode fitur (* dan angka)",
            "\"90\" must start with * and have a digit",
        ),
        (
            "ups",
            json!({"power.upsd": "no-port"}),
            "power.upsd",
            "\"no-port\" bukan HOST:PORT",
            "\"no-port\" is not HOST:PORT",
        ),
        (
            "trunks",
            json!({"name": "telkom", "kind": "ip", "host": "192.0.2.1", "addresses": "192.0.2.1/32", "codecs": "PCMA, GSM"}),
            "codecs",
            "\"GSM\" bukan salah satu dari PCMA, PCMU, G722",
            "\"GSM\" is not one of PCMA, PCMU, G722",
        ),
    ];
    for lang in ["id", "en"] {
        b.db()
            .execute(
                "UPDATE users SET lang = ?1 WHERE login = ?2",
                [lang, &admin.login],
            )
            .expect("language");
        for (slug, body, field, id, en) in &cases {
            let r = b
                .api(
                    Method::POST,
                    &format!("/api/v1/admin/{slug}"),
                    Some(&token),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
            assert_eq!(r.json()["field"], *field, "{}", r.body);
            let message = r.json()["message"].as_str().unwrap_or_default().to_string();
            let (want, not) = if lang == "id" { (id, en) } else { (en, id) };
            assert!(message.contains(want), "{lang}: {}", r.body);
            assert!(!message.contains(not), "{lang}: {}", r.body);
            assert!(!message.contains("ditolak"), "{lang}: {}", r.body);
        }
    }
    assert_eq!(apply::current(b.dir.path()).expect("current").version, 1);
}

/// Pages show times in the zone of `[system] time_zone` with its
/// abbreviation (issue 15 §6), and a changed zone shows on the next page
/// without a restart: a power event at 02:00 UTC reads 09:00 WIB, then
/// 10:00 WITA once the box is set to Asia/Makassar.
#[tokio::test]
async fn pages_show_times_in_the_box_s_zone() {
    use crate::history::testdb::{TestDb, T0};
    let b = demo_box().await;
    TestDb::open(b.dir.path()).power(T0, "on_battery", true);
    let admin = b.login_as(Role::Admin);
    let page = "/history/power?from=2026-12-04&to=2026-12-04";
    let r = b.get(page, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("2026-12-04 09:00:00 WIB"), "{}", r.body);
    assert!(r.body.contains("Waktu (WIB)"), "{}", r.body);

    let makassar = dering_config::DEFAULT_TOML.replace(
        "time_zone = \"Asia/Jakarta\"",
        "time_zone = \"Asia/Makassar\"",
    );
    apply::import(b.dir.path(), makassar, "test", 2)
        .await
        .expect("Makassar stored");
    let r = b.get(page, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("2026-12-04 10:00:00 WITA"), "{}", r.body);
    assert!(r.body.contains("Waktu (WITA)"), "{}", r.body);
    assert!(!r.body.contains("WIB"), "{}", r.body);
}
