//! The gateway core in virtual time (TRK-1, issue 14): the carrier is the
//! isdn crate's network side, exchanging encoded Q.931 messages with the
//! gateway; pbxd is played with SIP messages built and parsed by the sip
//! crate. No sockets, no clock: the test moves time.
// The helpers outside #[test] functions fail the test on a broken set-up;
// clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dering_config::{Hunting, SpanConfig, SpanDevice, SpanSide, Trunkd};
use dering_isdn::q931::{
    self, CallControl, CallId, Cause, ChannelId, ChannelSel, PartyNumber, SetupRequest, Side,
    Timers, TypeOfNumber,
};
use dering_sip::Message;
mod pbx_side;

use pbx_side::{answer, in_dialog, sdp, PBX, PBX_RTP};
use trunkd::gateway::{Gateway, Output};
use trunkd::hunt::ChannelState;

fn pbx() -> SocketAddr {
    PBX.parse().unwrap()
}

/// The gateway, the carrier's network side, and what reached pbxd.
struct World {
    gw: Gateway,
    net: CallControl,
    now: Instant,
    /// SIP messages from the gateway not looked at yet.
    sip: Vec<Message>,
    media: Vec<Output>,
    net_events: Vec<q931::Event>,
    /// When false, the carrier hears nothing (a dead D-channel).
    carrier_hears: bool,
    /// Calls pbxd placed, for their Call-IDs and branches.
    placed: u32,
}

fn span_config() -> SpanConfig {
    SpanConfig {
        name: "telkom".into(),
        span: 1,
        device: SpanDevice::Dahdi,
        side: SpanSide::User,
        channels: dering_config::parse_channels("1-15,17-31").unwrap(),
        hunting: Hunting::Descending,
        digit_timeout_ms: 4000,
        max_calls: 30,
        country_code: "62".into(),
    }
}

fn trunkd_config() -> Trunkd {
    Trunkd {
        sip: "127.0.0.1:5090".parse().unwrap(),
        pbx: pbx(),
        rtp_port_min: 40000,
        spans: vec![span_config()],
        lines: Vec::new(),
    }
}

impl World {
    fn new() -> World {
        World::new_with(span_config())
    }

    fn new_with(span: SpanConfig) -> World {
        let cfg = Trunkd {
            spans: vec![span],
            ..trunkd_config()
        };
        let now = Instant::now();
        let mut w = World {
            gw: Gateway::new(&cfg, Timers::default(), 7),
            net: CallControl::new(Side::Network, Timers::default()),
            now,
            sip: Vec::new(),
            media: Vec::new(),
            net_events: Vec::new(),
            carrier_hears: true,
            placed: 0,
        };
        w.gw.link_up(now, 0);
        w.settle();
        assert!(
            w.net_events
                .contains(&q931::Event::Restarted { channel: None }),
            "RESTART at start: {:?}",
            w.net_events
        );
        assert_eq!(w.gw.channel_state(0, 1), Some(ChannelState::Idle));
        w.net_events.clear();
        w
    }

    /// Carries messages both ways until nothing moves.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(o) = self.gw.poll_output() {
                moved = true;
                match o {
                    Output::Q931 { message, .. } => {
                        if self.carrier_hears {
                            self.net.handle_bytes(self.now, &message.encode());
                        }
                    }
                    Output::Sip { to, data } => {
                        assert_eq!(to, pbx());
                        self.sip.push(Message::parse_datagram(&data).unwrap());
                    }
                    m => self.media.push(m),
                }
            }
            while let Some(m) = self.net.poll_message() {
                moved = true;
                self.gw.handle_q931(self.now, 0, &m.encode());
            }
            while let Some(e) = self.net.poll_event() {
                moved = true;
                self.net_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Moves virtual time on by `d`, firing every timer due on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.gw.poll_timeout(), self.net.next_deadline()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            self.gw.handle_timeout(self.now);
            self.net.handle_timeout(self.now);
            self.settle();
        }
        self.now = end;
    }

    fn pbx_sends(&mut self, data: &[u8]) {
        self.gw.handle_sip(self.now, pbx(), data);
        self.settle();
    }

    /// The one SIP message of `kind` (a method or a status) received
    /// since the last look, the others dropped.
    fn take_sip(&mut self, kind: &str) -> Message {
        let all = std::mem::take(&mut self.sip);
        let found = all
            .iter()
            .find(|m| match m.status() {
                Some(code) => code.to_string() == kind,
                None => m.method().is_some_and(|x| x.as_str() == kind),
            })
            .cloned();
        found.unwrap_or_else(|| panic!("no {kind} to pbxd in {all:#?}"))
    }

    fn net_event(&self, want: impl Fn(&q931::Event) -> bool) -> Option<q931::Event> {
        self.net_events.iter().find(|e| want(e)).cloned()
    }

    /// The carrier offers a call to 137 from a national number on
    /// timeslot 1, en bloc.
    fn carrier_calls(&mut self) -> (CallId, Message) {
        let call = self
            .net
            .setup(
                self.now,
                SetupRequest {
                    called: PartyNumber::e164(TypeOfNumber::Unknown, "137"),
                    calling: Some(PartyNumber::e164(TypeOfNumber::National, "215550123")),
                    channel: ChannelId {
                        exclusive: true,
                        channel: ChannelSel::BChannel(1),
                    },
                    sending_complete: true,
                },
            )
            .unwrap();
        self.settle();
        (call, self.take_sip("INVITE"))
    }

    /// pbxd calls out through trunkd.
    fn pbx_calls(&mut self, number: &str) -> Vec<u8> {
        self.placed += 1;
        let n = self.placed;
        let invite = format!(
            "INVITE sip:{number}@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP {PBX};branch=z9hG4bKout{n}\r\nFrom: <sip:1001@dering>;tag=p{n}\r\nTo: <sip:{number}@127.0.0.1:5090>\r\nCall-ID: out-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:pbx@{PBX}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            len = sdp().len(),
            sdp = sdp()
        )
        .into_bytes();
        self.pbx_sends(&invite);
        invite
    }
}

fn reason_of(m: &Message) -> Option<&str> {
    m.get("Reason")
}

#[test]
fn inbound_setup_becomes_invite_and_its_200_a_connect() {
    let mut w = World::new();
    let (call, invite) = w.carrier_calls();
    assert!(w
        .net_event(|e| matches!(
            e,
            q931::Event::Proceeding {
                channel: Some(1),
                ..
            }
        ))
        .is_some());
    assert_eq!(invite.request_uri(), Some("sip:137@127.0.0.1:5060"));
    assert!(invite.get("From").unwrap().contains("sip:+62215550123@"));
    assert_eq!(
        invite.get("X-Dering-Channel"),
        Some("span=telkom;channel=1")
    );
    let offer = String::from_utf8_lossy(&invite.body).into_owned();
    assert!(offer.contains("m=audio 40000 RTP/AVP 8"), "{offer}");
    assert_eq!(w.gw.channel_state(0, 1), Some(ChannelState::InUse));

    w.pbx_sends(&answer(&invite, 180));
    assert!(w
        .net_event(|e| *e == q931::Event::Alerting { call })
        .is_some());
    w.pbx_sends(&answer(&invite, 200));
    let ack = w.take_sip("ACK");
    assert_eq!(ack.call_id(), invite.call_id());
    assert!(w
        .net_event(|e| *e == q931::Event::Connected { call })
        .is_some());
    assert_eq!(
        w.media,
        [Output::MediaStart {
            span: 0,
            channel: 1,
            port: 40000,
            remote: PBX_RTP.parse().unwrap()
        }]
    );

    // The caller hangs up: DISCONNECT from the carrier, BYE to pbxd.
    w.net
        .disconnect(w.now, call, Cause::NormalClearing)
        .unwrap();
    w.settle();
    let bye = w.take_sip("BYE");
    assert_eq!(reason_of(&bye), Some("Q.850;cause=16"));
    assert_eq!(
        w.media[1],
        Output::MediaStop {
            span: 0,
            channel: 1
        }
    );
    w.pbx_sends(&answer(&bye, 200));
    assert!(w
        .net_event(|e| matches!(e, q931::Event::Released { call: c, .. } if *c == call))
        .is_some());
    assert_eq!(w.gw.channel_state(0, 1), Some(ChannelState::Idle));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn outbound_invite_becomes_setup_on_a_hunted_channel_and_connect_a_200() {
    let mut w = World::new();
    w.pbx_calls("+62215550123");
    w.take_sip("100");
    let Some(q931::Event::IncomingCall {
        call,
        called,
        calling,
        channel,
        sending_complete,
        ..
    }) = w.net_event(|e| matches!(e, q931::Event::IncomingCall { .. }))
    else {
        panic!("no SETUP: {:?}", w.net_events)
    };
    // Descending hunting: the highest timeslot.
    assert_eq!(
        channel,
        Some(ChannelId {
            exclusive: false,
            channel: ChannelSel::BChannel(31)
        })
    );
    assert_eq!(
        called,
        Some(PartyNumber::e164(TypeOfNumber::National, "215550123"))
    );
    assert_eq!(calling.map(|c| c.digits), Some("1001".into()));
    assert!(sending_complete);
    assert_eq!(w.gw.channel_state(0, 31), Some(ChannelState::InUse));

    w.net.proceeding(w.now, call, Some(31)).unwrap();
    w.net.alerting(w.now, call).unwrap();
    w.settle();
    let ringing = w.take_sip("180");
    w.net.connect(w.now, call).unwrap();
    w.settle();
    let ok = w.take_sip("200");
    // pbxd's record names the span and channel the call took.
    for m in [&ringing, &ok] {
        assert_eq!(m.get("X-Dering-Channel"), Some("span=telkom;channel=31"));
    }
    let body = String::from_utf8_lossy(&ok.body).into_owned();
    // Timeslot 31 is the 30th channel: port 40000 + 2 × 29.
    assert!(body.contains("m=audio 40058 RTP/AVP 8"), "{body}");
    assert!(w.media.contains(&Output::MediaStart {
        span: 0,
        channel: 31,
        port: 40058,
        remote: PBX_RTP.parse().unwrap()
    }));

    // pbxd's caller hangs up with a cause of its own.
    w.pbx_sends(&in_dialog("BYE", &ok, 2, Some("Q.850;cause=16")));
    w.take_sip("200");
    assert!(w
        .net_event(|e| *e
            == q931::Event::Disconnected {
                call,
                cause: Cause::NormalClearing
            })
        .is_some());
    assert_eq!(w.gw.channel_state(0, 31), Some(ChannelState::Idle));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn clearing_causes_map_both_ways_as_rfc_3398_says() {
    // pbxd busy → DISCONNECT with cause 17 to the carrier.
    let mut w = World::new();
    let (call, invite) = w.carrier_calls();
    w.pbx_sends(&answer(&invite, 486));
    assert!(w
        .net_event(|e| *e
            == q931::Event::Disconnected {
                call,
                cause: Cause::UserBusy
            })
        .is_some());
    assert_eq!(w.gw.calls(), 0);
    assert_eq!(w.gw.channel_state(0, 1), Some(ChannelState::Idle));

    // The carrier's number is busy → 486 to pbxd, with the cause.
    let mut w = World::new();
    w.pbx_calls("0215550123");
    let Some(q931::Event::IncomingCall { call, .. }) =
        w.net_event(|e| matches!(e, q931::Event::IncomingCall { .. }))
    else {
        panic!("no SETUP")
    };
    w.net.disconnect(w.now, call, Cause::UserBusy).unwrap();
    w.settle();
    let busy = w.take_sip("486");
    assert_eq!(reason_of(&busy), Some("Q.850;cause=17"));

    // An unallocated number → 404; no answer at all to the SETUP (T303
    // twice) → cause 102 → 504.
    let mut w = World::new();
    w.pbx_calls("0219999");
    let Some(q931::Event::IncomingCall { call, .. }) =
        w.net_event(|e| matches!(e, q931::Event::IncomingCall { .. }))
    else {
        panic!("no SETUP")
    };
    w.net
        .disconnect(w.now, call, Cause::UnallocatedNumber)
        .unwrap();
    w.settle();
    w.take_sip("404");

    let mut w = World::new();
    w.carrier_hears = false;
    w.pbx_calls("0219999");
    w.advance(Duration::from_secs(7));
    assert!(w.sip.iter().all(|m| m.status() != Some(504)), "too early");
    w.advance(Duration::from_secs(2));
    let timeout = w.take_sip("504");
    assert_eq!(reason_of(&timeout), Some("Q.850;cause=102"));
    assert_eq!(w.gw.calls(), 0);
}

#[test]
fn a_red_span_releases_its_calls_with_cause_38_and_restarts_when_mended() {
    let mut w = World::new();
    let (_, invite) = w.carrier_calls();
    w.pbx_sends(&answer(&invite, 200));
    w.take_sip("ACK");
    // A second call, from pbxd, not answered yet.
    w.pbx_calls("0215550123");
    w.sip.clear();

    w.carrier_hears = false;
    w.gw.span_alarm(w.now, 0, true);
    w.settle();
    let all = std::mem::take(&mut w.sip);
    let bye = all
        .iter()
        .find(|m| m.method().is_some_and(|x| x.as_str() == "BYE"));
    assert_eq!(bye.and_then(reason_of), Some("Q.850;cause=38"), "{all:#?}");
    let refused = all.iter().find(|m| m.status() == Some(503));
    assert_eq!(
        refused.and_then(reason_of),
        Some("Q.850;cause=38"),
        "{all:#?}"
    );
    assert!(w.media.contains(&Output::MediaStop {
        span: 0,
        channel: 1
    }));
    assert_eq!(w.gw.calls(), 0);
    assert_eq!(w.gw.channel_state(0, 1), Some(ChannelState::Blocked));

    // Nothing can go out on a span in alarm.
    w.pbx_calls("0215550123");
    let none = w.take_sip("503");
    assert_eq!(reason_of(&none), Some("Q.850;cause=34"));

    // Mended: the interface is restarted, the channels idle again.
    w.carrier_hears = true;
    w.net_events.clear();
    w.gw.span_alarm(w.now, 0, false);
    w.settle();
    assert!(w
        .net_event(|e| *e == q931::Event::Restarted { channel: None })
        .is_some());
    assert_eq!(w.gw.channel_state(0, 1), Some(ChannelState::Idle));
}

#[test]
fn overlap_digits_are_offered_en_bloc_after_the_digit_timeout() {
    let mut w = World::new();
    let call = w
        .net
        .setup(
            w.now,
            SetupRequest {
                called: PartyNumber::e164(TypeOfNumber::Unknown, "1"),
                calling: None,
                channel: ChannelId {
                    exclusive: true,
                    channel: ChannelSel::BChannel(5),
                },
                sending_complete: false,
            },
        )
        .unwrap();
    w.settle();
    assert!(w
        .net_event(|e| matches!(
            e,
            q931::Event::SetupAcknowledged {
                channel: Some(5),
                ..
            }
        ))
        .is_some());
    w.net
        .information(
            w.now,
            call,
            PartyNumber::e164(TypeOfNumber::Unknown, "37"),
            false,
        )
        .unwrap();
    w.settle();
    w.advance(Duration::from_millis(3900));
    assert!(w.sip.is_empty(), "offered before the timeout: {:?}", w.sip);
    w.advance(Duration::from_millis(200));
    let invite = w.take_sip("INVITE");
    assert_eq!(invite.request_uri(), Some("sip:137@127.0.0.1:5060"));
    assert!(invite.get("From").unwrap().contains("anonymous"));
    assert!(w
        .net_event(|e| matches!(e, q931::Event::Proceeding { .. }))
        .is_some());
}

#[test]
fn a_restart_lost_with_a_reset_link_is_sent_again_on_the_new_link() {
    let mut gw = Gateway::new(&trunkd_config(), Timers::default(), 7);
    let now = Instant::now();
    let restarts = |gw: &mut Gateway| {
        std::iter::from_fn(|| gw.poll_output())
            .filter(|o| {
                matches!(o, Output::Q931 { message, .. }
                    if message.msg_type == q931::MessageType::Restart)
            })
            .count()
    };
    gw.link_up(now, 0);
    assert_eq!(restarts(&mut gw), 1);
    assert_eq!(gw.channel_state(0, 1), Some(ChannelState::Restarting));
    // The carrier's SABME resets the link before its RESTART ACK: the
    // RESTART may be lost with the old link's frames.
    gw.link_up(now + Duration::from_secs(1), 0);
    assert_eq!(restarts(&mut gw), 1, "RESTART not sent again");
}

#[test]
fn calls_beyond_the_span_limit_or_on_a_busy_exclusive_channel_are_refused() {
    let mut w = World::new();
    let (_, _invite) = w.carrier_calls();
    // Timeslot 1 is taken: the carrier insists on it (cause 44), then
    // leaves the choice to us and gets another one.
    let setup = |w: &mut World, exclusive: bool| {
        w.net
            .setup(
                w.now,
                SetupRequest {
                    called: PartyNumber::e164(TypeOfNumber::Unknown, "137"),
                    calling: None,
                    channel: ChannelId {
                        exclusive,
                        channel: ChannelSel::BChannel(1),
                    },
                    sending_complete: true,
                },
            )
            .unwrap()
    };
    let busy = setup(&mut w, true);
    w.settle();
    assert!(w
        .net_event(|e| matches!(e, q931::Event::Released { call, cause: Cause::RequestedChannelNotAvailable, .. } if *call == busy))
        .is_some(), "{:?}", w.net_events);
    let moved = setup(&mut w, false);
    w.settle();
    assert!(
        w.net_event(
            |e| matches!(e, q931::Event::Proceeding { call, channel: Some(31) } if *call == moved)
        )
        .is_some(),
        "{:?}",
        w.net_events
    );

    // A span limited to two calls refuses the third with cause 34.
    let third = setup(&mut w, false);
    let mut limited = World::new_with(SpanConfig {
        max_calls: 2,
        ..span_config()
    });
    let (_, _) = limited.carrier_calls();
    let second = setup(&mut limited, false);
    limited.settle();
    assert!(limited
        .net_event(|e| matches!(e, q931::Event::Proceeding { call, .. } if *call == second))
        .is_some());
    let over = setup(&mut limited, false);
    limited.settle();
    assert!(limited
        .net_event(|e| matches!(e, q931::Event::Released { call, cause: Cause::NoCircuitAvailable, .. } if *call == over))
        .is_some(), "{:?}", limited.net_events);
    // Thirty channels and no limit below them: the third call on the
    // first span is taken.
    w.settle();
    assert!(w
        .net_event(|e| matches!(e, q931::Event::Proceeding { call, .. } if *call == third))
        .is_some());
}

#[test]
fn the_carriers_in_band_progress_becomes_183_with_sdp_and_early_audio() {
    let mut w = World::new();
    w.pbx_calls("0215550123");
    let Some(q931::Event::IncomingCall { call, .. }) =
        w.net_event(|e| matches!(e, q931::Event::IncomingCall { .. }))
    else {
        panic!("no SETUP")
    };
    w.net.proceeding(w.now, call, Some(31)).unwrap();
    w.settle();
    w.sip.clear();
    // The carrier plays its own tones (e.g. "number not in service"):
    // PROGRESS with "in-band information now available" (8). The
    // network side's machine has no request for it, so it is written.
    let progress = q931::Message {
        call_ref: q931::CallRef {
            value: call.value,
            flag: true,
        },
        msg_type: q931::MessageType::Progress,
        ies: vec![q931::Ie::Progress(q931::Progress {
            location: 2,
            description: 8,
        })],
    };
    w.gw.handle_q931(w.now, 0, &progress.encode());
    w.settle();
    let early = w.take_sip("183");
    let body = String::from_utf8_lossy(&early.body).into_owned();
    assert!(body.contains("m=audio 40058 RTP/AVP 8"), "{body}");
    assert!(w.media.contains(&Output::MediaStart {
        span: 0,
        channel: 31,
        port: 40058,
        remote: PBX_RTP.parse().unwrap()
    }));
}
