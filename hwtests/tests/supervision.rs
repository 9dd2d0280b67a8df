//! Live monitoring (REC-3) with baresip phones: 1001 (440 Hz) calls 1002
//! (1000 Hz); a supervisor on 1003 (1700 Hz) dials `*90` + 1002 and the
//! PIN, listens, then presses 5 to whisper to 1002 and 6 to barge in, then
//! hangs up. What each phone heard in each phase is checked: listening is
//! inaudible to both parties, a whisper reaches the officer only, barging
//! reaches both, and after the supervisor leaves the call is as before.
//! The call's record names the supervisor for each mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use hwtests::baresip::{sample_at, tone_levels, tone_wav, Baresip};
use hwtests::Dering;

/// Amplitudes of `tones` in what a phone heard between `from` and `to`,
/// given when its call was established.
fn levels(
    heard: &[i16],
    established: Instant,
    from: Instant,
    to: Instant,
    tones: &[u32],
) -> Vec<f64> {
    tone_levels(
        heard,
        sample_at(established, from),
        sample_at(established, to),
        tones,
    )
}

const HEARD: f64 = 2000.0;
const SILENT: f64 = 1000.0;

#[test]
fn supervisor_listens_whispers_and_barges_in_and_the_record_says_who() {
    let d = Dering::start();
    let tones = [440u32, 1000, 1700];
    let mut caller = Baresip::start(&d, "1001", false, &tone_wav(d.dir(), 440, 60));
    let mut officer = Baresip::start(&d, "1002", true, &tone_wav(d.dir(), 1000, 60));
    let mut sup = Baresip::start(&d, "1003", false, &tone_wav(d.dir(), 1700, 60));
    d.wait_registered(3);
    caller.dial(&d, "1002");
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let caller_up = Instant::now();
    officer.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let officer_up = Instant::now();

    sup.dial(&d, "*901002");
    sup.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let sup_up = Instant::now();
    std::thread::sleep(Duration::from_millis(800));
    sup.keys("1357#");
    let phase = Duration::from_secs(4);
    let settle = Duration::from_millis(1000);
    let listen = Instant::now();
    std::thread::sleep(phase);
    sup.keys("5");
    let whisper = Instant::now();
    std::thread::sleep(phase);
    sup.keys("6");
    let barge = Instant::now();
    std::thread::sleep(phase);
    sup.command("hangup", "");
    sup.wait_event("CALL_CLOSED", Duration::from_secs(10));
    let after = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(10));
    officer.wait_event("CALL_CLOSED", Duration::from_secs(10));
    let end = Instant::now();

    let (c, o, s) = (caller.heard(), officer.heard(), sup.heard());
    let phases = [
        ("listen", listen, whisper),
        ("whisper", whisper, barge),
        ("barge", barge, after),
        ("after", after, end),
    ];
    for (name, from, to) in phases {
        let (from, to) = (from + settle, to - Duration::from_millis(300));
        let lc = levels(&c, caller_up, from, to, &tones);
        let lo = levels(&o, officer_up, from, to, &tones);
        // The parties always hear each other.
        assert!(lc[1] > HEARD, "{name}: caller lost the officer: {lc:?}");
        assert!(lo[0] > HEARD, "{name}: officer lost the caller: {lo:?}");
        let (caller_hears_sup, officer_hears_sup) = match name {
            "listen" | "after" => (false, false),
            "whisper" => (false, true),
            _ => (true, true),
        };
        assert_eq!(lc[2] > HEARD, caller_hears_sup, "{name}: caller {lc:?}");
        assert_eq!(lo[2] > HEARD, officer_hears_sup, "{name}: officer {lo:?}");
        if !caller_hears_sup {
            assert!(lc[2] < SILENT, "{name}: caller {lc:?}");
        }
        if !officer_hears_sup {
            assert!(lo[2] < SILENT, "{name}: officer {lo:?}");
        }
        if name != "after" {
            let ls = levels(&s, sup_up, from, to, &tones);
            assert!(ls[0] > HEARD && ls[1] > HEARD, "{name}: supervisor {ls:?}");
            assert!(ls[2] < SILENT, "{name}: supervisor hears itself {ls:?}");
        }
    }

    // The watched call's record names the supervisor for each mode.
    let calls = d.ended_calls(2);
    let watched = calls.iter().find(|c| c["callee"] == "1002").unwrap();
    let events = d.call_events(watched["uuid"].as_str().unwrap(), "monitor");
    assert_eq!(
        events,
        [
            "listen by Supervisor Demo",
            "whisper by Supervisor Demo",
            "barge by Supervisor Demo"
        ]
    );
    assert_eq!(watched["hangup_by"], "caller", "{watched}");
}

#[test]
fn wrong_pin_or_an_idle_extension_gets_a_spoken_refusal_and_a_hang_up() {
    let d = Dering::start();
    let mut sup = Baresip::start(&d, "1003", false, &tone_wav(d.dir(), 1700, 60));
    d.wait_registered(1);
    // The right PIN, but 1009 is on no call.
    sup.dial(&d, "*921009");
    sup.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(800));
    sup.keys("1357#");
    sup.wait_event("CALL_CLOSED", Duration::from_secs(15));
    // A PIN nobody has, three times.
    sup.dial(&d, "*901001");
    sup.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(800));
        sup.keys("9999#");
    }
    sup.wait_event("CALL_CLOSED", Duration::from_secs(20));
    let calls = d.ended_calls(2);
    assert_eq!(calls.len(), 2, "{calls:?}");
    for c in &calls {
        assert_eq!(c["hangup_by"], "system", "{c}");
        assert_eq!(c["callee_name"], "monitoring", "{c}");
    }
    assert!(d.log().contains("nothing to monitor"));
    assert!(d.log().contains("wrong PIN"));
}

/// The supervisor desktop's `dering listen 1003 2001` (agent 2001, logged
/// in at 1002): the box rings the supervisor's phone (1003, answering by
/// itself) and, once it answers, it hears both parties of 1002's call
/// while neither hears it. The
/// record says the control socket listened. An extension on no call is
/// refused.
#[test]
fn listen_from_the_control_socket_rings_the_supervisor() {
    let d = Dering::start();
    let tones = [440u32, 1000, 1700];
    let mut caller = Baresip::start(&d, "1001", false, &tone_wav(d.dir(), 440, 60));
    let mut officer = Baresip::start(&d, "1002", true, &tone_wav(d.dir(), 1000, 60));
    let mut sup = Baresip::start(&d, "1003", true, &tone_wav(d.dir(), 1700, 60));
    d.wait_registered(3);
    let idle = std::process::Command::new(hwtests::dering_bin())
        .args(["listen", "1003", "1004", "--data-dir"])
        .arg(d.dir())
        .output()
        .unwrap();
    assert!(!idle.status.success());
    caller.dial(&d, "1002");
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let caller_up = Instant::now();
    officer.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    // By the agent's ID: agent 2001 is logged in at 1002.
    d.agent_login("2001", "1002");
    d.json_lines(&["listen", "1003", "2001"]);
    sup.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let sup_up = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let end = Instant::now();
    sup.command("hangup", "");
    sup.wait_event("CALL_CLOSED", Duration::from_secs(10));
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(10));
    officer.wait_event("CALL_CLOSED", Duration::from_secs(10));
    let from = sup_up + Duration::from_millis(800);
    let ls = levels(&sup.heard(), sup_up, from, end, &tones);
    assert!(
        ls[0] > HEARD && ls[1] > HEARD && ls[2] < SILENT,
        "supervisor {ls:?}"
    );
    let lc = levels(&caller.heard(), caller_up, from, end, &tones);
    assert!(lc[1] > HEARD && lc[2] < SILENT, "caller {lc:?}");
    let calls = d.ended_calls(2);
    let watched = calls.iter().find(|c| c["callee"] == "1002").unwrap();
    let events = d.call_events(watched["uuid"].as_str().unwrap(), "monitor");
    assert_eq!(events, ["listen by control"]);
    let sup_call = calls.iter().find(|c| c["caller"] == "1003").unwrap();
    assert_eq!(sup_call["callee"], "*902001", "{sup_call}");
}
