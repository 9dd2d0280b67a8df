//! One dialog (RFC 3261 §12): the state both ends keep between an
//! INVITE's answer and the BYE, enough to send requests in it and to judge
//! the requests that arrive in it. Sans-IO: it builds bytes and reads
//! parsed messages; where they go is the caller's business ([`Peer`] is
//! kept only so the caller knows where the dialog's far end is).
//!
//! The rules kept here, each with its test below:
//! - the remote target is the Contact of the dialog-forming request or
//!   response, and follows target-refresh requests (re-INVITE, UPDATE)
//!   and their 2xx (§12.2.1.2, §12.2.2);
//! - the route set is the Record-Route of the request (UAS, in order) or
//!   of the response (UAC, reversed), fixed once the dialog is confirmed
//!   (§12.1.1, §12.1.2); loose routes go in Route headers, a strict first
//!   route becomes the Request-URI (§12.2.1.1);
//! - our CSeq counts up per request; the ACK of a 2xx carries the
//!   INVITE's number (§13.2.2.4);
//! - a request whose CSeq is not above the last one received is out of
//!   order and answered 500 (§12.2.2);
//! - a 401/407 to a request in the dialog is answered with the dialog's
//!   credential, the request sent again with the next CSeq (§22.2).

use crate::build::{self, RequestSpec};
use crate::error::ParseError;
use crate::method::Method;
use crate::msg::Message;
use crate::nameaddr::NameAddr;
use crate::session::Session;
use crate::transaction::{Peer, Transport};
use crate::uac::{self, DigestClient, UacAuthError};

/// How this side writes itself into a request it sends: a Via with a
/// fresh branch and its Contact, per transport. The caller owns its
/// addresses and its randomness; the dialog only asks.
pub trait Local {
    /// A Via for a new request over `t`, with a fresh branch.
    fn via(&self, t: Transport) -> String;
    /// Our Contact (a name-addr) over `t`.
    fn contact(&self, t: Transport) -> String;
}

/// Why a request received in the dialog is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InDialogError {
    /// CSeq not above the last one received (§12.2.2): a stale or
    /// replayed request.
    #[error("CSeq {got} is not above the last one received ({last})")]
    OutOfOrder { got: u32, last: u32 },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl InDialogError {
    /// The status to answer the request with.
    pub fn status(&self) -> u16 {
        match self {
            InDialogError::OutOfOrder { .. } => 500,
            InDialogError::Parse(e) => e.status(),
        }
    }
}

/// Why a challenge to a request in the dialog is not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    #[error("no credential for this dialog's far side")]
    NoCredential,
    #[error(transparent)]
    Auth(#[from] UacAuthError),
    #[error("cannot rebuild the request: {0}")]
    Build(#[from] ParseError),
}

/// One dialog's state. The identity and addressing fields are public
/// plain values (a B2BUA rewrites them when it moves a leg, as in a
/// transfer); the remote CSeq and the route set are kept behind methods,
/// since their rules are what this type is for.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our From (requests we send) or To (responses), with our tag.
    pub local: String,
    /// Their header value, with their tag once known.
    pub remote: String,
    /// The remote target: the Request-URI of our requests.
    pub target: String,
    /// The CSeq number of the last request we sent (or will send first).
    pub cseq: u32,
    /// Where the far end is: the transport and address the caller sends
    /// the dialog's requests to.
    pub peer: Peer,
    /// Our answers to the far side's digest challenges, for a dialog we
    /// started towards a target that wants a credential.
    pub auth: Option<Box<DigestClient>>,
    /// The dialog's INVITE usage: which re-INVITE is in progress.
    pub invite: Session,
    /// Record-Route values, in the order our requests list them.
    route: Vec<String>,
    /// The CSeq of the last request received; `None` until one is.
    remote_cseq: Option<u32>,
    /// Whether a 2xx confirmed the dialog (the route set is fixed then).
    confirmed: bool,
    /// The CSeq of the last request we sent with credentials, to tell a
    /// second challenge to it from a challenge to a new request.
    challenged: Option<u32>,
}

impl Dialog {
    /// A dialog we start with a request to `target` (UAC, §12.1.2): our
    /// From `local` (with our tag), their To `remote` (no tag yet).
    pub fn uac(
        call_id: String,
        local: String,
        remote: String,
        target: String,
        peer: Peer,
    ) -> Dialog {
        Dialog {
            call_id,
            local,
            remote,
            target,
            cseq: 1,
            peer,
            auth: None,
            invite: Session::default(),
            route: Vec::new(),
            remote_cseq: None,
            confirmed: false,
            challenged: None,
        }
    }

    /// A leg that has no dialog (yet): a stand-in the caller never sends
    /// in until it is replaced by a real one.
    pub fn placeholder(peer: Peer) -> Dialog {
        Dialog::uac(
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            peer,
        )
    }

    /// Our side of the dialog a request creates when we answer it (UAS,
    /// §12.1.1), with our To tag `tag`: the remote target from its
    /// Contact, the route set from its Record-Route, its CSeq as the
    /// remote CSeq. Missing headers leave empty values (the caller has
    /// validated the request before answering it).
    pub fn from_invite(req: &Message, peer: Peer, tag: String) -> Dialog {
        Dialog {
            call_id: req.call_id().unwrap_or_default().to_string(),
            local: format!("{};tag={}", req.get("To").unwrap_or_default(), tag),
            remote: req.get("From").unwrap_or_default().to_string(),
            target: contact_uri(req).unwrap_or_default(),
            cseq: 1,
            peer,
            auth: None,
            invite: Session::default(),
            route: req.all("Record-Route").map(str::to_string).collect(),
            remote_cseq: req.cseq().ok().map(|(n, _)| n),
            confirmed: true,
            challenged: None,
        }
    }

    /// A confirmed dialog rebuilt from what was stored of it (a restart
    /// ending the calls a crash cut): `cseq` is the last number we sent,
    /// `route` the set in the order our requests carry it. Nothing is
    /// known of the far side's CSeq, so any request from it is in order.
    pub fn restored(
        call_id: String,
        local: String,
        remote: String,
        target: String,
        route: Vec<String>,
        cseq: u32,
        peer: Peer,
    ) -> Dialog {
        Dialog {
            route,
            cseq,
            confirmed: true,
            ..Dialog::uac(call_id, local, remote, target, peer)
        }
    }

    /// The route set, in the order our requests carry it.
    pub fn route_set(&self) -> &[String] {
        &self.route
    }

    /// Our tag.
    pub fn local_tag(&self) -> Option<String> {
        tag_of(&self.local)
    }

    /// Their tag, once known.
    pub fn remote_tag(&self) -> Option<String> {
        tag_of(&self.remote)
    }

    /// The CSeq for our next request, counted up (§12.2.1.1).
    pub fn next_cseq(&mut self) -> u32 {
        self.cseq = self.cseq.saturating_add(1);
        self.cseq
    }

    /// Learns from a response to a request of ours. Before the dialog is
    /// confirmed (our INVITE unanswered): their tag from To, the target
    /// from Contact, the route set from Record-Route reversed (§12.1.2),
    /// recomputed by the 2xx that confirms it (§13.2.2.4). Afterwards only
    /// a 2xx to a re-INVITE moves the target (§12.2.1.2).
    pub fn learn(&mut self, resp: &Message) {
        let code = resp.status().unwrap_or(0);
        let success = (200..300).contains(&code);
        if self.confirmed {
            let to_invite = resp.cseq().is_ok_and(|(_, m)| m == Method::Invite);
            if success && to_invite {
                if let Some(t) = contact_uri(resp) {
                    self.target = t;
                }
            }
            return;
        }
        if let Some(to) = resp.get("To") {
            self.remote = to.to_string();
        }
        if let Some(t) = contact_uri(resp) {
            self.target = t;
        }
        if code > 100 && code < 300 && tag_of(&self.remote).is_some() {
            let mut route: Vec<String> = resp.all("Record-Route").map(str::to_string).collect();
            route.reverse();
            self.route = route;
        }
        if success {
            self.confirmed = true;
        }
    }

    /// Judges a request received in the dialog (§12.2.2): its CSeq must be
    /// above the last one received, except ACK and CANCEL, which carry
    /// their INVITE's. A retransmission never gets here (the transaction
    /// layer absorbs it), so an equal CSeq is a replay and refused too.
    /// The caller answers a refusal with [`InDialogError::status`].
    pub fn check_request(&mut self, req: &Message) -> Result<(), InDialogError> {
        let (n, method) = req.cseq()?;
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_cseq {
            if n <= last {
                return Err(InDialogError::OutOfOrder { got: n, last });
            }
        }
        self.remote_cseq = Some(n);
        Ok(())
    }

    /// Takes the remote target from an accepted target-refresh request
    /// (re-INVITE, UPDATE; §12.2.2); other requests leave it.
    pub fn refresh_target(&mut self, req: &Message) {
        if matches!(req.method(), Some(Method::Invite | Method::Update)) {
            if let Some(t) = contact_uri(req) {
                self.target = t;
            }
        }
    }

    /// A request in the dialog with the current CSeq (§12.2.1.1) and an
    /// SDP body, if any.
    pub fn request(
        &self,
        local: &impl Local,
        method: rsip::Method,
        body: &[u8],
    ) -> Result<Vec<u8>, ParseError> {
        let content_type = (!body.is_empty()).then_some("application/sdp");
        self.request_with(local, method, vec![], content_type, body)
    }

    /// [`Dialog::request`] with further headers and a body of any type.
    /// Requests that refresh the remote target (INVITE, UPDATE, NOTIFY)
    /// carry our Contact (§12.2.1.1, RFC 6665 §4.2.2).
    pub fn request_with(
        &self,
        local: &impl Local,
        method: rsip::Method,
        mut extra: Vec<rsip::Header>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ParseError> {
        let t = self.peer.transport;
        let refreshes = matches!(
            method,
            rsip::Method::Invite | rsip::Method::Update | rsip::Method::Notify
        );
        let (uri, routes) = self.uri_and_routes();
        let mut headers: Vec<rsip::Header> = routes
            .into_iter()
            .map(|r| build::header("Route", r))
            .collect();
        headers.append(&mut extra);
        build::request(RequestSpec {
            contact: refreshes.then(|| local.contact(t)),
            method,
            uri: &uri,
            via: local.via(t),
            from: self.local.clone(),
            to: self.remote.clone(),
            call_id: &self.call_id,
            cseq: self.cseq,
            extra: headers,
            content_type,
            body,
        })
    }

    /// The ACK for a 2xx to our INVITE (§13.2.2.4), after learning from
    /// the 2xx: the INVITE's CSeq number, a new branch, no body. The same
    /// bytes answer a retransmitted 2xx.
    pub fn ack_2xx(&mut self, local: &impl Local, resp: &Message) -> Result<Vec<u8>, ParseError> {
        self.learn(resp);
        let (n, _) = resp.cseq()?;
        let mut at = self.clone();
        at.cseq = n;
        at.request(local, rsip::Method::Ack, b"")
    }

    /// Answers a 401/407 `challenge` to `sent`, a request of ours in the
    /// dialog, with the dialog's credential (§22.2): `sent` again with the
    /// next CSeq, Via `via` (a new transaction) and the Authorization the
    /// challenge asks for. The dialog's CSeq moves on to the new number.
    pub fn answer_challenge(
        &mut self,
        sent: &Message,
        challenge: &Message,
        via: String,
        cnonce: &str,
    ) -> Result<Vec<u8>, ChallengeError> {
        let auth = self.auth.as_mut().ok_or(ChallengeError::NoCredential)?;
        let (sent_cseq, _) = sent.cseq()?;
        if self.challenged != Some(sent_cseq) {
            // A new request, not our answer challenged again: its own
            // count of tries, and a nonce answered for an earlier request
            // may be answered again.
            auth.next_request();
        }
        let method = sent
            .method()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let uri = sent.request_uri().unwrap_or_default();
        let answer = auth.answer(challenge, &method, uri, cnonce)?;
        let mut again = sent.clone();
        // The request goes out with the dialog's next number, not merely
        // the one after `sent`'s: other requests may have been sent since.
        set_cseq(&mut again, self.cseq)?;
        let (data, cseq) = uac::resend(&again, via, answer)?;
        self.cseq = cseq;
        self.challenged = Some(cseq);
        Ok(data)
    }

    /// The Request-URI and Route headers of our next request (§12.2.1.1):
    /// with no route set or a loose first route, the target and the route
    /// set; with a strict first route, that route's URI, the rest of the
    /// set and the target last.
    fn uri_and_routes(&self) -> (String, Vec<String>) {
        let Some(first) = self.route.first() else {
            return (self.target.clone(), Vec::new());
        };
        match NameAddr::parse(first).map(|n| n.uri) {
            Ok(uri) if !is_loose(&uri) => {
                let mut routes: Vec<String> = self.route[1..].to_vec();
                routes.push(format!("<{}>", self.target));
                (uri, routes)
            }
            _ => (self.target.clone(), self.route.clone()),
        }
    }
}

/// Whether a route URI carries `lr` (RFC 3261 §16.12.1.1): a loose router.
fn is_loose(uri: &str) -> bool {
    let params = uri.split('?').next().unwrap_or(uri);
    params.split(';').skip(1).any(|p| {
        let name = p.split('=').next().unwrap_or(p).trim();
        name.eq_ignore_ascii_case("lr")
    })
}

/// The URI of a message's (first) Contact.
fn contact_uri(msg: &Message) -> Option<String> {
    msg.get("Contact")
        .and_then(|c| NameAddr::parse(c).ok())
        .map(|n| n.uri)
}

fn tag_of(v: &str) -> Option<String> {
    NameAddr::parse(v).ok()?.tag().map(str::to_string)
}

/// Rewrites `msg`'s CSeq number, keeping its method.
fn set_cseq(msg: &mut Message, n: u32) -> Result<(), ParseError> {
    let (_, method) = msg.cseq()?;
    for h in msg.headers.iter_mut().filter(|h| h.name == "CSeq") {
        h.value = format!("{n} {}", method.as_str());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{challenge, Algorithm, Credentials};
    use crate::uac::Credential;

    struct Here;

    impl Local for Here {
        fn via(&self, t: Transport) -> String {
            format!(
                "SIP/2.0/{} 10.0.0.1:5060;branch=z9hG4bKnew;rport",
                t.via_name()
            )
        }
        fn contact(&self, _: Transport) -> String {
            "<sip:dering@10.0.0.1:5060>".into()
        }
    }

    fn peer() -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: "10.0.0.9:5062".parse().unwrap(),
        }
    }

    fn msg(text: &str) -> Message {
        let text = text.replace('\n', "\r\n");
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    /// A caller's INVITE through two record-routing proxies.
    fn invite() -> Message {
        msg("INVITE sip:1002@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKa
Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>
From: \"Ann\" <sip:1001@dering>;tag=ann1
To: <sip:1002@dering>
Call-ID: c1@ann
CSeq: 10 INVITE
Contact: <sip:1001@10.0.0.9:5062>
Content-Length: 0

")
    }

    fn in_dialog(method: &str, cseq: u32, contact: &str) -> Message {
        msg(&format!(
            "{method} sip:dering@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK{cseq}
From: <sip:1001@dering>;tag=ann1
To: <sip:1002@dering>;tag=us
Call-ID: c1@ann
CSeq: {cseq} {method}
{contact}Content-Length: 0

"
        ))
    }

    fn uac() -> Dialog {
        Dialog::uac(
            "c2@dering".into(),
            "<sip:1001@dering>;tag=us2".into(),
            "<sip:1002@dering>".into(),
            "sip:1002@10.0.0.9:5062".into(),
            peer(),
        )
    }

    fn answer(code: u16, cseq: u32, extra: &str) -> Message {
        msg(&format!(
            "SIP/2.0 {code} X
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb
From: <sip:1001@dering>;tag=us2
To: <sip:1002@dering>;tag=bob
Call-ID: c2@dering
CSeq: {cseq} INVITE
{extra}Content-Length: 0

"
        ))
    }

    #[test]
    fn the_uas_dialog_takes_ids_target_and_route_set_from_the_invite() {
        let d = Dialog::from_invite(&invite(), peer(), "us".into());
        assert_eq!(d.call_id, "c1@ann");
        assert_eq!(d.local_tag().as_deref(), Some("us"));
        assert_eq!(d.remote_tag().as_deref(), Some("ann1"));
        assert_eq!(d.target, "sip:1001@10.0.0.9:5062");
        assert_eq!(
            d.route_set(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        // Our BYE: From us, To them, to their Contact through the proxies.
        let mut d = d;
        d.next_cseq();
        let bye =
            Message::parse_datagram(&d.request(&Here, rsip::Method::Bye, b"").unwrap()).unwrap();
        assert_eq!(bye.request_uri(), Some("sip:1001@10.0.0.9:5062"));
        assert_eq!(tag_of(bye.get("From").unwrap()).as_deref(), Some("us"));
        assert_eq!(tag_of(bye.get("To").unwrap()).as_deref(), Some("ann1"));
        assert_eq!(bye.cseq().unwrap(), (2, Method::Bye));
        assert_eq!(
            bye.all("Route").collect::<Vec<_>>(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        // A BYE does not refresh the target: no Contact.
        assert_eq!(bye.get("Contact"), None);
    }

    #[test]
    fn a_request_not_above_the_last_cseq_is_refused_with_500() {
        let mut d = Dialog::from_invite(&invite(), peer(), "us".into());
        // The INVITE's own ACK and CANCEL carry its number.
        assert_eq!(d.check_request(&in_dialog("ACK", 10, "")), Ok(()));
        let equal = d.check_request(&in_dialog("INFO", 10, "")).unwrap_err();
        assert_eq!(equal, InDialogError::OutOfOrder { got: 10, last: 10 });
        assert_eq!(equal.status(), 500);
        assert_eq!(d.check_request(&in_dialog("INVITE", 12, "")), Ok(()));
        assert_eq!(
            d.check_request(&in_dialog("BYE", 11, "")),
            Err(InDialogError::OutOfOrder { got: 11, last: 12 })
        );
        assert_eq!(d.check_request(&in_dialog("BYE", 13, "")), Ok(()));
        // A UAC dialog accepts whatever number comes first.
        let mut u = uac();
        assert_eq!(u.check_request(&in_dialog("INVITE", 1, "")), Ok(()));
        // No CSeq at all: a bad request.
        let mut bad = in_dialog("BYE", 20, "");
        bad.headers.retain(|h| h.name != "CSeq");
        assert_eq!(d.check_request(&bad).map_err(|e| e.status()), Err(400));
    }

    #[test]
    fn a_re_invite_refreshes_the_target_and_a_bye_does_not() {
        let mut d = Dialog::from_invite(&invite(), peer(), "us".into());
        d.refresh_target(&in_dialog("BYE", 11, "Contact: <sip:elsewhere@10.0.0.7>\n"));
        assert_eq!(d.target, "sip:1001@10.0.0.9:5062");
        d.refresh_target(&in_dialog(
            "INVITE",
            12,
            "Contact: <sip:1001@10.0.0.8:5070>\n",
        ));
        assert_eq!(d.target, "sip:1001@10.0.0.8:5070");
        // Without a Contact the target stays.
        d.refresh_target(&in_dialog("UPDATE", 13, ""));
        assert_eq!(d.target, "sip:1001@10.0.0.8:5070");
    }

    #[test]
    fn the_uac_learns_from_the_answer_and_acks_with_the_invite_cseq() {
        let mut d = uac();
        let rr = "Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\n";
        d.learn(&answer(
            180,
            1,
            &format!("{rr}Contact: <sip:1002@10.0.0.9:5062;early>\n"),
        ));
        assert_eq!(d.remote_tag().as_deref(), Some("bob"));
        assert_eq!(d.target, "sip:1002@10.0.0.9:5062;early");
        let ok = answer(200, 1, &format!("{rr}Contact: <sip:1002@10.0.0.9:5062>\n"));
        let ack = Message::parse_datagram(&d.ack_2xx(&Here, &ok).unwrap()).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.cseq().unwrap(), (1, Method::Ack));
        assert_eq!(ack.request_uri(), Some("sip:1002@10.0.0.9:5062"));
        // The UAC's route set is the Record-Route reversed.
        assert_eq!(
            ack.all("Route").collect::<Vec<_>>(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert!(ack.body.is_empty());
        // Confirmed: a later response's Record-Route changes nothing, a
        // re-INVITE's 2xx moves the target.
        d.next_cseq();
        d.learn(&answer(
            200,
            2,
            "Record-Route: <sip:evil.example;lr>\nContact: <sip:1002@10.0.0.5:5062>\n",
        ));
        assert_eq!(
            d.route_set(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(d.target, "sip:1002@10.0.0.5:5062");
        assert_eq!(d.remote_tag().as_deref(), Some("bob"));
        // The ACK of that re-INVITE's 2xx has its CSeq, not a later one.
        d.next_cseq();
        let ack = d.ack_2xx(&Here, &answer(200, 2, "")).unwrap();
        let ack = Message::parse_datagram(&ack).unwrap();
        assert_eq!(ack.cseq().unwrap(), (2, Method::Ack));
        assert_eq!(d.cseq, 3);
    }

    #[test]
    fn a_strict_first_route_becomes_the_request_uri() {
        let req = msg("INVITE sip:1002@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bKa
Record-Route: <sip:strict.example>, <sip:p2.example;lr>
From: <sip:1001@dering>;tag=ann1
To: <sip:1002@dering>
Call-ID: c1@ann
CSeq: 1 INVITE
Contact: <sip:1001@10.0.0.9:5062>
Content-Length: 0

");
        let d = Dialog::from_invite(&req, peer(), "us".into());
        let reinvite = d.request(&Here, rsip::Method::Invite, b"v=0\r\n").unwrap();
        let m = Message::parse_datagram(&reinvite).unwrap();
        assert_eq!(m.request_uri(), Some("sip:strict.example"));
        assert_eq!(
            m.all("Route").collect::<Vec<_>>(),
            ["<sip:p2.example;lr>", "<sip:1001@10.0.0.9:5062>"]
        );
        // A re-INVITE carries our Contact and its SDP.
        assert_eq!(m.get("Contact"), Some("<sip:dering@10.0.0.1:5060>"));
        assert_eq!(m.get("Content-Type"), Some("application/sdp"));
    }

    #[test]
    fn a_challenged_request_in_the_dialog_is_sent_again_with_credentials() {
        let mut d = uac();
        d.auth = Some(Box::new(DigestClient::new(Credential {
            username: "dering".into(),
            password: "pw".into(),
            realm: None,
        })));
        d.learn(&answer(200, 1, "Contact: <sip:1002@10.0.0.9:5062>\n"));
        let challenge_for = |cseq: u32, method: &str, nonce: &str| {
            msg(&format!(
                "SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb
From: <sip:1001@dering>;tag=us2
To: <sip:1002@dering>;tag=bob
Call-ID: c2@dering
CSeq: {cseq} {method}
WWW-Authenticate: {}
Content-Length: 0

",
                challenge("far", nonce, Algorithm::Md5, false)
            ))
        };
        for (round, nonce) in [(0, "n1"), (1, "n1")] {
            d.next_cseq();
            let sent = d.request(&Here, rsip::Method::Bye, b"").unwrap();
            let sent = Message::parse_datagram(&sent).unwrap();
            let before = d.cseq;
            let again = d
                .answer_challenge(
                    &sent,
                    &challenge_for(before, "BYE", nonce),
                    Here.via(Transport::Udp),
                    "cn",
                )
                .unwrap();
            let again = Message::parse_datagram(&again).unwrap();
            assert_eq!(again.cseq().unwrap(), (before + 1, Method::Bye));
            assert_eq!(d.cseq, before + 1);
            let creds = Credentials::parse(again.get("Authorization").unwrap()).unwrap();
            assert!(creds.verify("BYE", "pw"));
            // The same nonce on a new request is answered, nc counting on.
            let nc = format!("{:08x}", round + 1);
            assert_eq!(creds.nc.as_deref(), Some(nc.as_str()));
            assert_eq!(tag_of(again.get("To").unwrap()).as_deref(), Some("bob"));
            // The same request challenged again with the same nonce: the
            // password is wrong, not answered again.
            let twice = challenge_for(d.cseq, "BYE", nonce);
            assert_eq!(
                d.answer_challenge(&again, &twice, Here.via(Transport::Udp), "cn"),
                Err(ChallengeError::Auth(UacAuthError::Rejected))
            );
        }
        let mut plain = uac();
        let sent = Message::parse_datagram(&plain.request(&Here, rsip::Method::Bye, b"").unwrap())
            .unwrap();
        assert_eq!(
            plain.answer_challenge(&sent, &challenge_for(1, "BYE", "n"), String::new(), "c"),
            Err(ChallengeError::NoCredential)
        );
    }

    /// Whatever a far side sends in a dialog, judging it never panics:
    /// every prefix and every single-byte corruption of real requests and
    /// responses, through every method that reads a message.
    #[test]
    fn no_message_from_the_network_panics_the_dialog() {
        let seeds: Vec<Vec<u8>> = vec![
            format!("{}", String::from_utf8_lossy(&invite_bytes())).into_bytes(),
            b"SIP/2.0 200 OK\r\nTo: <sip:x>;tag=\r\nContact: <>\r\nRecord-Route: <;lr>, ,\r\nCSeq: 4294967295 INVITE\r\nCall-ID:\r\n\r\n".to_vec(),
            b"BYE sip:x SIP/2.0\r\nCSeq: 2147483647 BYE\r\nContact: \"unterminated <sip:x>\r\nTo: ;tag=;tag=\r\n\r\n".to_vec(),
        ];
        let mut tried = 0;
        for seed in &seeds {
            let mut variants: Vec<Vec<u8>> = (0..seed.len()).map(|n| seed[..n].to_vec()).collect();
            for i in 0..seed.len() {
                for b in [0u8, b' ', b';', b'<', b'>', b'"', b',', 0xff, b'\n'] {
                    let mut v = seed.clone();
                    v[i] = b;
                    variants.push(v);
                }
            }
            for v in variants {
                let Ok(m) = Message::parse_datagram(&v) else {
                    continue;
                };
                tried += 1;
                let mut d = Dialog::from_invite(&m, peer(), "t".into());
                let _ = d.check_request(&m);
                d.refresh_target(&m);
                d.learn(&m);
                let _ = d.ack_2xx(&Here, &m);
                let _ = d.request(&Here, rsip::Method::Bye, b"");
                let mut u = uac();
                u.learn(&m);
                let _ = u.ack_2xx(&Here, &m);
                let _ = u.request(&Here, rsip::Method::Invite, b"v=0\r\n");
                let _ = u.answer_challenge(&m, &m, String::new(), "c");
            }
        }
        assert!(tried > 1000, "only {tried} variants parsed");
    }

    fn invite_bytes() -> Vec<u8> {
        let m = invite();
        let mut out = format!("INVITE {} SIP/2.0\r\n", m.request_uri().unwrap());
        for h in &m.headers {
            out.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    #[test]
    fn a_restored_dialog_sends_with_its_route_and_next_cseq() {
        let mut d = Dialog::restored(
            "cid".into(),
            "<sip:1001@box>;tag=ours".into(),
            "<sip:1002@box>;tag=theirs".into(),
            "sip:1002@10.0.0.9:5062".into(),
            vec!["<sip:p1;lr>".into()],
            7,
            peer(),
        );
        d.next_cseq();
        let m =
            Message::parse_datagram(&d.request(&Here, rsip::Method::Bye, b"").unwrap()).unwrap();
        assert_eq!(m.request_uri(), Some("sip:1002@10.0.0.9:5062"));
        assert_eq!(m.get("CSeq"), Some("8 BYE"));
        assert_eq!(m.get("Route"), Some("<sip:p1;lr>"));
        assert_eq!(d.remote_tag().as_deref(), Some("theirs"));
        assert_eq!(d.route_set(), ["<sip:p1;lr>".to_string()]);
    }
}
