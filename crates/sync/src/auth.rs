//! Credentials on each request: fixed headers for an API key or basic
//! authentication, and an OAuth2 client-credentials token cached until
//! shortly before it expires.

use base64::Engine;
use dering_config::SyncAuth;

/// The header a request carries for `auth` (`None` for OAuth2, whose
/// header comes from [`TokenCache`], and for no authentication).
pub fn static_header(auth: &SyncAuth) -> Option<(String, String)> {
    match auth {
        SyncAuth::ApiKey { header, key } => Some((header.clone(), key.clone())),
        SyncAuth::Basic { user, password } => {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some(("Authorization".into(), format!("Basic {token}")))
        }
        SyncAuth::None | SyncAuth::OAuth2 { .. } => None,
    }
}

/// The form body of a client-credentials token request (RFC 6749 §4.4).
pub fn token_request_body(client_id: &str, client_secret: &str, scope: Option<&str>) -> String {
    let mut body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        form_escape(client_id),
        form_escape(client_secret)
    );
    if let Some(s) = scope {
        body.push_str("&scope=");
        body.push_str(&form_escape(s));
    }
    body
}

fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An OAuth2 access token and when to stop using it.
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    token: Option<(String, u64)>,
}

/// A token is fetched again this long before it expires, so a request is
/// never sent with one that expires on the way.
const MARGIN_MS: u64 = 30_000;

impl TokenCache {
    /// The `Authorization` value while the token is good at `now_ms`.
    pub fn header(&self, now_ms: u64) -> Option<String> {
        match &self.token {
            Some((t, until)) if now_ms < *until => Some(format!("Bearer {t}")),
            _ => None,
        }
    }

    /// Takes a token endpoint's JSON answer; false when it holds no token.
    pub fn store(&mut self, body: &str, now_ms: u64) -> bool {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
            return false;
        };
        let Some(token) = v.get("access_token").and_then(|t| t.as_str()) else {
            return false;
        };
        // Without expires_in the token is used for a minute, then renewed.
        let life = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(60) * 1000;
        let until = now_ms + life.saturating_sub(MARGIN_MS).max(life / 2);
        self.token = Some((token.to_string(), until));
        true
    }

    /// SIMPEL refused the token (401): the next request fetches another.
    pub fn invalidate(&mut self) {
        self.token = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_api_key_headers() {
        let b = SyncAuth::Basic {
            user: "dering".into(),
            password: "s3cret".into(),
        };
        assert_eq!(
            static_header(&b),
            Some(("Authorization".into(), "Basic ZGVyaW5nOnMzY3JldA==".into()))
        );
        let k = SyncAuth::ApiKey {
            header: "X-Key".into(),
            key: "k".into(),
        };
        assert_eq!(static_header(&k), Some(("X-Key".into(), "k".into())));
    }

    #[test]
    fn tokens_are_cached_until_shortly_before_expiry_and_dropped_on_401() {
        let mut c = TokenCache::default();
        assert_eq!(c.header(0), None);
        assert!(!c.store("{}", 0));
        assert!(c.store(r#"{"access_token": "t1", "expires_in": 300}"#, 1_000));
        assert_eq!(c.header(1_000).as_deref(), Some("Bearer t1"));
        assert_eq!(c.header(1_000 + 270_000 - 1).as_deref(), Some("Bearer t1"));
        assert_eq!(c.header(1_000 + 270_000), None);
        assert!(c.store(r#"{"access_token": "t2", "expires_in": 300}"#, 2_000));
        c.invalidate();
        assert_eq!(c.header(2_000), None);
        assert_eq!(
            token_request_body("id", "a b&c", Some("tickets")),
            "grant_type=client_credentials&client_id=id&client_secret=a%20b%26c&scope=tickets"
        );
    }
}
