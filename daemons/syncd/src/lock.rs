//! One syncd per database. Two would each take a ticket's first
//! undelivered row and send it at once: the idempotency key keeps SIMPEL
//! from a duplicate, but each would record its own outcome, the circuit
//! breaker and the 429 pause would be halved, and a ticket's rows could
//! overtake each other. An advisory `flock` on `<data>/syncd.lock` is
//! held for the daemon's life; the kernel drops it when the process dies,
//! even by SIGKILL, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "syncd.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: another syncd (pid {pid}) delivers from this database", path.display())]
    Held { path: PathBuf, pid: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while syncd runs; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Takes the lock without waiting, and writes this process's id into the
/// file for whoever is refused next.
pub fn acquire(data_dir: &Path) -> Result<InstanceLock, LockError> {
    let path = data_dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(LockError::Held {
                path,
                pid: pid.trim().to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(InstanceLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        // flock locks belong to the open file, so a second open in this
        // process conflicts as another process's would.
        match acquire(dir.path()) {
            Err(LockError::Held { pid, .. }) => {
                assert_eq!(pid, std::process::id().to_string())
            }
            other => panic!("second syncd let in: {other:?}"),
        }
        drop(first);
        assert!(acquire(dir.path()).is_ok(), "released on drop");
    }
}
