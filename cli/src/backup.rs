//! `dering backup` and `dering restore` (OPS-4, decision 0032): the
//! command line around `dering_store::backup`, which does the work. The
//! daily timer runs `dering backup --if-due` every hour; each run's
//! outcome goes into the database, where `/health`, `/metrics` and the
//! SNMP agent find a failed or missed backup.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use dering_store::backup::{self, Plan, RestorePlan, Run};
use dering_store::Store;

use crate::{load_config, ETC_CONFIG};

/// What `dering backup` was asked.
pub struct BackupArgs {
    pub data_dir: PathBuf,
    pub to: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub keep: Option<u32>,
    pub if_due: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The configuration file the box runs: the one given, else
/// /etc/dering/dering.toml when it exists (none: the embedded default,
/// which the configuration versions in the database hold anyway).
fn config_file(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        Path::new(ETC_CONFIG)
            .exists()
            .then(|| PathBuf::from(ETC_CONFIG))
    })
}

pub fn backup_command(mut a: BackupArgs) -> anyhow::Result<ExitCode> {
    // Absolute, so the summary's directories still mean something when
    // the backup is restored elsewhere.
    a.data_dir = std::path::absolute(&a.data_dir)?;
    let file = config_file(a.config);
    let cfg = load_config(file.as_deref())?;
    let db = a.data_dir.join(backup::DATABASE);
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    let destination = match (a.to, &cfg.backup) {
        (Some(to), _) => to,
        (None, Some(b)) => b.destination.clone(),
        (None, None) if a.if_due => {
            println!("no [backup] table in the configuration: no backup to take");
            return Ok(ExitCode::SUCCESS);
        }
        (None, None) => {
            anyhow::bail!("no destination: give --to DIR or write [backup] destination")
        }
    };
    let store = Store::open(&db)?;
    let now = now_ms();
    if a.if_due {
        let at = cfg
            .backup
            .as_ref()
            .map_or(dering_config::backup::DEFAULT_AT_MINUTES, |b| b.at_minutes);
        let last = store.backup_status()?.last_success_ms;
        if !backup::due(now, cfg.flows.utc_offset_minutes, at, last) {
            println!("backup not due: today's has been taken");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let plan = Plan {
        data_dir: a.data_dir.clone(),
        destination: destination.clone(),
        config_file: file,
        recordings_dir: cfg
            .recording
            .directory
            .clone()
            .unwrap_or_else(|| a.data_dir.join("recordings")),
        keep: a
            .keep
            .or(cfg.backup.as_ref().map(|b| b.keep))
            .unwrap_or(dering_config::backup::DEFAULT_KEEP) as usize,
        now_ms: now,
        software_version: env!("CARGO_PKG_VERSION").into(),
    };
    let result = backup::backup(&plan);
    let run = Run {
        started_ms: now,
        finished_ms: now_ms(),
        ok: result.is_ok(),
        destination: destination.display().to_string(),
        name: result.as_ref().ok().map(|d| d.name.clone()),
        bytes: result.as_ref().ok().map(|d| d.bytes as i64),
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    // The outcome is what the alarms read: a run that cannot be recorded
    // is said on stderr and fails the unit, which systemd logs.
    store
        .record_backup_run(&run)
        .context("recording the backup's outcome")?;
    match result {
        Ok(done) => {
            println!("{}", serde_json::to_string(&done)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("dering: backup failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What `dering restore` was asked.
pub struct RestoreArgs {
    pub from: PathBuf,
    pub data_dir: PathBuf,
    pub force: bool,
    pub config_to: Option<PathBuf>,
    pub recordings: Option<PathBuf>,
    pub recordings_to: Option<PathBuf>,
}

pub fn restore_command(mut a: RestoreArgs) -> anyhow::Result<ExitCode> {
    // The recordings index is rewritten to absolute paths under it.
    a.data_dir = std::path::absolute(&a.data_dir)?;
    let r = backup::restore(&RestorePlan {
        from: a.from.clone(),
        data_dir: a.data_dir.clone(),
        force: a.force,
        config_to: a.config_to,
        recordings_from: a.recordings,
        recordings_to: a.recordings_to,
    })
    .with_context(|| format!("restoring {}", a.from.display()))?;
    for m in &r.recordings_missing {
        eprintln!("dering: recording {m} is not in the recording backup");
    }
    for m in &r.recordings_damaged {
        eprintln!("dering: recording {m} in the recording backup does not match its SHA-256");
    }
    println!("{}", serde_json::to_string(&r)?);
    Ok(ExitCode::SUCCESS)
}
