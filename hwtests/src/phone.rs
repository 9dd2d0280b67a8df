//! A minimal SIP phone over a stream (TCP or TLS) for system tests: it
//! registers with digest auth and keeps the connection open, so pbxd must
//! deliver the INVITE on it (symmetric signalling, RFC 5626-style). sipp
//! cannot do this (its build here has no TLS, and a sipp process that
//! registers cannot then take an INVITE of another Call-ID).

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use dering_sip::auth::{parse_auth_params, Algorithm};
use dering_sip::framer::{Frame, StreamFramer};
use dering_sip::Message;

use crate::Dering;

/// The Authorization value answering `challenge` (a WWW-/Proxy-Authenticate
/// value) for `method` on `uri`, with qop=auth.
pub fn digest_authorization(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let params = parse_auth_params(challenge.trim_start_matches("Digest "));
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (realm, nonce) = (get("realm"), get("nonce"));
    let alg = Algorithm::parse(&get("algorithm")).unwrap_or(Algorithm::Md5);
    let ha1 = alg.hash(&format!("{user}:{realm}:{password}"));
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    let resp = alg.hash(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"c0ffee\"",
        alg.name()
    )
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A dialog as the phone sees it, enough for its own requests in it.
#[derive(Debug, Clone)]
pub struct PhoneDialog {
    pub call_id: String,
    /// Our From (requests we send) with our tag.
    pub local: String,
    /// Their To, with their tag.
    pub remote: String,
    pub target: String,
    pub cseq: u32,
}

impl PhoneDialog {
    fn tag(v: &str) -> String {
        v.split(";tag=")
            .nth(1)
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .to_string()
    }

    pub fn local_tag(&self) -> String {
        Self::tag(&self.local)
    }

    pub fn remote_tag(&self) -> String {
        Self::tag(&self.remote)
    }
}

/// A phone on one TCP or TLS connection to the box.
pub struct StreamPhone {
    stream: Box<dyn Stream>,
    framer: StreamFramer,
    ext: String,
    transport: &'static str,
    local: std::net::SocketAddr,
    /// Where this phone receives RTP.
    pub media: UdpSocket,
    /// Requests from the box answered 200 while waiting for something
    /// else (NOTIFY, BYE), in order.
    pub inbox: Vec<Message>,
    next_branch: u32,
}

impl std::fmt::Debug for StreamPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamPhone({} over {})", self.ext, self.transport)
    }
}

impl StreamPhone {
    pub fn tcp(d: &Dering, ext: &str) -> StreamPhone {
        let tcp = TcpStream::connect(d.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = tcp.local_addr().unwrap();
        Self::new(Box::new(tcp), ext, "TCP", local)
    }

    /// TLS, verifying the box's self-signed certificate as the only root.
    pub fn tls(d: &Dering) -> impl FnOnce(&str) -> StreamPhone + '_ {
        move |ext| {
            let s = crate::tls::to_sip(d, Duration::from_millis(200));
            let local = s.sock.local_addr().unwrap();
            Self::new(Box::new(s), ext, "TLS", local)
        }
    }

    /// A phone on a connection the box opened to it (a static peer that
    /// listens over TCP or TLS): `stream` is the accepted side, `local`
    /// the address it was accepted on.
    pub fn accepted(
        stream: impl Read + Write + Send + 'static,
        ext: &str,
        transport: &'static str,
        local: std::net::SocketAddr,
    ) -> StreamPhone {
        Self::new(Box::new(stream), ext, transport, local)
    }

    fn new(
        stream: Box<dyn Stream>,
        ext: &str,
        transport: &'static str,
        local: std::net::SocketAddr,
    ) -> StreamPhone {
        StreamPhone {
            stream,
            framer: StreamFramer::default(),
            ext: ext.to_string(),
            transport,
            local,
            media: UdpSocket::bind("127.0.0.1:0").unwrap(),
            inbox: Vec::new(),
            next_branch: 0,
        }
    }

    fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
        self.stream.flush().unwrap();
    }

    /// The next message within `limit`, or a panic naming what was awaited.
    pub fn recv(&mut self, what: &str, limit: Duration) -> Message {
        let t = Instant::now();
        let mut buf = [0u8; 16_384];
        loop {
            if let Some(Frame::Message(_, m)) = self.framer.next_frame().unwrap() {
                return *m;
            }
            assert!(
                t.elapsed() < limit,
                "{} phone {}: no {what} within {limit:?}",
                self.transport,
                self.ext
            );
            match self.stream.read(&mut buf) {
                Ok(0) => panic!(
                    "{} phone {}: connection closed waiting for {what}",
                    self.transport, self.ext
                ),
                Ok(n) => self.framer.push(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("{} phone {}: {e}", self.transport, self.ext),
            }
        }
    }

    fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{branch}",
            self.transport, self.local
        )
    }

    /// REGISTER, answer the 401, expect 200.
    pub fn register(&mut self) {
        let ext = self.ext.clone();
        let contact = self.contact();
        let uri = "sip:dering.local";
        let port = self.local.port();
        let (resp, _) = self.authenticated("REGISTER", uri, |cseq, via, auth| {
            format!(
                "REGISTER {uri} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:{ext}@dering.local>;tag=r{ext}\r\nTo: <sip:{ext}@dering.local>\r\nCall-ID: reg-{ext}-{port}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: 300\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
        });
        assert_eq!(
            resp.status(),
            Some(200),
            "REGISTER over {}: {resp:?}",
            self.transport
        );
    }

    /// Sends the request `text(cseq, via, auth)` makes, and once more with
    /// digest credentials if the box challenges it (401 or 407; a
    /// challenged INVITE is ACKed in its transaction): the final response
    /// and the CSeq it answers.
    fn authenticated(
        &mut self,
        method: &str,
        uri: &str,
        text: impl Fn(u32, &str, &str) -> String,
    ) -> (Message, u32) {
        let ext = self.ext.clone();
        let mut auth = String::new();
        for cseq in 1..=2 {
            let branch = self.branch();
            let via = self.via(&branch);
            self.send(&text(cseq, &via, &auth));
            let resp = self.final_response(method);
            let (hdr, name) = match resp.status() {
                Some(401) => ("WWW-Authenticate", "Authorization"),
                Some(407) => ("Proxy-Authenticate", "Proxy-Authorization"),
                _ => return (resp, cseq),
            };
            if method == "INVITE" {
                self.send(&format!(
                    "ACK {uri} SIP/2.0\r\nVia: {via}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                    resp.get("From").unwrap(),
                    resp.get("To").unwrap(),
                    resp.call_id().unwrap()
                ));
            }
            let chal = resp.get(hdr).unwrap().to_string();
            auth = format!(
                "{name}: {}\r\n",
                digest_authorization(&chal, &ext, &format!("demo-{ext}"), method, uri)
            );
        }
        panic!("{method} to {uri} not accepted after the challenge");
    }

    fn respond(&mut self, req: &Message, status: &str, extra: &str, body: &str) {
        let mut text = format!("SIP/2.0 {status}\r\n");
        for v in req.all("Via") {
            text.push_str(&format!("Via: {v}\r\n"));
        }
        let to = req.get("To").unwrap();
        let to = if to.contains("tag=") || status.starts_with("100") {
            to.to_string()
        } else {
            format!("{to};tag=callee{}", self.ext)
        };
        text.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            req.get("From").unwrap(),
            req.call_id().unwrap(),
            req.get("CSeq").unwrap(),
            body.len()
        ));
        self.send(&text);
    }

    /// Waits for an INVITE, rings, answers with G.711 A-law on `media`, and
    /// takes the ACK. Returns the INVITE.
    pub fn answer(&mut self) -> Message {
        let inv = self.recv("INVITE", Duration::from_secs(10));
        assert_eq!(inv.method().map(|m| m.as_str()), Some("INVITE"), "{inv:?}");
        let tp = self.transport.to_ascii_lowercase();
        let contact = format!(
            "Contact: <sip:{}@{};transport={tp}>\r\n",
            self.ext, self.local
        );
        self.respond(&inv, "180 Ringing", &contact, "");
        let port = self.media.local_addr().unwrap().port();
        let sdp = format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n");
        self.respond(
            &inv,
            "200 OK",
            &format!("{contact}Content-Type: application/sdp\r\n"),
            &sdp,
        );
        let ack = self.recv("ACK", Duration::from_secs(5));
        assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"), "{ack:?}");
        inv
    }

    /// The dialog an INVITE this phone answered (with [`Self::answer`])
    /// set up.
    pub fn dialog_of_answered(&self, inv: &Message) -> PhoneDialog {
        let target = contact_uri(inv);
        PhoneDialog {
            call_id: inv.call_id().unwrap().to_string(),
            local: format!("{};tag=callee{}", inv.get("To").unwrap(), self.ext),
            remote: inv.get("From").unwrap().to_string(),
            target,
            cseq: 1,
        }
    }

    fn contact(&self) -> String {
        let tp = self.transport.to_ascii_lowercase();
        format!("<sip:{}@{};transport={tp}>", self.ext, self.local)
    }

    fn branch(&mut self) -> String {
        self.next_branch += 1;
        format!("{}x{}", self.ext, self.next_branch)
    }

    /// Sends a request in `d` (CSeq incremented) and returns its final
    /// response; requests from the box meanwhile are answered 200 and
    /// kept in [`Self::inbox`].
    pub fn request(
        &mut self,
        d: &mut PhoneDialog,
        method: &str,
        extra: &str,
        body: &str,
    ) -> Message {
        d.cseq += 1;
        let branch = self.branch();
        let text = format!(
            "{method} {} SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContact: {}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            d.target,
            self.via(&branch),
            d.local,
            d.remote,
            d.call_id,
            d.cseq,
            self.contact(),
            body.len()
        );
        self.send(&text);
        self.final_response(method)
    }

    /// ACKs the 2xx to a re-INVITE this phone sent in `d` with
    /// [`Self::request`].
    pub fn ack(&mut self, d: &PhoneDialog) {
        let branch = self.branch();
        let text = format!(
            "ACK {} SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            d.target,
            self.via(&branch),
            d.local,
            d.remote,
            d.call_id,
            d.cseq
        );
        self.send(&text);
    }

    /// The next final response to `method`, serving requests meanwhile.
    fn final_response(&mut self, method: &str) -> Message {
        loop {
            let m = self.recv(&format!("{method} response"), Duration::from_secs(10));
            match m.status() {
                Some(code) if code >= 200 => {
                    if m.get("CSeq").is_some_and(|c| c.ends_with(method)) {
                        return m;
                    }
                }
                Some(_) => {}
                None => self.serve(m),
            }
        }
    }

    /// Answers a request from the box with 200 and keeps it.
    fn serve(&mut self, req: Message) {
        if req.method().map(|m| m.as_str()) != Some("ACK") {
            self.respond(&req, "200 OK", "", "");
        }
        self.inbox.push(req);
    }

    /// Serves the box's requests for `within`.
    pub fn serve_for(&mut self, within: Duration) {
        let t = Instant::now();
        let mut buf = [0u8; 16_384];
        while t.elapsed() < within {
            while let Ok(Some(Frame::Message(_, m))) = self.framer.next_frame() {
                self.serve(*m);
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.framer.push(&buf[..n]),
                Err(_) => {}
            }
        }
    }

    /// Calls `to` through the box (answering its digest challenge) and
    /// ACKs the answer: the call's dialog.
    pub fn call(&mut self, to: &str) -> PhoneDialog {
        let ext = self.ext.clone();
        let uri = format!("sip:{to}@dering.local");
        let port = self.media.local_addr().unwrap().port();
        let sdp = format!("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n");
        let call_id = format!("out-{ext}-{to}-{}", self.local.port());
        let local = format!("<sip:{ext}@dering.local>;tag=caller{ext}");
        let contact = self.contact();
        let (resp, cseq) = self.authenticated("INVITE", &uri, |cseq, via, auth| {
            format!(
                "INVITE {uri} SIP/2.0\r\nVia: {via}\r\nFrom: {local}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: {contact}\r\nMax-Forwards: 70\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            )
        });
        assert_eq!(resp.status(), Some(200), "call to {to}: {resp:?}");
        let target = contact_uri(&resp);
        let mut d = PhoneDialog {
            call_id,
            local,
            remote: resp.get("To").unwrap().to_string(),
            target,
            cseq,
        };
        let branch = self.branch();
        self.send(&format!(
            "ACK {} SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            d.target,
            self.via(&branch),
            d.local,
            d.remote,
            d.call_id,
            d.cseq
        ));
        d.cseq += 1;
        d
    }

    /// SUBSCRIBEs to `resource`'s `event` package (answering the digest
    /// challenge); the subscription's dialog once accepted, or the status
    /// it was refused with.
    pub fn subscribe(&mut self, resource: &str, event: &str) -> Result<PhoneDialog, u16> {
        let ext = self.ext.clone();
        let uri = format!("sip:{resource}@dering.local");
        let call_id = format!("sub-{ext}-{resource}-{event}-{}", self.local.port());
        let local = format!("<sip:{ext}@dering.local>;tag=watch{ext}");
        let accept = if event == "dialog" {
            "application/dialog-info+xml"
        } else {
            "application/pidf+xml"
        };
        let contact = self.contact();
        let (resp, cseq) = self.authenticated("SUBSCRIBE", &uri, |cseq, via, auth| {
            format!(
                "SUBSCRIBE {uri} SIP/2.0\r\nVia: {via}\r\nFrom: {local}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: {contact}\r\nEvent: {event}\r\nAccept: {accept}\r\nExpires: 600\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        });
        match resp.status() {
            Some(200) => Ok(PhoneDialog {
                call_id,
                local,
                remote: resp.get("To").unwrap().to_string(),
                target: uri,
                cseq,
            }),
            other => Err(other.unwrap_or(0)),
        }
    }

    /// The next NOTIFY of subscription `call_id` (earlier ones kept in
    /// the inbox count first), answered 200: its body.
    pub fn next_notify(&mut self, call_id: &str, limit: Duration) -> String {
        let t = Instant::now();
        loop {
            if let Some(i) = self.inbox.iter().position(|m| {
                m.method().map(|m| m.as_str()) == Some("NOTIFY") && m.call_id() == Some(call_id)
            }) {
                let m = self.inbox.remove(i);
                return String::from_utf8_lossy(&m.body).into_owned();
            }
            assert!(
                t.elapsed() < limit,
                "phone {}: no NOTIFY within {limit:?}",
                self.ext
            );
            self.serve_for(Duration::from_millis(200));
        }
    }

    /// Waits for the BYE and confirms it; the BYE.
    pub fn take_bye(&mut self) -> Message {
        let bye = self.recv("BYE", Duration::from_secs(15));
        assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"), "{bye:?}");
        self.respond(&bye, "200 OK", "", "");
        bye
    }

    /// RTP packets waiting on the media socket.
    pub fn count_rtp(&self, within: Duration) -> usize {
        self.media
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let t = Instant::now();
        let mut n = 0;
        let mut buf = [0u8; 2048];
        while t.elapsed() < within {
            if self.media.recv_from(&mut buf).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// The URI of a message's Contact header (without its angle brackets and
/// parameters outside them): where in-dialog requests go.
fn contact_uri(msg: &Message) -> String {
    msg.get("Contact")
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_string()
}
