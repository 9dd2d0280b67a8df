//! systemd's notification protocol (`Type=notify`): READY once the daemon
//! serves, STOPPING when it stops, and WATCHDOG pings only while the
//! daemon's own loop answers, so a hung loop (not just a hung process) is
//! restarted. Outside systemd (`NOTIFY_SOCKET` unset) all of it is a no-op.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// When the daemon's main loop last went round, for loops that have no
/// request to probe them with: milliseconds since [`epoch`].
static PULSE: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Marks the main loop alive. Call it every time round the loop; the loop
/// must go round (timers included) well within the watchdog interval.
pub fn pulse() {
    PULSE.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
}

/// How long ago [`pulse`] was last called.
pub fn since_pulse() -> Duration {
    let now = epoch().elapsed().as_millis() as u64;
    Duration::from_millis(now.saturating_sub(PULSE.load(Ordering::Relaxed)))
}

/// The watchdog of a daemon whose loop calls [`pulse`]: systemd is pinged
/// while the last pulse is younger than half the interval.
pub fn spawn_pulse_watchdog() {
    pulse();
    let limit = watchdog_interval().map(|i| i / 2).unwrap_or_default();
    spawn_watchdog(move || async move { since_pulse() < limit });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_age_grows_until_the_next_pulse() {
        pulse();
        std::thread::sleep(Duration::from_millis(30));
        let before = since_pulse();
        assert!(before >= Duration::from_millis(30));
        pulse();
        assert!(since_pulse() < before);
    }
}
