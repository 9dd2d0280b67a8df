//! A real database for the query tests: a file in a temporary directory,
//! made by `dering_store`'s migrations, rows written through the store's
//! own operations, read back over a read-only connection as webd does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dering_store::{
    AcdEventRow, CallEnd, CallParties, Disposition, Op, PowerEventRow, RecordingRow, Store,
};
use rusqlite::{Connection, OpenFlags};

pub struct TestDb {
    /// The data directory.
    pub dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub store: Store,
}

/// 2026-12-04 09:00 WIB.
pub const T0: i64 = 1_796_349_600_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;

impl TestDb {
    pub fn new() -> TestDb {
        let tmp = tempfile::tempdir().unwrap();
        let mut db = TestDb::open(tmp.path());
        db._tmp = Some(tmp);
        db
    }

    /// The database of data directory `dir` (a router test's box).
    pub fn open(dir: &std::path::Path) -> TestDb {
        let store = Store::open(&dir.join("dering.db")).unwrap();
        TestDb {
            dir: dir.to_path_buf(),
            _tmp: None,
            store,
        }
    }

    pub fn reader(&self) -> Connection {
        Connection::open_with_flags(
            self.dir.join("dering.db"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .unwrap()
    }

    pub fn apply(&mut self, ops: Vec<Op>) {
        self.store.apply(&ops).unwrap();
    }

    /// An ended call from `caller` to `callee` at `start_ms`.
    pub fn call(&mut self, uuid: &str, caller: &str, callee: &str, start_ms: i64, d: Disposition) {
        let answered = d == Disposition::Answered;
        let mut ops = vec![Op::CallStart(CallParties {
            uuid: uuid.into(),
            caller: caller.into(),
            caller_name: Some(format!("Name {caller}")),
            callee: callee.into(),
            callee_name: None,
            start_ms,
            answer_ms: None,
        })];
        if answered {
            ops.push(Op::CallAnswered {
                uuid: uuid.into(),
                at_ms: start_ms + 5_000,
                codec: "PCMA".into(),
            });
        }
        ops.push(Op::CallEvent {
            uuid: uuid.into(),
            at_ms: start_ms + 1,
            kind: "media".into(),
            detail: Some("rtp".into()),
        });
        ops.push(Op::CallEnd(CallEnd {
            uuid: uuid.into(),
            end_ms: start_ms + 65_000,
            disposition: d,
            hangup_by: "caller".into(),
            hangup_cause: "bye".into(),
            sip_code: if answered { None } else { Some(486) },
        }));
        self.apply(ops);
    }

    /// The call `uuid` went through `queue` and `agent` took it.
    pub fn queued(&mut self, uuid: &str, queue: &str, agent: &str, at_ms: i64) {
        let ev = |kind: &str, agent: Option<&str>, at_ms| {
            Op::AcdEvent(AcdEventRow {
                at_ms,
                kind: kind.into(),
                call_uuid: Some(uuid.into()),
                queue: Some(queue.into()),
                agent: agent.map(Into::into),
                detail: format!("{{\"event\":\"{kind}\"}}"),
            })
        };
        self.apply(vec![
            ev("entered", None, at_ms),
            ev("answered", Some(agent), at_ms + 2_000),
        ]);
    }

    /// A closed recording of `uuid`, taken by extension `agent`.
    #[allow(clippy::too_many_arguments)] // reason: one row's columns, named at each call
    pub fn recording(
        &mut self,
        uuid: &str,
        path: &std::path::Path,
        caller: &str,
        callee: &str,
        agent: Option<&str>,
        service: Option<&str>,
        start_ms: i64,
        duration_ms: i64,
    ) {
        let path = path.display().to_string();
        self.apply(vec![
            Op::RecordingStart(RecordingRow {
                call_uuid: uuid.into(),
                path: path.clone(),
                caller: caller.into(),
                callee: callee.into(),
                agent: agent.map(Into::into),
                service: service.map(Into::into),
                start_ms,
                end_ms: None,
                duration_ms: None,
                bytes: None,
                sha256: None,
                state: "recording".into(),
            }),
            Op::RecordingEnd {
                path: path.clone(),
                final_path: path,
                end_ms: start_ms + duration_ms,
                duration_ms,
                bytes: 44,
                sha256: "00".into(),
                state: "complete".into(),
            },
        ]);
    }

    pub fn power(&mut self, at_ms: i64, kind: &str, alarm: bool) {
        self.apply(vec![Op::PowerEvent(PowerEventRow {
            at_ms,
            kind: kind.into(),
            alarm,
            detail: format!("{kind} detail"),
            status: Some("{\"charge\":90}".into()),
        })]);
    }
}
