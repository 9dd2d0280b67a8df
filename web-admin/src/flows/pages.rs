//! `/flows` (the list) and `/flows/{name}` (the editor). The editor page
//! is only the frame: `assets/flows.js` draws the flow and talks to
//! `/api/v1/flows/…`, so the browser and an integration see one API.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::db;
use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ui::{esc, page, page_with, url_encode};

const TITLE: Text = Text {
    id: "Alur panggilan",
    en: "Call flows",
};
const NAME: Text = Text {
    id: "Nama",
    en: "Name",
};
const PUBLISHED: Text = Text {
    id: "Versi terbit",
    en: "Published version",
};
const DRAFT: Text = Text {
    id: "Draf",
    en: "Draft",
};
const NONE: Text = Text {
    id: "belum ada",
    en: "none",
};
const EDITOR: Text = Text {
    id: "Editor alur",
    en: "Flow editor",
};
const ADD: Text = Text {
    id: "Tambah node",
    en: "Add node",
};
const CHECK: Text = Text {
    id: "Periksa",
    en: "Check",
};
const SAVE: Text = Text {
    id: "Simpan draf",
    en: "Save draft",
};
const PUBLISH: Text = Text {
    id: "Terbitkan",
    en: "Publish",
};
const VERSIONS: Text = Text {
    id: "Versi",
    en: "Versions",
};
const PROBLEMS: Text = Text {
    id: "Pesan validasi",
    en: "Validation messages",
};
const NODE_ID: Text = Text {
    id: "ID node",
    en: "Node id",
};

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let flows = state.read(|c| Ok(db::list(c)?)).await?;
    let l = viewer.lang;
    let mut body = format!(
        "<table class=\"flows\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        l.t(&NAME),
        l.t(&PUBLISHED),
        l.t(&DRAFT)
    );
    for f in &flows {
        let published = match (f.version, f.published_ms) {
            (Some(v), Some(at)) => format!("{v} · {}", viewer.zone.time(at)),
            _ => l.t(&NONE).to_string(),
        };
        let draft = f.draft.as_ref().map_or_else(
            || l.t(&NONE).to_string(),
            |d| format!("{} · {}", esc(&d.author), viewer.zone.time(d.at_ms)),
        );
        body.push_str(&format!(
            "<tr data-flow=\"{n}\"><td><a href=\"/flows/{u}\">{n}</a></td><td>{published}</td><td>{draft}</td></tr>",
            n = esc(&f.name),
            u = url_encode(&f.name),
        ));
    }
    body.push_str("</tbody></table>");
    Ok(page(&viewer, l.t(&TITLE), &body).into_response())
}

pub async fn editor(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewFlows)?;
    let n = name.clone();
    let known = state
        .read(move |c| Ok(db::list(c)?.into_iter().any(|f| f.name == n)))
        .await?;
    if !known {
        return Err(AppError::NotFound);
    }
    let l = viewer.lang;
    let edit = viewer.may(Perm::EditFlows);
    let buttons = if edit {
        format!(
            "<input class=\"add-id\" placeholder=\"{id}\" aria-label=\"{id}\"> <select class=\"add-type\"></select> \
             <button type=\"button\" class=\"add-node\">{add}</button> \
             <button type=\"button\" class=\"save\">{save}</button> \
             <button type=\"button\" class=\"publish\">{publish}</button> ",
            id = l.t(&NODE_ID),
            add = l.t(&ADD),
            save = l.t(&SAVE),
            publish = l.t(&PUBLISH),
        )
    } else {
        String::new()
    };
    let body = format!(
        "<link rel=\"stylesheet\" href=\"/assets/flows.css\">\
         <div id=\"flow-editor\" data-flow=\"{n}\" data-csrf=\"{csrf}\" data-edit=\"{edit}\">\
         <div class=\"flow-toolbar\">{buttons}<button type=\"button\" class=\"check\">{check}</button> \
         <span class=\"flow-status\" role=\"status\"></span></div>\
         <div class=\"flow-main\"><div class=\"flow-scroll\"><svg class=\"flow-canvas\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div>\
         <aside class=\"flow-panel\"></aside></div>\
         <h2>{problems}</h2><ul class=\"flow-messages\"></ul>\
         <h2>{versions}</h2><ul class=\"flow-versions\"></ul><div class=\"flow-diff\"></div></div>",
        n = esc(&name),
        csrf = esc(viewer.csrf_token()),
        check = l.t(&CHECK),
        problems = l.t(&PROBLEMS),
        versions = l.t(&VERSIONS),
    );
    let title = format!("{} · {}", l.t(&EDITOR), name);
    Ok(page_with(&viewer, &title, &body, &["flows.js"]).into_response())
}
