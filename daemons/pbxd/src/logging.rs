//! Logging for every Dering binary: `tracing` to stderr (journald collects
//! it under systemd), filtered by `DERING_LOG` (default `info`), coloured
//! only on a terminal.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DERING_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
