//! pbxd as a system daemon: `pbxd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration, before binding anything.

use std::process::ExitCode;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("pbxd", 2) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // The file's text: the seed of the configuration versions, imported
    // again when it changes (pbxd::config_versions).
    let seed = match std::fs::read_to_string(&s.config_path) {
        Ok(text) => pbxd::config_versions::Seed {
            source: s.config_path.display().to_string(),
            text,
        },
        Err(e) => {
            eprintln!("pbxd: {}: {e}", s.config_path.display());
            return ExitCode::from(64);
        }
    };
    let r = s.runtime.block_on(async {
        let running = pbxd::shell::start(
            pbxd::shell::Options {
                config: s.config,
                seed,
                data_dir: s.data_dir,
            },
            dering_daemon::stop_signal(),
        )
        .await?;
        tracing::info!(udp = %running.bound.udp, "pbxd ready");
        let restart = running.restart_for_setup.clone();
        running.join().await?;
        Ok(restart.load(std::sync::atomic::Ordering::SeqCst))
    });
    match r {
        // Setup is done: systemd starts pbxd again on the configured address.
        Ok(true) => ExitCode::from(pbxd::setup_gate::RESTART_EXIT),
        other => dering_daemon::entry::exit("pbxd", other.map(|_| ())),
    }
}
