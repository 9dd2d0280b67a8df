//! pbxd as a system daemon: `pbxd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration, before binding anything.

use std::process::ExitCode;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("pbxd", 2) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let r = s.runtime.block_on(async {
        let running = pbxd::shell::start(
            pbxd::shell::Options {
                config: s.config,
                data_dir: s.data_dir,
            },
            dering_daemon::stop_signal(),
        )
        .await?;
        tracing::info!(udp = %running.bound.udp, "pbxd ready");
        running.join().await
    });
    dering_daemon::entry::exit("pbxd", r)
}
