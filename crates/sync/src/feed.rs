//! Reading SIMPEL's feed of changes made there (SYNC-2): when to poll,
//! and a page of it read into changes and the next cursor.

use dering_store::tickets::{TicketStatus, UpstreamChange};
use serde::Deserialize;

/// When the feed is read next.
#[derive(Debug, Clone)]
pub struct Feed {
    interval_ms: u64,
    next_ms: u64,
    busy: bool,
}

impl Feed {
    pub fn new(interval_ms: u64, now_ms: u64) -> Feed {
        Feed {
            interval_ms,
            next_ms: now_ms,
            busy: false,
        }
    }

    /// True when a read should start now; it is then busy until [`Feed::done`].
    pub fn start(&mut self, now_ms: u64) -> bool {
        if self.busy || now_ms < self.next_ms {
            return false;
        }
        self.busy = true;
        true
    }

    /// A read ended; `more` (a full page) reads again at once.
    pub fn done(&mut self, now_ms: u64, more: bool) {
        self.busy = false;
        self.next_ms = if more {
            now_ms
        } else {
            now_ms + self.interval_ms
        };
    }

    /// No read is under way.
    pub fn idle(&self) -> bool {
        !self.busy
    }

    pub fn next_ms(&self) -> u64 {
        self.next_ms
    }
}

#[derive(Debug, Deserialize)]
struct RawPage {
    changes: Vec<RawChange>,
    next: serde_json::Value,
    #[serde(default)]
    more: bool,
}

#[derive(Debug, Deserialize)]
struct RawChange {
    id: serde_json::Value,
    status: String,
    version: i64,
}

/// One page of the feed: `{"changes": [{"id", "status", "version"}],
/// "next": cursor, "more": bool}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub changes: Vec<UpstreamChange>,
    pub next: String,
    pub more: bool,
}

/// Reads a page; a change with a status the box does not know is an error
/// (better stop the feed than skip a change silently).
pub fn parse_page(body: &str) -> Result<Page, String> {
    let raw: RawPage = serde_json::from_str(body).map_err(|e| format!("change feed: {e}"))?;
    let mut changes = Vec::with_capacity(raw.changes.len());
    for c in raw.changes {
        let status = TicketStatus::parse(&c.status)
            .ok_or_else(|| format!("change feed: unknown status {:?}", c.status))?;
        changes.push(UpstreamChange {
            upstream_id: scalar(&c.id),
            status,
            version: c.version,
        });
    }
    Ok(Page {
        changes,
        next: scalar(&raw.next),
        more: raw.more,
    })
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_on_its_interval_and_at_once_after_a_full_page() {
        let mut f = Feed::new(15_000, 0);
        assert!(f.start(0));
        assert!(!f.start(1), "one read at a time");
        f.done(10, false);
        assert!(!f.start(15_009));
        assert!(f.start(15_010));
        f.done(15_020, true);
        assert!(f.start(15_020));
    }

    #[test]
    fn pages_are_read() {
        let p = parse_page(r#"{"changes": [{"id": 7, "status": "closed", "version": 3}], "next": 12, "more": true}"#)
            .unwrap();
        assert_eq!(p.changes[0].upstream_id, "7");
        assert_eq!(p.changes[0].status, TicketStatus::Closed);
        assert_eq!((p.next.as_str(), p.more), ("12", true));
        assert!(parse_page(
            r#"{"changes": [{"id": 7, "status": "lost", "version": 3}], "next": 1}"#
        )
        .is_err());
    }
}
