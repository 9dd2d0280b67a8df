//! pbxd's side of the gateway: SIP requests from pbxd turned into Q.931
//! requests on a span, responses to pbxd's INVITEs, our own INVITE's
//! responses, the clearing of a call's SIP side, and the media start and
//! stop that follow.

use std::net::SocketAddr;
use std::time::Instant;

use dering_isdn::q931::{q850_to_sip, sip_to_q850, Cause, ChannelId, ChannelSel, SetupRequest};
use dering_sip::build::{self, RequestSpec};
use dering_sip::dialog::{Dialog, Local};
use dering_sip::sdp::AudioSdp;
use dering_sip::transaction::{Peer, Transport, TxEvent};
use dering_sip::{Message as SipMessage, Method};

use super::{reason, reason_cause, Call, Gateway, Key, Leg, Output};
use crate::hunt::ChannelState;
use crate::numbers::{from_sip_user, user_of};

impl Gateway {
    pub(super) fn on_request(&mut self, now: Instant, peer: Peer, key: String, msg: SipMessage) {
        let method = msg.method().cloned();
        match method {
            Some(Method::Invite) => {
                let in_dialog = self.find_by_call_id(&msg).is_some();
                if in_dialog {
                    self.reinvite(now, &key, &msg);
                } else {
                    self.outgoing(now, peer, key, msg);
                }
            }
            Some(Method::Cancel) => self.cancel(now, &key, &msg),
            Some(Method::Bye) => self.bye(now, &key, &msg),
            Some(Method::Options) => self.reply(now, &key, &msg, 200, vec![]),
            _ => self.reply(now, &key, &msg, 501, vec![]),
        }
    }

    /// A response with no dialog of ours behind it.
    pub(super) fn reply(
        &mut self,
        now: Instant,
        key: &str,
        msg: &SipMessage,
        code: u16,
        extra: Vec<rsip::Header>,
    ) {
        let data = build::response(msg, code, Some(&self.me.fresh()), extra, b"");
        self.tx.respond(now, key, code, data);
    }

    pub(super) fn find_by_call_id(&self, msg: &SipMessage) -> Option<Key> {
        let cid = msg.call_id()?;
        self.calls
            .iter()
            .find(|(_, c)| match &c.leg {
                Some(Leg::Uac { dialog, .. } | Leg::Uas { dialog, .. }) => dialog.call_id == cid,
                None => false,
            })
            .map(|(id, _)| *id)
    }

    /// An INVITE from pbxd: a SETUP on a hunted channel of the first span
    /// that is up, out of alarm and below its limit, else a free line of
    /// the first line group that has one. A Request-URI naming a trunk
    /// group (RFC 4904 `tgrp`) takes that span or line group alone.
    pub(super) fn outgoing(&mut self, now: Instant, peer: Peer, key: String, msg: SipMessage) {
        let offer = AudioSdp::parse(&msg.body)
            .ok()
            .filter(|s| s.formats.iter().any(|f| f.name == "PCMA") && s.addr_port().is_ok());
        let Some(remote) = offer.and_then(|s| s.addr_port().ok()) else {
            let extra = vec![build::header("Warning", "399 trunkd \"PCMA only\"")];
            return self.reply(now, &key, &msg, 488, extra);
        };
        let user = msg.request_uri().map(request_user).unwrap_or_default();
        let tgrp = msg.request_uri().and_then(trunk_group).map(str::to_owned);
        let group = tgrp
            .as_deref()
            .and_then(|t| self.groups.iter().position(|g| g.name == t));
        if group.is_some() {
            return self.outgoing_line(now, peer, key, msg, remote, &user, group);
        }
        let place = self.spans.iter_mut().enumerate().find_map(|(i, s)| {
            if s.alarm || !s.link_up || tgrp.as_ref().is_some_and(|t| *t != s.cfg.name) {
                return None;
            }
            s.channels.hunt().map(|ts| (i, ts))
        });
        let Some((span, ts)) = place else {
            if tgrp.is_none() && !self.groups.is_empty() {
                return self.outgoing_line(now, peer, key, msg, remote, &user, None);
            }
            return self.refuse(now, &key, &msg, Cause::NoCircuitAvailable);
        };
        let cc_code = self.spans[span].cfg.country_code.clone();
        let Some(called) = from_sip_user(&user, &cc_code) else {
            self.spans[span].channels.set(Some(ts), ChannelState::Idle);
            return self.refuse(now, &key, &msg, Cause::InvalidNumberFormat);
        };
        let calling = msg
            .get("From")
            .and_then(user_of)
            .and_then(|u| from_sip_user(u, &cc_code));
        let req = SetupRequest {
            called,
            calling,
            channel: ChannelId {
                exclusive: false,
                channel: ChannelSel::BChannel(ts),
            },
            sending_complete: true,
        };
        let call = match self.spans[span].cc.setup(now, req) {
            Ok(call) => call,
            Err(e) => {
                tracing::warn!(%e, "SETUP not sent");
                self.spans[span].channels.set(Some(ts), ChannelState::Idle);
                return self.refuse(now, &key, &msg, Cause::TemporaryFailure);
            }
        };
        let dialog = Dialog::from_invite(&msg, peer, self.me.fresh());
        let data = build::response(&msg, 100, None, vec![], b"");
        self.tx.respond(now, &key, 100, data);
        self.calls.insert(
            Key::Span(span, call),
            Call {
                channel: Some(ts),
                leg: Some(Leg::Uas {
                    dialog,
                    invite: msg,
                    key,
                    remote,
                    done: false,
                    answered: false,
                }),
                called: String::new(),
                calling: None,
                digits_due: None,
                sip_ended: false,
                media: false,
            },
        );
    }

    /// A final failure to an INVITE of pbxd's, with the cause's code.
    pub(super) fn refuse(&mut self, now: Instant, key: &str, msg: &SipMessage, cause: Cause) {
        let code = q850_to_sip(cause);
        self.reply(now, key, msg, code, vec![reason(cause)]);
    }

    /// A re-INVITE (hold, a new media address): answered with the same
    /// SDP, the audio sent to the new address.
    pub(super) fn reinvite(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        let Some(id) = self.find_by_call_id(msg) else {
            return;
        };
        let remote = AudioSdp::parse(&msg.body)
            .ok()
            .and_then(|s| s.addr_port().ok());
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let (dialog, stored_remote) = match &mut c.leg {
            Some(Leg::Uac { dialog, .. }) => (dialog, None),
            Some(Leg::Uas { dialog, remote, .. }) => (dialog, Some(remote)),
            None => return,
        };
        if let Err(e) = dialog.check_request(msg) {
            let code = e.status();
            self.reply(now, key, msg, code, vec![]);
            return;
        }
        dialog.refresh_target(msg);
        let tag = dialog.local_tag().unwrap_or_default();
        if let (Some(r), Some(slot)) = (remote, stored_remote) {
            *slot = r;
        }
        let media = c.media;
        let sdp = self.sdp(id);
        let extra = vec![
            build::header("Contact", self.me.contact(Transport::Udp)),
            build::header("Content-Type", "application/sdp"),
        ];
        let data = build::response(msg, 200, Some(&tag), extra, &sdp);
        self.tx.respond(now, key, 200, data);
        if let (Some(r), true) = (remote, media) {
            self.media_start(id, r);
        }
    }

    pub(super) fn cancel(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        let found = self.find_by_call_id(msg);
        self.reply(
            now,
            key,
            msg,
            if found.is_some() { 200 } else { 481 },
            vec![],
        );
        let Some(id) = found else { return };
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(Leg::Uas {
            invite,
            key,
            dialog,
            done: done @ false,
            ..
        }) = &mut c.leg
        {
            *done = true;
            c.sip_ended = true;
            let tag = dialog.local_tag().unwrap_or_default();
            let data = build::response(invite, 487, Some(&tag), vec![], b"");
            let key = key.clone();
            self.tx.respond(now, &key, 487, data);
            self.carrier_clear(now, id, Cause::NormalClearing);
        }
    }

    pub(super) fn bye(&mut self, now: Instant, key: &str, msg: &SipMessage) {
        let Some(id) = self.find_by_call_id(msg) else {
            return self.reply(now, key, msg, 481, vec![]);
        };
        self.reply(now, key, msg, 200, vec![]);
        let cause = reason_cause(msg).unwrap_or(Cause::NormalClearing);
        if let Some(c) = self.calls.get_mut(&id) {
            c.sip_ended = true;
        }
        self.media_stop(id);
        self.carrier_clear(now, id, cause);
    }

    /// 180 or 183 to pbxd for a call to the carrier; 183 carries our SDP
    /// and starts the audio (the carrier's tones).
    pub(super) fn respond_progress(&mut self, now: Instant, id: Key, code: u16) {
        let Some(c) = self.calls.get(&id) else { return };
        let Some(Leg::Uas {
            dialog,
            invite,
            key,
            remote,
            done: false,
            ..
        }) = &c.leg
        else {
            return;
        };
        let remote = *remote;
        let tag = dialog.local_tag().unwrap_or_default();
        let mut extra = vec![build::header("Contact", self.me.contact(Transport::Udp))];
        extra.extend(self.channel_header(id));
        let body = if code == 183 {
            extra.push(build::header("Content-Type", "application/sdp"));
            self.sdp(id)
        } else {
            Vec::new()
        };
        let data = build::response(invite, code, Some(&tag), extra, &body);
        let key = key.clone();
        self.tx.respond(now, &key, code, data);
        if code == 183 {
            self.media_start(id, remote);
        }
    }

    /// CONNECT from the carrier: 200 with our SDP to pbxd.
    pub(super) fn answered_by_carrier(&mut self, now: Instant, id: Key) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(Leg::Uas {
            dialog,
            invite,
            key,
            remote,
            done,
            answered,
        }) = &mut c.leg
        else {
            return;
        };
        if *done {
            return;
        }
        *done = true;
        *answered = true;
        let remote = *remote;
        let tag = dialog.local_tag().unwrap_or_default();
        let invite = invite.clone();
        let key = key.clone();
        let mut extra = vec![
            build::header("Contact", self.me.contact(Transport::Udp)),
            build::header("Content-Type", "application/sdp"),
        ];
        extra.extend(self.channel_header(id));
        let sdp = self.sdp(id);
        let data = build::response(&invite, 200, Some(&tag), extra, &sdp);
        self.tx.respond(now, &key, 200, data);
        self.media_start(id, remote);
    }

    /// A response to one of our client transactions.
    pub(super) fn on_tx(&mut self, now: Instant, e: TxEvent) {
        let (key, msg) = match e {
            TxEvent::Response { key, msg } => (key, Some(msg)),
            TxEvent::Timeout { key } => (key, None),
            TxEvent::NoAck { key } => {
                // Our 200 to pbxd was never acknowledged: the call is
                // over on both sides.
                if let Some(id) = self.find_uas(&key) {
                    self.end_sip(now, id, Cause::RecoveryOnTimerExpiry);
                    self.carrier_clear(now, id, Cause::RecoveryOnTimerExpiry);
                }
                return;
            }
        };
        let Some(id) = self.find_uac(&key) else {
            return; // BYE, CANCEL: nothing waits for their answers
        };
        let code = msg.as_ref().and_then(SipMessage::status).unwrap_or(408);
        if code < 200 {
            if let Some(m) = &msg {
                self.provisional(now, id, code, m);
            }
            return;
        }
        if code < 300 {
            if let Some(m) = msg {
                self.answered_by_pbx(now, id, &m);
            }
            return;
        }
        let cause = msg
            .as_ref()
            .and_then(reason_cause)
            .unwrap_or_else(|| sip_to_q850(code));
        let mut clear = false;
        if let Some(c) = self.calls.get_mut(&id) {
            if let Some(Leg::Uac { done, .. }) = &mut c.leg {
                *done = true;
            }
            clear = !c.sip_ended;
            c.sip_ended = true;
        }
        self.media_stop(id);
        if clear {
            self.carrier_clear(now, id, cause);
        }
    }

    pub(super) fn find_uac(&self, k: &str) -> Option<Key> {
        self.calls
            .iter()
            .find(|(_, c)| matches!(&c.leg, Some(Leg::Uac { key, .. }) if key == k))
            .map(|(id, _)| *id)
    }

    pub(super) fn find_uas(&self, k: &str) -> Option<Key> {
        self.calls
            .iter()
            .find(|(_, c)| matches!(&c.leg, Some(Leg::Uas { key, .. }) if key == k))
            .map(|(id, _)| *id)
    }

    /// 180 from pbxd: ALERTING to the carrier; 183 with SDP: the caller
    /// hears pbxd's announcement before the answer.
    pub(super) fn provisional(&mut self, now: Instant, id: Key, code: u16, m: &SipMessage) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(Leg::Uac { dialog, .. }) = &mut c.leg {
            dialog.learn(m);
        }
        if c.sip_ended || code == 100 {
            return;
        }
        let early = AudioSdp::parse(&m.body)
            .ok()
            .and_then(|s| s.addr_port().ok());
        if code == 180 || early.is_some() {
            self.carrier_alerting(now, id);
        }
        if let Some(r) = early {
            self.media_start(id, r);
        }
    }

    /// 200 from pbxd: ACK, audio, CONNECT (or BYE when the carrier's side
    /// is already gone: a 200 that crossed our CANCEL).
    pub(super) fn answered_by_pbx(&mut self, now: Instant, id: Key, m: &SipMessage) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(Leg::Uac {
            dialog,
            answered,
            done,
            ..
        }) = &mut c.leg
        else {
            return;
        };
        if let Ok(ack) = dialog.ack_2xx(&self.me, m) {
            self.out.push_back(Output::Sip {
                to: self.pbx.addr,
                data: ack,
            });
        }
        if *answered {
            return; // a retransmitted 2xx, ACKed again
        }
        *answered = true;
        *done = true;
        if c.sip_ended {
            self.send_bye(now, id, Cause::NormalClearing);
            return;
        }
        if let Some(r) = AudioSdp::parse(&m.body)
            .ok()
            .and_then(|s| s.addr_port().ok())
        {
            self.media_start(id, r);
        }
        self.carrier_connect(now, id);
    }

    /// Ends the SIP side of a call with `cause`, whatever its state: BYE
    /// after an answer, CANCEL or a final response before.
    pub(super) fn end_sip(&mut self, now: Instant, id: Key, cause: Cause) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.sip_ended {
            return;
        }
        c.sip_ended = true;
        c.digits_due = None;
        self.media_stop(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match &mut c.leg {
            None => {}
            Some(Leg::Uac { answered: true, .. } | Leg::Uas { answered: true, .. }) => {
                self.send_bye(now, id, cause)
            }
            Some(Leg::Uac {
                invite,
                done: false,
                ..
            }) => {
                let invite = invite.clone();
                self.send_cancel(now, &invite, cause);
            }
            Some(Leg::Uas {
                invite,
                key,
                dialog,
                done: done @ false,
                ..
            }) => {
                *done = true;
                let code = q850_to_sip(cause);
                let tag = dialog.local_tag().unwrap_or_default();
                let data = build::response(invite, code, Some(&tag), vec![reason(cause)], b"");
                let key = key.clone();
                self.tx.respond(now, &key, code, data);
            }
            Some(_) => {}
        }
    }

    pub(super) fn send_bye(&mut self, now: Instant, id: Key, cause: Cause) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let (Some(Leg::Uac { dialog, .. }) | Some(Leg::Uas { dialog, .. })) = &mut c.leg else {
            return;
        };
        dialog.next_cseq();
        let peer = dialog.peer;
        let sent = dialog
            .request_with(&self.me, rsip::Method::Bye, vec![reason(cause)], None, b"")
            .ok()
            .and_then(|data| Some((SipMessage::parse_datagram(&data).ok()?, data)));
        if let Some((req, data)) = sent {
            self.tx.send_request(now, peer, req, data);
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, invite: &SipMessage, cause: Cause) {
        let parts = (|| {
            Some((
                invite.request_uri()?,
                invite.get("Via")?,
                invite.get("From")?,
                invite.get("To")?,
                invite.call_id()?,
                invite.cseq().ok()?.0,
            ))
        })();
        let Some((uri, via, from, to, call_id, cseq)) = parts else {
            return;
        };
        let data = build::request(RequestSpec {
            method: rsip::Method::Cancel,
            uri,
            via: via.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            call_id,
            cseq,
            contact: None,
            extra: vec![reason(cause)],
            content_type: None,
            body: b"",
        });
        if let Some((req, data)) = data
            .ok()
            .and_then(|d| Some((SipMessage::parse_datagram(&d).ok()?, d)))
        {
            self.tx.send_request(now, self.pbx, req, data);
        }
    }

    pub(super) fn media_start(&mut self, id: Key, remote: SocketAddr) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match id {
            Key::Span(span, _) => {
                let Some(ts) = c.channel else { return };
                c.media = true;
                if let Some(port) = self.rtp_port(span, ts) {
                    self.out.push_back(Output::MediaStart {
                        span,
                        channel: ts,
                        port,
                        remote,
                    });
                }
            }
            Key::Line(line) => {
                c.media = true;
                if let Some(port) = self.call_rtp_port(id) {
                    self.out
                        .push_back(Output::LineMediaStart { line, port, remote });
                }
            }
        }
    }

    pub(super) fn media_stop(&mut self, id: Key) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if !c.media {
            return;
        }
        match (id, c.channel) {
            (Key::Span(span, _), Some(ts)) => {
                c.media = false;
                self.out.push_back(Output::MediaStop { span, channel: ts });
            }
            (Key::Line(line), _) => {
                c.media = false;
                self.out.push_back(Output::LineMediaStop { line });
            }
            (Key::Span(..), None) => {}
        }
    }

    /// Drops a call whose both sides are over.
    pub(super) fn forget(&mut self, id: Key) {
        self.media_stop(id);
        self.calls.remove(&id);
    }
}

/// The trunk group a Request-URI names (RFC 4904: `;tgrp=` in the user
/// part or among the URI's parameters).
fn trunk_group(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(";tgrp=")?;
    let end = rest.find([';', '@', '>', '?']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|g| !g.is_empty())
}

/// The number a Request-URI asks for: its user part, without the
/// parameters RFC 4904 puts there (`0812…;tgrp=lines@host`).
fn request_user(uri: &str) -> String {
    if let Some(u) = user_of(uri) {
        return u.to_owned();
    }
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .unwrap_or(uri);
    match rest.split_once('@') {
        Some((user, _)) => user.split(';').next().unwrap_or_default().to_owned(),
        None => String::new(),
    }
}
