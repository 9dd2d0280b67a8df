//! powerd as a system daemon: `powerd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration or one without a `[power]` table.

use std::process::ExitCode;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("powerd", 0) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(power) = s.config.power else {
        eprintln!(
            "{}: no [power] table: no UPS to watch",
            s.config_path.display()
        );
        return ExitCode::from(64);
    };
    let stop = powerd::stop_command(power.stop_command.clone());
    let r = s.runtime.block_on(async {
        dering_daemon::notify::spawn_pulse_watchdog();
        powerd::run(
            powerd::Options {
                power,
                data_dir: s.data_dir,
            },
            stop,
            dering_daemon::stop_signal(),
        )
        .await
        .map(drop)
    });
    dering_daemon::entry::exit("powerd", r)
}
