//! trunkd (TRK-1, issue 14): the E1 PRI spans of the telephony cards
//! presented to pbxd as an ordinary SIP gateway on loopback (decision
//! 0022). pbxd never sees a card; trunkd never sees a queue.
//!
//! - [`gateway`]: the sans-IO core joining Q.931 calls and SIP dialogs.
//! - [`hunt`]: a span's channels and the hunting of an idle one.
//! - [`numbers`]: party numbers ↔ SIP user parts.
//! - [`rtp`]: B-channel blocks ↔ RTP PCMA.
//! - [`shell`]: the spans opened through the board traits, the data
//!   links, the SIP socket and the B-channels' RTP.
//! - [`status`]: the spans' alarms, D-channels and channels, reported to
//!   pbxd's control socket.

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
