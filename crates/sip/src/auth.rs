//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617) with MD5 and
//! SHA-256 (RFC 8760). rsip fails on `qop="auth,auth-int"`, so challenges and
//! credentials are read here.
//!
//! Nonces are stateless: `<unix-seconds hex>.<mac>` where the mac binds the
//! time and the client's address to a per-boot secret, so a registrar under a
//! flood keeps no state per challenge.

use md5::Digest as _;

use crate::nameaddr::{quoted_end, split_outside_quotes, unquote_inner};

/// How long a nonce stays fresh; after that the answer is `stale=true`.
pub const NONCE_LIFETIME_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    pub fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(md5::Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(data.as_bytes())),
        }
    }
}

/// The parameters of a `Digest` Authorization/Proxy-Authorization header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub opaque: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("not a Digest header")]
    Scheme,
    #[error("missing digest parameter {0}")]
    Missing(&'static str),
}

/// Splits `k=v, k="v"` digest parameters.
pub fn parse_auth_params(s: &str) -> Vec<(String, String)> {
    split_outside_quotes(s, ',')
        .into_iter()
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(q) => unquote_inner(&q[..quoted_end(q).unwrap_or(q.len())]),
                None => v.to_string(),
            };
            Some((k.trim().to_ascii_lowercase(), v))
        })
        .collect()
}

impl Credentials {
    pub fn parse(header: &str) -> Result<Credentials, AuthError> {
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(char::is_whitespace)
            .ok_or(AuthError::Scheme)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::Scheme);
        }
        let mut c = Credentials::default();
        for (k, v) in parse_auth_params(rest) {
            match k.as_str() {
                "username" => c.username = v,
                "realm" => c.realm = v,
                "nonce" => c.nonce = v,
                "uri" => c.uri = v,
                "response" => c.response = v.to_ascii_lowercase(),
                "algorithm" => c.algorithm = Some(v),
                "cnonce" => c.cnonce = Some(v),
                "qop" => c.qop = Some(v),
                "nc" => c.nc = Some(v),
                "opaque" => c.opaque = Some(v),
                _ => {}
            }
        }
        for (name, v) in [
            ("username", &c.username),
            ("nonce", &c.nonce),
            ("uri", &c.uri),
            ("response", &c.response),
        ] {
            if v.is_empty() {
                return Err(AuthError::Missing(name));
            }
        }
        Ok(c)
    }

    pub fn algorithm(&self) -> Option<Algorithm> {
        match &self.algorithm {
            None => Some(Algorithm::Md5),
            Some(a) => Algorithm::parse(a),
        }
    }

    /// The response a client that knows `password` computes (RFC 2617 §3.2.2).
    pub fn expected_response(&self, method: &str, password: &str) -> Option<String> {
        let alg = self.algorithm()?;
        let ha1 = alg.hash(&format!("{}:{}:{}", self.username, self.realm, password));
        let ha2 = alg.hash(&format!("{}:{}", method, self.uri));
        Some(match (&self.qop, &self.cnonce, &self.nc) {
            (Some(qop), Some(cnonce), Some(nc)) if qop.eq_ignore_ascii_case("auth") => {
                alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
            }
            (None, _, _) => alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce)),
            _ => return None,
        })
    }

    /// Constant-time comparison of the client's response with ours.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let Some(expected) = self.expected_response(method, password) else {
            return false;
        };
        let a = expected.as_bytes();
        let b = self.response.as_bytes();
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Issues and checks stateless nonces.
#[derive(Debug, Clone)]
pub struct NonceKey {
    secret: [u8; 32],
}

/// Result of checking a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    Stale,
    Forged,
}

impl NonceKey {
    pub fn new(secret: [u8; 32]) -> NonceKey {
        NonceKey { secret }
    }

    pub fn random() -> NonceKey {
        NonceKey::new(rand::random())
    }

    fn mac(&self, ts: u64, peer: &str) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.secret);
        h.update(ts.to_be_bytes());
        h.update(peer.as_bytes());
        hex::encode(&h.finalize()[..12])
    }

    /// A nonce for a client at `peer` (its IP address) at `unix_secs`.
    pub fn issue(&self, unix_secs: u64, peer: &str) -> String {
        format!("{unix_secs:x}.{}", self.mac(unix_secs, peer))
    }

    pub fn check(&self, nonce: &str, unix_secs: u64, peer: &str) -> NonceCheck {
        let Some((ts, mac)) = nonce.split_once('.') else {
            return NonceCheck::Forged;
        };
        let Ok(ts) = u64::from_str_radix(ts, 16) else {
            return NonceCheck::Forged;
        };
        if self.mac(ts, peer) != mac {
            return NonceCheck::Forged;
        }
        if unix_secs.saturating_sub(ts) > NONCE_LIFETIME_SECS || ts > unix_secs + 5 {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh
        }
    }
}

/// The value of a WWW-Authenticate/Proxy-Authenticate challenge.
pub fn challenge(realm: &str, nonce: &str, alg: Algorithm, stale: bool) -> String {
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
        alg.name(),
        if stale { ", stale=true" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5 example (HTTP, MD5, qop=auth).
    #[test]
    fn rfc2617_vector() {
        let c = Credentials::parse(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert!(c.verify("GET", "Circle Of Life"));
        assert!(!c.verify("GET", "circle of life"));
    }

    /// RFC 7616 §3.9.1 example, SHA-256 (the algorithm RFC 8760 brings to SIP).
    #[test]
    fn rfc7616_sha256_vector() {
        let c = Credentials::parse(
            r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        assert!(c.verify("GET", "Circle of Life"));
    }

    #[test]
    fn qop_list_in_challenge_parses() {
        let p = parse_auth_params(r#"realm="x", qop="auth,auth-int", nonce="n""#);
        assert_eq!(p[1], ("qop".to_string(), "auth,auth-int".to_string()));
    }

    #[test]
    fn nonces_expire_and_bind_the_peer() {
        let k = NonceKey::new([7; 32]);
        let n = k.issue(1000, "127.0.0.1");
        assert_eq!(k.check(&n, 1100, "127.0.0.1"), NonceCheck::Fresh);
        assert_eq!(k.check(&n, 1400, "127.0.0.1"), NonceCheck::Stale);
        assert_eq!(k.check(&n, 1100, "127.0.0.2"), NonceCheck::Forged);
        assert_eq!(k.check("zz.zz", 1100, "127.0.0.1"), NonceCheck::Forged);
    }

    #[test]
    fn other_schemes_are_refused() {
        assert_eq!(
            Credentials::parse("NoOneKnowsThisScheme opaque-data=here"),
            Err(AuthError::Scheme)
        );
    }
}
