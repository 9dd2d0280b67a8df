//! Schemathesis against the running box's own OpenAPI document (issue
//! 15): `dering up` on a temporary data directory, an admin API token
//! with every permission an admin has, and `tools/schemathesis-check`
//! generating requests for every `/api/v1` operation over HTTPS. Any 5xx
//! answer or any answer outside the documented schema fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use hwtests::browser::WebBox;
use webd::auth::{Perm, Role, MATRIX};

/// An API token for the demo admin with every permission the admin role
/// has, written into the box's database as the account page would.
fn admin_token(web: &WebBox) -> String {
    let mut db = rusqlite::Connection::open(web.dering.dir().join("dering.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let id: i64 = db
        .query_row("SELECT id FROM users WHERE login = ?1", [&web.login], |r| {
            r.get(0)
        })
        .unwrap();
    let scopes: Vec<Perm> = MATRIX
        .iter()
        .filter(|(_, roles)| roles.contains(&Role::Admin))
        .map(|(p, _)| *p)
        .collect();
    let tx = db.transaction().unwrap();
    let actor = webd::audit::Actor {
        user_id: Some(id),
        login: web.login.clone(),
        source: "hwtest".into(),
    };
    let (_, token) =
        webd::auth::account::create_token_row(&tx, actor, 0, id, "schemathesis", &scopes).unwrap();
    tx.commit().unwrap();
    token
}

#[test]
fn the_api_keeps_to_its_openapi_document_under_schemathesis() {
    hwtests::require("python3");
    let web = WebBox::start();
    let token = admin_token(&web);
    let out = Command::new(hwtests::workspace().join("tools/schemathesis-check"))
        .args([&web.base, &token])
        .output()
        .expect("tools/schemathesis-check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        hwtests::browser::artefacts().join("schemathesis.txt"),
        &text,
    )
    .unwrap();
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
}
