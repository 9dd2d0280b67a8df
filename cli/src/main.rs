//! `dering`: the appliance's command line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dering_control::Request;
use pbxd::config::{Config, DEFAULT_NAME};
use pbxd::shell::{self, Options};

/// Where a real deployment keeps its configuration.
const ETC_CONFIG: &str = "/etc/dering/dering.toml";

#[derive(Parser)]
#[command(
    name = "dering",
    version,
    about = "Dering contact-center PBX appliance"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the box on loopback from the embedded default (the demo).
    Up {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 5060)]
        sip_port: u16,
        /// Port of the web admin (arrives with the web issue; reserved now).
        #[arg(long, default_value_t = 8080)]
        http_port: u16,
        /// Use this configuration file instead of the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen on this address instead of the configuration's.
        #[arg(long)]
        bind: Option<IpAddr>,
    },
    /// Validate a configuration without starting anything.
    CheckConfig {
        /// Defaults to /etc/dering/dering.toml, or the embedded default
        /// when that file does not exist.
        path: Option<PathBuf>,
    },
    /// Print call records.
    Cdr {
        #[arg(long)]
        data_dir: PathBuf,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Live calls of a running box.
    Calls {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Live registrations of a running box.
    Registrations {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Addresses blocked after repeated authentication failures.
    Blocked {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Lift the block on an address.
    Unblock {
        ip: String,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    dering_daemon::logging::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dering: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::embedded()?,
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::CheckConfig { path } => {
            let path = path.or_else(|| {
                Path::new(ETC_CONFIG)
                    .exists()
                    .then(|| PathBuf::from(ETC_CONFIG))
            });
            match load_config(path.as_deref()) {
                Ok(c) => {
                    let name = path
                        .map(|p| p.display().to_string())
                        .unwrap_or(DEFAULT_NAME.into());
                    println!("{name}: ok ({} extensions)", c.extensions.len());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(64))
                }
            }
        }
        Cmd::Cdr { data_dir, json } => {
            let db = data_dir.join("dering.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let store = dering_store::Store::open(&db)?;
            for c in store.calls()? {
                if json {
                    println!("{}", serde_json::to_string(&c)?);
                } else {
                    println!(
                        "{} {} -> {} {} {}s by {}",
                        c.parties.uuid,
                        c.parties.caller,
                        c.parties.callee,
                        c.disposition.as_deref().unwrap_or(&c.state),
                        c.billable_seconds.unwrap_or(0.0),
                        c.hangup_by.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Calls { data_dir } => control(&data_dir, Request::Calls),
        Cmd::Registrations { data_dir } => control(&data_dir, Request::Registrations),
        Cmd::Blocked { data_dir } => control(&data_dir, Request::Blocked),
        Cmd::Unblock { ip, data_dir } => control(&data_dir, Request::Unblock { ip }),
        Cmd::Up {
            data_dir,
            sip_port,
            http_port,
            config,
            bind,
        } => {
            let mut cfg = load_config(config.as_deref())?;
            if let Some(ip) = bind {
                cfg.sip.bind = toml::Spanned::new(0..0, ip);
            }
            anyhow::ensure!(
                cfg.bind().is_loopback() || !cfg.has_demo_passwords(),
                "refusing to listen on {} while demo passwords are in force; change the extension passwords first",
                cfg.bind()
            );
            cfg.sip.udp_port = sip_port;
            cfg.sip.tcp_port = sip_port;
            cfg.sip.tls_port = if sip_port == 0 {
                0
            } else {
                sip_port.saturating_add(1)
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(up(cfg, data_dir, http_port))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn control(data_dir: &Path, req: Request) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for line in rt.block_on(shell::control_request(data_dir, &req))? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn up(cfg: Config, data_dir: PathBuf, http_port: u16) -> anyhow::Result<()> {
    let demo: Vec<(String, String)> = cfg
        .extensions
        .iter()
        .filter(|e| *e.password.get_ref() == format!("demo-{}", e.number.get_ref()))
        .map(|e| (e.number.get_ref().clone(), e.password.get_ref().clone()))
        .collect();
    let domain = cfg.sip.domain.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = shell::start(
        Options {
            config: cfg,
            data_dir: data_dir.clone(),
        },
        async {
            let _ = stop_rx.await;
        },
    )
    .await
    .context("starting pbxd")?;
    let b = running.bound;
    println!(
        "Dering demo box, SIP domain {domain}, data in {}",
        data_dir.display()
    );
    if !demo.is_empty() {
        println!("Demo extensions (SIP user = extension):");
        for (n, p) in &demo {
            println!("  {n}  password {p}");
        }
    }
    println!("Web admin: not in this build yet (reserved port {http_port})");
    println!("ready sip udp:{} tcp:{} tls:{}", b.udp, b.tcp, b.tls);
    tokio::signal::ctrl_c().await.ok();
    eprintln!("stopping");
    let _ = stop_tx.send(());
    running.join().await
}
