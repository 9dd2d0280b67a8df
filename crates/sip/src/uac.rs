//! The client side of a request a far side challenges (RFC 3261 §22.2):
//! which of its challenges to answer, answering each only once, and the
//! request sent again with credentials, the next CSeq and a new branch.
//! Sans-IO: the client nonce and the new Via come in from the caller.

use std::fmt;

use crate::auth::{Algorithm, AuthError, Challenge};
use crate::build::{self, RequestSpec};
use crate::{Message, ParseError, StartLine};

/// What the box authenticates with to a far side: a static peer's or a
/// trunk's account. A realm, when given, restricts the challenges answered
/// to that realm, so the password is never hashed for another.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
}

/// The password stays out of logs and `{:?}` dumps.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// Why a challenge is not answered: the request fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UacAuthError {
    #[error("{0} without a digest challenge")]
    NoChallenge(u16),
    #[error("no challenge this client can answer: {0}")]
    Unsupported(AuthError),
    #[error("challenged for realm {0:?}, the credential is for another")]
    Realm(String),
    /// The far side challenged again with the nonce already answered and
    /// without `stale=true`: the credential is wrong.
    #[error("credentials rejected")]
    Rejected,
    #[error("challenged {0} times in a row")]
    TooMany(u8),
}

/// How many times one request is sent again with credentials; a far side
/// issuing a fresh nonce on every try cannot keep the box in a loop.
pub const MAX_TRIES: u8 = 3;

/// One request's digest state: the nonce last answered and its count.
#[derive(Debug, Clone)]
pub struct DigestClient {
    credential: Credential,
    answered: Option<String>,
    nc: u32,
    tries: u8,
    /// No challenge answered yet for the current request.
    fresh: bool,
}

impl DigestClient {
    pub fn new(credential: Credential) -> DigestClient {
        DigestClient {
            credential,
            answered: None,
            nc: 0,
            tries: 0,
            fresh: true,
        }
    }

    /// Starts on a new request in the same dialog: its tries counted
    /// afresh, and the nonce answered last may be answered again (a far
    /// side may keep one nonce for many requests; `nc` still counts up).
    pub fn next_request(&mut self) {
        self.tries = 0;
        self.fresh = true;
    }

    /// The header (name and value) that answers the challenge in
    /// `response` (a 401's WWW-Authenticate: Authorization; a 407's
    /// Proxy-Authenticate: Proxy-Authorization) for request `method` to
    /// `uri`. Of several challenges, the strongest algorithm this side
    /// has (SHA-256 before MD5).
    pub fn answer(
        &mut self,
        response: &Message,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<(&'static str, String), UacAuthError> {
        let code = response.status().unwrap_or(0);
        let (ask, reply) = match code {
            407 => ("Proxy-Authenticate", "Proxy-Authorization"),
            _ => ("WWW-Authenticate", "Authorization"),
        };
        let parsed: Vec<Result<Challenge, AuthError>> =
            response.all(ask).map(Challenge::parse).collect();
        let mut first_error = None;
        let mut usable = Vec::new();
        for c in parsed {
            match c {
                Ok(c) if c.algorithm().is_some() => usable.push(c),
                Ok(c) => {
                    first_error.get_or_insert(AuthError::Unsupported(format!(
                        "algorithm {}",
                        c.algorithm.unwrap_or_default()
                    )));
                }
                Err(AuthError::Scheme) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if usable.is_empty() {
            return Err(match first_error {
                Some(e) => UacAuthError::Unsupported(e),
                None => UacAuthError::NoChallenge(code),
            });
        }
        if let Some(realm) = &self.credential.realm {
            let other = usable[0].realm.clone();
            usable.retain(|c| &c.realm == realm);
            if usable.is_empty() {
                return Err(UacAuthError::Realm(other));
            }
        }
        usable.sort_by_key(|c| match c.algorithm() {
            Some(Algorithm::Sha256) => 0,
            _ => 1,
        });
        let challenge = &usable[0];
        if !self.fresh
            && self.answered.as_deref() == Some(challenge.nonce.as_str())
            && !challenge.stale
        {
            return Err(UacAuthError::Rejected);
        }
        if self.tries >= MAX_TRIES {
            return Err(UacAuthError::TooMany(self.tries));
        }
        self.nc = if self.answered.as_deref() == Some(challenge.nonce.as_str()) {
            self.nc + 1
        } else {
            1
        };
        let creds = challenge
            .answer(
                method,
                uri,
                (&self.credential.username, &self.credential.password),
                cnonce,
                self.nc,
            )
            .map_err(UacAuthError::Unsupported)?;
        self.tries += 1;
        self.fresh = false;
        self.answered = Some(challenge.nonce.clone());
        Ok((reply, creds.header_value()))
    }
}

/// Headers [`build::request`] writes itself, and the answer being
/// replaced: not copied from the request sent before.
const REBUILT: &[&str] = &[
    "Via",
    "Max-Forwards",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Content-Type",
    "Content-Length",
    "Server",
];

/// Request `sent` once more (RFC 3261 §22.2): the same Call-ID, From
/// (with its tag), To, Request-URI, headers and body, CSeq one higher, Via
/// `via` (a new branch: a new transaction) and `auth` added in place of a
/// previous header of that name. Returns the bytes and the new CSeq.
pub fn resend(
    sent: &Message,
    via: String,
    auth: (&str, String),
) -> Result<(Vec<u8>, u32), ParseError> {
    let StartLine::Request { method, uri } = &sent.start else {
        return Err(ParseError::StartLine("not a request"));
    };
    let method = method
        .to_rsip()
        .ok_or(ParseError::StartLine("method not representable"))?;
    let (cseq, _) = sent.cseq()?;
    let cseq = cseq.checked_add(1).ok_or(ParseError::Header {
        header: "CSeq",
        why: "no number after it",
    })?;
    let (name, value) = auth;
    let mut extra: Vec<rsip::Header> = sent
        .headers
        .iter()
        .filter(|h| {
            !REBUILT.iter().any(|r| h.name.eq_ignore_ascii_case(r))
                && !h.name.eq_ignore_ascii_case(name)
        })
        .map(|h| build::header(&h.name, h.value.clone()))
        .collect();
    extra.push(build::header(name, value));
    let data = build::request(RequestSpec {
        method,
        uri,
        via,
        from: sent.get("From").unwrap_or_default().to_string(),
        to: sent.get("To").unwrap_or_default().to_string(),
        call_id: sent.call_id().unwrap_or_default(),
        cseq,
        contact: sent.get("Contact").map(str::to_string),
        extra,
        content_type: sent.get("Content-Type"),
        body: &sent.body,
    })?;
    Ok((data, cseq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{challenge, Credentials};

    fn invite() -> Message {
        let data = build::request(RequestSpec {
            method: rsip::Method::Invite,
            uri: "sip:7001@127.0.0.1:5099",
            via: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst;rport".into(),
            from: "\"Ann\" <sip:1001@dering.local>;tag=ft1".into(),
            to: "<sip:7001@dering.local>".into(),
            call_id: "cid1@dering",
            cseq: 1,
            contact: Some("<sip:dering@127.0.0.1:5060>".into()),
            extra: vec![build::header("Allow", build::ALLOW)],
            content_type: Some("application/sdp"),
            body: b"v=0\r\n",
        })
        .unwrap();
        Message::parse_datagram(&data).unwrap()
    }

    fn response(code: u16, headers: &[(&str, String)]) -> Message {
        let mut text = format!(
            "SIP/2.0 {code} Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfirst\r\nFrom: <sip:1001@dering.local>;tag=ft1\r\nTo: <sip:7001@dering.local>;tag=x\r\nCall-ID: cid1@dering\r\nCSeq: 1 INVITE\r\n"
        );
        for (n, v) in headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    fn client(realm: Option<&str>) -> DigestClient {
        DigestClient::new(Credential {
            username: "dering".into(),
            password: "s3cret-pw".into(),
            realm: realm.map(str::to_string),
        })
    }

    #[test]
    fn a_401_is_answered_once_and_the_resent_invite_keeps_the_dialog() {
        let inv = invite();
        let r = response(
            401,
            &[(
                "WWW-Authenticate",
                challenge("far", "n1", Algorithm::Md5, false),
            )],
        );
        let mut c = client(None);
        let (name, value) = c
            .answer(&r, "INVITE", "sip:7001@127.0.0.1:5099", "cn1")
            .unwrap();
        assert_eq!(name, "Authorization");
        let creds = Credentials::parse(&value).unwrap();
        assert!(creds.verify("INVITE", "s3cret-pw"));
        assert_eq!(creds.nc.as_deref(), Some("00000001"));

        let (data, cseq) = resend(
            &inv,
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsecond;rport".into(),
            (name, value.clone()),
        )
        .unwrap();
        assert_eq!(cseq, 2);
        let again = Message::parse_datagram(&data).unwrap();
        assert_eq!(again.call_id(), inv.call_id());
        assert_eq!(again.get("From"), inv.get("From"));
        assert_eq!(again.get("To"), inv.get("To"));
        assert_eq!(again.request_uri(), inv.request_uri());
        assert_eq!(again.cseq().unwrap(), (2, crate::Method::Invite));
        assert!(again.get("Via").unwrap().contains("z9hG4bKsecond"));
        assert_eq!(again.all("Via").count(), 1);
        assert_eq!(again.get("Authorization"), Some(value.as_str()));
        assert_eq!(again.get("Allow"), inv.get("Allow"));
        assert_eq!(again.body, inv.body);

        // The same nonce again, not stale: the password is wrong.
        assert_eq!(
            c.answer(&r, "INVITE", "sip:7001@127.0.0.1:5099", "cn2"),
            Err(UacAuthError::Rejected)
        );
    }

    #[test]
    fn a_stale_nonce_is_answered_again_and_a_407_gets_proxy_authorization() {
        let mut c = client(Some("far"));
        let first = response(
            407,
            &[(
                "Proxy-Authenticate",
                challenge("far", "n1", Algorithm::Md5, false),
            )],
        );
        let (name, _) = c.answer(&first, "INVITE", "sip:x", "c1").unwrap();
        assert_eq!(name, "Proxy-Authorization");
        let stale = response(
            407,
            &[(
                "Proxy-Authenticate",
                challenge("far", "n1", Algorithm::Md5, true),
            )],
        );
        let (_, v) = c.answer(&stale, "INVITE", "sip:x", "c2").unwrap();
        assert_eq!(
            Credentials::parse(&v).unwrap().nc.as_deref(),
            Some("00000002")
        );
        let fresh = |n: &str| {
            response(
                407,
                &[(
                    "Proxy-Authenticate",
                    challenge("far", n, Algorithm::Md5, false),
                )],
            )
        };
        assert!(c.answer(&fresh("n2"), "INVITE", "sip:x", "c3").is_ok());
        assert_eq!(
            c.answer(&fresh("n3"), "INVITE", "sip:x", "c4"),
            Err(UacAuthError::TooMany(MAX_TRIES))
        );
    }

    #[test]
    fn sha256_is_preferred_and_other_realms_are_not_answered() {
        let r = response(
            401,
            &[
                (
                    "WWW-Authenticate",
                    challenge("far", "n1", Algorithm::Md5, false),
                ),
                (
                    "WWW-Authenticate",
                    challenge("far", "n2", Algorithm::Sha256, false),
                ),
            ],
        );
        let (_, v) = client(None).answer(&r, "INVITE", "sip:x", "c").unwrap();
        let creds = Credentials::parse(&v).unwrap();
        assert_eq!(creds.algorithm(), Some(Algorithm::Sha256));
        assert!(creds.verify("INVITE", "s3cret-pw"));
        assert_eq!(
            client(Some("elsewhere")).answer(&r, "INVITE", "sip:x", "c"),
            Err(UacAuthError::Realm("far".into()))
        );
        assert_eq!(
            client(None).answer(&response(401, &[]), "INVITE", "sip:x", "c"),
            Err(UacAuthError::NoChallenge(401))
        );
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let c = client(None);
        assert!(!format!("{c:?}").contains("s3cret-pw"));
    }
}
