//! webd as a system daemon: `webd [--config FILE] [--data-dir DIR]`,
//! listening where `[http]` says. Exits 64 on a bad configuration.

use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("webd", 0) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = webd::Options {
        data_dir: s.data_dir,
        listen: SocketAddr::new(s.config.http.bind, s.config.http.port),
        expected: s.config.daemons(),
    };
    let r = s.runtime.block_on(async {
        let running = webd::start(opts, dering_daemon::stop_signal()).await?;
        let addr = running.addr;
        // The watchdog asks webd itself, over HTTP, whether it serves.
        dering_daemon::notify::spawn_watchdog(move || webd::answers(addr));
        dering_daemon::notify::ready("webd serving");
        running.task.await?
    });
    dering_daemon::entry::exit("webd", r)
}
