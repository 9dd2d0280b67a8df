//! Call forwarding to internal units (TEL-6), set from the phone and kept
//! in the database so it survives restarts:
//!
//! | dial          | sets                                   |
//! |---------------|----------------------------------------|
//! | `*21` + ext   | forward every call to ext              |
//! | `*22`         | cancel it                              |
//! | `*67` + ext   | forward when busy                      |
//! | `*68`         | cancel it                              |
//! | `*61` + ext   | forward when not answered or reachable |
//! | `*62`         | cancel it                              |
//!
//! The box answers the code with a spoken confirmation. Forwarding follows
//! chains (1001 → 1002 → 1003) up to [`MAX_HOPS`] and never loops back to
//! an extension already tried in the call.

use std::collections::HashMap;

use dering_sip::sdp::Direction;
use dering_store::Op;

use super::{callee_offer, BLegSpec, CallState, Core, Ending, Now};

/// Most forwards one call follows.
pub(super) const MAX_HOPS: usize = 5;

/// When a forward applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Condition {
    All,
    Busy,
    NoAnswer,
}

impl Condition {
    pub(super) fn name(self) -> &'static str {
        match self {
            Condition::All => "all",
            Condition::Busy => "busy",
            Condition::NoAnswer => "no_answer",
        }
    }

    fn parse(s: &str) -> Option<Condition> {
        match s {
            "all" => Some(Condition::All),
            "busy" => Some(Condition::Busy),
            "no_answer" => Some(Condition::NoAnswer),
            _ => None,
        }
    }
}

/// The forwards set on the box.
#[derive(Debug, Default)]
pub(super) struct Forwards {
    map: HashMap<(String, Condition), String>,
}

impl Forwards {
    /// A forwarding code: (condition, target, `None` to cancel).
    pub(super) fn classify(number: &str) -> Option<(Condition, Option<String>)> {
        let codes = [
            ("*21", "*22", Condition::All),
            ("*67", "*68", Condition::Busy),
            ("*61", "*62", Condition::NoAnswer),
        ];
        for (set, cancel, cond) in codes {
            if number == cancel {
                return Some((cond, None));
            }
            if let Some(ext) = number.strip_prefix(set) {
                if !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()) {
                    return Some((cond, Some(ext.to_string())));
                }
            }
        }
        None
    }

    pub(super) fn set(&mut self, ext: &str, cond: Condition, target: Option<String>) {
        match target {
            Some(t) => self.map.insert((ext.to_string(), cond), t),
            None => self.map.remove(&(ext.to_string(), cond)),
        };
    }

    pub(super) fn target(&self, ext: &str, cond: Condition) -> Option<&str> {
        self.map.get(&(ext.to_string(), cond)).map(String::as_str)
    }

    /// Where a call to `ext` goes after unconditional forwards, given the
    /// extensions the call has already been to (`tried`, extended here).
    pub(super) fn follow_all(&self, ext: &str, tried: &mut Vec<String>) -> String {
        let mut at = ext.to_string();
        while tried.len() < MAX_HOPS {
            let Some(next) = self.target(&at, Condition::All) else {
                break;
            };
            if next == ext || tried.iter().any(|t| t == next) {
                break;
            }
            tried.push(at);
            at = next.to_string();
        }
        at
    }
}

impl Core {
    /// The forwards stored by an earlier run: (extension, condition,
    /// target).
    pub fn set_forwards(&mut self, rows: Vec<(String, String, String)>) {
        for (ext, cond, target) in rows {
            if let Some(c) = Condition::parse(&cond) {
                self.forwards.set(&ext, c, Some(target));
            }
        }
    }

    /// `who` dialed a forwarding code: stores it and says which prompt
    /// confirms it (or refuses a target that is no extension, or `who`
    /// itself).
    pub(super) fn apply_forward_code(
        &mut self,
        now: Now,
        who: &str,
        cond: Condition,
        target: Option<String>,
    ) -> &'static str {
        if let Some(t) = &target {
            // An outside target must be one the extension may call
            // (TEL-5): forwarding is no way around a permission.
            let reachable =
                self.users.contains_key(t) || self.outward_for(now, who, t, None).is_ok();
            if !reachable || t == who {
                return "invalid";
            }
        }
        let on = target.is_some();
        tracing::info!(extension = %who, condition = cond.name(), target = target.as_deref().unwrap_or("-"), "call forwarding set");
        self.forwards.set(who, cond, target.clone());
        self.store(Op::Forward {
            extension: who.to_string(),
            condition: cond.name().to_string(),
            target,
            at_ms: now.wall_ms,
        });
        if on {
            "forward_on"
        } else {
            "forward_off"
        }
    }

    /// The extension being rung did not take the call (`cond`): if it
    /// forwards on that, ring the target instead. Returns whether it did.
    pub(super) fn forward_on(&mut self, now: Now, call: u64, cond: Condition) -> bool {
        let Some(c) = self
            .calls
            .get(&call)
            .filter(|c| c.state() == CallState::Ringing && c.a.is_live() && c.joins().is_none())
        else {
            return false;
        };
        let ringing = c.connected.clone().unwrap_or(c.parties.callee.clone());
        let Some(first) = self.forwards.target(&ringing, cond).map(str::to_string) else {
            return false;
        };
        let mut tried = c.forwarded.clone();
        tried.push(ringing.clone());
        if tried.len() > MAX_HOPS || tried.contains(&first) {
            return false;
        }
        let target = self.forwards.follow_all(&first, &mut tried);
        if tried.contains(&target) && target != first {
            return false;
        }
        if !self.users.contains_key(&target) {
            // Forwarded to an outside number: under the forwarding
            // extension's permission, with a Diversion naming it.
            if !self.ring_outside(now, call, &ringing, &target, Some(ringing.clone())) {
                return false;
            }
            if let Some(c) = self.calls.get_mut(&call) {
                c.forwarded = tried;
                c.connected = Some(target.clone());
            }
            self.store(Op::CallEvent {
                uuid: self
                    .calls
                    .get(&call)
                    .map(|c| c.parties.uuid.clone())
                    .unwrap_or_default(),
                at_ms: now.wall_ms,
                kind: "forwarded".into(),
                detail: Some(format!("{} {ringing} -> {target}", cond.name())),
            });
            return true;
        }
        let Some(contact) = self.target(&target) else {
            tracing::info!(call, %target, "forward target not reachable");
            return false;
        };
        let formats = callee_offer(&c.offer);
        let (caller, display) = (
            c.parties.caller.clone(),
            c.parties
                .caller_name
                .clone()
                .unwrap_or_else(|| c.parties.caller.clone()),
        );
        let (b_port, ptime, old_call_id, old_key) = (
            c.b.port,
            c.offer.ptime,
            c.b.call_id.clone(),
            c.b.invite_key.clone(),
        );
        let leg = BLegSpec {
            call,
            caller: &caller,
            display: &display,
            callee: &target,
            target: &contact,
            formats,
            direction: Direction::SendRecv,
            ptime,
            b_port,
            extra: vec![],
        };
        let Some(invite) = self.invite_b(now, leg) else {
            return false;
        };
        self.by_call_id.remove(&old_call_id);
        self.clients.remove(&old_key);
        let Some(c) = self.ring_b(now, call, invite) else {
            return false;
        };
        c.forwarded = tried;
        c.connected = Some(target.clone());
        let uuid = c.parties.uuid.clone();
        tracing::info!(call, from = %ringing, to = %target, condition = cond.name(), "call forwarded");
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "forwarded".into(),
            detail: Some(format!("{} {ringing} -> {target}", cond.name())),
        });
        true
    }

    /// The record of a call that could not be forwarded further ends as
    /// the last extension left it.
    pub(super) fn forward_or_end(
        &mut self,
        now: Now,
        call: u64,
        cond: Condition,
        ending: Ending,
        a_code: u16,
    ) {
        if !self.forward_on(now, call, cond) {
            self.end_call(now, call, ending, a_code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_set_and_cancel() {
        assert_eq!(
            Forwards::classify("*211003"),
            Some((Condition::All, Some("1003".into())))
        );
        assert_eq!(Forwards::classify("*22"), Some((Condition::All, None)));
        assert_eq!(
            Forwards::classify("*671002"),
            Some((Condition::Busy, Some("1002".into())))
        );
        assert_eq!(Forwards::classify("*62"), Some((Condition::NoAnswer, None)));
        for n in ["*21", "*21x", "*2", "1001", "*221"] {
            assert_eq!(Forwards::classify(n), None, "{n}");
        }
    }

    #[test]
    fn chains_are_followed_and_loops_stop() {
        let mut f = Forwards::default();
        f.set("1001", Condition::All, Some("1002".into()));
        f.set("1002", Condition::All, Some("1003".into()));
        let mut tried = Vec::new();
        assert_eq!(f.follow_all("1001", &mut tried), "1003");
        assert_eq!(tried, ["1001", "1002"]);
        // 1003 → 1001 closes a loop: the chain stops before repeating.
        f.set("1003", Condition::All, Some("1001".into()));
        let mut tried = Vec::new();
        let end = f.follow_all("1001", &mut tried);
        assert_eq!(end, "1003");
        f.set("1003", Condition::All, None);
        assert_eq!(f.target("1003", Condition::All), None);
        assert_eq!(f.target("1001", Condition::Busy), None);
    }
}
