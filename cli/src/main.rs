//! `dering`: the appliance's command line.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dering_control::{Request, Response};
use pbxd::config::{Config, DEFAULT_NAME};
use pbxd::config_versions::Seed;
use pbxd::shell::{self, Options};
use tokio::sync::{oneshot, Mutex};

mod backup;
mod events;
mod setup_link;
mod system_apply;

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
enum SystemCmd {
    /// Render the settings of the newest configuration version into
    /// `/run` and the overlay's `/etc` (systemd-networkd, host name,
    /// localtime, chrony, snmpd); idempotent, run at every boot.
    Apply {
        #[arg(long, default_value = "/var/lib/dering")]
        data_dir: PathBuf,
        /// The file read when the database holds no version yet
        /// (default /etc/dering/dering.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Read the configuration from this file (as `dering config
        /// export` writes it) instead of the database.
        #[arg(long)]
        document: Option<PathBuf>,
        /// Render under this directory instead of `/` (tests).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Until first-boot setup is done, print the setup page's link with
    /// the box's own address (the console's line).
    SetupLink {
        #[arg(long, default_value = "/var/lib/dering")]
        data_dir: PathBuf,
        /// The web admin's HTTPS port (`[http] https_port`).
        #[arg(long, default_value_t = 8443)]
        https_port: u16,
        /// Look again every SECONDS, printing a changed link, until
        /// setup is done (without it: print once).
        #[arg(long)]
        every: Option<u64>,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// The box's configuration versions, kept in its database (TEL-8):
    /// export one as TOML, import a file as the next version (taken by a
    /// running box at once, calls in progress go on), list the history.
    Config {
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Start the box on loopback from the embedded default (the demo).
    Up {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 5060)]
        sip_port: u16,
        /// Port of webd: /health and /metrics (0: any free port).
        #[arg(long, default_value_t = 8080)]
        http_port: u16,
        /// Port of the web admin over HTTPS (default: `[http] https_port`,
        /// or any free port when --http-port is 0).
        #[arg(long)]
        https_port: Option<u16>,
        /// Watch the UPS served by this upsd (HOST:PORT); starts powerd.
        #[arg(long)]
        upsd: Option<String>,
        /// The UPS's name in upsd.
        #[arg(long, default_value = "ups")]
        ups: String,
        /// upsd user (or DERING_UPS_USER).
        #[arg(long, env = "DERING_UPS_USER")]
        ups_user: Option<String>,
        /// upsd password (better: DERING_UPS_PASSWORD).
        #[arg(long, env = "DERING_UPS_PASSWORD", hide_env_values = true)]
        ups_password: Option<String>,
        /// Register the Dering MIB with this snmpd's AgentX socket
        /// (`tcp:127.0.0.1:705` or a Unix socket path); starts the agent.
        #[arg(long)]
        agentx: Option<String>,
        /// Deliver tickets to this SIMPEL (`http://HOST:PORT/PATH`, e.g.
        /// `tools/simpel-sim`'s); starts syncd.
        #[arg(long)]
        simpel: Option<String>,
        /// Run this instead of `systemctl poweroff` at the end of a power
        /// shutdown (split on spaces, no shell).
        #[arg(long)]
        poweroff_command: Option<String>,
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
    /// Create the database or bring its schema up to date, then exit
    /// (dering-migrate.service runs it before any daemon starts).
    Migrate {
        #[arg(long, default_value = "/var/lib/dering")]
        data_dir: PathBuf,
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
    /// The carrier trunks of a running box: registered or not and why,
    /// OPTIONS up or down, channels in use, calls today.
    Trunks {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Follow a running box's events (calls, queues and agents, power,
    /// intake) until the box stops: a line each for a person, or the
    /// stream's JSON lines with `--json`.
    Events {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// The stream's JSON lines (each with its `seq`).
        #[arg(long)]
        json: bool,
        /// Start at this event (a snapshot's `seq` + 1) if the box still
        /// keeps it.
        #[arg(long)]
        from_seq: Option<u64>,
    },
    /// Live calls, agents and queues of a running box in one JSON object,
    /// with the `seq` of the last event they include.
    Snapshot {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Call recordings with their metadata and checksums.
    Recordings {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Copy new recordings to a backup directory (a removable disk), check
    /// every copy's SHA-256 and write a manifest (`sha256sum -c` reads it).
    BackupRecordings {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        #[arg(long)]
        to: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The box's host settings (network, host name, time zone, NTP,
    /// SNMP access), kept in the configuration, rendered for the
    /// read-only image.
    System {
        #[command(subcommand)]
        action: SystemCmd,
    },
    /// Back up the database (an online copy, while the box runs) and the
    /// configuration into DIR/dering-<UTC time>/ with a SHA-256 manifest,
    /// keeping the newest N; the outcome is recorded for the alarms.
    Backup {
        #[arg(long, default_value = "/var/lib/dering")]
        data_dir: PathBuf,
        /// The destination (default: `[backup] destination`); it must
        /// exist: a removable disk's mount point or a mounted share.
        #[arg(long)]
        to: Option<PathBuf>,
        /// The configuration file (default /etc/dering/dering.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// How many backups to keep (default: `[backup] keep`).
        #[arg(long)]
        keep: Option<u32>,
        /// Only if today's has not been taken and its `[backup] time` has
        /// passed (the hourly timer); nothing without `[backup]`.
        #[arg(long)]
        if_due: bool,
    },
    /// Restore a backup onto a data directory (a fresh install): checks
    /// its manifest first, then puts back the database (migrated
    /// forward), the configuration and, from the weekly recording backup,
    /// the recordings, each checked against its SHA-256.
    Restore {
        /// The backup: DIR/dering-<UTC time>.
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        /// Restore over a data directory that is not empty.
        #[arg(long)]
        force: bool,
        /// Where dering.toml goes (default: in the data directory).
        #[arg(long)]
        config_to: Option<PathBuf>,
        /// The weekly recording backup (`[recording] backup_directory`)
        /// to copy recordings back from.
        #[arg(long)]
        recordings: Option<PathBuf>,
        /// Where the new box keeps recordings (default: recordings/ in
        /// the data directory).
        #[arg(long)]
        recordings_to: Option<PathBuf>,
    },
    /// An MP3 copy of one call's recording (the WAV stays the master),
    /// made with the system's LAME; prints its path and SHA-256.
    RecordingMp3 {
        /// The call's UUID (as `dering recordings` and `dering cdr` show).
        uuid: String,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// Where to write it; beside the recording by default.
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Published call flows and the numbers they answer.
    Flows {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Validate a call flow (JSON) and publish it as its next version on
    /// a running box; calls in progress keep the version they started on.
    PublishFlow {
        file: PathBuf,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// A flow's counters per node and menu choice (ACD-8), one JSON
    /// object a line.
    FlowCounters {
        flow: String,
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
    /// Agents of a running box: phone, state and since when (ACD-10).
    Agents {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Queues of a running box: callers waiting, agents, and today's
    /// statistics (CMS-1; definitions in docs/metrics.md).
    Queues {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Hang up a live call (its UUID, from `dering calls`).
    Hangup {
        uuid: String,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Hand the caller of a live call to extension TO (blind transfer;
    /// the callee leaves).
    Transfer {
        uuid: String,
        to: String,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Click-to-dial: ring FROM's phone (it answers by itself if it
    /// honours auto-answer), then call TO; prints the call's UUID.
    Originate {
        from: String,
        to: String,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// A supervisor's desktop: ring SUPERVISOR's phone, which then
    /// monitors EXTENSION's call (`--mode listen|whisper|barge`).
    Listen {
        supervisor: String,
        extension: String,
        #[arg(long, default_value = "listen")]
        mode: String,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Act for an agent, as the agent desktop does (same checks and
    /// accounting as the phone's *71..*75).
    Agent {
        #[command(subcommand)]
        action: dering_control::AgentAction,
        #[arg(long, default_value = "dering-data", global = true)]
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
    Ok(load_seed(path)?.0)
}

/// The configuration at `path` (the embedded default without one),
/// validated, with its text: the seed of the box's configuration versions.
fn load_seed(path: Option<&Path>) -> anyhow::Result<(Config, Seed)> {
    let (source, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        ),
        None => (
            DEFAULT_NAME.to_string(),
            dering_config::DEFAULT_TOML.to_string(),
        ),
    };
    Ok((Config::parse(&text, &source)?, Seed { source, text }))
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
        Cmd::Migrate { data_dir } => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let db = data_dir.join("dering.db");
            let store = dering_store::Store::open(&db)?;
            store.checkpoint()?;
            println!(
                "{}: schema version {}",
                db.display(),
                store.schema_version()?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cdr { data_dir, json } => {
            let db = data_dir.join("dering.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let store = dering_store::Store::open(&db)?;
            for c in store.calls()? {
                if json {
                    println!("{}", serde_json::to_string(&c)?);
                } else {
                    let span = match (&c.span, c.channel) {
                        (Some(s), Some(ch)) => format!(" span {s} channel {ch}"),
                        _ => String::new(),
                    };
                    println!(
                        "{} {} -> {} {} {}s by {}{span}",
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
        Cmd::Events {
            data_dir,
            json,
            from_seq,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let client = dering_control::client::Client::connect(&data_dir).await?;
                let mut sub = client.subscribe(from_seq).await?;
                while let Some(ev) = sub.next().await? {
                    if json {
                        println!("{}", serde_json::to_string(&ev)?);
                    } else {
                        println!("{}", events::describe(&ev));
                    }
                }
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Snapshot { data_dir } => control(&data_dir, Request::Snapshot),
        Cmd::Recordings { data_dir, json } => {
            let db = data_dir.join("dering.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let store = dering_store::Store::open(&db)?;
            for r in store.recordings(None)? {
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!(
                        "{} {} -> {} {} {:.1}s {}",
                        r.call_uuid,
                        r.caller,
                        r.callee,
                        r.state,
                        r.duration_ms.unwrap_or(0) as f64 / 1000.0,
                        r.path
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::BackupRecordings {
            data_dir,
            to,
            config,
        } => {
            let cfg = load_config(config.as_deref())?;
            let db = data_dir.join("dering.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let rows = dering_store::Store::open(&db)?.recordings(None)?;
            let root = cfg
                .recording
                .directory
                .clone()
                .unwrap_or_else(|| data_dir.join("recordings"));
            std::fs::create_dir_all(&to)?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let rep = pbxd::recorder::backup(&rows, &root, &to, now_ms)
                .with_context(|| format!("backing up to {}", to.display()))?;
            println!("{}", serde_json::to_string(&rep)?);
            Ok(if rep.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::System {
            action:
                SystemCmd::Apply {
                    data_dir,
                    config,
                    document,
                    root,
                },
        } => {
            system_apply::apply_command(system_apply::ApplyArgs {
                data_dir,
                config,
                document,
                root,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::System {
            action:
                SystemCmd::SetupLink {
                    data_dir,
                    https_port,
                    every,
                },
        } => {
            setup_link::command(setup_link::LinkArgs {
                data_dir,
                https_port,
                every,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Backup {
            data_dir,
            to,
            config,
            keep,
            if_due,
        } => backup::backup_command(backup::BackupArgs {
            data_dir,
            to,
            config,
            keep,
            if_due,
        }),
        Cmd::Restore {
            from,
            data_dir,
            force,
            config_to,
            recordings,
            recordings_to,
        } => backup::restore_command(backup::RestoreArgs {
            from,
            data_dir,
            force,
            config_to,
            recordings,
            recordings_to,
        }),
        Cmd::RecordingMp3 { uuid, data_dir, to } => {
            let db = data_dir.join("dering.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let rows = dering_store::Store::open(&db)?.recordings(None)?;
            let row = rows
                .iter()
                .find(|r| r.call_uuid == uuid)
                .with_context(|| format!("no recording of call {uuid}"))?;
            anyhow::ensure!(
                row.state == "complete" || row.state == "repaired",
                "the recording of call {uuid} is {}",
                row.state
            );
            let wav = PathBuf::from(&row.path);
            anyhow::ensure!(
                wav.extension().is_some_and(|e| e == "wav"),
                "{} is already MP3",
                wav.display()
            );
            let out = to.unwrap_or_else(|| wav.with_extension("mp3"));
            let mp3 = pbxd::recorder::encode_mp3(&wav, &out)
                .with_context(|| format!("encoding {} (is lame installed?)", wav.display()))?;
            let (bytes, sha256) = pbxd::recorder::checksum(&mp3)?;
            println!(
                "{}",
                serde_json::json!({"call_uuid": uuid, "path": mp3, "bytes": bytes, "sha256": sha256})
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Flows { data_dir } => control(&data_dir, Request::Flows),
        Cmd::Config { action } => config_command(action),
        Cmd::Agents { data_dir, json } => {
            let Response::Agents { agents } = request(&data_dir, Request::Agents)? else {
                anyhow::bail!("pbxd answered something else than its agents");
            };
            if json {
                for a in &agents {
                    println!("{}", serde_json::to_string(a)?);
                }
            } else {
                println!(
                    "{:<8} {:<20} {:<10} {:<12} {:<20} {:>6}",
                    "AGENT", "NAME", "PHONE", "STATE", "SINCE (WIB)", "CALLS"
                );
                for a in agents {
                    let v = serde_json::to_value(&a.state)?;
                    let mut state = v["state"].as_str().unwrap_or("?").to_string();
                    if let Some(r) = v["reason"].as_str() {
                        state = format!("{state} ({r})");
                    }
                    println!(
                        "{:<8} {:<20} {:<10} {:<12} {:<20} {:>6}",
                        a.agent,
                        a.name,
                        a.extension.as_deref().unwrap_or("-"),
                        state,
                        wib(a.since_ms),
                        a.calls
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Queues { data_dir, json } => {
            let Response::Queues { queues } = request(&data_dir, Request::Queues)? else {
                anyhow::bail!("pbxd answered something else than its queues");
            };
            if json {
                for q in &queues {
                    println!("{}", serde_json::to_string(q)?);
                }
            } else {
                println!(
                    "{:<16} {:>7} {:>9} {:>7} {:>6} {:>8} {:>8} {:>9} {:>6}",
                    "QUEUE",
                    "WAITING",
                    "LONGEST",
                    "AGENTS",
                    "READY",
                    "OFFERED",
                    "ANSWERED",
                    "ABANDONED",
                    "SL%"
                );
                for q in queues {
                    println!(
                        "{:<16} {:>7} {:>8}s {:>7} {:>6} {:>8} {:>8} {:>9} {:>6}",
                        q.queue,
                        q.waiting,
                        q.longest_wait_ms / 1000,
                        q.agents_logged_in,
                        q.agents_ready,
                        q.today.offered,
                        q.today.answered,
                        q.today.abandoned,
                        q.service_level
                            .map_or("-".to_string(), |s| format!("{s:.0}")),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hangup { uuid, data_dir } => control(&data_dir, Request::Hangup { uuid }),
        Cmd::Listen {
            supervisor,
            extension,
            mode,
            data_dir,
        } => control(
            &data_dir,
            Request::Listen {
                supervisor,
                extension,
                mode,
            },
        ),
        Cmd::Originate { from, to, data_dir } => {
            control(&data_dir, Request::Originate { from, to })
        }
        Cmd::Transfer { uuid, to, data_dir } => control(&data_dir, Request::Transfer { uuid, to }),
        Cmd::Agent { action, data_dir } => control(&data_dir, Request::Agent { action }),
        Cmd::PublishFlow { file, data_dir } => {
            let document = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            control(&data_dir, Request::PublishFlow { document })
        }
        Cmd::FlowCounters { flow, data_dir } => {
            let db = data_dir.join("dering.db");
            anyhow::ensure!(db.exists(), "no database at {}", db.display());
            let store = dering_store::Store::open(&db)?;
            for (version, node, choice, count) in store.flow_counters(&flow)? {
                println!(
                    "{}",
                    serde_json::json!({"version": version, "node": node, "choice": choice, "count": count})
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Calls { data_dir } => control(&data_dir, Request::Calls),
        Cmd::Registrations { data_dir } => control(&data_dir, Request::Registrations),
        Cmd::Trunks { data_dir, json } => {
            let Response::Trunks { trunks } = request(&data_dir, Request::Trunks)? else {
                anyhow::bail!("pbxd answered something else than its trunks");
            };
            let Response::Spans { spans } = request(&data_dir, Request::Spans)? else {
                anyhow::bail!("pbxd answered something else than its spans");
            };
            if json {
                // Spans follow the SIP trunks, told apart by `kind`
                // (`e1`/`analog` against `register`/`ip`).
                for t in &trunks {
                    println!("{}", serde_json::to_string(t)?);
                }
                for s in &spans {
                    println!("{}", serde_json::to_string(s)?);
                }
            } else {
                println!("{}", trunk_header());
                for t in &trunks {
                    println!("{}", trunk_line(t));
                }
                if !spans.is_empty() {
                    println!();
                    println!("{}", span_header());
                    for s in &spans {
                        println!("{}", span_line(s));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Blocked { data_dir } => control(&data_dir, Request::Blocked),
        Cmd::Unblock { ip, data_dir } => control(&data_dir, Request::Unblock { ip }),
        Cmd::Up {
            data_dir,
            sip_port,
            http_port,
            https_port,
            config,
            bind,
            upsd,
            ups,
            ups_user,
            ups_password,
            agentx,
            simpel,
            poweroff_command,
        } => {
            let (mut cfg, seed) = load_seed(config.as_deref())?;
            // The demo runs syncd only when pointed at a SIMPEL (or a
            // configuration with `[sync]`): the simulator is a separate
            // program the box does not start.
            if let Some(url) = simpel {
                cfg = cfg.with_sync_endpoint(&url)?;
            }
            // The demo runs powerd only when pointed at a upsd.
            cfg.power = match (upsd, cfg.power.take()) {
                (Some(addr), Some(mut p)) => {
                    anyhow::ensure!(
                        dering_config::parse_host_port(&addr).is_some(),
                        "--upsd {addr:?}: not HOST:PORT"
                    );
                    p.upsd = addr;
                    p.ups = ups;
                    p.username = ups_user.or(p.username);
                    p.password = ups_password.or(p.password);
                    if let Some(cmd) = poweroff_command {
                        let argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
                        anyhow::ensure!(!argv.is_empty(), "--poweroff-command is empty");
                        p.poweroff_command = argv;
                    }
                    Some(p)
                }
                (Some(_), None) => {
                    anyhow::bail!("--upsd needs a [power] table in the configuration")
                }
                (None, _) => None,
            };
            if let Some(a) = agentx {
                anyhow::ensure!(
                    dering_config::AgentxAddr::parse(&a).is_some(),
                    "--agentx {a:?}: not tcp:HOST:PORT or a socket path"
                );
                let mut snmp = cfg
                    .snmp
                    .take()
                    .unwrap_or_else(dering_config::Snmp::with_defaults);
                snmp.agentx = a;
                cfg.snmp = Some(snmp);
            }
            cfg.http.port = http_port;
            cfg.http.https_port = match (https_port, http_port) {
                (Some(p), _) => p,
                (None, 0) => 0,
                (None, _) => cfg.http.https_port,
            };
            if let Some(ip) = bind {
                cfg.sip.bind = ip;
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
            rt.block_on(up(cfg, seed, data_dir))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a version's TOML document (the running one by default).
    Export {
        #[arg(long)]
        version: Option<i64>,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Validate FILE whole and make it the next version. With pbxd
    /// running it takes effect at once; otherwise at the next start.
    Import {
        file: PathBuf,
        /// Who makes the change, for the history (default: $USER).
        #[arg(long)]
        author: Option<String>,
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
    },
    /// Every version: number, time (WIB), author, source, what changed.
    History {
        #[arg(long, default_value = "dering-data")]
        data_dir: PathBuf,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
}

fn config_command(action: ConfigCmd) -> anyhow::Result<ExitCode> {
    let open = |data_dir: &Path| -> anyhow::Result<dering_store::Store> {
        let db = data_dir.join("dering.db");
        anyhow::ensure!(db.exists(), "no database at {}", db.display());
        Ok(dering_store::Store::open(&db)?)
    };
    match action {
        ConfigCmd::Export { version, data_dir } => {
            let store = open(&data_dir)?;
            match store.config_version(version)? {
                Some(v) => {
                    print!("{}", v.document);
                    Ok(ExitCode::SUCCESS)
                }
                None => anyhow::bail!(
                    "no configuration version {}",
                    version.map_or("yet".into(), |v| v.to_string())
                ),
            }
        }
        ConfigCmd::Import {
            file,
            author,
            data_dir,
        } => {
            let document = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let source = file.display().to_string();
            let author = author
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "admin".into());
            // Refused here already, with file, line and key, whether or
            // not pbxd runs.
            if let Err(e) = Config::parse(&document, &source) {
                eprintln!("{e}");
                return Ok(ExitCode::from(65));
            }
            if dering_control::client::socket_path(&data_dir).exists() {
                return control(
                    &data_dir,
                    Request::ConfigImport {
                        document,
                        source,
                        author,
                    },
                );
            }
            let mut store = open(&data_dir)?;
            let latest = store.config_version(None)?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            match pbxd::config_versions::prepare(
                latest.as_ref(),
                &document,
                &source,
                &author,
                now_ms,
            )? {
                Some((_, v)) => {
                    store.apply(&[dering_store::Op::ConfigVersion(v.clone())])?;
                    println!(
                        "{}",
                        serde_json::json!({"version": v.version, "changed": true, "summary": v.summary, "applies": "at the next start"})
                    );
                }
                None => println!("{}", serde_json::json!({"changed": false})),
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::History { data_dir, json } => {
            let store = open(&data_dir)?;
            for v in store.config_versions(false)? {
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                } else {
                    println!(
                        "{:>4}  {} WIB  {:<10} {}  ({})",
                        v.version,
                        wib(v.at_ms),
                        v.author,
                        v.summary,
                        v.source
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sends `req` and prints what it answered: a list one JSON object a
/// line (what scripts and the tests read), anything else as one object,
/// nothing for a plain "done".
fn control(data_dir: &Path, req: Request) -> anyhow::Result<ExitCode> {
    fn lines<T: serde::Serialize>(items: &[T]) -> anyhow::Result<()> {
        for i in items {
            println!("{}", serde_json::to_string(i)?);
        }
        Ok(())
    }
    match request(data_dir, req)? {
        Response::Done => {}
        Response::Calls { calls } => lines(&calls)?,
        Response::Registrations { registrations } => lines(&registrations)?,
        Response::Blocked { blocked } => lines(&blocked)?,
        Response::Trunks { trunks } => lines(&trunks)?,
        Response::Flows { flows } => lines(&flows)?,
        Response::Agents { agents } => lines(&agents)?,
        Response::Queues { queues } => lines(&queues)?,
        Response::Unblocked { ip, was_blocked } => {
            println!(
                "{}",
                serde_json::json!({"ip": ip, "was_blocked": was_blocked})
            );
        }
        Response::FlowPublished { flow, version } => {
            println!("{}", serde_json::json!({"flow": flow, "version": version}));
        }
        Response::CallPlaced { uuid } => println!("{}", serde_json::json!({ "uuid": uuid })),
        Response::Status { status } => println!("{}", serde_json::to_string(&status)?),
        Response::Snapshot { snapshot } => println!("{}", serde_json::to_string(&snapshot)?),
        Response::ConfigApplied {
            version,
            changed,
            summary,
            restart_needed,
        } => println!(
            "{}",
            serde_json::json!({"version": version, "changed": changed, "summary": summary, "restart_needed": restart_needed})
        ),
        other => println!("{}", serde_json::to_string(&other)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn request(data_dir: &Path, req: Request) -> anyhow::Result<Response> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(dering_control::client::request(data_dir, &req))?)
}

/// The daemons the demo runs in this one process, each stopped by its own
/// signal: pbxd always, webd always, powerd, the SNMP agent and syncd when
/// asked.
async fn up(cfg: Config, seed: Seed, data_dir: PathBuf) -> anyhow::Result<()> {
    let demo: Vec<(String, String)> = cfg
        .extensions
        .iter()
        .filter(|e| e.password == format!("demo-{}", e.number))
        .map(|e| (e.number.clone(), e.password.clone()))
        .collect();
    let domain = cfg.sip.domain.clone();
    // The demo sets itself up (it makes its own admin below): its SIP is
    // served where asked at once, not on loopback until setup (decision
    // 0034).
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    dering_store::Store::open(&data_dir.join("dering.db"))?.mark_setup_done(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        "dering up",
    )?;
    let (pbx_stop, pbx_stop_rx) = oneshot::channel::<()>();
    let pbx = shell::start(
        Options {
            config: cfg.clone(),
            seed,
            data_dir: data_dir.clone(),
        },
        async {
            let _ = pbx_stop_rx.await;
        },
    )
    .await
    .context("starting pbxd")?;
    let b = pbx.bound;
    let mut pbx_task = pbx.task;

    // Daemons powerd stops in its "stop every daemon" step.
    let others: Others = Arc::new(Mutex::new(Vec::new()));
    let (web_stop, web_stop_rx) = oneshot::channel::<()>();
    let web = webd::start(
        webd::Options {
            data_dir: data_dir.clone(),
            listen: SocketAddr::new(cfg.http.bind, cfg.http.port),
            expected: cfg.daemons(),
            https: Some(SocketAddr::new(cfg.http.bind, cfg.http.https_port)),
        },
        async {
            let _ = web_stop_rx.await;
        },
    )
    .await
    .with_context(|| format!("starting webd on port {}", cfg.http.port))?;
    let http = web.addr;
    let https = web.https_addr;
    // The demo's admin for the web admin, made once and printed each time.
    let web_login = webd::auth::setup::demo_admin(
        &data_dir,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
    .context("creating the demo's web admin account")?;
    others.lock().await.push(("webd", web_stop, web.task));
    if let Some(snmp) = cfg.snmp.clone() {
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(snmp_agent::run(
            snmp_agent::Options {
                snmp,
                data_dir: data_dir.clone(),
                expected: cfg.daemons(),
            },
            async {
                let _ = stop_rx.await;
            },
        ));
        others.lock().await.push(("snmp-agent", stop, task));
    }
    if let Some(sync) = cfg.sync.clone() {
        let mapping = dering_sync::Mapping::new(&sync).context("[sync] templates")?;
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(syncd::run(
            syncd::Options {
                sync,
                mapping,
                data_dir: data_dir.clone(),
            },
            async {
                let _ = stop_rx.await;
            },
        ));
        others.lock().await.push(("syncd", stop, task));
    }
    let (power_stop, power_stop_rx) = oneshot::channel::<()>();
    let mut power_task = match cfg.power.clone() {
        Some(power) => {
            let others = others.clone();
            let stop_others: powerd::StopOthers = Arc::new(move || {
                let others = others.clone();
                Box::pin(async move {
                    let list: Vec<_> = others.lock().await.drain(..).collect();
                    let mut failed = Vec::new();
                    for (name, stop, task) in list {
                        let _ = stop.send(());
                        match tokio::time::timeout(Duration::from_secs(10), task).await {
                            Ok(Ok(Ok(()))) => {}
                            _ => failed.push(name),
                        }
                    }
                    if failed.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("did not stop cleanly: {}", failed.join(", ")))
                    }
                })
            });
            Some(tokio::spawn(powerd::run(
                powerd::Options {
                    power,
                    data_dir: data_dir.clone(),
                },
                stop_others,
                async {
                    let _ = power_stop_rx.await;
                },
            )))
        }
        None => None,
    };

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
    println!("Health: http://{http}/health  Metrics: http://{http}/metrics");
    if let Some(s) = &cfg.sync {
        println!("Tickets to SIMPEL at {} (syncd)", s.endpoint);
    }
    if let (Some(https), Some(l)) = (https, &web_login) {
        println!(
            "Web admin: https://{https}/  login {}  password {}  TOTP secret {} (add it to an authenticator app)",
            l.login, l.password, l.totp_secret
        );
    }
    let https_word = https.map(|a| format!(" https:{a}")).unwrap_or_default();
    println!(
        "ready sip udp:{} tcp:{} tls:{} http:{http}{https_word}",
        b.udp, b.tcp, b.tls
    );
    let power_ended = async {
        match power_task.as_mut() {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = dering_daemon::stop_signal() => {
            eprintln!("stopping");
        }
        r = power_ended => {
            // powerd ran the whole shutdown order: pbxd and the others are
            // already stopped and the power-off command has run.
            power_task = None;
            match r {
                Ok(Ok(phase)) => eprintln!("powerd ended ({phase:?})"),
                Ok(Err(e)) => eprintln!("powerd failed: {e:#}"),
                Err(e) => eprintln!("powerd task: {e}"),
            }
        }
        r = &mut pbx_task => {
            // pbxd stopped on its own (a shutdown ordered on its control
            // socket): keep powerd running to finish its order.
            if let Some(t) = power_task.take() {
                let _ = t.await;
            }
            return r.context("pbxd task")?;
        }
    }
    let _ = power_stop.send(());
    if let Some(t) = power_task {
        let _ = t.await;
    }
    for (_, stop, task) in others.lock().await.drain(..) {
        let _ = stop.send(());
        let _ = task.await;
    }
    let _ = pbx_stop.send(());
    if !pbx_task.is_finished() {
        pbx_task.await.context("pbxd task")??;
    }
    Ok(())
}

type Task = tokio::task::JoinHandle<anyhow::Result<()>>;
/// In-process daemons with their stop signal, stopped by powerd.
type Others = Arc<Mutex<Vec<(&'static str, oneshot::Sender<()>, Task)>>>;

/// Unix ms as WIB (UTC+7) wall-clock time, as agents and supervisors read
/// it.
fn trunk_header() -> String {
    format!(
        "{:<16} {:<8} {:<16} {:<8} {:>9} {:>6} {:<20} WHY",
        "TRUNK", "KIND", "REGISTERED", "OPTIONS", "CHANNELS", "TODAY", "SINCE (WIB)"
    )
}

/// One trunk as `dering trunks` prints it: the state an operator asks
/// about first, and the reason when it is not what it should be.
fn trunk_line(t: &dering_control::TrunkView) -> String {
    let kind = match t.kind {
        dering_control::TrunkKind::Register => "register",
        dering_control::TrunkKind::Ip => "ip",
    };
    let registered = match (t.enabled, t.registered, t.alarm) {
        (false, _, _) => "off",
        (true, _, true) => "no (alarm)",
        (true, Some(true), _) => "yes",
        (true, Some(false), _) => "no",
        (true, None, _) => "-",
    };
    let limit = t
        .channels_limit
        .map_or_else(|| "-".to_string(), |l| l.to_string());
    format!(
        "{:<16} {:<8} {:<16} {:<8} {:>9} {:>6} {:<20} {}",
        t.name,
        kind,
        registered,
        t.health.name(),
        format!("{}/{limit}", t.channels_busy),
        t.calls_today,
        wib(t.since_ms),
        t.why.as_deref().unwrap_or("")
    )
}

fn span_header() -> String {
    format!(
        "{:<16} {:<7} {:<8} {:<8} {:<10} {:>5} {:>6} {:>7} {:>10} {:>7} SINCE (WIB)",
        "SPAN",
        "KIND",
        "SIDE",
        "ALARM",
        "D-CHANNEL",
        "IDLE",
        "IN USE",
        "BLOCKED",
        "RESTARTING",
        "RINGING"
    )
}

/// One span or line as `dering trunks` prints it (issue 14).
fn span_line(v: &dering_control::SpanView) -> String {
    let r = &v.report;
    let dchannel = match (v.reporting, r.dchannel_up) {
        (false, _) => "unknown",
        (true, Some(true)) => "up",
        (true, Some(false)) => "down",
        (true, None) => "-",
    };
    let c = &r.channels;
    format!(
        "{:<16} {:<7} {:<8} {:<8} {:<10} {:>5} {:>6} {:>7} {:>10} {:>7} {}",
        r.name,
        wire(&r.kind),
        wire(&r.side),
        r.alarm.name(),
        dchannel,
        c.idle,
        c.in_use,
        c.blocked,
        c.restarting,
        c.ringing,
        wib(v.since_ms)
    )
}

/// The one-line summary of a span, for `dering events`.
fn span_summary(v: &dering_control::SpanView) -> String {
    let r = &v.report;
    let mut s = format!(
        "span {} ({}) alarm {}",
        r.name,
        wire(&r.kind),
        r.alarm.name()
    );
    match (v.reporting, r.dchannel_up) {
        (false, _) => s.push_str(&format!(", {} not reporting", v.reporter)),
        (true, Some(up)) => s.push_str(if up {
            ", D-channel up"
        } else {
            ", D-channel down"
        }),
        (true, None) => {}
    }
    let c = &r.channels;
    s.push_str(&format!(
        ", channels {} idle {} in use {} blocked {} restarting",
        c.idle, c.in_use, c.blocked, c.restarting
    ));
    if c.ringing > 0 {
        s.push_str(&format!(" {} ringing", c.ringing));
    }
    s
}

/// A value's JSON string (`SpanKind::E1` → `e1`): the wire names of the
/// span enums, without a method on each.
fn wire<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn wib(ms: i64) -> String {
    let wib = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.to_offset(wib)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ))
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}
