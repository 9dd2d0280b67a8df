//! The registration against a registrar written here from RFC 3261's
//! rules (digest checked for real with the crate's verifier), in virtual
//! time: every wait below is the machine's own deadline, never a sleep.

use super::*;
use dering_sip::auth::{challenge, Algorithm, Credentials};

const PASSWORD: &str = "rahasia-137";

fn spec() -> RegistrationSpec {
    RegistrationSpec {
        registrar: "sip:carrier.test".into(),
        aor: "sip:02150137@carrier.test".into(),
        contact: "sip:02150137@192.0.2.10:5060".into(),
        credential: Credential {
            username: "02150137".into(),
            password: PASSWORD.into(),
            realm: None,
        },
        expires: 3600,
    }
}

/// What the carrier's registrar does with each REGISTER.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Carrier {
    /// Challenges, then grants `grant` seconds to a right answer.
    Digest { grant: u32, alg: Algorithm },
    /// Asks for at least `min` seconds (423) before anything else.
    MinExpires { min: u32 },
    /// Refuses everything with this code (and an optional Retry-After).
    Refuse { code: u16, retry_after: Option<u32> },
}

struct Registrar {
    carrier: Carrier,
    nonce_seq: u32,
    /// The REGISTERs seen, as parsed messages.
    seen: Vec<Message>,
    password: &'static str,
    /// The next right answer is refused as stale instead (its nonce ran
    /// out on the way).
    stale_once: bool,
}

impl Registrar {
    fn new(carrier: Carrier) -> Registrar {
        Registrar {
            carrier,
            nonce_seq: 0,
            seen: Vec::new(),
            password: PASSWORD,
            stale_once: false,
        }
    }

    fn answer(&mut self, req: &Message) -> Message {
        self.seen.push(req.clone());
        let expires: u32 = req.get("Expires").and_then(|e| e.parse().ok()).unwrap_or(0);
        let (code, extra) = match self.carrier {
            Carrier::Refuse { code, retry_after } => (
                code,
                retry_after
                    .map(|s| vec![build::header("Retry-After", s.to_string())])
                    .unwrap_or_default(),
            ),
            Carrier::MinExpires { min } if expires < min && expires != 0 => {
                (423, vec![build::header("Min-Expires", min.to_string())])
            }
            Carrier::MinExpires { .. } => (
                200,
                vec![build::header(
                    "Contact",
                    format!("<{}>;expires={expires}", spec().contact),
                )],
            ),
            Carrier::Digest { grant, alg } => {
                let ok = req.get("Authorization").is_some_and(|h| {
                    Credentials::parse(h).is_ok_and(|c| c.verify("REGISTER", self.password))
                });
                let stale = ok && std::mem::take(&mut self.stale_once);
                if ok && !stale {
                    let granted = if expires == 0 { 0 } else { grant.min(expires) };
                    (
                        200,
                        vec![
                            // Another device's binding first: ours must be
                            // picked by its URI.
                            build::header(
                                "Contact",
                                "<sip:other@198.51.100.7>;expires=30".to_string(),
                            ),
                            build::header(
                                "Contact",
                                format!("<{}>;expires={granted}", spec().contact),
                            ),
                        ],
                    )
                } else {
                    self.nonce_seq += 1;
                    let nonce = format!("n{}", self.nonce_seq);
                    (
                        401,
                        vec![build::header(
                            "WWW-Authenticate",
                            challenge("carrier.test", &nonce, alg, stale),
                        )],
                    )
                }
            }
        };
        let data = build::response(req, code, Some("reg"), extra, b"");
        Message::parse_datagram(&data).expect("the test registrar's own response parses")
    }
}

/// The machine and the registrar exchanging REGISTERs until the machine
/// waits for a timer.
struct Pair {
    reg: Registration,
    registrar: Registrar,
    now: Instant,
    events: Vec<Event>,
    branch: u32,
}

impl Pair {
    fn new(carrier: Carrier) -> Pair {
        let now = Instant::now();
        Pair {
            reg: Registration::new(spec(), Policy::default(), now, 7),
            registrar: Registrar::new(carrier),
            now,
            events: Vec::new(),
            branch: 0,
        }
    }

    /// Runs the exchange at the current time: requests answered at once.
    fn exchange(&mut self) {
        self.reg.handle_timeout(self.now);
        while let Some(req) = self.reg.poll_request() {
            self.branch += 1;
            let via = format!("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{}", self.branch);
            let data = req.encode(via).expect("a REGISTER encodes");
            let msg = Message::parse_datagram(&data).expect("a REGISTER parses");
            let answer = self.registrar.answer(&msg);
            self.reg.handle_response(self.now, &answer);
        }
        self.events
            .extend(std::iter::from_fn(|| self.reg.poll_event()));
    }

    /// Advances to the machine's next deadline and runs the exchange.
    fn next(&mut self) -> Duration {
        let at = self.reg.poll_timeout().expect("the machine has a deadline");
        let waited = at.saturating_duration_since(self.now);
        self.now = at;
        self.exchange();
        waited
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

#[test]
fn registers_through_a_digest_challenge_and_refreshes_before_expiry() {
    let mut p = Pair::new(Carrier::Digest {
        grant: 600,
        alg: Algorithm::Sha256,
    });
    p.exchange();
    assert_eq!(p.take_events(), vec![Event::Registered { expires: 600 }]);
    assert_eq!(p.registrar.seen.len(), 2, "challenged once, then answered");
    assert!(p.reg.status(p.now).registered);
    let first = &p.registrar.seen[0];
    assert_eq!(first.get("Expires"), Some("3600"));
    // Every REGISTER of one registration shares its Call-ID, CSeq grows.
    let cseqs: Vec<u32> = p
        .registrar
        .seen
        .iter()
        .map(|m| m.cseq().map(|c| c.0).unwrap_or(0))
        .collect();
    assert_eq!(cseqs, vec![1, 2]);
    assert!(p
        .registrar
        .seen
        .iter()
        .all(|m| m.call_id() == Some(p.reg.call_id())));

    // The refresh comes at four fifths of the granted 600 s.
    let waited = p.next();
    assert_eq!(waited, Duration::from_secs(480));
    assert_eq!(p.take_events(), vec![Event::Registered { expires: 600 }]);
    assert_eq!(p.registrar.seen.len(), 4);
}

#[test]
fn a_423_raises_the_expiry_to_min_expires() {
    let mut p = Pair::new(Carrier::MinExpires { min: 7200 });
    p.exchange();
    assert_eq!(p.take_events(), vec![Event::Registered { expires: 7200 }]);
    let asked: Vec<&str> = p
        .registrar
        .seen
        .iter()
        .filter_map(|m| m.get("Expires"))
        .collect();
    assert_eq!(asked, vec!["3600", "7200"]);
    // Refreshes keep asking for what the registrar takes.
    p.next();
    assert_eq!(
        p.registrar.seen.last().and_then(|m| m.get("Expires")),
        Some("7200")
    );
}

#[test]
fn a_wrong_password_is_found_out_at_the_second_challenge_and_gives_up_after_three_tries() {
    let mut p = Pair::new(Carrier::Digest {
        grant: 600,
        alg: Algorithm::Md5,
    });
    p.registrar.password = "the-carrier-changed-it";
    p.exchange();
    // First REGISTER challenged, answered once, challenged again: refused.
    assert_eq!(p.registrar.seen.len(), 2);
    let events = p.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::Failed {
                failure: Failure::Auth(UacAuthError::Rejected),
                ..
            }]
        ),
        "{events:?}"
    );
    p.next();
    p.next();
    let events = p.take_events();
    assert!(
        matches!(
            events.last(),
            Some(Event::GaveUp {
                failure: Failure::Auth(_)
            })
        ),
        "{events:?}"
    );
    assert_eq!(p.registrar.seen.len(), 6, "three tries of two REGISTERs");
    assert!(p.reg.status(p.now).gave_up);
    // Stopped: no deadline, nothing more sent, however long we wait.
    assert_eq!(p.reg.poll_timeout(), None);
    p.now += Duration::from_secs(86_400);
    p.exchange();
    assert_eq!(p.registrar.seen.len(), 6);

    // The administrator fixes the password and retries.
    p.registrar.password = PASSWORD;
    p.reg.retry(p.now);
    p.exchange();
    assert_eq!(p.take_events(), vec![Event::Registered { expires: 600 }]);
    assert_eq!(p.reg.status(p.now).failures, 0);
}

#[test]
fn a_403_is_retried_a_bounded_number_of_times_then_alarms() {
    let mut p = Pair::new(Carrier::Refuse {
        code: 403,
        retry_after: None,
    });
    p.exchange();
    p.next();
    p.next();
    let events = p.take_events();
    assert_eq!(events.len(), 3);
    assert!(matches!(
        events[2],
        Event::GaveUp {
            failure: Failure::Forbidden
        }
    ));
    assert_eq!(p.registrar.seen.len(), 3);
    assert_eq!(p.reg.poll_timeout(), None);
}

#[test]
fn failures_back_off_exponentially_with_jitter_up_to_the_ceiling() {
    let mut p = Pair::new(Carrier::Refuse {
        code: 500,
        retry_after: None,
    });
    p.exchange();
    let mut waits = Vec::new();
    for _ in 0..9 {
        waits.push(p.next());
    }
    for (i, w) in waits.iter().enumerate() {
        let full = Duration::from_secs(30 * (1u64 << i)).min(Duration::from_secs(1800));
        assert!(
            *w >= full / 2 && *w <= full,
            "try {i}: waited {w:?}, full {full:?}"
        );
    }
    assert_eq!(p.reg.status(p.now).failures, 10);
    assert!(
        !p.reg.status(p.now).gave_up,
        "server errors never stop the machine"
    );
}

#[test]
fn retry_after_is_honoured() {
    let mut p = Pair::new(Carrier::Refuse {
        code: 503,
        retry_after: Some(120),
    });
    p.exchange();
    assert_eq!(p.next(), Duration::from_secs(120));
    assert!(matches!(
        p.take_events()[0],
        Event::Failed {
            failure: Failure::Status(503),
            ..
        }
    ));
}

#[test]
fn a_timed_out_refresh_retries_before_the_registration_runs_out_then_it_expires() {
    let mut p = Pair::new(Carrier::Digest {
        grant: 600,
        alg: Algorithm::Md5,
    });
    p.exchange();
    p.take_events();
    // The refresh at 480 s gets no answer at all.
    p.now += Duration::from_secs(480);
    p.reg.handle_timeout(p.now);
    assert!(p.reg.poll_request().is_some());
    p.now += Duration::from_secs(32);
    p.reg.handle_failure(p.now, false);
    let retry_at = match p.reg.poll_event() {
        Some(Event::Failed {
            failure: Failure::Timeout,
            retry_at,
        }) => retry_at,
        other => panic!("{other:?}"),
    };
    let until = p.reg.status(p.now).until.expect("still registered");
    assert!(
        retry_at < until,
        "the retry comes before the registration runs out"
    );
    // Nothing answers until the registration is gone.
    while p.now < until {
        p.now = p.reg.poll_timeout().expect("deadline");
        p.reg.handle_timeout(p.now);
        while p.reg.poll_request().is_some() {
            p.reg.handle_failure(p.now, true);
        }
    }
    let events: Vec<Event> = std::iter::from_fn(|| p.reg.poll_event()).collect();
    assert!(events.contains(&Event::Expired), "{events:?}");
    assert!(!p.reg.status(p.now).registered);
}

#[test]
fn stop_unregisters_with_expires_zero() {
    let mut p = Pair::new(Carrier::Digest {
        grant: 600,
        alg: Algorithm::Md5,
    });
    p.exchange();
    p.take_events();
    p.reg.stop(p.now);
    while let Some(req) = p.reg.poll_request() {
        let data = req
            .encode("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKstop".into())
            .expect("encodes");
        let msg = Message::parse_datagram(&data).expect("parses");
        assert_eq!(msg.get("Expires"), Some("0"));
        let answer = p.registrar.answer(&msg);
        p.reg.handle_response(p.now, &answer);
    }
    assert_eq!(p.reg.poll_event(), Some(Event::Unregistered));
    assert!(!p.reg.status(p.now).registered);
    assert_eq!(p.reg.poll_timeout(), None);
}

#[test]
fn answers_to_other_requests_are_ignored() {
    let mut p = Pair::new(Carrier::Digest {
        grant: 600,
        alg: Algorithm::Md5,
    });
    p.reg.handle_timeout(p.now);
    let req = p.reg.poll_request().expect("first REGISTER");
    let data = req
        .encode("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1".into())
        .expect("encodes");
    let msg = Message::parse_datagram(&data).expect("parses");
    let mut answer = p.registrar.answer(&msg);
    // A stale answer: an older CSeq.
    for h in answer.headers.iter_mut().filter(|h| h.name == "CSeq") {
        h.value = "0 REGISTER".into();
    }
    p.reg.handle_response(p.now, &answer);
    assert_eq!(p.reg.poll_request(), None);
    assert_eq!(p.reg.poll_event(), None);
}

#[test]
fn a_stale_nonce_is_answered_again_not_taken_for_a_wrong_password() {
    let mut p = Pair::new(Carrier::Digest {
        grant: 600,
        alg: Algorithm::Md5,
    });
    p.registrar.stale_once = true;
    p.exchange();
    assert_eq!(p.take_events(), vec![Event::Registered { expires: 600 }]);
    assert_eq!(p.registrar.seen.len(), 3, "challenged, stale, accepted");
}
