//! Edits of the configuration document with `toml_edit`, so what an
//! administrator wrote by hand (comments, order, layout) survives an edit
//! made in the browser (decision 0013): an entry is changed in place, a
//! new one goes after its siblings, a removed one takes only its own
//! lines. Whether the result is a valid configuration is the loader's
//! call (`Config::parse`), made when it is imported.

use std::collections::BTreeMap;

use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::form::Change;
use super::screens::{Field, Kind, Place, Screen};

/// Shown for a secret that is set: the value never leaves the box.
pub const HIDDEN: &str = "••••";

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the stored configuration does not parse: {0}")]
    Parse(#[from] toml_edit::TomlError),
    #[error("`{0}` in the configuration is not laid out as this screen expects")]
    Shape(String),
    #[error("no entry {0:?}")]
    NotFound(String),
    #[error("{key:?} exists already")]
    Exists { field: &'static str, key: String },
}

/// One entry of a screen as text, secrets hidden.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub key: String,
    pub values: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Document(DocumentMut);

impl Document {
    pub fn parse(text: &str) -> Result<Document, EditError> {
        Ok(Document(text.parse()?))
    }

    pub fn text(&self) -> String {
        self.0.to_string()
    }

    /// The screen's entries in document order (a settings screen has one).
    pub fn entries(&self, screen: &Screen) -> Result<Vec<Entry>, EditError> {
        let root = self.0.as_table() as &dyn TableLike;
        Ok(match screen.place {
            Place::Tables { path } => match lookup(root, path) {
                None => Vec::new(),
                Some(item) => item
                    .as_array_of_tables()
                    .ok_or_else(|| EditError::Shape(path.into()))?
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let mut e = entry(screen, t);
                        if screen.key == POSITION {
                            e.key = (i + 1).to_string();
                        }
                        e
                    })
                    .collect(),
            },
            Place::InlineList { path } => match lookup(root, path) {
                None => Vec::new(),
                Some(item) => item
                    .as_array()
                    .ok_or_else(|| EditError::Shape(path.into()))?
                    .iter()
                    .map(|v| {
                        v.as_inline_table()
                            .map(|t| entry(screen, t))
                            .ok_or_else(|| EditError::Shape(path.into()))
                    })
                    .collect::<Result<_, _>>()?,
            },
            Place::InlineMap { path } => match lookup(root, path) {
                None => Vec::new(),
                Some(item) => {
                    let map = item
                        .as_table_like()
                        .ok_or_else(|| EditError::Shape(path.into()))?;
                    let value_field = map_value_field(screen);
                    map.iter()
                        .map(|(k, v)| Entry {
                            key: k.to_string(),
                            values: BTreeMap::from([
                                (screen.key.to_string(), k.to_string()),
                                (
                                    value_field.to_string(),
                                    v.as_value().map(show).unwrap_or_default(),
                                ),
                            ]),
                        })
                        .collect()
                }
            },
            Place::Settings => vec![Entry {
                key: String::new(),
                values: screen
                    .fields
                    .iter()
                    .map(|f| {
                        let v = lookup(root, f.name).and_then(Item::as_value);
                        (
                            f.name.to_string(),
                            v.map(|v| shown(f, v)).unwrap_or_default(),
                        )
                    })
                    .collect(),
            }],
        })
    }

    pub fn entry(&self, screen: &Screen, key: &str) -> Result<Option<Entry>, EditError> {
        Ok(self.entries(screen)?.into_iter().find(|e| e.key == key))
    }

    /// Creates (`original` is `None`) or changes the entry `original`,
    /// giving back its key afterwards (a change may rename it).
    pub fn put(
        &mut self,
        screen: &Screen,
        original: Option<&str>,
        changes: &[(&'static Field, Change)],
    ) -> Result<String, EditError> {
        let before: Vec<String> = self.entries(screen)?.into_iter().map(|e| e.key).collect();
        let root = self.0.as_table_mut();
        match screen.place {
            Place::Tables { path } => {
                let list = container(root, path, || Item::ArrayOfTables(ArrayOfTables::new()))?
                    .as_array_of_tables_mut()
                    .ok_or_else(|| EditError::Shape(path.into()))?;
                match original {
                    Some(key) => {
                        let (_, t) = list
                            .iter_mut()
                            .enumerate()
                            .find(|(i, t)| is_entry(screen, *i, *t, key))
                            .ok_or_else(|| EditError::NotFound(key.into()))?;
                        apply(t, changes);
                    }
                    None => {
                        let mut t = Table::new();
                        // A blank line before it, as the rest of the file has.
                        t.decor_mut().set_prefix("\n");
                        apply(&mut t, changes);
                        list.push(t);
                    }
                }
            }
            Place::InlineList { path } => {
                let list = container(root, path, || Item::Value(Value::Array(Default::default())))?
                    .as_array_mut()
                    .ok_or_else(|| EditError::Shape(path.into()))?;
                match original {
                    Some(key) => {
                        let t = list
                            .iter_mut()
                            .filter_map(Value::as_inline_table_mut)
                            .find(|t| key_of(screen, *t) == key)
                            .ok_or_else(|| EditError::NotFound(key.into()))?;
                        apply(t, changes);
                    }
                    None => {
                        let mut t = InlineTable::new();
                        apply(&mut t, changes);
                        list.push(t);
                    }
                }
            }
            Place::InlineMap { path } => {
                let map = container(root, path, || {
                    Item::Value(Value::InlineTable(Default::default()))
                })?
                .as_table_like_mut()
                .ok_or_else(|| EditError::Shape(path.into()))?;
                let value_field = map_value_field(screen);
                let set = |name: &str| {
                    changes.iter().find_map(|(f, c)| match c {
                        Change::Set(v) if f.name == name => Some(v.clone()),
                        _ => None,
                    })
                };
                let new_key = set(screen.key).map(|v| show(&v));
                let key = new_key.or(original.map(str::to_string)).unwrap_or_default();
                let mut value = match original {
                    Some(old) => map
                        .remove(old)
                        .and_then(|i| i.into_value().ok())
                        .ok_or_else(|| EditError::NotFound(old.into()))?,
                    None => Value::from(0),
                };
                if let Some(v) = set(value_field) {
                    value = v;
                }
                map.insert(&key, Item::Value(value));
            }
            Place::Settings => {
                for (field, change) in changes {
                    let (table, key) = field.name.rsplit_once('.').unwrap_or(("", field.name));
                    let t = container(root, table, || Item::Table(Table::new()))?
                        .as_table_like_mut()
                        .ok_or_else(|| EditError::Shape(table.into()))?;
                    set_value(t, key, change);
                }
                return Ok(String::new());
            }
        }
        let after: Vec<String> = self.entries(screen)?.into_iter().map(|e| e.key).collect();
        let key = match original {
            Some(old) => after
                .iter()
                .zip(&before)
                .find(|(_, b)| *b == old)
                .map(|(a, _)| a.clone())
                // A renamed map key goes to the end of the map.
                .or_else(|| after.last().cloned())
                .unwrap_or_default(),
            None => after.last().cloned().unwrap_or_default(),
        };
        if after.iter().filter(|k| **k == key).count() > 1 {
            return Err(EditError::Exists {
                field: screen.key,
                key,
            });
        }
        Ok(key)
    }

    /// Removes the entry `key` with its own lines (the comments above it
    /// go with it; those above its neighbours stay).
    pub fn remove(&mut self, screen: &Screen, key: &str) -> Result<(), EditError> {
        let root = self.0.as_table_mut() as &mut dyn TableLike;
        let missing = || EditError::NotFound(key.into());
        match screen.place {
            Place::Tables { path } => {
                let list = lookup_mut(root, path)
                    .and_then(Item::as_array_of_tables_mut)
                    .ok_or_else(missing)?;
                let i = list
                    .iter()
                    .enumerate()
                    .position(|(i, t)| is_entry(screen, i, t, key))
                    .ok_or_else(missing)?;
                list.remove(i);
            }
            Place::InlineList { path } => {
                let list = lookup_mut(root, path)
                    .and_then(Item::as_array_mut)
                    .ok_or_else(missing)?;
                let i = list
                    .iter()
                    .position(|v| {
                        v.as_inline_table()
                            .is_some_and(|t| key_of(screen, t) == key)
                    })
                    .ok_or_else(missing)?;
                list.remove(i);
            }
            Place::InlineMap { path } => {
                lookup_mut(root, path)
                    .and_then(Item::as_table_like_mut)
                    .and_then(|m| m.remove(key))
                    .ok_or_else(missing)?;
            }
            Place::Settings => return Err(missing()),
        }
        Ok(())
    }
}

/// The field that is a map entry's value (the VIP list's priority).
fn map_value_field(screen: &Screen) -> &'static str {
    screen
        .fields
        .iter()
        .find(|f| f.name != screen.key)
        .map_or("value", |f| f.name)
}

/// The key of screens whose entries have no name (recording rules): the
/// entry's position, from 1, in the document.
pub const POSITION: &str = "#";

/// Whether the `i`th entry `t` is the one `key` names.
fn is_entry(screen: &Screen, i: usize, t: &dyn TableLike, key: &str) -> bool {
    if screen.key == POSITION {
        (i + 1).to_string() == key
    } else {
        key_of(screen, t) == key
    }
}

/// What identifies an entry: its key field, or for the block list the
/// first selector it has (`number`, `prefix`, or `anonymous`).
fn key_of(screen: &Screen, t: &dyn TableLike) -> String {
    if let Some(v) = t.get(screen.key).and_then(Item::as_value) {
        return show(v);
    }
    if matches!(screen.place, Place::InlineList { .. }) {
        if let Some(v) = t.get("prefix").and_then(Item::as_value) {
            return show(v);
        }
        if t.get("anonymous").and_then(Item::as_bool) == Some(true) {
            return "anonymous".into();
        }
    }
    String::new()
}

fn entry(screen: &Screen, t: &dyn TableLike) -> Entry {
    Entry {
        key: key_of(screen, t),
        values: screen
            .fields
            .iter()
            .filter_map(|f| {
                let v = t.get(f.name)?.as_value()?;
                Some((f.name.to_string(), shown(f, v)))
            })
            .collect(),
    }
}

fn shown(field: &Field, v: &Value) -> String {
    match field.kind {
        Kind::Secret => HIDDEN.into(),
        Kind::Hours => super::calendar::show_hours(v),
        Kind::Holidays => super::calendar::show_holidays(v),
        _ => show(v),
    }
}

/// A value as a form shows it: strings bare, skills as `name=level, …`.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.value().clone(),
        Value::Integer(i) => i.value().to_string(),
        Value::Boolean(b) => b.value().to_string(),
        Value::InlineTable(t) => t
            .iter()
            .map(|(k, v)| format!("{k}={}", show(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string().trim().to_string(),
    }
}

fn apply(t: &mut dyn TableLike, changes: &[(&'static Field, Change)]) {
    for (field, change) in changes {
        set_value(t, field.name, change);
    }
}

/// Sets a key, keeping the old value's decoration (a comment at the end
/// of its line stays).
fn set_value(t: &mut dyn TableLike, key: &str, change: &Change) {
    match change {
        Change::Keep => {}
        Change::Remove => {
            t.remove(key);
        }
        Change::Set(v) => {
            let mut v = v.clone();
            match t.get_mut(key) {
                // Replaced in its slot: the key keeps the comment above it.
                Some(slot) => {
                    if let Some(old) = slot.as_value() {
                        *v.decor_mut() = old.decor().clone();
                    }
                    *slot = Item::Value(v);
                }
                None => {
                    t.insert(key, Item::Value(v));
                }
            }
        }
    }
}

fn lookup<'a>(root: &'a dyn TableLike, path: &str) -> Option<&'a Item> {
    let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
    let mut t = root;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        t = t.get(part)?.as_table_like()?;
    }
    t.get(last)
}

fn lookup_mut<'a>(root: &'a mut dyn TableLike, path: &str) -> Option<&'a mut Item> {
    let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
    let mut t = root;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        t = t.get_mut(part)?.as_table_like_mut()?;
    }
    t.get_mut(last)
}

/// The item at `path` (the root table for ""), created with `new` (and
/// its parent tables) when missing.
fn container<'a>(
    root: &'a mut Table,
    path: &str,
    new: impl FnOnce() -> Item,
) -> Result<&'a mut Item, EditError> {
    let mut parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some(last) = parts.pop() else {
        return Err(EditError::Shape(path.into()));
    };
    let mut t: &mut dyn TableLike = root;
    for part in parts {
        t = t
            .entry(part)
            .or_insert_with(|| {
                let mut parent = Table::new();
                // `[[monitoring.supervisor]]` needs no `[monitoring]` header.
                parent.set_implicit(true);
                Item::Table(parent)
            })
            .as_table_like_mut()
            .ok_or_else(|| EditError::Shape(part.into()))?;
    }
    Ok(t.entry(last).or_insert_with(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::form::changes;
    use crate::admin::screens::screen;
    use crate::testing::form;

    const DEMO: &str = dering_config::DEFAULT_TOML;

    fn put(
        doc: &mut Document,
        slug: &str,
        original: Option<&str>,
        pairs: &[(&str, &str)],
    ) -> String {
        let s = screen(slug).expect("screen");
        let c = changes(s, &form(pairs), original.is_none()).expect("form accepted");
        doc.put(s, original, &c).expect("put")
    }

    /// Every line of `old` that is a comment is still in `new`.
    fn comments_kept(old: &str, new: &str) {
        for line in old.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(new.contains(line), "comment lost: {line}");
        }
    }

    fn parses(text: &str) -> dering_config::Config {
        dering_config::Config::parse(text, "test").expect("a valid configuration")
    }

    #[test]
    fn an_added_agent_follows_the_others_and_keeps_every_comment() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        let key = put(
            &mut doc,
            "agents",
            None,
            &[
                ("id", "2010"),
                ("name", "Petugas Baru"),
                ("pin", "4321"),
                ("skills", "pengaduan=4"),
            ],
        );
        assert_eq!(key, "2010");
        let text = doc.text();
        comments_kept(DEMO, &text);
        // In the document right after agent 2004, before [acd].
        let at = text.find("id = \"2010\"").expect("new agent written");
        assert!(text.find("id = \"2004\"").expect("2004") < at);
        assert!(at < text.find("[acd]").expect("[acd]"));
        let cfg = parses(&text);
        let old = parses(DEMO);
        let new = cfg
            .agents
            .iter()
            .find(|a| a.id == "2010")
            .expect("agent 2010");
        assert_eq!(new.pin, "4321");
        assert_eq!(new.skills.get("pengaduan"), Some(&4));
        // The rest is as it was.
        assert_eq!(cfg.agents[..4], old.agents[..]);
        assert_eq!(cfg.queues, old.queues);
        assert_eq!(cfg.extensions, old.extensions);
    }

    #[test]
    fn a_changed_agent_changes_in_place_and_keeps_its_hidden_pin() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        put(
            &mut doc,
            "agents",
            Some("2002"),
            &[
                ("id", "2002"),
                ("name", "Bu Sari"),
                ("pin", ""),
                ("skills", "pengaduan=7"),
            ],
        );
        let text = doc.text();
        comments_kept(DEMO, &text);
        let cfg = parses(&text);
        let a = cfg
            .agents
            .iter()
            .find(|a| a.id == "2002")
            .expect("agent 2002");
        assert_eq!((a.name.as_str(), a.pin.as_str()), ("Bu Sari", "1234"));
        assert_eq!(
            cfg.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["2001", "2002", "2003", "2004"]
        );
        // Only that entry's lines differ.
        let changed: Vec<_> = DEMO
            .lines()
            .zip(text.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 2, "{changed:?}");
        let shown = doc
            .entry(screen("agents").expect("agents"), "2002")
            .expect("read")
            .expect("entry");
        assert_eq!(shown.values["pin"], HIDDEN);
    }

    #[test]
    fn a_removed_extension_takes_only_its_own_lines() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        doc.remove(screen("extensions").expect("extensions"), "1005")
            .expect("removed");
        let text = doc.text();
        comments_kept(DEMO, &text);
        let cfg = parses(&text);
        let old = parses(DEMO);
        assert_eq!(cfg.extensions.len(), old.extensions.len() - 1);
        assert!(cfg.extensions.iter().all(|e| e.number != "1005"));
        assert_eq!(cfg.agents, old.agents);
        let err = doc
            .remove(screen("extensions").expect("extensions"), "1005")
            .unwrap_err();
        assert!(matches!(err, EditError::NotFound(_)), "{err}");
    }

    #[test]
    fn a_trunk_and_its_route_are_added_with_lists() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        put(
            &mut doc,
            "trunks",
            None,
            &[
                ("name", "telkom"),
                ("kind", "ip"),
                ("host", "192.0.2.1"),
                ("addresses", "192.0.2.1/32"),
                ("codecs", "PCMA, PCMU"),
            ],
        );
        put(
            &mut doc,
            "routes",
            None,
            &[
                ("name", "darurat"),
                ("classes", "emergency"),
                ("trunks", "telkom, demo"),
            ],
        );
        let text = doc.text();
        comments_kept(DEMO, &text);
        let cfg = parses(&text);
        let t = cfg
            .trunks
            .iter()
            .find(|t| t.name == "telkom")
            .expect("trunk telkom");
        assert_eq!(t.codecs, ["PCMA", "PCMU"]);
        let r = cfg
            .routes
            .iter()
            .find(|r| r.name == "darurat")
            .expect("route");
        assert_eq!(r.trunks, ["telkom", "demo"]);
        let shown = doc
            .entry(screen("routes").expect("routes"), "darurat")
            .expect("read")
            .expect("entry");
        assert_eq!(shown.values["trunks"], "telkom, demo");
    }

    #[test]
    fn recording_rules_are_edited_by_position_and_keep_their_windows() {
        let rules = "[[recording.rule]]\nextension = \"1010\"\npercent = 0\n\n\
                     [[recording.rule]]\n# office hours\nflow = \"layanan-pengaduan\"\npercent = 100\n\
                     windows = [{ days = [\"mon\"], from = \"08:00\", to = \"16:00\" }]\n";
        let base = format!("{DEMO}\n{rules}");
        let mut doc = Document::parse(&base).expect("parses");
        let s = screen("recording-rules").expect("screen");
        let keys: Vec<String> = doc
            .entries(s)
            .expect("entries")
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["1", "2"]);
        put(
            &mut doc,
            "recording-rules",
            Some("2"),
            &[("flow", "layanan-pengaduan"), ("percent", "50")],
        );
        put(
            &mut doc,
            "recording-rules",
            None,
            &[("queue", "pengaduan"), ("percent", "100")],
        );
        doc.remove(s, "1").expect("removed");
        let text = doc.text();
        comments_kept(&base, &text);
        let cfg = parses(&text);
        assert_eq!(cfg.recording.rules.len(), 2);
        assert_eq!(cfg.recording.rules[0].percent, 50);
        assert_eq!(cfg.recording.rules[0].windows.len(), 1, "windows kept");
        assert_eq!(cfg.recording.rules[1].queue.as_deref(), Some("pengaduan"));
    }

    #[test]
    fn renaming_onto_an_existing_key_is_refused() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        let s = screen("agents").expect("agents");
        let c = changes(s, &form(&[("id", "2003"), ("name", "x")]), false).expect("form");
        let err = doc.put(s, Some("2002"), &c).unwrap_err();
        assert!(
            matches!(err, EditError::Exists { field: "id", .. }),
            "{err}"
        );
        let c = changes(
            s,
            &form(&[("id", "2001"), ("name", "x"), ("pin", "1111")]),
            true,
        )
        .expect("form");
        assert!(matches!(
            Document::parse(DEMO).expect("demo").put(s, None, &c),
            Err(EditError::Exists { .. })
        ));
    }

    #[test]
    fn vip_and_block_lists_are_edited_inside_acd() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        put(
            &mut doc,
            "vip",
            None,
            &[("number", "+6281234567890"), ("priority", "7")],
        );
        put(
            &mut doc,
            "vip",
            Some("02135221234"),
            &[("number", "02135221234"), ("priority", "3")],
        );
        put(
            &mut doc,
            "blocklist",
            None,
            &[("number", "+6285550001"), ("action", "busy")],
        );
        doc.remove(screen("blocklist").expect("blocklist"), "+62899")
            .expect("removed");
        let text = doc.text();
        comments_kept(DEMO, &text);
        let cfg = parses(&text);
        assert_eq!(cfg.acd.vip.get("+6281234567890"), Some(&7));
        assert_eq!(cfg.acd.vip.get("02135221234"), Some(&3));
        assert_eq!(cfg.acd.block.len(), 1);
        assert_eq!(cfg.acd.block[0].number.as_deref(), Some("+6285550001"));
        assert_eq!(cfg.acd.block[0].action, "busy");
        assert_eq!(cfg.acd.phone_lost, "logout");
    }

    #[test]
    fn settings_change_only_what_is_sent_and_create_missing_tables() {
        let mut doc = Document::parse(DEMO).expect("demo parses");
        put(&mut doc, "features", None, &[("calls.pickup_code", "*9")]);
        put(
            &mut doc,
            "supervisors",
            None,
            &[("name", "Pak Budi"), ("pin", "8642")],
        );
        let text = doc.text();
        comments_kept(DEMO, &text);
        let cfg = parses(&text);
        let old = parses(DEMO);
        assert_eq!(cfg.calls.pickup_code, "*9");
        assert_eq!(cfg.calls.transfer_code, old.calls.transfer_code);
        assert_eq!(cfg.monitoring.supervisors.len(), 2);

        let bare = "[sip]\nbind = \"127.0.0.1\"\n";
        let mut doc = Document::parse(bare).expect("parses");
        put(
            &mut doc,
            "supervisors",
            None,
            &[("name", "Pak Budi"), ("pin", "8642")],
        );
        put(
            &mut doc,
            "ups",
            None,
            &[("power.upsd", "127.0.0.1:3493"), ("power.ups", "ups")],
        );
        let text = doc.text();
        assert!(
            text.contains("[[monitoring.supervisor]]\nname = \"Pak Budi\""),
            "{text}"
        );
        assert!(
            text.contains("[power]\nupsd = \"127.0.0.1:3493\""),
            "{text}"
        );
        assert!(!text.contains("[monitoring]\n"), "{text}");
    }
}
