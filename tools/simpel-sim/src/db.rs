//! The simulator's own state in SQLite, so it survives its restarts.
//! A write and the answer kept for its idempotency key commit together:
//! a key seen again gets the same answer and writes nothing.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct Db {
    conn: Connection,
}

/// A stored answer: status and JSON body.
pub type Answer = (u16, Value);

#[derive(Debug, Serialize)]
pub struct Held {
    pub id: i64,
    pub external_ref: Option<String>,
    pub content: Value,
    pub status: String,
    pub version: i64,
    /// How many writes (creation and changes, not replays) it took.
    pub writes: i64,
}

impl Db {
    pub fn open(path: &std::path::Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS tickets (
                 id INTEGER PRIMARY KEY, external_ref TEXT, content TEXT NOT NULL,
                 status TEXT NOT NULL, version INTEGER NOT NULL, writes INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS idempotency (
                 key TEXT PRIMARY KEY, status INTEGER NOT NULL, body TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS changes (
                 cursor INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL,
                 status TEXT NOT NULL, version INTEGER NOT NULL);",
        )?;
        Ok(Db { conn })
    }

    /// Runs `write` unless `key` was answered before; stores its answer.
    fn idempotent(
        &mut self,
        key: &str,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<Answer>,
    ) -> rusqlite::Result<Answer> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seen: Option<(u16, String)> = tx
            .query_row(
                "SELECT status, body FROM idempotency WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((status, body)) = seen {
            return Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)));
        }
        let answer = write(&tx)?;
        tx.execute(
            "INSERT INTO idempotency (key, status, body) VALUES (?1, ?2, ?3)",
            params![key, answer.0, answer.1.to_string()],
        )?;
        tx.commit()?;
        Ok(answer)
    }

    pub fn create(&mut self, key: &str, body: &Value) -> rusqlite::Result<Answer> {
        self.idempotent(key, |tx| {
            let status = body
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("open")
                .to_string();
            let external = body.get("external_ref").and_then(Value::as_str);
            tx.execute(
                "INSERT INTO tickets (external_ref, content, status, version, writes)
                 VALUES (?1, ?2, ?3, 1, 1)",
                params![external, body.to_string(), status],
            )?;
            let id = tx.last_insert_rowid();
            Ok((201, json!({ "id": id, "version": 1 })))
        })
    }

    /// Merges `body`'s fields into ticket `id`.
    pub fn update(&mut self, key: &str, id: i64, body: &Value) -> rusqlite::Result<Answer> {
        self.idempotent(key, |tx| {
            let found: Option<(String, String, i64)> = tx
                .query_row(
                    "SELECT content, status, version FROM tickets WHERE id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((content, status, version)) = found else {
                return Ok((404, json!({ "error": "no such ticket" })));
            };
            let mut content: Value = serde_json::from_str(&content).unwrap_or(json!({}));
            if let (Some(c), Some(b)) = (content.as_object_mut(), body.as_object()) {
                for (k, v) in b {
                    c.insert(k.clone(), v.clone());
                }
            }
            let status = body
                .get("status")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or(status);
            tx.execute(
                "UPDATE tickets SET content = ?2, status = ?3, version = ?4, writes = writes + 1
                 WHERE id = ?1",
                params![id, content.to_string(), status, version + 1],
            )?;
            Ok((200, json!({ "id": id, "version": version + 1 })))
        })
    }

    /// A status change made on SIMPEL's side: in the ticket and the feed.
    pub fn change_status(&mut self, id: i64, status: &str) -> rusqlite::Result<Option<Value>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<(String, i64)> = tx
            .query_row(
                "SELECT content, version FROM tickets WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((content, version)) = found else {
            return Ok(None);
        };
        let mut content: Value = serde_json::from_str(&content).unwrap_or(json!({}));
        if let Some(c) = content.as_object_mut() {
            c.insert("status".into(), json!(status));
        }
        tx.execute(
            "UPDATE tickets SET content = ?2, status = ?3, version = ?4 WHERE id = ?1",
            params![id, content.to_string(), status, version + 1],
        )?;
        tx.execute(
            "INSERT INTO changes (ticket_id, status, version) VALUES (?1, ?2, ?3)",
            params![id, status, version + 1],
        )?;
        let cursor = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(json!({ "cursor": cursor, "version": version + 1 })))
    }

    pub fn changes(&self, since: i64, limit: u32) -> rusqlite::Result<Value> {
        let mut st = self.conn.prepare(
            "SELECT cursor, ticket_id, status, version FROM changes WHERE cursor > ?1
             ORDER BY cursor LIMIT ?2",
        )?;
        let rows: Vec<(i64, i64, String, i64)> = st
            .query_map(params![since, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let next = rows.last().map_or(since, |r| r.0);
        let more = rows.len() as u32 == limit;
        let changes: Vec<Value> = rows
            .into_iter()
            .map(|(_, id, status, version)| json!({ "id": id, "status": status, "version": version }))
            .collect();
        Ok(json!({ "changes": changes, "next": next, "more": more }))
    }

    pub fn all(&self) -> rusqlite::Result<Vec<Held>> {
        let mut st = self.conn.prepare(
            "SELECT id, external_ref, content, status, version, writes FROM tickets ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let content: String = r.get(2)?;
            Ok(Held {
                id: r.get(0)?,
                external_ref: r.get(1)?,
                content: serde_json::from_str(&content).unwrap_or(Value::Null),
                status: r.get(3)?,
                version: r.get(4)?,
                writes: r.get(5)?,
            })
        })?;
        rows.collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests
mod tests {
    use super::*;

    #[test]
    fn a_key_seen_again_writes_nothing_and_survives_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sim.db");
        let mut db = Db::open(&dir).unwrap();
        let a = db
            .create("k1", &json!({"external_ref": "DRG-1", "description": "a"}))
            .unwrap();
        assert_eq!(a, (201, json!({"id": 1, "version": 1})));
        drop(db);
        let mut db = Db::open(&dir).unwrap();
        assert_eq!(
            db.create("k1", &json!({"external_ref": "DRG-1"})).unwrap(),
            a
        );
        db.update("k2", 1, &json!({"description": "b"})).unwrap();
        db.update("k2", 1, &json!({"description": "b"})).unwrap();
        assert_eq!(db.update("k3", 9, &json!({})).unwrap().0, 404);
        db.change_status(1, "closed").unwrap();
        let all = db.all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].writes, all[0].version), (2, 3));
        assert_eq!(all[0].content["description"], "b");
        assert_eq!(all[0].status, "closed");
        let page = db.changes(0, 10).unwrap();
        assert_eq!(
            page["changes"][0],
            json!({"id": 1, "status": "closed", "version": 3})
        );
        assert_eq!(db.changes(1, 10).unwrap()["changes"], json!([]));
    }
}
