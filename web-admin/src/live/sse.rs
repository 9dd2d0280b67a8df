//! The live page's Server-Sent Events: the whole view first, the last
//! health reading, then each change as the shared feed broadcasts it. A
//! browser too slow for the broadcast gets a fresh whole view instead of
//! a silent gap.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::feed::{LiveHub, Push};

fn event(p: &Push) -> Event {
    Event::default().event(p.name).data(&p.json)
}

/// The event stream of one browser.
pub fn stream(hub: LiveHub) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let w = hub.watch();
    let mut first = vec![w.first];
    first.extend(hub.health());
    first.reverse();
    let s =
        futures_util::stream::unfold((hub, w.rx, first), |(hub, mut rx, mut queued)| async move {
            if let Some(p) = queued.pop() {
                return Some((Ok(event(&p)), (hub, rx, queued)));
            }
            match rx.recv().await {
                Ok(p) => Some((Ok(event(&p)), (hub, rx, queued))),
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "live page lagged; sending the whole view");
                    let w = hub.watch();
                    Some((Ok(event(&w.first)), (hub, w.rx, queued)))
                }
                Err(RecvError::Closed) => None,
            }
        });
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
