//! The agent desktop's call control over the control socket (issue 16):
//! hold and resume of the agent's call, and an attended transfer. The
//! agent is the callee (side B) of a queue or direct call; the desktop
//! acts for it.
//!
//! **Hold** is the phone's hold done by the box: the caller is
//! re-INVITEd `sendonly` from the relay port facing it, hears the music
//! on hold the relay plays (the agent's audio held back, as when the
//! phone holds), and the call's record, CTI feed and ACD hold time say
//! so exactly as for a phone's re-INVITE (TEL-2). The agent's phone is
//! not re-INVITEd: its audio goes nowhere while the caller hears music.
//!
//! **Attended transfer** is consult, then complete or cancel. Consult
//! holds the caller and places a click-to-dial call from the agent's
//! phone to the target (the agent's phone answers it by itself, as for
//! any click to dial). Complete is the phone's REFER with Replaces done
//! by the box: the caller and the target are joined in the first call
//! on its relay ports, the agent is let go on both calls (see
//! `transfer::join_consultation`). Cancel hangs the consultation up and
//! takes the caller off hold.
//!
//! **Conference** is the phone's `*3` three-way done by the box: it calls
//! the number from the agent's side of the call and, when it answers,
//! mixes the three on the call's relay thread (`rooms::start_three_way`).
//! With an answered consultation up, the agent's "conference" means the
//! party it is talking to: that party is not called again but moved into
//! the three-way (`rooms::three_way_from_consultation`, re-INVITEd onto
//! the call's relay thread as the attended transfer moves it), the
//! agent's consultation leg is let go and the caller taken off hold.

use dering_control::{CallEventKind, ControlError, Party};
use dering_media::codec::Codec;
use dering_sip::sdp::Direction;
use dering_store::Op;

use super::{CallState, ClientPurpose, Core, MediaCmd, Now, Output, Side};

fn refused(message: &str) -> ControlError {
    ControlError::Refused {
        message: message.into(),
    }
}

impl Core {
    /// The control socket's hold (`held`) or resume of live call `uuid`'s
    /// caller, for its callee.
    pub fn hold_uuid(&mut self, now: Now, uuid: &str, held: bool) -> Result<(), ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        let r = self.desk_hold(now, call, held);
        self.drain_tx(now);
        r.map_err(refused)
    }

    /// Consult: the caller of `uuid` is held and the agent's phone calls
    /// `to`; the consultation's UUID.
    pub fn consult_uuid(&mut self, now: Now, uuid: &str, to: &str) -> Result<String, ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        let agent_phone = self
            .answering_phone(call)
            .ok_or_else(|| refused("no agent on the call"))?;
        let r = self.desk_hold(now, call, true);
        self.drain_tx(now);
        r.map_err(refused)?;
        self.originate(now, &agent_phone, to).inspect_err(|_| {
            // Nothing to consult: the caller is not left on hold.
            let _ = self.desk_hold(now, call, false);
            self.drain_tx(now);
        })
    }

    /// Completes the attended transfer of `uuid`'s caller to the target
    /// of consultation `consult`, placed by the same agent's phone.
    pub fn complete_transfer_uuid(
        &mut self,
        now: Now,
        uuid: &str,
        consult: &str,
    ) -> Result<(), ControlError> {
        let (call, consult) = self.consultation(uuid, consult)?;
        let r = self.join_consultation(now, (call, Side::B), (consult, Side::A), false);
        if r.is_ok() {
            self.queue_hold(now, call, false);
        }
        self.drain_tx(now);
        r.map_err(refused)
    }

    /// Cancels consultation `consult`: it is hung up and the caller of
    /// `uuid` taken off hold.
    pub fn cancel_consult_uuid(
        &mut self,
        now: Now,
        uuid: &str,
        consult: &str,
    ) -> Result<(), ControlError> {
        let (call, consult) = self.consultation(uuid, consult)?;
        self.hang_up_call(now, consult, "consultation cancelled");
        let r = self.desk_hold(now, call, false);
        self.drain_tx(now);
        r.map_err(refused)
    }

    /// Adds extension `to` to `uuid` as a third party: called now, mixed
    /// with caller and agent when it answers.
    pub fn conference_uuid(&mut self, now: Now, uuid: &str, to: &str) -> Result<(), ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        let Some(c) = self
            .calls
            .get(&call)
            .filter(|c| c.state() == CallState::Answered && c.a.is_live() && c.b.is_live())
        else {
            return Err(refused("not an answered two-party call"));
        };
        if c.transfer.is_some() {
            return Err(refused("busy with a transfer"));
        }
        if !self.users.contains_key(to) {
            return Err(ControlError::NoSuchExtension {
                extension: to.into(),
            });
        }
        if self.target(to).is_none() {
            return Err(refused("not reachable"));
        }
        if self.calls.values().any(|c| c.joins() == Some(call)) {
            return Err(refused("already three"));
        }
        self.start_three_way(now, call, Side::B, to);
        self.drain_tx(now);
        if self.calls.values().any(|c| c.joins() == Some(call)) {
            Ok(())
        } else {
            Err(refused("cannot call the third party"))
        }
    }

    /// Conference of `uuid` with the party consulted in `consult` (placed
    /// by the same agent's phone, answered): the three are mixed without
    /// a new call to it, the caller taken off hold. `to`, if not empty,
    /// must be the number the consultation called, so a page out of step
    /// does not join a party the agent did not mean.
    pub fn conference_consult_uuid(
        &mut self,
        now: Now,
        uuid: &str,
        consult: &str,
        to: &str,
    ) -> Result<(), ControlError> {
        let (call, consult) = self.consultation(uuid, consult)?;
        let called = self.calls.get(&consult).map(|c| c.parties.callee.as_str());
        if !to.is_empty() && called != Some(to) {
            return Err(refused("not the number consulted"));
        }
        // Checked before the caller is taken off hold, so a refusal
        // leaves everything as it was.
        if let Err(e) = self.consulted_leg((call, Side::B), (consult, Side::A)) {
            return Err(refused(e));
        }
        if self.calls.values().any(|c| c.joins() == Some(call)) {
            return Err(refused("already three"));
        }
        let r = self.desk_hold(now, call, false).and_then(|()| {
            self.three_way_from_consultation(now, (call, Side::B), (consult, Side::A))
        });
        self.drain_tx(now);
        r.map_err(refused)
    }

    /// The agent's phone on `call`: the extension that answered it.
    fn answering_phone(&self, call: u64) -> Option<String> {
        let c = self.calls.get(&call)?;
        Some(
            c.connected
                .clone()
                .unwrap_or_else(|| c.parties.callee.clone()),
        )
    }

    /// The calls `uuid` and `consult` when `consult` was placed from the
    /// phone of `uuid`'s agent: one agent may not join another's calls.
    fn consultation(&self, uuid: &str, consult: &str) -> Result<(u64, u64), ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        let other = self
            .call_by_uuid(consult)
            .ok_or_else(|| ControlError::NoSuchCall {
                uuid: consult.into(),
            })?;
        let from = self.calls.get(&other).map(|c| c.parties.caller.clone());
        if from.is_none() || from != self.answering_phone(call) {
            return Err(refused("not a consultation of this call's agent"));
        }
        Ok((call, other))
    }

    fn desk_hold(&mut self, now: Now, call: u64, held: bool) -> Result<(), &'static str> {
        let Some(c) = self
            .calls
            .get(&call)
            .filter(|c| c.state() == CallState::Answered && c.a.is_live() && c.b.is_live())
        else {
            return Err("not an answered two-party call");
        };
        if c.transfer.is_some() {
            return Err("busy with a transfer");
        }
        // A re-INVITE passing through (the phone's own hold) is answered
        // on the caller's dialog: one at a time (RFC 3261 §14).
        if c.reinvite.is_some() {
            return Err("re-INVITE in progress");
        }
        let (port, formats, codec, uuid) = (
            c.a.port,
            c.a.formats.clone(),
            c.a.codec.unwrap_or(Codec::Pcma),
            c.parties.uuid.clone(),
        );
        let direction = if held {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let body = self.sdp_body(call, (port, None), formats, direction);
        let key = self
            .send_in_dialog_with(now, call, Side::A, rsip::Method::Invite, Some(body))
            .ok_or("cannot build the re-INVITE")?;
        self.clients
            .insert(key, ClientPurpose::Rebind(call, Side::A));
        let music = if held { self.flows.music() } else { Vec::new() };
        self.out.push_back(Output::Media(MediaCmd::Hold {
            call,
            held: Side::A,
            codec,
            music,
        }));
        self.queue_hold(now, call, held);
        let by = Party::Callee;
        let what = if held {
            CallEventKind::Held { by }
        } else {
            CallEventKind::Resumed { by }
        };
        self.call_event(now, call, what);
        tracing::info!(call, held, "hold from the control socket");
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: if held { "hold" } else { "resume" }.into(),
            detail: Some(format!("{} by callee (desktop)", direction.attr())),
        });
        Ok(())
    }
}
