//! What upsd tells about a UPS: the `ups.status` flags and the numbers the
//! policy and the NOC use.

use std::time::Duration;

use serde::Serialize;

/// The `ups.status` flags NUT defines that matter here (docs/developer
/// guide, "Status data"); unknown tokens are kept in [`Reading::status`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpsFlags {
    /// OL
    pub on_line: bool,
    /// OB
    pub on_battery: bool,
    /// LB
    pub low_battery: bool,
    /// RB
    pub replace_battery: bool,
    /// CHRG
    pub charging: bool,
    /// DISCHRG
    pub discharging: bool,
    /// BYPASS
    pub bypass: bool,
    /// OVER
    pub overload: bool,
    /// FSD (set by upsd when the primary orders a forced shutdown)
    pub forced_shutdown: bool,
}

impl UpsFlags {
    pub fn parse(status: &str) -> UpsFlags {
        let mut f = UpsFlags::default();
        for t in status.split_ascii_whitespace() {
            match t {
                "OL" => f.on_line = true,
                "OB" => f.on_battery = true,
                "LB" => f.low_battery = true,
                "RB" => f.replace_battery = true,
                "CHRG" => f.charging = true,
                "DISCHRG" => f.discharging = true,
                "BYPASS" => f.bypass = true,
                "OVER" => f.overload = true,
                "FSD" => f.forced_shutdown = true,
                _ => {}
            }
        }
        f
    }
}

/// One reading of the UPS's variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reading {
    /// `ups.status` as upsd gave it.
    pub status: String,
    #[serde(skip)]
    pub flags: UpsFlags,
    /// `battery.charge`, percent.
    pub charge: Option<f64>,
    /// `battery.runtime`, at the current load.
    #[serde(serialize_with = "secs")]
    pub runtime: Option<Duration>,
    /// `input.voltage`, volts.
    pub input_voltage: Option<f64>,
    /// `ups.load`, percent of the UPS's rating.
    pub load: Option<f64>,
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

impl Reading {
    /// Builds a reading from upsd's `(name, value)` pairs (`LIST VAR`).
    /// Values that do not parse are left out, never guessed.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Reading {
        let mut r = Reading::default();
        let num = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite());
        for (k, v) in vars {
            match k {
                "ups.status" => {
                    r.status = v.trim().to_string();
                    r.flags = UpsFlags::parse(v);
                }
                "battery.charge" => r.charge = num(v),
                "battery.runtime" => {
                    r.runtime = num(v)
                        .filter(|x| *x >= 0.0)
                        .map(|x| Duration::from_secs(x as u64))
                }
                "input.voltage" => r.input_voltage = num(v),
                "ups.load" => r.load = num(v),
                _ => {}
            }
        }
        r
    }

    /// The runtime a full battery would give at the current load: the
    /// reported runtime scaled by the charge left (PWR-1 asks 8 hours).
    /// `None` when the scaled runtime is beyond what a `Duration` holds:
    /// upsd's number was nonsense, and is not guessed at.
    pub fn full_runtime_estimate(&self) -> Option<Duration> {
        let rt = self.runtime?;
        let charge = self.charge.filter(|c| *c >= 5.0)?;
        Duration::try_from_secs_f64(rt.as_secs_f64() * 100.0 / charge.min(100.0)).ok()
    }

    /// A short description for events and logs.
    pub fn describe(&self) -> String {
        let mut s = format!("status {}", self.status);
        if let Some(c) = self.charge {
            s += &format!(", charge {c:.0}%");
        }
        if let Some(r) = self.runtime {
            s += &format!(", runtime {} s", r.as_secs());
        }
        if let Some(v) = self.input_voltage {
            s += &format!(", input {v:.0} V");
        }
        if let Some(l) = self.load {
            s += &format!(", load {l:.0}%");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/fuzz_targets/nut.rs): a runtime too large
    /// for a `Duration` once scaled to a full battery panicked powerd's
    /// policy (`Duration::from_secs_f64`) on what upsd sent.
    #[test]
    fn an_absurd_runtime_gives_no_estimate_instead_of_a_panic() {
        for runtime in ["1e30", "18446744073709551615", "1e300"] {
            let r = Reading::from_vars([
                ("ups.status", "OB"),
                ("battery.charge", "5"),
                ("battery.runtime", runtime),
            ]);
            assert_eq!(r.full_runtime_estimate(), None, "{runtime}");
        }
        let r = Reading::from_vars([("battery.charge", "50"), ("battery.runtime", "3600")]);
        assert_eq!(r.full_runtime_estimate(), Some(Duration::from_secs(7200)));
    }
}
