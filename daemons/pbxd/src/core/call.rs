//! A call, its two legs and its kind, and the one place its state
//! changes.
//!
//! A call moves Ringing -> Answered, or is answered by the box (Flow)
//! and then connected (Answered), and is torn down (Ending) before it is
//! removed. Every move goes through [`Call::transition`], which refuses a
//! move the life of a call does not have and names what the move means
//! as a [`StateEvent`]. That, a call's start and its end are the typed
//! [`CallChange`]s which [`Core::emit`] hands to each part of the box
//! that follows calls, in its own module: the CTI feed (`cti.rs`), the
//! recording policy (`record_policy.rs`), the ACD's busy tracking
//! (`queue.rs`), and the rooms, transfers and click-to-dial cleaning up
//! after a call. None of them watches `state` for changes. Presence still
//! works its lamps out from the calls after each input: its documents
//! also follow registrations and agents' states, which have no events
//! yet.

use std::time::Instant;

use dering_media::codec::Codec;
use dering_sip::sdp::{AudioSdp, Format};
use dering_sip::Message;
use dering_store::CallParties;
use serde::Serialize;

use super::{
    codec_format, ivr, originate, queue, rooms, transfer, Core, Dialog, Ending, Now, ReInvite, Side,
};

/// Where a call is in its life, as `dering calls` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Ringing,
    Answered,
    Ending,
    /// Answered by the box, in a call flow (possibly ringing a callee).
    Flow,
}

/// What a move between two states means to the rest of the box: one
/// event per move, produced only by [`CallState::transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StateEvent {
    /// The callee (a phone rung, a flow's member, an agent, a phone that
    /// picked the call up) answered: the parties talk (Ringing or Flow
    /// to Answered).
    Answered,
    /// The box answered the call itself (a supervisor's monitoring call
    /// placed from the control socket: Ringing to Flow).
    AnsweredHere,
    /// A party or the box hangs up: the call is being torn down.
    Ending,
}

/// A move the life of a call does not have (say, back to ringing once
/// answered), refused with where the call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refused {
    pub from: CallState,
    pub to: CallState,
}

impl CallState {
    /// The event a move from `self` to `to` is, or `None` when a call
    /// never moves so.
    pub(super) fn transition(self, to: CallState) -> Option<StateEvent> {
        use CallState::{Answered, Ending, Flow, Ringing};
        match (self, to) {
            (Ringing | Flow, Answered) => Some(StateEvent::Answered),
            (Ringing, Flow) => Some(StateEvent::AnsweredHere),
            (Ringing | Flow | Answered, Ending) => Some(StateEvent::Ending),
            _ => None,
        }
    }
}

/// Whether a leg's dialog exists on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    /// Nothing to send requests to: a flow's callee side before a member
    /// is rung, the caller's side of a party the box added to a
    /// three-way call, a click-to-dial's own phone while it rings.
    Absent,
    /// Invited or established: requests on it reach a phone.
    Live,
}

/// One side of a call: its dialog with the phone, the relay port its
/// media comes to, what it talks, and the INVITE that set it up.
///
/// A leg dereferences to its dialog, so in-dialog code reads `c.a.cseq`
/// or `c.b.request(..)` as it did when the legs were bare dialogs.
#[derive(Debug)]
pub(super) struct Leg {
    pub(super) dialog: Dialog,
    pub(super) life: Life,
    /// The relay's port for this leg (RTP; RTCP on the next).
    pub(super) port: u16,
    /// What the leg talks once negotiated: the codec and the formats of
    /// its answer (codec and telephone-event), offered to it again in
    /// re-INVITEs so a hold never changes a leg's codec.
    pub(super) codec: Option<Codec>,
    pub(super) formats: Vec<Format>,
    /// The INVITE transaction that set the leg up: the server
    /// transaction of the caller's INVITE (A), the client transaction of
    /// the box's own (B).
    pub(super) invite_key: String,
    /// The box's INVITE on this leg as sent (a CANCEL copies it, a
    /// challenge makes it sent again).
    pub(super) invite: Option<Message>,
    /// Whether the box's INVITE had a provisional answer.
    pub(super) got_provisional: bool,
    /// The ACK of the 2xx to the box's INVITE, sent again for each
    /// retransmitted 2xx.
    pub(super) ack: Option<Vec<u8>>,
    /// The server transaction of an INVITE that came in on a leg the
    /// box had called out on (a pickup's picker), for its ACK.
    pub(super) key_in: Option<String>,
}

impl Leg {
    /// A live leg on `dialog` at relay port `port`, nothing negotiated.
    fn new(dialog: Dialog, port: u16) -> Leg {
        Leg {
            dialog,
            life: Life::Live,
            port,
            codec: None,
            formats: Vec::new(),
            invite_key: String::new(),
            invite: None,
            got_provisional: false,
            ack: None,
            key_in: None,
        }
    }

    pub(super) fn is_live(&self) -> bool {
        self.life == Life::Live
    }
}

impl std::ops::Deref for Leg {
    type Target = Dialog;

    fn deref(&self) -> &Dialog {
        &self.dialog
    }
}

impl std::ops::DerefMut for Leg {
    fn deref_mut(&mut self) -> &mut Dialog {
        &mut self.dialog
    }
}

/// What kind of call a call is, each with what only it has: the call
/// flow answering it, the feature (a room, monitoring, an agent code), the
/// click-to-dial's own phone, the call a three-way party joins. An ACD
/// queue is no kind of its own: a queue's caller is a flow's (the flow
/// goes on when it leaves the queue) and a callback is a click-to-dial,
/// so [`Call::queue`] sits beside the kind.
#[derive(Debug)]
pub(super) enum CallKind {
    /// A caller's call to an extension (or where it is forwarded).
    Direct,
    /// Answered by the box into a call flow (IVR), which may ring a
    /// member or queue the caller.
    Flow(Box<ivr::FlowLeg>),
    /// Answered by the box for a feature: a conference room, monitoring,
    /// an agent or forwarding code, a last announcement.
    Feature(Box<rooms::FeatureLeg>),
    /// Placed by the box from the control socket (click-to-dial, a queue
    /// callback): the agent's own phone first, then the callee.
    Originate(Box<Originated>),
    /// A party the box added to call `joins` (three-way conference).
    ThreeWayParty { joins: u64 },
}

/// A call the box placed: the A leg is the box's own INVITE to the
/// agent's phone.
#[derive(Debug, Default)]
pub(super) struct Originated {
    /// The agent's own phone is ringing, until it answers.
    pub(super) ringing: Option<originate::Originate>,
    /// The own phone answered and the callee is rung: there is no
    /// response to send the A leg, which is hung up with a BYE.
    pub(super) callee_rung: bool,
    /// A queue callback: the agent whose phone rings first.
    pub(super) callback_agent: Option<String>,
}

/// One call: the caller's leg A bridged to the callee's leg B through the
/// relay.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) id: u64,
    pub(super) parties: CallParties,
    state: CallState,
    pub(super) a: Leg,
    pub(super) b: Leg,
    pub(super) offer: AudioSdp,
    pub(super) no_answer_at: Instant,
    pub(super) reinvite: Option<ReInvite>,
    pub(super) sdp_version: u64,
    /// What kind of call this is, with what only that kind has.
    pub(super) kind: CallKind,
    /// The relay thread group: the call's id, or the room it mixes in.
    pub(super) group: u64,
    /// The extension a flow is ringing, then the one it connected.
    pub(super) ringing_member: Option<String>,
    pub(super) connected: Option<String>,
    /// Keys a party is typing in the call (in-call feature codes).
    pub(super) keys: Option<rooms::InCallKeys>,
    /// Extensions this call was forwarded away from, in order.
    pub(super) forwarded: Vec<String>,
    /// The caller waits in, or was served by, an ACD queue.
    pub(super) queue: Option<Box<queue::QueueLeg>>,
    /// A blind transfer whose target is ringing.
    pub(super) transfer: Option<Box<transfer::Transfer>>,
    /// B legs given up (the phone that rang before a pickup), by their
    /// INVITE's client transaction, until their final answer.
    pub(super) stale_b: Vec<(String, Dialog)>,
}

impl Call {
    /// A call between dialogs `a` and `b` on relay ports `ports`,
    /// ringing, relayed on its own thread group, with nothing settled yet:
    /// each kind of call (a callee rung, a call the box answers, a party
    /// the box adds) then sets what differs.
    pub(super) fn new(
        id: u64,
        parties: CallParties,
        (a, b): (Dialog, Dialog),
        b_invite: Message,
        offer: AudioSdp,
        (a_port, b_port): (u16, u16),
        no_answer_at: Instant,
    ) -> Call {
        Call {
            id,
            parties,
            state: CallState::Ringing,
            a: Leg::new(a, a_port),
            b: Leg {
                invite: Some(b_invite),
                ..Leg::new(b, b_port)
            },
            offer,
            no_answer_at,
            reinvite: None,
            sdp_version: 1,
            kind: CallKind::Direct,
            group: id,
            ringing_member: None,
            connected: None,
            keys: None,
            forwarded: Vec::new(),
            queue: None,
            transfer: None,
            stale_b: Vec::new(),
        }
    }

    /// What leg `side` is offered in a re-INVITE: the formats it settled
    /// on at answer (so a hold never changes its codec, nor the
    /// transcoding between), or `offered` before anything is settled.
    pub(super) fn settled_formats(&self, side: Side, offered: Vec<Format>) -> Vec<Format> {
        let settled = match side {
            Side::A => &self.a.formats,
            Side::B => &self.b.formats,
        };
        if settled.is_empty() {
            offered
        } else {
            settled.clone()
        }
    }

    /// What a callee of a call the box answered (a flow's member, a
    /// queue's agent) is offered: the codec the caller already talks
    /// first (the bridge then copies packets as they are), the others
    /// transcoded, then the caller's telephone-event.
    pub(super) fn answered_caller_offer(&self) -> Vec<Format> {
        let mut formats: Vec<_> = self.a.formats.iter().take(1).cloned().collect();
        for k in Codec::ALL {
            if self.a.codec != Some(k) {
                formats.push(codec_format(k));
            }
        }
        formats.extend(self.a.formats.iter().skip(1).cloned());
        formats
    }

    /// The codec for records: `G722`, or `G722/PCMA` when the caller's
    /// leg and the callee's differ (transcoded).
    pub(super) fn codec_label(&self) -> Option<String> {
        let a = self.a.codec?;
        Some(match self.b.codec {
            Some(b) if b != a => format!("{}/{}", a.name(), b.name()),
            _ => a.name().to_string(),
        })
    }

    /// The call flow answering the call.
    pub(super) fn flow(&self) -> Option<&ivr::FlowLeg> {
        match &self.kind {
            CallKind::Flow(f) => Some(f),
            _ => None,
        }
    }

    pub(super) fn flow_mut(&mut self) -> Option<&mut ivr::FlowLeg> {
        match &mut self.kind {
            CallKind::Flow(f) => Some(f),
            _ => None,
        }
    }

    /// The feature answering the call.
    pub(super) fn feature(&self) -> Option<&rooms::FeatureLeg> {
        match &self.kind {
            CallKind::Feature(f) => Some(f),
            _ => None,
        }
    }

    pub(super) fn feature_mut(&mut self) -> Option<&mut rooms::FeatureLeg> {
        match &mut self.kind {
            CallKind::Feature(f) => Some(f),
            _ => None,
        }
    }

    /// The call a three-way party joins.
    pub(super) fn joins(&self) -> Option<u64> {
        match self.kind {
            CallKind::ThreeWayParty { joins } => Some(joins),
            _ => None,
        }
    }

    fn originated_ref(&self) -> Option<&Originated> {
        match &self.kind {
            CallKind::Originate(o) => Some(o),
            _ => None,
        }
    }

    pub(super) fn originated_mut(&mut self) -> Option<&mut Originated> {
        match &mut self.kind {
            CallKind::Originate(o) => Some(o),
            _ => None,
        }
    }

    /// Click-to-dial: the agent's own phone, while it rings.
    pub(super) fn origin(&self) -> Option<&originate::Originate> {
        self.originated_ref()?.ringing.as_ref()
    }

    /// Click-to-dial: the A leg is the box's own INVITE, answered, and
    /// the callee is rung or talks.
    pub(super) fn originated(&self) -> bool {
        self.originated_ref().is_some_and(|o| o.callee_rung)
    }

    /// A queue callback: the agent whose phone rings first.
    pub(super) fn callback_agent(&self) -> Option<&str> {
        self.originated_ref()?.callback_agent.as_deref()
    }

    /// Where the call is in its life; changed only by
    /// [`Call::transition`].
    pub(super) fn state(&self) -> CallState {
        self.state
    }

    /// A new call that starts answered by the box (a call flow) rather
    /// than ringing: its first state, before anything has seen it.
    pub(super) fn starting_in(self, state: CallState) -> Call {
        Call { state, ..self }
    }

    /// Moves the call to `to`, returning what the move means, or leaves
    /// it where it is when the move is not one a call makes.
    pub(super) fn transition(&mut self, to: CallState) -> Result<StateEvent, Refused> {
        let from = self.state;
        let event = from.transition(to).ok_or(Refused { from, to })?;
        self.state = to;
        Ok(event)
    }
}

/// What happened to a call, for the parts of the box that follow calls;
/// made only here and handed out by [`Core::emit`].
#[derive(Debug, Clone, Copy)]
pub(super) enum CallChange<'a> {
    /// A caller's call to an extension started ringing it.
    Started(u64),
    /// The call moved between states, as the [`StateEvent`] says.
    Moved(u64, StateEvent),
    /// The call, just removed, ended as the [`Ending`] says.
    Ended(&'a Call, &'a Ending),
}

impl Core {
    /// Moves `call` to `to` and tells the parts of the box that follow
    /// calls what the move means; the one place a call's state changes.
    /// A move a call does not make is refused, logged and changes
    /// nothing. Whether the call moved.
    pub(super) fn set_state(&mut self, now: Now, call: u64, to: CallState) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        match c.transition(to) {
            Ok(event) => {
                self.emit(now, CallChange::Moved(call, event));
                true
            }
            Err(Refused { from, to }) => {
                tracing::warn!(call, ?from, ?to, "call state change refused");
                false
            }
        }
    }

    /// A caller's call to an extension, just placed, rings it.
    pub(super) fn call_started(&mut self, now: Now, call: u64) {
        self.emit(now, CallChange::Started(call));
    }

    /// Call `c`, just removed, ended as `ending` says.
    pub(super) fn call_ended(&mut self, now: Now, c: &Call, ending: &Ending) {
        self.emit(now, CallChange::Ended(c, ending));
    }

    /// The one place call events go out, to each part that follows calls
    /// in turn: the CTI feed first (so the feed says `answered` before
    /// `recorded`), the recording policy, then the rooms, the ACD's busy
    /// tracking and its engine, transfers and click-to-dial. Presence
    /// works its lamps out from the calls after each input and needs no
    /// event.
    fn emit(&mut self, now: Now, event: CallChange<'_>) {
        self.feed_call_event(now, event);
        self.record_call_event(now, event);
        if let CallChange::Ended(c, _) = event {
            self.call_gone(now, c);
        }
        self.acd_call_event(now, event);
        if let CallChange::Ended(c, _) = event {
            self.transfer_gone(now, c);
            self.originate_gone(now, c);
            self.outside_gone(now, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CallState; 4] = [
        CallState::Ringing,
        CallState::Answered,
        CallState::Ending,
        CallState::Flow,
    ];

    fn call() -> Call {
        let peer = dering_sip::transaction::Peer {
            addr: "127.0.0.1:5060".parse().unwrap(),
            transport: dering_sip::transaction::Transport::Udp,
        };
        let invite = Message::parse_datagram(
            b"INVITE sip:1002@box SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\nFrom: <sip:1001@box>;tag=a\r\nTo: <sip:1002@box>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let parties = CallParties {
            uuid: "u1".into(),
            caller: "1001".into(),
            caller_name: None,
            callee: "1002".into(),
            callee_name: None,
            start_ms: 0,
            answer_ms: None,
        };
        let offer = AudioSdp::parse(
            b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n",
        )
        .unwrap();
        Call::new(
            1,
            parties,
            (Dialog::placeholder(peer), Dialog::placeholder(peer)),
            invite,
            offer,
            (10_000, 10_002),
            Instant::now(),
        )
    }

    /// The life of a call, and nothing else: each legal move yields its
    /// event; every other move (back to ringing, out of ending, to the
    /// same state) is refused and leaves the call where it was.
    #[test]
    fn only_the_moves_of_a_call_are_taken() {
        let legal = [
            (
                CallState::Ringing,
                CallState::Answered,
                StateEvent::Answered,
            ),
            (CallState::Flow, CallState::Answered, StateEvent::Answered),
            (
                CallState::Ringing,
                CallState::Flow,
                StateEvent::AnsweredHere,
            ),
            (CallState::Ringing, CallState::Ending, StateEvent::Ending),
            (CallState::Flow, CallState::Ending, StateEvent::Ending),
            (CallState::Answered, CallState::Ending, StateEvent::Ending),
        ];
        for from in ALL {
            for to in ALL {
                let want = legal
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == to)
                    .map(|(_, _, e)| *e);
                let mut c = call().starting_in(from);
                match (c.transition(to), want) {
                    (Ok(got), Some(want)) => {
                        assert_eq!(got, want, "{from:?} -> {to:?}");
                        assert_eq!(c.state(), to);
                    }
                    (Err(refused), None) => {
                        assert_eq!(refused, Refused { from, to });
                        assert_eq!(c.state(), from, "a refused move changes nothing");
                    }
                    (got, want) => panic!("{from:?} -> {to:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    /// Each event comes once per call: a second answer or a second
    /// hang-up (a retransmitted 200, a BYE crossing ours) is refused, so
    /// the feed, the recorder and the ACD never hear of it twice.
    #[test]
    fn every_move_emits_its_event_exactly_once() {
        let mut c = call();
        let mut events = Vec::new();
        for to in [
            CallState::Answered,
            CallState::Answered,
            CallState::Ringing,
            CallState::Ending,
            CallState::Ending,
            CallState::Answered,
        ] {
            events.extend(c.transition(to).ok());
        }
        assert_eq!(events, [StateEvent::Answered, StateEvent::Ending]);
        let mut c = call().starting_in(CallState::Flow);
        let events: Vec<_> = [CallState::Flow, CallState::Answered, CallState::Flow]
            .into_iter()
            .filter_map(|to| c.transition(to).ok())
            .collect();
        assert_eq!(events, [StateEvent::Answered]);
    }
}
