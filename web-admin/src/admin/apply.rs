//! Taking an edited document: as the next version through pbxd's control
//! socket (`ConfigImport`, applied live without a restart), or, with pbxd
//! stopped, stored in `config_versions` as `dering config import` does, so
//! that the change runs at the next start and is never lost.

use std::path::Path;

use dering_control::{ControlError, Request, Response};
use dering_store::{ConfigVersion, Store};

/// The source written into the history for changes made here.
pub const SOURCE: &str = "web";

/// What became of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub version: i64,
    pub changed: bool,
    pub summary: String,
    /// Running now (pbxd took it), or stored for the next start.
    pub live: bool,
    /// Settings that take effect only after a restart.
    pub restart_needed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// pbxd refused the document; the message names line and key.
    #[error("{0}")]
    Invalid(String),
    /// The loader refused the document here, typed (its reason is shown
    /// in the user's language, `i18n::config_reason`).
    #[error("{0}")]
    Loader(dering_config::ConfigError),
    #[error("another configuration change is being stored; try again")]
    Busy,
    #[error("no configuration stored yet")]
    NoVersion,
    #[error("pbxd: {0}")]
    Control(String),
    #[error("configuration store: {0}")]
    Store(#[from] dering_store::StoreError),
}

fn open(data_dir: &Path) -> Result<Store, ApplyError> {
    Ok(Store::open(&data_dir.join("dering.db"))?)
}

/// The newest version, the one every edit starts from.
pub fn current(data_dir: &Path) -> Result<ConfigVersion, ApplyError> {
    open(data_dir)?
        .config_version(None)?
        .ok_or(ApplyError::NoVersion)
}

/// Every version, oldest first, without their documents (for "changed
/// last by").
pub fn history(data_dir: &Path) -> Result<Vec<ConfigVersion>, ApplyError> {
    Ok(open(data_dir)?.config_versions(false)?)
}

/// Imports `document` as the next version by `author`.
pub async fn import(
    data_dir: &Path,
    document: String,
    author: &str,
    now_ms: i64,
) -> Result<Applied, ApplyError> {
    // Refused here already, whether or not pbxd runs, with line and key.
    dering_config::Config::parse(&document, SOURCE).map_err(ApplyError::Loader)?;
    if dering_control::client::socket_path(data_dir).exists() {
        let request = Request::ConfigImport {
            document,
            source: SOURCE.into(),
            author: author.into(),
        };
        return match dering_control::client::request(data_dir, &request).await {
            Ok(Response::ConfigApplied {
                version,
                changed,
                summary,
                restart_needed,
            }) => Ok(Applied {
                version,
                changed,
                summary,
                live: true,
                restart_needed,
            }),
            Ok(other) => Err(ApplyError::Control(format!(
                "unexpected answer {}",
                other.kind()
            ))),
            Err(dering_control::client::ClientError::Refused(ControlError::BadConfig {
                message,
            })) => Err(ApplyError::Invalid(message)),
            Err(dering_control::client::ClientError::Refused(ControlError::ConfigBusy)) => {
                Err(ApplyError::Busy)
            }
            Err(e) => Err(ApplyError::Control(e.to_string())),
        };
    }
    let data_dir = data_dir.to_path_buf();
    let author = author.to_string();
    // SQLite blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || store_offline(&data_dir, &document, &author, now_ms))
        .await
        .map_err(|e| ApplyError::Control(format!("storing task: {e}")))?
}

/// pbxd is stopped: the version is stored and runs at its next start.
fn store_offline(
    data_dir: &Path,
    document: &str,
    author: &str,
    now_ms: i64,
) -> Result<Applied, ApplyError> {
    let mut store = open(data_dir)?;
    let latest = store.config_version(None)?;
    let prepared =
        pbxd::config_versions::prepare(latest.as_ref(), document, SOURCE, author, now_ms).map_err(
            |e| match e {
                pbxd::config_versions::VersionError::Invalid(e) => {
                    ApplyError::Invalid(e.to_string())
                }
                pbxd::config_versions::VersionError::Store(e) => ApplyError::Store(e),
            },
        )?;
    Ok(match prepared {
        Some((_, v)) => {
            store.apply(&[dering_store::Op::ConfigVersion(v.clone())])?;
            tracing::info!(version = v.version, summary = %v.summary, "configuration stored for the next start");
            Applied {
                version: v.version,
                changed: true,
                summary: v.summary,
                live: false,
                restart_needed: Vec::new(),
            }
        }
        None => Applied {
            version: latest.map_or(0, |v| v.version),
            changed: false,
            summary: String::new(),
            live: false,
            restart_needed: Vec::new(),
        },
    })
}

/// Who last changed something, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastChange {
    pub version: i64,
    pub author: String,
    pub at_ms: i64,
}

impl From<&ConfigVersion> for LastChange {
    fn from(v: &ConfigVersion) -> LastChange {
        LastChange {
            version: v.version,
            author: v.author.clone(),
            at_ms: v.at_ms,
        }
    }
}

/// The last version that touched `table` (as the version summaries name
/// it: `agent 2001 changed`, `[calls] changed`), or, with `key`, that one
/// entry of it. The first version and a replaced document touch all.
pub fn last_change(
    versions: &[ConfigVersion],
    table: &str,
    key: Option<&str>,
) -> Option<LastChange> {
    versions
        .iter()
        .rev()
        .find(|v| {
            v.summary == "first version"
                || v.summary == "document replaced"
                || v.summary.split(", ").any(|part| match key {
                    Some(key) => part
                        .strip_prefix(table)
                        .and_then(|r| r.strip_prefix(' '))
                        .and_then(|r| r.rsplit_once(' '))
                        .is_some_and(|(k, _)| k == key),
                    None => {
                        part.starts_with(&format!("{table} "))
                            || part.starts_with(&format!("[{table}] "))
                    }
                })
        })
        .map(LastChange::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: i64, author: &str, summary: &str) -> ConfigVersion {
        ConfigVersion {
            version: n,
            at_ms: n * 1000,
            author: author.into(),
            source: SOURCE.into(),
            summary: summary.into(),
            sha256: String::new(),
            document: String::new(),
        }
    }

    #[test]
    fn the_last_change_of_an_entry_is_found_by_its_key() {
        let versions = [
            version(1, "seed", "first version"),
            version(2, "sari", "agent 2001 changed, [calls] changed"),
            version(3, "budi", "agent 20011 added"),
            version(4, "budi", "extension 1001 changed"),
        ];
        let who = |t, k| last_change(&versions, t, k).map(|c| (c.version, c.author));
        assert_eq!(who("agent", Some("2001")), Some((2, "sari".into())));
        assert_eq!(who("agent", Some("2002")), Some((1, "seed".into())));
        assert_eq!(who("agent", None), Some((3, "budi".into())));
        assert_eq!(who("calls", None), Some((2, "sari".into())));
        assert_eq!(who("queue", None), Some((1, "seed".into())));
    }

    #[tokio::test]
    async fn with_pbxd_stopped_an_import_is_stored_for_the_next_start() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let demo = dering_config::DEFAULT_TOML;
        let first = import(dir, demo.to_string(), "seed", 1)
            .await
            .expect("first");
        assert_eq!((first.version, first.live), (1, false));
        let edited = demo.replace("name = \"Petugas 2002\"", "name = \"Bu Sari\"");
        let next = import(dir, edited.clone(), "sari", 2)
            .await
            .expect("second");
        assert_eq!((next.version, next.changed), (2, true));
        assert_eq!(next.summary, "agent 2002 changed");
        let stored = current(dir).expect("current");
        assert_eq!(
            (stored.document, stored.author, stored.source),
            (edited, "sari".into(), SOURCE.into())
        );
        let bad = demo.replace("pin = \"1234\"", "pin = \"12\"");
        match import(dir, bad, "sari", 3).await {
            Err(ApplyError::Loader(e)) => assert!(e.to_string().contains("agent.pin"), "{e}"),
            other => panic!("bad PIN taken: {other:?}"),
        }
        assert_eq!(current(dir).expect("current").version, 2);
    }
}
