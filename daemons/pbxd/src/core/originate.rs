//! Click-to-dial (the agent desktop's "originate", control socket): the box
//! calls the agent's own phone first, with the auto-answer headers so a
//! desk phone picks up by itself, and once it answers calls the number
//! asked for and bridges the two. The call's record reads as a call from
//! the agent's extension to that number.
//!
//! Both legs are INVITEs of the box's own: the first ("A", the agent's
//! phone) rings until it answers; then the call goes on exactly as if the
//! phone had dialled (the B leg rings, forwards apply, the relay bridges).

use std::time::Duration;

use dering_control::ControlError;
use dering_media::codec::Codec;
use dering_sip::build::header;
use dering_sip::sdp::{AudioSdp, Direction};
use dering_sip::Message;
use dering_store::{CallParties, Disposition, Op};

use super::media_to;
use super::{
    callee_offer, codec_format, BLegSpec, Call, CallKind, ClientPurpose, Core, Dialog, Ending,
    Life, MediaCmd, Now, Originated, Output, Reply, Side,
};

/// How long the agent's own phone may ring before the box gives up.
const OWN_PHONE_RINGS: Duration = Duration::from_secs(30);

/// The first leg of a click-to-dial call, ringing the agent's phone.
#[derive(Debug)]
pub(super) struct Originate {
    /// The number to call once the agent's phone answers.
    to: String,
    key: String,
    invite: Message,
    /// A supervisor's "listen" instead: once the phone answers, it
    /// monitors this extension's call in this mode.
    monitor: Option<(super::rooms::Mode, String)>,
}

impl Core {
    /// Calls `from`'s phone, then `to`: the call's UUID.
    pub fn originate(&mut self, now: Now, from: &str, to: &str) -> Result<String, ControlError> {
        if !self.users.contains_key(to) {
            // An outside number, under the agent's permission (TEL-5).
            match self.outward_for(now, from, to, None) {
                Ok(_) => {}
                Err(super::dialplan::Deny::Forbidden(class)) => {
                    return Err(ControlError::Refused {
                        message: format!("{from} may not call {} numbers", class.name()),
                    })
                }
                Err(_) => {
                    return Err(ControlError::NoSuchExtension {
                        extension: to.into(),
                    })
                }
            }
        }
        let r = self
            .ring_own_phone(now, from, to, None)
            .map(|(_, uuid)| uuid);
        self.drain_tx(now);
        r.map_err(|message| ControlError::Refused { message })
    }

    /// The supervisor desktop's "listen" (REC-3): rings `supervisor`'s
    /// phone, which then monitors `extension`'s call in `mode` (`listen`,
    /// `whisper` or `barge`), as `*90`..`*92` would without the PIN.
    pub fn listen(
        &mut self,
        now: Now,
        supervisor: &str,
        extension: &str,
        mode: &str,
    ) -> Result<String, ControlError> {
        let mode = super::rooms::Mode::parse(mode).ok_or_else(|| ControlError::BadRequest {
            message: format!("{mode:?} is not listen, whisper or barge"),
        })?;
        let code = self.rooms.code_of(mode);
        let r = self
            .ring_own_phone(
                now,
                supervisor,
                &format!("{code}{extension}"),
                Some((mode, extension.to_string())),
            )
            .map(|(_, uuid)| uuid);
        self.drain_tx(now);
        r.map_err(|message| ControlError::Refused { message })
    }

    /// Rings `from`'s phone for a call to `to` (or a monitoring): the
    /// call's id and UUID.
    pub(super) fn ring_own_phone(
        &mut self,
        now: Now,
        from: &str,
        to: &str,
        monitor: Option<(super::rooms::Mode, String)>,
    ) -> Result<(u64, String), String> {
        let Some(user) = self.users.get(from) else {
            return Err(format!("no extension {from}"));
        };
        let from_name = user.name.clone();
        // A supervisor's call mixes on the relay thread of the call it
        // watches.
        let group = match &monitor {
            Some((_, ext)) => Some(
                self.monitored_group(ext)
                    .ok_or_else(|| format!("{ext} is not on a call"))?,
            ),
            None => None,
        };
        let Some(contact) = self.target(from) else {
            return Err(format!("{from} is not registered"));
        };
        let Some((a_port, b_port)) = self.take_ports(now) else {
            return Err("RTP port range exhausted".into());
        };
        let id = self.next_call;
        self.next_call += 1;
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let parties = CallParties {
            uuid: uuid.clone(),
            caller: from.to_string(),
            caller_name: Some(from_name),
            callee: to.to_string(),
            callee_name: self.users.get(to).map(|u| u.name.clone()),
            start_ms: now.wall_ms,
            answer_ms: None,
        };
        let mut formats: Vec<_> = Codec::ALL.iter().map(|c| codec_format(*c)).collect();
        formats.push(dering_sip::sdp::Format {
            pt: 101,
            name: "TELEPHONE-EVENT".into(),
            rate: 8000,
            fmtp: Some("0-16".into()),
        });
        let display = format!("Panggilan ke {to}");
        let leg = BLegSpec {
            call: id,
            caller: to,
            display: &display,
            callee: from,
            target: &contact,
            formats,
            direction: Direction::SendRecv,
            ptime: None,
            // The box's port facing the agent's phone.
            b_port: a_port,
            extra: vec![
                header("Call-Info", format!("<sip:{}>;answer-after=0", self.realm)),
                header(
                    "Alert-Info",
                    format!("<sip:{}>;info=alert-autoanswer;delay=0", self.realm),
                ),
            ],
        };
        let Some((a, key, invite)) = self.invite_b(now, leg) else {
            self.ports.unused([a_port, b_port]);
            return Err("cannot build the INVITE".into());
        };
        self.store(Op::CallStart(parties.clone()));
        tracing::info!(call = id, %uuid, %from, %to, "click-to-dial: ringing the agent's phone");
        self.clients
            .insert(key.clone(), ClientPurpose::Originate(id));
        self.by_call_id.insert(a.call_id.clone(), (id, Side::A));
        let peer = a.peer;
        let offer = AudioSdp {
            addr: self.listen.ip,
            port: 0,
            formats: Vec::new(),
            direction: Direction::SendRecv,
            ptime: None,
        };
        let mut c = Call::new(
            id,
            parties,
            (a, Dialog::placeholder(peer)),
            invite.clone(),
            offer,
            (a_port, b_port),
            now.at + OWN_PHONE_RINGS,
        );
        self.timers
            .arm(super::timers::Timer::NoAnswer(id), c.no_answer_at);
        c.a.life = Life::Absent;
        c.b.life = Life::Absent;
        c.kind = CallKind::Originate(Box::new(Originated {
            ringing: Some(Originate {
                to: to.to_string(),
                key,
                invite,
                monitor,
            }),
            ..Originated::default()
        }));
        c.group = group.unwrap_or(id);
        self.calls.insert(id, c);
        self.out.push_back(Output::Media(MediaCmd::Open {
            call: id,
            a_port,
            b_port,
            group: group.unwrap_or(id),
        }));
        Ok((id, uuid))
    }

    /// A response from the agent's own phone.
    pub(super) fn originate_response(&mut self, now: Now, call: u64, r: Reply<'_>) {
        let Reply { key, code, msg } = r;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.origin().is_none_or(|o| o.key != key) {
            return;
        }
        if code < 200 {
            c.a.learn(msg);
            return;
        }
        if code >= 300 {
            self.callback_leg(now, call, false);
            self.close(
                now,
                call,
                Ending::new(
                    super::disposition_for(code),
                    "caller",
                    format!("agent's phone answered {code}"),
                    Some(code),
                ),
            );
            return;
        }
        let Some(origin) = c.originated_mut().and_then(|o| o.ringing.take()) else {
            return;
        };
        self.listen.ack_2xx(&mut c.a, msg, &mut self.out);
        c.a.life = Life::Live;
        self.callback_leg(now, call, true);
        let Ok(answer) = AudioSdp::parse(&msg.body) else {
            self.hang_up_own_phone(now, call, "agent's phone answered without SDP");
            return;
        };
        media_to(&mut self.out, call, Side::A, &answer);
        if let Some((mode, extension)) = origin.monitor {
            self.monitor_from_control(now, call, &answer, mode, extension);
            return;
        }
        // From here the agent's answer is the caller's offer: the callee
        // is offered its codec first.
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.offer = answer;
        let caller = c.parties.caller.clone();
        if !self.users.contains_key(&origin.to) {
            if self.ring_outside(now, call, &caller, &origin.to, None) {
                if let Some(o) = self.calls.get_mut(&call).and_then(|c| c.originated_mut()) {
                    o.callee_rung = true;
                }
                tracing::info!(call, "click-to-dial: agent answered, ringing outside");
            } else {
                self.hang_up_own_phone(now, call, "outside number not reachable");
            }
            return;
        }
        let Some(target) = self.target(&origin.to) else {
            self.hang_up_own_phone(now, call, "callee not reachable");
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let caller = c.parties.caller.clone();
        let display = c.parties.caller_name.clone().unwrap_or(caller.clone());
        let leg = BLegSpec {
            call,
            caller: &caller,
            display: &display,
            callee: &origin.to,
            target: &target,
            formats: callee_offer(&c.offer),
            direction: Direction::SendRecv,
            ptime: c.offer.ptime,
            b_port: c.b.port,
            extra: vec![],
        };
        let Some(invite) = self.invite_b(now, leg) else {
            self.hang_up_own_phone(now, call, "cannot build the INVITE");
            return;
        };
        if let Some(c) = self.ring_b(now, call, invite) {
            if let Some(o) = c.originated_mut() {
                o.callee_rung = true;
            }
            tracing::info!(call, to = %origin.to, "click-to-dial: agent answered, ringing the callee");
        }
    }

    /// Ends a click-to-dial call whose own phone answered but whose callee
    /// cannot be rung.
    fn hang_up_own_phone(&mut self, now: Now, call: u64, cause: &str) {
        self.send_in_dialog(now, call, Side::A, rsip::Method::Bye);
        self.close(
            now,
            call,
            Ending::new(Disposition::Failed, "system", cause, None),
        );
    }

    /// Click-to-dial calls whose own phone rang out, and those that ended
    /// while it rang (their INVITE is cancelled).
    pub(super) fn originate_gone(&mut self, now: Now, c: &Call) {
        if let Some(o) = c.origin() {
            self.clients.remove(&o.key);
            self.send_cancel_of(now, &o.invite, c.a.peer);
        }
    }

    /// The agent's own phone rang out (its call's no-answer timer).
    pub(super) fn originate_timeout(&mut self, now: Now, call: u64) {
        self.callback_leg(now, call, false);
        self.close(
            now,
            call,
            Ending::new(
                Disposition::NoAnswer,
                "system",
                "agent's phone did not answer",
                Some(480),
            ),
        );
    }
}
