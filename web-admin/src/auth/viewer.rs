//! The `Viewer` extractor: the logged-in user behind a request, from the
//! session cookie or, for integrations, an `Authorization: Bearer` API
//! token. Anonymous requests are refused with `AppError::Unauthenticated`,
//! which `error::render` turns into 401 under `/api/v1` and a redirect to
//! the login page elsewhere.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use rusqlite::OptionalExtension;

use crate::app::AppState;
use crate::auth::session::{self, Account};
use crate::auth::{Perm, Role};
use crate::error::AppError;
use crate::i18n::{cookie, Lang};

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: i64,
    pub login: String,
    pub full_name: String,
    pub role: Role,
    pub lang: Lang,
    /// The zone times are shown in (`[system] time_zone`).
    pub zone: crate::i18n::Zone,
    /// The client's address, for the audit log.
    pub source: String,
    auth: Auth,
}

#[derive(Debug, Clone)]
enum Auth {
    Session { secret: String, csrf: String },
    Token { id: i64, scopes: Vec<Perm> },
}

impl Viewer {
    fn new(a: Account, source: String, auth: Auth) -> Self {
        Viewer {
            user_id: a.user_id,
            login: a.login,
            full_name: a.full_name,
            role: a.role,
            lang: a.lang,
            zone: crate::i18n::Zone::WIB,
            source,
            auth,
        }
    }

    /// Whether the role has `perm` and, through an API token, its scope
    /// includes it.
    pub fn may(&self, perm: Perm) -> bool {
        self.role.may(perm)
            && match &self.auth {
                Auth::Session { .. } => true,
                Auth::Token { scopes, .. } => scopes.contains(&perm),
            }
    }

    /// `Ok` when the viewer may, else 403.
    pub fn require(&self, perm: Perm) -> Result<(), AppError> {
        if self.may(perm) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// The session's CSRF token for forms (empty for API tokens, which
    /// need none: no browser sends them on its own).
    pub fn csrf_token(&self) -> &str {
        match &self.auth {
            Auth::Session { csrf, .. } => csrf,
            Auth::Token { .. } => "",
        }
    }

    /// The session's secret, for logout.
    pub(crate) fn session_secret(&self) -> Option<&str> {
        match &self.auth {
            Auth::Session { secret, .. } => Some(secret),
            Auth::Token { .. } => None,
        }
    }

    /// The API token's id when the request came with one.
    pub fn token_id(&self) -> Option<i64> {
        match &self.auth {
            Auth::Token { id, .. } => Some(*id),
            Auth::Session { .. } => None,
        }
    }

    /// A viewer for tests of code that takes one, without a database.
    #[cfg(test)]
    pub fn for_test(role: Role) -> Viewer {
        Viewer {
            user_id: 1,
            login: format!("test-{}", role.name()),
            full_name: "Test".into(),
            role,
            lang: Lang::Id,
            zone: crate::i18n::Zone::WIB,
            source: "127.0.0.1".into(),
            auth: Auth::Session {
                secret: "s".into(),
                csrf: session::csrf_token("s"),
            },
        }
    }
}

/// The client's address: the TCP peer when the server recorded it.
pub fn source_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The client's address as an extractor (never fails).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(source_of(parts)))
    }
}

/// Whether the request carries an `Authorization: Bearer` token.
pub(crate) fn bearer_header(headers: &axum::http::HeaderMap) -> bool {
    bearer_of(headers).is_some()
}

/// The bearer token of a request, if it has one.
pub(crate) fn bearer(parts: &Parts) -> Option<String> {
    bearer_of(&parts.headers)
}

fn bearer_of(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
}

async fn find(parts: &Parts, state: &AppState) -> Result<Option<Viewer>, AppError> {
    let source = source_of(parts);
    let now = state.now_ms();
    if let Some(token) = bearer(parts) {
        let hash = session::digest(&token);
        let found = state
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT u.id, u.login, u.full_name, u.role, u.lang, t.id, t.scopes, t.last_used_ms \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ?1 AND t.revoked_ms IS NULL AND u.disabled = 0",
                    [&hash],
                    |r| {
                        Ok((
                            session::account_from_row(r)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, Option<i64>>(7)?,
                        ))
                    },
                )
                .optional()?)
            })
            .await?;
        // "Last used" to the minute: not a write on every API call.
        if let Some((_, id, _, last)) = &found {
            if last.is_none_or(|l| now - l >= 60_000) {
                let id = *id;
                state
                    .write(move |tx| {
                        tx.execute(
                            "UPDATE api_tokens SET last_used_ms = ?2 WHERE id = ?1",
                            rusqlite::params![id, now],
                        )?;
                        Ok(())
                    })
                    .await?;
            }
        }
        return Ok(found.map(|(account, id, scopes, _)| {
            let scopes = scopes.split_whitespace().filter_map(Perm::parse).collect();
            Viewer::new(account, source, Auth::Token { id, scopes })
        }));
    }
    let Some(secret) = cookie(&parts.headers, session::COOKIE).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let s = secret.clone();
    let account = match state.read(move |c| session::peek(c, &s, now)).await? {
        session::Found::None => None,
        session::Found::Expired => {
            let s = secret.clone();
            state.write(move |tx| session::end(tx, &s)).await?;
            None
        }
        session::Found::Live { account, touch } => {
            if touch {
                let s = secret.clone();
                state.write(move |tx| session::touch(tx, &s, now)).await?;
            }
            Some(account)
        }
    };
    Ok(account.map(|a| {
        let csrf = session::csrf_token(&secret);
        Viewer::new(a, source, Auth::Session { secret, csrf })
    }))
}

/// The viewer with the box's zone, read when a page is asked for so that
/// a changed `[system] time_zone` shows on the next page.
fn with_zone(viewer: Option<Viewer>, state: &AppState) -> Option<Viewer> {
    viewer.map(|v| Viewer {
        zone: state.zone(),
        ..v
    })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        with_zone(find(parts, state).await?, state).ok_or(AppError::Unauthenticated)
    }
}

impl OptionalFromRequestParts<AppState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        Ok(with_zone(find(parts, state).await?, state))
    }
}
