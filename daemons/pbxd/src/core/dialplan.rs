//! The dial plan (issue 12 §2): where a dialled number goes, as a pure
//! function of the number and the running configuration's numbering
//! (pickup codes, rooms and feature codes, forwarding and agent codes, the
//! numbers flows answer, the extensions). No call state, no I/O: the core
//! acts on the [`Route`], and the tests below check the plan on its own.
//! Trunks and outbound routing (issue 13) add their routes here.

use std::collections::HashMap;

use super::forward;
use super::ivr::Flows;
use super::pickup::{Pickup, Pickups};
use super::rooms::{Feature, Rooms};
use super::User;
use crate::config::DidTarget;

/// Where a dialled number goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// A pickup code: the caller answers a call ringing elsewhere.
    Pickup(Pickup),
    /// A number the box answers itself: a room, monitoring, forwarding or
    /// agent code.
    Feature(Feature),
    /// A number a call flow answers (IVR).
    Flow,
    /// A DID that rings a queue (TEL-10).
    Queue(String),
    /// An extension of the box (forwarding and reachability are the
    /// core's business: they depend on live state).
    Extension(String),
    /// Nowhere: the reason is the SIP answer's.
    Deny(Deny),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deny {
    /// No such number (404).
    NotFound,
}

impl Deny {
    pub(super) fn sip_code(self) -> u16 {
        match self {
            Deny::NotFound => 404,
        }
    }
}

/// The parts of the configuration the plan reads.
pub(super) struct Plan<'a> {
    pub pickups: &'a Pickups,
    pub rooms: &'a Rooms,
    pub flows: &'a Flows,
    pub users: &'a HashMap<String, User>,
}

/// Where `dialled` goes. Codes come before numbers, so no extension can
/// hide a feature code; a flow's number, in any written form (`137`,
/// `021137`, `+6221137`: the flows compare E.164 forms), before an
/// extension of the same digits; a DID may ring a flow, a queue or an
/// extension.
pub(super) fn route(plan: &Plan<'_>, dialled: &str) -> Route {
    if let Some(p) = plan.pickups.classify(dialled) {
        return Route::Pickup(p);
    }
    let feature = plan
        .rooms
        .classify(dialled)
        .or_else(|| {
            forward::Forwards::classify(dialled)
                .map(|(condition, target)| Feature::Forward { condition, target })
        })
        .or_else(|| dering_acd::codes::parse(dialled).map(Feature::Agent));
    if let Some(f) = feature {
        return Route::Feature(f);
    }
    match plan.flows.did(dialled) {
        Some(DidTarget::Flow(_)) => return Route::Flow,
        Some(DidTarget::Queue(q)) => return Route::Queue(q.clone()),
        Some(DidTarget::Extension(e)) => return Route::Extension(e.clone()),
        None => {}
    }
    if plan.users.contains_key(dialled) {
        return Route::Extension(dialled.to_string());
    }
    Route::Deny(Deny::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_demo_numbering() {
        let cfg = Config::embedded().unwrap();
        let (pickups, rooms, flows) = (Pickups::new(&cfg), Rooms::new(&cfg), Flows::new(&cfg));
        let users = super::super::live_config::users_of(&cfg);
        let plan = Plan {
            pickups: &pickups,
            rooms: &rooms,
            flows: &flows,
            users: &users,
        };
        let r = |n: &str| route(&plan, n);
        assert_eq!(r("1002"), Route::Extension("1002".into()));
        assert_eq!(r("137"), Route::Flow);
        assert_eq!(r("08001500137"), Route::Flow);
        assert_eq!(r("**1002"), Route::Pickup(Pickup::Directed("1002".into())));
        assert_eq!(r("*8"), Route::Pickup(Pickup::Group));
        assert!(matches!(
            r("8000"),
            Route::Feature(Feature::Conference { .. })
        ));
        assert!(matches!(
            r("*901001"),
            Route::Feature(Feature::Monitor { .. })
        ));
        assert!(matches!(
            r("*211002"),
            Route::Feature(Feature::Forward { .. })
        ));
        assert!(matches!(
            r("*712001*1234"),
            Route::Feature(Feature::Agent(_))
        ));
        // A DID in whatever form a carrier sends it (TEL-10).
        for n in [
            "1500137",
            "0211500137",
            "62211500137",
            "+62211500137",
            "+62-21-1500-137",
            "021137",
            "+6221137",
            "0-800-1-500-137",
            "628001500137",
            "+628001500137",
        ] {
            assert_eq!(r(n), Route::Flow, "{n}");
        }
        // DIDs that ring an extension or a queue.
        let cfg = Config::parse(
            &format!("{}\n[[did]]\nnumber = \"0215551002\"\nextension = \"1002\"\n\n[[did]]\nnumber = \"1500170\"\nqueue = \"pengaduan\"\n", crate::config::DEFAULT_TOML),
            "t.toml",
        )
        .unwrap();
        let more = Flows::new(&cfg);
        let plan2 = Plan {
            flows: &more,
            ..plan
        };
        assert_eq!(
            route(&plan2, "+62 21 555 1002"),
            Route::Extension("1002".into())
        );
        assert_eq!(
            route(&plan2, "62211500170"),
            Route::Queue("pengaduan".into())
        );
        assert_eq!(route(&plan2, "137"), Route::Flow);
        // Another area's 1500137 is another number.
        assert_eq!(r("0221500137"), Route::Deny(Deny::NotFound));
        assert_eq!(r("1999"), Route::Deny(Deny::NotFound));
        assert_eq!(r(""), Route::Deny(Deny::NotFound));
        assert_eq!(Deny::NotFound.sip_code(), 404);
    }
}
