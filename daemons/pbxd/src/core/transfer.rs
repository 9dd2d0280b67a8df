//! Transfers (TEL-2): a party of an answered call hands the other party
//! on.
//!
//! - **Blind**, by REFER (RFC 3515) or by typing the transfer code in the
//!   call (`##` + extension + `#`): the box calls the target itself on the
//!   transferor's side of the call; the party kept hears music meanwhile,
//!   and the transferor is let go at once. When the target answers, its
//!   leg takes the transferor's place on the same relay ports (so the
//!   recording goes on in the same file); when it does not, the party
//!   kept is hung up and the record says why.
//! - **Attended**, by REFER with `Replaces` (RFC 3891): the transferor has
//!   consulted the target in a second call. The box joins the party kept
//!   in the first call with the target of the second: the target is
//!   re-INVITEd onto the first call's port, the party kept is taken off
//!   hold, the transferor is hung up on both calls, and the second call
//!   ends as transferred.
//!
//! The box, a B2BUA, never passes the REFER on: it accepts it (202),
//! carries it out, and reports with one final NOTIFY (a `message/sipfrag`
//! status line, RFC 3515 §2.4.5).

use dering_media::codec::Codec;
use dering_sip::nameaddr::NameAddr;
use dering_sip::sdp::{AudioSdp, Direction, Format};
use dering_sip::transaction::Transmit;
use dering_sip::uri::Uri;
use dering_sip::Message;
use dering_store::{Disposition, Op};

use super::media_to;
use super::{
    callee_offer, BLegSpec, CallState, ClientPurpose, Core, Dialog, Ending, Life, MediaCmd, Now,
    Output, Reply, Side,
};

/// A blind transfer under way: the target's leg is ringing.
#[derive(Debug)]
pub(super) struct Transfer {
    /// The side the target will take (the transferor's).
    side: Side,
    target: String,
    /// The extension that transferred.
    by: String,
    key: String,
    dialog: Dialog,
    /// The target's INVITE, to CANCEL it if the kept party leaves first.
    invite: Message,
    /// When the target has rung long enough (`[calls]
    /// no_answer_seconds`, as for any callee).
    no_answer_at: std::time::Instant,
}

/// The consulted party's leg of a consultation, taken to move it to
/// another call ([`Core::consulted_leg`]).
#[derive(Debug)]
pub(super) struct Consulted {
    pub(super) dialog: Dialog,
    pub(super) codec: Option<Codec>,
    pub(super) formats: Vec<Format>,
    /// The box's INVITE that set the leg up (`None` if the consulted
    /// party called in).
    pub(super) invite: Option<Message>,
    /// The consulted party's number, and the consulting party's.
    pub(super) number: String,
    pub(super) by_number: String,
    /// The SDP version last offered to the consulted party, so a moved
    /// leg's next offer is newer (RFC 3264 §8).
    pub(super) sdp_version: u64,
}

impl Transfer {
    /// The transferor's side (its BYE does not end the call).
    pub(super) fn side(&self) -> Side {
        self.side
    }
}

impl Core {
    /// A REFER in a call's dialog: a blind or an attended transfer.
    pub(super) fn on_refer(&mut self, now: Now, key: &str, req: &Message) {
        let Some((call, side)) = self.dialog_of(req) else {
            self.respond(now, key, req, 481, vec![]);
            return;
        };
        let Some(refer_to) = req
            .get("Refer-To")
            .and_then(|v| NameAddr::parse(v).ok())
            .map(|n| n.uri)
        else {
            self.respond(now, key, req, 400, vec![]);
            return;
        };
        let (uri, replaces) = match refer_to.split_once('?') {
            Some((u, headers)) => (u.to_string(), replaces_of(headers)),
            None => (refer_to.clone(), None),
        };
        let target = Uri::parse(&uri)
            .ok()
            .and_then(|u| u.user_unescaped())
            .unwrap_or_default();
        self.respond(now, key, req, 202, vec![]);
        let result = match replaces {
            Some(other_call_id) => self.attended_transfer(now, call, side, &other_call_id),
            None => self.blind_transfer(now, call, side, &target, true),
        };
        if let Err(e) = result {
            tracing::info!(call, %target, error = e, "transfer refused");
            let status = match e {
                "not reachable" => "SIP/2.0 480 Temporarily Unavailable",
                "no such extension" => "SIP/2.0 404 Not Found",
                "re-INVITE in progress" => "SIP/2.0 491 Request Pending",
                _ => "SIP/2.0 603 Declined",
            };
            self.notify_refer(now, call, side, status);
        }
    }

    /// The final NOTIFY of a REFER's implicit subscription.
    fn notify_refer(&mut self, now: Now, call: u64, side: Side, status: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let d = match side {
            Side::A => &mut c.a,
            Side::B => &mut c.b,
        };
        d.cseq += 1;
        let d = d.clone();
        let body = format!("{status}\r\n");
        self.send_notify(
            now,
            &d,
            ("refer", "terminated;reason=noresource"),
            "message/sipfrag;version=2.0",
            body.as_bytes(),
        );
    }

    /// Whether `ext` is an extension that can be rung now.
    fn transfer_target(&self, ext: &str) -> Result<(), &'static str> {
        if !self.users.contains_key(ext) {
            return Err("no such extension");
        }
        if self.bindings.route(ext).is_none() {
            return Err("not reachable");
        }
        Ok(())
    }

    /// The party on `by` hands the other party of `call` to `target`
    /// without consulting it; `refer`: it asked with a REFER, told of the
    /// outcome (before it is let go) in a NOTIFY.
    pub(super) fn blind_transfer(
        &mut self,
        now: Now,
        call: u64,
        by: Side,
        target: &str,
        refer: bool,
    ) -> Result<(), &'static str> {
        // An outside number goes through a trunk (see below).
        let outside = !self.users.contains_key(target);
        if !outside {
            self.transfer_target(target)?;
        }
        let Some(c) = self
            .calls
            .get(&call)
            .filter(|c| c.state() == CallState::Answered && c.a.is_live() && c.b.is_live())
        else {
            return Err("not an answered two-party call");
        };
        if c.transfer.is_some() || c.joins().is_some() {
            return Err("busy with another transfer");
        }
        // A re-INVITE passing through would be answered on the leg the
        // transfer replaces (see attended_transfer).
        if c.reinvite.is_some() {
            return Err("re-INVITE in progress");
        }
        let contact = match outside {
            true => None,
            false => Some(self.target(target).ok_or("not reachable")?),
        };
        let kept = by.other();
        let (kept_number, kept_name, kept_formats, kept_codec, port) = match kept {
            Side::A => (
                c.parties.caller.clone(),
                c.parties.caller_name.clone(),
                c.a.formats.clone(),
                c.a.codec,
                c.b.port,
            ),
            Side::B => (
                c.connected.clone().unwrap_or(c.parties.callee.clone()),
                c.parties.callee_name.clone(),
                c.b.formats.clone(),
                c.b.codec,
                c.a.port,
            ),
        };
        let by_number = match by {
            Side::A => c.parties.caller.clone(),
            Side::B => c.connected.clone().unwrap_or(c.parties.callee.clone()),
        };
        // What the kept party talks first, so no transcoding is needed if
        // the target takes it; then the rest.
        let offer = AudioSdp {
            addr: self.listen.ip,
            port: 0,
            formats: kept_formats.clone(),
            direction: Direction::SendRecv,
            ptime: c.offer.ptime,
        };
        let formats = callee_offer(&offer);
        let ptime = c.offer.ptime;
        let display = kept_name.unwrap_or_else(|| kept_number.clone());
        let invited = match contact {
            Some(contact) => self.invite_b(
                now,
                BLegSpec {
                    call,
                    caller: &kept_number,
                    display: &display,
                    callee: target,
                    target: &contact,
                    formats,
                    direction: Direction::SendRecv,
                    ptime,
                    b_port: port,
                    extra: vec![],
                },
            ),
            None => {
                let t = self.transfer_leg(now, call, &by_number, target, &offer)?;
                self.invite_b(
                    now,
                    BLegSpec {
                        call,
                        caller: &t.from,
                        display: &t.display,
                        callee: &t.callee,
                        target: &t.target,
                        formats: t.formats,
                        direction: Direction::SendRecv,
                        ptime,
                        b_port: port,
                        extra: t.extra,
                    },
                )
            }
        };
        let Some((dialog, key, invite)) = invited else {
            return Err("cannot build the INVITE");
        };
        if refer {
            // Accepted and under way: the transferor may go (RFC 5589
            // §6.1); the outcome is the box's to handle from here.
            self.notify_refer(now, call, by, "SIP/2.0 200 OK");
        }
        self.clients
            .insert(key.clone(), ClientPurpose::Transfer(call));
        // The kept party hears music while the target rings.
        let music = self.flows.music();
        self.out.push_back(Output::Media(MediaCmd::Hold {
            call,
            held: kept,
            codec: kept_codec.unwrap_or(Codec::Pcma),
            music,
        }));
        // The transferor is let go now.
        self.send_in_dialog(now, call, by, rsip::Method::Bye);
        let Some(c) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        match by {
            Side::A => c.a.life = Life::Absent,
            Side::B => c.b.life = Life::Absent,
        }
        let no_answer_at = now.at + self.no_answer;
        c.transfer = Some(Box::new(Transfer {
            side: by,
            target: target.to_string(),
            by: by_number.clone(),
            key,
            dialog,
            invite,
            no_answer_at,
        }));
        self.timers
            .arm(super::timers::Timer::TransferNoAnswer(call), no_answer_at);
        let uuid = c.parties.uuid.clone();
        tracing::info!(call, by = %by_number, %target, "blind transfer");
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "transfer".into(),
            detail: Some(format!("blind by {by_number} to {target}")),
        });
        self.queue_transferred(now, call, target);
        Ok(())
    }

    /// A response to a blind transfer's INVITE to its target.
    pub(super) fn transfer_response(&mut self, now: Now, call: u64, r: Reply<'_>) {
        let Reply { key, code, msg } = r;
        let Some(t) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.transfer.as_deref_mut())
            .filter(|t| t.key == key)
        else {
            return;
        };
        if code < 200 {
            t.dialog.learn(msg);
            return;
        }
        if code >= 300 {
            self.transfer_failed(now, call, &format!("target answered {code}"));
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(t) = c.transfer.take() else {
            return;
        };
        let Transfer {
            side,
            target,
            by,
            dialog: mut d,
            ..
        } = *t;
        self.listen.ack_2xx(&mut d, msg, &mut self.out);
        let old = match side {
            Side::A => std::mem::replace(&mut c.a.dialog, d.clone()),
            Side::B => std::mem::replace(&mut c.b.dialog, d.clone()),
        };
        match side {
            Side::A => c.a.life = Life::Live,
            Side::B => {
                c.b.life = Life::Live;
                c.connected = Some(target.clone());
            }
        }
        let uuid = c.parties.uuid.clone();
        self.by_call_id.remove(&old.call_id);
        self.by_call_id.insert(d.call_id.clone(), (call, side));
        if let Ok(sdp) = AudioSdp::parse(&msg.body) {
            media_to(&mut self.out, call, side, &sdp);
            self.take_codec(call, side, &sdp.formats);
        }
        self.out.push_back(Output::Media(MediaCmd::Hold {
            call,
            held: side.other(),
            codec: Codec::Pcma,
            music: Vec::new(),
        }));
        self.watch_keys(call);
        tracing::info!(call, %target, "transferred");
        let to = target.clone();
        self.call_event(now, call, dering_control::CallEventKind::Transferred { to });
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "transferred".into(),
            detail: Some(format!("by {by} to {target}")),
        });
    }

    /// A blind transfer's target rang until its no-answer time: its
    /// INVITE is cancelled and the transfer fails as a refusal would.
    /// Before, a target that never answered rang, and the kept party
    /// heard music, for ever.
    pub(super) fn transfer_no_answer(&mut self, now: Now, call: u64) {
        let Some(t) = self
            .calls
            .get(&call)
            .and_then(|c| c.transfer.as_deref())
            .filter(|t| t.no_answer_at <= now.at)
        else {
            return;
        };
        let (key, invite, peer) = (t.key.clone(), t.invite.clone(), t.dialog.peer);
        self.clients.remove(&key);
        self.send_cancel_of(now, &invite, peer);
        self.transfer_failed(now, call, "target did not answer");
    }

    /// A call ended while its transfer's target was ringing: the INVITE
    /// is cancelled.
    pub(super) fn transfer_gone(&mut self, now: Now, c: &super::Call) {
        if let Some(t) = &c.transfer {
            self.clients.remove(&t.key);
            self.send_cancel_of(now, &t.invite, t.dialog.peer);
        }
    }

    /// The target of a blind transfer did not answer: the party kept is
    /// hung up, and the record says why.
    pub(super) fn transfer_failed(&mut self, now: Now, call: u64, cause: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(t) = c.transfer.take() else {
            return;
        };
        tracing::warn!(call, target = %t.target, cause, "transfer failed");
        let kept = t.side.other();
        self.send_in_dialog(now, call, kept, rsip::Method::Bye);
        self.close(
            now,
            call,
            Ending::new(
                Disposition::Answered,
                "system",
                format!("transfer to {} failed: {cause}", t.target),
                None,
            ),
        );
    }

    /// The codec leg `side` answered with: settled, and the relay told to
    /// transcode, or to stop, against the other leg.
    fn take_codec(&mut self, call: u64, side: Side, answer: &[Format]) {
        let Some((codec, fmt)) = answer
            .iter()
            .find_map(|f| Some((Codec::from_name(&f.name)?, f.clone())))
        else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let mut formats = vec![fmt];
        formats.extend(answer.iter().find(|f| f.name == "TELEPHONE-EVENT").cloned());
        match side {
            Side::A => {
                c.a.codec = Some(codec);
                c.a.formats = formats;
            }
            Side::B => {
                c.b.codec = Some(codec);
                c.b.formats = formats;
            }
        }
        if let (Some(a), Some(b)) = (c.a.codec, c.b.codec) {
            self.out
                .push_back(Output::Media(MediaCmd::Transcode { call, a, b }));
        }
    }

    /// The party on `by` of `call` joins the other party with the party
    /// it consulted in the call whose dialog (its own) has Call-ID
    /// `consult_call_id`.
    fn attended_transfer(
        &mut self,
        now: Now,
        call: u64,
        by: Side,
        consult_call_id: &str,
    ) -> Result<(), &'static str> {
        let Some(&(consult, by2)) = self.by_call_id.get(consult_call_id) else {
            return Err("no such consultation call");
        };
        self.join_consultation(now, (call, by), (consult, by2), true)
    }

    /// The party consulted in `consult` by the party on side `by2`, who
    /// is the party on `by` of `call`: checked that both calls are
    /// answered two-party calls with nothing under way (a blind transfer,
    /// a re-INVITE), and its leg taken as it stands, to move it to
    /// another call. Shared by the attended transfer (the leg takes the
    /// transferor's place) and the desktop's conference of a consultation
    /// (the leg becomes the added party of a three-way, `rooms.rs`).
    pub(super) fn consulted_leg(
        &self,
        (call, by): (u64, Side),
        (consult, by2): (u64, Side),
    ) -> Result<Consulted, &'static str> {
        if consult == call {
            return Err("replaces the call itself");
        }
        let ok =
            |c: &super::Call| c.state() == CallState::Answered && c.a.is_live() && c.b.is_live();
        let (Some(c1), Some(c2)) = (self.calls.get(&call), self.calls.get(&consult)) else {
            return Err("no such call");
        };
        if !ok(c1) || !ok(c2) || c1.transfer.is_some() || c2.transfer.is_some() {
            return Err("calls not both answered");
        }
        // A re-INVITE passed on in either call (a hold the transferor has
        // just asked for) is tied to its call: moving a leg in the middle
        // of it would leave the leg's session waiting for an answer that
        // goes to a call no longer there (RFC 3261 §14: one at a time).
        // Refused with 491, the phone asks again once it is answered.
        if c1.reinvite.is_some() || c2.reinvite.is_some() {
            return Err("re-INVITE in progress");
        }
        let by_number = match by {
            Side::A => c1.parties.caller.clone(),
            Side::B => c1.connected.clone().unwrap_or(c1.parties.callee.clone()),
        };
        let leg = match by2.other() {
            Side::A => &c2.a,
            Side::B => &c2.b,
        };
        let number = match by2.other() {
            Side::A => c2.parties.caller.clone(),
            Side::B => c2.connected.clone().unwrap_or(c2.parties.callee.clone()),
        };
        Ok(Consulted {
            dialog: (**leg).clone(),
            codec: leg.codec,
            formats: leg.formats.clone(),
            invite: leg.invite.clone(),
            number,
            by_number,
            sdp_version: c2.sdp_version,
        })
    }

    /// The consulting party (on `by2` of `consult`) is let go and the
    /// consultation ends, its record saying `cause`; the consulted
    /// party's dialog is left up for the call it moves to (finish forgets
    /// its Call-ID: the caller maps it again).
    pub(super) fn release_consultation(
        &mut self,
        now: Now,
        (consult, by2): (u64, Side),
        cause: &str,
    ) {
        self.send_in_dialog(now, consult, by2, rsip::Method::Bye);
        self.close(
            now,
            consult,
            Ending::new(Disposition::Answered, "system", cause, None),
        );
    }

    /// The party on `by` of `call`, who consulted the other party of
    /// `consult` from its side `by2`, leaves both: the party kept in
    /// `call` and the consulted party are joined in `call`. `refer`: it
    /// asked with a REFER (told in a NOTIFY); else the agent desktop.
    pub(super) fn join_consultation(
        &mut self,
        now: Now,
        (call, by): (u64, Side),
        (consult, by2): (u64, Side),
        refer: bool,
    ) -> Result<(), &'static str> {
        let Consulted {
            dialog: t_dialog,
            codec: t_codec,
            formats: t_formats,
            number: t_number,
            by_number,
            ..
        } = self.consulted_leg((call, by), (consult, by2))?;
        let Some(c1) = self.calls.get(&call) else {
            return Err("no such call");
        };
        let kept = by.other();
        // The port of the first call on the transferor's side, where the
        // target's media goes from now on.
        let port = match by {
            Side::A => c1.a.port,
            Side::B => c1.b.port,
        };
        // The port facing the kept party, where its media keeps going.
        let (kept_port, kept_formats) = match kept {
            Side::A => (c1.a.port, c1.a.formats.clone()),
            Side::B => (c1.b.port, c1.b.formats.clone()),
        };
        let uuid = c1.parties.uuid.clone();
        if refer {
            self.notify_refer(now, call, by, "SIP/2.0 200 OK");
        }
        // The transferor is let go on both calls; the consultation ends
        // as transferred, the target's dialog moving to the first call.
        self.send_in_dialog(now, call, by, rsip::Method::Bye);
        self.release_consultation(now, (consult, by2), "attended transfer");
        let old = {
            let Some(c) = self.calls.get_mut(&call) else {
                return Ok(());
            };
            let old = match by {
                Side::A => std::mem::replace(&mut c.a.dialog, t_dialog.clone()),
                Side::B => std::mem::replace(&mut c.b.dialog, t_dialog.clone()),
            };
            match by {
                Side::A => {
                    c.a.codec = t_codec;
                    c.a.formats.clone_from(&t_formats);
                }
                Side::B => {
                    c.b.codec = t_codec;
                    c.b.formats.clone_from(&t_formats);
                    c.connected = Some(t_number.clone());
                }
            }
            old
        };
        self.by_call_id.remove(&old.call_id);
        self.by_call_id.insert(t_dialog.call_id.clone(), (call, by));
        if let (Some(c), Some(codec)) = (self.calls.get(&call), t_codec) {
            let (a, b) = match by {
                Side::A => (Some(codec), c.b.codec),
                Side::B => (c.a.codec, Some(codec)),
            };
            if let (Some(a), Some(b)) = (a, b) {
                self.out
                    .push_back(Output::Media(MediaCmd::Transcode { call, a, b }));
            }
        }
        // The target is moved onto this call's port; the kept party is
        // taken off hold.
        self.reinvite_leg(now, call, by, port, t_formats);
        self.reinvite_leg(now, call, kept, kept_port, kept_formats);
        self.out.push_back(Output::Media(MediaCmd::Hold {
            call,
            held: kept,
            codec: Codec::Pcma,
            music: Vec::new(),
        }));
        self.watch_keys(call);
        tracing::info!(call, by = %by_number, target = %t_number, "attended transfer");
        let to = t_number.clone();
        self.call_event(now, call, dering_control::CallEventKind::Transferred { to });
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "transferred".into(),
            detail: Some(format!("attended by {by_number} to {t_number}")),
        });
        self.queue_transferred(now, call, &t_number);
        Ok(())
    }

    /// A re-INVITE of the box's own to leg `side` of `call`: media to
    /// `port`, `formats`, send and receive.
    pub(super) fn reinvite_leg(
        &mut self,
        now: Now,
        call: u64,
        side: Side,
        port: u16,
        formats: Vec<Format>,
    ) {
        let body = self.sdp_body(call, (port, None), formats, Direction::SendRecv);
        if let Some(k) = self.send_in_dialog_with(now, call, side, rsip::Method::Invite, Some(body))
        {
            self.clients.insert(k, ClientPurpose::Rebind(call, side));
        }
    }

    /// The answer to a re-INVITE of the box's own: ACKed, and the leg's
    /// media address learnt.
    pub(super) fn rebind_response(&mut self, call: u64, side: Side, code: u16, msg: &Message) {
        if !(200..300).contains(&code) {
            return;
        }
        let listen = &self.listen;
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let d = match side {
            Side::A => &c.a,
            Side::B => &c.b,
        };
        if let Ok(ack) = d.request(listen, rsip::Method::Ack, b"") {
            self.out.push_back(Output::Transmit(Transmit {
                peer: d.peer,
                data: ack,
            }));
        }
        if let Ok(sdp) = AudioSdp::parse(&msg.body) {
            media_to(&mut self.out, call, side, &sdp);
        }
    }
}

/// The Call-ID a `Refer-To` URI's `Replaces` header names (RFC 3891:
/// `Replaces=<call-id>%3Bto-tag%3D…%3Bfrom-tag%3D…`, escaped in the URI).
fn replaces_of(headers: &str) -> Option<String> {
    headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        if !name.eq_ignore_ascii_case("replaces") {
            return None;
        }
        let value = unescape(value);
        let call_id = value.split(';').next()?.trim();
        (!call_id.is_empty()).then(|| call_id.to_string())
    })
}

/// %XX-unescapes a URI header value.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3891 §3 / RFC 5589 §7: the Call-ID of an escaped Replaces.
    #[test]
    fn replaces_names_the_consultation_call() {
        assert_eq!(
            replaces_of("Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2").as_deref(),
            Some("abc@host")
        );
        assert_eq!(
            replaces_of("x=1&replaces=k9;to-tag=1").as_deref(),
            Some("k9")
        );
        assert_eq!(replaces_of("Accept-Contact=x"), None);
        assert_eq!(unescape("%4"), "%4");
        assert_eq!(unescape("a%20b%zz"), "a b%zz");
    }
}
