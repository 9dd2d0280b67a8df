#![allow(clippy::unwrap_used)]

use super::*;
use crate::history::testdb::{TestDb, HOUR, T0};
use crate::i18n::Zone;

#[test]
fn power_events_newest_first_alarms_only_on_request() {
    let mut db = TestDb::new();
    db.power(T0, "on_battery", true);
    db.power(T0 + HOUR, "mains_back", false);
    let c = db.reader();
    let q = PowerQuery {
        from: Some("2026-12-04".into()),
        to: Some("2026-12-04".into()),
        ..PowerQuery::default()
    };
    let all = search(&c, &q, T0, Zone::WIB).unwrap();
    let kinds: Vec<_> = all.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["mains_back", "on_battery"]);
    assert_eq!(all.items[1].status, Some(serde_json::json!({"charge": 90})));
    let alarms = search(
        &c,
        &PowerQuery {
            alarms: Some("on".into()),
            ..q
        },
        T0,
        Zone::WIB,
    )
    .unwrap();
    assert_eq!(alarms.items.len(), 1);
    assert!(alarms.items[0].alarm);
}
