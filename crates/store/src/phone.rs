//! A citizen's number as the box matches it (CTI-4): callers' numbers
//! arrive in whichever form the trunk sends (`081234567890`,
//! `+6281234567890`, `6281234567890`, with spaces or dashes from a form),
//! and all of them are one citizen. Calls carry the key of both numbers
//! in indexed columns (`caller_key`, `callee_key`), so a citizen's calls
//! are found by an index instead of a scan of every call ever made.

/// The national significant digits of `phone`: digits only, without a
/// leading `62` (Indonesia's country code) or trunk `0`.
pub fn key(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let rest = digits
        .strip_prefix("62")
        .or_else(|| digits.strip_prefix('0'))
        .unwrap_or(&digits);
    rest.to_owned()
}

/// The SQL function `dering_phone_key(text)`, [`key`] for the migration
/// that fills the keys of the calls made before it.
pub(crate) fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "dering_phone_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(key(&ctx.get::<String>(0)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_one_number_has_one_key() {
        for n in [
            "081234567890",
            "+6281234567890",
            "6281234567890",
            "0812-3456-7890",
            "+62 812 3456 7890",
        ] {
            assert_eq!(key(n), "81234567890", "{n}");
        }
        assert_eq!(key("137"), "137");
        assert_eq!(key("anonymous"), "");
    }

    fn keys(conn: &rusqlite::Connection, uuid: &str) -> (String, String) {
        conn.query_row(
            "SELECT caller_key, callee_key FROM calls WHERE uuid = ?1",
            [uuid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn calls_from_before_the_keys_get_theirs_and_new_calls_are_written_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        {
            // The schema just before the keys (found by its index, as the
            // merge of branches renumbers migrations), with a call in it.
            let ours = crate::migrations::MIGRATIONS
                .iter()
                .position(|m| m.contains("calls_caller_key"))
                .unwrap();
            let conn = rusqlite::Connection::open(&path).unwrap();
            for sql in &crate::migrations::MIGRATIONS[..ours] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", ours as i64)
                .unwrap();
            conn.execute(
                "INSERT INTO calls (uuid, caller, callee, start_ms, state)
                 VALUES ('old', '+62 812-3456-7890', '137', 1, 'ended')",
                [],
            )
            .unwrap();
        }
        let mut s = crate::Store::open(&path).unwrap();
        assert_eq!(keys(&s.conn, "old"), ("81234567890".into(), "137".into()));
        s.apply(&[crate::Op::CallStart(crate::CallParties {
            uuid: "new".into(),
            caller: "081234567890".into(),
            caller_name: None,
            callee: "6221500137".into(),
            callee_name: None,
            start_ms: 2,
            answer_ms: None,
        })])
        .unwrap();
        assert_eq!(
            keys(&s.conn, "new"),
            ("81234567890".into(), "21500137".into())
        );
        // A citizen's calls are found by index, not by a scan of every call.
        let plan: Vec<String> = s
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT uuid FROM calls
                 WHERE caller_key = ?1 OR callee_key = ?1 ORDER BY start_ms DESC LIMIT 10",
            )
            .unwrap()
            .query_map(["81234567890"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains("INDEX calls_caller_key"), "{plan}");
        assert!(plan.contains("INDEX calls_callee_key"), "{plan}");
        assert!(!plan.contains("SCAN calls"), "{plan}");
    }
}
