//! Sessions in the box's SQLite database (decision 0017): a random token in
//! a `HttpOnly; SameSite=Strict` cookie, stored only as its SHA-256, so
//! every webd process (and a restart) sees the same sessions and "log out
//! everywhere" is one DELETE. A session ends after `IDLE_MS` without a
//! request or `ABSOLUTE_MS` after login, whichever comes first; the clock
//! is the state's, so tests move it.

use rand::RngCore;
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use crate::auth::Role;
use crate::error::AppError;
use crate::i18n::Lang;

pub const COOKIE: &str = "dering_session";
/// Idle timeout: 30 minutes without a request.
pub const IDLE_MS: i64 = 30 * 60 * 1000;
/// Absolute lifetime: one 12-hour shift.
pub const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// `last_seen_ms` is rewritten at most this often (not on every request).
const TOUCH_MS: i64 = 60 * 1000;

/// A new random secret (session or API token), 32 bytes as hex.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What is stored for a secret: its SHA-256, hex.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of a session: derived from its secret, so the check
/// needs no database read, and unknowable without the HttpOnly cookie.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("dering-csrf:{secret}").as_bytes()))
}

/// Opens a session for `user_id`; returns the secret for the cookie.
pub fn create(
    tx: &Transaction<'_>,
    user_id: i64,
    now_ms: i64,
    source: &str,
    user_agent: &str,
) -> Result<String, AppError> {
    // Expired sessions of anyone go now: the table stays small.
    tx.execute(
        "DELETE FROM sessions WHERE last_seen_ms < ?1 OR created_ms < ?2",
        params![now_ms - IDLE_MS, now_ms - ABSOLUTE_MS],
    )?;
    let secret = new_secret();
    tx.execute(
        "INSERT INTO sessions (id, user_id, created_ms, last_seen_ms, source, user_agent) \
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
        params![digest(&secret), user_id, now_ms, source, user_agent],
    )?;
    Ok(secret)
}

/// A logged-in user as a session or token lookup finds them.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: i64,
    pub login: String,
    pub full_name: String,
    pub role: Role,
    pub lang: Lang,
}

/// Reads a user row's account fields (`id, login, full_name, role, lang`).
pub fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let role: String = r.get(3)?;
    let lang: String = r.get(4)?;
    Ok(Account {
        user_id: r.get(0)?,
        login: r.get(1)?,
        full_name: r.get(2)?,
        // The schema's CHECK allows only known roles; a stray value gets
        // the least privilege.
        role: Role::parse(&role).unwrap_or(Role::Agent),
        lang: Lang::parse(&lang).unwrap_or_default(),
    })
}

/// What a session lookup found.
#[derive(Debug)]
pub enum Found {
    /// Unknown, or its user disabled.
    None,
    /// Past its idle or absolute limit: to be deleted.
    Expired,
    /// Live; `touch` when `last_seen_ms` is due to be rewritten.
    Live { account: Account, touch: bool },
}

/// Looks a session up on a read connection: most requests need no write
/// (and so no write lock beside pbxd's writer); the caller deletes an
/// expired session or touches a live one only when `Found` says so.
pub fn peek(conn: &rusqlite::Connection, secret: &str, now_ms: i64) -> Result<Found, AppError> {
    let row = conn
        .query_row(
            "SELECT u.id, u.login, u.full_name, u.role, u.lang, s.created_ms, s.last_seen_ms \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = ?1 AND u.disabled = 0",
            [digest(secret)],
            |r| {
                Ok((
                    account_from_row(r)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((account, created, seen)) = row else {
        return Ok(Found::None);
    };
    if now_ms - seen >= IDLE_MS || now_ms - created >= ABSOLUTE_MS {
        return Ok(Found::Expired);
    }
    Ok(Found::Live {
        account,
        touch: now_ms - seen >= TOUCH_MS,
    })
}

/// Records that the session was used at `now_ms` (renewing its idle time).
pub fn touch(tx: &Transaction<'_>, secret: &str, now_ms: i64) -> Result<(), AppError> {
    tx.execute(
        "UPDATE sessions SET last_seen_ms = ?2 WHERE id = ?1",
        params![digest(secret), now_ms],
    )?;
    Ok(())
}

/// Ends one session.
pub fn end(tx: &Transaction<'_>, secret: &str) -> Result<(), AppError> {
    tx.execute("DELETE FROM sessions WHERE id = ?1", [digest(secret)])?;
    Ok(())
}

/// Ends every session of a user ("log out everywhere", a disabled account,
/// a changed password). Returns how many ended.
pub fn end_all(tx: &Transaction<'_>, user_id: i64) -> Result<usize, AppError> {
    Ok(tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?)
}

/// The `Set-Cookie` value for a new session.
pub fn cookie(secret: &str, https: bool) -> String {
    format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ABSOLUTE_MS / 1000,
        if https { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if https { "; Secure" } else { "" }
    )
}
