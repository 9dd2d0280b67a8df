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

use std::collections::HashMap;
use std::net::SocketAddr;

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

/// What the store holds of the live calls' dialogs, and the BYEs of a
/// restart still waiting for their answers.
#[derive(Debug, Default)]
pub(super) struct Durable {
    /// By call and leg (`a`, `b`): the row last written.
    saved: HashMap<(u64, &'static str), DialogRow>,
    /// By client transaction: the call's UUID and the leg of a BYE sent
    /// at start.
    byes: HashMap<String, (String, String)>,
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
        let mut sent = 0;
        for row in rows {
            match self.send_restart_bye(now, row) {
                Ok(key) => {
                    tracing::info!(uuid = %row.uuid, leg = %row.leg, to = %row.peer,
                        "BYE to a leg of a call the last stop cut");
                    self.durable
                        .byes
                        .insert(key, (row.uuid.clone(), row.leg.clone()));
                    sent += 1;
                }
                Err(why) => {
                    tracing::warn!(uuid = %row.uuid, leg = %row.leg, error = %why,
                        "cannot end a leg of a call the last stop cut");
                    self.note_restart_bye(now, &row.uuid, &row.leg, None, &why);
                }
            }
        }
        self.drain_tx(now);
        sent
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
        let Some((uuid, leg)) = self.durable.byes.remove(key) else {
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
