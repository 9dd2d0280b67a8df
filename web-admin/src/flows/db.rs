//! The editor's rows in SQLite: published versions (table `flows`, which
//! only pbxd writes, through `Request::PublishFlow`), drafts
//! (`flow_drafts`, every save kept) and node positions (`flow_layouts` for
//! published versions, a draft's own `layout`). Plain functions over a
//! connection, so handlers and tests share them.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Where the editor drew each node: node id to `[x, y]`.
pub type Layout = BTreeMap<String, [f64; 2]>;

/// A flow as the list page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSummary {
    pub name: String,
    /// The newest published version and when it was published.
    pub version: Option<i64>,
    pub published_ms: Option<i64>,
    /// The newest draft, when it is newer than the published version.
    pub draft: Option<DraftInfo>,
}

/// Who saved a draft, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftInfo {
    pub id: i64,
    pub author: String,
    pub at_ms: i64,
    /// The published version the draft started from.
    pub based_on: Option<i64>,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub version: i64,
    pub published_ms: i64,
    pub document: String,
    pub layout: Layout,
}

/// A saved draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    #[serde(flatten)]
    pub info: DraftInfo,
    pub document: String,
    pub layout: Layout,
}

/// A draft as saved: the author is the logged-in user, never the client.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDraft<'a> {
    pub name: &'a str,
    pub author: &'a str,
    pub at_ms: i64,
    pub based_on: Option<i64>,
    pub document: &'a str,
    pub layout: &'a Layout,
}

/// A layout column: a broken one (hand-edited, say) costs the positions,
/// never the flow, so it reads as empty and the editor lays nodes out.
fn layout_of(text: &str) -> Layout {
    serde_json::from_str(text).unwrap_or_default()
}

fn layout_text(layout: &Layout) -> String {
    serde_json::to_string(layout).unwrap_or_else(|_| "{}".into())
}

/// Every flow that has a published version or a draft, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<FlowSummary>> {
    let mut stmt =
        conn.prepare("SELECT name FROM flows UNION SELECT name FROM flow_drafts ORDER BY name")?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    names
        .into_iter()
        .map(|name| {
            let published = latest_version_info(conn, &name)?;
            let draft = latest_draft(conn, &name)?
                .map(|d| d.info)
                .filter(|d| published.is_none_or(|(_, at)| d.at_ms > at));
            Ok(FlowSummary {
                name,
                version: published.map(|p| p.0),
                published_ms: published.map(|p| p.1),
                draft,
            })
        })
        .collect()
}

/// (version, published_ms) of the newest published version of `name`.
pub fn latest_version_info(conn: &Connection, name: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.query_row(
        "SELECT version, published_ms FROM flows WHERE name = ?1 ORDER BY version DESC LIMIT 1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// (version, published_ms) of every published version of `name`, newest
/// first.
pub fn versions(conn: &Connection, name: &str) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut stmt = conn
        .prepare("SELECT version, published_ms FROM flows WHERE name = ?1 ORDER BY version DESC")?;
    let rows = stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Published version `version` of `name`, with its layout.
pub fn version(conn: &Connection, name: &str, version: i64) -> rusqlite::Result<Option<Version>> {
    conn.query_row(
        "SELECT f.version, f.published_ms, f.document, l.layout FROM flows f
         LEFT JOIN flow_layouts l ON l.name = f.name AND l.version = f.version
         WHERE f.name = ?1 AND f.version = ?2",
        params![name, version],
        |r| {
            Ok(Version {
                version: r.get(0)?,
                published_ms: r.get(1)?,
                document: r.get(2)?,
                layout: layout_of(&r.get::<_, Option<String>>(3)?.unwrap_or_default()),
            })
        },
    )
    .optional()
}

/// The newest draft of `name`, published since or not.
pub fn latest_draft(conn: &Connection, name: &str) -> rusqlite::Result<Option<Draft>> {
    conn.query_row(
        "SELECT id, author, at_ms, based_on, document, layout FROM flow_drafts
         WHERE name = ?1 ORDER BY id DESC LIMIT 1",
        [name],
        |r| {
            Ok(Draft {
                info: DraftInfo {
                    id: r.get(0)?,
                    author: r.get(1)?,
                    at_ms: r.get(2)?,
                    based_on: r.get(3)?,
                },
                document: r.get(4)?,
                layout: layout_of(&r.get::<_, String>(5)?),
            })
        },
    )
    .optional()
}

/// Saves a draft; its id.
pub fn save_draft(conn: &Connection, d: &NewDraft<'_>) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO flow_drafts (name, author, at_ms, based_on, document, layout)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            d.name,
            d.author,
            d.at_ms,
            d.based_on,
            d.document,
            layout_text(d.layout)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Keeps where the nodes of a just-published version were drawn.
pub fn save_layout(
    conn: &Connection,
    name: &str,
    version: i64,
    layout: &Layout,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO flow_layouts (name, version, layout) VALUES (?1, ?2, ?3)",
        params![name, version, layout_text(layout)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    /// A migrated database in a temporary directory, as the box has it.
    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dering.db");
        dering_store::Store::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        (dir, conn)
    }

    fn publish(conn: &Connection, name: &str, version: i64, at_ms: i64) {
        conn.execute(
            "INSERT INTO flows (name, version, document, published_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, version, format!("{{\"v\":{version}}}"), at_ms],
        )
        .unwrap();
    }

    #[test]
    fn a_draft_is_listed_until_a_newer_version_is_published() {
        let (_dir, conn) = db();
        publish(&conn, "layanan", 1, 1_000);
        let layout = Layout::from([("menu".to_string(), [120.0, 40.5])]);
        let id = save_draft(
            &conn,
            &NewDraft {
                name: "layanan",
                author: "ani",
                at_ms: 2_000,
                based_on: Some(1),
                document: "{\"draft\":1}",
                layout: &layout,
            },
        )
        .unwrap();
        let l = list(&conn).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].version, Some(1));
        assert_eq!(
            l[0].draft,
            Some(DraftInfo {
                id,
                author: "ani".into(),
                at_ms: 2_000,
                based_on: Some(1),
            })
        );
        let d = latest_draft(&conn, "layanan").unwrap().unwrap();
        assert_eq!(d.document, "{\"draft\":1}");
        assert_eq!(d.layout, layout);

        publish(&conn, "layanan", 2, 3_000);
        save_layout(&conn, "layanan", 2, &layout).unwrap();
        let l = list(&conn).unwrap();
        assert_eq!((l[0].version, l[0].draft.clone()), (Some(2), None));
        assert_eq!(
            version(&conn, "layanan", 2).unwrap().unwrap().layout,
            layout
        );
        assert_eq!(
            version(&conn, "layanan", 1).unwrap().unwrap().layout,
            Layout::new()
        );
        assert_eq!(
            versions(&conn, "layanan").unwrap(),
            vec![(2, 3_000), (1, 1_000)]
        );
        assert_eq!(version(&conn, "layanan", 3).unwrap(), None);
    }

    #[test]
    fn a_flow_with_only_a_draft_is_listed_and_a_broken_layout_reads_empty() {
        let (_dir, conn) = db();
        conn.execute(
            "INSERT INTO flow_drafts (name, author, at_ms, document, layout)
             VALUES ('baru', 'budi', 5, '{}', 'not json')",
            [],
        )
        .unwrap();
        let l = list(&conn).unwrap();
        assert_eq!(l[0].name, "baru");
        assert_eq!(l[0].version, None);
        assert_eq!(l[0].draft.as_ref().unwrap().author, "budi");
        assert_eq!(
            latest_draft(&conn, "baru").unwrap().unwrap().layout,
            Layout::new()
        );
    }
}
