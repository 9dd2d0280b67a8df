//! The UPS shutdown order against a real upsd with the dummy-ups driver
//! (PWR-1, PWR-2, PWR-3, MON-2): on battery is an alarm and nothing more;
//! low battery closes intake (new calls get 503 with Retry-After), lets
//! calls in progress finish for the grace time, stops pbxd (the leftover
//! call is ended by the system and recorded), stops the other daemons and
//! runs the power-off command last. Power back before the deadline cancels
//! it; a upsd that stops answering is an alarm, never a shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use hwtests::fragments::{uac_answered_then, uas_answer, wait_bye};
use hwtests::peers::{http_get, Upsd};
use hwtests::{callee, caller, ok, raw, Dering};

const MAINS: &str = "ups.status: OL\nbattery.charge: 100\nbattery.runtime: 36000\n";
const ON_BATTERY: &str = "ups.status: OB\nbattery.charge: 90\nbattery.runtime: 30000\n";
const LOW_BATTERY: &str = "ups.status: OB LB\nbattery.charge: 15\nbattery.runtime: 120\n";

/// A box watching `ups` every second, with `grace` seconds for calls
/// once intake closes, and a power-off command that writes down what it
/// found (the data directory's listing) instead of powering off.
fn box_on(ups: &Upsd, grace: u32, poweroff: &Path) -> Dering {
    std::fs::write(
        poweroff,
        format!(
            "#!/bin/sh\nls \"$1\" > {0}.tmp && mv {0}.tmp {0}\n",
            poweroff.with_extension("seen").display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(poweroff).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(poweroff, perms).unwrap();
    let args = [
        "--upsd".to_string(),
        ups.addr(),
        "--ups".into(),
        "sim".into(),
        "--ups-user".into(),
        "monuser".into(),
        "--ups-password".into(),
        "monpass".into(),
        // The power-off command lists the data directory.
        "--poweroff-command".into(),
        format!("{} @DATA@", poweroff.display()),
    ];
    let d = Dering::start_with_args(
        |t| {
            t.replace("poll_seconds = 2", "poll_seconds = 1")
                .replace("grace_seconds = 60", &format!("grace_seconds = {grace}"))
        },
        &args,
    );
    wait_ups_watched(&d);
    d
}

/// Waits until /health says powerd reads the UPS.
fn wait_ups_watched(d: &Dering) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let (_, body) = http_get(&d.http, "/health");
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        if h["ups"]["reachable"] == true {
            return h;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "powerd never read the UPS: {h}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Daemon `name`'s entry in a /health document.
fn daemon<'a>(h: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    h["daemons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("{h}"))
}

fn answered_call(d: &Dering) -> (hwtests::Sipp, hwtests::Sipp) {
    let uas = callee(d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(d, "1001", "1002", &uac_answered_then(&wait_bye()));
    d.wait_answered(1);
    (uac, uas)
}

#[test]
fn low_battery_drains_stops_in_order_and_powers_off_last() {
    let ups = Upsd::start(MAINS);
    let work = tempfile::tempdir().unwrap();
    let poweroff = work.path().join("poweroff");
    let mut d = box_on(&ups, 4, &poweroff);
    let (uac, uas) = answered_call(&d);

    // On battery with hours left: an alarm, the call goes on.
    ups.set(ON_BATTERY);
    d.wait_power_event("on_battery");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.running());
    assert_eq!(d.query("calls").len(), 1, "the call is still up");
    let (code, body) = http_get(&d.http, "/health");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["ups"]["on_battery"], true, "{h}");
    assert_eq!(code, 200, "on battery alone is not unhealthy: {h}");

    // Low battery: intake closes at once.
    ups.set(LOW_BATTERY);
    d.wait_power_event("intake_closed");
    let answer = raw::invite(&d, "1001", "1002").expect("no answer to a new INVITE");
    assert_eq!(answer.status(), Some(503), "{answer:?}");
    let retry: u32 = answer
        .get("Retry-After")
        .expect("503 without Retry-After")
        .trim()
        .parse()
        .unwrap();
    assert!(retry > 0);
    assert!(
        !poweroff.with_extension("seen").exists(),
        "powered off before the grace time"
    );

    // The call outlives nothing: at the deadline the system ends it, both
    // phones get a BYE, and the box powers off and exits.
    assert_eq!(d.wait_exit(Duration::from_secs(30)), Some(0), "{}", d.log());
    ok(uac, "caller", &d);
    ok(uas, "callee", &d);
    let seen = std::fs::read_to_string(poweroff.with_extension("seen"))
        .expect("the power-off command never ran");
    assert!(seen.contains("dering.db"), "{seen}");
    assert!(
        !seen.lines().any(|l| l == "pbxd.sock"),
        "pbxd was still running at power-off: {seen}"
    );

    let events = d.power_events();
    let order = [
        "on_battery",
        "low_battery",
        "shutdown_started",
        "intake_closed",
        "pbx_stopped",
        "daemons_stopped",
        "power_off",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| {
            events
                .iter()
                .position(|e| e == k)
                .unwrap_or_else(|| panic!("no {k} in {events:?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {events:?}"
    );
    let calls = d.query("cdr");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c["state"], "ended", "{c}");
    assert_eq!(c["disposition"], "answered", "{c}");
    assert_eq!(c["hangup_by"], "system", "{c}");
    assert!(c["hangup_cause"].as_str().unwrap().contains("power"), "{c}");
}

#[test]
fn power_back_before_the_deadline_cancels_the_shutdown() {
    let ups = Upsd::start(MAINS);
    let work = tempfile::tempdir().unwrap();
    let poweroff = work.path().join("poweroff");
    let mut d = box_on(&ups, 60, &poweroff);
    // A call holds the drain open (with none, low battery stops the box at
    // once, as upsmon would).
    let (_uac, _uas) = answered_call(&d);
    // A technician follows the box's event stream meanwhile.
    let events_out = d.dir().join("events.jsonl");
    // It follows on from the snapshot, so it misses nothing from here
    // however long it takes to subscribe.
    let mut follower = d.follow_events(std::fs::File::create(&events_out).unwrap());
    ups.set(LOW_BATTERY);
    d.wait_power_event("intake_closed");
    assert_eq!(
        raw::invite(&d, "1001", "1002").and_then(|m| m.status()),
        Some(503),
        "{}",
        d.log()
    );
    ups.set(MAINS);
    let events = d.wait_power_event("intake_reopened");
    assert!(
        events.iter().any(|e| e == "shutdown_cancelled"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e != "pbx_stopped"), "{events:?}");
    // Intake is open again: a new call meets the digest challenge, not 503.
    assert_eq!(
        raw::invite(&d, "1001", "1002").and_then(|m| m.status()),
        Some(407)
    );
    assert!(d.running());
    assert!(!poweroff.with_extension("seen").exists());
    let calls = d.query("calls");
    assert_eq!(calls.len(), 1, "the call went on: {calls:?}");
    assert_eq!(calls[0]["state"], "answered");

    // Every stored power event was published too, with intake's changes.
    let _ = follower.kill();
    let _ = follower.wait();
    let stream: Vec<serde_json::Value> = std::fs::read_to_string(&events_out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let power: Vec<&str> = stream
        .iter()
        .filter(|e| e["event"] == "power")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let stored = d.power_events();
    assert_eq!(power, stored.iter().map(String::as_str).collect::<Vec<_>>());
    let intake: Vec<bool> = stream
        .iter()
        .filter(|e| e["event"] == "intake")
        .map(|e| e["open"].as_bool().unwrap())
        .collect();
    assert_eq!(intake, [false, true], "{stream:?}");
}

#[test]
fn upsd_gone_is_an_alarm_not_a_shutdown() {
    let mut ups = Upsd::start(MAINS);
    let work = tempfile::tempdir().unwrap();
    let poweroff = work.path().join("poweroff");
    let d = box_on(&ups, 5, &poweroff);
    ups.kill_upsd();
    d.wait_power_event("ups_unreachable");
    let t = Instant::now();
    let (code, h) = loop {
        let (code, body) = http_get(&d.http, "/health");
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        if code == 503 || t.elapsed() > Duration::from_secs(15) {
            break (code, h);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 503, "{h}");
    let powerd = daemon(&h, "powerd");
    assert_eq!(powerd["ready"], false, "{h}");
    assert!(
        !powerd["reasons"].as_array().unwrap().is_empty(),
        "the reason is given: {h}"
    );
    // Calls are still taken.
    assert_eq!(
        raw::invite(&d, "1001", "1002").and_then(|m| m.status()),
        Some(407)
    );
    ups.start_upsd();
    d.wait_power_event("ups_reachable");
    wait_ups_watched(&d);
    let events = d.power_events();
    assert!(events.iter().all(|e| e != "shutdown_started"), "{events:?}");
    assert!(!poweroff.with_extension("seen").exists());
}

#[test]
fn runtime_short_of_eight_hours_is_a_health_warning() {
    // On mains, full, but the battery lasts 2 h at this load (PWR-1: 8 h).
    let ups = Upsd::start("ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 7200\n");
    let work = tempfile::tempdir().unwrap();
    let d = box_on(&ups, 60, &work.path().join("poweroff"));
    d.wait_power_event("runtime_short");
    let t = Instant::now();
    let (code, h) = loop {
        let (code, body) = http_get(&d.http, "/health");
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        let warned = h.to_string().contains("(PWR-1)");
        if warned || t.elapsed() > Duration::from_secs(15) {
            break (code, h);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let powerd = daemon(&h, "powerd");
    let reasons = powerd["reasons"].to_string();
    assert!(
        reasons.contains("2.0 h, under the 8 h required (PWR-1)"),
        "{h}"
    );
    // A warning: the box stays healthy and takes calls.
    assert_eq!(code, 200, "{h}");
    assert_eq!(powerd["ready"], true, "{h}");
    assert_eq!(h["ups"]["full_runtime_estimate_seconds"], 7200, "{h}");
    let (_, text) = http_get(&d.http, "/metrics");
    assert!(
        text.lines()
            .any(|l| l == "dering_ups_full_runtime_estimate_seconds 7200"),
        "{text}"
    );
}
