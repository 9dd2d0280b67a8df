//! The SNMP subagent as a system daemon:
//! `snmp-agent [--config FILE] [--data-dir DIR]`, connecting where
//! `[snmp] agentx` says. Exits 64 on a bad configuration.

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
                eprintln!("usage: snmp-agent [--config FILE] [--data-dir DIR]");
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
    let Some(snmp) = cfg.snmp.clone() else {
        eprintln!("{}: no [snmp] table: nothing to do", config.display());
        return ExitCode::from(64);
    };
    let mut expected = vec!["pbxd".to_string()];
    if cfg.power.is_some() {
        expected.push("powerd".into());
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snmp-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(snmp_agent::run(
        snmp_agent::Options {
            snmp,
            data_dir,
            expected,
        },
        dering_daemon::stop_signal(),
    ));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snmp-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
