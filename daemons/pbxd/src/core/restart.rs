//! No phone left hanging after a crash (issue 17 §6, decision 0028).
//!
//! A crash takes every call's dialogs with it; the record is closed as
//! `interrupted` at the next start, but both phones would stay in a dead
//! call until their own timers give up. So each leg of an answered call
//! has its dialog (identity, remote target, route set, last CSeq, where
//! the far end is) mirrored to the store: [`Core::save_dialogs`] runs
//! after every input and before a call's answer or end is queued, writes a
//! leg whose dialog changed (the answer, a target refresh, a transfer
//! moving a leg, a CSeq spent) and removes the legs of calls that ended.
//! Rows still there at start are the legs a crash cut:
//! [`Core::bye_interrupted`] sends each a BYE through the transaction
//! layer (retransmitted on UDP, ended by any final answer or a timeout),
//! and the answer is noted on the call's record.
//!
//! A phone on TCP or TLS lost its connection with the crash, and the box
//! does not dial phones (decision 0028): its BYE waits, with its row, until
//! the phone registers again from the same address over the same
//! transport, as a phone does once its flow is gone (RFC 5626 §4.4), and
//! is then sent on the new connection. A phone that hangs up the dead call
//! itself on its new connection is answered 200 and noted; one that does
//! not come back within its longest registration is noted as such.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dering_sip::build::header;
use dering_sip::dialog::Dialog;
use dering_sip::transaction::{Peer, Transport};
use dering_sip::Message;
use dering_store::{DialogRow, Op};

use super::call::Leg;
use super::{CallState, ClientPurpose, Core, Now};

/// The call event noting a BYE sent after a restart and how it ended.
pub const EVENT: &str = "bye_after_restart";

/// Why the phones are hung up: Q.850 cause 41, temporary failure (the
/// box went away, not the other party).
const REASON: &str = "Q.850;cause=41;text=\"dering restarted\"";

/// How long a BYE waits for a phone on TCP or TLS to register again: the
/// longest registration the box grants (`[registrar] max_expires`), so a
/// phone that only refreshes its registration on schedule is still
/// reached, and at least a minute.
fn phone_return(max_expires: u32) -> Duration {
    Duration::from_secs(u64::from(max_expires).max(60))
}

/// What the store holds of the live calls' dialogs, and the BYEs of a
/// restart still waiting for their answers.
#[derive(Debug, Default)]
pub(super) struct Durable {
    /// By call and leg (`a`, `b`): the row last written.
    saved: HashMap<(u64, &'static str), DialogRow>,
    /// By client transaction: the leg a BYE was sent to at start.
    byes: HashMap<String, DialogRow>,
    /// Legs on TCP or TLS whose phone has no connection to the box: each
    /// waits until its phone registers again, or until its deadline.
    waiting: Vec<(DialogRow, Instant)>,
}

/// Whether `row` is a stream leg (TCP, TLS) of phone `ext` at `peer`'s
/// address: the user of the leg's remote URI or target is the
/// extension, and the address and transport are the leg's.
fn leg_of(row: &DialogRow, ext: &str, peer: Peer) -> bool {
    let user = |v: &str| {
        dering_sip::nameaddr::NameAddr::parse(v)
            .ok()
            .and_then(|n| dering_sip::uri::Uri::parse(&n.uri).ok())
            .and_then(|u| u.user_unescaped())
    };
    let same_ip = row
        .peer
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip() == peer.addr.ip());
    same_ip
        && transport_named(&row.transport) == Some(peer.transport)
        && (user(&row.remote).as_deref() == Some(ext) || user(&row.target).as_deref() == Some(ext))
}

/// Whether a leg has a dialog a BYE can be sent in: live, with both tags
/// and a target.
fn endable(leg: &Leg) -> bool {
    leg.is_live()
        && !leg.call_id.is_empty()
        && !leg.target.is_empty()
        && leg.local_tag().is_some()
        && leg.remote_tag().is_some()
}

/// Whether `row` still says what `d` is (compared field by field, so an
/// unchanged leg costs no allocation).
fn same(row: &DialogRow, d: &Dialog) -> bool {
    row.cseq == d.cseq
        && row.call_id == d.call_id
        && row.local == d.local
        && row.remote == d.remote
        && row.target == d.target
        && row.route == d.route_set()
        && row.transport == d.peer.transport.via_name()
        && row.peer.parse::<SocketAddr>() == Ok(d.peer.addr)
}

fn row_of(uuid: &str, leg: &str, d: &Dialog) -> DialogRow {
    DialogRow {
        uuid: uuid.to_string(),
        leg: leg.to_string(),
        call_id: d.call_id.clone(),
        local: d.local.clone(),
        remote: d.remote.clone(),
        target: d.target.clone(),
        route: d.route_set().to_vec(),
        cseq: d.cseq,
        transport: d.peer.transport.via_name().to_string(),
        peer: d.peer.addr.to_string(),
    }
}

fn transport_named(name: &str) -> Option<Transport> {
    match name.to_ascii_uppercase().as_str() {
        "UDP" => Some(Transport::Udp),
        "TCP" => Some(Transport::Tcp),
        "TLS" => Some(Transport::Tls),
        _ => None,
    }
}

/// The dialog a stored row describes, or why it cannot be used.
fn dialog_of(row: &DialogRow) -> Result<Dialog, String> {
    let transport = transport_named(&row.transport)
        .ok_or_else(|| format!("unknown transport {:?}", row.transport))?;
    let addr: SocketAddr = row
        .peer
        .parse()
        .map_err(|e| format!("peer address {:?}: {e}", row.peer))?;
    Ok(Dialog::restored(
        row.call_id.clone(),
        row.local.clone(),
        row.remote.clone(),
        row.target.clone(),
        row.route.clone(),
        row.cseq,
        Peer { transport, addr },
    ))
}

impl Core {
    /// Mirrors the answered legs' dialogs to the store: a leg new or
    /// changed since its last row is written, a leg gone (its call ended,
    /// the leg no longer live) is removed. Ringing calls are skipped: the
    /// brief window between a phone's 2xx and the record is covered by
    /// the answer, which writes the row before its own record.
    pub(super) fn save_dialogs(&mut self) {
        let mut ops = Vec::new();
        for c in self.calls.values() {
            if c.state() == CallState::Ringing {
                continue;
            }
            for (name, leg) in [("a", &c.a), ("b", &c.b)] {
                if !endable(leg) {
                    continue;
                }
                let key = (c.id, name);
                if self
                    .durable
                    .saved
                    .get(&key)
                    .is_some_and(|r| same(r, &leg.dialog))
                {
                    continue;
                }
                let row = row_of(&c.parties.uuid, name, &leg.dialog);
                self.durable.saved.insert(key, row.clone());
                ops.push(Op::DialogSaved(row));
            }
        }
        let calls = &self.calls;
        let gone: Vec<(u64, &'static str)> = self
            .durable
            .saved
            .keys()
            .filter(|(id, name)| {
                !calls.get(id).is_some_and(|c| {
                    c.state() != CallState::Ringing
                        && endable(if *name == "a" { &c.a } else { &c.b })
                })
            })
            .copied()
            .collect();
        for key in gone {
            if let Some(row) = self.durable.saved.remove(&key) {
                ops.push(Op::DialogGone {
                    uuid: row.uuid,
                    leg: Some(row.leg),
                });
            }
        }
        for op in ops {
            self.store(op);
        }
    }

    /// At start, before serving: a BYE to each leg `rows` describes (the
    /// dialogs of calls a crash cut), with `Reason: Q.850;cause=41`.
    /// Each is a client transaction of its own; its final answer, a
    /// timeout or a transport failure notes the call's record and removes
    /// the row. Returns how many BYEs were sent.
    pub fn bye_interrupted(&mut self, now: Now, rows: &[DialogRow]) -> usize {
        let sent = rows.iter().filter(|row| self.restart_bye(now, row)).count();
        self.drain_tx(now);
        sent
    }

    /// Sends the BYE of one leg a crash cut; false (and noted) when it
    /// cannot be built.
    fn restart_bye(&mut self, now: Now, row: &DialogRow) -> bool {
        match self.send_restart_bye(now, row) {
            Ok(key) => {
                tracing::info!(uuid = %row.uuid, leg = %row.leg, to = %row.peer,
                    transport = %row.transport, "BYE to a leg of a call the last stop cut");
                self.durable.byes.insert(key, row.clone());
                true
            }
            Err(why) => {
                tracing::warn!(uuid = %row.uuid, leg = %row.leg, error = %why,
                    "cannot end a leg of a call the last stop cut");
                self.note_restart_bye(now, &row.uuid, &row.leg, None, &why);
                false
            }
        }
    }

    /// The BYE of client transaction `key` could not be sent: the leg's
    /// connection went with the crash (a phone on TCP or TLS, which the
    /// box does not dial), or a peer the box dials did not answer its
    /// connection. A phone's leg waits for the phone to register again
    /// ([`Core::phone_back`]); anything else is noted as a 503.
    pub(super) fn restart_bye_unsent(&mut self, now: Now, key: &str, why: &str) {
        let Some(row) = self.durable.byes.get(key) else {
            return;
        };
        if transport_named(&row.transport).is_some_and(|t| t != Transport::Udp) {
            if let Some(row) = self.durable.byes.remove(key) {
                tracing::info!(uuid = %row.uuid, leg = %row.leg, to = %row.peer, error = %why,
                    "the phone's connection went with the last stop: its BYE waits for it to register again");
                let until = now.at + phone_return(self.max_expires);
                self.durable.waiting.push((row, until));
            }
            return;
        }
        self.restart_bye_ended(now, key, Some(503));
    }

    /// Phone `ext` registered over a new connection at `peer`: the BYEs
    /// waiting for it go out on that connection. Returns how many.
    pub(super) fn phone_back(&mut self, now: Now, ext: &str, peer: Peer) -> usize {
        if peer.transport == Transport::Udp || self.durable.waiting.is_empty() {
            return 0;
        }
        let (back, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.durable.waiting)
            .into_iter()
            .partition(|(row, _)| leg_of(row, ext, peer));
        self.durable.waiting = wait;
        let mut sent = 0;
        for (mut row, _) in back {
            row.peer = peer.addr.to_string();
            if self.restart_bye(now, &row) {
                sent += 1;
            }
        }
        sent
    }

    /// A BYE on a dialog the box no longer has: when it is one whose BYE
    /// waits (its phone hung up the dead call itself, on a new
    /// connection), the leg is noted as ended and true is returned, for a
    /// 200 rather than a 481.
    pub(super) fn phone_left(&mut self, now: Now, req: &Message) -> bool {
        let Some(call_id) = req.call_id() else {
            return false;
        };
        let Some(i) = self
            .durable
            .waiting
            .iter()
            .position(|(row, _)| row.call_id == call_id)
        else {
            return false;
        };
        let (row, _) = self.durable.waiting.remove(i);
        tracing::info!(uuid = %row.uuid, leg = %row.leg, "the phone of a call the last stop cut hung up itself");
        self.note_restart_bye(now, &row.uuid, &row.leg, None, "the phone hung up itself");
        true
    }

    /// Notes the legs whose phone did not register again in time.
    pub(super) fn expire_waiting_byes(&mut self, now: Now) {
        if !self.durable.waiting.iter().any(|(_, at)| *at <= now.at) {
            return;
        }
        let (late, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.durable.waiting)
            .into_iter()
            .partition(|(_, at)| *at <= now.at);
        self.durable.waiting = wait;
        for (row, _) in late {
            tracing::warn!(uuid = %row.uuid, leg = %row.leg, to = %row.peer,
                "the phone of a call the last stop cut never registered again: its BYE is given up");
            self.note_restart_bye(
                now,
                &row.uuid,
                &row.leg,
                None,
                "the phone did not register again",
            );
        }
    }

    fn send_restart_bye(&mut self, now: Now, row: &DialogRow) -> Result<String, String> {
        let mut d = dialog_of(row)?;
        d.next_cseq();
        let data = d
            .request_with(
                &self.listen,
                rsip::Method::Bye,
                vec![header("Reason", REASON)],
                None,
                b"",
            )
            .map_err(|e| format!("building the BYE: {e}"))?;
        let m = Message::parse_datagram(&data).map_err(|e| format!("the BYE built: {e}"))?;
        let key = self
            .tx
            .send_request(now.at, d.peer, m, data)
            .ok_or("the transaction layer refused the BYE")?;
        self.clients.insert(key.clone(), ClientPurpose::RestartBye);
        Ok(key)
    }

    /// A BYE of [`Core::bye_interrupted`] ended: answered `code` (a 503
    /// when its transport failed), or `None` on timeout.
    pub(super) fn restart_bye_ended(&mut self, now: Now, key: &str, code: Option<u16>) {
        let Some(DialogRow { uuid, leg, .. }) = self.durable.byes.remove(key) else {
            return;
        };
        let why = match code {
            Some(c) if (200..300).contains(&c) => "ended",
            Some(481) => "the phone had already left the call",
            Some(_) => "refused",
            None => "no answer",
        };
        tracing::info!(%uuid, %leg, code, why, "BYE after restart done");
        self.note_restart_bye(now, &uuid, &leg, code, why);
    }

    /// Notes on the call's record how its leg's BYE went, and forgets the
    /// leg's dialog.
    fn note_restart_bye(&mut self, now: Now, uuid: &str, leg: &str, code: Option<u16>, why: &str) {
        let detail = serde_json::json!({ "leg": leg, "answer": code, "why": why }).to_string();
        self.store(Op::CallEvent {
            uuid: uuid.to_string(),
            at_ms: now.wall_ms,
            kind: EVENT.to_string(),
            detail: Some(detail),
        });
        self.store(Op::DialogGone {
            uuid: uuid.to_string(),
            leg: Some(leg.to_string()),
        });
    }
}
