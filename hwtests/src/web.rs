//! The web admin's accounts for tests and benches: an account with an API
//! token, written into a box's database as the users page does
//! (`webd::auth::account::create_token_row`), so a test reaches
//! `/api/v1` as that role without a browser log-in.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use webd::auth::Perm;

/// A new account `login` with `role` (agent, supervisor, qa, admin) in
/// the box whose data directory is `data`, and an API token for it scoped
/// to `scopes`; returns the token. The account has no password: only the
/// token logs it in.
pub fn api_token(data: &Path, login: &str, role: &str, scopes: &[Perm]) -> String {
    let mut db = rusqlite::Connection::open(data.join("dering.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO users (login, full_name, role, password_hash, created_ms, updated_ms) \
         VALUES (?1, ?1, ?2, '!', 0, 0)",
        rusqlite::params![login, role],
    )
    .unwrap();
    let id = db.last_insert_rowid();
    token_for(&mut db, id, login, scopes)
}

/// An API token for the box's first admin (the demo's), scoped to
/// `scopes`.
pub fn admin_api_token(data: &Path, scopes: &[Perm]) -> String {
    let mut db = rusqlite::Connection::open(data.join("dering.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let (id, login): (i64, String) = db
        .query_row(
            "SELECT id, login FROM users WHERE role = 'admin' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    token_for(&mut db, id, &login, scopes)
}

fn token_for(db: &mut rusqlite::Connection, id: i64, login: &str, scopes: &[Perm]) -> String {
    let tx = db.transaction().unwrap();
    let actor = webd::audit::Actor {
        user_id: Some(id),
        login: login.into(),
        source: "hwtest".into(),
    };
    let (_, token) =
        webd::auth::account::create_token_row(&tx, actor, 0, id, "hwtest", scopes).unwrap();
    tx.commit().unwrap();
    token
}

/// A TLS stream to webd.
pub type Https = crate::tls::Stream;

/// An HTTPS connection to webd (see [`crate::tls::connect`]).
pub use crate::tls::connect;

impl crate::Dering {
    /// One JSON request to this box's webd API at `https`, as `token`:
    /// (status, JSON body or null).
    pub fn api(
        &self,
        https: &str,
        token: &str,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let pem = std::fs::read(self.dir().join("tls/cert.pem")).unwrap();
        let mut s = connect(https, &pem, Duration::from_secs(30));
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        // A peer that closes without close_notify is an error to rustls;
        // the answer is whole by then.
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(rest).unwrap_or(Value::Null))
    }
}
