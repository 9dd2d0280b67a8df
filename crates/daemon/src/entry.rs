//! The start of every daemon binary: `NAME [--config FILE] [--data-dir
//! DIR]`, the configuration loaded (a bad one exits 64, EX_USAGE, naming
//! file, line and key, before anything is bound), a tokio runtime built.

use std::path::PathBuf;
use std::process::ExitCode;

use dering_config::Config;

/// Where a deployed box keeps its configuration and data.
pub const ETC_CONFIG: &str = "/etc/dering/dering.toml";
pub const DATA_DIR: &str = "/var/lib/dering";

/// What a daemon was started with.
#[derive(Debug)]
pub struct Start {
    pub config_path: PathBuf,
    pub config: Config,
    pub data_dir: PathBuf,
    pub runtime: tokio::runtime::Runtime,
}

/// Parses the arguments, initialises logging, loads the configuration and
/// builds a runtime with `workers` threads (0: current thread). `Err` is
/// the exit code, after the reason was printed.
pub fn start(name: &str, workers: usize) -> Result<Start, ExitCode> {
    crate::logging::init();
    let mut config_path = PathBuf::from(ETC_CONFIG);
    let mut data_dir = PathBuf::from(DATA_DIR);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--config", Some(v)) => config_path = v.into(),
            ("--data-dir", Some(v)) => data_dir = v.into(),
            _ => {
                eprintln!("usage: {name} [--config FILE] [--data-dir DIR]");
                return Err(ExitCode::from(64));
            }
        }
    }
    let config = Config::load(&config_path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(64)
    })?;
    let built = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    };
    let runtime = built.map_err(|e| {
        eprintln!("{name}: {e}");
        ExitCode::FAILURE
    })?;
    Ok(Start {
        config_path,
        config,
        data_dir,
        runtime,
    })
}

/// The exit code of a daemon's run.
pub fn exit(name: &str, r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "{name} failed");
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
