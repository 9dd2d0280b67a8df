//! The monitoring peers: NUT's upsd with the dummy-ups driver replaying a
//! sequence, net-snmp's snmpd as AgentX master, and snmptrapd as the NOC.
//! Each runs in its own temporary directory on its own loopback ports and
//! is stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require;

/// A TCP port nobody listens on right now, below the ephemeral range
/// ([`crate::ports`]).
pub fn free_tcp_port() -> u16 {
    crate::ports::pair()
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what} not ready within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// upsd serving one simulated UPS (`sim`) driven by dummy-ups replaying
/// `sequence` once (`dummy-once`: the last values stay).
#[derive(Debug)]
pub struct Upsd {
    dir: tempfile::TempDir,
    upsd: Option<Child>,
    pub port: u16,
    /// The mtime (whole seconds) given to the sequence file last.
    last_mtime: std::cell::Cell<u64>,
}

impl Upsd {
    pub fn start(sequence: &str) -> Upsd {
        require("upsc");
        assert!(
            Path::new("/lib/nut/upsd").exists(),
            "NUT is not installed: run `bash .ci/install-peers`"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_tcp_port();
        std::fs::create_dir_all(d.join("state")).unwrap();
        std::fs::write(d.join("sim.seq"), sequence).unwrap();
        std::fs::write(d.join("nut.conf"), "MODE=standalone\n").unwrap();
        std::fs::write(
            d.join("ups.conf"),
            format!(
                "[sim]\n\tdriver = dummy-ups\n\tport = {}\n\tmode = dummy-once\n\tdesc = \"test UPS\"\n",
                d.join("sim.seq").display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("upsd.conf"),
            format!("LISTEN 127.0.0.1 {port}\nMAXAGE 15\n"),
        )
        .unwrap();
        std::fs::write(
            d.join("upsd.users"),
            "[monuser]\n\tpassword = monpass\n\tupsmon primary\n",
        )
        .unwrap();
        let mut u = Upsd {
            dir,
            upsd: None,
            port,
            last_mtime: std::cell::Cell::new(0),
        };
        let st = u
            .nut(Command::new("upsdrvctl").args(["-u", "root", "start", "sim"]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "upsdrvctl start failed");
        u.start_upsd();
        u
    }

    fn nut<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        let d = self.dir.path();
        c.env("NUT_CONFPATH", d)
            .env("NUT_STATEPATH", d.join("state"))
            .env("NUT_ALTPIDPATH", d.join("state"))
    }

    pub fn start_upsd(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("upsd.log")).unwrap();
        let child = self
            .nut(&mut Command::new("/lib/nut/upsd"))
            .args(["-u", "root", "-F"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.upsd = Some(child);
        let port = self.port;
        wait_for("upsd", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// Makes the simulated UPS report `vars` (`name: value` lines, as in a
    /// dummy-ups sequence): dummy-once re-reads its file when it changes.
    pub fn set(&self, vars: &str) {
        let path = self.dir.path().join("sim.seq");
        std::fs::write(&path, vars).unwrap();
        // dummy-ups compares whole seconds of the file's mtime: each change
        // gets a second of its own, later than the last one.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let secs = (now + 1).max(self.last_mtime.get() + 1);
        self.last_mtime.set(secs);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    /// Kills upsd (the driver keeps running).
    pub fn kill_upsd(&mut self) {
        if let Some(mut c) = self.upsd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `ups.status` as upsc reads it.
    pub fn status(&self) -> String {
        let out = Command::new("upsc")
            .arg(format!("sim@{}", self.addr()))
            .arg("ups.status")
            .stderr(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Upsd {
    fn drop(&mut self) {
        self.kill_upsd();
        let _ = self
            .nut(Command::new("upsdrvctl").args(["-u", "root", "stop", "sim"]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// snmpd as AgentX master on loopback, sending traps to `trap_port`, and
/// snmptrapd receiving them into a log file.
#[derive(Debug)]
pub struct Snmp {
    dir: tempfile::TempDir,
    snmpd: Option<Child>,
    trapd: Option<Child>,
    pub udp_port: u16,
    pub agentx_port: u16,
}

/// Where the SNMPv2 base modules (SNMPv2-SMI, -TC, -CONF) are, for smilint
/// and for snmpwalk to print names: Debian does not ship them (their
/// licence), `.ci/install-peers` takes them from the net-snmp npm package.
pub fn base_mibs() -> PathBuf {
    crate::workspace().join("target/peers/mibs")
}

pub fn dering_mib_dir() -> PathBuf {
    crate::workspace().join("daemons/snmp-agent/mibs")
}

impl Snmp {
    pub fn start() -> Snmp {
        require("snmpd");
        require("snmptrapd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let udp_port = crate::free_udp_port();
        let trap_port = crate::free_udp_port();
        let agentx_port = free_tcp_port();
        std::fs::create_dir_all(d.join("persist")).unwrap();
        std::fs::create_dir_all(d.join("trapd")).unwrap();
        std::fs::write(
            d.join("snmpd.conf"),
            format!(
                "agentAddress udp:127.0.0.1:{udp_port}\nrocommunity public 127.0.0.1\n\
                 master agentx\nagentXSocket tcp:127.0.0.1:{agentx_port}\nagentXTimeout 5\n\
                 agentXRetries 1\nsmuxsocket 127.0.0.1\ntrap2sink 127.0.0.1:{trap_port} public\n"
            ),
        )
        .unwrap();
        std::fs::write(d.join("snmptrapd.conf"), "disableAuthorization yes\n").unwrap();
        let trapd = Command::new("snmptrapd")
            .args(["-f", "-C", "-c"])
            .arg(d.join("snmptrapd.conf"))
            .args(["-On", "-Lf"])
            .arg(d.join("traps.log"))
            .arg(format!("udp:127.0.0.1:{trap_port}"))
            .env("SNMP_PERSISTENT_DIR", d.join("trapd"))
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let snmpd = Command::new("snmpd")
            .args(["-f", "-C", "-c"])
            .arg(d.join("snmpd.conf"))
            .arg("-Lf")
            .arg(d.join("snmpd.log"))
            .args(["-I", "-smux"])
            .env("SNMP_PERSISTENT_DIR", d.join("persist"))
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Snmp {
            dir,
            snmpd: Some(snmpd),
            trapd: Some(trapd),
            udp_port,
            agentx_port,
        };
        wait_for("snmpd AgentX socket", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", agentx_port)).is_ok()
        });
        s
    }

    pub fn agentx(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.agentx_port)
    }

    /// `snmpwalk -On` of `oid`: (numeric OID, value text) pairs.
    pub fn walk(&self, oid: &str) -> Vec<(String, String)> {
        let out = Command::new("snmpwalk")
            .args(["-v2c", "-c", "public", "-On", "-Oe", "-t", "3"])
            .arg(format!("127.0.0.1:{}", self.udp_port))
            .arg(oid)
            .env("MIBS", "")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .map(|(o, v)| (o.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// `snmpwalk` of `oid` as a manager with the DERING-MIB loaded shows
    /// it: each line names its object (`DERING-MIB::deringDaemonName.1 =
    /// STRING: pbxd`), so an instance the MIB does not define shows as
    /// numbers.
    pub fn walk_named(&self, oid: &str) -> String {
        let out = Command::new("snmpwalk")
            .args(["-v2c", "-c", "public", "-t", "3", "-m", "DERING-MIB", "-M"])
            .arg(format!(
                "{}:{}",
                base_mibs().display(),
                dering_mib_dir().display()
            ))
            .arg(format!("127.0.0.1:{}", self.udp_port))
            .arg(oid)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What snmptrapd logged so far.
    pub fn traps(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("traps.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Snmp {
    fn drop(&mut self) {
        for c in [self.snmpd.take(), self.trapd.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTP GET on loopback: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
