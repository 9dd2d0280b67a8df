//! The screens' HTML: the index, a screen's list with who changed each
//! entry last, and the edit form that marks a refused field. Plain forms
//! (no script needed); `assets/admin.js` only asks before a delete.

use std::collections::BTreeMap;

use super::apply::LastChange;
use super::document::{Entry, HIDDEN};
use super::form::Refusal;
use super::screens::{Kind, Place, Screen, SCREENS};
use super::service::{ScreenView, BASE_VERSION};
use crate::auth::Viewer;
use crate::i18n::{Lang, Text, Zone};
use crate::ui::{csrf_field, esc, url_encode};

pub const SCRIPTS: &[&str] = &["admin.js"];

pub const TITLE: Text = Text {
    id: "Konfigurasi",
    en: "Configuration",
};
const NEW: Text = Text {
    id: "Tambah",
    en: "Add",
};
const EDIT: Text = Text {
    id: "Ubah",
    en: "Edit",
};
const DELETE: Text = Text {
    id: "Hapus",
    en: "Delete",
};
const SAVE: Text = Text {
    id: "Simpan",
    en: "Save",
};
const CHANGED_BY: Text = Text {
    id: "Terakhir diubah",
    en: "Last changed",
};
const NOW: Text = Text {
    id: "Sekarang",
    en: "Now",
};
const NOTHING: Text = Text {
    id: "Belum ada entri.",
    en: "No entries yet.",
};
const READ_ONLY: Text = Text {
    id: "Peran Anda hanya dapat melihat layar ini.",
    en: "Your role may only view this screen.",
};
const SECRET_KEPT: Text = Text {
    id: "kosongkan untuk tetap",
    en: "leave empty to keep",
};
const DEFAULT: Text = Text {
    id: "(bawaan)",
    en: "(default)",
};
const SAVED_LIVE: Text = Text {
    id: "Tersimpan sebagai versi {v} dan langsung berlaku.",
    en: "Saved as version {v}, in effect now.",
};
const SAVED_LATER: Text = Text {
    id: "Tersimpan sebagai versi {v}; berlaku saat pbxd dijalankan lagi.",
    en: "Saved as version {v}; takes effect when pbxd starts again.",
};
const VERSIONS: Text = Text {
    id: "Versi, cadangan dan pemulihan",
    en: "Versions, backup and restore",
};
const BLOCKED: Text = Text {
    id: "Alamat yang sedang diblokir",
    en: "Addresses blocked now",
};

pub fn title(screen: &Screen, lang: Lang) -> &'static str {
    match lang {
        Lang::Id => screen.title_id,
        Lang::En => screen.title_en,
    }
}

fn changed(c: Option<&LastChange>, zone: Zone) -> String {
    match c {
        Some(c) => format!(
            "{} · {} (v{})",
            esc(&c.author),
            esc(&zone.time(c.at_ms)),
            c.version
        ),
        None => String::new(),
    }
}

/// The list of screens, each with its link.
pub fn index(viewer: &Viewer) -> String {
    let lang = viewer.lang;
    let mut s = String::from("<ul class=\"screens\">");
    for screen in SCREENS {
        s.push_str(&format!(
            "<li><a href=\"/admin/{}\">{}</a></li>",
            screen.slug,
            esc(title(screen, lang))
        ));
    }
    s.push_str(&format!(
        "<li><a href=\"/admin/prompts\">Prompt</a></li><li><a href=\"/admin/blocked\">{}</a></li>\
         <li><a href=\"/admin/versions\">{}</a></li></ul>",
        esc(lang.t(&BLOCKED)),
        esc(lang.t(&VERSIONS))
    ));
    s
}

/// A note after a save (`?saved=N&live=1`).
pub fn flash(lang: Lang, version: i64, live: bool) -> String {
    let t = if live { &SAVED_LIVE } else { &SAVED_LATER };
    format!(
        "<p class=\"saved\" role=\"status\">{}</p>",
        esc(&lang.t(t).replace("{v}", &version.to_string()))
    )
}

/// A screen's entries, or for a settings screen its form.
pub fn list(viewer: &Viewer, screen: &Screen, view: &ScreenView, editable: bool) -> String {
    let lang = viewer.lang;
    let mut s = format!(
        "<p class=\"changed\">{}: {}</p>",
        esc(lang.t(&CHANGED_BY)),
        changed(view.last_change.as_ref(), viewer.zone)
    );
    if !editable {
        s.push_str(&format!("<p>{}</p>", esc(lang.t(&READ_ONLY))));
    }
    if screen.place == Place::Settings {
        let values = view
            .entries
            .first()
            .map(|e| e.entry.values.clone())
            .unwrap_or_default();
        s.push_str(&form(
            viewer,
            screen,
            None,
            &values,
            None,
            view.version,
            editable,
        ));
        return s;
    }
    if editable {
        s.push_str(&format!(
            "<p><a class=\"button\" id=\"new\" href=\"/admin/{}/new\">{}</a></p>",
            screen.slug,
            esc(lang.t(&NEW))
        ));
    }
    if view.entries.is_empty() {
        s.push_str(&format!("<p>{}</p>", esc(lang.t(&NOTHING))));
        return s;
    }
    s.push_str("<table><thead><tr>");
    for f in screen.fields {
        s.push_str(&format!("<th>{}</th>", esc(f.name)));
    }
    let live = view.entries.iter().any(|e| e.live.is_some());
    if live {
        s.push_str(&format!("<th>{}</th>", esc(lang.t(&NOW))));
    }
    s.push_str(&format!(
        "<th>{}</th><th></th></tr></thead><tbody>",
        esc(lang.t(&CHANGED_BY))
    ));
    for e in &view.entries {
        s.push_str(&format!("<tr data-key=\"{}\">", esc(&e.entry.key)));
        for f in screen.fields {
            let v = e.entry.values.get(f.name).map(String::as_str).unwrap_or("");
            s.push_str(&format!("<td>{}</td>", esc(v)));
        }
        if live {
            let state = e.live.as_ref().map(|l| {
                let state = l["state"].as_str().unwrap_or_default();
                match l["extension"].as_str() {
                    Some(ext) => format!("{state} @ {ext}"),
                    None => state.to_string(),
                }
            });
            s.push_str(&format!(
                "<td class=\"live\">{}</td>",
                esc(&state.unwrap_or_default())
            ));
        }
        s.push_str(&format!(
            "<td>{}</td><td>",
            changed(e.last_change.as_ref(), viewer.zone)
        ));
        if editable {
            s.push_str(&format!(
                "<a href=\"/admin/{slug}/entry/{key}\">{edit}</a> \
                 <form method=\"post\" class=\"inline delete\" action=\"/admin/{slug}/entry/{key}/delete\">{csrf}\
                 <button type=\"submit\">{delete}</button></form>",
                slug = screen.slug,
                key = url_encode(&e.entry.key),
                edit = esc(lang.t(&EDIT)),
                csrf = csrf_field(viewer),
                delete = esc(lang.t(&DELETE)),
            ));
        }
        s.push_str("</td></tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// The edit form: `original` is the entry's key when editing one;
/// `values` what to show (the entry, or what was sent back with
/// `refusal`).
pub fn form(
    viewer: &Viewer,
    screen: &Screen,
    original: Option<&str>,
    values: &BTreeMap<String, String>,
    refusal: Option<&Refusal>,
    version: i64,
    editable: bool,
) -> String {
    let lang = viewer.lang;
    let action = match (screen.place, original) {
        (Place::Settings, _) | (_, None) => format!("/admin/{}", screen.slug),
        (_, Some(key)) => format!("/admin/{}/entry/{}", screen.slug, url_encode(key)),
    };
    let mut s = String::new();
    if let Some(r) =
        refusal.filter(|r| r.field.as_deref().is_none_or(|f| screen.field(f).is_none()))
    {
        s.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(&r.text_in(lang))
        ));
    }
    s.push_str(&format!(
        "<form method=\"post\" class=\"config\" action=\"{}\">{}\
         <input type=\"hidden\" name=\"{BASE_VERSION}\" value=\"{version}\">",
        esc(&action),
        csrf_field(viewer)
    ));
    for f in screen.fields {
        let value = values.get(f.name).map(String::as_str).unwrap_or("");
        let id = format!("f-{}", f.name.replace('.', "-"));
        let error = refusal.filter(|r| r.field.as_deref() == Some(f.name));
        let invalid = if error.is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        };
        let disabled = if editable { "" } else { " disabled" };
        let required = if f.required && f.kind != Kind::Secret {
            " required"
        } else {
            ""
        };
        s.push_str(&format!("<label for=\"{id}\">{}", esc(f.name)));
        match f.kind {
            Kind::Bool | Kind::Choice(_) => {
                let options: Vec<&str> = match f.kind {
                    Kind::Choice(c) => c.to_vec(),
                    _ => vec!["true", "false"],
                };
                s.push_str(&format!(
                    "<select id=\"{id}\" name=\"{}\"{invalid}{disabled}>",
                    esc(f.name)
                ));
                if !f.required {
                    s.push_str(&format!("<option value=\"\">{}</option>", esc(lang.t(&DEFAULT))));
                }
                for o in options {
                    let sel = if o == value { " selected" } else { "" };
                    s.push_str(&format!("<option{sel}>{}</option>", esc(o)));
                }
                s.push_str("</select>");
            }
            Kind::Secret => {
                let hint = if original.is_some() || (value == HIDDEN) {
                    lang.t(&SECRET_KEPT)
                } else {
                    ""
                };
                s.push_str(&format!(
                    "<input id=\"{id}\" name=\"{}\" type=\"password\" autocomplete=\"new-password\" placeholder=\"{}\"{invalid}{disabled}>",
                    esc(f.name),
                    esc(hint)
                ));
            }
            Kind::Int => s.push_str(&format!(
                "<input id=\"{id}\" name=\"{}\" inputmode=\"numeric\" value=\"{}\"{invalid}{required}{disabled}>",
                esc(f.name),
                esc(value)
            )),
            Kind::Hours | Kind::Holidays => s.push_str(&format!(
                "<textarea id=\"{id}\" name=\"{}\" rows=\"4\" placeholder=\"{}\"{invalid}{disabled}>{}</textarea>",
                esc(f.name),
                if f.kind == Kind::Hours { "mon-fri 08:00-16:00" } else { "2026-12-25 Hari Raya Natal" },
                esc(value)
            )),
            Kind::Text | Kind::Skills | Kind::List => s.push_str(&format!(
                "<input id=\"{id}\" name=\"{}\" value=\"{}\"{invalid}{required}{disabled}>",
                esc(f.name),
                esc(value)
            )),
        }
        if let Some(r) = error {
            s.push_str(&format!(
                "<span class=\"error\" role=\"alert\">{}</span>",
                esc(&r.message_in(lang))
            ));
        }
        s.push_str("</label>");
    }
    if editable {
        s.push_str(&format!(
            "<button type=\"submit\" id=\"save\">{}</button>",
            esc(lang.t(&SAVE))
        ));
    }
    s.push_str("</form>");
    s
}

/// The entry's values as the form shows them.
pub fn values_of(entry: Option<&Entry>) -> BTreeMap<String, String> {
    entry.map(|e| e.values.clone()).unwrap_or_default()
}
