//! What a screen's page and its API both do: read the screen's entries
//! with who changed each last, and save or delete one entry as a new
//! configuration version, with its state before and after for the audit
//! log. No HTTP here; the handlers in `admin::routes` translate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::apply::{self, Applied, ApplyError, LastChange};
use super::document::{Document, EditError, Entry};
use super::form::{self, Refusal};
use super::screens::Screen;

/// The form field that carries the version an edit was made on: a save
/// against an older one is refused instead of undoing someone's change.
pub const BASE_VERSION: &str = "_version";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("no such entry")]
    NotFound,
    /// The configuration moved on since the form was loaded.
    #[error("the configuration changed meanwhile (now version {current}); reload and edit again")]
    Stale { current: i64 },
    #[error(transparent)]
    Apply(ApplyError),
    #[error(transparent)]
    Edit(EditError),
}

impl From<EditError> for ServiceError {
    fn from(e: EditError) -> ServiceError {
        match e {
            EditError::NotFound(_) => ServiceError::NotFound,
            EditError::Exists { field, key } => {
                ServiceError::Refused(Refusal::field(field, format!("{key} exists already")))
            }
            other => ServiceError::Edit(other),
        }
    }
}

/// A screen as its page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScreenView {
    pub slug: &'static str,
    /// The version shown; an edit form sends it back as [`BASE_VERSION`].
    pub version: i64,
    /// Who changed this screen's part of the configuration last.
    pub last_change: Option<LastChange>,
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryView {
    #[serde(flatten)]
    pub entry: Entry,
    pub last_change: Option<LastChange>,
    /// What pbxd says of it now (an agent's state and phone), when pbxd
    /// runs and the screen has such a thing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<serde_json::Value>,
}

/// The outcome of a save or delete, with the entry around it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Saved {
    pub key: String,
    pub before: Option<Entry>,
    pub after: Option<Entry>,
    pub applied: Applied,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Apply(ApplyError::Control(format!("blocking task: {e}"))))?
}

/// The screen's entries in the current version.
pub async fn view(data_dir: &Path, screen: &'static Screen) -> Result<ScreenView, ServiceError> {
    let dir = data_dir.to_path_buf();
    blocking(move || {
        let current = apply::current(&dir).map_err(ServiceError::Apply)?;
        let versions = apply::history(&dir).map_err(ServiceError::Apply)?;
        let doc = Document::parse(&current.document)?;
        let table = screen.summary_table();
        let table = if table.is_empty() {
            // A settings screen: the tables its fields live in.
            screen
                .fields
                .iter()
                .filter_map(|f| f.name.split_once('.').map(|(t, _)| t))
                .max_by_key(|t| apply::last_change(&versions, t, None).map(|c| c.version))
                .unwrap_or_default()
        } else {
            table
        };
        let entries = doc
            .entries(screen)?
            .into_iter()
            .map(|entry| {
                let last_change = if screen.keyed_in_summary() {
                    apply::last_change(&versions, table, Some(&entry.key))
                } else {
                    apply::last_change(&versions, table, None)
                };
                EntryView {
                    entry,
                    last_change,
                    live: None,
                }
            })
            .collect();
        Ok(ScreenView {
            slug: screen.slug,
            version: current.version,
            last_change: apply::last_change(&versions, table, None),
            entries,
        })
    })
    .await
}

/// Creates (`original` `None`) or changes an entry from a form, imported
/// as the next version by `author`.
pub async fn save(
    data_dir: &Path,
    screen: &'static Screen,
    original: Option<String>,
    form: BTreeMap<String, String>,
    author: &str,
    now_ms: i64,
) -> Result<Saved, ServiceError> {
    let changes = form::changes(screen, &form, original.is_none())?;
    let base = form
        .get(BASE_VERSION)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| Refusal::field(BASE_VERSION, "not a version number"))
        })
        .transpose()?;
    let (doc, before, key) = {
        let dir = data_dir.to_path_buf();
        blocking(move || {
            let current = apply::current(&dir).map_err(ServiceError::Apply)?;
            if base.is_some_and(|b| b != current.version) {
                return Err(ServiceError::Stale {
                    current: current.version,
                });
            }
            let mut doc = Document::parse(&current.document)?;
            let before = match &original {
                Some(k) => Some(doc.entry(screen, k)?.ok_or(ServiceError::NotFound)?),
                None if screen.key.is_empty() => doc.entries(screen)?.into_iter().next(),
                None => None,
            };
            let key = doc.put(screen, original.as_deref(), &changes)?;
            Ok((doc, before, key))
        })
        .await?
    };
    let after = doc.entry(screen, &key)?;
    let applied = import(data_dir, screen, doc.text(), author, now_ms).await?;
    Ok(Saved {
        key,
        before,
        after,
        applied,
    })
}

/// Removes an entry, imported as the next version by `author`.
pub async fn delete(
    data_dir: &Path,
    screen: &'static Screen,
    key: String,
    author: &str,
    now_ms: i64,
) -> Result<Saved, ServiceError> {
    let dir: PathBuf = data_dir.to_path_buf();
    let (doc, before) = blocking(move || {
        let current = apply::current(&dir).map_err(ServiceError::Apply)?;
        let mut doc = Document::parse(&current.document)?;
        let before = doc.entry(screen, &key)?.ok_or(ServiceError::NotFound)?;
        doc.remove(screen, &key)?;
        Ok((doc, before))
    })
    .await?;
    let applied = import(data_dir, screen, doc.text(), author, now_ms).await?;
    Ok(Saved {
        key: before.key.clone(),
        before: Some(before),
        after: None,
        applied,
    })
}

async fn import(
    data_dir: &Path,
    screen: &Screen,
    text: String,
    author: &str,
    now_ms: i64,
) -> Result<Applied, ServiceError> {
    apply::import(data_dir, text, author, now_ms)
        .await
        .map_err(|e| match e {
            // The loader's words, pinned to the form's field.
            ApplyError::Invalid(message) => {
                ServiceError::Refused(form::refusal_from_loader(screen, &message))
            }
            ApplyError::Loader(e) => ServiceError::Refused(form::refusal_from_config(screen, &e)),
            other => ServiceError::Apply(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::screens::screen;
    use crate::testing::form;

    async fn seeded() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().expect("temp dir");
        apply::import(tmp.path(), dering_config::DEFAULT_TOML.into(), "seed", 1)
            .await
            .expect("seed");
        tmp
    }

    #[tokio::test]
    async fn a_saved_agent_is_the_next_version_and_shows_who_changed_it() {
        let tmp = seeded().await;
        let agents = screen("agents").expect("agents");
        let saved = save(
            tmp.path(),
            agents,
            None,
            form(&[
                ("id", "2010"),
                ("name", "Baru"),
                ("pin", "4321"),
                ("_version", "1"),
            ]),
            "sari",
            5_000,
        )
        .await
        .expect("saved");
        assert_eq!((saved.applied.version, saved.key.as_str()), (2, "2010"));
        assert_eq!(saved.before, None);
        let view = view(tmp.path(), agents).await.expect("view");
        let new = view
            .entries
            .iter()
            .find(|e| e.entry.key == "2010")
            .expect("listed");
        let last = new.last_change.as_ref().expect("last change");
        assert_eq!((last.author.as_str(), last.at_ms), ("sari", 5_000));
        let old = view
            .entries
            .iter()
            .find(|e| e.entry.key == "2001")
            .expect("listed");
        assert_eq!(
            old.last_change.as_ref().map(|c| c.author.as_str()),
            Some("seed")
        );
    }

    #[tokio::test]
    async fn a_loader_refusal_names_the_field_and_stores_nothing() {
        let tmp = seeded().await;
        let agents = screen("agents").expect("agents");
        let err = save(
            tmp.path(),
            agents,
            None,
            form(&[
                ("id", "2010"),
                ("name", "Baru"),
                ("pin", "12"),
                ("skills", "pengaduan=11"),
            ]),
            "sari",
            5_000,
        )
        .await
        .unwrap_err();
        match err {
            ServiceError::Refused(r) => assert_eq!(r.field.as_deref(), Some("pin"), "{r}"),
            other => panic!("{other}"),
        }
        let err = save(
            tmp.path(),
            agents,
            Some("2001".into()),
            form(&[("id", "2001"), ("name", "x"), ("_version", "0")]),
            "sari",
            5_000,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ServiceError::Stale { current: 1 }), "{err}");
        assert_eq!(apply::current(tmp.path()).expect("current").version, 1);
    }

    #[tokio::test]
    async fn a_deleted_vip_number_is_gone_from_the_list() {
        let tmp = seeded().await;
        let vip = screen("vip").expect("vip");
        let saved = delete(tmp.path(), vip, "02135221234".into(), "sari", 9)
            .await
            .expect("deleted");
        assert_eq!(
            saved.before.map(|e| e.values["priority"].clone()),
            Some("9".into())
        );
        assert!(view(tmp.path(), vip)
            .await
            .expect("view")
            .entries
            .is_empty());
        let err = delete(tmp.path(), vip, "02135221234".into(), "sari", 9)
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::NotFound), "{err}");
    }
}
