//! Call events for the CTI feed (CTI-1): the places where a call changes
//! state call [`Core::call_event`], which reads the call's identity from
//! the call itself and publishes it; the shell stamps each event with its
//! sequence number. Kept apart so the state changes stay one line each.

use dering_control::{
    CallEvent, CallEventKind, CallIdentity, Disposition as CtiDisposition, Event,
};
use dering_sip::nameaddr::NameAddr;
use dering_sip::uri::Uri;
use dering_store::Disposition;

use super::call::{CallChange, StateEvent};
use super::{Call, Core, Now, Output};

impl Core {
    /// The feed's share of the call events: an offer when a call starts,
    /// an answer, and the end with its disposition. What is no change of
    /// state (ringing, held, transferred, recorded) is published where
    /// it happens.
    pub(super) fn feed_call_event(&mut self, now: Now, event: CallChange<'_>) {
        match event {
            CallChange::Started(call) => self.call_event(now, call, CallEventKind::Offered),
            CallChange::Moved(call, StateEvent::Answered) => {
                self.call_event(now, call, CallEventKind::Answered);
            }
            CallChange::Moved(_, StateEvent::AnsweredHere | StateEvent::Ending) => {}
            CallChange::Ended(c, ending) => self.out.push_back(call_event(
                now,
                c,
                CallEventKind::Ended {
                    disposition: disposition(ending.disposition),
                    by: ending.by.to_string(),
                    cause: ending.cause.clone(),
                    sip_code: ending.code,
                },
            )),
        }
    }

    /// Publishes `what` happened to `call`, towards the phone its B leg
    /// rings or talks to.
    pub(super) fn call_event(&mut self, now: Now, call: u64, what: CallEventKind) {
        if let Some(c) = self.calls.get(&call) {
            let e = call_event(now, c, what);
            self.out.push_back(e);
        }
    }

    /// Publishes `what` happened to `call` at `extension` (an agent's
    /// phone the ACD rings, besides the call's own B leg).
    pub(super) fn call_event_at(
        &mut self,
        now: Now,
        call: u64,
        what: CallEventKind,
        extension: &str,
        agent: Option<&str>,
    ) {
        if let Some(c) = self.calls.get(&call) {
            let mut call = identity(c);
            call.extension = Some(extension.to_string());
            if agent.is_some() {
                call.agent = agent.map(str::to_string);
            }
            self.out.push_back(Output::Publish(Event::Call(CallEvent {
                at_ms: now.wall_ms,
                call,
                what,
            })));
        }
    }
}

/// The event for `c` (also for a call already removed: its end).
fn call_event(now: Now, c: &Call, what: CallEventKind) -> Output {
    Output::Publish(Event::Call(CallEvent {
        at_ms: now.wall_ms,
        call: identity(c),
        what,
    }))
}

fn identity(c: &Call) -> CallIdentity {
    let queue = c.queue.as_deref();
    CallIdentity {
        uuid: c.parties.uuid.clone(),
        caller: c.parties.caller.clone(),
        caller_name: c.parties.caller_name.clone(),
        dialled: c.parties.callee.clone(),
        queue: queue.map(|q| q.queue.clone()),
        agent: queue
            .and_then(|q| q.agent.clone())
            .or_else(|| c.callback_agent().map(str::to_string)),
        extension: c
            .connected
            .clone()
            .or_else(|| c.b.is_live().then(|| extension_of(&c.b.remote)).flatten()),
    }
}

/// The user part of a To header value (`<sip:1002@box>;tag=..`).
fn extension_of(to: &str) -> Option<String> {
    Uri::parse(&NameAddr::parse(to).ok()?.uri)
        .ok()?
        .user_unescaped()
}

/// The call record's disposition, as the feed names it.
fn disposition(d: Disposition) -> CtiDisposition {
    match d {
        Disposition::Answered => CtiDisposition::Answered,
        Disposition::Busy => CtiDisposition::Busy,
        Disposition::NoAnswer => CtiDisposition::NoAnswer,
        Disposition::Cancelled => CtiDisposition::Cancelled,
        Disposition::Failed => CtiDisposition::Failed,
        Disposition::Interrupted => CtiDisposition::Interrupted,
    }
}
