//! Registrar bindings (RFC 3261 §10.3) kept in memory for routing and
//! mirrored to SQLite so phones keep working across a restart. Requests to a
//! phone go to the address its REGISTER came from (symmetric signalling, so
//! phones behind NAT are reachable without STUN).

use std::collections::HashMap;
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
    /// False once qualify OPTIONS went unanswered.
    pub reachable: bool,
    pub next_qualify: Instant,
}

/// All bindings, by extension number.
#[derive(Debug, Default)]
pub struct Bindings {
    by_ext: HashMap<String, Vec<Contact>>,
}

impl Bindings {
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
        let list = self.by_ext.entry(ext.to_string()).or_default();
        match list.iter_mut().find(|x| x.uri == c.uri) {
            Some(x) => *x = c,
            None => list.push(c),
        }
    }

    pub fn get_mut(&mut self, ext: &str, uri: &str) -> Option<&mut Contact> {
        self.by_ext.get_mut(ext)?.iter_mut().find(|c| c.uri == uri)
    }

    pub fn remove(&mut self, ext: &str, uri: &str) -> Option<Contact> {
        let list = self.by_ext.get_mut(ext)?;
        let i = list.iter().position(|c| c.uri == uri)?;
        let c = list.remove(i);
        if list.is_empty() {
            self.by_ext.remove(ext);
        }
        Some(c)
    }

    pub fn remove_all(&mut self, ext: &str) -> Vec<Contact> {
        self.by_ext.remove(ext).unwrap_or_default()
    }

    /// Removes and returns expired contacts.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Contact)> {
        let mut gone = Vec::new();
        for (ext, list) in self.by_ext.iter_mut() {
            let (dead, live): (Vec<_>, Vec<_>) = list.drain(..).partition(|c| c.expires_at <= now);
            *list = live;
            gone.extend(dead.into_iter().map(|c| (ext.clone(), c)));
        }
        self.by_ext.retain(|_, l| !l.is_empty());
        gone
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Contact)> {
        self.by_ext
            .iter()
            .flat_map(|(e, l)| l.iter().map(move |c| (e, c)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Contact)> {
        self.by_ext
            .iter_mut()
            .flat_map(|(e, l)| l.iter_mut().map(move |c| (&*e, c)))
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
