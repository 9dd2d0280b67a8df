//! Registrar bindings (RFC 3261 §10.3) kept in memory for routing and
//! mirrored to SQLite so phones keep working across a restart. Requests to a
//! phone go to the address its REGISTER came from (symmetric signalling, so
//! phones behind NAT are reachable without STUN).
//!
//! The bindings also tell whoever follows phones (the ACD) when an
//! extension can no longer be rung or can again, as [`PhoneEvent`]s polled
//! from [`Bindings::poll_event`], so nobody has to compare every agent
//! with every binding to find out.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use dering_sip::transaction::Peer;
use dering_store::Binding;

/// One live contact of an extension.
#[derive(Debug, Clone)]
pub struct Contact {
    /// The Contact header value as the phone sent it (name-addr form).
    pub value: String,
    /// The contact URI, where requests are addressed.
    pub uri: String,
    /// Where the REGISTER came from: where requests are sent.
    pub peer: Peer,
    pub expires_at: Instant,
    pub expires_at_ms: i64,
    pub call_id: String,
    pub cseq: u32,
    pub user_agent: Option<String>,
    /// False once qualify OPTIONS went unanswered. Changed through
    /// [`Bindings::set_reachable`], which reports what it changes.
    pub reachable: bool,
    pub next_qualify: Instant,
}

/// Why an extension's last reachable binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostWhy {
    /// Its registration ran out without a refresh.
    Expired,
    /// The phone removed it (`Expires: 0`, `Contact: *`).
    Unregistered,
    /// It stopped answering qualify OPTIONS.
    Unanswered,
}

impl LostWhy {
    /// The reason's name on the event feed.
    pub fn name(self) -> &'static str {
        match self {
            LostWhy::Expired => "expired",
            LostWhy::Unregistered => "unregistered",
            LostWhy::Unanswered => "unanswered",
        }
    }
}

/// A change in whether an extension has a binding it can be rung at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    /// The extension's last reachable binding went away.
    PhoneLost { extension: String, why: LostWhy },
    /// The extension had no reachable binding and has one again
    /// (registered anew, or answering OPTIONS again).
    PhoneBack { extension: String },
}

/// All bindings, by extension number.
#[derive(Debug, Default)]
pub struct Bindings {
    by_ext: HashMap<String, Vec<Contact>>,
    /// Changes of reachability not yet polled.
    events: VecDeque<PhoneEvent>,
}

impl Bindings {
    /// The next change of an extension's reachability, oldest first.
    pub fn poll_event(&mut self) -> Option<PhoneEvent> {
        self.events.pop_front()
    }

    /// Whether `ext` has a binding requests can be sent to.
    pub fn reachable(&self, ext: &str) -> bool {
        self.route(ext).is_some()
    }

    /// Reports the change, if any, of `ext`'s reachability from `before`.
    fn changed(&mut self, ext: &str, before: bool, why: LostWhy) {
        let extension = ext.to_string();
        match (before, self.reachable(ext)) {
            (true, false) => self
                .events
                .push_back(PhoneEvent::PhoneLost { extension, why }),
            (false, true) => self.events.push_back(PhoneEvent::PhoneBack { extension }),
            _ => {}
        }
    }

    pub fn contacts(&self, ext: &str) -> &[Contact] {
        self.by_ext.get(ext).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The contact to ring: the most recently refreshed reachable one.
    pub fn route(&self, ext: &str) -> Option<&Contact> {
        self.contacts(ext)
            .iter()
            .filter(|c| c.reachable)
            .max_by_key(|c| c.expires_at)
    }

    pub fn upsert(&mut self, ext: &str, c: Contact) {
        let before = self.reachable(ext);
        let list = self.by_ext.entry(ext.to_string()).or_default();
        match list.iter_mut().find(|x| x.uri == c.uri) {
            Some(x) => *x = c,
            None => list.push(c),
        }
        // A refresh that replaces the only reachable contact with an
        // unreachable one cannot happen: a REGISTER makes it reachable.
        self.changed(ext, before, LostWhy::Unregistered);
    }

    /// Whether contact `uri` of `ext` answers OPTIONS; returns whether
    /// that changed it.
    pub fn set_reachable(&mut self, ext: &str, uri: &str, reachable: bool) -> bool {
        let before = self.reachable(ext);
        let Some(c) = self
            .by_ext
            .get_mut(ext)
            .and_then(|l| l.iter_mut().find(|c| c.uri == uri))
        else {
            return false;
        };
        if c.reachable == reachable {
            return false;
        }
        c.reachable = reachable;
        self.changed(ext, before, LostWhy::Unanswered);
        true
    }

    /// Contact `uri` of `ext` was probed; the next probe is due at `next`.
    pub fn probed(&mut self, ext: &str, uri: &str, next: Instant) {
        if let Some(c) = self
            .by_ext
            .get_mut(ext)
            .and_then(|l| l.iter_mut().find(|c| c.uri == uri))
        {
            c.next_qualify = next;
        }
    }

    pub fn remove(&mut self, ext: &str, uri: &str) -> Option<Contact> {
        let before = self.reachable(ext);
        let list = self.by_ext.get_mut(ext)?;
        let i = list.iter().position(|c| c.uri == uri)?;
        let c = list.remove(i);
        if list.is_empty() {
            self.by_ext.remove(ext);
        }
        self.changed(ext, before, LostWhy::Unregistered);
        Some(c)
    }

    pub fn remove_all(&mut self, ext: &str) -> Vec<Contact> {
        let before = self.reachable(ext);
        let gone = self.by_ext.remove(ext).unwrap_or_default();
        self.changed(ext, before, LostWhy::Unregistered);
        gone
    }

    /// Removes and returns expired contacts.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Contact)> {
        let mut gone = Vec::new();
        let mut lost = Vec::new();
        for (ext, list) in self.by_ext.iter_mut() {
            if list.iter().all(|c| c.expires_at > now) {
                continue;
            }
            let before = list.iter().any(|c| c.reachable);
            let (dead, live): (Vec<_>, Vec<_>) = list.drain(..).partition(|c| c.expires_at <= now);
            *list = live;
            if before && !list.iter().any(|c| c.reachable) {
                lost.push(ext.clone());
            }
            gone.extend(dead.into_iter().map(|c| (ext.clone(), c)));
        }
        self.by_ext.retain(|_, l| !l.is_empty());
        self.events
            .extend(lost.into_iter().map(|extension| PhoneEvent::PhoneLost {
                extension,
                why: LostWhy::Expired,
            }));
        gone
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Contact)> {
        self.by_ext
            .iter()
            .flat_map(|(e, l)| l.iter().map(move |c| (e, c)))
    }

    pub fn len(&self) -> usize {
        self.by_ext.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ext.is_empty()
    }
}

/// Rebuilds a contact from its persisted row; `None` if the row is unusable.
pub fn restore(b: &Binding, now: Instant, wall_ms: i64) -> Option<(String, Contact)> {
    let ext = b.aor.strip_prefix("sip:")?.split('@').next()?.to_string();
    let transport = match b.transport.as_str() {
        "UDP" => dering_sip::transaction::Transport::Udp,
        "TCP" => dering_sip::transaction::Transport::Tcp,
        "TLS" => dering_sip::transaction::Transport::Tls,
        _ => return None,
    };
    let addr = b.source.parse().ok()?;
    let left = u64::try_from(b.expires_at_ms - wall_ms).ok()?;
    let uri = dering_sip::nameaddr::NameAddr::parse(&b.contact).ok()?.uri;
    Some((
        ext,
        Contact {
            value: b.contact.clone(),
            uri,
            peer: Peer { transport, addr },
            expires_at: now + Duration::from_millis(left),
            expires_at_ms: b.expires_at_ms,
            call_id: b.call_id.clone(),
            cseq: b.cseq,
            user_agent: b.user_agent.clone(),
            reachable: true,
            next_qualify: now + Duration::from_secs(2),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dering_sip::transaction::Transport;

    fn contact(uri: &str, expires_at: Instant) -> Contact {
        Contact {
            value: format!("<{uri}>"),
            uri: uri.to_string(),
            peer: Peer {
                transport: Transport::Udp,
                addr: "192.0.2.10:5060".parse().unwrap(),
            },
            expires_at,
            expires_at_ms: 0,
            call_id: "reg".into(),
            cseq: 1,
            user_agent: None,
            reachable: true,
            next_qualify: expires_at,
        }
    }

    fn events(b: &mut Bindings) -> Vec<PhoneEvent> {
        std::iter::from_fn(|| b.poll_event()).collect()
    }

    fn lost(ext: &str, why: LostWhy) -> PhoneEvent {
        PhoneEvent::PhoneLost {
            extension: ext.into(),
            why,
        }
    }

    fn back(ext: &str) -> PhoneEvent {
        PhoneEvent::PhoneBack {
            extension: ext.into(),
        }
    }

    /// Only the first reachable binding and the last one tell: a second
    /// phone of the same extension, or a refresh, is no news.
    #[test]
    fn the_last_reachable_binding_going_and_the_first_coming_are_reported() {
        let t = Instant::now();
        let later = t + Duration::from_secs(60);
        let mut b = Bindings::default();
        b.upsert("1001", contact("sip:1001@a", later));
        assert_eq!(events(&mut b), [back("1001")]);
        b.upsert("1001", contact("sip:1001@a", later));
        b.upsert("1001", contact("sip:1001@b", later));
        assert_eq!(events(&mut b), []);
        assert!(b.remove("1001", "sip:1001@a").is_some());
        assert_eq!(events(&mut b), [], "another phone of 1001 is left");
        assert!(b.remove("1001", "sip:1001@b").is_some());
        assert_eq!(events(&mut b), [lost("1001", LostWhy::Unregistered)]);
        b.upsert("1001", contact("sip:1001@a", later));
        b.remove_all("1001");
        assert_eq!(
            events(&mut b),
            [back("1001"), lost("1001", LostWhy::Unregistered)]
        );
        b.remove_all("1001");
        assert_eq!(events(&mut b), [], "nothing left to lose");
    }

    #[test]
    fn qualify_answers_make_a_phone_lost_and_back() {
        let t = Instant::now();
        let mut b = Bindings::default();
        b.upsert("1002", contact("sip:1002@a", t + Duration::from_secs(60)));
        events(&mut b);
        assert!(b.set_reachable("1002", "sip:1002@a", false));
        assert!(!b.set_reachable("1002", "sip:1002@a", false), "no change");
        assert!(!b.set_reachable("1002", "sip:1002@gone", true));
        assert_eq!(events(&mut b), [lost("1002", LostWhy::Unanswered)]);
        assert!(b.route("1002").is_none());
        assert!(b.set_reachable("1002", "sip:1002@a", true));
        assert_eq!(events(&mut b), [back("1002")]);
    }

    /// Expiry reports the extensions whose last reachable binding ran
    /// out, not those with another phone, nor those already unreachable.
    #[test]
    fn expiry_reports_phones_lost() {
        let t = Instant::now();
        let s = Duration::from_secs(1);
        let mut b = Bindings::default();
        b.upsert("1001", contact("sip:1001@a", t + 30 * s));
        b.upsert("1002", contact("sip:1002@a", t + 30 * s));
        b.upsert("1002", contact("sip:1002@b", t + 90 * s));
        b.upsert("1003", contact("sip:1003@a", t + 30 * s));
        b.set_reachable("1003", "sip:1003@a", false);
        events(&mut b);
        assert!(b.expire(t + 29 * s).is_empty());
        let mut gone: Vec<String> = b.expire(t + 30 * s).into_iter().map(|(e, _)| e).collect();
        gone.sort();
        assert_eq!(gone, ["1001", "1002", "1003"]);
        assert_eq!(events(&mut b), [lost("1001", LostWhy::Expired)]);
        assert_eq!(b.len(), 1);
        b.expire(t + 90 * s);
        assert_eq!(events(&mut b), [lost("1002", LostWhy::Expired)]);
        assert!(b.is_empty());
    }
}
