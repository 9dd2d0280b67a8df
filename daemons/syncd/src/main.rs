//! syncd as a system daemon: `syncd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration, one without a `[sync]` table, or a
//! field mapping that does not compile.

use std::process::ExitCode;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("syncd", 2) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(sync) = s.config.sync else {
        eprintln!(
            "{}: no [sync] table: no SIMPEL to deliver to",
            s.config_path.display()
        );
        return ExitCode::from(64);
    };
    let mapping = match dering_sync::Mapping::new(&sync) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: {e}", s.config_path.display());
            return ExitCode::from(64);
        }
    };
    let r = s.runtime.block_on(async {
        dering_daemon::notify::spawn_pulse_watchdog();
        syncd::run(
            syncd::Options {
                sync,
                mapping,
                data_dir: s.data_dir,
            },
            dering_daemon::stop_signal(),
        )
        .await
    });
    dering_daemon::entry::exit("syncd", r)
}
