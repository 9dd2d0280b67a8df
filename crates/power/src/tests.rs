//! The policy on virtual time: every test drives it with readings shaped
//! like upsd's and checks the events and steps, in order.

use super::*;

fn settings() -> Settings {
    Settings {
        shutdown_runtime: Duration::from_secs(300),
        grace: Duration::from_secs(60),
        required_runtime: Duration::from_secs(8 * 3600),
        step_timeout: Duration::from_secs(30),
    }
}

fn reading(status: &str, charge: f64, runtime: u64) -> Reading {
    let charge = charge.to_string();
    let runtime = runtime.to_string();
    Reading::from_vars([
        ("ups.status", status),
        ("battery.charge", charge.as_str()),
        ("battery.runtime", runtime.as_str()),
        ("input.voltage", "230.0"),
        ("ups.load", "25"),
    ])
}

fn drain(p: &mut Policy) -> Vec<Output> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn kinds(out: &[Output]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Output::Event(e) => e.kind.as_str().to_string(),
            Output::Step(s) => format!("step:{s:?}"),
        })
        .collect()
}

/// Eight hours at the current load from a full battery: no warning.
const HEALTHY: u64 = 8 * 3600 + 600;

#[test]
fn parses_status_flags_and_numbers() {
    let r = Reading::from_vars([
        ("ups.status", "OB LB DISCHRG FSD"),
        ("battery.charge", "8"),
        ("battery.runtime", "60"),
        ("input.voltage", "0.0"),
        ("ups.load", "x"),
    ]);
    assert!(r.flags.on_battery && r.flags.low_battery && r.flags.discharging);
    assert!(r.flags.forced_shutdown && !r.flags.on_line && !r.flags.charging);
    assert_eq!(r.runtime, Some(Duration::from_secs(60)));
    assert_eq!(r.load, None, "a value that does not parse is left out");
    assert_eq!(r.input_voltage, Some(0.0));
    // 60 s at 8 % would be 750 s from a full battery.
    assert_eq!(r.full_runtime_estimate(), Some(Duration::from_secs(750)));
}

#[test]
fn on_line_start_is_quiet_and_on_battery_is_an_alarm() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OL CHRG", 100.0, HEALTHY));
    assert!(drain(&mut p).is_empty());
    p.handle_reading(
        t + Duration::from_secs(5),
        reading("OB DISCHRG", 90.0, 30_000),
    );
    let out = drain(&mut p);
    assert_eq!(kinds(&out), ["on_battery"]);
    assert!(EventKind::OnBattery.is_alarm());
    assert_eq!(p.phase(), Phase::Normal, "on battery alone is no shutdown");
    let snap = p.snapshot(t + Duration::from_secs(65));
    assert_eq!(snap.on_battery_seconds, Some(60));
    assert!(snap.problems.iter().any(|s| s.starts_with("on battery")));
}

#[test]
fn low_battery_runs_the_whole_order() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OL", 100.0, HEALTHY));
    p.handle_active_calls(t, 3);
    p.handle_reading(t, reading("OB DISCHRG", 60.0, 600));
    p.handle_reading(t, reading("OB LB DISCHRG", 8.0, 60));
    let out = drain(&mut p);
    assert_eq!(
        kinds(&out),
        [
            "on_battery",
            "runtime_short",
            "low_battery",
            "shutdown_started",
            "step:CloseIntake"
        ]
    );
    p.handle_step_done(t, Step::CloseIntake, Ok(()));
    assert_eq!(kinds(&drain(&mut p)), ["intake_closed"]);
    // Calls still up: the grace period runs to its end.
    p.handle_active_calls(t + Duration::from_secs(10), 1);
    assert!(drain(&mut p).is_empty());
    assert_eq!(p.poll_timeout(), Some(t + Duration::from_secs(60)));
    p.handle_timeout(t + Duration::from_secs(60));
    assert_eq!(kinds(&drain(&mut p)), ["step:StopPbx"]);
    // Power back now changes nothing: pbxd is being stopped.
    p.handle_reading(t + Duration::from_secs(61), reading("OL CHRG", 9.0, 70));
    let out = kinds(&drain(&mut p));
    assert!(
        !out.iter()
            .any(|k| k.contains("cancel") || k.contains("Reopen")),
        "{out:?}"
    );
    p.handle_step_done(t + Duration::from_secs(62), Step::StopPbx, Ok(()));
    assert_eq!(kinds(&drain(&mut p)), ["pbx_stopped", "step:StopDaemons"]);
    p.handle_step_done(t + Duration::from_secs(63), Step::StopDaemons, Ok(()));
    assert_eq!(kinds(&drain(&mut p)), ["daemons_stopped", "step:PowerOff"]);
    p.handle_step_done(t + Duration::from_secs(63), Step::PowerOff, Ok(()));
    assert_eq!(kinds(&drain(&mut p)), ["power_off"]);
    assert_eq!(p.phase(), Phase::Off);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn no_calls_left_ends_the_grace_early() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OL", 100.0, HEALTHY));
    p.handle_active_calls(t, 2);
    p.handle_reading(t, reading("OB", 50.0, 200));
    drain(&mut p);
    assert_eq!(p.phase(), Phase::Draining);
    p.handle_active_calls(t + Duration::from_secs(3), 0);
    assert!(
        drain(&mut p).is_empty(),
        "waits for pbxd to confirm intake closed"
    );
    p.handle_step_done(t + Duration::from_secs(3), Step::CloseIntake, Ok(()));
    assert_eq!(kinds(&drain(&mut p)), ["intake_closed", "step:StopPbx"]);
}

#[test]
fn runtime_under_threshold_triggers_and_power_back_cancels() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OL", 100.0, HEALTHY));
    p.handle_active_calls(t, 1);
    p.handle_reading(t, reading("OB DISCHRG", 40.0, 299));
    let out = kinds(&drain(&mut p));
    assert!(
        out.ends_with(&["shutdown_started".into(), "step:CloseIntake".into()]),
        "{out:?}"
    );
    p.handle_reading(t + Duration::from_secs(20), reading("OL CHRG", 41.0, 400));
    assert_eq!(
        kinds(&drain(&mut p)),
        ["on_line", "shutdown_cancelled", "step:ReopenIntake"]
    );
    assert_eq!(p.phase(), Phase::Normal);
    assert_eq!(p.poll_timeout(), None);
    p.handle_step_done(t, Step::ReopenIntake, Ok(()));
    assert_eq!(kinds(&drain(&mut p)), ["intake_reopened"]);
    // A timeout that was armed before must not resurrect the shutdown.
    p.handle_timeout(t + Duration::from_secs(60));
    assert!(drain(&mut p).is_empty());
}

#[test]
fn forced_shutdown_even_on_line() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OL", 100.0, HEALTHY));
    p.handle_active_calls(t, 0);
    p.handle_reading(t, reading("OL FSD", 100.0, HEALTHY));
    assert_eq!(
        kinds(&drain(&mut p)),
        ["forced_shutdown", "shutdown_started", "step:CloseIntake"]
    );
    // pbxd cannot be asked: the order goes on without waiting.
    p.handle_step_done(t, Step::CloseIntake, Err("pbxd was not running".into()));
    assert_eq!(kinds(&drain(&mut p)), ["step_failed", "step:StopPbx"]);
}

#[test]
fn lost_upsd_alarms_once_and_never_shuts_down() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OL", 100.0, HEALTHY));
    for i in 0..5 {
        p.handle_unreachable(t + Duration::from_secs(i), "connection refused");
        p.handle_timeout(t + Duration::from_secs(i));
    }
    let out = drain(&mut p);
    assert_eq!(kinds(&out), ["ups_unreachable"]);
    assert_eq!(p.phase(), Phase::Normal);
    assert!(p.snapshot(t).problems[0].contains("upsd unreachable"));
    p.handle_reading(t + Duration::from_secs(9), reading("OL", 100.0, HEALTHY));
    assert_eq!(kinds(&drain(&mut p)), ["ups_reachable"]);
}

#[test]
fn a_step_that_hangs_does_not_stop_the_order() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_active_calls(t, 0);
    p.handle_reading(t, reading("OB LB", 5.0, 30));
    p.handle_step_done(t, Step::CloseIntake, Ok(()));
    drain(&mut p);
    assert_eq!(p.phase(), Phase::StoppingPbx);
    p.handle_timeout(t + Duration::from_secs(30));
    assert_eq!(kinds(&drain(&mut p)), ["step_failed", "step:StopDaemons"]);
    p.handle_step_done(t, Step::StopDaemons, Err("exit status 1".into()));
    assert_eq!(kinds(&drain(&mut p)), ["step_failed", "step:PowerOff"]);
}

#[test]
fn runtime_against_the_eight_hour_requirement() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    // 4 h at 50 % charge is 8 h from full: fine.
    p.handle_reading(t, reading("OL CHRG", 50.0, 4 * 3600));
    assert!(drain(&mut p).is_empty());
    // The load grew: 3 h at 50 % is 6 h from full.
    p.handle_reading(t, reading("OL CHRG", 50.0, 3 * 3600));
    let out = drain(&mut p);
    assert_eq!(kinds(&out), ["runtime_short"]);
    let Output::Event(e) = &out[0] else { panic!() };
    assert!(
        e.detail.contains("6.0 h") && e.detail.contains("8 h"),
        "{}",
        e.detail
    );
    assert!(p.snapshot(t).problems[0].contains("PWR-1"));
    p.handle_reading(t, reading("OL", 100.0, 9 * 3600));
    assert_eq!(kinds(&drain(&mut p)), ["runtime_ok"]);
    assert!(p.snapshot(t).problems.is_empty());
}

#[test]
fn a_driver_still_starting_is_no_news() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("WAIT", 0.0, 0));
    p.handle_reading(t, reading("OL", 100.0, HEALTHY));
    assert!(drain(&mut p).is_empty(), "no on_line event after WAIT");
}

#[test]
fn snapshot_serialises_for_the_control_socket() {
    let t = Instant::now();
    let mut p = Policy::new(settings());
    p.handle_reading(t, reading("OB DISCHRG", 60.0, 600));
    let v = serde_json::to_value(p.snapshot(t)).unwrap();
    assert_eq!(v["phase"], "normal");
    assert_eq!(v["reading"]["runtime"], 600);
    assert_eq!(v["reading"]["status"], "OB DISCHRG");
}
