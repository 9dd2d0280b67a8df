use super::*;
use crate::tickets::{Level, NewTicket, Sla};

const DAY: i64 = 86_400_000;
/// 2026-12-04T21:50:00Z.
const NOW: i64 = 1_796_421_000_000;

/// A box's data directory with a call, a recording (its file under
/// `recordings/`), an ACD event, a ticket linking the recording, and a
/// configuration version.
fn a_box(dir: &Path) -> (PathBuf, String) {
    let data = dir.join("data");
    let rec_dir = data.join("recordings/2026/12/04");
    std::fs::create_dir_all(&rec_dir).unwrap();
    let wav = rec_dir.join("c-1.wav");
    std::fs::write(&wav, b"RIFF....WAVEfmt audio").unwrap();
    let sha = sha256_file(&wav).unwrap();
    let mut s = Store::open(&data.join(DATABASE)).unwrap();
    s.conn
        .execute_batch(&format!(
            "INSERT INTO calls (uuid, caller, callee, start_ms, state) VALUES ('c-1', '1001', '137', 1, 'ended');
             INSERT INTO recordings (call_uuid, path, caller, callee, start_ms, bytes, sha256, state)
               VALUES ('c-1', '{}', '1001', '137', 1, 21, '{sha}', 'complete');
             INSERT INTO acd_events (at_ms, kind, agent, detail) VALUES (1, 'agent_state', 'siti', '{{}}');
             INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
               VALUES (1, 1, 'seed', 'dering.toml', 'first', 'x', '[sip]');",
            wav.display()
        ))
        .unwrap();
    let t = NewTicket {
        reporter_name: "Siti".into(),
        reporter_phone: "0811".into(),
        reporter_email: String::new(),
        category: "complaint".into(),
        description: "layanan lambat".into(),
        urgency: Level::High,
        impact: Level::Medium,
        unit: "KU Dumas".into(),
        queue: None,
        assignee: None,
        call_ids: vec!["c-1".into()],
        recordings: vec![wav.display().to_string()],
    };
    s.create_ticket(&t, "agent1", &Sla::default(), 1).unwrap();
    std::fs::write(dir.join("dering.toml"), "[sip]\n").unwrap();
    (data, sha)
}

fn plan(dir: &Path, data: &Path, dest: &Path, now_ms: i64, keep: usize) -> Plan {
    Plan {
        data_dir: data.to_path_buf(),
        destination: dest.to_path_buf(),
        config_file: Some(dir.join("dering.toml")),
        recordings_dir: data.join("recordings"),
        keep,
        now_ms,
        software_version: "0.1.0".into(),
    }
}

#[test]
fn a_backup_taken_while_another_connection_writes_is_whole_and_sha256sum_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = a_box(dir.path());
    let dest = dir.path().join("disk");
    std::fs::create_dir(&dest).unwrap();
    // A writer commits calls the whole time, as pbxd does.
    let db = data.join(DATABASE);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let s = Store::open(&db).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                n += 1;
                s.conn
                    .execute(
                        "INSERT INTO calls (uuid, caller, callee, start_ms, state) VALUES (?1, '1', '2', 1, 'ended')",
                        [format!("w-{n}")],
                    )
                    .unwrap();
            }
            n
        })
    };
    let done = backup(&plan(dir.path(), &data, &dest, NOW, 7)).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert_eq!(done.name, "dering-20261204T215000Z");
    assert!(
        done.path.join(DATABASE).is_file() && !dest.join("dering-20261204T215000Z.part").exists()
    );
    let s = done.summary;
    assert!(s.calls >= 1 && s.calls <= written + 1, "{s:?}");
    assert_eq!(
        (s.recordings, s.tickets, s.acd_events, s.config_versions),
        (1, 1, 1, 1)
    );
    assert_eq!(s.schema_version, crate::migrations::MIGRATIONS.len() as i64);
    // The copy stands alone and holds exactly the calls it says.
    assert!(!done.path.join("dering.db-wal").exists());
    let copy = Connection::open(done.path.join(DATABASE)).unwrap();
    let mode: String = copy
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    let calls: i64 = copy
        .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(calls as u64, s.calls);
    drop(copy);
    let listed = verify(&done.path).unwrap();
    assert_eq!(listed, [DATABASE, CONFIG_VERSIONS, CONFIG_FILE, SUMMARY]);
    let out = std::process::Command::new("sha256sum")
        .arg("-c")
        .arg(MANIFEST)
        .current_dir(&done.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let versions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(done.path.join(CONFIG_VERSIONS)).unwrap()).unwrap();
    assert_eq!(versions["format"], "dering-backup");
    assert_eq!(versions["document"], "[sip]");
}

#[test]
fn a_missing_or_wrong_destination_is_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = a_box(dir.path());
    let gone = dir.path().join("usb");
    let e = backup(&plan(dir.path(), &data, &gone, NOW, 7)).unwrap_err();
    assert!(matches!(e, BackupError::NoDestination(_)), "{e}");
    assert!(e.to_string().contains("is the disk mounted"), "{e}");
    assert!(!gone.exists(), "an absent mount point is not created");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = backup(&plan(dir.path(), &data, &file, NOW, 7)).unwrap_err();
    assert!(matches!(e, BackupError::NotADirectory(_)), "{e}");
    let mut p = plan(dir.path(), &data, dir.path(), NOW, 7);
    p.config_file = Some(dir.path().join("absent.toml"));
    let e = backup(&p).unwrap_err();
    assert!(e.to_string().contains("absent.toml"), "{e}");
    assert!(list(dir.path()).is_empty());
    assert!(
        !std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".part")),
        "the failed run's .part is removed"
    );
}

#[test]
fn retention_keeps_the_newest_and_clears_a_cut_run() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = a_box(dir.path());
    let dest = dir.path().join("disk");
    std::fs::create_dir_all(dest.join("dering-20200101T000000Z.part")).unwrap();
    for d in 0..4 {
        backup(&plan(dir.path(), &data, &dest, NOW + d * DAY, 3)).unwrap();
    }
    // A retry within the same second gets a name of its own.
    let again = backup(&plan(dir.path(), &data, &dest, NOW + 3 * DAY, 3)).unwrap();
    assert_eq!(again.name, "dering-20261207T215000Z-2");
    assert_eq!(
        list(&dest),
        [
            "dering-20261206T215000Z",
            "dering-20261207T215000Z",
            "dering-20261207T215000Z-2"
        ]
    );
    assert!(!dest.join("dering-20200101T000000Z.part").exists());
}

#[test]
fn a_tampered_or_incomplete_backup_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = a_box(dir.path());
    let done = backup(&plan(dir.path(), &data, dir.path(), NOW, 7)).unwrap();
    let toml = done.path.join(CONFIG_FILE);
    std::fs::write(&toml, "[sip]\nbind = \"0.0.0.0\"\n").unwrap();
    let e = verify(&done.path).unwrap_err();
    assert!(
        matches!(&e, BackupError::Corrupt(f) if f == CONFIG_FILE),
        "{e}"
    );
    assert!(e.to_string().contains("dering.toml does not match"), "{e}");
    let restore_plan = RestorePlan {
        from: done.path.clone(),
        data_dir: dir.path().join("new"),
        force: false,
        config_to: None,
        recordings_from: None,
        recordings_to: None,
    };
    assert!(matches!(
        restore(&restore_plan),
        Err(BackupError::Corrupt(_))
    ));
    assert!(
        !dir.path().join("new").join(DATABASE).exists(),
        "nothing restored from a damaged backup"
    );
    std::fs::write(&toml, "[sip]\n").unwrap();
    verify(&done.path).unwrap();
    std::fs::remove_file(done.path.join(DATABASE)).unwrap();
    assert!(matches!(verify(&done.path), Err(BackupError::Missing(f)) if f == DATABASE));
    let manifest = done.path.join(MANIFEST);
    std::fs::write(&manifest, format!("{}  ../dering.toml\n", "0".repeat(64))).unwrap();
    assert!(matches!(
        verify(&done.path),
        Err(BackupError::BadManifest { line: 1, .. })
    ));
    std::fs::write(&manifest, "").unwrap();
    assert!(matches!(
        verify(&done.path),
        Err(BackupError::Incomplete(DATABASE))
    ));
    std::fs::remove_file(&manifest).unwrap();
    assert!(matches!(
        verify(&done.path),
        Err(BackupError::NoManifest(_))
    ));
}

#[test]
fn restore_brings_back_rows_config_and_checked_recordings_on_a_new_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (data, sha) = a_box(dir.path());
    let done = backup(&plan(dir.path(), &data, dir.path(), NOW, 7)).unwrap();
    // The weekly recording backup keeps the layout under the root.
    let weekly = dir.path().join("weekly");
    std::fs::create_dir_all(weekly.join("2026/12/04")).unwrap();
    std::fs::copy(
        data.join("recordings/2026/12/04/c-1.wav"),
        weekly.join("2026/12/04/c-1.wav"),
    )
    .unwrap();
    let new = dir.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("stray"), "x").unwrap();
    let mut rp = RestorePlan {
        from: done.path.clone(),
        data_dir: new.clone(),
        force: false,
        config_to: None,
        recordings_from: Some(weekly.clone()),
        recordings_to: None,
    };
    let e = restore(&rp).unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty(_)), "{e}");
    rp.force = true;
    let r = restore(&rp).unwrap();
    assert_eq!(r.recordings_copied, 1);
    assert!(r.recordings_missing.is_empty() && r.recordings_damaged.is_empty());
    assert_eq!(
        std::fs::read_to_string(new.join(CONFIG_FILE)).unwrap(),
        "[sip]\n"
    );
    let s = Store::open(&new.join(DATABASE)).unwrap();
    assert_eq!(s.calls().unwrap()[0].parties.uuid, "c-1");
    assert_eq!(s.acd_events(0).unwrap().len(), 1);
    let rec = &s.recordings(None).unwrap()[0];
    let moved = new.join("recordings/2026/12/04/c-1.wav");
    assert_eq!(rec.path, moved.display().to_string());
    assert_eq!(sha256_file(&moved).unwrap(), sha);
    let t = s.ticket(1).unwrap().unwrap();
    assert_eq!(t.recordings, [moved.display().to_string()]);
    // A recording the weekly backup lacks, or holds damaged, is named.
    std::fs::write(weekly.join("2026/12/04/c-1.wav"), b"other bytes").unwrap();
    let r = restore(&rp).unwrap();
    assert_eq!(r.recordings_damaged, ["2026/12/04/c-1.wav"]);
    assert!(
        !moved.exists(),
        "a damaged copy is not left as the recording"
    );
    std::fs::remove_file(weekly.join("2026/12/04/c-1.wav")).unwrap();
    let r = restore(&rp).unwrap();
    assert_eq!(r.recordings_missing, ["2026/12/04/c-1.wav"]);
}

#[test]
fn the_backups_state_warns_on_a_failure_or_a_stale_success() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join(DATABASE)).unwrap();
    assert_eq!(s.backup_status().unwrap(), Status::default());
    assert_eq!(
        Status::default().warning(NOW),
        None,
        "never set up: no alarm"
    );
    let run = |at: i64, ok: bool| Run {
        started_ms: at - 1000,
        finished_ms: at,
        ok,
        destination: "/media/backup".into(),
        name: ok.then(|| dir_name(at)),
        bytes: ok.then_some(10),
        error: (!ok).then(|| "backup destination /media/backup does not exist".into()),
    };
    s.record_backup_run(&run(NOW - DAY, true)).unwrap();
    let st = s.backup_status().unwrap();
    assert_eq!(st.last_success_ms, Some(NOW - DAY));
    assert_eq!(st.warning(NOW), None);
    assert_eq!(
        st.warning(NOW + 3 * 3_600_000).as_deref(),
        Some("backup: none succeeded for 27 h")
    );
    s.record_backup_run(&run(NOW, false)).unwrap();
    let st = s.backup_status().unwrap();
    assert_eq!(st.failures_total, 1);
    assert_eq!(st.last_success_ms, Some(NOW - DAY));
    assert!(st
        .warning(NOW)
        .unwrap()
        .contains("failed: backup destination"));
    s.record_backup_run(&run(NOW + 1000, true)).unwrap();
    assert_eq!(s.backup_status().unwrap().warning(NOW + 2000), None);
}

#[test]
fn the_daily_backup_is_due_once_its_time_has_passed_in_the_boxs_zone() {
    // 03:00 WIB is 20:00 UTC the day before; NOW is 21:50 UTC (04:50 WIB).
    let wib = 7 * 60;
    let slot = NOW - (110 * 60_000);
    assert!(due(NOW, wib, 180, None));
    assert!(due(NOW, wib, 180, Some(slot - 1)), "yesterday's success");
    assert!(!due(NOW, wib, 180, Some(slot + 1)), "already done today");
    // At 05:00 WIB the 05:00 slot has not come: yesterday's run counts.
    assert!(!due(NOW, wib, 5 * 60, Some(slot - 2 * 3_600_000)));
    assert!(due(
        NOW + 10 * 60_000,
        wib,
        5 * 60,
        Some(slot - 2 * 3_600_000)
    ));
}
