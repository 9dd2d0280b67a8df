//! Lockout and rate limiting of failed logins, from the `login_failures`
//! table (so they survive a restart and count across webd processes): an
//! account is locked for `WINDOW_MS` after `PER_LOGIN` failures within it,
//! and a client address is refused after `PER_SOURCE` failures within it
//! whichever logins it tries (a password sprayer).

use rusqlite::{params, Transaction};

use crate::error::AppError;

pub const WINDOW_MS: i64 = 15 * 60 * 1000;
pub const PER_LOGIN: i64 = 5;
pub const PER_SOURCE: i64 = 20;

/// `Err(TooManyRequests)` while `login` is locked or `source` limited.
pub fn check(tx: &Transaction<'_>, login: &str, source: &str, now_ms: i64) -> Result<(), AppError> {
    let since = now_ms - WINDOW_MS;
    for (column, key, max) in [("login", login, PER_LOGIN), ("source", source, PER_SOURCE)] {
        let (n, oldest): (i64, Option<i64>) = tx.query_row(
            &format!(
                "SELECT count(*), min(at_ms) FROM \
                 (SELECT at_ms FROM login_failures WHERE {column} = ?1 AND at_ms > ?2 \
                  ORDER BY at_ms DESC LIMIT ?3)"
            ),
            params![key, since, max],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if n >= max {
            // Free again when the oldest of the last `max` failures leaves
            // the window.
            let until = oldest.unwrap_or(now_ms) + WINDOW_MS;
            let retry_after_s = u64::try_from((until - now_ms + 999) / 1000)
                .unwrap_or(1)
                .max(1);
            return Err(AppError::TooManyRequests { retry_after_s });
        }
    }
    Ok(())
}

/// Counts one failed attempt.
pub fn fail(tx: &Transaction<'_>, login: &str, source: &str, now_ms: i64) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO login_failures (login, source, at_ms) VALUES (?1, ?2, ?3)",
        params![login, source, now_ms],
    )?;
    tx.execute(
        "DELETE FROM login_failures WHERE at_ms < ?1",
        [now_ms - 24 * 60 * 60 * 1000],
    )?;
    Ok(())
}

/// A successful login clears its account's failures.
pub fn clear(tx: &Transaction<'_>, login: &str) -> Result<(), AppError> {
    tx.execute("DELETE FROM login_failures WHERE login = ?1", [login])?;
    Ok(())
}
