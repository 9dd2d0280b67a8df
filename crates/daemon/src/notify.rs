//! systemd's notification protocol (`Type=notify`): READY once the daemon
//! serves, STOPPING when it stops, and WATCHDOG pings only while the
//! daemon's own loop answers, so a hung loop (not just a hung process) is
//! restarted. Outside systemd (`NOTIFY_SOCKET` unset) all of it is a no-op.

use std::future::Future;
use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the daemon serves, with a status line for `systemctl status`.
pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// The watchdog interval systemd asked for (`WatchdogSec`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// Spawns the watchdog: every half interval it runs `probe` (which should
/// go through the daemon's main loop) and pings systemd only when the probe
/// answers `true` within the interval.
pub fn spawn_watchdog<F, Fut>(probe: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let Some(interval) = watchdog_interval() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            match tokio::time::timeout(interval, probe()).await {
                Ok(true) => {
                    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
                }
                _ => tracing::error!("main loop did not answer the watchdog probe"),
            }
        }
    });
}
