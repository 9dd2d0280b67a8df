//! The UPS policy of the appliance (PWR-1..3), sans-IO like quinn-proto:
//! the shell feeds [`Policy::handle_reading`], [`Policy::handle_unreachable`],
//! [`Policy::handle_active_calls`] and [`Policy::handle_step_done`] with an
//! explicit `now`, calls [`Policy::handle_timeout`] at
//! [`Policy::poll_timeout`], and carries out what [`Policy::poll_output`]
//! returns: power events to store and publish, and shutdown steps.
//!
//! The shutdown order is fixed: close intake (pbxd stops taking calls),
//! let calls in progress finish for the grace period, stop pbxd (it hangs
//! up what is left, closes recordings and checkpoints SQLite), stop every
//! other daemon, then power off. Until pbxd is told to stop, power coming
//! back cancels the shutdown and reopens intake; after that the order runs
//! to the end. Losing upsd raises an alarm and never, by itself, shuts the
//! box down.

pub mod nut;
mod status;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use status::{Reading, UpsFlags};

/// The policy's settings (from `[power]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// On battery with less runtime than this: shut down.
    pub shutdown_runtime: Duration,
    /// How long calls may go on after intake closes.
    pub grace: Duration,
    /// What PWR-1 asks of the UPS at the current load.
    pub required_runtime: Duration,
    /// How long a shutdown step may take before the next one runs anyway.
    pub step_timeout: Duration,
}

/// Something that happened to the power, stored and published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    OnBattery,
    OnLine,
    LowBattery,
    ForcedShutdown,
    Bypass,
    Overload,
    ReplaceBattery,
    UpsUnreachable,
    UpsReachable,
    RuntimeShort,
    RuntimeOk,
    ShutdownStarted,
    ShutdownCancelled,
    IntakeClosed,
    IntakeReopened,
    PbxStopped,
    DaemonsStopped,
    PowerOff,
    StepFailed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OnBattery => "on_battery",
            EventKind::OnLine => "on_line",
            EventKind::LowBattery => "low_battery",
            EventKind::ForcedShutdown => "forced_shutdown",
            EventKind::Bypass => "bypass",
            EventKind::Overload => "overload",
            EventKind::ReplaceBattery => "replace_battery",
            EventKind::UpsUnreachable => "ups_unreachable",
            EventKind::UpsReachable => "ups_reachable",
            EventKind::RuntimeShort => "runtime_short",
            EventKind::RuntimeOk => "runtime_ok",
            EventKind::ShutdownStarted => "shutdown_started",
            EventKind::ShutdownCancelled => "shutdown_cancelled",
            EventKind::IntakeClosed => "intake_closed",
            EventKind::IntakeReopened => "intake_reopened",
            EventKind::PbxStopped => "pbx_stopped",
            EventKind::DaemonsStopped => "daemons_stopped",
            EventKind::PowerOff => "power_off",
            EventKind::StepFailed => "step_failed",
        }
    }

    /// Whether the NOC must act (an alarm) rather than take note.
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            EventKind::OnBattery
                | EventKind::LowBattery
                | EventKind::ForcedShutdown
                | EventKind::Overload
                | EventKind::ReplaceBattery
                | EventKind::UpsUnreachable
                | EventKind::RuntimeShort
                | EventKind::ShutdownStarted
                | EventKind::StepFailed
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub detail: String,
}

/// A step of the shutdown order, for the shell to carry out and report
/// with [`Policy::handle_step_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// pbxd answers new calls with 503 and Retry-After.
    CloseIntake,
    /// Power came back in time: pbxd takes calls again.
    ReopenIntake,
    /// pbxd hangs up what is left, closes recordings, checkpoints, exits.
    StopPbx,
    /// Every other daemon stops.
    StopDaemons,
    /// The configured power-off command.
    PowerOff,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Event(Event),
    Step(Step),
}

/// Where the box is in the shutdown order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Normal,
    /// Intake closed; calls finish until the deadline (or none is left).
    Draining,
    StoppingPbx,
    StoppingDaemons,
    PoweringOff,
    Off,
}

/// A snapshot for health checks, SNMP and metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub phase: Phase,
    pub reachable: Option<bool>,
    pub reading: Option<Reading>,
    /// Seconds on battery, while on battery.
    pub on_battery_seconds: Option<u64>,
    /// Runtime a full battery would give at the current load, seconds.
    pub full_runtime_estimate_seconds: Option<u64>,
    /// Health warnings and alarms, each a sentence.
    pub problems: Vec<String>,
}

#[derive(Debug)]
pub struct Policy {
    settings: Settings,
    phase: Phase,
    /// When the current phase must give way to the next.
    deadline: Option<Instant>,
    reading: Option<Reading>,
    reachable: Option<bool>,
    on_battery_since: Option<Instant>,
    runtime_short: bool,
    active_calls: Option<usize>,
    /// pbxd confirmed that intake is closed (or said it could not).
    intake_closed: bool,
    out: VecDeque<Output>,
}

impl Policy {
    pub fn new(settings: Settings) -> Policy {
        Policy {
            settings,
            phase: Phase::Normal,
            deadline: None,
            reading: None,
            reachable: None,
            on_battery_since: None,
            runtime_short: false,
            active_calls: None,
            intake_closed: false,
            out: VecDeque::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn event(&mut self, kind: EventKind, detail: impl Into<String>) {
        self.out.push_back(Output::Event(Event {
            kind,
            detail: detail.into(),
        }));
    }

    /// A fresh reading from upsd. A reading that says neither on line nor
    /// on battery (a driver still starting says `WAIT`) is no news.
    pub fn handle_reading(&mut self, now: Instant, r: Reading) {
        if !r.flags.on_line && !r.flags.on_battery && !r.flags.forced_shutdown {
            return;
        }
        if self.reachable != Some(true) {
            if self.reachable == Some(false) {
                self.event(EventKind::UpsReachable, "upsd answers again");
            }
            self.reachable = Some(true);
        }
        let before = self.reading.as_ref().map(|r| r.flags).unwrap_or_default();
        let f = r.flags;
        let first = self.reading.is_none();
        // Flag edges become events; on the first reading only the alarming
        // states are reported (a box starting on mains power is no news).
        let rose = |flag: bool, was: bool| flag && (!was || first);
        if rose(f.on_battery, before.on_battery) {
            self.on_battery_since = Some(now);
            self.event(EventKind::OnBattery, r.describe());
        }
        if f.on_line && !before.on_line && !first {
            self.on_battery_since = None;
            self.event(EventKind::OnLine, r.describe());
        }
        if !f.on_battery {
            self.on_battery_since = None;
        }
        if rose(f.low_battery, before.low_battery) {
            self.event(EventKind::LowBattery, r.describe());
        }
        if rose(f.forced_shutdown, before.forced_shutdown) {
            self.event(EventKind::ForcedShutdown, r.describe());
        }
        if rose(f.bypass, before.bypass) {
            self.event(EventKind::Bypass, r.describe());
        }
        if rose(f.overload, before.overload) {
            self.event(EventKind::Overload, r.describe());
        }
        if rose(f.replace_battery, before.replace_battery) {
            self.event(EventKind::ReplaceBattery, r.describe());
        }
        let estimate = r.full_runtime_estimate();
        if let Some(est) = estimate {
            let short = est < self.settings.required_runtime;
            if short != self.runtime_short {
                self.runtime_short = short;
                let hours = est.as_secs_f64() / 3600.0;
                let required = self.settings.required_runtime.as_secs_f64() / 3600.0;
                if short {
                    self.event(
                        EventKind::RuntimeShort,
                        format!("a full battery lasts {hours:.1} h at the current load; PWR-1 requires {required:.0} h"),
                    );
                } else {
                    self.event(
                        EventKind::RuntimeOk,
                        format!("a full battery lasts {hours:.1} h at the current load"),
                    );
                }
            }
        }
        let trigger = self.trigger(&r);
        self.reading = Some(r);
        match (self.phase, trigger) {
            (Phase::Normal, Some(why)) => self.start_shutdown(now, why),
            (Phase::Draining, None) if f.on_line => self.cancel_shutdown(),
            _ => {}
        }
    }

    /// Why this reading calls for a shutdown, if it does.
    fn trigger(&self, r: &Reading) -> Option<String> {
        let f = r.flags;
        if f.forced_shutdown {
            return Some("forced shutdown (FSD) from the UPS".into());
        }
        if !f.on_battery {
            return None;
        }
        if f.low_battery {
            return Some("low battery".into());
        }
        match r.runtime {
            Some(rt) if rt < self.settings.shutdown_runtime => Some(format!(
                "runtime {} s under the {} s threshold",
                rt.as_secs(),
                self.settings.shutdown_runtime.as_secs()
            )),
            _ => None,
        }
    }

    fn start_shutdown(&mut self, now: Instant, why: String) {
        self.event(
            EventKind::ShutdownStarted,
            format!(
                "{why}; intake closes, calls get {} s",
                self.settings.grace.as_secs()
            ),
        );
        self.phase = Phase::Draining;
        self.deadline = Some(now + self.settings.grace);
        self.intake_closed = false;
        self.out.push_back(Output::Step(Step::CloseIntake));
    }

    fn cancel_shutdown(&mut self) {
        self.phase = Phase::Normal;
        self.deadline = None;
        self.event(
            EventKind::ShutdownCancelled,
            "power back before the deadline",
        );
        self.out.push_back(Output::Step(Step::ReopenIntake));
    }

    /// upsd cannot be reached or answered with an error.
    pub fn handle_unreachable(&mut self, _now: Instant, why: &str) {
        if self.reachable != Some(false) {
            self.reachable = Some(false);
            self.event(
                EventKind::UpsUnreachable,
                format!("{why}; no shutdown is ordered for this alone"),
            );
        }
    }

    /// pbxd's count of calls in progress; none left ends the grace early.
    pub fn handle_active_calls(&mut self, now: Instant, n: usize) {
        self.active_calls = Some(n);
        if self.phase == Phase::Draining && n == 0 && self.intake_closed {
            self.advance(now);
        }
    }

    /// The shell finished `step` (or gave up on it with `Err`).
    pub fn handle_step_done(&mut self, now: Instant, step: Step, result: Result<(), String>) {
        match step {
            Step::CloseIntake | Step::ReopenIntake => {
                match (step, &result) {
                    (Step::CloseIntake, Ok(())) => {
                        self.event(EventKind::IntakeClosed, "pbxd answers new calls with 503")
                    }
                    (_, Ok(())) => self.event(EventKind::IntakeReopened, "pbxd takes calls again"),
                    (s, Err(e)) => self.step_failed(s, e),
                }
                // Stopping pbxd waits for its intake to be closed, so no
                // call slips in between; a pbxd that cannot be asked is
                // not waited for.
                if step == Step::CloseIntake && self.phase == Phase::Draining {
                    self.intake_closed = true;
                    if result.is_err() || self.active_calls == Some(0) {
                        self.advance(now);
                    }
                }
                return;
            }
            _ => {}
        }
        let expected = match self.phase {
            Phase::StoppingPbx => Step::StopPbx,
            Phase::StoppingDaemons => Step::StopDaemons,
            Phase::PoweringOff => Step::PowerOff,
            _ => return,
        };
        if step != expected {
            return;
        }
        if let Err(e) = result {
            self.step_failed(step, &e);
        } else {
            let (kind, detail) = match step {
                Step::StopPbx => (
                    EventKind::PbxStopped,
                    "calls ended, recordings closed, database checkpointed",
                ),
                Step::StopDaemons => (EventKind::DaemonsStopped, "every daemon stopped"),
                _ => (EventKind::PowerOff, "power-off command ran"),
            };
            self.event(kind, detail);
        }
        self.advance(now);
    }

    fn step_failed(&mut self, step: Step, e: &str) {
        self.event(EventKind::StepFailed, format!("{step:?}: {e}"));
    }

    /// Moves to the next phase of the order and asks for its step.
    fn advance(&mut self, now: Instant) {
        let (next, step) = match self.phase {
            Phase::Draining => (Phase::StoppingPbx, Some(Step::StopPbx)),
            Phase::StoppingPbx => (Phase::StoppingDaemons, Some(Step::StopDaemons)),
            Phase::StoppingDaemons => (Phase::PoweringOff, Some(Step::PowerOff)),
            Phase::PoweringOff => (Phase::Off, None),
            Phase::Normal | Phase::Off => return,
        };
        self.phase = next;
        self.deadline = step.map(|_| now + self.settings.step_timeout);
        if let Some(s) = step {
            self.out.push_back(Output::Step(s));
        }
    }

    /// The deadline passed: the grace period ended or a step took too long
    /// (a step that hangs must not keep the box from powering off cleanly
    /// before the battery is empty).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            if self.phase != Phase::Draining {
                let step = match self.phase {
                    Phase::StoppingPbx => Step::StopPbx,
                    Phase::StoppingDaemons => Step::StopDaemons,
                    _ => Step::PowerOff,
                };
                self.step_failed(step, "timed out");
            }
            self.advance(now);
        }
    }

    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut problems = Vec::new();
        if self.reachable == Some(false) {
            problems.push("upsd unreachable: the UPS is not watched".to_string());
        }
        let est = self
            .reading
            .as_ref()
            .and_then(Reading::full_runtime_estimate);
        if let Some(r) = &self.reading {
            if r.flags.on_battery {
                problems.push(format!("on battery: {}", r.describe()));
            }
            if r.flags.replace_battery {
                problems.push("the UPS asks for its battery to be replaced".into());
            }
            if r.flags.overload {
                problems.push("the UPS is overloaded".into());
            }
        }
        if self.runtime_short {
            if let Some(e) = est {
                problems.push(format!(
                    "runtime at the current load is {:.1} h, under the {} h required (PWR-1)",
                    e.as_secs_f64() / 3600.0,
                    self.settings.required_runtime.as_secs() / 3600
                ));
            }
        }
        if self.phase != Phase::Normal {
            problems.push(format!("shutdown in progress: {:?}", self.phase));
        }
        Snapshot {
            phase: self.phase,
            reachable: self.reachable,
            reading: self.reading.clone(),
            on_battery_seconds: self
                .on_battery_since
                .map(|s| now.saturating_duration_since(s).as_secs()),
            full_runtime_estimate_seconds: est.map(|d| d.as_secs()),
            problems,
        }
    }
}

#[cfg(test)]
mod tests;
