//! A trunk's registration with its carrier (RFC 3261 §10, TRK-3), as a
//! sans-IO machine: the caller feeds it time, the answers to its REGISTERs
//! and the failures of their transactions, and polls it for requests to
//! send, events and its next deadline.
//!
//! What it does, because the complaints about other PBXes say so:
//! - answers 401 and 407 with digest (MD5 or SHA-256) once per challenge,
//!   so a wrong password is found out at the second challenge, not looped;
//! - re-registers at a fraction of the expiry the carrier granted, and
//!   takes a 423's Min-Expires;
//! - backs off exponentially after a failure (RFC 5626 §4.5's 30 s base and
//!   30 min ceiling, with jitter), and waits as long as a Retry-After says;
//! - on 403, or credentials refused, tries a bounded number of times, then
//!   raises an alarm and stops until told to try again: a revoked password
//!   must not hammer the carrier into blocking the agency's address.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dering_sip::auth::Challenge;
use dering_sip::build::{self, RequestSpec};
use dering_sip::nameaddr::{split_outside_quotes, NameAddr};
use dering_sip::uac::{Credential, DigestClient, UacAuthError};
use dering_sip::{Message, ParseError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What a trunk registers: where, as whom, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSpec {
    /// The REGISTER's Request-URI: the carrier's registrar (`sip:domain`).
    pub registrar: String,
    /// The address of record, in From and To (`sip:user@domain`).
    pub aor: String,
    /// Where the carrier sends the trunk's calls (`sip:user@box:port`).
    pub contact: String,
    pub credential: Credential,
    /// The expiry asked for, in seconds.
    pub expires: u32,
}

/// How persistent the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first retry after a failure; doubled after each further one.
    pub backoff_base: Duration,
    /// The longest wait between tries.
    pub backoff_max: Duration,
    /// Tries refused with 403 (or refused credentials) in a row before the
    /// machine stops and raises the alarm.
    pub forbidden_tries: u32,
    /// The longest expiry a 423 may demand before it counts as a failure.
    pub max_expires: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(1800),
            forbidden_tries: 3,
            max_expires: 86_400,
        }
    }
}

/// A REGISTER to send. The caller adds the Via (its transport, address and
/// a fresh branch: a new transaction) with [`Request::encode`] and starts
/// the client transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub uri: String,
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub cseq: u32,
    pub contact: String,
    pub expires: u32,
    /// `Authorization` or `Proxy-Authorization`, answering a challenge.
    pub auth: Option<(&'static str, String)>,
}

impl Request {
    pub fn encode(&self, via: String) -> Result<Vec<u8>, ParseError> {
        let mut extra = vec![build::header("Expires", self.expires.to_string())];
        if let Some((name, value)) = &self.auth {
            extra.push(build::header(name, value.clone()));
        }
        build::request(RequestSpec {
            method: rsip::Method::Register,
            uri: &self.uri,
            via,
            from: self.from.clone(),
            to: self.to.clone(),
            call_id: &self.call_id,
            cseq: self.cseq,
            contact: Some(format!("<{}>", self.contact)),
            extra,
            content_type: None,
            body: b"",
        })
    }
}

/// Why a try failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("no answer from the registrar")]
    Timeout,
    #[error("the registrar could not be reached")]
    Transport,
    #[error("refused: {0}")]
    Status(u16),
    #[error("forbidden (403)")]
    Forbidden,
    #[error("authentication failed: {0}")]
    Auth(UacAuthError),
    #[error("the registrar demands an expiry of {0} s")]
    MinExpiresTooLong(u32),
}

/// What the machine tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Registered (or refreshed) for `expires` seconds.
    Registered { expires: u32 },
    /// A try failed; the machine tries again at `retry_at`.
    Failed { failure: Failure, retry_at: Instant },
    /// The last registration ran out without a refresh: calls from the
    /// carrier stop.
    Expired,
    /// Tries refused by the carrier, or credentials it does not take: the
    /// machine stopped (the trunk alarm). [`Registration::retry`] starts
    /// it again, e.g. when the administrator changes the password.
    GaveUp { failure: Failure },
    /// The unregistration (Expires: 0) was answered or given up on.
    Unregistered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the next try at `next_at`.
    Waiting,
    /// A REGISTER is out with this CSeq.
    Sent { cseq: u32 },
    /// Stopped after repeated refusals.
    GaveUp,
    /// Unregistering (`Sent`'s CSeq kept here), or done.
    Stopping { cseq: Option<u32> },
}

/// What `dering trunks` shows of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub registered: bool,
    /// When the registration runs out, if registered.
    pub until: Option<Instant>,
    /// The last failure since the last success.
    pub last_failure: Option<Failure>,
    /// Failures in a row.
    pub failures: u32,
    pub gave_up: bool,
}

/// One trunk's registration.
#[derive(Debug)]
pub struct Registration {
    spec: RegistrationSpec,
    policy: Policy,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The expiry asked for: the spec's, raised by a 423.
    asking: u32,
    phase: Phase,
    next_at: Option<Instant>,
    registered_until: Option<Instant>,
    /// The digest state of the current try (challenges answered once each).
    digest: DigestClient,
    /// Whether the current try has answered a challenge.
    answered: bool,
    failures: u32,
    forbidden: u32,
    last_failure: Option<Failure>,
    rng: StdRng,
    requests: VecDeque<Request>,
    events: VecDeque<Event>,
}

impl Registration {
    /// A registration that sends its first REGISTER at `now`. `seed` is
    /// its randomness (Call-ID, tag, client nonces, jitter): from the
    /// operating system in the daemon, a number in tests.
    pub fn new(spec: RegistrationSpec, policy: Policy, now: Instant, seed: u64) -> Registration {
        let mut rng = StdRng::seed_from_u64(seed);
        let call_id = format!("{}@dering", token(&mut rng, 20));
        let from_tag = token(&mut rng, 10);
        Registration {
            digest: DigestClient::new(spec.credential.clone()),
            answered: false,
            asking: spec.expires,
            spec,
            policy,
            call_id,
            from_tag,
            cseq: 0,
            phase: Phase::Waiting,
            next_at: Some(now),
            registered_until: None,
            failures: 0,
            forbidden: 0,
            last_failure: None,
            rng,
            requests: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn status(&self, now: Instant) -> Status {
        let until = self.registered_until.filter(|u| *u > now);
        Status {
            registered: until.is_some(),
            until,
            last_failure: self.last_failure.clone(),
            failures: self.failures,
            gave_up: self.phase == Phase::GaveUp,
        }
    }

    /// The Call-ID all of this registration's REGISTERs carry (RFC 3261
    /// §10.2: one per registrar, so the carrier can order them).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_at, self.registered_until]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.registered_until.is_some_and(|u| u <= now) {
            self.registered_until = None;
            self.events.push_back(Event::Expired);
        }
        if self.next_at.is_some_and(|t| t <= now) && self.phase == Phase::Waiting {
            self.next_at = None;
            self.digest = DigestClient::new(self.spec.credential.clone());
            self.send(self.asking, None);
        }
    }

    /// Start again after giving up (a new password, an administrator's
    /// retry): the counters start over and a REGISTER goes out at `now`.
    pub fn retry(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        self.failures = 0;
        self.forbidden = 0;
        self.phase = Phase::Waiting;
        self.next_at = Some(now);
    }

    /// Unregister (Expires: 0): the trunk is removed or the box stops. A
    /// registration that is not up only stops.
    pub fn stop(&mut self, now: Instant) {
        self.next_at = None;
        if self.registered_until.is_some_and(|u| u > now) {
            self.digest = DigestClient::new(self.spec.credential.clone());
            let cseq = self.send_request(0, None);
            self.phase = Phase::Stopping { cseq: Some(cseq) };
        } else {
            self.phase = Phase::Stopping { cseq: None };
            self.events.push_back(Event::Unregistered);
        }
    }

    /// An answer to one of this registration's REGISTERs (the caller
    /// matched its transaction; answers to older CSeqs are ignored here).
    pub fn handle_response(&mut self, now: Instant, msg: &Message) {
        let Some(code) = msg.status() else {
            return;
        };
        let Ok((cseq, _)) = msg.cseq() else {
            return;
        };
        if msg.call_id() != Some(self.call_id.as_str()) || code < 200 {
            return;
        }
        match self.phase {
            Phase::Sent { cseq: sent } if sent == cseq => {}
            Phase::Stopping { cseq: Some(sent) } if sent == cseq => {
                return self.stopping_answered(now, code, msg);
            }
            _ => return,
        }
        match code {
            200..=299 => self.registered(now, msg),
            401 | 407 if self.answered && !stale(msg) => {
                // RFC 7616 §3.3: challenged again for the answer just
                // given, and not for a stale nonce: the password is wrong.
                self.refused(now, Failure::Auth(UacAuthError::Rejected))
            }
            401 | 407 => {
                self.answered = true;
                let cnonce = token(&mut self.rng, 16);
                match self
                    .digest
                    .answer(msg, "REGISTER", &self.spec.registrar, &cnonce)
                {
                    Ok(auth) => self.send(self.asking, Some(auth)),
                    Err(e) => self.refused(now, Failure::Auth(e)),
                }
            }
            423 => {
                let min = msg
                    .get("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(m) if m > self.asking && m <= self.policy.max_expires => {
                        self.asking = m;
                        self.send(m, None);
                    }
                    Some(m) => self.failed(now, Failure::MinExpiresTooLong(m), None),
                    None => self.failed(now, Failure::Status(423), None),
                }
            }
            403 => self.refused(now, Failure::Forbidden),
            _ => {
                let after = retry_after(msg);
                self.failed(now, Failure::Status(code), after);
            }
        }
    }

    /// The REGISTER's transaction timed out (Timer F) or its transport
    /// failed.
    pub fn handle_failure(&mut self, now: Instant, transport: bool) {
        let failure = if transport {
            Failure::Transport
        } else {
            Failure::Timeout
        };
        match self.phase {
            Phase::Sent { .. } => self.failed(now, failure, None),
            Phase::Stopping { cseq: Some(_) } => {
                self.phase = Phase::Stopping { cseq: None };
                self.registered_until = None;
                self.events.push_back(Event::Unregistered);
            }
            _ => {}
        }
    }

    fn stopping_answered(&mut self, _now: Instant, code: u16, msg: &Message) {
        if code == 401 || code == 407 {
            let cnonce = token(&mut self.rng, 16);
            if let Ok(auth) = self
                .digest
                .answer(msg, "REGISTER", &self.spec.registrar, &cnonce)
            {
                let cseq = self.send_request(0, Some(auth));
                self.phase = Phase::Stopping { cseq: Some(cseq) };
                return;
            }
        }
        self.phase = Phase::Stopping { cseq: None };
        self.registered_until = None;
        self.events.push_back(Event::Unregistered);
    }

    fn registered(&mut self, now: Instant, msg: &Message) {
        let granted = granted_expires(msg, &self.spec.contact).unwrap_or(self.asking);
        if granted == 0 {
            // A 2xx that lists no binding of ours: nothing is registered.
            return self.failed(now, Failure::Status(200), None);
        }
        self.failures = 0;
        self.forbidden = 0;
        self.last_failure = None;
        self.phase = Phase::Waiting;
        self.registered_until = Some(now + Duration::from_secs(u64::from(granted)));
        self.next_at = Some(now + refresh_after(granted));
        self.events
            .push_back(Event::Registered { expires: granted });
    }

    /// A refusal that more tries will not mend by themselves.
    fn refused(&mut self, now: Instant, failure: Failure) {
        self.forbidden += 1;
        if self.forbidden >= self.policy.forbidden_tries {
            self.failures += 1;
            self.last_failure = Some(failure.clone());
            self.phase = Phase::GaveUp;
            self.next_at = None;
            self.events.push_back(Event::GaveUp { failure });
        } else {
            self.failed(now, failure, None);
        }
    }

    fn failed(&mut self, now: Instant, failure: Failure, retry_after: Option<Duration>) {
        self.failures += 1;
        let wait = retry_after.unwrap_or_else(|| self.backoff());
        let retry_at = now + wait;
        // Still registered: retry before it runs out (halfway there, but
        // not sooner than a few seconds, however close the end is).
        let retry_at = match self.registered_until {
            Some(until) if retry_after.is_none() && until > now => {
                retry_at.min(now + ((until - now) / 2).max(MIN_RETRY))
            }
            _ => retry_at,
        };
        self.phase = Phase::Waiting;
        self.next_at = Some(retry_at);
        self.last_failure = Some(failure.clone());
        self.events.push_back(Event::Failed { failure, retry_at });
    }

    /// RFC 5626 §4.5: base × 2^(failures−1), at most the ceiling, then a
    /// random 50–100 % of it so boxes that failed together do not retry
    /// together.
    fn backoff(&mut self) -> Duration {
        let exp = self.failures.saturating_sub(1).min(16);
        let full = self
            .policy
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.policy.backoff_max);
        full.mul_f64(self.rng.gen_range(0.5..=1.0))
    }

    fn send(&mut self, expires: u32, auth: Option<(&'static str, String)>) {
        if auth.is_none() {
            // A new request, not an answer: its challenge is a first one.
            self.answered = false;
        }
        let cseq = self.send_request(expires, auth);
        self.phase = Phase::Sent { cseq };
    }

    fn send_request(&mut self, expires: u32, auth: Option<(&'static str, String)>) -> u32 {
        self.cseq += 1;
        self.requests.push_back(Request {
            uri: self.spec.registrar.clone(),
            from: format!("<{}>;tag={}", self.spec.aor, self.from_tag),
            to: format!("<{}>", self.spec.aor),
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            contact: self.spec.contact.clone(),
            expires,
            auth,
        });
        self.cseq
    }
}

/// The shortest wait before another try.
const MIN_RETRY: Duration = Duration::from_secs(5);

/// When to refresh a registration granted for `granted` seconds: at four
/// fifths, but never later than 5 s before it runs out, nor sooner than
/// 1 s from now.
fn refresh_after(granted: u32) -> Duration {
    let at = (u64::from(granted) * 4 / 5).min(u64::from(granted).saturating_sub(5));
    Duration::from_secs(at.max(1))
}

/// The expiry the registrar granted our contact: the `expires` parameter
/// of the Contact naming ours, else the Expires header (RFC 3261 §10.2.4).
fn granted_expires(msg: &Message, contact: &str) -> Option<u32> {
    for value in msg.all("Contact") {
        for one in split_outside_quotes(value, ',') {
            let Ok(c) = NameAddr::parse(one.trim()) else {
                continue;
            };
            if same_uri(&c.uri, contact) {
                return c.param("expires").and_then(|e| e.trim().parse().ok());
            }
        }
    }
    msg.get("Expires").and_then(|e| e.trim().parse().ok())
}

/// Two URIs naming the same binding: compared without parameters and
/// case-insensitively in the host, which is how registrars echo them.
fn same_uri(a: &str, b: &str) -> bool {
    let base = |u: &str| u.split(';').next().unwrap_or(u).to_ascii_lowercase();
    base(a) == base(b)
}

/// Whether a challenge in `msg` says the nonce answered was only stale.
fn stale(msg: &Message) -> bool {
    msg.all("WWW-Authenticate")
        .chain(msg.all("Proxy-Authenticate"))
        .filter_map(|h| Challenge::parse(h).ok())
        .any(|c| c.stale)
}

/// A Retry-After in seconds (RFC 3261 §20.33), comments ignored.
fn retry_after(msg: &Message) -> Option<Duration> {
    let v = msg.get("Retry-After")?;
    let secs: u64 = v
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(86_400)))
}

fn token(rng: &mut StdRng, len: usize) -> String {
    rng.sample_iter(rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests;
