//! What every Dering daemon shares with the system around it: logging
//! ([`logging`]), readiness and watchdog notification to systemd
//! ([`notify`]) and the redaction of callers' numbers in logs ([`redact`]).
pub mod logging;
pub mod notify;
pub mod redact;
