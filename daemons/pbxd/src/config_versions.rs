//! The configuration's versions in SQLite (TEL-8, issue 12 §3): which
//! document pbxd runs at start, how an import becomes a new version, and
//! the one-line summary of what changed.
//!
//! A version is the whole TOML document, as imported: export gives back
//! exactly what was imported, comments included, and the same validator
//! (`Config::parse`, naming file, line and key) judges a file, an import
//! and a stored version. The file given at start (`dering.toml`, or the
//! embedded demo) seeds the first version; later it is imported again
//! only when its content changed since it was last imported, so an
//! administrator who edits the file and restarts still gets their change,
//! and changes made through `dering config import` (or the web admin)
//! survive restarts with an unchanged file.

use std::collections::{BTreeMap, BTreeSet};

use dering_store::{ConfigVersion, Store};
use sha2::{Digest, Sha256};
use toml::Value;

use crate::config::Config;

/// The document given at start: its text and where it came from.
#[derive(Debug, Clone)]
pub struct Seed {
    /// A file path, or `<embedded default>`.
    pub source: String,
    pub text: String,
}

/// Why a configuration could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Invalid(#[from] dering_config::ConfigError),
    #[error("configuration store: {0}")]
    Store(#[from] dering_store::StoreError),
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A new version of `text` after `previous`, validated; `Ok(None)` when it
/// is the same document as the newest version (nothing to do).
pub fn prepare(
    previous: Option<&ConfigVersion>,
    text: &str,
    source: &str,
    author: &str,
    at_ms: i64,
) -> Result<Option<(Config, ConfigVersion)>, VersionError> {
    let cfg = Config::parse(text, source)?;
    let sha = sha256_hex(text);
    if previous.is_some_and(|p| p.sha256 == sha) {
        return Ok(None);
    }
    let summary = match previous {
        Some(p) => summary(&p.document, text),
        None => "first version".to_string(),
    };
    let version = ConfigVersion {
        version: previous.map_or(1, |p| p.version + 1),
        at_ms,
        author: author.to_string(),
        source: source.to_string(),
        summary,
        sha256: sha,
        document: text.to_string(),
    };
    Ok(Some((cfg, version)))
}

/// The configuration pbxd runs at start, written to `store` as a new
/// version when the seed is new or changed since it was last imported.
pub fn at_start(
    store: &mut Store,
    seed: &Seed,
    at_ms: i64,
) -> Result<(Config, ConfigVersion), VersionError> {
    let versions = store.config_versions(false)?;
    let latest = store.config_version(None)?;
    let last_file = versions
        .iter()
        .rev()
        .find(|v| v.author == "seed" || v.author == "file");
    let seed_sha = sha256_hex(&seed.text);
    if last_file.is_none_or(|f| f.sha256 != seed_sha) {
        let author = if latest.is_none() { "seed" } else { "file" };
        if let Some((cfg, v)) = prepare(latest.as_ref(), &seed.text, &seed.source, author, at_ms)? {
            store.apply(&[dering_store::Op::ConfigVersion(v.clone())])?;
            tracing::info!(version = v.version, source = %v.source, summary = %v.summary,
                "configuration version taken from the file");
            return Ok((cfg, v));
        }
    }
    match latest {
        Some(v) => {
            let cfg = Config::parse(&v.document, &format!("configuration version {}", v.version))?;
            Ok((cfg, v))
        }
        // Unreachable in practice: no version at all means the seed was
        // just written above.
        None => {
            let cfg = Config::parse(&seed.text, &seed.source)?;
            Ok((
                cfg,
                ConfigVersion {
                    version: 0,
                    at_ms,
                    author: "seed".into(),
                    source: seed.source.clone(),
                    summary: String::new(),
                    sha256: seed_sha,
                    document: seed.text.clone(),
                },
            ))
        }
    }
}

/// Arrays of tables whose entries are matched by a key, so a summary says
/// "extension 1011 added" rather than "extension changed".
const KEYED: &[(&str, &str)] = &[
    ("extension", "number"),
    ("agent", "id"),
    ("queue", "name"),
    ("did", "number"),
    ("conference", "number"),
    ("trunk", "name"),
    ("route", "name"),
];

/// What changed from `old` to `new`, in a line: entries added, removed
/// and changed by their key, other tables by name.
pub fn summary(old: &str, new: &str) -> String {
    let (Ok(Value::Table(a)), Ok(Value::Table(b))) = (old.parse::<Value>(), new.parse::<Value>())
    else {
        return "document replaced".into();
    };
    let mut parts = Vec::new();
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        let (x, y) = (a.get(name), b.get(name));
        if x == y {
            continue;
        }
        if let Some((_, key)) = KEYED.iter().find(|(t, _)| t == name) {
            let index = |v: Option<&Value>| -> BTreeMap<String, Value> {
                v.and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| {
                                let k = i.get(*key).map_or_else(String::new, |k| match k {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                });
                                (k, i.clone())
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (ix, iy) = (index(x), index(y));
            for (k, v) in &iy {
                match ix.get(k) {
                    None => parts.push(format!("{name} {k} added")),
                    Some(o) if o != v => parts.push(format!("{name} {k} changed")),
                    _ => {}
                }
            }
            for k in ix.keys().filter(|k| !iy.contains_key(*k)) {
                parts.push(format!("{name} {k} removed"));
            }
        } else {
            match (x, y) {
                (None, Some(_)) => parts.push(format!("[{name}] added")),
                (Some(_), None) => parts.push(format!("[{name}] removed")),
                _ => parts.push(format!("[{name}] changed")),
            }
        }
    }
    if parts.is_empty() {
        "comments or layout only".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = include_str!("../../../crates/config/src/default.toml");

    #[test]
    fn summary_names_entries_by_key() {
        let new = format!(
            "{BASE}\n[[extension]]\nnumber = \"1099\"\nname = \"Baru\"\npassword = \"demo-1099-pass\"\n"
        );
        let s = summary(BASE, &new);
        assert_eq!(s, "extension 1099 added");
        let s = summary(&new, BASE);
        assert_eq!(s, "extension 1099 removed");
        assert_eq!(
            summary(BASE, &format!("# note\n{BASE}")),
            "comments or layout only"
        );
    }

    /// Issue 13: a carrier's trunk and an outbound route are named, not
    /// just "[trunk] changed".
    #[test]
    fn summary_names_trunks_and_routes() {
        let more = "\n[[trunk]]\nname = \"cadangan\"\nkind = \"ip\"\nhost = \"192.0.2.6\"\naddresses = [\"192.0.2.6\"]\n";
        let new = format!("{BASE}{more}")
            .replace("trunks = [\"demo\"]", "trunks = [\"demo\", \"cadangan\"]");
        assert_eq!(
            summary(BASE, &new),
            "route keluar changed, trunk cadangan added"
        );
        let edited = BASE.replace("keepalive_seconds = 30", "keepalive_seconds = 60");
        assert_ne!(edited, BASE);
        assert_eq!(summary(BASE, &edited), "trunk demo changed");
    }

    #[test]
    fn seed_then_unchanged_file_then_changed_file() {
        let dir = std::env::temp_dir().join(format!("dering-cfgv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("d.db")).unwrap();
        let seed = Seed {
            source: "dering.toml".into(),
            text: BASE.to_string(),
        };
        let (_, v1) = at_start(&mut store, &seed, 1).unwrap();
        assert_eq!((v1.version, v1.author.as_str()), (1, "seed"));
        // An import through the control socket...
        let edited = BASE.replace("no_answer_seconds = ", "no_answer_seconds = 1");
        let (_, v2) = prepare(Some(&v1), &edited, "admin.toml", "admin", 2)
            .unwrap()
            .unwrap();
        store.apply(&[dering_store::Op::ConfigVersion(v2)]).unwrap();
        // ...survives a restart with the unchanged file.
        let (_, now) = at_start(&mut store, &seed, 3).unwrap();
        assert_eq!((now.version, now.author.as_str()), (2, "admin"));
        // A changed file is imported again, as a new version.
        let changed = Seed {
            source: "dering.toml".into(),
            text: format!("# edited\n{BASE}"),
        };
        let (_, v3) = at_start(&mut store, &changed, 4).unwrap();
        assert_eq!((v3.version, v3.author.as_str()), (3, "file"));
        assert_eq!(store.config_versions(false).unwrap().len(), 3);
        // The same document again is no new version.
        assert!(prepare(Some(&v3), &v3.document, "x", "admin", 5)
            .unwrap()
            .is_none());
        // A bad document is refused with its source and line.
        let bad = prepare(Some(&v3), "[sip]\nbind = 5\n", "bad.toml", "admin", 6);
        let msg = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("bad.toml:"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A refused import, and a stored version the checks now refuse, name
    /// their source, the line and the key, though the configuration the
    /// engine holds keeps no spans (issue 12 §3).
    #[test]
    fn refusals_name_source_line_and_key() {
        let dir = std::env::temp_dir().join(format!("dering-cfgv-refused-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("d.db")).unwrap();
        let seed = Seed {
            source: "dering.toml".into(),
            text: BASE.to_string(),
        };
        let (_, v1) = at_start(&mut store, &seed, 1).unwrap();
        let twice = BASE.replacen("number = \"1004\"", "number = \"1003\"", 1);
        let line = twice
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("number = \"1003\""))
            .last()
            .map_or(0, |(i, _)| i + 1);
        let msg = prepare(Some(&v1), &twice, "salah.toml", "admin", 2)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.starts_with(&format!("salah.toml:{line}: key `extension.number`")),
            "{msg}"
        );
        // A version stored before a check existed is refused at start with
        // its version number, line and key.
        let stored = dering_store::ConfigVersion {
            version: 2,
            at_ms: 2,
            author: "admin".into(),
            source: "admin.toml".into(),
            summary: String::new(),
            sha256: sha256_hex(&twice),
            document: twice.clone(),
        };
        store
            .apply(&[dering_store::Op::ConfigVersion(stored)])
            .unwrap();
        let msg = at_start(&mut store, &seed, 3)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.starts_with(&format!(
                "configuration version 2:{line}: key `extension.number`"
            )),
            "{msg}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
