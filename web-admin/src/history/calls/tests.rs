#![allow(clippy::unwrap_used)]

use dering_store::Disposition;
use rusqlite::params_from_iter;

use super::*;
use crate::history::testdb::{TestDb, DAY, HOUR, T0};
use crate::i18n::Zone;

fn q() -> CallQuery {
    CallQuery {
        from: Some("2026-12-01".into()),
        to: Some("2026-12-04".into()),
        ..CallQuery::default()
    }
}

fn uuids(p: &Page<CallRow>) -> Vec<&str> {
    p.items.iter().map(|c| c.uuid.as_str()).collect()
}

/// Three calls on 4 December (WIB), one on the 2nd, one on the 5th.
fn box_with_calls() -> TestDb {
    let mut db = TestDb::new();
    db.call("a", "1001", "1002", T0, Disposition::Answered);
    db.call("b", "081234", "137", T0 + HOUR, Disposition::Answered);
    db.queued("b", "pengaduan", "agent7", T0 + HOUR + 1_000);
    db.call("c", "1003", "1002", T0 + 2 * HOUR, Disposition::Busy);
    db.call("d", "1001", "1003", T0 - 2 * DAY, Disposition::NoAnswer);
    db.call("e", "1001", "1002", T0 + DAY, Disposition::Answered);
    db
}

#[test]
fn search_by_date_number_disposition_extension_agent_and_queue() {
    let db = box_with_calls();
    let c = db.reader();
    let now = T0 + 2 * DAY;
    assert_eq!(
        uuids(&search(&c, &q(), now, Zone::WIB).unwrap()),
        ["c", "b", "a", "d"]
    );
    let day = CallQuery {
        from: Some("2026-12-04".into()),
        to: Some("2026-12-04".into()),
        ..q()
    };
    assert_eq!(
        uuids(&search(&c, &day, now, Zone::WIB).unwrap()),
        ["c", "b", "a"]
    );
    let number = CallQuery {
        number: Some("0812".into()),
        ..q()
    };
    assert_eq!(uuids(&search(&c, &number, now, Zone::WIB).unwrap()), ["b"]);
    let busy = CallQuery {
        disposition: Some("busy".into()),
        ..q()
    };
    assert_eq!(uuids(&search(&c, &busy, now, Zone::WIB).unwrap()), ["c"]);
    let ext = CallQuery {
        extension: Some("1003".into()),
        ..q()
    };
    assert_eq!(
        uuids(&search(&c, &ext, now, Zone::WIB).unwrap()),
        ["c", "d"]
    );
    let agent = CallQuery {
        agent: Some("agent7".into()),
        ..q()
    };
    let found = search(&c, &agent, now, Zone::WIB).unwrap();
    assert_eq!(uuids(&found), ["b"]);
    assert_eq!(found.items[0].queue.as_deref(), Some("pengaduan"));
    assert_eq!(found.items[0].agent.as_deref(), Some("agent7"));
    let queue = CallQuery {
        queue: Some("pengaduan".into()),
        ..q()
    };
    assert_eq!(uuids(&search(&c, &queue, now, Zone::WIB).unwrap()), ["b"]);
    // LIKE's wildcards are taken literally.
    let wild = CallQuery {
        number: Some("%".into()),
        ..q()
    };
    assert!(search(&c, &wild, now, Zone::WIB).unwrap().items.is_empty());
}

#[test]
fn pages_say_whether_more_follow() {
    let db = box_with_calls();
    let c = db.reader();
    let p1 = search(
        &c,
        &CallQuery {
            per_page: Some("3".into()),
            ..q()
        },
        T0,
        Zone::WIB,
    )
    .unwrap();
    assert_eq!((uuids(&p1), p1.more), (vec!["c", "b", "a"], true));
    let p2 = search(
        &c,
        &CallQuery {
            per_page: Some("3".into()),
            page: Some("2".into()),
            ..q()
        },
        T0,
        Zone::WIB,
    )
    .unwrap();
    assert_eq!((uuids(&p2), p2.more), (vec!["d"], false));
}

#[test]
fn bad_fields_are_refused_by_name() {
    let db = box_with_calls();
    let c = db.reader();
    let field = |q: CallQuery| match search(&c, &q, T0, Zone::WIB) {
        Err(HistoryError::Field { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(CallQuery {
            from: Some("4/12/2026".into()),
            ..q()
        }),
        "from"
    );
    assert_eq!(
        field(CallQuery {
            from: Some("2026-12-05".into()),
            ..q()
        }),
        "to"
    );
    assert_eq!(
        field(CallQuery {
            disposition: Some("x' OR 1=1".into()),
            ..q()
        }),
        "disposition"
    );
    assert_eq!(
        field(CallQuery {
            per_page: Some("100000".into()),
            ..q()
        }),
        "per_page"
    );
}

#[test]
fn calls_are_searched_by_their_trunk() {
    let db = box_with_calls();
    let w = rusqlite::Connection::open(db.dir.join("dering.db")).unwrap();
    w.execute_batch("UPDATE calls SET trunk = 'telkom' WHERE uuid = 'b';")
        .unwrap();
    let c = db.reader();
    let r = search(
        &c,
        &CallQuery {
            trunk: Some("telkom".into()),
            ..q()
        },
        T0,
        Zone::WIB,
    )
    .unwrap();
    assert_eq!(uuids(&r), ["b"]);
    assert_eq!(r.items[0].trunk.as_deref(), Some("telkom"));
}

#[test]
fn detail_merges_call_and_acd_events_in_time_order_with_the_recording() {
    let mut db = box_with_calls();
    let wav = db.dir.join("b.wav");
    db.recording(
        "b",
        &wav,
        "081234",
        "137",
        Some("1002"),
        Some("pengaduan"),
        T0 + HOUR,
        60_000,
    );
    let c = db.reader();
    let d = detail(&c, "b").unwrap().unwrap();
    assert_eq!(d.call.caller, "081234");
    assert_eq!(d.call.disposition.as_deref(), Some("answered"));
    assert_eq!(d.codec.as_deref(), Some("PCMA"));
    let kinds: Vec<_> = d
        .events
        .iter()
        .map(|e| (e.source, e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("call", "media"), ("acd", "entered"), ("acd", "answered")]
    );
    assert_eq!(d.recordings.len(), 1);
    assert_eq!(d.call.recording_id, Some(d.recordings[0].id));
    // Recorded by extension 1002: found by the extension too.
    let ext = CallQuery {
        extension: Some("1002".into()),
        number: Some("0812".into()),
        ..q()
    };
    assert_eq!(uuids(&search(&c, &ext, T0, Zone::WIB).unwrap()), ["b"]);
    assert!(detail(&c, "nope").unwrap().is_none());
}

/// The web admin's index migration: the agent and queue searches and the columns of
/// each row look the call up in the ACD journal by UUID, not by a scan
/// (the plan said `SCAN a` before the migration).
#[test]
fn the_journal_is_searched_by_index_not_scanned() {
    let db = box_with_calls();
    let c = db.reader();
    let query = CallQuery {
        agent: Some("agent7".into()),
        ..q()
    };
    let f = query.filter(T0, Zone::WIB).unwrap();
    let sql = format!(
        "EXPLAIN QUERY PLAN {SELECT} WHERE {}",
        f.clauses.join(" AND ")
    );
    let mut st = c.prepare(&sql).unwrap();
    let plan: Vec<String> = st
        .query_map(params_from_iter(f.params), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let plan = plan.join("\n");
    assert!(!plan.contains("SCAN a"), "{plan}");
    assert!(!plan.contains("SCAN r"), "{plan}");
    assert!(plan.contains("acd_events_call_uuid"), "{plan}");
    assert!(plan.contains("calls_start"), "{plan}");
}

#[test]
fn csv_records_are_in_wib_with_the_header_s_columns() {
    let db = box_with_calls();
    let c = db.reader();
    let b = &search(
        &c,
        &CallQuery {
            agent: Some("agent7".into()),
            ..q()
        },
        T0,
        Zone::WIB,
    )
    .unwrap()
    .items[0];
    let r = csv_record(b, Zone::WIB);
    assert_eq!(r.len(), csv_header(Zone::WIB).len());
    assert_eq!(csv_header(Zone::WIB)[1], "start_wib");
    assert_eq!(r[1], "2026-12-04 10:00:00");
    assert_eq!(r[4], "081234");
    assert_eq!(r[12], "pengaduan");
    assert_eq!(r[15], "no");
    // A box in Makassar writes the same call at its own hour, and says so.
    let wita = Zone::named("Asia/Makassar");
    assert_eq!(csv_header(wita)[1], "start_wita");
    assert_eq!(csv_record(b, wita)[1], "2026-12-04 11:00:00");
}

#[test]
fn a_day_searched_on_a_box_in_jayapura_is_jayapura_s_day() {
    // 23:30 WIB on the 4th is already 01:30 on the 5th in Jayapura (WIT).
    let mut db = TestDb::new();
    db.call(
        "late",
        "1001",
        "1002",
        T0 + 14 * HOUR + HOUR / 2,
        Disposition::Answered,
    );
    let c = db.reader();
    let day = CallQuery {
        from: Some("2026-12-04".into()),
        to: Some("2026-12-04".into()),
        ..CallQuery::default()
    };
    let next = CallQuery {
        from: Some("2026-12-05".into()),
        to: Some("2026-12-05".into()),
        ..CallQuery::default()
    };
    let wit = Zone::named("Asia/Jayapura");
    assert_eq!(
        uuids(&search(&c, &day, T0 + DAY, Zone::WIB).unwrap()),
        ["late"]
    );
    assert!(search(&c, &day, T0 + DAY, wit).unwrap().items.is_empty());
    assert_eq!(uuids(&search(&c, &next, T0 + DAY, wit).unwrap()), ["late"]);
}
