//! The page layout every module renders into: head with the stylesheet,
//! navigation showing only what the viewer's role may open, the language
//! switch and logout as small forms (no inline script anywhere, so the
//! Content-Security-Policy can forbid it), and helpers to escape text and
//! to put the CSRF token into forms.

use axum::response::Html;

use crate::auth::{Perm, Viewer};
use crate::i18n::{Lang, Text};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a string for a query parameter value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The name of the CSRF form field (`x-csrf-token` is the header form).
pub const CSRF_FIELD: &str = "_csrf";

/// The hidden CSRF field every POST form of a logged-in page carries.
pub fn csrf_field(viewer: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        esc(viewer.csrf_token())
    )
}

/// For multipart forms (uploads), whose body the CSRF check does not
/// parse: append this to the form's `action` (`?_csrf=…`).
pub fn csrf_query(viewer: &Viewer) -> String {
    format!("{CSRF_FIELD}={}", url_encode(viewer.csrf_token()))
}

const APP: &str = "Dering";

struct NavItem {
    href: &'static str,
    text: Text,
    perm: Perm,
}

const NAV: &[NavItem] = &[
    NavItem {
        href: "/live",
        text: Text {
            id: "Langsung",
            en: "Live",
        },
        perm: Perm::ViewLive,
    },
    NavItem {
        href: "/desktop",
        text: Text {
            id: "Desktop agen",
            en: "Agent desktop",
        },
        perm: Perm::Tickets,
    },
    NavItem {
        href: "/history",
        text: Text {
            id: "Riwayat",
            en: "History",
        },
        perm: Perm::ViewCallRecords,
    },
    NavItem {
        href: "/tickets",
        text: Text {
            id: "Tiket",
            en: "Tickets",
        },
        perm: Perm::Tickets,
    },
    NavItem {
        href: "/outbox",
        text: Text {
            id: "Kotak keluar SIMPEL",
            en: "SIMPEL outbox",
        },
        perm: Perm::SyncOutbox,
    },
    NavItem {
        href: "/admin",
        text: Text {
            id: "Konfigurasi",
            en: "Configuration",
        },
        perm: Perm::ViewConfig,
    },
    NavItem {
        href: "/flows",
        text: Text {
            id: "Alur panggilan",
            en: "Call flows",
        },
        perm: Perm::ViewFlows,
    },
    NavItem {
        href: "/users",
        text: Text {
            id: "Pengguna",
            en: "Users",
        },
        perm: Perm::ManageUsers,
    },
    NavItem {
        href: "/audit",
        text: Text {
            id: "Log audit",
            en: "Audit log",
        },
        perm: Perm::ViewAudit,
    },
    NavItem {
        href: "/account",
        text: Text {
            id: "Akun saya",
            en: "My account",
        },
        perm: Perm::OwnAccount,
    },
];

const LOGOUT: Text = Text {
    id: "Keluar",
    en: "Log out",
};
const SWITCH: Text = Text {
    id: "English",
    en: "Bahasa Indonesia",
};

fn head(lang: Lang, title: &str) -> String {
    head_csrf(lang, title, "")
}

/// The head; `csrf` goes into `<meta name="csrf-token">` for scripts that
/// send `x-csrf-token`.
fn head_csrf(lang: Lang, title: &str, csrf: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{}\">\
         <title>{} · {APP}</title>\
         <link rel=\"stylesheet\" href=\"/assets/core.css\">\
         <script src=\"/assets/core.js\" defer></script></head>",
        lang.code(),
        esc(csrf),
        esc(title)
    )
}

/// A page for a logged-in viewer: navigation, language switch, logout,
/// then `body` (already escaped HTML) under an `<h1>` with `title`.
/// `scripts`: the module's own assets (`"history.js"`), loaded deferred.
pub fn page(viewer: &Viewer, title: &str, body: &str) -> Html<String> {
    page_with(viewer, title, body, &[])
}

/// `page` with the module's own scripts (file names under `/assets/`).
pub fn page_with(viewer: &Viewer, title: &str, body: &str, scripts: &[&str]) -> Html<String> {
    let lang = viewer.lang;
    let mut s = head_csrf(lang, title, viewer.csrf_token());
    for js in scripts {
        s.push_str(&format!(
            "<script src=\"/assets/{}\" defer></script>",
            esc(js)
        ));
    }
    s.push_str("<body><header><a class=\"brand\" href=\"/\">Dering</a><nav>");
    for item in NAV.iter().filter(|i| viewer.may(i.perm)) {
        s.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            item.href,
            esc(lang.t(&item.text))
        ));
    }
    let other = match lang {
        Lang::Id => Lang::En,
        Lang::En => Lang::Id,
    };
    s.push_str(&format!(
        "</nav><span class=\"who\">{login} ({role})</span>\
         <form method=\"post\" action=\"/account/lang\" class=\"inline\">{csrf}\
         <input type=\"hidden\" name=\"lang\" value=\"{other}\">\
         <button type=\"submit\" id=\"lang-switch\">{switch}</button></form>\
         <form method=\"post\" action=\"/logout\" class=\"inline\">{csrf}\
         <button type=\"submit\" id=\"logout\">{logout}</button></form></header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        login = esc(&viewer.login),
        role = viewer.role.name(),
        csrf = csrf_field(viewer),
        other = other.code(),
        switch = lang.t(&SWITCH),
        logout = lang.t(&LOGOUT),
        title = esc(title),
    ));
    Html(s)
}

/// A page without a session (login, setup, errors).
pub fn bare_page(lang: Lang, title: &str, body: &str) -> Html<String> {
    let mut s = head(lang, title);
    s.push_str(&format!(
        "<body><header><span class=\"brand\">Dering</span></header>\
         <main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    ));
    Html(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_defuses_markup_in_text_and_attributes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("/live?x=1&y"), "/live%3Fx%3D1%26y");
    }
}
