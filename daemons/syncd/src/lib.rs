//! syncd: delivers the ticket outbox to SIMPEL and applies the status
//! changes made there (SYNC-1..4, decision 0027). This crate is the
//! shell; what to send when, and what an answer means, is
//! [`dering_sync`]. Every outcome is written to the database before the
//! row is looked at again, so a crash (even SIGKILL) at any moment only
//! repeats an attempt, which the row's idempotency key makes harmless.

mod http;
pub mod lock;

use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dering_config::{SyncAuth, SyncConfig};
use dering_store::tickets::{BreakerState, OutboxKind, OutboxRow, SyncLink};
use dering_store::{DaemonStatus, Op, Store};
use dering_sync::delivery::Due;
use dering_sync::{
    answer, auth, feed, Attempt, Breaker, Decision, Delivery, Feed, Mapping, Policy, TokenCache,
};
use rand::Rng;
use tokio::sync::{mpsc, Mutex};

/// The feed's name in `sync_cursors`.
const FEED: &str = "simpel";
/// How often the outbox is looked at when nothing else wakes syncd: new
/// rows come from webd's transactions, which do not signal syncd.
const IDLE: Duration = Duration::from_millis(200);
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Due rows read at a time (more than can be in flight).
const DUE_BATCH: u32 = 256;

/// How syncd is started.
#[derive(Debug)]
pub struct Options {
    pub sync: SyncConfig,
    pub mapping: Mapping,
    pub data_dir: PathBuf,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What the request tasks report to the loop.
enum Event {
    Sent {
        due: Due,
        attempts: u32,
        attempt: Attempt,
    },
    Feed(Result<feed::Page, String>),
}

/// Everything a request needs, shared by the tasks.
struct Link {
    sync: SyncConfig,
    mapping: Mapping,
    client: http::Client,
    token: Mutex<TokenCache>,
}

impl Link {
    /// The credentials header, fetching an OAuth2 token when none is good.
    async fn auth_header(&self) -> Result<Option<(String, String)>, String> {
        if let Some(h) = auth::static_header(&self.sync.auth) {
            return Ok(Some(h));
        }
        let SyncAuth::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } = &self.sync.auth
        else {
            return Ok(None);
        };
        let mut cache = self.token.lock().await;
        if let Some(h) = cache.header(wall_ms()) {
            return Ok(Some(("Authorization".into(), h)));
        }
        let body = auth::token_request_body(client_id, client_secret, scope.as_deref());
        let a = self
            .client
            .send(
                "POST",
                token_url,
                &[],
                Some((body, "application/x-www-form-urlencoded")),
            )
            .await
            .map_err(|e| format!("token: {e}"))?;
        if a.status != 200 || !cache.store(&a.body, wall_ms()) {
            return Err(format!("token: HTTP {} without a token", a.status));
        }
        Ok(cache
            .header(wall_ms())
            .map(|h| ("Authorization".to_string(), h)))
    }

    /// One attempt at `row`.
    async fn deliver(&self, row: &OutboxRow) -> Attempt {
        let create = row.kind == OutboxKind::Create;
        let req = match self
            .mapping
            .request(create, &row.payload, row.upstream_id.as_deref())
        {
            Ok(r) => r,
            Err(e) => return Attempt::Unsendable(e.to_string()),
        };
        let mut headers = vec![("Idempotency-Key".to_string(), row.idempotency_key.clone())];
        match self.auth_header().await {
            Ok(Some(h)) => headers.push(h),
            Ok(None) => {}
            Err(e) => return Attempt::Failed(e),
        }
        let a = match self
            .client
            .send(
                req.method,
                &req.url,
                &headers,
                Some((req.body, "application/json")),
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return Attempt::Failed(e),
        };
        if a.status == 401 && matches!(self.sync.auth, SyncAuth::OAuth2 { .. }) {
            // An expired or revoked token: fetch another and try again.
            self.token.lock().await.invalidate();
            return Attempt::Failed("HTTP 401: token refused".into());
        }
        let upstream_id = if create {
            answer::id_at(&a.body, &self.sync.id_pointer)
        } else {
            None
        };
        let accepted = (200..300).contains(&a.status) || a.status == 409;
        if create && accepted && upstream_id.is_none() {
            // Written upstream, but later changes could not name it.
            return Attempt::Unsendable(format!(
                "HTTP {}: no id at {} in the answer",
                a.status, self.sync.id_pointer
            ));
        }
        Attempt::Answered {
            status: a.status,
            retry_after_ms: a.retry_after.as_deref().and_then(answer::retry_after_ms),
            upstream_id,
            body: a.body,
        }
    }

    /// One page of the change feed after `cursor`.
    async fn read_feed(&self, cursor: Option<String>) -> Result<feed::Page, String> {
        let mut url = format!("{}{}", self.sync.endpoint, self.sync.changes_path);
        url.push_str(if url.contains('?') { "&" } else { "?" });
        url.push_str("since=");
        url.push_str(cursor.as_deref().unwrap_or("0"));
        let mut headers = Vec::new();
        if let Some(h) = self.auth_header().await? {
            headers.push(h);
        }
        let a = self.client.send("GET", &url, &headers, None).await?;
        if a.status == 401 {
            self.token.lock().await.invalidate();
        }
        if a.status != 200 {
            return Err(format!("change feed: HTTP {}", a.status));
        }
        feed::parse_page(&a.body)
    }
}

/// Runs until `shutdown` resolves, then lets the requests in flight end
/// (within the timeout) and records them.
pub async fn run(
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.data_dir)?;
    let _lock = lock::acquire(&opts.data_dir)?;
    let mut store = Store::open(&opts.data_dir.join("dering.db"))?;
    let https = opts.sync.endpoint.starts_with("https://")
        || matches!(&opts.sync.auth, SyncAuth::OAuth2 { token_url, .. } if token_url.starts_with("https://"));
    let client = http::Client::new(https, Duration::from_millis(opts.sync.timeout_ms))?;
    let mut delivery = Delivery::new(Policy::from(&opts.sync));
    let mut feed = Feed::new(opts.sync.poll_interval_ms, wall_ms());
    let alarm_after_ms = opts.sync.alarm_after_minutes.saturating_mul(60_000);
    let upstream = Arc::new(Link {
        sync: opts.sync,
        mapping: opts.mapping,
        client,
        token: Mutex::new(TokenCache::default()),
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let started_ms = wall_ms() as i64;
    let mut last_beat = 0u64;
    let mut shutdown = pin!(shutdown);
    let mut stopping = false;
    // What the outbox page shows of the link; the breaker's part is
    // taken from `delivery` before each heartbeat.
    let mut link = SyncLink::default();
    let counts = store.outbox_counts()?;
    tracing::info!(pending = counts.pending, dead = counts.dead, "syncd serves");
    dering_daemon::notify::ready("delivering the outbox");
    loop {
        dering_daemon::notify::pulse();
        let now = wall_ms();
        if !stopping && delivery.has_room(now) {
            let rows = soft(
                store.outbox_due(now as i64, DUE_BATCH),
                "reading the outbox",
            )
            .unwrap_or_default();
            let due: Vec<Due> = rows
                .iter()
                .map(|r| Due {
                    row: r.id,
                    ticket: r.ticket_id,
                })
                .collect();
            for d in delivery.admit(now, &due) {
                let Some(row) = rows.iter().find(|r| r.id == d.row).cloned() else {
                    continue;
                };
                let (link, tx) = (upstream.clone(), tx.clone());
                tokio::spawn(async move {
                    let attempt = link.deliver(&row).await;
                    let _ = tx.send(Event::Sent {
                        due: d,
                        attempts: row.attempts as u32 + 1,
                        attempt,
                    });
                });
            }
        }
        if !stopping && feed.start(now) {
            match soft(store.sync_cursor(FEED), "reading the change feed's cursor") {
                Some(cursor) => {
                    let (link, tx) = (upstream.clone(), tx.clone());
                    tokio::spawn(async move {
                        let _ = tx.send(Event::Feed(link.read_feed(cursor).await));
                    });
                }
                None => feed.done(now, false),
            }
        }
        // A breaker that opened or closed is told at once, not at the
        // next heartbeat: it is what the outbox page is read for.
        let was = link.breaker;
        breaker_into(&mut link, delivery.breaker());
        if now >= last_beat + HEARTBEAT.as_millis() as u64 || link.breaker != was {
            last_beat = now;
            soft(
                heartbeat(&mut store, started_ms, alarm_after_ms, stopping, &link),
                "writing the heartbeat",
            );
        }
        if stopping && delivery.in_flight() == 0 && feed.idle() {
            break;
        }
        tokio::select! {
            ev = rx.recv() => {
                if let Some(ev) = ev {
                    soft(handle(&mut store, &mut delivery, &mut feed, &mut link, ev), "recording an answer");
                }
                // Record everything else already reported before looking again.
                while let Ok(ev) = rx.try_recv() {
                    soft(handle(&mut store, &mut delivery, &mut feed, &mut link, ev), "recording an answer");
                }
            }
            _ = tokio::time::sleep(IDLE) => {}
            _ = &mut shutdown, if !stopping => {
                tracing::info!(in_flight = delivery.in_flight(), "stopping");
                dering_daemon::notify::stopping();
                stopping = true;
            }
        }
    }
    breaker_into(&mut link, delivery.breaker());
    heartbeat(&mut store, started_ms, alarm_after_ms, true, &link)?;
    Ok(())
}

/// The breaker's state as the heartbeat reports it.
fn breaker_into(link: &mut SyncLink, b: Breaker) {
    (link.breaker, link.open_until_ms) = match b {
        Breaker::Closed { .. } => (BreakerState::Closed, None),
        Breaker::Open { until_ms } => (BreakerState::Open, Some(until_ms as i64)),
        Breaker::HalfOpen { .. } => (BreakerState::HalfOpen, None),
    };
}

/// A database error inside the loop (most often `database is locked`:
/// another daemon's write held the database past the busy timeout) is
/// logged and the loop goes on, instead of ending syncd: under `dering
/// up` nobody would restart it and the outbox would stay stuck. An answer
/// whose row could not be marked is sent again when due, under the same
/// idempotency key, so SIMPEL still holds it once.
fn soft<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "{what} failed; retrying");
            None
        }
    }
}

/// Records one report.
fn handle(
    store: &mut Store,
    delivery: &mut Delivery,
    feed: &mut Feed,
    link: &mut SyncLink,
    ev: Event,
) -> anyhow::Result<()> {
    let now = wall_ms();
    match ev {
        Event::Sent {
            due,
            attempts,
            attempt,
        } => {
            let random: u64 = rand::thread_rng().gen();
            match delivery.finish(due, attempts, &attempt, now, random) {
                Decision::Delivered { upstream_id } => {
                    (link.last_delivered_ms, link.failures) = (Some(now as i64), 0);
                    store.outbox_delivered(
                        due.row,
                        attempts.into(),
                        upstream_id.as_deref(),
                        now as i64,
                    )?;
                    tracing::debug!(row = due.row, attempts, "delivered");
                }
                Decision::Retry {
                    next_attempt_ms,
                    error,
                } => {
                    tracing::info!(row = due.row, attempts, %error, "will retry");
                    (link.last_error, link.last_error_ms) = (Some(error.clone()), Some(now as i64));
                    link.failures += 1;
                    store.outbox_retry(due.row, attempts.into(), next_attempt_ms as i64, &error)?;
                }
                Decision::Dead { error } => {
                    tracing::error!(row = due.row, attempts, %error, "dead letter");
                    store.outbox_kill(due.row, attempts.into(), &error)?;
                }
            }
        }
        Event::Feed(Ok(page)) => {
            let applied = store.apply_upstream(FEED, &page.changes, &page.next, now as i64)?;
            if applied > 0 {
                tracing::info!(applied, cursor = %page.next, "upstream changes applied");
            }
            feed.done(now, page.more);
        }
        Event::Feed(Err(e)) => {
            tracing::warn!(error = %e, "change feed");
            feed.done(now, false);
        }
    }
    Ok(())
}

/// syncd's row in `daemon_status`, with the outbox's counts and the
/// alarm threshold (`alarm_after_ms`), which the health collectors read
/// from here rather than from syncd's configuration (SYNC-3).
fn heartbeat(
    store: &mut Store,
    started_ms: i64,
    alarm_after_ms: u64,
    stopped: bool,
    link: &SyncLink,
) -> anyhow::Result<()> {
    let counts = store.outbox_counts()?;
    let mut reasons = Vec::new();
    if counts.dead > 0 {
        reasons.push(format!("{} dead letters", counts.dead));
    }
    store.apply(&[Op::Heartbeat(DaemonStatus {
        daemon: "syncd".into(),
        pid: std::process::id(),
        started_ms,
        heartbeat_ms: wall_ms() as i64,
        ready: !stopped,
        reasons,
        state: state_json(&counts, alarm_after_ms, link),
        stopped,
    })])?;
    Ok(())
}

/// The heartbeat's state: the counts, the threshold and the link.
fn state_json(
    counts: &dering_store::tickets::OutboxCounts,
    alarm_after_ms: u64,
    link: &SyncLink,
) -> String {
    let mut v = serde_json::to_value(counts).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("alarm_after_ms".into(), alarm_after_ms.into());
        o.insert(
            "link".into(),
            serde_json::to_value(link).unwrap_or_default(),
        );
    }
    v.to_string()
}
