//! Call pickup (TEL-2): an extension answers a call ringing another.
//!
//! - Directed: `**` and the extension that rings.
//! - Group: `*8` alone answers the call ringing longest among the
//!   extensions of the caller's pickup group (`[[extension]]
//!   pickup_group`; without one, every extension is in one group).
//!
//! The picker's INVITE becomes the call's B leg, answered by the box: the
//! caller gets its 200 as if the rung phone had answered, the rung phone's
//! INVITE is cancelled (a 200 that crosses the CANCEL is ACKed and hung
//! up), and the record says who picked up which.

use std::collections::HashMap;

use dering_media::codec::Codec;
use dering_sip::build::{self, header};
use dering_sip::nameaddr::NameAddr;
use dering_sip::sdp::{AudioSdp, Direction, Format};
use dering_sip::transaction::Peer;
use dering_store::Op;

use super::media_to;
use super::{known_formats, CallState, ClientPurpose, Core, Dialog, Now, Reply, Side};
use crate::config::Config;

/// What a dialled number asks to pick up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pickup {
    Directed(String),
    Group,
}

/// The pickup codes and groups of the box.
#[derive(Debug)]
pub(super) struct Pickups {
    directed: String,
    group: String,
    /// Extension → its pickup group.
    groups: HashMap<String, String>,
}

impl Pickups {
    pub(super) fn new(cfg: &Config) -> Pickups {
        Pickups {
            directed: cfg.calls.pickup_code.clone(),
            group: cfg.calls.group_pickup_code.clone(),
            groups: cfg
                .extensions
                .iter()
                .map(|e| (e.number.clone(), e.pickup_group.clone().unwrap_or_default()))
                .collect(),
        }
    }

    pub(super) fn classify(&self, number: &str) -> Option<Pickup> {
        if number == self.group {
            return Some(Pickup::Group);
        }
        let ext = number.strip_prefix(self.directed.as_str())?;
        (!ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Pickup::Directed(ext.to_string()))
    }

    fn same_group(&self, a: &str, b: &str) -> bool {
        matches!((self.groups.get(a), self.groups.get(b)), (Some(x), Some(y)) if x == y)
    }
}

impl Core {
    /// `picker` dialled a pickup code: the ringing call it names is
    /// answered on the picker's INVITE, or the INVITE gets 480.
    pub(super) fn pick_up(&mut self, now: Now, call: super::Inbound, what: Pickup) {
        let picker = call.caller.clone();
        let rung_of = |c: &super::Call| c.connected.clone().unwrap_or(c.parties.callee.clone());
        let found = self
            .calls
            .values()
            .filter(|c| c.state() == CallState::Ringing && c.b.is_live() && c.a.is_live())
            .filter(|c| rung_of(c) != picker)
            .filter(|c| match &what {
                Pickup::Directed(ext) => rung_of(c) == *ext,
                Pickup::Group => self.pickups.same_group(&rung_of(c), &picker),
            })
            .min_by_key(|c| c.parties.start_ms)
            .map(|c| (c.id, rung_of(c)));
        let Some((id, rung)) = found else {
            tracing::info!(%picker, ?what, "nothing ringing to pick up");
            self.respond(now, &call.key, &call.req, 480, vec![]);
            return;
        };
        let Ok(offer) = AudioSdp::parse(&call.req.body) else {
            self.respond(now, &call.key, &call.req, 488, vec![]);
            return;
        };
        // The picker talks the caller's codec if it can, else its own
        // first; the relay transcodes between.
        let caller_codecs: Vec<Codec> = self
            .calls
            .get(&id)
            .map(|c| {
                known_formats(&c.offer)
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect()
            })
            .unwrap_or_default();
        let mine = known_formats(&offer);
        let Some((_, fmt)) = mine
            .iter()
            .find(|(k, _)| caller_codecs.first() == Some(k))
            .or(mine.first())
            .cloned()
        else {
            self.respond(now, &call.key, &call.req, 488, vec![]);
            return;
        };
        let mut b_formats: Vec<Format> = vec![fmt];
        b_formats.extend(offer.telephone_event().cloned());
        self.take_over_b(now, id, &call, &b_formats, &offer, &picker, &rung);
    }

    /// Makes the picker's INVITE the B leg of ringing call `id` and
    /// answers both sides.
    #[allow(clippy::too_many_arguments)]
    fn take_over_b(
        &mut self,
        now: Now,
        id: u64,
        call: &super::Inbound,
        b_formats: &[Format],
        offer: &AudioSdp,
        picker: &str,
        rung: &str,
    ) {
        // The rung phone stops ringing; its answer, if one crosses the
        // CANCEL, is hung up.
        self.send_cancel(now, id);
        let peer: Peer = call.peer;
        let b = Dialog::from_invite(&call.req, peer, self.listen.tokens.token(10));
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let old_key = std::mem::take(&mut c.b.invite_key);
        let old = std::mem::replace(&mut c.b.dialog, b.clone());
        c.stale_b.push((old_key.clone(), old.clone()));
        c.b.key_in = Some(call.key.clone());
        c.connected = Some(picker.to_string());
        self.clients.insert(old_key, ClientPurpose::Stale(id));
        self.by_call_id.remove(&old.call_id);
        self.by_call_id.insert(b.call_id.clone(), (id, Side::B));
        let Some(a_formats) = self.settle_codecs(id, b_formats) else {
            self.respond(now, &call.key, &call.req, 488, vec![]);
            return;
        };
        media_to(&mut self.out, id, Side::B, offer);
        // The picker's 200, from the B port.
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let port = c.b.port;
        let body = self.sdp_body(
            id,
            (port, offer.ptime),
            b_formats.to_vec(),
            Direction::SendRecv,
        );
        let tag = NameAddr::parse(&b.local)
            .ok()
            .and_then(|n| n.tag().map(str::to_string));
        let extra = vec![
            header("Contact", self.listen.contact(peer.transport)),
            header("Content-Type", "application/sdp"),
        ];
        let data = build::response(&call.req, 200, tag.as_deref(), extra, &body);
        self.tx.respond(now.at, &call.key, 200, data);
        // The caller's 200, as on any answer.
        let a_body = self.a_sdp(id, a_formats, Direction::SendRecv);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.parties.answer_ms = Some(now.wall_ms);
        let codec = c.codec_label().unwrap_or_default();
        let uuid = c.parties.uuid.clone();
        tracing::info!(call = id, %picker, %rung, "picked up");
        self.set_state(now, id, CallState::Answered);
        self.store(Op::CallEvent {
            uuid: uuid.clone(),
            at_ms: now.wall_ms,
            kind: "picked_up".into(),
            detail: Some(format!("by {picker} (rang {rung})")),
        });
        self.watch_keys(id);
        let answered = Op::CallAnswered {
            uuid,
            at_ms: now.wall_ms,
            codec,
        };
        if let Some((a_key, data)) = self.response_to_a(id, 200, &a_body, vec![]) {
            self.respond_after(answered, a_key, 200, data);
        }
    }

    /// A final answer from a B leg the call no longer uses (the phone that
    /// rang before a pickup): a 200 is ACKed and hung up.
    pub(super) fn stale_response(&mut self, now: Now, call: u64, r: Reply<'_>) {
        let Reply { key, code, msg } = r;
        if code < 200 {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(i) = c.stale_b.iter().position(|(k, _)| k == key) else {
            return;
        };
        let (_, mut d) = c.stale_b.remove(i);
        if (200..300).contains(&code) {
            self.ack_and_bye(now, &mut d, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickup_codes() {
        let cfg = Config::embedded().unwrap();
        let p = Pickups::new(&cfg);
        assert_eq!(p.classify("**1002"), Some(Pickup::Directed("1002".into())));
        assert_eq!(p.classify("*8"), Some(Pickup::Group));
        assert_eq!(p.classify("**"), None);
        assert_eq!(p.classify("**10a"), None);
        assert!(p.same_group("1001", "1002"));
        assert!(!p.same_group("1001", "9999"));
    }
}
