//! What every Dering daemon shares with the system around it: logging
//! ([`logging`]), readiness and watchdog notification to systemd
//! ([`notify`]), the redaction of callers' numbers in logs ([`redact`]),
//! and the start of each daemon binary ([`entry`]).
pub mod entry;
pub mod logging;
pub mod notify;
pub mod redact;

/// Resolves on SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
