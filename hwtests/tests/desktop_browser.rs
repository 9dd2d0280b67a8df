//! The agent desktop in headless Chromium against a real box (issue 16):
//! agent 2001 logs in to the queues on the page at phone 1003; a sipp
//! caller who called before dials 137, presses 2 and waits in queue
//! `pengaduan`; the page pops the caller's number and that earlier call
//! while the agent's phone (a sipp UAS that holds back its 200) still
//! rings: the ACD journal has no answer yet. The agent saves a ticket
//! from the pop (linked to the call), ends the wrap-up with a code, and
//! the ticket reaches tools/simpel-sim through syncd, which `dering up
//! --simpel` runs; a not-ready dialled on the desk phone then shows on
//! the page. Screenshots go to `target/browser-artefacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hwtests::browser::{until, Browser};
use hwtests::fragments::*;
use hwtests::{callee, caller, free_udp_port, ok, phone, register, scenario, Dering};
use serde_json::Value;

const PASSWORD: &str = "Petugas2026";

fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| hwtests::workspace().join("target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{name} not built: run `cargo build -p simpel-sim` first (.ci/run builds every binary)"
    );
    p
}

/// The simulator without faults, on a free 127.0.0.1 port.
struct Sim {
    child: Child,
    addr: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(dir: &Path) -> Sim {
    let mut child = Command::new(bin("simpel-sim"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("sim.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("simpel-sim said {line:?}"))
        .to_string();
    Sim { child, addr }
}

/// The simulator's tickets (its admin side).
fn sim_tickets(addr: &str) -> Vec<Value> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /admin/tickets HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["tickets"].as_array().cloned().unwrap_or_default()
}

/// Agent account `login` (an agent ID of the configuration), written as
/// webd writes users.
fn add_agent(d: &Dering, login: &str) {
    let db = rusqlite::Connection::open(d.dir().join("dering.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO users (login, full_name, role, password_hash, totp_secret, totp_enabled, created_ms, updated_ms) \
         VALUES (?1, ?1, 'agent', ?2, NULL, 0, 0, 0)",
        rusqlite::params![login, webd::auth::password::hash(PASSWORD).unwrap()],
    )
    .unwrap();
}

fn count(d: &Dering, sql: &str, p: &str) -> i64 {
    let db = rusqlite::Connection::open(d.dir().join("dering.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.query_row(sql, [p], |r| r.get(0)).unwrap()
}

async fn agent_state(b: &Browser) -> Value {
    b.js("return document.getElementById('state').dataset.state")
        .await
}

/// The caller: answered by the 137 flow, presses 2 (the officer) after
/// the greeting, stays `after_ms`, hangs up.
fn press_2_then_bye(after_ms: u32) -> String {
    uac_answered_then(&format!(
        r#"  <pause milliseconds="3500"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_2.pcap"/></action></nop>
  <pause milliseconds="{after_ms}"/>
{}  <recv response="200" crlf="true"/>
"#,
        caller_request("BYE", 3)
    ))
}

/// The agent's desk phone: rings, holds its 200 back `ms`, answers, and
/// waits for the caller's BYE.
fn slow_answer(ms: u32) -> String {
    format!(
        "{}  <pause milliseconds=\"{ms}\"/>\n{}  <recv request=\"ACK\" crlf=\"true\"/>\n{}",
        reply("180 Ringing", true, None, RINGING_CONTACT),
        reply("200 OK", true, None, SDP_ANSWER).replacen("<send>", r#"<send retrans="500">"#, 1),
        wait_bye()
    )
}

#[test]
fn an_agent_sees_the_pop_before_answering_and_its_ticket_reaches_simpel() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path());
    let https = free_udp_port();
    // A wrap-up long enough that the agent, not the timer, ends it.
    let d = Dering::start_with_args(
        |t| t.replace("wrapup_seconds = 15", "wrapup_seconds = 120"),
        &[
            "--https-port".into(),
            https.to_string(),
            "--simpel".into(),
            format!("http://{}/api/v1", sim.addr),
        ],
    );
    add_agent(&d, "2001");

    // The caller's history: an earlier call from 1001 to 1002.
    let uas = callee(&d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
    let uac = caller(
        &d,
        "1001",
        "1002",
        &uac_answered_then(&format!(
            "{}  <recv response=\"200\" crlf=\"true\"/>\n",
            caller_request("BYE", 3)
        )),
    );
    ok(uac, "the earlier call", &d);
    ok(uas, "1002", &d);

    // Agent 2001's desk phone 1003, slow to answer.
    let port = free_udp_port();
    register(&d, "1003", port, 300);
    let sf = scenario(d.dir(), "uas.xml", &[("BEHAVIOUR", &slow_answer(12_000))]);
    let desk = phone(&d, &sf, port, &["-rtp_echo".to_string()]);
    hwtests::wait_bound(port, Duration::from_secs(10));

    let (number, uuid) = hwtests::browser::block_on(async {
        let b = Browser::start(&format!("https://127.0.0.1:{https}")).await;
        b.goto("/login?next=/desktop").await;
        b.fill("login", "2001").await;
        b.fill("password", PASSWORD).await;
        b.click("#submit").await;
        b.wait_path("/desktop").await;
        until(
            "the desktop feed never connected",
            Duration::from_secs(15),
            || async {
                b.js("return document.getElementById('feed').dataset.connected")
                    .await
                    == "true"
            },
        )
        .await;
        assert_eq!(agent_state(&b).await, "logged_out");

        // Log in to the queues on the page, as *71 would from the phone.
        b.fill("d-pin", "1234").await;
        b.fill("d-extension", "1003").await;
        b.click("#do-login").await;
        assert!(
            b.wait_text("#message").await.contains("Masuk antrean"),
            "{}",
            b.text("#message").await
        );
        until(
            "the agent never showed ready",
            Duration::from_secs(10),
            || async { agent_state(&b).await == "ready" },
        )
        .await;
        assert_eq!(b.text("#at-phone").await, "di telepon 1003");
        b.screenshot("desktop-ready").await;

        // The call: 137, option 2, queue pengaduan, offered to 2001.
        let uac = caller(&d, "1001", "137", &press_2_then_bye(22_000));
        until("no screen pop", Duration::from_secs(20), || async {
            b.text("#pop-caller").await == "1001"
        })
        .await;
        until(
            "the pop showed no history",
            Duration::from_secs(5),
            || async { b.text("#pop-history tbody").await.contains("1002") },
        )
        .await;
        let uuid = b
            .js("return document.getElementById('pop').dataset.uuid")
            .await
            .as_str()
            .unwrap()
            .to_owned();
        // All of that while the phone still rings: no answer journalled.
        assert_eq!(
            count(
                &d,
                "SELECT count(*) FROM acd_events WHERE kind = 'answered' AND call_uuid = ?1",
                &uuid
            ),
            0,
            "the pop came after the answer"
        );
        assert_eq!(
            b.js("return document.querySelector('#calls tbody tr').dataset.state")
                .await,
            "ringing"
        );
        assert!(b.text("#pop-service").await.contains("137"));
        // On the 1366×768 laptop the pop is in view without scrolling.
        assert_eq!(
            b.js(
                "const r = document.getElementById('pop-caller').getBoundingClientRect(); \
                 return r.top >= 0 && r.bottom <= window.innerHeight \
                 && document.documentElement.scrollWidth <= window.innerWidth;"
            )
            .await,
            true,
            "the pop is out of view"
        );
        b.screenshot("desktop-pop").await;

        // A ticket from the pop, already holding the number and the call.
        assert_eq!(
            b.js("return document.getElementById('t-phone').value")
                .await,
            "1001"
        );
        b.fill("t-name", "Siti Aminah").await;
        b.fill("t-description", "Izin usaha tertahan tiga bulan")
            .await;
        b.click("#t-save").await;
        let saved = b.wait_text("#t-result").await;
        assert!(saved.starts_with("Tiket tersimpan: "), "{saved}");
        let number = saved.trim_start_matches("Tiket tersimpan: ").to_owned();
        until(
            "the call was never answered",
            Duration::from_secs(20),
            || async { agent_state(&b).await == "on_call" },
        )
        .await;

        // The caller hangs up; the agent ends the wrap-up with a code.
        until(
            "no wrap-up after the call",
            Duration::from_secs(30),
            || async { agent_state(&b).await == "wrapup" },
        )
        .await;
        b.js("document.getElementById('d-wrapup').value = 'pengaduan'; return true;")
            .await;
        b.click("#do-wrapup").await;
        until(
            "the wrap-up was not recorded",
            Duration::from_secs(10),
            || async { b.text("#message").await.contains("Wrap-up dicatat") },
        )
        .await;
        until(
            "the agent is not ready again",
            Duration::from_secs(10),
            || async { agent_state(&b).await == "ready" },
        )
        .await;
        b.screenshot("desktop-after").await;
        ok(uac, "the caller", &d);

        // The phone and the page stay in step: *73 from the desk phone
        // shows on the page.
        ok(
            caller(&d, "1003", "*732", &uac_answered_then(&wait_bye())),
            "*732",
            &d,
        );
        until(
            "the phone's not-ready never showed",
            Duration::from_secs(10),
            || async { agent_state(&b).await == "not_ready" },
        )
        .await;
        b.close().await;
        (number, uuid)
    });
    ok(desk, "the agent's phone", &d);
    assert_eq!(
        count(
            &d,
            "SELECT count(*) FROM audit_log WHERE action = 'desktop.wrapup' AND target = 'call ' || ?1 \
             AND after LIKE '%\"code\":\"pengaduan\"%' AND login = '2001'",
            &uuid
        ),
        1
    );

    // syncd delivers the ticket; the simulator holds it once, linked.
    let t = Instant::now();
    let held = loop {
        let all = sim_tickets(&sim.addr);
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|h| h["external_ref"] == number.as_str())
            .collect();
        if !mine.is_empty() {
            break mine;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "ticket {number} never reached the simulator"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(held.len(), 1, "{held:?}");
    let c = &held[0]["content"];
    assert_eq!(c["reporter"]["phone"], "1001", "{c}");
    assert_eq!(c["reporter"]["name"], "Siti Aminah", "{c}");
    assert_eq!(c["calls"], serde_json::json!([uuid]), "{c}");
}
