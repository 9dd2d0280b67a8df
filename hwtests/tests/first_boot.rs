//! First boot (issue 17 §3, decision 0034): a box started like a real
//! install (`dering migrate`, then the `pbxd` and `webd` binaries as the
//! units run them, not the demo) whose configuration binds SIP to
//! 0.0.0.0 serves SIP on 127.0.0.1 only until setup is done; the setup
//! link's admin step, the settings step and "Selesai" are then done over
//! HTTPS, pbxd stops with the status its unit restarts on, and started
//! again it serves on the configured address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hwtests::peers::free_tcp_port;
use hwtests::{dering_bin, free_udp_port};

fn binary(name: &str) -> PathBuf {
    let p = dering_bin().with_file_name(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build -p pbxd -p webd --bins`",
        p.display()
    );
    p
}

/// Kills the daemon when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Starts pbxd as its unit does, its log in `log`; returns once it says
/// it is ready, with the line that says so.
fn start_pbxd(config: &Path, data: &Path, log: &Path) -> (Daemon, String) {
    let _ = std::fs::remove_file(log);
    let child = Command::new(binary("pbxd"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("DERING_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut d = Daemon(child);
    let t = Instant::now();
    loop {
        if let Some(line) = log_of(log).lines().find(|l| l.contains("pbxd ready")) {
            return (d, line.to_string());
        }
        if let Ok(Some(status)) = d.0.try_wait() {
            panic!("pbxd exited ({status}) before ready:\n{}", log_of(log));
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "pbxd not ready:\n{}",
            log_of(log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn options(port: u16) -> String {
    format!(
        "OPTIONS sip:dering.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-fb{port}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@dering.local>;tag=fb\r\nTo: <sip:dering.local>\r\n\
         Call-ID: first-boot-{port}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A SIP OPTIONS to `to`: the status line of the answer, or the error.
fn probe(to: SocketAddr) -> std::io::Result<String> {
    let s = UdpSocket::bind((to.ip(), 0))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.connect(to)?;
    let port = s.local_addr()?.port();
    s.send(options(port).as_bytes())?;
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

/// This host's address towards the network, when it has one besides
/// loopback.
fn public_address() -> Option<IpAddr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.connect((Ipv4Addr::new(203, 0, 113, 1), 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// One HTTPS request to webd: status, head, body.
fn https(
    data: &Path,
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> (u16, String, String) {
    let pem = std::fs::read(data.join("tls/cert.pem")).unwrap();
    let mut s = hwtests::web::connect(addr, &pem, Duration::from_secs(30));
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{cookie}Sec-Fetch-Site: same-origin\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    text.split(before)
        .nth(1)
        .and_then(|s| s.split(after).next())
        .unwrap_or_else(|| panic!("no {before:?} in {text}"))
}

#[test]
fn sip_stays_on_loopback_until_setup_is_done_then_serves_the_configured_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sip = free_udp_port();
    let (http, https_port) = (free_tcp_port(), free_tcp_port());
    let text = std::fs::read_to_string(hwtests::workspace().join("crates/config/src/default.toml"))
        .unwrap()
        .replacen("bind = \"127.0.0.1\"", "bind = \"0.0.0.0\"", 1)
        .replace("udp_port = 5060", &format!("udp_port = {sip}"))
        .replace("tcp_port = 5060", &format!("tcp_port = {sip}"))
        .replace("tls_port = 5061", "tls_port = 0")
        .replace("port = 8080", &format!("port = {http}"))
        .replace("https_port = 8443", &format!("https_port = {https_port}"));
    assert!(text.contains("bind = \"0.0.0.0\""));
    let config = dir.path().join("dering.toml");
    std::fs::write(&config, text).unwrap();
    hwtests::dering_migrate(&data);

    // Before setup: loopback only, and said so.
    let log = dir.path().join("pbxd.log");
    let (mut pbxd, ready) = start_pbxd(&config, &data, &log);
    assert!(
        ready.contains(&format!("127.0.0.1:{sip}")),
        "bound before setup: {ready}"
    );
    assert!(
        log_of(&log).contains("first-boot setup is not done"),
        "{}",
        log_of(&log)
    );
    let lo = SocketAddr::from(([127, 0, 0, 1], sip));
    assert!(
        probe(lo).unwrap().starts_with("SIP/2.0 "),
        "loopback serves"
    );
    let public = public_address();
    if let Some(ip) = public {
        match probe(SocketAddr::new(ip, sip)) {
            Err(e) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "{ip}:{sip} before setup: {e}"
            ),
            Ok(answer) => panic!("{ip}:{sip} answered before setup: {answer}"),
        }
    }

    // The setup link, as webd prints it on the console.
    let mut webd = Daemon(
        Command::new(binary("webd"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("webd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let out = webd.0.stdout.take().unwrap();
    let link = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("First setup: open ").map(str::to_string))
        .unwrap_or_else(|| panic!("no setup link:\n{}", log_of(&dir.path().join("webd.log"))));
    let token = link.split("token=").nth(1).unwrap().to_string();
    let web = format!("127.0.0.1:{https_port}");

    // Step 1: the admin, with TOTP; the session it sets goes on.
    let (status, _, page) = https(
        &data,
        &web,
        "GET",
        &format!("/setup?token={token}"),
        None,
        "",
    );
    assert_eq!(status, 200, "{page}");
    let secret = between(&page, "name=\"totp_secret\" value=\"", "\"").to_string();
    let code = hwtests::browser::totp_code(&secret);
    let (status, head, body) = https(
        &data,
        &web,
        "POST",
        "/setup",
        None,
        &format!("token={token}&totp_secret={secret}&login=admin&full_name=Admin&password=Rahasia123&code={code}"),
    );
    assert_eq!(status, 303, "{head}\n{body}");
    assert!(head.contains("location: /setup/box"), "{head}");
    let cookie = between(&head, "set-cookie: ", ";").to_string();

    // Step 2: the box's settings, as the next configuration version.
    let (status, _, page) = https(&data, &web, "GET", "/setup/box", Some(&cookie), "");
    assert_eq!(status, 200, "{page}");
    let csrf = between(&page, "name=\"_csrf\" value=\"", "\"").to_string();
    let (status, head, body) = https(
        &data,
        &web,
        "POST",
        "/setup/box",
        Some(&cookie),
        &format!(
            "mode=dhcp&host_name=pbx-uji&time_zone=Asia%2FMakassar&ntp=&agency=Ombudsman+RI\
             &numbers=137&snmp=none&ups=&backup=&_csrf={csrf}"
        ),
    );
    assert_eq!(status, 303, "{head}\n{body}");
    assert!(data.join("system-apply.request").exists());

    // Selesai: pbxd stops with the status its unit restarts on.
    let (status, head, body) = https(
        &data,
        &web,
        "POST",
        "/setup/finish",
        Some(&cookie),
        &format!("_csrf={csrf}"),
    );
    assert_eq!(status, 303, "{head}\n{body}");
    let t = Instant::now();
    let code = loop {
        if let Some(s) = pbxd.0.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "pbxd still running after setup:\n{}",
            log_of(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(75), "{}", log_of(&log));
    let before = log_of(&log);
    drop(pbxd);

    // Started again (systemd does): the configured address.
    let (_pbxd, ready) = start_pbxd(&config, &data, &log);
    assert!(
        ready.contains(&format!("0.0.0.0:{sip}")),
        "bound after setup: {ready}\nbefore:\n{before}"
    );
    assert!(!log_of(&log).contains("first-boot setup is not done"));
    assert!(probe(lo).unwrap().starts_with("SIP/2.0 "));
    if let Some(ip) = public {
        let answer = probe(SocketAddr::new(ip, sip)).unwrap();
        assert!(answer.starts_with("SIP/2.0 "), "{ip}: {answer}");
    }
    drop(webd);
}
