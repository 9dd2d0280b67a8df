//! trunkd (TRK-1, TRK-2, issue 14): the E1 PRI spans and analog CO lines
//! of the telephony cards presented to pbxd as an ordinary SIP gateway on
//! loopback (decisions 0022, 0023). pbxd never sees a card; trunkd never
//! sees a queue.
//!
//! - [`gateway`]: the sans-IO core joining Q.931 calls and FXO ports'
//!   calls to SIP dialogs.
//! - [`hunt`]: a span's channels (or a line group's lines) and the
//!   hunting of an idle one.
//! - [`numbers`]: party numbers ↔ SIP user parts.
//! - [`rtp`]: B-channel blocks ↔ RTP PCMA.
//! - [`shell`]: the spans and lines opened through the board traits, the
//!   data links, the SIP socket and the B-channels' and lines' RTP.
//! - [`status`]: the spans' and lines' alarms, D-channels and channels,
//!   reported to pbxd's control socket.

pub mod gateway;
pub mod hunt;
pub mod numbers;
pub mod rtp;
pub mod shell;
pub mod status;

/// Randomness for tags, branches and RTP streams, from the clock and the
/// process id: unique per run, which is all SIP and RTP ask of them.
pub fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}
