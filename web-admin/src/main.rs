//! webd as a system daemon: `webd [--config FILE] [--data-dir DIR]`,
//! listening where `[http]` says. Exits 64 on a bad configuration.

use std::net::SocketAddr;
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
                eprintln!("usage: webd [--config FILE] [--data-dir DIR]");
                return ExitCode::from(64);
            }
        }
    }
    let cfg = match dering_config::Config::load(&config) {
        Ok(c) => c,
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
            eprintln!("webd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = webd::Options {
        data_dir,
        listen: SocketAddr::new(cfg.http.bind, cfg.http.port),
        expected: webd::expected_daemons(&cfg),
    };
    let r = rt.block_on(async {
        let running = webd::start(opts, dering_daemon::stop_signal()).await?;
        dering_daemon::notify::ready("webd serving");
        running.task.await?
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
