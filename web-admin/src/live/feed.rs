//! One connection to pbxd's event stream for every browser on the live
//! page (CMS-8: fifty supervisors cost pbxd one subscriber, not fifty).
//! A task takes a `Snapshot`, subscribes from the event after it, applies
//! each event to the [`LiveState`] and broadcasts the changes; when the
//! connection drops it subscribes again from the last seq it applied, and
//! takes a new snapshot only when pbxd no longer has those events (it
//! restarted, or webd was away too long). Browsers subscribe under the
//! same lock the task applies events under, so the state a browser is
//! sent first and the changes that follow never overlap or leave a gap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dering_control::client::{Client, ClientError, Subscription};
use dering_control::{ControlError, Request, Response};
use tokio::sync::{broadcast, Notify};

use super::state::{Change, LiveState};

/// A browser that falls this many pushes behind gets a new snapshot
/// instead (a lagging broadcast receiver).
const BROADCAST_DEPTH: usize = 1024;

/// One push to the browsers: an SSE event name and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub name: &'static str,
    pub json: String,
}

impl Push {
    fn of(name: &'static str, v: &impl serde::Serialize) -> Push {
        Push {
            name,
            json: serde_json::to_string(v).unwrap_or_else(|_| "null".into()),
        }
    }
}

/// What a browser gets on subscribing: the whole view, then pushes.
#[derive(Debug)]
pub struct Watch {
    pub first: Push,
    pub rx: broadcast::Receiver<Arc<Push>>,
}

#[derive(Debug)]
struct Shared {
    state: LiveState,
    /// Whether the feed is connected to pbxd now.
    connected: bool,
    /// The last health reading, pushed to each new browser too.
    health: Option<Push>,
    /// When the pbxd the state came from started (Unix ms, from its
    /// uptime): a different start means its sequence numbers began again.
    pbxd_started_ms: Option<i64>,
}

/// Starts estimated from uptimes (whole seconds) further apart than this
/// are different pbxd processes.
const SAME_START_MS: i64 = 3_000;

/// The feed of one box (one data directory).
#[derive(Debug, Clone)]
pub struct LiveHub {
    data_dir: PathBuf,
    shared: Arc<Mutex<Shared>>,
    tx: broadcast::Sender<Arc<Push>>,
    queues_stale: Arc<Notify>,
    /// A browser arrived before any health reading: take one now.
    health_wanted: Arc<Notify>,
}

/// The hub of each data directory, started on first use. webd serves one
/// box; the map only lets tests run several boxes in one process.
fn hubs() -> &'static Mutex<HashMap<PathBuf, LiveHub>> {
    static HUBS: OnceLock<Mutex<HashMap<PathBuf, LiveHub>>> = OnceLock::new();
    HUBS.get_or_init(Default::default)
}

/// The hub for `data_dir`, its tasks started on the first call (from
/// inside the runtime).
pub fn hub(data_dir: &Path) -> LiveHub {
    let mut map = hubs().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = map.get(data_dir) {
        return h.clone();
    }
    let h = LiveHub::new(data_dir.to_path_buf());
    tokio::spawn(h.clone().run_feed());
    tokio::spawn(h.clone().run_queues());
    tokio::spawn(h.clone().run_health());
    map.insert(data_dir.to_path_buf(), h.clone());
    h
}

/// The whole view as the page's first event.
fn whole(s: &Shared) -> Push {
    #[derive(serde::Serialize)]
    struct Whole<'a> {
        #[serde(flatten)]
        state: &'a LiveState,
        connected: bool,
    }
    Push::of(
        "snapshot",
        &Whole {
            state: &s.state,
            connected: s.connected,
        },
    )
}

impl LiveHub {
    fn new(data_dir: PathBuf) -> LiveHub {
        LiveHub {
            data_dir,
            shared: Arc::new(Mutex::new(Shared {
                state: LiveState::default(),
                connected: false,
                health: None,
                pbxd_started_ms: None,
            })),
            tx: broadcast::channel(BROADCAST_DEPTH).0,
            queues_stale: Arc::new(Notify::new()),
            health_wanted: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A panic while holding it leaves a state still worth showing.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A browser joins: the whole view now, and every change after it.
    pub fn watch(&self) -> Watch {
        let s = self.lock();
        let rx = self.tx.subscribe();
        if s.health.is_none() {
            self.health_wanted.notify_one();
        }
        Watch {
            first: whole(&s),
            rx,
        }
    }

    /// The last health reading, if any.
    pub fn health(&self) -> Option<Push> {
        self.lock().health.clone()
    }

    /// The current view (the JSON API's `GET /api/v1/live`).
    pub fn state(&self) -> (LiveState, bool) {
        let s = self.lock();
        (s.state.clone(), s.connected)
    }

    fn send(&self, p: Push) {
        // No browser listening is not an error.
        let _ = self.tx.send(Arc::new(p));
    }

    fn reset(&self, state: LiveState) {
        let mut s = self.lock();
        s.state = state;
        s.connected = true;
        self.send(whole(&s));
    }

    fn set_connected(&self, connected: bool) {
        let mut s = self.lock();
        if s.connected != connected {
            s.connected = connected;
            self.send(Push::of(
                "feed",
                &serde_json::json!({ "connected": connected }),
            ));
        }
    }

    fn apply(&self, e: dering_control::Stamped) {
        // A span's change is shown by the health reading: read it now
        // rather than at the next 5 s tick.
        if matches!(e.event, dering_control::Event::Span { .. }) {
            self.health_wanted.notify_one();
        }
        let mut s = self.lock();
        let applied = s.state.apply(e);
        for c in applied.changes {
            self.send(change(&c));
        }
        if applied.queues_stale {
            self.queues_stale.notify_one();
        }
    }

    /// Follows pbxd for as long as webd runs.
    async fn run_feed(self) {
        let mut pause = Duration::from_millis(200);
        loop {
            match self.follow().await {
                Ok(()) => tracing::info!("pbxd closed the event stream; reconnecting"),
                Err(e) => tracing::warn!(error = %e, "live feed: pbxd's event stream"),
            }
            self.set_connected(false);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
            if self.lock().connected {
                pause = Duration::from_millis(200);
            }
        }
    }

    /// One connection: resume from the last seq, or start from a new
    /// snapshot; then apply events until the stream ends.
    async fn follow(&self) -> Result<(), ClientError> {
        let mut c = Client::connect(&self.data_dir).await?;
        let started = wall_ms() - c.status().await?.uptime_seconds as i64 * 1000;
        let (last, same_pbxd) = {
            let mut s = self.lock();
            let same = s
                .pbxd_started_ms
                .is_some_and(|t| (t - started).abs() <= SAME_START_MS);
            s.pbxd_started_ms = Some(started);
            (s.state.seq, same)
        };
        // A restarted pbxd numbers its events from 1 again: what it would
        // send from `last + 1` is not what this state missed.
        let mut sub = if last > 0 && same_pbxd {
            match c.subscribe(Some(last + 1)).await {
                Ok(sub) => {
                    self.set_connected(true);
                    sub
                }
                Err(ClientError::Refused(ControlError::SeqUnavailable { .. })) => {
                    self.resync(Client::connect(&self.data_dir).await?).await?
                }
                Err(e) => return Err(e),
            }
        } else {
            self.resync(c).await?
        };
        tracing::info!(from_seq = sub.next_seq(), "live feed following pbxd");
        while let Some(e) = sub.next().await? {
            self.apply(e);
        }
        Ok(())
    }

    /// A new snapshot on `c`, the trunks, then its events from the one
    /// after the snapshot. The trunks are asked after the snapshot, so
    /// the trunk events replayed on top are never older than what they
    /// replace for good: each carries a trunk's whole state, in order.
    async fn resync(&self, mut c: Client) -> Result<Subscription, ClientError> {
        let snap = c.snapshot().await?;
        let trunks = match c.request(&Request::Trunks).await {
            Ok(Response::Trunks { trunks }) => trunks,
            Ok(other) => {
                tracing::warn!(got = other.kind(), "live feed: trunks");
                Vec::new()
            }
            // A refusal leaves the connection usable: the page shows
            // the trunks as their events arrive.
            Err(ClientError::Refused(e)) => {
                tracing::warn!(error = %e, "live feed: trunks refused");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let sub = c.subscribe(Some(snap.seq + 1)).await?;
        self.reset(LiveState::from_snapshot(snap).with_trunks(trunks));
        Ok(sub)
    }

    /// Fetches the queues after queue events, at most every 250 ms: a
    /// burst of events costs one request.
    async fn run_queues(self) {
        loop {
            self.queues_stale.notified().await;
            tokio::time::sleep(Duration::from_millis(250)).await;
            match dering_control::client::request(&self.data_dir, &Request::Queues).await {
                Ok(Response::Queues { queues }) => {
                    let mut s = self.lock();
                    if let Some(c) = s.state.set_queues(queues) {
                        self.send(change(&c));
                    }
                }
                Ok(other) => tracing::warn!(got = other.kind(), "live feed: queues"),
                Err(e) => tracing::debug!(error = %e, "live feed: queues"),
            }
        }
    }

    /// Daemons' health and the UPS (dering-health) every 5 s while a
    /// browser watches.
    async fn run_health(self) {
        let mut probe = dering_health::SystemProbe::new();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.health_wanted.notified() => {}
            }
            if self.tx.receiver_count() == 0 {
                continue;
            }
            let scope = dering_health::Scope {
                data_dir: self.data_dir.clone(),
                expected: self.daemons().await,
                self_name: "webd".into(),
            };
            let h = dering_health::collect(&scope, &mut probe).await;
            let p = Push::of(
                "health",
                &serde_json::json!({
                    "healthy": h.healthy(),
                    "daemons": h.daemons,
                    "ups": h.ups,
                    "pbx": h.pbx,
                    "outbox": h.outbox,
                    "spans": h.spans,
                }),
            );
            self.lock().health = Some(p.clone());
            self.send(p);
        }
    }
}

impl LiveHub {
    /// The daemons this box runs, as far as the page can tell: pbxd, and
    /// every daemon that ever wrote a heartbeat here (a stopped or
    /// crashed one stays listed, with its reason).
    async fn daemons(&self) -> Vec<String> {
        let db = self.data_dir.join("dering.db");
        let read = tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<String>> {
            let c = rusqlite::Connection::open_with_flags(
                db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            let mut st = c.prepare("SELECT daemon FROM daemon_status ORDER BY daemon")?;
            let names = st.query_map([], |r| r.get(0))?.collect();
            names
        })
        .await;
        let mut names = match read {
            Ok(Ok(n)) => n,
            _ => Vec::new(),
        };
        if !names.iter().any(|n| n == "pbxd") {
            names.insert(0, "pbxd".into());
        }
        names
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn change(c: &Change) -> Push {
    Push::of(c.name(), c)
}

#[cfg(test)]
mod tests;
