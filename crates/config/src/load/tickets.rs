//! The loader's part for `[tickets]`: its spanned mirror, its checks and
//! its plain value.

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::tickets::Tickets;
use crate::ConfigError;
use crate::Reason;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTickets {
    #[serde(default)]
    first_response_minutes: Option<Spanned<u64>>,
    #[serde(default)]
    resolution_hours: Option<RawResolution>,
    #[serde(default)]
    escalation_hours: Option<RawEscalation>,
}

/// `[tickets.escalation_hours]`, by level.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    #[serde(default)]
    level1: Option<Spanned<u64>>,
    #[serde(default)]
    level2: Option<Spanned<u64>>,
    #[serde(default)]
    level3: Option<Spanned<u64>>,
}

/// `[tickets.resolution_hours]`, by priority.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResolution {
    #[serde(default)]
    critical: Option<Spanned<u64>>,
    #[serde(default)]
    high: Option<Spanned<u64>>,
    #[serde(default)]
    medium: Option<Spanned<u64>>,
    #[serde(default)]
    low: Option<Spanned<u64>>,
}

/// Checks `[tickets]`; the defaults fill what it leaves out.
pub(super) fn check(at: &Refusal, raw: Option<&RawTickets>) -> Result<Tickets, ConfigError> {
    let mut t = Tickets::default();
    let Some(raw) = raw else {
        return Ok(t);
    };
    // A zero deadline would make every ticket overdue the moment it is
    // written: a typo, not a policy.
    let positive = |v: &Option<Spanned<u64>>, key: &str, default: u64| match v {
        Some(s) if *s.get_ref() == 0 => Err(at.kind(
            s,
            format!("key `tickets.{key}`: must be above 0"),
            Reason::AtLeast(1),
        )),
        Some(s) => Ok(*s.get_ref()),
        None => Ok(default),
    };
    t.first_response_minutes = positive(
        &raw.first_response_minutes,
        "first_response_minutes",
        t.first_response_minutes,
    )?;
    if let Some(r) = &raw.resolution_hours {
        let fields = [
            (&r.critical, "critical"),
            (&r.high, "high"),
            (&r.medium, "medium"),
            (&r.low, "low"),
        ];
        for (i, (v, name)) in fields.into_iter().enumerate() {
            t.resolution_hours[i] = positive(
                v,
                &format!("resolution_hours.{name}"),
                t.resolution_hours[i],
            )?;
        }
    }
    if let Some(e) = &raw.escalation_hours {
        let fields = [
            (&e.level1, "level1"),
            (&e.level2, "level2"),
            (&e.level3, "level3"),
        ];
        for (i, (v, name)) in fields.into_iter().enumerate() {
            t.escalation_hours[i] = positive(
                v,
                &format!("escalation_hours.{name}"),
                t.escalation_hours[i],
            )?;
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    fn parse(extra: &str) -> Result<crate::Config, crate::ConfigError> {
        crate::Config::parse(&format!("{}\n{extra}", crate::DEFAULT_TOML), "t.toml")
    }

    #[test]
    fn tickets_default_to_peruris_deadlines() {
        let t = parse("").unwrap().tickets;
        assert_eq!(t.first_response_minutes, 15);
        assert_eq!(t.resolution_hours, [8, 12, 24, 48]);
        assert_eq!(t.escalation_hours, [24, 72, 168]);
    }

    #[test]
    fn tickets_read_back_what_is_set_and_keep_the_rest() {
        let t = parse(
            "[tickets]\nfirst_response_minutes = 30\nresolution_hours = { high = 10, low = 72 }\n",
        )
        .unwrap()
        .tickets;
        assert_eq!(t.first_response_minutes, 30);
        assert_eq!(t.resolution_hours, [8, 10, 24, 72]);
        let t = parse("[tickets.escalation_hours]\nlevel2 = 96\n")
            .unwrap()
            .tickets;
        assert_eq!(t.escalation_hours, [24, 96, 168]);
    }

    #[test]
    fn tickets_errors_name_line_and_key() {
        let cases = [
            (
                "[tickets]\nfirst_response_minutes = 0\n",
                2,
                "tickets.first_response_minutes",
            ),
            (
                "[tickets]\n\n[tickets.resolution_hours]\nmedium = 0\n",
                4,
                "tickets.resolution_hours.medium",
            ),
            (
                "[tickets]\nescalation_hours = { level1 = 24, level3 = 0 }\n",
                2,
                "tickets.escalation_hours.level3",
            ),
        ];
        for (text, line, key) in cases {
            let e = parse(text).unwrap_err().to_string();
            let line = crate::DEFAULT_TOML.lines().count() + 1 + line;
            let want = format!("t.toml:{line}: key `{key}`");
            assert!(e.starts_with(&want), "{e} / {want}");
        }
        let e = parse("[tickets]\nresolution_hours = { urgent = 4 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("urgent"), "{e}");
        let e = parse("[tickets]\nescalation_hours = { level4 = 4 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("level4"), "{e}");
    }
}
