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
        https: Some(SocketAddr::new(
            s.config.http.bind,
            s.config.http.https_port,
        )),
    };
    let data_dir = opts.data_dir.clone();
    let r = s.runtime.block_on(async {
        let running = webd::start(opts, dering_daemon::stop_signal()).await?;
        let addr = running.addr;
        // A box without accounts: the one-time link to create the admin,
        // on the console (the journal), never a default password.
        if let (Some(https), Some(token)) = (
            running.https_addr,
            webd::auth::setup::setup_token(&data_dir)?,
        ) {
            let link = webd::setup_link(https, &token);
            tracing::warn!(%link, "no account yet: open the setup link to create the admin");
            println!("First setup: open {link}");
        }
        // The watchdog asks webd itself, over HTTP, whether it serves.
        dering_daemon::notify::spawn_watchdog(move || webd::answers(addr));
        dering_daemon::notify::ready("webd serving");
        running.task.await?
    });
    dering_daemon::entry::exit("webd", r)
}
