//! The screen pop's data (CTI-2): for a call offered to (or taken by) the
//! session's agent, who is calling, the service they called (the number
//! dialled, its flow, the queue) and the caller's earlier calls, with
//! their recordings only for a role that may play them (REC-4). The
//! caller's tickets come from the tickets API, which applies the
//! agent's reach.

use axum::extract::{Path, State};
use axum::Json;
use dering_config::{Config, DidTarget};
use serde::Serialize;

use super::me;
use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::live::feed;

/// Earlier calls shown at most.
const HISTORY: u32 = 20;

#[derive(Debug, Serialize)]
pub struct Earlier {
    uuid: String,
    callee: String,
    start_ms: i64,
    answer_ms: Option<i64>,
    end_ms: Option<i64>,
    disposition: Option<String>,
    /// Links to play the call's recordings (empty for a role that may not).
    recordings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Pop {
    uuid: String,
    caller: String,
    caller_name: Option<String>,
    dialled: String,
    flow: Option<String>,
    queue: Option<String>,
    state: &'static str,
    history: Vec<Earlier>,
}

/// The flow a dialled number reaches, in whatever form it was dialled.
pub fn flow_of(c: &Config, dialled: &str) -> Option<String> {
    c.dids
        .iter()
        .find(|d| d.number == dialled || d.e164 == dialled)
        .and_then(|d| match &d.target {
            DidTarget::Flow(f) => Some(f.clone()),
            _ => None,
        })
}

/// `GET /desktop/calls/{uuid}/pop`: 404 unless the call is the agent's.
pub async fn pop(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Json<Pop>, AppError> {
    let me = me::agent(&state, &v).await?;
    let (live, _) = feed::hub(state.data_dir()).state();
    let call = live
        .calls
        .get(&uuid)
        .filter(|c| c.agent.as_deref() == Some(me.agent.as_str()))
        .cloned()
        .ok_or(AppError::NotFound)?;
    let plays = v.may(Perm::Recordings);
    let (caller, this) = (call.caller.clone(), call.uuid.clone());
    let history = state
        .read(move |c| {
            let mut st = c.prepare(
                "SELECT uuid, callee, start_ms, answer_ms, end_ms, disposition FROM calls
                 WHERE caller_key = ?1 AND ?1 <> '' AND uuid <> ?2 ORDER BY start_ms DESC LIMIT ?3",
            )?;
            let key = dering_store::phone::key(&caller);
            let mut rows: Vec<Earlier> = st
                .query_map(rusqlite::params![key, this, HISTORY], |r| {
                    Ok(Earlier {
                        uuid: r.get(0)?,
                        callee: r.get(1)?,
                        start_ms: r.get(2)?,
                        answer_ms: r.get(3)?,
                        end_ms: r.get(4)?,
                        disposition: r.get(5)?,
                        recordings: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            if plays {
                let mut st = c.prepare(
                    "SELECT id FROM recordings WHERE call_uuid = ?1 AND state = 'complete' ORDER BY id",
                )?;
                for e in &mut rows {
                    e.recordings = st
                        .query_map([&e.uuid], |r| r.get::<_, i64>(0))?
                        .map(|id| id.map(|id| format!("/history/recordings/{id}/audio")))
                        .collect::<rusqlite::Result<_>>()?;
                }
            }
            Ok(rows)
        })
        .await?;
    Ok(Json(Pop {
        flow: flow_of(&me.config, &call.dialled),
        uuid: call.uuid,
        caller: call.caller,
        caller_name: call.caller_name,
        dialled: call.dialled,
        queue: call.queue,
        state: call.state,
        history,
    }))
}
