//! `dering system setup-link` (issue 17 §3, decision 0034): the line a
//! person at the box's console reads to start setup. webd prints its link
//! with the address it listens on, which on the appliance is `0.0.0.0`,
//! no address a browser can open; this prints it with the address the box
//! got by DHCP (its default route's), again whenever that changes, until
//! setup is done. `dering-firstboot.service` runs it onto tty1 and the
//! journal.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

/// The console's line for the box at `addr`: the one-time link while no
/// admin exists (`token`), else the page the admin continues on.
pub fn line(addr: IpAddr, https_port: u16, token: Option<&str>) -> String {
    let host = SocketAddr::new(addr, https_port);
    match token {
        Some(t) => {
            format!("Dering: penyiapan pertama / first setup: https://{host}/setup?token={t}")
        }
        None => format!(
            "Dering: lanjutkan penyiapan / continue setup (log in as the admin): https://{host}{}",
            webd::setup::SETTINGS_PATH
        ),
    }
}

/// The address the box reaches the network by: the source address of
/// its default route (connecting a UDP socket sends nothing).
fn box_address() -> Option<IpAddr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.connect((Ipv4Addr::new(203, 0, 113, 1), 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// What `dering system setup-link` was asked.
pub struct LinkArgs {
    pub data_dir: PathBuf,
    pub https_port: u16,
    /// Look again this often; none: print once.
    pub every: Option<u64>,
}

/// `dering system setup-link`.
pub fn command(args: LinkArgs) -> anyhow::Result<()> {
    let mut shown = String::new();
    loop {
        let db = args.data_dir.join("dering.db");
        let done = dering_store::Store::open(&db)
            .with_context(|| format!("opening {}", db.display()))?
            .setup_done()?;
        if done.is_some() {
            println!("Dering: setup is done");
            return Ok(());
        }
        let token = std::fs::read_to_string(args.data_dir.join(webd::auth::setup::TOKEN_FILE))
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let now = match box_address() {
            Some(ip) => line(ip, args.https_port, token.as_deref()),
            None => "Dering: no network address yet (is a cable in?)".to_string(),
        };
        if now != shown {
            println!("{now}");
            shown = now;
        }
        match args.every {
            Some(s) => std::thread::sleep(Duration::from_secs(s.max(1))),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_shows_the_link_with_the_box_address() {
        let ip = IpAddr::from([192, 0, 2, 10]);
        assert_eq!(
            line(ip, 8443, Some("ab12")),
            "Dering: penyiapan pertama / first setup: https://192.0.2.10:8443/setup?token=ab12"
        );
        assert!(line(ip, 443, None).ends_with("https://192.0.2.10:443/setup/box"));
    }
}
