//! pbxd as a system daemon: `pbxd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration, before binding anything.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    dering_daemon::logging::init();
    let mut config = PathBuf::from("/etc/dering/dering.toml");
    let mut data_dir = PathBuf::from("/var/lib/dering");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--config", Some(v)) => config = v.into(),
            ("--data-dir", Some(v)) => data_dir = v.into(),
            _ => {
                eprintln!("usage: pbxd [--config FILE] [--data-dir DIR]");
                return ExitCode::from(64);
            }
        }
    }
    let cfg = match pbxd::config::Config::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pbxd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(async {
        let running = pbxd::shell::start(
            pbxd::shell::Options {
                config: cfg,
                data_dir,
            },
            async {
                dering_daemon::stop_signal().await;
            },
        )
        .await?;
        tracing::info!(udp = %running.bound.udp, "pbxd ready");
        running.join().await
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pbxd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
