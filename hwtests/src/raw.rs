//! Hand-written SIP over a plain UDP socket, for what a sipp scenario
//! cannot say (malformed input, one request and its exact answers).

use std::net::UdpSocket;
use std::time::Duration;

use dering_sip::Message;

use crate::Dering;

/// A UDP socket on loopback whose reads give up after 400 ms.
pub fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    s
}

/// The next datagram, parsed; `None` when nothing came in time.
pub fn reply(s: &UdpSocket) -> Option<Message> {
    let mut buf = [0u8; 65_536];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(Message::parse_datagram(&buf[..n]).expect("pbxd sent a malformed message"))
}

/// An OPTIONS ping: the status of the answer, if one came.
pub fn options(d: &Dering, s: &UdpSocket) -> Option<u16> {
    let port = s.local_addr().unwrap().port();
    let msg = format!(
        "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{}\r\nFrom: <sip:probe@x>;tag=1\r\nTo: <sip:ping@x>\r\nCall-ID: {}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        rand_id(),
        rand_id()
    );
    s.send_to(msg.as_bytes(), d.addr()).unwrap();
    reply(s).and_then(|m| m.status())
}

/// An unauthenticated INVITE from extension `from` to `to`: the first
/// final answer (provisional ones are skipped), ACKed so pbxd stops
/// retransmitting it.
pub fn invite(d: &Dering, from: &str, to: &str) -> Option<Message> {
    let s = client();
    let port = s.local_addr().unwrap().port();
    let (branch, call_id) = (rand_id(), rand_id());
    let head = |method: &str, cseq: &str| {
        format!(
            "{method} sip:{to}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\nFrom: <sip:{from}@127.0.0.1>;tag=r{branch}\r\nTo: <sip:{to}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n"
        )
    };
    let msg = format!(
        "{}Contact: <sip:{from}@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n",
        head("INVITE", "1 INVITE")
    );
    s.send_to(msg.as_bytes(), d.addr()).unwrap();
    for _ in 0..10 {
        let m = reply(&s)?;
        if m.status().is_some_and(|c| c >= 200) {
            let to_tag = m.get("To").unwrap_or_default().to_string();
            let ack = head("ACK", "1 ACK").replace(
                &format!("To: <sip:{to}@127.0.0.1>\r\n"),
                &format!("To: {to_tag}\r\n"),
            );
            let _ = s.send_to(
                format!("{ack}Content-Length: 0\r\n\r\n").as_bytes(),
                d.addr(),
            );
            return Some(m);
        }
    }
    None
}

/// A value unique enough for branches and Call-IDs.
pub fn rand_id() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
