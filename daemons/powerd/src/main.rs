//! powerd as a system daemon: `powerd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration or one without a `[power]` table.

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
                eprintln!("usage: powerd [--config FILE] [--data-dir DIR]");
                return ExitCode::from(64);
            }
        }
    }
    let power = match dering_config::Config::load(&config) {
        Ok(c) => match c.power {
            Some(p) => p,
            None => {
                eprintln!("{}: no [power] table: no UPS to watch", config.display());
                return ExitCode::from(64);
            }
        },
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("powerd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = powerd::stop_command(power.stop_command.clone());
    let r = rt.block_on(powerd::run(
        powerd::Options { power, data_dir },
        stop,
        async {
            dering_daemon::stop_signal().await;
        },
    ));
    match r {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("powerd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
