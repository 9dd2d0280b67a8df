//! `dering system apply` (issue 17 §3, decision 0034): the box's host
//! settings, kept in the configuration on the data partition, rendered
//! where the read-only image's services read them. The root file system
//! is a squashfs with a RAM overlay, so nothing written under `/etc` or
//! `/run` survives a reboot: `dering-system.service` runs this at every
//! boot, before the network comes up, and again after the setup page or
//! the system screen saves (a trigger file in the data directory, watched
//! by a path unit). It writes only its own files and writes them whole,
//! so running it twice leaves the same tree.
//!
//! What it writes, under `--root` (`/` on the box, a temporary directory
//! in tests):
//! - `run/systemd/network/10-dering-<port>.network` per `[[system.network]]`
//!   (they sort before the image's `80-dering-dhcp.network`, which stays
//!   the DHCP-everywhere fallback when none is written);
//! - `etc/hostname` (the overlay's) from `[system] host_name`;
//! - `etc/localtime` → the zone's file, and `etc/timezone`;
//! - `etc/chrony/sources.d/dering.sources` from `[system] ntp` (always:
//!   webd rewrites it in place too);
//! - `etc/snmp/snmpd.conf.d/dering.conf` from `[snmp]`'s access.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use dering_config::{Config, Network, SnmpAccess};

/// Where the network files go, under the root.
pub const NETWORK_DIR: &str = "run/systemd/network";
/// The prefix of the network files this writes (and removes when gone).
pub const NETWORK_PREFIX: &str = "10-dering-";

/// One file to write: its path under the root and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    File {
        path: PathBuf,
        text: String,
    },
    Link {
        path: PathBuf,
        target: PathBuf,
    },
    /// A file of ours that the configuration no longer asks for.
    Absent {
        path: PathBuf,
    },
}

fn header(source: &str) -> String {
    format!(
        "# Written by `dering system apply` from {source}.\n\
         # Change it in the web admin: this file is rewritten at every boot.\n"
    )
}

/// The `.network` file of one port's settings.
pub fn network_file(n: &Network, source: &str) -> String {
    let mut s = header(source);
    s.push_str("[Match]\n");
    match &n.port {
        Some(p) => {
            let _ = writeln!(s, "Name={p}");
        }
        None => s.push_str("Name=en* eth*\n"),
    }
    s.push_str("\n[Network]\n");
    if n.dhcp {
        s.push_str("DHCP=yes\n");
    } else {
        if let Some(a) = n.address {
            let _ = writeln!(s, "Address={a}");
        }
        if let Some(g) = n.gateway {
            let _ = writeln!(s, "Gateway={g}");
        }
    }
    for d in &n.dns {
        let _ = writeln!(s, "DNS={d}");
    }
    s
}

fn network_name(n: &Network) -> String {
    format!(
        "{NETWORK_PREFIX}{}.network",
        n.port.as_deref().unwrap_or("wired")
    )
}

/// snmpd's drop-in for the access chosen.
pub fn snmpd_file(access: &SnmpAccess, source: &str) -> String {
    let mut s = header(source);
    match access {
        SnmpAccess::Community(c) => {
            let _ = writeln!(s, "rocommunity {c} default");
        }
        SnmpAccess::V3 {
            user,
            auth_password,
            priv_password,
        } => {
            let _ = writeln!(
                s,
                "createUser {user} SHA \"{auth_password}\" AES \"{priv_password}\"\nrouser {user} priv"
            );
        }
    }
    s
}

/// Everything `cfg` (read from `source`, named in each file) asks for,
/// relative to the root. `present` lists the network files of ours found
/// under the root, so those no longer asked for are removed.
pub fn render(cfg: &Config, source: &str, present: &[String]) -> Vec<Item> {
    let sys = &cfg.system;
    let mut items = Vec::new();
    let mut wanted = Vec::new();
    for n in &sys.network {
        let name = network_name(n);
        items.push(Item::File {
            path: Path::new(NETWORK_DIR).join(&name),
            text: network_file(n, source),
        });
        wanted.push(name);
    }
    for old in present {
        if !wanted.contains(old) {
            items.push(Item::Absent {
                path: Path::new(NETWORK_DIR).join(old),
            });
        }
    }
    if let Some(h) = &sys.host_name {
        items.push(Item::File {
            path: "etc/hostname".into(),
            text: format!("{h}\n"),
        });
    }
    items.push(Item::Link {
        path: "etc/localtime".into(),
        target: Path::new("/usr/share/zoneinfo").join(&sys.time_zone),
    });
    items.push(Item::File {
        path: "etc/timezone".into(),
        text: format!("{}\n", sys.time_zone),
    });
    // Written even without servers (comments only, chrony's own pool
    // then): the file is webd's too (tmpfiles makes it `dering`'s, and
    // the system screen rewrites it in place), so it is never removed.
    items.push(Item::File {
        path: "etc/chrony/sources.d/dering.sources".into(),
        text: sys.ntp.iter().fold(header(source), |mut t, server| {
            let _ = writeln!(t, "server {server} iburst");
            t
        }),
    });
    let snmpd = PathBuf::from("etc/snmp/snmpd.conf.d/dering.conf");
    match cfg.snmp.as_ref().and_then(|s| s.access.as_ref()) {
        Some(a) => items.push(Item::File {
            path: snmpd,
            text: snmpd_file(a, source),
        }),
        None => items.push(Item::Absent { path: snmpd }),
    }
    items
}

/// Our network files present under `root`.
fn present_network_files(root: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(root.join(NETWORK_DIR)) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(NETWORK_PREFIX) && n.ends_with(".network"))
        .collect();
    v.sort();
    v
}

/// Writes `items` under `root`. A file that exists is rewritten in place,
/// keeping its owner and mode (chrony's sources file is webd's too); a
/// new one is made through a temporary name and a rename. The services
/// read them when told to (boot, reload), never half-way. Returns the
/// paths changed.
pub fn write(root: &Path, items: &[Item]) -> anyhow::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for item in items {
        match item {
            Item::File { path, text } => {
                let full = root.join(path);
                if std::fs::read_to_string(&full).is_ok_and(|old| old == *text) {
                    continue;
                }
                if full.exists() {
                    std::fs::write(&full, text)
                        .with_context(|| format!("writing {}", full.display()))?;
                    changed.push(path.clone());
                    continue;
                }
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let tmp = full.with_extension("dering-new");
                std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, &full)
                    .with_context(|| format!("renaming to {}", full.display()))?;
                changed.push(path.clone());
            }
            Item::Link { path, target } => {
                let full = root.join(path);
                if std::fs::read_link(&full).is_ok_and(|t| t == *target) {
                    continue;
                }
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let tmp = full.with_extension("dering-new");
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(target, &tmp)
                    .with_context(|| format!("linking {}", tmp.display()))?;
                std::fs::rename(&tmp, &full)
                    .with_context(|| format!("renaming to {}", full.display()))?;
                changed.push(path.clone());
            }
            Item::Absent { path } => {
                let full = root.join(path);
                match std::fs::remove_file(&full) {
                    Ok(()) => changed.push(path.clone()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", full.display()))
                    }
                }
            }
        }
    }
    Ok(changed)
}

/// What `dering system apply` was asked.
pub struct ApplyArgs {
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    pub document: Option<PathBuf>,
    pub root: PathBuf,
}

/// The configuration the box runs, and where it was read: the document
/// given (the unit exports it as user `dering`, so root never opens the
/// database and leaves files of its own beside it), else the newest
/// version in the database, else the file (a box that never started).
fn running_config(args: &ApplyArgs) -> anyhow::Result<(Config, String)> {
    if let Some(doc) = &args.document {
        let text =
            std::fs::read_to_string(doc).with_context(|| format!("reading {}", doc.display()))?;
        let source = doc.display().to_string();
        return Ok((Config::parse(&text, &source)?, source));
    }
    let db = args.data_dir.join("dering.db");
    if db.exists() {
        let store = dering_store::Store::open(&db)?;
        if let Some(v) = store.config_version(None)? {
            let source = format!("configuration version {}", v.version);
            let cfg = Config::parse(&v.document, &source)?;
            return Ok((cfg, source));
        }
    }
    let path = args.config.clone().or_else(|| {
        Path::new(crate::ETC_CONFIG)
            .exists()
            .then(|| PathBuf::from(crate::ETC_CONFIG))
    });
    let source = path
        .as_ref()
        .map_or("the embedded default".into(), |p| p.display().to_string());
    Ok((crate::load_config(path.as_deref())?, source))
}

/// `dering system apply`.
pub fn apply_command(args: ApplyArgs) -> anyhow::Result<()> {
    let (cfg, source) = running_config(&args)?;
    let items = render(&cfg, &source, &present_network_files(&args.root));
    let changed = write(&args.root, &items)?;
    for path in &changed {
        println!("written {}", args.root.join(path).display());
    }
    println!(
        "system settings of {source} applied under {} ({} changed)",
        args.root.display(),
        changed.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(system: &str) -> Config {
        let text = dering_config::DEFAULT_TOML.replace(
            "time_zone = \"Asia/Jakarta\"\nntp = []\n",
            &format!("{system}\n"),
        );
        Config::parse(&text, "t.toml").expect("valid")
    }

    fn apply(root: &Path, cfg: &Config, version: i64) -> Vec<PathBuf> {
        let source = format!("configuration version {version}");
        let items = render(cfg, &source, &present_network_files(root));
        write(root, &items).expect("written")
    }

    fn read(root: &Path, p: &str) -> String {
        std::fs::read_to_string(root.join(p)).expect(p)
    }

    #[test]
    fn dhcp_renders_the_exact_files_and_a_second_run_changes_nothing() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let cfg = config(
            "time_zone = \"Asia/Makassar\"\nntp = [\"ntp.bmkg.go.id\"]\nhost_name = \"pbx-mks\"\n\
             [[system.network]]\ndhcp = true",
        );
        let changed = apply(tmp.path(), &cfg, 4);
        assert_eq!(changed.len(), 5, "{changed:?}");
        assert_eq!(
            read(tmp.path(), "run/systemd/network/10-dering-wired.network"),
            "# Written by `dering system apply` from configuration version 4.\n\
             # Change it in the web admin: this file is rewritten at every boot.\n\
             [Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"
        );
        assert_eq!(read(tmp.path(), "etc/hostname"), "pbx-mks\n");
        assert_eq!(read(tmp.path(), "etc/timezone"), "Asia/Makassar\n");
        assert_eq!(
            std::fs::read_link(tmp.path().join("etc/localtime")).expect("link"),
            Path::new("/usr/share/zoneinfo/Asia/Makassar")
        );
        assert!(read(tmp.path(), "etc/chrony/sources.d/dering.sources")
            .ends_with("server ntp.bmkg.go.id iburst\n"));
        assert!(!tmp
            .path()
            .join("etc/snmp/snmpd.conf.d/dering.conf")
            .exists());
        // Idempotent: the same settings write nothing again.
        assert_eq!(apply(tmp.path(), &cfg, 4), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_static_address_renders_its_port_file_and_the_old_one_goes() {
        let tmp = tempfile::tempdir().expect("temp dir");
        apply(
            tmp.path(),
            &config("time_zone = \"Asia/Jakarta\"\nntp = []\n[[system.network]]\ndhcp = true"),
            1,
        );
        let cfg = config(
            "time_zone = \"Asia/Jakarta\"\nntp = []\n\
             [[system.network]]\nport = \"enp1s0\"\ndhcp = false\naddress = \"192.0.2.10/24\"\n\
             gateway = \"192.0.2.1\"\ndns = [\"192.0.2.53\", \"192.0.2.54\"]",
        );
        let snmp = format!(
            "{}\n[snmp]\nagentx = \"tcp:127.0.0.1:705\"\nv3_user = \"noc\"\n\
             v3_auth_password = \"autentik8\"\nv3_priv_password = \"privasi88\"\n",
            dering_config::DEFAULT_TOML
        )
        .replace(
            "time_zone = \"Asia/Jakarta\"\nntp = []\n",
            "time_zone = \"Asia/Jakarta\"\nntp = []\n\
             [[system.network]]\nport = \"enp1s0\"\ndhcp = false\naddress = \"192.0.2.10/24\"\n\
             gateway = \"192.0.2.1\"\ndns = [\"192.0.2.53\", \"192.0.2.54\"]\n",
        );
        let with_snmp = Config::parse(&snmp, "t.toml").expect("valid");
        assert_eq!(cfg.system.network, with_snmp.system.network);
        // chrony's file as tmpfiles leaves it for webd: rewritten in place.
        use std::os::unix::fs::PermissionsExt as _;
        let sources = tmp.path().join("etc/chrony/sources.d/dering.sources");
        std::fs::set_permissions(&sources, std::fs::Permissions::from_mode(0o664)).expect("mode");
        apply(tmp.path(), &with_snmp, 2);
        assert_eq!(
            std::fs::metadata(&sources)
                .expect("kept")
                .permissions()
                .mode()
                & 0o777,
            0o664
        );
        assert!(!read(tmp.path(), "etc/chrony/sources.d/dering.sources").contains("server "));
        assert_eq!(
            read(tmp.path(), "run/systemd/network/10-dering-enp1s0.network"),
            "# Written by `dering system apply` from configuration version 2.\n\
             # Change it in the web admin: this file is rewritten at every boot.\n\
             [Match]\nName=enp1s0\n\n[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\n\
             DNS=192.0.2.53\nDNS=192.0.2.54\n"
        );
        assert!(
            !tmp.path()
                .join("run/systemd/network/10-dering-wired.network")
                .exists(),
            "the DHCP file of before is gone"
        );
        assert!(!tmp.path().join("etc/hostname").exists());
        assert!(read(tmp.path(), "etc/snmp/snmpd.conf.d/dering.conf")
            .ends_with("createUser noc SHA \"autentik8\" AES \"privasi88\"\nrouser noc priv\n"));
    }

    #[test]
    fn the_command_renders_an_exported_document_under_its_root() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let doc = tmp.path().join("dering.toml");
        std::fs::write(
            &doc,
            dering_config::DEFAULT_TOML.replace(
                "ntp = []\n",
                "ntp = []\n[[system.network]]\nport = \"eth0\"\ndhcp = true\ndns = [\"192.0.2.53\"]\n",
            ),
        )
        .expect("document");
        let root = tmp.path().join("root");
        apply_command(ApplyArgs {
            data_dir: tmp.path().join("no-data"),
            config: None,
            document: Some(doc.clone()),
            root: root.clone(),
        })
        .expect("applied");
        assert_eq!(
            read(&root, "run/systemd/network/10-dering-eth0.network"),
            format!(
                "# Written by `dering system apply` from {}.\n\
                 # Change it in the web admin: this file is rewritten at every boot.\n\
                 [Match]\nName=eth0\n\n[Network]\nDHCP=yes\nDNS=192.0.2.53\n",
                doc.display()
            )
        );
        assert!(!tmp.path().join("no-data").exists(), "no database made");
    }
}
