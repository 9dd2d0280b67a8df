//! The agent desktop's call control over the control socket (issue 16):
//! hold and resume of the agent's call. The agent is the callee (side B)
//! of a queue or direct call; the desktop acts for it.
//!
//! **Hold** is the phone's hold done by the box: the caller is
//! re-INVITEd `sendonly` from the relay port facing it, hears the music
//! on hold the relay plays (the agent's audio held back, as when the
//! phone holds), and the call's record, CTI feed and ACD hold time say
//! so exactly as for a phone's re-INVITE (TEL-2). The agent's phone is
//! not re-INVITEd: its audio goes nowhere while the caller hears music.

use dering_control::{CallEventKind, ControlError, Party};
use dering_media::codec::Codec;
use dering_sip::sdp::Direction;
use dering_store::Op;

use super::{CallState, ClientPurpose, Core, MediaCmd, Now, Output, Side};

impl Core {
    /// The control socket's hold (`held`) or resume of live call `uuid`'s
    /// caller, for its callee.
    pub fn hold_uuid(&mut self, now: Now, uuid: &str, held: bool) -> Result<(), ControlError> {
        let call = self
            .call_by_uuid(uuid)
            .ok_or_else(|| ControlError::NoSuchCall { uuid: uuid.into() })?;
        let r = self.desk_hold(now, call, held);
        self.drain_tx(now);
        r.map_err(|e| ControlError::Refused { message: e.into() })
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
