//! ISDN PRI signalling for the E1 trunk cards (TRK-1, issue 14), without
//! I/O: time comes in as an argument, frames and messages come in as bytes
//! and go out through queues the owner polls (decision 0002). trunkd
//! carries the frames between these machines and a D-channel.
//!
//! - [`q921`]: LAPD, the data link (TEI 0, SAPI 0, point to point).
//! - [`q931`]: the call control messages and their information elements.

pub mod q921;
pub mod q931;
