//! From what a form (or a JSON body) sent to TOML values, and from the
//! loader's refusal back to the form field it is about. A refusal always
//! names a field when one is to blame, so the page can mark it and the
//! API can return `{error, field}`.

use std::collections::BTreeMap;

use toml_edit::{InlineTable, Value};

use super::screens::{Field, Kind, Place, Screen};

/// What a submitted form does to one field of an entry.
#[derive(Debug, Clone)]
pub enum Change {
    Set(Value),
    /// Optional and left empty: the key goes, the loader's default applies.
    Remove,
    /// A secret left empty on an edit: the stored one stays.
    Keep,
}

/// Input refused, with the form field to blame when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct Refusal {
    pub field: Option<String>,
    /// In English (the loader's words for its refusals, as logged).
    pub message: String,
    /// The loader's typed reason, which a page shows in the viewer's
    /// language.
    pub reason: Option<dering_config::Reason>,
}

impl Refusal {
    pub fn field(field: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            field: Some(field.to_string()),
            message: message.into(),
            reason: None,
        }
    }

    /// A form-side check with the loader's typed reason, so that a page
    /// says it in the viewer's language like the loader's own refusals.
    pub fn typed(field: &str, reason: dering_config::Reason) -> Refusal {
        Refusal {
            field: Some(field.to_string()),
            message: reason.to_string(),
            reason: Some(reason),
        }
    }

    /// The message in `lang`: a loader's reason from the i18n table,
    /// else the form's own words.
    pub fn message_in(&self, lang: crate::i18n::Lang) -> String {
        match (&self.reason, lang) {
            (Some(r), crate::i18n::Lang::Id) => crate::i18n::config_reason(lang, r),
            _ => self.message.clone(),
        }
    }

    /// As `Display`, the field first, in `lang`.
    pub fn text_in(&self, lang: crate::i18n::Lang) -> String {
        match &self.field {
            Some(f) => format!("{f}: {}", self.message_in(lang)),
            None => self.message_in(lang),
        }
    }
}

/// The form's fields as text: a urlencoded form as sent, or a JSON object
/// whose numbers and booleans are written as a form would send them and
/// whose objects (skills) as `name=level, …`.
pub fn from_json(body: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    body.iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .map(|(n, l)| format!("{n}={l}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// Each field of `screen` as a [`Change`]; `creating` makes required
/// fields (secrets too) mandatory. Fields the screen does not know are
/// refused rather than ignored, so a typo in an API call is seen.
pub fn changes(
    screen: &Screen,
    form: &BTreeMap<String, String>,
    creating: bool,
) -> Result<Vec<(&'static Field, Change)>, Refusal> {
    if let Some(unknown) = form
        .keys()
        .find(|k| screen.field(k).is_none() && !is_form_plumbing(k))
    {
        return Err(Refusal::field(unknown, "unknown field"));
    }
    let mut out = Vec::with_capacity(screen.fields.len());
    for field in screen.fields {
        let sent = form.get(field.name).map(|s| s.trim());
        let change = match sent {
            // A settings screen changes only what it is sent.
            None if screen.place == Place::Settings => Change::Keep,
            None | Some("") => match (field.kind, field.required, creating) {
                (Kind::Secret, _, false) => Change::Keep,
                (_, true, _) => return Err(Refusal::field(field.name, "required")),
                _ => Change::Remove,
            },
            Some(text) => Change::Set(value(field, text)?),
        };
        out.push((field, change));
    }
    Ok(out)
}

/// The CSRF token and the like travel with the form but are not fields.
fn is_form_plumbing(name: &str) -> bool {
    name.starts_with('_')
}

/// One field's text as its TOML value.
pub fn value(field: &Field, text: &str) -> Result<Value, Refusal> {
    let refuse = |m: &str| Refusal::field(field.name, m);
    Ok(match field.kind {
        Kind::Text | Kind::Secret => {
            if text.chars().any(char::is_control) {
                return Err(refuse("control characters are not allowed"));
            }
            Value::from(text)
        }
        Kind::Choice(allowed) => {
            if !allowed.contains(&text) {
                return Err(Refusal::typed(
                    field.name,
                    dering_config::Reason::NotOneOf {
                        value: text.into(),
                        allowed: allowed.into(),
                    },
                ));
            }
            Value::from(text)
        }
        Kind::Int => Value::from(
            text.parse::<i64>()
                .map_err(|_| refuse("must be a whole number"))?,
        ),
        Kind::Bool => Value::from(match text {
            "false" | "off" | "0" => false,
            "true" | "on" | "1" => true,
            _ => {
                return Err(Refusal::typed(
                    field.name,
                    dering_config::Reason::NotOneOf {
                        value: text.into(),
                        allowed: ["true", "false"].as_slice().into(),
                    },
                ))
            }
        }),
        Kind::List => {
            let mut list = toml_edit::Array::new();
            for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                if item.chars().any(char::is_control) {
                    return Err(refuse("control characters are not allowed"));
                }
                list.push(item);
            }
            Value::Array(list)
        }
        Kind::Skills => {
            let mut table = InlineTable::new();
            for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (name, level) = part
                    .split_once('=')
                    .ok_or_else(|| refuse("write skills as name=level, separated by commas"))?;
                let (name, level) = (name.trim(), level.trim());
                let valid_name = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
                if !valid_name {
                    return Err(refuse(&format!("{name:?} is not a skill name")));
                }
                let level: i64 = level
                    .parse()
                    .map_err(|_| refuse(&format!("the level of {name} must be a number")))?;
                table.insert(name, Value::from(level));
            }
            Value::InlineTable(table)
        }
        Kind::Hours => super::calendar::hours(text).map_err(|e| refuse(&e.to_string()))?,
        Kind::Holidays => super::calendar::holidays(text).map_err(|e| refuse(&e.to_string()))?,
    })
}

/// The field a loader refusal (`file:line: key `agent.pin`: …`) is about,
/// when it is one of `screen`'s; otherwise the refusal stands for the
/// whole form.
pub fn refusal_from_loader(screen: &Screen, message: &str) -> Refusal {
    let key = message
        .split_once("key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| key);
    // The document is the box's, not the user's: drop the file and line.
    let text = message
        .split_once(": key `")
        .map_or(message, |(_, rest)| {
            rest.split_once(": ").map_or(rest, |(_, m)| m)
        })
        .to_string();
    let field = key.and_then(|key| field_of_key(screen, key));
    Refusal {
        field: field.map(str::to_string),
        message: text,
        reason: None,
    }
}

/// A typed refusal of the loader, pinned to `screen`'s field as
/// [`refusal_from_loader`] does, keeping its reason for the page.
pub fn refusal_from_config(screen: &Screen, e: &dering_config::ConfigError) -> Refusal {
    let mut r = refusal_from_loader(screen, &e.to_string());
    if let dering_config::ConfigError::Invalid { key, reason, .. } = e {
        if r.field.is_none() {
            r.field = key
                .as_deref()
                .and_then(|k| field_of_key(screen, k))
                .map(str::to_string);
        }
        r.reason = Some(reason.clone());
    }
    r
}

fn field_of_key(screen: &Screen, key: &str) -> Option<&'static str> {
    let local = match screen.place {
        Place::Settings => Some(key),
        Place::Tables { path } | Place::InlineList { path } | Place::InlineMap { path } => key
            .strip_prefix(path)
            .and_then(|rest| rest.strip_prefix('.'))
            // `acd.block` or `recording.rule` itself (its selectors): the
            // form's first field.
            .or((key == path).then(|| screen.fields.first().map_or(screen.key, |f| f.name))),
    };
    // A key inside a field's value (`calendar.holidays.date`) is that
    // field's.
    local
        .or(Some(key))
        .and_then(|k| {
            screen
                .field(k)
                .or_else(|| screen.field(k.split('.').next()?))
        })
        .map(|f| f.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::screens::screen;
    use crate::testing::form;

    #[test]
    fn a_required_field_left_empty_is_named() {
        let agents = screen("agents").expect("agents screen");
        let e = changes(agents, &form(&[("id", "2010"), ("name", "")]), true).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"));
    }

    #[test]
    fn a_secret_left_empty_is_kept_on_edit_but_required_on_creation() {
        let agents = screen("agents").expect("agents screen");
        let f = form(&[("id", "2010"), ("name", "Baru"), ("pin", "")]);
        let edit = changes(agents, &f, false).expect("edit");
        assert!(edit
            .iter()
            .any(|(field, c)| field.name == "pin" && matches!(c, Change::Keep)));
        let e = changes(agents, &f, true).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("pin"));
    }

    #[test]
    fn bad_numbers_skills_and_choices_name_their_field() {
        let queues = screen("queues").expect("queues screen");
        let base = [("name", "q"), ("strategy", "longest-idle")];
        for (field, bad) in [
            ("ring_seconds", "lima belas"),
            ("skills", "pengaduan"),
            ("skills", "pengaduan=tinggi"),
            ("strategy", "fastest"),
            ("callback", "maybe"),
        ] {
            let mut f = form(&base);
            f.insert(field.into(), bad.into());
            let e = changes(queues, &f, true).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{field}={bad}: {e}");
        }
        // A refused choice speaks the viewer's language like the loader
        // (the strategy, the block action and acd.phone_lost answered in
        // English before).
        let mut f = form(&base);
        f.insert("strategy".into(), "fastest".into());
        let e = changes(queues, &f, true).unwrap_err();
        assert_eq!(
            e.text_in(crate::i18n::Lang::En),
            format!(
                "strategy: \"fastest\" is not one of {}",
                dering_config::STRATEGIES.join(", ")
            )
        );
        let id = e.text_in(crate::i18n::Lang::Id);
        assert!(id.starts_with("strategy: \"fastest\""), "{id}");
        assert_ne!(
            id,
            e.text_in(crate::i18n::Lang::En),
            "the refusal stayed English"
        );
        let mut f = form(&base);
        f.insert("colour".into(), "red".into());
        let e = changes(queues, &f, true).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"));
    }

    #[test]
    fn skills_become_an_inline_table() {
        let agents = screen("agents").expect("agents screen");
        let field = agents.field("skills").expect("skills");
        let v = value(field, "pengaduan=5, bahasa-jawa=8").expect("skills");
        assert_eq!(v.to_string().trim(), "{ pengaduan = 5, bahasa-jawa = 8 }");
    }

    #[test]
    fn a_loader_refusal_is_mapped_to_the_screens_field() {
        let agents = screen("agents").expect("agents screen");
        let r = refusal_from_loader(agents, "web:171: key `agent.pin`: a PIN is 4 to 12 digits");
        assert_eq!(r.field.as_deref(), Some("pin"));
        assert_eq!(r.message, "a PIN is 4 to 12 digits");
        let features = screen("features").expect("features screen");
        let r = refusal_from_loader(
            features,
            "web:120: key `monitoring.listen_code`: \"90\" must start with * and have a digit",
        );
        assert_eq!(r.field.as_deref(), Some("monitoring.listen_code"));
        let r = refusal_from_loader(agents, "web:3: key `queue.name`: defined twice");
        assert_eq!(r.field, None);
    }
}
