//! The desktop's actions, each for the session's agent only ([`me`]):
//! log in / out, ready, not ready with a reason code, wrap-up with a
//! wrap-up code, click to dial from the agent's phone, and blind
//! or attended transfer (consult, complete, cancel), conference, hold /
//! resume or hang up of a call the agent is on. They go to pbxd over
//! the control socket (`Request::Agent` is what the phone's `*71`..`*75`
//! do, so the page and the phone stay in step) and are audited. Bodies
//! are JSON (the page's script sends them with `x-csrf-token`).

use axum::extract::{Path, State};
use axum::Json;
use dering_control::client::ClientError;
use dering_control::{AgentAction, ControlError, Request};
use serde::Deserialize;
use serde_json::{json, Value};

use super::me::{self, Me};
use crate::app::AppState;
use crate::auth::Viewer;
use crate::error::AppError;
use crate::live::feed;

/// A number typed on the page: digits (with `*`, `#`, a leading `+`), at
/// most 32.
pub fn dial_string(field: &str, s: &str) -> Result<String, AppError> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.char_indices()
            .all(|(i, c)| c.is_ascii_digit() || c == '*' || c == '#' || (c == '+' && i == 0));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(AppError::invalid(field, "digits only"))
    }
}

/// pbxd's refusals as the agent's mistake where they are one.
fn refused(e: AppError, field: &str) -> AppError {
    match e {
        AppError::Control(ClientError::Refused(ControlError::NoSuchCall { .. })) => {
            AppError::NotFound
        }
        AppError::Control(ClientError::Refused(ControlError::BadPin { .. })) => {
            AppError::invalid("pin", "wrong agent ID or PIN")
        }
        AppError::Control(ClientError::Refused(ControlError::NoSuchExtension { extension })) => {
            AppError::invalid(field, format!("no extension {extension}"))
        }
        AppError::Control(ClientError::Refused(
            ControlError::Refused { message } | ControlError::BadRequest { message },
        )) => AppError::invalid(field, message),
        e => e,
    }
}

/// Sends `req` to pbxd and audits it as `action` on `target`.
async fn act(
    state: &AppState,
    v: &Viewer,
    req: Request,
    action: &str,
    target: &str,
    field: &str,
) -> Result<Json<Value>, AppError> {
    let reply = state.control(&req).await.map_err(|e| refused(e, field))?;
    // The PIN is not kept in the audit log.
    let mut shown = serde_json::to_value(&req).unwrap_or_default();
    if let Some(o) = shown.as_object_mut() {
        o.remove("pin");
    }
    let after = json!({ "request": shown, "reply": reply });
    crate::audit::log(state, v, action, target, None, Some(after.clone())).await?;
    Ok(Json(after))
}

async fn agent_action(
    state: &AppState,
    v: &Viewer,
    me: &Me,
    action: AgentAction,
    name: &str,
    field: &str,
) -> Result<Json<Value>, AppError> {
    let target = format!("agent {}", me.agent);
    act(
        state,
        v,
        Request::Agent { action },
        &format!("desktop.{name}"),
        &target,
        field,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// Shown on the page for the agent to see; it must be the session's.
    #[serde(default)]
    agent: Option<String>,
    pin: String,
    extension: String,
}

/// Another agent's ID in a form is refused, not quietly replaced.
fn own(me: &Me, agent: Option<&str>) -> Result<(), AppError> {
    match agent {
        Some(a) if a.trim() != me.agent => Err(AppError::Forbidden),
        _ => Ok(()),
    }
}

pub async fn login(
    State(state): State<AppState>,
    v: Viewer,
    Json(f): Json<LoginForm>,
) -> Result<Json<Value>, AppError> {
    let me = me::agent(&state, &v).await?;
    own(&me, f.agent.as_deref())?;
    let extension = dial_string("extension", &f.extension)?;
    let action = AgentAction::Login {
        agent: me.agent.clone(),
        pin: f.pin,
        extension,
    };
    agent_action(&state, &v, &me, action, "login", "extension").await
}

pub async fn logout(State(state): State<AppState>, v: Viewer) -> Result<Json<Value>, AppError> {
    let me = me::agent(&state, &v).await?;
    let action = AgentAction::Logout {
        agent: me.agent.clone(),
    };
    agent_action(&state, &v, &me, action, "logout", "agent").await
}

pub async fn ready(State(state): State<AppState>, v: Viewer) -> Result<Json<Value>, AppError> {
    let me = me::agent(&state, &v).await?;
    let action = AgentAction::Ready {
        agent: me.agent.clone(),
    };
    agent_action(&state, &v, &me, action, "ready", "agent").await
}

#[derive(Debug, Deserialize)]
pub struct NotReadyForm {
    code: String,
}

pub async fn not_ready(
    State(state): State<AppState>,
    v: Viewer,
    Json(f): Json<NotReadyForm>,
) -> Result<Json<Value>, AppError> {
    let me = me::agent(&state, &v).await?;
    if !me.reasons.iter().any(|(k, _)| *k == f.code) {
        return Err(AppError::invalid(
            "code",
            "not a reason code of [acd] reasons",
        ));
    }
    let action = AgentAction::NotReady {
        agent: me.agent.clone(),
        code: f.code,
    };
    agent_action(&state, &v, &me, action, "not_ready", "code").await
}

#[derive(Debug, Deserialize)]
pub struct WrapupForm {
    /// One of `[acd] wrapup_codes`.
    code: String,
    /// The call the after-call work is for (one the agent took).
    #[serde(default)]
    uuid: Option<String>,
}

/// Whether the ACD journal has `agent` on call `uuid` (offered to it or
/// answered by it): a call over is no longer in the live view.
async fn was_mine(state: &AppState, agent: &str, uuid: &str) -> Result<bool, AppError> {
    let (agent, uuid) = (agent.to_owned(), uuid.to_owned());
    state
        .read(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM acd_events WHERE agent = ?1 AND call_uuid = ?2)",
                [&agent, &uuid],
                |r| r.get::<_, bool>(0),
            )?)
        })
        .await
}

/// The wrap-up code in the ACD journal (`acd_events`, kind
/// `wrapup_code`, the code and its name in `detail`), so reports read it
/// beside the call's offers and answer; pbxd's counters skip the kind.
async fn journal_wrapup(
    state: &AppState,
    agent: &str,
    uuid: Option<String>,
    code: &str,
    name: &str,
) -> Result<(), AppError> {
    let detail = json!({ "code": code, "name": name }).to_string();
    let (at_ms, agent) = (state.now_ms(), agent.to_owned());
    state
        .write(move |tx| {
            tx.execute(
                "INSERT INTO acd_events (at_ms, kind, call_uuid, queue, agent, detail)
                 VALUES (?1, 'wrapup_code', ?2,
                   (SELECT queue FROM acd_events WHERE call_uuid = ?2 AND queue IS NOT NULL
                    ORDER BY id LIMIT 1),
                   ?3, ?4)",
                rusqlite::params![at_ms, uuid, agent, detail],
            )?;
            Ok(())
        })
        .await
}

/// Records the wrap-up code of the agent's call (in the ACD journal and
/// the audit log, `desktop.wrapup`), then ends the wrap-up when the agent
/// is in one.
pub async fn wrapup(
    State(state): State<AppState>,
    v: Viewer,
    Json(f): Json<WrapupForm>,
) -> Result<Json<Value>, AppError> {
    let me = me::agent(&state, &v).await?;
    let Some(name) = me
        .wrapup_codes
        .iter()
        .find(|(k, _)| *k == f.code)
        .map(|(_, n)| n.clone())
    else {
        return Err(AppError::invalid(
            "code",
            "not a wrap-up code of [acd] wrapup_codes",
        ));
    };
    if let Some(u) = &f.uuid {
        if !was_mine(&state, &me.agent, u).await? && own_call(&state, &me, u).is_err() {
            return Err(AppError::NotFound);
        }
    }
    let in_wrapup = feed::hub(state.data_dir())
        .state()
        .0
        .agents
        .get(&me.agent)
        .is_some_and(|a| matches!(a.state, dering_acd::AgentState::Wrapup { .. }));
    let ended = if in_wrapup {
        let action = AgentAction::EndWrapup {
            agent: me.agent.clone(),
        };
        Some(state.control(&Request::Agent { action }).await?)
    } else {
        None
    };
    journal_wrapup(&state, &me.agent, f.uuid.clone(), &f.code, &name).await?;
    let target = match &f.uuid {
        Some(u) => format!("call {u}"),
        None => format!("agent {}", me.agent),
    };
    let after = json!({ "agent": me.agent, "code": f.code, "call": f.uuid, "ended": ended });
    crate::audit::log(
        &state,
        &v,
        "desktop.wrapup",
        &target,
        None,
        Some(after.clone()),
    )
    .await?;
    Ok(Json(after))
}

/// The agent's phone now (where it logged in), from the live view.
fn my_extension(state: &AppState, me: &Me) -> Result<String, AppError> {
    feed::hub(state.data_dir())
        .state()
        .0
        .agents
        .get(&me.agent)
        .and_then(|a| a.extension.clone())
        .ok_or_else(|| AppError::invalid("agent", "log in at a phone first"))
}

/// `uuid` when it is a call the agent is offered or on now; 404 for any
/// other (another agent's call is as absent as none).
fn own_call(state: &AppState, me: &Me, uuid: &str) -> Result<(), AppError> {
    let (live, _) = feed::hub(state.data_dir()).state();
    match live.calls.get(uuid) {
        Some(c) if c.agent.as_deref() == Some(me.agent.as_str()) => Ok(()),
        _ => Err(AppError::NotFound),
    }
}

#[derive(Debug, Deserialize)]
pub struct DialForm {
    to: String,
}

/// Click to dial: pbxd rings the agent's phone, then calls `to`.
pub async fn dial(
    State(state): State<AppState>,
    v: Viewer,
    Json(f): Json<DialForm>,
) -> Result<Json<Value>, AppError> {
    let me = me::agent(&state, &v).await?;
    let to = dial_string("to", &f.to)?;
    let from = my_extension(&state, &me)?;
    let target = format!("agent {}", me.agent);
    act(
        &state,
        &v,
        Request::Originate { from, to },
        "desktop.dial",
        &target,
        "to",
    )
    .await
}

/// What the agent asks of one of its calls: `request` builds pbxd's
/// request from the call's UUID (checking the form's fields), then the
/// call must be the agent's own (404 otherwise, as in [`own_call`]); it
/// is sent and audited as `action` on the call. The one path of every
/// action on a call, so none can skip the ownership check or the audit.
async fn on_my_call(
    state: &AppState,
    v: &Viewer,
    uuid: String,
    action: &str,
    field: &str,
    request: impl FnOnce(String) -> Result<Request, AppError>,
) -> Result<Json<Value>, AppError> {
    let me = me::agent(state, v).await?;
    let req = request(uuid.clone())?;
    own_call(state, &me, &uuid)?;
    act(state, v, req, action, &format!("call {uuid}"), field).await
}

/// Blind transfer of the agent's call to `to`.
pub async fn transfer(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Json(f): Json<DialForm>,
) -> Result<Json<Value>, AppError> {
    on_my_call(&state, &v, uuid, "desktop.transfer", "to", |uuid| {
        let to = dial_string("to", &f.to)?;
        Ok(Request::Transfer { uuid, to })
    })
    .await
}

/// Hangs up the agent's call.
pub async fn hangup(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, AppError> {
    on_my_call(&state, &v, uuid, "desktop.hangup", "uuid", |uuid| {
        Ok(Request::Hangup { uuid })
    })
    .await
}

/// Puts the caller of the agent's call on hold (music): pbxd re-INVITEs
/// the caller as the phone's own hold would.
pub async fn hold(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, AppError> {
    on_my_call(&state, &v, uuid, "desktop.hold", "uuid", |uuid| {
        Ok(Request::Hold { uuid })
    })
    .await
}

/// Takes the caller off hold.
pub async fn resume(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, AppError> {
    on_my_call(&state, &v, uuid, "desktop.resume", "uuid", |uuid| {
        Ok(Request::Resume { uuid })
    })
    .await
}

/// Attended transfer, first step: the caller is held and the agent's
/// phone calls `to`; the reply carries the consultation's UUID.
pub async fn consult(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Json(f): Json<DialForm>,
) -> Result<Json<Value>, AppError> {
    on_my_call(&state, &v, uuid, "desktop.consult", "to", |uuid| {
        let to = dial_string("to", &f.to)?;
        Ok(Request::Consult { uuid, to })
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct ConsultForm {
    /// The consultation's UUID, as the consult reply gave it; pbxd
    /// refuses one not placed from this call's agent's phone.
    consult: String,
}

/// Completes the attended transfer: the caller goes to the consulted
/// party.
pub async fn complete(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Json(f): Json<ConsultForm>,
) -> Result<Json<Value>, AppError> {
    on_my_call(
        &state,
        &v,
        uuid,
        "desktop.complete_transfer",
        "consult",
        |uuid| {
            Ok(Request::CompleteTransfer {
                uuid,
                consult: f.consult,
            })
        },
    )
    .await
}

/// Cancels the consultation, back to the caller.
pub async fn cancel_consult(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Json(f): Json<ConsultForm>,
) -> Result<Json<Value>, AppError> {
    on_my_call(
        &state,
        &v,
        uuid,
        "desktop.cancel_consult",
        "consult",
        |uuid| {
            Ok(Request::CancelConsult {
                uuid,
                consult: f.consult,
            })
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ConferenceForm {
    #[serde(default)]
    to: String,
    /// The consultation under way (the consult reply's UUID): its party
    /// joins instead of `to` being called, which may then be empty.
    #[serde(default)]
    consult: Option<String>,
}

/// Adds `to` to the agent's call as a third party (pbxd's three-way), or
/// with a consultation up, the party consulted (not called again).
pub async fn conference(
    State(state): State<AppState>,
    v: Viewer,
    Path(uuid): Path<String>,
    Json(f): Json<ConferenceForm>,
) -> Result<Json<Value>, AppError> {
    let field = if f.consult.is_some() { "consult" } else { "to" };
    on_my_call(&state, &v, uuid, "desktop.conference", field, |uuid| {
        let to = match (&f.consult, f.to.trim()) {
            (Some(_), "") => String::new(),
            _ => dial_string("to", &f.to)?,
        };
        Ok(Request::Conference {
            uuid,
            to,
            consult: f.consult,
        })
    })
    .await
}
