//! The desktop's Server-Sent Events: the live page's shared feed
//! ([`crate::live::feed`], one pbxd subscriber for every browser),
//! filtered here, on the server, to one agent's own state and calls. A
//! call offered to the agent arrives as soon as pbxd publishes the offer
//! (before the phone answers): that is the screen pop's trigger. A call
//! that moves to someone else (transferred) leaves the page as ended.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::me;
use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;
use crate::live::feed::{self, LiveHub, Push};

/// What one agent's page is sent of the shared feed.
#[derive(Debug, Clone)]
pub struct Filter {
    agent: String,
    /// Calls shown on the page now, so their end (which names only the
    /// UUID) reaches it, and a call handed on leaves it.
    mine: HashSet<String>,
}

impl Filter {
    pub fn new(agent: &str) -> Filter {
        Filter {
            agent: agent.to_owned(),
            mine: HashSet::new(),
        }
    }

    fn is_mine(&self, call: &Value) -> bool {
        call["agent"].as_str() == Some(self.agent.as_str())
    }

    /// The push this agent's page gets for `p`, if any.
    pub fn pass(&mut self, p: &Push) -> Option<Push> {
        let v: Value = serde_json::from_str(&p.json).ok()?;
        match p.name {
            "snapshot" => {
                let calls: Vec<&Value> = v["calls"]
                    .as_object()
                    .map(|m| m.values().filter(|c| self.is_mine(c)).collect())
                    .unwrap_or_default();
                self.mine = calls
                    .iter()
                    .filter_map(|c| c["uuid"].as_str().map(str::to_owned))
                    .collect();
                let agent = v["agents"].get(&self.agent).cloned().unwrap_or(Value::Null);
                Some(push(
                    "snapshot",
                    &json!({ "agent": agent, "calls": calls, "connected": v["connected"] }),
                ))
            }
            "agent" => {
                (v["agent"]["agent"].as_str() == Some(self.agent.as_str())).then(|| p.clone())
            }
            "call" => {
                let uuid = v["call"]["uuid"].as_str()?.to_owned();
                if self.is_mine(&v["call"]) {
                    self.mine.insert(uuid);
                    Some(p.clone())
                } else if self.mine.remove(&uuid) {
                    Some(push("call_ended", &json!({ "uuid": uuid })))
                } else {
                    None
                }
            }
            "call_ended" => self.mine.remove(v["uuid"].as_str()?).then(|| p.clone()),
            "feed" => Some(p.clone()),
            _ => None,
        }
    }
}

fn push(name: &'static str, v: &Value) -> Push {
    Push {
        name,
        json: v.to_string(),
    }
}

fn event(p: &Push) -> Event {
    Event::default().event(p.name).data(&p.json)
}

/// One agent's stream: its filtered whole view, then its changes. A page
/// too slow for the broadcast gets a fresh view instead of a gap.
fn stream(hub: LiveHub, mut filter: Filter) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let w = hub.watch();
    let first = filter.pass(&w.first);
    let s = futures_util::stream::unfold(
        (hub, w.rx, filter, first),
        |(hub, mut rx, mut filter, mut queued)| async move {
            if let Some(p) = queued.take() {
                return Some((Ok(event(&p)), (hub, rx, filter, None)));
            }
            loop {
                match rx.recv().await {
                    Ok(p) => {
                        let p: Arc<Push> = p;
                        if let Some(out) = filter.pass(&p) {
                            return Some((Ok(event(&out)), (hub, rx, filter, None)));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "desktop lagged; sending the whole view");
                        let w = hub.watch();
                        rx = w.rx;
                        if let Some(out) = filter.pass(&w.first) {
                            return Some((Ok(event(&out)), (hub, rx, filter, None)));
                        }
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// `GET /desktop/events`: the session's agent's view as SSE (`snapshot`,
/// then `agent`, `call`, `call_ended`, `feed`).
pub async fn events(State(state): State<AppState>, v: Viewer) -> Result<Response, AppError> {
    let me = me::agent(&state, &v).await?;
    Ok(stream(feed::hub(state.data_dir()), Filter::new(&me.agent)).into_response())
}
