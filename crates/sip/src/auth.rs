//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616)
//! with MD5 and SHA-256 (RFC 8760), both sides: the registrar's challenges
//! and checks, and the answers the box gives a far side that challenges it
//! ([`Challenge::answer`]), through one hash
//! ([`Credentials::expected_response`]). rsip fails on
//! `qop="auth,auth-int"`, so challenges and credentials are read here.
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
    /// A challenge this client cannot answer (an algorithm such as
    /// `MD5-sess`, or `qop=auth-int` alone).
    #[error("unsupported digest {0}")]
    Unsupported(String),
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

impl Credentials {
    /// The value of an Authorization/Proxy-Authorization header carrying
    /// these credentials (RFC 7616 §3.4; `nc` and `qop` unquoted, as
    /// RFC 3261 §25.1 writes them).
    pub fn header_value(&self) -> String {
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\"",
            q(&self.username),
            q(&self.realm),
            q(&self.nonce),
            q(&self.uri),
            self.response
        );
        if let Some(a) = &self.algorithm {
            v.push_str(&format!(", algorithm={a}"));
        }
        if let (Some(qop), Some(nc), Some(cnonce)) = (&self.qop, &self.nc, &self.cnonce) {
            v.push_str(&format!(", qop={qop}, nc={nc}, cnonce=\"{}\"", q(cnonce)));
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{}\"", q(o)));
        }
        v
    }
}

/// A far side's digest challenge, the value of a WWW-Authenticate or
/// Proxy-Authenticate header: what the client side reads to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// As the server wrote it; absent means MD5 (RFC 7616 §3.3).
    pub algorithm: Option<String>,
    /// The qop options offered (`auth`, `auth-int`); empty for an
    /// RFC 2069 challenge.
    pub qop: Vec<String>,
    /// The previous nonce was merely too old: answering again with the
    /// same password is expected (RFC 7616 §3.3).
    pub stale: bool,
}

impl Challenge {
    pub fn parse(header: &str) -> Result<Challenge, AuthError> {
        let header = header.trim();
        let (scheme, rest) = header
            .split_once(char::is_whitespace)
            .ok_or(AuthError::Scheme)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::Scheme);
        }
        let mut c = Challenge {
            realm: String::new(),
            nonce: String::new(),
            opaque: None,
            algorithm: None,
            qop: Vec::new(),
            stale: false,
        };
        let mut has_realm = false;
        for (k, v) in parse_auth_params(rest) {
            match k.as_str() {
                "realm" => {
                    has_realm = true;
                    c.realm = v;
                }
                "nonce" => c.nonce = v,
                "opaque" => c.opaque = Some(v),
                "algorithm" => c.algorithm = Some(v),
                "qop" => {
                    c.qop = v
                        .split(',')
                        .map(|q| q.trim().to_ascii_lowercase())
                        .filter(|q| !q.is_empty())
                        .collect();
                }
                "stale" => c.stale = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        if !has_realm {
            return Err(AuthError::Missing("realm"));
        }
        if c.nonce.is_empty() {
            return Err(AuthError::Missing("nonce"));
        }
        Ok(c)
    }

    /// The algorithm to hash with; `None` when this side has none of it.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match &self.algorithm {
            None => Some(Algorithm::Md5),
            Some(a) => Algorithm::parse(a),
        }
    }

    /// The credentials that answer this challenge for a `method` request
    /// to `uri` (RFC 7616 §3.4): `qop=auth` with client nonce `cnonce`
    /// and nonce count `nc` when the server offers it, the RFC 2069 form
    /// when it offers no qop. The response is computed by
    /// [`Credentials::expected_response`], the hash the server side
    /// checks with.
    pub fn answer(
        &self,
        method: &str,
        uri: &str,
        (username, password): (&str, &str),
        cnonce: &str,
        nc: u32,
    ) -> Result<Credentials, AuthError> {
        if self.algorithm().is_none() {
            return Err(AuthError::Unsupported(format!(
                "algorithm {}",
                self.algorithm.as_deref().unwrap_or_default()
            )));
        }
        let qop = if self.qop.is_empty() {
            None
        } else if self.qop.iter().any(|q| q == "auth") {
            Some("auth".to_string())
        } else {
            return Err(AuthError::Unsupported(format!(
                "qop {}",
                self.qop.join(",")
            )));
        };
        let mut c = Credentials {
            username: username.to_string(),
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: uri.to_string(),
            response: String::new(),
            algorithm: self.algorithm.clone(),
            cnonce: qop.as_ref().map(|_| cnonce.to_string()),
            nc: qop.as_ref().map(|_| format!("{nc:08x}")),
            qop,
            opaque: self.opaque.clone(),
        };
        c.response = c
            .expected_response(method, password)
            .ok_or_else(|| AuthError::Unsupported("challenge".into()))?;
        Ok(c)
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

    /// The client side of RFC 7616 §3.9.1: the challenge as the server
    /// wrote it, answered with the example's cnonce, gives the example's
    /// response for MD5 and for SHA-256.
    #[test]
    fn rfc7616_vectors_answered_by_the_client() {
        for (alg, response) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let ch = Challenge::parse(&format!(
                r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            ))
            .unwrap();
            let c = ch
                .answer(
                    "GET",
                    "/dir/index.html",
                    ("Mufasa", "Circle of Life"),
                    "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                    1,
                )
                .unwrap();
            assert_eq!(c.response, response, "{alg}");
            assert_eq!(c.nc.as_deref(), Some("00000001"));
            assert_eq!(c.qop.as_deref(), Some("auth"));
            // What the client writes, the server side reads and accepts.
            let back = Credentials::parse(&c.header_value()).unwrap();
            assert_eq!(back, c);
            assert!(back.verify("GET", "Circle of Life"));
            assert!(!back.verify("GET", "Circle of life"));
        }
    }

    #[test]
    fn a_challenge_without_qop_is_answered_the_rfc2069_way() {
        let ch = Challenge::parse(r#"Digest realm="r", nonce="n1""#).unwrap();
        let c = ch.answer("INVITE", "sip:x@y", ("u", "p"), "cn", 1).unwrap();
        assert_eq!((c.qop, c.nc, c.cnonce), (None, None, None));
        // MD5(MD5(u:r:p):n1:MD5(INVITE:sip:x@y))
        let ha1 = Algorithm::Md5.hash("u:r:p");
        let ha2 = Algorithm::Md5.hash("INVITE:sip:x@y");
        assert_eq!(c.response, Algorithm::Md5.hash(&format!("{ha1}:n1:{ha2}")));
    }

    #[test]
    fn challenges_the_client_cannot_answer_are_refused() {
        let sess = Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#).unwrap();
        assert!(matches!(
            sess.answer("INVITE", "sip:x", ("u", "p"), "c", 1),
            Err(AuthError::Unsupported(_))
        ));
        let int_only = Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#).unwrap();
        assert!(matches!(
            int_only.answer("INVITE", "sip:x", ("u", "p"), "c", 1),
            Err(AuthError::Unsupported(_))
        ));
        assert_eq!(
            Challenge::parse(r#"Digest realm="r""#),
            Err(AuthError::Missing("nonce"))
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="r""#),
            Err(AuthError::Scheme)
        );
    }

    #[test]
    fn stale_is_read_from_the_challenge() {
        let ch = Challenge::parse(&challenge("r", "n", Algorithm::Sha256, true)).unwrap();
        assert!(ch.stale);
        assert_eq!(ch.algorithm(), Some(Algorithm::Sha256));
        assert_eq!(ch.qop, vec!["auth".to_string()]);
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
