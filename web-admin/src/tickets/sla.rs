//! A new ticket's deadlines from the running configuration's `[tickets]`
//! (CTI-3). The database's newest configuration version is the box's
//! configuration (decision 0013), so an SLA changed in the admin or by
//! `dering config import` holds for the next ticket without restarting
//! webd. No version, or one that no longer parses, leaves Peruri's
//! defaults: a ticket is never refused for the want of a deadline.

use dering_store::tickets::Sla;

/// The configuration's minutes and hours in the store's milliseconds.
pub(super) fn from_config(t: &dering_config::Tickets) -> Sla {
    let ms = |n: u64, unit: i64| {
        i64::try_from(n)
            .unwrap_or(i64::MAX / unit)
            .saturating_mul(unit)
    };
    Sla {
        first_response_ms: ms(t.first_response_minutes, 60_000),
        resolution_ms: t.resolution_hours.map(|h| ms(h, 3_600_000)),
    }
}

/// The deadlines of the newest configuration version, read on `conn`
/// (webd's write transaction, so the version and the ticket agree).
pub(super) fn running(conn: &rusqlite::Connection) -> Sla {
    from_config(&configured(conn))
}

/// `[tickets]` of the newest configuration version, read on `conn`;
/// the defaults when there is none or it no longer parses.
pub(super) fn configured(conn: &rusqlite::Connection) -> dering_config::Tickets {
    let doc: Option<String> = conn
        .query_row(
            "SELECT document FROM config_versions ORDER BY version DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .ok();
    let Some(doc) = doc else {
        return dering_config::Tickets::default();
    };
    match dering_config::Config::parse(&doc, "current") {
        Ok(c) => c.tickets,
        Err(e) => {
            tracing::warn!(error = %e, "the running configuration does not parse; default ticket deadlines");
            dering_config::Tickets::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_and_hours_become_milliseconds() {
        let s = from_config(&dering_config::Tickets {
            first_response_minutes: 30,
            resolution_hours: [4, 12, 24, 72],
            ..Default::default()
        });
        assert_eq!(s.first_response_ms, 30 * 60_000);
        assert_eq!(s.resolution_ms, [4, 12, 24, 72].map(|h| h * 3_600_000));
        assert_eq!(
            from_config(&dering_config::Tickets::default()),
            Sla::default(),
            "the configuration's defaults are the store's"
        );
    }
}
