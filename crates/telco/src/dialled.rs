//! Numbers the box's own users dial out (TEL-5): what class a dialled
//! number is in the Indonesian plan, whether a caller's permission lets
//! the call leave the box, and how the number is written for a carrier.
//!
//! The classes follow what a call costs and how it is abused: emergency
//! numbers are always allowed; toll fraud goes to premium and
//! international numbers, so only the widest permission reaches them.
//! A number the plan does not know is `Invalid` and never leaves the box.

use serde::{Deserialize, Serialize};

/// Emergency numbers (police, the general number, fire, search and
/// rescue, ambulance, disaster): callable from every phone, whatever its
/// permission.
pub const EMERGENCY: &[&str] = &["110", "112", "113", "115", "118", "119", "129"];

/// What kind of number was dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialledClass {
    /// One of [`EMERGENCY`].
    Emergency,
    /// A national service or access number (`1xy`, `1500xyz`, `14xxx`).
    Service,
    /// Toll-free (`0800…`).
    TollFree,
    /// Premium rate (`0809…`).
    Premium,
    /// A fixed line in the box's own area.
    Local,
    /// A fixed line in another area (`0` + area code).
    LongDistance,
    /// A mobile number (`08…`).
    Mobile,
    /// Outside Indonesia (`00x`, `01x`, `+` other than `+62`).
    International,
    /// Not a number of the plan (too short, letters, a bare `0`).
    Invalid,
}

impl DialledClass {
    /// The class's name in configuration and call records.
    pub fn name(self) -> &'static str {
        match self {
            DialledClass::Emergency => "emergency",
            DialledClass::Service => "service",
            DialledClass::TollFree => "toll_free",
            DialledClass::Premium => "premium",
            DialledClass::Local => "local",
            DialledClass::LongDistance => "long_distance",
            DialledClass::Mobile => "mobile",
            DialledClass::International => "international",
            DialledClass::Invalid => "invalid",
        }
    }

    /// Every class a number can be routed as (not `Invalid`, which
    /// never leaves the box), in the order of the plan.
    pub const ROUTABLE: [DialledClass; 8] = [
        DialledClass::Emergency,
        DialledClass::Service,
        DialledClass::TollFree,
        DialledClass::Premium,
        DialledClass::Local,
        DialledClass::LongDistance,
        DialledClass::Mobile,
        DialledClass::International,
    ];

    /// The routable class named `name` (as [`DialledClass::name`] writes
    /// it), for routes in the configuration.
    pub fn from_name(name: &str) -> Option<DialledClass> {
        DialledClass::ROUTABLE
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// How far a phone may call out, each level including the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Extensions of the box only (and emergency numbers).
    Internal,
    /// Also local fixed lines, service and toll-free numbers.
    Local,
    /// Also mobile and long-distance numbers.
    National,
    /// Also international and premium numbers.
    International,
}

impl Permission {
    /// Narrowest first.
    pub const ALL: [Permission; 4] = [
        Permission::Internal,
        Permission::Local,
        Permission::National,
        Permission::International,
    ];

    /// The permission's name in configuration and call records.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Internal => "internal",
            Permission::Local => "local",
            Permission::National => "national",
            Permission::International => "international",
        }
    }

    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether a caller with this permission may dial a number of
    /// `class`. Emergency numbers are always allowed, invalid ones never.
    pub fn allows(self, class: DialledClass) -> bool {
        let needed = match class {
            DialledClass::Emergency => return true,
            DialledClass::Invalid => return false,
            DialledClass::Local | DialledClass::Service | DialledClass::TollFree => {
                Permission::Local
            }
            DialledClass::Mobile | DialledClass::LongDistance => Permission::National,
            DialledClass::International | DialledClass::Premium => Permission::International,
        };
        self >= needed
    }
}

/// A dialled number as routing sees it: its class and, for numbers that
/// have one, the E.164 form (`+62…`) that routes and records carry.
/// Service and emergency numbers have none and keep their digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialled {
    pub class: DialledClass,
    /// `+62…`, `+…`, or the short number's digits.
    pub number: String,
}

/// Classifies `dialled` (digits as a phone sends them, with `+`, spaces or
/// dashes allowed) for a box whose own area code is `home_area` (`21` for
/// Jakarta): a fixed number dialled without its area code is local.
pub fn classify_dialled(dialled: &str, home_area: u16) -> Dialled {
    let invalid = || Dialled {
        class: DialledClass::Invalid,
        number: dialled.to_string(),
    };
    let trimmed = dialled.trim();
    let plus = trimmed.starts_with('+');
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return invalid();
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    let national = if plus {
        match digits.strip_prefix("62") {
            Some(rest) => rest.to_string(),
            None if digits.len() >= 7 => {
                return Dialled {
                    class: DialledClass::International,
                    number: format!("+{digits}"),
                }
            }
            None => return invalid(),
        }
    } else if digits.starts_with("00") || digits.starts_with("01") {
        // 001, 007, 008 and 01x are the carriers' international prefixes.
        let Some(rest) = digits.get(3..).filter(|r| r.len() >= 7) else {
            return invalid();
        };
        if let Some(national) = rest.strip_prefix("62") {
            // Dialled abroad-style to an Indonesian number.
            national.to_string()
        } else {
            return Dialled {
                class: DialledClass::International,
                number: format!("+{rest}"),
            };
        }
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest.to_string()
    } else {
        return short_or_local(&digits, home_area).unwrap_or_else(invalid);
    };
    national_number(&national).unwrap_or_else(invalid)
}

/// A number dialled without a trunk prefix: emergency, a service number,
/// or a local fixed line (7 or 8 digits, not starting with 0 or 1).
fn short_or_local(digits: &str, home_area: u16) -> Option<Dialled> {
    if EMERGENCY.contains(&digits) {
        return Some(Dialled {
            class: DialledClass::Emergency,
            number: digits.to_string(),
        });
    }
    if digits.starts_with('1') && (3..=7).contains(&digits.len()) {
        return Some(Dialled {
            class: DialledClass::Service,
            number: digits.to_string(),
        });
    }
    if (7..=8).contains(&digits.len()) && home_area != 0 {
        return Some(Dialled {
            class: DialledClass::Local,
            number: format!("+62{home_area}{digits}"),
        });
    }
    None
}

/// A number after the trunk prefix `0` (or `+62`): mobile, toll-free,
/// premium, or a fixed line with its area code.
fn national_number(national: &str) -> Option<Dialled> {
    let e164 = format!("+62{national}");
    let class = if national.starts_with("800") {
        DialledClass::TollFree
    } else if national.starts_with("809") {
        DialledClass::Premium
    } else if national.starts_with('8') {
        if !(9..=12).contains(&national.len()) {
            return None;
        }
        DialledClass::Mobile
    } else if national.starts_with(['1', '0']) || !(8..=11).contains(&national.len()) {
        return None;
    } else {
        DialledClass::LongDistance
    };
    if matches!(class, DialledClass::TollFree | DialledClass::Premium) && national.len() < 8 {
        return None;
    }
    Some(Dialled {
        class,
        number: e164,
    })
}

/// [`classify_dialled`], then a long-distance number in the box's own
/// area counted as local: `021…` dialled in Jakarta costs a local call.
pub fn classify_dialled_at(dialled: &str, home_area: u16) -> Dialled {
    let mut d = classify_dialled(dialled, home_area);
    if d.class == DialledClass::LongDistance && area_of(&d.number) == Some(home_area) {
        d.class = DialledClass::Local;
    }
    d
}

/// The area code of a fixed `+62…` number.
fn area_of(e164: &str) -> Option<u16> {
    crate::numbers::area_code(e164.strip_prefix("+62")?)
}

/// How a carrier wants called and calling numbers written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierFormat {
    /// Nationally: `0812…`, `021…`; abroad with the international prefix.
    #[default]
    National,
    /// Country code without plus: `62812…`.
    Country,
    /// E.164 with plus: `+62812…`.
    E164,
}

/// `number` (E.164, or a short number's digits) written as a carrier in
/// `format` expects; `international_prefix` (`00`, `001`, `007`, …) is
/// put before numbers abroad in the national format.
pub fn for_carrier(number: &str, format: CarrierFormat, international_prefix: &str) -> String {
    let Some(digits) = number.strip_prefix('+') else {
        // A short number: the same in every format.
        return number.to_string();
    };
    match format {
        CarrierFormat::E164 => number.to_string(),
        CarrierFormat::Country => digits.to_string(),
        CarrierFormat::National => match digits.strip_prefix("62") {
            Some(national) => format!("0{national}"),
            None => format!("{international_prefix}{digits}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(n: &str) -> DialledClass {
        classify_dialled_at(n, 21).class
    }

    #[test]
    fn the_indonesian_plan_is_classified() {
        for e in EMERGENCY {
            assert_eq!(class(e), DialledClass::Emergency, "{e}");
        }
        assert_eq!(class("137"), DialledClass::Service);
        assert_eq!(class("1500137"), DialledClass::Service);
        assert_eq!(class("14045"), DialledClass::Service);
        assert_eq!(class("0800-1-137-137"), DialledClass::TollFree);
        assert_eq!(class("0809 1234 5678"), DialledClass::Premium);
        assert_eq!(class("081234567890"), DialledClass::Mobile);
        assert_eq!(class("+6281234567890"), DialledClass::Mobile);
        assert_eq!(class("5551234"), DialledClass::Local);
        assert_eq!(class("0215551234"), DialledClass::Local, "own area");
        assert_eq!(class("0225551234"), DialledClass::LongDistance, "Bandung");
        assert_eq!(class("03614567890"), DialledClass::LongDistance, "Denpasar");
        assert_eq!(class("001 61 2 9999 8888"), DialledClass::International);
        assert_eq!(class("+6129998888"), DialledClass::International);
        assert_eq!(class("+1 212 555 0100"), DialledClass::International);
        // 001 then 62: an Indonesian number dialled the long way.
        assert_eq!(class("0016281234567890"), DialledClass::Mobile);
    }

    #[test]
    fn what_the_plan_does_not_know_is_invalid() {
        for n in [
            "", "0", "08", "0812", "+", "+62", "12a4", "sip:x", "00112", "99",
        ] {
            assert_eq!(class(n), DialledClass::Invalid, "{n:?}");
        }
        // Too long for a mobile number.
        assert_eq!(class("0812345678901234"), DialledClass::Invalid);
    }

    #[test]
    fn numbers_are_carried_in_e164() {
        assert_eq!(
            classify_dialled_at("0812-3456-7890", 21).number,
            "+6281234567890"
        );
        assert_eq!(classify_dialled_at("5551234", 21).number, "+62215551234");
        assert_eq!(
            classify_dialled_at("0016129998888", 21).number,
            "+6129998888"
        );
        assert_eq!(classify_dialled_at("112", 21).number, "112");
    }

    #[test]
    fn permissions_widen_and_emergency_is_always_allowed() {
        use DialledClass::*;
        let all = [
            Emergency,
            Service,
            TollFree,
            Premium,
            Local,
            LongDistance,
            Mobile,
            International,
            Invalid,
        ];
        let allowed = |p: Permission| -> Vec<DialledClass> {
            all.iter().copied().filter(|c| p.allows(*c)).collect()
        };
        assert_eq!(allowed(Permission::Internal), vec![Emergency]);
        assert_eq!(
            allowed(Permission::Local),
            vec![Emergency, Service, TollFree, Local]
        );
        assert_eq!(
            allowed(Permission::National),
            vec![Emergency, Service, TollFree, Local, LongDistance, Mobile]
        );
        assert_eq!(
            allowed(Permission::International),
            vec![
                Emergency,
                Service,
                TollFree,
                Premium,
                Local,
                LongDistance,
                Mobile,
                International
            ]
        );
    }

    #[test]
    fn names_read_back() {
        for c in DialledClass::ROUTABLE {
            assert_eq!(DialledClass::from_name(c.name()), Some(c));
        }
        assert_eq!(DialledClass::from_name("invalid"), None);
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
        assert_eq!(Permission::from_name("galactic"), None);
    }

    #[test]
    fn carriers_get_the_format_they_ask_for() {
        let m = "+6281234567890";
        assert_eq!(
            for_carrier(m, CarrierFormat::National, "00"),
            "081234567890"
        );
        assert_eq!(
            for_carrier(m, CarrierFormat::Country, "00"),
            "6281234567890"
        );
        assert_eq!(for_carrier(m, CarrierFormat::E164, "00"), m);
        assert_eq!(
            for_carrier("+6129998888", CarrierFormat::National, "001"),
            "0016129998888"
        );
        assert_eq!(for_carrier("137", CarrierFormat::E164, "00"), "137");
    }
}
