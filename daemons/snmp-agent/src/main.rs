//! The SNMP subagent as a system daemon:
//! `snmp-agent [--config FILE] [--data-dir DIR]`, connecting where
//! `[snmp] agentx` says. Exits 64 on a bad configuration.

use std::process::ExitCode;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("snmp-agent", 0) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(snmp) = s.config.snmp.clone() else {
        eprintln!(
            "{}: no [snmp] table: nothing to do",
            s.config_path.display()
        );
        return ExitCode::from(64);
    };
    let expected = s.config.daemons();
    let r = s.runtime.block_on(async {
        dering_daemon::notify::spawn_pulse_watchdog();
        snmp_agent::run(
            snmp_agent::Options {
                snmp,
                data_dir: s.data_dir,
                expected,
            },
            dering_daemon::stop_signal(),
        )
        .await
    });
    dering_daemon::entry::exit("snmp-agent", r)
}
