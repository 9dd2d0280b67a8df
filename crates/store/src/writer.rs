//! The writer thread: operations are queued with a completion callback, and
//! everything queued while the previous commit ran is committed together
//! (group commit). Callers never block; pbxd waits for the callback before
//! sending the final response that a record must precede.
//!
//! A full disk (or an I/O error, or a database locked past the busy
//! timeout) must not lose the records nor stop the calls (issue 17 §6):
//! the operations it refused are held in memory, in order, with every
//! later one behind them, and committed again every [`RETRY`] until the
//! database takes them. Their callbacks are told at once that the write
//! is held, so pbxd answers the phones anyway; [`Writer::held`] says how
//! many wait, for the health reading.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use rusqlite::ErrorCode;

use crate::{Op, Store, StoreError};

/// Called on the writer thread with the outcome of the commit.
pub type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Handle to the writer thread. Dropping every handle stops the thread after
/// it has committed what was queued.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Op, Option<DoneBox>)>,
    held: Arc<AtomicUsize>,
}

struct DoneBox(Done);

impl std::fmt::Debug for DoneBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DoneBox")
    }
}

/// Largest group committed in one transaction.
const MAX_GROUP: usize = 512;
/// How often held operations are tried again.
pub const RETRY: Duration = Duration::from_secs(1);
/// The most operations held (about a day of a busy box's records); past
/// it the oldest are dropped, each drop logged.
const MAX_HELD: usize = 200_000;

/// A failure that a later attempt may not meet: the disk full, an I/O
/// error, the database locked past the busy timeout. Anything else (a
/// constraint, a bug) would fail again, and is not held.
fn passing(e: &StoreError) -> bool {
    match e {
        StoreError::Sql(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
        ),
        _ => false,
    }
}

/// The operations a passing failure kept from the database, in order.
struct Held {
    ops: VecDeque<Op>,
    dropped: u64,
    /// The last attempt to commit them: while they wait, new operations
    /// join them without an attempt of their own until [`RETRY`] has
    /// passed, so a database locked past the busy timeout does not make
    /// every answer wait that timeout.
    tried: std::time::Instant,
}

impl Default for Held {
    fn default() -> Held {
        Held {
            ops: VecDeque::new(),
            dropped: 0,
            tried: std::time::Instant::now(),
        }
    }
}

impl Held {
    fn push(&mut self, op: Op) {
        // A heartbeat or a checkpoint held is stale by the time it lands.
        if matches!(op, Op::Heartbeat(_) | Op::Checkpoint) {
            return;
        }
        if self.ops.len() == MAX_HELD {
            self.ops.pop_front();
            self.dropped += 1;
            tracing::error!(
                dropped = self.dropped,
                "database still unwritable: the oldest held record is dropped"
            );
        }
        self.ops.push_back(op);
    }

    /// Tries to commit every held operation, in order, in one
    /// transaction: true once none is held.
    fn flush(&mut self, store: &mut Store) -> bool {
        if self.ops.is_empty() {
            return true;
        }
        self.tried = std::time::Instant::now();
        let ops: Vec<Op> = self.ops.iter().cloned().collect();
        match store.apply(&ops) {
            Ok(()) => {
                tracing::warn!(
                    committed = ops.len(),
                    "database writable again: the held records are committed"
                );
                self.ops.clear();
                true
            }
            Err(e) if passing(&e) => false,
            Err(e) => {
                // Not the disk any more: find the bad one, keep the rest.
                tracing::error!(error = %e, "held records refused; committing one by one");
                while let Some(op) = self.ops.pop_front() {
                    match store.apply(std::slice::from_ref(&op)) {
                        Ok(()) => {}
                        Err(e) if passing(&e) => {
                            self.ops.push_front(op);
                            return false;
                        }
                        Err(e) => tracing::error!(error = %e, ?op, "database write failed"),
                    }
                }
                true
            }
        }
    }
}

impl Writer {
    /// Starts the thread; returns the handle and the thread's join handle.
    pub fn spawn(mut store: Store) -> std::io::Result<(Writer, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<(Op, Option<DoneBox>)>();
        let held_count = Arc::new(AtomicUsize::new(0));
        let count = held_count.clone();
        let handle = thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                let mut held = Held::default();
                loop {
                    let first = if held.ops.is_empty() {
                        match rx.recv() {
                            Ok(item) => item,
                            Err(_) => break,
                        }
                    } else {
                        match rx.recv_timeout(RETRY) {
                            Ok(item) => item,
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                held.flush(&mut store);
                                count.store(held.ops.len(), Ordering::Relaxed);
                                continue;
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    };
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    let outcomes = commit(&mut store, &mut held, batch);
                    // The count first: a caller told "held" reads it.
                    count.store(held.ops.len(), Ordering::Relaxed);
                    for (DoneBox(d), r) in outcomes {
                        d(r);
                    }
                }
                if !held.flush(&mut store) {
                    tracing::error!(
                        lost = held.ops.len(),
                        "database unwritable at exit: held records lost"
                    );
                }
            })?;
        Ok((
            Writer {
                tx,
                held: held_count,
            },
            handle,
        ))
    }

    /// Queues `op`; `done` runs on the writer thread once it is committed,
    /// or with an error once it failed or is held.
    pub fn submit(&self, op: Op, done: Option<Done>) -> Result<(), StoreError> {
        self.tx
            .send((op, done.map(DoneBox)))
            .map_err(|_| StoreError::WriterGone)
    }

    /// How many operations a full disk (or the like) keeps waiting.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// What each callback of a group is to be told, once the held count is
/// up to date.
type Outcomes = Vec<(DoneBox, Result<(), String>)>;

/// Commits one group: whole, or behind what is held, or one by one when
/// the group fails.
fn commit(store: &mut Store, held: &mut Held, batch: Vec<(Op, Option<DoneBox>)>) -> Outcomes {
    let mut outcomes = Outcomes::new();
    // Nothing overtakes a held operation: a call's end must not land
    // before its start.
    let wait = !held.ops.is_empty() && held.tried.elapsed() < RETRY;
    if wait || !held.flush(store) {
        for (op, done) in batch {
            held.push(op);
            if let Some(d) = done {
                outcomes.push((
                    d,
                    Err("held: the database is not writable (disk full?)".into()),
                ));
            }
        }
        return outcomes;
    }
    let ops: Vec<Op> = batch.iter().map(|(op, _)| op.clone()).collect();
    match store.apply(&ops) {
        Ok(()) => {
            let checkpoint = ops.iter().any(|o| matches!(o, Op::Checkpoint)).then(|| {
                store.checkpoint().map_err(|e| {
                    tracing::error!(error = %e, "checkpoint failed");
                    e.to_string()
                })
            });
            for (op, done) in batch {
                if let Some(d) = done {
                    let r = match (&op, &checkpoint) {
                        (Op::Checkpoint, Some(r)) => r.clone(),
                        _ => Ok(()),
                    };
                    outcomes.push((d, r));
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, ops = ops.len(), "group commit failed; retrying one by one");
            // One bad operation must not lose the others; from the first
            // passing failure on, the rest are held in order.
            for (op, done) in batch {
                let r = if held.ops.is_empty() {
                    match store.apply(std::slice::from_ref(&op)) {
                        Ok(()) => Ok(()),
                        Err(e) if passing(&e) => {
                            tracing::error!(error = %e, "database not writable: records held until it is");
                            held.tried = std::time::Instant::now();
                            held.push(op);
                            Err(format!("held: {e}"))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, ?op, "database write failed");
                            Err(e.to_string())
                        }
                    }
                } else {
                    held.push(op);
                    Err("held: the database is not writable (disk full?)".into())
                };
                if let Some(d) = done {
                    outcomes.push((d, r));
                }
            }
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallParties;

    fn start(uuid: &str, at: i64) -> Op {
        Op::CallStart(CallParties {
            uuid: uuid.into(),
            caller: "081234567890".into(),
            // Long enough to need pages of its own: a full database
            // cannot take it in a page's leftover room.
            caller_name: Some("x".repeat(9_000)),
            callee: "137".into(),
            callee_name: None,
            start_ms: at,
            answer_ms: None,
        })
    }

    fn calls(path: &std::path::Path) -> Vec<String> {
        let c = rusqlite::Connection::open(path).unwrap();
        let mut st = c.prepare("SELECT uuid FROM calls ORDER BY id").unwrap();
        let rows = st.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    /// Submits `op` and waits for its callback's outcome.
    fn submit(w: &Writer, op: Op) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        w.submit(
            op,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        )
        .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    #[test]
    fn a_full_database_holds_the_records_in_order_and_commits_them_once_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = Store::open(&path).unwrap();
        // The disk as full as SQLite's page limit makes it: a filler
        // takes every page the limit leaves.
        store
            .conn
            .execute_batch("CREATE TABLE filler (b BLOB); PRAGMA journal_mode = DELETE;")
            .unwrap();
        let pages: i64 = store
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages + 40)
            .unwrap();
        for size in [2_000, 200, 20] {
            while store
                .conn
                .execute("INSERT INTO filler VALUES (zeroblob(?1))", [size])
                .is_ok()
            {}
        }
        let (w, thread) = Writer::spawn(store).unwrap();

        // Each record is refused by the full database: its callback hears
        // at once that it is held (pbxd answers the phone anyway).
        for (i, uuid) in ["c-1", "c-2", "c-3"].iter().enumerate() {
            let r = submit(&w, start(uuid, i as i64));
            assert!(r.as_ref().is_err_and(|e| e.starts_with("held")), "{r:?}");
        }
        assert_eq!(w.held(), 3);
        assert!(calls(&path).is_empty());

        // Room again (another program's file removed): the held records
        // land within a retry, in order, and later ones after them.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("DELETE FROM filler")
            .unwrap();
        let t = std::time::Instant::now();
        while w.held() > 0 {
            assert!(t.elapsed() < RETRY * 10, "the held records never landed");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(submit(&w, start("c-4", 4)), Ok(()));
        assert_eq!(calls(&path), ["c-1", "c-2", "c-3", "c-4"]);
        drop(w);
        thread.join().unwrap();
    }

    #[test]
    fn a_refused_operation_is_not_held_and_does_not_lose_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let (w, thread) = Writer::spawn(Store::open(&path).unwrap()).unwrap();
        assert_eq!(submit(&w, start("c-1", 1)), Ok(()));
        // The same UUID again breaks the UNIQUE constraint: an error
        // another attempt would meet too, so it is not held.
        let r = submit(&w, start("c-1", 2));
        assert!(r.as_ref().is_err_and(|e| !e.starts_with("held")), "{r:?}");
        assert_eq!(w.held(), 0);
        assert_eq!(submit(&w, start("c-2", 3)), Ok(()));
        assert_eq!(calls(&path), ["c-1", "c-2"]);
        drop(w);
        thread.join().unwrap();
    }
}
