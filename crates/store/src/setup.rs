//! Whether the box's first-boot setup is finished (issue 17 §3, decision
//! 0034). One row, written once by the setup's last step (or by `dering
//! up`, the demo, which sets itself up); pbxd serves SIP on loopback only
//! until it exists, so a box fresh out of its box answers no one on the
//! network before an admin has chosen its address and accounts.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Result, Store};

/// When setup was finished and by whom, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupDone {
    pub at_ms: i64,
    pub by: String,
}

/// The setup row, read on any connection (webd holds its own).
pub fn setup_done(conn: &Connection) -> Result<Option<SetupDone>> {
    Ok(conn
        .query_row(
            "SELECT at_ms, done_by FROM setup_done WHERE id = 1",
            [],
            |r| {
                Ok(SetupDone {
                    at_ms: r.get(0)?,
                    by: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Marks setup finished; the first mark stays (a second is not an error,
/// it changes nothing). Returns whether this call made the mark.
pub fn mark_setup_done(conn: &Connection, at_ms: i64, by: &str) -> Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO setup_done (id, at_ms, done_by) VALUES (1, ?1, ?2)",
        params![at_ms, by],
    )? == 1)
}

impl Store {
    /// See [`setup_done`].
    pub fn setup_done(&self) -> Result<Option<SetupDone>> {
        setup_done(&self.conn)
    }

    /// See [`mark_setup_done`].
    pub fn mark_setup_done(&self, at_ms: i64, by: &str) -> Result<bool> {
        mark_setup_done(&self.conn, at_ms, by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_is_marked_done_once_and_the_first_mark_stays() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("d.db")).expect("open");
        assert_eq!(store.setup_done().expect("read"), None);
        assert!(store.mark_setup_done(5, "admin").expect("mark"));
        assert!(!store.mark_setup_done(9, "other").expect("mark again"));
        assert_eq!(
            store.setup_done().expect("read"),
            Some(SetupDone {
                at_ms: 5,
                by: "admin".into()
            })
        );
    }

    #[test]
    fn a_box_with_accounts_from_before_counts_as_set_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("d.db");
        {
            // The schema just before this one (found by its table, as the
            // merge of helpers' branches renumbers migrations).
            let ours = crate::migrations::MIGRATIONS
                .iter()
                .position(|m| m.contains("CREATE TABLE setup_done"))
                .expect("the setup migration");
            let conn = Connection::open(&path).expect("open");
            for sql in &crate::migrations::MIGRATIONS[..ours] {
                conn.execute_batch(sql).expect("older schema");
            }
            conn.pragma_update(None, "user_version", ours as i64)
                .expect("version");
            conn.execute(
                "INSERT INTO users (login, full_name, role, password_hash, created_ms, updated_ms) \
                 VALUES ('admin', 'A', 'admin', 'x', 0, 0)",
                [],
            )
            .expect("user");
        }
        let store = Store::open(&path).expect("migrated");
        assert!(store.setup_done().expect("read").is_some());
    }
}
