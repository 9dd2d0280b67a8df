//! The media relay against strangers and moving phones (OPS-5, TEL-1,
//! decision 0011): a stranger who sends RTP to a call's relay ports (they
//! are predictable) reaches nobody and takes nothing over, while the call's
//! audio goes on (the RTP bleed, CVE-2017-14099); a phone whose NAT mapping
//! changes is followed after a re-INVITE, and only then; and RTP ports
//! another program holds are skipped, not a failed call.
//!
//! The caller is the test's own phone over TCP, so the test sends and sees
//! its RTP; the callee is sipp echoing what it receives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use hwtests::fragments::{reply, uas_answer, wait_bye, SDP_ANSWER};
use hwtests::phone::{PhoneDialog, StreamPhone};
use hwtests::{callee, ok, Dering};

const CALLER: u32 = 0x1001;
const STRANGER: u32 = 0x5555;

/// An RTP packet of G.711 A-law silence from `ssrc`.
fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

fn ssrc_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(8..12)?.try_into().ok()?))
}

fn socket(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// What one socket received: the SSRC of each RTP packet.
#[derive(Debug, Default)]
struct Heard(Vec<u32>);

impl Heard {
    fn drain(&mut self, s: &UdpSocket) {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            self.0.extend(ssrc_of(&buf[..n]));
        }
    }

    fn from(&self, ssrc: u32) -> usize {
        self.0.iter().filter(|s| **s == ssrc).count()
    }
}

/// `n` packets 20 ms apart from the caller's socket `me` to relay port
/// `to`, each followed by `extra` (a stranger's packets); what `me` hears
/// back meanwhile (the callee echoes).
fn talk(me: &UdpSocket, to: SocketAddr, n: u16, mut extra: impl FnMut(u16)) -> Heard {
    let mut heard = Heard::default();
    for seq in 0..n {
        me.send_to(&rtp(CALLER, seq), to).unwrap();
        extra(seq);
        heard.drain(me);
    }
    heard.drain(me);
    heard
}

/// The relay ports of the one call up: the caller's and the callee's.
fn relay_ports(d: &Dering) -> (SocketAddr, SocketAddr) {
    let calls = d.query("calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let port = |k: &str| -> SocketAddr {
        let p = calls[0][k].as_u64().unwrap() as u16;
        SocketAddr::from(([127, 0, 0, 1], p))
    };
    (port("a_port"), port("b_port"))
}

/// 1001, the test's phone over TCP, calls 1002, sipp echoing RTP, which
/// then takes `reinvites` re-INVITEs and waits for the BYE.
fn call_echo(d: &Dering, reinvites: usize) -> (StreamPhone, PhoneDialog, hwtests::Sipp) {
    let again = format!(
        "  <recv request=\"INVITE\" crlf=\"true\"/>\n{}  <recv request=\"ACK\"/>\n",
        reply("200 OK", false, None, SDP_ANSWER)
    );
    let behaviour = format!("{}{}{}", uas_answer(), again.repeat(reinvites), wait_bye());
    let uas = callee(d, "1002", &behaviour);
    let mut phone = StreamPhone::tcp(d, "1001");
    phone.register();
    phone
        .media
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let dialog = phone.call("1002");
    d.wait_answered(1);
    (phone, dialog, uas)
}

fn hang_up(d: &Dering, mut phone: StreamPhone, mut dialog: PhoneDialog, uas: hwtests::Sipp) {
    let resp = phone.request(&mut dialog, "BYE", "", "");
    assert_eq!(resp.status(), Some(200), "{resp:?}");
    ok(uas, "callee", d);
}

/// The caller's SDP naming `port`, version `v`.
fn sdp(port: u16, v: u32) -> String {
    format!("v=0\r\no=- 2 {v} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
}

fn reinvite(phone: &mut StreamPhone, dialog: &mut PhoneDialog, port: u16, v: u32) {
    let resp = phone.request(
        dialog,
        "INVITE",
        "Content-Type: application/sdp\r\n",
        &sdp(port, v),
    );
    assert_eq!(resp.status(), Some(200), "re-INVITE: {resp:?}");
    phone.ack(dialog);
}

/// A stranger sends RTP to both relay ports of a call in progress (from
/// the phones' host and from another, RTCP too): none of it reaches either
/// phone, the stranger receives nothing, and the caller keeps hearing the
/// callee. The relay counts what it dropped.
#[test]
fn a_strangers_rtp_reaches_nobody_while_the_call_goes_on() {
    let d = Dering::start();
    let (phone, dialog, uas) = call_echo(&d, 0);
    let (a_port, b_port) = relay_ports(&d);
    // The call's audio flows both ways, and both legs latch.
    let heard = talk(&phone.media, a_port, 25, |_| {});
    assert!(
        heard.from(CALLER) >= 20,
        "the caller hears its echo: {heard:?}\n{}",
        d.log()
    );
    let near = socket("127.0.0.1");
    let far = socket("127.0.0.2");
    let mut stranger_heard = Heard::default();
    let heard = talk(&phone.media, a_port, 50, |seq| {
        for s in [&near, &far] {
            for to in [a_port, b_port] {
                s.send_to(&rtp(STRANGER, seq), to).unwrap();
            }
        }
        for to in [a_port, b_port] {
            let rtcp = SocketAddr::new(to.ip(), to.port() + 1);
            far.send_to(&rtp(STRANGER, seq), rtcp).unwrap();
        }
        stranger_heard.drain(&near);
        stranger_heard.drain(&far);
    });
    stranger_heard.drain(&near);
    stranger_heard.drain(&far);
    assert_eq!(
        heard.from(STRANGER),
        0,
        "the stranger's packets reached the caller (directly or through the callee's echo): {heard:?}"
    );
    assert!(
        heard.from(CALLER) >= 40,
        "the call's audio goes on: {heard:?}\n{}",
        d.log()
    );
    assert!(
        stranger_heard.0.is_empty(),
        "the stranger received the call's media: {stranger_heard:?}"
    );
    let uuid = d.query("calls")[0]["uuid"].as_str().unwrap().to_string();
    hang_up(&d, phone, dialog, uas);
    let media = d.media_counts(&uuid);
    // 100 RTP packets from the stranger at each leg, 50 RTCP.
    assert_eq!(media["stray_at_caller"], 150, "{media:?}");
    assert_eq!(media["stray_at_callee"], 150, "{media:?}");
    // Nothing but the caller's own packets went to the callee.
    assert_eq!(
        media["rtp_to_callee"], media["rtp_from_caller"],
        "{media:?}"
    );
    assert!(
        d.log().contains("media from a stranger dropped"),
        "{}",
        d.log()
    );
}

/// The caller's NAT maps it anew: packets from the new source are dropped
/// until a re-INVITE (same SDP) opens the leg's latching window, then
/// followed; then the caller moves to a port its SDP announces, followed
/// too.
#[test]
fn a_phone_that_moves_is_followed_after_a_reinvite() {
    let d = Dering::start();
    let (mut phone, mut dialog, uas) = call_echo(&d, 2);
    let (a_port, _) = relay_ports(&d);
    let old_port = phone.media.local_addr().unwrap().port();
    let heard = talk(&phone.media, a_port, 25, |_| {});
    assert!(heard.from(CALLER) >= 20, "{heard:?}\n{}", d.log());
    // A new mapping, no signalling: a stranger as far as the relay knows.
    let nat = socket("127.0.0.1");
    let heard = talk(&nat, a_port, 25, |_| {});
    assert_eq!(
        heard.from(CALLER),
        0,
        "followed without signalling: {heard:?}"
    );
    // The phone re-INVITEs with the SDP it had; its packets come from the
    // new mapping, and the echo follows them there.
    reinvite(&mut phone, &mut dialog, old_port, 3);
    let heard = talk(&nat, a_port, 25, |_| {});
    assert!(
        heard.from(CALLER) >= 20,
        "not followed after the re-INVITE: {heard:?}\n{}",
        d.log()
    );
    // Now it announces a new port and sends from there.
    let moved = socket("127.0.0.1");
    reinvite(
        &mut phone,
        &mut dialog,
        moved.local_addr().unwrap().port(),
        4,
    );
    let heard = talk(&moved, a_port, 25, |_| {});
    assert!(
        heard.from(CALLER) >= 20,
        "not followed to the announced port: {heard:?}\n{}",
        d.log()
    );
    hang_up(&d, phone, dialog, uas);
}

/// Another program holds the RTP (or RTCP) port of each of the first five
/// pairs the box would give calls: the call takes the next free pairs, and
/// its audio flows.
#[test]
fn ports_held_by_another_program_are_skipped() {
    let mut held = Vec::new();
    let mut lo = 0u16;
    let d = Dering::start_with(|text| {
        lo = text
            .lines()
            .find_map(|l| l.strip_prefix("rtp_port_min = "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        for p in [lo, lo + 3, lo + 4, lo + 7, lo + 8] {
            held.push(UdpSocket::bind(("127.0.0.1", p)).unwrap());
        }
        text
    });
    let (phone, dialog, uas) = call_echo(&d, 0);
    let (a_port, b_port) = relay_ports(&d);
    for p in [a_port.port(), b_port.port()] {
        assert!(
            p >= lo + 10,
            "the call got a held port: {p} (held from {lo})"
        );
    }
    let heard = talk(&phone.media, a_port, 50, |_| {});
    assert!(heard.from(CALLER) >= 40, "no audio: {heard:?}\n{}", d.log());
    hang_up(&d, phone, dialog, uas);
    assert_eq!(d.ended_calls(1)[0]["disposition"], "answered");
    assert!(
        d.log().contains("RTP port taken by another program"),
        "{}",
        d.log()
    );
    drop(held);
}
