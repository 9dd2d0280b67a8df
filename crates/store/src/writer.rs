//! The writer thread: operations are queued with a completion callback, and
//! everything queued while the previous commit ran is committed together
//! (group commit). Callers never block; pbxd waits for the callback before
//! sending the final response that a record must precede.

use std::sync::mpsc;
use std::thread;

use crate::{Op, Store, StoreError};

/// Called on the writer thread with the outcome of the commit.
pub type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Handle to the writer thread. Dropping every handle stops the thread after
/// it has committed what was queued.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Op, Option<DoneBox>)>,
}

struct DoneBox(Done);

impl std::fmt::Debug for DoneBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DoneBox")
    }
}

/// Largest group committed in one transaction.
const MAX_GROUP: usize = 512;

impl Writer {
    /// Starts the thread; returns the handle and the thread's join handle.
    pub fn spawn(mut store: Store) -> std::io::Result<(Writer, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<(Op, Option<DoneBox>)>();
        let handle = thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    let ops: Vec<Op> = batch.iter().map(|(op, _)| op.clone()).collect();
                    let result = match store.apply(&ops) {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            tracing::error!(error = %e, ops = ops.len(), "group commit failed; retrying one by one");
                            Err(e.to_string())
                        }
                    };
                    if result.is_ok() {
                        let checkpoint = ops
                            .iter()
                            .any(|o| matches!(o, Op::Checkpoint))
                            .then(|| {
                                store.checkpoint().map_err(|e| {
                                    tracing::error!(error = %e, "checkpoint failed");
                                    e.to_string()
                                })
                            });
                        for (op, done) in batch {
                            if let Some(DoneBox(d)) = done {
                                match (&op, &checkpoint) {
                                    (Op::Checkpoint, Some(r)) => d(r.clone()),
                                    _ => d(Ok(())),
                                }
                            }
                        }
                    } else {
                        // One bad operation must not lose the others.
                        for (op, done) in batch {
                            let r = store.apply(std::slice::from_ref(&op)).map_err(|e| {
                                tracing::error!(error = %e, ?op, "database write failed");
                                e.to_string()
                            });
                            if let Some(DoneBox(d)) = done {
                                d(r);
                            }
                        }
                    }
                }
            })?;
        Ok((Writer { tx }, handle))
    }

    /// Queues `op`; `done` runs on the writer thread once it is committed.
    pub fn submit(&self, op: Op, done: Option<Done>) -> Result<(), StoreError> {
        self.tx
            .send((op, done.map(DoneBox)))
            .map_err(|_| StoreError::WriterGone)
    }
}
