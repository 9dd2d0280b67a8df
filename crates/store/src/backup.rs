//! The daily backup of the database and the configuration, and its
//! restore (OPS-4, decision 0032).
//!
//! A backup is a directory `dering-<UTC stamp>/` holding `dering.db` (an
//! online copy through SQLite's backup API, consistent while pbxd writes:
//! a file copy of a WAL database can miss or tear the last commits), the
//! configuration file, the configuration versions as the web's JSON
//! backup (decision 0026), `summary.json` and `MANIFEST.sha256`, which
//! `sha256sum -c` checks. It is written as `dering-<stamp>.part/` and
//! renamed once complete, so a directory without `.part` is whole.
//! Recordings are not in it: the weekly recording backup (REC-5) holds
//! them, and a restore copies them back from there, each checked against
//! the SHA-256 the restored database keeps.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Store, StoreError};

/// The manifest's name inside a backup.
pub const MANIFEST: &str = "MANIFEST.sha256";
/// The summary's name inside a backup.
pub const SUMMARY: &str = "summary.json";
/// The database's name inside a backup and in a data directory.
pub const DATABASE: &str = "dering.db";
/// The configuration file's name inside a backup.
pub const CONFIG_FILE: &str = "dering.toml";
/// The configuration versions, in the web's backup format (0026).
pub const CONFIG_VERSIONS: &str = "config-versions.json";
/// What every backup directory's name starts with.
pub const PREFIX: &str = "dering-";

/// Why a backup or a restore did not happen. Each names the file or the
/// directory concerned, since an operator reads them on a console.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("backup destination {0} does not exist (is the disk mounted or the share connected?)")]
    NoDestination(PathBuf),
    #[error("backup destination {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("backup destination {path} is not writable: {error}")]
    NotWritable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the copied database failed its integrity check: {0}")]
    Integrity(String),
    #[error("{0} is not a Dering backup: it has no {MANIFEST}")]
    NoManifest(PathBuf),
    #[error("{MANIFEST} line {line}: {why}")]
    BadManifest { line: usize, why: String },
    #[error("backup file {0} is listed in {MANIFEST} but missing")]
    Missing(String),
    #[error("backup file {0} does not match its SHA-256 in {MANIFEST}: the backup is damaged")]
    Corrupt(String),
    #[error("backup has no {0}")]
    Incomplete(&'static str),
    #[error("{0} is not empty: restore onto an empty data directory, or give --force")]
    NotEmpty(PathBuf),
    #[error("{SUMMARY}: {0}")]
    Summary(String),
}

pub type Result<T> = std::result::Result<T, BackupError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |error| BackupError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What a backup holds, in a few numbers (`summary.json`): what a person
/// compares before trusting a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// `dering-backup-1`.
    pub format: String,
    /// When the database copy was taken (ms since 1970, UTC).
    pub taken_ms: i64,
    pub software_version: String,
    pub schema_version: i64,
    pub calls: u64,
    pub recordings: u64,
    pub tickets: u64,
    pub acd_events: u64,
    pub config_versions: u64,
    /// Where the box kept its recordings: the restore maps the rows'
    /// paths from here to the new box's directory.
    pub recordings_dir: String,
    /// The data directory backed up.
    pub data_dir: String,
}

/// What to back up and where.
#[derive(Debug, Clone)]
pub struct Plan {
    pub data_dir: PathBuf,
    /// The destination: a removable disk's mount point or a mounted
    /// share. It must exist: a missing disk must fail, not fill the
    /// root file system under an empty mount point.
    pub destination: PathBuf,
    /// The configuration file to include, if any.
    pub config_file: Option<PathBuf>,
    /// Where recordings are (for the summary).
    pub recordings_dir: PathBuf,
    /// How many backups to keep (at least 1).
    pub keep: usize,
    pub now_ms: i64,
    pub software_version: String,
}

/// A finished backup.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub path: PathBuf,
    pub name: String,
    pub bytes: u64,
    pub summary: Summary,
    /// Older backups removed by the retention count.
    pub removed: Vec<String>,
}

/// `dering-20261204T215000Z`: UTC, sortable by name.
pub fn dir_name(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Takes a backup as `plan` says, then applies the retention count.
pub fn backup(plan: &Plan) -> Result<Done> {
    let dest = &plan.destination;
    match std::fs::metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NoDestination(dest.clone()))
        }
        Err(e) => return Err(io(dest)(e)),
        Ok(m) if !m.is_dir() => return Err(BackupError::NotADirectory(dest.clone())),
        Ok(_) => {}
    }
    let db = plan.data_dir.join(DATABASE);
    if !db.exists() {
        return Err(BackupError::NoDatabase(db));
    }
    let mut name = dir_name(plan.now_ms);
    // Two runs within a second (a retry) must not meet.
    let mut n = 1;
    while dest.join(&name).exists() {
        n += 1;
        name = format!("{}-{n}", dir_name(plan.now_ms));
    }
    let part = dest.join(format!("{name}.part"));
    std::fs::create_dir(&part).map_err(|error| BackupError::NotWritable {
        path: dest.clone(),
        error,
    })?;
    match write_into(plan, &db, &part) {
        Ok(summary) => {
            let path = dest.join(&name);
            std::fs::rename(&part, &path).map_err(io(&path))?;
            sync_dir(dest);
            let bytes = dir_bytes(&path);
            let removed = prune(dest, plan.keep.max(1));
            Ok(Done {
                path,
                name,
                bytes,
                summary,
                removed,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&part);
            Err(e)
        }
    }
}

fn write_into(plan: &Plan, db: &Path, part: &Path) -> Result<Summary> {
    let copy = part.join(DATABASE);
    online_copy(db, &copy)?;
    // Read as it is: no migration, and the journal mode stays DELETE.
    let store = Store {
        conn: Connection::open(&copy).map_err(|error| StoreError::Open {
            path: copy.display().to_string(),
            error,
        })?,
    };
    let summary = Summary {
        format: "dering-backup-1".into(),
        taken_ms: plan.now_ms,
        software_version: plan.software_version.clone(),
        schema_version: store.schema_version()?,
        calls: count(&store, "calls")?,
        recordings: count(&store, "recordings")?,
        tickets: count(&store, "tickets")?,
        acd_events: count(&store, "acd_events")?,
        config_versions: count(&store, "config_versions")?,
        recordings_dir: plan.recordings_dir.display().to_string(),
        data_dir: plan.data_dir.display().to_string(),
    };
    let versions = store.config_versions(true)?;
    drop(store);
    let mut files = vec![DATABASE.to_string()];
    if let Some(current) = versions.last() {
        // The web's configuration backup (decision 0026), so the system
        // page can restore it too.
        let json = serde_json::json!({
            "format": "dering-backup",
            "current_version": current.version,
            "document": current.document,
            "versions": versions,
        });
        write_file(&part.join(CONFIG_VERSIONS), json.to_string().as_bytes())?;
        files.push(CONFIG_VERSIONS.into());
    }
    if let Some(cfg) = &plan.config_file {
        let text = std::fs::read(cfg).map_err(io(cfg))?;
        write_file(&part.join(CONFIG_FILE), &text)?;
        files.push(CONFIG_FILE.into());
    }
    let json =
        serde_json::to_vec_pretty(&summary).map_err(|e| BackupError::Summary(e.to_string()))?;
    write_file(&part.join(SUMMARY), &json)?;
    files.push(SUMMARY.into());
    let mut manifest = String::new();
    for f in &files {
        manifest.push_str(&format!("{}  {f}\n", sha256_file(&part.join(f))?));
    }
    write_file(&part.join(MANIFEST), manifest.as_bytes())?;
    sync_dir(part);
    Ok(summary)
}

/// Copies the live database with SQLite's online backup in one step: the
/// copy is one read transaction's view, and in WAL mode that read does
/// not hold up pbxd's writes. (Several small steps would restart each
/// time another process commits, which on a busy box may be forever.)
fn online_copy(src: &Path, dst: &Path) -> Result<()> {
    let from =
        Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|error| {
            StoreError::Open {
                path: src.display().to_string(),
                error,
            }
        })?;
    from.busy_timeout(Duration::from_secs(10))
        .map_err(StoreError::from)?;
    let mut to = Connection::open(dst).map_err(|error| StoreError::Open {
        path: dst.display().to_string(),
        error,
    })?;
    {
        let b = rusqlite::backup::Backup::new(&from, &mut to).map_err(StoreError::from)?;
        // Busy or locked only while another connection holds a write
        // lock on the first page read: retried for a few seconds.
        let mut tries = 0;
        loop {
            match b.step(-1).map_err(StoreError::from)? {
                rusqlite::backup::StepResult::Done => break,
                _ if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => {
                    return Err(BackupError::Integrity(format!(
                        "the database stayed locked ({other:?})"
                    )))
                }
            }
        }
    }
    // A file that stands alone: no -wal beside it in the backup.
    to.execute_batch("PRAGMA journal_mode = DELETE;")
        .map_err(StoreError::from)?;
    let check: String = to
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(StoreError::from)?;
    if check != "ok" {
        return Err(BackupError::Integrity(check));
    }
    drop(to);
    File::open(dst)
        .and_then(|f| f.sync_all())
        .map_err(io(dst))?;
    Ok(())
}

fn count(store: &Store, table: &str) -> Result<u64> {
    let n: i64 = store
        .conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .map_err(StoreError::from)?;
    Ok(n.max(0) as u64)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Makes a rename or a new file in `dir` durable (best effort: some
/// network shares refuse to sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The SHA-256 of a file, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = f.read(&mut buf).map_err(io(path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The finished backups in `dest`, oldest first (their names sort by
/// time).
pub fn list(dest: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dest)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(PREFIX) && !n.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Keeps the newest `keep` backups and removes the rest, and any `.part`
/// directory a cut run left (never the one being written: [`backup`]
/// prunes after its rename).
fn prune(dest: &Path, keep: usize) -> Vec<String> {
    let mut removed = Vec::new();
    let names = list(dest);
    let excess = names.len().saturating_sub(keep);
    for n in names.into_iter().take(excess) {
        match std::fs::remove_dir_all(dest.join(&n)) {
            Ok(()) => removed.push(n),
            Err(e) => tracing::warn!(backup = %n, error = %e, "cannot remove an old backup"),
        }
    }
    if let Ok(rd) = std::fs::read_dir(dest) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with(PREFIX) && n.ends_with(".part") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    removed
}

/// Checks every file `MANIFEST.sha256` lists; the first damaged or
/// missing one is the refusal, named. Returns the files listed.
pub fn verify(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NoManifest(dir.to_path_buf()))
        }
        Err(e) => return Err(io(&path)(e)),
    };
    let mut files = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let bad = |why: &str| BackupError::BadManifest {
            line: i + 1,
            why: why.into(),
        };
        let (sum, name) = line
            .split_once("  ")
            .ok_or_else(|| bad("not `SHA256  FILE`"))?;
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a SHA-256"));
        }
        // Only plain names: a manifest must not lead the restore out of
        // the backup directory.
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(bad("a file name with a directory in it"));
        }
        let file = dir.join(name);
        if !file.is_file() {
            return Err(BackupError::Missing(name.into()));
        }
        if !sha256_file(&file)?.eq_ignore_ascii_case(sum) {
            return Err(BackupError::Corrupt(name.into()));
        }
        files.push(name.to_string());
    }
    for needed in [DATABASE, SUMMARY] {
        if !files.iter().any(|f| f == needed) {
            return Err(BackupError::Incomplete(needed));
        }
    }
    Ok(files)
}

/// Reads a verified backup's summary.
pub fn summary(dir: &Path) -> Result<Summary> {
    let path = dir.join(SUMMARY);
    let text = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&text).map_err(|e| BackupError::Summary(e.to_string()))
}

/// What to restore and where.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub from: PathBuf,
    pub data_dir: PathBuf,
    /// Restore over a data directory that is not empty.
    pub force: bool,
    /// Where the configuration file goes (`<data-dir>/dering.toml` if
    /// not said).
    pub config_to: Option<PathBuf>,
    /// The weekly recording backup to copy recordings back from.
    pub recordings_from: Option<PathBuf>,
    /// Where the new box keeps recordings (`<data-dir>/recordings` if
    /// not said).
    pub recordings_to: Option<PathBuf>,
}

/// What a restore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Restored {
    pub summary: Option<Summary>,
    pub schema_version: i64,
    pub config_file: Option<PathBuf>,
    pub config_versions: u64,
    /// Recordings copied back and checked.
    pub recordings_copied: u64,
    /// Recordings the database names but the recording backup lacks.
    pub recordings_missing: Vec<String>,
    /// Recordings whose copy did not match the stored SHA-256.
    pub recordings_damaged: Vec<String>,
    /// Recordings without a checksum (cut by the backup: still being
    /// written then); their rows stay.
    pub recordings_unfinished: u64,
}

/// Restores a backup onto `plan.data_dir`: verifies the manifest first,
/// puts the database in place and migrates it forward, writes the
/// configuration file, and copies recordings back if asked.
pub fn restore(plan: &RestorePlan) -> Result<Restored> {
    verify(&plan.from)?;
    let summary = summary(&plan.from)?;
    let data = &plan.data_dir;
    std::fs::create_dir_all(data).map_err(io(data))?;
    let empty = std::fs::read_dir(data).map_err(io(data))?.next().is_none();
    if !empty && !plan.force {
        return Err(BackupError::NotEmpty(data.clone()));
    }
    let config_to = plan
        .config_to
        .clone()
        .unwrap_or_else(|| data.join(CONFIG_FILE));
    let db = data.join(DATABASE);
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p)(e)),
        }
    }
    let part = data.join("dering.db.restoring");
    std::fs::copy(plan.from.join(DATABASE), &part).map_err(io(&part))?;
    File::open(&part)
        .and_then(|f| f.sync_all())
        .map_err(io(&part))?;
    std::fs::rename(&part, &db).map_err(io(&db))?;
    sync_dir(data);
    let mut store = Store::open(&db)?;
    let mut out = Restored {
        schema_version: store.schema_version()?,
        config_versions: count(&store, "config_versions")?,
        ..Restored::default()
    };
    // The dialogs of calls up at backup time belong to the box the
    // backup came from, which may still run: a restored pbxd must not
    // send them a BYE (decision 0028's restart path).
    store
        .conn
        .execute("DELETE FROM call_dialogs", [])
        .map_err(StoreError::from)?;
    let config_src = plan.from.join(CONFIG_FILE);
    if config_src.is_file() {
        if let Some(parent) = config_to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if config_to.exists() && !plan.force && !config_to.starts_with(data) {
            return Err(BackupError::NotEmpty(config_to));
        }
        std::fs::copy(&config_src, &config_to).map_err(io(&config_to))?;
        out.config_file = Some(config_to);
    }
    let new_root = plan
        .recordings_to
        .clone()
        .unwrap_or_else(|| data.join("recordings"));
    let old_root = PathBuf::from(&summary.recordings_dir);
    recordings(
        &mut store,
        &old_root,
        &new_root,
        plan.recordings_from.as_deref(),
        &mut out,
    )?;
    store.checkpoint()?;
    out.summary = Some(summary);
    Ok(out)
}

/// Moves the recordings index to the new box's directory and, with a
/// recording backup, copies each finished recording back and checks its
/// SHA-256 against the restored row.
fn recordings(
    store: &mut Store,
    old_root: &Path,
    new_root: &Path,
    from: Option<&Path>,
    out: &mut Restored,
) -> Result<()> {
    let rows = store.recordings(None)?;
    let tx = store.conn.transaction().map_err(StoreError::from)?;
    for r in rows {
        let old = Path::new(&r.path);
        // The weekly backup keeps the layout under the recordings root
        // (recorder::backup); a file outside it was kept by its name.
        let rel = old
            .strip_prefix(old_root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(old.file_name().unwrap_or_default()));
        let new = new_root.join(&rel);
        if new != old {
            let new_s = new.display().to_string();
            tx.execute(
                "UPDATE recordings SET path = ?1 WHERE path = ?2",
                params![new_s, r.path],
            )
            .map_err(StoreError::from)?;
            // Tickets link recordings by path (a JSON list of strings).
            let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
            tx.execute(
                "UPDATE tickets SET recordings = replace(recordings, ?1, ?2)
                 WHERE instr(recordings, ?1) > 0",
                params![quoted(&r.path), quoted(&new_s)],
            )
            .map_err(StoreError::from)?;
        }
        let Some(from) = from else {
            continue;
        };
        let Some(sha) = r.sha256.as_deref().filter(|s| !s.is_empty()) else {
            out.recordings_unfinished += 1;
            continue;
        };
        if !matches!(r.state.as_str(), "complete" | "repaired") {
            continue;
        }
        let src = from.join(&rel);
        if !src.is_file() {
            out.recordings_missing.push(rel.display().to_string());
            continue;
        }
        if let Some(parent) = new.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&src, &new).map_err(io(&new))?;
        if sha256_file(&new)? == sha {
            out.recordings_copied += 1;
        } else {
            let _ = std::fs::remove_file(&new);
            out.recordings_damaged.push(rel.display().to_string());
        }
    }
    tx.commit().map_err(StoreError::from)?;
    Ok(())
}

/// One run of the backup, as `backup_runs` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub started_ms: i64,
    pub finished_ms: i64,
    pub ok: bool,
    pub destination: String,
    pub name: Option<String>,
    pub bytes: Option<i64>,
    pub error: Option<String>,
}

/// The backup's state for `/health`, `/metrics` and the SNMP agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    pub last_run: Option<Run>,
    pub last_success_ms: Option<i64>,
    pub failures_total: u64,
}

/// How old the last good backup may be before it is an alarm: a day and
/// two hours of slack for a slow run or a timer that fired late.
pub const STALE_AFTER_MS: i64 = 26 * 3600 * 1000;

impl Status {
    /// The warning `/health` shows, if any: the last run failed, or no
    /// backup succeeded for [`STALE_AFTER_MS`]. A box that never ran one
    /// (backups not set up) has none.
    pub fn warning(&self, now_ms: i64) -> Option<String> {
        let last = self.last_run.as_ref()?;
        if !last.ok {
            return Some(format!(
                "backup: the last run to {} failed: {}",
                last.destination,
                last.error.as_deref().unwrap_or("unknown error")
            ));
        }
        let at = self.last_success_ms?;
        (now_ms - at > STALE_AFTER_MS)
            .then(|| format!("backup: none succeeded for {} h", (now_ms - at) / 3_600_000))
    }
}

/// Whether the scheduled backup is due at `now_ms`: the day's time
/// (`at_minutes` after midnight in the box's zone, `offset_minutes` from
/// UTC) has passed and no backup succeeded since. The timer asks every
/// hour, so a box that was off or a disk that was out at that time gets
/// its backup at the next hour it can.
pub fn due(
    now_ms: i64,
    offset_minutes: i32,
    at_minutes: u32,
    last_success_ms: Option<i64>,
) -> bool {
    let day = 86_400_000;
    let off = i64::from(offset_minutes) * 60_000;
    let mut slot = (now_ms + off).div_euclid(day) * day + i64::from(at_minutes) * 60_000 - off;
    if slot > now_ms {
        slot -= day;
    }
    last_success_ms.is_none_or(|t| t < slot)
}

impl Store {
    /// Records one backup run.
    pub fn record_backup_run(&self, run: &Run) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO backup_runs (started_ms, finished_ms, ok, destination, name, bytes, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run.started_ms,
                run.finished_ms,
                run.ok,
                run.destination,
                run.name,
                run.bytes,
                run.error
            ],
        )?;
        Ok(())
    }

    /// The last run, the last success and the failures counted.
    pub fn backup_status(&self) -> crate::Result<Status> {
        status(&self.conn)
    }
}

/// [`Store::backup_status`] on any connection (webd's readers).
pub fn status(conn: &Connection) -> crate::Result<Status> {
    let last_run = conn
        .query_row(
            "SELECT started_ms, finished_ms, ok, destination, name, bytes, error
             FROM backup_runs ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(Run {
                    started_ms: r.get(0)?,
                    finished_ms: r.get(1)?,
                    ok: r.get(2)?,
                    destination: r.get(3)?,
                    name: r.get(4)?,
                    bytes: r.get(5)?,
                    error: r.get(6)?,
                })
            },
        )
        .optional()?;
    let (last_success_ms, failures): (Option<i64>, i64) = conn.query_row(
        "SELECT MAX(CASE WHEN ok THEN finished_ms END), COALESCE(SUM(NOT ok), 0) FROM backup_runs",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Status {
        last_run,
        last_success_ms,
        failures_total: failures.max(0) as u64,
    })
}

#[cfg(test)]
mod tests;
