//! An agent at home on a softphone over the internet (ACD-1, issue 16):
//! a sipp phone that looks like one behind a home router. It sends from
//! 127.0.0.1:<its port>, but every address it writes (Via, Contact, the
//! SDP) is the private 192.168.1.23 that nothing can reach, as a
//! softphone without STUN does. It registers as 1003, agent 2001 logs in
//! from it with `*712001*1234`, and a caller reaching queue `pengaduan`
//! on a DID is offered to it: the INVITE must reach the phone's real
//! port, the phone answers with its private SDP and sends a tone, and
//! the caller (the test's own phone, which sends and counts RTP) hears
//! that tone, while the phone echoes the caller's audio back (so the box
//! reached the phone's real media port). The call is recorded under agent
//! 2001 and ends by a BYE that reached the phone's real port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hwtests::fragments::{reply, uac_answered_then, wait_bye, RINGING_CONTACT, SDP_ANSWER};
use hwtests::phone::StreamPhone;
use hwtests::{free_udp_port, ok, phone, scenario, Dering, Sipp};

/// The phone's address inside the home network: private, not routed here.
const PRIVATE: &str = "192.168.1.23";
/// The SIP port the phone names there; nothing listens on it. Its SDP
/// keeps its media port, as a NAT that preserves ports maps it (and as
/// sipp must: it sends a pcap from the port it wrote into `m=audio`).
const PRIVATE_SIP: u16 = 5060;

/// The payload byte of every packet the caller sends, so what comes back
/// to it through the phone's echo is told from the phone's tone and from
/// the queue's prompts.
const CALLER_BYTE: u8 = 0x2a;

/// A scenario `name` with `subs`, rewritten so that everything the phone
/// writes names its private address, as a phone behind NAT does; its Via
/// asks for the answer at the source (`rport`, RFC 3581), as softphones do.
fn behind_nat(d: &Dering, name: &str, subs: &[(&str, &str)]) -> PathBuf {
    let path = scenario(d.dir(), name, subs);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "[local_ip]:[local_port];branch",
            &format!("{PRIVATE}:{PRIVATE_SIP};rport;branch"),
        )
        .replace(
            "[local_ip]:[local_port]",
            &format!("{PRIVATE}:{PRIVATE_SIP}"),
        )
        .replace("IP[local_ip_type] [local_ip]", &format!("IP4 {PRIVATE}"))
        .replace("IP[media_ip_type] [media_ip]", &format!("IP4 {PRIVATE}"));
    assert!(
        !text.contains("[local_ip]") && !text.contains("[media_ip]"),
        "{name}: an address left unrewritten:\n{text}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The box: a DID 170 whose flow puts the caller in queue `pengaduan`,
/// agents answering by hand with a short wrap-up.
fn queue_box() -> Dering {
    let d = Dering::start_with(|t| {
        let mut t = t.replace(
            "ring_seconds = 15\nwrapup_seconds = 15",
            "ring_seconds = 10\nwrapup_seconds = 1",
        );
        t.push_str(hwtests::DID_170_TO_QUEUE);
        t
    });
    d.publish_queue_flow();
    d
}

/// A run of the home phone (sipp on 127.0.0.1:`port`) with scenario `sf`,
/// tracing the messages it receives and sends into the returned file.
fn home_phone(d: &Dering, sf: &Path, port: u16, extra: &[&str]) -> (Sipp, PathBuf) {
    let trace = d
        .dir()
        .join(format!("home-{}-messages.log", hwtests::raw::rand_id()));
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend([
        "-trace_msg".to_string(),
        "-message_file".to_string(),
        trace.display().to_string(),
    ]);
    (phone(d, sf, port, &args), trace)
}

/// The payloads of the tone's packets, read back from the pcap the phone
/// plays (Ethernet, IPv4 and UDP headers, then RTP's 12 bytes).
fn tone_payloads(pcap: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(pcap).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..at + 16 + len];
        out.push(frame[14 + 20 + 8 + 12..].to_vec());
        at += 16 + len;
    }
    out
}

/// The agent the ACD journal says answered call `uuid`, once it has.
fn answered_by(d: &Dering, uuid: &str) -> Option<String> {
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let answered: Vec<_> = store
        .acd_events(0)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "answered" && r.call_uuid.as_deref() == Some(uuid))
        .collect();
    assert!(answered.len() <= 1, "answered twice: {answered:?}");
    answered.into_iter().next().and_then(|r| r.agent)
}

/// The request lines of the messages sipp's trace `-message_file` shows
/// it received.
fn received_requests(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap();
    text.split("UDP message ")
        .filter(|m| m.starts_with("received"))
        .filter_map(|m| m.lines().map(str::trim).find(|l| l.ends_with(" SIP/2.0")))
        .map(String::from)
        .collect()
}

/// An RTP packet of the caller's, payload [`CALLER_BYTE`].
fn caller_rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x0000_1001u32.to_be_bytes());
    p.extend(std::iter::repeat_n(CALLER_BYTE, 160));
    p
}

/// What the caller heard: its own audio back (the phone's echo), and the
/// phone's tone.
#[derive(Debug, Default)]
struct Heard {
    echoed: usize,
    tone: usize,
    other: usize,
}

#[test]
fn an_agent_behind_nat_is_reached_at_its_real_address_and_heard() {
    let d = queue_box();
    let port = free_udp_port();
    let real = format!("127.0.0.1:{port}");

    // 1. The phone registers as 1003; the box keeps where it came from.
    let sf = behind_nat(&d, "register.xml", &[]);
    let mut extra: Vec<String> = vec![d.addr()];
    extra.extend(["-key", "me", "1003", "-key", "exp", "300"].map(String::from));
    extra.extend(hwtests::credentials("1003"));
    let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (reg, _) = home_phone(&d, &sf, port, &refs);
    ok(reg, "REGISTER from behind NAT", &d);
    let regs = d.wait_registered(1);
    assert_eq!(regs[0]["source"], real.as_str(), "{regs:?}");
    assert!(
        regs[0]["contact"].as_str().unwrap().contains(PRIVATE),
        "{regs:?}"
    );

    // 2. Agent 2001 logs in from it by the phone code; the box hangs up
    // the confirmation with a BYE that must find the phone.
    let sf = behind_nat(
        &d,
        "uac.xml",
        &[("AFTER_INVITE", &uac_answered_then(&wait_bye()))],
    );
    let mut extra: Vec<String> = vec![d.addr()];
    extra.extend(["-s", "*712001*1234", "-key", "me", "1003"].map(String::from));
    extra.extend(hwtests::credentials("1003"));
    let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (login, _) = home_phone(&d, &sf, port, &refs);
    ok(login, "*71 from behind NAT", &d);
    let a = d.agent("2001");
    assert_eq!(
        (a["state"].as_str(), a["extension"].as_str()),
        (Some("ready"), Some("1003")),
        "{a}"
    );

    // 3. The phone waits for the queue's offer: rings, answers with its
    // private SDP, plays a tone from its real media port while echoing
    // what it hears, and waits for the BYE.
    let pcap = d.dir().join("agent-tone.pcap");
    hwtests::pcap::tone(&pcap, 1000.0, 6000);
    let tone = tone_payloads(&pcap);
    let behaviour = format!(
        "{}{}  <recv request=\"ACK\" crlf=\"true\"/>\n  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n{}",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        reply("200 OK", true, None, SDP_ANSWER).replacen("<send>", r#"<send retrans="500">"#, 1),
        pcap.display(),
        wait_bye()
    );
    let sf = behind_nat(&d, "uas.xml", &[("BEHAVIOUR", &behaviour)]);
    let (agent_phone, trace) = home_phone(&d, &sf, port, &["-rtp_echo", "-timeout", "60"]);
    hwtests::wait_bound(port, Duration::from_secs(10));

    // The caller, the test's own phone: calls the DID, is put in the
    // queue, and talks (20 ms packets) for 5 s while counting what it hears.
    let mut caller = StreamPhone::tcp(&d, "1001");
    caller.register();
    let mut dialog = caller.call("170");
    let calls = d.query("calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let uuid = calls[0]["uuid"].as_str().unwrap().to_string();
    // The offer reached the phone at its real port, and it answered.
    assert!(
        hwtests::poll_until(Duration::from_secs(10), || answered_by(&d, &uuid).is_some()),
        "the queue's offer never reached the phone at {real}\n{}",
        d.log()
    );
    let relay = SocketAddr::from(([127, 0, 0, 1], calls[0]["a_port"].as_u64().unwrap() as u16));
    let media: &UdpSocket = &caller.media;
    let mut heard = Heard::default();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    for seq in 0..250u16 {
        media.send_to(&caller_rtp(seq), relay).unwrap();
        let next = start + Duration::from_millis(20) * (u32::from(seq) + 1);
        while let Some(left) = next
            .checked_duration_since(Instant::now())
            .filter(|l| !l.is_zero())
        {
            media.set_read_timeout(Some(left)).unwrap();
            let Ok((n, _)) = media.recv_from(&mut buf) else {
                continue;
            };
            let payload = buf.get(12..n).unwrap_or_default();
            if payload.len() == 160 && payload.iter().all(|b| *b == CALLER_BYTE) {
                heard.echoed += 1;
            } else if tone.iter().any(|t| t == payload) {
                heard.tone += 1;
            } else {
                heard.other += 1;
            }
        }
    }

    // 4. The caller hangs up; the box's BYE to the agent must reach the
    // phone's real port for its scenario to end.
    let resp = caller.request(&mut dialog, "BYE", "", "");
    assert_eq!(resp.status(), Some(200), "{resp:?}");
    ok(agent_phone, "the agent's phone behind NAT", &d);
    // The phone, listening only on its real port, received the offer and
    // the BYE, both addressed to the Contact it registered: the box sent
    // them where the phone's packets came from, not where they said.
    let received = received_requests(&trace);
    for line in [
        format!("INVITE sip:1003@{PRIVATE}:{PRIVATE_SIP} SIP/2.0"),
        format!("ACK sip:{PRIVATE}:{PRIVATE_SIP} SIP/2.0"),
        format!("BYE sip:{PRIVATE}:{PRIVATE_SIP} SIP/2.0"),
    ] {
        assert!(received.contains(&line), "{line} not in {received:?}");
    }

    // The phone's tone reached the caller: the relay followed the phone's
    // real source, not the private address of its SDP...
    let media = d.media_counts(&uuid);
    assert!(heard.tone > 150, "{heard:?} {media:?}\n{}", d.log());
    // ... and the caller's audio reached the phone, which echoed it: the
    // box sent the caller's packets to the phone's real port (a send to
    // the private address fails, and is not counted).
    assert!(heard.echoed > 150, "{heard:?} {media:?}\n{}", d.log());
    assert!(media["rtp_to_callee"] > 150, "{media:?}");

    // The call is recorded as answered, hung up by the caller's BYE, and
    // journalled and recorded under agent 2001 and the queue.
    let ended = d.ended_calls(1);
    let c = ended.iter().find(|c| c["uuid"] == uuid.as_str()).unwrap();
    assert_eq!(
        (c["disposition"].as_str(), c["hangup_by"].as_str()),
        (Some("answered"), Some("caller")),
        "{c}"
    );
    assert_eq!(answered_by(&d, &uuid).as_deref(), Some("2001"));
    let recs = d.json_lines(&["recordings", "--json"]);
    let rec = recs.iter().find(|r| r["call_uuid"] == uuid.as_str());
    assert_eq!(
        rec.map(|r| (r["agent"].as_str(), r["service"].as_str())),
        Some((Some("2001"), Some("pengaduan"))),
        "{recs:?}"
    );
}
