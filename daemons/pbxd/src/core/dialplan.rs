//! The dial plan (issue 12 §2): where a dialled number goes, as a pure
//! function of the number and the running configuration's numbering
//! (pickup codes, rooms and feature codes, forwarding and agent codes, the
//! numbers flows answer, the extensions). No call state, no I/O: the core
//! acts on the [`Route`], and the tests below check the plan on its own.
//! Numbers outside the box go to a trunk by the first `[[route]]` that
//! carries them, if the caller's permission allows (TEL-5, issue 13).

use std::collections::{HashMap, HashSet};

use dering_flow::{LocalTime, Schedule};
use dering_telco::{classify_dialled_at, Dialled, DialledClass, Permission};

use super::forward;
use super::ivr::Flows;
use super::pickup::{Pickup, Pickups};
use super::rooms::{Feature, Rooms};
use super::User;

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
    /// An extension of the box (forwarding and reachability are the
    /// core's business: they depend on live state).
    Extension(String),
    /// A number outside, through a route's trunks.
    Trunk(Outward),
    /// Nowhere: the reason is the SIP answer's.
    Deny(Deny),
}

/// An outside call the caller may make, and the route that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outward {
    /// The number's class and normalised form.
    pub dialled: Dialled,
    pub route: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deny {
    /// No such number (404).
    NotFound,
    /// An outside number the caller's permission does not reach (403).
    Forbidden(DialledClass),
    /// An outside number no route carries now (404).
    NoRoute(DialledClass),
}

impl Deny {
    pub(super) fn sip_code(self) -> u16 {
        match self {
            Deny::NotFound | Deny::NoRoute(_) => 404,
            Deny::Forbidden(_) => 403,
        }
    }

    /// Why, for the call record (`None`: no record is kept).
    pub(super) fn reason(self) -> Option<&'static str> {
        match self {
            Deny::NotFound | Deny::NoRoute(_) => None,
            Deny::Forbidden(_) => Some("permission"),
        }
    }
}

/// What outbound routing reads: the configured routes, the trunks that
/// are enabled, and the box's area code.
#[derive(Debug, Default)]
pub(super) struct OutsidePlan {
    pub area_code: u16,
    pub routes: Vec<crate::config::Route>,
    pub enabled: HashSet<String>,
}

impl OutsidePlan {
    pub(super) fn new(cfg: &crate::config::Config) -> OutsidePlan {
        OutsidePlan {
            area_code: cfg.numbering.area_code,
            routes: cfg.routes.clone(),
            enabled: cfg
                .trunks
                .iter()
                .filter(|t| t.enabled)
                .map(|t| t.name.clone())
                .collect(),
        }
    }
}

/// Who dials, and when: an outside call depends on both.
#[derive(Debug, Clone, Copy)]
pub(super) struct Caller {
    pub permission: Permission,
    pub at: LocalTime,
}

/// The parts of the configuration the plan reads.
pub(super) struct Plan<'a> {
    pub pickups: &'a Pickups,
    pub rooms: &'a Rooms,
    pub flows: &'a Flows,
    pub users: &'a HashMap<String, User>,
    pub outside: &'a OutsidePlan,
    pub caller: Caller,
}

/// Where `dialled` goes. Codes come before numbers, so no extension can
/// hide a feature code; a flow's number before an extension of the same
/// digits.
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
    if plan.flows.answers(dialled) {
        return Route::Flow;
    }
    if plan.users.contains_key(dialled) {
        return Route::Extension(dialled.to_string());
    }
    outside(plan.outside, plan.caller, dialled)
}

/// A number that is none of the box's: its class in the numbering plan,
/// the first route that carries it now through an enabled trunk, and
/// whether the caller may dial it (emergency numbers always). A number no
/// route carries is not found, whoever dials it, as before trunks.
pub(super) fn outside(plan: &OutsidePlan, caller: Caller, dialled: &str) -> Route {
    let d = classify_dialled_at(dialled, plan.area_code);
    if d.class == DialledClass::Invalid {
        return Route::Deny(Deny::NotFound);
    }
    let open = |r: &crate::config::Route| {
        r.windows.is_empty()
            || Schedule {
                weekly: r.windows.clone(),
                holidays: Vec::new(),
                always_open: false,
            }
            .is_open(caller.at)
    };
    let route = plan.routes.iter().find(|r| {
        r.carries(d.class, &d.number)
            && open(r)
            && r.trunks.iter().any(|t| plan.enabled.contains(t))
    });
    match route {
        None => Route::Deny(Deny::NoRoute(d.class)),
        Some(_) if !caller.permission.allows(d.class) => Route::Deny(Deny::Forbidden(d.class)),
        Some(r) => Route::Trunk(Outward {
            route: r.name.clone(),
            dialled: d,
        }),
    }
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
        let outside = OutsidePlan::new(&cfg);
        let plan = Plan {
            pickups: &pickups,
            rooms: &rooms,
            flows: &flows,
            users: &users,
            outside: &outside,
            caller: Caller {
                permission: Permission::International,
                at: LocalTime::from_wall_ms(0, 420),
            },
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
        // A service-like number no route carries: not found, as before.
        assert_eq!(r("1999"), Route::Deny(Deny::NoRoute(DialledClass::Service)));
        assert_eq!(Deny::NoRoute(DialledClass::Service).sip_code(), 404);
        assert_eq!(r(""), Route::Deny(Deny::NotFound));
        assert_eq!(Deny::NotFound.sip_code(), 404);
        // The demo's trunk is off: outside numbers have no route.
        assert_eq!(
            r("081234567890"),
            Route::Deny(Deny::NoRoute(DialledClass::Mobile))
        );
    }

    /// The demo with its trunk on, a second trunk, a night route for
    /// international calls (WIB) and a mobile route by prefix.
    fn plan_with_routes() -> OutsidePlan {
        let text = crate::config::DEFAULT_TOML.replace("enabled = false", "enabled = true")
            + "\n[[trunk]]\nname = \"night\"\nkind = \"ip\"\nhost = \"192.0.2.1\"\naddresses = [\"192.0.2.1\"]\n\
               [[trunk]]\nname = \"off\"\nenabled = false\nkind = \"ip\"\nhost = \"192.0.2.2\"\naddresses = [\"192.0.2.2\"]";
        // Routes before the demo's catch-all.
        let text = text.replacen(
            "[[route]]\nname = \"keluar\"",
            "[[route]]\nname = \"malam\"\nclasses = [\"international\"]\ntrunks = [\"night\"]\nwindows = [{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], from = \"00:00\", to = \"06:00\" }]\n\n\
             [[route]]\nname = \"dead\"\nclasses = [\"mobile\"]\ntrunks = [\"off\"]\n\n\
             [[route]]\nname = \"telkomsel\"\npatterns = [\"+62811\", \"+62812\"]\ntrunks = [\"night\", \"demo\"]\n\n\
             [[route]]\nname = \"keluar\"",
            1,
        );
        OutsidePlan::new(&crate::config::Config::parse(&text, "t.toml").unwrap())
    }

    fn caller(permission: Permission, hour: i64) -> Caller {
        // 1970-01-01 was a Thursday; WIB is UTC+7.
        let wall_ms = (hour - 7).rem_euclid(24) * 3_600_000;
        Caller {
            permission,
            at: LocalTime::from_wall_ms(wall_ms, 420),
        }
    }

    fn route_name(r: Route) -> String {
        match r {
            Route::Trunk(o) => o.route,
            other => format!("{other:?}"),
        }
    }

    /// TEL-5: the caller's permission decides on a number a route
    /// carries, and emergency numbers pass whatever it is.
    #[test]
    fn permission_decides_on_routed_numbers() {
        let plan = plan_with_routes();
        let noon = |p| caller(p, 12);
        assert_eq!(
            outside(&plan, noon(Permission::Internal), "0016129998888"),
            Route::Deny(Deny::Forbidden(DialledClass::International))
        );
        assert_eq!(
            outside(&plan, noon(Permission::Local), "081234567890"),
            Route::Deny(Deny::Forbidden(DialledClass::Mobile))
        );
        assert_eq!(Deny::Forbidden(DialledClass::Mobile).sip_code(), 403);
        assert_eq!(
            route_name(outside(&plan, noon(Permission::Internal), "112")),
            "keluar"
        );
        assert_eq!(
            outside(&plan, noon(Permission::International), "08"),
            Route::Deny(Deny::NotFound),
            "not a number of the plan"
        );
    }

    /// Routes by pattern, class and time window; a route whose trunks are
    /// all disabled carries nothing.
    #[test]
    fn routes_by_pattern_class_and_window() {
        let plan = plan_with_routes();
        let all = |hour| caller(Permission::International, hour);
        let Route::Trunk(o) = outside(&plan, all(12), "0812-3456-7890") else {
            panic!("no route")
        };
        assert_eq!(o.route, "telkomsel");
        assert_eq!(o.dialled.number, "+6281234567890");
        assert_eq!(o.dialled.class, DialledClass::Mobile);
        assert_eq!(
            route_name(outside(&plan, all(12), "085712345678")),
            "keluar"
        );
        assert_eq!(route_name(outside(&plan, all(3), "0016129998888")), "malam");
        assert_eq!(
            route_name(outside(&plan, all(12), "0016129998888")),
            "keluar"
        );
    }
}
