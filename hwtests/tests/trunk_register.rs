//! Carrier trunks against a real registrar (issue 13): kamailio with
//! digest auth (`../shared/peers/kamailio-auth.cfg`, password "demo-" +
//! user) plays the carrier. The box registers and re-registers (read from
//! kamailio's own location table), a revoked password raises the alarm and
//! stops hammering (REGISTERs counted in kamailio's log), a carrier that
//! cannot be reached is shown down, and `dering trunks` says each truthfully.
//! A citizen's call to the account's number, routed by kamailio to the
//! box's registered contact, is the trunk's call and reaches the 137 flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hwtests::fragments::uac_media_and_bye;
use hwtests::{credentials, free_udp_port, ok, require, scenario, wait_bound, Dering, Sipp};

/// kamailio on `port` with its control socket in `dir`, in a process
/// group of its own (it forks workers), stopped with the group on drop.
struct Kamailio {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Kamailio {
    fn start(port: u16) -> Kamailio {
        require("kamailio");
        require("kamcmd");
        let dir = tempfile::tempdir().unwrap();
        let cfg = std::fs::read_to_string(hwtests::workspace().join("../shared/peers/kamailio-auth.cfg"))
            .expect("../shared/peers/kamailio-auth.cfg")
            .replace("udp:127.0.0.1:5070", &format!("udp:127.0.0.1:{port}"))
            .replace(
                "/tmp/peers/kamailio/kamailio_auth_ctl",
                &dir.path().join("ctl").display().to_string(),
            )
            // Every REGISTER in the log, to count what the box sends.
            .replace(
                "  if (is_method(\"REGISTER\")) {\n",
                "  if (is_method(\"REGISTER\")) {\n    xlog(\"L_ERR\", \"REGISTER from $fU cseq $cs\\n\");\n",
            );
        let path = dir.path().join("kamailio.cfg");
        std::fs::write(&path, cfg).unwrap();
        use std::os::unix::process::CommandExt;
        let child = Command::new("kamailio")
            .process_group(0)
            .arg("-f")
            .arg(&path)
            .arg("-P")
            .arg(dir.path().join("k.pid"))
            .arg("-Y")
            .arg(dir.path())
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("kamailio.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        wait_bound(port, Duration::from_secs(10));
        Kamailio {
            child: Some(child),
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// REGISTERs from `user` kamailio has received (retransmissions
    /// included: each is a request the carrier had to handle).
    fn registers_from(&self, user: &str) -> usize {
        let needle = format!("REGISTER from {user} ");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// kamailio's location table (`ul.dump`).
    fn location(&self) -> String {
        let out = Command::new("kamcmd")
            .arg("-s")
            .arg(format!("unix:{}", self.dir.path().join("ctl").display()))
            .arg("ul.dump")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The CSeq of `user`'s binding in the location table.
    fn cseq_of(&self, user: &str) -> Option<u64> {
        let dump = self.location();
        let at = dump.find(&format!("AoR: {user}\n"))?;
        let rest = &dump[at..];
        let c = rest.find("CSeq:")?;
        rest[c + 5..].split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let t = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }
}

/// The DERING-MIB's subtree (placeholder enterprise number, decision 0004).
const DERING: &str = ".1.3.6.1.4.1.99999";

fn trunks(d: &Dering) -> Vec<serde_json::Value> {
    d.json_lines(&["trunks", "--json"])
}

fn trunk(d: &Dering, name: &str) -> serde_json::Value {
    trunks(d)
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no trunk {name} in dering trunks"))
}

/// Waits (at most `limit`) until `ok` holds.
fn wait_until(what: &str, limit: Duration, d: &Dering, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < limit,
            "{what} not within {limit:?}\n--- pbxd log ---\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn trunk_section(name: &str, body: &str) -> String {
    format!("\n[[trunk]]\nname = \"{name}\"\nenabled = true\n{body}")
}

#[test]
fn registered_failing_and_down_trunks_are_told_truthfully() {
    let k_port = free_udp_port();
    let closed = free_udp_port();
    let kam = Kamailio::start(k_port);
    let snmp = hwtests::peers::Snmp::start();
    let d = Dering::start_with_args(
        |t| {
            let mut t = t;
            t.push_str(&trunk_section(
            "carrier",
            &format!(
                "kind = \"register\"\nhost = \"127.0.0.1\"\nport = {k_port}\nusername = \"3001\"\npassword = \"demo-3001\"\nexpires = 60\nkeepalive_seconds = 10\n"
            ),
        ));
            t.push_str(&trunk_section(
            "revoked",
            &format!(
                "kind = \"register\"\nhost = \"127.0.0.1\"\nport = {k_port}\nusername = \"3002\"\npassword = \"not-the-password\"\nexpires = 60\nkeepalive_seconds = 0\n"
            ),
        ));
            // Nobody listens at `closed`: every OPTIONS over TCP is refused.
            t.push_str(&trunk_section(
            "silent",
            &format!(
                "kind = \"ip\"\nhost = \"127.0.0.1\"\nport = {closed}\ntransport = \"tcp\"\naddresses = [\"127.0.0.9/32\"]\nkeepalive_seconds = 10\n"
            ),
        ));
            t
        },
        &["--agentx".to_string(), snmp.agentx()],
    );

    // Registered: in kamailio's location table and in `dering trunks`.
    wait_until(
        "3001 in kamailio's location table",
        Duration::from_secs(15),
        &d,
        || kam.cseq_of("3001").is_some(),
    );
    wait_until(
        "the carrier trunk registered",
        Duration::from_secs(5),
        &d,
        || trunk(&d, "carrier")["registered"] == true,
    );
    let first = kam.cseq_of("3001").unwrap();

    // The silent carrier is down (refused connections count as misses).
    wait_until("the silent trunk down", Duration::from_secs(30), &d, || {
        trunk(&d, "silent")["health"] == "down"
    });
    let silent = trunk(&d, "silent");
    assert_eq!(silent["registered"], serde_json::Value::Null, "{silent}");
    assert_eq!(silent["why"], "no answer to OPTIONS", "{silent}");

    // Re-registered before the 60 s run out: a later CSeq in the table.
    wait_until("3001 re-registered", Duration::from_secs(60), &d, || {
        kam.cseq_of("3001").is_some_and(|c| c > first)
    });
    let carrier = trunk(&d, "carrier");
    assert_eq!(carrier["registered"], true, "{carrier}");
    assert_eq!(
        carrier["health"], "up",
        "kamailio answers OPTIONS (405): {carrier}"
    );
    assert_eq!(carrier["alarm"], false, "{carrier}");

    // The revoked password: the alarm, then silence.
    wait_until(
        "the revoked trunk's alarm",
        Duration::from_secs(120),
        &d,
        || trunk(&d, "revoked")["alarm"] == true,
    );
    let revoked = trunk(&d, "revoked");
    assert_eq!(revoked["registered"], false, "{revoked}");
    assert!(
        revoked["why"]
            .as_str()
            .unwrap()
            .contains("authentication failed"),
        "{revoked}"
    );
    assert!(
        kam.cseq_of("3002").is_none(),
        "never registered:\n{}",
        kam.location()
    );
    let sent = kam.registers_from("3002");
    assert!(
        (2..=12).contains(&sent),
        "a bounded number of REGISTERs (3 challenged tries), got {sent}"
    );
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        kam.registers_from("3002"),
        sent,
        "no REGISTER after the alarm"
    );
    let log = d.log();
    assert!(log.contains("alarm raised"), "{log}");

    // /metrics says the same (webd asks pbxd through dering-health).
    let (code, metrics) = hwtests::peers::http_get(&d.http, "/metrics");
    assert_eq!(code, 200, "{metrics}");
    for line in [
        "dering_trunk_registered{trunk=\"carrier\"} 1",
        "dering_trunk_alarm{trunk=\"revoked\"} 1",
        "dering_trunk_up{trunk=\"silent\"} 0",
        "dering_trunk_up{trunk=\"carrier\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in\n{metrics}"
        );
    }

    // The NOC hears of both: deringNotifyTrunkAlarm for the trunk in
    // alarm and the one down, and the MIB's trunk table has every trunk.
    let trap = format!("{DERING}.0.8");
    wait_until("the trunk-alarm traps", Duration::from_secs(60), &d, || {
        let traps = snmp.traps();
        traps.contains(&trap) && traps.contains("\"revoked\"") && traps.contains("\"silent\"")
    });
    let traps = snmp.traps();
    assert!(
        !traps.contains("\"carrier\""),
        "the registered trunk raised nothing: {traps}"
    );
    let names: Vec<String> = snmp
        .walk(&format!("{DERING}.1.6.1.1.2"))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    for name in ["demo", "carrier", "revoked", "silent"] {
        assert!(
            names.iter().any(|v| v.contains(&format!("\"{name}\""))),
            "{name} in the MIB's trunk table: {names:?}"
        );
    }

    // The human view says the same.
    let out = Command::new(hwtests::dering_bin())
        .args(["trunks", "--data-dir"])
        .arg(d.dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_string()
    };
    assert!(line("carrier ").contains(" yes "), "{text}");
    assert!(line("revoked ").contains("no (alarm)"), "{text}");
    assert!(line("silent ").contains(" down "), "{text}");
    assert!(
        line("demo ").contains(" off "),
        "the demo's trunk is off: {text}"
    );
}

/// The trunk's account at the carrier, the agency's number: a citizen
/// dials it and the carrier calls the box's registered contact.
const ACCOUNT: &str = "0215550137";

#[test]
fn a_call_to_the_registered_account_reaches_the_137_flow() {
    let k_port = free_udp_port();
    let kam = Kamailio::start(k_port);
    let d = Dering::start_with(|t| {
        let mut t = t;
        t.push_str(&trunk_section(
            "carrier",
            &format!(
                "kind = \"register\"\nhost = \"127.0.0.1\"\nport = {k_port}\nusername = \"{ACCOUNT}\"\npassword = \"demo-{ACCOUNT}\"\nexpires = 60\nkeepalive_seconds = 0\n"
            ),
        ));
        // The account's number is one more DID of the 137 flow.
        t.push_str(&format!(
            "\n[[did]]\nnumber = \"{ACCOUNT}\"\nflow = \"layanan-pengaduan\"\n"
        ));
        t
    });
    wait_until(
        "the account in kamailio's location table",
        Duration::from_secs(15),
        &d,
        || kam.cseq_of(ACCOUNT).is_some(),
    );

    // The citizen, a subscriber of the carrier on an address of its own,
    // answers kamailio's challenge; kamailio then relays the INVITE from
    // its own address and port to the box's contact. A challenge from the
    // box, relayed back, would fail the scenario (one 407 only).
    let citizen = "081234567890";
    let sf = scenario(
        d.dir(),
        "uac.xml",
        &[(
            "AFTER_INVITE",
            &hwtests::fragments::uac_answered_then(&uac_media_and_bye()),
        )],
    );
    let mut args: Vec<String> = [
        "-sf",
        &sf.display().to_string(),
        &format!("127.0.0.1:{k_port}"),
        "-i",
        "127.0.0.2",
        "-p",
        &free_udp_port().to_string(),
        "-mi",
        "127.0.0.2",
        "-mp",
        &(free_udp_port() & !1).to_string(),
        "-s",
        ACCOUNT,
        "-key",
        "me",
        citizen,
        "-m",
        "1",
        "-timeout",
        "30",
    ]
    .map(String::from)
    .to_vec();
    args.extend(credentials(citizen));
    ok(
        Sipp::spawn(d.dir(), &args),
        &format!(
            "the citizen's call through kamailio\n--- kamailio ---\n{}",
            kam.log()
        ),
        &d,
    );

    let calls = d.ended_calls(1);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c["callee"], "+62215550137", "{c}");
    assert_eq!(c["caller"], "+6281234567890", "{c}");
    assert_eq!(c["disposition"], "answered", "{c}");
    let uuid = c["uuid"].as_str().unwrap();
    assert_eq!(d.call_events(uuid, "trunk"), ["carrier"], "{c}");
    let store = dering_store::Store::open(&d.dir().join("dering.db")).unwrap();
    let inbound = store
        .call_inbound(uuid)
        .unwrap()
        .expect("the call's numbers");
    assert_eq!(inbound.trunk.as_deref(), Some("carrier"));
    assert_eq!(inbound.callee_raw, ACCOUNT);
    // The flow spoke to the citizen and heard them.
    let media = d.media_counts(uuid);
    assert!(media["rtp_to_caller"] > 50, "{media:?}");
    assert!(media["rtp_from_caller"] > 50, "{media:?}");
}
