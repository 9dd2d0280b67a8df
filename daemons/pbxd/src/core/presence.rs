//! BLF and presence (ACD-10, TEL-2): desk phones SUBSCRIBE to a colleague's
//! extension or an agent's number and their busy-lamp keys follow it.
//!
//! - `Event: dialog` (RFC 4235): `application/dialog-info+xml`, full state
//!   each time. An extension shows `early` while it rings or calls out
//!   unanswered, `confirmed` while on a call, nothing when idle. An agent
//!   (subscribed by agent number) shows idle when ready, `early` when
//!   offered a call, and `confirmed` otherwise (on a call, in wrap-up, not
//!   ready or logged out): the lamp is green exactly when the agent can
//!   take a call.
//! - `Event: presence` (RFC 3856, PIDF RFC 3863): `open` when the phone is
//!   registered (an agent: when ready), with a note saying what it is
//!   doing (`on the phone`, `not_ready: makan siang`, ...).
//!
//! The box is the notifier for every resource itself (no PUBLISH). After
//! each input that may change a state, the current state of each
//! subscribed resource is worked out once and a NOTIFY goes to each
//! subscription whose document changed. Subscriptions live in memory: a
//! phone refreshes its subscription within its expiry, so after a restart
//! the keys light again within one refresh.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dering_acd::AgentState;
use dering_sip::build::{self, header};
use dering_sip::nameaddr::NameAddr;
use dering_sip::transaction::Peer;
use dering_sip::uri::Uri;
use dering_sip::Message;

use super::{CallState, Core, Dialog, Now};

const DEFAULT_EXPIRES: u32 = 3600;
const MIN_EXPIRES: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Package {
    Dialog,
    Presence,
}

impl Package {
    fn parse(event: &str) -> Option<Package> {
        match event
            .split(';')
            .next()?
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "dialog" => Some(Package::Dialog),
            "presence" => Some(Package::Presence),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Package::Dialog => "dialog",
            Package::Presence => "presence",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Package::Dialog => "application/dialog-info+xml",
            Package::Presence => "application/pidf+xml",
        }
    }
}

/// One subscription: the box's side of its dialog and what it last said.
#[derive(Debug)]
struct Sub {
    dialog: Dialog,
    resource: String,
    package: Package,
    expires_at: Instant,
    version: u32,
    /// The last state sent, to send only changes.
    last: Option<State>,
}

/// The box's subscriptions, by the subscription dialog's Call-ID.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    subs: HashMap<String, Sub>,
}

/// A resource's state, as the two packages tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    /// `None` idle; `early` or `confirmed`, with the direction.
    dialog: Option<(&'static str, &'static str)>,
    open: bool,
    note: String,
}

impl Core {
    /// A SUBSCRIBE: a new subscription, a refresh, or an unsubscribe
    /// (`Expires: 0`).
    pub(super) fn on_subscribe(&mut self, now: Now, peer: Peer, key: &str, req: &Message) {
        let Some(package) = req.get("Event").and_then(Package::parse) else {
            let extra = vec![header("Allow-Events", "dialog, presence, refer")];
            self.respond(now, key, req, 489, extra);
            return;
        };
        let expires = req
            .get("Expires")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(DEFAULT_EXPIRES)
            .min(DEFAULT_EXPIRES);
        if expires != 0 && expires < MIN_EXPIRES {
            let extra = vec![header("Min-Expires", MIN_EXPIRES.to_string())];
            self.respond(now, key, req, 423, extra);
            return;
        }
        let call_id = req.call_id().unwrap_or_default().to_string();
        let in_dialog = req
            .get("To")
            .and_then(|t| NameAddr::parse(t).ok())
            .is_some_and(|n| n.tag().is_some());
        if in_dialog {
            let Some(s) = self.subscriptions.subs.get_mut(&call_id) else {
                self.respond(now, key, req, 481, vec![]);
                return;
            };
            s.expires_at = now.at + Duration::from_secs(expires.into());
            let tag = NameAddr::parse(&s.dialog.local)
                .ok()
                .and_then(|n| n.tag().map(str::to_string));
            let data = build::response(
                req,
                200,
                tag.as_deref(),
                vec![header("Expires", expires.to_string())],
                b"",
            );
            self.tx.respond(now.at, key, 200, data);
            // A refresh gets the full state again (RFC 6665 §4.2.2).
            if let Some(s) = self.subscriptions.subs.get_mut(&call_id) {
                s.last = None;
            }
            if expires == 0 {
                self.end_subscription(now, &call_id, "terminated;reason=timeout");
            } else {
                self.notify_changes(now);
            }
            return;
        }
        let Some(_user) = self.authenticate(now, peer, key, req, false) else {
            return;
        };
        let resource = Uri::parse(req.request_uri().unwrap_or_default())
            .ok()
            .and_then(|u| u.user_unescaped())
            .unwrap_or_default();
        if !self.users.contains_key(&resource) && self.queues.acd.agent_state(&resource).is_none() {
            self.respond(now, key, req, 404, vec![]);
            return;
        }
        let dialog = Dialog::from_invite(req, peer, self.listen.tokens.token(10));
        let tag = NameAddr::parse(&dialog.local)
            .ok()
            .and_then(|n| n.tag().map(str::to_string));
        let extra = vec![
            header("Expires", expires.to_string()),
            header("Contact", self.listen.contact(peer.transport)),
        ];
        let data = build::response(req, 200, tag.as_deref(), extra, b"");
        self.tx.respond(now.at, key, 200, data);
        tracing::info!(%resource, package = package.name(), expires, "subscribed");
        self.subscriptions.subs.insert(
            call_id.clone(),
            Sub {
                dialog,
                resource,
                package,
                expires_at: now.at + Duration::from_secs(expires.into()),
                version: 0,
                last: None,
            },
        );
        if expires == 0 {
            // A fetch: one NOTIFY with the state, and done.
            self.notify_changes(now);
            self.end_subscription(now, &call_id, "terminated;reason=timeout");
        } else {
            self.notify_changes(now);
        }
    }

    /// Ends subscriptions past their expiry.
    pub(super) fn expire_subscriptions(&mut self, now: Now) {
        let gone: Vec<String> = self
            .subscriptions
            .subs
            .iter()
            .filter(|(_, s)| s.expires_at <= now.at)
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.end_subscription(now, &k, "terminated;reason=timeout");
        }
    }

    fn end_subscription(&mut self, now: Now, call_id: &str, state: &str) {
        if let Some(mut s) = self.subscriptions.subs.remove(call_id) {
            let st = {
                let busy = self.busy_map();
                self.state_of(&s.resource, &busy)
            };
            self.notify_sub(now, &mut s, &st, state);
        }
    }

    /// Sends a NOTIFY to every subscription whose resource changed.
    pub(super) fn notify_changes(&mut self, now: Now) {
        if self.subscriptions.subs.is_empty() {
            return;
        }
        let changed: Vec<(String, State)> = {
            let busy = self.busy_map();
            self.subscriptions
                .subs
                .iter()
                .filter_map(|(k, s)| {
                    let st = self.state_of(&s.resource, &busy);
                    (s.last.as_ref() != Some(&st)).then(|| (k.clone(), st))
                })
                .collect()
        };
        for (k, st) in changed {
            let Some(mut s) = self.subscriptions.subs.remove(&k) else {
                continue;
            };
            let left = s.expires_at.saturating_duration_since(now.at).as_secs();
            self.notify_sub(now, &mut s, &st, &format!("active;expires={left}"));
            s.last = Some(st);
            self.subscriptions.subs.insert(k, s);
        }
    }

    /// What every extension on a call is doing: `early` or `confirmed`,
    /// and whether it called (`initiator`) or was called (`recipient`).
    fn busy_map(&self) -> HashMap<&str, (&'static str, &'static str)> {
        fn put<'a>(
            m: &mut HashMap<&'a str, (&'static str, &'static str)>,
            ext: &'a str,
            state: &'static str,
            dir: &'static str,
        ) {
            let e = m.entry(ext).or_insert((state, dir));
            if state == "confirmed" {
                *e = (state, dir);
            }
        }
        let mut m: HashMap<&str, (&'static str, &'static str)> = HashMap::new();
        for c in self.calls.values() {
            if c.state() == CallState::Ending {
                continue;
            }
            let answered = c.state() == CallState::Answered;
            if c.a.is_live() && self.users.contains_key(&c.parties.caller) {
                let st = if answered || c.flow().is_some() || c.feature().is_some() {
                    "confirmed"
                } else {
                    "early"
                };
                put(&mut m, &c.parties.caller, st, "initiator");
            }
            if answered && c.b.is_live() {
                let callee = c.connected.as_deref().unwrap_or(&c.parties.callee);
                put(&mut m, callee, "confirmed", "recipient");
            } else if c.state() == CallState::Ringing {
                let callee = c.connected.as_deref().unwrap_or(&c.parties.callee);
                put(&mut m, callee, "early", "recipient");
            }
            if let Some(r) = c.ringing_member.as_deref().filter(|_| !answered) {
                put(&mut m, r, "early", "recipient");
            }
            for ext in self.offering(c) {
                put(&mut m, ext, "early", "recipient");
            }
        }
        m
    }

    fn state_of(
        &self,
        resource: &str,
        busy: &HashMap<&str, (&'static str, &'static str)>,
    ) -> State {
        if let Some(agent) = self
            .queues
            .acd
            .agent_state(resource)
            .filter(|_| !self.users.contains_key(resource))
        {
            let (dialog, note) = match agent {
                AgentState::Ready => (None, "ready".to_string()),
                AgentState::Offered { .. } => (Some(("early", "recipient")), "offered".into()),
                AgentState::NotReady { reason } => (
                    Some(("confirmed", "recipient")),
                    format!("not_ready: {reason}"),
                ),
                other => (
                    Some(("confirmed", "recipient")),
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v["state"].as_str().map(str::to_string))
                        .unwrap_or_default(),
                ),
            };
            return State {
                open: *agent == AgentState::Ready,
                dialog,
                note,
            };
        }
        let registered = self.bindings.route(resource).is_some();
        let dialog = busy.get(resource).copied();
        let note = match (registered, dialog) {
            (false, _) => "offline",
            (true, Some(("confirmed", _))) => "on the phone",
            (true, Some(_)) => "ringing",
            (true, None) => "available",
        };
        State {
            dialog,
            open: registered,
            note: note.into(),
        }
    }

    fn notify_sub(&mut self, now: Now, s: &mut Sub, st: &State, sub_state: &str) {
        s.version += 1;
        let entity = format!("sip:{}@{}", s.resource, self.realm);
        let body = match s.package {
            Package::Dialog => dialog_info(&entity, s.version, st),
            Package::Presence => pidf(&entity, st),
        };
        s.dialog.cseq += 1;
        self.send_notify(
            now,
            &s.dialog,
            (s.package.name(), sub_state),
            s.package.content_type(),
            body.as_bytes(),
        );
    }
}

/// RFC 4235 §4: the full dialog state of `entity`.
fn dialog_info(entity: &str, version: u32, st: &State) -> String {
    let dialogs = match st.dialog {
        Some((state, direction)) => format!(
            "  <dialog id=\"d{version}\" direction=\"{direction}\">\n    <state>{state}</state>\n  </dialog>\n"
        ),
        None => String::new(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{}\" state=\"full\" entity=\"{}\">\n{dialogs}</dialog-info>\n",
        version.saturating_sub(1),
        xml_escape(entity)
    )
}

/// RFC 3863: open or closed, with a note.
fn pidf(entity: &str, st: &State) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{}\">\n  <tuple id=\"t1\">\n    <status><basic>{}</basic></status>\n    <note>{}</note>\n  </tuple>\n</presence>\n",
        xml_escape(entity),
        if st.open { "open" } else { "closed" },
        xml_escape(&st.note)
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4235 §4.1: the document's version counts from 0; an idle
    /// resource has no dialog element; `state="full"` every time.
    #[test]
    fn dialog_info_documents() {
        let idle = State {
            dialog: None,
            open: true,
            note: "available".into(),
        };
        let doc = dialog_info("sip:1002@dering.local", 1, &idle);
        assert!(doc.contains("version=\"0\" state=\"full\""), "{doc}");
        assert!(!doc.contains("<dialog "), "{doc}");
        let busy = State {
            dialog: Some(("confirmed", "recipient")),
            open: true,
            note: "on the phone".into(),
        };
        let doc = dialog_info("sip:1002@dering.local", 2, &busy);
        assert!(doc.contains("<state>confirmed</state>"), "{doc}");
        assert!(doc.contains("direction=\"recipient\""), "{doc}");
        let p = pidf(
            "sip:2001@dering.local",
            &State {
                dialog: None,
                open: false,
                note: "not_ready: <rapat> & \"x\"".into(),
            },
        );
        assert!(p.contains("<basic>closed</basic>"), "{p}");
        assert!(
            p.contains("not_ready: &lt;rapat&gt; &amp; &quot;x&quot;"),
            "{p}"
        );
        assert_eq!(Package::parse("Dialog;id=1"), Some(Package::Dialog));
        assert_eq!(Package::parse("message-summary"), None);
    }
}
