//! `/api/v1/flows/…`: what the editor page does, as JSON, with the same
//! permission checks (`ViewFlows` to look, `EditFlows` to change).
//! Publishing goes only through pbxd (`Request::PublishFlow`), which
//! validates again, stores the next version and swaps it in for new
//! calls; webd itself writes only drafts, layouts and the audit log.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dering_control::client::ClientError;
use dering_control::{ControlError, Request, Response as ControlResponse};
use dering_flow::Flow;
use dering_media::speech::Lang;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::check::{check, Checked};
use super::db::{self, Layout, NewDraft};
use super::diff::{diff, Diff};
use super::prompts::Catalogue;
use crate::app::AppState;
use crate::audit;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;

/// What the editor sends: the document as JSON (not a string in a
/// string) and where its nodes are drawn.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Edit {
    /// The flow document (`dering_flow::Flow`).
    #[schema(value_type = Object)]
    pub document: Value,
    /// Node id to `[x, y]`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub layout: Layout,
    /// The published version the edit started from.
    #[serde(default)]
    pub based_on: Option<i64>,
}

/// The running configuration version as the loader reads it; `None`
/// before the first version (or for one the loader no longer takes).
async fn running_config(state: &AppState) -> Result<Option<dering_config::Config>, AppError> {
    let text: Option<String> = state
        .read(|conn| {
            use rusqlite::OptionalExtension;
            Ok(conn
                .query_row(
                    "SELECT document FROM config_versions ORDER BY version DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await?;
    Ok(text.and_then(|t| dering_config::Config::parse(&t, "running configuration").ok()))
}

/// The prompt library as pbxd runs it: the built-in prompts and the
/// directory `[flows] prompts` of the running configuration version.
pub async fn catalogue(state: &AppState) -> Result<Catalogue, AppError> {
    // pbxd's own rule (`pbxd::prompt_store::load`): `[flows] prompts`, else
    // `<data>/prompts` once uploads or phone recordings made it.
    let configured = running_config(state).await?.and_then(|c| c.flows.prompts);
    let dir = configured.or_else(|| {
        let default = state.data_dir().join("prompts");
        default.exists().then_some(default)
    });
    Ok(Catalogue::load(dir.as_deref()))
}

/// The publish validator's verdict on `document`, its prompts looked up
/// in the box's current catalogue: every handler that shows or saves a
/// flow checks it the same way.
async fn check_with_prompts(
    state: &AppState,
    document: &str,
) -> Result<(Option<Flow>, Checked), AppError> {
    let prompts = catalogue(state).await?;
    Ok(check(document, |l, p| prompts.contains(l, p)))
}

/// The document of an edit as text, refused unless it names this flow.
fn document_for(name: &str, edit: &Edit) -> Result<String, AppError> {
    if edit.document.get("name").and_then(Value::as_str) != Some(name) {
        return Err(AppError::invalid(
            "name",
            format!("the document must be named `{name}`"),
        ));
    }
    Ok(edit.document.to_string())
}

/// A document parsed from the database (written by pbxd or by this
/// module), or JSON `null` if it somehow is not JSON.
fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// 422 with the validator's messages by node: the editor puts them on
/// the nodes.
fn refused(checked: Checked) -> Response {
    let message = checked
        .flow
        .iter()
        .chain(checked.nodes.values().flatten())
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": "invalid",
            "field": "document",
            "message": message,
            "checked": checked,
        })),
    )
        .into_response()
}

/// The editor's document for `name` with the validator's verdict, once
/// the viewer holds `perm`: check, save and publish all begin so.
async fn checked_edit(
    state: &AppState,
    viewer: &Viewer,
    perm: Perm,
    name: &str,
    edit: &Edit,
) -> Result<(Option<Flow>, Checked), AppError> {
    viewer.require(perm)?;
    let text = document_for(name, edit)?;
    check_with_prompts(state, &text).await
}

/// Published version `version` of `name`, or `missing` when there is
/// none: the version view, rollback and both diffs look it up alike and
/// differ only in how an absent version is refused.
async fn published(
    state: &AppState,
    name: &str,
    version: i64,
    missing: AppError,
) -> Result<db::Version, AppError> {
    let name = name.to_owned();
    state
        .read(move |c| Ok(db::version(c, &name, version)?))
        .await?
        .ok_or(missing)
}

/// The reply to a look at a stored document (a version or a draft): its
/// own `fields`, the document as JSON, its layout and the validator's
/// messages by node, checked against today's prompts as a publish would.
async fn shown<const N: usize>(
    state: &AppState,
    fields: [(&str, Value); N],
    document: &str,
    layout: &Layout,
) -> Result<Response, AppError> {
    let (_, checked) = check_with_prompts(state, document).await?;
    let mut reply: Map<String, Value> =
        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    reply.insert("document".into(), json_of(document));
    reply.insert("layout".into(), json!(layout));
    reply.insert("checked".into(), json!(checked));
    Ok(Json(reply).into_response())
}

/// A document on its way to becoming the flow's next version.
struct Publication {
    name: String,
    /// The flow document as pbxd is to store it.
    document: String,
    layout: Layout,
    /// The newest published version before this one, for the audit log.
    before: Option<(i64, String)>,
    /// The audit action: `flow.publish` or `flow.rollback`.
    action: &'static str,
    /// The old version a rollback publishes again.
    from: Option<i64>,
}

/// Publishes through pbxd, then keeps the layout and audits the change in
/// one transaction: publish and rollback end the same way.
async fn publish_recorded(
    state: &AppState,
    viewer: &Viewer,
    p: Publication,
) -> Result<i64, AppError> {
    let version = publish_through_pbxd(state, p.document.clone()).await?;
    let now = state.now_ms();
    let actor = audit::Actor::from(viewer);
    state
        .write(move |tx| {
            db::save_layout(tx, &p.name, version, &p.layout)?;
            let document = json_of(&p.document);
            let after = match p.from {
                Some(from) => json!({ "version": version, "from": from, "document": document }),
                None => json!({ "version": version, "document": document }),
            };
            audit::record(
                tx,
                actor,
                now,
                p.action,
                &format!("flow/{}", p.name),
                snapshot(p.before.as_ref()).as_ref(),
                Some(&after),
            )
        })
        .await?;
    Ok(version)
}

#[utoipa::path(get, path = "/api/v1/flows", tag = "flows", description = "Every flow with its newest published version and a newer draft", 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let flows = state.read(|c| Ok(db::list(c)?)).await?;
    Ok(Json(json!({ "flows": flows })).into_response())
}

#[utoipa::path(get, path = "/api/v1/flows/{name}", tag = "flows", description = "A flow's published versions and its newer draft", params(("name" = String, Path, description = "the flow's name")), 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn flow(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let n = name.clone();
    let (versions, draft) = state
        .read(move |c| {
            let all = db::list(c)?;
            Ok((
                db::versions(c, &n)?,
                all.into_iter().find(|f| f.name == n).and_then(|f| f.draft),
            ))
        })
        .await?;
    if versions.is_empty() && draft.is_none() {
        return Err(AppError::NotFound);
    }
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|(version, published_ms)| json!({"version": version, "published_ms": published_ms}))
        .collect();
    Ok(Json(json!({ "name": name, "versions": versions, "draft": draft })).into_response())
}

#[utoipa::path(get, path = "/api/v1/flows/{name}/versions/{version}", tag = "flows", description = "A published version: document, layout and the validator's messages by node", params(("name" = String, Path, description = "the flow's name"), ("version" = i64, Path, description = "a published version")), 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((name, version)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let v = published(&state, &name, version, AppError::NotFound).await?;
    let fields = [
        ("version", json!(v.version)),
        ("published_ms", json!(v.published_ms)),
    ];
    shown(&state, fields, &v.document, &v.layout).await
}

#[utoipa::path(get, path = "/api/v1/flows/{name}/draft", tag = "flows", description = "The newest draft of a flow", params(("name" = String, Path, description = "the flow's name")), 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn draft(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let d = state
        .read(move |c| Ok(db::latest_draft(c, &name)?))
        .await?
        .ok_or(AppError::NotFound)?;
    let fields = [
        ("id", json!(d.info.id)),
        ("author", json!(d.info.author)),
        ("at_ms", json!(d.info.at_ms)),
        ("based_on", json!(d.info.based_on)),
    ];
    shown(&state, fields, &d.document, &d.layout).await
}

/// Runs the publish validator on the editor's document.
#[utoipa::path(post, path = "/api/v1/flows/{name}/check", tag = "flows", description = "The publish validator's messages on a document, by node", params(("name" = String, Path, description = "the flow's name")), request_body = Edit, 
    responses((status = 200, body = Checked), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn check_edit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Json(edit): Json<Edit>,
) -> Result<Response, AppError> {
    let (_, checked) = checked_edit(&state, &viewer, Perm::ViewFlows, &name, &edit).await?;
    Ok(Json(checked).into_response())
}

/// Saves a draft. It need not be valid yet (that is what drafts are for),
/// but it must be a flow document; the reply carries the validator's
/// messages.
#[utoipa::path(post, path = "/api/v1/flows/{name}/draft", tag = "flows", description = "Save a draft (audited)", params(("name" = String, Path, description = "the flow's name")), request_body = Edit, 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn save_draft(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Json(edit): Json<Edit>,
) -> Result<Response, AppError> {
    let (parsed, checked) = checked_edit(&state, &viewer, Perm::EditFlows, &name, &edit).await?;
    let Some(flow) = parsed else {
        return Err(AppError::invalid("document", checked.flow.join("; ")));
    };
    let document = flow.to_json();
    let now = state.now_ms();
    let actor = audit::Actor::from(&viewer);
    let author = viewer.login.clone();
    let id = state
        .write(move |tx| {
            let id = db::save_draft(
                tx,
                &NewDraft {
                    name: &name,
                    author: &author,
                    at_ms: now,
                    based_on: edit.based_on,
                    document: &document,
                    layout: &edit.layout,
                },
            )?;
            audit::record(
                tx,
                actor,
                now,
                "flow.draft",
                &format!("flow/{name}"),
                None,
                Some(&json!({ "draft": id, "based_on": edit.based_on, "document": json_of(&document) })),
            )?;
            Ok(id)
        })
        .await?;
    Ok(Json(json!({ "id": id, "checked": checked })).into_response())
}

/// pbxd's answer to a publish: the new version, or its refusal named.
async fn publish_through_pbxd(state: &AppState, document: String) -> Result<i64, AppError> {
    match state.control(&Request::PublishFlow { document }).await {
        Ok(ControlResponse::FlowPublished { version, .. }) => Ok(version),
        Ok(other) => Err(AppError::Internal(format!(
            "pbxd answered {} to a publish",
            other.kind()
        ))),
        Err(AppError::Control(ClientError::Refused(ControlError::BadFlow { message }))) => {
            Err(AppError::invalid("document", message))
        }
        Err(e) => Err(e),
    }
}

/// The newest published (version, document) of `name`, for the audit
/// log's "before".
async fn current(state: &AppState, name: &str) -> Result<Option<(i64, String)>, AppError> {
    let name = name.to_owned();
    state
        .read(move |c| {
            let Some((v, _)) = db::latest_version_info(c, &name)? else {
                return Ok(None);
            };
            Ok(db::version(c, &name, v)?.map(|x| (v, x.document)))
        })
        .await
}

fn snapshot(v: Option<&(i64, String)>) -> Option<Value> {
    v.map(|(version, doc)| json!({ "version": version, "document": json_of(doc) }))
}

/// Validates the editor's document with the publish validator and, when
/// valid, publishes it through pbxd as the flow's next version.
#[utoipa::path(post, path = "/api/v1/flows/{name}/publish", tag = "flows", description = "Validate and publish as the flow's next version through pbxd (audited)", params(("name" = String, Path, description = "the flow's name")), request_body = Edit, 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 422, description = "refused, with the messages by node"), (status = 409, description = "another version was published since the edit began"), (status = 503, description = "pbxd does not answer")),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Json(edit): Json<Edit>,
) -> Result<Response, AppError> {
    let (parsed, checked) = checked_edit(&state, &viewer, Perm::EditFlows, &name, &edit).await?;
    let Some(flow) = parsed.filter(|_| checked.valid) else {
        return Ok(refused(checked));
    };
    let before = current(&state, &name).await?;
    // Two editors at once: the second publish would silently undo the
    // first's, so an edit that started from an older version is refused.
    let now_published = before.as_ref().map(|(v, _)| *v);
    if let Some(base) = edit.based_on.filter(|b| Some(*b) != now_published) {
        return Err(AppError::Conflict {
            field: "based_on".into(),
            message: format!(
                "this edit started from version {base}; version {} was published since",
                now_published.unwrap_or(0)
            ),
        });
    }
    let publication = Publication {
        name,
        document: flow.to_json(),
        layout: edit.layout,
        before,
        action: "flow.publish",
        from: None,
    };
    let version = publish_recorded(&state, &viewer, publication).await?;
    Ok(Json(json!({ "version": version })).into_response())
}

/// Rollback: publishes an old version's document again, as the next
/// version (history is never rewritten), with the old version's layout.
#[utoipa::path(post, path = "/api/v1/flows/{name}/versions/{version}/rollback", tag = "flows", description = "Publish an old version's document again as the next version (audited)", params(("name" = String, Path, description = "the flow's name"), ("version" = i64, Path, description = "a published version")), 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403), (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((name, from)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    viewer.require(Perm::EditFlows)?;
    let old = published(&state, &name, from, AppError::NotFound).await?;
    let before = current(&state, &name).await?;
    let publication = Publication {
        name,
        document: old.document,
        layout: old.layout,
        before,
        action: "flow.rollback",
        from: Some(from),
    };
    let version = publish_recorded(&state, &viewer, publication).await?;
    Ok(Json(json!({ "version": version, "from": from })).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Between {
    pub from: i64,
    pub to: i64,
}

/// A diff's refusal of a version `field` names that was never published.
fn no_such(field: &str) -> AppError {
    AppError::invalid(field, "no such version")
}

fn parsed(text: &str, field: &str) -> Result<Flow, AppError> {
    Flow::from_json(text).map_err(|e| AppError::invalid(field, e.to_string()))
}

/// The difference between two published versions.
#[utoipa::path(get, path = "/api/v1/flows/{name}/diff", tag = "flows", description = "The difference between two published versions, node by node", params(("name" = String, Path, description = "the flow's name"), Between), 
    responses((status = 200, body = Diff), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn diff_versions(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<Between>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let a = published(&state, &name, q.from, no_such("from")).await?;
    let b = published(&state, &name, q.to, no_such("to")).await?;
    let d = diff(&parsed(&a.document, "from")?, &parsed(&b.document, "to")?);
    Ok(Json(d).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AgainstEditor {
    pub from: i64,
    #[schema(value_type = Object)]
    pub document: Value,
}

/// The difference between a published version and the editor's document.
#[utoipa::path(post, path = "/api/v1/flows/{name}/diff", tag = "flows", description = "The difference between a published version and an edited document", params(("name" = String, Path, description = "the flow's name")), request_body = AgainstEditor, 
    responses((status = 200, body = Diff), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub async fn diff_editor(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Json(body): Json<AgainstEditor>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let a = published(&state, &name, body.from, no_such("from")).await?;
    let b = parsed(&body.document.to_string(), "document")?;
    Ok(Json(diff(&parsed(&a.document, "from")?, &b)).into_response())
}

#[utoipa::path(get, path = "/api/v1/flows/prompts", tag = "flows", description = "The prompt names a flow may play, by language", 
    responses((status = 200, body = serde_json::Value), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn prompts(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    Ok(Json(catalogue(&state).await?).into_response())
}

/// The calendar names a time node may use, for the editor's picker.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarNames {
    /// `[[calendar]]` names of the running configuration, in file order.
    pub names: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/flows/calendars", tag = "flows", description = "The named calendars (business hours and holidays) a time node may use",
    responses((status = 200, body = CalendarNames), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn calendars(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let names = running_config(&state)
        .await?
        .map(|c| c.calendars.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    Ok(Json(CalendarNames { names }).into_response())
}

/// A prompt's WAV, for the page's `<audio>`.
#[utoipa::path(get, path = "/api/v1/flows/prompts/{lang}/{name}", tag = "flows", description = "A prompt's WAV file", params(("lang" = String, Path, description = "id or en"), ("name" = String, Path, description = "the prompt")), 
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn prompt_wav(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((lang, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let lang = Lang::parse(&lang).ok_or(AppError::NotFound)?;
    let wav = catalogue(&state)
        .await?
        .wav(lang, &name)
        .ok_or(AppError::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}
