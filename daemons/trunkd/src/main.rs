//! trunkd as a system daemon: `trunkd [--config FILE] [--data-dir DIR]`.
//! Exits 64 on a bad configuration or one without `[trunkd]`, `[[span]]`
//! or `[[line]]`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn main() -> ExitCode {
    let s = match dering_daemon::entry::start("trunkd", 1) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(cfg) = s.config.trunkd else {
        eprintln!(
            "{}: no [trunkd], [[span]] or [[line]]: nothing to serve",
            s.config_path.display()
        );
        return ExitCode::from(64);
    };
    let r = s.runtime.block_on(async move {
        let mut spans = Vec::with_capacity(cfg.spans.len());
        for sc in &cfg.spans {
            spans.push(trunkd::shell::open_span(sc)?.0);
        }
        let mut lines = Vec::with_capacity(cfg.lines.len());
        for lc in &cfg.lines {
            lines.push(trunkd::shell::open_line(lc)?.0);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let seed = trunkd::seed();
        let loop_stop = Arc::clone(&stop);
        let status = trunkd::status::Reporter::start(s.data_dir)?;
        let shell = tokio::task::spawn_blocking(move || {
            let ready = || dering_daemon::notify::ready("serving the spans and lines to pbxd");
            trunkd::shell::serve(&cfg, spans, lines, seed, loop_stop, ready, Some(status))
        });
        dering_daemon::notify::spawn_pulse_watchdog();
        tokio::pin!(shell);
        tokio::select! {
            r = &mut shell => return r?,
            _ = dering_daemon::stop_signal() => {}
        }
        stop.store(true, Ordering::Relaxed);
        shell.await?
    });
    dering_daemon::entry::exit("trunkd", r)
}
