#![allow(clippy::unwrap_used)]

use dering_store::{Disposition, Op};

use super::*;
use crate::history::testdb::{TestDb, DAY, HOUR, T0};
use crate::i18n::Zone;

fn q() -> RecordingQuery {
    RecordingQuery {
        from: Some("2026-12-01".into()),
        to: Some("2026-12-05".into()),
        ..RecordingQuery::default()
    }
}

fn ids(p: &Page<RecordingItem>) -> Vec<&str> {
    p.items.iter().map(|r| r.call_uuid.as_str()).collect()
}

/// Call `a` (1002 "Siti" through flow `layanan`, 30 s, kept as WAV),
/// call `b` (queue `pengaduan`, agent `agent7` at 1003, 200 s, an MP3),
/// call `c` from the day before (deleted by retention).
fn box_with_recordings() -> TestDb {
    let mut db = TestDb::new();
    db.apply(vec![Op::Extensions(vec![
        ("1002".into(), "Siti Aminah".into()),
        ("1003".into(), "Budi".into()),
    ])]);
    let dir = db.dir.clone();
    db.call("a", "081111", "1500", T0, Disposition::Answered);
    db.recording(
        "a",
        &dir.join("a.wav"),
        "081111",
        "1500",
        Some("1002"),
        Some("layanan"),
        T0,
        30_000,
    );
    std::fs::write(dir.join("a.wav"), b"RIFF").unwrap();
    db.call("b", "082222", "137", T0 + HOUR, Disposition::Answered);
    db.queued("b", "pengaduan", "agent7", T0 + HOUR);
    db.recording(
        "b",
        &dir.join("b.mp3"),
        "082222",
        "137",
        Some("1003"),
        None,
        T0 + HOUR,
        200_000,
    );
    std::fs::write(dir.join("b.mp3"), b"ID3").unwrap();
    db.recording(
        "c",
        &dir.join("c.wav"),
        "083333",
        "137",
        None,
        None,
        T0 - DAY,
        10_000,
    );
    db.apply(vec![Op::RecordingDeleted {
        path: dir.join("c.wav").display().to_string(),
    }]);
    db
}

#[test]
fn search_by_agent_login_extension_or_name_service_number_and_duration() {
    let db = box_with_recordings();
    let c = db.reader();
    let find = |q: RecordingQuery| ids(&search(&c, &q, T0, Zone::WIB).unwrap()).join(",");
    assert_eq!(find(q()), "b,a");
    let agent = |a: &str| RecordingQuery {
        agent: Some(a.into()),
        ..q()
    };
    assert_eq!(find(agent("agent7")), "b");
    assert_eq!(find(agent("1002")), "a");
    assert_eq!(find(agent("siti")), "a");
    let service = |s: &str| RecordingQuery {
        service: Some(s.into()),
        ..q()
    };
    assert_eq!(find(service("layanan")), "a");
    assert_eq!(find(service("pengaduan")), "b");
    assert_eq!(
        find(RecordingQuery {
            number: Some("0822".into()),
            ..q()
        }),
        "b"
    );
    assert_eq!(
        find(RecordingQuery {
            min_seconds: Some("60".into()),
            ..q()
        }),
        "b"
    );
    assert_eq!(
        find(RecordingQuery {
            max_seconds: Some("30".into()),
            ..q()
        }),
        "a"
    );
    let items = search(&c, &q(), T0, Zone::WIB).unwrap().items;
    assert_eq!(items[1].agent_name.as_deref(), Some("Siti Aminah"));
    assert_eq!(
        (items[0].format.as_str(), items[1].format.as_str()),
        ("mp3", "wav")
    );
}

#[test]
fn one_call_s_recordings_are_found_whatever_their_age() {
    let db = box_with_recordings();
    let c = db.reader();
    let q = RecordingQuery {
        call: Some("a".into()),
        ..RecordingQuery::default()
    };
    // A year later, without dates.
    let found = search(&c, &q, T0 + 365 * DAY, Zone::WIB).unwrap();
    assert_eq!(ids(&found), ["a"]);
}

#[test]
fn a_minimum_above_the_maximum_is_refused_by_name() {
    let db = box_with_recordings();
    let r = search(
        &db.reader(),
        &RecordingQuery {
            min_seconds: Some("60".into()),
            max_seconds: Some("10".into()),
            ..q()
        },
        T0,
        Zone::WIB,
    );
    assert!(
        matches!(
            r,
            Err(HistoryError::Field {
                field: "max_seconds",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn files_are_the_ones_that_exist_and_deleted_recordings_have_none() {
    let db = box_with_recordings();
    let c = db.reader();
    let id = |u: &str| -> i64 {
        c.query_row("SELECT id FROM recordings WHERE call_uuid = ?1", [u], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let a = files(&c, id("a")).unwrap().unwrap();
    assert_eq!(a.wav, Some(db.dir.join("a.wav")));
    assert_eq!(a.mp3, None);
    assert_eq!(a.playable().map(|(f, _)| f), Some(Format::Wav));
    // An MP3 made on demand beside the WAV is offered too.
    std::fs::write(db.dir.join("a.mp3"), b"ID3").unwrap();
    assert!(files(&c, id("a")).unwrap().unwrap().mp3.is_some());
    let b = files(&c, id("b")).unwrap().unwrap();
    assert_eq!(
        (b.wav.is_none(), b.playable().map(|(f, _)| f)),
        (true, Some(Format::Mp3))
    );
    assert_eq!(files(&c, id("c")).unwrap(), None);
    assert_eq!(files(&c, 999).unwrap(), None);
}
