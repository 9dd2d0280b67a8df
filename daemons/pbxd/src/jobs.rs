//! The recording jobs beside the call engine (REC-2, REC-5): repairing
//! recordings cut by a crash at start, deleting those past retention every
//! hour, and copying new ones to a backup disk. They run on their own
//! tasks and reach the database through their own connections or the
//! writer, never through the core.

use std::path::PathBuf;
use std::time::Duration;

use dering_store::writer::Writer;
use dering_store::Store;

use crate::shell::{now, Options};

/// Deletes recordings older than the retention period (REC-5), at start
/// and every hour after.
pub async fn retention(db: PathBuf, writer: Writer, days: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = now().wall_ms - i64::from(days) * 86_400_000;
        let db = db.clone();
        let old = tokio::task::spawn_blocking(move || {
            let store = Store::open(&db)?;
            let rows = store.recordings(None)?;
            Ok::<_, dering_store::StoreError>(
                rows.into_iter()
                    .filter(|r| {
                        r.start_ms < cutoff && (r.state == "complete" || r.state == "repaired")
                    })
                    .map(|r| r.path)
                    .collect::<Vec<_>>(),
            )
        })
        .await;
        let old = match old {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "retention: cannot list recordings");
                continue;
            }
            Err(_) => continue,
        };
        for path in old {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(%path, days, "recording past retention deleted");
                    let _ = writer.submit(dering_store::Op::RecordingDeleted { path }, None);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = writer.submit(dering_store::Op::RecordingDeleted { path }, None);
                }
                Err(e) => tracing::error!(%path, error = %e, "retention: cannot delete"),
            }
        }
    }
}

/// Copies new recordings to the backup disk every `hours` (REC-5); a
/// missing disk or a bad copy is an error in the log, retried next time.
pub async fn backup_job(db: PathBuf, root: PathBuf, to: PathBuf, hours: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(hours.max(1)) * 3600));
    loop {
        tick.tick().await;
        let (db, root, to) = (db.clone(), root.clone(), to.clone());
        let r = tokio::task::spawn_blocking(move || {
            let rows = Store::open(&db)
                .and_then(|s| s.recordings(None))
                .map_err(|e| e.to_string())?;
            crate::recorder::backup(&rows, &root, &to, now().wall_ms).map_err(|e| e.to_string())
        })
        .await;
        match r {
            Ok(Ok(rep)) if rep.failed.is_empty() => {
                tracing::info!(copied = rep.copied, present = rep.present, manifest = ?rep.manifest, "recordings backed up");
            }
            Ok(Ok(rep)) => {
                tracing::error!(failed = ?rep.failed, "recording backup: copies did not verify");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "recording backup failed"),
            Err(_) => {}
        }
    }
}

/// Where recordings are written.
pub fn recordings_dir(opts: &Options) -> PathBuf {
    opts.config
        .recording
        .directory
        .clone()
        .unwrap_or_else(|| opts.data_dir.join("recordings"))
}

/// Recordings left open by a crash or a power cut: each file's header is
/// mended to cover what reached the disk, and the row says `repaired`
/// (REC-2).
pub fn repair_recordings(store: &mut Store, now_ms: i64) {
    let open = match store.recordings(Some("recording")) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot list open recordings");
            return;
        }
    };
    for r in open {
        let path = std::path::Path::new(&r.path);
        let (state, duration_ms) = match crate::recorder::repair(path) {
            Ok(ms) => ("repaired", ms),
            Err(e) => {
                tracing::error!(path = %r.path, error = %e, "recording could not be repaired");
                ("missing", 0)
            }
        };
        let (bytes, sha256) = crate::recorder::checksum(path).unwrap_or((0, String::new()));
        tracing::warn!(path = %r.path, state, duration_ms, "recording cut by the last stop");
        let op = dering_store::Op::RecordingEnd {
            path: r.path.clone(),
            final_path: r.path.clone(),
            end_ms: now_ms,
            duration_ms,
            bytes,
            sha256,
            state: state.into(),
        };
        if let Err(e) = store.apply(&[op]) {
            tracing::error!(error = %e, "cannot record the repair");
        }
    }
}
